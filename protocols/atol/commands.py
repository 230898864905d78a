"""ATOL application commands: one request and one reply dataclass per command, one table, both ways.

The driver calls `encode_request` / `decode_reply`; the simulator calls `decode_request` /
`encode_reply`. Both go through the same `CommandSpec` table, so they cannot disagree about a byte.

Application payload (inside a v3 ADD or a v2 frame): `<password: 2 BCD> <code> [<subcode>] <params>`.
Replies (reference §3.1): most commands answer `55 <err> <ext> [data]`; some have their own shape,
recorded per command as a `ReplyShape`:

- `STD`   `55 <err> <ext> data`              (most commands; `err != 0` is a device error)
- `STD2`  `55 <err> data`                    (A4 fiscal-storage queries, 58, 91: reference shows no ext byte)
- `BARE`  `55 data`                          (45 short state, B3 last error: byte [1] is data, not an error)
- `STATE` `<reply code> data`                (3F: code 0x44 is [unconfirmed]; see `Dialect`)
- `DTYPE` `[<err>] data`                     (A5: error byte per atol4j, none per dant; see `Dialect`)
- `CASH`  `4D data`                          (4D: any other first byte is an error, code in [1])

Numbers are packed BCD big-endian unless a field says otherwise; money is an int in minor units (2
implied decimals), quantities are int thousandths. The FN (`A4 xx`) replies use little-endian binary.

Where sources disagree the default is the best-supported reading and `Dialect` names the other one.
"""

from __future__ import annotations

import datetime as _dt
import operator
import struct
from dataclasses import dataclass, fields
from enum import Enum, IntEnum
from typing import Any, Callable, Final, Union

import construct as c

from ..errors import ProtocolError
from .bcd import Bcd, decode_bcd, encode_bcd
from .flat import FlatLayout, flatten
from .v2 import T5_BY_COMMAND, Timeouts
from .fields import AsciiText, AtolText, BcdDate, BcdDateTime, GreedyAscii, GreedyAtolText, GreedyUtf8

Code = Union[int, tuple[int, int]]

# --------------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------------


class Mode(IntEnum):
    """Device modes (56 enter mode; low nibble of the mode byte in 3F/45)."""

    SELECT = 0
    REGISTRATION = 1
    REPORT_X = 2
    REPORT_Z = 3
    PROGRAMMING = 4
    FISCAL_MEMORY = 5
    EKLZ = 6


class ReceiptType(IntEnum):
    """92 receipt types; also the 3F receipt-state byte (0 = closed)."""

    SELL = 1
    SELL_RETURN = 2
    BUY = 4
    BUY_RETURN = 5
    SELL_CORRECTION = 7  # [one source]
    BUY_CORRECTION = 9  # [one source]
    SELL_RETURN_CORRECTION = 10  # [one source]


class PayType(IntEnum):
    """99/9B/4A payment types."""

    CASH = 1
    ELECTRONIC = 2
    PREPAYMENT = 3
    CREDIT = 4
    OTHER = 5


class ReportType(IntEnum):
    """67 X-report types (atol4j `PrintReportCommand`) [one source]."""

    DAILY = 1
    BY_SECTION = 2
    BY_CASHIER = 3
    HOURLY = 5
    QUANTITIES = 7
    SERVICE = 8
    CURRENT_STATE = 9
    BY_GOODS = 0x10
    GOODS_BY_TAXATION = 0x13
    GOODS_BY_SECTION = 0x14
    GOODS_BY_SUM = 0x15


class BarcodeType(IntEnum):
    """C1 barcode type (atol4j): 0 = QR, 1 = EAN-13."""

    QR = 0
    EAN13 = 1


REPLY_OK: Final = 0x55
"""'U': the reply code of the standard `55 <err> <ext>` answer."""
STATE_REPLY_CODE: Final = 0x44
"""'D': first byte of the 3F reply [unconfirmed — verify on hardware]; atol4j ignores the byte."""

# E6 flags
ITEM_FLAG_TEST: Final = 0x01
ITEM_FLAG_BIT1: Final = 0x02
"""E6 flags bit 1: meaning undocumented; atol4j always sets it (reference §3.4)."""
# 92 flags
RECEIPT_FLAG_TEST: Final = 0x01
RECEIPT_FLAG_NO_PRINT: Final = 0x02  # atol4j sets it when print = false


@dataclass(frozen=True, slots=True)
class Dialect:
    """Readings where the sources disagree. The defaults are the best-supported ones.

    - `state_reply_code`: first byte of the 3F reply. 0x44 is [unconfirmed]; atol4j ignores the byte,
      and so does `decode_reply` (it only uses it to tell a state reply from a `55 err ext` error).
    - `state_numbers_reversed`: 3F receipt and shift numbers. atol4j reads the 2 BCD bytes big-endian
      like every other BCD number (default); unact reverses the bytes (True).
    - `device_type_error_byte`: A5 reply starts with an error byte (atol4j, default) or directly with
      the protocol version (dant, False).
    - `e6_force_bit1`: atol4j always sets E6 flags bit 1 (meaning undocumented); the encoder ORs it in
      by default. Decoding never changes the flags. Set False to send flags exactly as given.
    - `fn_numbers_reversed_bcd`: A4 10 shift/receipt numbers are little-endian binary (reference's
      reading, default) or "BCD with the bytes reversed" (atol4j, True; probably an atol4j bug).
    """

    state_reply_code: int = STATE_REPLY_CODE
    state_numbers_reversed: bool = False
    device_type_error_byte: bool = True
    e6_force_bit1: bool = True
    fn_numbers_reversed_bcd: bool = False


DEFAULT_DIALECT: Final = Dialect()
ATOL4J_DIALECT: Final = Dialect(fn_numbers_reversed_bcd=True)
UNACT_DIALECT: Final = Dialect(state_numbers_reversed=True)
DANT_DIALECT: Final = Dialect(device_type_error_byte=False)

# --------------------------------------------------------------------------------------------------
# Generic replies
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ok:
    """`55 00 00`: success with no data."""


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """`55 <err> <ext>` with err != 0: the device refused the command (see `errors_table`)."""

    error: int
    ext: int = 0


# --------------------------------------------------------------------------------------------------
# Requests and their specific replies
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceState:
    """3F: full device state."""


