"""Cross-site WebSocket hijacking (CSWSH), shown on the live lab.

A browser sends its cookies with a WebSocket handshake whatever page opened the socket, and
the same-origin policy does not cover WebSockets: a page may read everything a socket it
opened receives. So if a server lets a cookie alone admit a WebSocket, any page its visitor
opens can talk to it as the visitor. The defence is the server's: check ``Origin``.

In a notebook::

    server = await wsdemo.serve(classroom=True)     # the join link sets the wsdemo_token cookie
    page = await wsdemo.hijack.start_attacker_page(server)
    page.url            # open the join link first, then this: another origin, same browser
    page.attempts()     # what the lab answered the page's handshakes: 403, Origin check on

    lab = await wsdemo.serve(classroom=True, check_origin=False, name="throwaway")
    page = await wsdemo.hijack.start_attacker_page(lab)   # now 101: the page reads the chat

The attacker page is served by a second small HTTP server on another loopback port, so its
origin differs from the lab's only by the port. That makes it *cross-origin* (origin =
scheme, host and port) but *same-site* (site = scheme and registrable domain, or the IP
address; ports do not count): the lab's ``SameSite=Strict`` cookie is sent with its
handshake (Chromium 156, observed in tests/e2e/test_hijack.py). ``host="localhost"`` serves
the same page as http://localhost:PORT, another site than 127.0.0.1: there Strict keeps the
cookie home, and the page is refused for lack of a token even with the Origin check off.
SameSite is no defence against a page of the same site (another port, another app on the
same host); the Origin check is.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tornado.httpserver
import tornado.netutil
import tornado.web

from .apps.base import TOKEN_COOKIE

if TYPE_CHECKING:
    from .server import Server
    from .recording import Connection


@dataclass(frozen=True)
class Way:
    """A way to authenticate a WebSocket, what it needs from the server, and where it leaks."""

    name: str
    how: str
    risk: str


WAYS_TO_AUTHENTICATE: tuple[Way, ...] = (
    Way("a cookie, with an Origin check",
        "the browser sends the cookie with the handshake by itself (the lab's join link sets "
        f"{TOKEN_COOKIE}, HttpOnly, SameSite=Strict); the server must also check Origin",
        "any page the visitor opens sends the cookie too: without the Origin check that page "
        "talks as the visitor (CSWSH). SameSite=Strict does not stop a page of the same site: "
        "another port of the same host is the same site"),
    Way("a token in the URL (?token=...)",
        "the page puts the token in the WebSocket URL; no cookie, so another page has nothing "
        "to borrow",
        "URLs leak: server and proxy access logs, browser history, the Referer of a page's "
        "links, a screenshot of the address bar. The lab masks ?token= in its own logs and "
        "in everything the tap keeps"),
    Way("a token in the first message",
        "the socket opens unauthenticated and the first message carries the token; the "
        "server closes the connection if it is missing or wrong",
        "the server must hold every unauthenticated socket to a short deadline and refuse "
        "every other message before it; the token lives in the page's JavaScript"),
)

DEFENCES: tuple[str, ...] = (
    "Check Origin on every WebSocket handshake (the lab: 403 for a page of another origin, "
    "another port included; serve(allowed_origins=...) adds one).",
    "Do not let an ambient credential alone admit a WebSocket: a token in the URL or in the "
    "first message is sent only by pages that know it.",
    "SameSite=Strict or Lax cookies stop other sites, not other origins of the same site "
    "(http://127.0.0.1:8001 and http://127.0.0.1:8888 are one site). Cookies do not even "
    "keep to their port (RFC 6265 section 8.5): every server on a host shares its cookies.",
    "Keep tokens out of logs and Referer headers (mask them, Referrer-Policy: no-referrer).",
)

MAX_BODY = 1024  # the page takes no body; a request that sends one is refused early
IDLE_TIMEOUT = 30.0  # seconds a connection may sit idle
_LOG_LIMIT = 200  # lines the page keeps


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Another origin: a WebSocket to the lab</title>
<link rel="icon" href="data:,">
</head>
<body>
<main>
<h1>A page of another origin</h1>
<p>This page comes from <code id="origin"></code>, not from the lab. It opens a WebSocket to
<code id="target"></code> with no token of its own: only cookies the browser adds can get it in.</p>
<p>Socket: <span id="status" role="status" data-state="connecting">connecting</span></p>
<h2 id="log-title">What this page read from the lab</h2>
<ul id="log" aria-live="polite" aria-labelledby="log-title"></ul>
</main>
<script>
"use strict";
const TARGET = %(target)s;
const SAY = %(say)s;
const LIMIT = %(limit)d;
const status = document.getElementById("status");
const log = document.getElementById("log");
document.getElementById("origin").textContent = location.origin;
document.getElementById("target").textContent = TARGET;
function show(state, text) { status.dataset.state = state; status.textContent = text; }
let opened = false;
const ws = new WebSocket(TARGET);
ws.onopen = () => {
  opened = true;
  show("open", "open: the lab let this page in, with the visitor's cookie");
  if (SAY) ws.send(JSON.stringify({text: SAY}));
};
ws.onmessage = (event) => {
  const item = document.createElement("li");
  item.textContent = typeof event.data === "string" ? event.data : "(binary)";
  log.append(item);
  while (log.children.length > LIMIT) log.firstElementChild.remove();
};
ws.onclose = (event) => {
  if (opened) {
    show("closed", "closed with code " + event.code + (event.reason ? " (" + event.reason + ")" : ""));
  } else {
    // A refused handshake reaches a page only as code 1006: the browser hides the HTTP status.
    show("refused", "refused: the handshake failed (code " + event.code + "); the page cannot " +
         "see why, the lab's tap recorded the answer");
  }
};
</script>
</body>
</html>
"""


