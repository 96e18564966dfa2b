"""What every check shares: the ✓/✗ line, numbers read without raising, the bytes a learner
typed, and the time a live check may take."""

from __future__ import annotations

import base64
import math
from typing import Any

from .. import wire

OK, NO = "✓", "✗"
T = 5.0  # seconds: a live check gives up after this rather than hang a cell


def say(ok: bool, text: str) -> bool:
    print(f"{OK if ok else NO} {text}")
    return ok


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def as_bytes(value: Any) -> bytes | None:
    """Bytes from bytes, text that spells bytes (hex as "37 fa 21 3d" or "0x37fa213d", or a
    bytes literal: ``wire.parse_bytes_text``), or a list of ints; None for anything else."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return wire.parse_bytes_text(value)
        except wire.BytesTextError:
            return None
    if isinstance(value, (list, tuple)) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    return None


class NotANumber(str):
    """The hint ``as_number`` gives instead of a number: what the answer was instead."""


def as_number(value: Any, what: str) -> float | NotANumber:
    """``value`` as a finite number, or a hint that says what it was instead."""
    if value is None:
        return NotANumber(f"{what}: no answer yet.")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return NotANumber(f"{what}: give a number, not {type(value).__name__} ({value!r}).")
    if not math.isfinite(value):
        return NotANumber(f"{what}: {value!r} is not a number of anything; give a finite number.")
    return value


def header_size(length: int, masked: bool) -> int:
    """Bytes of header for one frame with ``length`` payload bytes (the wire layer builds it)."""
    return len(wire.encode_frame(wire.Opcode.TEXT, bytes(length), mask_key=b"\0\0\0\0" if masked else None)) - length


def plural(n: float, word: str) -> str:
    return f"{n:g} {word}{'' if n == 1 else 's'}"




def function_problem(fn: Any, name: str, define: str) -> str | None:
    """A hint when ``fn`` is not yet a function to check (None: not written; not callable: the
    result of a call passed instead), else None. ``define`` says what to write."""
    if fn is None:
        return f"No function yet. {define}"
    if not callable(fn):
        return f"Pass the function itself ({name}), not the result of calling it."
    return None


def call_learner(fn: Any, args: tuple, call: str) -> tuple[Any, str | None]:
    """``fn(*args)`` and None, or None and a hint naming ``call`` when it raised."""
    try:
        return fn(*args), None
    except Exception as exc:  # a learner's bug must end in a hint, not a traceback
        return None, f"{call} raised {type(exc).__name__}: {exc}"
