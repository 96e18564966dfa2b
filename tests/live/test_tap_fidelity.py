"""The tap is invisible to both ends (issue 10): the same client bytes, sent once straight to
Tornado's port and once through the tap, end the same way — the same frames, close code and
reason, in the same order, and the line ends the same way (EOF or reset) — and what the tap
recorded is what it relayed.

Each conversation is a raw socket with fixed bytes (fixed handshake key, fixed mask key, frames
built by ``wire.encode_frame``). The client behaves like a well-mannered one: it answers the
server's Close with a Close echoing the code (RFC 6455 section 5.5.1) unless it already sent one,
and reads until the line ends.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from dataclasses import dataclass, field

import pytest
import tornado.websocket
import websockets

import wsdemo
from wsdemo import wire
from wsdemo.live.client import ConnectionClosed

from .conftest import T, conn_for_port, handshake, wait_until

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key: the same handshake every run
MASK = b"\x37\xfa\x21\x3d"
MiB = 1 << 20  # the server's default max_message_size
STOP_AFTER = 16  # echoes the streaming client gets before the server is stopped
MAX_BATCHES = 300  # bounds what the streaming client sends (and the tap's ring)


def cf(opcode: int, payload: bytes | str = b"", **kwargs) -> bytes:
    """A client frame, masked with the fixed key unless ``mask_key=None`` is passed."""
    kwargs.setdefault("mask_key", MASK)
    return wire.encode_frame(opcode, payload, **kwargs)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack(">H", code) + reason.encode()


@dataclass(frozen=True)
class Scenario:
    name: str
    writes: tuple[bytes, ...] = ()  # after the 101, one sendall each
    answer_close: bool = True  # answer the server's Close (the client had not sent one)
    shut_wr: bool = False  # half-close (FIN) after the last write
    stream: bool = False  # send text frames until the server's Close; the test stops the server
    oversized: bool = False  # the server stops reading mid-message: the client's bytes are cut

    def __str__(self) -> str:
        return self.name


def _stream_batch(i: int) -> bytes:
    return b"".join(cf(1, f"tick {i}.{j}") for j in range(8))


SCENARIOS = [
    Scenario("oversized 2 MiB", (cf(2, b"x" * (2 * MiB)),), answer_close=False, oversized=True),
    Scenario("oversized 1 MiB + 1", (cf(2, b"x" * (MiB + 1)),), answer_close=False, oversized=True),
    # Only the start of an oversized message: the client then waits, having sent everything,
    # so the tap has read all of it when the server resets.
    Scenario("oversized, then the client waits", (cf(2, b"x" * (2 * MiB))[:100 << 10],),
             answer_close=False, oversized=True),
    Scenario("bad UTF-8", (cf(1, b"\xff\xfe not utf-8"),)),
    Scenario("unmasked client frame", (cf(1, b"bare", mask_key=None),)),
    Scenario("ping over 125 bytes", (cf(9, b"p" * 126),)),
    Scenario("RSV2 without an extension", (cf(1, b"rsv2", rsv2=True),)),
    Scenario("reserved opcode", (cf(3, b"?"),)),
    Scenario("stray continuation", (cf(0, b"orphan"),)),
    Scenario("client close 4000 with a reason", (cf(8, close_payload(4000, "done here")),),
             answer_close=False),
    Scenario("text and close in one write",
             (cf(1, "hello") + cf(8, close_payload(1000, "bye")),), answer_close=False),
    Scenario("client half-closes after its Close", (cf(1, "last"), cf(8, close_payload(1000))),
             answer_close=False, shut_wr=True),
]
STOP = Scenario("server stop (1001) while the client sends", stream=True)


@dataclass
class Outcome:
    """What one conversation looked like from the client."""

    local_port: int = 0
    head: bytes = b""  # the response head, as received
    received: bytes = b""  # every byte after the head
    frames: list = field(default_factory=list)  # (fin, opcode, payload) of each frame received
    end: str = ""  # "eof" or "reset"
    sent: bytes = b""  # what the client's completed sendall calls handed to the kernel
    attempted: bytes = b""  # ...and everything it tried to send
    send_failed: bool = False
    messages_sent: list = field(default_factory=list)  # text of each streamed frame

    @property
    def ending(self) -> str:
        """How the line ended for the client: "reset" if it met a reset, else "eof".

        A reset is met on a send or on a read: when the other end resets while the client is
        still sending, the send takes the error and the next read sees a plain end of file
        (Linux). Which of the two comes first is timing, even straight to Tornado; that the
        line was reset is not."""
        return "reset" if self.end == "reset" or self.send_failed else "eof"

    @property
    def close(self) -> wire.Close | None:
        closes = [payload for _, opcode, payload in self.frames if opcode == wire.Opcode.CLOSE]
        return wire.Close.parse(closes[0]) if closes else None

    def summary(self) -> str:
        frames = [(op, len(p)) for _, op, p in self.frames]
        return (f"close={self.close} ending={self.ending} (read: {self.end}, send failed: "
                f"{self.send_failed}) frames={frames}")

    __repr__ = summary  # not megabytes of payload in a failure report


async def converse(port: int, scenario: Scenario, on_echo=None) -> Outcome:
    """Run ``scenario`` against ``port`` with a raw socket; ``on_echo(n)`` after each data frame."""
    loop = asyncio.get_running_loop()
    out = Outcome()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    head_seen, close_seen = asyncio.Event(), asyncio.Event()

    async def send(data: bytes) -> None:
        out.attempted += data
        await loop.sock_sendall(sock, data)
        out.sent += data

    async def read() -> str:
        buf = bytearray()
        decoder = wire.FrameDecoder(expect_masked=False)
        while True:
            try:
                chunk = await loop.sock_recv(sock, 1 << 16)
            except ConnectionResetError:
                return "reset"
            if not chunk:
                return "eof"
            if head_seen.is_set():
                out.received += chunk
                new = decoder.feed(chunk)
            else:
                buf += chunk
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                out.head, rest = bytes(buf[:end + 4]), bytes(buf[end + 4:])
                head_seen.set()
                out.received += rest
                new = decoder.feed(rest)
            for frame in new:
                out.frames.append((frame.fin, int(frame.opcode), frame.payload))
                if frame.opcode == wire.Opcode.CLOSE:
                    close_seen.set()
                elif on_echo is not None:
                    on_echo(len(out.frames))

    async def write() -> None:
        await head_seen.wait()
        try:
            for data in scenario.writes:
                await send(data)
            batch = 0
            while scenario.stream and not close_seen.is_set() and batch < MAX_BATCHES:
                out.messages_sent += [f"tick {batch}.{j}".encode() for j in range(8)]
                await send(_stream_batch(batch))
                batch += 1
                await asyncio.sleep(0)
            if scenario.answer_close:
                await close_seen.wait()
                code = out.close.code  # echoed; an empty payload (1005) is echoed empty
                await send(cf(8, b"" if code == wire.CloseCode.NO_STATUS_RCVD else struct.pack(">H", code)))
            if scenario.shut_wr:
                sock.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, BrokenPipeError):
            out.send_failed = True

    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), T)
        out.local_port = sock.getsockname()[1]
        writer = asyncio.ensure_future(write())
        await send(handshake("/echo", key=KEY))
        out.end = await asyncio.wait_for(read(), T)
        if not writer.done():  # waiting for a Close that never came
            writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    finally:
        sock.close()
    return out


def _head(head: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"", head)  # the only header that differs run to run


def split_echoes(out: Outcome) -> tuple[list, list]:
    """The leading echoes of a streaming client, and the frames after them. Each echo must be
    the next message the client sent: how many came back before the stop is timing."""
    echoes = []
    for fin, opcode, payload in out.frames:
        if opcode != wire.Opcode.TEXT:
            break
        echoes.append(payload)
    assert echoes == out.messages_sent[:len(echoes)], "echoes out of order"
    return echoes, out.frames[len(echoes):]


async def check_recording(server, scenario: Scenario, out: Outcome) -> None:
    """The tap's recording of a conversation equals the bytes it relayed, both directions."""
    conn = conn_for_port(server, out.local_port)
    await wait_until(lambda: not conn.is_open, what=f"the tap closed #{conn.id}")
    chunks = list(conn.chunks)
    to_client = b"".join(data for sender, _, data in chunks if sender == "server")
    to_server = b"".join(data for sender, _, data in chunks if sender == "client")
    assert to_client == out.head + out.received, "server->client chunks differ from what the client got"
    assert out.attempted.startswith(to_server), "client->server chunks are not what the client sent"
    if not scenario.oversized:  # else the server stopped reading, and the rest is dropped
        assert to_server == out.sent, "client->server chunks lack some of what the client sent"
    events = list(conn.events)
    server_frames = [(e.frame.fin, int(e.frame.opcode), e.frame.payload) for e in events
                     if isinstance(e, wire.FrameEvent) and e.sender == "server"]
    assert server_frames == out.frames
    responses = [e.response.status for e in events if isinstance(e, wire.HttpResponse)]
    assert responses == [101]
    # The client's frames, as decoded, are those in the recorded bytes (the decoder stops at the
    # first one that breaks a rule, and says so).
    body = to_server[to_server.find(b"\r\n\r\n") + 4:]
    lenient = [(f.fin, int(f.opcode), f.payload)
               for f in wire.FrameDecoder(validate=False).feed(body)]
    client_frames = [(e.frame.fin, int(e.frame.opcode), e.frame.payload) for e in events
                     if isinstance(e, wire.FrameEvent) and e.sender == "client"]
    errors = [e for e in events if isinstance(e, wire.DecodeError) and e.sender == "client"]
    assert client_frames == lenient[:len(client_frames)]
    if not errors:
        assert client_frames == lenient


