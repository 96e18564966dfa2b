"""serve(tls=True): wss:// and https:// with TLS terminated at the tap, which records the
plain bytes as without TLS and counts the bytes on the wire."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import ssl
import sys

import pytest
import trustme
import websockets

import wsdemo
from wsdemo import wire

from .conftest import T, Raw, conn_for_port, handshake, messages, wait_for_event, wait_until


@pytest.fixture
async def tls_server():
    srv = await asyncio.wait_for(wsdemo.serve(tls=True, name="tls"), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


async def test_urls_name_tls_and_the_direct_port_stays_plain(tls_server):
    assert tls_server.url("/echo").startswith("wss://127.0.0.1:")
    assert tls_server.http_url("/").startswith("https://127.0.0.1:")
    assert tls_server.direct_url("/echo").startswith("ws://127.0.0.1:")
    with open(tls_server.ca_file) as f:
        assert "BEGIN CERTIFICATE" in f.read()


async def test_wss_echo_is_recorded_decoded_and_the_wire_bytes_are_counted(tls_server):
    async with websockets.connect(tls_server.url("/echo"), ssl=tls_server.ssl_context(),
                                  compression=None, open_timeout=T) as ws:
        await ws.send("hello over TLS")
        assert await asyncio.wait_for(ws.recv(), T) == "hello over TLS"
        port = ws.transport.get_extra_info("sockname")[1]
    conn = conn_for_port(tls_server, port)
    await wait_until(lambda: not conn.is_open, what="the connection to close")
    # Decoded exactly as without TLS: the handshake and the frames, in plain bytes.
    assert conn.request.target == "/echo" and conn.response.status == 101
    assert [m.text for m in messages(conn, "client", "text")] == ["hello over TLS"]
    assert [m.text for m in messages(conn, "server", "text")] == ["hello over TLS"]
    assert all(b"hello" not in bytes(c[2]) or c[0] in ("client", "server") for c in conn.chunks)
    tls = conn.tls
    assert tls.version in ("TLSv1.2", "TLSv1.3") and tls.cipher
    for sender in ("client", "server"):
        # On the wire: the handshake, then every plain byte inside records that add framing.
        assert tls.handshake_bytes[sender] > 0
        assert tls.wire_bytes[sender] > tls.handshake_bytes[sender] + conn.bytes[sender]
        assert tls.close_notify[sender]  # both ended TLS with close_notify, not a bare FIN
    assert "TLSv1" in repr(conn) and "on the wire" in repr(conn)


async def test_the_kernel_client_connects_over_wss(tls_server):
    client = await tls_server.connect("/echo")
    await client.send("kernel")
    assert await client.recv() == "kernel"
    assert client.connection.tls is not None and client.connection.tls.version
    await client.close()


async def test_a_client_trusting_another_ca_fails_clearly_and_the_server_keeps_serving(tls_server,
                                                                                      caplog):
    other = ssl.create_default_context()
    trustme.CA().configure_trust(other)  # trusts some other CA only
    with caplog.at_level(logging.INFO, logger="wsdemo.tap"):
        with pytest.raises(ssl.SSLCertVerificationError):
            async with websockets.connect(tls_server.url("/echo"), ssl=other, open_timeout=T):
                pass
        failed = tls_server.tap.connections[-1]
        await wait_for_event(failed, lambda e: isinstance(e, wire.TapEvent)
                             and e.kind is wire.TapAction.TLS_FAILED)  # the failed handshake recorded
    assert failed.tls.error and failed.tls.version is None
    lines = [r for r in caplog.records if "TLS handshake failed" in r.getMessage()]
    assert lines and all(r.levelno == logging.INFO and not r.exc_info for r in lines)
    # ...and a client that trusts the lab's CA gets through.
    async with websockets.connect(tls_server.url("/echo"), ssl=tls_server.ssl_context(),
                                  open_timeout=T) as ws:
        await ws.send("still serving")
        assert await asyncio.wait_for(ws.recv(), T) == "still serving"


async def test_a_name_the_certificate_does_not_carry_is_refused_by_the_client(tls_server):
    ctx = tls_server.ssl_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        async with websockets.connect(tls_server.url("/echo"), ssl=ctx,
                                      server_hostname="not-this-lab.example", open_timeout=T):
            pass


async def test_plain_http_on_the_tls_port_gets_a_plain_400_recorded_and_logged(tls_server, caplog):
    with caplog.at_level(logging.INFO):
        raw = await Raw.open(tls_server.port)
        await raw.send(handshake("/echo"))
        answer = await raw.read_all()
        await raw.close()
        conn = tls_server.tap.connections[-1]
        await wait_for_event(conn, lambda e: isinstance(e, wire.TapEvent)
                             and e.kind is wire.TapAction.PLAIN_ON_TLS)  # the plain request recorded
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"this port speaks TLS" in answer
    # The request is in the recording as it came (plain bytes, decoded).
    await wait_for_event(conn, lambda e: isinstance(e, wire.HttpRequest))
    assert conn.request.target == "/echo"
    lines = [r for r in caplog.records if "plain HTTP on the TLS port" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    # The server keeps serving TLS clients.
    client = await tls_server.connect("/echo")
    await client.send("after")
    assert await client.recv() == "after"
    await client.close()


async def test_a_tls_client_on_a_plain_port_is_named_in_the_recording_and_log(server, caplog):
    ctx = ssl.create_default_context()
    with caplog.at_level(logging.INFO):
        # The tap answers plain HTTP at once, which the client's TLS reads as "not TLS" (it
        # does not wait for Tornado's head timeout).
        with pytest.raises(ssl.SSLError):
            async with websockets.connect(server.url("/echo").replace("ws://", "wss://"),
                                          ssl=ctx, open_timeout=T):
                pass
        conn = server.tap.connections[-1]
        error = await wait_for_event(conn, lambda e: isinstance(e, wire.DecodeError))
        await wait_for_event(conn, lambda e: isinstance(e, wire.TapEvent)
                             and e.kind is wire.TapAction.TLS_ON_PLAIN)
        await wait_until(lambda: not conn.is_open, what="the connection to close")
    assert "TLS handshake" in error.error
    lines = [r for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.exc_info]


async def test_without_tls_nothing_says_tls(server):
    client = await server.connect("/echo")
    await client.send("plain")
    assert await client.recv() == "plain"
    assert client.connection.tls is None and server.ca_file is None
    with pytest.raises(RuntimeError, match="tls=True"):
        server.ssl_context()
    await client.close()


async def _open_echo_page(browser, server) -> str:
    """Open the lab's index page over https, then a wss:// echo from it; returns the echo."""
    page = await browser.new_page()
    response = await page.goto(server.http_url("/index.html"), timeout=T * 1000)
    assert response.ok and response.url.startswith("https://")
    return await page.evaluate("""url => new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.onopen = () => ws.send("from chromium");
        ws.onmessage = e => { resolve(e.data); ws.close(); };
        ws.onerror = () => reject("websocket error");
    })""", server.url("/echo"))


