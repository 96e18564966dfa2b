"""The two "Build" notebooks: one chat line rendered safely (05), a fragmenter (07)."""

from __future__ import annotations

from typing import Any

from .. import wire
from ._hints import call_learner, function_problem, say


CHAT_LINE = '<li data-name="NAME"><b>NAME</b>: TEXT</li>'

_HOSTILE = [  # the first pair is harmless, so a wrong shape is reported before anything hostile
    ("Ada", "hello"),
    ("<b>Mallory</b>", "<img src=x onerror=alert(1)>"),
    ('Eve" onmouseover="alert(1)', "</li><script>alert('x')</script>"),
    ("Tom & Jerry", "5 > 3 && 2 < 4"),
    ("O'Brien", 'say "hi"'),
]


def _parse_html(out: str):
    """Start tags (name, attrs) and the text a browser would show, from ``out``."""
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.tags: list[tuple[str, list]] = []
            self.text: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, attrs))

        def handle_startendtag(self, tag, attrs):
            self.tags.append((tag, attrs))

        def handle_data(self, data):
            self.text.append(data)

    reader = Reader()
    reader.feed(out)
    reader.close()
    return reader.tags, "".join(reader.text)


def check_escape(render: Any) -> bool:
    """Check ``render(name, text) -> str``: one chat line as ``CHAT_LINE``, which shows the name
    (in an attribute and as text) and the message exactly as sent, whatever they contain."""
    import html as _html

    problem = function_problem(render, "render", f"Define render(name, text) returning {CHAT_LINE}, with NAME "
                                                 "and TEXT as sent, safely.")
    if problem:
        return say(False, problem)
    for name, text in _HOSTILE:
        call = f"render({name!r}, {text!r})"
        out, problem = call_learner(render, (name, text), call)
        if problem:
            return say(False, problem)
        if not isinstance(out, str):
            return say(False, f"Return a str of HTML, not {type(out).__name__}.")
        tags, shown = _parse_html(out)
        names = [t for t, _ in tags]
        stray = [t for t in names if t not in ("li", "b")]
        extra_b = names.count("b") > 1 or names.count("li") > 1
        if stray or extra_b:
            made = (stray or ["b" if names.count("b") > 1 else "li"])[0]
            source = next((v for v in (name, text) if f"<{made}" in v.lower() or f"</{made}" in v.lower()), None)
            if source is None:
                return say(False, f"{call} returned {out[:80]!r}: it has a <{made}> element of its own; "
                                  f"the line is exactly {CHAT_LINE}.")
            return say(False, f"{call}: {source!r} went into the HTML as markup: a browser would build a live "
                              f"<{made}> element from it. Escape every value you insert: html.escape(value).")
        if names[:2] != ["li", "b"]:
            return say(False, f"{call} returned {out[:60]!r}: the line should be {CHAT_LINE}, "
                              f"an <li> with the name in its data-name attribute, then the name in bold.")
        attrs = dict(tags[0][1])
        if set(attrs) != {"data-name"}:
            added = sorted(set(attrs) - {"data-name"})
            injected = [a for a in added if a in name.lower()]
            if injected:
                return say(False, f"{call}: the name closed the data-name attribute and added {', '.join(injected)}"
                                  "=... to the <li>: inside an attribute, quotes must be escaped too "
                                  '(html.escape(value) turns " into &quot;; quote=False does not).')
            if added:
                return say(False, f"{call}: the <li> has attributes {', '.join(added)} besides data-name; the line "
                                  f"is exactly {CHAT_LINE}.")
            return say(False, f"{call}: the <li> has no data-name attribute: {out[:60]!r}.")
        value = attrs["data-name"]
        if value != name:
            if value == _html.escape(name) and value != name:
                return say(False, f"{call}: data-name reads {value!r}: the name was escaped twice, so a "
                                  "script would see the entities. Escape once.")
            return say(False, f"{call}: data-name reads {value!r}, but the name sent was {name!r}: escape it, do "
                              "not delete or change characters.")
        expected = f"{name}: {text}"
        if shown != expected:
            if _html.unescape(shown) == expected:
                return say(False, f"{call} shows {shown!r}: escaped twice (&amp;lt; ...), so the reader sees "
                                  "the entities instead of the text. Escape once.")
            return say(False, f"{call} shows {shown!r} where the reader should see {expected!r}: escape the "
                              "characters < > & \" ', do not delete or replace them.")
    return say(True, "Every name and message shows exactly as sent, in the attribute and in the text, and "
                     "none of it can run as HTML.")


# ---------------------------------------------------------------- 07: a fragmenter

