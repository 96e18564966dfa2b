"""Classroom mode: the join URL classmates open, a QR code for it, and a check
that the room can reach it.

The join URL needs an address the room can reach: this machine's LAN
address. It is found without sending anything on the network: first from
``serve(join_host=...)`` or ``WSDEMO_JOIN_HOST`` (the teacher knows best),
then from the interfaces (``ip -4 -o addr``, ``ifconfig``, then the addresses
the host name resolves to locally), falling back to 127.0.0.1. Every
candidate is listed on the join card: the likely one first, then other
physical interfaces, then virtual ones (Docker, VPNs, VirtualBox...),
labelled. The QR code is drawn by segno, offline, as an inline SVG.

    server = await wsdemo.serve(host="0.0.0.0", port=8765, classroom=True)
    server.join_card()        # the URL, the QR code, the other addresses
    server.check_classroom()  # can the room reach it? plain words
"""

from __future__ import annotations

import html
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field

from ..wire import with_token

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


# Interface names of virtual networks: containers, VMs, VPNs, tunnels. Their addresses are
# real, but phones on the room's Wi-Fi cannot reach them. Prefixes, matched case-insensitively.
VIRTUAL_INTERFACES = {
    "docker": "Docker", "br-": "Docker bridge", "veth": "container link", "virbr": "libvirt VM",
    "vbox": "VirtualBox", "vmnet": "VMware", "vmware": "VMware", "vethernet": "Hyper-V/WSL",
    "lxc": "LXC", "lxd": "LXD", "podman": "Podman", "cni": "Kubernetes", "flannel": "Kubernetes",
    "cali": "Kubernetes", "tun": "VPN tunnel", "tap": "VPN/VM tap", "wg": "WireGuard VPN",
    "tailscale": "Tailscale VPN", "zt": "ZeroTier VPN", "utun": "VPN tunnel", "ppp": "VPN/dial-up",
    "ipsec": "IPsec VPN", "ham": "Hamachi VPN", "awdl": "Apple Wireless Direct", "llw": "Apple link",
    "anpi": "Apple internal", "bridge": "bridge (VM or Internet Sharing)",
}
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT; Tailscale hands these out


@dataclass(frozen=True)
class Candidate:
    """One address the join link could use: ``kind`` is "lan" (a private address of a
    physical interface: the likely one), "other" (a public or unusual address) or
    "virtual" (Docker, a VM, a VPN: phones on the Wi-Fi cannot reach it)."""

    address: str
    interface: str
    kind: str
    label: str = ""

    def __str__(self) -> str:
        where = ", ".join(x for x in (self.interface, self.label) if x)
        return f"{self.address} ({where})" if where else self.address


def _virtual_label(name: str, ip: ipaddress.IPv4Address) -> str | None:
    low = name.lower()
    for prefix, label in VIRTUAL_INTERFACES.items():
        if low.startswith(prefix):
            return f"virtual: {label}"
    if ip in _CGNAT:
        return "virtual: VPN range 100.64/10 (Tailscale?)"
    return None


def rank_candidates(interfaces: list[tuple[str, str]]) -> list[Candidate]:
    """The addresses of ``interfaces`` ((name, IPv4 address) pairs, as the system lists
    them) that classmates could use, the likely one first: private addresses of physical
    interfaces, then other addresses, then virtual interfaces (labelled). Loopback,
    link-local and duplicate addresses are left out."""
    ranked: list[tuple[int, int, Candidate]] = []
    seen: set[str] = set()
    for i, (name, addr) in enumerate(interfaces):
        rank = _rank(addr)
        if rank is None or addr in seen:
            continue
        seen.add(addr)
        label = _virtual_label(name, ipaddress.IPv4Address(addr))
        if label is not None:
            ranked.append((2, i, Candidate(addr, name, "virtual", label)))
        elif rank == 0:
            ranked.append((0, i, Candidate(addr, name, "lan")))
        else:
            ranked.append((1, i, Candidate(addr, name, "other", "not a private address")))
    return [c for *_, c in sorted(ranked, key=lambda r: r[:2])]


_IP_LINE = re.compile(r"^\d+:\s+(\S+?)(?:@\S+)?\s+inet (\d{1,3}(?:\.\d{1,3}){3})/\d+", re.M)
_IFCONFIG_HEAD = re.compile(r"^([^\s:]+):? ")


