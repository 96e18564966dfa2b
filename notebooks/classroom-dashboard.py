# Source of notebooks/classroom-dashboard.ipynb, in the same "percent" format as src/*.py.
# Build (runs it once, keeps outputs for nbval):
#   .venv/bin/python -c "import sys; sys.path.insert(0, 'scripts'); import build_notebooks as b, pathlib; \
#     b.build(pathlib.Path('notebooks/classroom-dashboard.py').resolve(), 60)"
# tests/e2e/test_dashboard.py checks that the .ipynb still matches this file.

# %% [markdown]
# # Classroom dashboard
#
# The projector view of a live class: a **join link and QR code** for phones and laptops,
# **every connection** in large text, and **every frame** your students send, decoded live.
#
# **For a class**, run it as a standalone page with Voilà, listening on every interface so
# the room can reach it:
#
# ```sh
# WSDEMO_CLASSROOM_HOST=0.0.0.0 WSDEMO_CLASSROOM_PORT=8765 voila notebooks/classroom-dashboard.ipynb
# ```
#
# A fixed port (`WSDEMO_CLASSROOM_PORT`) keeps the join link the same if you restart, and is
# the one port to allow in a firewall. If the join card shows the wrong address (a Docker,
# VPN or VirtualBox one), set `WSDEMO_JOIN_HOST` to the Wi-Fi address; the card lists them all.
# Without `WSDEMO_CLASSROOM_HOST` it listens on this machine only (127.0.0.1), which is
# what tests and a quick try need. Classroom mode asks every connection for the join
# token in the link and limits each one to 20 messages a second.

# %%
import asyncio
import logging
import os

import wsdemo
from wsdemo.ui import ConnectionsPanel, FrameInspector, ModerationPanel

T = 10  # seconds: every await gives up after this
HOST = os.environ.get("WSDEMO_CLASSROOM_HOST", "127.0.0.1")
PORT = int(os.environ.get("WSDEMO_CLASSROOM_PORT", "0"))  # 0: any free port
logging.getLogger("tornado.access").setLevel(logging.ERROR)  # refused joins are not news here

# %% [markdown]
# ## Join
# Starting the server in classroom mode shows its join card: open the link, or scan the
# code. The chat, cursors and ticker pages are one click away from it (`index.html` lists
# them). `server.join_card()` shows the card again at any time.

# %%
server = await asyncio.wait_for(wsdemo.serve(host=HOST, port=PORT, classroom=True), T)

# %% [markdown]
# ## Who is connected
# One row per connection: who, which page or endpoint, open or closed, and the frames and
# bytes each way. The newest twelve are shown.

# %%
panel = ConnectionsPanel(server.tap, large=True, max_rows=12)
panel

# %% [markdown]
# ## What they send
# Every frame of every connection, newest at the bottom. Pick one to see its bytes.

# %%
inspector = FrameInspector(server.tap, max_rows=300)
inspector

# %% [markdown]
# ## Moderation
# Pick a connection to **kick** it (its page shows your reason, and does not come back on
# its own), **mute** a name (their messages are refused, with a note to them only), keep
# the name "Teacher" for your own connections (`server.teacher_url()` is your link), or
# make a **new join link** (everyone on the old one is closed with code 4001 and must
# rejoin). Each action shows in the frames above: a Close frame, or the muted student's
# error message.

# %%
moderation = ModerationPanel(server)
moderation

# %% [markdown]
# ## Can the room reach it?
# Checked from this machine: the address, the port, a firewall, and what to do when the
# Wi-Fi keeps its clients apart (`python -m wsdemo classroom-check` says the same). Its test
# connection shows in the panel above as one more closed connection, without bytes.

# %% tags=["nbval-ignore-output"]
server.check_classroom()

# %% [markdown]
# ## Stopping
# Under Voilà the dashboard keeps serving until you close the page (Voilà then shuts the
# kernel down, and the server with it); Voilà tells its kernel so with `VOILA_BASE_URL`.
# Run as a notebook (*Restart & Run All*, or the course's tests), this last cell stops the
# server, as every notebook of the course does.

# %%
if "VOILA_BASE_URL" not in os.environ:
    await asyncio.wait_for(server.stop(), T)
