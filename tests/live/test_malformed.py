"""Raw sockets through the tap: broken handshakes and frames get the right answer
on the wire, the tap decodes (or reports) what was sent, and others keep being served."""

from __future__ import annotations

import asyncio
import json

import pytest

import wsdemo
from wsdemo import wire

from .conftest import (T, Raw, client_frame, close_code_of, conn_for_port, handshake, messages,
                       wait_for_event, wait_until)


async def open_ws(server, path: str = "/echo") -> Raw:
    raw = await Raw.open(server.port)
    await raw.send(handshake(path))
    head = await raw.read_head()
    assert head.startswith(b"HTTP/1.1 101"), head
    return raw


@pytest.mark.parametrize("frame, code, why", [
    (client_frame(1, b"\xff\xfe not utf-8"), 1007, "invalid UTF-8 text"),
    (client_frame(1, b"rsv", rsv1=True), 1002, "RSV1 without an extension"),
    (client_frame(1, b"bare", masked=False), 1002, "unmasked client frame"),
    (client_frame(3, b"?"), 1002, "reserved opcode 3"),
    (client_frame(0, b"orphan"), 1002, "continuation with nothing to continue"),
    (client_frame(9, b"x" * 126), 1002, "control frame longer than 125"),
    (client_frame(9, b"ping", fin=False), 1002, "fragmented control frame"),
])
async def test_bad_frames_get_close_codes(server, frame, code, why):
    raw = await open_ws(server)
    await raw.send(frame)
    reply = await raw.read_all()
    assert close_code_of(reply) == code, why
    conn = conn_for_port(server, raw.local_port)
    await raw.close()
    await wait_until(lambda: not conn.is_open, what="connection closed")
    # The tap decoded the server's answer...
    closes = messages(conn, "server", "close")
    assert [m.close_code for m in closes] == [code]
    # ...and what the client did wrong: either a frame it decoded or a DecodeError that says where.
    client_side = [e for e in conn.events if e.sender == "client"
                   and isinstance(e, (wire.FrameEvent, wire.DecodeError))]
    assert client_side, why


async def test_oversized_message_gets_1009():
    server = await asyncio.wait_for(wsdemo.serve(max_message_size=1000), T)
    try:
        raw = await open_ws(server)
        await raw.send(client_frame(2, b"x" * 1001))
        assert close_code_of(await raw.read_all()) == 1009
        conn = conn_for_port(server, raw.local_port)
        await raw.close()
        await wait_until(lambda: not conn.is_open)
        assert [m.close_code for m in messages(conn, "server", "close")] == [1009]
        # Exactly at the limit is fine.
        client = await server.connect("/echo")
        await client.send(b"y" * 1000)
        assert await client.recv(timeout=T) == b"y" * 1000
        await client.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


@pytest.mark.parametrize("request_bytes, status, reason", [
    (handshake(key=""), 400, b"Sec-WebSocket-Key"),
    (handshake(version="8"), 426, b"Sec-WebSocket-Version must be 13"),
    (handshake().replace(b"Upgrade: websocket", b"Upgrade: h2c"), 400, b'"Upgrade" only to "WebSocket"'),
    (handshake().replace(b"Connection: Upgrade", b"Connection: keep-alive"), 400,
     b"Connection must contain the token 'Upgrade' (RFC 6455 section 4.1)"),
    (b"GARBAGE\r\n\r\n", 400, b""),
])
async def test_broken_handshakes_get_http_errors(server, request_bytes, status, reason):
    raw = await Raw.open(server.port)
    await raw.send(request_bytes)
    head = await raw.read_head()
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    if reason:
        body = await asyncio.wait_for(raw.reader.read(400), T)
        assert reason in body
    conn = conn_for_port(server, raw.local_port)
    response = await wait_for_event(conn, lambda e: isinstance(e, wire.HttpResponse))
    assert response.response.status == status
    await raw.close()


