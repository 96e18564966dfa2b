"""ConnectionDecoder: both directions of one connection, HTTP keep-alive, errors with offsets,
the lifecycle table, stats and redaction."""

import zlib

import pytest

from wsdemo.wire import (
    TRANSITIONS, ConnectionDecoder, ErrorKind, ProtocolError, Trigger, DecodeError, FrameEvent, HttpRequest, HttpResponse, MessageEvent, Opcode,
    State, compress_message, compute_accept, encode_frame, next_state, parse_request, redact, redact_head,
    summarize,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"


def upgrade_request(extensions: str | None = None, cookie: str | None = None) -> bytes:
    lines = ["GET /echo HTTP/1.1", "Host: 127.0.0.1:8888", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def upgrade_response(extensions: str | None = None) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {compute_accept(KEY)}"]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def kinds(events):
    return [type(e).__name__ for e in events]


def messages(events, sender=None):
    return [e.message for e in events if isinstance(e, MessageEvent) and (sender is None or e.sender == sender)]


def errors(events):
    return [e for e in events if isinstance(e, DecodeError)]


def test_full_websocket_conversation():
    dec = ConnectionDecoder()
    assert dec.state is State.CONNECTING
    ev = dec.feed("client", upgrade_request(), at=1.0)
    assert kinds(ev) == ["HttpRequest"] and ev[0].at == 1.0
    ev = dec.feed("server", upgrade_response() + encode_frame(Opcode.TEXT, "welcome"))
    assert kinds(ev) == ["HttpResponse", "FrameEvent", "MessageEvent"]
    assert dec.state is State.OPEN and dec.deflate is None
    assert ev[1].offset == len(upgrade_response())
    ev = dec.feed("client", encode_frame(Opcode.TEXT, "Hello", mask_key=MASK))
    assert messages(ev)[0].text == "Hello" and ev[0].offset == len(upgrade_request())
    ev = dec.feed("client", encode_frame(Opcode.CLOSE, b"\x03\xe8", mask_key=MASK))
    assert messages(ev)[0].close_code == 1000 and dec.state is State.CLOSING
    dec.feed("server", encode_frame(Opcode.CLOSE, b"\x03\xe8"))
    assert dec.state is State.CLOSING
    assert dec.eof("server") == [] and dec.state is State.CLOSED
    assert dec.request.target == "/echo" and dec.response.status == 101


def test_every_split_of_the_conversation_gives_the_same_events():
    client = upgrade_request() + encode_frame(1, "Hé", mask_key=MASK) + encode_frame(2, b"x" * 300, mask_key=MASK)
    server = upgrade_response() + encode_frame(1, "one") + encode_frame(9, b"p")

    def run(step):
        dec = ConnectionDecoder()
        out = dec.feed("client", client[:len(upgrade_request())], at=0)
        out += dec.feed("server", server[:len(upgrade_response())], at=0)
        for who, data, start in (("client", client, len(upgrade_request())), ("server", server, len(upgrade_response()))):
            for i in range(start, len(data), step):
                out += dec.feed(who, data[i:i + step], at=0)
        return out

    whole = run(10_000)
    assert not errors(whole) and len(messages(whole)) == 4
    for step in (1, 2, 3, 7, 64):
        assert run(step) == whole


def test_client_bytes_before_the_101_wait_for_it():
    dec = ConnectionDecoder()
    ev = dec.feed("client", upgrade_request() + encode_frame(1, "early", mask_key=MASK))
    assert kinds(ev) == ["HttpRequest"]
    ev = dec.feed("server", upgrade_response())
    assert kinds(ev) == ["HttpResponse", "FrameEvent", "MessageEvent"]
    assert ev[1].sender == "client" and ev[1].offset == len(upgrade_request())


def test_deflate_negotiated_from_the_handshake():
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request("permessage-deflate; client_max_window_bits"))
    dec.feed("server", upgrade_response("permessage-deflate; client_no_context_takeover"))
    assert dec.deflate.client_no_context_takeover
    c = zlib.compressobj(wbits=-15)
    ev = []
    for text in ("compress me " * 5, "compress me " * 5):
        ev += dec.feed("server", encode_frame(1, compress_message(text.encode(), c), rsv1=True))
    for text in ("from the client " * 3, "from the client " * 3):  # fresh context each message
        data = compress_message(text.encode())
        ev += dec.feed("client", encode_frame(1, data, rsv1=True, mask_key=MASK))
    got = messages(ev)
    assert [m.text for m in got] == ["compress me " * 5] * 2 + ["from the client " * 3] * 2
    assert all(m.compressed for m in got) and not errors(ev)


def test_rsv1_without_deflate_is_a_fatal_error_with_offset():
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request())
    dec.feed("server", upgrade_response())
    good = encode_frame(1, "ok")
    ev = dec.feed("server", good + encode_frame(1, b"zz", rsv1=True) + encode_frame(1, "lost"))
    assert kinds(ev) == ["FrameEvent", "MessageEvent", "DecodeError"]
    err = ev[-1]
    assert err.fatal and "RSV1" in err.error and err.offset == len(upgrade_response()) + len(good)
    # the direction stops decoding but keeps counting bytes; the other direction goes on
    before = dec.received["server"]
    assert dec.feed("server", good) == []
    assert dec.received["server"] == before + len(good)
    assert messages(dec.feed("client", encode_frame(1, "still here", mask_key=MASK)))[0].text == "still here"


