"""HTML for the opening handshake: request and response heads with the header
encyclopedia (each WebSocket header explained on one click), Sec-WebSocket-Accept step by
step, the problems found, extensions and the subprotocol negotiation."""

from __future__ import annotations

from typing import Iterable, Sequence

from .. import wire
from ..wire.redact import SECRET_HEADERS as _REDACTED  # the headers wire.redact masks with '*'
from .markup import WRAP, esc
from .palette import ERROR_TEXT, OK_TEXT

__all__ = [
    "HEADER_HELP", "head_line", "headers_html", "accept_html", "problems_html", "parse_extensions",
    "extensions_html", "subprotocol_lines", "subprotocols_html",
]

# --------------------------------------------------------------------------- handshake

# Lower-case header name -> (explanation, where it is specified).
HEADER_HELP: dict[str, tuple[str, str]] = {
    "host": ("The server the client wants; required in every HTTP/1.1 request and in the opening handshake.",
             "RFC 6455 §4.1 item 4; RFC 9110 §7.2"),
    "upgrade": ("Asks to switch this TCP connection from HTTP to another protocol; must contain "
                "'websocket' (case-insensitive) in both the request and the 101 response.",
                "RFC 6455 §4.1 item 5, §4.2.2; RFC 9110 §7.8"),
    "connection": ("Must include the token 'Upgrade', so proxies know the Upgrade header is hop-by-hop "
                   "and meant for this connection.", "RFC 6455 §4.1 item 6, §4.2.2"),
    "sec-websocket-key": ("16 random bytes, base64-encoded, fresh for every handshake. The server proves it "
                          "understood WebSocket by hashing it with a fixed GUID (see Sec-WebSocket-Accept). "
                          "It is not a security token.", "RFC 6455 §1.3, §4.1 item 7, §4.2.1 item 5"),
    "sec-websocket-version": ("The protocol version; must be 13. A server that speaks another version answers "
                              "426 with the versions it supports.", "RFC 6455 §4.1 item 9, §4.4"),
    "sec-websocket-accept": ("base64(SHA-1(Sec-WebSocket-Key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')). "
                             "The client checks it; a wrong value means the connection must fail.",
                             "RFC 6455 §4.2.2 item 5.4, §1.3"),
    "sec-websocket-protocol": ("Subprotocols (application protocols such as 'chat' or 'graphql-ws'): the client "
                               "lists those it speaks, the server picks at most one.",
                               "RFC 6455 §4.1 item 10, §11.3.4"),
    "sec-websocket-extensions": ("Extensions offered by the client (with parameters) and those the server "
                                 "accepted, e.g. permessage-deflate for compression.",
                                 "RFC 6455 §9.1, §11.3.2; RFC 7692"),
    "origin": ("The page's origin, sent by browsers. The server can refuse origins it does not trust: "
               "WebSockets are not covered by the same-origin policy.", "RFC 6455 §4.1 item 8, §10.2; RFC 6454"),
    "cookie": ("Cookies the browser sends with the handshake, as with any request; wsdemo replaces the value "
               "with * before showing it.", "RFC 6265; RFC 6455 §4.1"),
    "authorization": ("Credentials; wsdemo replaces the value with * before showing it.", "RFC 9110 §11.6.2"),
    "user-agent": ("The client software. Not part of the WebSocket handshake rules.", "RFC 9110 §10.1.5"),
}


def head_line(msg: wire.Request | wire.Response) -> str:
    """The start line of an HTTP head ('GET /chat HTTP/1.1', 'HTTP/1.1 101 Switching Protocols')."""
    return bytes(msg.raw).split(b"\r\n", 1)[0].decode("latin-1")


