"""Measured experiments: what polling costs next to server-sent events and a WebSocket,
counted on the wire, under named network conditions.

    rows = await experiments.compare_polling(server, updates=10, network="4g")
    rows                      # a table: latency and bytes per update seen, per method
    experiments.break_even(rows)                               # when the handshake has paid back
    experiments.project_bandwidth(rows[0].bytes_per_update)   # 1,000 / 10,000 / 100,000 clients
    experiments.published_table()                              # Lubbers & Greco's figures
    await experiments.head_of_line(server, 100_000)            # a big message delays a pong

Four real clients follow the server's one feed of updates (the feed behind
``/ticker``, ``/sse``, ``/poll`` and ``/longpoll``) at the same time, each on its own
connection through the tap:

- **short polling**: an HTTP/1.1 keep-alive client asks ``GET /poll?since=SEQ``
  every ``poll_ms``, at a random phase; the server answers at once, 200 with the
  update or 204.
- **long polling**: the same kind of client asks ``GET /longpoll?since=SEQ``;
  the server holds the request until there is news.
- **server-sent events**: ``wsdemo.live.sse``'s EventSource reads ``GET /sse``; the
  server writes each update as an event of one long response.
- **websocket**: the in-kernel client (``server.connect("/ticker")``) just
  listens; the server pushes each update.

``network=`` puts conditions (``wsdemo.NETWORKS``: latency, bandwidth) between every
client and the app for the run. Bytes are the tap's own counts (``wire.summarize``:
HTTP heads and bodies, frame headers and payloads, event-stream fields, both
directions) of each client's window: every event after the one that carried its
first update, up to the one that carried its last, so setup (the TCP connect, the
WebSocket handshake, the stream's opening) is left out and every request, empty
answer, frame and event in between is in. Latency runs from the moment the server
produced an update (its ``at`` field, ``time.time()`` in the feed) to the moment the
client has parsed it; server and clients share this process's clock, so the network's
delays are in it.

Nothing here blocks the event loop: every wait has a timeout, and every
connection is closed on the way out, whatever happens.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import math
import os
import random
import statistics
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

from . import wire
from .live.network import NETWORKS, Network
from .wire.http import HttpReader

if TYPE_CHECKING:
    from .live.server import Server

METHODS = ("short polling", "long polling", "server-sent events", "websocket")
PHASES = ("random", "locked")
#: Methods that open one long-lived stream with an HTTP request (its head and answer are set-up).
STREAMS = ("server-sent events", "websocket")

# ---------------------------------------------------------------- published figures

#: Lubbers & Greco, "HTML5 Web Sockets: A Quantum Leap in Scalability for the Web":
#: request + response headers of one poll, and the smallest WebSocket frame.
PUBLISHED_POLL_BYTES = 871
PUBLISHED_FRAME_BYTES = 2
#: Bytes of frame header, (fewest, most). RFC 6455 does not state these totals; they follow
#: from its frame layout (section 5.2): 2 bytes, 0, 2 or 8 of extended length, and a 4-byte
#: masking key on every client frame (section 5.3). High Performance Browser Networking
#: (Grigorik), chapter 17, "Message Overhead", gives the same 2 to 14 bytes.
RFC_FRAMING = {"any frame": (2, 14), "from the server": (2, 10), "from the client": (6, 14)}
#: High Performance Browser Networking, chapter 11 (HTTP/1.X), "Measuring and Controlling
#: Protocol Overhead": "each browser-initiated HTTP request will carry an additional 500–800
#: bytes of HTTP metadata", cookies not included (repeated in chapter 12, "Header
#: Compression", and chapter 17, "Message Overhead").
HPBN_REQUEST_HEADER_BYTES = (500, 800)
#: The same book, chapter 17, "Message Overhead": IP, TCP and TLS framing "add 60–100 bytes
#: of combined overhead per message", worked out in chapter 4, "Optimize TLS Record Size"
#: (20–40 bytes of TLS record, 20 of IP, 20 of TCP without options). Without TLS, IP and TCP
#: alone are 40 bytes or more. The tap sees none of it.
HPBN_TCP_IP_TLS_BYTES = (60, 100)


@dataclass(frozen=True)
class PublishedRow:
    """One row of Lubbers & Greco's table, as printed (their Mbps divide by 2^20)."""

    clients: int
    polling_mbps: float
    websocket_mbps: float

    def __repr__(self) -> str:
        return (f"PublishedRow({self.clients:,} clients: polling {self.polling_mbps:g} Mbps, "
                f"websocket {self.websocket_mbps:g} Mbps)")


def published_table() -> list[PublishedRow]:
    """The classic polling-against-WebSocket bandwidth table: 871 bytes of headers per poll
    against 2-byte frames, one message a second per client, Mbps = bits / 2^20."""
    return [PublishedRow(1_000, 6.6, 0.015), PublishedRow(10_000, 66, 0.153),
            PublishedRow(100_000, 665, 1.526)]


def round_like(value: float, published: float) -> float:
    """``value`` rounded to the number of significant digits ``published`` was printed with
    (6.6 -> 2, 665 -> 3, 0.015 -> 2, 1.526 -> 4), to compare a computation with a table."""
    text = repr(float(published)).rstrip("0").rstrip(".")
    digits = len(text.replace(".", "").replace("-", "").lstrip("0")) or 1
    if value == 0:
        return 0.0
    exponent = math.floor(math.log10(abs(value)))
    return round(value, digits - 1 - exponent)


# ---------------------------------------------------------------- projection

