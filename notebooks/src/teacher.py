# Source of notebooks/teacher.ipynb (build: .venv/bin/python scripts/build_notebooks.py teacher)
# Built and tested like the course notebooks; under the builder and nbval the server listens on
# loopback only, on a free port (KERNEL_ENV in scripts/build_notebooks.py, notebooks/conftest.py).

# %% [markdown]
# # Teacher · a 45-minute WebSocket lesson, live
#
# This notebook runs the class. Your laptop serves the pages; your students open a link (or
# scan a QR code) on their phones or laptops, chat and move cursors; the projector shows every
# connection and every frame they send, decoded live. Run it top to bottom (*Run All* is
# safe: nothing stops the server until you say so), then follow the plan below, one section at
# a time. What to say is in the *Say* lines; put it in your own words.
#
# | time | section | what the class sees |
# |---|---|---|
# | before | Before class | (nothing: you check the room's network) |
# | 0:00–0:05 | 1. Join | the join card; phones connect |
# | 0:05–0:10 | 2. The projector | one row per phone, frames arriving |
# | 0:10–0:17 | 3. A handshake, picked apart | the HTTP Upgrade and the 101 answer |
# | 0:17–0:27 | 4. Chat and cursors | their own messages as frames |
# | 0:27–0:32 | 5. The server speaks first | the ticker: pushed, never asked for |
# | 0:32–0:37 | 6. Polling vs WebSocket | notebook 06's measurements |
# | any time | 7. Moderation | a kicked or muted student, a new link |
# | 0:37–0:45 | 8. Wrap-up and homework | the self-study notebooks |
#
# The README's section **In a classroom** is the runbook: what to do when a student cannot join.

# %% [markdown]
# ## Before class
#
# **The day before, on the laptop and network you will teach with:**
#
# 1. **Pick a fixed port** (8765 below) and, if you may have to restart during class, a
#    **fixed token**: the join link stays the same after a restart, and open pages reconnect
#    by themselves. A token is 8 to 64 letters, digits, `-` or `_`.
# 2. **Check the network** from a terminal on that laptop:
#    `python -m wsdemo classroom-check` (a test listener stands in for the server), or with
#    this notebook running, `python -m wsdemo classroom-check --port 8765`. Fix each line
#    marked `PROBLEM`; for each `[check]` line about a firewall, run the command it prints
#    (and note it, to undo it after class).
# 3. **Try the link on your own phone**, on the room's Wi-Fi. If the laptop opens it but the
#    phone does not, the Wi-Fi keeps its devices apart (usual on guest, school and hotel
#    networks): bring a phone hotspot and join the laptop and the students to it.
# 4. If the join card's address belongs to Docker, a VPN or VirtualBox (the card labels those
#    "virtual"), set `JOIN_HOST` below to the Wi-Fi address it lists.
#
# **Not on JupyterHub or Binder:** there, the server runs in a kernel on the hub, which only
# your own browser can reach (through the notebook's proxy). Run this notebook on a laptop on
# the room's network instead (`make lab`).
#
# The settings: `HOST` is where the server listens (`0.0.0.0`: every interface, so the room
# can reach it); the `WSDEMO_CLASSROOM_HOST` and `WSDEMO_CLASSROOM_PORT` environment variables
# override `HOST` and `PORT` (the course's tests use them to listen on this machine only).

# %%
import asyncio
import json
import logging
import os

from IPython.display import HTML, display

import wsdemo
from wsdemo import wire
from wsdemo.live.server import ServerBusy
from wsdemo.ui import ConnectionsPanel, FrameInspector, HandshakeView, ModerationPanel

HOST = os.environ.get("WSDEMO_CLASSROOM_HOST", "0.0.0.0")  # every interface: the room can reach it
PORT = int(os.environ.get("WSDEMO_CLASSROOM_PORT", "8765"))  # fixed: the one port a firewall must allow
TOKEN = None      # or a fixed one, e.g. "our-class-2026": the join link then survives a restart
JOIN_HOST = None  # or this laptop's Wi-Fi address, e.g. "192.168.1.23", when the card picks a wrong one

