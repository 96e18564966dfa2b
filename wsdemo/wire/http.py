"""HTTP/1.1 messages on one direction of a connection (RFC 9112): heads, then bodies framed by
Content-Length, chunked transfer coding, or the end of the connection.

Used by ConnectionDecoder for plain keep-alive connections (the polling lessons count these
bytes) and for the opening handshake.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable

from .errors import ErrorKind, HandshakeError, HttpError
from .handshake import (DEFAULT_MAX_HEAD, Request, Response, check_start, find_head_end, leading_empty_lines,
                        parse_head)

_MAX_LINE = 4096  # chunk-size and trailer lines
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts '²'
_HEX = re.compile(rb"[0-9A-Fa-f]+")


class HttpReader:
    """Reads HTTP messages from one direction: ``feed(data)``, then ``next(...)`` until None.

    ``next`` returns a complete Request/Response (head and body), or None when more bytes are
    needed. The caller decides between messages (a 101 ends HTTP), and ``take_rest`` hands the
    bytes not consumed to whatever comes next. Offsets count from the start of the direction.
    """

    def __init__(self, *, response: bool, max_head: int = DEFAULT_MAX_HEAD, max_body: int = 1 << 26):
        self.response = response
        self.max_head = max_head
        self.max_body = max_body
        self.buf = bytearray()
        self.pos = 0  # parse position in buf
        self.base = 0  # stream offset of buf[0]
        self._scan = 0  # where the search for the end of the head resumes
        self.message: Request | Response | None = None  # head whose body is being read
        self.mode = ""  # "length" | "chunked" | "eof" while reading a body
        self._remaining = 0
        self._chunk_state = ""
        self._body = bytearray()  # one buffer: a million 1-byte chunks must not become a million objects
        self._trailer = 0  # bytes of the chunked trailer section so far
        self._body_start = 0
        #: ``stream(head) -> bool``: bodies it picks are handed over as they arrive (``take_body``)
        #: instead of kept whole: an event stream never ends and must not be buffered
        self.stream: Callable[[Request | Response], bool] | None = None
        self._pieces: list[tuple[int, bytes]] | None = None  # (stream offset, bytes) of a streamed body

    @property
    def offset(self) -> int:
        """Stream offset of the next byte to parse."""
        return self.base + self.pos

    @property
    def buffered(self) -> int:
        return len(self.buf) - self.pos

    def feed(self, data: bytes) -> None:
        if self.pos and self.pos == len(self.buf):
            self.base += self.pos
            self.buf.clear()
            self.pos = self._scan = 0
        elif self.pos > 65536 and self.pos * 2 > len(self.buf):
            del self.buf[:self.pos]
            self.base += self.pos
            self._scan = max(0, self._scan - self.pos)
            self.pos = 0
        self.buf += data

    def take_rest(self) -> tuple[bytes, int]:
        """(unparsed bytes, their stream offset); the reader is left empty."""
        rest = bytes(self.buf[self.pos:])
        at = self.offset
        self.base = at + len(rest)
        self.buf.clear()
        self.pos = self._scan = 0
        return rest, at

    def next(self, request_method: str = "GET") -> Request | Response | None:
        """The next complete message, or None. For a response, ``request_method`` is the method of
        the request it answers (HEAD responses have no body)."""
        if self.message is None:
            msg = self._head()
            if msg is None:
                return None
            mode = self._framing(msg, request_method)
            if mode is None:
                return msg
            if self.stream is not None and self.stream(msg):
                # The head now; the body follows through take_body(), and next() returns the
                # message (a copy: the head handed out is not changed later) once it ends.
                self.message = dataclasses.replace(msg)
                self._pieces = []
                return msg
            self.message = msg
        msg = self._body_step()
        return msg

    @property
    def streaming(self) -> bool:
        """True while a body picked by ``stream`` is being read."""
        return self._pieces is not None

    def take_body(self) -> list[tuple[int, bytes]]:
        """The streamed body's bytes read since the last call, as (stream offset, bytes) pieces
        (transfer coding removed: the gaps between pieces are chunk framing)."""
        pieces = self._pieces or []
        if self._pieces is not None:
            self._pieces = [] if self.message is not None else None
        return pieces

    def _head(self) -> Request | Response | None:
        buf = self.buf
        pos = self.pos
        what = "response" if self.response else "request"
        # empty lines before a request line are skipped (RFC 9112 section 2.2) but stay in ``raw``
        start = pos if self.response else pos + leading_empty_lines(buf, pos, min(len(buf), pos + self.max_head + 1))
        waiting = start == len(buf) or (start + 1 == len(buf) and buf[start] == 0x0D)  # only empty lines so far
        if not waiting and self._scan <= start + 32:
            # Name non-HTTP bytes on the first chunk, before any size limit: the same error
            # however the bytes were cut.
            check_start(buf[start:start + 33], response=self.response, offset=self.base + start)
        end = -1 if waiting else find_head_end(buf, max(start, self._scan - 3), min(len(buf), pos + self.max_head + 4))
        if end < 0 or end - pos > self.max_head:
            if len(buf) - pos > self.max_head:
                raise HandshakeError(f"HTTP {what} head is larger than the limit of {self.max_head} bytes",
                                     self.offset + self.max_head, kind=ErrorKind.HEAD_TOO_LARGE)
            self._scan = len(buf)
            return None
        msg = parse_head(bytes(buf[pos:end]), response=self.response, offset=self.offset)
        self.pos = end
        self._scan = end
        return msg

    def _framing(self, msg: Request | Response, request_method: str) -> str | None:
        """Decide how the body ends (RFC 9112 section 6.3); None when there is no body."""
        h = msg.headers
        self._body = bytearray()
        self._trailer = 0
        self._body_start = self.offset
        if isinstance(msg, Response):
            if 100 <= msg.status < 200 or msg.status in (204, 304) or request_method == "HEAD":
                return None
            if request_method == "CONNECT" and 200 <= msg.status < 300:
                return None
        te = h.tokens("Transfer-Encoding")
        if te:
            if te[-1] != "chunked":
                if self.response:
                    self.mode = "eof"
                    return self.mode
                raise HttpError(f"request Transfer-Encoding {h.get('Transfer-Encoding')!r} does not end with "
                                f"'chunked': the body length cannot be known (RFC 9112 section 6.3)", self.offset, kind=ErrorKind.BAD_BODY_FRAMING)
            self.mode = "chunked"
            self._chunk_state = "size"
            return self.mode
        lengths = h.get_all("Content-Length")
        if lengths:
            values = {part.strip() for v in lengths for part in v.split(",")}
            if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
                raise HttpError(f"invalid Content-Length {', '.join(lengths)!r} (RFC 9112 section 6.3)",
                                self.offset, kind=ErrorKind.BAD_BODY_FRAMING)
            n = int(values.pop())
            if n > self.max_body:
                raise HttpError(f"Content-Length {n} exceeds the decoder's body limit of {self.max_body} bytes",
                                self.offset, code=1009, kind=ErrorKind.BODY_TOO_LARGE)
            if n == 0:
                return None
            self.mode = "length"
            self._remaining = n
            return self.mode
        if self.response:
            self.mode = "eof"  # the body runs until the server closes the connection
            return self.mode
        return None

    def _take(self, n: int) -> bytes:
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += len(data)
        return data

    @property
    def _body_size(self) -> int:
        return len(self._body)

    def _add_body(self, data: bytes) -> None:
        if self._pieces is not None:  # streamed: the caller takes it (and bounds what it keeps)
            if data:
                self._pieces.append((self.base + self.pos - len(data), data))
            return
        self._body += data
        if len(self._body) > self.max_body:
            raise HttpError(f"HTTP body exceeds the decoder's limit of {self.max_body} bytes", self.offset,
                            code=1009, kind=ErrorKind.BODY_TOO_LARGE)

    def _done(self) -> Request | Response:
        msg = self.message
        assert msg is not None  # called only while a body is read
        msg.body = bytes(self._body)
        msg.wire_body_size = self.offset - self._body_start
        self.message = None
        self.mode = ""
        self._body = bytearray()
        return msg

    def _body_step(self) -> Request | Response | None:
        mode = self.mode
        if mode == "length":
            avail = len(self.buf) - self.pos
            if avail:
                chunk = self._take(min(avail, self._remaining))
                self._add_body(chunk)
                self._remaining -= len(chunk)
            return self._done() if self._remaining == 0 else None
        if mode == "eof":
            if len(self.buf) > self.pos:
                self._add_body(self._take(len(self.buf) - self.pos))
            return None
        # chunked (RFC 9112 section 7.1)
        while True:
            st = self._chunk_state
            if st == "size":
                line = self._line()
                if line is None:
                    return None
                size_text = line.split(b";", 1)[0].strip()
                try:
                    if not _HEX.fullmatch(size_text):  # int() would also take "0x10", "1_0", " +1"
                        raise ValueError
                    size = int(size_text, 16)
                except ValueError:
                    raise HttpError(f"invalid chunk size {bytes(size_text[:20])!r} (RFC 9112 section 7.1)",
                                    self.offset - len(line) - 2, kind=ErrorKind.BAD_BODY_FRAMING) from None
                if size == 0:
                    self._chunk_state = "trailer"
                else:
                    self._remaining = size
                    self._chunk_state = "data"
            elif st == "data":
                avail = len(self.buf) - self.pos
                if not avail:
                    return None
                chunk = self._take(min(avail, self._remaining))
                self._add_body(chunk)
                self._remaining -= len(chunk)
                if self._remaining:
                    return None
                self._chunk_state = "crlf"
            elif st == "crlf":
                line = self._line()
                if line is None:
                    return None
                if line:
                    raise HttpError("chunk data is longer than its size said: expected CRLF after it "
                                    "(RFC 9112 section 7.1)", self.offset - len(line) - 2, kind=ErrorKind.BAD_BODY_FRAMING)
                self._chunk_state = "size"
            else:  # trailer section: lines until an empty one
                line = self._line()
                if line is None:
                    return None
                if not line:
                    return self._done()
                self._trailer += len(line) + 2
                if self._trailer > self.max_head:
                    raise HttpError(f"the trailer section after the last chunk is longer than the head limit of "
                                    f"{self.max_head} bytes and has not ended (RFC 9112 section 7.1.2)",
                                    self.offset, kind=ErrorKind.BAD_BODY_FRAMING)

    def _line(self) -> bytes | None:
        nl = self.buf.find(b"\n", self.pos, self.pos + _MAX_LINE)
        if nl < 0:
            if len(self.buf) - self.pos >= _MAX_LINE:
                raise HttpError(f"chunked body line longer than {_MAX_LINE} bytes", self.offset, kind=ErrorKind.BAD_BODY_FRAMING)
            return None
        line = bytes(self.buf[self.pos:nl])
        self.pos = nl + 1
        return line[:-1] if line.endswith(b"\r") else line

    def eof(self) -> Request | Response | None:
        """The direction closed. Returns a message that ended with the connection (read-until-EOF
        body), or None; raises if it closed inside a head or a framed body."""
        what = "response" if self.response else "request"
        if self.message is not None:
            if self.mode == "eof":
                return self._done()
            if self.mode == "length":
                got = self._body_size
                raise HttpError(f"connection closed {got} bytes into a {got + self._remaining}-byte {what} body "
                                f"(Content-Length)", self.offset, kind=ErrorKind.TRUNCATED)
            raise HttpError(f"connection closed inside a chunked {what} body ({self._body_size} bytes of data "
                            f"so far, no last chunk)", self.offset, kind=ErrorKind.TRUNCATED)
        left = len(self.buf) - self.pos
        if left and not self.response and leading_empty_lines(self.buf, self.pos) == left:
            return None  # empty lines after the last request: allowed (RFC 9112 section 2.2)
        if len(self.buf) > self.pos:
            raise HandshakeError(f"connection closed inside an HTTP {what} head "
                                 f"({len(self.buf) - self.pos} bytes, no empty line)", self.offset, kind=ErrorKind.TRUNCATED)
        return None
