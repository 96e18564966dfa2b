"""Close frames (RFC 6455 sections 5.5.1 and 7.4): close codes, their meanings, and
:class:`Close`, the one reader and writer of a close frame's payload.

A close payload is empty, or a 2-byte code (network order) followed by a UTF-8 reason.
An empty payload means "no status": the receiver reports 1005 to its application, a code
that may itself never be sent.
"""

from __future__ import annotations

import dataclasses
import enum

from .errors import ErrorKind, MessageError

__all__ = ["Close", "CloseCode", "MAX_CLOSE_REASON", "close_code_allowed", "describe_close_code"]

#: Bytes of UTF-8 a close reason may take: a control frame carries 125 bytes, 2 of them the code
#: (RFC 6455 sections 5.5 and 5.5.1).
MAX_CLOSE_REASON = 123


class CloseCode(enum.IntEnum):
    """Close status codes, RFC 6455 section 7.4.1, and the IANA registry (section 11.7).

    Each member has a one-line ``meaning``. 1004, 1005, 1006 and 1015 must never appear
    in a close frame (sections 7.4.1 and 7.4.2).
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    RESERVED = 1004
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    @property
    def meaning(self) -> str:
        return _CLOSE_MEANINGS[self.value]

    @property
    def allowed_on_wire(self) -> bool:
        return self.value not in _NOT_ON_WIRE


_CLOSE_MEANINGS = {
    1000: "normal closure: the purpose of the connection was fulfilled",
    1001: "going away: the server is shutting down or the browser left the page",
    1002: "protocol error: the endpoint received something that breaks the protocol",
    1003: "unsupported data: a type of data the endpoint cannot accept (e.g. binary for a text-only app)",
    1004: "no meaning defined yet; never sent",
    1005: "no status received: the close frame carried no code (only reported locally, never sent)",
    1006: "abnormal closure: the connection dropped without a close frame (only reported locally, never sent)",
    1007: "invalid frame payload data: e.g. text that is not valid UTF-8",
    1008: "policy violation: a message broke the endpoint's policy",
    1009: "message too big: a message was larger than the endpoint will process",
    1010: "mandatory extension: the client needed an extension the server did not negotiate",
    1011: "internal error: the server hit an unexpected condition",
    1012: "service restart: the server is restarting; reconnect later",
    1013: "try again later: the server is overloaded; reconnect later",
    1014: "bad gateway: a gateway or proxy got an invalid response upstream",
    1015: "TLS handshake failed (only reported locally, never sent)",
}
_NOT_ON_WIRE = frozenset({1004, 1005, 1006, 1015})

# The names of the IANA WebSocket Close Code Number Registry.
_IANA_NAMES = {
    1000: "Normal Closure", 1001: "Going Away", 1002: "Protocol Error", 1003: "Unsupported Data",
    1004: "Reserved", 1005: "No Status Received", 1006: "Abnormal Closure",
    1007: "Invalid Frame Payload Data", 1008: "Policy Violation", 1009: "Message Too Big",
    1010: "Mandatory Extension", 1011: "Internal Error", 1012: "Service Restart",
    1013: "Try Again Later", 1014: "Bad Gateway", 1015: "TLS Handshake",
}


def close_code_allowed(code: int) -> bool:
    """May ``code`` appear in a close frame? (RFC 6455 section 7.4, IANA registry.)"""
    return (1000 <= code <= 1014 and code not in _NOT_ON_WIRE) or 3000 <= code <= 4999


def _code_problem(code: int) -> str:
    """Why ``code`` may not appear in a close frame, naming the rule."""
    if code in _NOT_ON_WIRE:
        name = _IANA_NAMES[code]
        if code == 1004:
            return (f"close code 1004 ({name}) has no meaning defined and may not be sent in a close frame "
                    f"(RFC 6455 section 7.4.1)")
        why = {1005: "when a close frame carried no code at all",
               1006: "when the connection dropped without a close frame",
               1015: "when the TLS handshake failed"}[code]
        return (f"close code {code} ({name}) may not be sent in a close frame: an endpoint reports it to its "
                f"application only {why} (RFC 6455 section 7.4.1)")
    if 0 <= code <= 999:
        return f"close code {code} is in the range 0–999, which is not used (RFC 6455 section 7.4.2)"
    if 1016 <= code <= 2999:
        return (f"close code {code} is in the range 1016–2999, reserved for future revisions of the protocol "
                f"and for extensions; none is defined there today (RFC 6455 section 7.4.2)")
    if code < 0:
        return f"close code {code} is negative: close codes are 16-bit values from 1000 to 4999"
    return f"close code {code} is above 4999: close codes run from 1000 to 4999 (RFC 6455 section 7.4.2)"


def describe_close_code(code: int) -> str:
    """A one-line description of any close code, the ranges of RFC 6455 section 7.4.2 included."""
    if code in _CLOSE_MEANINGS:
        name = _IANA_NAMES[code]
        meaning = _CLOSE_MEANINGS[code]
        head, sep, rest = meaning.partition(": ")
        if sep and head.lower() == name.lower():  # the meaning opens with the name: say it once
            meaning = rest
        note = "" if code not in _NOT_ON_WIRE else " — not allowed in a close frame"
        return f"{code} {name}: {meaning}{note}"
    if 0 <= code <= 999:
        return f"{code}: invalid — codes 0–999 are not used (RFC 6455 section 7.4.2)"
    if 1016 <= code <= 2999:
        return f"{code}: reserved for future revisions of the protocol and extensions — not valid today"
    if 3000 <= code <= 3999:
        return (f"{code}: in the range 3000–3999, set aside for libraries, frameworks and applications, "
                f"which register their codes with IANA; its meaning is theirs (RFC 6455 section 7.4.2)")
    if 4000 <= code <= 4999:
        return f"{code}: private use, agreed between the application's endpoints"
    return f"{code}: invalid — close codes are 16-bit values from 1000 to 4999"


def _short_name(code: int) -> str:
    """A code's name in a few words, for ``str(Close)``: the IANA name, else its range."""
    if code in _IANA_NAMES:
        return _IANA_NAMES[code].lower().replace("tls", "TLS")
    if 3000 <= code <= 3999:
        return "registered"
    if 4000 <= code <= 4999:
        return "private use"
    if 1016 <= code <= 2999:
        return "reserved"
    return "invalid"


