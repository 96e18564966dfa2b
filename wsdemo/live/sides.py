"""The tap's two kinds of socket end: ``Side``, a plain TCP socket of a relayed connection,
and ``TlsSide``, a client's socket when the tap terminates TLS (as a load balancer does):
ciphertext goes through a MemoryBIO pair, so ``Connection.tls`` counts the bytes on the wire
while the relay, the lanes and the recording see the plain bytes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import wire

if TYPE_CHECKING:
    from .link import Link

log = logging.getLogger("wsdemo.tap")

# Seconds a closed connection may take to hand its last buffered bytes to a peer.
LINGER = 5.0
LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
# Bytes the kernel still holds for a socket's peer, sent or not but not yet acknowledged
# (Linux's SIOCOUTQ, the same number as TIOCOUTQ); elsewhere only asyncio's buffer is awaited.
# And bytes it holds from the peer, not read yet (FIONREAD; SIOCINQ on Linux).
if sys.platform.startswith("linux"):
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
    _FIONREAD: int | None = termios.FIONREAD
else:
    _SIOCOUTQ = _FIONREAD = None
_TCP_CLOSE = 7  # tcpi_state of a connection that is gone (reset): nothing more will be acknowledged
# Bytes a lane (one direction under network conditions) may hold before the tap stops reading
# from their sender, as a full network path would: flow control still reaches the sender.
MAX_HELD = 1 << 20


def http_refusal(status: bytes, text: str, retry: bool = True) -> bytes:
    body = text.encode()
    return (b"HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n%s"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (status, b"Retry-After: 5\r\n" if retry else b"", len(body), body))


def _queued(transport: asyncio.Transport, request: int | None, sent: bool) -> int:
    """What the kernel holds in one of the queues of ``transport``'s socket (``request``: the
    ioctl that counts it; None where there is none), 0 if unknown. ``sent``: the send queue,
    which is 0 once the connection was reset (nothing more will be acknowledged)."""
    if request is None:
        return 0
    try:
        sock = transport.get_extra_info("socket")
        if sent and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == _TCP_CLOSE:
            return 0
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0"))[0]
    except (AttributeError, OSError, ValueError):
        return 0


def unread(transport: asyncio.Transport) -> int:
    """Bytes the peer of ``transport``'s socket sent that wait there unread (0 if unknown)."""
    return _queued(transport, _FIONREAD, sent=False)


def unacked(transport: asyncio.Transport) -> int:
    """Bytes written to ``transport``'s socket that its peer has not acknowledged yet, and
    still may (0 once the connection was reset)."""
    return _queued(transport, _SIOCOUTQ, sent=True)


# What one read takes at most (asyncio's own max_size for a socket read).
READ_SIZE = 256 * 1024