@dataclass(frozen=True, slots=True)
class DeviceStateReply:
    """3F reply (reference §3.3; offsets agreed by atol4j and unact)."""

    cashier: int = 0  # BCD 0..99
    hall_number: int = 1
    datetime: _dt.datetime = _dt.datetime(2000, 1, 1)
    fiscalised: bool = False  # flags bit0
    shift_open: bool = False  # bit1
    drawer_open: bool = False  # bit2
    paper_present: bool = True  # bit3
    cover_open: bool = False  # bit5
    fn_active: bool = False  # bit6
    battery_fault: bool = False  # bit7
    serial_number: int = 0  # 4 bytes BCD
    model: int = 0x52  # libfptr10 model id (91F = 82)
    firmware: bytes = b"\x00\x00"  # 2 raw bytes (unact shows [16] as "x.y")
    mode: int = Mode.SELECT
    submode: int = 0
    receipt_number: int = 0  # 2 bytes BCD, 0..9999
    shift_number: int = 0  # 2 bytes BCD, 0..9999
    receipt_state: int = 0  # 0 closed, else a ReceiptType
    receipt_sum: int = 0  # 5 bytes BCD, minor units
    decimal_point: int = 2
    interface: int = 4  # 1 RS-232, 4 USB, 5 Bluetooth, 6 Ethernet, 7 WiFi
    other_flags: int = 0  # flag bits with no known meaning (bit4), kept so every byte round-trips


@dataclass(frozen=True, slots=True)
class ShortState:
    """45: short state code."""


@dataclass(frozen=True, slots=True)
class ShortStateReply:
    """45 reply `55 <mode byte> <flags>`."""

    mode: int = Mode.SELECT
    submode: int = 0
    no_paper: bool = False  # bit0
    no_printer_link: bool = False  # bit1
    mechanical_error: bool = False  # bit2
    cutter_error: bool = False  # bit3
    printer_error: bool = False  # bit4
    other_flags: int = 0  # bits 5..7


@dataclass(frozen=True, slots=True)
class DeviceType:
    """A5: device type."""


@dataclass(frozen=True, slots=True)
class DeviceTypeReply:
    """A5 reply: `[err] <protocol> <type> <model> <mode:2> <version:5> <name>` (atol4j)."""

    protocol: int = 3
    device_type: int = 1
    model: int = 0x52
    mode: int = 0  # atol4j: [mode, submode]
    submode: int = 0
    version: bytes = bytes(5)
    name: str = ""


@dataclass(frozen=True, slots=True)
class EnterMode:
    """56: `56 <mode> <password: 4 BCD>`."""

    mode: int
    password: int = 30


@dataclass(frozen=True, slots=True)
class LeaveMode:
    """48: leave the current mode (or sub-mode)."""


@dataclass(frozen=True, slots=True)
class OpenShift:
    """9A: `9A <flags>`; flags bit0 = test."""

    flags: int = 0


@dataclass(frozen=True, slots=True)
class OpenReceipt:
    """92: `92 <flags> <type>`; flags bit0 test, bit1 do not print."""

    flags: int = 0
    receipt_type: int = ReceiptType.SELL


@dataclass(frozen=True, slots=True)
class RegisterItem:
    """E6 item registration, 104 bytes with the code (reference §3.4, atol4j layout).

    price and discount are minor units (6 BCD bytes), quantity is thousandths (5 BCD bytes).
    discount_type: 1 = sum (atol4j always), 0 = percent [unconfirmed]; discount_sign: 0 = discount,
    1 = surcharge; tax: index into the device tax table (`tax_table`); bytes 87..103 are zero.
    """

    flags: int
    name: str
    price: int
    quantity: int
    discount_type: int = 1
    discount_sign: int = 0
    discount: int = 0
    tax: int = 0
    section: int = 0


@dataclass(frozen=True, slots=True)
class Payment:
    """99: `99 <flags> <pay_type> <amount: 5 BCD>`."""

    flags: int
    pay_type: int
    amount: int


@dataclass(frozen=True, slots=True)
class PaymentStorno:
    """9B: cancel a payment; same layout as 99."""

    flags: int
    pay_type: int
    amount: int


@dataclass(frozen=True, slots=True)
class PaymentReply:
    """99/9B reply: `55 00 00 <remaining: 5 BCD> <change: 5 BCD>`."""

    remaining: int = 0
    change: int = 0


@dataclass(frozen=True, slots=True)
class CloseReceipt:
    """4A: `4A <flags> <pay_type> <amount: 5 BCD>`; amount 0 = paid exactly the total."""

    flags: int = 0
    pay_type: int = PayType.CASH
    amount: int = 0


@dataclass(frozen=True, slots=True)
class CancelReceipt:
    """59: cancel the open receipt."""


@dataclass(frozen=True, slots=True)
class ReceiptDiscount:
    """43: `43 <flags> <area> <type> <sign> <amount: 5 BCD>`; reference shows area 0, type 1, sign 0."""

    flags: int
    amount: int
    area: int = 0  # 0 = whole receipt
    discount_type: int = 1  # 1 = sum
    sign: int = 0  # 0 = discount, 1 = surcharge


@dataclass(frozen=True, slots=True)
class CashIn:
    """49: `49 <flags> <amount: 5 BCD>`."""

    flags: int
    amount: int


@dataclass(frozen=True, slots=True)
class CashOut:
    """4F: `4F <flags> <amount: 5 BCD>`."""

    flags: int
    amount: int


@dataclass(frozen=True, slots=True)
class CashInDrawer:
    """4D: cash in the drawer."""


@dataclass(frozen=True, slots=True)
class CashInDrawerReply:
    """4D reply `4D <amount: 7 BCD>` (width [unconfirmed — verify on hardware])."""

    amount: int = 0


@dataclass(frozen=True, slots=True)
class LastShiftTotals:
    """58: totals of the last shift."""


@dataclass(frozen=True, slots=True)
class LastShiftTotalsReply:
    """58 reply `55 <err> <income: 7 BCD> <expense: 7 BCD>` [one source]."""

    income: int = 0
    expense: int = 0


@dataclass(frozen=True, slots=True)
class XReport:
    """67: `67 <report type>` (in mode 2)."""

    report_type: int = ReportType.DAILY


@dataclass(frozen=True, slots=True)
class ZReport:
    """5A: Z report / close shift (in mode 3)."""


