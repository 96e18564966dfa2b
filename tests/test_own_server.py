"""The echo server of notebook 07, exactly as the learner reads it, against real clients:
Tornado's client, the websockets library, raw sockets, and Chromium.

The server's code is taken from the cells tagged "server-code" in
notebooks/src/07-build-your-own-server.py, so a change there is tested here.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

from wsdemo import wire


ROOT = Path(__file__).resolve().parents[1]
T = 10.0


def _load_builder():
    if "build_notebooks" in sys.modules:
        return sys.modules["build_notebooks"]
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_notebooks"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def notebook_server_code() -> dict:
    """Run the notebook's server cells in a fresh namespace; returns it (handle, log, ...)."""
    [src] = sorted((ROOT / "notebooks" / "src").glob("07-*.py"))
    cells = _load_builder().parse_source(src.read_text(encoding="utf-8"), src.name)
    code = [c.source for c in cells if "server-code" in c.metadata.get("tags", [])]
    assert code, f"{src.name} has no cell tagged server-code"
    namespace: dict = {"__name__": "notebook07"}
    for source in code:
        exec(compile(source, str(src), "exec"), namespace)
    return namespace


@pytest.fixture
async def own():
    ns = notebook_server_code()
    server = await asyncio.start_server(ns["handle"], "127.0.0.1", 0)
    ns["port"] = server.sockets[0].getsockname()[1]
    ns["url"] = f"ws://127.0.0.1:{ns['port']}/"
    yield ns
    server.close()
    await asyncio.wait_for(server.wait_closed(), T)


async def test_tornado_client_echo_and_close(own):
    from tornado.websocket import websocket_connect

    client = await asyncio.wait_for(websocket_connect(own["url"]), T)
    await client.write_message("héllo")
    assert await asyncio.wait_for(client.read_message(), T) == "héllo"
    await client.write_message(b"\x00\xff" * 40_000, binary=True)  # the 16-bit length
    assert await asyncio.wait_for(client.read_message(), T) == b"\x00\xff" * 40_000
    client.close(4001, "done here")
    assert await asyncio.wait_for(client.read_message(), T) is None
    assert (client.close_code, client.close_reason) == (4001, "done here")
    assert own["log"][0] == "GET / -> 101"


async def test_websockets_library_fragments_ping_and_no_extension(own):
    import websockets

    async with websockets.connect(own["url"], open_timeout=T, close_timeout=T) as ws:
        # It offers permessage-deflate; our server accepts no extension, so none is used.
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        await ws.send(["frag", "mented"])  # one message in two frames
        assert await asyncio.wait_for(ws.recv(), T) == "fragmented"
        pong = await ws.ping(b"are you there?")
        await asyncio.wait_for(pong, T)
        await ws.send(b"bytes")
        assert await asyncio.wait_for(ws.recv(), T) == b"bytes"
    assert ws.close_code == 1000


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), T)  # until the server hangs up
    finally:
        writer.close()


HANDSHAKE = (b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


async def test_broken_handshake_gets_400_naming_the_rule(own):
    answer = await _raw(own["port"], HANDSHAKE.replace(b"Version: 13", b"Version: 8"))
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Sec-WebSocket-Version must be 13" in answer
    answer = await _raw(own["port"], b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_handshake_bytes_and_bad_frames_get_close_codes(own):
    # The RFC's own key gets the RFC's own accept.
    answer = await _raw(own["port"], HANDSHAKE + wire.encode_frame(wire.Opcode.CLOSE, b"\x03\xe8",
                                                                   mask_key=b"abcd"))
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    assert wire.FrameDecoder().feed(rest)[0].payload == b"\x03\xe8"

    unmasked = wire.encode_frame(wire.Opcode.TEXT, b"no mask")
    rest = (await _raw(own["port"], HANDSHAKE + unmasked)).partition(b"\r\n\r\n")[2]
    close = wire.FrameDecoder().feed(rest)[0]
    assert close.opcode == wire.Opcode.CLOSE and int.from_bytes(close.payload[:2], "big") == 1002
    assert b"masked" in close.payload

    bad_utf8 = wire.encode_frame(wire.Opcode.TEXT, b"\xff\xfe", mask_key=b"abcd")
    rest = (await _raw(own["port"], HANDSHAKE + bad_utf8)).partition(b"\r\n\r\n")[2]
    close = wire.FrameDecoder().feed(rest)[0]
    assert int.from_bytes(close.payload[:2], "big") == 1007


@pytest.mark.browser
async def test_chromium_talks_to_the_notebook_server(own, browser):
    page = await browser.new_page()
    result = await asyncio.wait_for(page.evaluate("""url => new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const got = [];
        ws.binaryType = "arraybuffer";
        ws.onopen = () => { ws.send("Hello from Chromium"); ws.send(new Uint8Array([1, 2, 250])); };
        ws.onmessage = e => {
            got.push(typeof e.data === "string" ? e.data : Array.from(new Uint8Array(e.data)));
            if (got.length === 2) ws.close(1000, "bye");
        };
        ws.onclose = e => resolve({got, code: e.code, reason: e.reason, clean: e.wasClean,
                                   extensions: ws.extensions});
        ws.onerror = () => reject(new Error("WebSocket error"));
        setTimeout(() => reject(new Error("timeout")), 8000);
    })""", own["url"]), T)
    assert result == {"got": ["Hello from Chromium", [1, 2, 250]], "code": 1000, "reason": "bye",
                      "clean": True, "extensions": ""}
    log = own["log"]
    assert log[0] == "GET / -> 101"
    assert "got close 1000 'bye'" in log[-1]


@pytest.mark.browser
async def test_the_console_steps_of_notebook_07_work_from_the_servers_own_page(own, browser):
    # Notebook 07 tells the learner to open http://127.0.0.1:PORT/ (our server's 400 page, a
    # page of this machine) and paste three lines into its console. From there Chromium sends
    # the page's loopback origin, and no local-network-access check stands in the way.
    page = await browser.new_page()
    response = await asyncio.wait_for(page.goto(f"http://127.0.0.1:{own['port']}/"), T)
    assert response.status == 400 and "Upgrade" in await response.text()
    echo = await asyncio.wait_for(page.evaluate("""url => new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onmessage = (event) => { resolve(event.data); ws.close(); };
        ws.onopen = () => ws.send("Hello from the browser");
        ws.onerror = () => reject(new Error("WebSocket error"));
        setTimeout(() => reject(new Error("timeout")), 8000);
    })""", own["url"]), T)
    assert echo == "Hello from the browser"
    assert any(line.startswith("got") and "Hello from the browser" in line for line in own["log"])
