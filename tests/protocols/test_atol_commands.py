"""Application commands: round trips over every field's full range, exact bytes, dialects, garbage."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocols.atol import commands as cmd
from protocols.atol.bcd import max_bcd
from protocols.atol.codepage import decode_text
from protocols.errors import ProtocolError

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
nibble = st.integers(0, 15)


def bcd(width: int) -> st.SearchStrategy[int]:
    return st.integers(0, max_bcd(width))


ATOL_CHARS = decode_text(bytes(range(256)))
atol_text = st.text(alphabet=ATOL_CHARS, max_size=120)
atol_name = st.text(alphabet=ATOL_CHARS.replace("\x00", ""), max_size=64)
ascii16 = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=16)
datetimes = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31, 23, 59, 59)).map(
    lambda d: d.replace(microsecond=0)
)
dates = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))

REQUESTS: dict[type, st.SearchStrategy] = {
    cmd.DeviceState: st.just(cmd.DeviceState()),
    cmd.ShortState: st.just(cmd.ShortState()),
    cmd.DeviceType: st.just(cmd.DeviceType()),
    cmd.EnterMode: st.builds(cmd.EnterMode, u8, bcd(4)),
    cmd.LeaveMode: st.just(cmd.LeaveMode()),
    cmd.OpenShift: st.builds(cmd.OpenShift, u8),
    cmd.OpenReceipt: st.builds(cmd.OpenReceipt, u8, u8),
    cmd.RegisterItem: st.builds(cmd.RegisterItem, u8, atol_name, bcd(6), bcd(5), u8, u8, bcd(6), u8, u8),
    cmd.Payment: st.builds(cmd.Payment, u8, u8, bcd(5)),
    cmd.PaymentStorno: st.builds(cmd.PaymentStorno, u8, u8, bcd(5)),
    cmd.CloseReceipt: st.builds(cmd.CloseReceipt, u8, u8, bcd(5)),
    cmd.CancelReceipt: st.just(cmd.CancelReceipt()),
    cmd.ReceiptDiscount: st.builds(cmd.ReceiptDiscount, u8, bcd(5), u8, u8, u8),
    cmd.CashIn: st.builds(cmd.CashIn, u8, bcd(5)),
    cmd.CashOut: st.builds(cmd.CashOut, u8, bcd(5)),
    cmd.CashInDrawer: st.just(cmd.CashInDrawer()),
    cmd.LastShiftTotals: st.just(cmd.LastShiftTotals()),
    cmd.XReport: st.builds(cmd.XReport, u8),
    cmd.ZReport: st.just(cmd.ZReport()),
    cmd.PrintLine: st.builds(cmd.PrintLine, atol_text),
    cmd.Cut: st.builds(cmd.Cut, st.booleans()),
    cmd.Beep: st.just(cmd.Beep()),
    cmd.OpenDrawer: st.just(cmd.OpenDrawer()),
    cmd.ReadRegister: st.builds(cmd.ReadRegister, u8, u8, u8),
    cmd.LastError: st.just(cmd.LastError()),
    cmd.SetDate: st.builds(cmd.SetDate, dates),
    cmd.SetDateTime: st.builds(cmd.SetDateTime, datetimes),
    cmd.FnShiftState: st.just(cmd.FnShiftState()),
    cmd.FnOfdState: st.just(cmd.FnOfdState()),
    cmd.FnState: st.just(cmd.FnState()),
    cmd.FnNumber: st.just(cmd.FnNumber()),
    cmd.FnValidity: st.just(cmd.FnValidity()),
    cmd.FnVersion: st.just(cmd.FnVersion()),
    cmd.FnOpenDocument: st.builds(cmd.FnOpenDocument, u32),
    cmd.FnReadTlv: st.just(cmd.FnReadTlv()),
    cmd.PrintBarcode: st.builds(cmd.PrintBarcode, st.text(max_size=80), u8, u8, u8, u16, u16, u8, u8, u8, u16, u16),
}

REPLIES: dict[type, st.SearchStrategy] = {
    cmd.Ok: st.just(cmd.Ok()),
    cmd.ErrorReply: st.builds(cmd.ErrorReply, st.integers(1, 255), u8),
    cmd.DeviceStateReply: st.builds(
        cmd.DeviceStateReply,
        cashier=bcd(1),
        hall_number=u8,
        datetime=datetimes,
        fiscalised=st.booleans(),
        shift_open=st.booleans(),
        drawer_open=st.booleans(),
        paper_present=st.booleans(),
        cover_open=st.booleans(),
        fn_active=st.booleans(),
        battery_fault=st.booleans(),
        serial_number=bcd(4),
        model=u8,
        firmware=st.binary(min_size=2, max_size=2),
        mode=nibble,
        submode=nibble,
        receipt_number=bcd(2),
        shift_number=bcd(2),
        receipt_state=u8,
        receipt_sum=bcd(5),
        decimal_point=u8,
        interface=u8,
        other_flags=st.sampled_from([0, 0x10]),
    ),
    cmd.ShortStateReply: st.builds(
        cmd.ShortStateReply,
        nibble,
        nibble,
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.integers(0, 7).map(lambda x: x << 5),
    ),
    cmd.DeviceTypeReply: st.builds(
        cmd.DeviceTypeReply, u8, u8, u8, u8, u8, st.binary(min_size=5, max_size=5), atol_text
    ),
    cmd.PaymentReply: st.builds(cmd.PaymentReply, bcd(5), bcd(5)),
    cmd.CashInDrawerReply: st.builds(cmd.CashInDrawerReply, bcd(7)),
    cmd.LastShiftTotalsReply: st.builds(cmd.LastShiftTotalsReply, bcd(7), bcd(7)),
    cmd.ReadRegisterReply: st.builds(cmd.ReadRegisterReply, st.binary(max_size=40)),
    cmd.LastErrorReply: st.builds(cmd.LastErrorReply, u8, u8),
    cmd.FnShiftStateReply: st.builds(cmd.FnShiftStateReply, st.booleans(), u16, u16),
    cmd.FnOfdStateReply: st.builds(
        cmd.FnOfdStateReply,
        u8,
        u8,
        u16,
        u32,
        st.none() | st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2255, 12, 31)).map(
            lambda d: d.replace(second=0, microsecond=0)
        ),
    ),
    cmd.FnStateReply: st.builds(cmd.FnStateReply, u8, u8, u8, u8, u8, st.binary(min_size=5, max_size=5), ascii16),
    cmd.FnNumberReply: st.builds(cmd.FnNumberReply, st.text(alphabet=st.characters(max_codepoint=127), max_size=20)),
    cmd.FnValidityReply: st.builds(cmd.FnValidityReply, st.dates(dt.date(2000, 1, 1), dt.date(2255, 12, 31)), u8, u8),
    cmd.FnVersionReply: st.builds(cmd.FnVersionReply, ascii16, st.booleans()),
    cmd.FnOpenDocumentReply: st.builds(cmd.FnOpenDocumentReply, st.binary(max_size=20)),
    cmd.FnReadTlvReply: st.builds(cmd.FnReadTlvReply, u16, st.binary(max_size=100)),
}

# Which command a reply class answers (for decode_reply's `code` argument).
REPLY_CODE: dict[type, cmd.Code] = {spec.reply.cls: spec.code for spec in cmd.COMMANDS.values()}
REPLY_CODE.update({cmd.Ok: 0x56, cmd.ErrorReply: 0x99})

DIALECTS = [cmd.DEFAULT_DIALECT, cmd.ATOL4J_DIALECT, cmd.UNACT_DIALECT, cmd.DANT_DIALECT]


def test_every_command_has_a_strategy() -> None:
    assert {spec.request.cls for spec in cmd.COMMANDS.values()} == set(REQUESTS)
    assert {spec.reply.cls for spec in cmd.COMMANDS.values()} | {cmd.Ok, cmd.ErrorReply} == set(REPLIES)


def _expected(req):
    if isinstance(req, cmd.RegisterItem):
        return dataclasses.replace(req, flags=req.flags | cmd.ITEM_FLAG_BIT1)  # default dialect sets bit 1
    return req


@pytest.mark.parametrize("cls", list(REQUESTS), ids=lambda c: c.__name__)
def test_request_round_trip(cls: type) -> None:
    @settings(max_examples=40, deadline=None)
    @given(REQUESTS[cls], bcd(2))
    def check(req, password: int) -> None:
        payload = cmd.encode_request(req, password)
        assert cmd.decode_request(payload) == (password, _expected(req))
        exact = cmd.Dialect(e6_force_bit1=False)
        assert cmd.decode_request(cmd.encode_request(req, password, exact), exact) == (password, req)

    check()


@pytest.mark.parametrize("cls", list(REPLIES), ids=lambda c: c.__name__)
def test_reply_round_trip(cls: type) -> None:
    code = REPLY_CODE[cls]

    @settings(max_examples=40, deadline=None)
    @given(REPLIES[cls], st.sampled_from(DIALECTS))
    def check(reply, dialect: cmd.Dialect) -> None:
        if isinstance(reply, cmd.FnShiftStateReply) and dialect.fn_numbers_reversed_bcd:
            assume(reply.shift_number <= 9999 and reply.receipt_number <= 9999)  # BCD range
        assert cmd.decode_reply(code, cmd.encode_reply(reply, dialect), dialect) == reply

    check()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_decode_request_garbage_raises_only_protocol_error(payload: bytes) -> None:
    try:
        cmd.decode_request(payload)
    except ProtocolError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(cmd.COMMANDS, key=str)), st.binary(max_size=60), st.sampled_from(DIALECTS))
def test_decode_reply_garbage_raises_only_protocol_error(code, data: bytes, dialect: cmd.Dialect) -> None:
    try:
        cmd.decode_reply(code, data, dialect)
    except ProtocolError:
        pass


@pytest.mark.parametrize("engine", cmd.ENGINES)
def test_engines_agree_on_a_sale(engine: str) -> None:
    item = cmd.RegisterItem(0, "Бананы", 7315, 1500, 1, 0, 0, 1, 2)
    state = cmd.DeviceStateReply(datetime=dt.datetime(2026, 11, 21, 4, 30), shift_number=7, receipt_number=12)
    reference = cmd.encode_request(item), cmd.encode_reply(state)
    try:
        cmd.set_engine(engine)
        payload, reply = cmd.encode_request(item), cmd.encode_reply(state)
        assert cmd.decode_request(payload)[1] == dataclasses.replace(item, flags=2)
        assert cmd.decode_reply(0x3F, reply) == state
    finally:
        cmd.set_engine("flat")
    assert (payload, reply) == reference


def test_flat_engine_covers_every_layout() -> None:
    for spec in cmd.COMMANDS.values():
        for codec in (spec.request, spec.reply):
            assert codec.layout is None or codec._flat is not None, spec.name


@pytest.mark.parametrize("cls", list(REQUESTS) + list(REPLIES), ids=lambda c: c.__name__)
def test_all_engines_identical(cls: type) -> None:
    """Every engine gives the same bytes and the same values as construct's interpreted reference."""
    is_request = cls in REQUESTS
    strategy = REQUESTS[cls] if is_request else REPLIES[cls]

    @settings(max_examples=15, deadline=None)
    @given(strategy)
    def check(obj) -> None:
        outputs = []
        try:
            for engine in cmd.ENGINES:
                cmd.set_engine(engine)
                if is_request:
                    raw = cmd.encode_request(obj)
                    outputs.append((raw, cmd.decode_request(raw)))
                else:
                    raw = cmd.encode_reply(obj)
                    outputs.append((raw, cmd.decode_reply(REPLY_CODE[cls], raw)))
        finally:
            cmd.set_engine("flat")
        assert outputs[0] == outputs[1] == outputs[2]

    check()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(cmd.COMMANDS, key=str)), st.binary(max_size=110))