def _check_recorded(server) -> None:
    conns = [c for c in server.tap.connections if c.path == "/echo"]
    assert conns and conns[-1].tls.version == "TLSv1.3"
    assert [m.text for m in messages(conns[-1], "client", "text")] == ["from chromium"]


@pytest.mark.browser
async def test_chromium_trusting_the_lab_ca_opens_pages_and_wss_over_https(tls_server, chromium_path,
                                                                          need_certutil, tmp_path):
    # A real trust path: the lab's CA in an NSS database (what Chromium on Linux reads from
    # $HOME/.pki/nssdb), in a throwaway HOME. Without it, Chromium refuses the certificate.
    import os
    import subprocess

    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    from tests.conftest import CHROMIUM_ARGS

    nssdb = tmp_path / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    db = f"sql:{nssdb}"
    subprocess.run(["certutil", "-d", db, "-N", "--empty-password"], check=True, timeout=T)
    subprocess.run(["certutil", "-d", db, "-A", "-t", "C,,", "-n", "wsdemo lab CA", "-i",
                    tls_server.ca_file], check=True, timeout=T)
    untrusting = tmp_path / "empty-home"
    untrusting.mkdir()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS,
                                           env={**os.environ, "HOME": str(untrusting)})
        try:
            page = await browser.new_page()
            with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
                await page.goto(tls_server.http_url("/index.html"), timeout=T * 1000)
        finally:
            await browser.close()
        browser = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS,
                                           env={**os.environ, "HOME": str(tmp_path)})
        try:
            assert await _open_echo_page(browser, tls_server) == "from chromium"
        finally:
            await browser.close()
    _check_recorded(tls_server)


@pytest.mark.browser
async def test_chromium_with_the_server_key_pinned_opens_wss(tls_server, chromium_path):
    # The other way (no certutil): trust exactly this server's key (an SPKI pin).
    from playwright.async_api import async_playwright

    from tests.conftest import CHROMIUM_ARGS

    args = CHROMIUM_ARGS + [f"--ignore-certificate-errors-spki-list={tls_server.spki_pin()}"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=args)
        try:
            assert await _open_echo_page(browser, tls_server) == "from chromium"
        finally:
            await browser.close()
    _check_recorded(tls_server)

