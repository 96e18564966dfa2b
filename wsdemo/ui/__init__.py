"""Widgets that show a WebSocket conversation decoded from the real wire.

The show layer: ipywidgets fed by events from the tap. It never opens sockets;
it only reads the objects it is given (a tap, a tap Connection, a client).
The logic behind every widget is in :mod:`wsdemo.ui.render` (plain functions).
"""

from .moderation import ModerationPanel
from .render import RecordedConnection, export_recording, import_recording
from .widgets import (
    Composer, ConnectionsPanel, ConnectionSummary, FrameInspector, HandshakeView, SendResult,
    summary_line,
)

__all__ = [
    "HandshakeView", "FrameInspector", "Composer", "ConnectionsPanel", "ConnectionSummary",
    "summary_line", "SendResult", "ModerationPanel", "export_recording", "import_recording", "RecordedConnection",
]
