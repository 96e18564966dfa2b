# Source of notebooks/08-leave-localhost.ipynb (build: .venv/bin/python scripts/build_notebooks.py 08)

# %% [markdown]
# # 08 · Leave localhost
#
# Until now the lab's WebSockets ran on one machine, in plain text, with nothing between the
# kernel and the server but the tap. A real deployment crosses the internet: the line is
# encrypted, proxies and load balancers sit in the path and hang up on quiet connections,
# servers restart, some clients read too slowly, and any web page a visitor opens may try to
# use the visitor's browser against your server. This notebook turns each of these on in the
# lab, one at a time, and watches what happens on the wire.
#
# **You will**
# - measure what TLS (`wss://`) adds per message and per connection;
# - negotiate a subprotocol, and see what happens when the server speaks none of the offers;
# - watch an idle proxy cut a quiet connection, and heartbeats keep it open;
# - restart the server under a client that reconnects by itself;
# - see the server close a client that never reads (backpressure);
# - see the Origin check refuse a page of another origin that holds the visitor's cookie.
#
# **You need** notebooks [02](02-open-the-handshake.ipynb) to [04](04-talk-both-ways.ipynb)
# (the handshake, frames, close codes, push) and about 15 minutes.

# %%
import asyncio
import base64
import logging
import os

import wsdemo
from wsdemo import backpressure, exercises, hijack, wire
from wsdemo.live.client import ConnectionClosed, Reconnect
from wsdemo.ui.render import subprotocol_lines

T = 5  # seconds: every await below gives up after this, so a broken server cannot hang the notebook
logging.getLogger("tornado.access").setLevel(logging.ERROR)  # the refused handshakes below are on purpose

# %% [markdown]
# ## 1 · What TLS costs on the wire
#
# `wsdemo.serve(tls=True)` serves `wss://`. As a load balancer or reverse proxy often does in
# front of a real deployment, the tap **terminates** TLS: it decrypts what the client sends and passes plain
# bytes to the app, so the recording reads exactly as before. It also counts the bytes on the
# wire, the TLS records, in `conn.tls`. The certificate comes from a small certificate
# authority made for this server alone; the kernel's client trusts it (`server.ssl_context()`),
# and a browser can too (see the README's *Past localhost* section).

# %%
secure = await asyncio.wait_for(wsdemo.serve(tls=True, name="tls"), T)
print(secure.url("/echo"))
echo = await asyncio.wait_for(secure.connect("/echo"), T)
await asyncio.wait_for(echo.send("warm-up"), T)  # after one echo the handshake is over on both sides
await asyncio.wait_for(echo.recv(), T)
conn = echo.connection
conn.flush()
print("inside the tunnel, the tap recorded:", conn.request.raw.split(b"\r\n")[0])

# %% [markdown]
# Now 20 messages of 100 bytes each, echoed one at a time, as a chat would send them. For each
# direction we compare the bytes of the WebSocket frames (what each side sent) with the bytes
# of the TLS records that carried them (what went on the wire).

# %%
N, SIZE = 20, 100


def counts(conn):
    conn.flush()
    return dict(conn.tls.wire_bytes), dict(conn.bytes)


before = counts(conn)
for _ in range(N):
    await asyncio.wait_for(echo.send("x" * SIZE), T)
    await asyncio.wait_for(echo.recv(), T)
after = counts(conn)
per_message = {side: ((after[1][side] - before[1][side]) / N, (after[0][side] - before[0][side]) / N)
               for side in ("client", "server")}

# %% [markdown]
# The raw counts (live: the TLS version and cipher depend on this machine's OpenSSL):

# %% tags=["nbval-ignore-output"]
print(conn.tls)
for side, (frame, on_wire) in per_message.items():
    print(f"{side:>6}: {frame:.1f} B of frame -> {on_wire:.1f} B on the wire per message")

# %% [markdown]
# What holds on every run: the frames are as notebook 03 taught (6 bytes of header from the
# client, which masks, 2 from the server), and TLS adds a fixed amount to each message.

# %%
for side, (frame, on_wire) in per_message.items():
    print(f"{side}: each {SIZE}-byte message is a {frame:.0f}-byte frame; "
          f"TLS adds 20 to 30 bytes to it: {20 <= on_wire - frame <= 30}")
hello = conn.tls.handshake_bytes
print("TLS handshake, client -> server, 200 to 1,000 bytes:", 200 <= hello["client"] <= 1000)
print("TLS handshake, server -> client, 1,000 to 3,000 bytes:", 1000 <= hello["server"] <= 3000)

