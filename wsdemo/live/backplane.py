"""Scale out: rooms and the feed shared across server processes through Redis pub/sub.

One process serves a few thousand sockets; past that, real chat and presence services run
several servers behind a load balancer and let a broker carry each room's messages between
them. ``serve(backplane="redis://HOST:PORT")`` (``python -m wsdemo serve --backplane ...``)
does that with Redis, the usual broker; without it nothing here is imported, nor is redis.

What is shared, and how (channels ``wsdemo:chat``, ``wsdemo:cursors``, ``wsdemo:feed``):

- chat and cursors: every broadcast a server makes to its own members (a chat message,
  a join/leave notice, a cursor move) is also published once, as the exact JSON text the
  members get, inside a small envelope ``{"v": 1, "origin": SERVER_ID, "room", "data"}``.
  Every server subscribes to the rooms and hands ``data`` to its own members, unchanged.
  Redis delivers a message to its publisher's subscription too: a server drops envelopes
  with its own ``origin`` (its members got the message already), so nothing is doubled.
  Order per sender holds end to end: one publishing connection fed by one queue, one
  subscribing connection, and Redis keeps the order of one connection's publishes.
- the feed (/ticker, /poll, /longpoll, /sse): one publisher. The server holding the lock
  ``wsdemo:feed:publisher`` (SET NX with a TTL, renewed) runs the feed's timer and
  publishes each update; the others stop their own timers and serve the updates they
  receive. Why one and not one per server: a load balancer sends a poller's requests to
  any server, and ``/poll?since=SEQ`` only means something if SEQ is the same update
  everywhere. If the publisher dies its lock expires and another server takes over.
  Sequence numbers never go back on any server: during an outage each feed ticks on its
  own, so afterwards every server writes its highest number to ``wsdemo:feed:seq`` and the
  publisher continues above the highest; a follower ignores updates not above its own.
- who is in the chat room: a join or leave envelope also carries ``"users"``, the sending
  server's own members; each server keeps the latest list of every other server, so the
  ``users`` of a join/leave it makes is the whole room (passed on to the others as made). A server asks for the
  others' lists when it (re)connects (channel ``wsdemo:presence``) and says it has nobody
  left when it stops; lists are forgotten while Redis is unreachable. (A server that dies
  without stopping leaves its names in the others' lists until they reconnect.)
- cursor ids: each server starts its numbering at a random base, so ids from different
  servers do not collide on a page (it keys cursors by id).

Faults: Redis gone, each server goes on serving its own members (its feed ticks locally
again), logs it on ``wsdemo.backplane``, shows it in ``server.backplane.status`` and
reconnects with backoff. A chat message sent meanwhile still reaches the sender's own
server; its sender gets ``{"type": "notice", "code": "not_relayed", "text"}`` naming that
the other servers did not get it, and ``status.failed`` counts it. Nothing is queued for
later: a chat message that arrives minutes late, out of order with what came since, would
be worse than one reported as lost.

Bounds: a chat message is checked against ``max_message_size`` before it is published
(chat.py); an envelope received is dropped (``status.dropped``) if it is not ours to read
or its data is over this server's ``max_message_size``; at most ``MAX_PENDING`` messages
wait to be published (past it they fail, reported like an outage).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .apps.base import AppState, BaseSocket
    from .server import Server

log = logging.getLogger("wsdemo.backplane")

PREFIX = "wsdemo:"
ROOMS = ("chat", "cursors", "feed", "presence")
LOCK_KEY = PREFIX + "feed:publisher"
SEQ_KEY = PREFIX + "feed:seq"  # the highest update number any server has served
LOCK_TTL_MS = 3000  # a dead publisher's lock frees itself this soon
LOCK_RENEW = 1.0  # seconds between renewals (well inside the TTL)
CONNECT_TIMEOUT = 2.0  # seconds
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0  # seconds between reconnect attempts, doubling
MAX_PENDING = 1000  # messages waiting to be published
MAX_SERVERS = 100  # other servers whose chat members this one keeps track of
ENVELOPE_SLACK = 1024  # bytes an envelope adds around a message, at most
NOT_RELAYED = "not_relayed"
FORM = "redis://HOST:PORT (for example redis://127.0.0.1:6379)"

# Renew the lock only if it is still ours (another server may hold it after an expiry).
_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")
# SEQ_KEY = max(SEQ_KEY, ARGV[1]); returns the new value.
_RAISE = ("local top = tonumber(redis.call('get', KEYS[1]) or '0') "
          "if tonumber(ARGV[1]) > top then top = tonumber(ARGV[1]); redis.call('set', KEYS[1], top) end "
          "return top")
_RELEASE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('del', KEYS[1]) else return 0 end")


def check_url(url: Any) -> str:
    """``url`` if it is ``redis://HOST:PORT`` (an optional ``/DB``); ValueError naming the form."""
    if not isinstance(url, str):
        raise ValueError(f"backplane must be {FORM}, got {url!r:.80}")
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError:
        port, parsed = None, None
    ok = (parsed is not None and parsed.scheme == "redis" and parsed.hostname and port
          and not parsed.query and not parsed.fragment
          and (parsed.path in ("", "/") or parsed.path[1:].isdigit()))
    if not ok:
        raise ValueError(f"backplane must be {FORM}, got {url!r:.80}")
    return url


