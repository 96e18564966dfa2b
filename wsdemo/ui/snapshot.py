"""Static HTML snapshots of widgets, for readers who cannot run them.

A saved notebook read where no widget can run (GitHub, an untrusted JupyterLab, a
static HTML export) shows a widget output's ``text/html`` instead of the widget.
:func:`snapshot_html` draws a widget tree as plain HTML: tables, text, headings
instead of the interactive controls. Values from HTML widgets are kept as they are
(markup.py built them with every wire value escaped); every other value (option
labels, text fields, descriptions, titles) is escaped here.

:func:`collect` is what scripts/build_notebooks.py runs in the kernel after the
last cell: the final snapshot and the saved state of every widget a notebook shows.
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping, Protocol, runtime_checkable

import ipywidgets as W
from ipywidgets.widgets.widget_description import DescriptionWidget

from .markup import esc

log = logging.getLogger(__name__)


@runtime_checkable
class OwnSnapshot(Protocol):
    """A widget that draws its own snapshot (every wsdemo widget: ``ui.base.Live``)."""

    def snapshot_html(self) -> str: ...

    def flush(self) -> None: ...

SNAPSHOT_CLASS = "wsdemo-snapshot"
MAX_ROWS = 100  # newest rows of a frame table in a snapshot (the live table keeps up to 500)
# Every snapshot starts with this, so notebooks/sanitize.cfg can tell a snapshot from a
# teaching output (nbval compares the widget's text/plain instead).
SNAPSHOT_START = f'<div class="{SNAPSHOT_CLASS}"'
NOTE = ("<div style='font-size:85%;color:#555'><i>A saved view: run the notebook to use "
        "this widget live.</i></div>")


def snapshot_html(widget: W.Widget, parts: Mapping[int, str] | None = None) -> str:
    """The widget's view as static HTML. ``parts`` maps ``id(child)`` to the HTML to show
    for that child instead of the generic drawing (e.g. a real table for a Select)."""
    name = esc(type(widget).__name__)
    return (f'{SNAPSHOT_START} data-widget="{name}">' + _draw(widget, parts or {}) + NOTE
            + "</div>")


def snapshot_of(widget: W.Widget) -> str:
    """The widget's own snapshot (``snapshot_html()``) or the generic one; never raises.

    A drawing bug must not put a traceback into a learner's cell: the snapshot is then the
    widget's repr, so the output keeps the same kinds of data (what nbval compares)."""
    try:
        return widget.snapshot_html() if isinstance(widget, OwnSnapshot) else snapshot_html(widget)
    except Exception:
        log.exception("wsdemo: could not draw a snapshot of %s", type(widget).__name__)
        return (f'{SNAPSHOT_START} data-widget="{esc(type(widget).__name__)}">'
                f"<pre>{esc(repr(widget))}</pre>{NOTE}</div>")


def _hidden(w: W.Widget) -> bool:
    return isinstance(w, W.DOMWidget) and (w.layout.display == "none" or w.layout.visibility == "hidden")


def _labelled(w: W.Widget, value: str) -> str:
    desc = (w.description or "") if isinstance(w, DescriptionWidget) else ""
    label = f"<b>{esc(desc)}</b> " if desc else ""
    return f"<span>{label}<code>{esc(value) if value else '—'}</code></span>"


def _draw(w: W.Widget, parts: Mapping[int, str]) -> str:
    if id(w) in parts:
        return parts[id(w)]
    if _hidden(w) or isinstance(w, (W.Button, W.FileUpload, W.Output)):
        return ""  # nothing to show without a kernel behind it
    if isinstance(w, (W.HTML, W.HTMLMath)):
        value = w.value or ""
        return "" if value.lstrip().startswith("<style") else value
    if isinstance(w, W.Label):
        return f"<div>{esc(w.value)}</div>"
    if isinstance(w, W.Tab):
        out = []
        for i, child in enumerate(w.children):
            inner = _draw(child, parts)
            if not inner:
                continue
            title = w.titles[i] if i < len(w.titles) else ""
            opened = " open" if i == (w.selected_index or 0) else ""
            out.append(f"<details{opened}><summary>{esc(title or f'tab {i + 1}')}</summary>"
                       f"{inner}</details>")
        return "".join(out)
    if isinstance(w, W.HBox):
        cells = [_draw(c, parts) for c in w.children]
        cells = [c for c in cells if c]
        if not cells:
            return ""
        return ("<table style='border-collapse:collapse'><tr>"
                + "".join(f"<td style='vertical-align:top;text-align:left;padding:0 12px 0 0'>{c}</td>"
                          for c in cells)
                + "</tr></table>")
    if isinstance(w, W.Box):
        inner = "\n".join(d for d in (_draw(c, parts) for c in w.children) if d)
        return f"<div>{inner}</div>" if inner else ""
    if isinstance(w, (W.Select, W.SelectMultiple)):
        chosen = set(w.index if isinstance(w.index, tuple) else (w.index,))
        rows = "".join(f"<tr><td>{'▶' if i in chosen else ''}</td><td><code>{esc(label)}</code></td></tr>"
                       for i, label in enumerate(w._options_labels))
        return f"<table>{rows}</table>" if rows else ""
    if isinstance(w, (W.ToggleButtons, W.Dropdown, W.RadioButtons)):
        return _labelled(w, w.label or "")
    if isinstance(w, (W.Checkbox, W.ToggleButton)):
        return f"<span>{'☑' if w.value else '☐'} {esc(w.description)}</span>"
    if isinstance(w, W.ValueWidget):  # text, numbers, sliders
        return _labelled(w, str(w.value))
    return f"<div><i>{esc(type(w).__name__)}</i></div>"


# --------------------------------------------------------------------------- for the builder

def _instances() -> dict:
    from ipywidgets.widgets import widget as widget_module

    return widget_module._instances


def collect(model_ids: Iterable[str]) -> dict:
    """``{"snapshots": {model_id: html}, "state": {model_id: embed state}}`` for the widgets
    with those ids that are still alive, and every widget their state refers to.

    Called once, after a notebook's last cell: the views are final (pending renders are
    flushed first), and the state is what JupyterLab's "Save Widget State" would save.
    """
    from ipywidgets.embed import dependency_state

    alive = _instances()
    widgets = [alive[m] for m in dict.fromkeys(model_ids) if m in alive]
    for w in widgets:
        if isinstance(w, OwnSnapshot):
            w.flush()
    snapshots = {w.model_id: snapshot_of(w) for w in widgets}
    state = dependency_state(widgets, drop_defaults=True) if widgets else {}
    return {"snapshots": snapshots, "state": state}
