"""What every wsdemo widget shares: a batcher that renders at most ``1 / SYNC_INTERVAL``
times a second, subscriptions to a source of events, and a readable text/plain repr.

Widgets talk to the live layer only through the objects they are given, read through the
protocols in :mod:`wsdemo.wire.recording` (an ``EventSource`` such as the tap, a
``ConnectionRecord`` such as one of its connections); they never open sockets. Events arrive
on the event loop (tap callbacks); widgets collect them and re-render on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import ipywidgets as W

from ..wire.events import Event
from ..wire.recording import ConnectionRecord, EventSource, LiveConnection
from . import snapshot as S

__all__ = ["SYNC_INTERVAL", "STYLE", "Batcher", "Live", "subscribe"]

log = logging.getLogger(__name__)

SYNC_INTERVAL = 0.1  # seconds between two widget syncs at most: ~10 per second

STYLE = W.HTML(
    "<style>.wsdemo-rows select, .wsdemo-rows option {font-family: monospace; font-size: 12px}"
    ".wsdemo-pane {overflow-x: auto}"
    # A widget drawn from a saved notebook (no kernel behind it) marks itself and each of its
    # parts with a broken-link icon; once, on the widget itself, says it.
    ".wsdemo-live.jupyter-widgets-disconnected .jupyter-widgets-disconnected::before {display: none}"
    "</style>")


class Batcher:
    """Calls ``render`` soon after ``poke()``, never more than once per ``interval``.

    On a running loop it schedules a timer (call_later), so a burst of thousands of
    events costs one render per interval. Without a loop (plain scripts) it renders
    at most once per interval and leaves the rest to an explicit ``flush()``.
    """

    def __init__(self, render: Callable[[], None], interval: float = SYNC_INTERVAL):
        self._render = render
        self.interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._last = float("-inf")
        self.syncs = 0        # how many renders happened: tests check the rate with it
        self.pokes = 0
        self.dirty = False

    def poke(self) -> None:
        self.pokes += 1
        self.dirty = True
        if self._handle is not None:
            return
        now = time.monotonic()
        delay = max(0.0, self._last + self.interval - now)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if delay == 0.0:
                self.flush()
            return
        self._handle = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        try:
            self.flush()
        except Exception:  # a render bug must not kill the loop's timer machinery
            log.exception("wsdemo widget render failed")

    def flush(self) -> None:
        """Render now (if anything changed) and cancel a pending timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self.dirty:
            return
        self.dirty = False
        self._last = time.monotonic()
        self.syncs += 1
        self._render()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None



def subscribe(source: EventSource | ConnectionRecord | Any,
              callback: Callable[[Event], None]) -> Callable[[], None] | None:
    """Subscribe to new events of a source (all its connections) or of one live connection
    (its tap's events for that connection only); None when nothing more will come."""
    if isinstance(source, EventSource):
        return source.subscribe(callback)
    if isinstance(source, LiveConnection):
        def only_mine(event: Event, _conn: ConnectionRecord = source) -> None:
            if event.connection is _conn:
                callback(event)
        return source.tap.subscribe(only_mine)
    return None


class Live(W.VBox):
    """Common plumbing: a batcher, an unsubscribe list, and a readable text/plain repr."""

    _ready = False  # set once __init__ ran: ipywidgets' __del__ calls close() even when it did not

    def __init__(self, children=(), **kw):
        super().__init__(children=children, **kw)
        self.add_class("wsdemo-live")
        self._unsubs: list[Callable[[], None]] = []
        self._batcher = Batcher(self._render)
        self._ready = True

    @property
    def syncs(self) -> int:
        """How many times the widget rendered (tests check the rate with it)."""
        return self._batcher.syncs

    @property
    def pokes(self) -> int:
        """How many updates asked for a render (many pokes, few syncs: batching works)."""
        return self._batcher.pokes

    def flush(self) -> None:
        """Render pending updates now (notebooks call it before reading the repr or text)."""
        self._batcher.dirty = True
        self._batcher.flush()

    def close(self) -> None:
        if not self._ready:  # a constructor refused its arguments: nothing was set up
            return
        self._unsubscribe()
        self._batcher.cancel()
        super().close()

    def _unsubscribe(self) -> None:
        for unsub in self._unsubs:
            try:
                unsub()
            except Exception:
                log.exception("unsubscribe failed")
        self._unsubs.clear()

    def _render(self) -> None:  # pragma: no cover - overridden
        pass

    def snapshot_html(self) -> str:
        """The current view as static HTML (see wsdemo.ui.snapshot)."""
        return S.snapshot_html(self, self._snapshot_parts())

    def _snapshot_parts(self) -> dict[int, str]:
        return {}

    def _repr_mimebundle_(self, **kwargs):
        # ipywidgets cuts text/plain at 110 characters; ours is short and complete.
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)
        # What a saved notebook shows where the widget cannot run (GitHub, an untrusted
        # notebook); the notebook builder replaces it with the view after the last cell.
        data["text/html"] = S.snapshot_of(self)
        return data