def test_engines_agree_on_garbage(code, params: bytes) -> None:
    """On arbitrary parameter bytes every engine either fails with ProtocolError or decodes the same."""
    spec = cmd.COMMANDS[code]
    payload = b"\x00\x00" + spec.code_bytes + params
    results = []
    try:
        for engine in cmd.ENGINES:
            cmd.set_engine(engine)
            try:
                results.append(cmd.decode_request(payload))
            except ProtocolError:
                results.append("error")
    finally:
        cmd.set_engine("flat")
    assert results[0] == results[1] == results[2]


def test_sale_sequence_bytes() -> None:
    """The byte strings of the reference's sale sequence (§3.4) and mode examples (§3.2)."""
    enc = cmd.encode_request
    assert enc(cmd.EnterMode(1, 29)) == bytes.fromhex("0000 56 01 00000029")
    assert enc(cmd.EnterMode(1, 30)) == bytes.fromhex("0000 56 01 00000030")
    assert enc(cmd.OpenShift(0)) == bytes.fromhex("0000 9A 00")
    assert enc(cmd.OpenReceipt(0, cmd.ReceiptType.SELL)) == bytes.fromhex("0000 92 00 01")
    assert enc(cmd.CloseReceipt(0, cmd.PayType.CASH, 0)) == bytes.fromhex("0000 4A 00 01 0000000000")
    assert enc(cmd.LeaveMode()) == bytes.fromhex("0000 48")
    assert enc(cmd.ReceiptDiscount(0, 1234)) == bytes.fromhex("0000 43 00 00 01 00 0000001234")
    assert enc(cmd.Payment(0, 2, 7315)) == bytes.fromhex("0000 99 00 02 0000007315")
    assert enc(cmd.SetDateTime(dt.datetime(2026, 11, 21, 4, 30, 5))) == bytes.fromhex("0000 ED 21 11 26 04 30 05")
    assert enc(cmd.FnOpenDocument(0x01020304)) == bytes.fromhex("0000 A4 45 04 03 02 01")
    assert enc(cmd.DeviceState(), password=1234) == bytes.fromhex("1234 3F")

    item = enc(cmd.RegisterItem(0, "Бананы", 7315, 1000, 1, 0, 0, 1, 2))
    assert len(item) == 2 + 104
    body = item[2:]
    assert body[0] == 0xE6 and body[1] == 0x02  # flags: atol4j's bit 1
    assert body[2:8] == "Бананы".encode("atol") and body[8:66] == bytes(58)
    assert body[66:72] == bytes.fromhex("000000007315")
    assert body[72:77] == bytes.fromhex("0000001000")
    assert body[77:79] == b"\x01\x00" and body[79:85] == bytes(6)
    assert body[85:87] == b"\x01\x02" and body[87:] == bytes(17)


