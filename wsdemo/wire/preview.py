"""One printable line for any payload, and the test for "is it text?".

Every view (``Frame.__str__``, the FrameInspector's rows, diagrams, ``python -m wsdemo
decode``) shows payloads through :func:`preview`, so the same bytes read the same everywhere.
"""

from __future__ import annotations

import re

__all__ = ["looks_text", "preview"]

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LOOK = 400  # bytes looked at: enough to tell, bounded for 16 MiB payloads


def looks_text(data: bytes) -> bool:
    """Does ``data`` read as text? Valid UTF-8 without control characters other than tab and
    line ends (bytes 00 01 02 are binary, even though they are valid UTF-8). Only the first
    400 bytes are looked at; a character cut at that limit is fine."""
    try:
        text = data[:_LOOK].decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < _LOOK - 4:
            return False
        text = data[:e.start].decode("utf-8")
    return not _CONTROL_CHARS.search(text)


def preview(data: bytes, text: str | bool | None = None, limit: int = 72, *,
            ellipsis_inside: bool = False) -> str:
    """A single printable line: text quoted (``repr`` escapes control characters), cut at
    ``limit`` characters, or else the first bytes of ``data`` in hex (up to ``limit // 3``, at
    most 16). ``text`` is the text to show, or True to show ``data`` decoded as UTF-8 (invalid
    bytes replaced; only as much as the line needs is decoded). A cut is marked with "…",
    after the closing quote, or inside it with ``ellipsis_inside`` (how ``str(frame)`` and
    ``str(message)`` have always printed: the course's saved outputs show it)."""
    if text is True:
        text = bytes(data[: 4 * limit + 4]).decode("utf-8", "replace")
    if isinstance(text, str):
        more = "…" if len(text) > limit else ""
        if ellipsis_inside:
            return repr(text[:limit] + more)
        return repr(text[:limit]) + more
    if not data:
        return ""
    shown = bytes(data[: min(limit // 3, 16)])
    return shown.hex(" ") + (" …" if len(data) > len(shown) else "")
