# Source of notebooks/03-decode-frames.ipynb (build: .venv/bin/python scripts/build_notebooks.py 03)

# %% [markdown]
# # 03 · Decode frames
#
# After the handshake, the HTTP conversation is over. What travels next are **frames**: a
# header of a few bytes, then the payload. The essay says WebSocket messages carry "just a
# few bytes of overhead" where HTTP sends hundreds of bytes of headers. Here you check that
# claim bit by bit.
#
# **You will**
# - read a frame field by field, first with the decoder, then by hand;
# - see why a browser masks every byte it sends, and unmask a payload yourself;
# - find the three ways a frame writes its length;
# - watch fragments, ping and pong, and a close handshake travel through the tap;
# - switch compression (permessage-deflate) on and measure what it saves.
#
# **You need** notebook [02](02-open-the-handshake.ipynb) (the handshake) and about 15 minutes.
# The RFC sections quoted are from [RFC 6455](https://www.rfc-editor.org/rfc/rfc6455).

# %%
import asyncio
import json

import wsdemo
from wsdemo import diagrams, exercises, wire

T = 5  # seconds: every await below gives up after this, so a broken server cannot hang the notebook

# %% [markdown]
# ## A frame, field by field
#
# RFC 6455 section 5.7 prints a masked frame carrying the text `Hello`:
# `81 85 37 fa 21 3d 7f 9f 4d 51 58`. Only clients mask, so these are bytes a client would
# send. The wire layer's decoder turns them into a `Frame`, and `describe()` shows every bit:

# %%
hello = wire.FrameDecoder().feed(bytes.fromhex("818537fa213d7f9f4d5158"))[0]
print(hello.describe())

# %% [markdown]
# Six bytes of header carry five bytes of text. The same fields, laid out 32 bits to a row as
# the RFC draws them (section 5.2), with this frame's real bits filled in:

# %%
diagrams.frame_layout(hello)

# %% [markdown]
# Reading the first two bytes is all it takes to know what follows:
#
# | bits | field | here |
# |---|---|---|
# | 0 | FIN: last fragment of the message? | 1 |
# | 1–3 | RSV1–3: reserved for extensions (RSV1 = compressed) | 000 |
# | 4–7 | opcode: 1 text, 2 binary, 0 continuation, 8 close, 9 ping, 10 pong | 0001 |
# | 8 | MASK: is the payload masked? (always, from a client) | 1 |
# | 9–15 | payload length (126 and 127 mean "read a longer length next") | 0000101 = 5 |
#
# then the 4-byte masking key, then the payload.
#
# ### On your own: decode a frame by hand
#
# A browser sent these bytes. Take them apart without calling the decoder: fill in the dict,
# run the check, and follow its hints field by field.

# %%
FRAME_HEX = "81 87 a1 b2 c3 d4 f6 d7 af b7 ce df a6"
for i, byte in enumerate(bytes.fromhex(FRAME_HEX)):
    print(f"byte {i:>2}: 0x{byte:02x} = {byte:08b}")

# %%
answer = {  # your turn: fill in every field
    "fin": None,             # 1 or 0
    "opcode": None,          # a number, or a name such as "text"
    "masked": None,          # 1 or 0
    "payload_length": None,  # bytes
    "mask_key": None,        # the 4 key bytes, as hex text like "0a 1b 2c 3d"
    "text": None,            # the unmasked payload, as a str
}
ok = exercises.check_frame_fields(answer, FRAME_HEX)

# %% [markdown]
# Stuck? `exercises.solution("decode")` prints a worked solution.
#
# ## Masking, and why clients mask
#
# Every frame a client sends is masked: its payload is XOR-ed with a 4-byte key the client
# picks at random for each frame, and the key travels in the header. Anyone can unmask it, so
# masking hides nothing from an eavesdropper. It exists for a different reason (RFC 6455
# section 10.3): in 2010 researchers showed that a script able to choose the exact bytes on a
# connection could make them look like an HTTP request to a confused proxy in between, and
# poison its cache for everyone behind it. With a fresh unpredictable key per frame, the script
# no longer controls the bytes on the wire. Servers are not scripts in a page, so their frames
# are never masked.
#
# Let's start the lab's server and send `Hello` twice from a client in this kernel:

# %%
server = await asyncio.wait_for(wsdemo.serve(), T)
client = await asyncio.wait_for(server.connect("/echo"), T)
for _ in range(2):
    await asyncio.wait_for(client.send("Hello"), T)
    await asyncio.wait_for(client.recv(), T)
server

# %% [markdown]
# The tap in front of the server recorded every frame. Two small helpers list them:

# %%
def frame_events(conn, since=0):
    """The frame events the tap recorded on a connection, from the ``since``-th on."""
    return [e for e in conn.events if isinstance(e, wire.FrameEvent)][since:]


def frames(conn, sender):
    """The frames one side ("client" or "server") sent."""
    return [e.frame for e in frame_events(conn) if e.sender == sender]


