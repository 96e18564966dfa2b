"""Differential: Chromium's own EventSource and wire.SseDecoder read the same bytes and must
fire the same events (type, data, lastEventId). The browser is the reference implementation
of HTML section 9.2; the streams are the standard's examples and the corners around them."""

from __future__ import annotations

import asyncio
import json

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from wsdemo.wire import decode_sse

from .conftest import T

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

TYPES = ["message", "add", "remove", "e", "tick"]
PAGE = """<!doctype html><meta charset="utf-8"><title>sse diff</title><script>
window.got = []; window.done = false;
const source = new EventSource("stream/" + location.search.slice(1));
for (const type of %s) source.addEventListener(type, (e) => window.got.push([e.type, e.data, e.lastEventId]));
source.addEventListener("error", () => { if (source.readyState === EventSource.CLOSED) window.done = true; });
</script>""" % json.dumps(TYPES)

STREAMS = {
    "examples": (b"data: YHOO\ndata: +2\ndata: 10\n\n"
                 b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
                 b"data\n\ndata\ndata\n\n"
                 b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\ndata:test\n\ndata: test\n\n"
                 b"data: never fired"),
    "line-ends": b"id: 7\rdata: a\rdata: b\r\rdata: c\r\r\n\ndata: d\r\n\r\nevent: tick\r\ndata: e\n\r\n",
    "bom": b"\xef\xbb\xbfdata: after the bom\n\n\xef\xbb\xbfdata: a second bom is text\n\ndata: x\n\n",
    "ids-and-fields": (b"id: 1\ndata: a\n\nid: 2\x003\ndata: nul id ignored\n\nfoo: bar\ndata: unknown field\n\n"
                       b"retry: x\nid\ndata: id reset\n\nevent:\ndata: empty event name\n\n"
                       b"event: e\n\ndata: type is cleared\n\n"),
    "utf8": "data: caf\u00e9 \u2713 \U0001F600\n\n".encode() + b"data: bad \xff\xfe\xc3 bytes\n\n",
}


class Page(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(PAGE)


class Stream(tornado.web.RequestHandler):
    seen: set[str] = set()

    async def get(self, name: str) -> None:
        if name in self.seen:  # the reconnection: 204 tells EventSource to stop (HTML 9.2.3)
            self.set_status(204)
            self.finish()
            return
        self.seen.add(name)
        self.set_header("Content-Type", "text/event-stream")
        body = self.settings["streams"][name]
        # cut everywhere a reader could go wrong: between CR and LF, inside UTF-8 sequences
        for i in range(0, len(body), 7):
            self.write(body[i:i + 7])
            await self.flush()
        self.finish()


def with_fast_retry(body: bytes) -> bytes:
    """The stream with ``retry: 1`` first, so the reconnection (answered 204) comes at once."""
    bom = b"\xef\xbb\xbf" if body.startswith(b"\xef\xbb\xbf") else b""
    return bom + b"retry: 1\n\n" + body[len(bom):]


@pytest.fixture
async def origin():
    streams = {name: with_fast_retry(body) for name, body in STREAMS.items()}
    Stream.seen = set()
    app = tornado.web.Application([("/", Page), ("/stream/(.*)", Stream)], streams=streams)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}/", streams
    server.stop()
    await asyncio.wait_for(server.close_all_connections(), T)


async def test_chromium_and_the_decoder_fire_the_same_events(browser, origin):
    url, streams = origin
    page = await browser.new_page()
    page.set_default_timeout(T * 1000)
    try:
        for name, body in streams.items():
            await page.goto(f"{url}?{name}")  # a new document for each stream
            await page.wait_for_function("() => window.done")
            browser_saw = [tuple(e) for e in await page.evaluate("() => window.got")]
            ours = [(e.type, e.data, e.last_event_id) for e in decode_sse(body) if e.dispatched]
            assert ours == browser_saw, name
            assert ours  # every stream fires something
    finally:
        await page.close()


async def test_sse_page_streams_through_jupyter_server_proxy(jupyter_server, browser, monkeypatch):
    # jupyter-server-proxy passes a response on piece by piece only when the request's Accept
    # is exactly text/event-stream (EventSource's); anything else it buffers to the end, which
    # an event stream never reaches.
    import wsdemo
    from wsdemo import wire
    from wsdemo.live import proxy

    jp = jupyter_server
    server = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=100), T)
    monkeypatch.setattr(proxy.settings, "prefix", "/")
    context = await browser.new_context()
    context.set_default_timeout(T * 1000)
    try:
        page = await context.new_page()
        await page.goto(f"{jp['base']}login?next=%2Fapi%2Fstatus")
        await page.fill("input[name='password']", jp["token"])
        await page.click("#login_submit")
        await page.wait_for_url("**/api/status")
        await page.goto(jp["base"].rstrip("/") + server.browser_url("/sse.html"))
        await page.wait_for_selector("#status[data-state='open']")
        await page.wait_for_function("() => document.querySelectorAll('#log li').length >= 3")
        asked = [e.request for c in server.tap.connections for e in c.events
                 if isinstance(e, wire.HttpRequest) and e.request.target.split("?")[0] == "/sse"]
        assert asked and asked[0].headers.get("Accept") == "text/event-stream"
        # the proxy forwarded the Jupyter login cookie: the tap shows it masked
        cookie = asked[0].headers.get("Cookie") or ""
        assert cookie and set(cookie) == {"*"}
    finally:
        await context.close()
        await asyncio.wait_for(server.stop(), T)