@dataclasses.dataclass(frozen=True)
class Close:
    """A close frame's payload: ``code`` and ``reason`` (RFC 6455 section 5.5.1).

    ``Close.parse(payload)`` reads one (an empty payload is code 1005, "no status received"),
    ``serialize()`` writes one, ``check()`` says whether a sender may put it on the wire.
    ``str(close)`` reads ``1000 (normal closure) 'bye'``.
    """

    code: int
    reason: str = ""

    def __str__(self) -> str:
        text = f"{self.code} ({_short_name(self.code)})"
        return f"{text} {self.reason!r}" if self.reason else text

    @property
    def name(self) -> str | None:
        """The code's name in the IANA registry ("Normal Closure"); None for codes without one."""
        return _IANA_NAMES.get(self.code)

    @property
    def description(self) -> str:
        """The code's one-line meaning (:func:`describe_close_code`)."""
        return describe_close_code(self.code)

    @classmethod
    def parse(cls, payload: bytes, *, strict: bool = True) -> Close:
        """Read a close frame's payload. Empty: ``Close(1005, "")``. Raises MessageError (kind
        CLOSE_TOO_SHORT, CLOSE_CODE_INVALID or CLOSE_REASON_INVALID, with ``frame_offset`` the
        byte in the payload) for a 1-byte payload, a code that may not be sent, or a reason
        that is not UTF-8. ``strict=False`` reads what is there for display: any code is kept
        and bad UTF-8 is replaced (a 1-byte payload still raises: it holds no code)."""
        payload = bytes(payload)
        if not payload:
            return cls(CloseCode.NO_STATUS_RCVD.value, "")
        if len(payload) == 1:
            raise MessageError("close payload is 1 byte: a close frame's body is empty or starts with a 2-byte "
                               "code (RFC 6455 section 5.5.1)", 0, kind=ErrorKind.CLOSE_TOO_SHORT,
                               frame_offset=0)
        code = int.from_bytes(payload[:2], "big")
        if not strict:
            return cls(code, payload[2:].decode("utf-8", "replace"))
        if not close_code_allowed(code):
            raise MessageError(_code_problem(code), 0, kind=ErrorKind.CLOSE_CODE_INVALID, frame_offset=0)
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError as e:
            raise MessageError(f"close reason is not valid UTF-8 at byte {2 + e.start} of the payload "
                               f"({e.reason}) (RFC 6455 section 5.5.1)", 2 + e.start, code=1007,
                               kind=ErrorKind.CLOSE_REASON_INVALID, frame_offset=2 + e.start) from None
        close = cls(code, reason)
        close.check()
        return close

    def check(self) -> None:
        """Raise MessageError unless a sender may put this in a close frame: a code from
        1000–1003, 1007–1014 or 3000–4999 (kind CLOSE_CODE_INVALID) and a reason of at most
        123 bytes of UTF-8 (kind CLOSE_REASON_TOO_LONG)."""
        if not close_code_allowed(self.code):
            raise MessageError(_code_problem(self.code), 0, kind=ErrorKind.CLOSE_CODE_INVALID, frame_offset=0)
        try:
            n = len(self.reason.encode("utf-8"))
        except UnicodeEncodeError as e:
            raise MessageError(f"close reason has {self.reason[e.start]!r} at character {e.start}, which UTF-8 "
                               f"cannot encode (RFC 6455 section 5.5.1)", None,
                               kind=ErrorKind.CLOSE_REASON_INVALID) from None
        if n > MAX_CLOSE_REASON:
            raise MessageError(f"close reason is {n} bytes of UTF-8; at most {MAX_CLOSE_REASON} fit (a control "
                               f"frame carries 125 bytes, 2 of them the code: RFC 6455 section 5.5)", 2 + MAX_CLOSE_REASON,
                               kind=ErrorKind.CLOSE_REASON_TOO_LONG, frame_offset=2 + MAX_CLOSE_REASON)

    def serialize(self) -> bytes:
        """The payload of a close frame carrying this code and reason (checked first)."""
        self.check()
        return self.code.to_bytes(2, "big") + self.reason.encode("utf-8")