# %% [markdown]
# Where the per-message bytes come from: under TLS 1.3 each record has a 5-byte header and one
# byte inside the encryption that says what the record carries (RFC 8446, section 5.2), then
# the cipher's authentication tag, 16 bytes for AES-GCM and ChaCha20-Poly1305: 22 bytes. TLS 1.2
# with AES-GCM sends an 8-byte explicit nonce instead of the inner type byte (RFC 5288,
# section 3): 29 bytes (`python bench/tls.py --tls12` measures both). Every message sent
# alone is one record, so a 2-byte frame header from the server now travels with 22 more
# bytes, and below TLS every packet still carries at least 40 bytes of IPv4 and TCP headers
# (20 each, without options), which the tap cannot see.
#
# Opening costs more: after TCP's three segments, TLS 1.3 needs one round trip in which the
# client sends a few hundred bytes and the server about one and a half kilobytes (its
# certificate included; the session tickets it sends afterwards are counted here too), then
# the WebSocket upgrade of notebook 02 goes through the tunnel. On a connection that
# stays open for hours, that is paid once. And a public site cannot skip it: browsers block
# `ws://` from an `https://` page (mixed content), and what travels inside `wss://` is out of
# reach of every proxy on the way, which can neither read nor rewrite it.

# %%
await asyncio.wait_for(echo.close(), T)
await asyncio.wait_for(secure.stop(), T)
print("TLS lab stopped:", not secure.running)

# %% [markdown]
# ## 2 · Agree on a subprotocol
#
# A WebSocket carries messages, but says nothing about what they mean. A client may offer
# **subprotocols** in its handshake (`Sec-WebSocket-Protocol`, in its order of preference); the
# server selects one it speaks, or none, and says which in its answer (RFC 6455, sections 1.9
# and 4.2.2). The lab takes the first offer it speaks. The lab's `/chat` speaks `wsdemo.chat.v1`. The rule, from the wire layer:

# %%
print(wire.select_subprotocol(["chat.example.v2", "wsdemo.chat.v1"], spoken=["wsdemo.chat.v1"]))
print(wire.select_subprotocol(["chat.example.v9"], spoken=["wsdemo.chat.v1"]))

# %% [markdown]
# On the live lab: the kernel offers `wsdemo.chat.v1`, then a name the server does not know.

# %%
server = await asyncio.wait_for(wsdemo.serve(), T)
ada = await asyncio.wait_for(server.connect("/chat?name=ada", subprotocols=["wsdemo.chat.v1"]), T)
bob = await asyncio.wait_for(server.connect("/chat?name=bob", subprotocols=["chat.example.v9"]), T)
for client in (ada, bob):
    client.connection.flush()
    print(f"offered {client.subprotocols[0]!r} -> selected {client.subprotocol!r}, "
          f"connection open: {client.is_open}")
    for line in subprotocol_lines(client.connection.request, client.connection.response):
        print("   ", line)

# %% [markdown]
# Selecting none is allowed, and the kernel's client (like the `websockets` library) goes on
# without one. A browser does not: the rules browsers follow (the WHATWG's, in Fetch and now in
# its WebSockets standard) let the connection open only if the server selected one of the
# subprotocols the page offered. So `new WebSocket(url, ["chat.example.v9"])` would get an
# `error` and a close with code 1006, although the server answered 101 (`tests/live/test_subprotocols.py` sees Chromium do exactly that). So a page
# offers only what the endpoint speaks, and a server that renames its protocol keeps the old
# name for a while.

# %%
await asyncio.wait_for(ada.close(), T)
await asyncio.wait_for(bob.close(), T)

# %% [markdown]
# ## 3 · An idle proxy hangs up; heartbeats keep the line open
#
# Proxies, load balancers and NAT boxes forget a connection that carries nothing for a while.
# nginx, for one, closes a proxied WebSocket when the server has sent nothing for 60 seconds
# (its *WebSocket proxying* page, `proxy_read_timeout`). The tap can play that proxy:
# `idle_timeout` cuts a line with no byte either way for that long. Half a second here, so we
# need not wait a minute.

# %%
server.tap.idle_timeout = 0.5
quiet = await asyncio.wait_for(server.connect("/echo"), T)
await asyncio.wait_for(quiet.send("anyone there?"), T)
await asyncio.wait_for(quiet.recv(), T)
try:
    await asyncio.wait_for(quiet.recv(timeout=T), T)  # nothing more comes: wait for the line to end