def show(conn, since=0):
    """One line per frame: → from the client, ← from the server."""
    for e in frame_events(conn, since):
        print("→" if e.sender == "client" else "←", f"{e.sender:<6}", e.frame)


conn = client.connection

# %% [markdown]
# Here are the two frames the client sent, byte by byte as they crossed the wire (this output
# is live: the keys are new every run):

# %% tags=["nbval-ignore-output"]
first, second = frames(conn, "client")[:2]
print(first.raw.hex(" "))
print(second.raw.hex(" "))

# %% [markdown]
# The same text, different bytes. Only the key and the masked payload change; once unmasked,
# both say `Hello`. And the server's echo is not masked at all:

# %%
print("same bytes on the wire:", first.raw == second.raw)
print("same text once unmasked:", first.payload == second.payload == b"Hello")
print("server frames masked:", any(f.masked for f in frames(conn, "server")))

# %% [markdown]
# ### On your own: unmask
#
# Write `unmask(data, key)`: byte *i* of the result is `data[i] XOR key[i % 4]`
# (RFC 6455 section 5.3). The check runs it on the RFC's example and on payloads whose length
# is not a multiple of four.

# %%
unmask = None  # your turn: def unmask(data: bytes, key: bytes) -> bytes: ...
ok = exercises.check_unmask(unmask)

# %% [markdown]
# Stuck? `exercises.solution("unmask")`.
#
# ## Three ways to write a length
#
# Seven bits count up to 125. For 126 to 65,535 bytes, the 7 bits say `126` and the next
# 2 bytes hold the length; beyond that they say `127` and 8 bytes follow (section 5.2).
# `encode_frame` builds real frames, so we can count their headers:

# %%
print(f"{'payload':>9}  {'7-bit field':>11}  {'server header':>13}  {'client header':>13}")
for n in (0, 5, 125, 126, 65_535, 65_536, 1_000_000):
    plain = wire.encode_frame(wire.Opcode.BINARY, bytes(n))
    masked = wire.encode_frame(wire.Opcode.BINARY, bytes(n), mask_key=bytes.fromhex("37fa213d"))
    print(f"{n:>9,}  {plain[1] & 0x7F:>11}  {len(plain) - n:>11} B  {len(masked) - n:>11} B")

# %% [markdown]
# So a frame's header costs **2 to 10 bytes from the server and 6 to 14 bytes from a
# client**. The RFC never prints these totals: they follow from its layout in section 5.2
# (2 bytes, then 0, 2 or 8 bytes of extended length, then a 4-byte masking key if the frame
# is masked), as the table shows. *High Performance Browser Networking* (Ilya Grigorik,
# chapter 17, "Message Overhead") sums them up as 2 to 14 bytes per frame. Against the
# hundreds of bytes of headers of an HTTP request (notebook
# [01](01-compare-letters-and-phone-calls.ipynb)), that is the whisper against the shout
# across a canyon.
#
# ## Fragments: one message, several frames
#
# A sender may cut a message into fragments: the first frame carries the opcode, the others
# say `0` (continuation), and only the last has FIN set (section 5.4). A control frame such as
# a ping may travel between fragments, so a peer can answer it without waiting for a huge
# message to end. Section 5.7 shows `Hello` in two unmasked fragments, `01 03 48 65 6c`
# ("Hel") and `80 02 6c 6f` ("lo"): unmasked, so a server would send them. We slip an empty
# ping of our own, `89 00`, between the two, as section 5.4 allows; the `MessageAssembler`
# puts the message back together:

# %%
stream = bytes.fromhex("010348656c" "8900" "80026c6f")  # "Hel" (section 5.7), our ping, "lo" (5.7)
assembler = wire.MessageAssembler()
for frame in wire.FrameDecoder().feed(stream):
    print(f"{str(frame):<32} ->", assembler.add(frame) or "(waiting for more)")

# %% [markdown]
# ## Ping and pong
#
# Either side may ping; the other must answer with a pong that carries the same data.
# Servers use this to notice dead connections. From our client, through the tap:

# %%
mark = len(frame_events(conn))  # frames so far
pong = await asyncio.wait_for(client.ping(b"are you there?"), T)
print("pong data:", pong)
show(conn, since=mark)

# %% [markdown]
# (The client's frame shows its masking key; it differs every run.)
#
# ## Send frames by hand
#
# The composer below sends through the same client; under each send it lists the frames that
# crossed the wire, both ways, with their header and payload bytes. Try a ping with a payload,
# a text of 200 characters (its length now takes the 126 form), and binary `01 02 ff`; leave
# Close for the next section, which ends this connection.

# %%
from wsdemo.ui import Composer

Composer(client)

# %% [markdown]
# ## Closing
#
# A connection ends with a close handshake: one side sends a Close frame, the other answers
# with a Close frame, then TCP closes. A Close frame may be empty; if it has a body, the body
# starts with a 2-byte code, and a reason in UTF-8 may follow (section 5.5.1). Codes have
# meanings (section 7.4):

# %%
for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4000, 1005, 999):
    print(wire.describe_close_code(code))