class Side(asyncio.BufferedProtocol):
    """One socket of a relayed connection; ``sender`` is who sends what it reads.

    Read into the tap's one buffer and copied out at its length: a plain Protocol's read
    allocated READ_SIZE for every chunk and shrank it, ~15 us for a 60-byte cursor move
    (bench/classroom.py's profile). asyncio calls get_buffer, reads, then buffer_updated,
    with nothing in between, so one buffer serves every side of the tap."""

    def __init__(self, link: "Link", sender: str):
        self.link = link
        self.sender = sender
        self.transport: asyncio.Transport | None = None
        self.ending = False  # its peer is gone: it gets what is relayed, then its end
        self.error: OSError | None = None  # why the tap dropped it (see fail)
        self.write_paused = False  # its peer reads slower than the tap writes to it
        # The app's side only: bytes Tornado sent through this socket that the tap has not
        # read yet; while there are some, what Tornado writes next must follow them (handoff.py).
        self.in_socket = 0
        # ...and the other way: bytes the tap wrote to this socket (the app must read them
        # all before the tap hands it bytes directly: handoff.py).
        self.to_socket = 0
        if sender == "client" and type(self) is Side:
            # The first chunk is looked at once (a TLS ClientHello on this plain port?), then
            # this instance attribute goes and every later chunk takes the class's method.
            self.data_received = self._first_chunk  # type: ignore[method-assign]  # on purpose

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.link.made(self, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.link.tap._read_view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.link.tap._read_view[:nbytes].tobytes())

    def read_exact(self, read) -> bytes:
        """``read(buffer)`` (a socket's recv_into, an SSLObject's read) into the tap's one
        buffer, copied out at its length: the recording keeps chunks as they come, and a
        100-byte chunk left in a 256 KiB read's allocation would hold a page or more."""
        view = self.link.tap._read_view
        return view[:read(view)].tobytes()

    def data_received(self, data: bytes) -> None:
        if self.in_socket:
            self.in_socket = max(0, self.in_socket - len(data))
        self.take(data)

    def take(self, data: bytes) -> None:
        """Relay and note a chunk this side's peer sent: read from the socket, or handed over
        by the app as it wrote it (``Link.from_app``)."""
        link = self.link
        conn = link.conn
        if conn is None:  # refused in made(): its transport is closed and reads no more
            return
        if link.idle_timer is not None:
            link.last_read = link.tap._loop.time()
        if link.lanes is None:  # no network conditions
            link.relay(self, data)  # relay first...
            conn._note(self.sender, data)  # ...then note it for decoding
        else:
            link.lanes[self.sender].push(data, conn._note(self.sender, data))

    def send(self, data: bytes) -> None:
        """Write ``data`` to this side's socket (relayed from the other side)."""
        transport = self.transport
        assert transport is not None, "relayed to a side that is gone"
        self.to_socket += len(data)
        transport.write(data)

    def _first_chunk(self, data: bytes) -> None:
        del self.data_received
        conn = self.link.conn
        if data[:2] == b"\x16\x03" and conn is not None:  # a TLS record's header
            self.link.tls_on_plain(self, conn, data)
            return
        self.data_received(data)

    def eof_received(self):
        self.link.eof(self.sender)
        return True  # keep the other direction open (a half-close)

    def connection_lost(self, exc) -> None:
        exc = exc or self.error
        try:
            if exc is not None:
                self.drain()
        finally:
            self.link.lost(self, exc)

    def fail(self, exc: OSError) -> None:
        """A write to this socket failed where asyncio does not catch it (write_eof): its
        peer is gone, so drop it as asyncio drops a transport whose write failed."""
        self.error = exc
        if self.transport is not None:
            self.transport.abort()

    def drain(self) -> None:
        """Relay what the kernel still holds from this socket's peer.

        When a write to a socket fails (the peer reset it, say right after its Close frame),
        asyncio drops the transport without reading what the peer had sent before: read it
        here, while the socket is still open, so the other side gets every byte.
        """
        transport = self.transport
        if transport is None or self.link.conn is None:
            return  # (under TLS, TlsSide.data_received takes the ciphertext read here)
        try:
            sock = socket.socket(fileno=transport.get_extra_info("socket").fileno())
        except (AttributeError, OSError, ValueError):
            return
        try:
            while True:
                try:
                    data = self.read_exact(sock.recv_into)
                except OSError:  # nothing more for now, or the reset itself
                    return
                if not data:
                    return
                self.data_received(data)
        finally:
            sock.detach()  # the fd stays asyncio's

    # Flow control: a slow reader on one side pauses reading from the other.
    def pause_writing(self) -> None:
        self.write_paused = True
        other = self.link.other(self)
        if other is not None and other.transport is not None:
            other.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        other = self.link.other(self)
        if other is not None:
            self.link.resume_from(other)

    def may_read(self) -> bool:
        """Reading from this side may resume: it is not ending, its peer takes what is
        written, and what network conditions hold from it is under MAX_HELD."""
        link = self.link
        other = link.other(self)
        return (self.transport is not None and not self.ending and not self.transport.is_closing()
                and (other is None or not other.write_paused)
                and (link.lanes is None or not link.lanes[self.sender].full))


@dataclass
class TlsInfo:
    """One connection's TLS, as the tap terminated it (``Connection.tls``).

    ``wire_bytes`` are the bytes on the wire per sender (TLS records: handshake, encrypted
    data, alerts); ``Connection.bytes`` are the bytes inside them, as relayed to and from the
    app. ``handshake_bytes`` is what each side sent until the handshake was complete (in TLS
    1.3 the server's session tickets included). ``close_notify``: who ended with a TLS
    close_notify alert rather than only a TCP FIN (a truncation). ``error``: why the
    handshake failed, else None."""

    version: str | None = None
    cipher: str | None = None
    wire_bytes: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    handshake_bytes: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    close_notify: dict[str, bool] = field(default_factory=lambda: {"client": False, "server": False})
    error: str | None = None

    def __str__(self) -> str:
        what = f"{self.version} {self.cipher}" if self.version else (
            f"TLS failed: {self.error}" if self.error else "TLS handshake in progress")
        w, h = self.wire_bytes, self.handshake_bytes
        return (f"{what}, {w['client']}+{w['server']} bytes on the wire "
                f"({h['client']}+{h['server']} handshake)")


