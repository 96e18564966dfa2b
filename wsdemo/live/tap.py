"""The tap: a TCP relay in front of the Tornado app that records every chunk.

Clients connect to the tap's public port; for each connection the tap opens
one to Tornado's private port and copies bytes both ways. Relaying comes
first and does as little as possible: write the chunk on, note it with a
timestamp, and schedule decoding with ``loop.call_soon``. Decoding
(``wsdemo.wire.ConnectionDecoder``, the only decoder) runs just after, in
order, and nothing it does (or fails to do) can hold up or break the relay.

The tap is invisible to both ends: when one end goes, the other first gets every
byte the first one sent (even when asyncio had dropped the socket on a failed
write), then the same end of the line, once its kernel has acknowledged all of
it: a FIN for a FIN (a half-close: the other direction keeps flowing), a reset
for a reset.

With network conditions (``Tap.network``, network.py) each direction of a connection
becomes a lane: bytes wait there until the conditions say they arrive, in order, and an end
(FIN or reset) waits behind the bytes sent before it. Without conditions there is no lane and
the relay is as above.

With ``ssl_context`` the tap terminates TLS for its clients, as a load balancer does
(``TlsSide``, sides.py): ciphertext goes through a MemoryBIO pair, so ``Connection.tls`` counts the bytes
on the wire (records, handshake included) while the relay, the lanes and the recording see the
plain bytes, as without TLS. A client's close_notify (or a bare FIN) is its end of the line; the
tap's own end to a TLS client is close_notify, then a FIN. ``idle_timeout`` makes the tap cut a
connection that carried no byte either way for that long, as a proxy does, and say so in the
recording (a ``wire.TapEvent``) and the log.

Every event and every stored chunk passes through the wire layer's redaction
first: a browser behind a notebook proxy sends the Jupyter login cookie. Join
tokens in URLs (``?token=``) are masked the same way.

What the tap keeps is bounded by one byte budget across all connections
(``Tap.budget_bytes``, 256 MiB by default; ``Tap.retained_bytes`` is what the
rings keep now, estimated from payloads and Python's per-object costs). Past
it, closed connections lose their oldest events and chunks first, then the open
connection keeping the most; ``Connection.dropped_events`` says how many a
connection lost. Besides the rings, an open connection holds transient decoder
state: at most one message in progress per direction (``max_message_size``
bytes, ``wire.DEFAULT_MAX_FRAMES`` frames) and MAX_PENDING_BYTES undecoded.

Where each part lives: this module, the ``Tap`` (listening, limits, subscribers, the
budget); link.py, one relayed connection (``Link``: relay, lanes, idle timer, ends);
sides.py, its socket ends (``Side``, ``TlsSide``); recording.py, what it recorded
(``Connection``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import ssl
import time
from typing import Callable, Iterable

from .. import wire
from .callbacks import subscribe
from .decoding import DecodeQueue
from .link import Link
from .network import Network
from .recording import CLOSE_AT_ONCE, LOW_WATER, Connection
from .sides import READ_SIZE

log = logging.getLogger("wsdemo.tap")

DEFAULT_BUDGET = 256 << 20  # bytes the rings of all connections may keep, together
# Tap.idle_timeout's range, in seconds: above 0 (tests use fractions of a second), at most a day.
IDLE_TIMEOUT_RANGE = (0.01, 86_400)
# A class of 30 whose browsers each hold a page and a WebSocket or two needs about this
# many connections at once; a smaller cap is worth a warning (Server.capacity_warning).
CLASS_LINKS = 90
# Connections one client address may hold at once. On a classroom Wi-Fi each student has an
# address of their own, but behind a NAT (or jupyter-server-proxy, where everything comes
# from 127.0.0.1) a whole class shares one: 256 is a class of 40 with six connections each
# (a browser opens up to six per server), while one stranger cannot take every slot.
MAX_LINKS_PER_ADDRESS = 256


# default_max_links's ceiling, and the file descriptors it takes (three per link, 200 spare).
MAX_LINKS = 5000
_FDS_WANTED = 3 * MAX_LINKS + 200


def raise_fd_limit() -> tuple[int, int] | None:
    """Raise this process's soft limit on open files towards the hard limit, as far as the
    tap can use (three per connection; macOS shells start at 256, a class needs more).
    Returns (soft, hard) as they are now."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # macOS reports an unlimited hard limit but refuses more than OPEN_MAX (10240).
    targets = ((_FDS_WANTED, 10240, 4096) if hard == resource.RLIM_INFINITY
               else (min(hard, _FDS_WANTED),))
    for target in targets:
        if soft == resource.RLIM_INFINITY or soft >= target:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def default_max_links() -> int:
    """As many relayed connections as this process's file descriptor limit allows
    (three each: the client's, the tap's to Tornado, and Tornado's), keeping 200 spare."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 300
    if soft == resource.RLIM_INFINITY:
        return MAX_LINKS
    return max(20, min(MAX_LINKS, (soft - 200) // 3))


_listening: "list[Tap]" = []  # started and not stopped, oldest first


def listening() -> "list[Tap]":
    """The taps this process runs now, oldest first (a client that reconnected to a restarted
    server finds its new connection in the new server's tap)."""
    return list(_listening)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


class Tap:
    """Records every connection to ``target_host:target_port`` made through it.

    ``connections`` is a list, oldest first: every open connection plus up
    to ``max_closed`` closed ones. ``ring_size`` (items) and ``ring_bytes``
    (payload bytes, about) bound each connection's ``events`` and ``chunks``;
    ``budget_bytes`` bounds them all together (``retained_bytes`` now). Each
    connection is decoded with the server's ``max_message_size`` for what
    clients send. ``max_links`` caps the connections relayed at once (default:
    what the file descriptor limit allows), ``max_links_per_address`` those from
    one client address (default MAX_LINKS_PER_ADDRESS, at most half of ``max_links``).
    ``network`` (a ``wsdemo.Network``, a preset name, or None) puts the same network
    conditions between every client and the app; ``tap.network = ...`` changes them live,
    ``set_network(connection, ...)`` gives one connection its own.
    """

    # Set by start(): every link and connection, the only users, come after it.
    _loop: asyncio.AbstractEventLoop

    def __init__(self, target_host: str, target_port: int, *, ring_size: int = 1000,
                 ring_bytes: int = 8 << 20, max_closed: int = 100, max_links: int | None = None,
                 budget_bytes: int = DEFAULT_BUDGET, max_message_size: int = wire.DEFAULT_MAX_PAYLOAD,
                 max_links_per_address: int | None = None, network: Network | str | None = None,
                 ssl_context: ssl.SSLContext | None = None, idle_timeout: float | None = None):
        self._network = Network.of(network)
        # TLS is terminated here (the app behind speaks plain HTTP), as at a load balancer.
        self.ssl_context = ssl_context
        self.idle_timeout = idle_timeout  # (checked by the setter)
        self.target_host = target_host
        self.target_port = target_port
        self.ring_size = ring_size
        self.ring_bytes = ring_bytes
        # Open TCP connections at once; past it a new one gets a 503 from the tap itself.
        self.max_links = default_max_links() if max_links is None else max_links
        # Open connections from one client address at once; past it, a 429. By default
        # MAX_LINKS_PER_ADDRESS, but never more than half of max_links: others keep room.
        self.max_links_per_address = (max(1, min(MAX_LINKS_PER_ADDRESS, self.max_links // 2))
                                      if max_links_per_address is None else max_links_per_address)
        self.max_closed = max_closed
        self.retained_bytes = 0  # kept by every recorded connection's rings, about (see event_bytes)
        self.budget_bytes = budget_bytes  # (sets _trim_at)
        self.max_message_size = max_message_size
        self.connections: list[Connection] = []
        self.host: str | None = None
        self.port: int | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._links: set[Link] = set()
        # Open links per client address, kept as they open and close: counting them over
        # _links for each new one made opening N connections cost N² (bench/connections.py).
        self._per_address: dict[str, int] = {}
        self._upstream: dict[tuple[str, int], Link] = {}  # links by their app-side socket's address
        self._closed_recorded = 0  # closed connections in ``connections``
        self._next_id = 1
        self._last_chunk_at = 0.0  # time.time() of the last chunk relayed, any connection
        self._decoding = DecodeQueue(self)  # connections with chunks to decode, one timer for all
        self._read_view = memoryview(bytearray(READ_SIZE))  # every side reads into it (sides.py)
        self._subscribers: list[Callable] = []
        self._conn_subscribers: list[Callable] = []

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.port else "not listening"
        open_ = sum(c.is_open for c in self.connections)
        network = f", network: {self._network}" if self._network.active else ""
        network += ", TLS terminated here" if self.ssl_context is not None else ""
        network += f", idle timeout {self._idle_timeout:g} s" if self._idle_timeout else ""
        return (f"<Tap {where} -> {self.target_host}:{self.target_port}, "
                f"{open_} open / {len(self.connections)} recorded connections, "
                f"{_mib(self.retained_bytes)} of {_mib(self.budget_bytes)} kept{network}>")

    @property
    def idle_timeout(self) -> float | None:
        """Seconds a connection may go without a byte either way before the tap cuts it, as a
        proxy would (nginx's proxy_read_timeout, 60 s by default); None: never. A change
        applies to connections opened from then on."""
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, value: float | None) -> None:
        if value is not None:
            low, high = IDLE_TIMEOUT_RANGE
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or not low <= value <= high):
                raise ValueError(f"idle_timeout must be a number from {low:g} to {high:,g} seconds "
                                 f"(or None: no timeout), got {value!r}")
            value = float(value)
        self._idle_timeout = value

    @property
    def network(self) -> Network:
        """The conditions between clients and the app (a connection may have its own)."""
        return self._network

    @network.setter
    def network(self, value: Network | str | None) -> None:
        # Open connections change too: bytes already held keep their times, new ones follow.
        self._network = Network.of(value)
        for link in list(self._links):
            if link.own_network is None:
                link.apply_network()

    @property
    def held(self) -> int:
        """Bytes network conditions hold back right now, over every connection (each direction
        of one holds about MAX_HELD at most: past it the tap stops reading from its sender)."""
        return sum(self.held_by_lane())

    def held_by_lane(self) -> list[int]:
        """Bytes each lane (one direction of one connection under conditions) holds now."""
        return [lane.held for link in self._links if link.lanes is not None
                for lane in link.lanes.values()]

    @property
    def open_links(self) -> int:
        """Connections relayed right now (``max_links`` caps them)."""
        return len(self._links)

    def links_by_address(self) -> dict[str, int]:
        """Connections relayed right now per client address (``max_links_per_address`` caps each)."""
        return dict(self._per_address)

    @property
    def subscriber_count(self) -> int:
        """Callbacks subscribed to events (see subscribe)."""
        return len(self._subscribers)

    def connection_from(self, peer: "tuple[str, int] | str") -> Connection | None:
        """The connection from ``peer``, a client's local (host, port) or its "host:port": the
        newest one recorded, open or closed; None when the tap recorded none from there."""
        if not isinstance(peer, str):
            peer = f"{peer[0]}:{peer[1]}"
        for conn in reversed(self.connections):
            if conn.peer == peer:
                return conn
        return None

    def set_network(self, connection: "Connection | str", network: Network | str | None) -> None:
        """Give one open connection (a Connection, or its client's "host:port") its own
        conditions from now on; ``None`` puts it back under the tap's."""
        own = None if network is None else Network.of(network)
        for link in list(self._links):
            conn = link.conn
            if conn is not None and (conn is connection or conn.peer == connection):
                link.own_network = own
                link.apply_network()
                return
        raise LookupError(f"no open connection through the tap matches {connection!r}")

    async def start(self, sockets: Iterable[socket.socket]) -> None:
        """Listen on already bound sockets (tornado.netutil.bind_sockets)."""
        self._loop = asyncio.get_running_loop()
        _listening.append(self)
        for sock in sockets:
            server = await self._loop.create_server(lambda: Link(self).client, sock=sock)
            self._servers.append(server)
            if self.port is None:
                self.host, self.port = sock.getsockname()[:2]

    async def stop(self) -> None:
        """Stop listening, drop every relayed connection, decode what is left. Idempotent."""
        if self in _listening:
            _listening.remove(self)
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for link in list(self._links):
            link.close(abort=True)
        tasks = [link.connect_task for link in self._links if link.connect_task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        await asyncio.sleep(0)  # let connection_lost callbacks run
        for link in list(self._links):  # whatever did not report back, report now
            link.client.transport = None
            if link.server is not None:
                link.server.transport = None
            link.connect_task = None
            link._maybe_finish()
        for conn in self.connections:
            conn.flush()
        self._decoding.cancel()
        for server in servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except asyncio.TimeoutError:
                log.warning("tap: listener did not close in time")

    def link_from_upstream(self, address: tuple[str, int]) -> Link | None:
        """The open link whose socket to the app has ``address`` (host, port), as the app
        sees its peer; None for anyone else (a direct client)."""
        return self._upstream.get(address)

    # -- subscribers ---------------------------------------------------------

    def subscribe(self, callback: Callable) -> Callable[[], None]:
        """Call ``callback(event)`` for each new event (``event.connection`` set)."""
        return subscribe(self._subscribers, callback)

    def subscribe_connections(self, callback: Callable) -> Callable[[], None]:
        """Call ``callback(connection)`` when a connection opens and when it closes."""
        return subscribe(self._conn_subscribers, callback)

    @staticmethod
    def _call(subscribers: list, arg) -> None:
        for callback in list(subscribers):
            try:
                callback(arg)
            except Exception:  # a broken subscriber is logged, never breaks the relay
                log.exception("tap subscriber %r failed", callback)

    def _publish(self, event) -> None:
        if self._subscribers:
            self._call(self._subscribers, event)

    # -- bookkeeping ---------------------------------------------------------

    def _open(self, link: Link, peer: str) -> Connection:
        conn = Connection(self, self._next_id, peer, self.ring_size, self.ring_bytes)
        self._next_id += 1
        self._links.add(link)
        self._per_address[link.address] = self._per_address.get(link.address, 0) + 1
        self.connections.append(conn)
        self._call(self._conn_subscribers, conn)
        return conn

    def _closed(self, link: Link) -> None:
        if link in self._links:
            self._links.discard(link)
            left = self._per_address.pop(link.address) - 1
            if left:
                self._per_address[link.address] = left
        conn = link.conn
        if conn is None:
            return
        conn.closed_at = time.time()
        if conn.pending_chunks > CLOSE_AT_ONCE and conn._lazy():
            # Nobody watched: a window of frames waits undecoded (recording.LAZY_BYTES). It is
            # decoded in the queue's turns, not here at once (a class leaving together held the
            # loop ~10 ms a connection); the close is reported once it is (_finish_close).
            conn._closing = True
            self._decoding.add(conn)
        else:
            conn.flush()
        # Past max_closed, the oldest closed records go. Counted, not found by walking every
        # record at each close: closing N connections at once cost N² (bench/connections.py).
        self._closed_recorded += 1
        excess = self._closed_recorded - self.max_closed
        if excess > 0:
            old = []
            for c in self.connections:  # oldest first: usually the first few records
                if c.closed_at is not None and not c._closing:  # (one still decoding stays)
                    old.append(c)
                    if len(old) == excess:
                        break
            for c in old:
                self.connections.remove(c)
                c._forget()
            self._closed_recorded -= len(old)
        if not conn._closing:
            self._finish_close(conn)

    def _finish_close(self, conn: Connection) -> None:
        """A closed connection's recording is complete: free its decoder, tell the connection
        subscribers."""
        conn.decoder.release()  # its inflaters alone would keep ~80 KiB per closed connection
        self._call(self._conn_subscribers, conn)

    @property
    def budget_bytes(self) -> int:
        """Bytes the rings of all connections may keep together (about; see ``retained_bytes``)."""
        return self._budget

    @budget_bytes.setter
    def budget_bytes(self, value: int) -> None:
        self._budget = self._trim_at = int(value)
        if self.retained_bytes > value:
            self._trim()

    def _trim(self) -> None:
        """Over budget: bring what the rings keep down to the low-water mark. Closed connections
        give first, oldest first; then the open connections keeping the most are cut down to a
        common level (their newest events stay), so one noisy client cannot wipe out the rest."""
        low = int(self.budget_bytes * LOW_WATER)
        try:
            self._trim_to(low)
        finally:
            # What cannot go (open connections' handshakes) must not make every event trim again.
            self._trim_at = max(self._budget, self.retained_bytes + self._budget // 10)

    def _trim_to(self, low: int) -> None:
        for conn in self.connections:
            if self.retained_bytes <= low:
                return
            if not conn.is_open:
                conn._trim(0)
        sizes = sorted((c.retained_bytes for c in self.connections if c.is_open), reverse=True)
        excess = self.retained_bytes - low
        level, above = 0, 0
        for i, size in enumerate(sizes):  # the highest level that frees enough when cut down to
            nxt = sizes[i + 1] if i + 1 < len(sizes) else 0
            above += size
            if above - (i + 1) * nxt >= excess:
                level = max(nxt, (above - excess) // (i + 1))
                break
        for conn in self.connections:
            if self.retained_bytes <= low:
                return
            if conn.is_open and conn.retained_bytes > level:
                conn._trim(level)
