"""One frame's real bits, and the lifecycle's state table."""

from __future__ import annotations

import math

from ..ui.palette import FIELD_COLOURS
from ..wire import lifecycle as _lifecycle
from .base import Diagram, LABEL_SIZE, SMALL_SIZE, TITLE_SIZE, _esc, _h, _new

_PAYLOAD_BYTES_SHOWN = 8


def _bit(raw: bytes, i: int) -> str:
    return str((raw[i // 8] >> (7 - i % 8)) & 1)


def frame_layout(frame) -> Diagram:
    """RFC 6455 section 5.2's figure, 32 bits a row, filled with this frame's real bits.

    Each field is labelled with its name and value (``Frame.fields``); payload bytes are
    shown one by one (the first 8, as sent on the wire and, when masked, unmasked).
    """
    raw = bytes(frame.raw)
    fields = list(frame.fields)
    header_bits = len(frame.header) * 8
    # Split each field into pieces that fit in 32-bit rows; the payload gets a piece per byte.
    pieces: list[tuple[int, int, str, str, str]] = []  # (start, length, colour, label, field name)
    for f in fields:
        color = FIELD_COLOURS.get(f.name, "#FFFFFF")  # as the FrameInspector colours it
        if f.name == "payload":
            n = min(len(frame.payload), _PAYLOAD_BYTES_SHOWN)
            for i in range(n):
                wire_byte = raw[len(frame.header) + i]
                plain = frame.payload[i]
                ch = f" {chr(plain)!r}" if 32 <= plain < 127 else ""
                label = (f"byte {i}: {wire_byte:02x} → {plain:02x}{ch}" if frame.masked
                         else f"byte {i}: {plain:02x}{ch}")
                pieces.append((f.start_bit + 8 * i, 8, color, _h(label), f.name))
            continue
        start, left = f.start_bit, f.bit_len
        first = True
        while left > 0:
            room = 32 - start % 32
            n = min(room, left)
            if f.bit_len == 1:
                label = "<br/>".join(_h(c) for c in f.name)  # stacked letters, as in the RFC
                pieces.append((start, n, color, label, f.name))
            else:
                # name and value on two lines keep the bit columns about equally wide
                label = f"{_h(f.name)}<br/>{_h(f.text)}" if first else f"{_h(f.name)}<br/>(continued)"
                pieces.append((start, n, color, label, f.name))
            first = False
            start += n
            left -= n
    end_bit = header_bits + 8 * min(len(frame.payload), _PAYLOAD_BYTES_SHOWN)
    n_rows = math.ceil(end_bit / 32) if end_bit else 1
    cell_w = 30
    out = ['<<table border="0" cellborder="1" cellspacing="0" cellpadding="4" color="#333333">']
    out.append(f'<tr><td colspan="33" border="0"><font point-size="{TITLE_SIZE}">{_h(str(frame))}</font></td></tr>')
    out.append('<tr><td border="0"></td>' + "".join(
        f'<td border="0" width="{cell_w}"><font point-size="{SMALL_SIZE}" color="#555555">{i}</font></td>'
        for i in range(32)) + "</tr>")
    for r in range(n_rows):
        lo, hi = 32 * r, min(32 * r + 32, end_bit)
        row_pieces = [p for p in pieces if lo <= p[0] < hi]
        labels = [f'<td rowspan="2" border="0" align="right"><font point-size="{SMALL_SIZE}" color="#555555">'
                  f"byte {4 * r}</font></td>"]
        bits: list[str] = []
        for start, n, color, label, name in row_pieces:
            size = SMALL_SIZE if n < 8 or name == "payload" else LABEL_SIZE
            labels.append(f'<td colspan="{n}" bgcolor="{color}"><font point-size="{size}">{label}</font></td>')
            bits.extend(f'<td bgcolor="{color}" width="{cell_w}"><b>{_bit(raw, i)}</b></td>'
                        for i in range(start, start + n))
        if hi - lo < 32:
            labels.append(f'<td colspan="{32 - (hi - lo)}" rowspan="2" border="0"></td>')
        out.append("<tr>" + "".join(labels) + "</tr>")
        out.append("<tr>" + "".join(bits) + "</tr>")
    hidden = len(frame.payload) - _PAYLOAD_BYTES_SHOWN
    if hidden > 0:
        out.append(f'<tr><td border="0"></td><td colspan="32" bgcolor="{FIELD_COLOURS["payload"]}">'
                   f"… {hidden:,} more payload bytes …</td></tr>")
    payload_field = next((f for f in fields if f.name == "payload"), None)
    if payload_field is not None:
        out.append(f'<tr><td border="0"></td><td colspan="32" border="0" align="left">'
                   f"payload: {_h(payload_field.text)}</td></tr>")
    out.append("</table>>")
    d = _new("frame_layout")
    d.node("frame", "".join(out), shape="plaintext", margin="0")
    d.summary = f"{frame}, {len(fields)} fields, {len(raw)} bytes"
    return d


# ---------------------------------------------------------------- lifecycle

_STATE_COLORS = {"CONNECTING": "#FFF3B8", "OPEN": "#CCEBE0", "CLOSING": "#F9DCC8", "CLOSED": "#E8E8E8"}


def lifecycle() -> Diagram:
    """CONNECTING → OPEN → CLOSING → CLOSED, drawn from ``wsdemo.wire.lifecycle.TRANSITIONS``:
    the same table ``ConnectionDecoder`` steps through, so the figure follows the code."""
    table = _lifecycle.TRANSITIONS
    d = _new("lifecycle", "WebSocket connection states", rankdir="LR", nodesep="0.8", ranksep="1.2")
    states = list(_lifecycle.State)
    for st in states:
        final = st.name == "CLOSED"
        # group= keeps the states on one straight line; the final state gets a double border.
        d.node(st.name, st.name, shape="box", peripheries="2" if final else "1", group="states",
               style="filled,rounded,bold",
               fillcolor=_STATE_COLORS.get(st.name, "#FFFFFF"), color="#333333", penwidth="2",
               fontsize="22", margin="0.25,0.15")
    d.node("start", "", shape="circle", style="filled", fillcolor="black", width="0.25", group="states")
    d.edge("start", states[0].name, penwidth="2")
    # One edge per (source, target); its label lists every trigger in table order.
    grouped: dict[tuple, list[str]] = {}
    for t in table:
        grouped.setdefault((t.source.name, t.target.name), []).append(t.trigger.value)
    order = [st.name for st in states]
    for (src, dst), triggers in grouped.items():
        # Steps to the next state in State's order form the straight main line.
        main = order.index(dst) == order.index(src) + 1
        d.edge(src, dst, label=_esc("\n".join(triggers)), penwidth="2.5", color="#333333", fontsize=LABEL_SIZE,
               weight="10" if main else "1")
    d.summary = f"{len(states)} states, {len(table)} transitions"
    return d