T = 10  # seconds: every await below gives up after this
logging.getLogger("tornado.access").setLevel(logging.ERROR)  # refused joins are not news here

# %% [markdown]
# ## 1. Join
#
# *0:00–0:05*
#
# Put this on the projector. The card shows the join link and its QR code; the link carries
# the class's join token: only people who have the link can join.
#
# *Say:* "Open your phone's camera and scan the code, or type the link. Pick a name and say
# hello in the chat. Your phone is about to open a WebSocket to my laptop, and we are going to
# watch every byte of it."
#
# If you run this cell again while the class is on, it keeps the running server (and every
# student on it) and shows its card again: a classroom server stops only when you stop it. To
# change `PORT` or `TOKEN`, stop it first (the last section says how), then run this again.

# %%
try:
    server = await asyncio.wait_for(wsdemo.serve(host=HOST, port=PORT, classroom=True,
                                                 token=TOKEN, join_host=JOIN_HOST), T)
except ServerBusy as busy:  # Run All again: keep the class's server, its link and its students
    server = busy.server
    display(server.join_card())

# %% [markdown]
# The card's *other addresses* (when there are any) are for a student whose phone cannot open
# the first link; `server.join_card()` shows the card again at any time, and
# `server.join_card("/cursors.html")` the card of another page.
#
# **Your own tab.** The link below opens the chat as *Teacher*, a name the server keeps for
# you (a student who tries it is refused). Its token is yours, not the class's: open it, but
# do not project it or post it.

# %%
display(HTML(f"<a href='{server.teacher_url('/chat.html?name=Teacher')}' target='_blank'>"
             "Open the chat as Teacher (your own tab)</a>"))

# %% [markdown]
# ## 2. The projector
#
# *0:05–0:10*
#
# **Who is connected**: one row per connection, in large text for the back of the room, the one
# that sent something last on top: its page or endpoint, open or closed, frames and bytes each
# way. The `#` is the connection's number, used below to pick one.
#
# *Say:* "Each row is one of you. When you send something, your row jumps to the top. Watch
# the byte counts: a chat message costs its text, a little JSON around it and a frame header
# of a few bytes, not a whole HTTP request."

# %%
panel = ConnectionsPanel(server.tap, large=True, max_rows=12)
panel

# %% [markdown]
# **What they send**: every frame of every connection, newest at the bottom; pick one to see
# its bits and bytes. It follows the latest 12 rows, so the newest is always on screen. The
# buttons above the table do what the methods below do:
#
# - **Pause** (`inspector.pause()`) freezes the table while frames keep being recorded, so you
#   can point at one; **Resume** (`inspector.resume()`) catches up.
# - **Who** (`inspector.filter_who(student="Ada")`, or `connection=7`) shows one student's
#   frames, or one connection's; `inspector.filter_who()` shows everyone again.
# - **follow the latest** (`inspector.follow(12)`; `inspector.follow(None)` to scroll freely).

# %%
inspector = FrameInspector(server.tap, max_rows=500)
inspector.follow(12)
inspector

# %% [markdown]
# **Can the room reach it?** Checked from this laptop: its address, the port, the firewall,
# and what to do when the Wi-Fi keeps its clients apart (the same as
# `python -m wsdemo classroom-check --port 8765`). Its test connection shows in the panel above
# as one more closed connection, without bytes. (Live: it depends on this machine.)

# %% tags=["nbval-ignore-output"]
server.check_classroom()

# %% [markdown]
# ## 3. A handshake, picked apart
#
# *0:10–0:17*
#
# Every WebSocket starts as an ordinary HTTP request that asks to *upgrade*. The kernel
# opens one here, says hello, and closes it, so there is always a handshake to show, even
# before anyone has joined. Read it top to bottom with the class:
#
# - the request: `GET`, `Upgrade: websocket`, `Connection: Upgrade`, a random
#   `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`; the token in the link shows as `*`:
#   the tap keeps no join token, so the projector never shows one;
# - the answer: `101 Switching Protocols`, and `Sec-WebSocket-Accept`, computed from the key
#   (the view recomputes it from the key, step by step, and shows ✓ when it matches);
# - after that, no more HTTP on this connection: frames, in both directions.
#
# *Say:* "Your browser did exactly this when you opened the page. From this line on, the same
# TCP connection stops speaking HTTP."
#
# To pick apart a student's handshake instead, take the `#` of their row in the panel above:
# `HandshakeView(next(c for c in server.tap.connections if c.id == 7))`.

