"""Real traffic: a Tornado WebSocket server and the `websockets` client talk through a tiny
recording TCP relay; the recording decodes to exactly the messages that were sent."""

import asyncio

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket
from websockets.asyncio.client import connect

from wsdemo.wire import ConnectionDecoder, DecodeError, MessageEvent, State, check_handshake, summarize

TIMEOUT = 10


class Echo(tornado.websocket.WebSocketHandler):
    compression = False

    def get_compression_options(self):
        return {} if self.compression else None

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


class CompressedEcho(Echo):
    compression = True


async def relay(reader, writer, upstream_port, chunks, done):
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)

    async def pump(src, dst, sender):
        try:
            while data := await src.read(65536):
                chunks.append((sender, data))
                dst.write(data)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            chunks.append((sender, None))  # this side closed
            try:
                dst.write_eof()
            except (OSError, RuntimeError):
                pass

    try:
        await asyncio.gather(pump(reader, up_writer, "client"), pump(up_reader, writer, "server"))
    finally:
        writer.close()
        up_writer.close()
        done.set()


@pytest.fixture
async def lab():
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    app = tornado.web.Application([("/echo", Echo), ("/zecho", CompressedEcho)])
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    chunks, done = [], asyncio.Event()
    tap = await asyncio.start_server(lambda r, w: relay(r, w, port, chunks, done), "127.0.0.1", 0)
    yield tap.sockets[0].getsockname()[1], chunks, done
    tap.close()
    server.stop()
    await asyncio.wait_for(server.close_all_connections(), TIMEOUT)
    await asyncio.wait_for(tap.wait_closed(), TIMEOUT)


SENT = ["hello", "é ☃ " * 50, b"\x00\x01" * 40000, "{\"type\":\"chat\",\"text\":\"hi\"}" * 100]


@pytest.mark.parametrize("path, compression", [("/echo", None), ("/zecho", "deflate")])
async def test_recorded_conversation_decodes_to_what_was_sent(lab, path, compression):
    port, chunks, done = lab
    async with asyncio.timeout(TIMEOUT):
        async with connect(f"ws://127.0.0.1:{port}{path}", compression=compression, max_size=None) as ws:
            for item in SENT:
                await ws.send(item)
                assert await ws.recv() == item
            await ws.send(["frag", "mented ", "text"])  # one message in three frames
            assert await ws.recv() == "fragmented text"
            await ws.ping(b"are you there")
            await ws.close(1000, "done")
        await done.wait()

    dec = ConnectionDecoder()
    events = []
    for sender, data in chunks:
        events += dec.eof(sender) if data is None else dec.feed(sender, data)
    assert [e for e in events if isinstance(e, DecodeError)] == []
    assert check_handshake(dec.request, dec.response) == []
    assert (dec.deflate is not None) == (compression == "deflate")

    def got(sender):
        out = []
        for e in events:
            if isinstance(e, MessageEvent) and e.sender == sender:
                m = e.message
                out.append(m.text if m.kind == "text" else (m.kind, m.data) if m.kind != "binary" else m.data)
        return out

    expected = SENT + ["fragmented text"]
    client, server = got("client"), got("server")
    assert client[:len(expected)] == expected
    assert server[:len(expected)] == expected
    assert ("ping", b"are you there") in client and ("pong", b"are you there") in server
    closes = [(e.sender, e.message.close_code) for e in events
              if isinstance(e, MessageEvent) and e.message.kind == "close"]
    assert closes == [("client", 1000), ("server", 1000)]
    assert client[-1] == ("close", b"\x03\xe8done")
    assert dec.state is State.CLOSED
    frag = next(e.message for e in events if isinstance(e, MessageEvent) and e.sender == "client"
                and e.message.text == "fragmented text")
    # websockets sends the pieces, then an empty final frame
    assert len(frag.frames) == 4 and frag.frames[-1].fin and not any(f.fin for f in frag.frames[:-1])
    if not compression:
        assert [f.payload for f in frag.frames] == [b"frag", b"mented ", b"text", b""]
    if compression:
        big = next(e.message for e in events if isinstance(e, MessageEvent) and e.sender == "server"
                   and e.message.kind == "text" and e.message.text.startswith("{"))
        assert big.compressed and big.wire_payload_size < big.size
    # every recorded byte is accounted for
    s = summarize(events)
    recorded = {who: sum(len(d) for w, d in chunks if w == who and d) for who in ("client", "server")}
    assert {"client": s.client.wire_bytes, "server": s.server.wire_bytes} == recorded == dec.received
