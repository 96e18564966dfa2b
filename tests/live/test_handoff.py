"""What Tornado writes to the tap is relayed in Tornado's own write (live/handoff.py); what the
tap cannot take at once goes through the socket, and the client still gets every byte in order.
The lab's WebSockets and event streams send small frames at once (TCP_NODELAY)."""

from __future__ import annotations

import asyncio
import os
import socket

import tornado.iostream

from wsdemo import wire
from wsdemo.live.apps.base import BaseSocket, peer_port
from wsdemo.live.link import Link

from .conftest import T, Raw, client_frame, conn_for_port, handshake, wait_until


def _handler_of(server, conn) -> BaseSocket:
    handlers = [h for h in server.app_state.sockets if peer_port(h.request) == conn.upstream_port]
    assert len(handlers) == 1, handlers
    return handlers[0]


async def _echo_through_tap(server):
    """A raw client on /echo through the tap: it, its tap connection, and Tornado's handler."""
    raw = await Raw.open(server.port)
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    conn = conn_for_port(server, raw.local_port)
    return raw, conn, _handler_of(server, conn)


async def test_what_the_app_writes_is_relayed_before_the_loop_runs_again(server):
    client = await server.connect("/echo")
    await client.send("hello")
    assert await client.recv(timeout=T) == "hello"
    conn = client.connection
    handler = _handler_of(server, conn)
    before = len([c for c in conn.chunks if c[0] == "server"])
    # No await between the write and the look: through the socket alone, the tap would
    # read these bytes only in the loop's next pass.
    handler.write_message("pushed")
    after = [c for c in conn.chunks if c[0] == "server"]
    assert len(after) == before + 1
    assert wire.FrameDecoder().feed(after[-1][2])[0].payload == b"pushed"
    assert await client.recv(timeout=T) == "pushed"
    await client.close()


async def test_a_direct_client_is_untouched(server):
    raw = await Raw.open(server.direct_port)
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    await raw.send(client_frame(0x1, b"direct"))
    frame = wire.FrameDecoder().feed(await asyncio.wait_for(raw.reader.read(100), T))[0]
    assert frame.payload == b"direct"
    assert server.tap.link_from_upstream(("127.0.0.1", raw.local_port)) is None
    await raw.close()


async def test_a_client_that_pauses_gets_every_byte_in_order_through_both_paths(server, monkeypatch):
    through_socket = []
    real = Link.through_socket

    def counting(self, size):
        through_socket.append(size)
        real(self, size)

    monkeypatch.setattr(Link, "through_socket", counting)
    server.app_state.send_backlog = 64 << 20  # this client is slow, not gone
    # A small receive buffer: the kernel cannot soak up what this client leaves unread.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port)), T)
    raw = Raw(*await asyncio.open_connection(sock=sock))
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    payloads = [os.urandom(16) + bytes([i % 251]) * (32 * 1024) for i in range(200)]
    for payload in payloads:  # echoed back while this client reads nothing
        raw.writer.write(client_frame(0x2, payload))
    await asyncio.wait_for(raw.writer.drain(), T)
    # The tap's write buffer to the client filled, so the app's later writes went through
    # the socket (and waited there) rather than being handed over.
    await wait_until(lambda: sum(through_socket) > 0, what="bytes through the app's socket")
    decoder = wire.FrameDecoder()
    got: list[bytes] = []
    while len(got) < len(payloads):
        data = await asyncio.wait_for(raw.reader.read(1 << 16), T)
        assert data, "the connection ended early"
        got += [f.payload for f in decoder.feed(data)]
    assert got == payloads
    # ...and once it reads again, writes are handed over once more.
    conn = conn_for_port(server, raw.local_port)
    link = server.tap.link_from_upstream(("127.0.0.1", conn.upstream_port))
    assert link is not None
    await wait_until(lambda: link.server.in_socket == 0, what="the socket's bytes read")
    count = len(through_socket)
    raw.writer.write(client_frame(0x1, b"after"))
    frame = decoder.feed(await asyncio.wait_for(raw.reader.read(100), T))[0]
    assert frame.payload == b"after" and len(through_socket) == count
    await raw.close()


async def test_writes_after_a_pause_follow_the_bytes_still_in_the_socket(server):
    raw, conn, handler = await _echo_through_tap(server)
    link = server.tap.link_from_upstream(("127.0.0.1", conn.upstream_port))
    # No await in between: as asyncio would when the client's buffer filled and then drained.
    link.client.pause_writing()
    handler.write_message("first")  # the tap would not read it now: through the socket
    link.client.resume_writing()  # reading the socket resumes, in the loop's next pass
    handler.write_message("second")  # ...so this one must wait behind "first"
    decoder = wire.FrameDecoder()
    got: list[bytes] = []
    while len(got) < 2:
        got += [f.payload for f in decoder.feed(await asyncio.wait_for(raw.reader.read(100), T))]
    assert got == [b"first", b"second"]
    await raw.close()


