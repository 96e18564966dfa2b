"""Tornado's WebSocket protocol, adapted so that the wire layer decides every RFC rule.

Tornado reads frames with its own code, which is lenient where RFC 6455 is strict (close
codes that may not be sent are echoed back, a 64-bit length with its top bit set is "too
big", unmasked client frames pass) and has bugs we cannot wait for: a ping between the
fragments of a compressed message resets its "compressed" flag (the message then fails
as bad UTF-8 or arrives still deflated), and a permessage-deflate offer it cannot take
is a 500 with a traceback. So the server reads the bytes Tornado would and hands them to
the same decoder the tap uses: ``wire.FrameDecoder`` and ``wire.MessageAssembler``. A
broken rule becomes a Close frame with the code and reason the wire layer names.

Tornado still does the handshake, the sending side (framing, compression, pongs, close)
and the callbacks. This is the one module that touches Tornado's private side; every
private name it relies on is in ``TORNADO_PRIVATE`` and checked, with the supported
versions (``TORNADO_SUPPORTED``, the bound in pyproject.toml), by
tests/live/test_tornado_guard.py: an upgrade fails there, near the cause.
"""

from __future__ import annotations

import struct
from typing import Any

import tornado.escape
import tornado.httputil
import tornado.websocket
from tornado.iostream import StreamClosedError

from ... import wire
from ...wire.deflate import NAME as DEFLATE, deflate_params

#: Tornado versions this adaptation was written for; pyproject.toml pins the same range.
TORNADO_SUPPORTED = ">=6.4,<6.7"

#: What this module takes from ``tornado.websocket.WebSocketProtocol13`` beyond its public API:
#: methods it overrides or calls, and attributes it reads or sets.
TORNADO_PRIVATE = {
    "overridden": ("_receive_frame", "_parse_extensions_header", "_abort", "_run_callback",
                   "write_message"),
    # _abort is also called through abort(), by the kernel's client and by Server.stop.
    "called": ("_send_pong", "_write_frame", "close", "_abort"),
    "attributes": ("stream", "handler", "client_terminated", "server_terminated", "close_code",
                   "close_reason", "_received_pong", "_wire_bytes_in", "_message_bytes_in",
                   "_message_bytes_out", "_compressor", "RSV1"),
    # IOStream: bytes queued for the socket (pending_write_bytes).
    "stream_attributes": ("_write_buffer",),
}

def abort(protocol: tornado.websocket.WebSocketProtocol | None) -> None:
    """Drop a WebSocket connection at once, without waiting for a closing handshake (Tornado's
    private ``_abort``; a server connection adapted here first sends a Close frame saying why)."""
    if protocol is not None:
        protocol._abort()


def pending_write_bytes(stream) -> int:
    """Bytes queued in Tornado's IOStream that the kernel has not taken yet (0 once closed).

    Tornado has no public measure of this (``IOStream.writing()`` only says whether it is
    zero); ``_write_buffer`` is a private ``_StreamBuffer`` with ``__len__`` in Tornado 6.x."""
    if stream is None or stream.closed():
        return 0
    return len(stream._write_buffer)


MAX_CLOSE_REASON = 123  # bytes: a control frame carries 125, the code takes 2 (RFC 6455 section 5.5)


def close_payload(code: int, reason: str) -> bytes:
    """The payload of a Close frame; a reason longer than fits is shortened in the middle,
    keeping a trailing "(RFC ... section ...)" so the client still learns which rule."""
    data = reason.encode()
    if len(data) > MAX_CLOSE_REASON:
        head, sep, cite = reason.rpartition(" (RFC ")
        tail = (sep + cite) if sep and len((sep + cite).encode()) < 60 else ""
        room = MAX_CLOSE_REASON - len(tail.encode()) - len("…".encode())
        head = (head if tail else reason).encode()[:room].decode("utf-8", "ignore")
        data = (head + "…" + tail).encode()
    return struct.pack(">H", code) + data


def choose_deflate(values: list[str]) -> wire.DeflateParams | None:
    """The first permessage-deflate offer in ``Sec-WebSocket-Extensions`` the server can accept.

    RFC 7692 section 5: a server declines an offer with an unknown parameter, an invalid
    value or a repeated parameter, or one asking for what it cannot do, by leaving it out
    of the response. zlib cannot compress with an 8-bit window, so an offer that limits
    the server to ``server_max_window_bits=8`` is declined as well. A header that does not
    parse at all is declined whole: the connection goes on without compression.
    """
    try:
        offers = wire.parse_extensions(values)
    except wire.HandshakeError:
        return None
    for name, params in offers:
        if name != DEFLATE:
            continue
        try:
            params_ok = deflate_params(params, response=False)
        except wire.HandshakeError:
            continue
        if params_ok.server_max_window_bits == 8:
            continue
        return params_ok
    return None


