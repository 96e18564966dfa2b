"""wire.Close: the one reader and writer of close payloads (RFC 6455 sections 5.5.1, 7.4)."""

import dataclasses

import pytest

from wsdemo.wire import (
    MAX_CLOSE_REASON, Close, CloseCode, ErrorKind, MessageError, ProtocolError, describe_close_code,
)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 3999, 4000, 4999])
@pytest.mark.parametrize("reason", ["", "bye", "café ☕", "x" * MAX_CLOSE_REASON])
def test_round_trip(code, reason):
    close = Close(code, reason)
    payload = close.serialize()
    assert payload[:2] == code.to_bytes(2, "big") and payload[2:] == reason.encode()
    assert Close.parse(payload) == close


def test_empty_payload_is_1005_no_status_received():
    close = Close.parse(b"")
    assert close == Close(CloseCode.NO_STATUS_RCVD, "") and close.code == 1005
    assert str(close) == "1005 (no status received)"
    with pytest.raises(MessageError) as info:  # reported locally, never sent
        close.serialize()
    assert info.value.kind is ErrorKind.CLOSE_CODE_INVALID


def test_one_byte_payload():
    with pytest.raises(MessageError, match="close payload is 1 byte") as info:
        Close.parse(b"\x03")
    assert info.value.kind is ErrorKind.CLOSE_TOO_SHORT and info.value.frame_offset == 0
    with pytest.raises(MessageError):  # even for display: there is no code to show
        Close.parse(b"\x03", strict=False)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_codes_a_sender_may_not_use(code):
    with pytest.raises(MessageError, match=f"close code {code} ") as info:
        Close.parse(code.to_bytes(2, "big") + b"why")
    assert info.value.kind is ErrorKind.CLOSE_CODE_INVALID and info.value.code == 1002
    assert info.value.frame_offset == 0
    with pytest.raises(MessageError) as info:
        Close(code).check()
    assert info.value.kind is ErrorKind.CLOSE_CODE_INVALID
    # read for display, the code is kept as it was
    assert Close.parse(code.to_bytes(2, "big") + b"why", strict=False) == Close(code, "why")


def test_reason_not_utf8():
    with pytest.raises(MessageError, match="not valid UTF-8 at byte 4") as info:
        Close.parse(b"\x03\xe8ok\xff")
    e = info.value
    assert (e.kind, e.code, e.offset, e.frame_offset) == (ErrorKind.CLOSE_REASON_INVALID, 1007, 4, 4)
    assert Close.parse(b"\x03\xe8ok\xff", strict=False) == Close(1000, "ok\ufffd")
    with pytest.raises(MessageError) as info:
        Close(1000, "\ud800").serialize()  # a lone surrogate has no UTF-8
    assert info.value.kind is ErrorKind.CLOSE_REASON_INVALID


def test_reason_too_long():
    with pytest.raises(MessageError, match="124 bytes") as info:
        Close(1000, "x" * (MAX_CLOSE_REASON + 1)).check()
    assert info.value.kind is ErrorKind.CLOSE_REASON_TOO_LONG
    with pytest.raises(MessageError):
        Close(1000, "é" * 62).serialize()  # 124 bytes of UTF-8 in 62 characters


@pytest.mark.parametrize("close, text", [
    (Close(1000, "bye"), "1000 (normal closure) 'bye'"), (Close(1001), "1001 (going away)"),
    (Close(1015), "1015 (TLS handshake)"), (Close(3000), "3000 (registered)"),
    (Close(4001, "x"), "4001 (private use) 'x'"), (Close(2000), "2000 (reserved)"), (Close(999), "999 (invalid)"),
])
def test_str(close, text):
    assert str(close) == text


def test_names_agree_with_close_code_meanings():
    for member in CloseCode:
        close = Close(member.value)
        assert close.name is not None and describe_close_code(member.value).startswith(f"{member.value} {close.name}")
        assert close.description == describe_close_code(member.value)
    assert Close(4000).name is None


def test_frozen_and_a_protocol_error():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Close(1000).code = 1001  # type: ignore[misc]
    with pytest.raises(ProtocolError):  # and so a ValueError, for callers that catch the usual thing
        Close.parse(b"\x00")