def test_device_state_layout_and_dialects() -> None:
    state = cmd.DeviceStateReply(
        cashier=12,
        hall_number=3,
        datetime=dt.datetime(2026, 11, 21, 4, 30, 59),
        fiscalised=True,
        shift_open=True,
        paper_present=True,
        cover_open=True,
        serial_number=12345678,
        model=0x52,
        firmware=b"\x03\x41",
        mode=1,
        submode=4,
        receipt_number=1234,
        shift_number=56,
        receipt_state=1,
        receipt_sum=7315,
        decimal_point=2,
        interface=4,
    )
    raw = cmd.encode_reply(state)
    assert len(raw) == 30
    assert raw.hex(" ") == (
        "44 12 03 26 11 21 04 30 59 2b 12 34 56 78 52 03 41 41 12 34 00 56 01 00 00 00 73 15 02 04"
    )
    unact = cmd.encode_reply(state, cmd.UNACT_DIALECT)
    assert unact[18:22] == bytes.fromhex("3412 5600")
    assert cmd.decode_reply(0x3F, unact, cmd.UNACT_DIALECT) == state
    # The reply code is ignored on decode (0x44 is unconfirmed).
    assert cmd.decode_reply(0x3F, b"\x55" + raw[1:]) == state
    assert cmd.decode_reply(0x3F, b"\x55\x66\x00") == cmd.ErrorReply(0x66, 0)
    with pytest.raises(ProtocolError):
        cmd.decode_reply(0x3F, raw[:-1])