except ConnectionClosed:
    pass


def timeline(conn):
    """One line per frame or tap action, with the time since the connection opened (live)."""
    conn.flush()
    for e in conn.events:
        at = f"{e.at - conn.opened_at:5.2f} s"
        if isinstance(e, wire.FrameEvent):
            print(at, "→" if e.sender == "client" else "←", e.frame)
        elif isinstance(e, wire.TapEvent):
            print(at, "✂", e.kind.value)


# %% [markdown]
# The connection's time line (live: the times change a little every run). → is the kernel,
# ← the server, ✂ the tap:

# %% tags=["nbval-ignore-output"]
timeline(quiet.connection)

# %% [markdown]
# What the recording says on every run:

# %%
conn = quiet.connection
cut = next(e for e in conn.events if isinstance(e, wire.TapEvent))
last_byte = max(e.at for e in conn.events if isinstance(e, wire.FrameEvent))
print(cut.kind)
print(conn.cut_reason)
print("silent for at least 0.4 s before the cut:", cut.at - last_byte >= 0.4)
print("close code the client received:", quiet.close_code, "(no Close frame: the proxy just closed TCP)")

# %% [markdown]
# The client learns of it only as a closed TCP connection, with no code and no reason: to the
# application it looks like a network failure. The cure is to never stay silent that long. With
# `ping_interval` the server sends a ping that often; every client answers with a pong (RFC 6455
# section 5.5.2: browsers do it by themselves, no JavaScript involved), and the bytes of both
# keep the proxy's timer from running out. A client that stops answering is closed with 1011,
# "no pong within N s" (`ping_timeout`): the same pings also find dead lines. A proxy with a
# 1 s timeout this time, and a ping every 0.25 s, well below it (a ping that leaves a little
# late must still come in time):

# %%
server = await asyncio.wait_for(wsdemo.serve(idle_timeout=1.0, ping_interval=0.25), T)  # replaces the one above
lively = await asyncio.wait_for(server.connect("/echo"), T)
await asyncio.sleep(2.0)

# %% tags=["nbval-ignore-output"]
timeline(lively.connection)

# %%
conn = lively.connection
conn.flush()
frames = [e for e in conn.events if isinstance(e, wire.FrameEvent)]
pings = [e.frame.payload for e in frames if e.frame.opcode == wire.Opcode.PING and e.sender == "server"]
pongs = [e.frame.payload for e in frames if e.frame.opcode == wire.Opcode.PONG and e.sender == "client"]
times = [conn.opened_at] + [e.at for e in frames]
print("still open after 2 s, twice the idle timeout:", lively.is_open and conn.cut_reason is None)
print("the server pinged at least 3 times:", len(pings) >= 3)
print("each pong carried its ping's data back:", bool(pongs) and all(p in pings for p in pongs))
print("longest silence on the line, under the 1 s timeout:", max(b - a for a, b in zip(times, times[1:])) < 1.0)
await asyncio.wait_for(lively.close(), T)

# %% [markdown]
# ## 4 · The server restarts; the client comes back
#
# Servers restart: a deploy, a crash, a load balancer draining a machine. On the way out the lab
# closes every WebSocket with 1001 ("going away"). A client created with `reconnect=True` then
# dials again, waiting a random time before each try, from 0 up to a ceiling that doubles after
# every failure ("exponential backoff with full jitter": a thousand clients dropped at once do
# not all come back in the same millisecond). It retries after 1001, 1006 (the line just
# dropped) and 1011 to 1014 (trouble on the server's side), not after a normal close (1000)
# nor after one that says the client broke a rule (1002, 1008, ...).
# The defaults are `Reconnect(base=0.5, cap=10, attempts=10)`; smaller numbers here keep the
# notebook quick. We stop the server, leave it down for 0.8 s, and start a new one on the same
# port (`serve(port=...)` would also stop a lab of this kernel still running on that port,
# unless it is a classroom server).

# %%
port = server.port
steady = await asyncio.wait_for(server.connect("/echo", reconnect=Reconnect(base=0.25, cap=1.0)), T)
await asyncio.wait_for(server.stop(), T)
await asyncio.sleep(0.8)
server = await asyncio.wait_for(wsdemo.serve(port=port), T)
await asyncio.wait_for(steady.wait_open(), T)
await asyncio.wait_for(steady.send("are you back?"), T)
print("echo from the new server:", await asyncio.wait_for(steady.recv(), T))

