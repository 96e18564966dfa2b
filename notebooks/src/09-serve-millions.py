# Source of notebooks/09-serve-millions.ipynb (build: .venv/bin/python scripts/build_notebooks.py 09)

# %% [markdown]
# # 09 · Serve millions
#
# The essay ends on scale: polling's overhead and latency, multiplied across millions of users,
# is why chat, collaboration and design tools build on WebSockets. Notebook
# [06](06-measure-polling-vs-websockets.ipynb) multiplied *bytes*. A server also pays for every
# connection it keeps open (memory) and every frame it writes (CPU). Here you measure both on
# this machine, split one chat room across two servers joined by Redis, and work out how many
# machines a million users would need, with the assumptions said out loud.
#
# **You will**
# - measure what one open, idle WebSocket costs in memory, straight to Tornado and through the tap;
# - measure how many frames per second one core writes to a chat room, and what a poll costs;
# - run two servers behind a Redis backplane and watch one chat message enter server A and
#   leave server B, with the delay the trip adds;
# - project 1,000,000 users of a ticker, a chat and shared cursors onto machines, against the
#   same users polling;
# - say where such a projection is weak, and what production servers do differently.
#
# **You need** notebooks [05](05-build-realtime-apps.ipynb) (chat, cursors) and
# [06](06-measure-polling-vs-websockets.ipynb) (bytes per update), about 15 minutes, and for one
# section `redis-server` (installed with the course's `scripts/dev.sh`; see below otherwise).

# %%
import asyncio
import base64
import gc
import json
import math
import os
import socket
import sys
import time
import urllib.parse

import wsdemo
from wsdemo import backplane, exercises, wire

T = 5  # seconds: every await below gives up after this, so a broken server cannot hang the notebook

# up to 400 WebSockets at once below (the default cap is 200)
server = await asyncio.wait_for(wsdemo.serve(max_connections=1000), T)
server

# %% [markdown]
# ## What one open connection costs
#
# A WebSocket that nobody talks on still holds memory on the server: Tornado's handler and its
# buffers and, in this lab, the tap's two sockets and its recording. To see it we open a few
# hundred idle connections and read how much the process grew, its *resident set size* (RSS:
# the memory the operating system has actually given it).
#
# The kernel's own clients would grow the same process, so these connections are opened by
# hand on plain sockets: a handshake each (notebook [02](02-open-the-handshake.ipynb)), then
# nothing. A plain socket object costs the process well under a kilobyte; almost all the growth
# is the server's. Each connection is also a file descriptor, and an operating system limits
# how many one process may open (`ulimit -n`; 256 by default on macOS), so we first raise this
# process's limit as far as it may go.

# %%
try:
    import resource
except ImportError:  # Windows: no such limit to raise
    resource = None
if resource is not None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # the system refused: 400 connections below may fail
            print(f"could not raise the open-file limit above {soft}")


def rss():
    """This process's resident memory in bytes, after a full garbage collection."""
    gc.collect()
    try:
        with open("/proc/self/statm") as f:  # Linux: pages in memory now
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # macOS: the peak, a fair stand-in while the process only grows
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


async def open_raw(url, k):
    """k WebSockets on plain sockets: the opening handshake, then silence. Returns the sockets."""
    u = urllib.parse.urlsplit(url)
    loop = asyncio.get_running_loop()
    socks = []
    for _ in range(k):
        s = socket.socket()
        s.setblocking(False)
        socks.append(s)
        await asyncio.wait_for(loop.sock_connect(s, (u.hostname, u.port)), T)
        key = base64.b64encode(os.urandom(16)).decode()
        target = u.path + (f"?{u.query}" if u.query else "")
        await asyncio.wait_for(loop.sock_sendall(s, (
            f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()), T)
        head = b""
        while b"\r\n\r\n" not in head:
            head += await asyncio.wait_for(loop.sock_recv(s, 4096), T)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"no upgrade: {head[:60]!r}")
    return socks


def close_all(socks):
    for s in socks:
        s.close()

# %% [markdown]
# 200 connections straight to Tornado (`server.direct_url`, no tap), then, with those still
# open, 200 more through the tap. Each of the second lot is a Tornado connection *and* a tap
# relay, so the second figure is the whole lab's cost per connection. (Live figures: they change
# a little every run.)

