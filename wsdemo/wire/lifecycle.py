"""The WebSocket connection lifecycle (RFC 6455 sections 4, 7 and the WHATWG readyState).

``TRANSITIONS`` is the single table both :class:`~wsdemo.wire.ConnectionDecoder` (through
:func:`next_state`) and the diagrams read, so a picture cannot drift from the code.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from .errors import ErrorKind, ProtocolError


class State(enum.Enum):
    """Where a WebSocket connection is; the names match the browser's ``readyState``."""

    CONNECTING = 0  #: opening handshake in progress (section 4)
    OPEN = 1  #: 101 seen: frames may flow both ways (section 4.1, "_The WebSocket Connection is Established_")
    CLOSING = 2  #: a close frame was sent by one side (section 7.1.2)
    CLOSED = 3  #: the TCP connection is closed (section 7.1.4)

    def __repr__(self) -> str:
        return f"State.{self.name}"


class Trigger(enum.Enum):
    """What moves a connection from one state to another; the value is the diagram's label."""

    SWITCHING_PROTOCOLS = "101 Switching Protocols"
    REFUSED = "non-101 response"
    TCP_CLOSED = "TCP closed"
    CLIENT_CLOSE = "client sends close"
    SERVER_CLOSE = "server sends close"

    def __str__(self) -> str:
        return self.value


class Transition(NamedTuple):
    source: State
    trigger: Trigger
    target: State


TRANSITIONS: tuple[Transition, ...] = (
    Transition(State.CONNECTING, Trigger.SWITCHING_PROTOCOLS, State.OPEN),
    Transition(State.CONNECTING, Trigger.REFUSED, State.CLOSED),
    Transition(State.CONNECTING, Trigger.TCP_CLOSED, State.CLOSED),
    Transition(State.OPEN, Trigger.CLIENT_CLOSE, State.CLOSING),
    Transition(State.OPEN, Trigger.SERVER_CLOSE, State.CLOSING),
    Transition(State.OPEN, Trigger.TCP_CLOSED, State.CLOSED),
    Transition(State.CLOSING, Trigger.TCP_CLOSED, State.CLOSED),
)

_TABLE = {(t.source, t.trigger): t.target for t in TRANSITIONS}


def next_state(state: State, trigger: Trigger) -> State:
    """The state after ``trigger``; a trigger with no transition from ``state`` changes nothing
    (a second close frame while CLOSING, say). Anything but a :class:`Trigger` raises
    ProtocolError (kind BAD_ARGUMENT): a misspelt trigger must not pass silently."""
    if not isinstance(trigger, Trigger):
        raise ProtocolError(f"unknown lifecycle trigger {trigger!r}: expected one of "
                            f"{', '.join(t.name for t in Trigger)}", kind=ErrorKind.BAD_ARGUMENT)
    return _TABLE.get((state, trigger), state)
