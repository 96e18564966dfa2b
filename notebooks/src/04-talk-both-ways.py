# Source of notebooks/04-talk-both-ways.ipynb (build: .venv/bin/python scripts/build_notebooks.py 04)

# %% [markdown]
# # 04 · Talk both ways
#
# In HTTP, every answer needs a question. The server can hold its answer until there is news
# (long polling), or keep an answer open and stream news into it (Comet, Server-Sent Events),
# and pages did both for years; but it is always the page that asks, and each thing the page
# says is a new request. The essay's waiter brings a dish only once you have ordered it. A
# WebSocket changes the rules: once the handshake is done, **either side may send at any
# moment** on the same connection. The server can speak first, unasked, and both sides can
# talk at the same time.
#
# **You will**
# - listen to a server that pushes prices without being asked;
# - stream messages from the kernel while the server streams to it, and see the two streams
#   interleave on one connection, on a time line;
# - measure how late news arrives by push, by server-sent events, by long polling and by short
#   polling, under named network conditions (a LAN, 4G, a satellite link).
#
# **You need** notebooks [02](02-open-the-handshake.ipynb) and [03](03-decode-frames.ipynb)
# (the handshake, frames) and about 10 minutes.

# %%
import asyncio
import json

import wsdemo
from wsdemo import diagrams, exercises, experiments, wire
from wsdemo.ui import FrameInspector

T = 5  # seconds: every await below gives up after this, so a broken server cannot hang the notebook

# %% [markdown]
# ## The server speaks first
#
# The lab's `/ticker` endpoint follows a price feed and pushes every change to each
# connected client. We start the server with a new price every 200 ms, connect, and then
# only listen: the kernel sends nothing at all.

# %%
server = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=200), T)
ticker = await asyncio.wait_for(server.connect("/ticker"), T)
pushed = [json.loads(await ticker.recv(timeout=T)) for _ in range(3)]
server

# %% [markdown]
# Three updates arrived, each a small JSON object with a sequence number, the server time it
# was produced (`at`), a symbol and a price (live values, so this output changes every run):

# %% tags=["nbval-ignore-output"]
for update in pushed:
    print(update)

# %% [markdown]
# The tap in front of the server counted what each side sent on this connection. The
# client's only bytes are its handshake request; everything after that came from the server:

# %%
summary = ticker.connection.summary()
print("client: HTTP requests", summary.client.http_messages, "| frames sent", summary.client.frames)
print("server: HTTP responses", summary.server.http_messages,
      "| frames pushed at least 3:", summary.server.frames >= 3)
print("server frames masked:", any(e.frame.masked for e in ticker.connection.events
                                   if isinstance(e, wire.FrameEvent) and e.sender == "server"))

# %% [markdown]
# No question, no request: the waiter brings each dish as soon as it is ready. With plain
# HTTP requests the page would have to ask again and again ("anything new?"), or keep a
# question waiting at the server (long polling): you measure both at the end of this notebook
# and in notebook 06.
#
# ## Both at once: full duplex
#
# Now the kernel streams its own messages (bids, say) to the server **while** the server
# keeps streaming prices. Two tasks share the one connection: one sends a bid every 35 ms,
# the other receives prices that come every 50 ms. Neither waits for the other.

# %%
await ticker.close()
server.app_state.ticker_interval_ms = 50
duplex = await asyncio.wait_for(server.connect("/ticker"), T)


async def send_bids(n=8):
    for i in range(n):
        await duplex.send_json({"bid": 100 + i})
        await asyncio.sleep(0.035)


async def receive_prices(n=8):
    return [json.loads(await duplex.recv(timeout=T)) for _ in range(n)]


_, prices = await asyncio.wait_for(asyncio.gather(send_bids(), receive_prices()), T)
await asyncio.wait_for(duplex.close(), T)
conn = duplex.connection

# %% [markdown]
# Here are the frames of that one connection in the order they crossed the wire, with the
# time since it opened: → from the kernel (masked), ← from the server. (Live: times, keys and
# prices change every run.)

# %% tags=["nbval-ignore-output"]
def show(conn):
    """One line per frame: time since the connection opened, direction, the frame."""
    for e in conn.events:
        if isinstance(e, wire.FrameEvent):
            arrow = "→" if e.sender == "client" else "←"
            print(f"{(e.at - conn.opened_at) * 1000:7.1f} ms {arrow} {e.frame}")