def _run(args: list[str], timeout: float = 2.0) -> subprocess.CompletedProcess | None:
    """A local command's output, or None when it is missing or fails to run at all."""
    exe = shutil.which(args[0]) or (args[0] if os.path.isabs(args[0]) and os.path.exists(args[0]) else None)
    if exe is None:
        return None
    try:
        return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def interfaces() -> list[tuple[str, str]]:
    """(interface name, IPv4 address) of this machine, read locally (nothing is sent)."""
    found: list[tuple[str, str]] = []
    out = _run(["ip", "-4", "-o", "addr", "show"])
    if out is not None and out.returncode == 0:
        found = _IP_LINE.findall(out.stdout)
    if not found:
        out = _run(["ifconfig"])  # macOS and the BSDs; old Linux
        if out is not None and out.returncode == 0:
            name = ""
            for line in out.stdout.splitlines():
                head = _IFCONFIG_HEAD.match(line)
                if head and not line[:1].isspace():
                    name = head.group(1)
                m = re.search(r"\binet (?:addr:)?(\d{1,3}(?:\.\d{1,3}){3})", line)
                if m:
                    found.append((name, m.group(1)))
    if found:
        return list(dict.fromkeys(found))
    try:
        # Our own name resolves through /etc/hosts on a normal setup; a failure just means
        # we learn nothing from it.
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(("", str(sockaddr[0])))  # an AF_INET address: (host, port)
    except OSError:
        pass
    return list(dict.fromkeys(found))


def interface_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, read locally (nothing is sent)."""
    return list(dict.fromkeys(addr for _, addr in interfaces()))


def candidates() -> list[Candidate]:
    """This machine's addresses classmates could use, the likely one first."""
    return rank_candidates(interfaces())


def lan_address() -> str:
    """The address to put in the join URL; 127.0.0.1 when there is no better one."""
    override = os.environ.get("WSDEMO_JOIN_HOST", "").strip()
    if override:
        return override
    found = candidates()
    return found[0].address if found else LOOPBACK


def join_host(bound_host: str, chosen: str | None = None) -> str:
    """Where classmates reach a server bound to ``bound_host``; ``chosen`` (serve's
    ``join_host=``) wins, then WSDEMO_JOIN_HOST, then the likely LAN address."""
    if chosen:
        return chosen
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
    """What the projector shows: the join URL, its QR code, a note, and the other
    addresses to try when the first one does not open (``others``: (url, label) pairs,
    virtual interfaces last).

    A rich display object: text/html has the SVG; text/plain is one stable
    line per fact (nbval compares it after sanitizing port and token).
    """

    url: str
    reachable_from_room: bool
    proxied: bool = False
    note: str = ""
    others: list[tuple[str, str]] = field(default_factory=list)

    def qr_svg(self, scale: int = 6) -> str:
        return qr_svg(self.url, scale=scale)

    def __str__(self) -> str:
        lines = [f"Join: {self.url}"]
        if self.note:
            lines.append(self.note)
        if self.others:
            lines.append("If that link does not open, try:")
            lines += [f"  {url}  ({label})" for url, label in self.others]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<JoinCard {self.url}{'' if self.reachable_from_room else ' (this machine only)'}>"

    def _repr_html_(self) -> str:
        url = html.escape(self.url)
        note = f"<p class='wsdemo-join-note'>{html.escape(self.note)}</p>" if self.note else ""
        others = ""
        if self.others:
            items = "".join(
                f"<li><span class='wsdemo-join-other' style='font-family:monospace;word-break:break-all'>"
                f"{html.escape(u)}</span> <small>({html.escape(label)})</small></li>"
                for u, label in self.others)
            others = (f"<details class='wsdemo-join-others' style='font-size:0.6em'><summary>"
                      f"If that link does not open: other addresses of this machine</summary>"
                      f"<ul>{items}</ul></details>")
        return (
            "<div class='wsdemo-join' style='display:flex;gap:1.5rem;align-items:center;"
            "flex-wrap:wrap;font-size:1.4em'>"
            f"<div class='wsdemo-join-qr' role='img' aria-label='QR code of the join URL'>{self.qr_svg()}</div>"
            "<div style='flex:1 1 18rem;min-width:0'><div style='font-weight:bold'>Join the class</div>"
            f"<a class='wsdemo-join-url' href='{url}' target='_blank' rel='noopener' "
            f"style='font-family:monospace;word-break:break-all'>{url}</a>{note}{others}</div></div>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": str(self), "text/html": self._repr_html_()}