# %% [markdown]
# Every try, with the time it waited first (live: the waits are random, and so is the number of
# tries that met a closed port):

# %% tags=["nbval-ignore-output"]
for attempt in steady.attempts:
    print(f"try {attempt.number}: waited {attempt.delay:.2f} s -> {attempt.outcome}")

# %%
print("the first connection ended with:", steady.attempts[0].after)
print("connected again, once:", steady.reconnects == 1 and steady.attempts[-1].connected)
print("the new server's tap recorded the new connection:", steady.connection in server.tap.connections)
await asyncio.wait_for(steady.close(), T)

# %% [markdown]
# The lab's pages do the same in JavaScript (`assets/wsdemo.js`): after a lost connection they
# wait about 1 s, then 2, 4, ... up to 30 s, each wait shifted at random by up to a fifth, and
# try at once when the tab becomes visible again or the network comes back. Open the chat page
# below, then run `await server.stop()` and a new `wsdemo.serve(port=port)` in a cell: the page
# says it lost the line, then rejoins. A client that reconnects must also catch up on what it
# missed (the chat's history, a price feed's last value): the new connection starts from
# nothing, so the client says what it last saw, or asks for the current state.

# %%
print(server.http_url("/chat.html"))

# %% [markdown]
# ## 5 · A client that never reads
#
# Every byte the server sends waits somewhere until the client reads it: in the client's socket
# buffer, on the path, in the server's socket buffer, and then in Tornado's write buffer, which
# has no limit of its own. A client that stops reading (a frozen tab, a phone on a bad
# network, a hostile script) would make the server hold more and more memory for it. The lab
# closes such a client with 1008 once more than `send_backlog` bytes wait for it.
# `backpressure.provoke` plays that client: it sends 64 KiB messages to `/echo` and never reads
# the echoes.

# %%
pushed = await asyncio.wait_for(backpressure.provoke(server), 3 * T)

# %% [markdown]
# What it saw (live: how much was sent before the server gave up depends on the socket buffers):

# %% tags=["nbval-ignore-output"]
print(pushed)

# %%
print("close code:", pushed.close_code)
print("the reason names the limit:", "send_backlog" in pushed.close_reason)
print(f"the limit, server.app_state.send_backlog: {pushed.limit:,} bytes")
print("bytes waiting in the server when it gave up, over the limit:", pushed.buffered > pushed.limit)
print("in the server's log (server.app_state.backpressure_log):", pushed.record in server.app_state.backpressure_log)

# %% [markdown]
# A browser feels the same pressure from the other side. `ws.send()` never blocks; what the
# line has not taken yet shows in `ws.bufferedAmount`, and a page that keeps sending while it
# grows only piles up memory. The page below sends to the lab as fast as you tell it and lists
# `bufferedAmount`; run `server.tap.network = wsdemo.Network(up_kbps=200)` first to give it a
# slow upload line. When `bufferedAmount` is back to 0 the browser has handed the bytes to the
# operating system, which does not mean they have arrived.

# %%
print(server.http_url("/backpressure.html"))

# %% [markdown]
# ## 6 · A page of another origin, with your cookie
#
# A browser adds its cookies to a WebSocket handshake whichever page opens the socket, and a
# page may read everything a socket it opened receives. If a cookie alone lets a WebSocket in,
# any page the visitor opens can talk to the server as the visitor: **cross-site WebSocket
# hijacking**. The browser also says which page is calling, in the `Origin` header, and the
# server's defence is to check it.
#
# In classroom mode, the lab's join link sets a cookie, `wsdemo_token`, with `SameSite=Strict`.
# `hijack.start_attacker_page` serves a page on another port of 127.0.0.1 that opens a
# WebSocket to the lab's chat. Another port makes it another **origin** (scheme, host and
# port), but not another **site** (ports do not count), so Chromium sends the Strict cookie
# with that page's handshake. No browser is needed here: the kernel sends the handshake that
# browser would send, with the page's `Origin` and the visitor's cookie.

