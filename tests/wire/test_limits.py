"""Limits the wire layer keeps whatever it is fed (issue 11): frames per message, a client-side
message limit, and head redaction that reads each byte once and stops at the head's end."""

from __future__ import annotations

import random

import pytest

from wsdemo.wire import (DEFAULT_MAX_FRAMES, ConnectionDecoder, DecodeError, FrameDecoder, HeadRedactor,
                         MessageAssembler, MessageError, MessageEvent, Opcode, compress_message, compute_accept,
                         encode_frame, mask_tokens, mask_tokens_text, redact, redact_head)

KEY = b"\x01\x02\x03\x04"


def frames(data: bytes) -> list:
    return FrameDecoder().feed(data)


def fragmented(n_empty: int, *, masked: bool = True, payload: bytes = b"a") -> bytes:
    """A text frame with FIN=0, ``n_empty`` empty continuation frames, then a final one."""
    key = KEY if masked else None
    out = [encode_frame(Opcode.TEXT, payload, fin=False, mask_key=key)]
    empty = encode_frame(Opcode.CONTINUATION, b"", fin=False, mask_key=key)
    out.append(empty * n_empty)
    out.append(encode_frame(Opcode.CONTINUATION, b"z", fin=True, mask_key=key))
    return b"".join(out)


def test_a_message_takes_at_most_max_frames_frames_then_one_error_and_the_rest_is_skipped():
    asm = MessageAssembler(max_frames=10)
    errors, messages = [], []
    for f in frames(fragmented(100, masked=False) + encode_frame(Opcode.TEXT, b"next")):
        try:
            m = asm.add(f)
        except MessageError as e:
            errors.append(e)
        else:
            if m is not None:
                messages.append(m)
    assert len(errors) == 1, [str(e) for e in errors]  # not one per frame past the limit
    assert "more than 10 frames" in errors[0].message and errors[0].code == 1009
    assert [m.text for m in messages] == ["next"]  # the next message decodes as usual
    assert not asm.in_progress


def test_the_frame_limit_holds_at_the_connection_level_by_default():
    dec = _upgraded()
    n = DEFAULT_MAX_FRAMES + 50
    events = dec.feed("server", fragmented(n, masked=False) + encode_frame(Opcode.TEXT, b"after"))
    errors = [e for e in events if isinstance(e, DecodeError)]
    assert len(errors) == 1 and not errors[0].fatal
    assert f"more than {DEFAULT_MAX_FRAMES} frames" in errors[0].error
    assert [e.message.text for e in events if isinstance(e, MessageEvent)] == ["after"]
    # the frames themselves are all reported, as they were on the wire
    assert sum(1 for e in events if type(e).__name__ == "FrameEvent") == n + 3


def test_a_message_within_the_frame_limit_is_kept_whole():
    (m,) = [x for x in map(MessageAssembler(max_frames=10).add, frames(fragmented(8, masked=False))) if x]
    assert m.text == "az" and len(m.frames) == 10


def test_after_a_message_over_the_size_limit_its_continuations_are_skipped_quietly():
    asm = MessageAssembler(max_size=4)
    stream = (encode_frame(Opcode.BINARY, b"12345", fin=False) + encode_frame(Opcode.CONTINUATION, b"6", fin=False)
              + encode_frame(Opcode.CONTINUATION, b"7") + encode_frame(Opcode.BINARY, b"ok"))
    errors, got = [], []
    for f in frames(stream):
        try:
            m = asm.add(f)
        except MessageError as e:
            errors.append(e.code)
        else:
            got += [m.data] if m else []
    assert errors == [1009] and got == [b"ok"]


