"""Attacks on the live lab, as a hostile student or a stranger on the classroom Wi-Fi would make
them. Loopback only; every test starts and stops its own server and is bounded in count and time."""

from tests.live.conftest import server  # noqa: F401  (the same real server fixture)
