# Source of notebooks/06-measure-polling-vs-websockets.ipynb (build: .venv/bin/python scripts/build_notebooks.py 06)

# %% [markdown]
# # 06 · Measure polling vs WebSockets
#
# The essay's strongest claim is about cost: polling asks "anything new?" over and over, each
# time with hundreds of bytes of HTTP headers, while a WebSocket frame carries "just a few
# bytes of overhead". The classic figure behind the claim is a bandwidth table by Peter
# Lubbers and Frank Greco: **871 bytes of headers per poll** against **2-byte frames**,
# projected to 100,000 clients. Here you measure the same thing on your own wire, project it
# the same way, and say honestly where the numbers differ.
#
# **You will**
# - measure bytes and latency per update for short polling, long polling and a WebSocket,
#   counted by the tap on the wire;
# - project them to 1,000, 10,000 and 100,000 clients, in both meanings of "megabit";
# - reproduce the published table, and set your figures beside it;
# - explain the differences.
#
# **You need** notebooks [01](01-compare-letters-and-phone-calls.ipynb) (polling) and
# [03](03-decode-frames.ipynb) (frames), and about 15 minutes.

# %%
import asyncio

import wsdemo
from wsdemo import exercises, experiments

T = 5  # seconds: every await below gives up after this, so a broken server cannot hang the notebook

server = await asyncio.wait_for(wsdemo.serve(), T)
server

# %% [markdown]
# ## The measurement
#
# `compare_polling` follows the server's feed of updates three ways at once, each on its own
# connection through the tap, until each client has 10 new updates (one every 100 ms):
#
# | method | the client | the server |
# |---|---|---|
# | short polling | `GET /poll?since=N` every 100 ms, on one keep-alive connection | answers at once: 200 with the update, or 204 "nothing new" |
# | long polling | `GET /longpoll?since=N` again as soon as an answer arrives | holds the request until there is news |
# | websocket | listens on `/ticker` | pushes each update in one frame |
#
# Bytes are the tap's own counts (HTTP heads and bodies, frame headers and payloads, both
# directions) between each client's first update and its last, so the one-off costs (the TCP
# connection, the WebSocket handshake) are left out. Every per-update figure is per update
# *seen*: the window's bytes divided by the updates that client received; *skipped* counts the
# updates it never saw, which no figure includes. Latency runs from the moment the server
# produced an update to the moment the client has it, over the updates seen. (The figures are
# live, so this output changes a little every run.)

# %% tags=["nbval-ignore-output"]
rows = await asyncio.wait_for(experiments.compare_polling(server, updates=10, interval_ms=100), 30)
rows

# %% [markdown]
# *overhead* is what is not the update itself: HTTP heads, or frame headers. The three clients
# received the same updates, so the payload is the same for all of them (about 70 bytes of
# JSON); what differs is the wrapping. Rounded into bands, the comparison reads the same on
# every machine:

# %%
short, long_, ws = rows["short polling"], rows["long polling"], rows["websocket"]
print("every method got 10 updates, in order:", all(r.updates == 10 and r.seqs == sorted(r.seqs) for r in rows))
print()
print("overhead per update, websocket / short polling:", experiments.ratio_band(
    ws.overhead_bytes_per_update / short.overhead_bytes_per_update))
print("overhead per update, websocket / long polling: ", experiments.ratio_band(
    ws.overhead_bytes_per_update / long_.overhead_bytes_per_update))
print("all bytes per update, websocket / short polling:", experiments.ratio_band(
    ws.bytes_per_update / short.bytes_per_update))
print()
print("websocket: frame header bytes per update:", ws.overhead_bytes_per_update)
print("websocket: bytes the client sent per update:", ws.up_bytes_per_update)
print("polling: HTTP requests per update, at least 1:", min(short.requests_per_update, long_.requests_per_update) >= 1)
print("polling: a request + response head is over 200 bytes:",
      min(short.header_bytes_per_request, long_.header_bytes_per_request) > 200)
print()
print("short polling learns of news later than push:", short.median_latency_ms > ws.median_latency_ms)

# %% [markdown]
# So on this wire:
#
# - the WebSocket's overhead is **2 bytes per update**, one unmasked frame header from the
#   server, and the client sends nothing at all;
# - each poll costs a request and a response head, a couple of hundred bytes, whether or not
#   there is news;
# - counting the update itself, a pushed update costs **under half** of a polled one with our
#   lean kernel client (the payload, the same for everybody, now weighs more than the framing);
# - a short poller learns of news about half a polling interval late; push and long polling at
#   once, here, because a long poll was already waiting at the server for each update.
#
# ## The frames, against the RFC
#
# A frame's header takes 2 to 14 bytes: 2 to 10 from a server, which never masks, and 6 to 14
# from a client, which always adds a 4-byte masking key. RFC 6455 does not print these totals;
# they follow from its frame layout (section 5.2, notebook [03](03-decode-frames.ipynb)), and
# *High Performance Browser Networking* (chapter 17, "Message Overhead") quotes the same
# 2 to 14. Our ticker frames are small, so they take the smallest headers. A client frame, for
# comparison:

# %%
echo = await asyncio.wait_for(server.connect("/echo"), T)
await asyncio.wait_for(echo.send("a small client message"), T)
await asyncio.wait_for(echo.recv(), T)
s = echo.connection.summary()
await asyncio.wait_for(echo.close(), T)
for who, (low, high) in experiments.RFC_FRAMING.items():
    print(f"RFC 6455's layout, {who}: {low} to {high} bytes of header per frame")
print(f"measured: a server frame's header {ws.summary.server.framing_bytes / ws.summary.server.frames:g} bytes, "
      f"a client frame's header {s.client.framing_bytes / s.client.frames:g} bytes")

# %% [markdown]
# ## Projected to many clients
#
# One client is cheap whatever it does. The classic table multiplies: *clients × bytes per
# update × updates per second × 8 bits*. A megabit is 10^6 bits for network equipment and
# providers, but Lubbers and Greco divided by 2^20 = 1,048,576; both are shown. First, their
# own figures, recomputed from 871 and 2 bytes, next to the table as they printed it:

# %%
experiments.projection_table({"polling, 871 B": experiments.PUBLISHED_POLL_BYTES,
                              "websocket, 2 B": experiments.PUBLISHED_FRAME_BYTES})

# %%
for row in experiments.published_table():
    print(row)

# %% [markdown]
# Their numbers are the 2^20 column, and the projection reproduces every one of them:

# %%
published = experiments.published_table()
ours = zip(experiments.project_bandwidth(871), experiments.project_bandwidth(2))
print("reproduced:", all(experiments.round_like(p.mbps_binary, row.polling_mbps) == row.polling_mbps
                         and experiments.round_like(w.mbps_binary, row.websocket_mbps) == row.websocket_mbps
                         for row, (p, w) in zip(published, ours)))

# %% [markdown]
# Now the same projection from what you measured, one update per second per client. First the
# overhead alone (what the published table counts), then every byte (live figures):

# %% tags=["nbval-ignore-output"]
experiments.projection_table({r.method: r.overhead_bytes_per_update for r in rows})

# %% tags=["nbval-ignore-output"]
experiments.projection_table({r.method: r.bytes_per_update for r in rows})

# %% [markdown]
# ## What a browser sends
#
# Our kernel client is lean: its requests carry three headers. A browser's carry a dozen, plus
# every cookie of the site. Here is a request head with the headers a current Chromium sends
# for a `fetch()` to the same site (values copied from a real request; the cookies are made up
# but typical of a site with analytics and a login). The tap counts it on the wire like any other:

# %% tags=["nbval-ignore-output"]
BROWSER_HEADERS = {
    "Connection": "keep-alive",
    "sec-ch-ua": '"Chromium";v="126", "Not.A/Brand";v="24"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Linux"',
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Safari/537.36",
    "Accept": "*/*",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Dest": "empty",
    "Referer": server.http_url("/ticker.html"),
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Accept-Language": "en-GB,en;q=0.9",
    "Cookie": "_ga=GA1.1.1234567890.1700000000; _ga_XYZ123=GS1.1.1700000000.1.0.1700000000.0.0.0; "
              "session=8f3c2a1b9d7e6f5a4b3c2d1e0f9a8b7c",
}
browser = await asyncio.wait_for(experiments.compare_polling(
    server, updates=10, interval_ms=100, methods=["short polling"], headers=BROWSER_HEADERS), 30)
browser

# %%
b = browser["short polling"]
print("request + response head per poll, as a browser:", "500 to 1,000 bytes" if 500 <= b.header_bytes_per_request < 1000
      else "outside 500 to 1,000 bytes")
print("against the published 871 bytes:", "within 20%" if abs(b.header_bytes_per_request / 871 - 1) <= 0.2
      else "more than 20% away")
print("all bytes per update, websocket / browser short polling:",
      experiments.ratio_band(ws.bytes_per_update / b.bytes_per_update))
print("overhead per update, websocket / browser short polling:",
      experiments.ratio_band(ws.overhead_bytes_per_update / b.overhead_bytes_per_update))

# %% [markdown]
# With a browser's headers one poll costs within a fifth of the published 871 bytes, and a
# pushed update costs under a tenth of a polled one, payload included.
#
# How much of a poll is the server's answer? Tornado's response head, as the tap counted it
# (live figures first, then a band):