def test_unmasked_client_frame_and_bad_utf8_offsets():
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request())
    dec.feed("server", upgrade_response())
    base = len(upgrade_response())
    ev = dec.feed("server", encode_frame(1, b"ab\xffcd"))
    (err,) = errors(ev)
    assert not err.fatal and err.offset == base + 2 + 2 and "UTF-8" in err.error
    # a message-level error does not stop the direction
    assert messages(dec.feed("server", encode_frame(1, "fine")))[0].text == "fine"
    ev = dec.feed("client", encode_frame(1, b"x"))
    (err,) = errors(ev)
    assert err.fatal and "must mask" in err.error and err.offset == len(upgrade_request()) + 1


def test_bad_close_code_is_reported():
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request())
    dec.feed("server", upgrade_response())
    (err,) = errors(dec.feed("server", encode_frame(Opcode.CLOSE, (1005).to_bytes(2, "big"))))
    assert "close code 1005 (No Status Received) may not be sent" in err.error and not err.fatal
    assert err.offset == len(upgrade_response()) + 2  # the code's first byte, after the 2-byte header


def test_bad_request_head_is_a_decode_error_not_an_exception():
    dec = ConnectionDecoder()
    ev = dec.feed("client", b"GET / HTTP/1.1\r\nbad header line\r\n\r\n")
    (err,) = errors(ev)
    assert err.fatal and "no ':'" in err.error and err.offset == 16


def test_unknown_sender_and_odd_data_types():
    dec = ConnectionDecoder()
    (err,) = dec.feed("browser", b"x")
    assert "unknown sender" in err.error
    assert kinds(dec.feed("client", bytearray(upgrade_request()))) == ["HttpRequest"]
    ev = dec.feed("client", 12345)  # not bytes at all: still no exception
    assert kinds(ev) == ["DecodeError"]


def test_eof_inside_a_frame_and_inside_a_head():
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request())
    dec.feed("server", upgrade_response())
    dec.feed("server", encode_frame(2, b"x" * 100)[:50])
    (err,) = dec.eof("server")
    assert "got 48 of its 100 payload bytes" in err.error and err.offset == len(upgrade_response())
    assert dec.state is State.CLOSED
    dec = ConnectionDecoder()
    dec.feed("client", b"GET / HTTP/1.1\r\nHost: x\r\n")
    (err,) = dec.eof("client")
    assert "inside an HTTP request head" in err.error


