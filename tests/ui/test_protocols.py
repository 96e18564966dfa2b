"""The seam between the live layer and the show layer is typed: the tap, its connections and
recordings satisfy the protocols of wsdemo.wire.recording that the widgets read through."""

from __future__ import annotations

import asyncio

from wsdemo import wire
from wsdemo.ui import FrameInspector, RecordedConnection, Recording, export_recording, import_recording
from wsdemo.wire.recording import ConnectionRecord, EventSource, LiveConnection

from .conversation import decode


async def test_the_tap_its_connections_and_recordings_satisfy_the_protocols(server):
    client = await server.connect("/echo")
    conn = client.connection
    await conn.wait_for(lambda e: isinstance(e, wire.HttpResponse), 5)
    recorded = import_recording(export_recording(server.tap))

    assert isinstance(server.tap, EventSource) and not isinstance(server.tap, ConnectionRecord)
    assert isinstance(conn, LiveConnection) and not isinstance(conn, EventSource)
    assert all(isinstance(c, ConnectionRecord) and not isinstance(c, LiveConnection) for c in recorded)
    assert isinstance(Recording(recorded), EventSource)
    assert [c.path for c in recorded] == [c.path for c in server.tap.connections]
    await asyncio.wait_for(client.close(), 5)


def test_a_list_of_events_is_neither_a_record_nor_a_source():
    events, _ = decode()
    assert not isinstance(events, (ConnectionRecord, EventSource))
    # so the inspector shows the events themselves, with no summary of a connection
    insp = FrameInspector(events)
    assert insp.summary_html == "" and len(insp.rows) > 0
    one = FrameInspector(RecordedConnection(7, "127.0.0.1:1", "/echo", events=events))
    assert "→ client:" in one.summary_html


def test_the_events_of_a_recorded_connection_name_it():
    events, _ = decode()
    (loaded,) = import_recording(export_recording(events))
    assert loaded.events and all(e.connection is loaded for e in loaded.events)
    made = RecordedConnection(3, events=events)  # events are frozen: copies that name it
    assert all(e.connection is made for e in made.events) and all(e.connection is None for e in events)
    assert [type(e) for e in made.events] == [type(e) for e in events] and made.request is not None
