"""permessage-deflate messages sent in fragments with a ping or pong between them (RFC 6455
section 5.4 allows control frames there; RFC 7692 compresses the whole message). Raw clients
compress with zlib's raw deflate as RFC 7692 section 7.2.1 says, fragment by hand, use fixed
mask keys, and talk through the tap and straight to Tornado: the echo must equal what was sent.
"""

from __future__ import annotations

import asyncio
import os
import zlib

import pytest

import wsdemo
from wsdemo import wire

from .conftest import T, Raw, handshake

KEY = b"\x37\xfa\x21\x3d"
OFFERS = {
    "takeover": "permessage-deflate",
    "client_no_context_takeover": "permessage-deflate; client_no_context_takeover",
    "server_no_context_takeover": "permessage-deflate; server_no_context_takeover",
    "no_takeover": "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
}
TEXT = ("Die Würde des Menschen ist unantastbar. " * 40).encode()  # multi-byte UTF-8 cut by fragments
BINARY = os.urandom(35_000) * 2  # 70,000 bytes; the repeat gives deflate something to find


@pytest.fixture
async def compressing_server():
    server = await asyncio.wait_for(wsdemo.serve(compression=True), T)
    yield server
    await asyncio.wait_for(server.stop(), T)


class DeflateClient:
    """A raw-socket client that compresses as RFC 7692 says and decodes with the wire layer."""

    def __init__(self, raw: Raw, params: wire.DeflateParams):
        self.raw = raw
        self.params = params
        self.compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self.frames = wire.FrameDecoder(allow_rsv1=True, expect_masked=False, max_payload=1 << 20)
        self.messages = wire.MessageAssembler(deflate=True, no_context_takeover=params.server_no_context_takeover,
                                              max_size=1 << 20)
        self.received: list[wire.Message] = []

    @classmethod
    async def open(cls, port: int, offer: str) -> "DeflateClient":
        raw = await Raw.open(port)
        await raw.send(handshake("/echo", extra=f"Sec-WebSocket-Extensions: {offer}\r\n"))
        head = wire.parse_response(await raw.read_head())
        assert head.status == 101, head
        params = wire.negotiate_deflate(wire.parse_request(handshake(extra=f"Sec-WebSocket-Extensions: {offer}\r\n")),
                                        head)
        assert params is not None, "the server declined a valid offer"
        return cls(raw, params)

    def compress(self, data: bytes) -> bytes:
        if self.params.client_no_context_takeover:
            self.compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(wire.deflate.TAIL)
        return out[:-4]  # RFC 7692 section 7.2.1: the sender removes the 4-byte tail

    async def send_fragmented(self, opcode: int, data: bytes, control: int, control_data: bytes) -> None:
        body = self.compress(data)
        third = len(body) // 3
        parts = [body[:third], body[third:2 * third], body[2 * third:]]
        await self.raw.send(
            wire.encode_frame(opcode, parts[0], fin=False, rsv1=True, mask_key=KEY)  # RSV1 on the first only
            + wire.encode_frame(control, control_data, mask_key=KEY)  # between fragments (section 5.4)
            + wire.encode_frame(0, parts[1], fin=False, mask_key=KEY)
            + wire.encode_frame(0, parts[2], fin=True, mask_key=KEY))

    async def receive(self, kind: str) -> wire.Message:
        while True:
            for i, message in enumerate(self.received):
                if message.kind == kind:
                    return self.received.pop(i)
                assert message.kind != "close", f"closed while waiting for {kind}: {message}"
            chunk = await asyncio.wait_for(self.raw.reader.read(65536), T)
            assert chunk, f"the server closed the connection while we waited for {kind}"
            for frame in self.frames.feed(chunk):
                message = self.messages.add(frame)
                if message is not None:
                    self.received.append(message)


@pytest.mark.parametrize("via", ["tap", "direct"])
@pytest.mark.parametrize("takeover", list(OFFERS))
@pytest.mark.parametrize("control", ["ping", "pong"])
@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_a_control_frame_between_compressed_fragments_leaves_the_message_intact(
        compressing_server, via, takeover, control, kind):
    server = compressing_server
    port = server.port if via == "tap" else server.direct_port
    client = await DeflateClient.open(port, OFFERS[takeover])
    opcode, data = (1, TEXT) if kind == "text" else (2, BINARY)
    control_opcode = 9 if control == "ping" else 10
    # Twice: the second message leans on the first's context when takeover is on.
    for n in range(2):
        marker = f"#{n} {control}".encode()
        await client.send_fragmented(opcode, data, control_opcode, marker)
        if control == "ping":
            pong = await client.receive("pong")
            assert pong.data == marker and not pong.frames[0].rsv1
        echo = await client.receive(kind)
        assert echo.data == data, f"message {n} came back different ({len(echo.data)} bytes)"
        assert echo.compressed and echo.frames[0].rsv1
        if kind == "text":
            assert echo.text == data.decode()
    await client.raw.send(wire.encode_frame(8, b"\x03\xe8", mask_key=KEY))
    assert (await client.receive("close")).close_code == 1000
    await client.raw.close()


@pytest.mark.parametrize("via", ["tap", "direct"])
async def test_rsv1_on_a_ping_between_compressed_fragments_fails_with_1002(compressing_server, via):
    # RFC 7692 section 6.1: control frames are never compressed; a receiver fails the connection.
    server = compressing_server
    client = await DeflateClient.open(server.port if via == "tap" else server.direct_port, OFFERS["takeover"])
    body = client.compress(b"hello")
    await client.raw.send(wire.encode_frame(1, body[:2], fin=False, rsv1=True, mask_key=KEY)
                          + wire.encode_frame(9, b"zipped?", rsv1=True, mask_key=KEY))
    close = await client.receive("close")
    assert close.close_code == 1002 and "RFC 7692 section 6.1" in close.close_reason
    assert await client.raw.read_all() == b""  # then the server hangs up
    await client.raw.close()