show(conn)

# %% [markdown]
# The same connection drawn as a time line: each arrow is one HTTP message or one frame, with
# its size in bytes and its time. The arrows from the two sides are mixed together, because
# both sides were talking at once.

# %% tags=["nbval-ignore-output"]
diagrams.from_connection(conn, max_arrows=30)

# %% [markdown]
# The facts behind the picture, checked on every run: the server sent while the kernel was
# still sending.

# %%
def data_frames(conn, sender):
    return [e for e in conn.events if isinstance(e, wire.FrameEvent) and e.sender == sender
            and e.frame.opcode in (wire.Opcode.TEXT, wire.Opcode.BINARY)]


bids, pushes = data_frames(conn, "client"), data_frames(conn, "server")
first_bid, last_bid = bids[0].at, bids[-1].at
print("bids sent by the kernel:", len(bids))
print("prices pushed while the kernel was sending:", any(first_bid < p.at < last_bid for p in pushes))
in_order = [e.sender for e in sorted(bids + pushes, key=lambda e: e.at)]
turns = sum(a != b for a, b in zip(in_order, in_order[1:]))
print("on this one connection, the two directions interleave (3 turns or more):", turns >= 3)

# %% [markdown]
# To explore the frames yourself, pick a row in the inspector below: it shows each frame's
# bytes, fields and payload (you can filter by direction).

# %% tags=["nbval-ignore-output"]
FrameInspector(conn)

# %% [markdown]
# ## How late is the news?
#
# Pushing saves requests; does it also save time? `experiments.compare_polling` follows the
# same feed four ways at once, each on its own connection through the tap, until each has
# 3 new updates (a new price every 200 ms):
#
# - **short polling** asks `GET /poll` every 200 ms: "anything new?". Its polls start at a
#   random moment, as a page opened at any time would, so how long it waits for its next poll
#   is measured, not chosen by us;
# - **long polling** asks `GET /longpoll`, and the server holds the request until there is news;
# - **server-sent events** (SSE): the page opens one HTTP response, `GET /sse`, that never
#   ends, and the server writes each update into it as an event (`id: 7`, `data: {...}`, an
#   empty line). News flows one way only: to say something, the page must send a new request;
# - **websocket** just listens on `/ticker`.
#
# Latency runs from the moment the server produced an update to the moment the client has it.
# On one machine there is no travel time at all, so the tap puts a network between the
# clients and the server: `wsdemo.NETWORKS` names a few, each from a published source
# (`lan`: under half a millisecond one way; `4g`: Chrome DevTools' "Fast 4G", 30 ms one way;
# `satellite`: a geostationary link, 300 ms one way). Change `CONDITIONS` to try others.

# %% tags=["nbval-ignore-output"]
CONDITIONS = ["lan", "4g", "satellite"]  # try: add "wifi" or "3g", or wsdemo.Network(latency_ms=100)
for name, network in wsdemo.NETWORKS.items():
    print(f"{name:10} {network}")
measured = {}
for network in CONDITIONS:
    measured[network] = await asyncio.wait_for(
        experiments.compare_polling(server, updates=3, interval_ms=200, network=network), 60)
    display(measured[network])

# %% [markdown]
# One update as server-sent events carried it, decoded by the tap (its byte counts are the
# *overhead* and *payload* columns above: field names, the id and line ends against the JSON):

# %% tags=["nbval-ignore-output"]
stream_events = [e for e in measured["lan"]["server-sent events"].connections[0].events if isinstance(e, wire.SseEvent)]
print(stream_events[-1])
print(stream_events[-1].raw)

# %% [markdown]
# The figures are live, so they change a little every run; rounded into statements that hold
# on any machine:

# %%
for network, rows in measured.items():
    one_way = wsdemo.Network.of(network).latency_ms
    short, long_, sse, push = (rows[m] for m in experiments.METHODS)
    print(f"under {rows.network}:")
    print("  every method's median latency is at least the one-way delay:",
          all(r.median_latency_ms >= one_way for r in rows))
    print("  push and server-sent events saw every update:", push.skipped == sse.skipped == 0)
    print("  push arrived within one way + 100 ms:", push.median_latency_ms < one_way + 100)
    if 2 * one_way > 200:
        print("  a round trip is longer than the 200 ms between updates, and both pollers skipped updates:",
              short.skipped > 0 and long_.skipped > 0)