def assert_same(scenario: Scenario, direct: Outcome, tapped: Outcome) -> None:
    why = f"{scenario}: direct {direct.summary()} / tap {tapped.summary()}"
    assert _head(tapped.head) == _head(direct.head), why
    assert tapped.frames == direct.frames, why
    assert tapped.received == direct.received, why
    assert tapped.close == direct.close and tapped.close is not None, why
    assert tapped.ending == direct.ending, why


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
async def test_the_tap_changes_no_ending(server, scenario):
    direct = await converse(server.direct_port, scenario)
    tapped = await converse(server.port, scenario)
    assert_same(scenario, direct, tapped)
    await check_recording(server, scenario, tapped)


async def _stop_while_streaming() -> tuple[Outcome, Outcome, object]:
    outcomes = []
    for direct in (True, False):
        server = await asyncio.wait_for(wsdemo.serve(), T)
        stopping: list[asyncio.Task] = []

        def on_echo(n: int) -> None:
            if n == STOP_AFTER and not stopping:
                stopping.append(asyncio.ensure_future(server.stop()))

        try:
            out = await converse(server.direct_port if direct else server.port, STOP, on_echo)
        finally:
            await asyncio.wait_for(server.stop(), T)
        assert stopping, "the client never got its echoes"
        await asyncio.wait_for(stopping[0], T)
        outcomes.append(out)
    return outcomes[0], outcomes[1], server


