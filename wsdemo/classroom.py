"""Classroom mode: the join URL classmates open, and a QR code for it.

The join URL needs an address the room can reach: this machine's LAN
address. It is found without sending anything on the network: first from
``WSDEMO_JOIN_HOST`` (the teacher knows best), then from the interfaces
(``ip -4 -o addr``, then the addresses the host name resolves to locally),
falling back to 127.0.0.1. The QR code is drawn by segno, offline, as an
inline SVG.

    server = await wsdemo.serve(host="0.0.0.0", classroom=True)
    server.join_card()      # the URL, the QR code, and what to do
"""

from __future__ import annotations

import html
import ipaddress
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
WILDCARDS = ("0.0.0.0", "", "::")
_INET = re.compile(r"\binet (\d{1,3}(?:\.\d{1,3}){3})/\d+")


def _rank(addr: str) -> int | None:
    """Lower is better; None: not an address classmates could use."""
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_link_local:
        return None
    if ip.is_private:  # 10/8, 172.16/12, 192.168/16 and friends: a room's Wi-Fi
        return 0
    return 1


def interface_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, read locally (nothing is sent)."""
    found: list[str] = []
    ip_cmd = shutil.which("ip")
    if ip_cmd:
        try:
            out = subprocess.run([ip_cmd, "-4", "-o", "addr", "show"], capture_output=True,
                                 text=True, timeout=2, check=False).stdout
            found += _INET.findall(out)
        except (OSError, subprocess.SubprocessError):
            pass
    if found:
        return list(dict.fromkeys(found))
    try:
        # Only when `ip` is missing: our own name resolves through /etc/hosts on a normal
        # setup; a failure just means we learn nothing from it.
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(sockaddr[0])
    except OSError:
        pass
    return list(dict.fromkeys(found))


def lan_address() -> str:
    """The address to put in the join URL; 127.0.0.1 when there is no better one."""
    override = os.environ.get("WSDEMO_JOIN_HOST", "").strip()
    if override:
        return override
    ranked = [(rank, i, a) for i, a in enumerate(interface_addresses())
              if (rank := _rank(a)) is not None]
    return min(ranked)[2] if ranked else LOOPBACK


def join_host(bound_host: str) -> str:
    """Where classmates reach a server bound to ``bound_host``."""
    if bound_host in WILDCARDS:
        return lan_address()
    return bound_host


def qr_svg(text: str, *, scale: int = 6, title: str = "QR code of the join URL") -> str:
    """An inline SVG QR code of ``text`` (segno, offline)."""
    import segno

    return segno.make(text, error="m").svg_inline(scale=scale, border=2, title=title,
                                                  dark="#000", light="#fff")


@dataclass
class JoinCard:
    """What the projector shows: the join URL, its QR code, and a note.

    A rich display object: text/html has the SVG; text/plain is one stable
    line per fact (nbval compares it after sanitizing port and token).
    """

    url: str
    reachable_from_room: bool
    proxied: bool = False
    note: str = ""

    def qr_svg(self, scale: int = 6) -> str:
        return qr_svg(self.url, scale=scale)

    def __str__(self) -> str:
        lines = [f"Join: {self.url}"]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<JoinCard {self.url}{'' if self.reachable_from_room else ' (this machine only)'}>"

    def _repr_html_(self) -> str:
        url = html.escape(self.url)
        note = f"<p class='wsdemo-join-note'>{html.escape(self.note)}</p>" if self.note else ""
        return (
            "<div class='wsdemo-join' style='display:flex;gap:1.5rem;align-items:center;"
            "flex-wrap:wrap;font-size:1.4em'>"
            f"<div class='wsdemo-join-qr' role='img' aria-label='QR code of the join URL'>{self.qr_svg()}</div>"
            "<div style='flex:1 1 18rem;min-width:0'><div style='font-weight:bold'>Join the class</div>"
            f"<a class='wsdemo-join-url' href='{url}' target='_blank' rel='noopener' "
            f"style='font-family:monospace;word-break:break-all'>{url}</a>{note}</div></div>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": str(self), "text/html": self._repr_html_()}


def join_card(server, page: str = "/chat.html") -> JoinCard:
    """The join card of a running ``server`` (see ``Server.join_card``)."""
    from . import proxy

    prefix = proxy.prefix()
    if prefix is not None:
        # Behind JupyterHub/Binder the proxy only lets *this* user in: the link is for
        # the teacher's own browser tabs, not for the room.
        url = server.browser_url(page)
        if server.token:
            url += f"{'&' if '?' in url else '?'}token={server.token}"
        return JoinCard(url, reachable_from_room=False, proxied=True,
                        note="behind the notebook proxy: only your own browser can open this link")
    host = join_host(server.host)
    url = server.join_url(page, host=host)
    reachable = host != LOOPBACK and not host.startswith("127.") and host != "localhost"
    note = "" if reachable else (
        "listening on this machine only: serve on host 0.0.0.0 so the room can join "
        "(wsdemo.serve(host='0.0.0.0', classroom=True), or --host 0.0.0.0)")
    return JoinCard(url, reachable_from_room=reachable, note=note)