def test_non_101_answer_to_an_upgrade():
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request())
    ev = dec.feed("server", b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way")
    assert kinds(ev) == ["HttpResponse"] and ev[0].response.body == b"no way"
    assert dec.state is State.CLOSED and dec.deflate is None


# -- plain HTTP keep-alive ------------------------------------------------------------------

def test_keep_alive_with_content_length_and_chunked_bodies():
    dec = ConnectionDecoder()
    client = (b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"
              b"POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
              b"POST /send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
    server = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]"
              b"HTTP/1.1 204 No Content\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n")
    ev = []
    for i in range(0, len(client), 7):
        ev += dec.feed("client", client[i:i + 7])
    for i in range(0, len(server), 5):
        ev += dec.feed("server", server[i:i + 5])
    reqs = [e.request for e in ev if isinstance(e, HttpRequest)]
    ress = [e.response for e in ev if isinstance(e, HttpResponse)]
    assert [r.body for r in reqs] == [b"", b"hello", b"abcde"]
    assert [(r.status, r.body) for r in ress] == [(200, b"[]"), (204, b""), (200, b"Wikipedia")]
    assert not errors(ev) and dec.state is State.CONNECTING
    s = summarize(ev)
    assert s.client.http_messages == 3 and s.server.http_messages == 3
    assert s.client.wire_bytes == len(client) and s.server.wire_bytes == len(server)
    assert reqs[2].body_wire_size == len(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")


def test_head_and_304_responses_have_no_body_and_eof_body():
    dec = ConnectionDecoder()
    dec.feed("client", b"HEAD / HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    ev = dec.feed("server", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
                            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
                            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
    assert [e.response.status for e in ev] == [200, 304]
    (last,) = dec.eof("server")
    assert last.response.body == b"until the end"


def test_truncated_body_at_eof():
    dec = ConnectionDecoder()
    dec.feed("client", b"GET / HTTP/1.1\r\n\r\n")
    dec.feed("server", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    (err,) = dec.eof("server")
    assert "10 bytes into a 100-byte response body" in err.error


@pytest.mark.parametrize("body, words", [
    (b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
    (b"Content-Length: ten\r\n\r\n", "invalid Content-Length"),
    (b"Content-Length: 1, 2\r\n\r\n", "invalid Content-Length"),
])
def test_bad_bodies(body, words):
    dec = ConnectionDecoder()
    (err,) = dec.feed("client", b"POST / HTTP/1.1\r\n" + body)
    assert words in err.error and err.fatal


# -- lifecycle, stats, redaction --------------------------------------------------------------

def test_transition_table_drives_next_state():
    assert {t.source for t in TRANSITIONS} == {State.CONNECTING, State.OPEN, State.CLOSING}
    T = Trigger
    assert next_state(State.CONNECTING, T.SWITCHING_PROTOCOLS) is State.OPEN
    assert next_state(State.OPEN, T.CLIENT_CLOSE) is State.CLOSING
    assert next_state(State.OPEN, T.SERVER_CLOSE) is State.CLOSING
    assert next_state(State.CLOSING, T.TCP_CLOSED) is State.CLOSED
    assert next_state(State.OPEN, T.TCP_CLOSED) is State.CLOSED
    assert next_state(State.CONNECTING, T.REFUSED) is State.CLOSED
    assert next_state(State.CLOSING, T.SERVER_CLOSE) is State.CLOSING  # no transition: unchanged
    for unknown in ("client sends close", "TCP closd", None):  # a misspelt trigger raises
        with pytest.raises(ProtocolError) as info:
            next_state(State.OPEN, unknown)
        assert info.value.kind is ErrorKind.BAD_ARGUMENT


def test_summarize_counts_per_direction():
    dec = ConnectionDecoder()
    ev = dec.feed("client", upgrade_request())
    ev += dec.feed("server", upgrade_response() + encode_frame(1, "x" * 200))
    ev += dec.feed("client", encode_frame(2, b"abc", mask_key=MASK) + encode_frame(1, "d", fin=False, mask_key=MASK)
                   + encode_frame(0, "e", mask_key=MASK))
    s = summarize(ev)
    assert (s.client.frames, s.client.messages, s.client.payload_bytes, s.client.framing_bytes) == (3, 2, 5, 18)
    assert (s.server.frames, s.server.messages, s.server.payload_bytes, s.server.framing_bytes) == (1, 1, 200, 4)
    assert s.client.http_head_bytes == len(upgrade_request()) and s["server"].http_messages == 1
    assert s.client.wire_bytes == dec.received["client"]
    text = str(s)
    assert text.splitlines()[0].startswith("client: 1 HTTP message") and "3 frames" in text


def test_redact_head_keeps_length_and_hides_secrets():
    raw = (b"GET / HTTP/1.1\r\nHost: x\r\nCookie: _xsrf=abc; jupyter-token=SECRET\r\n"
           b"authorization: token SECRET2\r\nProxy-Authorization: Basic Zm9v\r\n\r\n")
    out = redact_head(raw)
    assert len(out) == len(raw) and b"SECRET" not in out and b"Zm9v" not in out
    assert b"Cookie: " + b"*" * len(b"_xsrf=abc; jupyter-token=SECRET") + b"\r\n" in out
    assert out.startswith(b"GET / HTTP/1.1\r\nHost: x\r\n")
    res = redact_head(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\n\r\n")
    assert res == b"HTTP/1.1 200 OK\r\nSet-Cookie: ***\r\n\r\n"


def test_redaction_masks_join_tokens_in_urls_too():
    raw = (b"GET /chat?name=ada&token=JOIN123 HTTP/1.1\r\nHost: x\r\n"
           b"Referer: http://x/chat.html?token=JOIN123\r\n\r\n")
    out = redact_head(raw)
    assert len(out) == len(raw) and b"JOIN123" not in out
    assert out.startswith(b"GET /chat?name=ada&token=******* HTTP/1.1\r\n")
    # lines on their own (a chunk of a head, no start line) are redacted alike
    assert redact_head(b"Cookie: a=b\r\nReferer: /?access_token=XY") == b"Cookie: ***\r\nReferer: /?access_token=**"
    (ev,) = ConnectionDecoder().feed("client", raw)
    red = redact(ev).request
    assert red.target == "/chat?name=ada&token=*******" and red.headers["Referer"].endswith("token=*******")
    assert b"JOIN123" not in red.raw


def test_redact_event():
    dec = ConnectionDecoder(connection="conn-1")
    (ev,) = dec.feed("client", upgrade_request(cookie="token=SECRET"))
    assert ev.connection == "conn-1"  # stamped by the decoder when it made the event
    red = redact(ev)
    assert b"SECRET" not in red.request.raw and red.request.headers["Cookie"] == "*" * 12
    assert len(red.request.raw) == len(ev.request.raw) and red.connection == "conn-1"
    assert ev.request.headers["Cookie"] == "token=SECRET"  # the original is untouched
    frame_event = FrameEvent("server", 0.0, None, 0)
    assert redact(frame_event) is frame_event


def test_events_are_frozen_and_carry_their_connection():
    import dataclasses
    conn = object()
    dec = ConnectionDecoder(connection=conn)
    events = dec.feed("client", upgrade_request()) + dec.feed("server", upgrade_response())
    events += dec.feed("server", encode_frame(Opcode.TEXT, "hi") + encode_frame(Opcode.CLOSE, b"\x03\xed")
                       + encode_frame(Opcode.PING, b"", rsv1=True))
    assert kinds(events) == ["HttpRequest", "HttpResponse", "FrameEvent", "MessageEvent", "FrameEvent", "DecodeError",
                             "DecodeError"]
    assert [e.fatal for e in events[-2:]] == [False, True]
    assert all(e.connection is conn for e in events)
    for e in events:
        with pytest.raises(dataclasses.FrozenInstanceError):
            e.connection = None
    assert ConnectionDecoder().feed("client", upgrade_request())[0].connection is None


def test_non_http_bytes_are_named_on_the_first_chunk_not_at_close():
    from wsdemo.wire import ConnectionDecoder, DecodeError

    tls = ConnectionDecoder().feed("client", bytes.fromhex("160301020001"))
    assert [type(e) for e in tls] == [DecodeError] and "TLS" in tls[0].error and tls[0].offset == 0
    junk = ConnectionDecoder().feed("client", b"GET\x00 / HTTP/1.1")
    assert junk[0].offset == 3 and "method" in junk[0].error
    reply = ConnectionDecoder()
    reply.feed("client", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert "HTTP/" in reply.feed("server", b"SSH-2.0-OpenSSH")[0].error
    # A head split anywhere inside its method is still fine.
    ok = ConnectionDecoder()
    assert ok.feed("client", b"GE") == [] and ok.feed("client", b"T / HTTP/1.1\r\nHost: x\r\n\r\n")


# -- robustness: byte sequences real clients send, and limits ----------------------------------

@pytest.mark.parametrize("lead", [b"\r\n", b"\n", b"\r\n\r\n"])
def test_empty_lines_before_a_request_line_are_skipped_but_counted(lead):
    """RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request-line
    (some clients send a CRLF after a POST body)."""
    post = b"POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
    get = b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"
    stream = lead + post + lead + get + lead
    for step in (1, 3, len(stream)):
        dec = ConnectionDecoder()
        ev = []
        for i in range(0, len(stream), step):
            ev += dec.feed("client", stream[i:i + step])
        ev += dec.eof("client")
        assert not errors(ev), errors(ev)
        reqs = [e.request for e in ev if isinstance(e, HttpRequest)]
        assert [(r.method, r.target, r.body) for r in reqs] == [("POST", "/send", b"hi"), ("GET", "/poll", b"")]
        assert reqs[0].raw.startswith(lead + b"POST") and reqs[1].raw.startswith(lead + b"GET")
        # every byte but the trailing empty lines is in a head or a body
        assert summarize(ev).client.wire_bytes == len(stream) - len(lead)
    # parse_request agrees; errors after the empty lines point past them
    assert parse_request(lead + get).target == "/poll"
    err = ConnectionDecoder().feed("client", lead + b"GET\x00 / HTTP/1.1")
    assert err[0].offset == len(lead) + 3 and "method" in err[0].error
    tls = ConnectionDecoder().feed("client", lead + bytes.fromhex("160301"))
    assert "TLS" in tls[0].error and tls[0].offset == len(lead)


def test_a_response_does_not_start_with_an_empty_line():
    dec = ConnectionDecoder()
    dec.feed("client", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    (err,) = dec.feed("server", b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert "HTTP/" in err.error and err.offset == 0


def test_responses_fed_before_their_requests_still_pair_up():
    # keep-alive: a response fed first is paired with the next request, not the one after
    dec = ConnectionDecoder()
    ev = dec.feed("server", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
    assert kinds(ev) == ["HttpResponse", "DecodeError"] and not ev[1].fatal
    assert "before any request" in ev[1].error and ev[1].offset == 0
    ev = dec.feed("client", b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert kinds(ev) == ["HttpRequest", "HttpRequest"]
    # this answers the HEAD: no body, although it announces one
    ev = dec.feed("server", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    assert kinds(ev) == ["HttpResponse"] and ev[0].response.body == b""
    # a 101 fed before the upgrade request: the request is still read as HTTP, then frames
    dec = ConnectionDecoder()
    ev = dec.feed("server", upgrade_response() + encode_frame(1, "first"))
    assert kinds(ev) == ["HttpResponse", "DecodeError", "FrameEvent", "MessageEvent"]
    ev = dec.feed("client", upgrade_request() + encode_frame(1, "second", mask_key=MASK))
    assert kinds(ev) == ["HttpRequest", "FrameEvent", "MessageEvent"]
    assert ev[1].offset == len(upgrade_request()) and messages(ev)[0].text == "second"
    assert dec.state is State.OPEN


def test_a_101_to_another_protocol_is_counted_not_decoded():
    dec = ConnectionDecoder()
    dec.feed("client", b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    ev = dec.feed("server", b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
                            b"\x00\x00\x00\x04")
    assert kinds(ev) == ["HttpResponse", "DecodeError"]
    assert "'h2c'" in ev[1].error and "not decoded" in ev[1].error and not ev[1].fatal
    assert dec.feed("server", b"more") == [] and dec.feed("client", b"PRI * HTTP/2.0") == []
    assert dec.received["server"] == len(ev[0].response.raw) + 8


def test_a_client_that_never_waits_for_the_101_is_bounded():
    dec = ConnectionDecoder(max_payload=1000, max_head=500)
    dec.feed("client", upgrade_request())
    ev = []
    for _ in range(20):
        ev += dec.feed("client", encode_frame(2, b"x" * 100, mask_key=MASK))
    (err,) = errors(ev)
    assert err.fatal and "without an answer from the server" in err.error
    assert err.offset == len(upgrade_request())
    assert dec.received["client"] == len(upgrade_request()) + 20 * 106


def test_chunked_bodies_are_bounded_in_size_and_trailer():
    dec = ConnectionDecoder(max_payload=1000, max_head=300)
    ev = dec.feed("client", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(300):  # many one-byte chunks: body limit counted incrementally
        ev += dec.feed("client", b"1\r\na\r\n" * 10)
    (err,) = errors(ev)
    assert "exceeds the decoder's limit of 1000 bytes" in err.error
    dec = ConnectionDecoder(max_payload=1000, max_head=300)
    ev = dec.feed("client", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n")
    for _ in range(100):  # a trailer section that never ends
        ev += dec.feed("client", b"X-T: 1\r\n")
    (err,) = errors(ev)
    assert "trailer section" in err.error and err.fatal


def test_huge_announced_payload_and_never_ending_head_are_refused_at_once():
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request())
    dec.feed("server", upgrade_response())
    (err,) = dec.feed("server", b"\x82\x7f\x7f" + b"\xff" * 7)  # 2^63 - 1 bytes announced
    assert "exceeds the limit" in err.error and err.offset == len(upgrade_response()) + 1
    dec = ConnectionDecoder(max_head=1000)
    ev = dec.feed("client", b"GET / HTTP/1.1\r\n")
    for _ in range(200):
        ev += dec.feed("client", b"X-Long: " + b"y" * 20 + b"\r\n")
    (err,) = errors(ev)
    assert "larger than the limit of 1000 bytes" in err.error and err.offset == 1000


# -- found by tests/wire/fuzz.py --------------------------------------------------------------

@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: \xb32\r\n\r\n",  # latin-1 superscript 3: str.isdigit() is True
    b"HTTP/1.1 \xb204 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n",
])
def test_non_ascii_digits_and_loose_hex_are_refused_cleanly(head):
    dec = ConnectionDecoder()
    dec.feed("client", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    ev = dec.feed("server", head)
    (err,) = errors(ev)
    assert err.fatal and "internal" not in err.error
    assert any(w in err.error for w in ("Content-Length", "status code", "chunk size"))


def test_quoted_non_ascii_window_bits_are_a_negotiation_error():
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request("permessage-deflate; client_max_window_bits"))
    ev = dec.feed("server", upgrade_response('permessage-deflate; server_max_window_bits="\xb9"'.encode("latin-1")
                                             .decode("latin-1")))
    (err,) = errors(ev)
    assert "permessage-deflate negotiation" in err.error and "internal" not in err.error


def test_errors_do_not_depend_on_how_the_bytes_were_cut():
    cases = [("client", b"\x16\x90\x91GET / HTTP/1.1\r\n"), ("client", b"GET\r\n\r\n"),
             ("client", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n;x\r\n\r\n"),
             ("server", b"H\x9bg]TTP/1.1 \n\r")]
    for sender, data in cases:
        results = set()
        for step in (1, 2, 5, len(data)):
            dec = ConnectionDecoder(max_head=64)
            if sender == "server":
                dec.feed("client", b"GET / HTTP/1.1\r\n\r\n")
            ev = [e for i in range(0, len(data), step) for e in dec.feed(sender, data[i:i + step])]
            results.add(tuple((e.error, e.offset) for e in errors(ev)))
        assert len(results) == 1, results


def test_bytes_held_before_a_refused_upgrade_keep_their_offsets():
    dec = ConnectionDecoder()
    req = upgrade_request()
    dec.feed("client", req + b"\xc1\x05junk!")
    ev = dec.feed("server", b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    (err,) = errors(ev)
    assert err.sender == "client" and err.offset == len(req) and "method" in err.error


def test_events_read_well_in_a_notebook():
    dec = ConnectionDecoder()
    ev = dec.feed("client", upgrade_request(), at=12.5)
    ev += dec.feed("server", upgrade_response() + encode_frame(1, "hi"), at=13.0)
    ev += dec.feed("client", b"\x81\x00", at=14.0)
    assert [repr(e) for e in ev] == [
        f"<HttpRequest client at=12.500: GET /echo HTTP/1.1 (5 headers) [{len(upgrade_request())} B head]>",
        f"<HttpResponse server at=13.000: HTTP/1.1 101 Switching Protocols (3 headers) "
        f"[{len(upgrade_response())} B head]>",
        f"<FrameEvent server at=13.000: frame at byte {len(upgrade_response())}: TEXT 'hi' [2 bytes]>",
        "<MessageEvent server at=13.000: message text 'hi' (2 bytes, 1 frame, 4 on the wire)>",
        f"<DecodeError client at=14.000: fatal error at byte {len(upgrade_request()) + 1}: client TEXT frame "
        f"is not masked: a client must mask every frame it sends (RFC 6455 section 5.3)>",
    ]
    assert str(ev[3]) == "server: message text 'hi' (2 bytes, 1 frame, 4 on the wire)"
    assert str(ev[4]).startswith(f"client byte {len(upgrade_request()) + 1}: client TEXT frame is not masked")
