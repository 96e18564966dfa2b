"""wsdemo: watch a real WebSocket conversation on the wire.

``wsdemo.wire`` is the sans-IO decoder; ``wsdemo.serve()`` starts the live lab
(a Tornado server behind a recording tap) on the running event loop.
"""

__version__ = "0.1.0"

from .network import NETWORKS, Network  # stdlib only: no tornado

__all__ = ["serve", "Network", "NETWORKS", "__version__"]


def __getattr__(name):
    # Imported lazily so that ``import wsdemo.wire`` never pulls in tornado.
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module 'wsdemo' has no attribute {name!r}")
