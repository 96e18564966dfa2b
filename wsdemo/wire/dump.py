"""``python -m wsdemo decode HEX``: a readable breakdown of frames given as hex.

Learners paste bytes from many places (the RFC, Wireshark's "copy as hex", Python's
``b'\\x81\\x05'``, a whole captured conversation), so the input is read generously and every
problem is shown on the frame it belongs to: the breakdown of what could be read, then the
error with its byte offset and, where it helps, what to try next.
"""

from __future__ import annotations

import re

from .bytestext import BytesTextError, parse_bytes_text
from .deflate import NAME as DEFLATE
from .handshake import parse_extensions
from .errors import ErrorKind, FrameError, MessageError, ProtocolError
from .frames import DEFAULT_MAX_PAYLOAD, FrameDecoder, opcode_name
from .handshake import Request, Response, find_head_end, parse_head
from .messages import MessageAssembler
from .preview import preview

_HTTP_START = re.compile(rb"(?:[A-Z]+ \S+ HTTP/\d\.\d|HTTP/\d\.\d \d{3})")


def _partial(data: bytes, at: int) -> list[str]:
    """What the first bytes of a cut-off frame already say."""
    lines = [f"incomplete frame at byte {at}: {len(data)} byte{'s' if len(data) != 1 else ''} "
             f"({preview(data, None, 48)})"]
    if len(data) < 2:
        return lines + ["  a frame header needs at least 2 bytes"]
    b0, b1 = data[0], data[1]
    lines.append(f"  FIN={b0 >> 7} RSV1={(b0 >> 6) & 1} RSV2={(b0 >> 5) & 1} RSV3={(b0 >> 4) & 1} "
                 f"opcode=0x{b0 & 0x0F:x} ({opcode_name(b0 & 0x0F)}) "
                 f"MASK={b1 >> 7} payload length={b1 & 0x7F}")
    n7 = b1 & 0x7F
    ext = 2 if n7 == 126 else 8 if n7 == 127 else 0
    header = 2 + ext + (4 if b1 & 0x80 else 0)
    if len(data) < 2 + ext:
        lines.append(f"  the header is {header} bytes: {2 + ext - len(data)} more needed for the extended length")
        return lines
    n = int.from_bytes(data[2:2 + ext], "big") if ext else n7
    if len(data) < header:
        lines.append(f"  payload of {n} bytes announced; the header is {header} bytes and "
                     f"{header - len(data)} of them are missing")
    else:
        lines.append(f"  {header}-byte header; payload of {n} bytes announced, {len(data) - header} present, "
                     f"{n - (len(data) - header)} missing")
    return lines


def _http_head(data: bytes) -> tuple[list[str], int, Request | Response | None]:
    """If ``data`` opens with an HTTP head (a captured conversation), describe it and say where
    frames start, with the head; otherwise ([], 0, None); (lines, -1, None) when it is broken."""
    if not _HTTP_START.match(data[:64]):
        return [], 0, None
    end = find_head_end(data)
    if end < 0:
        return [f"these bytes are an HTTP head ({data[:40]!r}…) that does not end (no empty line): "
                "not a WebSocket frame"], -1, None
    try:
        msg = parse_head(data[:end], response=data.startswith(b"HTTP/"))
    except ProtocolError as e:
        return [f"an HTTP head of {end} bytes that does not parse: {e}"], -1, None
    lines = [f"HTTP head, bytes 0-{end - 1} ({end} bytes): {msg}"]
    lines += [f"  {name}: {value}" for name, value in msg.headers]
    lines.append(f"frames start at byte {end}")
    return lines, end, msg


def _accepts_deflate(msg: Request | Response | None) -> bool:
    """Is ``msg`` a response that accepted permessage-deflate?"""
    if not isinstance(msg, Response):
        return False
    try:
        return any(name == DEFLATE for name, _ in parse_extensions(msg.headers.get_all("Sec-WebSocket-Extensions")))
    except ProtocolError:
        return False


