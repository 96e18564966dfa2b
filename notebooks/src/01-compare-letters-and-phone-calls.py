# Source of notebooks/01-compare-letters-and-phone-calls.ipynb (build: .venv/bin/python scripts/build_notebooks.py 01)

# %% [markdown]
# # 01 · Compare letters and phone calls
#
# Classic HTTP works like posting letters. The browser writes a request, seals it with its
# headers and sends it; the server writes a reply. The next question starts the whole ritual
# again, headers and all (HTTP/1.1 may keep the TCP connection open between letters, but
# each letter still carries its own headers). And every reply answers a question: like a
# waiter who brings a dish only once you have ordered it, the server cannot send an answer
# that nobody asked for.
#
# A WebSocket is more like a phone call: dial once, then talk, both ways, for as long as you
# like. Pages wanted live news long before WebSockets (RFC 6455 dates from December 2011),
# and they got it inside HTTP's rules:
#
# - **polling**: ask again and again, "anything new? anything new?";
# - **long polling**: ask, and the server holds the question until it has news. Facebook's
#   chat was first deployed this way, in 2008 (*High Performance Browser Networking*, chapter
#   15, "Facebook Chat via XHR Long-Polling");
# - **streaming**: the server never finishes its answer and writes each piece of news into it
#   as it comes (a hidden "forever" iframe fed one script tag at a time, XHR streaming,
#   `multipart/x-mixed-replace`). Alex Russell named such server push over HTTP, held requests
#   included, *Comet* in 2006, with Gmail's chat among his examples ("Comet: Low Latency Data
#   for the Browser", 3 March 2006);
# - **Server-Sent Events**: the same streaming with a standard browser API, `EventSource`,
#   which Opera 9 shipped in 2006.
#
# So servers pushed long before WebSockets. What a page could not get was one line for both
# directions: news came down a held or endless answer, and everything the page said went up
# as a new HTTP request with its headers. A WebSocket is that line: full duplex, a few bytes
# of framing per message, and usable by any page through one standard API. Here you measure
# the two simplest tricks, polling and long polling, against it.
#
# **You will**
# - send one HTTP request and count its bytes on the wire;
# - run short polling and long polling against a live feed, and count what they cost;
# - compare that with the same feed pushed over one WebSocket;
# - see each of the three drawn as a sequence, and your own letter next to your own call.
#
# **You need** notebook [00](00-start-here.ipynb) and about 10 minutes.

# %%
import asyncio
import json

import tornado.httpclient

import wsdemo
from wsdemo import diagrams, exercises, wire

T = 5  # seconds: every await below gives up after this, so a broken server cannot hang the notebook

diagrams.letters_vs_phone_call()

# %% [markdown]
# ## One letter: a single HTTP request
#
# The lab's server publishes a price feed: a new update every 300 ms. It offers the feed
# three ways: `/poll` answers at once (the latest update, or `204 No Content`), `/longpoll`
# holds the request until there is news, and `/ticker` pushes every update over a WebSocket.
#
# We ask `/poll` once, with Tornado's HTTP client (it never blocks the kernel), through the
# tap:

# %%
server = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=300), T)
http = tornado.httpclient.AsyncHTTPClient()


async def get(path):
    """One HTTP GET through the tap; returns (status, tap connection)."""
    response = await asyncio.wait_for(http.fetch(server.http_url(path), request_timeout=T), T)
    conns = [c for c in server.tap.connections if (c.path or "").startswith(path.split("?")[0])]
    conn = conns[-1]
    return response.code, conn


await asyncio.wait_for(server.app_state.feed.wait(None, T), T)  # let the feed publish its first update
status, letter = await get("/poll")
print("status:", status)

# %% [markdown]
# The tap recorded the request and the answer. Every byte of these heads travels for every
# single question (the values are live: dates, ports, versions):

# %% tags=["nbval-ignore-output"]
print(letter.request.raw.decode())
print(letter.response.raw.decode() + letter.response.body.decode())

# %% [markdown]
# And its cost, counted on the wire:

# %% tags=["nbval-ignore-output"]
stats = letter.summary()
print(f"request head:  {stats.client.http_head_bytes} bytes")
print(f"response head: {stats.server.http_head_bytes} bytes, then a body of {stats.server.http_body_bytes} bytes")

# %% [markdown]
# The exact figures depend on the client and the server (a browser adds a long
# `User-Agent`, `Accept-*` headers and cookies: 500 to 800 bytes is common). What holds
# everywhere is the order of magnitude:

# %%
def band(n):
    for low, high in ((0, 50), (50, 100), (100, 200), (200, 400), (400, 800), (800, 1600)):
        if low <= n < high:
            return f"{low} to {high} bytes"
    return "1600 bytes or more"


heads = stats.client.http_head_bytes + stats.server.http_head_bytes
print("headers, both ways, for one question:", band(heads))

# %% [markdown]
# ## Short polling: "anything new?"
#
# The simplest way for a page to get fresh data is to ask again and again, whether or not
# there is news. Drawn as a sequence, time running downward:

# %%
diagrams.polling()

