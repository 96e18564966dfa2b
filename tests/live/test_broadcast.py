"""One chat message must not empty the room (issue 11, item 4).

A 400 kB text of control characters is 405 bytes on the wire with permessage-deflate, but JSON
writes each control character as a 6-byte escape. Members that read promptly must stay connected
whatever one member sends; a member that really never reads is still closed with 1008; and a
message too big for the room once encoded is refused to its sender alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse

import websockets

import wsdemo

from .conftest import T, Raw, close_code_of, handshake, wait_until

HOSTILE = "\x01" * 400_000  # 2.4 MB once JSON-escaped; 405 bytes compressed


class Member:
    """A real `websockets` client (permessage-deflate on, its default) that reads everything."""

    def __init__(self, ws, name: str):
        self.ws, self.name = ws, name
        self.got: list[dict] = []
        self.task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def join(cls, server, name: str) -> "Member":
        ws = await websockets.connect(server.url(f"/chat?name={urllib.parse.quote(name)}"), open_timeout=T)
        return cls(ws, name)

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                self.got.append(json.loads(text))
        except websockets.ConnectionClosed:
            pass

    def texts(self) -> list[str]:
        return [e["text"] for e in self.got if e.get("type") == "message"]

    @property
    def open(self) -> bool:
        return self.ws.close_code is None

    async def close(self) -> None:
        await asyncio.wait_for(self.ws.close(), T)
        await asyncio.wait_for(self.task, T)


async def _room(server, n: int) -> list[Member]:
    members = [await Member.join(server, f"m{i}") for i in range(n)]
    await wait_until(lambda: all(sum(e.get("type") == "join" for e in m.got) >= n - i
                                 for i, m in enumerate(members)), what="join notices")
    return members


async def test_a_hostile_message_does_not_close_fast_readers_and_is_refused_to_its_sender():
    server = await asyncio.wait_for(wsdemo.serve(compression=True), T)
    members: list[Member] = []
    try:
        members = await _room(server, 5)
        sender, others = members[0], members[1:]
        limit = server.app_state.max_message_size
        # Near the limit once encoded, and delivered: members take what fits.
        near = "\x01" * ((limit - 200) // 6)
        for text in ("before", near, HOSTILE, "after"):
            await sender.ws.send(text)
        await wait_until(lambda: all("after" in m.texts() for m in members) or
                         not all(m.open for m in members), what="'after' everywhere")
        assert all(m.open for m in members), [(m.name, m.ws.close_code, m.ws.close_reason) for m in members]
        for m in members:
            assert m.texts() == ["before", near, "after"], m.name  # everything, in order, not the hostile one
        errors = [e for e in sender.got if e.get("type") == "error"]
        assert len(errors) == 1, errors
        assert errors[0]["limit"] == limit and f"{limit}-byte" in errors[0]["text"]
        for m in others:
            assert not [e for e in m.got if e.get("type") == "error"], m.name
        # the room keeps talking
        await others[0].ws.send("still here")
        await wait_until(lambda: all("still here" in m.texts() for m in members), what="'still here'")
    finally:
        for m in members:
            await m.close()
        await asyncio.wait_for(server.stop(), T)


async def test_a_member_that_never_reads_is_closed_with_1008_and_readers_get_everything(caplog):
    server = await asyncio.wait_for(wsdemo.serve(), T)
    members: list[Member] = []
    lazy = None
    try:
        lazy = await Raw.open(server.port)
        await lazy.send(handshake("/chat?name=lazy"))
        assert (await lazy.read_head()).startswith(b"HTTP/1.1 101")
        members = await _room(server, 3)
        talker = members[0]
        sent = []
        with caplog.at_level(logging.INFO, logger="wsdemo.apps"):
            for i in range(400):  # bounded: far more than socket buffers plus the backlog limit
                text = f"{i:04d}" + "x" * 200_000
                await talker.ws.send(text)
                sent.append(text)
                # the readers are prompt: each message reaches all of them before the next
                await wait_until(lambda: all(len(m.texts()) == len(sent) or not m.open for m in members),
                                 what=f"message {i} everywhere")
                if any("bytes unread" in r.getMessage() for r in caplog.records):
                    break
            else:
                raise AssertionError("the member that never reads was never closed")
        assert all(m.open for m in members), [(m.name, m.ws.close_code, m.ws.close_reason) for m in members]
        for m in members:
            assert m.texts() == sent, m.name
        assert close_code_of(await lazy.read_all()) == 1008
        await wait_until(lambda: all(any(e.get("type") == "leave" and e["name"] == "lazy" for e in m.got)
                                     for m in members), what="lazy's leave notice")
    finally:
        for m in members:
            await m.close()
        if lazy is not None:
            await lazy.close()
        await asyncio.wait_for(server.stop(), T)


async def test_join_and_leave_notices_are_not_held_to_the_message_limit():
    # Notices are the server's own words, bounded by the name length and the connection cap:
    # with a small message limit and long names they are still sent, never silently dropped.
    server = await asyncio.wait_for(wsdemo.serve(max_message_size=256), T)
    members: list[Member] = []
    try:
        names = ["\U0001F600" * 60 + f"{i}" for i in range(3)]  # 241 bytes each in UTF-8
        for name in names:
            members.append(await Member.join(server, name))
        await wait_until(lambda: sorted(members[0].got[-1].get("users", [])) == sorted(names),
                         what="the third join notice")
        await members[2].close()
        members.pop()
        await wait_until(lambda: members[0].got[-1].get("type") == "leave", what="the leave notice")
        # a member's own message is held to it, and refused with the limit named
        await members[0].ws.send("\x01" * 100)  # 100 bytes in, 600 once escaped
        await wait_until(lambda: members[0].got[-1].get("type") == "error", what="the error")
        assert members[0].got[-1]["limit"] == 256
    finally:
        for m in members:
            await m.close()
        await asyncio.wait_for(server.stop(), T)


async def test_a_broadcast_writes_each_frame_without_a_task_per_member(server):
    # Tornado's write_message wraps every write in a Task (a coroutine, a Context, callbacks);
    # a class's fan-out made thousands a second, and those in flight at a collection were most
    # of what reached the collector's oldest generation. The room gets the same message.
    from wsdemo.live.apps.chat import ChatSocket

    members = await _room(server, 4)
    loop = asyncio.get_running_loop()
    made = []

    def factory(loop, coro, **kwargs):
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    data = ChatSocket.encode({"type": "message", "name": "teacher", "text": "one for all"})
    loop.set_task_factory(factory)
    try:
        ChatSocket.deliver(server.app_state, data)  # the fan-out itself is synchronous
    finally:
        loop.set_task_factory(None)
    assert made == []
    await wait_until(lambda: all("one for all" in m.texts() for m in members), what="the broadcast")
    for m in members:
        await m.close()
