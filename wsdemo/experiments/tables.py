"""How the experiments show their numbers: a table that reads as text and as HTML, the
rounded bands a comparison is told in, and a network's name."""

from __future__ import annotations

import html
import math
from abc import ABC, abstractmethod
from typing import Sequence

from ..live.network import NETWORKS, Network


class Table:
    """Rows of text shown as a fixed-width table (repr) or an HTML table (in a notebook)."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str]], title: str = ""):
        self.header = [str(h) for h in header]
        self.rows = [[str(c) for c in r] for r in rows]
        self.title = title

    def __repr__(self) -> str:
        widths = [max(len(r[i]) for r in [self.header] + self.rows) for i in range(len(self.header))]

        def line(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        lines = ([self.title] if self.title else []) + [line(self.header), "  ".join("-" * w for w in widths)]
        return "\n".join(lines + [line(r) for r in self.rows])

    __str__ = __repr__

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{esc(self.title)}</caption>" if self.title else ""
        return f"<table class='wsdemo-table'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class ShownAsTable(ABC):
    """A result that shows itself as its ``table()``, as text and in a notebook."""

    @abstractmethod
    def table(self) -> Table: ...

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def ratio_band(ratio: float) -> str:
    """A rounded label for ``ratio`` (a measured figure divided by another), so that
    a comparison reads the same on any machine: 'under 1/100', 'under 1/10', ..."""
    if not math.isfinite(ratio) or ratio < 0:
        raise ValueError(f"a ratio must be a finite number >= 0, got {ratio!r}")
    for limit, label in ((1 / 1000, "under 1/1000"), (1 / 100, "under 1/100"), (1 / 10, "under 1/10"),
                         (1 / 2, "under 1/2"), (1, "under 1")):
        if ratio < limit:
            return label
    lower = 1
    for limit in (2, 10, 100, 1000):
        if ratio < limit:
            return f"{lower} to {limit} times"
        lower = limit
    return "1000 times or more"


def network_label(network: "Network | str | None") -> str:
    """A preset's name for ``network`` when it is one (``NETWORKS``), else the Network's str."""
    net = Network.of(network)
    for name, preset in NETWORKS.items():
        if preset == net:
            return name
    return str(net)


def mbps_text(x: float) -> str:
    """Megabits a second with as many digits as the size calls for."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"
