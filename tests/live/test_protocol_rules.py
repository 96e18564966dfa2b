"""Where RFC 6455 and RFC 7692 are strict, the server is too: close codes that may not be sent,
a 64-bit length with its top bit set, HTTP/1.0 and bad keys in the handshake, permessage-deflate
offers it cannot accept; and a join token that is not ASCII is a 403, not a 500. Raw sockets,
through the tap and straight to Tornado, with no traceback in the logs."""

from __future__ import annotations

import asyncio
import base64
import logging
import struct

import pytest

import wsdemo
from wsdemo import wire

from .conftest import T, Raw, client_frame, conn_for_port, handshake, wait_for_event


def port_of(server, via: str) -> int:
    return server.port if via == "tap" else server.direct_port


async def upgraded(port: int, extra: str = "") -> tuple[Raw, wire.Response]:
    raw = await Raw.open(port)
    await raw.send(handshake(extra=extra))
    response = wire.parse_response(await raw.read_head())
    return raw, response


def server_closes(data: bytes) -> list[wire.Message]:
    assembler = wire.MessageAssembler()
    out = []
    for frame in wire.FrameDecoder().feed(data):
        message = assembler.add(frame)
        if message is not None and message.kind == "close":
            out.append(message)
    return out


@pytest.fixture
def no_tracebacks(caplog):
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


# -- close codes (RFC 6455 sections 7.4.1 and 7.4.2) -------------------------------------------

@pytest.mark.parametrize("via", ["tap", "direct"])
@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
async def test_a_close_code_not_allowed_on_the_wire_fails_with_1002(server, no_tracebacks, via, code):
    raw, response = await upgraded(port_of(server, via))
    assert response.status == 101
    await raw.send(client_frame(8, struct.pack(">H", code) + b"bye"))
    (close,) = server_closes(await raw.read_all())
    assert close.close_code == 1002, f"code {code} was answered with {close.close_code}"
    assert f"close code {code}" in close.close_reason and "RFC 6455 section 7.4" in close.close_reason
    await raw.close()


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 1014, 3000, 4999])
async def test_an_allowed_close_code_is_echoed(server, no_tracebacks, code):
    raw, _ = await upgraded(server.port)
    await raw.send(client_frame(8, struct.pack(">H", code) + "ciao ✓".encode()))
    (close,) = server_closes(await raw.read_all())
    assert close.close_code == code
    await raw.close()


# -- frame lengths (RFC 6455 section 5.2) ----------------------------------------------------

@pytest.mark.parametrize("via", ["tap", "direct"])
async def test_a_64_bit_length_with_its_top_bit_set_is_a_protocol_error_not_too_big(server, via):
    raw, _ = await upgraded(port_of(server, via))
    await raw.send(b"\x82\xff" + struct.pack(">Q", 1 << 63) + b"\x37\xfa\x21\x3d")
    (close,) = server_closes(await raw.read_all())
    assert close.close_code == 1002
    assert "most significant bit" in close.close_reason and "section 5.2" in close.close_reason
    await raw.close()


@pytest.mark.parametrize("via", ["tap", "direct"])
async def test_a_message_of_more_frames_than_the_limit_gets_1009(server, via):
    # Empty continuation frames cost 6 bytes each on the wire and a frame object each in a
    # reassembler: the server bounds them per message, as the tap's decoder does.
    raw, _ = await upgraded(port_of(server, via))
    limit = wire.DEFAULT_MAX_FRAMES
    await raw.send(client_frame(0x1, b"a", fin=False) + client_frame(0x0, b"", fin=False) * limit
                   + client_frame(0x0, b"z"))
    (close,) = server_closes(await raw.read_all())
    assert close.close_code == 1009 and str(limit) in close.close_reason
    await raw.close()


async def test_fragments_adding_up_past_the_limit_get_1009_before_the_last_one_is_all_in():
    # Each fragment is under the limit; together they are not. The server must not wait for
    # (and hold) the whole last fragment before saying so.
    server = await asyncio.wait_for(wsdemo.serve(max_message_size=1000), T)
    try:
        raw, _ = await upgraded(server.port)
        await raw.send(client_frame(2, b"a" * 900, fin=False) + client_frame(9, b"ping in between"))
        last = client_frame(0, b"b" * 1000)
        await raw.send(last[:400])  # the rest is never sent
        (close,) = server_closes(await raw.read_all())
        assert close.close_code == 1009 and close.close_reason == "message exceeds the limit of 1000 bytes"
        await raw.close()
        # Fragments that add up to exactly the limit, with a ping between them, are fine.
        raw, _ = await upgraded(server.port)
        await raw.send(client_frame(2, b"a" * 900, fin=False) + client_frame(9, b"p" * 125)
                       + client_frame(0, b"b" * 100))
        got = wire.FrameDecoder(max_payload=2000).feed(await asyncio.wait_for(raw.reader.readexactly(2 + 125 + 4 + 1000), T))
        assert [(f.opcode, len(f.payload)) for f in got] == [(wire.Opcode.PONG, 125), (wire.Opcode.BINARY, 1000)]
        await raw.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