def headers_html(msg: wire.Request | wire.Response | None, side: str) -> str:
    """Start line and headers; WebSocket headers open an explanation on one click."""
    if msg is None:
        return f"<div class='wsdemo-{side}'><i>no {esc(side)} seen yet</i></div>"
    rows = []
    for name, value in msg.headers:
        help_ = HEADER_HELP.get(name.lower())
        note = ""
        if name.lower() in _REDACTED and value and set(value) == {"*"}:
            note = f" <i style='font-size:85%'>(redacted by wsdemo: {len(value)} characters)</i>"
            # The stars keep byte counts true on the wire; on screen a few say it (a login
            # cookie would otherwise fill the column with rows of stars).
            value = value if len(value) <= 16 else "*" * 12 + "…"
        # Long values (User-Agent, a redacted cookie) wrap inside their column.
        line = (f"<code style='white-space:normal'><b>{esc(name)}</b>: "
                f"<span class='wsdemo-hval' style='{WRAP}'>{esc(value)}</span></code>{note}")
        if help_:
            rows.append(
                f"<details class='wsdemo-header'><summary>{line} <span style='font-size:80%;opacity:.75'>(explain)</span>"
                f"</summary><div style='margin:0 0 4px 1.5em;font-size:90%'>{esc(help_[0])} "
                f"<i>({esc(help_[1])})</i></div></details>")
        else:
            rows.append(f"<div style='margin-left:1.1em'>{line}</div>")
    title = "Request (client → server)" if side == "request" else "Response (server → client)"
    return (f"<div class='wsdemo-{side}' style='overflow-wrap:anywhere;min-width:0'><b>{esc(title)}</b>, "
            f"{len(msg.raw)} bytes of head"
            f"<div><code style='white-space:normal;{WRAP}'>{esc(head_line(msg))}</code></div>"
            + "".join(rows) + "</div>")


def accept_html(request: wire.Request | None, response: wire.Response | None) -> str:
    """Sec-WebSocket-Accept computed step by step from the real key, ✓/✗ against the server's."""
    if request is None:
        return "<div class='wsdemo-accept'><i>no request seen yet</i></div>"
    key = request.headers.get("Sec-WebSocket-Key")
    if key is None:
        return (f"<div class='wsdemo-accept' style='color:{ERROR_TEXT}'>✗ The request has no "
                "Sec-WebSocket-Key header (RFC 6455 §4.1 item 7).</div>")
    try:
        steps = wire.explain_accept(key)
        expected = wire.compute_accept(key)
    except wire.ProtocolError as e:
        return f"<div class='wsdemo-accept' style='color:{ERROR_TEXT}'>✗ {esc(e)}</div>"
    items = "".join(
        f"<li>{esc(n)}{': ' if n else ''}<code style='word-break:break-all'>{esc(v)}</code></li>"
        for n, v in steps)
    sent = response.headers.get("Sec-WebSocket-Accept") if response is not None else None
    if response is None:
        verdict = "<div><i>no response yet to compare with</i></div>"
    elif sent is None:
        verdict = (f"<div style='color:{ERROR_TEXT}'><b>✗ missing</b>: the response has no "
                   "Sec-WebSocket-Accept header</div>")
    elif sent.strip() == expected:
        verdict = (f"<div style='color:{OK_TEXT}'><b>✓ matches</b> what the server sent: "
                   f"<code>{esc(sent)}</code></div>")
    else:
        verdict = (f"<div style='color:{ERROR_TEXT}'><b>✗ does not match</b>: the server sent "
                   f"<code>{esc(sent)}</code>, expected <code>{esc(expected)}</code></div>")
    return ("<div class='wsdemo-accept'><b>Sec-WebSocket-Accept, step by step</b> (RFC 6455 §4.2.2)"
            f"<ol>{items}</ol>{verdict}</div>")