def test_error_replies_and_special_shapes() -> None:
    assert cmd.decode_reply(0x56, b"\x55\x00\x00") == cmd.Ok()
    assert cmd.decode_reply(0x92, b"\x55\x9c\x00") == cmd.ErrorReply(0x9C)
    assert cmd.decode_reply((0xA4, 0x46), b"\x55\x04") == cmd.ErrorReply(4)
    assert cmd.decode_reply(0x99, bytes.fromhex("55 00 00 0000000100 0000000050")) == cmd.PaymentReply(100, 50)
    # 45: byte [1] is the mode byte, never an error.
    assert cmd.decode_reply(0x45, b"\x55\x41\x01") == cmd.ShortStateReply(mode=1, submode=4, no_paper=True)
    # A5: error byte first (atol4j) or not (dant).
    name = "АТОЛ 91Ф".encode("atol")
    atol4j = bytes.fromhex("00 03 01 52 00 00 0102030405") + name
    assert cmd.decode_reply(0xA5, atol4j).name == "АТОЛ 91Ф"
    assert cmd.decode_reply(0xA5, atol4j[1:], cmd.DANT_DIALECT).name == "АТОЛ 91Ф"
    assert cmd.decode_reply(0xA5, b"\x7a" + atol4j[1:]) == cmd.ErrorReply(0x7A)
    # 4D: anything but 4D first is an error with the code in [1].
    assert cmd.decode_reply(0x4D, bytes.fromhex("4D 00000000012345")) == cmd.CashInDrawerReply(12345)
    assert cmd.decode_reply(0x4D, b"\x55\x66\x00") == cmd.ErrorReply(0x66)
    # A4 10 numbers: LE binary by default, reversed BCD per atol4j.
    assert cmd.decode_reply((0xA4, 0x10), bytes.fromhex("55 00 01 0201 0300")) == cmd.FnShiftStateReply(True, 0x102, 3)
    assert cmd.decode_reply(
        (0xA4, 0x10), bytes.fromhex("55 00 01 1200 0300"), cmd.ATOL4J_DIALECT
    ) == cmd.FnShiftStateReply(True, 12, 3)
    # A4 46 TLV.
    assert cmd.decode_reply((0xA4, 0x46), bytes.fromhex("55 00 1004 0400 05000000")) == cmd.FnReadTlvReply(
        1040, b"\x05\x00\x00\x00"
    )
    with pytest.raises(ProtocolError):
        cmd.decode_reply((0xA4, 0x46), bytes.fromhex("55 00 1004 0500 05000000"))