# %% tags=["nbval-ignore-output"]
K = 200
before = rss()
direct_socks = await open_raw(server.direct_url("/echo"), K)
middle = rss()
tap_socks = await open_raw(server.url("/echo"), K)
await asyncio.sleep(0.05)  # let the tap finish decoding the last handshakes
after = rss()
direct_per_conn = (middle - before) / K
tap_per_conn = (after - middle) / K
print(f"straight to Tornado: {direct_per_conn / 1024:.1f} KiB per idle WebSocket")
print(f"through the tap:     {tap_per_conn / 1024:.1f} KiB per idle WebSocket (Tornado + the tap)")
close_all(direct_socks + tap_socks)

# %%
print("straight to Tornado, 1 to 100 KiB per idle WebSocket:", 1024 <= direct_per_conn <= 100 * 1024)
print("through the tap, more than straight to Tornado:", tap_per_conn > direct_per_conn)

# %% [markdown]
# On the machine this notebook was written on, Tornado alone held about 10 KiB per idle
# WebSocket and the lab about 28 KiB (the tap adds two sockets, a decoder and a recording per
# connection). A million idle connections at 10 KiB is about 10 GB: one large machine could hold
# them in memory.
#
# What RSS does not show: the operating system's own memory per TCP connection (its socket
# buffers, in the kernel, not in the process), and TLS. Every public WebSocket runs over TLS
# (`wss://`), which keeps its own buffers and keys per connection; this test, on plain `ws://`,
# does not measure them.
#
# ## How many frames one core writes
#
# Memory holds connections; the CPU moves messages. A chat room of 100 listeners, all on plain
# sockets again, and one sender who sends 100 messages in one burst of pre-built (already
# masked) frames. The lab's chat writes each message to every member, the sender included, so
# the server writes 101 × 100 = 10,100 frames. The listeners only count bytes until the last
# message arrives (one connection keeps the order, so everything before it has arrived too),
# so the CPU this process spends, read with `time.process_time()`, is almost all the server's.
# The garbage collector is paused during each burst: a full pass walks every object in the
# process, and one landing in one run and not the other would decide the comparison (its cost
# is measured on its own below). Straight to Tornado, then through the tap, and then polls:

# %%
async def chat_burst(url_of, members=100, messages=100):
    """CPU seconds, frames written and bytes received for one sender's burst to `members` listeners."""
    loop = asyncio.get_running_loop()
    room = await open_raw(url_of("/chat?name=member"), members)
    sender = (await open_raw(url_of("/chat?name=sender"), 1))[0]
    await asyncio.sleep(0.2)  # the join notices
    for s in room:  # read and forget them
        try:
            while s.recv(1 << 16):
                pass
        except BlockingIOError:
            pass
    burst = b"".join(wire.encode_frame(wire.Opcode.TEXT, f"message {i:03d}", mask_key=os.urandom(4))
                     for i in range(messages - 1))
    burst += wire.encode_frame(wire.Opcode.TEXT, "message end", mask_key=os.urandom(4))

    async def count(s):
        n, tail = 0, b""
        while b"message end" not in tail:
            data = await loop.sock_recv(s, 1 << 16)
            n, tail = n + len(data), tail[-16:] + data
        return n

    gc.collect()
    gc.disable()  # a full collection would land in one run and not another (see below)
    try:
        cpu = time.process_time()
        counting = asyncio.gather(*(count(s) for s in room))
        await loop.sock_sendall(sender, burst)
        received = await asyncio.wait_for(counting, 30)
        # The tap decodes what nobody watches when someone reads it (or once it leaves the
        # recording's window): read every recording, so its decoding is counted too.
        for conn in server.tap.connections:
            conn.summary()
        cpu = time.process_time() - cpu
    finally:
        gc.enable()
    close_all(room + [sender])
    # every listener and the sender get every message; the bytes are the listeners'
    return {"frames": (members + 1) * messages, "cpu_s": cpu, "bytes_per_frame": sum(received) / (members * messages)}


async def poll_burst(url, polls=500):
    """CPU seconds and bytes for `polls` GET /poll requests sent at once on one keep-alive connection."""
    u = urllib.parse.urlsplit(url)
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(s, (u.hostname, u.port)), T)
    request = f"GET /poll HTTP/1.1\r\nHost: {u.netloc}\r\nUser-Agent: wsdemo\r\nAccept: application/json\r\n\r\n"
    gc.collect()
    gc.disable()
    try:
        cpu = time.process_time()
        await loop.sock_sendall(s, request.encode() * polls)
        data = b""
        while data.count(b"HTTP/1.1 ") < polls:
            data += await asyncio.wait_for(loop.sock_recv(s, 1 << 16), T)
        await asyncio.sleep(0.1)  # the tap's decoding, as above
        cpu = time.process_time() - cpu
    finally:
        gc.enable()
    s.close()
    return {"polls": polls, "cpu_s": cpu, "bytes": len(data) + polls * len(request)}


