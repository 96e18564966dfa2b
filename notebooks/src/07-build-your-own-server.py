# Source of notebooks/07-build-your-own-server.ipynb (build: .venv/bin/python scripts/build_notebooks.py 07)
# The cells tagged "server-code" are also run by tests/test_own_server.py (Tornado's client, the
# websockets library and Chromium talk to them), so the code the learner reads is the code tested.

# %% [markdown]
# # 07 · Build your own server
#
# You have watched a WebSocket from the outside: the handshake, the frames, push and full
# duplex. Now build one. A WebSocket server needs surprisingly little: read one HTTP request,
# answer it with three headers, then read and write frames. Everything hard about the bytes is
# already in `wsdemo.wire`, the decoder that showed you every frame in this course.
#
# **You will**
# - write an echo server in about 40 lines on plain `asyncio` streams, no web framework;
# - talk to it from the kernel with Tornado's WebSocket client, and from a browser;
# - answer pings the way RFC 6455 asks, and see what a real server adds on top.
#
# **You need** notebooks [02](02-open-the-handshake.ipynb) and [03](03-decode-frames.ipynb)
# and about 15 minutes.

# %% tags=["server-code"]
import asyncio

from wsdemo import wire

# %% [markdown]
# ## The server
#
# One coroutine handles one client. It reads the request head up to the blank line, lets
# `check_handshake` apply the rules of RFC 6455 section 4.2.1, and answers `101 Switching
# Protocols` with the `Sec-WebSocket-Accept` computed from the client's key (you did this by
# hand in notebook 02). From then on the connection carries frames: a `FrameDecoder` cuts
# the byte stream into frames, a `MessageAssembler` joins fragments into messages, and
# `encode_frame` writes the answers (unmasked: servers never mask).

# %% tags=["server-code"]
log = []  # what the server saw, one line per event (printing from here would land in a random cell)


