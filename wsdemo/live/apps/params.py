"""Numbers in query strings, checked at the edge: finite and in range, or a 400 naming the range.

A clamp such as ``min(max(x, 0), 60)`` lets NaN through (every comparison with it is false),
and a NaN or infinite timeout handed to asyncio lands in the event loop's timer heap, where
it breaks the order of every timer of every connection. So no route clamps a client's
number: it takes a plain decimal within the documented range, or answers 400.
"""

from __future__ import annotations

import math
import re

import tornado.web

# ASCII only: float() and int() also take "nan", "inf", "1_000" and non-ASCII digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHOLE = re.compile(r"[0-9]{1,20}")


def number_argument(handler: tornado.web.RequestHandler, name: str, default: float | None, *,
                    low: float, high: float, unit: str = "", whole: bool = False) -> float | int | None:
    """The query argument ``name`` as a number from ``low`` to ``high`` (``default`` when it is
    absent); anything else raises a 400 whose reason names the range."""
    raw = handler.get_query_argument(name, None)
    if raw is None:
        return default
    what = "a whole number" if whole else "a number" + (f" of {unit}" if unit else "")
    if (_WHOLE if whole else _DECIMAL).fullmatch(raw):
        value: float | int = int(raw) if whole else float(raw)
        if math.isfinite(value) and low <= value <= high:
            return value
    # The reason does not repeat what was sent: Tornado turns a reason with "<" into "Unknown".
    raise tornado.web.HTTPError(400, reason=f"{name} must be {what} from {_show(low)} to {_show(high)}")


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