await asyncio.sleep(1.1)  # the feed's first update, so every poll gets an answer with news
runs = {"straight to Tornado": await chat_burst(server.direct_url),
        "through the tap": await chat_burst(server.url)}
polls = {"straight to Tornado": await poll_burst(server.direct_url()),
         "through the tap": await poll_burst(server.url())}

# %% [markdown]
# The figures (live):

# %% tags=["nbval-ignore-output"]
for path in runs:
    r, p = runs[path], polls[path]
    print(f"{path}: {r['frames'] / r['cpu_s']:,.0f} chat frames per CPU-second "
          f"({r['bytes_per_frame']:.0f} bytes each); "
          f"{p['polls'] / p['cpu_s']:,.0f} polls per CPU-second ({p['bytes'] / p['polls']:.0f} bytes each, both ways)")
direct_rate = runs["straight to Tornado"]["frames"] / runs["straight to Tornado"]["cpu_s"]
poll_rate = polls["straight to Tornado"]["polls"] / polls["straight to Tornado"]["cpu_s"]
frame_bytes = runs["straight to Tornado"]["bytes_per_frame"]
poll_bytes = polls["straight to Tornado"]["bytes"] / polls["straight to Tornado"]["polls"]

# %%
print("straight to Tornado, one core writes over 2,000 chat frames a second:", direct_rate > 2000)
print("a poll costs more CPU than a pushed frame:", poll_rate < direct_rate)
print("a poll carries more bytes than a pushed chat frame:", poll_bytes > frame_bytes)

# %% [markdown]
# In the runs we made while writing this, Tornado wrote between about 20,000 and 60,000 chat
# frames per CPU-second (one message is encoded once, then written to every member) and
# answered between about 2,000 and 5,000 polls per CPU-second; the figures moved from run to run, as the machine was busy with
# other work. Through the tap both were lower in most of our runs, but not in every one, so only
# the live figures above compare them. Each poll is a request to read and parse, a handler to run and a response head
# to write, where a push is one small frame to a connection already open.
#
# Be honest about what these are:
#
# - **One core.** A Python process runs its Python code on one core at a time (the GIL), so
#   these are per-core figures; this laptop-sized test cannot show what 8 or 64 cores do.
# - **The clients are in the same process**, and so are the notebook kernel's own threads.
#   Plain sockets that count bytes cost little, but not nothing: the server's share is a little
#   better than shown.
# - **A burst on loopback** is the friendliest case: no network, no slow readers, no TLS to
#   encrypt.
# - **The tap's own cost.** Through the tap every frame is also relayed, recorded and decoded
#   (as it comes while something watches, as here when read), on the same loop as the server. And the garbage collector's *full* passes walk every object
#   alive in the process, this kernel's own too. Here is how long one full pass takes now
#   (live):

# %% tags=["nbval-ignore-output"]
started = time.perf_counter()
gc.collect()
pause_ms = 1000 * (time.perf_counter() - started)
print(f"one full garbage collection: {pause_ms:.1f} ms, with {len(gc.get_objects()):,} objects tracked")

