"""The drawing shared by every diagram: fonts, the Diagram class, escaping."""

from __future__ import annotations

import html

import graphviz

FONT = "Helvetica"
TITLE_SIZE = "28"
LABEL_SIZE = "20"
SMALL_SIZE = "16"

INSTALL_HELP = (
    "Graphviz's `dot` program is not installed, so this diagram cannot be drawn.\n"
    "Install it with one of:\n"
    "  conda install -c conda-forge graphviz\n"
    "  sudo apt-get install graphviz\n"
    "  brew install graphviz\n"
    "then run this cell again. The diagram's DOT source follows."
)


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` that explains itself when ``dot`` is missing.

    ``.source``, ``.pipe()`` and ``.render()`` work as usual (``pipe`` still
    raises ``graphviz.ExecutableNotFound`` without ``dot``); only the notebook
    display falls back to a message with the install commands and the source.
    """

    kind: str = "diagram"
    summary: str = ""

    def __repr__(self) -> str:
        # Stable across runs and graphviz versions: notebooks compare it (nbval).
        return f"<diagram {self.kind}: {self.summary}>" if self.summary else f"<diagram {self.kind}>"

    def copy(self):
        new = super().copy()
        new.kind, new.summary = self.kind, self.summary
        return new

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        try:
            bundle = super()._repr_mimebundle_(include, exclude, **kwargs)
        except graphviz.ExecutableNotFound:
            return self._fallback_bundle(INSTALL_HELP)
        except graphviz.CalledProcessError as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
            return self._fallback_bundle(f"Graphviz's `dot` failed on this diagram:\n{stderr.strip()}\n"
                                         "The diagram's DOT source follows.")
        bundle.setdefault("text/plain", repr(self))
        return bundle

    def _fallback_bundle(self, message: str) -> dict:
        plain = f"{self!r}\n{message}\n\n{self.source}"
        page = (
            '<div class="wsdemo-diagram-fallback" style="border:2px solid #D55E00;padding:8px">'
            f"<p><b>{html.escape(repr(self))}</b></p>"
            f"<pre style=\"white-space:pre-wrap\">{html.escape(message)}</pre>"
            "<details open><summary>DOT source</summary>"
            f"<pre>{html.escape(self.source)}</pre></details></div>"
        )
        return {"text/html": page, "text/plain": plain}


def _new(kind: str, title: str | None = None, **graph_attr) -> Diagram:
    d = Diagram(name=kind)
    d.kind = kind
    d.attr("graph", fontname=FONT, fontsize=TITLE_SIZE, bgcolor="white", pad="0.3", **graph_attr)
    if title:
        d.attr("graph", label=title, labelloc="t", labeljust="c")
    d.attr("node", fontname=FONT, fontsize=LABEL_SIZE)
    d.attr("edge", fontname=FONT, fontsize=LABEL_SIZE)
    return d


def _esc(text: str) -> str:
    """Text for an ordinary DOT label: backslashes and <> taken literally."""
    return graphviz.escape(text)


def _h(text: str) -> str:
    """Text for an HTML-like label."""
    return html.escape(text, quote=True)


