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
# - measure bytes and latency per update for short polling, long polling, server-sent events
#   and a WebSocket, counted by the tap on the wire, under named network conditions;
# - find after how many updates a WebSocket has paid back its handshake;
# - measure head-of-line blocking: a big message holding up a small one;
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
# `compare_polling` follows the server's feed of updates four ways at once, each on its own
# connection through the tap, until each client has 10 new updates (one every 100 ms):
#
# | method | the client | the server |
# |---|---|---|
# | short polling | `GET /poll?since=N` every 100 ms, on one keep-alive connection, starting at a random moment | answers at once: 200 with the update, or 204 "nothing new" |
# | long polling | `GET /longpoll?since=N` again as soon as an answer arrives | holds the request until there is news |
# | server-sent events | one `GET /sse`, read as it grows | writes each update into that one response as an event |
# | websocket | listens on `/ticker` | pushes each update in one frame |
#
# The tap puts a network between the clients and the server: `NETWORK` names one of
# `wsdemo.NETWORKS` (`4g` is Chrome DevTools' "Fast 4G": 30 ms one way, 9 Mbps down,
# 1.5 Mbps up). Change it and run again; the bytes hardly change, the latencies do.
#
# Bytes are the tap's own counts (HTTP heads and bodies, frame headers and payloads, both
# directions) between each client's first update and its last, so the one-off costs (the TCP
# connection, the WebSocket handshake, the event stream's request) are left out; they come
# back below, in the break-even. Every per-update figure is per update
# *seen*: the window's bytes divided by the updates that client received; *skipped* counts the
# updates it never saw, which no figure includes. Latency runs from the moment the server
# produced an update to the moment the client has it, over the updates seen. (The figures are
# live, so this output changes a little every run.)

# %% tags=["nbval-ignore-output"]
NETWORK = "4g"  # try: "lan", "wifi", "slow-4g", "3g", "satellite", or wsdemo.Network(latency_ms=50)
rows = await asyncio.wait_for(experiments.compare_polling(server, updates=10, interval_ms=100, network=NETWORK), 30)
rows

# %% [markdown]
# *overhead* is what is not the update itself: HTTP heads, frame headers, or the event
# stream's field names, ids and chunk framing. The four clients received the same updates, so the payload is the same for all of them (about 70 bytes of
# JSON); what differs is the wrapping. Rounded into bands, the comparison reads the same on
# every machine:

# %%
short, long_, sse, ws = (rows[m] for m in experiments.METHODS)
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
print("server-sent events: overhead per update, 10 to 50 bytes:", 10 <= sse.overhead_bytes_per_update < 50)
print("server-sent events: bytes the client sent per update:", sse.up_bytes_per_update)
print()
one_way = wsdemo.Network.of(NETWORK).latency_ms
print(f"under {rows.network}, push's median latency is at least one way and within one way + 100 ms:",
      one_way <= ws.median_latency_ms < one_way + 100)
print("short polling's median latency, beyond push's: from nothing to a poll interval (100 ms) and a bit:",
      -5 < short.median_latency_ms - ws.median_latency_ms < 100 + 2 * one_way + 50)

# %% [markdown]
# So on this wire:
#
# - the WebSocket's overhead is **2 bytes per update**, one unmasked frame header from the
#   server, and the client sends nothing at all;
# - each poll costs a request and a response head, a couple of hundred bytes, whether or not
#   there is news;
# - server-sent events cost about 20 bytes per update (`id:`, `data:`, line ends and the
#   response's chunk framing), and the client sends nothing either;
# - counting the update itself, a pushed update costs **under half** of a polled one with our
#   lean kernel client (the payload, the same for everybody, now weighs more than the framing);
# - under `4g`, push, server-sent events and long polling learn of each update one trip
#   (30 ms) after it exists, a long poll being already waiting at the server; a short poller
#   adds its wait for the next poll, which depends on where its polls happen to fall (the table
#   shows this run's). Latency under more conditions follows.
#
# ## Latency under named conditions
#
# The same measurement, 3 updates at a time (one every 200 ms), on a LAN, on 4G and over a
# geostationary satellite (300 ms one way). Change `CONDITIONS` to try others:
#
# %% tags=["nbval-ignore-output"]
CONDITIONS = ["lan", "4g", "satellite"]  # try: add "wifi" or "3g", or wsdemo.Network(latency_ms=100)
measured = {}
for network in CONDITIONS:
    measured[network] = await asyncio.wait_for(
        experiments.compare_polling(server, updates=3, interval_ms=200, network=network), 60)
    display(measured[network])

