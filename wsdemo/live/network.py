"""Network conditions the tap can put between clients and the app: latency, jitter, bandwidth.

``Network`` is a value (latency and jitter in milliseconds, throughput caps in kilobits per
second, 1 kbps = 1000 bit/s); ``NETWORKS`` names a few real ones. ``Schedule`` is the
arithmetic, without sockets or a loop: for the chunks that arrive in one direction, when each
is due at the other end. The tap (wsdemo/live/tap.py) keeps the bytes and the timers.

The model is a link, then a wire: a chunk first waits for the bytes before it to be sent at
``*_kbps`` (serialization: 100,000 bytes at 800 kbps take 1.0 s), then travels ``latency_ms``,
give or take ``jitter_ms`` (uniform in ±jitter, never below zero, as Toxiproxy's latency toxic
draws it: toxics/latency.go, ``delay += rand.Int63n(jitter*2) - jitter``). Unlike a jittery
datagram path, TCP never reorders: a chunk is never due before the one sent ahead of it
(``due = max(previous due, sent + delay)``).

Presets (``NETWORKS``; ``PRESET_SOURCES`` says the same per name). Latency here is one way: a
round trip grows by twice it, so a source's round-trip time (RTT) is halved.

==========  =========  ==========  ========  ====================================================
name        one way    down kbps   up kbps   source
==========  =========  ==========  ========  ====================================================
loopback    0          -           -         nothing added: the machine's own loopback
lan         0.48 ms    -           -         IBM z/OS 2.1 Communications Server, SNA Resource
                                             Definition Reference, PDELAY=NEGLIGIB: "a local area
                                             network delay (less than .48 milliseconds)" (an
                                             upper bound; ibm.com/support/knowledgecenter/
                                             SSLTBW_2.1.0/com.ibm.zos.v2r1.istrdr0/swtpdel.htm)
wifi        1 ms       31457.28    15728.64  Chrome DevTools' former "WiFi" preset: 30 Mb/s down,
                                             15 Mb/s up (Mb = 1024*1024 bits), 2 ms "minimum
                                             round-trip time" (devtools-frontend,
                                             front_end/network_conditions/
                                             NetworkConditionsSelector.js, commit af54e3ac)
4g          30 ms      9000        1500      Chrome DevTools' "Fast 4G": 9 Mbps down, 1.5 Mbps
                                             up, 60 ms RTT (devtools-frontend,
                                             front_end/core/sdk/NetworkManager.ts,
                                             Fast4GConditions, fast4GTargetLatency = 60)
slow-4g     75 ms      1600        750       Chrome DevTools' "Slow 4G": ~1.6 Mbps down,
                                             ~0.75 Mbps up, 150 ms RTT (same file,
                                             Slow4GConditions, slow4GTargetLatency = 150)
3g          200 ms     500         500       Chrome DevTools' "3G": ~500 Kbps down and up,
                                             400 ms RTT (same file, Slow3GConditions,
                                             slow3GTargetLatency = 400)
satellite   300 ms     -           -         geostationary orbit, 35786 km up: "typical round
                                             trip times of ~600 ms" (FAU Erlangen-Nürnberg,
                                             Chair of Computer Science 7,
                                             https://cs7.tf.fau.de/2024/page/2); no bandwidth
                                             figure there, so none here
==========  =========  ==========  ========  ====================================================

DevTools itself throttles whole requests, not packets, so it multiplies these targets by
adjustment factors (Fast 4G: latency 60 * 2.75 = 165 ms, throughput * 0.9; Slow 4G: 150 * 3.75 =
562.5 ms; 3G: 400 * 5 = 2000 ms, throughput * 0.8). The tap delays every chunk the way a
network delays packets, which is the level those targets describe, so it takes them unadjusted.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MAX_MS = 60_000.0  # a minute, one way: beyond any real path, and a test cannot hang longer
MIN_KBPS, MAX_KBPS = 1.0, 10_000_000.0  # 1 kbit/s to 10 Gbit/s
# A chunk whose bytes take a while to send is delivered in slices, as a link delivers packets:
# about SLICE_SECONDS of sending each, never smaller than MIN_SLICE bytes (about one TCP segment).
SLICE_SECONDS = 0.01
MIN_SLICE = 1460


def _check_ms(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of milliseconds from 0 to {MAX_MS:g}, "
                         f"got {value!r}")
    if not (0 <= value <= MAX_MS):  # also False for NaN
        raise ValueError(f"{name} must be from 0 to {MAX_MS:g} milliseconds, got {value!r}")
    return float(value)


def _check_kbps(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be None (unlimited) or a number of kilobits per second "
                         f"from {MIN_KBPS:g} to {MAX_KBPS:.0f}, got {value!r}")
    if not (MIN_KBPS <= value <= MAX_KBPS):
        raise ValueError(f"{name} must be None (unlimited) or from {MIN_KBPS:g} to {MAX_KBPS:.0f} "
                         f"kbps, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Network:
    """Conditions between a client and the app, applied by the tap in both directions.

    ``latency_ms`` is one-way delay, added in each direction (a round trip grows by twice
    it); ``jitter_ms`` varies each chunk's delay by up to that much either way (never
    reordering bytes: TCP does not); ``down_kbps`` (server to client) and ``up_kbps`` (client
    to server) cap throughput per direction and per connection, ``None`` for no cap.
    ``Network()`` adds nothing. Bad values raise ``ValueError`` naming the allowed range.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    down_kbps: float | None = None
    up_kbps: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, at construction
        set_(self, "latency_ms", _check_ms("latency_ms", self.latency_ms))
        set_(self, "jitter_ms", _check_ms("jitter_ms", self.jitter_ms))
        set_(self, "down_kbps", _check_kbps("down_kbps", self.down_kbps))
        set_(self, "up_kbps", _check_kbps("up_kbps", self.up_kbps))

    @classmethod
    def of(cls, value: "Network | str | None") -> "Network":
        """A Network from a Network, a preset name (``NETWORKS``) or None (no conditions)."""
        if value is None:
            return NETWORKS["loopback"]
        if isinstance(value, Network):
            return value
        if isinstance(value, str):
            try:
                return NETWORKS[value.strip().lower()]
            except KeyError:
                raise ValueError(f"unknown network {value!r}; the presets are "
                                 f"{', '.join(NETWORKS)}") from None
        raise ValueError(f"a network is a wsdemo.Network, one of the preset names "
                         f"({', '.join(NETWORKS)}) or None, got {value!r}")

    @property
    def active(self) -> bool:
        """True if it delays or caps anything (the tap then holds bytes back)."""
        return bool(self.latency_ms or self.jitter_ms or self.down_kbps or self.up_kbps)

    def bytes_per_second(self, sender: str) -> float | None:
        """The cap on what ``sender`` ("client" or "server") sends, in bytes per second."""
        kbps = self.down_kbps if sender == "server" else self.up_kbps
        return None if kbps is None else kbps * 1000 / 8

    def __str__(self) -> str:
        if not self.active:
            return "no added delay, no bandwidth cap"
        delay = f"{self.latency_ms:g} ms one way"
        if self.jitter_ms:
            delay += f" ± {self.jitter_ms:g} ms"
        rates = ", ".join(f"{name} {'unlimited' if kbps is None else f'{kbps:g} kbps'}"
                          for name, kbps in (("down", self.down_kbps), ("up", self.up_kbps)))
        return f"{delay}, {rates}"