# %% [markdown]
# 1005 and 1006 are never sent: they are what an API reports when a close had no code, or
# when the connection dropped without any close frame. Let's close our client politely, with a
# code and a reason; the server answers with the code alone (a reason is optional):

# %%
mark = len(frame_events(conn))  # frames so far
await asyncio.wait_for(client.close(1000, "done decoding"), T)
show(conn, since=mark)
print("the client was told: code", client.close_code, "and", repr(client.close_reason) if client.close_reason
      else "no reason")

# %% [markdown]
# ### On your own: predict, then provoke, close codes
#
# Here are seven things a client could send right after its handshake, some polite, some
# broken. For each one, which close code will the lab's server answer? Write your predictions,
# then run the check: it sends each one to the server through the tap, on a raw connection of
# its own, and reads the code the server answered from the tap's recording. (A Close that
# carries no code is reported as 1005.)

# %%
for name, (data, _) in exercises.BROKEN_FRAMES.items():
    print(f"{name:<36} {data[:14].hex(' ')}{' ...' if len(data) > 14 else ''}")

# %%
predicted = dict.fromkeys(exercises.BROKEN_FRAMES)  # your turn: a close code (a number) for each
ok = await asyncio.wait_for(exercises.check_close_codes(predicted, server), 30)

# %% [markdown]
# Stuck? `exercises.solution("close_codes")`.

# %% [markdown]
# ## Compression: permessage-deflate
#
# With the extension `permessage-deflate` (RFC 7692), a sender may deflate each data message
# on its own, and sets RSV1 on the first frame of each message it compressed. It decides
# message by message: RSV1 clear means "sent as is", so a message that would not shrink can
# go uncompressed (RFC 7692 section 6). Both sides must agree to the extension during the
# handshake. By default, they also keep the compression window from one message to the next
# ("context takeover"), so a message that repeats an earlier one costs almost nothing.
#
# We send the same JSON (20 ticker updates) twice to a server without compression and to one
# with it, and let the tap count the bytes:

# %%
updates = json.dumps([{"symbol": "WSD", "price": 100.25 + i, "seq": i} for i in range(20)])


async def send_twice(compression):
    srv = await asyncio.wait_for(wsdemo.serve(compression=compression), T)
    try:
        c = await asyncio.wait_for(srv.connect("/echo", compression=compression), T)
        for _ in range(2):
            await asyncio.wait_for(c.send(updates), T)
            await asyncio.wait_for(c.recv(), T)
        await asyncio.wait_for(c.close(), T)
        return c.connection
    finally:
        await asyncio.wait_for(srv.stop(), T)


plain_conn = await send_twice(False)
deflate_conn = await send_twice(True)
print("offered:", deflate_conn.request.headers.get("Sec-WebSocket-Extensions"))
print("accepted:", deflate_conn.response.headers.get("Sec-WebSocket-Extensions"))

# %% [markdown]
# The messages the client sent, as the tap decoded them (live sizes):

# %% tags=["nbval-ignore-output"]
def client_messages(c):
    return [e.message for e in c.events
            if isinstance(e, wire.MessageEvent) and e.sender == "client" and e.message.kind == "text"]


for name, c in (("without", plain_conn), ("with", deflate_conn)):
    for m in client_messages(c):
        print(f"{name:>7} compression: {len(updates)} bytes of text -> {m.wire_size} bytes on the wire")

# %% [markdown]
# Rounded into bands, so that this comparison holds on any machine:

# %%
def band(fraction):
    for limit in (0.05, 0.10, 0.25, 0.5, 1.0):
        if fraction <= limit:
            return f"at most {limit:.0%} of the text"
    return "more than the text"


first_plain, _ = client_messages(plain_conn)
first_deflated, second_deflated = client_messages(deflate_conn)
print("RSV1 set on compressed frames:", all(f.rsv1 for f in first_deflated.frames))
print("without compression: the text +", first_plain.wire_size - len(updates), "bytes of header")
print("with, first message:", band(first_deflated.wire_size / len(updates)))
print("with, same message again:", band(second_deflated.wire_size / len(updates)))

# %% [markdown]
# Compression is worth it for repetitive text such as JSON. It costs CPU and memory on both
# sides (a window per connection), which is why servers often leave it off, and why wsdemo's
# server does until you ask: `wsdemo.serve(compression=True)`.
#
# ## Summary
#
# - A frame is a 2-byte header, an optional extended length (2 or 8 bytes), a 4-byte masking
#   key from clients, then the payload: **2 to 10 bytes** of overhead from a server, **6 to 14**
#   from a client.
# - Clients mask so that a script cannot choose the bytes on the wire (cache poisoning,
#   section 10.3); masking is not encryption.
# - Messages may be fragmented; pings and pongs can slip between fragments; a close handshake
#   ends the conversation with a code that says why.
# - permessage-deflate sets RSV1 and can shrink repetitive messages to a fraction.
#
# **Next:** [04 · Talk both ways](04-talk-both-ways.ipynb): the server speaks first, and both
# sides send at once on the same connection.

# %%
await asyncio.wait_for(server.stop(), T)
print("server stopped:", server)
