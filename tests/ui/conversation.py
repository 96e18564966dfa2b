"""A real conversation as bytes, decoded by the real wire decoder (no hand-made events).

Frames come from ``encode_frame`` with fixed mask keys; the handshake carries the
RFC 6455 §1.3 example key, and the deflated "Hello" is RFC 7692 §7.2.3.1's example.
"""

from __future__ import annotations

from wsdemo import wire

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
HOSTILE = "<img src=x onerror=alert(1)>"
MASK = bytes.fromhex("37fa213d")


def request_bytes(extensions: str | None = "permessage-deflate; client_max_window_bits") -> bytes:
    lines = ["GET /chat HTTP/1.1", "Host: 127.0.0.1:8765", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13",
             "Origin: http://127.0.0.1:8765", "Cookie: session=secret-value"]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response_bytes(accept: str = ACCEPT, extensions: str | None = "permessage-deflate") -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept}"]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunks(accept: str = ACCEPT) -> list[tuple[str, bytes]]:
    """(sender, bytes) in wire order."""
    T, B, C = wire.Opcode.TEXT, wire.Opcode.BINARY, wire.Opcode.CONTINUATION
    return [
        ("client", request_bytes()),
        ("server", response_bytes(accept)),
        ("client", wire.encode_frame(T, b"Hello", mask_key=MASK)),                 # 1: masked text
        ("server", wire.encode_frame(T, b"Hello")),                                # 2: unmasked echo
        ("client", wire.encode_frame(T, b"Hel", fin=False, mask_key=MASK)),        # 3: fragment 1/2
        ("client", wire.encode_frame(wire.Opcode.PING, b"hb", mask_key=MASK)),     # 4: ping between
        ("client", wire.encode_frame(C, b"lo", mask_key=MASK)),                    # 5: fragment 2/2
        ("server", wire.encode_frame(wire.Opcode.PONG, b"hb")),                    # 6
        ("server", bytes.fromhex("c107f248cdc9c90700")),                           # 7: deflated Hello
        ("client", wire.encode_frame(B, bytes(range(256)), mask_key=MASK)),        # 8: 16-bit length
        ("server", wire.encode_frame(T, '{"user": "ann", "text": "%s", "n": [1, 2]}' % HOSTILE)),  # 9
        ("client", wire.encode_frame(wire.Opcode.CLOSE, (1000).to_bytes(2, "big") + b"bye",
                                     mask_key=MASK)),                              # 10
        ("server", wire.encode_frame(wire.Opcode.CLOSE, (1000).to_bytes(2, "big"))),  # 11
    ]


def decode(accept: str = ACCEPT, start: float = 1000.0):
    """Every event of the conversation, in order, and the decoder that produced them."""
    dec = wire.ConnectionDecoder()
    events = []
    for i, (sender, data) in enumerate(chunks(accept)):
        events += dec.feed(sender, data, at=start + i * 0.25)
    return events, dec