class _TlsTransport(asyncio.Transport):
    """The client's socket as the relay sees it under TLS: what the relay writes is encrypted
    into records, ``write_eof`` sends close_notify then a FIN (TLS's end of a direction), and
    everything else (buffer sizes, pausing, the socket for a reset) is the TCP transport's.
    Writes before the handshake is done wait for it."""

    def __init__(self, side: "TlsSide", raw: asyncio.Transport):
        super().__init__()
        self.side = side
        self.raw = raw
        self.pending: list[bytes] = []  # plaintext written before the handshake was done
        self.eof_pending = False
        self.close_pending = False
        self.notified = False  # close_notify sent

    def write(self, data) -> None:
        side = self.side
        if self.notified or self.raw.is_closing():
            return
        if not side.handshaken:
            self.pending.append(bytes(data))
            return
        view = memoryview(data)
        try:
            while view:
                view = view[side.sslobj.write(view):]
        except ssl.SSLError as exc:  # the TLS session is broken: nothing more can be sent
            log.info("tap: TLS write failed on #%s: %s", side.conn_id, exc)
            self.raw.abort()
            return
        side.flush_out()

    def _handshake_done(self) -> None:
        pending, self.pending = self.pending, []
        for data in pending:
            self.write(data)
        if self.eof_pending:
            self.write_eof()
        if self.close_pending:
            self.close()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if not self.side.handshaken:
            self.eof_pending = True
            return
        self._notify()
        if not self.raw.is_closing():
            self.raw.write_eof()

    def _notify(self) -> None:
        """Send close_notify once: this direction is over (the other may still flow)."""
        if self.notified or not self.side.handshaken:
            return
        try:
            self.side.sslobj.unwrap()
        except ssl.SSLWantReadError:
            pass  # expected: the peer's close_notify has not come yet
        except ssl.SSLError:
            pass
        self.side.flush_out()
        self.notified = True
        self.side.tls.close_notify["server"] = True

    def close(self) -> None:
        side = self.side
        if not side.handshaken and not side.failed and self.pending and not self.raw.is_closing():
            # Say what was written first (a refusal) once TLS is up, then close; a client that
            # never finishes its handshake does not keep the socket.
            if not self.close_pending:
                self.close_pending = True
                side.link.tap._loop.call_later(LINGER, self._give_up)
            return
        self._notify()
        self.raw.close()

    def _give_up(self) -> None:
        if not self.raw.is_closing():
            self.raw.abort()

    def abort(self) -> None:
        self.raw.abort()

    def is_closing(self) -> bool:
        return self.raw.is_closing() or self.close_pending

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() + sum(map(len, self.pending))

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def get_extra_info(self, name: str, default=None):
        if name == "ssl_object":
            return self.side.sslobj
        return self.raw.get_extra_info(name, default)


# How a plain-HTTP request on the TLS port is answered (nginx says the same with a 400).
_PLAIN_ON_TLS = ("this port speaks TLS: the plain HTTP request was sent to an https/wss port; "
                 "use https:// or wss://\n")