# %%
hello = await asyncio.wait_for(server.connect("/echo?name=Teacher"), T)
await asyncio.wait_for(hello.send("Hello, class!"), T)
print("the echo answered:", await hello.recv(timeout=T))
await asyncio.wait_for(hello.close(), T)
hello.connection.flush()  # the tap decodes in batches: take what it has now
HandshakeView(hello.connection)

# %% [markdown]
# The same connection, alone in the inspector: the Who filter by name. The two HTTP heads,
# two text frames (the greeting, its echo), then the closing handshake, one Close frame each
# way. The client's frames are masked (each with its own random key); the server's are not.

# %%
inspector.filter_who(student="Teacher")
for row in inspector.visible_rows():
    print("→ client" if row.sender == "client" else "← server",
          row.frame if row.frame is not None else f"{row.label} {row.preview}")

# %% [markdown]
# Back to everyone:

# %%
inspector.filter_who()
inspector.who

# %% [markdown]
# ## 4. Chat and cursors
#
# *0:17–0:27*
#
# The join link opens the chat. Let the room talk for a few minutes; then **pause** the
# inspector, pick a student's message, and show its frame: the header's bits (FIN, opcode 1
# for text, MASK, the length), the 4-byte masking key, the payload unmasked.
#
# *Say:* "Who wants to see their own message? Say your name: I filter on it." Then "Notice
# that your messages are masked and mine are not: browsers must mask, servers must not."
#
# If someone sends HTML or a script, show it: it arrives exactly as sent and is shown as text,
# never run (notebook 05 explains why).
#
# Then the **cursors** page: everybody moves a finger over the canvas and sees everyone
# else's dot move (each shows as a guest number there; names belong to the chat). Show its
# card, and the frames: a small JSON message per move, up to 16 a second from each phone,
# each relayed to everyone else. (`server.join_card("/")` links a page that lists them all.)

# %%
inspector.pause()  # the table stands still; frames keep being recorded
inspector.paused

# %%
inspector.resume()  # catches up with everything recorded meanwhile
server.join_card("/cursors.html")

# %% [markdown]
# ## 5. The server speaks first
#
# *0:27–0:32*
#
# With HTTP, the server only ever answers. On a WebSocket it can speak whenever it has news.
# The ticker pushes a price every second to everyone who opens it; nobody asks. Give the class
# the ticker link (`server.join_card("/ticker.html")`), and show its frames: all `← server`.
#
# The kernel listens to the ticker for three updates here, and counts what it sent to get them:

# %%
feed = await asyncio.wait_for(server.connect("/ticker"), T)
updates = [json.loads(await feed.recv(timeout=T)) for _ in range(3)]
await asyncio.wait_for(feed.close(), T)
feed.connection.flush()
asked = [e for e in feed.connection.events if isinstance(e, wire.MessageEvent)
         and e.sender == "client" and e.message.kind in ("text", "binary")]
print("updates the server pushed:", len(updates))
print("messages the kernel sent to ask for them:", len(asked))

# %% [markdown]
# *Say:* "Three prices arrived, and the client never asked. With HTTP, it would have had to
# ask again and again: that is polling."
#
# ## 6. Polling vs WebSocket
#
# *0:32–0:37*
#
# Open [06 · Measure polling vs WebSockets](06-measure-polling-vs-websockets.ipynb) (run it
# beforehand; it takes a few seconds) and show, without re-deriving them:
#
# - *The measurement*: the table of bytes and latency per update for short polling, long
#   polling and a WebSocket, all measured by the tap on your laptop;
# - *Projected to many clients*: the same figures multiplied to 1,000, 10,000 and 100,000
#   clients, next to Lubbers and Greco's classic table;
# - *Where our figures differ from the published ones, and why*.
#
# *Say:* "Each poll carries a whole HTTP request and answer, news or not. A pushed update
# carries a frame header of a few bytes. Multiply by a hundred thousand users." Quote the
# figures from 06 as it shows them on your laptop.

