"""Command line: ``python -m wsdemo decode HEX`` and ``python -m wsdemo serve``."""

from __future__ import annotations

import argparse
import sys


def _option(name: str):
    """An argparse type: an integer checked against serve()'s range for ``name``."""
    def convert(text: str) -> int:
        from .server import check_option

        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
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

    dec = sub.add_parser("decode", help="print a readable breakdown of WebSocket frames given as hex")
    dec.add_argument("hex", nargs="+", help="frame bytes as hex; spaces and ':' are ignored")
    dec.add_argument("--deflate", action="store_true", help="inflate permessage-deflate (RSV1) messages")

    srv = sub.add_parser("serve", help="run the live lab (tap + Tornado) until Ctrl-C")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=_option("port"), default=0,
                     help="the tap's public port, 0 to 65535 (0: the OS picks)")
    srv.add_argument("--compression", action="store_true", help="offer permessage-deflate")
    srv.add_argument("--classroom", action="store_true", help="require a join token, apply rate limits")
    srv.add_argument("--max-links-per-address", type=_option("max_links_per_address"), default=None,
                     metavar="N", help="connections one client address may hold at once "
                                       "(default 256; a class behind one NAT shares an address)")

    args = parser.parse_args(argv)
    if args.command == "decode":
        from .wire.dump import decode_hex

        text, ok = decode_hex(" ".join(args.hex), deflate=args.deflate)
        try:
            print(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `... | head`: the reader left; not an error worth a traceback
            sys.stdout = None
        return 0 if ok else 1
    if args.command == "serve":
        from .server import run_forever

        return run_forever(host=args.host, port=args.port, compression=args.compression,
                           classroom=args.classroom, max_links_per_address=args.max_links_per_address)
    return 2


if __name__ == "__main__":
    sys.exit(main())
