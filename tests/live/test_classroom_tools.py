"""Classroom tools: the join address among fake interfaces, the reachability check, servers
side by side, and the teacher's moderation (kick, mute, the "Teacher" lock, token rotation)
against real clients. Loopback only: 127.0.0.x addresses stand in for the room's LAN."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import urllib.parse

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import wsdemo
from wsdemo import wire
from wsdemo.live import classroom
from wsdemo.live.server import ServerBusy

from .conftest import T, messages, wait_until

FAKE = [("lo", "127.0.0.1"), ("docker0", "172.17.0.1"), ("br-5e1f", "172.18.0.1"),
        ("vboxnet0", "192.168.56.1"), ("wlp2s0", "192.168.1.23"), ("tailscale0", "100.101.2.3"),
        ("utun3", "10.8.0.2"), ("eth9", "81.2.69.142"), ("enp0s31f6", "10.0.0.17"),
        ("wlp2s0", "169.254.3.4"), ("veth12ab", "10.0.0.17")]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- the join address ------------------------------------------------------------------

def test_candidates_put_the_likely_lan_address_first_and_virtual_interfaces_last_labelled():
    found = classroom.rank_candidates(FAKE)
    assert [c.address for c in found] == [
        "192.168.1.23", "10.0.0.17",  # physical, private: in the system's order
        "81.2.69.142",  # physical, not private
        "172.17.0.1", "172.18.0.1", "192.168.56.1", "100.101.2.3", "10.8.0.2"]  # virtual
    kinds = {c.interface: (c.kind, c.label) for c in found}
    assert kinds["wlp2s0"] == ("lan", "")
    assert kinds["docker0"] == ("virtual", "virtual: Docker")
    assert kinds["vboxnet0"] == ("virtual", "virtual: VirtualBox")
    assert kinds["tailscale0"] == ("virtual", "virtual: Tailscale VPN")
    assert kinds["utun3"][0] == kinds["br-5e1f"][0] == "virtual"
    assert str(found[3]) == "172.17.0.1 (docker0, virtual: Docker)"
    # A machine whose only addresses are virtual still offers them, labelled.
    only_virtual = classroom.rank_candidates([("docker0", "172.17.0.1"), ("lo", "127.0.0.1")])
    assert [(c.address, c.kind) for c in only_virtual] == [("172.17.0.1", "virtual")]
    assert classroom.rank_candidates([("lo", "127.0.0.1")]) == []


def test_the_real_enumeration_feeds_the_same_ranking():
    pairs = classroom.interfaces()
    assert all(isinstance(n, str) and classroom.ipaddress.IPv4Address(a) for n, a in pairs)
    assert classroom.candidates() == classroom.rank_candidates(pairs)


async def test_join_card_lists_every_candidate_and_join_host_picks_one(monkeypatch):
    monkeypatch.delenv("WSDEMO_JOIN_HOST", raising=False)
    srv = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    try:
        srv.host = "0.0.0.0"  # as if bound for the room (the test itself listens on loopback)
        found = classroom.rank_candidates(FAKE)
        card = classroom.join_card(srv, found=found)
        assert card.url == f"http://192.168.1.23:{srv.port}/chat.html?token={srv.token}"
        others = [url.split("//")[1].split(":")[0] for url, _ in card.others]
        assert others == [c.address for c in found[1:]]
        text = str(card).splitlines()
        assert text[0] == f"Join: {card.url}" and text[1] == "If that link does not open, try:"
        assert text[-1].endswith("(utun3, virtual: VPN tunnel)")
        assert "172.17.0.1" in card._repr_html_() and "virtual: Docker" in card._repr_html_()

        # The teacher picks: join_host= (serve's option) beats WSDEMO_JOIN_HOST, which still works.
        monkeypatch.setenv("WSDEMO_JOIN_HOST", "10.0.0.17")
        assert classroom.join_card(srv, found=found).url.startswith("http://10.0.0.17:")
        srv.join_host = "192.168.56.1"
        picked = classroom.join_card(srv, found=found)
        assert picked.url.startswith(f"http://192.168.56.1:{srv.port}/chat.html?token=")
        assert "192.168.1.23" in [u.split("//")[1].split(":")[0] for u, _ in picked.others]
    finally:
        await asyncio.wait_for(srv.stop(), T)
    chosen = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False,
                                                 join_host="127.0.0.1"), T)
    try:
        assert chosen.join_host == "127.0.0.1"
        assert chosen.join_card().url.startswith(f"http://127.0.0.1:{chosen.port}/")
    finally:
        await asyncio.wait_for(chosen.stop(), T)


# -- can the room reach it? ------------------------------------------------------------

async def test_check_of_a_bound_port_says_it_is_bound_and_answered():
    srv = await asyncio.wait_for(wsdemo.serve(host="127.0.0.7", classroom=True, show_join=False,
                                              join_host="127.0.0.7"), T)
    try:
        result = srv.check_classroom()
        assert result.address == "127.0.0.7" and result.port == srv.port
        assert result["bound"].ok is True and result["answered"].ok is True
        # A loopback join address is a problem for a real room, and it says so.
        assert result["address"].ok is False and "loopback" in result["address"].text
        assert not result.ok
        assert result["wifi"].ok is None and "hotspot" in result["wifi"].text
        assert result.about("firewall")
        text = str(result)
        assert text.startswith(f"Can the room reach http://127.0.0.7:{srv.port}/ ?")
        assert "[ok] the server listens on 127.0.0.7" in text and "Traceback" not in text
        # Without knowing the server, the check finds the port taken by trying to bind it.
        assert classroom.check_reachability("127.0.0.7", srv.port, firewall=False)["bound"].ok is True
        # The CLI, a separate process, says the same.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wsdemo", "classroom-check", "--port", str(srv.port),
            "--address", "127.0.0.7", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), T * 3)
        out = out.decode()
        assert proc.returncode == 1, (out, err)  # the loopback address is the problem
        assert f"[ok] something listens on port {srv.port} covering 127.0.0.7." in out
        assert f"[ok] a connection from this machine to 127.0.0.7:{srv.port} was answered" in out
        assert "[check] If this machine can open the link but phones cannot" in out
    finally:
        await asyncio.wait_for(srv.stop(), T)


async def test_check_of_a_refused_port_says_nothing_listens():
    port = free_port("127.0.0.8")
    result = classroom.check_reachability("127.0.0.8", port, firewall=False)
    assert result["bound"].ok is False
    assert f"nothing listens on 127.0.0.8:{port}" in result["bound"].text
    assert f"--port {port}" in result["bound"].text
    assert result["answered"].ok is False and "refused" in str(result["answered"])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "classroom-check", "--port", str(port), "--address", "127.0.0.8",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), T * 3)
    assert proc.returncode == 1 and f"[PROBLEM] nothing listens on 127.0.0.8:{port}" in out.decode()


async def test_check_of_a_bad_address_says_why():
    # The server listens on 127.0.0.1 only: the join address 127.0.0.9 does not reach it.
    srv = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False,
                                              join_host="127.0.0.9"), T)
    try:
        result = srv.check_classroom(firewall=False)
        assert result["bound"].ok is False
        assert result["bound"].text == (f"the server listens on 127.0.0.1:{srv.port} only, not on "
                                        "127.0.0.9: serve with host='0.0.0.0' (or --host 0.0.0.0).")
        assert result["answered"].ok is False and "refused" in result["answered"].text
    finally:
        await asyncio.wait_for(srv.stop(), T)
    with pytest.raises(RuntimeError):
        srv.check_classroom()
    # Not an address of this machine (TEST-NET-2: binding fails locally, nothing is sent).
    foreign = classroom.check_reachability("198.51.100.7", 8765, firewall=False)
    assert foreign["address"].ok is False and "not an address of this machine" in foreign["address"].text
    assert not foreign.about("bound") and not foreign.about("answered")
    junk = classroom.check_reachability("999.1.2.3", 8765, firewall=False)
    assert junk["address"].ok is False and "not an IPv4 address" in junk["address"].text
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "classroom-check", "--address", "not-an-address",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), T * 3)
    assert proc.returncode == 1 and b"'not-an-address' is not an IPv4 address" in out and not err


def test_check_of_a_virtual_interface_address_says_phones_cannot_reach_it(monkeypatch):
    # One of this machine's own addresses (it must bind), listed as if on a Docker bridge.
    # Only this machine is contacted: a connection to its own address never leaves it.
    own = [c.address for c in classroom.candidates()]
    if not own:
        pytest.skip("this machine has no non-loopback IPv4 address")
    address = own[0]
    monkeypatch.setattr(classroom, "interfaces", lambda: [("docker0", address)])
    result = classroom.check_reachability(address, free_port(address), firewall=False, timeout=0.5)
    assert result["address"].ok is False
    assert result["address"].text.startswith(f"{address} belongs to docker0 (virtual: Docker)")
    # Still this machine's address: the port is checked on it as for any other.
    assert result["bound"].ok is False and result["answered"].ok is False


async def test_check_without_a_port_uses_a_test_listener():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "classroom-check", "--address", "127.0.0.10",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), T * 3)
    out = out.decode()
    assert "a test listener on 127.0.0.10:" in out and "was answered" in out, (out, err)


def test_firewall_state_is_read_from_what_the_tools_print():
    assert classroom.ufw_enabled("# comment\nENABLED=yes\nLOGLEVEL=low\n")
    assert not classroom.ufw_enabled("ENABLED=no\n") and not classroom.ufw_enabled("")
    assert classroom.rules_may_block("iptables", "-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n")
    assert classroom.rules_may_block("iptables", "-P INPUT ACCEPT\n-A INPUT -p tcp -j REJECT\n")
    assert not classroom.rules_may_block("iptables", "-P INPUT ACCEPT\n")
    assert classroom.rules_may_block(
        "nft", "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}")
    assert not classroom.rules_may_block(
        "nft", "table inet filter {\n chain input {\n  type filter hook input priority 0; policy accept;\n }\n}")


def test_firewall_advice_names_the_commands_for_each_system():
    (mac,) = classroom.firewall_findings(8765, "darwin")
    assert any("socketfilterfw --add" in c for c in mac.commands) or mac.ok is True
    (win,) = classroom.firewall_findings(8765, "win32")
    assert any("LocalPort 8765" in c for c in win.commands)
    assert any("localport=8765" in c for c in win.commands)
    linux = classroom.firewall_findings(8765, "linux")
    assert linux and all(f.topic == "firewall" for f in linux)
    assert all(f.ok is True or f.commands for f in linux)  # a doubt always comes with a command


# -- servers side by side --------------------------------------------------------------

async def test_a_classroom_server_is_never_stopped_by_another_serve():
    room = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    student = await room.connect("/echo")
    try:
        lab = await asyncio.wait_for(wsdemo.serve(), T)  # notebook 05 in the same kernel
        lab2 = await asyncio.wait_for(wsdemo.serve(), T)  # ...re-run: replaces lab only
        assert not lab.running and port_is_free(lab.port) and port_is_free(lab.direct_port)
        named = await asyncio.wait_for(wsdemo.serve(name="demo"), T)  # another slot
        assert room.running and lab2.running and named.running
        await student.send("still here")
        assert await student.recv(timeout=T) == "still here"
        # Re-running the classroom cell, or taking its fixed port, is refused, saying why.
        with pytest.raises(ServerBusy) as busy:
            await wsdemo.serve(classroom=True, show_join=False)
        assert busy.value.server is room and "await server.stop()" in str(busy.value)
        with pytest.raises(ServerBusy):
            await wsdemo.serve(port=room.port, name="other")
        assert room.running
        again = await asyncio.wait_for(wsdemo.serve(name="demo"), T)  # same name: replaced
        assert not named.running and port_is_free(named.port)
        # On purpose: replace=True.
        new_room = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False,
                                                       replace=True), T)
        assert not room.running and port_is_free(room.port)
        with pytest.raises(wsdemo.live.client.ConnectionClosed):
            await student.recv(timeout=T)
        assert student.close_code == 1001
    finally:
        for srv in (room, locals().get("lab2"), locals().get("again"), locals().get("new_room")):
            if srv is not None:
                await asyncio.wait_for(srv.stop(), T)


async def test_the_same_fixed_port_replaces_a_plain_server():
    port = free_port("127.0.0.1")
    first = await asyncio.wait_for(wsdemo.serve(port=port, name="a"), T)
    second = await asyncio.wait_for(wsdemo.serve(port=port, name="b"), T)
    try:
        assert not first.running and second.running and second.port == port
    finally:
        await asyncio.wait_for(second.stop(), T)
    assert port_is_free(port)


# -- moderation ------------------------------------------------------------------------

@pytest.fixture
async def room():
    srv = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False, rate_limit=100), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


async def _join(srv, name: str, token: str | None = None, path: str = "/chat"):
    q = urllib.parse.urlencode({"name": name, "token": token or srv.token})
    ws = await asyncio.wait_for(connect(f"{srv.url(path)}?{q}", open_timeout=T, compression=None), T)
    return ws


async def _until(ws, predicate):
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), T))
        if predicate(event):
            return event


async def _closed(ws) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), T)
    return ws.close_code, ws.close_reason


def _server_closes(srv, name: str) -> list:
    conn = next(c for c in srv.tap.connections if c.path and f"name={name}" in c.path)
    return [(m.close_code, m.close_reason) for m in messages(conn, "server", "close")]


async def test_kick_by_id_and_by_name_closes_1008_with_the_reason(room):
    ada, bob, eve = [await _join(room, n) for n in ("Ada", "Bob", "Eve")]
    await wait_until(lambda: len(room.participants()) == 3 and all(p.id for p in room.participants()),
                     what="three participants with tap ids")
    eve_id = next(p.id for p in room.participants() if p.name == "Eve")
    assert room.kick(eve_id, "spamming") == 1
    assert await _closed(eve) == (1008, "removed by the teacher: spamming")
    assert room.kick("bob") == 1  # by name, any case
    assert await _closed(bob) == (1008, "removed by the teacher")
    await _until(ada, lambda e: e["type"] == "leave" and e["name"] == "Bob")
    assert [p.name for p in room.participants()] == ["Ada"]
    await wait_until(lambda: _server_closes(room, "Eve") and _server_closes(room, "Bob"), what="closes")
    assert _server_closes(room, "Eve") == [(1008, "removed by the teacher: spamming")]
    await ada.close()


async def test_mute_refuses_messages_with_an_error_to_that_student_only(room):
    ada, bob = await _join(room, "Ada"), await _join(room, "Bob")
    await _until(ada, lambda e: e["type"] == "join" and e["name"] == "Bob")
    assert room.mute("BOB") == 1
    told = await _until(bob, lambda e: e["type"] == "error")
    assert told["code"] == "muted" and "muted by the teacher" in told["text"]
    assert [p.muted for p in room.participants() if p.name == "Bob"] == [True]
    await bob.send(json.dumps({"text": "can you hear me"}))
    refused = await _until(bob, lambda e: e["type"] in ("error", "message"))
    assert refused["type"] == "error" and refused["code"] == "muted"
    await ada.send(json.dumps({"text": "ada talks"}))
    heard = await _until(ada, lambda e: e["type"] == "message")
    assert heard["text"] == "ada talks"  # Bob's line never reached the room
    # The error Bob got is on the wire, in the recording.
    conn = next(c for c in room.tap.connections if c.path and "name=Bob" in c.path)
    await wait_until(lambda: len([m for m in messages(conn, "server", "text") if '"muted"' in m.text]) >= 2,
                     what="the muted errors in the recording")
    with pytest.raises(ValueError):
        room.mute("!!")  # its key would match every name made only of punctuation
    assert room.unmute("Bob") == 1
    assert (await _until(bob, lambda e: e["type"] == "notice"))["code"] == "unmuted"
    await bob.send(json.dumps({"text": "back"}))
    assert (await _until(ada, lambda e: e["type"] == "message"))["text"] == "back"
    await ada.close()
    await bob.close()


async def test_the_name_teacher_is_kept_for_the_teachers_connections(room):
    for name in ("Teacher", "teacher ", "T e a c h e r!", "Ｔｅａｃｈｅｒ"):
        impostor = await _join(room, name)
        code, reason = await _closed(impostor)
        assert code == 1008 and "kept for the teacher" in reason, (name, code, reason)
    cursor = await _join(room, "Teacher", path="/cursors")
    assert (await _closed(cursor))[0] == 1008
    # The teacher's own: the kernel's client, or the teacher's link (teacher token).
    mine = await room.connect("/chat?name=Teacher")
    assert json.loads(await mine.recv(timeout=T))["name"] == "Teacher"
    tab = await _join(room, "Teacher", token=room.teacher_token)
    await _until(tab, lambda e: e["type"] == "join")
    assert "token=" + room.teacher_token in room.teacher_url("/chat.html")
    assert [p.teacher for p in room.participants() if p.name == "Teacher"] == [True, True]
    # Another name can be locked too; whoever holds it now is closed.
    sam = await _join(room, "Sam")
    assert room.lock_name("Sam") == 1
    assert (await _closed(sam))[0] == 1008
    room.unlock_name("Sam")
    sam = await _join(room, "Sam")
    await _until(sam, lambda e: e["type"] == "join" and e["name"] == "Sam")
    for ws in (tab, sam):
        await ws.close()
    await mine.close()


async def test_rotating_the_token_closes_old_joins_with_4001_and_keeps_the_teacher(room):
    old = room.token
    ada = await _join(room, "Ada")
    ticker = await asyncio.wait_for(connect(f"{room.url('/ticker')}?token={old}", open_timeout=T), T)
    teacher = await room.connect("/chat?name=Teacher")
    card = room.rotate_token()
    assert room.token != old and f"token={room.token}" in card.url
    for ws in (ada, ticker):
        assert await _closed(ws) == (4001, "the join token changed; rejoin with the new link")
    assert teacher.is_open
    await teacher.send(json.dumps({"text": "still the teacher"}))
    while (event := json.loads(await teacher.recv(timeout=T)))["type"] != "message":
        pass
    assert event["text"] == "still the teacher"
    with pytest.raises(InvalidStatus) as refused:
        await _join(room, "Ada", token=old)
    assert refused.value.response.status_code == 403
    again = await _join(room, "Ada")  # with the new link
    await _until(again, lambda e: e["type"] == "join" and e["name"] == "Ada")
    await wait_until(lambda: _server_closes(room, "Ada"), what="Ada's close in the recording")
    assert _server_closes(room, "Ada")[0] == (4001, "the join token changed; rejoin with the new link")
    with pytest.raises(ValueError):
        room.rotate_token("short")
    await again.close()
    await teacher.close()


async def test_moderation_outside_classroom_mode_is_harmless(server):
    client = await server.connect("/chat?name=Teacher")  # no lock outside classroom mode
    assert json.loads(await client.recv(timeout=T))["name"] == "Teacher"
    with pytest.raises(RuntimeError):
        server.rotate_token()
    assert server.kick("nobody") == 0
    await client.close()


async def test_serve_command_takes_a_fixed_port_token_and_join_host():
    import signal

    from .test_cli import serve_command

    port = free_port("127.0.0.1")
    async with serve_command("--classroom", "--port", str(port), "--token", "class-of-2026",
                             "--join-host", "127.0.0.1") as (proc, lines):
        assert f"Join: http://127.0.0.1:{port}/chat.html?token=class-of-2026" in lines
        async with connect(f"ws://127.0.0.1:{port}/echo?token=class-of-2026", open_timeout=T) as ws:
            await ws.send("in")
            assert await asyncio.wait_for(ws.recv(), T) == "in"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), T) == 0
    bad = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "serve", "--classroom", "--token", "no spaces!",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(bad.communicate(), T * 3)
    assert bad.returncode == 2 and b"token must be 8 to 64 characters" in err
