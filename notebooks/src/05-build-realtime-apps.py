# Source of notebooks/05-build-realtime-apps.ipynb (build: .venv/bin/python scripts/build_notebooks.py 05)

# %% [markdown]
# # 05 · Build real-time apps
#
# Chat rooms, games in the browser, live auctions, editors where several people type at once,
# sports tickers and dashboards all existed before WebSockets, built on long polling,
# streaming (Comet; notebook 01) or browser plugins. A line that stays open both ways, with a
# few bytes of framing per message, made them cheaper to run and quicker to react (notebook
# [04](04-talk-both-ways.ipynb) measures it: under `4g`, 30 ms one way, a pushed update
# arrives one trip after it exists, where a short poller adds its wait for the next poll).
# They share one shape: **when something happens on one side, everybody else is told without
# asking, one network trip later**. The lab's server has
# three small apps of that shape, each with a browser page; here you drive them from the kernel
# and from your browser, then see how a teacher runs them for a whole class.
#
# **You will**
# - run a chat room with two kernel clients, and join it from your browser;
# - see that hostile chat text arrives exactly as sent, and display it safely;
# - move shared cursors, the part of multiplayer games and shared editors that is pure relay;
# - build a live dashboard that the server keeps current;
# - start classroom mode, and see what students open.
#
# **You need** notebook [04](04-talk-both-ways.ipynb) (push, full duplex) and about 15 minutes.

# %%
import asyncio
import html
import json

import ipywidgets as W
from IPython.display import HTML, display

import wsdemo
from wsdemo import exercises, wire
from wsdemo.ui import ConnectionsPanel

T = 5  # seconds: every await below gives up after this, so a broken server cannot hang the notebook

server = await asyncio.wait_for(wsdemo.serve(), T)
server

# %% [markdown]
# ## A chat room
#
# `/chat?name=...` is one room. Everyone in it gets every message, plus a notice when someone
# joins or leaves, as small JSON objects. Ada and Grace join from this kernel:

# %%
def line(event):
    """One chat event as a line of text (the time stamp left out)."""
    if event["type"] == "message":
        return f"{event['name']}: {event['text']}"
    return f"* {event['name']} {event['type']}s (in the room: {', '.join(event['users'])})"


async def hear(client, n):
    """The next n chat events this client receives."""
    return [line(json.loads(await client.recv(timeout=T))) for _ in range(n)]


ada = await asyncio.wait_for(server.connect("/chat?name=Ada"), T)
print("Ada hears:", *await hear(ada, 1), sep="\n  ")
grace = await asyncio.wait_for(server.connect("/chat?name=Grace"), T)
print("Ada hears:", *await hear(ada, 1), sep="\n  ")
print("Grace hears:", *await hear(grace, 1), sep="\n  ")

# %% [markdown]
# Ada says something. She sent one frame; the server sent one frame to each member of the room,
# Ada included, without anyone asking for it:

# %%
await ada.send("Hello, Grace!")
print("Ada hears:  ", *await hear(ada, 1))
print("Grace hears:", *await hear(grace, 1))

# %% [markdown]
# ### Join from your browser
#
# Open this page in a new browser tab, type a name and say hello (on Binder or JupyterHub, use
# the notebook's own address with `proxy/PORT/chat.html` at the end instead):

# %%
print(server.http_url("/chat.html?name=you"))

# %% [markdown]
# Then run the next cell: it prints what Ada has heard since (your join notice and your
# messages; nothing, if nobody joined). Run it again after each message you send.

# %% tags=["nbval-ignore-output"]
async def listen(client, seconds):
    heard = []
    try:
        while True:
            heard.append(line(json.loads(await client.recv(timeout=seconds))))
    except asyncio.TimeoutError:
        return heard


heard = await listen(ada, 1)
print("\n".join(heard) or "(nothing: nobody joined yet)")

# %% [markdown]
# ### Text from strangers
#
# Chat text comes from anyone. Grace (or someone pretending to be her) sends HTML with a
# script in it. The server keeps every name and message **exactly as sent**; it is the job of
# whatever *displays* them to escape them, so that they show as text and never run:

# %%
hostile = "<img src=x onerror=alert('hacked')> ha!"
await grace.send(hostile)
event = json.loads(await ada.recv(timeout=T))
print("arrived exactly as sent:", event["text"] == hostile)
print("escaped for display:    ", html.escape(event["text"]))
display(HTML(f"<b>{html.escape(event['name'])}</b>: {html.escape(event['text'])}"))