def test_encode_rejects_out_of_range() -> None:
    bad = [
        cmd.Payment(0, 1, max_bcd(5) + 1),
        cmd.Payment(256, 1, 0),
        cmd.EnterMode(1, -1),
        cmd.RegisterItem(0, "x" * 65, 0, 0),
        cmd.RegisterItem(0, "中", 0, 0),
        cmd.SetDate(dt.date(1999, 12, 31)),
        cmd.PrintLine("€" if "€" not in ATOL_CHARS else "中"),
    ]
    for req in bad:
        with pytest.raises(ProtocolError):
            cmd.encode_request(req)
    with pytest.raises(ProtocolError):
        cmd.encode_request(object())
    with pytest.raises(ProtocolError):
        cmd.encode_reply(cmd.ErrorReply(0))
    with pytest.raises(ProtocolError):
        cmd.encode_reply(cmd.DeviceStateReply(mode=16))
    with pytest.raises(ProtocolError):
        cmd.decode_request(bytes.fromhex("0000 FF"))
    with pytest.raises(ProtocolError):
        cmd.decode_request(bytes.fromhex("0000 99 00 01 00000000"))  # one byte short
    with pytest.raises(ProtocolError):
        cmd.decode_request(bytes.fromhex("0000 99 00 01 0000000000 00"))  # one byte long
    with pytest.raises(ProtocolError):
        cmd.decode_request(bytes.fromhex("0000 64 32 01 26"))  # 32nd of January


def test_timeouts_and_peek() -> None:
    assert cmd.spec_of(cmd.ZReport()).timeout_s == 40.0
    assert cmd.spec_of(cmd.RegisterItem(0, "", 0, 0)).timeout_s == 50.0
    assert cmd.spec_of(cmd.DeviceState()).timeout_s == 10.0
    assert cmd.peek_code(bytes.fromhex("0000 A4 46")) == (0xA4, 0x46)
    assert cmd.peek_code(bytes.fromhex("0000 E6 FF")) == 0xE6
    assert cmd.peek_code(b"\x00\x00") is None
    assert cmd.command_code(cmd.FnReadTlv()) == (0xA4, 0x46)