@dataclass(frozen=True, slots=True)
class PrintLine:
    """4C: `4C <text>` in the ATOL code page, no length byte."""

    text: str


@dataclass(frozen=True, slots=True)
class Cut:
    """75: `75 <0 full | 1 partial>`."""

    partial: bool = False


@dataclass(frozen=True, slots=True)
class Beep:
    """47: fixed beep."""


@dataclass(frozen=True, slots=True)
class OpenDrawer:
    """80: open the cash drawer."""


@dataclass(frozen=True, slots=True)
class ReadRegister:
    """91: `91 <register> <param1> <param2>`."""

    register: int
    param1: int = 0
    param2: int = 0


@dataclass(frozen=True, slots=True)
class ReadRegisterReply:
    """91 reply `55 <err> <value...>`; how to read `value` depends on the register."""

    value: bytes = b""


@dataclass(frozen=True, slots=True)
class LastError:
    """B3: the last error."""


@dataclass(frozen=True, slots=True)
class LastErrorReply:
    """B3 reply `55 <err> <ext>` where err is *data* (the last error), not a failure of B3."""

    error: int = 0
    ext: int = 0


@dataclass(frozen=True, slots=True)
class SetDate:
    """64: `64 DD MM YY` (BCD)."""

    date: _dt.date


@dataclass(frozen=True, slots=True)
class SetDateTime:
    """ED: `ED DD MM YY hh mm ss` (BCD)."""

    dt: _dt.datetime


@dataclass(frozen=True, slots=True)
class FnShiftState:
    """A4 10: FN shift state."""


@dataclass(frozen=True, slots=True)
class FnShiftStateReply:
    """A4 10 reply: `55 00 <state> <shift: 2> <receipt: 2>` (LE binary by default; see Dialect)."""

    shift_open: bool = False  # [2] state, 0 = closed
    shift_number: int = 0
    receipt_number: int = 0


@dataclass(frozen=True, slots=True)
class FnOfdState:
    """A4 20: OFD exchange state."""


@dataclass(frozen=True, slots=True)
class FnOfdStateReply:
    """A4 20 reply (atol4j and unact): flags, reading flag, unsent count, first unsent document."""

    flags: int = 0  # bit0 connected, bit1 has unsent, bit2 waiting reply, ...
    reading_message: int = 0
    unsent_count: int = 0  # 2 bytes LE
    first_unsent_number: int = 0  # 4 bytes LE
    first_unsent_datetime: _dt.datetime | None = None  # YY MM DD hh mm binary; all zero = None


@dataclass(frozen=True, slots=True)
class FnState:
    """A4 30: FN state."""


@dataclass(frozen=True, slots=True)
class FnStateReply:
    """A4 30 reply [one source] (unact): [2] phase .. [6] flags, [7..11] unknown, [12..27] FN number."""

    phase: int = 0
    document: int = 0
    has_data: int = 0
    shift_open: int = 0
    flags: int = 0
    reserved: bytes = bytes(5)
    fn_number: str = ""


@dataclass(frozen=True, slots=True)
class FnNumber:
    """A4 31: FN serial number."""


@dataclass(frozen=True, slots=True)
class FnNumberReply:
    number: str = ""  # ASCII


@dataclass(frozen=True, slots=True)
class FnValidity:
    """A4 32: FN validity."""


@dataclass(frozen=True, slots=True)
class FnValidityReply:
    """A4 32 reply [one source]: `YY MM DD` binary, re-registrations left, registrations done."""

    valid_until: _dt.date = _dt.date(2000, 1, 1)
    reregistrations_left: int = 0
    registrations_done: int = 0


@dataclass(frozen=True, slots=True)
class FnVersion:
    """A4 33: FN firmware version."""


@dataclass(frozen=True, slots=True)
class FnVersionReply:
    """A4 33 reply [one source]: 16 ASCII bytes, then 0 = debug FN."""

    version: str = ""
    release: bool = True


@dataclass(frozen=True, slots=True)
class FnOpenDocument:
    """A4 45: `A4 45 <document number: 4 LE>`: open a stored document for reading (unact)."""

    number: int


@dataclass(frozen=True, slots=True)
class FnOpenDocumentReply:
    """A4 45 reply: `55 00 <data>`; the data layout is unknown, kept raw."""

    data: bytes = b""


@dataclass(frozen=True, slots=True)
class FnReadTlv:
    """A4 46: fetch the next TLV of the open document; an error reply means "no more data"."""


@dataclass(frozen=True, slots=True)
class FnReadTlvReply:
    """A4 46 reply: `55 00 <tag: 2 LE> <len: 2 LE> <value>` (see `tlv` for tag meanings)."""

    tag: int
    value: bytes = b""

    def __init__(self, tag: int, value: bytes = b"") -> None:
        # The slots set through their descriptors: the generated frozen __init__ calls object.__setattr__
        # per field (~1.6x the cost); one of these is made per TLV of every document read back.
        _set_tlv_tag(self, tag)
        _set_tlv_value(self, value)


_set_tlv_tag, _set_tlv_value = FnReadTlvReply.tag.__set__, FnReadTlvReply.value.__set__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PrintBarcode:
    """C1 (application command, not the v3 ADD byte): barcode/QR; 2-byte fields big-endian [unconfirmed].

    `C1 <type> <align 1/2/3> <scale> <version:2> <options:2> <correction> <rows> <cols>
    <bar proportion:2> <pixel proportion:2> <data, UTF-8>`.
    """

    data: str
    barcode_type: int = BarcodeType.QR
    align: int = 2
    scale: int = 4
    version: int = 0
    options: int = 0
    correction: int = 0
    rows: int = 0
    cols: int = 0
    bar_proportion: int = 0
    pixel_proportion: int = 0


Request = Any
Reply = Any

# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------


class ReplyShape(Enum):
    STD = "55 err ext data"
    STD2 = "55 err data"
    BARE = "55 data"
    STATE = "code data"
    DTYPE = "[err] data"
    CASH = "4D data"


# ReplyShape members as module globals for encode_reply/decode_reply, which test the shape of every
# reply: `ReplyShape.X` goes through the enum's attribute descriptor each time.
_STD, _STD2, _BARE, _STATE, _DTYPE = ReplyShape.STD, ReplyShape.STD2, ReplyShape.BARE, ReplyShape.STATE, ReplyShape.DTYPE