async def test_the_serve_command_speaks_tls_and_cuts_idle_connections():
    from .test_cli import serve_command

    async with serve_command("--tls", "--idle-timeout", "0.3") as (proc, lines):
        wss = next(m.group(0) for l in lines if (m := re.search(r"wss://127\.0\.0\.1:\d+/echo", l)))
        ca_file = next(m.group(1) for l in lines if (m := re.search(r"trust the CA in (\S+)", l)))
        ctx = ssl.create_default_context(cafile=ca_file)
        async with websockets.connect(wss, ssl=ctx, open_timeout=T, ping_interval=None) as ws:
            await ws.send("from outside")
            assert await asyncio.wait_for(ws.recv(), T) == "from outside"
            # Then silence: the tap cuts the line.
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), T)
        logged = []
        while not any("closed" in l for l in logged):
            logged.append((await asyncio.wait_for(proc.stdout.readline(), T)).decode())
        text = "".join(logged)
        assert "cut by the tap after 0.3 s idle" in text and "TLSv1.3" in text
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), T) == 0


async def test_the_serve_command_refuses_a_bad_idle_timeout():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "serve", "--idle-timeout", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), T * 3)
    assert proc.returncode == 2
    assert b"idle_timeout must be a number from 0.01 to 86,400 seconds" in err


async def test_large_messages_and_network_lanes_cross_tls_intact(tls_server):
    # Many records each way, flow control through the TLS layer, then the same under a
    # network lane (the lane writes plaintext the TLS layer encrypts on the way out).
    blob = bytes(range(256)) * 2048  # 512 KiB
    async with websockets.connect(tls_server.url("/echo"), ssl=tls_server.ssl_context(),
                                  compression=None, open_timeout=T, max_size=None) as ws:
        await ws.send(blob)
        assert await asyncio.wait_for(ws.recv(), T) == blob
        port = ws.transport.get_extra_info("sockname")[1]
        tls_server.tap.set_network(f"127.0.0.1:{port}", wsdemo.Network(latency_ms=20))
        await ws.send("under a lane")
        assert await asyncio.wait_for(ws.recv(), T) == "under a lane"
    conn = conn_for_port(tls_server, port)
    await wait_until(lambda: not conn.is_open, what="the connection to close")
    assert conn.tls.wire_bytes["server"] > 512 * 1024 + 32 * 22  # at least 32 records' framing


async def test_a_refusal_from_the_tap_is_said_over_tls(tls_server):
    tls_server.tap.max_links = 0  # the next connection is refused with a 503, before TLS is up
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(tls_server.url("/echo"), ssl=tls_server.ssl_context(),
                                      open_timeout=T):
            pass
    assert info.value.response.status_code == 503
    assert b"too many connections" in info.value.response.body


async def test_a_client_reset_under_tls_reaches_the_app_and_others_keep_going(tls_server):
    client = await tls_server.connect("/echo")
    raw_reader, raw_writer = await asyncio.open_connection("127.0.0.1", tls_server.port,
                                                           ssl=tls_server.ssl_context())
    raw_writer.write(handshake("/echo"))
    assert (await asyncio.wait_for(raw_reader.readuntil(b"\r\n\r\n"), T)).startswith(b"HTTP/1.1 101")
    raw_writer.transport.abort()  # a reset, no close_notify
    await wait_until(lambda: len(tls_server.app_state.sockets) == 1, what="the app to drop the reset one")
    await client.send("unaffected")
    assert await client.recv() == "unaffected"
    await client.close()


def _close_notify_first(port: int, context: ssl.SSLContext) -> bytes:
    """A blocking TLS client (run in a thread): one plain HTTP request, then close_notify
    before the server has closed anything; returns what it read before the server's end."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=T) as sock:
        tls = context.wrap_socket(sock, server_hostname="127.0.0.1")
        tls.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = tls.recv(1 << 16)
        tls.unwrap()  # sends close_notify, then waits for the server's (through the tap)
        return got


async def test_a_client_close_notify_ends_its_direction_at_the_app(tls_server):
    got = await asyncio.wait_for(asyncio.to_thread(_close_notify_first, tls_server.port,
                                                   tls_server.ssl_context()), T * 2)
    assert got.startswith(b"HTTP/1.1 200")
    conn = tls_server.tap.connections[-1]
    await wait_until(lambda: not conn.is_open, what="the connection to close")
    assert conn.tls.close_notify == {"client": True, "server": True}


async def test_the_certificate_names_the_join_host_and_the_ca_file_goes_on_stop():
    import os

    srv = await asyncio.wait_for(wsdemo.serve(tls=True, host="0.0.0.0", join_host="teacher.local",
                                              name="tls-join"), T)
    try:
        assert srv._ca.names[:3] == ["127.0.0.1", "localhost", "teacher.local"]
        ca_file = srv.ca_file
        # The same certificate checks out under the join name (resolved to loopback here).
        async with websockets.connect(f"wss://127.0.0.1:{srv.port}/echo", ssl=srv.ssl_context(),
                                      server_hostname="teacher.local", open_timeout=T) as ws:
            await ws.send("by name")
            assert await asyncio.wait_for(ws.recv(), T) == "by name"
    finally:
        await asyncio.wait_for(srv.stop(), T)
    assert not os.path.exists(ca_file)
