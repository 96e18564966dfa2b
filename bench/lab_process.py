"""``python -m wsdemo serve ARGS`` with a stdin command line, for bench/connections.py.

The product's serve command runs as it is (same options, same code path); this wrapper only
adds commands read from stdin, one per line, each answered with one ``REPORT {json}`` line:

    report            the tap's byte budget and what its rings keep, open links and WebSockets
    snapshot          (with WSDEMO_TRACEMALLOC=N set) take a tracemalloc snapshot
    top [K]           the K biggest allocations since the snapshot, grouped by traceback
    cprofile-on       start cProfile on the server's loop
    cprofile-off K    stop it: the K functions that took the most time themselves

The per-connection log lines (wsdemo.connections, one per open and close) are turned off:
thousands of them would charge terminal output to the tap's CPU time.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading

if os.environ.get("WSDEMO_TRACEMALLOC"):
    import tracemalloc

    tracemalloc.start(int(os.environ["WSDEMO_TRACEMALLOC"]))

import wsdemo.live.server
from wsdemo.__main__ import main

_snapshot = None
_profile = None


def _answer(command: str) -> dict:
    global _snapshot
    server = wsdemo.live.server.running()[0]
    tap = server.tap
    words = command.split()
    if words[0] == "report":
        return {"retained_bytes": tap.retained_bytes, "budget_bytes": tap.budget_bytes,
                "links": tap.open_links, "recorded": len(tap.connections),
                "app_open": server.app_state.open_connections,
                "max_links": tap.max_links, "max_links_per_address": tap.max_links_per_address,
                "max_connections": server.app_state.max_connections}
    global _profile
    if words[0] == "cprofile-on":  # on the loop's thread, where the tap and Tornado run
        import cProfile

        _profile = cProfile.Profile()
        _profile.enable()
        return {"ok": True}
    if words[0] == "cprofile-off":
        import io
        import pstats

        _profile.disable()
        out = io.StringIO()
        pstats.Stats(_profile, stream=out).sort_stats("tottime").print_stats(int(words[1]))
        return {"text": out.getvalue()}
    import tracemalloc

    if words[0] == "snapshot":
        _snapshot = tracemalloc.take_snapshot()
        return {"ok": True}
    if words[0] == "top":
        k = int(words[1]) if len(words) > 1 else 15
        stats = tracemalloc.take_snapshot().compare_to(_snapshot, "traceback")
        rows = []
        for stat in stats[:k]:
            frames = [f"{f.filename.split('site-packages/')[-1].split('wsdemo/')[-1]}:{f.lineno}"
                      for f in reversed(stat.traceback) if "asyncio/" not in f.filename][:6]
            rows.append({"kib": round(stat.size_diff / 1024, 1), "count": stat.count_diff,
                         "where": frames})
        return {"top": rows}
    return {"error": f"unknown command {command!r}"}


def _stdin_commands() -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        server = wsdemo.live.server.running()[0]
        done = threading.Event()
        result: dict = {}

        def run(line=line) -> None:  # on the server's loop: no race with the relay
            try:
                result.update(_answer(line))
            except Exception as exc:
                result["error"] = repr(exc)
            done.set()

        server.tap._loop.call_soon_threadsafe(run)
        done.wait(300)
        print("REPORT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    logging.getLogger("wsdemo.connections").setLevel(logging.WARNING)
    threading.Thread(target=_stdin_commands, daemon=True).start()
    sys.exit(main(["serve", *sys.argv[1:]]))
