"""Bytes typed by a person: hex in its usual spellings, or a Python bytes literal.

Learners paste bytes from the RFC ("81 05 48 65"), Wireshark ("81:05:48:65"), C or
Python ("0x81, 0x05", "\\x81\\x05", ``b'\\x81\\x05Hello'``). :func:`parse_bytes_text`
reads all of these with one rule:

* ``b'…'`` / ``b"…"``, or text with a backslash that is not only ``\\xHH`` bytes, is a
  bytes literal. Its escapes are parsed here, strictly, never evaluated (``ast.literal_eval``
  on crafted text can exhaust memory): ``\\xHH``, ``\\n``, ``\\r``, ``\\t``, ``\\\\``,
  ``\\'``, ``\\"``, ``\\a \\b \\f \\v``, and octal ``\\0``–``\\377``. Any other escape, a
  lone backslash, a character outside ASCII, or (inside ``b'…'``) an unescaped quote is
  an error that says where.
* anything else is hex: whitespace, ``:``, ``,``, ``_``, ``-`` separate, ``0x`` and ``\\x``
  prefixes are dropped; every byte is two hex digits.
"""

from __future__ import annotations

import re

from .errors import ErrorKind, ProtocolError

__all__ = ["BytesTextError", "parse_bytes_text"]

_SEPARATORS = re.compile(r"[\s:,_-]+")
# "0x81 0x05", "\x81\x05", "0X81": prefixes on each byte
_PREFIXES = re.compile(r"(?:(?<![0-9A-Fa-f])0[xX]|\\x)")
_ONLY_X_ESCAPES = re.compile(r"(?:[\s:,]*\\x[0-9A-Fa-f]{2})+[\s:,]*")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# One escape (its letter or digits), or a run of plain characters.
_LITERAL_PIECE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[0-7]{1,3}|.?)|[^\\]+", re.S)
_SIMPLE_ESCAPES = {"n": 10, "r": 13, "t": 9, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8, "f": 12, "v": 11}
_KNOWN = "\\xHH, \\n, \\r, \\t, \\\\, \\', \\\", \\a, \\b, \\f, \\v and octal \\0-\\377"


class BytesTextError(ProtocolError):
    """Text that should spell bytes and does not; ``offset`` is the character position and
    ``kind`` is always ErrorKind.BYTES_TEXT."""

    def __init__(self, message: str, offset: int | None = None):
        super().__init__(message, offset, kind=ErrorKind.BYTES_TEXT)


def parse_bytes_text(text: str) -> bytes:
    """The bytes ``text`` spells (see the module docstring); BytesTextError saying what and where."""
    stripped = text.strip()
    if (len(stripped) >= 3 and stripped[0] in "bB" and stripped[1] in "'\""
            and stripped[-1] == stripped[1]):
        return _literal(stripped[2:-1], 2, quote=stripped[1])
    if "\\" in stripped and not _ONLY_X_ESCAPES.fullmatch(stripped):
        return _literal(stripped, 0, quote=None)
    return _hex(stripped)


def _hex(text: str) -> bytes:
    cleaned = _SEPARATORS.sub("", _PREFIXES.sub(" ", text))
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        pass
    bad = next((i for i, ch in enumerate(cleaned) if ch not in _HEX_DIGITS), None)
    if bad is not None:
        raise BytesTextError(f"not hex: {cleaned[bad]!r} at position {bad} is not a hex digit "
                             f"(give bytes as hex, like 81 05 48 65 6c 6c 6f)", bad)
    raise BytesTextError(f"not hex: an odd number of hex digits ({len(cleaned)}); every byte is two "
                         f"digits, so one is missing or extra", len(cleaned))


def _literal(body: str, start: int, quote: str | None) -> bytes:
    out = bytearray()
    for m in _LITERAL_PIECE.finditer(body):
        at = start + m.start()
        escape = m.group(1)
        if escape is None:  # plain characters
            run = m.group(0)
            if quote is not None and quote in run:
                raise BytesTextError(f"bytes literal: an unescaped {quote} at position "
                                     f"{at + run.index(quote)} ends it early (write \\{quote})",
                                     at + run.index(quote))
            try:
                out += run.encode("ascii")
            except UnicodeEncodeError as e:
                raise BytesTextError(f"bytes literal: {run[e.start]!r} at position {at + e.start} is not "
                                     f"ASCII; write such bytes as \\xHH", at + e.start) from None
        elif escape[:1] == "x" and len(escape) == 3:
            out.append(int(escape[1:], 16))
        elif escape and escape[0] in "01234567":
            value = int(escape, 8)
            if value > 0o377:
                raise BytesTextError(f"bytes literal: octal escape \\{escape} at position {at} is over "
                                     f"\\377 (255)", at)
            out.append(value)
        elif escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
        elif not escape:
            raise BytesTextError(f"bytes literal: a lone backslash at position {at} ends the text", at)
        elif escape == "x":
            raise BytesTextError(f"bytes literal: \\x at position {at} must be followed by two hex digits, "
                                 f"got {body[m.end():m.end() + 2]!r}", at)
        else:
            raise BytesTextError(f"bytes literal: unknown escape \\{escape} at position {at} "
                                 f"(bytes literals know {_KNOWN})", at)
    return bytes(out)
