"""Messages (RFC 6455 section 5.4–5.6): fragments reassembled, control frames in between,
UTF-8 checked, close payloads parsed, permessage-deflate (RFC 7692) inflated.
"""

from __future__ import annotations

import codecs
import zlib

from .deflate import TAIL
from .close import Close, CloseCode
from .errors import ErrorKind, MessageError
from .frames import DEFAULT_MAX_PAYLOAD, Frame, Opcode, opcode_name
from .preview import preview

#: Default most frames one message may take. RFC 6455 sets no limit, but every frame kept costs
#: memory (a Frame object, ~250 bytes, even when empty): without a bound, millions of empty
#: continuation frames would turn a few megabytes of traffic into gigabytes in the decoder.
DEFAULT_MAX_FRAMES = 4096

_KINDS: dict[int, str] = {Opcode.TEXT: "text", Opcode.BINARY: "binary", Opcode.CLOSE: "close",
          Opcode.PING: "ping", Opcode.PONG: "pong"}


class Message:
    """One complete message: ``kind`` ('text'|'binary'|'ping'|'pong'|'close'), ``data`` (bytes,
    inflated), ``text`` (str for text messages), ``frames``, ``wire_size`` (bytes its frames
    took on the wire, headers included), ``close`` (a :class:`Close`) for close messages,
    and ``compressed`` when permessage-deflate was used."""

    __slots__ = ("kind", "data", "text", "frames", "wire_size", "close", "compressed")

    def __init__(self, kind: str, data: bytes, text: str | None = None, frames: list[Frame] | None = None,
                 wire_size: int = 0, close: Close | None = None, compressed: bool = False):
        self.kind = kind
        self.data = data
        self.text = text
        self.frames = frames if frames is not None else []
        self.wire_size = wire_size
        self.close = close
        self.compressed = compressed

    @property
    def close_code(self) -> int | None:
        """The code a close message carried; None for an empty close payload (reported as 1005,
        which is never on the wire) and for other messages."""
        close = self.close
        if close is None or close.code == CloseCode.NO_STATUS_RCVD:
            return None
        return close.code

    @property
    def close_reason(self) -> str | None:
        """The reason a close message carried ("" when none); None for other messages."""
        return None if self.close is None else self.close.reason

    @property
    def size(self) -> int:
        """Bytes of the (inflated) message data."""
        return len(self.data)

    @property
    def wire_payload_size(self) -> int:
        """Bytes of payload as sent (compressed, if it was): the frames' payloads without headers."""
        return sum(f.payload_len for f in self.frames)

    @property
    def is_control(self) -> bool:
        return self.kind in ("ping", "pong", "close")

    def _key(self) -> tuple[object, ...]:
        return (self.kind, self.data, self.text, self.frames, self.wire_size, self.close, self.compressed)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Message):
            return self._key() == other._key()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        if self.kind == "text":
            body = preview(self.data, self.text, 60, ellipsis_inside=True)
        elif self.kind == "close":
            body = "(no code)" if self.close_code is None else f"{self.close_code}"
            if self.close is not None and self.close.reason:
                body += f" {self.close.reason!r}"
        else:
            body = preview(self.data, None, 48)
        nf = len(self.frames)
        extra = f", {self.wire_payload_size} compressed" if self.compressed else ""
        return (f"{self.kind} {body} ({self.size} byte{'s' if self.size != 1 else ''}{extra}, "
                f"{nf} frame{'s' if nf != 1 else ''}, {self.wire_size} on the wire)").replace(" ()", "")

    def __repr__(self) -> str:
        return f"<Message {self}>"


