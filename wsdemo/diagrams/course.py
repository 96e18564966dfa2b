"""The course map: the notebooks in order, each with the essay's claim it measures."""

from __future__ import annotations

from dataclasses import dataclass

from ..ui.palette import CLIENT_COLOR
from .base import Diagram, SMALL_SIZE, TITLE_SIZE, _h, _new


@dataclass(frozen=True)
class CourseStep:
    """One notebook of the course: its file, its one idea, and the essay's claim it checks."""

    number: str  #: "00" .. "08"
    title: str  #: as in the notebook's first heading
    stem: str  #: notebooks/<stem>.ipynb
    idea: str
    claim: str


#: The course, in order. tests/test_diagrams.py checks each stem and title against notebooks/src.
COURSE = (
    CourseStep("00", "Start here", "00-start-here",
               "a real server in your notebook; a tap decodes every byte",
               "WebSockets changed how the web talks"),
    CourseStep("01", "Compare letters and phone calls", "01-compare-letters-and-phone-calls",
               "every question pays its headers again; polling fakes a live line",
               "HTTP works like letters; polling asks \"anything new?\""),
    CourseStep("02", "Open the handshake", "02-open-the-handshake",
               "one HTTP request, one 101 answer, and the line stays open",
               "a handshake upgrades the connection"),
    CourseStep("03", "Decode frames", "03-decode-frames",
               "a frame's header, bit by bit: 2 to 14 bytes",
               "just a few bytes of overhead, not bulky headers"),
    CourseStep("04", "Talk both ways", "04-talk-both-ways",
               "the server pushes unasked; both sides send at once",
               "the server speaks first; full duplex"),
    CourseStep("05", "Build real-time apps", "05-build-realtime-apps",
               "one change, pushed to everyone at once",
               "chat, games, dashboards and collaboration"),
    CourseStep("06", "Measure polling vs WebSockets", "06-measure-polling-vs-websockets",
               "bytes and latency per update, projected to 100,000 clients",
               "polling's cost, multiplied by many users"),
    CourseStep("07", "Build your own server", "07-build-your-own-server",
               "a WebSocket server in 40 lines on the wire layer",
               "the web learned to talk and listen at once"),
    CourseStep("08", "Leave localhost", "08-leave-localhost",
               "TLS, subprotocols, idle proxies, reconnects, slow readers, the Origin check",
               "millions of users: the live line must survive the real internet"),
    CourseStep("09", "Serve millions", "09-serve-millions",
               "what a connection and a frame cost; machines for a million users",
               "polling's cost, multiplied across millions of users"),
)

_CLAIM_COLOR = "#6A3D9A"  # dark purple: the essay's words, apart from the two direction colours
_MAP_TEXT_WIDTH = 560  # points: wider than every line, so every box has the same width and the text aligns


def course_map() -> Diagram:
    """The notebooks as a path: each with its one idea and the essay claim it checks."""
    d = _new("course_map", "The course: each notebook checks one claim on your own bytes",
             rankdir="TB", nodesep="0.3", ranksep="0.25")
    d.attr("edge", color="#333333", penwidth="2.5", arrowsize="1.1")
    previous = None
    for step in COURSE:
        label = (
            '<<table border="0" cellborder="0" cellspacing="0" cellpadding="3">'
            f'<tr><td rowspan="3" valign="middle" width="70"><font point-size="{TITLE_SIZE}" color="{CLIENT_COLOR}">'
            f"<b>{_h(step.number)}</b></font></td>"
            f'<td align="left" width="{_MAP_TEXT_WIDTH}"><b>{_h(step.title)}</b></td></tr>'
            f'<tr><td align="left"><font point-size="{SMALL_SIZE}">{_h(step.idea)}</font></td></tr>'
            f'<tr><td align="left"><font point-size="{SMALL_SIZE}" color="{_CLAIM_COLOR}">'
            f"<i>the essay: {_h(step.claim)}</i></font></td></tr></table>>"
        )
        name = f"nb{step.number}"
        d.node(name, label, shape="box", style="rounded,filled", fillcolor="#F7F7F7", color="#333333",
               penwidth="2", margin="0.2,0.08", group="course")
        if previous is not None:
            d.edge(previous, name, weight="10")
        previous = name
    d.summary = f"{len(COURSE)} notebooks"
    return d