# %% [markdown]
# While it runs, no frame moves. The course's classroom benchmark (`bench/classroom.py`: the
# lab as `python -m wsdemo serve`, 50 students in another process, each chatting and moving a
# cursor 30 times a second, all over loopback with no network conditions set) measured this on
# the machine the course was written on, in three rounds of a minute for each path. Straight to
# Tornado, 99 in 100 chat messages reached a student's socket within 7.8 ms (7.4 to 8.2 ms in
# the three rounds), with the server using 25% of a core; through the tap, within 8.8 ms (6.6
# to 10.8 ms), with 28%. Five other runs of it with 50 students on the same machine, also over
# loopback with no network conditions set, in three rounds of 20 seconds to a minute a path,
# gave the tap 1.01 to 1.31 times the direct figure. A p99 is set by a handful of unlucky
# messages: with an earlier version of the tap (same benchmark, same conditions), one 20-second
# round came to 26 ms, and the two rounds after it to 4.6 and 3.7 ms.
# The tap shares the server's loop: every chunk the class sends costs it a read and a relay,
# and a message can wait behind that work. Decoding every frame as it came used to cost more
# than the relay (through the tap, the server then used 28% of a core where Tornado alone used
# 17%). So while nobody watches a connection (no widget, no `subscribe`), the tap keeps its
# newest frames undecoded until someone reads them, and frames that leave that window are only
# checked and counted, not kept; with a widget open, every frame is decoded as it comes. Full
# passes come on top: the same
# benchmark, with the lab on a kernel-like loop, counted at most one in each 20-second run,
# through the tap or straight to Tornado alike, of 23 to 38 ms. Earlier versions of the lab were far slower through the tap (362 ms, the same
# benchmark over loopback): their recording was over a hundred thousand small objects for every
# full pass to walk. A production server keeps no such recording.
#
# ## Two servers, one room
#
# One process, one core, has a ceiling. Past it, services run many server processes behind a
# load balancer, and then two friends in one chat room may be connected to different servers.
# A *backplane* carries each room's messages between them: here Redis publish/subscribe. Each
# server publishes what it broadcasts to its own members, and hands what the others publish to
# its own members (`wsdemo/backplane.py` explains the details).
#
# This section needs `redis-server`. `backplane.local_redis()` starts a throwaway one on a free
# loopback port that keeps nothing on disk; without the program, it says how to install it, and
# the cells below print that instead of running.

# %%
try:
    redis = await asyncio.wait_for(backplane.local_redis(), 15)
    HAVE_REDIS = True
except backplane.RedisNotInstalled as missing:
    HAVE_REDIS = False
    print(missing)
    print("Install it, then run this cell again to run this section; the rest of the notebook runs without it.")
if HAVE_REDIS:
    a = await asyncio.wait_for(wsdemo.serve(name="a", backplane=redis.url), T)
    b = await asyncio.wait_for(wsdemo.serve(name="b", backplane=redis.url), T)
    print("server a connected to Redis:", a.backplane.status.connected)
    print("server b connected to Redis:", b.backplane.status.connected)

# %% [markdown]
# Ada joins the room on server A and Grace on server B. Ada says hello:

# %%
if HAVE_REDIS:
    ada = await asyncio.wait_for(a.connect("/chat?name=Ada"), T)
    grace = await asyncio.wait_for(b.connect("/chat?name=Grace"), T)

    async def next_message(client):
        while True:
            event = await client.recv_json(T)
            if event["type"] == "message":
                return event

    arrivals = asyncio.gather(next_message(ada), next_message(grace))
    await asyncio.wait_for(ada.send("hello from server A"), T)
    at_ada, at_grace = await asyncio.wait_for(arrivals, T)
    print("Ada got:  ", at_ada["name"], "says", repr(at_ada["text"]))
    print("Grace got:", at_grace["name"], "says", repr(at_grace["text"]))

# %% [markdown]
# The two taps recorded the message's two ends. On server A it entered as a masked client
# frame of plain text; on server B it left as an unmasked server frame carrying the JSON chat
# message, which B never received from any of its own clients:

# %%
def last_data_frame(conn, sender):
    conn.flush()
    return [e.frame for e in conn.events if isinstance(e, wire.FrameEvent) and e.sender == sender
            and e.frame.opcode == wire.Opcode.TEXT][-1]


if HAVE_REDIS:
    entered = last_data_frame(ada.connection, "client")
    left = last_data_frame(grace.connection, "server")
    print("entered server A:", "masked" if entered.masked else "unmasked", "text frame,",
          f"{len(entered.header)} bytes of header:", entered.payload.decode())
    chat_message = {k: v for k, v in json.loads(left.payload).items() if k != "at"}  # "at": the time
    print("left server B:   ", "masked" if left.masked else "unmasked", "text frame,",
          f"{len(left.header)} bytes of header:", chat_message, "and the time it was sent")
    print("Ada's connection is on server A's tap:", ada.connection in a.tap.connections)
    print("Grace's connection is on server B's tap:", grace.connection in b.tap.connections)

# %% [markdown]
# Between the two, the message went from A to Redis and from Redis to B, as a small envelope
# (`{"v": 1, "origin": ..., "room": "chat", "data": ...}`) on loopback TCP. What does that trip
# add? `measure_cross_server` sends 20 messages one at a time to A and times each one's arrival
# at a member on A and at a member on B (the same clock: all the clients are in this kernel).
# Live figures:

# %% tags=["nbval-ignore-output"]
if HAVE_REDIS:
    trip = await asyncio.wait_for(backplane.measure_cross_server(a, b, n=20), 30)
    print(trip)
    print(a.backplane.status)

