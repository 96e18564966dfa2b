"""Heartbeats: a ping every ``ping_interval`` seconds; a peer whose pong does not come back
within ``ping_timeout`` seconds is failed with 1011 and the reason "no pong within N s".

Used by both ends of the lab: the server (apps/base.py, one per WebSocket) and the in-kernel
client (client.py). A heartbeat finds a line that went dead without a FIN (a laptop lid
closed, a NAT that forgot the mapping) and keeps idle proxies from cutting a quiet one.

Tornado has its own (``websocket_ping_interval``/``websocket_ping_timeout``), but at the
timeout it sends Close 1000 "ping timed out" (1000 says all went well) and then waits
another 5 s for the Close of a peer that has already stopped answering; a timeout longer
than the interval is cut down with a log warning. Here the timeout is an error in the
options, and a silent peer gets a Close frame saying why, then the TCP connection is
dropped at once (RFC 6455 section 7.1.7, "Fail the WebSocket Connection").
"""

from __future__ import annotations

import asyncio
import math
from typing import Callable

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

#: The close code for a peer that stopped answering: 1011, as the websockets library and
#: most servers use for a keepalive timeout (the connection cannot go on; no protocol rule
#: was broken, so not 1002; not 1000, which says everything went well).
TIMEOUT_CODE = 1011


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}")
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds greater than 0, not {value!r}")
    return float(value)


def check_heartbeat(ping_interval: float | None, ping_timeout: float | None) -> tuple[float | None, float | None]:
    """Validated ``(ping_interval, ping_timeout)``; ``(None, None)`` means no heartbeats.

    Rules: ``ping_interval`` is a finite number of seconds > 0 (None: no pings);
    ``ping_timeout`` likewise and at most ``ping_interval`` (None: equal to the interval),
    because one ping is outstanding at a time: the next one is due after the interval."""
    if ping_interval is None:
        if ping_timeout is not None:
            raise ValueError("ping_timeout needs a ping_interval: without pings there is no pong to wait for")
        return None, None
    interval = _seconds("ping_interval", ping_interval)
    timeout = interval if ping_timeout is None else _seconds("ping_timeout", ping_timeout)
    if timeout > interval:
        raise ValueError(f"ping_timeout ({timeout:g} s) must not be larger than ping_interval "
                         f"({interval:g} s): one ping is outstanding at a time")
    return interval, timeout


class Heartbeat:
    """Pings through ``ping(data)``; calls ``fail(code, reason)`` once if a pong is late.

    ``pong(data)`` is fed every pong received; only the one echoing the outstanding ping's
    payload counts as its answer (RFC 6455 section 5.5.3: a pong carries the ping's data;
    an unsolicited pong says the peer can write, not that it reads). Payloads are readable
    (``b"heartbeat 3"``) so the frame inspector shows them for what they are.
    """

    def __init__(self, interval: float, timeout: float, *, ping: Callable[[bytes], None],
                 fail: Callable[[int, str], None]):
        self.interval, self.timeout = interval, timeout
        self._ping, self._fail = ping, fail
        self._waiting: bytes | None = None
        self._answered = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.sent = 0  # pings sent
        self.answered = 0  # pongs that answered one
        self.timed_out = False

    @property
    def reason(self) -> str:
        return f"no pong within {self.timeout:g} s"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def pong(self, data: bytes) -> bool:
        """True if ``data`` answers the outstanding ping."""
        if self._waiting is not None and data == self._waiting:
            self._waiting = None
            self.answered += 1
            self._answered.set()
            return True
        return False

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = loop.time() + self.interval
            self.sent += 1
            self._waiting = f"heartbeat {self.sent}".encode()
            self._answered.clear()
            try:
                self._ping(self._waiting)
            except (WebSocketClosedError, StreamClosedError):  # closed under us: nothing to watch
                return
            try:
                await asyncio.wait_for(self._answered.wait(), self.timeout)
            except asyncio.TimeoutError:
                self.timed_out = True
                self._task = None
                self._fail(TIMEOUT_CODE, self.reason)
                return