NETWORKS: dict[str, Network] = {
    "loopback": Network(),
    "lan": Network(latency_ms=0.48),
    "wifi": Network(latency_ms=1, down_kbps=30 * 1024 * 1024 / 1000, up_kbps=15 * 1024 * 1024 / 1000),
    "4g": Network(latency_ms=30, down_kbps=9000, up_kbps=1500),
    "slow-4g": Network(latency_ms=75, down_kbps=1600, up_kbps=750),
    "3g": Network(latency_ms=200, down_kbps=500, up_kbps=500),
    "satellite": Network(latency_ms=300),
}

PRESET_SOURCES: dict[str, str] = {
    "loopback": "nothing added: the machine's own loopback",
    "lan": ("IBM z/OS Communications Server, SNA Resource Definition Reference, PDELAY=NEGLIGIB: "
            "'a local area network delay (less than .48 milliseconds)' (an upper bound; "
            "https://www.ibm.com/support/knowledgecenter/SSLTBW_2.1.0/com.ibm.zos.v2r1.istrdr0/swtpdel.htm)"),
    "wifi": ("Chrome DevTools' former 'WiFi' throttling preset: 30 Mb/s down, 15 Mb/s up "
             "(1 Mb = 1024*1024 bits), 2 ms minimum round-trip time (ChromeDevTools/devtools-frontend "
             "front_end/network_conditions/NetworkConditionsSelector.js, commit af54e3ac)"),
    "4g": ("Chrome DevTools' 'Fast 4G': 9 Mbps down, 1.5 Mbps up, 60 ms RTT "
           "(devtools-frontend front_end/core/sdk/NetworkManager.ts, Fast4GConditions)"),
    "slow-4g": ("Chrome DevTools' 'Slow 4G': ~1.6 Mbps down, ~0.75 Mbps up, 150 ms RTT "
                "(devtools-frontend front_end/core/sdk/NetworkManager.ts, Slow4GConditions)"),
    "3g": ("Chrome DevTools' '3G': ~500 Kbps down and up, 400 ms RTT "
           "(devtools-frontend front_end/core/sdk/NetworkManager.ts, Slow3GConditions)"),
    "satellite": ("geostationary orbit: 'typical round trip times of ~600 ms' (FAU Erlangen-Nürnberg, "
                  "Chair of Computer Science 7, https://cs7.tf.fau.de/2024/page/2); no bandwidth cap"),
}