async def handle(reader, writer):
    """One client: the opening handshake, then echo each message until a Close."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        try:
            request = wire.parse_request(head)
            problems = wire.check_handshake(request)
        except wire.ProtocolError as error:
            problems = [str(error)]
        if problems:  # not a WebSocket Upgrade: say why in a 400, and hang up
            body = "\n".join(problems).encode() + b"\n"
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            return
        accept = wire.compute_accept(request.headers.get("Sec-WebSocket-Key"))
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept.encode())
        log.append(f"{request.method} {request.target} -> 101")
        frames, messages = wire.FrameDecoder(), wire.MessageAssembler()
        while data := await reader.read(65536):
            for frame in frames.feed(data):
                if not frame.masked:
                    raise wire.FrameError("client frames must be masked (RFC 6455 section 5.1)")
                message = messages.add(frame)  # None until the last fragment is in
                if message is None:
                    continue
                log.append(f"got {message}")
                if message.kind in ("text", "binary"):
                    opcode = wire.Opcode.TEXT if message.kind == "text" else wire.Opcode.BINARY
                    writer.write(wire.encode_frame(opcode, message.data))
                elif message.kind == "ping":
                    writer.write(wire.encode_frame(wire.Opcode.PONG, message.data))
                elif message.kind == "close":  # answer with the same code, then hang up
                    writer.write(wire.encode_frame(wire.Opcode.CLOSE, frame.payload))
                    return
            await writer.drain()
    except wire.ProtocolError as error:  # bad bytes: close with the code the error names
        reason = str(error).encode("ascii", "replace")[:120]
        writer.write(wire.encode_frame(wire.Opcode.CLOSE, error.code.to_bytes(2, "big") + reason))
        log.append(f"closed with {error.code}: {error}")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass  # the client left, or sent a head larger than the stream's limit
    finally:
        writer.close()

# %% [markdown]
# That is the whole protocol side. `asyncio.start_server` calls `handle` for each client that
# connects; port 0 lets the operating system pick a free port.

# %%
own = await asyncio.start_server(handle, "127.0.0.1", 0)
port = own.sockets[0].getsockname()[1]
url = f"ws://127.0.0.1:{port}/"
print("listening on", url)

# %% [markdown]
# ## Tornado's client talks to it
#
# The kernel's client this time is Tornado's own `websocket_connect`, a complete, independent
# implementation of RFC 6455. If our server got the handshake or the framing wrong, it would
# refuse to talk.

# %%
from tornado.websocket import websocket_connect

from wsdemo import exercises

T = 5  # seconds: every await gives up after this

client = await asyncio.wait_for(websocket_connect(url), T)
await client.write_message("Hello, own server!")
print(await asyncio.wait_for(client.read_message(), T))
await client.write_message(bytes([1, 2, 3, 255]), binary=True)
print(await asyncio.wait_for(client.read_message(), T))

# %% [markdown]
# A long message takes the 16-bit length field (notebook 03), and comes back whole:

# %%
long_text = "wire " * 10_000
await client.write_message(long_text)
echo = await asyncio.wait_for(client.read_message(), T)
print(len(long_text), "characters sent,", len(echo), "received, equal:", echo == long_text)

# %% [markdown]
# Closing: the client sends a Close frame with a code and a reason, our server answers with the
# same payload and hangs up, and the client reports what came back.

# %%
client.close(1000, "thanks")
print("end of stream:", await asyncio.wait_for(client.read_message(), T))
print("close code and reason from our server:", client.close_code, client.close_reason)

# %% [markdown]
# What the server saw (its `log`):

# %%
for line in log:
    print(line)

# %% [markdown]
# A broken handshake gets a 400 that names the rule: here a request without `Upgrade`,
# `Sec-WebSocket-Key` and `Sec-WebSocket-Version`, sent on a raw TCP connection.

# %%
reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
answer = await asyncio.wait_for(reader.read(), T)
writer.close()
print(answer.decode())

# %% [markdown]
# ## A browser talks to it
#
# Browsers speak the same protocol. Open `http://127.0.0.1:PORT/` in your browser (with the
# port printed above): our server answers that plain `GET` with a 400 that names the missing
# headers, as in the cell above. That is all we need: a page from this machine. Open the
# developer tools (F12) on that page, go to the *Console* tab, and paste these lines:
#
# ```js
# const ws = new WebSocket("ws://127.0.0.1:PORT/");
# ws.onmessage = (event) => console.log("echo:", event.data);
# ws.onopen = () => ws.send("Hello from the browser");
# ```
#
# The console prints `echo: Hello from the browser`. (On Binder or JupyterHub your browser is
# not on the kernel's machine: use the notebook's own address with `proxy/PORT/` at the end and
# `wss://` for `https://`.) The course's tests do the same with Chromium, against this very
# code (`tests/test_own_server.py`).
#
# Why that page and not any other? Because the browser tells the server which page is
# calling. Its handshake carries an `Origin` header: here `http://127.0.0.1:PORT`. From a
# blank page, whose origin is opaque, Chromium sends `Origin: null`. And a page from a site on
# the internet may not get through at all: recent Chromium versions check pages that reach
# into your own machine or network ("local network access"), and may block them or ask you
# first. (Chromium 156 even blocked an `about:blank` tab opened by hand.)
#
# Whatever the Origin, our server never looks at it. Browsers send it precisely so that
# servers can refuse pages they do not trust. The lab's server checks it: it accepts pages of
# its own origin (same scheme, host and port), refuses every other origin, a page of another
# local port included, unless you list it (`wsdemo.serve(allowed_origins=...)`), and refuses
# `null`. Ours accepts anyone.
#
# The chat, cursors and ticker pages of the lab expect the lab's protocols (JSON messages on
# `/chat`, `/cursors`, `/ticker`), so they are not clients for an echo server.
#
# ### On your own: a fragmenter
#
# Our server joins fragments with a `MessageAssembler`, and answers a ping even in the middle
# of a fragmented message. Write the client's side: `fragment(text, size)` returns the bytes of
# the frames a client sends for `text`, cut into pieces of at most `size` payload bytes (RFC 6455
# section 5.4), each frame masked with a key of its own. Once the check passes, the next cell
# sends your frames to our server with a ping slipped in after the first one, and shows what
# comes back.

# %%
fragment = None  # your turn: def fragment(text, size): return the bytes of the frames
ok = exercises.check_fragmenter(fragment)

# %%
if ok:
    import base64
    import os

    pieces = wire.FrameDecoder().feed(fragment("Hello, fragments!", 5))
    ping = wire.encode_frame(wire.Opcode.PING, b"still there?", mask_key=os.urandom(4))
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    writer.write(pieces[0].raw + ping + b"".join(p.raw for p in pieces[1:]))
    came_back, decoder = [], wire.FrameDecoder()
    while not any(f.opcode == wire.Opcode.TEXT for f in came_back):
        data = await asyncio.wait_for(reader.read(65536), T)
        if not data:
            break
        came_back += decoder.feed(data)
    writer.close()
    print(f"sent: {len(pieces)} fragments, with a ping after the first")
    for f in came_back:
        print("came back:", f)
else:
    print("Write fragment above until the check passes; then run this cell again.")

# %% [markdown]
# Stuck? `exercises.solution("fragment")`.
#
# ## What a real server adds
#
# Our echo server is correct for well-behaved clients, and it already fails bad frames with a
# close code (the wire layer names the code for each error). A server you expose to the world
# also needs:
#
# - **limits**: a maximum message size (the decoder stops at 16 MiB here; the lab's Tornado
#   app closes a connection with code 1009, "message too big", when a message passes 1 MiB,
#   and the tap in front of it passes that close on to the client), a maximum number of
#   connections, and a rate limit;
# - **Origin checks**, so that any web page your users visit cannot use their browser to talk
#   to your server;
# - **timeouts and keep-alive pings**, to notice clients that vanished without a Close;
# - **back-pressure**: `await writer.drain()` pauses a sender whose client reads slowly; a
#   broadcast server must decide what to do with a client that never catches up;
# - **extensions** such as permessage-deflate, and **TLS** (`wss://`), which every public
#   deployment uses.
#
# Server libraries such as Tornado, `websockets`, aiohttp or Node's `ws` implement all of this
# (browsers implement the client side only); now you know what they do underneath.
#
# ## Summary
#
# - A WebSocket server reads one HTTP request, answers `101 Switching Protocols` with
#   `Sec-WebSocket-Accept`, then reads frames and writes frames on the same connection.
# - The sans-IO wire layer (`FrameDecoder`, `MessageAssembler`, `encode_frame`) does the bytes;
#   the I/O shell around it is a few lines of `asyncio`.
# - Any correct client (Tornado's, a browser's) talks to a correct server, whoever wrote it.
#
# That is the end of the course on one machine. You have seen the claims of the essay on your
# own bytes: the letter and the phone call, the handshake, frames of a few bytes, the server
# speaking first, both sides talking at once, and what it all saves. Two notebooks take it
# further: [08 · Leave localhost](08-leave-localhost.ipynb) (TLS, subprotocols, proxies and
# heartbeats, reconnection, backpressure, hijacking) and
# [09 · Serve millions](09-serve-millions.ipynb) (what a connection costs, several servers on
# one Redis). Or go back to [00 · Start here](00-start-here.ipynb) for the map.

# %%
own.close()
await asyncio.wait_for(own.wait_closed(), T)
print("own server stopped:", not own.is_serving())