# %% [markdown]
# What the tables show:
#
# - Under `lan` and `4g`, push, server-sent events and long polling all learn of an update
#   about one trip after it was produced (0.5 ms, 30 ms): the push travels one way, and a long
#   poll was already waiting at the server. A short poller adds its wait for the next poll:
#   anything from nothing to a whole interval (200 ms), depending on where its polls happen
#   to fall, then the trip back.
# - Under `satellite` a round trip (600 ms) is longer than the time between updates. Push and
#   SSE still deliver every update one trip late. The pollers *skip* most updates: each answer
#   brings only the latest, so the few updates they see look fresh, and the rest never reach
#   the page. Read the *skipped* column next to the latency.
#
# ### Long polling when updates come faster than a round trip
#
# Long polling is as quick as push while a request is waiting. After each answer, though, no
# request waits at the server for at least one round trip (the answer travels to the page,
# the next question travels back), and an update that appears in that gap waits for it. Under
# `4g` a round trip is 60 ms; here updates come every 25 ms:

# %% tags=["nbval-ignore-output"]
fast = await asyncio.wait_for(experiments.compare_polling(
    server, updates=5, interval_ms=25, network="4g", methods=["long polling", "websocket"]), 30)
fast

# %%
long_, push = fast["long polling"], fast["websocket"]
print("under 4g, an update every 25 ms:")
print("  push saw every update:", push.skipped == 0)
print("  long polling skipped updates (they came while no request was waiting):", long_.skipped > 0)
print("  long polling: at least one request per update seen:", long_.requests_per_update >= 1)
print("  long polling: request + response heads per request, over 200 bytes:", long_.header_bytes_per_request > 200)
print("  push: frame header bytes per update:", push.overhead_bytes_per_update)

# %% [markdown]
# So long polling loses in three places, each measured above: after every answer, for at least
# a round trip, nothing waits at the server, and updates in that gap are late or skipped; every
# update carries a request head and a response head, hundreds of bytes (notebook 06); and
# every update needs a request of its own, each holding an HTTP/1.1 connection while it waits
# (browsers open at most about six per host: *High Performance Browser Networking*, chapter 11,
# "Using Multiple TCP Connections"; a server holds one open for every waiting client).
#
# ### On your own: when has the handshake paid for itself?
#
# A WebSocket pays for its handshake (the Upgrade request and the 101 answer) once, then a few
# bytes of frame header per update; short polling pays a request head and an answer head for
# every update. After how many updates has the WebSocket cost no more overhead than short
# polling? Work it out from what was measured above under `lan` (the cell below names those
# rows `push` and `short`): `push.connections[0].summary()` is the tap's count for the whole
# WebSocket connection, handshake included, and each row has its `overhead_bytes_per_update`
# (the updates themselves cost both the same, so leave them out).

# %%
rows = measured["lan"]
push, short = rows["websocket"], rows["short polling"]
updates = None  # your turn: a whole number of updates
ok = exercises.check_payback(updates, rows)

# %% [markdown]
# Stuck? `exercises.solution("payback")`.
#
# ## Summary
#
# - After the handshake, either side of a WebSocket may send at any time: the server speaks
#   first, unasked, and a client with nothing to say sends nothing.
# - Both directions flow at once on one TCP connection (full duplex); the frames of the two
#   sides interleave on the wire.
# - Measured under `lan`, `4g` and `satellite`: push and server-sent events deliver every
#   update one trip after it exists; a short poller adds its wait for the next poll (up to a
#   whole interval). Long polling is as quick as push while a request is waiting at the
#   server, but skips or delays updates that come within a round trip of each other, and
#   needs a new request, with its headers, for every update.
#
# **Next:** [05 · Build real-time apps](05-build-realtime-apps.ipynb): a chat room, shared
# cursors, a live dashboard and a classroom, all on this server.

# %%
await asyncio.wait_for(server.stop(), T)
print("server stopped:", server)
