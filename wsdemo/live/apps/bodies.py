"""No endpoint here takes a request body: refuse one from the head, before it is read.

Tornado reads a whole body (up to its ``max_body_size``, 100 MB by default) into memory
before any handler runs, the join token check included; a stranger announcing a huge body
and sending it slowly held that memory and a connection for as long as it liked.
"""

from __future__ import annotations

import asyncio
import logging

import tornado.httputil
import tornado.iostream
import tornado.web

from ...wire import mask_tokens_text

access_log = logging.getLogger("wsdemo.access")


MAX_BODY = 0  # bytes: the largest body any route takes (also Tornado's max_body_size)
# After the 413 the server reads and drops what the client still sends, until the client
# closes, but at most this much and for at most this long: closing with unread bytes would
# reset the connection, and a client could lose the answer before reading it.
DRAIN_BYTES = 1 << 20
DRAIN_SECONDS = 2.0
_NO_BODY = ("413 Content Too Large: no page or endpoint here takes a request body "
            f"(the limit is {MAX_BODY} bytes)\n").encode()


def _announces_body(headers: tornado.httputil.HTTPHeaders) -> bool:
    if "Transfer-Encoding" in headers:
        return True
    return headers.get("Content-Length", "0").strip().lstrip("0") != ""


class NoBodies(tornado.httputil.HTTPServerConnectionDelegate):
    """The HTTPServer's delegate: ``app`` for every request, except that a request
    announcing a body gets a 413 at once and never reaches the app.

    ``close()`` ends the few connections still draining (for ``Server.stop``).
    """

    def __init__(self, app: tornado.web.Application):
        self.app = app
        self._draining: set[tornado.iostream.IOStream] = set()
        self._tasks: set[asyncio.Task] = set()  # referenced, so they run to the end

    def start_request(self, server_conn, request_conn):
        return _BodyGate(self, self.app.start_request(server_conn, request_conn), request_conn)

    def on_close(self, server_conn) -> None:
        self.app.on_close(server_conn)

    def close(self) -> None:
        for stream in list(self._draining):
            stream.close()

    async def _refuse(self, stream: tornado.iostream.IOStream) -> None:
        self._draining.add(stream)
        try:
            await stream.write(b"HTTP/1.1 413 Content Too Large\r\n"
                               b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                               b"Content-Length: %d\r\n\r\n%s" % (len(_NO_BODY), _NO_BODY))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DRAIN_SECONDS
            dropped = 0
            while dropped < DRAIN_BYTES:
                chunk = await asyncio.wait_for(stream.read_bytes(64 * 1024, partial=True),
                                               max(0.0, deadline - loop.time()))
                dropped += len(chunk)
        except (tornado.iostream.StreamClosedError, asyncio.TimeoutError, OSError):
            pass  # the client left, or kept sending: either way it is done
        finally:
            self._draining.discard(stream)
            stream.close()


class _BodyGate(tornado.httputil.HTTPMessageDelegate):
    def __init__(self, owner: NoBodies, inner: tornado.httputil.HTTPMessageDelegate, request_conn):
        self.owner = owner
        self.inner = inner
        self.request_conn = request_conn
        self.refused = False

    def headers_received(self, start_line, headers):
        if not _announces_body(headers):
            return self.inner.headers_received(start_line, headers)
        self.refused = True
        context = getattr(self.request_conn, "context", None)
        access_log.info("413 %s %s (%s): request body refused", start_line.method,
                        mask_tokens_text(start_line.path), getattr(context, "remote_ip", "-"))
        stream = self.request_conn.detach()  # Tornado reads nothing more of this request
        task = asyncio.get_running_loop().create_task(self.owner._refuse(stream),
                                                      name="wsdemo refuse request body")
        self.owner._tasks.add(task)
        task.add_done_callback(self.owner._tasks.discard)
        return None

    def data_received(self, chunk):
        if not self.refused:
            return self.inner.data_received(chunk)
        return None

    def finish(self) -> None:
        if not self.refused:
            self.inner.finish()

    def on_connection_close(self) -> None:
        if not self.refused:
            self.inner.on_connection_close()