_Hook = Callable[[Any, Dialect], Any]


@dataclass
class _Codec:
    """One construct layout bound to one dataclass, with optional value hooks and lazy compilation.

    `to_fields(obj, dialect) -> dict` and `from_fields(container, dialect) -> obj` convert between the
    dataclass and the layout's field values when they are not one-to-one (flags, nibbles, dialects).
    `to_list`/`from_list`: the same conversions on the values in wire order, which the flat engine uses
    instead when given (no dict per call: for the replies read many times per document).
    """

    cls: type
    layout: c.Construct | None
    to_fields: _Hook | None = None
    from_fields: _Hook | None = None
    fixed_size: int | None = 0
    min_size: int = 0
    _compiled: Any = None
    _flat: FlatLayout | None = None
    _names: tuple[str, ...] = ()
    _getter: Any = None
    _direct_parse: bool = False
    _direct_build: bool = False
    _direct_build_one: bool = False
    to_list: _Hook | None = None
    from_list: _Hook | None = None

    def __post_init__(self) -> None:
        self._names = tuple(f.name for f in fields(self.cls))
        self._flat = flatten(self.layout)
        if self._names:
            self._getter = operator.attrgetter(*self._names)
        # When the wire fields are exactly the dataclass fields, in order, the flat engine can go
        # straight between positional values and the dataclass, with no dict in between.
        same = self._flat is not None and self._flat.all_names == self._names
        self._direct_parse = same and self.from_fields is None
        self._direct_build = same and self.to_fields is None and len(self._names) > 1
        self._direct_build_one = same and self.to_fields is None and len(self._names) == 1
        if self.layout is None:
            self.fixed_size = self.min_size = 0
            return
        try:
            self.fixed_size = self.min_size = self.layout.sizeof()
        except c.SizeofError:
            self.fixed_size = None
            total = 0
            for sub in self.layout.subcons:
                try:
                    total += sub.sizeof()
                except c.SizeofError:
                    pass
            self.min_size = total

    def engine(self) -> Any:
        """The object whose parse/build is used: flat struct, construct compiled, or interpreted."""
        if self.layout is None:
            return None
        if _ENGINE == "interpreted":
            return self.layout
        if _ENGINE == "flat" and self._flat is not None:
            return self._flat
        if self._compiled is None:
            self._compiled = self.layout.compile()
        return self._compiled

    def build(self, obj: Any, dialect: Dialect) -> bytes:
        if type(obj) is not self.cls:
            raise ProtocolError(f"expected {self.cls.__name__}, got {type(obj).__name__}")
        if self.layout is None:
            return b""
        try:
            flat = self._flat
            if flat is not None and _ENGINE == "flat":
                if self._direct_build:
                    return flat.build_list(self._getter(obj))
                if self._direct_build_one:  # (attrgetter of one name gives the value, not a tuple)
                    return flat.build_list((self._getter(obj),))
                if self.to_list is not None:
                    return flat.build_list(self.to_list(obj, dialect))
            values = self.to_fields(obj, dialect) if self.to_fields else {n: getattr(obj, n) for n in self._names}
            return self.engine().build(values)  # type: ignore[no-any-return]
        except ProtocolError:
            raise
        except (c.ConstructError, ValueError, TypeError, OverflowError, struct.error, AttributeError) as exc:
            raise ProtocolError(f"cannot encode {self.cls.__name__}: {exc}") from None

    def parse(self, data: bytes, dialect: Dialect, exact: bool) -> Any:
        n = len(data)
        if self.fixed_size is not None:
            bad = n != self.fixed_size if exact else n < self.fixed_size
            if bad:
                raise ProtocolError(f"{self.cls.__name__}: {n} bytes, expected {self.fixed_size}")
        elif n < self.min_size:
            raise ProtocolError(f"{self.cls.__name__}: {n} bytes, expected at least {self.min_size}")
        if self.layout is None:
            return self.cls()
        listed: list[Any] | None = None
        try:
            flat = self._flat
            if flat is not None and _ENGINE == "flat":
                if self._direct_parse:
                    return self.cls(*flat.parse_list(data))
                if self.from_list is not None:
                    listed = flat.parse_list(data)
            if listed is None:
                values = self.engine().parse(data)
        except ProtocolError:
            raise
        except (c.ConstructError, ValueError, TypeError, struct.error, UnicodeError) as exc:
            raise ProtocolError(f"cannot decode {self.cls.__name__}: {exc}") from None
        if listed is not None:
            return self.from_list(listed, dialect)  # type: ignore[misc]
        if self.from_fields:
            return self.from_fields(values, dialect)
        return self.cls(**{k: values[k] for k in self._names})


@dataclass
class CommandSpec:
    """A command code, its request codec and its reply codec (with the reply's outer shape)."""

    code: Code
    name: str
    request: _Codec
    reply: _Codec
    shape: ReplyShape = ReplyShape.STD
    timeout_s: float = 10.0
    """How long the device may take to answer: the v2 T5 table (reference §2), which is the only
    per-command timing any source gives; the driver can use it for v3 tasks too."""

    @property
    def code_bytes(self) -> bytes:
        return _CODE_BYTES.get(self.code) or (bytes(self.code) if isinstance(self.code, tuple) else bytes((self.code,)))


#: `CommandSpec.code_bytes` of the registered commands (the code is fixed; encoded once).
_CODE_BYTES: dict[Code, bytes] = {}
#: Access passwords as sent (2 BCD bytes), both ways: there are few, and one is used over and over.
_PASSWORD_BYTES: dict[int, bytes] = {}
_PASSWORD_VALUES: dict[bytes, int] = {}


DEFAULT_TIMEOUT_S: Final = Timeouts().T5
COMMANDS: dict[Code, CommandSpec] = {}
"""code (int, or (0xA4, sub)) -> spec."""
_BY_REQUEST: dict[type, CommandSpec] = {}
_BY_REPLY: dict[type, CommandSpec] = {}
ENGINES: Final = ("flat", "compiled", "interpreted")
_ENGINE = "flat"