async def test_server_stop_while_the_client_sends_ends_the_same():
    direct, tapped, server = await _stop_while_streaming()
    for out in (direct, tapped):
        echoes, rest = split_echoes(out)
        assert len(echoes) >= STOP_AFTER
        assert rest == [(True, wire.Opcode.CLOSE, close_payload(1001, "server shutting down"))], out.summary()
    assert tapped.ending == direct.ending, f"direct {direct.summary()} / tap {tapped.summary()}"
    # The stopped tap still has the recording of what it relayed.
    await check_recording(server, STOP, tapped)


# -- real clients through the tap --------------------------------------------------------------

async def test_websockets_sees_1009_through_the_tap(server):
    async with websockets.connect(server.url("/echo"), compression=None, open_timeout=T,
                                  max_size=None) as ws:
        with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
            await asyncio.wait_for(ws.send(b"x" * (2 * MiB)), T)
            await asyncio.wait_for(ws.recv(), T)
    assert info.value.rcvd is not None, "no Close frame reached the client"
    assert info.value.rcvd.code == 1009


async def test_wsdemo_client_reports_1009_not_a_drop(server):
    client = await server.connect("/echo")
    try:
        await client.send(b"x" * (2 * MiB))
    except tornado.websocket.WebSocketClosedError:  # the server stopped reading: timing
        pass
    with pytest.raises(ConnectionClosed) as info:
        await client.recv(timeout=T)
    assert info.value.code == 1009, "reported as a drop, not the server's Close"
