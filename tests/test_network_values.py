"""wsdemo.Network values, presets, and the schedule arithmetic (sans-IO: no sockets, no loop)."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

import wsdemo
from wsdemo.live.network import MIN_SLICE, NETWORKS, PRESET_SOURCES, Network, Schedule


def test_defaults_add_nothing_and_presets_are_exported():
    assert Network() == NETWORKS["loopback"] and not Network().active
    assert wsdemo.Network is Network and wsdemo.NETWORKS is NETWORKS
    for name in ("loopback", "lan", "wifi", "4g", "3g", "satellite"):
        assert isinstance(NETWORKS[name], Network)
        assert PRESET_SOURCES[name]  # each preset says where its figures come from
    assert set(PRESET_SOURCES) == set(NETWORKS)


def test_presets_carry_the_figures_of_their_sources():
    # Chrome DevTools' NetworkManager.ts: Fast 4G 9 Mbps / 1.5 Mbps / 60 ms RTT;
    # "3G" ~500 Kbps both ways, 400 ms RTT. One way is half the RTT.
    assert NETWORKS["4g"] == Network(latency_ms=30, down_kbps=9000, up_kbps=1500)
    assert NETWORKS["3g"] == Network(latency_ms=200, down_kbps=500, up_kbps=500)
    assert NETWORKS["satellite"].latency_ms * 2 == 600


def test_network_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Network().latency_ms = 5


@pytest.mark.parametrize("field, value", [
    ("latency_ms", -1), ("latency_ms", math.nan), ("latency_ms", math.inf), ("latency_ms", True),
    ("latency_ms", "40"), ("latency_ms", None), ("latency_ms", 60_001),
    ("jitter_ms", -0.5), ("jitter_ms", math.nan), ("jitter_ms", False),
    ("down_kbps", 0), ("down_kbps", -800), ("down_kbps", math.nan), ("down_kbps", math.inf),
    ("down_kbps", True), ("down_kbps", "800"), ("up_kbps", 0.5), ("up_kbps", 1e12),
])
def test_bad_values_name_the_allowed_range(field, value):
    with pytest.raises(ValueError) as err:
        Network(**{field: value})
    text = str(err.value)
    assert field in text
    assert ("60000" in text) if field.endswith("_ms") else ("10000000" in text and "None" in text)


def test_of_accepts_a_network_a_preset_name_or_none():
    own = Network(latency_ms=40)
    assert Network.of(own) is own
    assert Network.of("4g") is NETWORKS["4g"]
    assert Network.of(" 3G ") is NETWORKS["3g"]
    assert Network.of(None) == Network()


@pytest.mark.parametrize("value", ["5g", "", 40, 4.0, ["4g"], True])
def test_of_rejects_anything_else_naming_the_presets(value):
    with pytest.raises(ValueError) as err:
        Network.of(value)
    assert all(name in str(err.value) for name in NETWORKS)


def test_latency_alone_delays_each_chunk_by_it():
    s = Schedule(Network(latency_ms=40), "client")
    assert s.plan(10.0, 100) == [(100, pytest.approx(10.04))]
    assert s.plan(10.5, 0) == [(0, pytest.approx(10.54))]  # an end travels like data


def test_bandwidth_is_serialization_delay():
    # 800 kbps is 100,000 bytes per second: a 100,000-byte message takes 1.0 s.
    s = Schedule(Network(down_kbps=800), "server")
    slices = s.plan(0.0, 100_000)
    assert slices[-1] == (100_000, pytest.approx(1.0))
    ends = [end for end, _ in slices]
    assert ends == sorted(ends) and all(b - a <= max(MIN_SLICE, 1000) for a, b in zip([0] + ends, ends))
    # a chunk right behind waits for the link: 1,000 more bytes are done 10 ms later
    assert s.plan(0.5, 1000) == [(1000, pytest.approx(1.01))]
    # the up direction is not capped by down_kbps
    assert Schedule(Network(down_kbps=800), "client").plan(0.0, 100_000) == [(100_000, 0.0)]


def test_jitter_never_reorders_and_never_goes_below_zero():
    rng = random.Random(1)
    s = Schedule(Network(latency_ms=5, jitter_ms=50), "client", rng=rng)
    dues = []
    for i in range(2000):
        now = i * 0.001
        (end, due), = s.plan(now, 10)
        assert due >= now  # never delivered before it arrived
        dues.append(due)
    assert dues == sorted(dues)  # due = max(previous due, arrival + delay)
    delays = [d - i * 0.001 for i, d in enumerate(dues)]
    assert max(delays) <= 0.055 + 1e-9


def test_a_live_change_keeps_planned_times_and_order():
    s = Schedule(Network(latency_ms=300), "server")
    (_, first), = s.plan(0.0, 10)
    s.network = Network(latency_ms=10)  # faster now: later bytes still may not overtake
    (_, second), = s.plan(0.1, 10)
    assert first == pytest.approx(0.3) and second == first
    (_, third), = s.plan(1.0, 10)
    assert third == pytest.approx(1.01)
