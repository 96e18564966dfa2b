"""``python -m wsdemo decode HEX``: a readable breakdown of frames given as hex."""

from __future__ import annotations

import re

from .errors import ProtocolError
from .frames import DEFAULT_MAX_PAYLOAD, FrameDecoder
from .messages import MessageAssembler

_SEPARATORS = re.compile(r"[\s:,_-]+")


def decode_hex(text: str, deflate: bool = False) -> tuple[str, bool]:
    """Decode the frames in ``text`` (hex; spaces, ':' and a leading '0x' ignored).
    Returns (the breakdown, True when every byte decoded cleanly)."""
    cleaned = _SEPARATORS.sub("", text.strip())
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        bad = next((i for i, ch in enumerate(cleaned) if ch not in "0123456789abcdefABCDEF"), None)
        where = f": {cleaned[bad]!r} at position {bad} is not a hex digit" if bad is not None else \
            f": an odd number of hex digits ({len(cleaned)})"
        return f"error: not hex{where}", False
    if not data:
        return "error: no bytes given", False
    decoder = FrameDecoder(DEFAULT_MAX_PAYLOAD, allow_rsv1=deflate)
    assembler = MessageAssembler(deflate=deflate)
    out: list[str] = []
    ok = True
    try:
        frames = decoder.feed(data)
        error = None
    except ProtocolError as e:
        frames, error = e.frames, e
    for i, frame in enumerate(frames, 1):
        if out:
            out.append("")
        out.append(f"frame {i} at byte {frame.offset}:")
        out.append(frame.describe())
        try:
            message = assembler.add(frame)
        except ProtocolError as e:
            out.append(f"error: {e}")
            ok = False
        else:
            if message is not None and (len(message.frames) > 1 or message.compressed):
                out.append(f"=> message: {message}")
    if error is not None:
        out.append(f"error at byte {error.offset}: {error}")
        return "\n".join(out), False
    try:
        decoder.eof()
    except ProtocolError as e:
        out.append(f"error at byte {e.offset}: {e}")
        ok = False
    if assembler.in_progress:
        out.append("note: the last message is fragmented and its final frame (FIN=1) is missing")
    return "\n".join(out), ok
