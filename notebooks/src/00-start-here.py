# Source of notebooks/00-start-here.ipynb (build: .venv/bin/python scripts/build_notebooks.py 00)

# %% [markdown]
# # 00 · Start here
#
# HTTP is built on questions and answers: the browser asks, the server replies. A server
# can keep a reply open and trickle news down it, and pages did so for years (notebook 01
# tells how), but it can never send an answer nobody asked for. WebSockets gave every page a
# better line. One HTTP request asks to *upgrade*, and from then on the same connection
# stays open, either side can speak at any moment, and each message costs a few bytes of
# framing instead of a set of HTTP headers. Chat, shared documents, live scores, multiplayer
# games in a browser tab: they can all run on that open line.
#
# This course does not ask you to take that on trust. A real WebSocket server runs inside
# your notebook, behind a recording **tap**, and every byte that any client exchanges with it
# is decoded in front of you.
#
# **In this notebook you will** check that your set-up works, then watch a first WebSocket
# conversation, byte for byte, in about 30 seconds.
#
# **You need** nothing but this notebook running in JupyterLab (`make lab`).
#
# ## The course
#
# | notebook | you will |
# |---|---|
# | **00 Start here** | check the set-up; a 30-second live demo |
# | [01 Compare letters and phone calls](01-compare-letters-and-phone-calls.ipynb) | count an HTTP request's bytes; run short and long polling |
# | [02 Open the handshake](02-open-the-handshake.ipynb) | read a real Upgrade; compute `Sec-WebSocket-Accept` by hand; break handshakes |
# | [03 Decode frames](03-decode-frames.ipynb) | decode frames bit by bit: masking, lengths, fragments, ping/pong, close, compression |
# | [04 Talk both ways](04-talk-both-ways.ipynb) | let the server speak first; stream both ways at once |
# | [05 Build real-time apps](05-build-realtime-apps.ipynb) | chat, shared cursors, a live dashboard, classroom mode |
# | [06 Measure polling vs WebSockets](06-measure-polling-vs-websockets.ipynb) | measure bytes and latency per update; project to 100,000 clients |
# | [07 Build your own server](07-build-your-own-server.ipynb) | a tiny WebSocket server on raw asyncio with `wsdemo.wire` |
# | [08 Leave localhost](08-leave-localhost.ipynb) | TLS on the wire, subprotocols, idle proxies and heartbeats, reconnection, backpressure, hijacking |
# | [09 Serve millions](09-serve-millions.ipynb) | what one connection costs; two servers on one Redis; how many machines a million users need |
#
# Each notebook keeps to one idea, runs top to bottom with *Run → Restart Kernel and Run All
# Cells*, and ends with exercises under **On your own** whose checks give you hints.

# %% [markdown]
# ## 1. Check the set-up
#
# Every line should start with ✓. A ✗ says what to install.

# %%
from wsdemo import exercises

ok = exercises.check_environment()

# %% [markdown]
# ## 2. A WebSocket conversation in 30 seconds
#
# **Serve.** `wsdemo.serve()` starts a Tornado WebSocket server on this kernel's event loop,
# behind the tap, and returns as soon as it listens. (Cells can `await`: JupyterLab runs
# them on that same loop. Each `await` here gives up after `T` seconds rather than hang.)

# %%
import asyncio

import wsdemo
from wsdemo import diagrams, wire
from wsdemo.ui import FrameInspector

T = 5  # seconds

server = await asyncio.wait_for(wsdemo.serve(), T)
server

# %% [markdown]
# **Connect.** A client in this kernel opens a WebSocket to the `/echo` endpoint, through the
# tap: that is the HTTP Upgrade handshake (notebook 02).

# %%
client = await asyncio.wait_for(server.connect("/echo"), T)
client

# %% [markdown]
# **Send.** The client sends a text message; the echo endpoint sends it straight back.

# %%
await asyncio.wait_for(client.send("Hello, wire!"), T)
reply = await asyncio.wait_for(client.recv(), T)
reply

# %% [markdown]
# **See the frames.** The tap recorded both directions of that connection. Here is every
# frame, as decoded from the bytes on the wire (→ from the client, ← from the server):

# %%
conn = client.connection
for event in conn.events:
    if isinstance(event, wire.FrameEvent):
        print("→" if event.sender == "client" else "←", event.frame)

# %% [markdown]
# The same message went both ways, but not as the same bytes: the client's frame is
# *masked* with a random key (that is the `masked ...` part, new each time), the server's is
# not. Notebook 03 explains why.
#
# The frame inspector shows the same frames as a live table; click a row to see its bits,
# coloured field by field:

# %%
inspector = FrameInspector(conn)
inspector.flush()
inspector

# %% [markdown]
# And here is what happened on that connection, drawn from the recording: one HTTP request
# and its `101 Switching Protocols` answer, then frames.

# %%
diagrams.from_connection(conn)

# %% [markdown]
# **Count.** How many bytes did the framing itself cost, against the handshake's headers?

# %%
stats = conn.summary()
for side in ("client", "server"):
    s = getattr(stats, side)
    print(f"{side}: {s.frames} frame, {s.payload_bytes} bytes of payload, {s.framing_bytes} bytes of framing")

# %% [markdown]
# Twelve bytes of text cost 6 bytes of framing from the client and 2 from the server. The
# handshake's HTTP headers were hundreds of bytes: but they are paid once, not per message.
# That difference is what the course measures, again and again, on your own bytes.
#
# ### On your own: predict, then measure
#
# The client is about to send 10 messages of 200 characters, and the server will echo each one.
# Before it does: how many bytes of framing (frame headers, not the text) will each side send
# for those 10 messages? The first message was 12 characters; think about what a longer one
# changes. Notebook 03 takes a header apart field by field; here, a prediction is enough.

# %%
framing = {"client": None, "server": None}  # your turn: bytes of frame headers for all 10 messages
ok = exercises.check_framing(framing)

# %% [markdown]
# Stuck? `exercises.solution("framing")`.
#
# Now the wire answers: this cell sends the 10 messages and lets the tap count.

# %%
before = conn.summary()
for _ in range(10):
    await asyncio.wait_for(client.send("x" * 200), T)
    await asyncio.wait_for(client.recv(), T)
after = conn.summary()
for side in ("client", "server"):
    spent = getattr(after, side).framing_bytes - getattr(before, side).framing_bytes
    print(f"{side}: {spent} bytes of framing for 10 messages of 200 characters (you predicted {framing[side]})")

# %% [markdown]
# ## Summary
#
# - Your set-up is ready (or the ✗ lines say what to install).
# - `wsdemo.serve()` runs a real WebSocket server in this notebook; `server.connect()` opens a
#   client; the tap decodes every byte they exchange.
# - A message travels in a frame with a few bytes of header; the client's frames are masked.
#
# **Next:** [01 · Compare letters and phone calls](01-compare-letters-and-phone-calls.ipynb):
# what a plain HTTP request costs, and how pages got live news before WebSockets.
#
# The last cell stops the server; every notebook ends that way, so its ports are freed.

# %%
await asyncio.wait_for(client.close(), T)
await asyncio.wait_for(server.stop(), T)
print("server stopped:", server)
