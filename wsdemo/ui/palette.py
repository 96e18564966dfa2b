"""One palette for the show layer: the widgets and ``wsdemo.diagrams`` colour the same
thing the same way (a direction, a header field), so a learner who saw the frame layout
recognises its fields in the FrameInspector's hex dump.

Okabe-Ito colours: distinguishable with every common colour-vision deficiency and dark
enough for a projector on white. Colour is never the only signal: arrows and words
(``direction_text``) and field names (legends, tooltips) say the same.
"""

from __future__ import annotations

__all__ = [
    "CLIENT_COLOR", "SERVER_COLOR", "OPEN_COLOR", "WAIT_COLOR", "LIFELINE_COLOR",
    "FIELD_COLOURS", "MIXED_COLOUR", "ERROR_TEXT", "OK_TEXT", "WARN_TEXT", "SELECTED_ROW",
    "ARROWS", "DIRECTION_LABELS", "direction_text",
]

# One colour per direction, everywhere.
CLIENT_COLOR = "#0072B2"  # blue: client -> server
SERVER_COLOR = "#D55E00"  # vermillion: server -> client
OPEN_COLOR = "#009E73"  # bluish green: a connection held open
WAIT_COLOR = "#7F7F7F"  # grey: a request (or news) waiting
LIFELINE_COLOR = "#555555"

# The fields of a frame header (RFC 6455 §5.2): light tints, so black text reads on them.
FIELD_COLOURS = {
    "FIN": "#E8E8E8", "RSV1": "#E8E8E8", "RSV2": "#E8E8E8", "RSV3": "#E8E8E8",
    "opcode": "#CCE3F2",  # light blue
    "MASK": "#F9DCC8",  # light vermillion
    "payload length": "#CCEBE0",  # light green
    "extended payload length": "#CCEBE0",
    "masking key": "#FFF3B8",  # light yellow
    "payload": "#F0DDE8",  # light purple
}
MIXED_COLOUR = "#D9CCF0"  # a byte shared by several fields (FIN..opcode, MASK + length)

# Text that judges: wrong, right, and "look here" (also on white, also for a projector).
ERROR_TEXT = "#b00020"
OK_TEXT = "#006400"
WARN_TEXT = "#8a4b00"
SELECTED_ROW = "#fff3c4"

ARROWS = {"client": "→", "server": "←", "tap": "✂"}
DIRECTION_LABELS = {"client": "client→server", "server": "server→client", "tap": "the tap itself"}


def direction_text(sender: str) -> str:
    """'→ client' / '← server': an arrow and a word, so colour is never the only signal."""
    return f"{ARROWS.get(sender, '?')} {sender}"
