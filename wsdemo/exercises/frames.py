"""Notebook 03: a frame decoded by hand, an unmask function, and close codes predicted, then
provoked on the live lab."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .. import wire
from ..live.keepalive import UpgradeRefused, open_websocket
from ._hints import OK, T, NotANumber, as_bytes, as_number, function_problem, say

if TYPE_CHECKING:
    from ..live.server import Server


def _decode_one(frame_hex: str) -> tuple[bytes, wire.Frame]:
    """The exercise's frame: its bytes and the wire layer's reading of them."""
    data = wire.parse_bytes_text(frame_hex)
    frames = wire.FrameDecoder().feed(data)
    if len(frames) != 1:
        raise ValueError(f"the exercise needs exactly one frame in {frame_hex!r}")
    return data, frames[0]


FIELDS = ("fin", "opcode", "masked", "payload_length", "mask_key", "text")


def check_frame_fields(answer: Any, frame_hex: str) -> bool:
    """Check a frame decoded by hand: a dict with the keys in ``FIELDS``.

    ``opcode`` may be a number or a name ("text"); ``mask_key`` bytes, hex text or a
    list of ints (None for an unmasked frame); ``text`` the unmasked payload as str.
    """
    data, frame = _decode_one(frame_hex)
    if not isinstance(answer, dict):
        return say(False, "Fill in a dict with the keys " + ", ".join(repr(f) for f in FIELDS)
                   + ", one field at a time, starting from the first byte.")
    missing = [f for f in FIELDS if f not in answer]
    if missing:
        return say(False, f"The dict lacks {', '.join(map(repr, missing))}.")
    if all(answer[f] is None for f in FIELDS if not (f == "mask_key" and not frame.masked)):
        return say(False, f"Nothing filled in yet. Start with the first byte, 0x{data[0]:02x} = "
                          f"{data[0]:08b} in bits: FIN is the leftmost bit, the opcode the rightmost four.")
    all_ok = True

    def field(name: str, ok: bool, hint: str) -> None:
        nonlocal all_ok
        all_ok &= ok
        say(ok, name if ok else f"{name}: {hint}")

    fin = answer["fin"]
    field("fin", fin in (True, 1) if frame.fin else fin in (False, 0),
          f"FIN is the most significant bit of byte 0 (0x{data[0]:02x} >> 7); 1 means "
          "'this is the last (or only) fragment'.")

    op = answer["opcode"]
    op_ok = False
    if isinstance(op, str):
        op_ok = op.strip().upper() == wire.opcode_name(frame.opcode)
    elif isinstance(op, int) and not isinstance(op, bool):
        op_ok = op == frame.opcode
    if op == data[0]:
        hint = f"0x{data[0]:02x} is the whole first byte; the opcode is its low 4 bits (byte & 0x0F)."
    else:
        hint = "the opcode is the low 4 bits of byte 0; 0x1 is text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong."
    field("opcode", op_ok, hint)

    masked = answer["masked"]
    field("masked", masked in (True, 1) if frame.masked else masked in (False, 0),
          f"MASK is the most significant bit of byte 1 (0x{data[1]:02x} >> 7).")

    length = answer["payload_length"]
    if length == data[1] and frame.masked:
        hint = f"you kept the MASK bit: the 7-bit length is byte 1 & 0x7F, not 0x{data[1]:02x}."
    elif length == len(data):
        hint = "that is the length of the whole frame; count only the payload bytes."
    elif (data[1] & 0x7F) >= 126 and length == data[1] & 0x7F:
        hint = (f"{data[1] & 0x7F} is a signal, not the length: the real length follows in the next "
                f"{2 if data[1] & 0x7F == 126 else 8} bytes, big-endian.")
    else:
        hint = "the 7 low bits of byte 1 hold the payload length (126 and 127 mean: read the next 2 or 8 bytes)."
    field("payload_length", length == frame.payload_len and not isinstance(length, bool), hint)

    key = answer["mask_key"]
    if frame.masked:
        got = as_bytes(key)
        start = len(frame.header) - 4
        if got is not None and len(got) != 4:
            hint = f"a masking key is exactly 4 bytes; you gave {len(got)}."
        else:
            hint = (f"the 4 bytes right after the length fields (here bytes {start} to {start + 3}); "
                    "give them as hex text like '0a 1b 2c 3d' or as bytes.")
        field("mask_key", got == frame.mask_key, hint)
    else:
        field("mask_key", key in (None, b"", ""),
              "this frame is not masked (MASK bit 0), so it has no masking key: answer None.")

    text = answer["text"]
    if isinstance(text, (bytes, bytearray)):
        text_ok = False
        hint = ("right bytes, but give the text as a str: .decode('utf-8')." if bytes(text) == frame.payload
                else "give the text as a str (the unmasked bytes decoded as UTF-8).")
    else:
        text_ok = text == frame.payload.decode("utf-8", "replace")
        if frame.masked and isinstance(text, str) and text == frame.wire_payload.decode("latin-1"):
            hint = ("that is the masked payload as it travels; unmask it first: "
                    "byte i XOR mask_key[i % 4].")
        else:
            hint = ("the payload is the last payload_length bytes"
                    + (", each XOR-ed with mask_key[i % 4], then decoded as UTF-8." if frame.masked
                       else ", decoded as UTF-8."))
    field("text", text_ok, hint)
    if all_ok:
        print(f"{OK} All fields right: {frame}")
    return all_ok


def check_unmask(unmask: Any) -> bool:
    """Check a function ``unmask(data: bytes, key: bytes) -> bytes`` (RFC 6455 section 5.3)."""
    problem = function_problem(unmask, "unmask", "Define unmask(data, key) returning bytes where byte i is "
                                                 "data[i] XOR key[i % 4].")
    if problem:
        return say(False, problem)
    # The RFC's "Hello", then lengths that are not a multiple of 4, then nothing at all.
    key = bytes.fromhex("37fa213d")
    cases = [(b"Hello", key), ("WebSockets mask every client byte".encode(), bytes.fromhex("a1b2c3d4")),
             (bytes(range(256)), bytes.fromhex("00ff10ef")), (b"", key)]
    for plain, k in cases:
        masked = wire.encode_frame(wire.Opcode.BINARY, plain, mask_key=k)[-len(plain):] if plain else b""
        try:
            got = unmask(masked, k)
        except IndexError:
            return say(False, "IndexError: the key has only 4 bytes; use key[i % 4] for byte i.")
        except TypeError as exc:
            return say(False, f"TypeError ({exc}): XOR works on ints; data[i] of bytes is already an int, "
                              "and bytes(list_of_ints) makes the result.")
        except Exception as exc:  # a learner's bug must end in a hint, not a traceback
            return say(False, f"Your function raised {type(exc).__name__}: {exc}")
        if isinstance(got, str):
            return say(False, "Return bytes, not str: build bytes(...) from the XOR-ed ints.")
        if isinstance(got, list):
            return say(False, "Return bytes, not a list: wrap the list in bytes(...).")
        if not isinstance(got, (bytes, bytearray)):
            return say(False, f"Return bytes, not {type(got).__name__}.")
        got = bytes(got)
        if got == plain:
            continue
        if got == masked and plain:
            return say(False, "It returned the data unchanged: XOR each byte with the key.")
        if len(got) != len(plain):
            return say(False, f"For {len(plain)} bytes in, it gave {len(got)} bytes out; the length never changes.")
        if got[:4] == plain[:4]:
            return say(False, "Right for the first 4 bytes, wrong after: the key repeats, key[i % 4].")
        return say(False, f"Unmasking {masked.hex(' ')} with key {k.hex(' ')} should give {plain!r}, got {got!r}.")
    return say(True, "Your unmask() gives the right bytes, for every length.")


# ---------------------------------------------------------------- 03: predict, then provoke, close codes

_K = bytes.fromhex("a1b2c3d4")  # a fixed masking key, so the bytes printed in the notebook do not change
_E, _O = wire.encode_frame, wire.Opcode

#: name -> (the bytes a client sends after its handshake, why the server answers as it does)
BROKEN_FRAMES: dict[str, tuple[bytes, str]] = {
    "a Close with code 1000 and a reason": (
        _E(_O.CLOSE, wire.Close(1000, "bye").serialize(), mask_key=_K),
        "a peer answers a Close with a Close and, usually, the same code (section 5.5.1); the reason is optional."),
    "a Close with code 4000": (
        _E(_O.CLOSE, wire.Close(4000).serialize(), mask_key=_K),
        "4000-4999 are for applications; the server echoes the code it was sent, like any other valid one."),
    "an empty Close": (
        _E(_O.CLOSE, b"", mask_key=_K),
        "a Close without a code is answered by a Close without a code, which an API reports as 1005 "
        "(no status received, section 7.4.1)."),
    "an unmasked text frame": (
        _E(_O.TEXT, b"hi"),
        "client frames must be masked (section 5.1): a protocol error, 1002."),
    "a text frame that is not UTF-8": (
        _E(_O.TEXT, b"\xff\xfe", mask_key=_K),
        "the frame itself is well formed; its text is not UTF-8: 1007, invalid payload data (section 8.1)."),
    "a ping of 126 bytes": (
        _E(_O.PING, b"x" * 126, mask_key=_K),
        "control frames carry at most 125 bytes (section 5.5): a protocol error, 1002."),
    "a binary frame that announces 2 MiB": (
        bytes((0x82, 0xFF)) + (2 * 2 ** 20).to_bytes(8, "big") + _K,
        "the header alone says 2 MiB, above the lab's 1 MiB limit: 1009, message too big, before any payload."),
}
NO_CODE = wire.CloseCode.NO_STATUS_RCVD.value  # what an API reports for a Close without a code (never sent)
NO_CLOSE = wire.CloseCode.ABNORMAL_CLOSURE.value  # ... and for a connection that ended without any Close


async def _provoke(server: "Server", data: bytes) -> int:
    """Send ``data`` after a handshake through the tap, and read from the tap's recording the
    close code the server answered (1005 for a Close without a code, 1006 for none)."""
    # a classroom server asks for its join token
    ws = await open_websocket(wire.with_token(server.url("/echo"), server.token), timeout=T)
    try:
        ws.writer.write(data)
        await asyncio.wait_for(ws.reader.read(), T)  # until the server hangs up
    finally:
        await ws.close()
    conn = server.tap.connection_from(ws.local_address) if server.tap is not None else None
    if conn is None:
        raise RuntimeError(f"the tap recorded no connection from {ws.local_address}")
    conn.flush()
    for e in list(conn.events):
        if isinstance(e, wire.MessageEvent) and e.sender == "server" and e.message.close is not None:
            return e.message.close.code  # 1005 (NO_CODE) for a Close without a code
    return NO_CLOSE


async def check_close_codes(predicted: Any, server: Any) -> bool:
    """Compare predicted close codes with what the live server answers to each of
    ``BROKEN_FRAMES``, sent through the tap on a raw connection (read from the recording)."""
    names = list(BROKEN_FRAMES)
    if not isinstance(predicted, dict):
        return say(False, "Fill in the dict: for each frame's name, the close code you expect the server "
                          "to answer, as a number.")
    unknown = [n for n in predicted if n not in BROKEN_FRAMES]
    if unknown:
        return say(False, f"{unknown[0]!r} is not one of the frames; keep the names as they are: "
                          + ", ".join(map(repr, names)) + ".")
    if all(predicted.get(n) is None for n in names):
        return say(False, "No predictions yet. For each frame, write the code you expect in the server's Close: "
                          "the list of codes above says what each means (section 7.4.1).")
    from ..live.server import Server  # here, not above: check_environment must import in a kernel without tornado

    if not isinstance(server, Server):
        return say(False, "Pass the running lab server (server), so the frames can be sent to it.")
    all_ok = True
    for name in names:
        guess = predicted.get(name)
        if guess is None:
            all_ok = say(False, f"{name}: not predicted yet.")
            continue
        data, why = BROKEN_FRAMES[name]
        try:
            code = await _provoke(server, data)
        except UpgradeRefused as exc:
            return say(False, f"The server refused the WebSocket handshake itself ({exc.status} "
                              f"{exc.response.reason}), so no frame could be sent; is it a lab server "
                              "started with a token or an origin check?")
        except (OSError, RuntimeError, EOFError, wire.ProtocolError, asyncio.TimeoutError) as exc:
            return say(False, f"Could not reach the server ({type(exc).__name__}: {exc}); is it still running?")
        got = f"the server answered {code}" + (" (a Close without a code)" if code == NO_CODE else "")
        if isinstance(guess, str) and guess.strip().isdigit() and int(guess) == code:
            all_ok = say(False, f"{name}: right code, but as text {guess!r}; write the number {code}.")
            continue
        number = as_number(guess, name)
        if isinstance(number, NotANumber):
            all_ok = say(False, number)
            continue
        if number == code:
            say(True, f"{name}: {got}; {why}")
            continue
        all_ok = False
        if number == NO_CLOSE:
            extra = " 1006 never travels on the wire: it means the connection dropped without a Close, and here one came."
        elif number == NO_CODE:
            extra = " 1005 is never sent on the wire: an API reports it for a Close without a code; this answer had one."
        elif number == wire.CloseCode.TLS_HANDSHAKE:
            extra = " 1015 is never sent on the wire: an API reports it for a failed TLS handshake."
        elif not 1000 <= number <= 4999 or number != int(number):
            extra = f" {number:g} is not a close code; codes are whole numbers from 1000 to 4999."
        else:
            extra = ""
        say(False, f"{name}: you predicted {number:g}, {got}: {why}{extra}")
    return all_ok