# %% [markdown]
# Let's run it. Our page asks every 50 ms for one second, passing the sequence number of the
# last update it has (`?since=`), so the server can answer `204 No Content` when nothing is new.
# Tornado's HTTP client sends `Connection: close` with every request, so each poll here also
# opens (and closes) a TCP connection of its own; notebook 06's poller keeps one connection
# open for all its polls, as browsers do.

# %%
async def short_poll(seconds=1.0, every=0.05):
    seen, statuses = None, []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        response = await asyncio.wait_for(
            http.fetch(server.http_url("/poll" + (f"?since={seen}" if seen is not None else "")),
                       request_timeout=T), T)
        statuses.append(response.code)
        if response.code == 200:
            seen = json.loads(response.body)["seq"]
        await asyncio.sleep(every)
    return statuses


first_conn = len(server.tap.connections)
statuses = await short_poll()
polls = server.tap.connections[first_conn:]

# %% [markdown]
# How did it go? The exact counts depend on timing, so we state them in bands:

# %%
empty = statuses.count(204) / len(statuses)
print("more than half of the polls came back empty:", empty > 0.5)
poll_bytes = sum(c.summary().client.http_head_bytes + c.summary().server.http_head_bytes for c in polls)
per_news = poll_bytes / max(statuses.count(200), 1)
print("each piece of news cost the headers of several letters:", per_news >= 2 * heads)
print("one TCP connection per poll (the tap records one per connection):", len(polls) == len(statuses))

# %% [markdown]
# The raw counts of this run (live):

# %% tags=["nbval-ignore-output"]
print(f"{len(statuses)} polls: {statuses.count(200)} with news (200), {statuses.count(204)} empty (204)")
print(f"{poll_bytes} bytes of headers in all, {per_news:.0f} per piece of news; one letter: {heads}")
print(f"{len(polls)} TCP connections opened, each with its own handshake (not counted in these bytes)")

# %% [markdown]
# Each empty answer is a whole letter sent for nothing. Ask less often and the news waits
# longer; ask more often and the waste grows.
#
# ## Long polling: a letter the server holds
#
# Long polling sends the question, and the server does not answer until it has news (or a
# timeout passes). The client asks again as soon as an answer arrives:

# %%
diagrams.long_polling()

# %% [markdown]
# The same for one second against our feed (`?timeout=3`: the server holds a request for
# 3 seconds at most):

# %%
async def long_poll(seconds=1.0):
    seen, statuses = None, []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        path = "/longpoll?timeout=3" + (f"&since={seen}" if seen is not None else "")
        response = await asyncio.wait_for(http.fetch(server.http_url(path), request_timeout=T), T)
        statuses.append(response.code)
        if response.code == 200:
            seen = json.loads(response.body)["seq"]
    return statuses


long_statuses = await long_poll()
print("every long poll came back with news:", set(long_statuses) == {200})
print("about one request per update:", len(long_statuses) <= 1.0 / 0.3 + 2)

# %% [markdown]
# Better: no empty answers, and while a question is waiting at the server, news travels to
# the page as soon as it exists, one way, like a push. But every update still costs a full
# request and response with their headers, and news that appears while no question is
# waiting (the answer is on its way back, or the next question has not arrived yet) must
# wait for the next question.
#
# ## The phone call: the same feed over one WebSocket
#
# `/ticker` pushes every update over an open WebSocket, without being asked:

# %%
ticker = await asyncio.wait_for(server.connect("/ticker"), T)
for _ in range(2):
    await asyncio.wait_for(ticker.recv(), T)
call = ticker.connection
framing = [e.frame for e in call.events if isinstance(e, wire.FrameEvent) and e.sender == "server"]
print("framing bytes per update:", sorted({len(f.header) for f in framing}))

# %% [markdown]
# Two bytes of framing per update from the server, against a full set of headers per letter.
# The handshake's headers are paid once, when the call is dialled. Drawn from what the tap
# recorded, our first letter next to the WebSocket:

# %%
diagrams.from_connections([letter, call])

# %% [markdown]
# ### On your own: the classic table
#
# Peter Lubbers and Frank Greco measured 871 bytes of request and response headers per poll.
# With 1,000 clients each polling once a second, how many megabits per second is that?
# (Their table divides by 2^20 = 1,048,576 bits per megabit.)

# %%
mbps = None  # your turn: a number
ok = exercises.check_bandwidth(mbps, clients=1000, bytes_per_message=871, per_second=1, unit="2^20")

# %% [markdown]
# Stuck? `exercises.solution("bandwidth")`. Notebook 06 measures these figures on your own
# traffic and projects them to 100,000 clients.
#
# ## Summary
#
# - An HTTP request and its answer carry their headers every time: hundreds of bytes per
#   question, counted above on the wire.
# - Short polling sends many letters for nothing; long polling wastes fewer, but still pays a
#   full request and response per update.
# - A WebSocket pays the headers once, then each update costs a few bytes of framing, and the
#   server sends the moment it has news.
#
# **Next:** [02 · Open the handshake](02-open-the-handshake.ipynb): how one HTTP request turns
# into that open line.

# %%
await asyncio.wait_for(ticker.close(), T)
await asyncio.wait_for(server.stop(), T)
print("server stopped:", server)