def set_engine(name: str) -> None:
    """Choose how the construct layouts run; all engines produce identical bytes and values.

    - "flat" (default): flat layouts run as one `struct.Struct` (see `flat`), others as "compiled";
    - "compiled": construct's `.compile()`d parsers and builders;
    - "interpreted": construct's plain `parse`/`build`.
    The switch exists so the benchmark (and the tests) can measure and compare them.
    """
    global _ENGINE
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose from {ENGINES}")
    _ENGINE = name


def get_engine() -> str:
    return _ENGINE


def use_compiled(enabled: bool) -> None:
    """Shorthand: `set_engine("compiled" if enabled else "interpreted")`."""
    set_engine("compiled" if enabled else "interpreted")


def _register(
    code: Code,
    request: type,
    request_layout: c.Construct | None = None,
    reply: type = Ok,
    reply_layout: c.Construct | None = None,
    *,
    shape: ReplyShape = ReplyShape.STD,
    req_to: _Hook | None = None,
    req_from: _Hook | None = None,
    rep_to: _Hook | None = None,
    rep_from: _Hook | None = None,
    rep_to_list: _Hook | None = None,
    rep_from_list: _Hook | None = None,
) -> None:
    spec = CommandSpec(
        code=code,
        name=request.__name__,
        request=_Codec(request, request_layout, req_to, req_from),
        reply=_Codec(reply, reply_layout, rep_to, rep_from, to_list=rep_to_list, from_list=rep_from_list),
        shape=shape,
        timeout_s=T5_BY_COMMAND.get(code, DEFAULT_TIMEOUT_S) if isinstance(code, int) else DEFAULT_TIMEOUT_S,
    )
    if code in COMMANDS or request in _BY_REQUEST:
        raise RuntimeError(f"duplicate command registration {code!r}")
    COMMANDS[code] = spec
    _CODE_BYTES[code] = bytes(code) if isinstance(code, tuple) else bytes((code,))
    _BY_REQUEST[request] = spec
    _BY_REPLY.setdefault(reply, spec)


def _S(*subcons: c.Construct) -> c.Struct:  # noqa: N802
    return c.Struct(*subcons)


U8 = c.Int8ub
U16BE = c.Int16ub
U16LE = c.Int16ul
U32LE = c.Int32ul

# --- 3F device state ------------------------------------------------------------------------------

_STATE_KNOWN_BITS: Final = 0xEF

_STATE_LAYOUT = _S(
    "cashier" / Bcd(1),
    "hall_number" / U8,
    "datetime" / BcdDateTime("ymd"),
    "flags" / U8,
    "serial_number" / Bcd(4),
    "model" / U8,
    "firmware" / c.Bytes(2),
    "mode" / U8,
    "receipt_number" / Bcd(2),  # [sources disagree] byte order: see Dialect.state_numbers_reversed
    "shift_number" / Bcd(2),
    "receipt_state" / U8,
    "receipt_sum" / Bcd(5),
    "decimal_point" / U8,
    "interface" / U8,
)


def _swap_bcd2(value: int) -> int:
    """The value whose 2-byte BCD is `value`'s with the bytes swapped (unact's reading of 3F)."""
    if type(value) is not int or not 0 <= value <= 9999:
        raise ProtocolError(f"{value!r} does not fit in 2 BCD bytes")
    return (value % 100) * 100 + value // 100


def _nibbles(mode: int, submode: int) -> int:
    if not (0 <= mode <= 15 and 0 <= submode <= 15):
        raise ProtocolError(f"mode/submode must be 0..15: {mode}.{submode}")
    return submode << 4 | mode


def _state_to(r: DeviceStateReply, d: Dialect) -> dict[str, Any]:
    other = r.other_flags
    if other & _STATE_KNOWN_BITS or not 0 <= other <= 0xFF:
        raise ProtocolError("other_flags may only hold bit 4")
    flags = (
        other
        | (0x01 if r.fiscalised else 0)
        | (0x02 if r.shift_open else 0)
        | (0x04 if r.drawer_open else 0)
        | (0x08 if r.paper_present else 0)
        | (0x20 if r.cover_open else 0)
        | (0x40 if r.fn_active else 0)
        | (0x80 if r.battery_fault else 0)
    )
    reverse = d.state_numbers_reversed
    return {
        "cashier": r.cashier,
        "hall_number": r.hall_number,
        "datetime": r.datetime,
        "flags": flags,
        "serial_number": r.serial_number,
        "model": r.model,
        "firmware": r.firmware,
        "mode": _nibbles(r.mode, r.submode),
        "receipt_number": _swap_bcd2(r.receipt_number) if reverse else r.receipt_number,
        "shift_number": _swap_bcd2(r.shift_number) if reverse else r.shift_number,
        "receipt_state": r.receipt_state,
        "receipt_sum": r.receipt_sum,
        "decimal_point": r.decimal_point,
        "interface": r.interface,
    }


def _state_from(v: Any, d: Dialect) -> DeviceStateReply:
    flags = v["flags"]
    mode = v["mode"]
    reverse = d.state_numbers_reversed
    return DeviceStateReply(
        v["cashier"],
        v["hall_number"],
        v["datetime"],
        bool(flags & 0x01),
        bool(flags & 0x02),
        bool(flags & 0x04),
        bool(flags & 0x08),
        bool(flags & 0x20),
        bool(flags & 0x40),
        bool(flags & 0x80),
        v["serial_number"],
        v["model"],
        bytes(v["firmware"]),
        mode & 0x0F,
        mode >> 4,
        _swap_bcd2(v["receipt_number"]) if reverse else v["receipt_number"],
        _swap_bcd2(v["shift_number"]) if reverse else v["shift_number"],
        v["receipt_state"],
        v["receipt_sum"],
        v["decimal_point"],
        v["interface"],
        flags & 0x10,
    )


_register(
    0x3F,
    DeviceState,
    reply=DeviceStateReply,
    reply_layout=_STATE_LAYOUT,
    shape=ReplyShape.STATE,
    rep_to=_state_to,
    rep_from=_state_from,
)

# --- 45 short state -------------------------------------------------------------------------------

_SHORT_FLAGS: Final = (
    ("no_paper", 0x01),
    ("no_printer_link", 0x02),
    ("mechanical_error", 0x04),
    ("cutter_error", 0x08),
    ("printer_error", 0x10),
)


