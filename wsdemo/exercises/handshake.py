"""Notebook 02: the accept value, and an Upgrade request written by hand."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .. import wire
from ._hints import b64, say


RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def check_accept(answer: Any, key: str = RFC_KEY) -> bool:
    """Is ``answer`` the Sec-WebSocket-Accept a server must send for ``key``?"""
    guid = wire.GUID
    right = wire.compute_accept(key)
    if answer is None:
        return say(False, "No answer yet. Join the key and the GUID, take the SHA-1 digest, "
                          "then base64-encode it (RFC 6455, section 4.2.2, step 5.4).")
    if isinstance(answer, (bytes, bytearray)):
        if bytes(answer) == right.encode("ascii"):
            return say(False, "Right value, but as bytes: a header value is text. Use .decode('ascii').")
        answer = bytes(answer).decode("latin-1")
    if not isinstance(answer, str):
        return say(False, f"The accept value is a string of base64 text, not {type(answer).__name__}.")
    stripped = answer.strip()
    if stripped.lower().startswith("sec-websocket-accept:"):
        stripped = stripped.split(":", 1)[1].strip()
        if stripped == right:
            return say(False, "Right value, but give only the value, without 'Sec-WebSocket-Accept:'.")
    if answer == right:
        return say(True, f"Correct: {right} is what the server must answer to {key}.")
    if stripped == right:
        return say(False, "Right characters, but with spaces or a newline around them: the "
                          "header value is exactly the 28 base64 characters.")
    k = key.encode("ascii")
    digest = hashlib.sha1(k + guid.encode("ascii"))
    if stripped == key + guid:
        return say(False, "That is key + GUID, the text to hash. Now take its SHA-1 digest and base64 it.")
    if stripped.lower() == digest.hexdigest():
        return say(False, "That is the hex digest (40 hex digits). Base64-encode the raw 20 "
                          "digest bytes instead: base64.b64encode(sha1(...).digest()).")
    if stripped == b64(digest.hexdigest().encode("ascii")):
        return say(False, "You base64-encoded the hex text of the digest. Encode the raw bytes: "
                          "use .digest(), not .hexdigest().")
    if stripped == b64(hashlib.sha1(k).digest()):
        return say(False, "You forgot the GUID: hash key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'.")
    if stripped == b64(hashlib.sha1(guid.encode("ascii") + k).digest()):
        return say(False, "Key and GUID are the wrong way round: the key comes first, then the GUID.")
    if stripped == b64(hashlib.sha1(k + guid.lower().encode("ascii")).digest()):
        return say(False, "The GUID is in capital letters exactly as the RFC prints it; you used lower case.")
    try:
        raw_key = base64.b64decode(k, validate=True)
    except ValueError:
        raw_key = None
    if raw_key is not None and stripped == b64(hashlib.sha1(raw_key + guid.encode("ascii")).digest()):
        return say(False, "Do not base64-decode the key: append the GUID to the key text as it was sent.")
    for h in ("sha256", "md5", "sha512"):
        if stripped == b64(hashlib.new(h, k + guid.encode("ascii")).digest()):
            return say(False, f"That is {h.upper()}; the RFC asks for SHA-1 (hashlib.sha1).")
    if key != RFC_KEY and stripped == wire.compute_accept(RFC_KEY):
        return say(False, f"That is the accept for the RFC's sample key; this exercise's key is {key}.")
    if stripped == key:
        return say(False, "That is the client's key itself; the server answers with a value computed from it.")
    if len(stripped) != 28:
        return say(False, f"An accept value is 28 base64 characters (20 SHA-1 bytes); yours has {len(stripped)}. "
                          "Check each step with wire.explain_accept(key) on the RFC's sample key.")
    return say(False, "Not the expected value. Check the GUID character by character "
                      "(258EAFA5-E914-47DA-95CA-C5AB0DC85B11) and that you hash key + GUID with SHA-1.")


# Keys a learner may copy instead of making one: the RFC's sample, and one that many tutorials
# copy (it is not in RFC 6455).
SAMPLE_KEYS = {RFC_KEY: "RFC 6455 section 1.3", "x3JJHMbDL1EzLkh9GBhXDw==": "many tutorials (not RFC 6455)"}


def _own_request_problems(request, path: str | None, fresh_key: bool) -> list[str]:
    """What an otherwise valid request did differently from what the exercise asks."""
    wrong = []
    if path is not None:
        asked = request.target.split("?", 1)[0]
        if asked != path:
            wrong.append(f"it asks for {request.target}, not {path}")
    if fresh_key:
        key = (request.headers.get("Sec-WebSocket-Key") or "").strip()
        if key in SAMPLE_KEYS:
            wrong.append(f"its key {key} is the sample key of {SAMPLE_KEYS[key]}, copied: a client makes a new "
                         "one for every connection, 16 random bytes in base64 (os.urandom, base64.b64encode)")
    return wrong


def check_upgrade_request(raw: Any, host: str | None = None, path: str | None = None,
                          fresh_key: bool = False) -> bool:
    """Would a server accept ``raw`` (the bytes of an HTTP head) as a WebSocket Upgrade?

    The rules are the wire layer's ``check_handshake`` (RFC 6455 section 4.1). With ``path``,
    the request must ask for that path (a query is allowed); with ``fresh_key``, its key must
    not be a copied sample key (``SAMPLE_KEYS``).
    """
    if raw is None:
        return say(False, "No request yet. Write the bytes of a GET request: the request line, "
                          "then the headers a WebSocket Upgrade needs, each ending in \\r\\n, "
                          "then an empty line.")
    if isinstance(raw, str):
        return say(False, "Send bytes, not text: write b\"GET ...\" or call .encode('ascii').")
    if not isinstance(raw, (bytes, bytearray)):
        return say(False, f"A request is bytes, not {type(raw).__name__}.")
    raw = bytes(raw)
    if b"\r\n" not in raw and b"\n" in raw:
        return say(False, "HTTP lines end with \\r\\n (carriage return, line feed), not just \\n.")
    if not raw.endswith(b"\r\n\r\n"):
        return say(False, "The head must end with an empty line: finish with \\r\\n\\r\\n, "
                          "or the server keeps waiting for more headers.")
    try:
        request = wire.parse_request(raw)
    except wire.ProtocolError as exc:
        return say(False, f"The server cannot even parse it: {exc}")
    problems = wire.check_handshake(request, None)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        return say(False, f"A server would answer 400 Bad Request, because:\n{lines}")
    wrong = _own_request_problems(request, path, fresh_key)
    if wrong:
        return say(False, "A server would accept it, but " + "; and ".join(wrong) + ".")
    if host is not None and (request.headers.get("Host") or "") != host:
        return say(False, f"Every rule holds, but the Host header should name the server you talk to: {host}.")
    return say(True, "A server would accept this Upgrade and answer 101 Switching Protocols.")