def join_card(server, page: str = "/chat.html",
              found: list[Candidate] | None = None) -> JoinCard:
    """The join card of a running ``server`` (see ``Server.join_card``); ``found``: the
    candidate addresses (default: this machine's, see ``candidates()``)."""
    from . import proxy

    prefix = proxy.prefix()
    if prefix is not None:
        # Behind JupyterHub/Binder the proxy only lets *this* user in: the link is for
        # the teacher's own browser tabs, not for the room.
        url = server.browser_url(page)
        url = with_token(url, server.token)
        return JoinCard(url, reachable_from_room=False, proxied=True,
                        note="behind the notebook proxy: only your own browser can open this link")
    chosen = getattr(server, "join_host", None)
    if server.host in WILDCARDS and not chosen and not os.environ.get("WSDEMO_JOIN_HOST", "").strip():
        found = candidates() if found is None else found
        host = found[0].address if found else LOOPBACK
    else:
        host = join_host(server.host, chosen)
    others: list[tuple[str, str]] = []
    if server.host in WILDCARDS:
        found = candidates() if found is None else found
        others = [(server.join_url(page, host=c.address), ", ".join(x for x in (c.interface, c.label) if x)
                   or "this machine")
                  for c in found if c.address != host]
    url = server.join_url(page, host=host)
    reachable = not _is_loopback(host)
    note = "" if reachable else (
        "listening on this machine only: serve on host 0.0.0.0 so the room can join "
        "(wsdemo.serve(host='0.0.0.0', classroom=True), or --host 0.0.0.0)")
    return JoinCard(url, reachable_from_room=reachable, note=note, others=others)


def _is_loopback(host: str) -> bool:
    return host == LOOPBACK or host.startswith("127.") or host in ("localhost", "::1")


# -- can the room reach the server? ------------------------------------------------------

WIFI_ADVICE = (
    "If this machine can open the link but phones cannot, the Wi-Fi probably keeps its "
    "clients apart (client or AP isolation: usual on guest, school and hotel networks). "
    "Start a hotspot on a phone, join this machine and the students to it, and run the "
    "check again (the join address changes).")


@dataclass
class Finding:
    """One answer of the check: ``ok`` is True (fine), False (a problem) or None (could not
    tell, or advice); ``commands`` are what to run about it."""

    topic: str  # "address", "bound", "answered", "firewall", "wifi"
    ok: bool | None
    text: str
    commands: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        mark = {True: "ok", False: "PROBLEM", None: "check"}[self.ok]
        lines = [f"[{mark}] {self.text}"]
        lines += [f"    {c}" for c in self.commands]
        return "\n".join(lines)


@dataclass
class ClassroomCheck:
    """What ``server.check_classroom()`` and ``python -m wsdemo classroom-check`` found.

    ``findings`` in order: address, bound, answered, firewall (one per firewall found),
    wifi. ``ok`` is False when any finding is a problem. ``str()`` is plain words."""

    address: str
    port: int
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return all(f.ok is not False for f in self.findings)

    def about(self, topic: str) -> list[Finding]:
        return [f for f in self.findings if f.topic == topic]

    def __getitem__(self, topic: str) -> Finding:
        found = self.about(topic)
        if not found:
            raise KeyError(topic)
        return found[0]

    def __str__(self) -> str:
        head = (f"Can the room reach http://{self.address}:{self.port}/ ? "
                + ("Nothing stands in the way that this machine can see." if self.ok
                   else "No: see the problems below."))
        return "\n".join([head, *map(str, self.findings)])

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": str(self)}