async def test_tls_hello_on_the_plain_port_is_reported_and_others_keep_working(server):
    watcher = await server.connect("/echo")
    # The start of a real TLS 1.2/1.3 ClientHello record (type 22, version 3.1).
    hello = bytes.fromhex("160301020001 0001fc0303".replace(" ", "")) + bytes(range(32)) + b"\x00" * 64
    tls = await Raw.open(server.port)
    await tls.send(hello)
    conn = conn_for_port(server, tls.local_port)
    # Tornado would wait a minute for an HTTP head that never comes: the tap answers at once,
    # in plain HTTP (a TLS client reads that as "not TLS"), and closes.
    answer = await tls.read_all()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"TLS handshake" in answer
    await wait_until(lambda: not conn.is_open, what="the tap closed both sides")
    # The recording names the TLS hello from its first bytes.
    assert conn.bytes["client"] == len(hello)
    error = await wait_for_event(conn, lambda e: isinstance(e, wire.DecodeError))
    assert error.sender == "client" and error.offset == 0 and "TLS" in error.error
    assert not [e for e in conn.events if isinstance(e, wire.HttpRequest)]
    await tls.close()
    # Everyone else is still served, through the same tap.
    await watcher.send("after the TLS hello")
    assert await watcher.recv(timeout=T) == "after the TLS hello"
    await watcher.close()


async def test_an_oversized_head_gets_431_with_the_reason_and_others_keep_working(server):
    # Tornado drops a head over its limit without a word; the tap says why, as HTTP.
    watcher = await server.connect("/echo")
    big = Raw(*await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T))
    await big.send(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    answer = await big.read_all()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
    assert b"larger than the limit of 65536 bytes" in body
    conn = conn_for_port(server, big.local_port)
    error = await wait_for_event(conn, lambda e: isinstance(e, wire.DecodeError))
    assert error.sender == "client" and error.offset == 65536 and error.status == 431
    await big.close()
    await watcher.send("still served")
    assert await watcher.recv(timeout=T) == "still served"
    await watcher.close()


async def test_a_garbage_request_line_gets_one_answer_the_apps(server):
    # Tornado answers a request line it cannot read with 400; the tap must not add a second
    # answer of its own (its 400/431 is only for heads the app dropped without a word).
    raw = Raw(*await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T))
    await raw.send(b"GARBAGE\r\n\r\n")
    answer = await raw.read_all()
    assert answer.count(b"HTTP/1.1 ") == 1 and answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"wsdemo tap" not in answer
    conn = conn_for_port(server, raw.local_port)
    error = await wait_for_event(conn, lambda e: isinstance(e, wire.DecodeError))
    assert error.status == 400
    await raw.close()


async def test_a_head_cut_by_the_client_gets_no_answer_from_the_tap(server):
    # Only a head the decoder found wrong is answered; a client that just stops gets nothing.
    cut = Raw(*await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), T))
    await cut.send(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    cut.writer.write_eof()
    assert await cut.read_all() == b""
    await cut.close()


async def test_a_misbehaving_client_does_not_stop_the_others(server):
    good = await server.connect("/chat?name=good")
    await good.recv(timeout=T)
    bad = await open_ws(server, "/chat?name=bad")
    await good.recv(timeout=T)  # bad joined
    await bad.send(client_frame(1, b"\xc3\x28"))  # invalid UTF-8 mid-chat
    assert close_code_of(await bad.read_all()) == 1007
    await bad.close()
    left = json.loads(await good.recv(timeout=T))
    assert (left["type"], left["name"]) == ("leave", "bad")
    await good.send("still chatting")
    assert json.loads(await good.recv(timeout=T))["text"] == "still chatting"
    await good.close()


async def test_invalid_utf8_inside_a_compressed_message_gets_1007():
    server = await asyncio.wait_for(wsdemo.serve(compression=True), T)
    try:
        raw = await Raw.open(server.port)
        await raw.send(handshake(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"))
        head = await raw.read_head()
        assert b"permessage-deflate" in head
        await raw.send(client_frame(1, wire.compress_message(b"caf\xe9 is latin-1"), rsv1=True))
        assert close_code_of(await raw.read_all()) == 1007
        conn = conn_for_port(server, raw.local_port)
        await raw.close()
        await wait_until(lambda: not conn.is_open)
        frame = next(e.frame for e in conn.events if isinstance(e, wire.FrameEvent) and e.sender == "client")
        assert frame.rsv1 and frame.opcode == wire.Opcode.TEXT
        assert [m.close_code for m in messages(conn, "server", "close")] == [1007]
    finally:
        await asyncio.wait_for(server.stop(), T)