def decode_hex(text: str, deflate: bool = False) -> tuple[str, bool]:
    """Decode the frames in ``text`` (hex; spaces, ':', '0x' and '\\x' prefixes ignored; an HTTP
    head at the start is shown, then the frames after it). Returns (the breakdown, True when
    every byte decoded cleanly). A Python bytes literal (``b'\\x81\\x05Hi'``) is read too,
    without evaluating it (see :func:`wsdemo.wire.bytestext.parse_bytes_text`)."""
    try:
        data = parse_bytes_text(text)
    except BytesTextError as e:
        return f"error: {e}", False
    return decode_bytes(data, deflate=deflate)


def decode_bytes(data: bytes, deflate: bool = False) -> tuple[str, bool]:
    """Like :func:`decode_hex`, for raw bytes (a capture saved as it was on the wire)."""
    if not data:
        return "error: no bytes given", False
    out, start, head = _http_head(data)
    if start < 0:
        return "\n".join(out), False
    if _accepts_deflate(head) and not deflate:
        deflate = True
        out.append("(the response negotiated permessage-deflate: inflating compressed messages)")
    if start == len(data):
        return "\n".join(out), True
    decoder = FrameDecoder(DEFAULT_MAX_PAYLOAD, allow_rsv1=deflate, offset=start)
    assembler = MessageAssembler(deflate=deflate)
    ok = True
    try:
        frames = decoder.feed(data[start:])
        error = None
    except FrameError as e:
        frames, error = e.frames, e
    compressed_seen = 0
    for i, frame in enumerate(frames, 1):
        if out:
            out.append("")
        note = " (positions below count from the frame's first byte)" if i == 1 and frame.offset else ""
        out.append(f"frame {i} at byte {frame.offset}{note}:")
        out.append(frame.describe())
        try:
            message = assembler.add(frame)
        except ProtocolError as e:
            ok = False
            frame_offset = e.frame_offset if isinstance(e, MessageError) else None
            where = frame.offset + len(frame.header) + frame_offset if frame_offset is not None \
                and not frame.rsv1 else frame.offset
            hint = ""
            if e.kind is ErrorKind.INFLATE_FAILED and not compressed_seen and not assembler.no_context_takeover:
                hint = ("\nhint: with context takeover a compressed message may refer back to earlier messages; "
                        "give the frames before it too, in order")
            out.append(f"error in frame {i}, byte {where}: {e}{hint}")
        else:
            if frame.rsv1 and frame.opcode != 0:
                compressed_seen += 1
            if message is not None and (len(message.frames) > 1 or message.compressed):
                out.append(f"=> message: {message}")
    if error is not None:
        ok = False
        frame_start = frames[-1].offset + frames[-1].size if frames else start
        rest = data[frame_start:]
        # show the offending frame as far as it can be read, then say what is wrong with it
        loose = FrameDecoder(DEFAULT_MAX_PAYLOAD, allow_rsv1=True, validate=False, offset=frame_start)
        try:
            shown = loose.feed(rest)[:1]
        except FrameError:
            shown = []
        if out:
            out.append("")
        if shown:
            out.append(f"frame {len(frames) + 1} at byte {frame_start} (refused):")
            out.append(shown[0].describe())
        else:
            out += _partial(rest, frame_start)
        hint = ""
        if error.kind is ErrorKind.RSV1_NOT_NEGOTIATED and not deflate:
            hint = ("\nhint: RSV1 marks a permessage-deflate message; if the connection negotiated it, "
                    "add --deflate")
        if error.kind is ErrorKind.RESERVED_OPCODE and data[frame_start:frame_start + 4] in (b"GET ", b"HTTP"):
            hint = "\nhint: these bytes are HTTP text, not a frame"
        out.append(f"error at byte {error.offset}: {error}{hint}")
        return "\n".join(out), False
    try:
        decoder.eof()
    except ProtocolError:
        ok = False
        if out:
            out.append("")
        cut = frames[-1].offset + frames[-1].size if frames else start
        out += _partial(data[cut:], cut)
        out.append(f"error at byte {cut}: the bytes end inside this frame")
    if assembler.in_progress:
        out.append("note: the last message is fragmented and its final frame (FIN=1) is missing")
    return "\n".join(out), ok