# %%
# Only what follows from the conditions is printed here (and compared when the course is
# tested): no update arrives sooner than one way; push misses nothing; a poller whose round
# trip is longer than the 200 ms between updates must skip some. The rest is in the tables.
PUSH = {"server-sent events", "websocket"}
for network, m in measured.items():
    one_way = wsdemo.Network.of(network).latency_ms
    print(f"under {m.network}:")
    for r in m:
        band = ("saw no update" if not r.updates else "median latency at least one way"
                if r.median_latency_ms >= one_way else "median latency under one way")
        if r.method in PUSH or 2 * one_way > 200:
            band += " | skipped updates" if r.skipped else " | saw every update"
        print(f"  {r.method:20}", band)

# %% [markdown]
# Push and server-sent events arrive one trip after the update exists, under every condition,
# and miss nothing. Over the satellite a round trip (600 ms) is longer than the 200 ms between
# updates: the pollers' answers bring only the latest update, so what they see looks fresh and
# the rest is skipped (the *skipped* column). Long polling is as quick as push only while a
# request is already waiting at the server; after each answer nothing waits there for a round
# trip (notebook [04](04-talk-both-ways.ipynb) measures it under `4g` with updates 25 ms apart).
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
# Now the same projection from what you measured, all four methods, one update per second per
# client. First the overhead alone (what the published table counts), then every byte (live
# figures):

# %% tags=["nbval-ignore-output"]
experiments.projection_table({r.method: r.overhead_bytes_per_update for r in rows})

# %% tags=["nbval-ignore-output"]
experiments.projection_table({r.method: r.bytes_per_update for r in rows})

# %% [markdown]
# In the run we measured while writing this, 100,000 clients at one update a second cost about
# 200 megabits a second (10^6) of polling overhead, 16 of server-sent events' and 1.6 of
# WebSocket frame headers. Your figures are in the tables above. Which of the two pollings costs
# more depends on when the polls land (a short poll that finds nothing is paid for too), but
# this order holds on every run:

# %%
ranks = {r.method: r.overhead_bytes_per_update for r in rows}
polling = min(ranks["short polling"], ranks["long polling"])
print("websocket < server-sent events < either polling:",
      ranks["websocket"] < ranks["server-sent events"] < polling)

# %% [markdown]
# ## When has the handshake paid for itself?
#
# The window above leaves out each method's set-up. A WebSocket pays more of it: a TCP
# connection, then the Upgrade request and the 101 answer, about 400 bytes of heads. An event
# stream pays a TCP connection and its request and answer heads; a poller on a keep-alive
# connection pays its TCP connection, and every request after that is in its per-update
# figure. `experiments.break_even` counts, for each method, *set-up + n × overhead per
# update*, with the TCP connections taken from the tap's records (each counted at 120 bytes,
# the least a TCP handshake takes: three segments of 20-byte IP and 20-byte TCP headers; the
# tap cannot see them), and finds the first n at which the WebSocket has cost no more:

# %% tags=["nbval-ignore-output"]
even = experiments.break_even(rows)
even

# %%
print("against short polling, paid back within 5 updates:", even["short polling"].updates <= 5)
print("against long polling, paid back within 5 updates:", even["long polling"].updates <= 5)
print("against server-sent events, paid back after 2 to 20 updates:", 2 <= even["server-sent events"].updates <= 20)