def require_redis():
    try:
        import redis.asyncio  # noqa: F401  (only when a backplane is asked for)
    except ImportError:
        raise ModuleNotFoundError(
            "a backplane needs the redis package: pip install 'redis>=5' "
            "(or pip install 'wsdemo[scale]')", name="redis") from None


@dataclass(frozen=True)
class BackplaneStatus:
    """``server.backplane.status``: where this server stands with the broker."""

    url: str
    server_id: str
    connected: bool
    since: float  # time.time() of the last change of ``connected``
    feed_role: str  # "publisher", "follower" or "local" (Redis unreachable: own timer)
    published: int  # messages handed to Redis
    received: int  # messages from other servers delivered to this one's members
    failed: int  # messages that did not reach the other servers (outage, full queue)
    dropped: int  # envelopes received and refused (malformed, too big)
    last_error: str | None

    def __str__(self) -> str:
        state = "connected" if self.connected else "DISCONNECTED"
        ago = time.time() - self.since
        text = (f"backplane {self.url}: {state} for {ago:.1f} s, feed {self.feed_role}; "
                f"published {self.published}, received {self.received}, failed {self.failed}, "
                f"dropped {self.dropped}")
        return text + (f"; last error: {self.last_error}" if self.last_error else "")


class Backplane:
    """The Redis link of one server: ``server.backplane`` (None without ``backplane=``)."""

    def __init__(self, url: str, state: "AppState", *, label: str | None = None):
        self.url = check_url(url)
        self.state = state
        self.server_id = f"{label + '-' if label else ''}{secrets.token_hex(4)}"
        self._redis: Redis | None = None  # from start() to stop()
        self._connected = False
        self._since = time.time()
        self._feed_role = "local"
        self._counts = dict(published=0, received=0, failed=0, dropped=0)
        self._last_error: str | None = None
        self._queue: asyncio.Queue = asyncio.Queue(MAX_PENDING)
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._reconnect = asyncio.Event()
        self._remote: dict[str, list[str]] = {}  # server id -> its chat members

    def __repr__(self) -> str:
        return f"<Backplane {self.status}>"

    @property
    def status(self) -> BackplaneStatus:
        return BackplaneStatus(self.url, self.server_id, self._connected, self._since,
                               self._feed_role, last_error=self._last_error, **self._counts)

    @property
    def connected(self) -> bool:
        return self._connected

    def remote_users(self) -> list[str]:
        """The chat members of the other servers, as they last said."""
        return [name for names in self._remote.values() for name in names]

    def _announce(self, *, ask: bool) -> None:
        """Tell the others who is in the chat room here (``ask``: and ask for their lists)."""
        self.relay("presence", "", users=sorted(self.state.chat.values()), ask=ask)

    # -- life ----------------------------------------------------------------

    async def start(self) -> None:
        """Connect (or fail to, once) and keep the link up in the background."""
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries inside redis-py: an outage must show at once (the loop below reconnects).
        self._redis = client = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=CONNECT_TIMEOUT, retry=Retry(NoBackoff(), 0))
        # A random base: cursor ids from different servers never meet on one page.
        self.state.next_cursor_id = 1 + secrets.randbelow(1 << 30) * 1000
        self.state.feed.relay = self._relay_feed
        first_attempt = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._subscribe_loop(client, first_attempt),
                                        name="wsdemo backplane subscriber"),
                       loop.create_task(self._publish_loop(client), name="wsdemo backplane publisher"),
                       loop.create_task(self._lock_loop(client), name="wsdemo backplane feed lock")]
        await asyncio.wait_for(first_attempt.wait(), CONNECT_TIMEOUT + 3)

    async def stop(self) -> None:
        if self._connected and self._redis is not None:
            try:  # the others drop this server's members from their lists
                envelope = self._envelope("presence", "", users=[], ask=False)
                await asyncio.wait_for(self._redis.publish(PREFIX + "presence", envelope), 1)
            except Exception as exc:
                log.debug("saying goodbye: %s", exc)
        self._stopping = True
        self.state.feed.relay = None
        if self._feed_role == "publisher" and self._redis is not None and self._connected:
            try:  # hand the feed on now, not after the TTL
                await asyncio.wait_for(self._redis.eval(_RELEASE, 1, LOCK_KEY, self.server_id), 1)
            except Exception as exc:  # Redis already gone: the TTL frees it
                log.debug("releasing the feed lock: %s", exc)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def _broken(self, error: str) -> None:
        """A command failed: the link is down until the subscriber has connected anew."""
        self._set_connected(False, error)
        self._reconnect.set()  # the subscriber starts over, and so says when it is back

    def _set_connected(self, connected: bool, error: str | None = None) -> None:
        if error:
            self._last_error = error
        if connected == self._connected:
            return
        self._connected, self._since = connected, time.time()
        if connected:
            log.info("backplane %s connected: rooms and feed shared with the other servers", self.url)
        else:
            log.warning("backplane %s unreachable (%s): serving this server's members only, "
                        "reconnecting", self.url, error)
            self._set_feed_role("local")
            self._remote.clear()  # who is where is unknown until the others answer again

    def _set_feed_role(self, role: str) -> None:
        if role == self._feed_role:
            return
        self._feed_role = role
        self.state.feed.following = role == "follower"  # a follower's own timer rests
        log.info("backplane: this server's feed is now %s", role)

    # -- out -----------------------------------------------------------------

    def _envelope(self, room: str, data: str, **extra) -> str:
        return json.dumps({"v": 1, "origin": self.server_id, "room": room, "data": data, **extra},
                          ensure_ascii=False)

    def relay(self, room: str, data: bytes | str, *, author: "BaseSocket | None" = None,
              **extra) -> None:
        """Publish what this server just sent its own members of ``room`` to the others. If it
        cannot be, ``author`` (the member who sent it, if any) is told."""
        if isinstance(data, bytes):
            data = data.decode()
        if self._stopping:
            return
        if not self._connected:
            self._fail(author, f"the backplane ({self.url}) is down since "
                               f"{time.strftime('%H:%M:%S', time.localtime(self._since))}")
            return
        envelope = self._envelope(room, data, **{k: v for k, v in extra.items() if v is not None})
        try:
            self._queue.put_nowait((PREFIX + room, envelope, author))
        except asyncio.QueueFull:
            self._fail(author, f"over {MAX_PENDING} messages wait to be published")

    def _relay_feed(self, update: dict) -> None:
        if self._feed_role == "publisher":
            self.relay("feed", json.dumps(update))

    def _fail(self, author: "BaseSocket | None", why: str) -> None:
        self._counts["failed"] += 1
        if author is not None:
            author.send(json.dumps({
                "type": "notice", "code": NOT_RELAYED,
                "text": f"your message reached this server's members only; the other servers "
                        f"did not get it: {why}"}))

    async def _publish_loop(self, client: Redis) -> None:
        while True:
            channel, envelope, author = await self._queue.get()
            if not self._connected:
                self._fail(author, f"the backplane ({self.url}) went down before it was sent")
                continue
            try:
                await client.publish(channel, envelope)
                self._counts["published"] += 1
            except Exception as exc:  # ConnectionError, TimeoutError, ...: an outage
                self._fail(author, f"the backplane ({self.url}) failed: {_describe(exc)}")
                self._broken(_describe(exc))

    # -- in ------------------------------------------------------------------

    async def _subscribe_loop(self, client: Redis, first_attempt: asyncio.Event) -> None:
        backoff = BACKOFF_FIRST
        while True:
            # Connections pooled before an outage are dead; the first command on one would fail.
            await client.connection_pool.disconnect()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            listening = None
            try:
                await pubsub.subscribe(*(PREFIX + room for room in ROOMS))
                self._reconnect.clear()
                self._set_connected(True)
                self._announce(ask=True)
                first_attempt.set()
                backoff = BACKOFF_FIRST
                listening = asyncio.ensure_future(self._listen(pubsub))
                broken = asyncio.ensure_future(self._reconnect.wait())
                await asyncio.wait({listening, broken}, return_when=asyncio.FIRST_COMPLETED)
                broken.cancel()
                if listening.done():
                    listening.result()  # its error, if it has one
                raise ConnectionError("subscription ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._set_connected(False, _describe(exc))
            finally:
                first_attempt.set()
                if listening is not None and not listening.done():
                    listening.cancel()
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _listen(self, pubsub) -> None:
        async for message in pubsub.listen():
            self._deliver(message)

    def _deliver(self, message: dict) -> None:
        if message.get("type") != "message":
            return
        raw = message.get("data")
        limit = self.state.max_message_size
        try:
            if not isinstance(raw, (bytes, str)):
                raise TypeError(f"data is {type(raw).__name__}, not bytes")
            if len(raw) > limit + ENVELOPE_SLACK:
                raise ValueError(f"over {limit} bytes")
            envelope = json.loads(raw)
            origin, room, data = envelope["origin"], envelope["room"], envelope["data"]
            if not isinstance(data, str) or room not in ROOMS or envelope.get("v") != 1:
                raise ValueError("not a wsdemo envelope")
        except (ValueError, TypeError, KeyError) as exc:
            self._counts["dropped"] += 1
            log.info("backplane: dropped a message on %s: %s", message.get("channel"), exc)
            return
        if origin == self.server_id:
            return  # our own, echoed by Redis: our members have it already
        users = envelope.get("users")
        if users is not None:
            from .apps.chat import MAX_NAME

            if not (isinstance(users, list) and len(users) <= self.state.max_connections
                    and all(isinstance(u, str) and len(u) <= MAX_NAME for u in users)
                    and (origin in self._remote or len(self._remote) < MAX_SERVERS)):
                self._counts["dropped"] += 1
                log.info("backplane: dropped a member list from %s: not one this server keeps", origin)
                return
            if users:
                self._remote[origin] = users
            else:
                self._remote.pop(origin, None)
        if room == "presence":
            if envelope.get("ask"):
                self._announce(ask=False)
            return
        encoded = data.encode()
        if len(encoded) > limit:
            self._counts["dropped"] += 1
            log.info("backplane: dropped a %s message of %d bytes from %s: over this server's "
                     "%d-byte max_message_size", room, len(encoded), origin, limit)
            return
        self._counts["received"] += 1
        if room == "chat":
            from .apps.chat import ChatSocket

            ChatSocket.deliver(self.state, encoded)
        elif room == "cursors":
            from .apps.cursors import CursorsSocket

            CursorsSocket.deliver(self.state, data)
        elif self._feed_role == "follower":  # a publisher or a lone server keeps its own feed
            try:
                self.state.feed.accept(json.loads(data))
            except (ValueError, TypeError, KeyError):
                self._counts["dropped"] += 1

    # -- the feed's one publisher --------------------------------------------

    async def _lock_loop(self, client: Redis) -> None:
        feed = self.state.feed
        while True:
            if self._connected:
                try:
                    top = int(await client.eval(_RAISE, 1, SEQ_KEY, feed.seq))
                    if top > feed.seq and self._feed_role != "follower":
                        feed.seq = top  # continue above what any server has served
                    mine = await client.set(LOCK_KEY, self.server_id, nx=True, px=LOCK_TTL_MS)
                    if not mine:
                        mine = await client.eval(_RENEW, 1, LOCK_KEY, self.server_id, LOCK_TTL_MS)
                    if self._connected:
                        self._set_feed_role("publisher" if mine else "follower")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._broken(_describe(exc))
            # Not yet connected: look again soon, so the feed finds its role at once.
            await asyncio.sleep(LOCK_RENEW if self._connected else 0.05)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# -- a throwaway Redis for notebook 09 and the tests -------------------------

INSTALL_REDIS = ("apt-get install redis-server (Debian, Ubuntu), brew install redis (macOS), "
                 "or set WSDEMO_REDIS_SERVER to a redis-server program")


class RedisNotInstalled(FileNotFoundError):
    """No ``redis-server`` program was found; the message says how to install one."""


def find_redis_server() -> str | None:
    """The redis-server program: WSDEMO_REDIS_SERVER, else the one on PATH (None: neither)."""
    path = os.environ.get("WSDEMO_REDIS_SERVER") or shutil.which("redis-server")
    return path if path and os.path.exists(path) else None


class LocalRedis:
    """A redis-server of our own on a free loopback port, nothing saved to disk.

    ``await local.start()`` returns once it answers PING; ``local.url`` is its
    ``redis://127.0.0.1:PORT``. ``kill()`` stops it at once (an outage; ``start()`` again
    reuses the port), ``await local.stop()`` stops it for good. ``async with`` does both."""

    def __init__(self, workdir: str | os.PathLike | None = None):
        program = find_redis_server()
        if program is None:
            raise RedisNotInstalled(f"redis-server is not installed: {INSTALL_REDIS}")
        self.program = program
        self._own_dir = workdir is None  # a directory we made, removed on stop()
        self.workdir = str(workdir) if workdir is not None else tempfile.mkdtemp(prefix="wsdemo-redis-")
        with socket.socket() as s:  # a free port; redis-server binds it again at once
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __repr__(self) -> str:
        state = "running" if self.proc is not None and self.proc.poll() is None else "stopped"
        return f"<LocalRedis {self.url} {state}>"

    async def start(self, timeout: float = 10.0) -> "LocalRedis":
        self.proc = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:  # ready when it answers PING
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                try:
                    writer.write(b"PING\r\n")
                    answer = await asyncio.wait_for(reader.readline(), 2)
                finally:
                    writer.close()
                if answer.startswith(b"+PONG"):
                    return self
            except (OSError, asyncio.TimeoutError):
                pass
            if self.proc.poll() is not None or loop.time() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port} "
                                   f"within {timeout:g} s")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    async def stop(self) -> None:
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> "LocalRedis":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()