class MessageAssembler:
    """Turns frames into messages: ``add(frame) -> Message | None``.

    Control frames may arrive between the fragments of a message and come back at once.
    With ``deflate`` the frames' RSV1 bit marks compressed messages, inflated with a context
    kept across messages unless ``no_context_takeover``. ``window_bits`` is the sender's
    negotiated window; ``max_size`` bounds a message (also after inflating: a decompression
    bomb stops at the limit) and ``max_frames`` the frames it may take. Errors raise
    MessageError and drop the message in progress; when a message breaks a limit, the rest of
    its continuation frames are skipped quietly (one error, not one per frame).
    """

    def __init__(self, deflate: bool = False, no_context_takeover: bool = False, *,
                 window_bits: int = 15, max_size: int = DEFAULT_MAX_PAYLOAD,
                 max_frames: int = DEFAULT_MAX_FRAMES):
        self.deflate = deflate
        self.no_context_takeover = no_context_takeover
        self.window_bits = window_bits
        self.max_size = max_size
        self.max_frames = max_frames
        self._skipping = False  # the message in progress broke a limit: its continuations are dropped
        self._frames: list[Frame] = []
        self._kind = ""
        self._compressed = False
        self._size = 0
        self._parts: list[bytes] = []
        self._text: list[str] = []
        self._utf8: codecs.IncrementalDecoder | None = None
        self._inflater: zlib._Decompress | None = None

    @property
    def in_progress(self) -> bool:
        """Is a fragmented message waiting for more frames?"""
        return bool(self._frames) or self._skipping

    def reset(self) -> None:
        self._frames = []
        self._parts = []
        self._text = []
        self._utf8 = None
        self._size = 0

    def add(self, frame: Frame) -> Message | None:
        op = frame.opcode
        if op >= 8:
            return self._control(frame)
        if op == 0:
            if not self._frames:
                if self._skipping:  # the rest of a message already reported as over a limit
                    self._skipping = not frame.fin
                    return None
                raise MessageError("continuation frame with no fragmented message in progress "
                                   "(RFC 6455 section 5.4)", frame=frame, kind=ErrorKind.UNEXPECTED_CONTINUATION)
            if frame.rsv1:
                self._give_up(frame)
                raise MessageError("RSV1 is set on a continuation frame: permessage-deflate marks only the "
                                   "first frame of a message (RFC 7692 section 6.1)", frame=frame, kind=ErrorKind.COMPRESSED_CONTINUATION)
        else:
            if self._frames or self._skipping:
                self.reset()
                self._skipping = False
                raise MessageError(f"new {opcode_name(op)} frame while a fragmented message is in progress: a "
                                   f"continuation frame was expected (RFC 6455 section 5.4)", frame=frame, kind=ErrorKind.EXPECTED_CONTINUATION)
            compressed = frame.rsv1 and self.deflate
            if frame.rsv1 and not self.deflate:
                raise MessageError("RSV1 is set but permessage-deflate was not negotiated "
                                   "(RFC 6455 section 5.2)", frame=frame, kind=ErrorKind.RSV1_NOT_NEGOTIATED)
            if frame.fin and not compressed:  # the common case: one frame, one message
                payload = frame.payload
                if frame.payload_len > self.max_size:
                    raise MessageError(f"message of {frame.payload_len} bytes exceeds the limit of "
                                       f"{self.max_size} bytes", code=1009, frame=frame, kind=ErrorKind.MESSAGE_TOO_LARGE)
                if op == 1:
                    try:
                        text = payload.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise MessageError(f"text message is not valid UTF-8 at byte {e.start} "
                                           f"({e.reason}) (RFC 6455 section 8.1)", e.start, code=1007,
                                           frame=frame, frame_offset=e.start, kind=ErrorKind.INVALID_UTF8) from None
                    return Message("text", payload, text, [frame], len(frame.header) + frame.payload_len)
                return Message("binary", payload, None, [frame], len(frame.header) + frame.payload_len)
            self._kind = "text" if op == 1 else "binary"
            self._compressed = compressed
            if op == 1 and not compressed:
                self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        frames = self._frames
        frames.append(frame)
        payload = frame.payload
        self._size += len(payload)
        if self._size > self.max_size:
            self._give_up(frame)
            raise MessageError(f"message exceeds the limit of {self.max_size} bytes", code=1009, frame=frame, kind=ErrorKind.MESSAGE_TOO_LARGE)
        if len(frames) > self.max_frames:
            self._give_up(frame)
            raise MessageError(f"message takes more than {self.max_frames} frames, the decoder's limit per "
                               f"message (each frame kept costs memory, even an empty one); the rest of "
                               f"this message is skipped", code=1009, frame=frame, kind=ErrorKind.TOO_MANY_FRAMES)
        self._parts.append(payload)
        if self._utf8 is not None:
            # bytes of a code point cut by the previous fragment are decoded together with this one
            carried = len(self._utf8.getstate()[0])
            before = self._size - len(payload) - carried
            try:
                self._text.append(self._utf8.decode(payload, frame.fin))
            except UnicodeDecodeError as e:
                self._give_up(frame)
                where = before + e.start
                raise MessageError(f"text message is not valid UTF-8 at byte {where} ({e.reason}) "
                                   f"(RFC 6455 section 8.1)", where, code=1007, frame=frame,
                                   frame_offset=max(e.start - carried, 0), kind=ErrorKind.INVALID_UTF8) from None
        if not frame.fin:
            return None
        return self._complete(frame)

    def _give_up(self, frame: Frame) -> None:
        """Drop the message in progress; its remaining continuation frames will be skipped."""
        self.reset()
        self._skipping = not frame.fin

    def _complete(self, last: Frame) -> Message:
        frames = self._frames
        data = b"".join(self._parts)
        kind = self._kind
        compressed = self._compressed
        text_parts = self._text
        self.reset()
        if compressed:
            data = self._inflate(data, last)
            text = None
            if kind == "text":
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise MessageError(f"inflated text message is not valid UTF-8 at byte {e.start} "
                                       f"({e.reason}) (RFC 6455 section 8.1)", e.start, code=1007,
                                       frame=frames[0], kind=ErrorKind.INVALID_UTF8) from None
        else:
            text = "".join(text_parts) if kind == "text" else None
        wire = sum(len(f.header) + f.payload_len for f in frames)
        return Message(kind, data, text, frames, wire, compressed=compressed)

    def _inflate(self, data: bytes, frame: Frame) -> bytes:
        d = self._inflater
        if d is None or self.no_context_takeover:
            # zlib never makes an 8-bit raw window (it uses 9), so a real 8-bit sender needs 9 here.
            d = self._inflater = zlib.decompressobj(wbits=-max(self.window_bits, 9))
        try:
            out = d.decompress(data + TAIL, self.max_size + 1)
        except zlib.error as e:
            self._inflater = None
            # zlib.error has no code, only words: a hint may read them (it changes nothing else)
            hint = (f" (a reference beyond the negotiated {1 << self.window_bits}-byte window?)"
                    if "distance" in str(e) else "")
            raise MessageError(f"permessage-deflate data does not inflate: {e}{hint} (RFC 7692 section 7.2.2)",
                               code=1007, frame=frame, kind=ErrorKind.INFLATE_FAILED) from None
        if len(out) > self.max_size or d.unconsumed_tail:
            self._inflater = None
            raise MessageError(f"inflated message exceeds the limit of {self.max_size} bytes "
                               f"({len(data)} compressed bytes; inflating stopped there)", code=1009, frame=frame, kind=ErrorKind.MESSAGE_TOO_LARGE)
        if d.eof:
            # The sender ended its deflate stream (BFINAL): the next message starts a new one.
            self._inflater = None
        return out

    def _control(self, frame: Frame) -> Message:
        op = frame.opcode
        payload = frame.payload
        wire = len(frame.header) + frame.payload_len
        if frame.rsv1:
            raise MessageError(f"RSV1 is set on a {opcode_name(op)} frame: control frames are never compressed "
                               f"(RFC 7692 section 6.1)", frame=frame, kind=ErrorKind.COMPRESSED_CONTROL)
        if op == Opcode.CLOSE:
            try:
                close = Close.parse(payload)
            except MessageError as e:
                e.frame = frame
                raise
            return Message("close", payload, None, [frame], wire, close=close)
        return Message(_KINDS.get(op, opcode_name(op)), payload, None, [frame], wire)