class Schedule:
    """When the bytes of one direction of one connection are due at the other end.

    Sans-IO: times are plain seconds on any monotonic clock the caller uses (the tap uses its
    loop's). ``plan(now, size)`` for each chunk, in the order the chunks arrived. ``network``
    may be replaced at any time: bytes already planned keep their times, later ones use the
    new conditions, and none is ever due before the bytes ahead of it.
    """

    def __init__(self, network: Network, sender: str, rng: random.Random | None = None):
        self.network = network
        self.sender = sender
        self.last_due = -math.inf  # nothing may be due before this
        self._free_at = -math.inf  # the link is busy sending earlier bytes until then
        self._rng = rng or random.Random()

    def delay(self) -> float:
        """One chunk's travel time in seconds: latency, give or take jitter, never negative."""
        net = self.network
        delay = net.latency_ms
        if net.jitter_ms:
            delay += self._rng.uniform(-net.jitter_ms, net.jitter_ms)
        return max(0.0, delay) / 1000

    def plan(self, now: float, size: int) -> list[tuple[int, float]]:
        """Slices of a ``size``-byte chunk that arrived at ``now``: (end offset, due time), in
        order, the last ending at ``size``. A zero-byte chunk (an end of stream) is one slice."""
        delay = self.delay()
        rate = self.network.bytes_per_second(self.sender)
        if rate is None or size == 0:
            due = self.last_due = max(self.last_due, now + delay)
            return [(size, due)]
        step = max(MIN_SLICE, int(rate * SLICE_SECONDS))
        start = max(now, self._free_at)
        slices = []
        last = self.last_due
        for end in range(step, size + step, step):
            end = min(end, size)
            last = max(last, start + end / rate + delay)
            slices.append((end, last))
        self.last_due = last
        self._free_at = start + size / rate
        return slices
