"""The FrameInspector on hostile data (issue 11, item 11): a message nested deeper than
Python's JSON parser goes, and recording files made to break the upload button."""

from __future__ import annotations

import asyncio
import json

import pytest

import wsdemo
from wsdemo import wire
from wsdemo.ui import FrameInspector
from wsdemo.ui import markup
from wsdemo.wire import recording

from .conversation import decode, request_bytes, response_bytes

pytestmark = pytest.mark.timeout(120)


def _events_with(text: str):
    dec = wire.ConnectionDecoder()
    events = dec.feed("client", request_bytes(None), at=1.0)
    events += dec.feed("server", response_bytes(extensions=None), at=1.1)
    events += dec.feed("server", wire.encode_frame(wire.Opcode.TEXT, text.encode()), at=1.2)
    return events


# --------------------------------------------------------------------------- the JSON view

def test_a_message_nested_too_deep_for_json_is_shown_as_text_with_a_note():
    insp = FrameInspector(_events_with("[" * 100_000))
    row = insp.select("text")  # raised RecursionError from the JSON view
    assert row is not None and row.message.text == "[" * 100_000
    view = insp.payload_html["json"]
    assert "nested too deeply to show as JSON" in view and "shown as text" in view
    assert "[[[[[[[[" in view  # the text itself, escaped and cut like the text view
    assert len(view) < 10_000
    # a deep but parseable document still gets its tree, cut at the tree's own depth
    insp = FrameInspector(_events_with("[" * 500 + "]" * 500))
    insp.select("text")
    assert "nested too deep" in insp.payload_html["json"] and "<details open>" in insp.payload_html["json"]


# --------------------------------------------------------------------------- recordings

GOOD = json.loads(recording.export_recording(decode()[0]))


def _recording(change) -> bytes:
    data = json.loads(json.dumps(GOOD))
    change(data)
    return json.dumps(data).encode()


def _chunk(data, **fields):
    data["connections"][0]["chunks"][2].update(fields)


def _conn(data, **fields):
    data["connections"][0].update(fields)


def _two_conns(data, **fields):
    second = json.loads(json.dumps(data["connections"][0]))
    second.update(fields)
    data["connections"].append(second)


def _add_error_chunk(data, **fields):
    data["connections"][0]["chunks"].append({"sender": "server", "at": 1003.0, "error": "cut", **fields})


BAD = {
    # not JSON at all, or nested beyond the parser
    "not JSON": (b"\xff\xfe{{", "recording is not JSON"),
    "nested": (b"[" * 100_000, "nested too deeply"),
    # JSON, but not a recording object
    "a list": (b"[1, 2]", "not a wsdemo recording"),
    "version true": (_recording(lambda d: d.update(version=True)), "unsupported recording version True"),
    # missing fields
    "no chunks": (_recording(lambda d: d["connections"][0].pop("chunks")), "connection 0: no 'chunks' list"),
    "no bytes": (_recording(lambda d: d["connections"][0]["chunks"][2].pop("hex")),
                 "chunk 2: needs 'hex' or 'error'"),
    # wrong types
    "chunks a string": (_recording(lambda d: _conn(d, chunks="81 05")), "connection 0: no 'chunks' list"),
    "hex a list": (_recording(lambda d: _chunk(d, hex=["81"])), "chunk 2: 'hex' must be a string"),
    "opened_at text": (_recording(lambda d: _conn(d, opened_at="yesterday")),
                       "connection 0: 'opened_at' must be a time in seconds"),
    "second conn opened_at text": (_recording(lambda d: _two_conns(d, opened_at="x")),
                                   "connection 1: 'opened_at' must be a time in seconds"),
    "id an object": (_recording(lambda d: _two_conns(d, id={"k": 1})),
                     "connection 1: 'id' must be a number or a string"),
    "path a number": (_recording(lambda d: _conn(d, path=5)), "connection 0: 'path' must be a string"),
    "offset a list": (_recording(lambda d: _add_error_chunk(d, offset=[1])),
                      "'offset' must be a whole number"),
    "error an object": (_recording(lambda d: _add_error_chunk(d, error={"a": 1})),
                        "'error' must be a string"),
    # bad bytes encoding
    "hex not hex": (_recording(lambda d: _chunk(d, hex="zz")), "chunk 2: 'hex' is not hexadecimal"),
    "hex odd": (_recording(lambda d: _chunk(d, hex="810")), "chunk 2: 'hex' is not hexadecimal"),
    # NaN, infinities and hostile huge numbers
    "at NaN": (_recording(lambda d: _chunk(d, at=float("nan"))), "chunk 2: 'at' must be a time in seconds"),
    "at inf": (_recording(lambda d: _chunk(d, at=float("inf"))), "chunk 2: 'at' must be a time in seconds"),
    "at huge int": (_recording(lambda d: _chunk(d, at=10 ** 400)), "chunk 2: 'at' must be a time in seconds"),
    "at 1e308": (_recording(lambda d: _chunk(d, at=1e308)), "chunk 2: 'at' must be a time in seconds"),
    "opened_at huge": (_recording(lambda d: _conn(d, opened_at=10 ** 400)), "'opened_at' must be a time"),
    "at true": (_recording(lambda d: _chunk(d, at=True)), "chunk 2: 'at' must be a time in seconds"),
    "offset inf": (_recording(lambda d: _add_error_chunk(d, offset=float("inf"))),
                   "'offset' must be a whole number"),
    "offset huge": (_recording(lambda d: _add_error_chunk(d, offset=10 ** 300)),
                    "'offset' must be a whole number"),
    "kind unknown": (_recording(lambda d: _add_error_chunk(d, kind="too many cats")),
                     "'kind' must be the name of a wire error kind"),
    "fatal a string": (_recording(lambda d: _add_error_chunk(d, fatal="yes")), "'fatal' must be true or false"),
    "status 1e9": (_recording(lambda d: _add_error_chunk(d, status=10 ** 9)), "'status' must be an HTTP status"),
    # wrong sender names
    "sender Client": (_recording(lambda d: _chunk(d, sender="Client")),
                      "chunk 2: 'sender' must be 'client' or 'server'"),
    "sender a list": (_recording(lambda d: _chunk(d, sender=["client"])),
                      "chunk 2: 'sender' must be 'client' or 'server'"),
}


