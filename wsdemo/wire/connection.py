"""One TCP connection, both directions: HTTP heads (and bodies), then frames and messages
after a 101. Sans-IO: the tap feeds it the chunks it relays.

``ConnectionDecoder`` never raises. Whatever it is fed, bad bytes become a ``DecodeError``
event saying what was wrong and the byte offset in that direction. A fatal error stops
decoding that direction (its bytes are still counted); the other direction goes on.
"""

from __future__ import annotations

import enum
import time
from collections import deque

from .deflate import DeflateParams, negotiate_deflate
from .errors import ErrorKind, FrameError, MessageError, ProtocolError, SseError
from .frames import DEFAULT_MAX_PAYLOAD, FrameDecoder, opcode_name
from .handshake import DEFAULT_MAX_HEAD, Request, Response
from .http import HttpReader
from .sse import SseDecoder, is_event_stream
from .stats import Summary
from .lifecycle import State, Trigger, next_state
from .messages import DEFAULT_MAX_FRAMES, MessageAssembler
from .events import (
    DecodeError,
    Event,
    FrameEvent,
    HttpRequest,
    HttpResponse,
    MessageEvent,
    SseEnd,
    SseEvent,
)

class Mode(enum.Enum):
    """What one direction of a connection is reading."""

    HTTP = "http"  #: HTTP heads and bodies
    HOLD = "hold"  #: the client's bytes after its upgrade request, held until the server answers
    WS = "ws"  #: WebSocket frames (after a 101 to websocket)
    RAW = "raw"  #: bytes after a 101 to another protocol: counted, not decoded
    DEAD = "dead"  #: decoding stopped (a fatal error, or release()): bytes are only counted


class _Direction:
    __slots__ = ("sender", "mode", "received", "http", "frames", "messages", "held", "held_offset", "held_size",
                 "closed_frame", "eof", "after_eof_reported", "max_payload")

    def __init__(self, sender: str, max_head: int, max_payload: int):
        self.sender = sender
        self.max_payload = max_payload
        self.mode = Mode.HTTP
        self.received = 0
        self.http: HttpReader | None = HttpReader(response=sender == "server", max_head=max_head,
                                                  max_body=max_payload)
        self.frames: FrameDecoder | None = None
        self.messages: MessageAssembler | None = None
        self.held: list[bytes] = []
        self.held_offset = 0
        self.held_size = 0
        self.closed_frame = False
        self.eof = False
        self.after_eof_reported = False

    # What each mode reads with: ``mode`` says which is there (HTTP, HOLD: ``http``; WS: the other two).
    @property
    def reader(self) -> HttpReader:
        assert self.http is not None, self.mode
        return self.http

    @property
    def decoder(self) -> FrameDecoder:
        assert self.frames is not None, self.mode
        return self.frames

    @property
    def assembler(self) -> MessageAssembler:
        assert self.messages is not None, self.mode
        return self.messages


class _SseBody:
    """A text/event-stream response body being read (server direction only)."""

    __slots__ = ("decoder", "start", "raw")

    def __init__(self, decoder: SseDecoder, start: int, raw: bytes | bytearray):
        self.decoder = decoder
        self.start = start  # stream offset where the next SseEvent's bytes start
        self.raw = bytearray(raw)  # the stream's bytes from ``start`` on