async def local_redis(timeout: float = 10.0) -> LocalRedis:
    """Start a throwaway redis-server on loopback (RedisNotInstalled says how to get one)."""
    return await LocalRedis().start(timeout)


# -- for notebook 09: what the backplane adds to one message's trip ----------

@dataclass(frozen=True)
class CrossServerLatency:
    """``measure_cross_server``'s result: seconds from send to receipt, per message."""

    local: list[float]  # a member of the sender's own server
    across: list[float]  # a member of the other server (through Redis)

    @staticmethod
    def _median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    @property
    def added_ms(self) -> float:
        """Median extra milliseconds the trip through Redis costs."""
        return 1000 * (self._median(self.across) - self._median(self.local))

    def __str__(self) -> str:
        return (f"{len(self.local)} messages: local median {1000 * self._median(self.local):.2f} ms, "
                f"across servers median {1000 * self._median(self.across):.2f} ms "
                f"(+{self.added_ms:.2f} ms through the backplane)")


async def measure_cross_server(a: "Server", b: "Server | str", n: int = 20,
                               timeout: float = 5.0) -> CrossServerLatency:
    """Send ``n`` chat messages to server ``a`` one at a time; time each one's arrival at a
    member on ``a`` and at a member on ``b`` (same clock: all three clients live in this
    process). ``b`` is another server of this process, or the ``ws://HOST:PORT`` of one in
    another process (``python -m wsdemo serve --backplane ...``); both on the same backplane."""
    from .client import Client

    if not 1 <= n <= 1000:
        raise ValueError(f"n must be 1 to 1000 messages, got {n!r}")
    for s in (a, b):
        if not isinstance(s, str) and getattr(s, "backplane", None) is None:
            raise ValueError(f"{s!r} has no backplane: serve(backplane='redis://HOST:PORT')")
    if isinstance(b, str) and not b.startswith(("ws://", "wss://")):
        raise ValueError(f"b must be a Server or a ws://HOST:PORT URL, got {b!r:.80}")
    tag = secrets.token_hex(3)
    sender = await a.connect(f"/chat?name=probe-{tag}")
    near = await a.connect(f"/chat?name=near-{tag}")
    far = (await Client.open(None, f"{b.rstrip('/')}/chat?name=far-{tag}") if isinstance(b, str)
           else await b.connect(f"/chat?name=far-{tag}"))
    loop = asyncio.get_running_loop()

    async def arrival(client, text: str) -> float:
        while True:
            event = await client.recv_json(timeout)
            if event.get("type") == "message" and event.get("text") == text:
                return loop.time()

    local, across = [], []
    try:
        for i in range(n):
            text = f"probe {tag} {i}"
            sent = loop.time()
            waits = asyncio.gather(arrival(near, text), arrival(far, text))
            await sender.send(text)
            t_near, t_far = await waits
            local.append(t_near - sent)
            across.append(t_far - sent)
    finally:
        for client in (sender, near, far):
            await client.close()
    return CrossServerLatency(local, across)