# %% [markdown]
# Against polling, the handshake is paid back after a couple of updates. Against server-sent
# events it takes a few more, since an event costs only about 20 bytes of overhead; the
# WebSocket's other advantage there is that the page can answer on the same connection.
#
# ## Head-of-line blocking
#
# One TCP connection delivers bytes in order. A big message queued on it holds up everything
# behind it, a ping's answer included: on a 1,000 kbps downlink, a 2 MB message takes
# 2,000,000 × 8 / 1,000,000 = 16 s (we measured 16.0 s once, outside the notebook), and a pong
# queued behind it waits as long. To keep this notebook quick we send 100 kB instead:
# 0.8 s at 1,000 kbps. `experiments.head_of_line` sends the message to `/echo`, then a ping;
# the server echoes the message, then answers the ping:

# %% tags=["nbval-ignore-output"]
link = wsdemo.Network(down_kbps=1000)
whole = await asyncio.wait_for(experiments.head_of_line(server, 100_000, network=link), 30)
whole

# %% [markdown]
# A control frame may travel *between* the fragments of a message (RFC 6455, section 5.4),
# but only if the sender puts it there. Here the client sends its 100 kB in 10 kB fragments
# and slips a ping between the first two, then sends another ping after the last. The first
# reaches the server before the message is complete, so its pong comes back before the
# echo exists; the second is answered after the echo is queued, and waits behind it. Tornado
# sends the echo as one frame; had it fragmented it, the bytes already handed to TCP would
# still arrive first. The timeline comes from the tap: when each frame's last byte reached
# it, and when it was delivered under the 1,000 kbps link:

# %% tags=["nbval-ignore-output"]
parts = await asyncio.wait_for(experiments.head_of_line(server, 100_000, network=link, fragment=10_000), 30)
parts

# %%
print("one frame: the pong waited behind the 100 kB echo (at least 90% of its 0.8 s):",
      whole.pongs["after the message"] >= 0.9 * whole.serialization_s)
print("fragments: the pong for the ping between fragments came back in under 0.4 s:",
      parts.pongs["between fragments"] < 0.4)
print("fragments: the pong for the ping after the message still waited behind the echo:",
      parts.pongs["after the message"] >= 0.9 * parts.serialization_s)
server_frames = [e.what for e in parts.timeline if e.sender == "server"]
print("the server's frames, in the order they were delivered:", server_frames)

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
# - **We poll at the update rate, at a random phase.** A real page does not know when news
#   comes. Our poller asks once per update interval, starting at a random moment as a page
#   would (`phase="locked"` polls half an interval after each update instead: the average
#   case, the same every run). Its delay is then anything from none to a whole interval, and
#   a run of 10 updates shows one phase's. Polling faster than updates arrive adds empty
#   answers (each a full request and response); polling slower adds delay, and skips updates
#   when two arrive between polls.
# - **The network is simulated.** The tap delays and throttles bytes as the named conditions
#   say (one-way latency, bandwidth), on one machine; it drops nothing and adds no queueing
#   from other traffic, so real links are at best like this. Measured under `4g` (30 ms one
#   way), push and server-sent events arrived one trip after each update; so did long polling,
#   while a request was waiting. Long polling loses in three places: after each answer no
#   request waits at the server for at least one round trip, so updates closer together than
#   that are late or skipped (measured in notebook 04); every update carries a request and a
#   response head; and every update needs a request of its own, each holding an HTTP/1.1
#   connection while it waits. A short poller learns of news only when its next request arrives.
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
# - Measured on the wire, a pushed update costs a 2-byte frame header, a server-sent event
#   about 20 bytes; a polled one costs a request and a response head, hundreds of bytes, and
#   a request even when nothing is new.
# - Under named conditions (`lan`, `4g`, `satellite`), push and server-sent events deliver
#   every update one trip after it exists; pollers wait for their next request, and skip
#   updates when a round trip is longer than the time between them.
# - The WebSocket's handshake is paid back against polling after a couple of updates.
# - One TCP connection delivers in order: a big message delays every frame behind it, a pong
#   included, and fragmenting helps only the frames the sender slips between fragments.
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