def _tornado_params(params: wire.DeflateParams) -> dict[str, str | None]:
    """The accepted offer in the shape Tornado echoes in its response (bare names as None)."""
    out: dict[str, str | None] = {}
    for name in ("client_no_context_takeover", "server_no_context_takeover"):
        if getattr(params, name):
            out[name] = None
    for name in ("client_max_window_bits", "server_max_window_bits"):
        bits = getattr(params, name)
        if bits is not None:
            out[name] = str(bits)
    return out


def handshake_problems(request: tornado.httputil.HTTPServerRequest) -> list[wire.Problem]:
    """Every RFC 6455 section 4 rule a Tornado request breaks, by ``wire.check_handshake``."""
    headers = wire.Headers(list(request.headers.get_all()))
    head = wire.Request(request.method or "", request.uri or "", request.version, headers, raw=b"")
    return wire.check_handshake(head)


class Protocol13(tornado.websocket.WebSocketProtocol13):
    """Tornado's protocol reading frames with the wire layer, failing with close codes.

    Tornado calls ``_abort()`` for a transport failure; here it first sends a Close frame
    with the code and reason of the failure, when there is one: 1002 for a broken protocol
    rule, 1007 for bad UTF-8 or deflate data, 1009 for a message over the limit, 1011 when
    our own handler raised. ``fail()`` is the way in for the handlers (rate limit: 1008).
    """

    # adapt() is called only by the server's handlers (apps/base.py): the delegate Tornado
    # types as its client-or-server protocol is a WebSocketHandler here.
    handler: tornado.websocket.WebSocketHandler
    _fail_code = 1002
    _fail_reason = "protocol error"
    _deflate: wire.DeflateParams | None = None
    _frames: wire.FrameDecoder | None = None
    _messages: wire.MessageAssembler | None = None

    def fail(self, code: int, reason: str) -> None:
        """Send a Close frame with ``code`` and ``reason``, then drop the connection at once
        (RFC 6455 section 7.1.7): nothing more is read from a client that broke the rules."""
        self._fail_code, self._fail_reason = code, reason
        self._abort()

    def _abort(self) -> None:
        stream = self.stream
        if stream is not None and not stream.closed() and not self.server_terminated:
            try:
                self._write_frame(True, 0x8, close_payload(self._fail_code, self._fail_reason))
            except StreamClosedError:
                pass
            self.server_terminated = True
        super()._abort()

    def _parse_extensions_header(self, headers: tornado.httputil.HTTPHeaders) -> list[tuple[str, dict[str, Any]]]:
        # Tornado accepts the first permessage-deflate element this returns and raises (a 500)
        # on parameters it cannot take: hand it only an offer the wire layer validated.
        self._deflate = None
        if self.handler.get_compression_options() is None:
            return []
        self._deflate = choose_deflate(headers.get_list("Sec-WebSocket-Extensions"))
        return [] if self._deflate is None else [(DEFLATE, _tornado_params(self._deflate))]

    def _start_decoding(self) -> tuple[wire.FrameDecoder, wire.MessageAssembler]:
        limit = self.handler.max_message_size
        self._limit = limit
        self._held = 0  # payload bytes of the fragmented message in progress
        deflate = self._deflate
        self._frames = wire.FrameDecoder(max_payload=limit, allow_rsv1=deflate is not None,
                                         expect_masked=True)
        if deflate is None:
            self._messages = wire.MessageAssembler(max_size=limit)
        else:
            self._messages = wire.MessageAssembler(
                deflate=True, no_context_takeover=deflate.client_no_context_takeover,
                window_bits=deflate.window_bits("client"), max_size=limit)
        return self._frames, self._messages

    async def _receive_frame(self) -> None:
        # Called in a loop by Tornado's _receive_frame_loop until client_terminated: one frame.
        # Each part is read exactly (as Tornado does: its stream buffers a slow sender's bytes in
        # one place) and fed to the decoder, which checks every rule as soon as the part that
        # breaks it is in: an unmasked frame or a bad opcode after 2 bytes, a length after the
        # extended length, all before the payload is read. The stream is awaited here, not in a
        # helper coroutine: the wait for a frame's first bytes lasts until the client sends
        # again, and a coroutine per wait is one more object per frame for the collector.
        if self._frames is None or self._messages is None:
            decoder, assembler = self._start_decoding()
        else:
            decoder, assembler = self._frames, self._messages
        try:
            stream = self.stream
            head = await stream.read_bytes(2)
            self._wire_bytes_in += 2
            decoder.feed(head)
            n = head[1] & 0x7F
            if n >= 126:
                extended = await stream.read_bytes(2 if n == 126 else 8)
                self._wire_bytes_in += len(extended)
                decoder.feed(extended)
                n = int.from_bytes(extended, "big")
            if head[0] & 0x0F == 0 and self._held + n > self._limit:
                # Each fragment fits, the message does not: refuse before reading this one.
                self.fail(1009, f"message exceeds the limit of {self._limit} bytes")
                return
            # The mask key and the payload (the decoder refused an unmasked frame from its header).
            rest = await stream.read_bytes(4 + n)
            self._wire_bytes_in += 4 + n
            frames = decoder.feed(rest)
        except wire.FrameError as e:
            self.fail(e.code, e.message)
            return
        for frame in frames:  # exactly one
            try:
                message = assembler.add(frame)
            except wire.MessageError as e:
                self.fail(e.code, e.message)
                return
            if frame.opcode < 8:
                self._held = 0 if message is not None else self._held + frame.payload_len
            if message is not None:
                handled = self._dispatch(message)
                if handled is not None:
                    await handled

    def _dispatch(self, message: wire.Message):
        """Hand one complete message to the handler, as Tornado's _handle_message does."""
        kind, data = message.kind, message.data
        if kind in ("text", "binary"):
            self._message_bytes_in += len(data)
            return self._run_callback(self.handler.on_message, message.text if kind == "text" else data)
        if kind == "close":
            self.client_terminated = True
            self.close_code = message.close_code
            self.close_reason = message.close_reason if len(data) > 2 else None
            self.close(self.close_code)  # echo the code (RFC 6455 section 5.5.1)
        elif kind == "ping":
            # The handler sees the ping first, so a rate limit can close before the pong goes out.
            self._run_callback(self.handler.on_ping, data)
            self._send_pong(data)  # Tornado sends nothing once the server has closed
        elif kind == "pong":
            self._received_pong = True
            return self._run_callback(self.handler.on_pong, data)
        return None

    def write_message(self, message: str | bytes | dict[str, Any], binary: bool = False):
        """Tornado's write_message without its per-write Task. Tornado wraps the stream's
        Future in a coroutine run as a Task, only to rename StreamClosedError when awaited: a
        Task, its coroutine, Context, closure and callbacks, about ten objects the garbage
        collector tracks, for every frame. A cursor tick to a class of 50 is 50 frames;
        Tasks still in flight at a collection are promoted, and at full load they were most of
        what reached the oldest generation and set off its full, loop-stopping passes. So this
        returns the stream's own Future (Tornado already retrieves its exception): awaiting it
        raises StreamClosedError once the client is gone, where Tornado's raised
        WebSocketClosedError (a closed stream at the call still raises WebSocketClosedError).
        The bytes written are Tornado's, the same frame."""
        if isinstance(message, dict):
            message = tornado.escape.json_encode(message)
        message = tornado.escape.utf8(message)
        self._message_bytes_out += len(message)
        flags = 0
        if self._compressor:
            message = self._compressor.compress(message)
            flags |= self.RSV1
        try:
            return self._write_frame(True, 0x2 if binary else 0x1, message, flags=flags)
        except StreamClosedError:
            raise tornado.websocket.WebSocketClosedError() from None

    def _run_callback(self, callback, *args, **kwargs):
        # Our handler failing is a server error, not the client's fault.
        self._fail_code, self._fail_reason = 1011, "server error"
        try:
            return super()._run_callback(callback, *args, **kwargs)
        finally:
            self._fail_code, self._fail_reason = 1002, "protocol error"


def adapt(protocol: tornado.websocket.WebSocketProtocol | None) -> Protocol13 | None:
    """Swap the adaptation onto the protocol object Tornado just made (before the handshake)."""
    if protocol is not None:
        if not isinstance(protocol, tornado.websocket.WebSocketProtocol13):
            raise TypeError(f"unexpected Tornado protocol {type(protocol).__name__}")
        protocol.__class__ = Protocol13
    return protocol  # type: ignore[return-value]