class TlsSide(Side):
    """The client's side under TLS, terminated here: ciphertext in and out goes through a
    MemoryBIO pair, so the tap counts the bytes on the wire (``TlsInfo``) while the relay,
    the lanes and the recording get the plaintext, exactly as without TLS."""

    # Both set by connection_made(), the first thing asyncio calls: the TCP transport, and
    # the one the relay writes plaintext to (also ``transport``, until the socket is lost).
    raw: asyncio.Transport
    tls_transport: _TlsTransport

    def __init__(self, link: "Link", context: ssl.SSLContext):
        super().__init__(link, "client")
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.sslobj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.tls = TlsInfo()
        self.handshaken = False
        self.failed = False
        self.eof_seen = False
        self.first = True

    @property
    def conn_id(self):
        return self.link.conn.id if self.link.conn is not None else "-"

    def connection_made(self, transport) -> None:
        self.raw = transport
        self.tls_transport = _TlsTransport(self, transport)
        super().connection_made(self.tls_transport)
        if self.link.conn is not None:
            self.link.conn.tls = self.tls

    def flush_out(self) -> None:
        data = self.outgoing.read()
        if data:
            self.tls.wire_bytes["server"] += len(data)
            if not self.raw.is_closing():
                self.raw.write(data)

    def data_received(self, data: bytes) -> None:
        tls = self.tls
        tls.wire_bytes["client"] += len(data)
        link = self.link
        if link.idle_timer is not None:  # a handshake is traffic too
            link.last_read = link.tap._loop.time()
        if self.failed:
            return
        if self.first:
            self.first = False
            if data[:1] != b"\x16" and data[:1].isalpha():  # not a TLS record: an HTTP method
                self._plain_http(data)
                return
        self.incoming.write(data)
        if not self.handshaken:
            try:
                self.sslobj.do_handshake()
            except ssl.SSLWantReadError:
                self.flush_out()
                return
            except ssl.SSLError as exc:
                self._fail(exc)
                return
            self.handshaken = True
            self.flush_out()
            cipher = self.sslobj.cipher()  # (name, protocol, bits) once the handshake is done
            tls.version, tls.cipher = self.sslobj.version(), cipher[0] if cipher else None
            tls.handshake_bytes["client"] = tls.wire_bytes["client"] - self.incoming.pending
            tls.handshake_bytes["server"] = tls.wire_bytes["server"]
            self.tls_transport._handshake_done()
        relay = super().data_received
        while not self.eof_seen:
            try:
                plain = self.read_exact(lambda view: self.sslobj.read(len(view), view))
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                plain = b""
            except ssl.SSLError as exc:  # a bad record after the handshake: the session is over
                self._fail(exc)
                return
            if not plain:  # the client's close_notify: its direction is over (Python says it
                tls.close_notify["client"] = True  # with b"" or SSLZeroReturnError, depending
                self._eof()                         # on whether the tap had sent its own first)
                break
            if self.link.conn is not None and not self.ending:
                relay(plain)
        self.flush_out()  # answers inside TLS (key updates) and alerts

    def eof_received(self):
        self._cut_in_handshake("closed")
        self._eof()  # a FIN without close_notify (a truncation) ends the direction too
        return True

    def connection_lost(self, exc) -> None:
        self._cut_in_handshake("reset")
        super().connection_lost(exc)

    def _cut_in_handshake(self, how: str) -> None:
        conn = self.link.conn
        if self.handshaken or self.failed or conn is None:
            return
        self.failed = True
        tls = self.tls
        tls.error = (f"the client {how} the connection during the handshake, without an alert"
                     + (" (as clients do that do not trust the certificate)"
                        if tls.wire_bytes["server"] else ""))
        log.info("tap: #%d %s from %s: %s", conn.id, wire.TapAction.TLS_FAILED.value, conn.peer,
                 tls.error)
        conn._tap_event(wire.TapAction.TLS_FAILED, tls.error)

    def _eof(self) -> None:
        if not self.eof_seen:
            self.eof_seen = True
            if self.link.conn is not None:
                self.link.eof("client")

    def _fail(self, exc: ssl.SSLError) -> None:
        """The handshake (or a record) failed: say so (the client already got an alert, if
        OpenSSL had one to send), record it, and close as after a FIN."""
        self.failed = True
        self.flush_out()  # the alert
        tls = self.tls
        tls.error = f"{exc.reason or type(exc).__name__} ({exc.library or 'ssl'})"
        conn = self.link.conn
        if conn is not None:
            log.info("tap: #%d %s from %s: %s", conn.id, wire.TapAction.TLS_FAILED.value, conn.peer,
                     tls.error)
            conn._tap_event(wire.TapAction.TLS_FAILED, tls.error)
        self.raw.close()

    def _plain_http(self, data: bytes) -> None:
        """Plain HTTP on the TLS port: record the request as it came, answer it in plain
        HTTP (the client can read that, not an alert), and close."""
        self.failed = True
        conn = self.link.conn
        if conn is not None:
            conn._note("client", data)
            log.info("tap: #%d %s from %s: answered 400", conn.id, wire.TapAction.PLAIN_ON_TLS.value,
                     conn.peer)
            conn._tap_event(wire.TapAction.PLAIN_ON_TLS, "answered 400 Bad Request without TLS")
        self.tls.error = wire.TapAction.PLAIN_ON_TLS.value
        answer = http_refusal(b"400 Bad Request", _PLAIN_ON_TLS, retry=False)
        self.tls.wire_bytes["server"] += len(answer)
        self.raw.write(answer)
        self.raw.close()
