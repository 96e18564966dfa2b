"""Measured experiments: what polling costs next to server-sent events and a WebSocket,
counted on the wire, under named network conditions.

    rows = await experiments.compare_polling(server, updates=10, network="4g")
    rows                      # a table: latency and bytes per update seen, per method
    experiments.break_even(rows)                               # when the handshake has paid back
    experiments.project_bandwidth(rows[0].bytes_per_update)   # 1,000 / 10,000 / 100,000 clients
    experiments.published_table()                              # Lubbers & Greco's figures
    await experiments.head_of_line(server, 100_000)            # a big message delays a pong

Four real clients follow the server's one feed of updates (the feed behind
``/ticker``, ``/sse``, ``/poll`` and ``/longpoll``) at the same time, each on its own
connection through the tap:

- **short polling**: an HTTP/1.1 keep-alive client asks ``GET /poll?since=SEQ``
  every ``poll_ms``, at a random phase; the server answers at once, 200 with the
  update or 204.
- **long polling**: the same kind of client asks ``GET /longpoll?since=SEQ``;
  the server holds the request until there is news.
- **server-sent events**: ``wsdemo.live.sse``'s EventSource reads ``GET /sse``; the
  server writes each update as an event of one long response.
- **websocket**: the in-kernel client (``server.connect("/ticker")``) just
  listens; the server pushes each update.

``network=`` puts conditions (``wsdemo.NETWORKS``: latency, bandwidth) between every
client and the app for the run. Bytes are the tap's own counts (``wire.summarize``:
HTTP heads and bodies, frame headers and payloads, event-stream fields, both
directions) of each client's window: every event after the one that carried its
first update, up to the one that carried its last, so setup (the TCP connect, the
WebSocket handshake, the stream's opening) is left out and every request, empty
answer, frame and event in between is in. Latency runs from the moment the server
produced an update (its ``at`` field, ``time.time()`` in the feed) to the moment the
client has parsed it; server and clients share this process's clock, so the network's
delays are in it.

Nothing here blocks the event loop: every wait has a timeout, and every
connection is closed on the way out, whatever happens.

The package, by job: ``polling`` (``compare_polling``) and ``results`` (its rows);
``breakeven`` (when the handshake has paid back); ``bandwidth`` (published figures and
projections, the one bandwidth formula); ``headofline``; ``tables`` (how numbers are shown).
The clients on plain sockets are live code: ``wsdemo.live.keepalive``.
"""

from .bandwidth import (HPBN_REQUEST_HEADER_BYTES, HPBN_TCP_IP_TLS_BYTES, MEGABIT, PUBLISHED_FRAME_BYTES,
                        PUBLISHED_POLL_BYTES, RFC_FRAMING, Projection, PublishedRow, bits_per_second,
                        project_bandwidth, projection_table, published_table, round_like)
from .breakeven import TCP_HANDSHAKE_BYTES, BreakEven, BreakEvens, break_even, payback
from .headofline import HeadOfLine, TimelineEntry, head_of_line
from .polling import compare_polling
from .results import METHODS, PHASES, STREAMS, Comparison, PollingResult, table
from .tables import Table, network_label, ratio_band

__all__ = [
    "compare_polling", "PollingResult", "Comparison", "table", "Table", "project_bandwidth", "Projection",
    "projection_table", "published_table", "PublishedRow", "round_like", "ratio_band", "bits_per_second",
    "MEGABIT", "METHODS", "PUBLISHED_POLL_BYTES", "PUBLISHED_FRAME_BYTES", "RFC_FRAMING",
    "HPBN_REQUEST_HEADER_BYTES", "HPBN_TCP_IP_TLS_BYTES", "PHASES", "STREAMS", "network_label", "break_even",
    "BreakEven", "BreakEvens", "payback", "TCP_HANDSHAKE_BYTES", "head_of_line", "HeadOfLine",
    "TimelineEntry",
]
