"""Widgets that show a WebSocket conversation decoded from the real wire.

The show layer: ipywidgets fed by events from the tap. It never opens sockets; it reads
the objects it is given through the protocols of :mod:`wsdemo.wire.recording` (a source of
events such as the tap, a connection's record such as one of its connections).

By job: :mod:`.rows` (the frame table's rows, their ring, filters, who is who), :mod:`.markup`
(frame fields, bytes, payloads and summaries as HTML), :mod:`.detail` (one row's detail pane),
:mod:`.handshake` (handshake HTML, the header encyclopedia),
:mod:`.compose` (what the Composer sends, checked), :mod:`.palette` (colours shared with
``wsdemo.diagrams``); the widgets wire them up (:mod:`.widgets`, :mod:`.inspector`).
"""

from ..wire.recording import RecordedConnection, Recording, export_recording, import_recording
from .compose import SendResult
from .inspector import FrameInspector
from .moderation import ModerationPanel
from .widgets import Composer, ConnectionsPanel, ConnectionSummary, HandshakeView, summary_line

__all__ = [
    "HandshakeView", "FrameInspector", "Composer", "ConnectionsPanel", "ConnectionSummary",
    "summary_line", "SendResult", "ModerationPanel", "export_recording", "import_recording", "RecordedConnection",
    "Recording",
]
