"""What ``compare_polling`` returns: one measured row per method, and the rows as a table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from .. import wire
from .tables import ShownAsTable, Table

if TYPE_CHECKING:
    from ..live.recording import Connection


METHODS = ("short polling", "long polling", "server-sent events", "websocket")
PHASES = ("random", "locked")
#: Methods that open one long-lived stream with an HTTP request (its head and answer are set-up).
STREAMS = ("server-sent events", "websocket")


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
    setup_bytes: int = 0  #: HTTP heads that opened a stream (WebSocket handshake, SSE request and answer); 0 for polls
    phase_ms: float | None = None  #: short polling: its polls' offset after the feed's beat
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    seqs: list[int] = field(default_factory=list, repr=False)
    summary: wire.Summary | None = field(default=None, repr=False)  #: the tap's counts of the window
    connections: "list[Connection]" = field(default_factory=list, repr=False)  #: tap Connections used

    def __repr__(self) -> str:
        extra = ""
        if self.requests_per_update:
            extra = (f", {self.requests_per_update:.1f} requests/update of {self.header_bytes_per_request:.0f} B "
                     f"headers, {self.empty_polls} empty")
        return (f"<{self.method} under {self.network}: {self.updates} updates seen, {self.skipped} skipped; "
                f"per update seen: {self.bytes_per_update:.1f} B ({self.overhead_bytes_per_update:.1f} B overhead), "
                f"median latency {self.median_latency_ms:.1f} ms, 90th percentile {self.p90_latency_ms:.1f} ms"
                f"{extra}>")


class Comparison(ShownAsTable, list):
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

