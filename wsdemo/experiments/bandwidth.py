"""Bandwidth on paper: the published figures, and what a number of clients costs.

The formula lives here once: clients × bytes per update × updates a second × 8 bits
(``bits_per_second``), in megabits of 10^6 or 2^20 bits (``MEGABIT``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from .tables import Table, mbps_text


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

#: Bits in a megabit: 10^6 (network equipment, ISPs) or 2^20 = 1,048,576 (Lubbers & Greco's table).
MEGABIT = {"10^6": 10**6, "2^20": 2**20}


def bits_per_second(clients: float, bytes_per_update: float, rate_hz: float = 1) -> float:
    """What ``clients`` clients cost, each getting ``rate_hz`` updates of ``bytes_per_update``
    bytes a second: the one formula behind every projection and ``exercises.check_bandwidth``."""
    return clients * bytes_per_update * rate_hz * 8


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
                f"{self.rate_hz:g}/s = {mbps_text(self.mbps_decimal)} Mbps (10^6), "
                f"{mbps_text(self.mbps_binary)} Mbps (2^20))")


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
        bits = bits_per_second(n, bytes_per_update, rate_hz)
        out.append(Projection(n, rate_hz, bytes_per_update, bits / MEGABIT["10^6"], bits / MEGABIT["2^20"]))
    return out


def projection_table(named: dict[str, float], clients: Iterable[int] = (1_000, 10_000, 100_000),
                     rate_hz: float = 1) -> Table:
    """``{label: bytes_per_update}`` projected for each number of clients, both conventions."""
    clients = tuple(clients)
    header = ["clients"] + [f"{label} (10^6 | 2^20)" for label in named]
    body = []
    columns = {label: project_bandwidth(b, clients, rate_hz) for label, b in named.items()}
    for i, n in enumerate(clients):
        body.append([f"{n:,}"] + [f"{mbps_text(p[i].mbps_decimal)} | {mbps_text(p[i].mbps_binary)} Mbps"
                                  for p in columns.values()])
    return Table(header, body, title=f"at {rate_hz:g} update{'s' if rate_hz != 1 else ''} a second per client")