# %% [markdown]
# The line above shows the markup as characters; no image tag was created, so nothing ran. The
# browser pages do the same with `textContent`, and the course's widgets escape everything
# from the wire.
#
# ### On your own: show chat lines safely
#
# The page's script finds each member's lines by a `data-name` attribute, so a chat line is
# `<li data-name="NAME"><b>NAME</b>: TEXT</li>`. Write `render(name, text)` returning that line,
# where the name and the message show exactly as sent, in the attribute and in the text, and
# none of it can run. The check feeds it hostile names and messages: think about what a name
# can do *inside an attribute* that it cannot do in text.

# %%
render = None  # your turn: def render(name, text): return ...
ok = exercises.check_escape(render)

# %% [markdown]
# Stuck? `exercises.solution("escape")`.
#
# Grace leaves; the room tells Ada, unasked:

# %%
await asyncio.wait_for(grace.close(), T)
print("Ada hears:", *await hear(ada, 1))
await asyncio.wait_for(ada.close(), T)

# %% [markdown]
# ## Shared cursors
#
# Multiplayer games and shared editors start here: each player's position goes to all the
# others, many times a second. It is only the start. A shared editor must also merge edits
# that cross on the wire, so that everyone ends with the same text: that is the job of
# operational transformation (OT) or of CRDTs, not of the connection. A fast game suffers from
# TCP's head-of-line blocking: one lost packet holds up every message behind it (*High
# Performance Browser Networking*, chapter 2, "Head-of-Line Blocking"). That is why many use
# WebRTC data channels, which can drop a late message instead (chapter 18, "Configuring
# Message Order and Reliability"), or, lately, WebTransport.
# On `/cursors`, a client sends `{"x": ..., "y": ...}` as fractions of the canvas. The server
# does not pass each move on at once: like a game server, it works in *ticks*, 20 a second
# (`serve(cursor_tick_hz=...)`). At each tick every member gets one frame,
# `{"type": "moves", "tick": n, "moves": [{"id", "name", "x", "y"}, ...]}`, carrying the
# latest position of every cursor that moved since the last tick, the receiver's own too (the
# same frame goes to everyone, encoded once; a page skips its own id). Why: with 30 students
# each moving 30 times a second, one frame per move to each of the others would be
# 30 × 29 × 30 = 26,100 frames a second; with ticks it is 30 × 20 = 600, whatever the speed
# of the hands. `tick` counts up, so a client can tell the order of what it draws.
#
# Here Ann moves along a path, one move per tick (she waits for the tick that carries it):

# %%
ann = await asyncio.wait_for(server.connect("/cursors?name=Ann"), T)
bob = await asyncio.wait_for(server.connect("/cursors?name=Bob"), T)
hello_ann, hello_bob = json.loads(await ann.recv(timeout=T)), json.loads(await bob.recv(timeout=T))
print("ids:", hello_ann, hello_bob)

path = [(0.1, 0.2), (0.3, 0.4), (0.5, 0.5), (0.7, 0.4), (0.9, 0.2)]
seen = []
for x, y in path:
    await ann.send_json({"x": x, "y": y})
    tick = json.loads(await bob.recv(timeout=T))  # the next tick frame carries it
    seen += [(m["x"], m["y"]) for m in tick["moves"]]
print("Bob saw Ann at:", seen)
print("the last tick frame:", {**tick, "tick": "n"})

# %% [markdown]
# Now the same five moves sent at once, as a fast hand does between two ticks: Bob gets fewer
# frames than moves, and the last one carries Ann's latest position. Nothing is lost that a
# screen would show: it only ever draws where a cursor is now.

# %%
for x, y in reversed(path):
    await ann.send_json({"x": x, "y": y})
frames = []
while not frames or frames[-1]["moves"][-1]["x"] != path[0][0]:
    frames.append(json.loads(await bob.recv(timeout=T)))
last = frames[-1]["moves"][-1]
print(f"5 moves, {'fewer frames' if len(frames) < 5 else f'{len(frames)} frames'}; "
      f"Ann's last position: {(last['x'], last['y'])}")

# %% [markdown]
# What Bob's screen would draw, as text (a 30 × 7 canvas; A marks Ann's positions):

# %%
def draw(points, width=30, height=7):
    canvas = [["·"] * width for _ in range(height)]
    for x, y in points:
        canvas[min(int(y * height), height - 1)][min(int(x * width), width - 1)] = "A"
    return "\n".join("".join(row) for row in canvas)


print(draw(seen))

# %% [markdown]
# Open the cursors page in two browser windows side by side and move the mouse in one: the
# other follows. The kernel's Ann is on the same server, so Ann's next moves show up there too.

# %%
print(server.http_url("/cursors.html"))

# %%
await asyncio.wait_for(ann.close(), T)
await asyncio.wait_for(bob.close(), T)