def problems_html(problems: Sequence) -> str:
    if not problems:
        return (f"<div class='wsdemo-problems' style='color:{OK_TEXT}'>✓ No handshake problems found "
                "(checked against RFC 6455 §4.1–4.2).</div>")
    items = "".join(f"<li>✗ Problem: {esc(p)}</li>" for p in problems)
    return (f"<div class='wsdemo-problems' style='color:{ERROR_TEXT}'><b>✗ {len(problems)} handshake "
            f"problem{'s' if len(problems) != 1 else ''}</b><ul>{items}</ul></div>")


def parse_extensions(values: Iterable[str]) -> list[tuple[str, list[str]]]:
    """[(name, ['param=value', ...]), ...] using the wire layer's RFC 6455 §9.1 parser."""
    return [(name, [p if v is None else f"{p}={v}" for p, v in params])
            for name, params in wire.parse_extensions(list(values))]


def extensions_html(request: wire.Request | None, response: wire.Response | None) -> str:
    try:
        offered = parse_extensions(request.headers.get_all("Sec-WebSocket-Extensions")) if request else []
        accepted = parse_extensions(response.headers.get_all("Sec-WebSocket-Extensions")) if response else []
    except wire.ProtocolError as e:
        return f"<div class='wsdemo-extensions' style='color:{ERROR_TEXT}'>✗ {esc(e)}</div>"

    def fmt(exts):
        if not exts:
            return "<div>none</div>"
        return "<ul>" + "".join(
            f"<li><code>{esc(n)}</code>" + (f" <code>{esc('; '.join(p))}</code>" if p else "") + "</li>"
            for n, p in exts) + "</ul>"

    names_acc = {n for n, _ in accepted}
    declined = [n for n, _ in offered if n not in names_acc]
    note = (f"<div>Offered but not accepted: {esc(', '.join(dict.fromkeys(declined)))}</div>"
            if declined and response is not None else "")
    return ("<div class='wsdemo-extensions'><b>Extensions</b> (RFC 6455 §9)"
            "<div style='display:flex;gap:2em'>"
            f"<div><div><i>offered by the client</i></div>{fmt(offered)}</div>"
            f"<div><div><i>accepted by the server</i></div>{fmt(accepted)}</div></div>{note}</div>")


def subprotocol_lines(request: wire.Request | None, response: wire.Response | None) -> list[str]:
    """The subprotocol negotiation in plain words: what was offered, what was selected,
    and what each kind of client does next (RFC 6455 sections 1.9, 4.1, 4.2.2)."""
    if request is None:
        return []
    offered = wire.offered_subprotocols(request.headers)
    lines = [f"Subprotocols offered (client's order of preference): {', '.join(offered) if offered else 'none'}"]
    if response is None:
        return lines + ["Subprotocol selected: not known yet"]
    if response.status != 101:
        return lines + [f"Subprotocol selected: none (the server answered {response.status}, not 101)"]
    selected = [t.strip() for v in response.headers.get_all("Sec-WebSocket-Protocol") for t in v.split(",")]
    if not selected:
        lines.append("Subprotocol selected: none selected")
        if offered:
            lines.append("The server spoke none of the offers; RFC 6455 lets it select none (section 4.2.2). "
                         "What happens next is the client's choice: a browser that offered subprotocols fails "
                         "the connection (the Fetch standard: error, then close with code 1006, protocol \"\"); "
                         "the websockets library and wsdemo's client go on without one.")
        return lines
    if len(selected) > 1 or selected[0] not in offered:
        return lines + [f"Subprotocol selected: {', '.join(selected)} ✗ not one of the offers: the client MUST "
                        "fail the connection (RFC 6455 section 4.1)"]
    return lines + [f"Subprotocol selected: {selected[0]} ✓ (the first offer this server speaks)"]


def subprotocols_html(request: wire.Request | None, response: wire.Response | None) -> str:
    lines = subprotocol_lines(request, response)
    if not lines:
        return ""
    return ("<div class='wsdemo-subprotocols'><b>Subprotocol</b> (RFC 6455 §1.9)"
            + "".join(f"<div>{esc(line)}</div>" for line in lines) + "</div>")

