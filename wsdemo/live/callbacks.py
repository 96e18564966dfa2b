"""Lists of callbacks that a cell subscribes to (the tap's events, the feed's updates, a
client's reconnect tries): subscribing returns the function that unsubscribes."""

from __future__ import annotations

from typing import Callable, TypeVar

C = TypeVar("C", bound=Callable[..., object])


def subscribe(callbacks: list[C], callback: C) -> Callable[[], None]:
    """Append ``callback`` to ``callbacks``; the function returned removes it (once; calling
    it again does nothing)."""
    callbacks.append(callback)

    def unsubscribe() -> None:
        if callback in callbacks:
            callbacks.remove(callback)
    return unsubscribe