# -- the opening handshake (RFC 6455 sections 4.1 and 4.2.1) -----------------------------------

@pytest.mark.parametrize("via", ["tap", "direct"])
@pytest.mark.parametrize("request_bytes, reason", [
    (handshake().replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1), b"must be HTTP/1.1 or later (RFC 6455 section 4.1)"),
    (handshake(key="abc"), b"'abc' is not valid base64"),
    (handshake(key="not base64 at all!"), b"is not valid base64"),
    (handshake(key=base64.b64encode(b"x" * 15).decode()), b"decodes to 15 bytes, not 16"),
    (handshake(key=base64.b64encode(b"x" * 17).decode()), b"decodes to 17 bytes, not 16"),
])
async def test_a_handshake_the_rfc_refuses_gets_400_with_the_rule(server, no_tracebacks, via, request_bytes,
                                                                   reason):
    raw = await Raw.open(port_of(server, via))
    await raw.send(request_bytes)
    head = wire.parse_response(await raw.read_head())
    body = await asyncio.wait_for(raw.reader.readexactly(int(head.headers["Content-Length"])), T)
    assert head.status == 400, head
    assert reason in body and "Sec-WebSocket-Accept" not in head.headers
    if via == "tap":
        conn = conn_for_port(server, raw.local_port)
        seen = await wait_for_event(conn, lambda e: isinstance(e, wire.HttpResponse))
        assert seen.response.status == 400
    await raw.close()


# -- permessage-deflate offers (RFC 7692 section 5) ----------------------------------------------

@pytest.fixture
async def compressing_server():
    server = await asyncio.wait_for(wsdemo.serve(compression=True), T)
    yield server
    await asyncio.wait_for(server.stop(), T)


@pytest.mark.parametrize("via", ["tap", "direct"])
@pytest.mark.parametrize("offer", [
    "permessage-deflate; foo=1",  # a parameter RFC 7692 does not define
    "permessage-deflate; client_max_window_bits=7",  # an invalid value (8 to 15)
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits",  # needs a value in an offer
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",  # repeated
    "permessage-deflate; server_no_context_takeover=yes",
    "permessage-deflate; server_max_window_bits=8",  # zlib cannot compress with an 8-bit window
    'permessage-deflate; "unclosed',  # does not parse at all
])
async def test_an_offer_the_server_cannot_accept_is_declined_not_a_500(compressing_server, no_tracebacks,
                                                                        via, offer):
    raw, response = await upgraded(port_of(compressing_server, via),
                                   f"Sec-WebSocket-Extensions: {offer}\r\n")
    assert response.status == 101, response
    assert response.headers.get("Sec-WebSocket-Extensions") is None  # declined by leaving it out
    await raw.send(client_frame(1, b"plain, uncompressed"))
    frame = wire.FrameDecoder().feed(await asyncio.wait_for(raw.reader.read(100), T))[0]
    assert (frame.opcode, frame.rsv1, frame.payload) == (wire.Opcode.TEXT, False, b"plain, uncompressed")
    await raw.close()


async def test_the_first_acceptable_offer_is_the_one_accepted(compressing_server, no_tracebacks):
    offers = "permessage-deflate; foo=1, permessage-deflate; client_no_context_takeover; client_max_window_bits"
    raw, response = await upgraded(compressing_server.port, f"Sec-WebSocket-Extensions: {offers}\r\n")
    assert response.status == 101
    assert response.headers.get("Sec-WebSocket-Extensions") == "permessage-deflate; client_no_context_takeover"
    await raw.send(client_frame(1, wire.compress_message(b"squeezed"), rsv1=True))
    frame = wire.FrameDecoder(allow_rsv1=True).feed(await asyncio.wait_for(raw.reader.read(100), T))[0]
    assert frame.rsv1 and wire.MessageAssembler(deflate=True).add(frame).text == "squeezed"
    await raw.close()


# -- the join token (classroom mode) ---------------------------------------------------------------

@pytest.mark.parametrize("how", ["query", "cookie"])
@pytest.mark.parametrize("path", ["/echo", "/poll", "/chat.html"])
async def test_a_non_ascii_join_token_is_refused_with_403(no_tracebacks, how, path):
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    try:
        extra = "Cookie: wsdemo_token=\u00e9\u00e9\r\n" if how == "cookie" else ""
        target = f"{path}?token=%C3%A9" if how == "query" else path
        request = handshake(target, extra=extra) if path == "/echo" else (
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())  # é as UTF-8
        raw = await Raw.open(server.port)
        await raw.send(request)
        head = await raw.read_head()
        assert head.startswith(b"HTTP/1.1 403 "), head
        await raw.close()
        # The right token still gets in.
        client = await server.connect("/echo")
        await client.send("in")
        assert await client.recv(timeout=T) == "in"
        await client.close()
    finally:
        await asyncio.wait_for(server.stop(), T)