def _short_to(r: ShortStateReply, d: Dialect) -> dict[str, Any]:
    if r.other_flags & 0x1F or not 0 <= r.other_flags <= 0xFF:
        raise ProtocolError("other_flags may only hold bits 5..7")
    flags = r.other_flags
    for name, bit in _SHORT_FLAGS:
        if getattr(r, name):
            flags |= bit
    return {"mode": _nibbles(r.mode, r.submode), "flags": flags}


def _short_from(v: Any, d: Dialect) -> ShortStateReply:
    flags = v["flags"]
    return ShortStateReply(
        mode=v["mode"] & 0x0F,
        submode=v["mode"] >> 4,
        other_flags=flags & 0xE0,
        **{name: bool(flags & bit) for name, bit in _SHORT_FLAGS},
    )


_register(
    0x45,
    ShortState,
    reply=ShortStateReply,
    reply_layout=_S("mode" / U8, "flags" / U8),
    shape=ReplyShape.BARE,
    rep_to=_short_to,
    rep_from=_short_from,
)

# --- A5 device type -------------------------------------------------------------------------------

_register(
    0xA5,
    DeviceType,
    reply=DeviceTypeReply,
    reply_layout=_S(
        "protocol" / U8,
        "device_type" / U8,
        "model" / U8,
        "mode" / U8,
        "submode" / U8,
        "version" / c.Bytes(5),
        "name" / GreedyAtolText,
    ),
    shape=ReplyShape.DTYPE,
    rep_from=lambda v, d: DeviceTypeReply(
        protocol=v["protocol"],
        device_type=v["device_type"],
        model=v["model"],
        mode=v["mode"],
        submode=v["submode"],
        version=bytes(v["version"]),
        name=v["name"],
    ),
)

# --- modes ----------------------------------------------------------------------------------------

_register(0x56, EnterMode, _S("mode" / U8, "password" / Bcd(4)))
_register(0x48, LeaveMode)

# --- registration ---------------------------------------------------------------------------------

_register(0x9A, OpenShift, _S("flags" / U8))
_register(0x92, OpenReceipt, _S("flags" / U8, "receipt_type" / U8))

_ITEM_LAYOUT = _S(
    "flags" / U8,
    "name" / AtolText(64),
    "price" / Bcd(6),
    "quantity" / Bcd(5),
    "discount_type" / U8,
    "discount_sign" / U8,
    "discount" / Bcd(6),
    "tax" / U8,
    "section" / U8,
    c.Padding(17),  # bytes 87..103: zero (barcode/reserved is [unconfirmed])
)


def _item_to(r: RegisterItem, d: Dialect) -> dict[str, Any]:
    return {
        "flags": r.flags | ITEM_FLAG_BIT1 if d.e6_force_bit1 and 0 <= r.flags <= 0xFF else r.flags,
        "name": r.name,
        "price": r.price,
        "quantity": r.quantity,
        "discount_type": r.discount_type,
        "discount_sign": r.discount_sign,
        "discount": r.discount,
        "tax": r.tax,
        "section": r.section,
    }


_register(0xE6, RegisterItem, _ITEM_LAYOUT, req_to=_item_to)

_PAY_LAYOUT = _S("flags" / U8, "pay_type" / U8, "amount" / Bcd(5))
_PAY_REPLY = _S("remaining" / Bcd(5), "change" / Bcd(5))
_register(0x99, Payment, _PAY_LAYOUT, PaymentReply, _PAY_REPLY)
_register(0x9B, PaymentStorno, _PAY_LAYOUT, PaymentReply, _PAY_REPLY)
_register(0x4A, CloseReceipt, _PAY_LAYOUT)
_register(0x59, CancelReceipt)
_register(
    0x43,
    ReceiptDiscount,
    _S("flags" / U8, "area" / U8, "discount_type" / U8, "sign" / U8, "amount" / Bcd(5)),
)
_register(0x49, CashIn, _S("flags" / U8, "amount" / Bcd(5)))
_register(0x4F, CashOut, _S("flags" / U8, "amount" / Bcd(5)))
_register(
    0x4D, CashInDrawer, reply=CashInDrawerReply, reply_layout=_S("amount" / Bcd(7)), shape=ReplyShape.CASH
)
_register(
    0x58,
    LastShiftTotals,
    reply=LastShiftTotalsReply,
    reply_layout=_S("income" / Bcd(7), "expense" / Bcd(7)),
    shape=ReplyShape.STD2,
)

# --- reports --------------------------------------------------------------------------------------

_register(0x67, XReport, _S("report_type" / U8))
_register(0x5A, ZReport)

# --- printing and peripherals ---------------------------------------------------------------------

_register(0x4C, PrintLine, _S("text" / GreedyAtolText))
_register(0x75, Cut, _S("partial" / c.Flag))
_register(0x47, Beep)
_register(0x80, OpenDrawer)
_register(
    0xC1,
    PrintBarcode,
    _S(
        "barcode_type" / U8,
        "align" / U8,
        "scale" / U8,
        "version" / U16BE,
        "options" / U16BE,
        "correction" / U8,
        "rows" / U8,
        "cols" / U8,
        "bar_proportion" / U16BE,
        "pixel_proportion" / U16BE,
        "data" / GreedyUtf8,
    ),
)

# --- registers, errors, clock ---------------------------------------------------------------------

_register(
    0x91,
    ReadRegister,
    _S("register" / U8, "param1" / U8, "param2" / U8),
    ReadRegisterReply,
    _S("value" / c.GreedyBytes),
    shape=ReplyShape.STD2,
    rep_from=lambda v, d: ReadRegisterReply(bytes(v["value"])),
)
_register(
    0xB3, LastError, reply=LastErrorReply, reply_layout=_S("error" / U8, "ext" / U8), shape=ReplyShape.BARE
)
_register(0x64, SetDate, _S("date" / BcdDate("dmy")))
_register(0xED, SetDateTime, _S("dt" / BcdDateTime("dmy")))

# --- A4: fiscal storage (little-endian binary) ----------------------------------------------------


def _fn_shift_to(r: FnShiftStateReply, d: Dialect) -> dict[str, Any]:
    def num(value: int) -> bytes:
        if d.fn_numbers_reversed_bcd:
            return encode_bcd(value, 2)[::-1]
        if not 0 <= value <= 0xFFFF:
            raise ProtocolError(f"number out of range: {value}")
        return value.to_bytes(2, "little")

    return {"state": int(r.shift_open), "shift": num(r.shift_number), "receipt": num(r.receipt_number)}


