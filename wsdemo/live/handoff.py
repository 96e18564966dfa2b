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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.iostream

if TYPE_CHECKING:
    from .link import Link
    from .tap import Tap


class TappedStream(tornado.iostream.IOStream):
    """Tornado's stream for one accepted connection; when its peer is one of the tap's
    links, what Tornado writes goes to that link directly (``write_to_fd`` is the method
    Tornado's streams leave to subclasses)."""

    def __init__(self, sock: Any, tap: "Tap", **kwargs: Any):
        super().__init__(sock, **kwargs)
        self._tap = tap
        self._link: "Link | None" = None
        self._looked = False

    def write_to_fd(self, data: memoryview) -> int:
        if not self._looked:
            # At the first write: by then the tap has relayed the request through its side
            # of this socket, so its link is known (before, a connect may still be under way).
            self._looked = True
            try:
                self._link = self._tap.link_from_upstream(self.socket.getpeername()[:2])
            except OSError:  # the peer is gone: the socket says so below
                self._link = None
        link = self._link
        if link is None:
            return super().write_to_fd(data)
        if link.from_app(data):
            return len(data)
        sent = super().write_to_fd(data)
        link.through_socket(sent)
        return sent


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