@dataclass(frozen=True)
class Projection:
    """Bandwidth for ``clients`` clients each getting ``rate_hz`` updates a second.

    ``mbps_decimal`` counts a megabit as 10^6 bits (network equipment, ISPs);
    ``mbps_binary`` as 2^20 = 1,048,576 bits (Lubbers & Greco's table).
    """

    clients: int
    rate_hz: float
    bytes_per_update: float
    mbps_decimal: float
    mbps_binary: float

    def __repr__(self) -> str:
        return (f"Projection({self.clients:,} clients × {self.bytes_per_update:,.1f} B × "
                f"{self.rate_hz:g}/s = {_mbps(self.mbps_decimal)} Mbps (10^6), "
                f"{_mbps(self.mbps_binary)} Mbps (2^20))")


def project_bandwidth(bytes_per_update: float, clients: Iterable[int] = (1_000, 10_000, 100_000),
                      rate_hz: float = 1) -> list[Projection]:
    """What ``clients`` clients cost at ``rate_hz`` updates a second each, in both Mbps."""
    if not isinstance(bytes_per_update, (int, float)) or isinstance(bytes_per_update, bool) \
            or not math.isfinite(bytes_per_update) or bytes_per_update < 0:
        raise ValueError(f"bytes_per_update must be a number of bytes >= 0, got {bytes_per_update!r}")
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz!r}")
    out = []
    for n in clients:
        bits = n * bytes_per_update * rate_hz * 8
        out.append(Projection(n, rate_hz, bytes_per_update, bits / 10**6, bits / 2**20))
    return out