def _upgraded(deflate: bool = False) -> ConnectionDecoder:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    dec = ConnectionDecoder(client_max_payload=1000)
    dec.feed("client", (f"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n").encode())
    dec.feed("server", (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Accept: {compute_accept(key)}\r\n{ext}\r\n").encode())
    assert dec.upgraded and (dec.deflate is not None) == deflate
    return dec


def test_the_client_limit_bounds_what_the_client_sends_not_what_the_server_sends():
    dec = _upgraded()
    (err,) = [e for e in dec.feed("client", encode_frame(Opcode.BINARY, b"x" * 1001, mask_key=KEY))
              if isinstance(e, DecodeError)]
    assert "exceeds the limit of 1000 bytes" in err.error
    events = dec.feed("server", encode_frame(Opcode.BINARY, b"y" * 5000))
    assert [len(e.message.data) for e in events if isinstance(e, MessageEvent)] == [5000]


def test_the_client_limit_holds_after_inflating():
    dec = _upgraded(deflate=True)
    bomb = compress_message(b"\0" * 100_000)  # a few hundred bytes on the wire
    assert len(bomb) < 1000
    events = dec.feed("client", encode_frame(Opcode.BINARY, bomb, rsv1=True, mask_key=KEY))
    assert not [e for e in events if isinstance(e, MessageEvent)]
    (err,) = [e for e in events if isinstance(e, DecodeError)]
    assert "inflated message exceeds the limit of 1000 bytes" in err.error


# -- redaction --------------------------------------------------------------------------------

HEAD = (b"GET /chat?name=ada&%74oken=JOIN1&x=1 HTTP/1.1\r\nHost: x\r\nCookie: a=SECRET2\r\n"
        b"Referer: http://x/?t%6Fken=JOIN3\r\nX-Link: /a?%74%6F%6B%65%6E=JOIN4;access%5Ftoken=JOIN5\r\n"
        b"Authorization:  Basic SECRET6\r\n\r\n")


def test_percent_encoded_token_names_are_masked_too():
    # Tornado percent-decodes query names: ?%74oken= is the join token to the app.
    for name in ("token", "%74oken", "t%6Fken", "t%6fken", "%74%6F%6B%65%6E", "access%5Ftoken"):
        assert mask_tokens_text(f"/chat?{name}=SECRET&x=1") == f"/chat?{name}=******&x=1"
        assert mask_tokens(f"GET /?a=1&{name}=SECRET ".encode()) == f"GET /?a=1&{name}=****** ".encode()
    assert mask_tokens_text("/chat?tokens=public") == "/chat?tokens=public"


def test_the_head_redactor_gives_the_same_bytes_however_the_head_is_cut():
    whole = redact_head(HEAD)
    assert len(whole) == len(HEAD)
    for secret in (b"JOIN1", b"SECRET2", b"JOIN3", b"JOIN4", b"JOIN5", b"SECRET6"):
        assert secret not in whole
    assert b"Authorization:  *************\r\n" in whole and b"Host: x\r\n" in whole
    rng = random.Random(11)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(HEAD)), rng.randint(1, 40)))
        r = HeadRedactor()
        out = b"".join(r.feed(HEAD[a:b]) for a, b in zip([0] + cuts, cuts + [len(HEAD)]))
        assert out == whole and r.done
    one_by_one = HeadRedactor()
    assert b"".join(one_by_one.feed(HEAD[i:i + 1]) for i in range(len(HEAD))) == whole


def test_the_head_redactor_stops_at_the_blank_line():
    r = HeadRedactor()
    body = b"Cookie: not a header ?token=not-a-url"
    assert r.feed(b"POST /x HTTP/1.1\r\nCookie: c=1\r\n\r\n" + body).endswith(body)
    assert r.done and r.feed(body) == body
    r.restart()  # the next head on a keep-alive connection
    assert r.feed(b"GET /?token=abc HTTP/1.1\r\n") == b"GET /?token=*** HTTP/1.1\r\n"
    # empty lines before a request line do not end a head (RFC 9112 section 2.2)
    assert redact_head(b"\r\n\r\nGET / HTTP/1.1\r\nCookie: c\r\n\r\n") == b"\r\n\r\nGET / HTTP/1.1\r\nCookie: *\r\n\r\n"


@pytest.mark.parametrize("line", [b"X-Long: " + b"v" * 65536, b"GET /?" + b"q" * 65536, b"Cookie: " + b"c" * 65536])
def test_a_line_trickled_in_small_chunks_is_read_once(line):
    # The redactor carries a bounded number of bytes between chunks (the start of the line,
    # for its name; the end, for a token cut in two), so each chunk costs its own length.
    r = HeadRedactor()
    out = []
    for i in range(0, len(line), 100):
        out.append(r.feed(line[i:i + 100]))
        assert r.carried <= 128
    assert b"".join(out) == redact_head(line)


def test_a_token_value_cut_by_chunks_stays_masked_however_long():
    r = HeadRedactor()
    data = b"GET /?token=" + b"S" * 500 + b"&x=1 HTTP/1.1\r\n"
    out = b"".join(r.feed(data[i:i + 7]) for i in range(0, len(data), 7))
    assert b"S" not in out and out.endswith(b"&x=1 HTTP/1.1\r\n")


def test_decode_errors_quoting_a_request_line_are_redacted():
    (err,) = ConnectionDecoder().feed("client", b"GET /chat?%74oken=SECRET HTTP/1.1 extra\r\n\r\n")
    assert "SECRET" in err.error  # the wire layer reports what it saw...
    shown = redact(err)  # ...and redaction hides the token, as for heads
    assert "SECRET" not in shown.error and "%74oken=******" in shown.error
    assert shown.offset == err.offset and shown.fatal == err.fatal


def test_a_released_decoder_keeps_what_it_decoded_and_only_counts_later_bytes():
    dec = _upgraded(deflate=True)
    dec.feed("client", encode_frame(Opcode.TEXT, b"x", fin=False, mask_key=KEY))  # a message in progress
    dec.release()
    assert dec.deflate is not None and dec.response.status == 101 and dec.head_offset("client") is None
    before = dec.received["client"]
    assert dec.feed("client", encode_frame(Opcode.CONTINUATION, b"y", mask_key=KEY)) == []
    assert dec.received["client"] == before + 7 and dec.eof("client") == []
