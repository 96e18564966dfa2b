"""The live layer: sockets, the event loop, Tornado, and the tap that records the wire.

Clients reach a Tornado app (``apps/``) through the tap (``tap.py``), a TCP relay that
records every chunk both ways and decodes it with ``wsdemo.wire``:

- ``serving.py``: ``serve()`` and ``run_forever()``; ``server.py``: the ``Server`` they return;
- ``tap.py``: the ``Tap``, relaying through ``link.py`` (a connection's two sides and its
  lanes) and ``sides.py`` (a plain or TLS socket's end), recording in ``recording.py``
  (a ``Connection``: its events and chunks, in bounded rings);
- ``client.py``, ``sse.py``: the kernel's own WebSocket and EventSource clients;
- ``network.py``: network conditions; ``tls.py``: the lab's CA; ``heartbeat.py``: pings;
- ``classroom.py``, ``proxy.py``: reaching the server from the room or through Jupyter;
- ``backplane.py``, ``backpressure.py``, ``hijack.py``: demonstrations for the lessons.

Nothing here imports ``wsdemo.ui``, ipywidgets or graphviz. This package imports nothing
itself, so ``wsdemo.live.network`` stays free of Tornado.
"""
