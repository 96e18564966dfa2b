"""Worked solutions, one per exercise, the only table of them: ``solution(name)`` prints one."""

from __future__ import annotations


SOLUTIONS = {
    "accept": '''\
import base64, hashlib
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"      # RFC 6455, section 1.3
digest = hashlib.sha1((key + GUID).encode("ascii")).digest()   # 20 raw bytes
answer = base64.b64encode(digest).decode("ascii")             # 28 characters''',
    "upgrade_request": '''\
import base64, os
my_key = base64.b64encode(os.urandom(16))           # a new key for every connection
my_request = (
    b"GET /chat?name=me HTTP/1.1\\r\\n"
    b"Host: 127.0.0.1\\r\\n"
    b"Upgrade: websocket\\r\\n"
    b"Connection: Upgrade\\r\\n"
    b"Sec-WebSocket-Key: " + my_key + b"\\r\\n"
    b"Sec-WebSocket-Version: 13\\r\\n"
    b"\\r\\n"
)''',
    "decode": '''\
data = bytes.fromhex(FRAME_HEX)
fin = data[0] >> 7                      # top bit of byte 0
opcode = data[0] & 0x0F                 # low 4 bits of byte 0
masked = data[1] >> 7                   # top bit of byte 1
payload_length = data[1] & 0x7F         # < 126 here, so no extended length
mask_key = data[2:6]                    # 4 bytes, present because masked == 1
payload = bytes(b ^ mask_key[i % 4] for i, b in enumerate(data[6:6 + payload_length]))
answer = {"fin": fin, "opcode": opcode, "masked": masked, "payload_length": payload_length,
          "mask_key": mask_key, "text": payload.decode("utf-8")}''',
    "unmask": '''\
def unmask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))''',
    "framing": '''\
# 200 bytes do not fit in 7 bits (at most 125): 126, then a 2-byte length
framing = {"client": 10 * (2 + 2 + 4),   # + 4: every client frame carries its masking key
           "server": 10 * (2 + 2)}       # servers do not mask''',
    "close_codes": '''\
predicted = {
    "a Close with code 1000 and a reason": 1000,   # answered with the same code
    "a Close with code 4000": 4000,                # an application's code is echoed too
    "an empty Close": 1005,                        # no code in, no code out: APIs say 1005
    "an unmasked text frame": 1002,                # clients must mask: protocol error
    "a text frame that is not UTF-8": 1007,        # well framed, bad data
    "a ping of 126 bytes": 1002,                   # control frames carry at most 125 bytes
    "a binary frame that announces 2 MiB": 1009,   # above the server's limit: too big
}''',
    "payback": '''\
import math
stats = push.connections[0].summary()                 # the whole WebSocket connection, handshake included
handshake = stats.client.http_head_bytes + stats.server.http_head_bytes
saved = short.overhead_bytes_per_update - push.overhead_bytes_per_update   # per update
updates = math.ceil(handshake / saved)                # the first whole update where the WebSocket is ahead''',
    "escape": '''\
import html

def render(name, text):
    # html.escape also escapes quotes, which the attribute needs
    return f'<li data-name="{html.escape(name)}"><b>{html.escape(name)}</b>: {html.escape(text)}</li>'
''',
    "fragment": '''\
import os

def fragment(text, size):
    data = text.encode("utf-8")                       # cut bytes, not characters
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    frames = []
    for i, piece in enumerate(pieces):
        opcode = wire.Opcode.TEXT if i == 0 else wire.Opcode.CONTINUATION
        frames.append(wire.encode_frame(opcode, piece, fin=i == len(pieces) - 1,
                                        mask_key=os.urandom(4)))   # a new key per frame
    return b"".join(frames)''',
    "bandwidth": '''\
# clients × bytes per poll × polls a second × 8 bits, in megabits of 2^20 bits
mbps = 1_000 * 871 * 1 * 8 / 2**20      # about 6.65, the table's 6.6''',
    "busy_feed": '''\
# clients × bytes per update (every byte, measured) × updates a second × 8 bits, in megabits of 10^6 bits
mbps = 10_000 * ws.bytes_per_update * 10 * 8 / 10**6''',
    "origin": '''\
from urllib.parse import urlsplit

def allowed(origin, host):
    if origin == "null":                 # a sandboxed frame or a file:// page: never trusted
        return False
    # the whole host:port, exactly: no startswith/endswith, so no lookalike gets through
    return urlsplit(origin).netloc.lower() == host.lower()''',
    "ping_interval": '''\
# below 60 - 5 = 55 s with room to spare: a late ping still beats the proxy's timeout
ping_every = 25''',
    "machines": '''\
import math
frames_per_second = 1_000_000 / 30 * 20           # each message goes to its whole room, the sender too
cpu = frames_per_second / (direct_rate * 4 * 0.7)        # machines the CPU needs, 70% busy
memory = 1_000_000 * direct_per_conn / (8 * 2**30 * 0.7) # machines the memory needs, 70% full
machines = max(1, math.ceil(max(cpu, memory)))           # the larger decides; machines come whole''',
}


def solution(name: str) -> None:
    """Print the worked solution of exercise ``name`` (see ``SOLUTIONS``)."""
    if name not in SOLUTIONS:
        print(f"No solution called {name!r}; there are: {', '.join(sorted(SOLUTIONS))}.")
        return
    print(SOLUTIONS[name])