def check_reachability(address: str, port: int, *, bound_host: str | None = None,
                       platform: str | None = None, firewall: bool = True,
                       timeout: float = 2.0) -> ClassroomCheck:
    """Can classmates reach ``address:port``? Checked from this machine, sending nothing
    beyond it: is ``address`` one of this machine's; is the port bound on it (``bound_host``:
    the address the server listens on, when known; else found by trying to bind); does a
    connection to it get answered; is a firewall likely in the way; what to do about Wi-Fi
    client isolation. Never raises for a bad address or a closed port: it says so."""
    platform = platform or sys.platform
    findings: list[Finding] = []
    try:
        ipaddress.IPv4Address(address)
        valid = True
    except ValueError:
        valid = False
    if not valid:
        findings.append(Finding("address", False, f"{address!r} is not an IPv4 address: the check "
                                "needs one of this machine's addresses, like join_host='192.168.x.y' "
                                "(the join card lists them)."))
    else:
        finding, local = _check_address(address)
        findings.append(finding)
        if local:
            findings.append(_check_bound(address, port, bound_host))
            findings.append(_check_answered(address, port, timeout))
    if firewall:
        findings += firewall_findings(port, platform)
    findings.append(Finding("wifi", None, WIFI_ADVICE))
    return ClassroomCheck(address, port, findings)


def _check_address(address: str) -> tuple[Finding, bool]:
    """What to say about ``address``, and whether it is this machine's own."""
    if _is_loopback(address):
        return Finding("address", False, f"{address} is a loopback address: only this machine "
                       "can use it. Serve on host 0.0.0.0 and join with a LAN address."), True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))  # succeeds only for this machine's own addresses; sends nothing
        except OSError:
            known = ", ".join(str(c) for c in candidates()) or "none found"
            return Finding("address", False, f"{address} is not an address of this machine "
                           f"(its addresses: {known})."), False
    found = {c.address: c for c in candidates()}
    c = found.get(address)
    if c is not None and c.kind == "virtual":
        return Finding("address", False, f"{address} belongs to {c.interface} ({c.label}): phones on "
                       "the room's Wi-Fi cannot reach it. Pick the Wi-Fi or Ethernet address "
                       "(serve(join_host=...))."), True
    return Finding("address", True, f"{address} is an address of this machine"
                   + (f" ({c.interface})." if c is not None and c.interface else ".")), True


def _check_bound(address: str, port: int, bound_host: str | None) -> Finding:
    if bound_host is not None:
        if bound_host in WILDCARDS or bound_host == address:
            return Finding("bound", True, f"the server listens on {bound_host or '0.0.0.0'}:{port}, "
                           f"which covers {address}.")
        return Finding("bound", False, f"the server listens on {bound_host}:{port} only, not on "
                       f"{address}: serve with host='0.0.0.0' (or --host 0.0.0.0).")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))  # without SO_REUSEADDR: fails if anything listens there
        except OSError:
            return Finding("bound", True, f"something listens on port {port} covering {address}.")
    return Finding("bound", False, f"nothing listens on {address}:{port}: start the server with "
                   f"python -m wsdemo serve --classroom --host 0.0.0.0 --port {port}.")


def _check_answered(address: str, port: int, timeout: float) -> Finding:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        return Finding("answered", False, f"a connection from this machine to {address}:{port} "
                       "was refused: nothing accepts connections there.")
    except TimeoutError:
        return Finding("answered", False, f"a connection from this machine to {address}:{port} "
                       f"got no answer within {timeout:g} s: something drops it (a firewall?).")
    except OSError as exc:
        return Finding("answered", False, f"a connection from this machine to {address}:{port} "
                       f"failed: {exc.strerror or exc}.")
    return Finding("answered", True, f"a connection from this machine to {address}:{port} was "
                   "answered. (This machine is not the room: a firewall may still stop phones.)")


def firewall_findings(port: int, platform: str | None = None) -> list[Finding]:
    """What this machine's firewall may do to incoming connections on ``port``, read without
    root where the tools allow it, with the commands to let the port in."""
    platform = platform or sys.platform
    if platform == "darwin":
        return [_macos_firewall(port)]
    if platform.startswith("win"):
        return [Finding("firewall", None, "Windows Defender Firewall asks the first time Python "
                        "listens: answer 'Allow' for Private networks. On a network marked Public, "
                        f"or if you missed it, allow port {port} (in an administrator PowerShell):",
                        [f'New-NetFirewallRule -DisplayName "wsdemo {port}" -Direction Inbound '
                         f"-Protocol TCP -LocalPort {port} -Action Allow",
                         f'netsh advfirewall firewall add rule name="wsdemo {port}" dir=in '
                         f"action=allow protocol=TCP localport={port}"])]
    if platform.startswith("linux"):
        return _linux_firewalls(port)
    return [Finding("firewall", None, f"unknown system {platform!r}: make sure TCP port {port} "
                    "may come in.")]