# %% tags=["nbval-ignore-output"]
answer_head = b.summary.server.http_head_bytes / b.summary.server.http_messages
request_head = b.summary.client.http_head_bytes / b.summary.client.http_messages
print(f"browser-like request head: {request_head:.0f} bytes; Tornado's response head: {answer_head:.0f} bytes")

# %%
print("Tornado's response head per poll:", "100 to 250 bytes" if 100 <= answer_head < 250 else "outside 100 to 250 bytes")

# %% [markdown]
# ## Where our figures differ from the published ones, and why
#
# - **Our client's headers are few.** The kernel's poller sends `Host`, `User-Agent` and
#   `Accept`; a browser's request carries 500 to 800 bytes of headers, cookies not included
#   (*High Performance Browser Networking*, chapter 11 "HTTP/1.X", section "Measuring and
#   Controlling Protocol Overhead"; chapter 12, "Header Compression", repeats it). The 871 bytes
#   were measured from a browser in 2010, with a server whose answer carried its own headers;
#   our Tornado's answer is 100 to 250 bytes (measured above), so most of a poll's weight is
#   the request.
# - **The published table counts headers only.** A poll that returns news also carries the
#   news, and so does a frame. With about 70 bytes of JSON per update, our *whole* cost per
#   update differs less between methods than the overhead alone does: the payload is the same
#   for everybody.
# - **The tap sees the byte stream, not packets.** Every message also pays for the packets
#   that carry it: an IP header (20 bytes for IPv4) and a TCP header (20 bytes or more), plus
#   20 to 40 bytes of TLS record on `https`/`wss`. *High Performance Browser Networking* puts
#   the total at 60 to 100 bytes per message whatever the protocol (chapter 17, "Message
#   Overhead"; worked out in chapter 4, "Optimize TLS Record Size"). A poll is two messages
#   (request and answer) where a push is one, so counting packets would widen the gap, not
#   close it. ACKs and the TCP handshake are not counted either.
# - **We poll at the update rate, half a beat after the news.** A real page does not know when
#   news comes. Our poller asks once per update, half an interval after each is due: no empty
#   answers, no skipped updates, and the average delay of a random phase, made the same on every
#   run. A real poller's delay ranges from none to a whole interval. Polling faster than updates
#   arrive adds empty answers (each a full request and response); polling slower adds delay,
#   and skips updates when two arrive between polls.
# - **Loopback hides the network.** Our latencies include no travel time, and we did not
#   measure any. On a real network, a push and an update that finds a long poll waiting both
#   travel one way, server to page. Long polling loses in three places: after each answer no
#   request waits at the server for at least one round trip, and an update that appears then
#   waits for the next request; every update carries a request and a response head; and every
#   update needs a request of its own, each holding an HTTP/1.1 connection while it waits. A
#   short poller learns of news only when its next request arrives.
# - **HTTP has changed since.** HTTP/2 and HTTP/3 compress repeated headers (HPACK, QPACK), so a
#   poll over them costs far fewer header bytes than in 2010; the extra requests and the delay
#   remain.
# - **A WebSocket keeps a connection open per client.** That costs the server memory, not
#   bandwidth; the tables count bandwidth only.
#
# ### On your own: a busier feed
#
# A trading screen gets 10 updates a second. How many megabits per second (10^6 convention)
# does pushing them over WebSockets to 10,000 clients cost, at the bytes per update you
# measured (`ws.bytes_per_update`, every byte)? Compute it, then check:

# %%
mbps = None  # your turn: a number of Mbps
ok = exercises.check_bandwidth(mbps, clients=10_000, bytes_per_message=ws.bytes_per_update, per_second=10,
                               unit="10^6")

# %% [markdown]
# Stuck? `exercises.solution("busy_feed")`.
#
# Try also: re-run the measurement with `poll_ms=50` (polling twice per update) or
# `poll_ms=250`, and watch the *empty polls*, *skipped* and *median latency* columns change.
# At 250 ms the poller sees fewer than half of the updates: its bytes and latency are then
# per update *seen*, and the updates it skipped never reached the page at all.
#
# ## Summary
#
# - Measured on the wire, a pushed update costs a 2-byte frame header; a polled one costs a
#   request and a response head, hundreds of bytes, and a request even when nothing is new.
# - Projected to 100,000 clients, that difference is the published table's: hundreds of
#   megabits against a few.
# - The exact ratio depends on the headers (cookies!), the payload, the polling rate and the
#   HTTP version; the direction of the result does not.
#
# **Next:** [07 · Build your own server](07-build-your-own-server.ipynb): write a WebSocket
# server yourself, on top of the same wire layer that measured all this.

# %%
await asyncio.wait_for(server.stop(), T)
print("server stopped:", server)