def _fn_shift_from(v: Any, d: Dialect) -> FnShiftStateReply:
    def num(raw: bytes) -> int:
        return decode_bcd(raw[::-1]) if d.fn_numbers_reversed_bcd else int.from_bytes(raw, "little")

    return FnShiftStateReply(bool(v["state"]), num(v["shift"]), num(v["receipt"]))


_register(
    (0xA4, 0x10),
    FnShiftState,
    reply=FnShiftStateReply,
    reply_layout=_S("state" / U8, "shift" / c.Bytes(2), "receipt" / c.Bytes(2)),
    shape=ReplyShape.STD2,
    rep_to=_fn_shift_to,
    rep_from=_fn_shift_from,
)


def _ofd_to(r: FnOfdStateReply, d: Dialect) -> dict[str, Any]:
    stamp = r.first_unsent_datetime
    if stamp is None:
        raw = bytes(5)
    else:
        if not 2000 <= stamp.year <= 2255:
            raise ProtocolError(f"year out of range: {stamp.year}")
        raw = bytes((stamp.year - 2000, stamp.month, stamp.day, stamp.hour, stamp.minute))
    return {
        "flags": r.flags,
        "reading_message": r.reading_message,
        "unsent_count": r.unsent_count,
        "first_unsent_number": r.first_unsent_number,
        "stamp": raw,
    }


def _ofd_from(v: Any, d: Dialect) -> FnOfdStateReply:
    raw = bytes(v["stamp"])
    stamp = None
    if raw != bytes(5):
        try:
            stamp = _dt.datetime(2000 + raw[0], raw[1], raw[2], raw[3], raw[4])
        except ValueError as exc:
            raise ProtocolError(f"invalid date in A4 20 reply: {raw.hex(' ')}: {exc}") from None
    return FnOfdStateReply(
        v["flags"], v["reading_message"], v["unsent_count"], v["first_unsent_number"], stamp
    )


_register(
    (0xA4, 0x20),
    FnOfdState,
    reply=FnOfdStateReply,
    reply_layout=_S(
        "flags" / U8,
        "reading_message" / U8,
        "unsent_count" / U16LE,
        "first_unsent_number" / U32LE,
        "stamp" / c.Bytes(5),
    ),
    shape=ReplyShape.STD2,
    rep_to=_ofd_to,
    rep_from=_ofd_from,
)
_register(
    (0xA4, 0x30),
    FnState,
    reply=FnStateReply,
    reply_layout=_S(
        "phase" / U8,
        "document" / U8,
        "has_data" / U8,
        "shift_open" / U8,
        "flags" / U8,
        "reserved" / c.Bytes(5),
        "fn_number" / AsciiText(16),
    ),
    shape=ReplyShape.STD2,
    rep_from=lambda v, d: FnStateReply(
        v["phase"], v["document"], v["has_data"], v["shift_open"], v["flags"], bytes(v["reserved"]), v["fn_number"]
    ),
)
_register(
    (0xA4, 0x31),
    FnNumber,
    reply=FnNumberReply,
    reply_layout=_S("number" / GreedyAscii),
    shape=ReplyShape.STD2,
)


def _validity_to(r: FnValidityReply, d: Dialect) -> dict[str, Any]:
    day = r.valid_until
    if not 2000 <= day.year <= 2255:
        raise ProtocolError(f"year out of range: {day.year}")
    return {
        "date": bytes((day.year - 2000, day.month, day.day)),
        "reregistrations_left": r.reregistrations_left,
        "registrations_done": r.registrations_done,
    }


def _validity_from(v: Any, d: Dialect) -> FnValidityReply:
    raw = bytes(v["date"])
    try:
        day = _dt.date(2000 + raw[0], raw[1], raw[2])
    except ValueError as exc:
        raise ProtocolError(f"invalid date in A4 32 reply: {raw.hex(' ')}: {exc}") from None
    return FnValidityReply(day, v["reregistrations_left"], v["registrations_done"])


_register(
    (0xA4, 0x32),
    FnValidity,
    reply=FnValidityReply,
    reply_layout=_S("date" / c.Bytes(3), "reregistrations_left" / U8, "registrations_done" / U8),
    shape=ReplyShape.STD2,
    rep_to=_validity_to,
    rep_from=_validity_from,
)
_register(
    (0xA4, 0x33),
    FnVersion,
    reply=FnVersionReply,
    reply_layout=_S("version" / AsciiText(16), "release" / c.Flag),
    shape=ReplyShape.STD2,
)
_register(
    (0xA4, 0x45),
    FnOpenDocument,
    _S("number" / U32LE),
    FnOpenDocumentReply,
    _S("data" / c.GreedyBytes),
    shape=ReplyShape.STD2,
    rep_from=lambda v, d: FnOpenDocumentReply(bytes(v["data"])),
)


def _tlv_to(r: FnReadTlvReply, d: Dialect) -> dict[str, Any]:
    return {"tag": r.tag, "length": len(r.value), "value": r.value}


def _tlv_from(v: Any, d: Dialect) -> FnReadTlvReply:
    return _tlv_from_list([v["tag"], v["length"], v["value"]], d)


def _tlv_to_list(r: FnReadTlvReply, d: Dialect) -> list[Any]:
    return [r.tag, len(r.value), r.value]


def _tlv_from_list(v: list[Any], d: Dialect) -> FnReadTlvReply:
    tag, length, raw = v
    value = raw if type(raw) is bytes else bytes(raw)  # (the flat engine's tail is bytes already)
    if len(value) != length:
        raise ProtocolError(f"TLV length {length} but {len(value)} value bytes")
    return FnReadTlvReply(tag, value)


_register(
    (0xA4, 0x46),
    FnReadTlv,
    reply=FnReadTlvReply,
    reply_layout=_S("tag" / U16LE, "length" / U16LE, "value" / c.GreedyBytes),
    shape=ReplyShape.STD2,
    rep_to=_tlv_to,
    rep_from=_tlv_from,
    rep_to_list=_tlv_to_list,
    rep_from_list=_tlv_from_list,
)

# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------


def spec_for(code: Code) -> CommandSpec:
    """The table entry for a command code; ProtocolError if unknown."""
    spec = COMMANDS.get(code)
    if spec is None:
        raise ProtocolError(f"unknown command {_fmt(code)}")
    return spec


