"""Numbers in query strings, checked at the edge: finite and in range, or a 400 naming the range.

A clamp such as ``min(max(x, 0), 60)`` lets NaN through (every comparison with it is false),
and a NaN or infinite timeout handed to asyncio lands in the event loop's timer heap, where
it breaks the order of every timer of every connection. So no route clamps a client's
number: it takes a plain decimal within the documented range, or answers 400.
"""

from __future__ import annotations

import math
import re
from typing import TypeVar

import tornado.web

# ASCII only: float() and int() also take "nan", "inf", "1_000" and non-ASCII digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHOLE = re.compile(r"[0-9]{1,20}")


_Default = TypeVar("_Default", float, None)
_Whole = TypeVar("_Whole", int, None)


def number_argument(handler: tornado.web.RequestHandler, name: str, default: _Default, *,
                    low: float, high: float, unit: str = "") -> float | _Default:
    """The query argument ``name`` as a number from ``low`` to ``high`` (``default`` when it is
    absent); anything else raises a 400 whose reason names the range."""
    raw = handler.get_query_argument(name, None)
    if raw is None:
        return default
    if _DECIMAL.fullmatch(raw):
        value = float(raw)
        if math.isfinite(value) and low <= value <= high:
            return value
    raise _out_of_range(name, "a number" + (f" of {unit}" if unit else ""), low, high)


def whole_argument(handler: tornado.web.RequestHandler, name: str, default: _Whole, *,
                   low: int, high: int) -> int | _Whole:
    """The query argument ``name`` as a whole number from ``low`` to ``high`` (``default``
    when it is absent); anything else raises a 400 whose reason names the range."""
    raw = handler.get_query_argument(name, None)
    return default if raw is None else whole_number(name, raw, low=low, high=high)


def whole_number(name: str, raw: str, *, low: int, high: int) -> int:
    """``raw`` (the query argument or header ``name``) as a whole number from ``low`` to
    ``high``; anything else raises a 400 whose reason names the range."""
    if _WHOLE.fullmatch(raw):
        value = int(raw)
        if low <= value <= high:
            return value
    raise _out_of_range(name, "a whole number", low, high)


def _out_of_range(name: str, what: str, low: float, high: float) -> tornado.web.HTTPError:
    # The reason does not repeat what was sent: Tornado turns a reason with "<" into "Unknown".
    return tornado.web.HTTPError(400, reason=f"{name} must be {what} from {_show(low)} to {_show(high)}")


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
