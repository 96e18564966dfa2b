"""wsdemo: watch a real WebSocket conversation on the wire.

``wsdemo.wire`` is the sans-IO decoder; ``wsdemo.serve()`` starts the live lab
(a Tornado server behind a recording tap, ``wsdemo.live``) on the running event loop.
"""

__version__ = "0.1.0"

from .live.network import NETWORKS, Network  # stdlib only: no tornado

__all__ = ["serve", "Network", "NETWORKS", "__version__"]

# The lessons' demonstrations, as ``from wsdemo import backpressure, hijack, backplane``.
_LIVE_MODULES = ("backplane", "backpressure", "hijack")


def __getattr__(name):
    # Imported lazily so that ``import wsdemo.wire`` never pulls in tornado.
    if name == "serve":
        from .live.serving import serve

        return serve
    if name in _LIVE_MODULES:
        import importlib

        return importlib.import_module(f".live.{name}", __name__)
    raise AttributeError(f"module 'wsdemo' has no attribute {name!r}")
