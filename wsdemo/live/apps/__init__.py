"""The endpoints of the live lab, one small handler module each.

=============  ==========================================================
``/echo``      echoes text and binary (echo.py)
``/chat``      one room, names, join/leave notices, broadcast; speaks the
               subprotocol ``wsdemo.chat.v1`` (chat.py)
``/ticker``    the server pushes feed updates unasked (ticker.py)
``/cursors``   each client's x,y to all the others (cursors.py)
``/poll``      short polling of the same feed (poll.py)
``/longpoll``  long polling of the same feed (poll.py)
``/sse``       server-sent events: the same feed as text/event-stream (sse.py)
``/*``         the browser pages in assets/ (static.py)
=============  ==========================================================
"""

from __future__ import annotations

import logging

import tornado.web

from ..heartbeat import check_heartbeat
from ...wire import mask_tokens_text
from .base import AppState, BaseSocket
from .bodies import MAX_BODY, NoBodies
from .chat import ChatSocket
from .cursors import CursorsSocket
from .echo import EchoSocket
from .poll import LongPollHandler, PollHandler
from .sse import SseHandler
from .static import StaticHandler
from .ticker import TickerSocket

__all__ = ["AppState", "BaseSocket", "MAX_BODY", "NoBodies", "make_app"]

access_log = logging.getLogger("wsdemo.access")


def _log_request(handler: tornado.web.RequestHandler) -> None:
    # Refused handshakes (400, 403, 426, 503) are lessons here, not incidents: they go out at
    # INFO, so they never spill into a notebook cell as stray stderr; 5xx stays a warning.
    # ``python -m wsdemo serve`` shows the INFO lines in its log.
    status = handler.get_status()
    level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
    if access_log.isEnabledFor(level):
        request = handler.request
        access_log.log(level, "%d %s %s (%s) %.1f ms", status, request.method,
                       mask_tokens_text(request.uri), request.remote_ip, 1000 * request.request_time())


def make_app(state: AppState, *, compression: bool = False, ping_interval: float | None = None,
             ping_timeout: float | None = None) -> tornado.web.Application:
    """The lab's Tornado application. ``ping_interval``/``ping_timeout`` (validated by
    ``heartbeat.check_heartbeat``): server heartbeats on every WebSocket (apps/base.py); they
    are wsdemo's own settings, not Tornado's ``websocket_ping_*``, whose timeout closes with
    1000 and waits 5 s more (see wsdemo/live/heartbeat.py)."""
    ping_interval, ping_timeout = check_heartbeat(ping_interval, ping_timeout)
    routes = [
        ("/echo", EchoSocket),
        ("/chat", ChatSocket),
        ("/ticker", TickerSocket),
        ("/cursors", CursorsSocket),
        ("/poll", PollHandler),
        ("/longpoll", LongPollHandler),
        ("/sse", SseHandler),
        (r"/(.*)", StaticHandler),
    ]
    return tornado.web.Application(
        [(path, handler, {"state": state}) for path, handler in routes],
        wsdemo_compression=compression,
        wsdemo_ping_interval=ping_interval,
        wsdemo_ping_timeout=ping_timeout,
        websocket_max_message_size=state.max_message_size,
        log_function=_log_request,
    )