# %%
async def handshake_as_browser(lab, origin, cookie, path="/chat?name=mallory"):
    """A WebSocket handshake to ``lab`` from a page of ``origin`` that carries ``cookie``;
    returns the lab's status code and the text of its answer (empty for a 101)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", lab.port), T)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{lab.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Origin: {origin}\r\nCookie: {cookie}\r\n\r\n").encode())
    response = wire.parse_response(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T))
    length = int(response.headers.get("Content-Length") or 0)
    body = await asyncio.wait_for(reader.readexactly(length), T) if length else b""
    writer.close()
    return response.status, body.decode().strip()


lab = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False, name="classroom"), T)
page = await asyncio.wait_for(hijack.start_attacker_page(lab), T)
visitor_cookie = f"{hijack.TOKEN_COOKIE}={lab.token}"  # what the join link left in the browser
print("the attacker page:", page.url)
print(await handshake_as_browser(lab, page.origin, visitor_cookie))

# %% [markdown]
# Refused with 403, cookie and all: the Origin check saw a page of another origin. The tap kept
# the attempt, as it keeps those a real browser makes on that page (`page.attempts()`, with the
# cookie's value masked):

# %%
for attempt in page.attempts():
    attempt.flush()
    print(attempt.request.headers.get("Origin"), "| Cookie sent:", "Cookie" in attempt.request.headers,
          "| answer:", attempt.response.status)

# %% [markdown]
# Now the same handshake to a throwaway classroom server whose Origin check is off
# (`check_origin=False`, which `serve` accepts on a loopback address only). With the cookie the
# page gets in, and would read the chat as the visitor; without it, the token check still
# stops it.

# %%
throwaway = await asyncio.wait_for(
    wsdemo.serve(classroom=True, check_origin=False, show_join=False, name="throwaway"), T)
other_page = await asyncio.wait_for(hijack.start_attacker_page(throwaway), T)
print("with the visitor's cookie:", await handshake_as_browser(
    throwaway, other_page.origin, f"{hijack.TOKEN_COOKIE}={throwaway.token}"))
print("without it:", await handshake_as_browser(throwaway, other_page.origin, "theme=dark"))
await asyncio.wait_for(throwaway.stop(), T)

# %% [markdown]
# Three ways to authenticate a WebSocket, and what each risks (`hijack.WAYS_TO_AUTHENTICATE`):

# %%
for way in hijack.WAYS_TO_AUTHENTICATE:
    print(f"- {way.name}: {way.risk}\n")

# %% [markdown]
# To see it in a browser: open `lab.join_url()` (it sets the cookie), then `page.url`; the page
# says it was refused, and `page.attempts()` shows the 403 with the cookie sent.
#
# ### On your own: write the Origin check
#
# Write `allowed(origin, host)`: `origin` is the handshake's `Origin` header, `host` its `Host`
# header (the address the browser connected to, with its port). Return True only for a page of
# the server's own origin. The check runs your function on a handful of origins: the server's
# own page, `null`, another port, another name for the same machine, and domains that only look
# like the real one.

# %%
allowed = None  # your turn: def allowed(origin, host): return True or False
ok = exercises.check_origin_rule(allowed)

# %% [markdown]
# Stuck? `exercises.solution("origin")`.
#
# ### On your own: choose a ping interval
#
# Your WebSockets go through a proxy that closes a connection silent for 60 seconds. Pings can
# leave late and take time to cross (a busy server, a slow mobile link): count up to 5 seconds
# for that. How many seconds between two pings (`ping_interval`) keep every connection open,
# without flooding the line?

# %%
ping_every = None  # your turn: seconds between two pings
ok = exercises.check_ping_interval(ping_every, proxy_timeout=60, late=5)

# %% [markdown]
# Stuck? `exercises.solution("ping_interval")`.
#
# ## Summary
#
# - `wss://` costs about 22 bytes per message under TLS 1.3 and a couple of kilobytes once per
#   connection; the frames inside are the same.
# - A subprotocol names what the messages mean; a browser that offered some fails a connection
#   whose server selected none.
# - Proxies close silent connections; server pings (and the pongs that answer them) keep them
#   open and find dead ones.
# - Clients must expect the line to drop, and come back with backoff and jitter.
# - A server bounds what it buffers for a client that does not read.
# - A cookie alone must never admit a WebSocket: check `Origin`.
#
# The README's *Past localhost* section lists the lab's options for all of this, and how a
# browser can trust the lab's certificate. Next, [09 · Serve millions](09-serve-millions.ipynb):
# what each of these connections costs, and how several servers share one room.

# %%
await asyncio.wait_for(lab.stop(), T)
await asyncio.wait_for(server.stop(), T)
print("servers stopped:", not lab.running and not server.running)
