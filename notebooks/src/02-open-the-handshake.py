# Source of notebooks/02-open-the-handshake.ipynb (build: .venv/bin/python scripts/build_notebooks.py 02)

# %% [markdown]
# # 02 · Open the handshake
#
# Every WebSocket begins life as an ordinary HTTP request, one that asks the server to
# *upgrade* the connection. If the server agrees, it answers `101 Switching Protocols`, and
# from the next byte on the same TCP connection carries WebSocket frames instead of HTTP: the
# letter turns into a phone line.
#
# **You will**
# - read a real Upgrade request and its 101 answer, byte for byte, as the tap recorded them;
# - compute `Sec-WebSocket-Accept` by hand, the one calculation in the handshake;
# - send broken handshakes on a raw TCP connection and read why the server refuses them;
# - write an Upgrade request yourself.
#
# **You need** notebook [00](00-start-here.ipynb) (set-up) and about 15 minutes. Sections are
# those of [RFC 6455](https://www.rfc-editor.org/rfc/rfc6455).

# %%
import asyncio
from urllib.parse import urlsplit

import wsdemo
from wsdemo import exercises, wire
from wsdemo.ui import HandshakeView

T = 5  # seconds: every await below gives up after this, so a broken server cannot hang the notebook

# %% [markdown]
# ## A real Upgrade, from this kernel
#
# Start the lab's server (a Tornado server behind a recording *tap*) and connect a client
# that runs inside this kernel. Port numbers are picked by your operating system.

# %%
server = await asyncio.wait_for(wsdemo.serve(), T)
client = await asyncio.wait_for(server.connect("/echo"), T)
conn = client.connection
print(f"connection #{conn.id} from {conn.peer} to {conn.path}")

# %% [markdown]
# The tap saw the client's request first. These are the exact bytes, one header per line
# (`\r\n` at each end of line, and an empty line to finish):

# %%
print(conn.request.raw.decode())

# %% [markdown]
# What makes it a WebSocket handshake (the client's rules are in section 4.1, what the
# server checks in 4.2.1):
#
# - `GET` and `HTTP/1.1` (or higher);
# - `Host`: the server's name and port, as in every HTTP/1.1 request;
# - `Upgrade: websocket` and `Connection: Upgrade`: "please switch this connection to the
#   WebSocket protocol";
# - `Sec-WebSocket-Version: 13`, the only version in use;
# - `Sec-WebSocket-Key`: 16 random bytes, base64-encoded, new for every connection;
# - `Origin`, when the client is a browser: the origin of the page that opened the socket.
#   Our kernel client is not a browser, so it sends none.
#
# Header names are case-insensitive: Tornado writes `Sec-Websocket-Key`, browsers
# `Sec-WebSocket-Key`. The server's answer:

# %%
print(conn.response.raw.decode())

# %% [markdown]
# `101 Switching Protocols`, the same `Upgrade` and `Connection` headers, and
# `Sec-WebSocket-Accept`: proof that this server read *this* key and speaks WebSocket. The
# handshake view shows both sides and checks the accept value (click a header to see what it
# means):

# %%
HandshakeView(conn)

# %% [markdown]
# ## Sec-WebSocket-Accept, step by step
#
# The server appends a fixed GUID, `258EAFA5-E914-47DA-95CA-C5AB0DC85B11`, to the key, takes
# the SHA-1 digest of that text and base64-encodes the 20 digest bytes (section 4.2.2). With
# the example key of section 1.3:

# %%
for step in wire.explain_accept("dGhlIHNhbXBsZSBub25jZQ=="):
    print(f"{step.name:<12} {step.value}")

# %% [markdown]
# The RFC prints `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`. The same computation on the live key our
# client just sent gives what the server answered:

# %%
live_key = conn.request.headers.get("Sec-WebSocket-Key")
print(wire.compute_accept(live_key) == conn.response.headers.get("Sec-WebSocket-Accept"))

# %% [markdown]
# Why bother? A server that is not a WebSocket server (or a cache that replays an old
# answer) cannot produce the right value, so the client will not mistake it for one. It is
# not security: anyone can compute it.
#
# ### On your own: compute an accept
#
# Many tutorials copy another key, `x3JJHMbDL1EzLkh9GBhXDw==` (it is not in RFC 6455, whose only
# sample key is the one above). Compute its accept
# value with `hashlib` and `base64` (not `wire.compute_accept`!) and check it. You can compare
# your steps with `wire.explain_accept("dGhlIHNhbXBsZSBub25jZQ==")` above.

# %%
key = "x3JJHMbDL1EzLkh9GBhXDw=="
answer = None  # your turn: the 28-character accept value, as a str
ok = exercises.check_accept(answer, key)

# %% [markdown]
# Stuck? `exercises.solution("accept")` prints a worked solution.
#
# ## Broken handshakes
#
# What does the server answer when the request is not a proper Upgrade? We open a plain TCP
# connection to the tap with `asyncio.open_connection`, write the bytes ourselves and read the
# HTTP answer: its head, then as many body bytes as `Content-Length` says.

