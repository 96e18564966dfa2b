"""The WebSocket connection lifecycle (RFC 6455 sections 4, 7 and the WHATWG readyState).

``TRANSITIONS`` is the single table both :class:`~wsdemo.wire.ConnectionDecoder` (through
:func:`next_state`) and the diagrams read, so a picture cannot drift from the code.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class State(enum.Enum):
    """Where a WebSocket connection is; the names match the browser's ``readyState``."""

    CONNECTING = 0  #: opening handshake in progress (section 4)
    OPEN = 1  #: 101 seen: frames may flow both ways (section 4.1, "_The WebSocket Connection is Established_")
    CLOSING = 2  #: a close frame was sent by one side (section 7.1.2)
    CLOSED = 3  #: the TCP connection is closed (section 7.1.4)

    def __repr__(self) -> str:
        return f"State.{self.name}"


class Transition(NamedTuple):
    source: State
    trigger: str
    target: State


TRANSITIONS: tuple[Transition, ...] = (
    Transition(State.CONNECTING, "101 Switching Protocols", State.OPEN),
    Transition(State.CONNECTING, "non-101 response", State.CLOSED),
    Transition(State.CONNECTING, "TCP closed", State.CLOSED),
    Transition(State.OPEN, "client sends close", State.CLOSING),
    Transition(State.OPEN, "server sends close", State.CLOSING),
    Transition(State.OPEN, "TCP closed", State.CLOSED),
    Transition(State.CLOSING, "TCP closed", State.CLOSED),
)

TRIGGERS: tuple[str, ...] = tuple(dict.fromkeys(t.trigger for t in TRANSITIONS))

_TABLE = {(t.source, t.trigger): t.target for t in TRANSITIONS}


def next_state(state: State, trigger: str) -> State:
    """The state after ``trigger``; a trigger with no transition from ``state`` changes nothing
    (a second close frame while CLOSING, say)."""
    return _TABLE.get((state, trigger), state)
