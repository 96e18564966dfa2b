"""Command line: ``python -m wsdemo decode HEX``, ``python -m wsdemo serve`` and
``python -m wsdemo classroom-check``."""

from __future__ import annotations

import argparse
import sys

MAX_INPUT = 64 * 1024 * 1024  # bytes read from a file or stdin: a capture, not a whole disk

DECODE_INPUT = f"""\
where the bytes come from (exactly one):
  HEX ...           hex on the command line ('81 05 48 65 6c 6c 6f', '81:05', '0x81 0x05') or a
                    Python bytes literal (b'\\x81\\x05Hello'); several arguments are joined
  -                 the same, as text read from stdin (paste, or pipe a hex dump)
  --hex-file PATH   the same, as text read from a file
  --file PATH       raw bytes, exactly as they were on the wire (a saved capture); PATH - reads
                    raw bytes from stdin

Input is limited to {MAX_INPUT // (1024 * 1024)} MiB. Exit status: 0 every byte decoded cleanly,
1 the bytes do not decode (the error says what and where), 2 the input could not be read."""


def _option(name: str, kind=int):
    """An argparse type: a number (``kind``) checked against serve()'s range for ``name``."""
    def convert(text: str) -> int:
        from .live.serving import check_option

        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}") from None
        try:
            check_option(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    convert.__name__ = name  # argparse names the type in its messages
    return convert


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsdemo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dec = sub.add_parser("decode", help="print a readable breakdown of WebSocket frames given as hex",
                         epilog=DECODE_INPUT, formatter_class=argparse.RawDescriptionHelpFormatter)
    dec.add_argument("hex", nargs="*", metavar="HEX",
                     help="frame bytes as hex (spaces and ':' are ignored) or a bytes literal; - reads stdin")
    dec.add_argument("--file", metavar="PATH", help="a file of raw bytes as captured (- for stdin)")
    dec.add_argument("--hex-file", metavar="PATH", help="a text file of hex or a bytes literal")
    dec.add_argument("--deflate", action="store_true", help="inflate permessage-deflate (RSV1) messages")

    srv = sub.add_parser("serve", help="run the live lab (tap + Tornado) until Ctrl-C")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=_option("port"), default=0,
                     help="the tap's public port, 0 to 65535 (0: the OS picks)")
    srv.add_argument("--cursor-tick-hz", type=_option("cursor_tick_hz", float), default=20,
                     help="how often /cursors sends the moves it gathered, 1 to 100 a second")
    srv.add_argument("--compression", action="store_true", help="offer permessage-deflate")
    srv.add_argument("--classroom", action="store_true", help="require a join token, apply rate limits")
    srv.add_argument("--max-links-per-address", type=_option("max_links_per_address"), default=None,
                     metavar="N", help="connections one client address may hold at once "
                                       "(default 256; a class behind one NAT shares an address)")
    srv.add_argument("--max-connections", type=_option("max_connections"), default=200,
                     metavar="N", help="WebSockets and event streams the app holds open at once "
                                       "(default 200; past it, 503)")
    srv.add_argument("--network", type=_network, default=None, metavar="NAME",
                     help="put a real network's latency and bandwidth between clients and the app: "
                          "one of " + ", ".join(_presets()) + " (default: none added)")
    srv.add_argument("--join-host", metavar="ADDRESS",
                     help="the address on the join card (default: WSDEMO_JOIN_HOST, else the likely LAN address)")
    srv.add_argument("--tls", action="store_true",
                     help="serve wss:// and https://: the tap terminates TLS with a certificate from a CA "
                          "made for this run (its PEM file is printed, for clients to trust)")
    srv.add_argument("--idle-timeout", type=_option("idle_timeout", float), default=None, metavar="S",
                     help="cut a connection with no byte either way for S seconds, as a proxy does "
                          "(nginx: 60); default: never")
    srv.add_argument("--token", help="the join token (8-64 of A-Z a-z 0-9 - _), so a restarted "
                                     "server keeps its link (default: a random one)")
    srv.add_argument("--backplane", type=_backplane, metavar="redis://HOST:PORT",
                     help="share the chat and cursors rooms and the feed with every server on this "
                          "Redis (pub/sub), to run several servers as one (needs pip install redis)")

    chk = sub.add_parser("classroom-check", help="can phones and laptops in the room reach this machine?",
                         description="Checks, from this machine: is the address this machine's, is the "
                                     "port bound on it, is a connection to it answered, is a firewall "
                                     "likely in the way, and what to do about Wi-Fi client isolation. "
                                     "Without --port, a test listener on a free port stands in for the "
                                     "server. Exit status: 0 nothing in the way, 1 a problem was found.")
    chk.add_argument("--port", type=int, default=None, help="the server's port (default: a test listener)")
    chk.add_argument("--address", metavar="ADDRESS",
                     help="the join address to check (default: WSDEMO_JOIN_HOST, else the likely LAN address)")
    srv.add_argument("--ping-interval", type=float, metavar="S",
                     help="ping every WebSocket every S seconds (default: no heartbeats)")
    srv.add_argument("--ping-timeout", type=float, metavar="S",
                     help="close a WebSocket whose pong is S seconds late with 1011 (default: the interval)")

    args = parser.parse_args(argv)
    if args.command == "decode":
        from .wire.dump import decode_bytes, decode_hex

        given = [name for name, on in (("HEX", bool(args.hex)), ("--file", args.file is not None),
                                       ("--hex-file", args.hex_file is not None)) if on]
        if len(given) != 1:
            dec.error("give the bytes one way: HEX arguments, - (stdin), --file PATH or --hex-file PATH"
                      + (f" (got {' and '.join(given)})" if given else ""))
        if args.hex == ["-"]:
            args.hex_file = "-"
        try:
            if args.file is not None:
                text, ok = decode_bytes(_read(args.file), deflate=args.deflate)
            elif args.hex_file is not None:
                text, ok = decode_hex(_read_text(args.hex_file), deflate=args.deflate)
            else:
                text, ok = decode_hex(" ".join(args.hex), deflate=args.deflate)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        try:
            print(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `... | head`: the reader left; not an error worth a traceback
            sys.stdout = None
        return 0 if ok else 1
    if args.command == "serve":
        from .live.heartbeat import check_heartbeat
        from .live.serving import run_forever

        try:
            check_heartbeat(args.ping_interval, args.ping_timeout)
        except ValueError as e:
            srv.error(str(e).replace("ping_", "--ping-"))
        return run_forever(host=args.host, port=args.port, compression=args.compression,
                           classroom=args.classroom, max_links_per_address=args.max_links_per_address,
                           max_connections=args.max_connections,
                           network=args.network, join_host=args.join_host, token=args.token,
                           ping_interval=args.ping_interval, ping_timeout=args.ping_timeout,
                           tls=args.tls, idle_timeout=args.idle_timeout,
                           cursor_tick_hz=args.cursor_tick_hz, backplane=args.backplane)
    if args.command == "classroom-check":
        if args.port is not None and not 1 <= args.port <= 65535:
            chk.error(f"--port must be 1 to 65535 (got {args.port})")
        return classroom_check(args.address, args.port)
    return 2


def classroom_check(address: str | None, port: int | None) -> int:
    """``python -m wsdemo classroom-check``: print the check; 0 when nothing is in the way."""
    import socket

    from .live.classroom import check_reachability, lan_address

    address = address or lan_address()
    if port is not None:
        result = check_reachability(address, port)
    else:
        # A listener on the join address itself stands in for the server while we look.
        try:
            listener = socket.create_server((address, 0))
        except (OSError, OverflowError, ValueError):
            result = check_reachability(address, 0)
        else:
            with listener:
                port = listener.getsockname()[1]
                print(f"(no --port: a test listener on {address}:{port} stands in for the server)")
                result = check_reachability(address, port, bound_host=address)
    print(result)
    return 0 if result.ok else 1


def _presets() -> list[str]:
    from .live.network import NETWORKS

    return list(NETWORKS)


def _backplane(text: str) -> str:
    from .live.backplane import check_url

    try:
        return check_url(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _network(text: str):
    from .live.network import Network

    try:
        return Network.of(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class InputError(Exception):
    """The input could not be read (missing file, too big, not text where text is needed)."""


def _read(path: str) -> bytes:
    name = "stdin" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT + 1)
    except OSError as e:
        raise InputError(f"cannot read {name}: {e.strerror or e}") from None
    if len(data) > MAX_INPUT:
        raise InputError(f"{name} is over the input limit of {MAX_INPUT // (1024 * 1024)} MiB "
                         f"({MAX_INPUT} bytes)")
    return data


def _read_text(path: str) -> str:
    data = _read(path)
    name = "stdin" if path == "-" else path
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{name} is not text (byte {e.start} is 0x{data[e.start]:02x}): hex or a bytes "
                         f"literal is read as text; for raw captured bytes use --file") from None


if __name__ == "__main__":
    sys.exit(main())