def spec_of(request: Request) -> CommandSpec:
    """The table entry for a request object."""
    spec = _BY_REQUEST.get(type(request))
    if spec is None:
        raise ProtocolError(f"not a request: {request!r}")
    return spec


def peek_code(payload: bytes) -> Code | None:
    """The command code of an application payload without decoding it (None if too short), so a
    device can name the command in its error reply even when the parameters are garbage."""
    if len(payload) < 3:
        return None
    if payload[2] == 0xA4:
        return (0xA4, payload[3]) if len(payload) >= 4 else None
    return payload[2]


def command_code(request: Request) -> Code:
    """The code a request is sent with (what `decode_reply` needs for its reply)."""
    return spec_of(request).code


def _fmt(code: Code) -> str:
    return " ".join(f"{b:02X}" for b in code) if isinstance(code, tuple) else f"{code:02X}"


def encode_request(req: Request, password: int = 0, dialect: Dialect = DEFAULT_DIALECT) -> bytes:
    """Request -> `<password: 2 BCD> <code> <params>` (the payload of a v3 ADD / a v2 frame)."""
    spec = spec_of(req)
    head = _PASSWORD_BYTES.get(password) if type(password) is int else None
    if head is None:
        head = encode_bcd(password, 2)  # raises for a bad password: nothing is remembered then
        if type(password) is int:
            _PASSWORD_BYTES[password] = head
    return head + spec.code_bytes + spec.request.build(req, dialect)


def decode_request(payload: bytes, dialect: Dialect = DEFAULT_DIALECT) -> tuple[int, Request]:
    """`<password> <code> <params>` -> (password, request); ProtocolError on garbage or unknown code."""
    if len(payload) < 3:
        raise ProtocolError(f"payload too short: {bytes(payload).hex(' ')}")
    head = bytes(payload[:2])
    password = _PASSWORD_VALUES.get(head)
    if password is None:
        password = _PASSWORD_VALUES[head] = decode_bcd(head)  # raises for bad BCD: nothing remembered
    code: Code = payload[2]
    start = 3
    if code == 0xA4:
        if len(payload) < 4:
            raise ProtocolError("A4 without a subcommand")
        code = (0xA4, payload[3])
        start = 4
    spec = spec_for(code)
    return password, spec.request.parse(payload[start:], dialect, exact=True)


def encode_reply(reply: Reply, dialect: Dialect = DEFAULT_DIALECT) -> bytes:
    """Reply -> bytes as the device sends them (the payload of A3/A4/A6/A7 statuses)."""
    if isinstance(reply, Ok):
        return b"\x55\x00\x00"
    if isinstance(reply, ErrorReply):
        if not 1 <= reply.error <= 0xFF or not 0 <= reply.ext <= 0xFF:
            raise ProtocolError(f"invalid error reply {reply!r}")
        return bytes((REPLY_OK, reply.error, reply.ext))
    spec = _BY_REPLY.get(type(reply))
    if spec is None:
        raise ProtocolError(f"not a reply: {reply!r}")
    body = spec.reply.build(reply, dialect)
    shape = spec.shape
    if shape is _STD:
        return b"\x55\x00\x00" + body
    if shape is _STD2:
        return b"\x55\x00" + body
    if shape is _BARE:
        return b"\x55" + body
    if shape is _STATE:
        return bytes((dialect.state_reply_code,)) + body
    if shape is _DTYPE:
        return (b"\x00" + body) if dialect.device_type_error_byte else body
    return b"\x4d" + body  # CASH


def _error_from_55(data: bytes) -> ErrorReply:
    return ErrorReply(data[1], data[2] if len(data) > 2 else 0)


def decode_reply(code: Code, data: bytes, dialect: Dialect = DEFAULT_DIALECT) -> Reply:
    """Reply bytes for command `code` -> reply object, `Ok`, or `ErrorReply`.

    Any `55 <err != 0> ...` is an `ErrorReply`, except for 45 and B3, whose byte [1] is data. Trailing
    bytes after a fixed-size reply are ignored (newer firmware may append fields); a short reply is a
    ProtocolError.
    """
    spec = spec_for(code)
    if type(data) is not bytes:
        data = bytes(data)
    if not data:
        raise ProtocolError(f"empty reply to {_fmt(code)}")
    shape = spec.shape
    first = data[0]
    codec = spec.reply
    if shape is _STD or shape is _STD2:
        if first != REPLY_OK or len(data) < 2:
            raise ProtocolError(f"bad reply to {_fmt(code)}: {data[:8].hex(' ')}")
        if data[1]:
            return _error_from_55(data)
        if codec.cls is Ok:
            return Ok()
        return codec.parse(data[3:] if shape is _STD else data[2:], dialect, exact=False)
    if shape is _BARE:
        if first != REPLY_OK:
            raise ProtocolError(f"bad reply to {_fmt(code)}: {data[:8].hex(' ')}")
        return codec.parse(data[1:], dialect, exact=False)
    if shape is _STATE:
        # A short `55 err ext` is an error; otherwise the first byte is the reply code (ignored, as
        # atol4j does, because 0x44 is unconfirmed).
        if first == REPLY_OK and len(data) < 1 + (codec.fixed_size or 0) and len(data) >= 2:
            if data[1]:
                return _error_from_55(data)
            raise ProtocolError(f"short 3F reply: {data.hex(' ')}")
        return codec.parse(data[1:], dialect, exact=False)
    if shape is _DTYPE:
        # `encode_reply(ErrorReply)` is the generic `55 err ext`; accept it besides a bare error byte.
        if first == REPLY_OK and 2 <= len(data) <= 3 and data[1]:
            return _error_from_55(data)
        if dialect.device_type_error_byte:
            if first:
                return ErrorReply(first, 0)
            return codec.parse(data[1:], dialect, exact=False)
        return codec.parse(data, dialect, exact=False)
    # CASH
    if first != 0x4D:
        if len(data) >= 2 and data[1]:
            return _error_from_55(data)
        raise ProtocolError(f"bad reply to 4D: {data[:8].hex(' ')}")
    return codec.parse(data[1:], dialect, exact=False)


def is_error(reply: Reply) -> bool:
    return isinstance(reply, ErrorReply)

