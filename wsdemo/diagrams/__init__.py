"""Pictures of the protocol: sequence diagrams, the frame layout, the lifecycle.

Every function returns a :class:`Diagram`, a ``graphviz.Digraph`` that a
notebook displays as SVG. Without graphviz's ``dot`` program the notebook shows
how to install it and the DOT source instead of a traceback.

Explainers (no traffic needed): :func:`letters_vs_phone_call`, :func:`polling`,
:func:`long_polling`, :func:`websocket`. Drawn from what really happened:
:func:`from_connection`, :func:`from_connections` (recorded tap connections),
:func:`frame_layout` (one frame's real bits) and :func:`lifecycle` (the state
table ``wsdemo.wire.lifecycle`` runs on). :func:`course_map` draws the course itself.

Show layer: imports graphviz and ``wsdemo.wire``, never sockets or tornado. One module per
kind: ``base`` (the Diagram class, fonts), ``sequences`` (the explainers), ``recorded``,
``pictures`` (frame layout, lifecycle), ``course``.
"""

from __future__ import annotations


from ..ui.palette import CLIENT_COLOR, SERVER_COLOR
from .base import INSTALL_HELP, Diagram
from .course import COURSE, CourseStep, course_map
from .pictures import frame_layout, lifecycle
from .recorded import from_connection, from_connections
from .sequences import letters_vs_phone_call, long_polling, polling, websocket

__all__ = [
    "Diagram",
    "letters_vs_phone_call",
    "polling",
    "long_polling",
    "websocket",
    "from_connection",
    "from_connections",
    "frame_layout",
    "lifecycle",
    "course_map",
    "COURSE",
    "CourseStep",
    "INSTALL_HELP",
    "CLIENT_COLOR",
    "SERVER_COLOR",
]