def _upload(insp: FrameInspector, name: str, content: bytes) -> None:
    """What the browser sends when a file is picked on the Load recording button."""
    insp.upload.set_state({"value": [{"name": name, "type": "application/json", "size": len(content),
                                       "last_modified": 0, "content": memoryview(content)}]})


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_recording_is_refused_saying_what_is_wrong_and_nothing_changes(kind):
    content, said = BAD[kind]
    with pytest.raises(ValueError) as err:
        recording.import_recording(content)
    assert said in str(err.value)
    events, _ = decode()
    insp = FrameInspector(events)
    insp.select(9)
    before = repr(insp)
    _upload(insp, f"{kind}.json", content)
    link = insp.recording_note_html
    assert "✗ not a valid recording: " in link and markup.esc(said) in link, link
    assert repr(insp) == before and insp.source is events
    assert insp.select(9) is not None  # still the same rows, still usable


def test_a_good_recording_still_loads_after_a_bad_one():
    insp = FrameInspector(decode(start=5000.0)[0])
    _upload(insp, "bad.json", BAD["at NaN"][0])
    _upload(insp, "good.json", json.dumps(GOOD).encode())  # recorded from 1000.0 on
    assert "Loaded good.json: 1 connection(s)" in insp.recording_note_html
    assert insp.select("text") is not None
    # times count from the loaded recording's first event, not the previous source's
    assert insp.rows[0].t == 0.0 and insp.rows[-1].t == pytest.approx(3.0)


async def test_a_bad_recording_leaves_the_live_inspector_watching_the_tap():
    server = await asyncio.wait_for(wsdemo.serve(), 10)
    try:
        insp = FrameInspector(server.tap)
        for kind in ("opened_at text", "at huge int", "id an object", "offset a list", "nested"):
            _upload(insp, f"{kind}.json", BAD[kind][0])
            assert "✗ not a valid recording" in insp.recording_note_html
        assert insp.source is server.tap
        client = await server.connect("/echo")
        await client.send("still live")
        assert await client.recv(timeout=10) == "still live"
        deadline = asyncio.get_running_loop().time() + 10
        while not any(r.kind == "text" and "still live" in r.preview for r in insp.rows):
            assert asyncio.get_running_loop().time() < deadline, repr(insp)
            await asyncio.sleep(0.02)
        await client.close()
        insp.close()
    finally:
        await asyncio.wait_for(server.stop(), 10)
