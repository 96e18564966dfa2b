"""Notebook 08, leaving localhost: an Origin check, a ping interval for an idle proxy."""

from __future__ import annotations

import asyncio
from typing import Any

from ._hints import NotANumber, as_number, call_learner, function_problem, say


#: (Origin header, Host header, whether a WebSocket server should let that page in, what it is).
ORIGIN_CASES = (
    ("http://127.0.0.1:8888", "127.0.0.1:8888", True, "the lab's own page"),
    ("https://chat.example.org", "chat.example.org", True, "a page of the site itself (Host leaves out :443)"),
    ("null", "127.0.0.1:8888", False, "a sandboxed frame or a file:// page"),
    ("http://127.0.0.1:8001", "127.0.0.1:8888", False, "another port of the same host"),
    ("http://localhost:8888", "127.0.0.1:8888", False, "another name for the same machine"),
    ("https://chat.example.org.evil.example", "chat.example.org", False, "a lookalike that starts with the name"),
    ("https://evilchat.example.org", "chat.example.org", False, "a lookalike that ends with the name"),
)


def check_origin_rule(allowed: Any) -> bool:
    """Check ``allowed(origin, host) -> bool``: True only when the page's origin names the very
    host and port the handshake's ``Host`` header does (ORIGIN_CASES)."""
    problem = function_problem(allowed, "allowed", "Define allowed(origin, host) returning True when a page "
                                                   "whose Origin header is origin may open a WebSocket to the "
                                                   "server at host (the Host header).")
    if problem:
        return say(False, problem)
    answers = []
    for origin, host, _right, _what in ORIGIN_CASES:
        call = f"allowed({origin!r}, {host!r})"
        out, problem = call_learner(allowed, (origin, host), call)
        if problem:
            return say(False, problem)
        if asyncio.iscoroutine(out):
            out.close()  # never awaited: closed here so Python does not warn about it
            return say(False, f"{call} returned a coroutine: allowed is an async function. The check is a "
                              "plain decision on two strings: define it with def, not async def.")
        if out is None:
            return say(False, f"{call} returned None: did the function forget to return True or False?")
        if not isinstance(out, bool):
            return say(False, f"{call} returned {type(out).__name__} ({out!r}); return True or False.")
        answers.append(out)
    if all(answers):
        return say(False, "Your function lets every page in: that is no check. Any site the visitor opens "
                          "could then talk to the server with the visitor's cookies.")
    if not any(answers):
        return say(False, "Your function refuses every page, the server's own pages too: compare the origin's "
                          "host and port with the Host header (urllib.parse.urlsplit(origin).netloc).")
    for (origin, host, right, what), out in zip(ORIGIN_CASES, answers):
        if out == right:
            continue
        call = f"allowed({origin!r}, {host!r})"
        if right:
            return say(False, f"{call} is False, but that is {what}: its origin names exactly the host and "
                              "port in Host. Compare urllib.parse.urlsplit(origin).netloc with host.")
        if origin == "null":
            return say(False, f"{call} is True: 'null' is what {what} sends, and any site can make one (an "
                              "iframe with the sandbox attribute). Refuse it.")
        if "8001" in origin:
            return say(False, f"{call} is True: the port is part of the origin, and another app on this machine "
                              "(the attacker page of this notebook, on its own port) would get in.")
        if "localhost" in origin:
            return say(False, f"{call} is True: localhost and 127.0.0.1 reach the same machine, but they are "
                              "different origins and the browser sends the one in the page's address. Compare "
                              "the names exactly (a server that serves both lists one in allowed_origins).")
        return say(False, f"{call} is True: that is {what}. A test on part of the name (startswith, endswith, "
                          "in) lets it through; compare the whole host:port with Host.")
    return say(True, "Your check lets in the page of the server's own origin and refuses null, other ports, "
                     "other names for the machine and lookalike domains.")


def check_ping_interval(interval: Any, proxy_timeout: float = 60, late: float = 5) -> bool:
    """Check a ping interval (seconds) for a proxy that cuts a line silent for ``proxy_timeout``
    seconds, when a ping may leave and travel up to ``late`` seconds after it is due."""
    value = as_number(interval, "ping_interval")
    if isinstance(value, NotANumber):
        return say(False, value + " How many seconds between two pings?")
    if value <= 0:
        return say(False, f"ping_interval = {value:g}: the time between two pings is more than 0 seconds.")
    if value >= proxy_timeout:
        return say(False, f"With a ping every {value:g} s the line is silent for {value:g} s between pings, and "
                          f"the proxy cuts it after {proxy_timeout:g} s: it never sees the next ping. Stay "
                          "well below the timeout.")
    if value + late >= proxy_timeout:
        return say(False, f"{value:g} s is below {proxy_timeout:g} s, but a ping due at {value:g} s may reach the "
                          f"proxy up to {late:g} s late (a busy server, a slow link), at {value + late:g} s: the "
                          f"proxy has already cut the line. The interval plus the lateness must stay below "
                          f"{proxy_timeout:g} s.")
    floor = proxy_timeout / 12
    if value < floor:
        return say(False, f"A ping every {value:g} s keeps the line open, but every ping is a frame each way for "
                          f"every client: 100,000 clients at that rate send {100_000 / value:,.0f} pings (and as "
                          f"many pongs) a second. A {proxy_timeout:g} s timeout needs far fewer: "
                          f"at least {floor:g} s apart is plenty.")
    return say(True, f"A ping every {value:g} s: even {late:g} s late it comes {proxy_timeout - value - late:g} s "
                     f"before the proxy's {proxy_timeout:g} s run out, and it costs one small frame each way.")

