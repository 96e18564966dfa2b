"""Server-sent events on the wire (HTML section 9.2): the standard's examples as literal bytes,
every way of cutting them, the byte accounting, and calm in front of random bytes."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsdemo.wire import (
    ConnectionDecoder, DecodeError, HttpResponse, ProtocolError, SseDecoder, SseEnd, SseError, SseEvent,
    decode_sse, encode_sse, summarize,
)

SCALE = int(os.environ.get("WSDEMO_HYPOTHESIS_SCALE", "1"))
FAST = settings(max_examples=150 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fired(data: bytes, **kw) -> list[tuple[str, str, str]]:
    """(type, data, lastEventId) of each event a browser would fire."""
    return [(e.type, e.data, e.last_event_id) for e in decode_sse(data, **kw) if e.dispatched]


def every_cut(data: bytes):
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            yield [data[:i], data[i:j], data[j:]]


def semantic(events):
    return [(e.type, e.data, e.last_event_id, e.id, e.retry, e.dispatched) for e in events]


# -- the standard's examples (9.2.6), byte for byte --------------------------------------------

def test_stock_ticker_example_joins_data_lines_with_lf():
    assert fired(b"data: YHOO\ndata: +2\ndata: 10\n\n") == [("message", "YHOO\n+2\n10", "")]


def test_comment_id_and_space_example():
    stream = (b": test stream\n\n"
              b"data: first event\nid: 1\n\n"
              b"data:second event\nid\n\n"
              b"data:  third event\n\n")
    assert fired(stream) == [("message", "first event", "1"), ("message", "second event", ""),
                             ("message", " third event", "")]  # only one space is removed


def test_empty_data_example_and_an_unfinished_last_block():
    stream = b"data\n\ndata\ndata\n\ndata:"
    assert fired(stream) == [("message", "", ""), ("message", "\n", "")]
    dec = SseDecoder()
    assert len(dec.feed(stream)) == 2
    assert dec.eof() == 5  # 'data:' has no empty line after it: discarded


def test_two_identical_events_example():
    assert fired(b"data:test\n\ndata: test\n\n") == [("message", "test", "")] * 2


def test_event_types_and_the_default():
    stream = b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent:\ndata: x\n\n"
    assert fired(stream) == [("add", "73857293", ""), ("remove", "2153", ""), ("message", "x", "")]


# -- line ends, BOM, fields ------------------------------------------------------------------

@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_end(eol):
    stream = eol.join([b"id: 7", b"data: a", b"data: b", b"", b""])
    (event,) = decode_sse(stream)
    assert (event.data, event.last_event_id, event.wire_size) == ("a\nb", "7", len(stream))


def test_cr_cr_lf_lf_is_three_line_ends():
    # the mailing-list case the standard settled: "\r\r\n\n" is CR, CRLF, LF
    events = decode_sse(b"data: x\r\r\n\n")
    assert [e.dispatched for e in events] == [True, False]
    assert sum(e.wire_size for e in events) == len(b"data: x\r\r\n\n")


def test_a_bom_at_the_start_is_dropped_once():
    bom = b"\xef\xbb\xbf"
    (event,) = decode_sse(bom + b"data: a\n\n")
    assert event.data == "a" and event.sizes["bom"] == 3 and event.wire_size == 3 + 9
    # a second BOM is text: the field name is then '\ufeffdata', an unknown field
    assert fired(bom + bom + b"data: a\n\n") == []
    assert fired(b"data: a\n\n" + bom + b"data: b\n\n") == [("message", "a", "")]


def test_id_with_nul_is_ignored_and_id_persists():
    events = decode_sse(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\ndata: c\n\n")
    assert [e.last_event_id for e in events] == ["1", "1", "1"]
    assert events[1].id is None and events[1].fields[0].ignored


@pytest.mark.parametrize("value,expected", [(b"1500", 1500), (b"0", 0), (b"15a", None), (b"-1", None),
                                            (b" 15", None), (b"1.5", None), (b"", None),
                                            ("\u00b2".encode(), None), (b"9" * 5000, 10 ** 18)])
def test_retry_takes_ascii_digits_only(value, expected):
    dec = SseDecoder()
    (event,) = dec.feed(b"retry: " + value + b"\n\n")
    assert event.retry == expected and dec.retry == expected
    assert not event.dispatched  # no data: a browser fires nothing


def test_unknown_fields_and_comments_are_ignored_but_counted():
    (event,) = decode_sse(b": hi\nfoo: bar\ndata: x\n\n")
    assert event.data == "x"
    assert event.sizes == {"data": 8, "comment": 5, "unknown": 9, "end": 1}
    assert [f.kind for f in event.fields] == ["comment", "unknown", "data", "end"]


def test_invalid_utf8_is_replaced_not_an_error():
    assert fired(b"data: \xff\xfe ok\n\n") == [("message", "\ufffd\ufffd ok", "")]


# -- byte accounting --------------------------------------------------------------------------

def test_sizes_field_by_field_and_payload():
    block = b'id: 42\ndata: {"seq": 42}\n\n'
    (event,) = decode_sse(block)
    assert event.sizes == {"data": 18, "id": 7, "end": 1}
    assert event.payload_size == len(b'{"seq": 42}') and event.overhead == len(block) - 11
    assert event.raw == block and event.offset == 0
    assert "42" in str(event) and "data 18" in str(event)


def test_offsets_tile_the_stream():
    stream = b": c\n\nretry: 5\n\nid: 1\ndata: a\ndata: b\n\n\n"
    events = decode_sse(stream)
    pos = 0
    for e in events:
        assert e.offset == pos and stream[pos:pos + e.wire_size] == e.raw
        pos += e.wire_size
    assert pos == len(stream)


def test_every_cut_gives_the_same_events():
    stream = (b"\xef\xbb\xbfdata: first\r\nid: 1\r\n\r\n: keep\n\nevent: add\ndata: a\ndata:b\nretry: 300\r"
              b"id\r\r\n\ndata\n\ndata: unfinished")
    whole = decode_sse(stream)
    for parts in every_cut(stream):
        dec = SseDecoder()
        events = [e for p in parts for e in dec.feed(p)]
        assert semantic(events) == semantic(whole)
        # bytes: always the whole stream; the same split too unless a CRLF was cut after
        # an empty line (the event fires at the CR, as in a browser; its LF opens the next block)
        assert sum(e.wire_size for e in events) + dec.eof() == len(stream)


def test_encode_sse_round_trip_and_its_refusals():
    block = encode_sse("line 1\nline 2\r\nline 3", event="tick", id=9, retry=100, comment="hello")
    assert block == (b": hello\nretry: 100\nevent: tick\nid: 9\n"
                     b"data: line 1\ndata: line 2\ndata: line 3\n\n")
    (event,) = decode_sse(block)
    assert (event.type, event.data, event.id, event.retry) == ("tick", "line 1\nline 2\nline 3", "9", 100)
    for bad in (dict(id="a\nb"), dict(event="x\r"), dict(id="a\x00"), dict(retry=-1), dict(retry=1.5)):
        with pytest.raises(SseError):
            encode_sse("x", **bad)
    assert issubclass(SseError, ProtocolError)


def test_a_block_over_the_limit_raises_sse_error_naming_it():
    dec = SseDecoder(max_event=100)
    dec.feed(b"data: " + b"x" * 50 + b"\n")
    with pytest.raises(SseError) as info:
        dec.feed(b"data: " + b"x" * 60)
    assert info.value.limit == 100 and "100" in str(info.value) and info.value.offset == 0
    # the events completed before it in the same call are kept
    with pytest.raises(SseError) as info:
        SseDecoder(max_event=100).feed(b"data: a\n\ndata: b\n\n" + b"x" * 200)
    assert [e.data for e in info.value.events] == ["a", "b"]


# -- in a connection ----------------------------------------------------------------------------

REQ = b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nConnection: close\r\n\r\n"


def chunked(*blocks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(b), b) for b in blocks) + b"0\r\n\r\n"


def decode_server(stream: bytes, parts=None, eof=False):
    dec = ConnectionDecoder()
    dec.feed("client", REQ)
    events = []
    for part in parts or [stream]:
        events += dec.feed("server", part)
    if eof:
        events += dec.eof("server")
    return dec, events


def test_a_chunked_event_stream_decodes_as_it_comes_with_its_chunk_framing():
    blocks = [encode_sse(retry=3000), encode_sse('{"seq": 1}', id=1), encode_sse('{"seq": 2}', id=2)]
    stream = CHUNKED + chunked(*blocks)
    # before the body ends, each event is out as soon as its bytes are in
    dec, events = decode_server(stream, [CHUNKED + chunked(*blocks[:2])[:-5]])
    assert [type(e) for e in events] == [HttpResponse, SseEvent, SseEvent]
    dec, events = decode_server(stream)
    assert [type(e) for e in events] == [HttpResponse, SseEvent, SseEvent, SseEvent, SseEnd]
    sse = [e for e in events if isinstance(e, SseEvent)]
    assert [e.event.data for e in sse if e.event.dispatched] == ['{"seq": 1}', '{"seq": 2}']
    assert sse[1].event.wire_size == len(blocks[1]) and sse[1].framing_size == len(b"\r\n14\r\n")
    assert b"".join(e.raw for e in events[1:]) == stream[len(CHUNKED):]
    assert summarize(events).server.wire_bytes == len(stream) == dec.received["server"]
    assert events[0].response.body == b""  # the head handed out is not changed afterwards
    s = summarize(events).server
    assert s.sse_events == 3 and s.sse_payload_bytes == 20


def test_a_close_delimited_event_stream_ends_with_the_connection():
    stream = CLOSE + b"data: a\n\ndata: b\n\ndata: cut"
    dec, events = decode_server(stream, eof=True)
    assert [e.event.data for e in events if isinstance(e, SseEvent)] == ["a", "b"]
    end = events[-1]
    assert isinstance(end, SseEnd) and end.discarded == len(b"data: cut")
    assert summarize(events).server.wire_bytes == len(stream)


def test_keep_alive_goes_on_after_an_event_stream():
    stream = CHUNKED + chunked(b"data: a\n\n") + b"HTTP/1.1 204 No Content\r\n\r\n"
    dec = ConnectionDecoder()
    dec.feed("client", REQ + REQ)
    events = dec.feed("server", stream)
    assert [type(e).__name__ for e in events] == ["HttpResponse", "SseEvent", "SseEnd", "HttpResponse"]
    assert events[-1].response.status == 204


def test_a_cut_chunked_stream_keeps_its_bytes_and_says_so():
    stream = CHUNKED + b"9\r\ndata: a\n\n\r\n9\r\ndata"
    dec, events = decode_server(stream, eof=True)
    assert isinstance(events[-2], SseEnd) and isinstance(events[-1], DecodeError) and events[-1].fatal
    assert summarize(events).server.wire_bytes == len(stream)


def test_other_responses_are_not_read_as_event_streams():
    head = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\n"
    _, events = decode_server(head + b"data: a\n\n")
    assert [type(e) for e in events] == [HttpResponse] and events[0].response.body == b"data: a\n\n"


def test_an_event_over_the_limit_stops_that_direction_with_a_decode_error():
    dec = ConnectionDecoder(max_payload=64)
    dec.feed("client", REQ)
    events = dec.feed("server", CLOSE + b"data: a\n\ndata: " + b"x" * 100)
    assert [e.event.data for e in events if isinstance(e, SseEvent)] == ["a"]  # kept
    assert isinstance(events[-1], DecodeError) and events[-1].fatal and "64" in events[-1].error
    assert events[-1].offset == len(CLOSE) + len(b"data: a\n\n")  # where the long event starts


# -- properties -------------------------------------------------------------------------------

lines = st.lists(st.one_of(
    st.sampled_from([b"", b"data", b"data:", b"data: x", b": c", b"id: 5", b"id", b"event: e", b"retry: 10",
                     b"retry: x", b"foo: bar", b"id: a\x00b", b"\xef\xbb\xbfdata: bom"]),
    st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))), max_size=30)
eols = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def streams(draw):
    ls = draw(lines)
    return b"".join(line + draw(eols) for line in ls)


@FAST
@given(streams(), st.lists(st.integers(0, 400), max_size=6))
def test_any_chunking_gives_the_same_events_and_every_byte_is_counted(stream, cuts):
    whole = decode_sse(stream)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    edges = [0, *points, len(stream)]
    dec = SseDecoder()
    events = [e for a, b in zip(edges, edges[1:]) for e in dec.feed(stream[a:b])]
    assert semantic(events) == semantic(whole)
    pos = 0
    for e in events:
        assert e.offset == pos
        pos += e.wire_size
    assert pos + dec.eof() == len(stream)


@FAST
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=5))
def test_random_bytes_raise_only_sse_errors(data, cuts):
    dec = SseDecoder(max_event=64)
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    try:
        for a, b in zip(edges, edges[1:]):
            dec.feed(data[a:b])
        dec.eof()
    except SseError:
        pass


@FAST
@given(streams(), st.lists(st.integers(1, 40), min_size=1, max_size=8),
       st.lists(st.integers(0, 2000), max_size=6))
def test_chunked_event_streams_in_a_connection_count_every_byte(body, sizes, cuts):
    pieces, i, k = [], 0, 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        pieces.append(body[i:i + n])
        i, k = i + n, k + 1
    stream = CHUNKED + chunked(*pieces)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    edges = [0, *points, len(stream)]
    dec, events = decode_server(stream, [stream[a:b] for a, b in zip(edges, edges[1:])])
    assert not [e for e in events if isinstance(e, DecodeError)]
    assert isinstance(events[-1], SseEnd)
    assert semantic(e.event for e in events if isinstance(e, SseEvent)) == semantic(decode_sse(body))
    assert summarize(events).server.wire_bytes == len(stream)


@FAST
@given(st.sampled_from([CHUNKED, CLOSE]), st.binary(max_size=800), st.lists(st.integers(0, 900), max_size=5),
       st.booleans())
def test_connection_decoder_never_raises_on_a_hostile_event_stream(head, body, cuts, eof):
    stream = head + body
    points = sorted({c % (len(stream) + 1) for c in cuts})
    edges = [0, *points, len(stream)]
    dec = ConnectionDecoder(max_payload=128)
    dec.feed("client", REQ)
    events = []
    for a, b in zip(edges, edges[1:]):
        events += dec.feed("server", stream[a:b])
    if eof:
        events += dec.eof("server")
    assert all(e.sender == "server" for e in events)
    assert not [e for e in events if isinstance(e, DecodeError) and "internal" in e.error]
