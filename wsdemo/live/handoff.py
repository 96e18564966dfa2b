"""What Tornado writes to the tap is handed over in the same call, not read back a loop pass later.

The tap and the app share one event loop. Through the loopback socket alone, every chunk
Tornado wrote waited for the loop's next pass before the tap read and relayed it: a chat line
to 50 members reached the first only after Tornado had written all 50, and the last only
after the tap had read all 50 back (bench/classroom.py at 50 students: chat p99 1.5-3x the
direct run's). Handed over, each chunk is relayed and noted inside Tornado's own write, so
the tap's client gets it when a direct client would.

The socket stays the connection: requests come through it, and Tornado's FIN or close goes
through it, after every byte handed over before. Whenever the tap would not read a chunk at
once (its client reads slowly, network conditions hold too much, the link is ending), or
bytes sent through the socket are still unread, the chunk goes through the socket as before;
so flow control still reaches Tornado, and order holds (``Link.from_app``).

The other way too: what the tap reads from its client is handed to the app's stream, which
reads it in place of its socket (``TappedStream.from_tap``), in the pass the tap read it, as
a direct client's bytes would be. Measured with decoding switched off in a scratch copy (so
that only the relay differed), 50 students, three 30 s rounds a path: the tap's chat p99
0.75x direct and server CPU 1.09x with it, 1.69x and 1.23x without. Bytes the tap had to
send through the socket first (the request head, network conditions) are read first. Past
INBOX_HIGH bytes the app has not read, the tap stops reading its client, as a full socket
buffer would stop it; and a stream closed with bytes its client sent still unread closes
with a reset, as the kernel closes a socket with data unread.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.ioloop
import tornado.iostream

from .sides import LINGER_RESET

if TYPE_CHECKING:
    from .link import Link
    from .tap import Tap

log = logging.getLogger("wsdemo.tap")
_READ = tornado.ioloop.IOLoop.READ
# What the loop's selector calls when a stream's socket is readable: Tornado's own, not part
# of its public API. Should a Tornado come without it, bytes go through the socket as before.
_HANDLE_EVENTS = getattr(tornado.iostream.BaseIOStream, "_handle_events", None)
# Past this many bytes handed in and not read by the app, the tap stops reading its client
# (as a full socket buffer would stop it), until the app reads.
INBOX_HIGH = 256 * 1024


class TappedStream(tornado.iostream.IOStream):
    """Tornado's stream for one accepted connection; when its peer is one of the tap's
    links, what Tornado writes goes to that link directly (``write_to_fd`` is the method
    Tornado's streams leave to subclasses)."""

    def __init__(self, sock: Any, tap: "Tap", **kwargs: Any):
        super().__init__(sock, **kwargs)
        self._tap = tap
        self._link: "Link | None" = None
        self._looked = False
        self._inbox = bytearray()  # what the tap handed in for the app to read (from_tap)
        self.from_socket = 0  # bytes the app read through the socket itself

    def write_to_fd(self, data: memoryview) -> int:
        if not self._looked:
            # At the first write: by then the tap has relayed the request through its side
            # of this socket, so its link is known (before, a connect may still be under way).
            self._looked = True
            try:
                self._link = self._tap.link_from_upstream(self.socket.getpeername()[:2])
            except OSError:  # the peer is gone: the socket says so below
                self._link = None
            if self._link is not None:
                self._link.stream = self
        link = self._link
        if link is None:
            return super().write_to_fd(data)
        if link.from_app(data):
            return len(data)
        sent = super().write_to_fd(data)
        link.through_socket(sent)
        return sent

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        inbox = self._inbox
        if inbox:  # handed in after every byte sent through the socket was read: first
            n = min(len(buf), len(inbox))
            buf[:n] = inbox[:n]
            del inbox[:n]
            if not inbox and self._link is not None:
                self._link.inbox_drained()
            return n
        link = self._link
        if link is not None and link.upstream_quiet(self.from_socket):
            # Nothing to read there (Tornado reads until a read finds nothing, and tries one
            # before each frame it waits for): asking cost a system call and an exception per
            # chunk handed in. Whatever the tap sends or closes later wakes the selector.
            return None
        got = super().read_from_fd(buf)
        if got:
            self.from_socket += got
        return got

    def from_tap(self, data: bytes, sent_to_socket: int) -> bool:
        """The tap relays ``data`` from its client: the app reads it as if from the socket,
        at once if it is reading (what the selector would have called, a loop pass later).
        False when it must go through the socket: bytes sent that way (``sent_to_socket`` in
        all) are unread, and these must follow them; or the stream is closed."""
        if _HANDLE_EVENTS is None or self.from_socket != sent_to_socket or self.closed():
            return False
        self._inbox += data
        if self.reading():
            try:
                _HANDLE_EVENTS(self, self.fileno(), _READ)
            except Exception:  # Tornado closed the stream and logged why; the tap reads on
                log.debug("tap: the app's stream failed on handed-in bytes", exc_info=True)
        return True

    def close_fd(self) -> None:
        link = self._link
        if self._inbox or (link is not None and link.client_unread()):
            # Closed with bytes its client sent and it never read (handed in, or still in the
            # tap's socket from the client): a direct client's bytes would be in this socket,
            # and the kernel resets a connection closed with data unread. So must the tap.
            try:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            except OSError:
                pass
        super().close_fd()

    @property
    def inbox_full(self) -> bool:
        return len(self._inbox) >= INBOX_HIGH


class TappedHTTPServer(tornado.httpserver.HTTPServer):
    """The app's HTTP server, handing what it writes to the tap's links (``tap``, set once
    the tap exists; connections accepted before go through their sockets only)."""

    tap: "Tap | None" = None

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        if self.tap is not None and type(stream) is tornado.iostream.IOStream:
            stream = TappedStream(stream.socket, self.tap, max_buffer_size=stream.max_buffer_size,
                                  read_chunk_size=stream.read_chunk_size,
                                  max_write_buffer_size=stream.max_write_buffer_size)
        super().handle_stream(stream, address)