# %% [markdown]
# ## 7. Moderation
#
# *Any time, and a minute to show it*
#
# Keep this panel at hand all lesson (it works wherever it is in the notebook: scroll to it,
# or drag it to its own view with the cell's context menu, *Create New View for Cell
# Output*, in JupyterLab). Pick a connection, then:
#
# - **Kick** closes it with code **1008** and your reason, shown on the student's page; that
#   page does not reconnect by itself (a reload rejoins; for someone who keeps coming back,
#   make a new link).
# - **Mute name** refuses that name's chat messages, with a note to them only; **Unmute**.
# - **Keep the name "Teacher" for me** is on from the start: only your own connections (your
#   tab, this kernel) may use it.
# - **New join link** makes a new token: everyone on the old link is closed with **4001**
#   ("the join token changed") and must scan the new card. Use it when the link has leaked
#   outside the room.
#
# Every action shows in the inspector: a Close frame with its code, or the muted student's
# error message. The same from a cell:
#
# ```python
# server.participants()              # who is connected: #, page, name, address
# server.kick(7, "off topic")        # by the # in the panel; or server.kick("Eve"): every connection named Eve
# server.mute("Bob"); server.unmute("Bob")
# server.lock_name("Teacher"); server.unlock_name("Teacher")
# server.rotate_token()              # the new card; old links closed with 4001
# ```
#
# (Live: the panel lists who is connected now.)

# %% tags=["nbval-ignore-output"]
moderation = ModerationPanel(server)
moderation

# %%
print('the name "Teacher" is kept for you:', server.is_locked("Teacher"))

# %% [markdown]
# ## 8. Wrap-up and homework
#
# *0:37–0:45*
#
# *Say:* "Today you saw a WebSocket from the outside in: one HTTP request that upgrades, then
# small frames both ways, masked by your browsers; a server that speaks without being asked;
# and what that saves over polling. Next, you take it apart yourselves."
#
# **Assign** the self-study notebooks (each 10 to 20 minutes, with exercises that check the
# answers and give hints); they run on the students' own laptops (`make lab`, or Binder):
#
# | notebook | for |
# |---|---|
# | [00 Start here](00-start-here.ipynb) | everyone, first: checks the set-up |
# | [01 Compare letters and phone calls](01-compare-letters-and-phone-calls.ipynb) | HTTP requests and polling, byte by byte |
# | [02 Open the handshake](02-open-the-handshake.ipynb) | the Upgrade of section 3, by hand |
# | [03 Decode frames](03-decode-frames.ipynb) | the frames of section 4, bit by bit |
# | [04 Talk both ways](04-talk-both-ways.ipynb) | server push and full duplex (section 5) |
# | [05 Build real-time apps](05-build-realtime-apps.ipynb) | chat, cursors, a dashboard, safe display |
# | [06 Measure polling vs WebSockets](06-measure-polling-vs-websockets.ipynb) | section 6, measured on their own laptop |
# | [07 Build your own server](07-build-your-own-server.ipynb) | a WebSocket server in a page of Python (going further) |
#
# A short assignment: 00, 02 and 03 (the handshake and the frames you showed). A longer one:
# 00 to 06, with 07 for those who want more.

# %% [markdown]
# ## After class: stop the server
#
# Nothing in this notebook stops the server, so that *Run All* never drops a class. When the
# lesson is over, run this in a new cell:
#
# ```python
# await asyncio.wait_for(server.stop(), T)
# ```
#
# Every page is closed with code 1001 ("going away") and keeps retrying until the student
# closes it; restarting the kernel stops the server too. Then, if the link was posted
# anywhere, change `TOKEN` (or leave it `None`) before the next class, and remove any
# firewall rule you added for the lesson.