def _mbps(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def projection_table(named: dict[str, float], clients: Iterable[int] = (1_000, 10_000, 100_000),
                     rate_hz: float = 1) -> "Table":
    """``{label: bytes_per_update}`` projected for each number of clients, both conventions."""
    clients = tuple(clients)
    header = ["clients"] + [f"{label} (10^6 | 2^20)" for label in named]
    body = []
    columns = {label: project_bandwidth(b, clients, rate_hz) for label, b in named.items()}
    for i, n in enumerate(clients):
        body.append([f"{n:,}"] + [f"{_mbps(p[i].mbps_decimal)} | {_mbps(p[i].mbps_binary)} Mbps"
                                  for p in columns.values()])
    return Table(header, body, title=f"at {rate_hz:g} update{'s' if rate_hz != 1 else ''} a second per client")


# ---------------------------------------------------------------- tables

class Table:
    """Rows of text shown as a fixed-width table (repr) or an HTML table (in a notebook)."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str]], title: str = ""):
        self.header = [str(h) for h in header]
        self.rows = [[str(c) for c in r] for r in rows]
        self.title = title

    def __repr__(self) -> str:
        widths = [max(len(r[i]) for r in [self.header] + self.rows) for i in range(len(self.header))]

        def line(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        lines = ([self.title] if self.title else []) + [line(self.header), "  ".join("-" * w for w in widths)]
        return "\n".join(lines + [line(r) for r in self.rows])

    __str__ = __repr__

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{esc(self.title)}</caption>" if self.title else ""
        return f"<table class='wsdemo-table'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---------------------------------------------------------------- one measured row

@dataclass
class PollingResult:
    """How one method delivered ``updates`` updates, as the tap counted it.

    Per-update figures are per update *seen*: they divide the bytes of the whole
    measuring window (both directions, every request, empty answer and frame) by the
    updates this client received. Updates the feed produced that the client never saw
    (``skipped``: a poller slower than the feed misses some) are in no figure, and the
    latencies are those of the updates seen.
    """

    method: str  #: 'short polling', 'long polling', 'server-sent events' or 'websocket'
    updates: int  #: new updates received (each once, in order): the "updates seen"
    bytes_per_update: float  #: every byte on the wire, both directions, per update seen
    median_latency_ms: float  #: server produced it -> client has it, over the updates seen
    up_bytes_per_update: float  #: client -> server
    down_bytes_per_update: float  #: server -> client
    overhead_bytes_per_update: float  #: HTTP heads + WebSocket frame headers
    payload_bytes_per_update: float  #: HTTP bodies + WebSocket payloads (the updates themselves)
    requests_per_update: float  #: HTTP requests (0 for the WebSocket)
    header_bytes_per_request: float | None  #: request + response head of one exchange
    empty_polls: int  #: answers without news (204)
    skipped: int  #: updates produced in the window that this client never saw
    max_latency_ms: float
    p90_latency_ms: float = math.nan  #: 90th percentile of the updates seen
    network: str = "loopback"  #: the conditions measured under: a preset's name or the Network's str
    tcp_connections: int = 0  #: TCP connections this client opened for the whole run (the tap's records)
    setup_bytes: int = 0  #: HTTP heads that opened a stream (WebSocket handshake, SSE request); 0 for polls
    phase_ms: float | None = None  #: short polling: its polls' offset after the feed's beat
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    seqs: list[int] = field(default_factory=list, repr=False)
    summary: object = field(default=None, repr=False)  #: wire.Summary of the window
    connections: list = field(default_factory=list, repr=False)  #: tap Connections used

    def __repr__(self) -> str:
        extra = ""
        if self.requests_per_update:
            extra = (f", {self.requests_per_update:.1f} requests/update of {self.header_bytes_per_request:.0f} B "
                     f"headers, {self.empty_polls} empty")
        return (f"<{self.method} under {self.network}: {self.updates} updates seen, {self.skipped} skipped; "
                f"per update seen: {self.bytes_per_update:.1f} B ({self.overhead_bytes_per_update:.1f} B overhead), "
                f"median latency {self.median_latency_ms:.1f} ms, 90th percentile {self.p90_latency_ms:.1f} ms"
                f"{extra}>")


class Comparison(list):
    """The rows of ``compare_polling``; shows itself as a table. ``network``: the conditions."""

    network = "loopback"

    def by_method(self, method: str) -> PollingResult:
        for row in self:
            if row.method == method:
                return row
        raise KeyError(f"no row for {method!r}; there are {[r.method for r in self]}")

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.by_method(key)
        return super().__getitem__(key)

    def table(self) -> Table:
        return table(self)

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def table(rows: Iterable[PollingResult]) -> Table:
    """A readable table of measured rows. Bytes and requests are per update *seen*;
    latencies are over the updates seen; ``skipped`` counts the updates a client never saw,
    which no figure includes; TCP connections are counted over the whole run."""
    rows = list(rows)
    header = ["method", "updates seen", "skipped", "median latency", "90th pct latency", "bytes", "overhead",
              "payload", "up", "down", "requests", "header B/request", "empty polls", "TCP connections"]
    body = []
    for r in rows:
        body.append([r.method, str(r.updates), str(r.skipped), f"{r.median_latency_ms:.1f} ms",
                     f"{r.p90_latency_ms:.1f} ms", f"{r.bytes_per_update:,.1f} B",
                     f"{r.overhead_bytes_per_update:,.1f} B", f"{r.payload_bytes_per_update:,.1f} B",
                     f"{r.up_bytes_per_update:,.1f} B", f"{r.down_bytes_per_update:,.1f} B",
                     f"{r.requests_per_update:.2f}",
                     "-" if r.header_bytes_per_request is None else f"{r.header_bytes_per_request:,.1f} B",
                     str(r.empty_polls), str(r.tcp_connections)])
    conditions = sorted({r.network for r in rows})
    under = f"under {', '.join(conditions)}: " if conditions else ""
    return Table(header, body, title=f"{under}bytes (overhead + payload), up, down, requests: per update seen; "
                                     "latencies: of the updates seen; skipped: updates never seen; "
                                     "TCP connections: over the whole run")


def network_label(network: "Network | str | None") -> str:
    """A preset's name for ``network`` when it is one (``NETWORKS``), else the Network's str."""
    net = Network.of(network)
    for name, preset in NETWORKS.items():
        if preset == net:
            return name
    return str(net)


# ---------------------------------------------------------------- break-even

#: A TCP connection's set-up on the wire, in bytes, at the least: three segments (SYN, SYN-ACK,
#: ACK), each with a 20-byte IPv4 header (RFC 791, section 3.1) and a 20-byte TCP header
#: without options (RFC 9293, section 3.1). Real stacks add options (MSS, window scale,
#: timestamps), so this is a floor. The tap relays the bytes inside TCP and never sees these.
TCP_HANDSHAKE_BYTES = 3 * (20 + 20)


def payback(handshake: float, ws: float, poll: float) -> int | None:
    """The smallest whole number of updates n >= 1 with handshake + n·ws <= n·poll: after n
    updates, a method that paid ``handshake`` more up front and ``ws`` per update has cost no
    more than one paying ``poll`` per update. None: never (``poll`` <= ``ws`` and something
    to pay back). The one computation behind ``break_even`` and ``exercises.check_payback``."""
    if handshake <= 0 and ws <= poll:
        return 1  # nothing to pay back: level or ahead from the first update
    if poll <= ws:
        return None
    n = max(1, math.ceil(handshake / (poll - ws)))
    while n > 1 and handshake + (n - 1) * ws <= (n - 1) * poll + 1e-9:  # float rounding of the division
        n -= 1
    while handshake + n * ws > n * poll + 1e-9:
        n += 1
    return n


def handshake_bytes(row: PollingResult) -> int:
    """The HTTP heads on a row's connections: for the WebSocket, its opening handshake (the
    Upgrade request and the 101 answer); for server-sent events, the request and its answer."""
    total = 0
    for conn in row.connections:
        s = conn.summary()
        total += s.client.http_head_bytes + s.server.http_head_bytes
    return total


@dataclass(frozen=True)
class BreakEven:
    """The WebSocket against one other method: set-up and per-update overhead of each, and
    ``updates``, the first whole update after which the WebSocket has cost no more (None: never)."""

    method: str
    updates: int | None
    websocket_setup_bytes: float  #: TCP connections × tcp_bytes + handshake
    other_setup_bytes: float  #: TCP connections × tcp_bytes + its own opening heads (SSE), or 0
    websocket_per_update: float  #: overhead bytes per update seen
    other_per_update: float

    def __repr__(self) -> str:
        when = "never" if self.updates is None else f"after {self.updates} update{'s' if self.updates != 1 else ''}"
        return (f"<websocket against {self.method}: paid back {when} (set-up {self.websocket_setup_bytes:,.0f} B "
                f"against {self.other_setup_bytes:,.0f} B; {self.websocket_per_update:.1f} B against "
                f"{self.other_per_update:.1f} B of overhead per update)>")


class BreakEvens(dict):
    """``{method: BreakEven}``; shows itself as a table."""

    def table(self) -> Table:
        body = [[b.method, "never" if b.updates is None else str(b.updates),
                 f"{b.websocket_setup_bytes:,.0f} B", f"{b.other_setup_bytes:,.0f} B",
                 f"{b.websocket_per_update:.1f} B", f"{b.other_per_update:.1f} B"] for b in self.values()]
        return Table(["against", "updates to pay back", "websocket set-up", "its set-up", "websocket per update",
                      "its per update"], body,
                     title="overhead bytes only (HTTP heads, frame headers, SSE field names): the updates "
                           "themselves cost every method the same; per update: per update seen")

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def break_even(rows: Comparison, *, tcp_bytes: float = TCP_HANDSHAKE_BYTES) -> BreakEvens:
    """After how many updates has the WebSocket paid back its set-up, against each other method?

    Each method's overhead after n updates is counted as

        set-up + n × overhead per update seen

    where set-up = (TCP connections it opened, from the tap's records) × ``tcp_bytes`` (what
    one TCP handshake costs; the tap cannot see it, so ``TCP_HANDSHAKE_BYTES``, a floor, by
    default) + the HTTP heads that opened a stream (the WebSocket's Upgrade request and 101
    answer; the event stream's request and answer; nothing for a poller, whose every request
    is already in its per-update figure). Overhead bytes only: the updates themselves cost
    every method the same. The answer per method is ``payback``: the first whole n at which
    the WebSocket's total is not larger; None if it never catches up. With ``tcp_bytes=0``
    and one connection each, the number against short polling is ``exercises.check_payback``'s.
    """
    ws = rows["websocket"]

    def setup(row: PollingResult) -> float:
        heads = handshake_bytes(row) if row.method in STREAMS else 0
        return row.tcp_connections * tcp_bytes + heads

    ws_setup = setup(ws)
    out = BreakEvens()
    for row in rows:
        if row.method == "websocket":
            continue
        other = setup(row)
        out[row.method] = BreakEven(row.method, payback(ws_setup - other, ws.overhead_bytes_per_update,
                                                        row.overhead_bytes_per_update),
                                    ws_setup, other, ws.overhead_bytes_per_update, row.overhead_bytes_per_update)
    return out


# ---------------------------------------------------------------- bands

def ratio_band(ratio: float) -> str:
    """A rounded label for ``ratio`` (a measured figure divided by another), so that
    a comparison reads the same on any machine: 'under 1/100', 'under 1/10', ..."""
    if not math.isfinite(ratio) or ratio < 0:
        raise ValueError(f"a ratio must be a finite number >= 0, got {ratio!r}")
    for limit, label in ((1 / 1000, "under 1/1000"), (1 / 100, "under 1/100"), (1 / 10, "under 1/10"),
                         (1 / 2, "under 1/2"), (1, "under 1")):
        if ratio < limit:
            return label
    lower = 1
    for limit in (2, 10, 100, 1000):
        if ratio < limit:
            return f"{lower} to {limit} times"
        lower = limit
    return "1000 times or more"


# ---------------------------------------------------------------- the clients

class KeepAliveClient:
    """A small HTTP/1.1 client on asyncio streams that keeps one TCP connection open
    for every request (as a browser does), so each poll costs only its own bytes.

    Responses are parsed by the wire layer's HttpReader (the same code the tap uses).
    """

    def __init__(self, host: str, port: int, *, headers: dict[str, str] | None = None):
        self.host, self.port = host, port
        self.headers = {"Host": f"{host}:{port}", "User-Agent": "wsdemo", "Accept": "application/json"}
        self.headers.update(headers or {})
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._http = HttpReader(response=True)
        self.local_address: str | None = None

    def __repr__(self) -> str:
        state = "open" if self._writer is not None else "closed"
        return f"<KeepAliveClient http://{self.host}:{self.port} {state}>"

    async def connect(self, timeout: float) -> None:
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        host, port = self._writer.get_extra_info("sockname")[:2]
        self.local_address = f"{host}:{port}"

    async def get(self, target: str, timeout: float) -> wire.Response:
        """Send ``GET target`` and return the whole response (head and body)."""
        if self._writer is None:
            raise RuntimeError("not connected: call connect() first")
        head = f"GET {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()) + "\r\n"
        self._writer.write(head.encode("latin-1"))
        deadline = time.monotonic() + timeout
        await asyncio.wait_for(self._writer.drain(), timeout)
        while True:
            response = self._http.next("GET")
            if response is not None:
                return response
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"no complete answer to GET {target} within {timeout:g} s")
            data = await asyncio.wait_for(self._reader.read(65536), left)
            if not data:
                raise ConnectionError(f"the server closed the connection before answering GET {target}")
            self._http.feed(data)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (asyncio.TimeoutError, OSError):
                pass


def _connection_of(server: "Server", local_address: str | None):
    for conn in reversed(server.tap.connections):
        if conn.peer == local_address:
            return conn
    raise RuntimeError(f"the tap recorded no connection from {local_address}")


def _carried_seq(event) -> int | None:
    """The feed update's seq an event carries (an HTTP answer, a server frame, an event of
    the stream), or None."""
    if isinstance(event, wire.HttpResponse):
        body = event.response.body
    elif isinstance(event, wire.FrameEvent) and event.sender == "server":
        body = event.frame.payload
    elif isinstance(event, wire.SseEvent) and event.event.dispatched:
        body = event.event.data.encode("utf-8")
    else:
        return None
    if not body.startswith(b"{"):
        return None
    try:
        seq = json.loads(body).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) else None


def _window(conn, start_seq: int, last_seq: int) -> "wire.Summary":
    """The tap's counts of one connection's window: every event after the one that carried
    ``start_seq`` (the warm-up update), up to and including the one that carried ``last_seq``.

    Chosen by content, not by time: under network conditions the tap records bytes when
    they leave their sender, a latency before the client has them, so a snapshot taken
    when the client has an update would already hold the next few."""
    events = list(conn.events)
    start = end = None
    for i, e in enumerate(events):
        seq = _carried_seq(e)
        if seq == start_seq and end is None:
            start = i
        elif seq == last_seq and start is not None:
            end = i
            break
    if start is None or end is None:
        raise RuntimeError(f"the tap's recording of {conn!r} no longer holds updates {start_seq} to {last_seq}")
    return wire.summarize(events[start + 1:end + 1])


def _p90(values: Sequence[float]) -> float:
    """The 90th percentile (inclusive method: within the values measured)."""
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


@dataclass
class _Run:
    method: str
    network: str = "loopback"
    latencies: list[float] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    start_seq: int = 0
    empty: int = 0
    connections: list = field(default_factory=list)
    summary: object = None
    phase_ms: float | None = None

    def got(self, update: dict, now: float) -> None:
        self.seqs.append(update["seq"])
        self.latencies.append((now - update["at"]) * 1000)

    def result(self) -> PollingResult:
        n = len(self.seqs)
        s = self.summary
        requests = s.client.http_messages
        heads = s.client.http_head_bytes + s.server.http_head_bytes
        overhead = (heads + s.client.framing_bytes + s.server.framing_bytes
                    + s.client.sse_overhead_bytes + s.server.sse_overhead_bytes)
        payload = (s.client.http_body_bytes + s.server.http_body_bytes
                   + s.client.payload_bytes + s.server.payload_bytes
                   + s.client.sse_payload_bytes + s.server.sse_payload_bytes)
        setup = 0
        if self.method in STREAMS:  # the request that opened each stream, and its answer
            for conn in self.connections:
                whole = conn.summary()
                setup += whole.client.http_head_bytes + whole.server.http_head_bytes
        return PollingResult(
            method=self.method, updates=n, bytes_per_update=s.wire_bytes / n,
            median_latency_ms=statistics.median(self.latencies),
            up_bytes_per_update=s.client.wire_bytes / n, down_bytes_per_update=s.server.wire_bytes / n,
            overhead_bytes_per_update=overhead / n, payload_bytes_per_update=payload / n,
            requests_per_update=requests / n,
            header_bytes_per_request=heads / requests if requests else None,
            empty_polls=self.empty, skipped=self.seqs[-1] - self.start_seq - n,
            max_latency_ms=max(self.latencies), p90_latency_ms=_p90(self.latencies), network=self.network,
            tcp_connections=len(self.connections), setup_bytes=setup, phase_ms=self.phase_ms,
            latencies_ms=list(self.latencies), seqs=list(self.seqs),
            summary=s, connections=list(self.connections))


class _Clock:
    def __init__(self, timeout: float, what: str):
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.what = what

    def left(self, run: _Run, n: int) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError(f"{run.method}: {len(run.seqs)} of {n} updates after "
                                       f"{self.timeout:g} s ({self.what})")
        return left


def _with_token(server: "Server", target: str) -> str:
    token = getattr(server, "token", None)
    if not token:
        return target
    return f"{target}{'&' if '?' in target else '?'}token={urllib.parse.quote(token)}"


async def _poll(server: "Server", run: _Run, n: int, clock: _Clock, fresh_after: int, *, long: bool,
                poll_s: float, hold_s: float, headers: dict[str, str] | None, phase: str = "random",
                rng: random.Random | None = None) -> None:
    rng = rng or random.Random()
    parts = urllib.parse.urlsplit(server.http_url("/"))
    http = KeepAliveClient(parts.hostname, parts.port, headers=headers)
    loop = asyncio.get_running_loop()

    async def ask(since: int | None) -> dict | None:
        if long:
            target = f"/longpoll?timeout={hold_s:g}" + ("" if since is None else f"&since={since}")
        else:
            target = "/poll" + ("" if since is None else f"?since={since}")
        response = await http.get(_with_token(server, target), clock.left(run, n))
        if response.status == 204:
            return None
        if response.status != 200:
            raise RuntimeError(f"{run.method}: GET {target} answered {response.status} {response.reason}: "
                               f"{response.body[:200]!r}")
        return json.loads(response.body)

    try:
        await http.connect(clock.left(run, n))
        # Warm up: the first update this client sees marks the start of the window.
        first = None
        next_at = loop.time()
        while first is None or first["seq"] <= fresh_after:  # one produced at the rate measured
            first = await ask(None)
            if (first is None or first["seq"] <= fresh_after) and not long:
                next_at += poll_s
                await asyncio.wait_for(asyncio.sleep(max(0.0, next_at - loop.time())), clock.left(run, n))
        conn = _connection_of(server, http.local_address)
        run.connections.append(conn)
        run.start_seq = last = first["seq"]
        # A poller does not know when news comes. Real pages start polling whenever they were
        # opened, so each poller's polls fall at a random offset (phase) after the feed's
        # beat: phase="random" draws one in [0, poll_s) and keeps that lattice, so the
        # latency measured includes where the polls happen to fall. phase="locked" puts
        # them half a poll interval after the beat (the average wait, every time) and
        # re-anchors on each update's own `at`, so the feed's drift cannot slide them.
        locked = phase == "locked"
        offset = poll_s / 2 if locked else rng.uniform(0, poll_s)
        run.phase_ms = None if long else offset * 1000

        def slot_after(update: dict) -> float:
            t = loop.time() + (update["at"] - time.time()) + offset + poll_s
            while t <= loop.time():
                t += poll_s
            return t

        next_at = slot_after(first)
        while len(run.seqs) < n:
            if not long:  # a poll every poll_s
                await asyncio.wait_for(asyncio.sleep(max(0.0, next_at - loop.time())), clock.left(run, n))
            update = await ask(last)
            now = time.time()
            if update is None:
                run.empty += 1
            elif update["seq"] > last:
                run.got(update, now)
                last = update["seq"]
            if locked and update is not None:
                next_at = slot_after(update)
            else:
                next_at += poll_s
                while next_at <= loop.time():  # a late answer: the next slot of the same lattice
                    next_at += poll_s
        run.summary = _window(conn, run.start_seq, last)
    finally:
        await http.close()


async def _follow(run: _Run, n: int, fresh_after: int, next_update, client, what: str) -> None:
    """A pushed stream of updates (WebSocket or event stream): the stream first sends the latest
    update it has, so wait for one produced at the rate measured; the window starts there."""
    first = await next_update()
    while first["seq"] <= fresh_after:
        first = await next_update()
    conn = client.connection
    if conn is None:
        raise RuntimeError(f"the tap recorded no connection for the {what}")
    run.connections.append(conn)
    run.start_seq = last = first["seq"]
    while len(run.seqs) < n:
        update = await next_update()
        now = time.time()
        if update["seq"] > last:
            run.got(update, now)
            last = update["seq"]
    run.summary = _window(conn, run.start_seq, last)


async def _listen(server: "Server", run: _Run, n: int, clock: _Clock, fresh_after: int) -> None:
    client = await asyncio.wait_for(server.connect("/ticker", timeout=clock.left(run, n)), clock.left(run, n))
    try:
        async def update() -> dict:
            return json.loads(await client.recv(timeout=clock.left(run, n)))

        await _follow(run, n, fresh_after, update, client, "WebSocket client")
    finally:
        await client.close(timeout=2)


async def _stream(server: "Server", run: _Run, n: int, clock: _Clock, fresh_after: int) -> None:
    from .live import sse  # the EventSource client; imported here, as server.connect imports its client

    client = await sse.connect(server, "/sse", timeout=clock.left(run, n), reconnect=False)
    try:
        async def update() -> dict:
            while True:  # only update events carry a seq (a gap or reset notice does not)
                event = await client.next(timeout=clock.left(run, n))
                data = json.loads(event.data)
                if event.type == "message" and "seq" in data:
                    return data

        await _follow(run, n, fresh_after, update, client, "event stream")
    finally:
        await client.close()


async def compare_polling(server: "Server", updates: int = 10, *, network: "Network | str | None" = None,
                          interval_ms: float = 100, poll_ms: float | None = None, hold_s: float = 5.0,
                          methods: Sequence[str] = METHODS, phase: str = "random",
                          headers: dict[str, str] | None = None, timeout: float | None = None,
                          rng: random.Random | None = None) -> Comparison:
    """Follow the server's feed with short polling, long polling, server-sent events and a
    WebSocket at once, until each has ``updates`` new updates; return one measured row per method.

    ``network``: the conditions to measure under (a ``wsdemo.Network`` or a preset name,
    ``wsdemo.NETWORKS``): set on the tap for the run, the previous ones put back after;
    None measures under whatever ``server.tap.network`` is. ``interval_ms``: the feed
    produces an update this often while measuring (the server's previous rate is put back
    afterwards). ``poll_ms``: how often the short poller asks (default: as often as updates
    come). ``phase``: "random" (default) starts the short poller's polls at a random offset
    within its interval, as pages opened at any moment do, so its latency is measured
    rather than set by the schedule; "locked" polls half an interval after each update
    (the average case, every time). ``hold_s``: how long the server may hold a long poll.
    ``headers``: extra request headers for the pollers (try what a browser sends).
    ``timeout``: seconds for the whole run (default: generous for the rates and the
    network given); on expiry an ``asyncio.TimeoutError`` says how far each got.
    """
    if not isinstance(updates, int) or isinstance(updates, bool) or not 1 <= updates <= 10_000:
        raise ValueError(f"updates must be an int from 1 to 10,000, got {updates!r}")
    if isinstance(methods, str):
        methods = [methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be some of {METHODS}, got {list(methods)!r}")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    if not interval_ms > 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms!r}")
    poll_s = (interval_ms if poll_ms is None else poll_ms) / 1000
    if not poll_s > 0:
        raise ValueError(f"poll_ms must be > 0, got {poll_ms!r}")
    conditions = None if network is None else Network.of(network)  # a bad one fails before anything changes
    if not server.running:
        raise RuntimeError("the server is not running: start one with server = await wsdemo.serve()")
    tap = server.tap
    old_network = tap.network
    label = network_label(conditions if conditions is not None else old_network)
    effective = conditions if conditions is not None else old_network
    state = server.app_state
    old_interval = state.ticker_interval_ms
    if conditions is not None:
        tap.network = conditions
    state.ticker_interval_ms = interval_ms
    interval_s = state.ticker_interval_ms / 1000  # as the feed clamped it
    fresh_after = state.feed.seq  # updates up to here were produced at the old rate
    if timeout is None:
        # a few round trips of set-up, then each update may wait a poll and a round trip
        rtt = 2 * (effective.latency_ms + effective.jitter_ms) / 1000
        timeout = 10 + 4 * rtt + 3 * (updates + 2) * (max(interval_s, poll_s) + rtt)
    clock = _Clock(timeout, f"the feed every {interval_s * 1000:g} ms, under {label}")
    runs = {m: _Run(m, network=label) for m in METHODS if m in methods}
    jobs = []
    for m, run in runs.items():
        if m == "websocket":
            jobs.append(_listen(server, run, updates, clock, fresh_after))
        elif m == "server-sent events":
            jobs.append(_stream(server, run, updates, clock, fresh_after))
        else:
            jobs.append(_poll(server, run, updates, clock, fresh_after, long=m == "long polling", poll_s=poll_s,
                              hold_s=hold_s, headers=headers, phase=phase, rng=rng))
    try:
        tasks = [asyncio.ensure_future(j) for j in jobs]
        try:
            outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout + 5)
        except asyncio.TimeoutError:
            outcomes = [asyncio.TimeoutError()]
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        state.ticker_interval_ms = old_interval
        if conditions is not None:
            tap.network = old_network
    errors = [e for e in outcomes if isinstance(e, BaseException)]
    for e in errors:
        if not isinstance(e, asyncio.TimeoutError):
            raise e
    if errors:
        got = ", ".join(f"{r.method} {len(r.seqs)}" for r in runs.values())
        raise asyncio.TimeoutError(f"not every method had {updates} updates within {timeout:g} s "
                                   f"(the feed every {interval_s * 1000:g} ms, under {label}): "
                                   f"got {got} of {updates} updates")
    out = Comparison(run.result() for run in runs.values())
    out.network = label
    return out


# ---------------------------------------------------------------- head-of-line blocking

@dataclass(frozen=True)
class TimelineEntry:
    """One frame as the tap saw it: ``sent`` when its last byte reached the tap from its
    sender, ``delivered`` when the tap handed that byte on under the network conditions
    (the delivery stamp of its chunk; ``sent`` when nothing held it). Seconds from the start."""

    sender: str
    what: str
    size: int  #: bytes on the wire: header + payload
    sent: float
    delivered: float


@dataclass
class HeadOfLine:
    """What ``head_of_line`` measured. ``pongs``: {which ping: seconds from writing the ping
    to reading its pong, at the client}; ``echo_done``: seconds from the start until the
    client had the echo's last byte; ``serialization_s``: the echo's bytes at the down rate
    (size × 8 / down_kbps), what a queued message adds ahead of anything behind it."""

    size: int
    fragment: int | None
    network: str
    serialization_s: float
    pongs: dict[str, float]
    echo_done: float
    timeline: list[TimelineEntry] = field(repr=False)

    def table(self) -> Table:
        rows = [[f"{e.sent:.3f} s", f"{e.delivered:.3f} s", e.sender, e.what, f"{e.size:,} B"] for e in self.timeline]
        return Table(["reached the tap", "delivered", "from", "frame", "size"], rows,
                     title=f"{self.size:,} B echoed under {self.network}"
                           + (f", sent in {self.fragment:,}-byte fragments" if self.fragment else ", one frame"))

    def __repr__(self) -> str:
        pongs = "; ".join(f"pong for the ping {k}: {v:.2f} s" for k, v in self.pongs.items())
        return (f"<head of line: {self.size:,} B under {self.network}"
                f"{f' in {self.fragment:,}-byte fragments' if self.fragment else ' in one frame'}; {pongs}; "
                f"echo complete at {self.echo_done:.2f} s (its bytes alone take {self.serialization_s:.2f} s)>")

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + self.table()._repr_html_()


def _timeline(conn, start: float, network: Network) -> list[TimelineEntry]:
    """Frames of ``conn`` with the tap's arrival and delivery times of each one's last byte.

    The tap stamps a held chunk's delivery by its last byte; a frame that ends earlier in a
    chunk went out that many bytes sooner at the link's rate (the tap delivers a chunk in
    slices at that rate: wsdemo/live/network.py), never before the chunk arrived."""
    delivered = {(d.sender, d.at): d.delivered_at for d in conn.deliveries}
    ends: dict[str, list[tuple[int, float]]] = {"client": [], "server": []}
    totals = {"client": 0, "server": 0}
    for sender, at, data in conn.chunks:
        if data:
            totals[sender] += len(data)
            ends[sender].append((totals[sender], at))
    out = []
    for e in conn.events:
        if not isinstance(e, wire.FrameEvent):
            continue
        f = e.frame
        end = e.offset + f.size
        stop, at = next(((stop, t) for stop, t in ends[e.sender] if stop >= end), (end, e.at))
        out_at = delivered.get((e.sender, at), at)
        rate = network.bytes_per_second(e.sender)
        if rate is not None and out_at > at:
            out_at = max(at, out_at - (stop - end) / rate)
        what = f.opcode.name.lower() + ("" if f.fin else " (not final)")
        if f.opcode in (wire.Opcode.PING, wire.Opcode.PONG):
            what += f" {f.payload.decode('ascii', 'replace')!r}"
        out.append(TimelineEntry(e.sender, what, f.size, at - start, out_at - start))
    return out


async def head_of_line(server: "Server", size: int = 100_000, *,
                       network: "Network | str | None" = Network(down_kbps=1000),
                       fragment: int | None = None, timeout: float | None = None) -> HeadOfLine:
    """Measure head-of-line blocking: a big message queued before a ping delays the pong.

    A raw WebSocket client on ``/echo`` (through the tap; its connection alone gets
    ``network``, default 1000 kbps down) sends ``size`` bytes in one binary message, then a
    ping. The server echoes the message, then answers the ping: the pong travels behind
    the echo's bytes on the one TCP stream, so it waits about size × 8 / down_kbps
    (2 MB at 1000 kbps: 16 s; 100 kB: 0.8 s).

    ``fragment``: the client sends its message in frames of this many bytes and writes a
    ping *between* the first two fragments, then another after the last. A control frame
    may go between fragments (RFC 6455, section 5.4), and only because the sender put it
    there: the server gets that ping before the message is complete and its pong comes back
    at once. The ping after the message still waits: the server's echo (Tornado sends it
    as one frame) is queued bytes ahead of the pong on the same TCP stream, and fragmenting
    would not change that either, since bytes already handed to TCP are delivered in order.

    Bounded: ``timeout`` (default: twice the expected time plus 10 s) for the whole run.
    Returns a ``HeadOfLine`` with the pong delays and the tap's timeline of the frames.
    """
    limit = server.app_state.max_message_size
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= limit:
        raise ValueError(f"size must be a whole number of bytes from 1 to the server's max_message_size "
                         f"({limit:,}), got {size!r}")
    if fragment is not None and (not isinstance(fragment, int) or isinstance(fragment, bool)
                                 or not 1 <= fragment < size):
        raise ValueError(f"fragment must be None or a whole number of bytes from 1 to size - 1, got {fragment!r}")
    net = Network.of(network)
    if not server.running:
        raise RuntimeError("the server is not running: start one with server = await wsdemo.serve()")
    rate = net.bytes_per_second("server")
    serialization = 0.0 if rate is None else (size + 10) / rate  # the echo: payload and its frame header
    if timeout is None:
        timeout = 10 + 2 * (serialization + 4 * net.latency_ms / 1000 + (size / (net.bytes_per_second("client") or 1e9)))
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise asyncio.TimeoutError(f"head_of_line did not finish within {timeout:g} s under {net}")
        return remaining

    parts = urllib.parse.urlsplit(server.http_url("/"))
    reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), left())
    try:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        writer.write((f"GET {_with_token(server, '/echo')} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode("latin-1"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), left())
        if not head.startswith(b"HTTP/1.1 101"):
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            raise RuntimeError(f"the server refused the WebSocket: {status}")
        local = "%s:%s" % writer.get_extra_info("sockname")[:2]
        conn = _connection_of(server, local)
        server.tap.set_network(conn, net)

        def frame(opcode, payload, fin=True) -> bytes:
            return wire.encode_frame(opcode, payload, fin=fin, mask_key=os.urandom(4))

        data = os.urandom(size)
        sent: dict[str, float] = {}
        start = time.time()
        if fragment is None:
            writer.write(frame(wire.Opcode.BINARY, data))
        else:
            pieces = [data[i:i + fragment] for i in range(0, size, fragment)]
            writer.write(frame(wire.Opcode.BINARY, pieces[0], fin=False))
            writer.write(frame(wire.Opcode.PING, b"between fragments"))
            sent["between fragments"] = time.time()
            for i, piece in enumerate(pieces[1:], 1):
                writer.write(frame(wire.Opcode.CONTINUATION, piece, fin=i == len(pieces) - 1))
        writer.write(frame(wire.Opcode.PING, b"after the message"))
        sent["after the message"] = time.time()
        await asyncio.wait_for(writer.drain(), left())

        decoder = wire.FrameDecoder(max_payload=size + 1)
        pongs: dict[str, float] = {}
        echoed = 0
        echo_done = None
        while len(pongs) < len(sent) or echo_done is None:
            chunk = await asyncio.wait_for(reader.read(1 << 16), left())
            now = time.time()
            if not chunk:
                raise ConnectionError("the server closed the connection during head_of_line")
            for f in decoder.feed(chunk):
                if f.opcode == wire.Opcode.PONG:
                    which = f.payload.decode("ascii", "replace")
                    if which in sent:
                        pongs[which] = now - sent[which]
                elif f.opcode in (wire.Opcode.BINARY, wire.Opcode.CONTINUATION):
                    echoed += f.payload_len
                    if f.fin and echoed >= size:
                        echo_done = now - start
        writer.write(frame(wire.Opcode.CLOSE, (1000).to_bytes(2, "big")))
        try:
            await asyncio.wait_for(writer.drain(), left())
        except (ConnectionError, asyncio.TimeoutError):
            pass
        # the order the pings were sent in, which is the order a reader expects
        ordered = {k: pongs[k] for k in sent}
        return HeadOfLine(size, fragment, network_label(net), serialization, ordered, echo_done,
                          _timeline(conn, start, net))
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2)
        except (asyncio.TimeoutError, OSError):
            pass


__all__ = [
    "compare_polling", "PollingResult", "Comparison", "table", "Table", "project_bandwidth", "Projection",
    "projection_table", "published_table", "PublishedRow", "round_like", "ratio_band", "KeepAliveClient",
    "METHODS", "PUBLISHED_POLL_BYTES", "PUBLISHED_FRAME_BYTES", "RFC_FRAMING", "HPBN_REQUEST_HEADER_BYTES",
    "HPBN_TCP_IP_TLS_BYTES", "PHASES", "STREAMS", "network_label", "break_even", "BreakEven", "BreakEvens",
    "payback", "handshake_bytes", "TCP_HANDSHAKE_BYTES", "head_of_line", "HeadOfLine", "TimelineEntry",
]
