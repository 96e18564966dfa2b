"""HTTP heads, Headers, check_handshake (one test per broken rule), extension parsing."""

import pytest

from wsdemo.wire import (
    HandshakeError, Headers, check_handshake, compute_accept, negotiate_deflate, parse_extensions, parse_request,
    parse_response,
)
from wsdemo import wire
from wsdemo.wire.deflate import DeflateParams

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
GOOD_REQUEST = {
    "Host": "localhost", "Upgrade": "websocket", "Connection": "keep-alive, Upgrade",
    "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
}
GOOD_RESPONSE = {
    "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": compute_accept(KEY),
}


def head(start: str, headers: dict) -> bytes:
    return (start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()


def request(start="GET /echo HTTP/1.1", **changes):
    h = {**GOOD_REQUEST, **{k.replace("_", "-"): v for k, v in changes.items()}}
    return parse_request(head(start, {k: v for k, v in h.items() if v is not None}))


def response(start="HTTP/1.1 101 Switching Protocols", **changes):
    h = {**GOOD_RESPONSE, **{k.replace("_", "-"): v for k, v in changes.items()}}
    return parse_response(head(start, {k: v for k, v in h.items() if v is not None}))


def test_headers_multimap():
    h = Headers([("Set-Cookie", "a=1"), ("Host", "x"), ("set-cookie", "b=2")])
    assert h.get("SET-COOKIE") == "a=1"
    assert h.get_all("set-cookie") == ["a=1", "b=2"]
    assert list(h) == [("Set-Cookie", "a=1"), ("Host", "x"), ("set-cookie", "b=2")]
    assert len(h) == 3 and "host" in h and "Origin" not in h
    assert h.get("Origin", "none") == "none"


def test_tornado_casing_is_accepted():
    req = request(**{"Sec-WebSocket-Key": None}, **{"Sec-Websocket-Key": KEY})
    assert req.headers.get("Sec-WebSocket-Key") == KEY
    assert check_handshake(req, response()) == []


def test_good_handshake_has_no_problems():
    assert check_handshake(request(), response()) == []
    assert check_handshake(request()) == []


@pytest.mark.parametrize("kwargs, rule", [
    (dict(start="POST /echo HTTP/1.1"), "the method must be GET"),
    (dict(start="GET /echo HTTP/1.0"), "HTTP/1.1"),
    (dict(Host=None), "Host"),
    (dict(Upgrade="h2c"), "Upgrade must be 'websocket'"),
    (dict(Upgrade=None), "Upgrade must be 'websocket'"),
    (dict(Connection="keep-alive"), "Connection must contain the token 'Upgrade'"),
    (dict(Sec_WebSocket_Key=None), "Sec-WebSocket-Key must be base64 of 16"),
    (dict(Sec_WebSocket_Key="not base64!"), "Sec-WebSocket-Key must be base64 of 16"),
    (dict(Sec_WebSocket_Key="AAAA"), "Sec-WebSocket-Key must be base64 of 16"),
    (dict(Sec_WebSocket_Version="8"), "Sec-WebSocket-Version must be 13"),
])
def test_each_broken_request_rule_is_named(kwargs, rule):
    problems = check_handshake(request(**kwargs))
    assert len(problems) == 1, problems
    assert rule in problems[0] and "RFC 6455 section 4" in problems[0]
    assert problems[0].section.startswith("4")


@pytest.mark.parametrize("kwargs, rule", [
    (dict(start="HTTP/1.1 200 OK"), "101 Switching Protocols"),
    (dict(Upgrade="nope"), "response's Upgrade"),
    (dict(Connection="close"), "response's Connection"),
    (dict(Sec_WebSocket_Accept=compute_accept("another key")), "Accept must match"),
    (dict(Sec_WebSocket_Accept=None), "Accept must match"),
    (dict(Sec_WebSocket_Extensions="x-webkit-deflate-frame"), "extensions the client offered"),
    (dict(Sec_WebSocket_Protocol="chat"), "subprotocol the client offered"),
])
def test_each_broken_response_rule_is_named(kwargs, rule):
    problems = check_handshake(request(), response(**kwargs))
    assert len(problems) == 1, problems
    assert rule in problems[0] and "RFC 6455 section" in problems[0]


def test_accepted_extension_that_was_offered_is_fine():
    assert check_handshake(request(), response(Sec_WebSocket_Extensions="permessage-deflate")) == []


@pytest.mark.parametrize("raw, words, offset", [
    (b"GET /\r\n\r\n", "request line must be 'METHOD TARGET HTTP/1.1'", 0),
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", "line 2 (byte 16): header line has no ':'", 16),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "no whitespace is allowed before the ':'", 16),
    (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "obsolete line folding", 22),
    (b"GET / HTTP/1.1\r\nHost: x", "incomplete HTTP request head", 23),
    (b"GET / HTTP/x\r\n\r\n", "not an HTTP version", 6),
    (b"GET / HTTP/1.1\r\nA: b\x01c\r\n\r\n", "control character", 20),
])
def test_request_parse_errors_say_what_and_where(raw, words, offset):
    with pytest.raises(HandshakeError) as info:
        parse_request(raw)
    assert words in str(info.value)
    assert info.value.offset == offset


def test_response_parse_errors():
    with pytest.raises(HandshakeError, match="status code must be 3 digits"):
        parse_response(b"HTTP/1.1 1O1 Switching\r\n\r\n")
    with pytest.raises(HandshakeError, match="status line"):
        parse_response(b"HTP/1.1 101 x\r\n\r\n")
    assert parse_response(b"HTTP/1.1 204\r\n\r\n").reason == ""


def test_size_limit():
    big = b"GET / HTTP/1.1\r\nX: " + b"a" * 200 + b"\r\n\r\n"
    with pytest.raises(HandshakeError, match="larger than the limit of 100 bytes"):
        parse_request(big, max_size=100)
    assert parse_request(big, max_size=len(big)).headers["X"] == "a" * 200


def test_bare_lf_heads_are_read():
    req = parse_request(b"GET / HTTP/1.1\nHost: a\n\n")
    assert req.headers["Host"] == "a"


def test_repeated_headers_kept():
    req = parse_request(b"GET / HTTP/1.1\r\nCookie: a\r\ncookie: b\r\n\r\n")
    assert req.headers.get_all("Cookie") == ["a", "b"]


def test_parse_extensions_and_negotiate_deflate():
    assert parse_extensions('permessage-deflate; client_max_window_bits, foo; bar="b;c"') == [
        ("permessage-deflate", [("client_max_window_bits", None)]), ("foo", [("bar", "b;c")])]
    req = Headers([("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
    res = Headers([("Sec-WebSocket-Extensions",
                    "permessage-deflate; server_no_context_takeover; client_max_window_bits=10")])
    params = negotiate_deflate(req, res)
    assert params == DeflateParams(server_no_context_takeover=True, client_max_window_bits=10)
    assert params.window_bits("client") == 10 and params.window_bits("server") == 15
    assert params.no_context_takeover("server") and not params.no_context_takeover("client")
    assert negotiate_deflate(req, Headers()) is None


@pytest.mark.parametrize("value, words", [
    ("permessage-deflate; server_max_window_bits=16", "from 8 to 15"),
    ("permessage-deflate; server_max_window_bits", "needs a value"),
    ("permessage-deflate; x=1", "unknown permessage-deflate parameter"),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "appears twice"),
    ("permessage-deflate, permessage-deflate", "more than once"),
])
def test_bad_deflate_responses(value, words):
    req = Headers([("Sec-WebSocket-Extensions", "permessage-deflate")])
    with pytest.raises(HandshakeError, match=words):
        negotiate_deflate(req, Headers([("Sec-WebSocket-Extensions", value)]))


def test_deflate_not_offered():
    with pytest.raises(HandshakeError, match="did not offer"):
        negotiate_deflate(Headers(), Headers([("Sec-WebSocket-Extensions", "permessage-deflate")]))


def test_subprotocols_are_matched_case_sensitively():
    """RFC 6455 section 4.1: the client fails the connection if the server selects a subprotocol
    "that was not present in the client's handshake"; names are compared exactly (browsers do so,
    and RFC 7936 makes only the IANA registry case-insensitive)."""
    req = request(Sec_WebSocket_Protocol="chat, Superchat")
    assert check_handshake(req, response(Sec_WebSocket_Protocol="Superchat")) == []
    assert check_handshake(req, response(Sec_WebSocket_Protocol="chat")) == []
    (problem,) = check_handshake(req, response(Sec_WebSocket_Protocol="superchat"))
    assert problem.rule == "the server may only select a subprotocol the client offered"
    assert "'superchat'" in problem and "['chat', 'Superchat']" in problem
    (problem,) = check_handshake(request(), response(Sec_WebSocket_Protocol="chat"))
    assert "offered none" in problem
    # one value at most (section 4.2.2), whether in one header or repeated
    (problem,) = check_handshake(req, response(Sec_WebSocket_Protocol="chat, Superchat"))
    assert problem.rule == "the server selects at most one subprotocol" and "names 2" in problem


def test_empty_lines_before_a_request_line_but_not_a_status_line():
    req = parse_request(b"\r\n\r\nGET /echo HTTP/1.1\r\nHost: a\r\n\r\nbody")
    assert (req.method, req.target, req.headers["Host"], req.body) == ("GET", "/echo", "a", b"body")
    assert req.raw == b"\r\n\r\nGET /echo HTTP/1.1\r\nHost: a\r\n\r\n"  # kept: byte counts stay true
    with pytest.raises(HandshakeError, match="line 1 \\(byte 2\\).*3 parts") as info:
        parse_request(b"\r\nGET /echo\r\n\r\n")
    assert info.value.offset == 2
    with pytest.raises(HandshakeError, match="starts with an empty line"):
        parse_response(b"\r\nHTTP/1.1 200 OK\r\n\r\n")


def test_head_errors_carry_the_http_status_a_server_would_answer():
    # Callers choose the status from this field, never from the message's words.
    with pytest.raises(wire.HandshakeError) as too_big:
        wire.parse_request(b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n")
    assert too_big.value.status == 431
    with pytest.raises(wire.HandshakeError) as garbage:
        wire.parse_request(b"GARBAGE\r\n\r\n")
    assert garbage.value.status == 400
    decoder = wire.ConnectionDecoder()
    (error,) = [e for e in decoder.feed("client", b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000)
                if isinstance(e, wire.DecodeError)]
    assert error.status == 431
