"""wsdemo.wire — a sans-IO decoder for the WebSocket wire: HTTP heads and the opening
handshake (RFC 6455 section 4), frames (section 5), messages and close codes (sections 5–7),
permessage-deflate (RFC 7692), plain HTTP/1.1 keep-alive traffic, and server-sent events
(text/event-stream, HTML section 9.2).

Bytes in, objects out. Nothing here opens a socket or touches an event loop; the wire layer
raises only ProtocolError subclasses, each with a machine-readable ``kind`` (ErrorKind), and
ConnectionDecoder never raises at all: its DecodeError events carry the same ``kind``.
One home each: close payloads (Close), opcode names (opcode_name), one-line previews and
"is it text?" (preview, looks_text), bytes typed by people (parse_bytes_text).
"""

from .connection import ConnectionDecoder
from .events import (
    DecodeError,
    FrameEvent,
    HttpRequest,
    HttpResponse,
    MessageEvent,
    SseEnd,
    SseEvent,
    TapAction,
    TapEvent,
)
from .bytestext import BytesTextError, parse_bytes_text
from .close import MAX_CLOSE_REASON, Close, CloseCode, describe_close_code
from .deflate import DeflateParams, compress_message, negotiate_deflate
from .errors import ErrorKind, FrameError, HandshakeError, HttpError, MessageError, ProtocolError, SseError
from .frames import (
    DEFAULT_MAX_PAYLOAD,
    Field,
    Frame,
    FrameDecoder,
    Opcode,
    encode_frame,
    opcode_name,
    unmask,
)
from .handshake import (
    GUID,
    AcceptStep,
    Headers,
    Problem,
    Request,
    Response,
    check_handshake,
    compute_accept,
    explain_accept,
    offered_subprotocols,
    parse_extensions,
    parse_request,
    parse_response,
    select_subprotocol,
    subprotocol_problem,
)
from .lifecycle import TRANSITIONS, State, Transition, Trigger, next_state
from .messages import DEFAULT_MAX_FRAMES, Message, MessageAssembler
from .preview import looks_text, preview
from .redact import HeadRedactor, mask_tokens, mask_tokens_text, redact, redact_head, with_token
from .stats import DirectionStats, Summary, summarize
from .sse import ServerSentEvent, SseDecoder, SseField, decode_sse, encode_sse, is_event_stream

__all__ = [
    "AcceptStep", "BytesTextError", "Close", "CloseCode", "ErrorKind", "MAX_CLOSE_REASON", "ConnectionDecoder", "DEFAULT_MAX_FRAMES", "DEFAULT_MAX_PAYLOAD",
    "DecodeError", "DeflateParams",
    "DirectionStats", "Field", "Frame", "FrameDecoder", "FrameError", "FrameEvent", "GUID", "HandshakeError",
    "HeadRedactor", "Headers", "HttpError", "HttpRequest", "HttpResponse", "Message", "MessageAssembler", "MessageError",
    "MessageEvent", "Opcode", "Problem", "ProtocolError", "Request", "Response", "State", "Summary", "TapAction", "TapEvent",
    "TRANSITIONS", "Transition", "Trigger", "check_handshake", "compress_message", "compute_accept",
    "describe_close_code", "encode_frame", "explain_accept", "negotiate_deflate", "next_state",
    "offered_subprotocols", "select_subprotocol", "subprotocol_problem",
    "mask_tokens", "mask_tokens_text", "parse_bytes_text", "looks_text", "opcode_name", "preview", "parse_extensions", "parse_request", "parse_response", "redact", "redact_head",
    "summarize", "unmask", "with_token",
    "ServerSentEvent", "SseDecoder", "SseEnd", "SseError", "SseEvent", "SseField", "decode_sse", "encode_sse",
    "is_event_stream",
]