# %%
if HAVE_REDIS:
    print("every message reached both servers' members:", len(trip.local) == len(trip.across) == 20)
    print("the backplane adds under 50 ms (median):", trip.added_ms < 50)

# %% [markdown]
# On loopback the extra trip cost well under a millisecond here. Between real machines add the
# network's round trips to the broker, and the broker's own limits: one Redis process runs its
# commands one at a time. Large services shard rooms across several brokers, or use other
# brokers (NATS, Kafka). A WebSocket stays on the server it was opened to for its whole life;
# "sticky sessions" at the load balancer matter for the polling fallbacks, whose requests could
# otherwise land on any server.

# %%
if HAVE_REDIS:
    for client in (ada, grace):
        await asyncio.wait_for(client.close(), T)
    await asyncio.wait_for(a.stop(), T)
    await asyncio.wait_for(b.stop(), T)
    await asyncio.wait_for(redis.stop(), T)
    print("servers a and b and the Redis stopped:", not a.running and not b.running and redis.proc is None)

# %% [markdown]
# ## One million users
#
# Now the essay's multiplication, with your own figures. The projection uses the figures
# **straight to Tornado** measured above (a production server has no tap) and states every
# assumption as a number you can change:
#
# - **a machine** has 8 cores and 16 GiB, runs one server process per core, and is planned at
#   most half busy (room for bursts, a failed neighbour's users, the garbage collector);
# - **the ticker**: every user gets one update a second;
# - **the chat**: rooms of 50, each user sends a message a minute; each message goes to its
#   whole room, the sender included (as the lab's chat does);
# - **shared cursors**: every user is in a room where someone moves all the time, so every
#   member gets a tick frame 20 times a second (`cursor_tick_hz`, notebook 05);
# - **polling the ticker**: the same users ask `/poll` once a second instead, each poll costing
#   the CPU and the bytes measured above; the memory of their keep-alive connections is not
#   counted, which favours polling.
#
# Bytes per frame and per poll are the ones this notebook measured (a pushed chat frame, from
# the server; a poll's request and answer, both ways), not 06's table. A browser's poll carries
# 500 bytes or more of headers (06 measured it), which would only make polling look worse.

# %%
USERS = 1_000_000
CORES, RAM = 8, 16 * 2**30      # one machine
BUSY = 0.5                      # plan each machine at most half busy

workloads = {                   # name: (frames or polls per second, per-core rate, bytes each, open connections)
    "ticker, pushed":        (USERS * 1,        direct_rate, frame_bytes, USERS),
    "chat, pushed":          (USERS / 60 * 50,  direct_rate, frame_bytes, USERS),
    "cursors at 20 Hz":      (USERS * 20,       direct_rate, frame_bytes, USERS),
    "ticker, polled 1/s":    (USERS * 1,        poll_rate,   poll_bytes,  0),
}
projection = {}
for name, (per_second, rate, size, conns) in workloads.items():
    cpu_machines = per_second / rate / (CORES * BUSY)
    memory_machines = conns * direct_per_conn / (RAM * BUSY)
    projection[name] = {"machines": max(1, math.ceil(max(cpu_machines, memory_machines))),
                        "bound by": "CPU" if cpu_machines >= memory_machines else "memory",
                        "Gbit/s": per_second * size * 8 / 1e9}

# %% [markdown]
# The answer on this machine (live, since it follows your measurements):

# %% tags=["nbval-ignore-output"]
for name, p in projection.items():
    print(f"{name:20} {p['machines']:5,.0f} machines ({p['bound by']}-bound), {p['Gbit/s']:6.2f} Gbit/s on the wire")

# %% [markdown]
# What holds on every machine:

# %%
print("polling the ticker needs more machines than pushing it:",
      projection["ticker, polled 1/s"]["machines"] > projection["ticker, pushed"]["machines"])
print("polling the ticker needs more bandwidth than pushing it:",
      projection["ticker, polled 1/s"]["Gbit/s"] > projection["ticker, pushed"]["Gbit/s"])
print("cursors at 20 Hz need the most machines of the pushed workloads:",
      projection["cursors at 20 Hz"]["machines"] > max(projection["ticker, pushed"]["machines"],
                                                      projection["chat, pushed"]["machines"]))

