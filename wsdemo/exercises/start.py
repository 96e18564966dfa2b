"""Notebook 00: is this kernel ready, and a first prediction of framing bytes."""

from __future__ import annotations

from typing import Any

from ._hints import NotANumber, as_number, header_size, say


INSTALL = {
    "dot": "install graphviz: 'sudo apt-get install graphviz', 'brew install graphviz' or "
           "'conda install -c conda-forge graphviz', then restart the kernel",
    "python": "wsdemo needs Python 3.10 or newer",
    "package": "run 'make lab' (or scripts/dev.sh lab) from the wsdemo folder, or "
               "'pip install -e .[lab]', then restart the kernel",
}


def _version_of(module: str) -> str | None:
    from importlib import import_module, metadata

    try:
        import_module(module)
    except ImportError:
        return None
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "?"


def check_environment() -> bool:
    """Print what the course needs and whether this kernel has it: ✓ version, or ✗ and how to fix it."""
    import asyncio
    import platform
    import shutil
    import subprocess
    import sys

    ok = sys.version_info >= (3, 10)
    all_ok = say(ok, f"Python version {platform.python_version()}" + ("" if ok else f": {INSTALL['python']}"))
    for module, what in (("wsdemo", "the course package"), ("tornado", "the server"),
                         ("ipywidgets", "the live views"), ("graphviz", "diagrams, Python side")):
        version = _version_of(module)
        ok = version is not None
        all_ok &= say(ok, f"{module} ({what}) " + (f"version {version}" if ok else f"missing: {INSTALL['package']}"))
    dot = shutil.which("dot")
    version = None
    if dot:
        try:
            # dot prints "dot - graphviz version 2.43.0 (0)" on stderr; a short, local call.
            done = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10)
            version = (done.stderr or done.stdout).strip().split("version", 1)[-1].strip() or "?"
        except (OSError, subprocess.SubprocessError):
            version = None
    ok = version is not None
    all_ok &= say(ok, "dot (graphviz's drawing program) " + (f"version {version}" if ok else f"missing: {INSTALL['dot']}"))
    try:
        asyncio.get_running_loop()
        ok = True
    except RuntimeError:
        ok = False
    all_ok &= say(ok, "an event loop runs in this kernel, so cells can 'await' a live server" if ok else
                  "no running event loop: open the course in JupyterLab (ipykernel 6 or newer) to 'await' in cells")
    print("Ready: every notebook of the course can run here." if all_ok else
          "Fix the ✗ lines above, restart the kernel and run this cell again.")
    return all_ok


# ---------------------------------------------------------------- 00: predict the framing

FIRST_MESSAGE = "Hello, wire!"  # what notebook 00 sends first: 12 bytes, a one-byte length


def check_framing(prediction: Any, length: int = 200, count: int = 10) -> bool:
    """Predict the framing bytes of ``count`` text messages of ``length`` bytes, each echoed:
    ``prediction`` is {"client": bytes, "server": bytes}, header bytes only, all messages together."""
    right = {"client": count * header_size(length, True), "server": count * header_size(length, False)}
    if not isinstance(prediction, dict) or not {"client", "server"} <= set(prediction):
        return say(False, 'Fill in a dict {"client": bytes, "server": bytes}: the bytes of frame headers '
                          f"each side will send for {count} messages of {length} characters.")
    if prediction["client"] is None and prediction["server"] is None:
        return say(False, f"No prediction yet. The first message ({len(FIRST_MESSAGE)} characters) cost the client "
                          f"{header_size(len(FIRST_MESSAGE), True)} bytes of framing and the server "
                          f"{header_size(len(FIRST_MESSAGE), False)}. What will {count} messages of {length} "
                          "characters cost? Notebook 03 explains the fields; the count above is a start.")
    given = {}
    for side in ("client", "server"):
        value = as_number(prediction[side], side)
        if isinstance(value, NotANumber):
            return say(False, value)
        given[side] = value
    if given == {"client": right["server"], "server": right["client"]} and right["client"] != right["server"]:
        return say(False, f"Swapped: the client's frames are the larger ones ({right['client']} against "
                          f"{right['server']}), because a client masks and sends a 4-byte key in every header.")
    short = {"client": header_size(len(FIRST_MESSAGE), True), "server": header_size(len(FIRST_MESSAGE), False)}
    all_ok = True
    for side in ("client", "server"):
        n, ok_n, masked = given[side], right[side], side == "client"
        one, one_short = ok_n // count, short[side]
        if n == ok_n:
            extended = one - 2 - (4 if masked else 0)
            parts = ["2"] + ([f"{extended} of extended length"] if extended else []) + (["4 of key"] if masked else [])
            say(True, f"{side}: {ok_n} bytes, {count} headers of {one} bytes ({' + '.join(parts)}).")
            continue
        all_ok = False
        if n == one_short:
            hint = (f"{n:g} is what the first {len(FIRST_MESSAGE)}-character message cost, one header; here "
                    f"there are {count} messages of {length} characters.")
        elif n == count * one_short:
            hint = (f"{n:g} is {count} headers of a short message ({one_short} bytes each). {length} bytes do "
                    "not fit in the 7-bit length field (at most 125): it says 126 and 2 more bytes carry the length.")
        elif n == one:
            hint = f"{n:g} is the header of one message; there are {count}."
        elif n == ok_n + count * length:
            hint = "that counts the payload too; framing is the headers only."
        elif masked and n == right["server"]:
            hint = "that is what the server spends; every client header also carries a 4-byte masking key."
        elif not masked and n == right["client"]:
            hint = "a server does not mask its frames: no 4-byte key in its headers."
        else:
            hint = (f"{n:g} bytes for {count} messages is {n / count:g} a header. A header is 2 bytes, + 2 "
                    "for a length of 126 to 65,535 (8 above)" + (", + 4 for a client's masking key." if masked
                                                                    else "; a server adds no key."))
        say(False, f"{side}: {hint}")
    return all_ok