class ConnectionDecoder:
    """Decode both directions of one connection: ``feed(sender, data, at=None) -> list[event]``.

    ``sender`` is "client" or "server". After a 101 the decoder switches to frames and, when
    the response negotiated permessage-deflate, inflates messages. Attributes: ``request`` and
    ``response`` (last seen), ``deflate`` (DeflateParams or None), ``state`` (lifecycle State),
    ``received`` (bytes per direction, counted even after a fatal error). ``max_payload`` bounds
    a frame, a message (inflated too) and an HTTP body; ``client_max_payload``, when given, does
    so for what the client sends (a server's limit on incoming messages: its own may be larger);
    ``max_frames`` bounds the frames of a message. Events are frozen: each carries
    ``connection``, the object given here, from the moment it is made.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD, max_head: int = DEFAULT_MAX_HEAD,
                 max_frames: int = DEFAULT_MAX_FRAMES, client_max_payload: int | None = None, *,
                 connection: object = None):
        #: stamped on every event this decoder makes (the tap's Connection, a recorded one)
        self.connection = connection
        self.max_payload = max_payload
        self.client_max_payload = max_payload if client_max_payload is None else client_max_payload
        self.max_head = max_head
        self.max_frames = max_frames
        self.request: Request | None = None
        self.response: Response | None = None
        self.deflate: DeflateParams | None = None
        self.state = State.CONNECTING
        self.upgraded = False
        self._dirs = {"client": _Direction("client", max_head, self.client_max_payload),
                      "server": _Direction("server", max_head, max_payload)}
        self._pending: deque[tuple[str, bool]] = deque()  # (method, asked to upgrade) of unanswered requests
        # responses fed before the request they answer (possible only when a caller feeds the two
        # directions out of order): the next requests pair with them instead of the next responses
        self._early = 0
        self._switch_client_after_request = False  # a 101 came before the client's request
        # The server's text/event-stream bodies are read as they come (see _sse_body).
        self._dirs["server"].reader.stream = is_event_stream
        self._sse: _SseBody | None = None

    @property
    def received(self) -> dict[str, int]:
        return {s: d.received for s, d in self._dirs.items()}

    def __repr__(self) -> str:
        r = self.received
        return (f"<ConnectionDecoder {self.state.name} client={r['client']}B server={r['server']}B"
                f"{' deflate' if self.deflate else ''}>")

    def head_offset(self, sender: str) -> int | None:
        """Stream offset where ``sender``'s next (or unfinished) HTTP head starts, while that
        direction reads HTTP heads; None while it reads a body, frames, or nothing. Lets a
        caller that stores raw chunks find the heads in them without parsing HTTP again."""
        d = self._dirs[sender]
        if d.mode is not Mode.HTTP or d.reader.message is not None:
            return None
        return d.reader.offset

    def release(self) -> None:
        """The connection is over: free what decoding more would need (buffers, a fragmented
        message, each direction's inflater and its 32 KiB window). What was decoded stays
        (``request``, ``response``, ``deflate``, ``state``); bytes fed later are only counted."""
        for d in self._dirs.values():
            d.mode = Mode.DEAD
            d.http = d.frames = d.messages = None
            d.held = []

    # -- input ------------------------------------------------------------------------------

    def feed(self, sender: str, data: bytes | bytearray | memoryview, at: float | None = None, *,
             tally: Summary | None = None) -> list[Event]:
        """Decode the next bytes ``sender`` sent; the events they completed, in order.

        With ``tally``, frames and messages are counted into it (as ``Summary.add`` would count
        their events) instead of returned: a caller that will not keep them (the tap, while
        nobody watches) spares making them. Everything else is decoded and checked the same,
        and every other event (errors, heads) is returned as usual."""
        if at is None:
            at = time.time()
        events: list[Event] = []
        d = self._dirs.get(sender) if isinstance(sender, str) else None
        if d is None:
            return [DecodeError(str(sender), at, f"unknown sender {sender!r}: expected 'client' or 'server'", 0,
                                connection=self.connection, kind=ErrorKind.BAD_ARGUMENT)]
        if not isinstance(data, bytes):
            if not isinstance(data, (bytearray, memoryview)):
                return [DecodeError(sender, at, f"expected bytes, got {type(data).__name__}", d.received,
                                    fatal=False, connection=self.connection, kind=ErrorKind.BAD_ARGUMENT)]
            data = bytes(data)
        try:
            start = d.received
            d.received += len(data)
            if not data:
                return events
            if d.eof:
                if not d.after_eof_reported:
                    d.after_eof_reported = True
                    events.append(DecodeError(sender, at, f"{len(data)} bytes arrived after the {sender} closed "
                                              f"its side of the connection", start, fatal=False, connection=self.connection, kind=ErrorKind.AFTER_EOF))
                return events
            mode = d.mode
            if mode is Mode.WS:
                self._frames(d, data, at, events, tally)
            elif mode is Mode.HTTP:
                if self._sse is not None and sender == "server":
                    self._sse.raw += data
                d.reader.feed(data)
                self._http(d, at, events)
            elif mode is Mode.HOLD:
                d.held.append(data)
                d.held_size += len(data)
                limit = d.max_payload + self.max_head
                if d.held_size > limit:
                    self._fatal(d, at, events, f"the client sent {d.held_size} bytes after its upgrade request "
                                f"without an answer from the server (limit {limit}): a client must wait for the "
                                f"101 (RFC 6455 section 4.1)", d.held_offset, ErrorKind.UNANSWERED_UPGRADE)
        except Exception as e:  # never raise into the I/O shell; say what broke and where
            self._fatal(d, at, events, f"internal decoder error: {type(e).__name__}: {e}", d.received,
                        ErrorKind.INTERNAL)
        return events

    def eof(self, sender: str, at: float | None = None) -> list[Event]:
        """``sender`` closed its side: report anything cut short, and move the state."""
        if at is None:
            at = time.time()
        d = self._dirs.get(sender) if isinstance(sender, str) else None
        if d is None:
            return [DecodeError(str(sender), at, f"unknown sender {sender!r}: expected 'client' or 'server'", 0,
                                connection=self.connection, kind=ErrorKind.BAD_ARGUMENT)]
        events: list[Event] = []
        if d.eof:
            return events
        d.eof = True
        try:
            if d.mode is Mode.HTTP:
                try:
                    msg = d.reader.eof()
                except ProtocolError as e:
                    if self._sse is not None and sender == "server":
                        self._sse_end(d, at, events, d.received)
                    self._fatal(d, at, events, e.message, d.received if e.offset is None else e.offset,
                                e.kind, e.status)
                else:
                    if self._sse is not None and sender == "server":
                        self._sse_body(d, at, events, ended=msg is not None)
                    elif msg is not None:
                        self._got_http(d, msg, at, events)
            elif d.mode is Mode.HOLD:
                held = sum(map(len, d.held))
                if held:
                    events.append(DecodeError(sender, at, f"connection closed with {held} bytes the client sent "
                                              f"before the server answered its upgrade request", d.held_offset,
                                              connection=self.connection, kind=ErrorKind.UNANSWERED_UPGRADE))
            elif d.mode is Mode.WS:
                try:
                    d.decoder.eof()
                except FrameError as e:
                    self._fatal(d, at, events, e.message, e.offset, e.kind)
                else:
                    if d.assembler.in_progress:
                        events.append(DecodeError(sender, at, "connection closed in the middle of a fragmented "
                                                  "message (its final frame never came)", d.received,
                                                  connection=self.connection, kind=ErrorKind.TRUNCATED))
        except Exception as e:
            self._fatal(d, at, events, f"internal decoder error: {type(e).__name__}: {e}", d.received,
                        ErrorKind.INTERNAL)
        self.state = next_state(self.state, Trigger.TCP_CLOSED)
        return events

    # -- HTTP -------------------------------------------------------------------------------

    def _http(self, d: _Direction, at: float, events: list[Event]) -> None:
        while d.mode is Mode.HTTP:
            try:
                if d.sender == "client":
                    msg = d.reader.next()
                else:
                    msg = d.reader.next(self._pending[0][0] if self._pending else "GET")
            except ProtocolError as e:
                self._fatal(d, at, events, e.message, d.reader.offset if e.offset is None else e.offset,
                            e.kind, e.status)
                return
            if self._sse is not None and d.sender == "server":  # an event stream's body, as it comes
                if not self._sse_body(d, at, events, ended=msg is not None) or msg is None:
                    return
                continue
            if msg is None:
                return
            self._got_http(d, msg, at, events)
            if d.http is not None and d.reader.streaming and d.mode is Mode.HTTP:
                self._sse = _SseBody(SseDecoder(max_event=self.max_payload), d.reader.offset, d.reader.buf[d.reader.pos:])

    # -- server-sent events -----------------------------------------------------------------

    def _sse_body(self, d: _Direction, at: float, events: list[Event], *, ended: bool) -> bool:
        """Decode the event-stream body read so far; False if decoding this direction stopped."""
        body = self._sse
        assert body is not None  # called only while an event stream is read
        sse = body.decoder
        for stream_offset, data in d.reader.take_body():
            base = sse.offset
            try:
                blocks, err = sse.feed(data), None
            except SseError as e:
                blocks, err = e.events, e  # the events before the error are not lost
            for block in blocks:
                end = stream_offset + (block.offset + block.wire_size - base)
                size = end - body.start
                raw = bytes(body.raw[:size])
                del body.raw[:size]
                events.append(SseEvent(d.sender, at, block, body.start, size, raw, self.connection))
                body.start = end
            if err is not None:
                self._fatal(d, at, events, err.message, body.start, err.kind)
                return False
        if ended:
            self._sse_end(d, at, events, d.reader.offset)
        return True

    def _sse_end(self, d: _Direction, at: float, events: list[Event], end: int) -> None:
        body, self._sse = self._sse, None
        assert body is not None  # called only while an event stream is read
        size = end - body.start
        events.append(SseEnd(d.sender, at, body.start, size, body.decoder.eof(), bytes(body.raw[:size]),
                             self.connection))

    def _got_http(self, d: _Direction, msg: Request | Response, at: float, events: list[Event]) -> None:
        if isinstance(msg, Request):  # the client's reader reads requests, the server's responses
            self.request = msg
            events.append(HttpRequest("client", at, msg, self.connection))
            asks = "upgrade" in msg.headers.tokens("Connection") and "Upgrade" in msg.headers
            if self._early:  # its response was already fed
                self._early -= 1
                if not self._early and self._switch_client_after_request:
                    self._switch_client_after_request = False
                    rest, offset = d.reader.take_rest()
                    self._start_frames(d, offset)
                    if rest:
                        self._frames(d, rest, at, events)
                return
            self._pending.append((msg.method, asks))
            if asks:
                # A client waits for the answer before it sends anything else (RFC 6455 section 4.1).
                d.mode = Mode.HOLD
                rest, d.held_offset = d.reader.take_rest()
                d.held = [rest] if rest else []
            return
        self.response = msg
        events.append(HttpResponse("server", at, msg, self.connection))
        if 100 <= msg.status < 200 and msg.status != 101:
            return  # interim response (100 Continue): the final one follows
        if self._pending:
            method, asked = self._pending.popleft()
        else:
            method, asked = "GET", False
            self._early += 1
            events.append(DecodeError("server", at, f"the server's {msg.status} response was fed before any "
                                      f"request it could answer; it is paired with the client's next request",
                                      d.reader.offset - len(msg.raw) - msg.body_wire_size if d.http else 0,
                                      fatal=False, connection=self.connection, kind=ErrorKind.OUT_OF_ORDER))
        if msg.status == 101:
            self._switch(msg, at, events)
        elif asked:
            self.state = next_state(self.state, Trigger.REFUSED)
            self._release_client(at, events)

    def _release_client(self, at: float, events: list[Event]) -> None:
        c = self._dirs["client"]
        if c.mode is not Mode.HOLD:
            return
        c.mode = Mode.HTTP
        held, c.held = c.held, []
        c.held_size = 0
        c.reader.base = c.held_offset  # the held bytes are read again from where they started
        for chunk in held:
            c.reader.feed(chunk)
        self._http(c, at, events)

    def _switch(self, response: Response, at: float, events: list[Event]) -> None:
        s, c = self._dirs["server"], self._dirs["client"]
        rest, rest_at = s.reader.take_rest()
        if "websocket" not in response.headers.tokens("Upgrade"):
            for d in (s, c):
                if d.mode is not Mode.DEAD:
                    d.mode = Mode.RAW
            events.append(DecodeError("server", at, f"101 switches to {response.headers.get('Upgrade')!r}, not "
                                      f"WebSocket: the bytes after it are not decoded", rest_at, fatal=False,
                                      connection=self.connection, kind=ErrorKind.NOT_WEBSOCKET))
            return
        self.upgraded = True
        self.state = next_state(self.state, Trigger.SWITCHING_PROTOCOLS)
        try:
            self.deflate = negotiate_deflate(self.request.headers if self.request else None, response.headers)
        except ProtocolError as e:
            self.deflate = None
            events.append(DecodeError("server", at, f"permessage-deflate negotiation: {e}", rest_at - len(response.raw),
                                      fatal=False, connection=self.connection, kind=e.kind))
        if c.mode is Mode.HTTP:
            if self._early:
                # the client's request has not been fed yet: it is read first, then frames
                self._switch_client_after_request = True
            else:  # a 101 to a request that did not ask for it: take what the client sent after it
                chunk, c.held_offset = c.reader.take_rest()
                c.held = [chunk] if chunk else []
        for d, offset in ((c, c.held_offset), (s, rest_at)):
            if d.mode is Mode.DEAD or (d is c and self._switch_client_after_request):
                continue
            self._start_frames(d, offset)
        if c.mode is Mode.WS and c.held:
            held, c.held = c.held, []
            self._frames(c, b"".join(held), at, events)
        if s.mode is Mode.WS and rest:
            self._frames(s, rest, at, events)

    def _start_frames(self, d: _Direction, offset: int) -> None:
        """Switch one direction from HTTP to frames (after the 101), starting at stream ``offset``."""
        p = self.deflate
        d.mode = Mode.WS
        d.http = None
        d.held_size = 0
        d.frames = FrameDecoder(d.max_payload, allow_rsv1=p is not None,
                                expect_masked=d.sender == "client", offset=offset)
        d.messages = MessageAssembler(
            deflate=p is not None, no_context_takeover=bool(p and p.no_context_takeover(d.sender)),
            window_bits=p.window_bits(d.sender) if p else 15, max_size=d.max_payload,
            max_frames=self.max_frames)

    # -- frames -----------------------------------------------------------------------------

    def _frames(self, d: _Direction, data: bytes, at: float, events: list[Event],
                tally: Summary | None = None) -> None:
        # the hot path: the slots read directly (the properties' checks cost a call per chunk)
        decoder, assembler = d.frames, d.messages
        assert decoder is not None and assembler is not None, d.mode
        try:
            frames = decoder.feed(data)
            err = None
        except FrameError as e:
            frames, err = e.frames, e
        sender = d.sender
        add = assembler.add
        append = events.append
        conn = self.connection
        stats = None if tally is None else tally[sender]
        for f in frames:
            if stats is None:
                append(FrameEvent(sender, at, f, f.offset, conn))
            else:
                stats.add_frame(f)
            if d.closed_frame:
                append(DecodeError(sender, at, f"{opcode_name(f.opcode)} frame after this side's CLOSE frame: nothing may "
                                   f"follow a close (RFC 6455 section 5.5.1)", f.offset, fatal=False,
                                   connection=self.connection, kind=ErrorKind.AFTER_CLOSE))
            try:
                m = add(f)
            except MessageError as e:
                fr = e.frame if e.frame is not None else f
                off = fr.offset
                if e.frame_offset is not None and not (fr.rsv1 and fr.opcode != 0):
                    off += len(fr.header) + e.frame_offset
                append(DecodeError(sender, at, e.message, off, fatal=False, connection=self.connection, kind=e.kind))
                continue
            if m is not None:
                if stats is None:
                    append(MessageEvent(sender, at, m, conn))
                else:
                    stats.add_message(m)
                if m.kind == "close" and not d.closed_frame:
                    d.closed_frame = True
                    self.state = next_state(self.state, Trigger.CLIENT_CLOSE if sender == "client" else Trigger.SERVER_CLOSE)
        if err is not None:
            self._fatal(d, at, events, err.message, err.offset, err.kind)

    def _fatal(self, d: _Direction, at: float, events: list[Event], message: str, offset: int | None,
               kind: ErrorKind, status: int | None = None) -> None:
        events.append(DecodeError(d.sender, at, message, d.received if offset is None else offset, fatal=True,
                                  status=status, connection=self.connection, kind=kind))
        d.mode = Mode.DEAD
        d.http = None
        if d.sender == "server":
            self._sse = None
        d.frames = None
        d.messages = None
        d.held = []