def _macos_firewall(port: int) -> Finding:
    fw = "/usr/libexec/ApplicationFirewall/socketfilterfw"
    out = _run([fw, "--getglobalstate"])
    python = sys.executable
    commands = [f'sudo {fw} --add "{python}"', f'sudo {fw} --unblockapp "{python}"']
    if out is not None and out.returncode == 0 and "disabled" in out.stdout.lower():
        return Finding("firewall", True, "the macOS application firewall is off.")
    state = "on" if out is not None and out.returncode == 0 else "in an unknown state"
    return Finding("firewall", None, f"the macOS application firewall is {state}: allow Python "
                   f"to accept connections (port {port}), or answer 'Allow' when macOS asks:",
                   commands)


def ufw_enabled(conf: str) -> bool:
    """Is ufw on, from the text of /etc/ufw/ufw.conf (readable without root)?"""
    m = re.search(r"(?m)^\s*ENABLED\s*=\s*(\w+)", conf)
    return m is not None and m.group(1).lower() == "yes"


def rules_may_block(tool: str, rules: str) -> bool:
    """Could these rules (``nft list ruleset`` or ``iptables -S INPUT``) drop or reject an
    incoming connection? A yes is a doubt worth a command, not a verdict."""
    if tool == "nft":
        return bool(re.search(r"hook input[^\n]*policy drop|\b(drop|reject)\b", rules))
    return bool(re.search(r"^-P INPUT (DROP|REJECT)|-j (DROP|REJECT)", rules, re.M))


def _linux_firewalls(port: int) -> list[Finding]:
    found: list[Finding] = []
    if shutil.which("ufw") or os.path.exists("/etc/ufw/ufw.conf"):
        enabled = None
        try:
            with open("/etc/ufw/ufw.conf", encoding="utf-8") as f:  # world-readable
                conf = f.read()
            enabled = ufw_enabled(conf)
        except OSError:
            pass
        allow = f"sudo ufw allow {port}/tcp"
        if enabled is False:
            found.append(Finding("firewall", True, "ufw is installed but not enabled."))
        else:
            found.append(Finding("firewall", None, f"ufw is {'enabled' if enabled else 'installed'}: "
                                 f"unless port {port} is allowed, phones cannot connect:", [allow]))
    if shutil.which("firewall-cmd"):
        out = _run(["firewall-cmd", "--state"])
        state = out.stdout.strip() if out is not None else ""  # firewall-cmd prints its state
        running = state == "running"
        if state == "not running":
            found.append(Finding("firewall", True, "firewalld is installed but not running."))
        else:
            found.append(Finding("firewall", None, f"firewalld is {'running' if running else 'installed'}: "
                                 f"allow port {port}:", [f"sudo firewall-cmd --add-port={port}/tcp"]))
    for tool, args, allow in (
            ("nft", ["nft", "list", "ruleset"],
             f"sudo nft insert rule inet filter input tcp dport {port} accept"),
            ("iptables", ["iptables", "-S", "INPUT"],
             f"sudo iptables -I INPUT -p tcp --dport {port} -j ACCEPT")):
        if not shutil.which(tool):
            continue
        out = _run(args)
        if out is None or out.returncode != 0:
            found.append(Finding("firewall", None, f"{tool} is installed; its rules cannot be read "
                                 f"without root (sudo {' '.join(args)}). If they drop incoming "
                                 f"connections, allow port {port}:", [allow]))
            continue
        if rules_may_block(tool, out.stdout):
            found.append(Finding("firewall", None, f"{tool} has rules that drop or reject some "
                                 f"incoming connections: make sure port {port} is allowed:", [allow]))
        else:
            found.append(Finding("firewall", True, f"{tool}: no rule drops incoming connections."))
    if not found:
        found.append(Finding("firewall", True, "no firewall tool found (ufw, firewalld, nftables, "
                             "iptables)."))
    return found