async def test_the_app_closing_comes_after_every_byte_it_handed_over(server):
    raw, _, handler = await _echo_through_tap(server)
    handler.write_message("last words")
    handler.close(1001, "going away")
    data = await raw.read_all()
    frames = wire.FrameDecoder().feed(data)
    assert [f.opcode for f in frames] == [wire.Opcode.TEXT, wire.Opcode.CLOSE]
    assert frames[0].payload == b"last words"
    assert wire.Close.parse(frames[1].payload).code == 1001
    await raw.close()


async def test_the_labs_websockets_and_event_streams_send_small_frames_at_once(server):
    for port in (server.port, server.direct_port):
        raw = await Raw.open(port)
        await raw.send(handshake("/echo"))
        assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
        app_port = conn_for_port(server, raw.local_port).upstream_port if port == server.port else raw.local_port
        (handler,) = [h for h in server.app_state.sockets if peer_port(h.request) == app_port]
        sock = handler.ws_connection.stream.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        await raw.close()
    raw = await Raw.open(server.direct_port)
    await raw.send(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (await raw.read_head()).startswith(b"HTTP/1.1 200")
    stream = next(iter(server.app_state.streams))
    assert stream.request.connection.stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    await raw.close()


# ---- the other way: what the tap relays from its client is handed to the app's stream


def _stream_of(server, conn):
    link = server.tap.link_from_upstream(("127.0.0.1", conn.upstream_port))
    assert link is not None and link.stream is not None
    return link, link.stream


async def test_what_the_client_sends_reaches_the_app_without_its_socket(server):
    raw, conn, _ = await _echo_through_tap(server)
    link, stream = _stream_of(server, conn)
    through_socket = stream.from_socket  # the request head
    conn.flush()
    assert through_socket == conn.bytes["client"] == link.server.to_socket
    for text in (b"one", b"two", b"three"):
        await raw.send(client_frame(0x1, text))
        frame = wire.FrameDecoder().feed(await asyncio.wait_for(raw.reader.read(100), T))[0]
        assert frame.payload == text
    # Every frame was read by the app, none of it through the socket.
    conn.flush()
    assert stream.from_socket == through_socket and conn.bytes["client"] > through_socket
    await raw.close()


async def test_bytes_handed_in_wait_behind_bytes_still_in_the_socket(server):
    raw, conn, _ = await _echo_through_tap(server)
    link, stream = _stream_of(server, conn)
    # No await in between: as when network conditions sent "first" through the socket and
    # were lifted before the app read it.
    link.server.send(client_frame(0x1, b"first"))
    link.client.take(client_frame(0x1, b"second"))  # must not overtake it
    decoder = wire.FrameDecoder()
    got: list[bytes] = []
    while len(got) < 2:
        got += [f.payload for f in decoder.feed(await asyncio.wait_for(raw.reader.read(100), T))]
    assert got == [b"first", b"second"]
    # ...and once the socket's bytes are read, the next ones are handed in again.
    through_socket = stream.from_socket
    assert through_socket == link.server.to_socket
    await raw.send(client_frame(0x1, b"third"))
    assert decoder.feed(await asyncio.wait_for(raw.reader.read(100), T))[0].payload == b"third"
    assert stream.from_socket == through_socket
    await raw.close()


async def test_frames_handed_in_are_read_without_asking_the_socket(server, monkeypatch):
    # Tornado reads until a read finds nothing; after a handed-in chunk that read went to the
    # socket, which held nothing: a system call and an exception per chunk (bench/classroom.py
    # counts 1,500 cursor moves a second at 50 students).
    raw, conn, _ = await _echo_through_tap(server)
    asked = []
    socket_read = tornado.iostream.IOStream.read_from_fd

    def counted(self, buf):
        got = socket_read(self, buf)
        asked.append(got)
        return got

    monkeypatch.setattr(tornado.iostream.IOStream, "read_from_fd", counted)
    for text in (b"one", b"two", b"three"):
        await raw.send(client_frame(0x1, text))
        frame = wire.FrameDecoder().feed(await asyncio.wait_for(raw.reader.read(100), T))[0]
        assert frame.payload == text
    assert asked == []
    # The app still learns that its client has gone (from its socket's EOF, once the tap
    # closes its side).
    handler = _handler_of(server, conn)
    raw.writer.transport.abort()
    await wait_until(lambda: handler.ws_connection is None, what="the app's socket closed")
    assert 0 in asked
