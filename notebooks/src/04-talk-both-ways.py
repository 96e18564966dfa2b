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
# - measure how late news arrives by push, by long polling and by short polling.
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
# Pushing saves requests, and it also saves time. `experiments.compare_polling` follows the
# same feed three ways at once, each on its own connection through the tap, until each has
# 5 new updates (a new price every 100 ms):
#
# - **short polling** asks `GET /poll` every 100 ms: "anything new?";
# - **long polling** asks `GET /longpoll`, and the server holds the request until there is news;
# - **websocket** just listens on `/ticker`.
#
# Latency runs from the moment the server produced an update to the moment the client has it.
# All three run on this machine, so there is no network delay here: the differences come from
# the way each method works. One choice is ours: the short poller asks half an interval after
# each update is due, the *average* case. A real page's polls fall anywhere between two
# updates, so it learns of each from at once to a whole interval late.

# %% tags=["nbval-ignore-output"]
rows = await asyncio.wait_for(experiments.compare_polling(server, updates=5, interval_ms=100), 30)
rows

# %% [markdown]
# A short poller asks at times that have nothing to do with when news appears, so on average
# it learns of an update half a polling interval late. Long polling and push hear at once here,
# because a long poll is already waiting when each update appears; long polling then pays for
# a new request after every update. Rounded into statements that hold on any machine:

# %%
short, long_, push = rows["short polling"], rows["long polling"], rows["websocket"]
print("every method got 5 updates, in order:", all(r.updates == 5 and r.seqs == sorted(r.seqs) for r in rows))
print("push is faster than short polling:", push.median_latency_ms < short.median_latency_ms)
print("long polling is faster than short polling:", long_.median_latency_ms < short.median_latency_ms)
print("requests the push client sent per update:", push.requests_per_update)
print("short polling needed at least one request per update:", short.requests_per_update >= 1)

# %% [markdown]
# On a real network, where would the methods part? A push travels one way, server to page.
# So does an update that finds a long poll already waiting at the server: the question was
# sent in advance. Long polling loses elsewhere:
#
# - after each answer, no question waits at the server for at least one round trip (the answer
#   travels to the page, the next question travels back), and an update that appears in that
#   gap waits for the next question: this matters when updates come close together;
# - every update carries a request head and a response head, hundreds of bytes (notebook 06);
# - every update needs a request of its own, and a held request ties up a whole HTTP/1.1
#   connection while it waits: browsers open at most about six per host (*High Performance
#   Browser Networking*, chapter 11, "Using Multiple TCP Connections"), and a server holds
#   one open for every waiting client.
#
# A short poller, in turn, learns of news only when its next question reaches the server.
# These runs were on one machine; they measure how each method works, not a network's delays.
#
# ### On your own: when has the handshake paid for itself?
#
# A WebSocket pays for its handshake (the Upgrade request and the 101 answer) once, then a few
# bytes of frame header per update; short polling pays a request head and an answer head for
# every update. After how many updates has the WebSocket cost no more overhead than short
# polling? Work it out from what was measured above: `push.connections[0].summary()` is the
# tap's count for the whole WebSocket connection, handshake included, and each row has its
# `overhead_bytes_per_update` (the updates themselves cost both the same, so leave them out).

# %%
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
# - Push delivers news as soon as it exists; short polling delivers it half a polling interval
#   late on average. Long polling is as quick as push while a request is waiting at the server,
#   but needs a new request, with its headers, for every update.
#
# **Next:** [05 · Build real-time apps](05-build-realtime-apps.ipynb): a chat room, shared
# cursors, a live dashboard and a classroom, all on this server.

# %%
await asyncio.wait_for(server.stop(), T)
print("server stopped:", server)