_FRAGMENT_CASES = [("Hello, fragments!", 5), ("héllo wörld ✓", 4), ("exactly ten", 11), ("", 3)]


def check_fragmenter(fragment: Any) -> bool:
    """Check ``fragment(text, size) -> bytes``: the frames a client sends for ``text`` cut into
    pieces of at most ``size`` payload bytes (RFC 6455 section 5.4), each masked with its own key."""
    problem = function_problem(fragment, "fragment", "Define fragment(text, size) returning the bytes of the "
                                                     "frames a client sends for text, each carrying at most size "
                                                     "payload bytes.")
    if problem:
        return say(False, problem)
    for text, size in _FRAGMENT_CASES:
        call = f"fragment({text!r}, {size})"
        data = text.encode("utf-8")
        out, problem = call_learner(fragment, (text, size), call)
        if problem:
            return say(False, problem)
        if isinstance(out, (list, tuple)) and all(isinstance(b, (bytes, bytearray)) for b in out):
            return say(False, f"{call} returned a {type(out).__name__} of frames; join them into the bytes "
                              "that go on the wire: b''.join(...).")
        if isinstance(out, wire.Frame):
            return say(False, f"{call} returned a Frame object; return the bytes (wire.encode_frame returns them).")
        if not isinstance(out, (bytes, bytearray)):
            return say(False, f"{call} returned {type(out).__name__}; return bytes.")
        if not out:
            return say(False, f"{call} returned no bytes at all; even an empty message is one frame "
                              "(TEXT, FIN set, no payload).")
        try:
            frames = wire.FrameDecoder().feed(bytes(out))
        except wire.ProtocolError as exc:
            return say(False, f"{call}: those bytes are not valid frames: {exc}")
        if not frames or sum(len(f.raw) for f in frames) != len(out):
            return say(False, f"{call}: the bytes end in the middle of a frame ({len(out)} bytes).")
        where = ", ".join(f"{wire.opcode_name(f.opcode)}{'' if f.fin else '(no FIN)'} {len(f.payload)} B"
                          for f in frames[:6])
        if len(frames) > 6:
            where += ", ..."
        unmasked = "" if all(f.masked for f in frames) else (
            " And a client masks every frame: mask_key=os.urandom(4).")
        if len(data) > size and len(frames) == 1:
            return say(False, f"{call} made one frame with all {len(data)} bytes; cut the payload into pieces of "
                              f"at most {size} bytes, one frame each.{unmasked}")
        if unmasked:
            return say(False, f"{call} made [{where}], and not all are masked: a client masks every frame "
                              "(mask_key=os.urandom(4)).")
        big = next((f for f in frames if len(f.payload) > size), None)
        if big is not None:
            by_chars = [text[i:i + size].encode("utf-8") for i in range(0, len(text), size)]
            chars = (" (you cut characters; cut the UTF-8 bytes: é is 2 bytes, ✓ 3)"
                     if [f.payload for f in frames] == by_chars else "")
            return say(False, f"{call} made [{where}]: a frame carries {len(big.payload)} bytes, more than {size}"
                              f"{chars}.")
        if frames[0].opcode != wire.Opcode.TEXT:
            return say(False, f"{call} made [{where}]: the first frame says what the message is, TEXT (1).")
        later = [f for f in frames[1:] if f.opcode != wire.Opcode.CONTINUATION]
        if later:
            return say(False, f"{call} made [{where}]: only the first frame says TEXT; every later one is a "
                              "CONTINUATION (opcode 0), or the peer sees a new message start in the middle.")
        if not frames[-1].fin:
            return say(False, f"{call} made [{where}]: the last frame must set FIN, or the message never ends.")
        if any(f.fin for f in frames[:-1]):
            return say(False, f"{call} made [{where}]: only the last frame sets FIN; a FIN before it ends the "
                              "message there.")
        if len(frames) > 1 and len({f.mask_key for f in frames}) == 1:
            key = (frames[0].mask_key or b"").hex()
            return say(False, f"{call} masked all {len(frames)} frames with the same key {key}; "
                              "a client picks a new random key for every frame (section 5.3): os.urandom(4).")
        try:
            assembler = wire.MessageAssembler()
            message = None
            for f in frames:
                message = assembler.add(f) or message
        except wire.ProtocolError as exc:
            return say(False, f"{call}: a peer could not join the frames: {exc}")
        if message is None or message.data != data:
            got = message.data if message is not None else b""
            return say(False, f"{call}: the frames join into {got[:40]!r}, not {data[:40]!r}.")
    return say(True, "Your frames reassemble into every message, masked, in pieces of the size asked.")