# %%
async def send_raw(raw: bytes) -> wire.Response:
    """Write ``raw`` to the server through the tap and return its HTTP answer."""
    url = urlsplit(server.http_url("/"))
    reader, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port), T)
    try:
        writer.write(raw)
        await asyncio.wait_for(writer.drain(), T)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
        response = wire.parse_response(head)
        length = int(response.headers.get("Content-Length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), T)
        return wire.parse_response(head + body)
    finally:
        writer.close()

# %% [markdown]
# A good request, and three copies of it, each with one rule broken:

# %%
GOOD = (b"GET /echo HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"\r\n")

BROKEN = {
    "missing key": GOOD.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""),
    "wrong version": GOOD.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"),
    "no Upgrade": GOOD.replace(b"Upgrade: websocket\r\n", b""),
}

for name, raw in BROKEN.items():
    response = await send_raw(raw)
    print(f"{name:<14} -> {response.status} {response.reason}: {response.body.decode().strip()}")

# %% [markdown]
# A missing key gets `400 Bad Request`; a version other than 13 gets `426 Upgrade Required`
# with the header `Sec-WebSocket-Version: 13` telling the client which version to use
# (sections 4.2.2 and 4.4); without `Upgrade` it is just a GET, and this endpoint only speaks
# WebSocket.
#
# The tap recorded those three connections too. The wire layer's `check_handshake` names the
# rule each request broke:

# %%
for recorded in server.tap.connections[-3:]:
    print(f"#{recorded.id} answered {recorded.response.status}:")
    for problem in wire.check_handshake(recorded.request):
        print("   ", problem)

# %% [markdown]
# And the well-formed request gets its 101, with the accept from the RFC (that is the RFC's
# key we sent):

# %%
response = await send_raw(GOOD)
print(response.status, response.reason)
print("Sec-WebSocket-Accept:", response.headers.get("Sec-WebSocket-Accept"))

# %% [markdown]
# ### On your own: write an Upgrade request
#
# Write the bytes of a request that a server would accept, this time for the chat room:
# `/chat?name=` and a name of your choice. Give it a key of your own, 16 random bytes in base64
# (`os.urandom`, `base64`), as a client makes for every connection; `GOOD` above reuses the
# RFC's sample key. The check runs the same RFC rules as `check_handshake`, and says what your
# request does differently from what is asked. Once it passes, the next cell sends your request
# to the server for real and compares its accept with the one computed from your key.

# %%
my_request = None  # your turn: b"GET /chat?name=... HTTP/1.1\r\n..." ending with an empty line
ok = exercises.check_upgrade_request(my_request, path="/chat", fresh_key=True)

# %%
if ok:
    response = await send_raw(my_request)
    my_key = wire.parse_request(my_request).headers.get("Sec-WebSocket-Key")
    print("the server answered:", response.status, response.reason)
    print("its accept is computed from your key:",
          response.headers.get("Sec-WebSocket-Accept") == wire.compute_accept(my_key))
else:
    print("Fill in my_request above until the check passes; then run this cell again.")

# %% [markdown]
# Stuck? `exercises.solution("upgrade_request")`.
#
# ## A browser's handshake
#
# A browser sends the same Upgrade, with more headers: `Origin` (the page that opened the
# socket, which servers check), `User-Agent`, and `Sec-WebSocket-Extensions:
# permessage-deflate` (it offers compression). Open the lab's chat page in a browser on this
# machine (behind JupyterHub or Binder, use the proxied URL of notebook
# [05](05-build-realtime-apps.ipynb) instead):

# %%
print(server.http_url("/chat.html"))

# %% [markdown]
# Then run the next cell. It shows the handshake of the newest browser connection, if one
# has appeared (its output depends on your browser, so it is not compared by the tests):

# %% tags=["nbval-ignore-output"]
browsers = [c for c in server.tap.connections
            if c.request is not None and "Mozilla" in (c.request.headers.get("User-Agent") or "")
            and c.request.headers.get("Upgrade")]
if browsers:
    print(browsers[-1].request.raw.decode())
    display(HandshakeView(browsers[-1]))
else:
    print("No browser connection yet: open the URL above, then run this cell again.")

# %% [markdown]
# ## Summary
#
# - A WebSocket starts as an HTTP/1.1 `GET` with `Upgrade: websocket`, `Connection: Upgrade`,
#   `Sec-WebSocket-Version: 13` and a random `Sec-WebSocket-Key`.
# - The server agrees with `101 Switching Protocols` and `Sec-WebSocket-Accept` =
#   base64(SHA-1(key + GUID)); after that, the connection carries frames.
# - A broken request is refused with an ordinary HTTP answer: `400`, or `426` for the wrong
#   version.
#
# **Next:** [03 · Decode frames](03-decode-frames.ipynb): what travels on the line once it is
# open.

# %%
await asyncio.wait_for(client.close(), T)
await asyncio.wait_for(server.stop(), T)
print("server stopped:", server)