# %% [markdown]
# ## A live dashboard
#
# A dashboard shows numbers that change on the server: prices, scores, sensor readings,
# delivery vans. With push, the page never asks; it redraws whenever a frame arrives. Here the
# dashboard is a widget in this notebook, kept current from `/ticker` for 15 updates (one
# every 100 ms). A background loop sets the widget's value; it never prints.

# %% tags=["nbval-ignore-output"]
server.app_state.ticker_interval_ms = 100
board = W.HTML(value="waiting for the first price…")
display(board)

BARS = "▁▂▃▄▅▆▇█"


def sparkline(prices):
    low, high = min(prices), max(prices)
    return "".join(BARS[int((p - low) / (high - low or 1) * (len(BARS) - 1))] for p in prices)


async def dashboard(n=15):
    feed = await server.connect("/ticker")
    prices = []
    try:
        while len(prices) < n:
            update = json.loads(await feed.recv(timeout=T))
            prices.append(update["price"])
            board.value = (f"<b>{html.escape(update['symbol'])}</b> {update['price']:.2f} "
                           f"<span style='font-family:monospace'>{sparkline(prices)}</span> "
                           f"(update {update['seq']})")
    finally:
        await feed.close()
    return feed


feed = await asyncio.wait_for(dashboard(), 30)

# %% [markdown]
# The widget changed 15 times, and the kernel's client never sent a single data frame to make
# that happen:

# %%
s = feed.connection.summary()
print("updates pushed by the server, at least 15:", s.server.messages >= 15)
sent = [e for e in feed.connection.events if isinstance(e, wire.MessageEvent) and e.sender == "client"
        and e.message.kind in ("text", "binary")]
print("messages sent by the client:", len(sent))

# %% [markdown]
# The lab's ticker page is the same dashboard for a browser:

# %%
print(server.http_url("/ticker.html"))

# %% [markdown]
# ## Classroom mode
#
# In a class, every student's browser joins the teacher's server. The teacher runs, in a
# notebook on a machine the students can reach:
#
# ```python
# server = await wsdemo.serve(host="0.0.0.0", classroom=True)
# # under the cell: the join card, with the teacher's LAN address, the token and a QR code
# ```
#
# `host="0.0.0.0"` listens on every network interface, not only on this machine. Because
# anyone on the network could then connect, classroom mode asks every connection for a
# **join token**, limits how many messages per second each connection may send, and keeps
# checking Origin. Students open the join link (or scan it as a QR code) on a laptop or phone:
# the chat, cursors and ticker pages work as above, and the teacher's `ConnectionsPanel` and
# `FrameInspector` show every student's frames live on the projector.
#
# Here we run it on this machine only (`127.0.0.1`), which is all a notebook on your own
# computer needs. A classroom server shows its **join card** under the cell: the link and its
# QR code (drawn offline), for the projector and the students' phones. (Live: the port and
# token change every run.)

# %% tags=["nbval-ignore-output"]
classroom = await asyncio.wait_for(wsdemo.serve(host="127.0.0.1", classroom=True), T)

# %% [markdown]
# Starting a new server stopped the one running before; `classroom.join_card()` shows the card
# again at any time.

# %%
print("the previous server is stopped:", "stopped" in repr(server))
print("students open:", classroom.join_url("/chat.html"))

# %% [markdown]
# Without the token, the server refuses the handshake; with it (the kernel's client adds it
# for you), a student is in:

# %%
from tornado.httpclient import HTTPClientError
from tornado.websocket import websocket_connect

try:
    await asyncio.wait_for(websocket_connect(classroom.url("/chat?name=intruder")), T)
except HTTPClientError as error:
    print("without the token:", error.code, error.message)

student = await asyncio.wait_for(classroom.connect("/chat?name=student"), T)
print("with the token:", line(json.loads(await student.recv(timeout=T))))

# %% [markdown]
# The teacher's view of every connection, open and closed (live):

# %% tags=["nbval-ignore-output"]
ConnectionsPanel(classroom.tap)

# %% [markdown]
# ## Summary
#
# - Chat, shared cursors and dashboards are the same pattern: one client's message, or one
#   change on the server, is pushed to everyone else over open connections, without a request
#   (one network trip late: notebooks 04 and 06 measure it under named conditions).
# - Text from the wire is kept as sent and escaped wherever it is displayed.
# - Classroom mode opens the server to a network, behind a join token, a rate limit and Origin
#   checks; students only need the join link.
#
# **Next:** [06 · Measure polling vs WebSockets](06-measure-polling-vs-websockets.ipynb):
# what all this would cost with polling, measured and projected to 100,000 clients.

# %%
await asyncio.wait_for(student.close(), T)
await asyncio.wait_for(classroom.stop(), T)
print("server stopped:", classroom)
