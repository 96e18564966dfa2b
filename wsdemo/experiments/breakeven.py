"""When has a WebSocket paid back its set-up? The one computation (``payback``) and the
table of it against each other method (``break_even``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .results import Comparison, PollingResult
from .tables import ShownAsTable, Table


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


class BreakEvens(ShownAsTable, dict):
    """``{method: BreakEven}``; shows itself as a table."""

    def table(self) -> Table:
        body = [[b.method, "never" if b.updates is None else str(b.updates),
                 f"{b.websocket_setup_bytes:,.0f} B", f"{b.other_setup_bytes:,.0f} B",
                 f"{b.websocket_per_update:.1f} B", f"{b.other_per_update:.1f} B"] for b in self.values()]
        return Table(["against", "updates to pay back", "websocket set-up", "its set-up", "websocket per update",
                      "its per update"], body,
                     title="overhead bytes only (HTTP heads, frame headers, SSE field names): the updates "
                           "themselves cost every method the same; per update: per update seen")


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
        return row.tcp_connections * tcp_bytes + row.setup_bytes

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

