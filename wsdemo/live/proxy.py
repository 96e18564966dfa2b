"""Behind jupyter-server-proxy (Binder, JupyterHub): links the browser can open.

On Binder or a JupyterHub the browser cannot reach 127.0.0.1:PORT of the
machine the kernel runs on; jupyter-server-proxy forwards
``{base_url}proxy/PORT/...`` (HTTP and WebSocket) to it instead. The pages in
assets/ build their WebSocket URL relative to themselves, so they work there
unchanged; what wsdemo prints (page links) must carry the prefix too.

The prefix comes, in this order, from ``settings.prefix`` (set it in a
notebook), the ``WSDEMO_PROXY_PREFIX`` environment variable, or
``JUPYTERHUB_SERVICE_PREFIX`` (set by JupyterHub and Binder for each user's
server). An empty setting ("" or "off") means: no proxy, link straight to
the port.

    wsdemo.live.proxy.settings.prefix = "/user/ann/"     # or: export WSDEMO_PROXY_PREFIX=/user/ann/
    server.browser_url("/chat.html")                # "/user/ann/proxy/PORT/chat.html"
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ENV_PREFIX = "WSDEMO_PROXY_PREFIX"
ENV_HUB = "JUPYTERHUB_SERVICE_PREFIX"
_OFF = {"", "off", "none", "0", "false"}


@dataclass
class Settings:
    """``prefix``: the Jupyter server's base URL ("/user/ann/"); None: detect from the environment."""

    prefix: str | None = None


settings = Settings()


def _normalize(prefix: str) -> str | None:
    prefix = prefix.strip()
    if prefix.lower() in _OFF:
        return None
    if "://" not in prefix and not prefix.startswith("/"):
        prefix = "/" + prefix
    return prefix if prefix.endswith("/") else prefix + "/"


def prefix() -> str | None:
    """The Jupyter base URL the browser reaches us through, ending in "/", or None."""
    if settings.prefix is not None:
        return _normalize(settings.prefix)
    for name in (ENV_PREFIX, ENV_HUB):
        value = os.environ.get(name)
        if value is not None:
            return _normalize(value)
    return None


def proxied_path(port: int, path: str = "/", base_url: str | None = None) -> str:
    """``{base_url}proxy/PORT{path}``: the same page or endpoint, through jupyter-server-proxy."""
    base = base_url if base_url is not None else (prefix() or "/")
    base = base if base.endswith("/") else base + "/"
    if not path.startswith("/"):
        path = "/" + path
    return f"{base}proxy/{int(port)}{path}"