class _PageHandler(tornado.web.RequestHandler):
    def initialize(self, page: "AttackerPage") -> None:
        self.page = page

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(self.page.html())


class AttackerPage:
    """The page of another origin, served until ``stop()`` (or until the lab stops)."""

    def __init__(self, server: "Server", target: str, say: str, host: str):
        self.server = server
        self.target = target  # the ws:// URL the page opens: the lab's, with no token
        self.say = say
        self.host = host
        self.port: int | None = None
        self._http: tornado.httpserver.HTTPServer | None = None

    def __repr__(self) -> str:
        state = "serving" if self._http is not None else "stopped"
        return f"<AttackerPage {self.url} -> {self.target}, {state}>"

    @property
    def origin(self) -> str:
        """What the browser sends as ``Origin`` for this page's WebSocket."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + "/"

    def html(self) -> str:
        # json.dumps gives a JS string literal; "</" is escaped so it cannot end the script.
        def js(value: str) -> str:
            return json.dumps(value).replace("</", "<\\/")
        return _PAGE % {"target": js(self.target), "say": js(self.say), "limit": _LOG_LIMIT}

    async def _start(self) -> None:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        app = tornado.web.Application([("/", _PageHandler, {"page": self})])
        self._http = tornado.httpserver.HTTPServer(
            app, idle_connection_timeout=IDLE_TIMEOUT, max_body_size=MAX_BODY,
            max_header_size=16 * 1024)
        self._http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving the page; safe to call twice."""
        http, self._http = self._http, None
        if self in self.server.companions:
            self.server.companions.remove(self)
        if http is not None:
            http.stop()
            try:
                await asyncio.wait_for(http.close_all_connections(), 2.0)
            except asyncio.TimeoutError:
                pass

    def attempts(self) -> "list[Connection]":
        """The tap's records of the handshakes this page made (those whose Origin is the
        page's): ``.response.status`` is 403 when refused, 101 when let in; a ``Cookie``
        header (its value masked) in ``.request.headers`` shows the browser sent the cookie."""
        tap = self.server.tap
        if tap is None:
            return []
        out = []
        for conn in tap.connections:
            conn.flush()
            request = conn.request
            if request is not None and request.headers.get("Origin") == self.origin:
                out.append(conn)
        return out


async def start_attacker_page(server: "Server", path: str = "/chat?name=mallory", *,
                              say: str = "hello from a page of another origin",
                              host: str = "127.0.0.1") -> AttackerPage:
    """Serve, on another loopback port, a page that opens a WebSocket to ``server``'s
    ``path`` (no token) and lists everything it receives; once open it sends ``say`` ("": 
    nothing). Stops with the lab. ``host`` is how the page's URL names this machine:
    "127.0.0.1" (the lab's own site) or "localhost" (another site, though the same machine)."""
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"host must be '127.0.0.1' (same site as the lab) or 'localhost' "
                         f"(another site), got {host!r}: the page is served on loopback only")
    if not path.startswith("/") or "token=" in path:
        raise ValueError(f"path must be the lab's path without a token (the page has none: "
                         f"only the browser's cookie can admit it), got {path!r}")
    if not server.running:
        raise RuntimeError("this server is stopped; start one with await wsdemo.serve()")
    page = AttackerPage(server, server.url(path), say, host)
    await page._start()
    server.companions.append(page)
    return page
