"""wsdemo/live/apps/tornado_protocol.py leans on Tornado's private side. These tests fail near the
cause when a Tornado upgrade moves it: the version bound, every private name the adaptation
overrides, calls or reads, and the places in Tornado that call our overrides."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import tornado
import tornado.iostream
import tornado.websocket
from packaging.requirements import Requirement
from packaging.version import Version

from wsdemo.live.apps import tornado_protocol
from wsdemo.live.apps.tornado_protocol import TORNADO_PRIVATE, TORNADO_SUPPORTED, Protocol13

from .conftest import T, wait_until

ROOT = Path(__file__).resolve().parents[2]
Tornado13 = tornado.websocket.WebSocketProtocol13


def _pyproject_tornado() -> Requirement:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "tornado"]
    return req


def test_pyproject_bounds_tornado_to_the_versions_the_adaptation_was_checked_on():
    req = _pyproject_tornado()
    assert str(req.specifier) == str(Requirement(f"tornado{TORNADO_SUPPORTED}").specifier)
    assert any(s.operator == "<" for s in req.specifier), "tornado needs an upper bound"
    assert req.specifier.contains(Version(tornado.version)), (
        f"tornado {tornado.version} is installed, but wsdemo's protocol adaptation was checked on "
        f"tornado{TORNADO_SUPPORTED}: re-check tornado_protocol.py against the new websocket.py, then "
        f"move the bound in pyproject.toml, environment.yml and TORNADO_SUPPORTED")


def _params(func) -> list[str]:
    return list(inspect.signature(func).parameters)


def test_every_private_method_the_adaptation_uses_still_exists_with_its_signature():
    expected = {
        "_receive_frame": ["self"],
        "_parse_extensions_header": ["self", "headers"],
        "_abort": ["self"],
        "_run_callback": ["self", "callback", "args", "kwargs"],
        "write_message": ["self", "message", "binary"],
        "_send_pong": ["self", "data"],
        "_write_frame": ["self", "fin", "opcode", "data", "flags"],
        "close": ["self", "code", "reason"],
    }
    assert set(expected) == set(TORNADO_PRIVATE["overridden"]) | set(TORNADO_PRIVATE["called"])
    for name, params in expected.items():
        ours, theirs = getattr(Protocol13, name), getattr(Tornado13, name)
        assert callable(theirs), name
        assert _params(theirs) == params, f"Tornado's {name} changed: {inspect.signature(theirs)}"
        if name in TORNADO_PRIVATE["overridden"]:
            assert _params(ours) == params, name
            assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs), name
    # Each part of a frame is read exactly, with the stream's public read_bytes.
    assert _params(tornado.iostream.BaseIOStream.read_bytes)[:2] == ["self", "num_bytes"]
    # Public hooks of the handler the adaptation calls.
    for name in ("get_websocket_protocol", "get_compression_options", "on_message", "on_ping", "on_pong",
                 "select_subprotocol", "ping"):
        assert callable(getattr(tornado.websocket.WebSocketHandler, name)), name
    assert isinstance(tornado.websocket.WebSocketHandler.max_message_size, property)


def test_tornado_still_calls_the_overrides_where_the_adaptation_expects():
    # Our _receive_frame replaces Tornado's frame reading: its loop must keep calling it until
    # the client has closed, and no other path may read frames.
    loop = inspect.getsource(Tornado13._receive_frame_loop)
    assert "while not self.client_terminated" in loop and "await self._receive_frame()" in loop
    # The offer we validated is the one Tornado accepts and echoes.
    accept = inspect.getsource(Tornado13._accept_connection)
    assert "self._parse_extensions_header(handler.request.headers)" in accept
    assert "self._create_compressors(" in accept and '"permessage-deflate"' in accept
    # BaseSocket.select_subprotocol gets the offers split on commas and its answer goes in the 101;
    # Tornado's client takes any answer, so wsdemo's client checks it against its offers.
    assert "handler.select_subprotocol(subprotocols)" in accept and 'split(",")' in accept
    # After our Close (a rate limit), Tornado sends no pong.
    assert "if self.server_terminated" in inspect.getsource(Tornado13._send_pong)
    # Tornado makes a WebSocketProtocol13 that adapt() can re-class.
    assert "WebSocketProtocol13(" in inspect.getsource(tornado.websocket.WebSocketHandler.get_websocket_protocol)


async def test_a_live_connection_runs_the_adaptation_with_every_attribute_it_reads(server):
    client = await server.connect("/echo")
    await client.send("hi")
    assert await client.recv(timeout=T) == "hi"
    await wait_until(lambda: server.app_state.sockets, what="the handler registered")
    (handler,) = server.app_state.sockets
    protocol = handler.ws_connection
    assert type(protocol) is Protocol13
    missing = [a for a in TORNADO_PRIVATE["attributes"] if not hasattr(protocol, a)]
    assert not missing, f"Tornado's protocol lost {missing}"
    assert protocol._wire_bytes_in > 0 and protocol._message_bytes_in == 2
    stream = protocol.stream
    missing = [a for a in TORNADO_PRIVATE["stream_attributes"] if not hasattr(stream, a)]
    assert not missing, f"Tornado's IOStream lost {missing}"
    # What send()'s "not reading" policy measures: an int, 0 when all was written.
    assert len(stream._write_buffer) == 0 and tornado_protocol.pending_write_bytes(stream) == 0
    await client.close()
    assert tornado_protocol.adapt(None) is None