# %% [markdown]
# Pushed, a million ticker users took between 4 and 12 machines in our runs, for the CPU; their
# connections alone would fit in the memory of two. Polled once a second, the same users took
# about 5 to 20 times as many machines and almost four times the bandwidth, and each still sees an
# update up to a second late. Cursors cost
# the most, because 20 frames a second to every member is a lot of frames: that is why the lab
# batches cursor moves into ticks at all (without ticks, every move of every member would be a
# frame to every other).
#
# ## Where this projection is weak
#
# - **Idle and active users.** A million *connected* users are not a million *active* ones:
#   most chat users read; few rooms have someone moving a cursor all the time. Size for the
#   busiest hour you expect, not for the average, and not for "everyone at once" either.
# - **Message sizes.** Every frame was priced at one small chat message. Ticker updates and
#   cursor ticks (which carry every cursor that moved) have their own sizes; a big message
#   costs more CPU and bandwidth per frame.
# - **Burstiness.** A goal, a sale, a deploy: everyone reconnects at once. A TLS handshake
#   costs far more CPU than a frame, and a million reconnects in a minute is a load of its own.
# - **Memory per TLS connection** and the kernel's socket buffers are not in the figure above.
# - **Cores do not scale perfectly.** Eight processes on eight cores share memory bandwidth,
#   the network card and the backplane; per-core figures from a quiet loopback test are a
#   best case.
# - **The tap's own cost.** It was left out on purpose; through it, the lab held about three
#   times the memory per connection and spent up to about twice the CPU per frame or poll
#   (measured above), and its recording makes the garbage collector pause.
#
# ## What production servers do differently
#
# - **Many processes, many cores.** One process per core (or one multi-threaded process in a
#   language without a GIL), several machines behind a **load balancer** that spreads new
#   connections and, for HTTP fallbacks, keeps a client on its server (**sticky sessions**).
# - **Event loops in C, C++, Go or Rust.** Servers such as uWebSockets (C++), or servers built
#   on Go's and Rust's runtimes, usually do the per-frame work with far less overhead than
#   Python, and hold more connections per gigabyte.
# - **Kernel tuning**: file-descriptor limits far above 1,024 (we raised ours above), socket
#   buffer sizes, the range of local ports a proxy may use.
# - **Pub/sub fan-out**: a broker (Redis, NATS, Kafka) or a dedicated fan-out tier carries a
#   room's messages to the servers that hold its members, as the backplane did above.
# - **No recording.** Nothing like the tap: a production server keeps as little per connection
#   as it can.
#
# ### On your own: your own budget
#
# A chat service for 1,000,000 users, in rooms of 20, where each user sends a message every 30
# seconds. Its machines are smaller than ours: 4 cores and 8 GiB each, planned at most 70% busy.
# How many machines does it need, with *your* figures straight to Tornado (`direct_rate` frames
# per CPU-second, `direct_per_conn` bytes per connection)? Count the frames per second, the
# machines the CPU needs and the machines the memory needs; the larger, rounded up, is the
# answer.

# %%
machines = None  # your turn: a whole number of machines
ok = exercises.check_machines(machines, users=1_000_000, room_size=20, seconds_between_messages=30,
                              frames_per_core_second=direct_rate, bytes_per_connection=direct_per_conn,
                              cores=4, ram_bytes=8 * 2**30, busy=0.7)

# %% [markdown]
# Stuck? `exercises.solution("machines")`.
#
# Try also: run the chat burst with 10 and with 500 listeners,
# `await chat_burst(server.direct_url, members=500)` (straight to Tornado: the tap takes at most
# 256 connections from one address), and divide `frames` by `cpu_s`. Does the cost per frame
# change with the room's size, and why might it?
#
# ## Summary
#
# - An idle WebSocket costs the server memory (about 10 KiB in Tornado here, plus the
#   kernel's buffers and TLS), and each frame costs CPU; one Python core wrote tens of thousands
#   of small chat frames per CPU-second.
# - A poll costs more CPU and more bytes than a pushed frame, and still arrives late: at a
#   million users, that is the difference between a few machines and many.
# - Past one process, a backplane (here Redis pub/sub) joins servers into one room, for under a
#   millisecond more on loopback.
# - A projection is only as good as its assumptions: active users, message sizes, bursts, TLS
#   and the per-core figure all move it. Measure, then state them.
#
# This is the end of the course's arc: the essay's claim about millions of users, checked on
# your own machine's figures. Go back to [00 · Start here](00-start-here.ipynb) for the map.

# %%
await asyncio.wait_for(server.stop(), T)
print("server stopped:", server)
