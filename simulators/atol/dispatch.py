"""Application layer: an ADD payload in, the device's reply bytes out.

`Dispatcher.execute(payload)` decodes `<password> <code> <params>` with `protocols.atol.commands`,
checks the access password, calls the matching `Device` method and encodes the reply with the same
command table, so the simulator and the driver cannot disagree about a byte. Failures become
`55 <err> <ext>` (`ErrorReply`) and the task ends in the ERROR state:

- an unknown command code -> INVALID_COMMAND (F2);
- a known command with a malformed parameter block -> INVALID_LENGTH (14);
- a wrong access password -> WRONG_PASSWORD (8C);
- any refusal of the state machine -> its `DeviceError` code.

Stored documents (`A4 45` / `A4 46`): `A4 45 <number>` answers `<document type: 2 LE> <TLV bytes: 2
LE>` (the real layout is unknown, reference §3.3) with document types 2 shift open, 3 receipt, 5 shift
close (the FFD numbers) and 101 cash in, 102 cash out (simulator-specific). Each `A4 46` then returns
one TLV: 1040 number, 1012 date-time, 1038 shift, 1037 registration number, 1041 FN number, and for
receipts 1042 receipt number, 1054 operation (1 sell, 2 sell return, 3 buy, 4 buy return), one 1059
STLV per item (1030 name, 1079 price, 1023 quantity, 1043 amount, 1199 VAT code), 1020 total, 1031
cash, 1081 electronic; cash documents 1020 amount; last 1077 fiscal sign (6 bytes, big-endian integer
of the printed decimal sign). When the TLVs run out, `A4 46` fails with error 0x18 ("no more data").
"""

from __future__ import annotations

import datetime as _dt
from collections import deque
from collections.abc import Callable
from typing import Any

from protocols.atol import commands as cmd
from protocols.atol import tlv
from protocols.errors import ProtocolError

from . import codes
from .codes import DeviceError
from .device import Device
from .fiscal_memory import DocumentKind, FiscalDocument

#: FFD operation type (tag 1054) for each receipt type.
OPERATION_TYPE = {1: 1, 2: 2, 4: 3, 5: 4}
#: FFD VAT code (tag 1199) for each tax-table label; other labels carry the tax index itself.
FFD_VAT_CODE = {"20": 1, "10": 2, "20/120": 3, "10/110": 4, "0": 5, "none": 6}
DOCUMENT_TYPE = {
    DocumentKind.SHIFT_OPEN: 2,
    DocumentKind.RECEIPT: 3,
    DocumentKind.SHIFT_CLOSE: 5,
    DocumentKind.CASH_IN: 101,
    DocumentKind.CASH_OUT: 102,
}
#: Decoded requests kept in `Dispatcher.executed` (a receipt is ~10-30 commands).
EXECUTED_KEEP = 1_000
#: Payloads up to this long (password 2, code 1-2, a parameter byte or two) have their decoding kept.
_DECODED_MAX_LEN = 6
_DECODED_KEEP = 256
#: 3F interface byte: 1 RS-232, 4 USB, 6 Ethernet. Servers set it for their transport.
INTERFACE_RS232, INTERFACE_USB, INTERFACE_ETHERNET = 1, 4, 6


class Dispatcher:
    """Turns payloads into `Device` calls and replies."""

    def __init__(self, device: Device, dialect: cmd.Dialect = cmd.DEFAULT_DIALECT) -> None:
        self.device = device
        self.dialect = dialect
        self.interface = INTERFACE_USB
        #: The last `EXECUTED_KEEP` decoded requests, in order (for tests and debugging; `list()` it to
        #: slice). Bounded so a long-running server stays small; `executed_count` counts them all.
        self.executed: deque[Any] = deque(maxlen=EXECUTED_KEEP)
        self.executed_count = 0
        #: payload -> (password, request) of short payloads (see `execute`), at most `_DECODED_KEEP`.
        self._decoded: dict[bytes, tuple[int, Any]] = {}

    def execute(self, payload: bytes) -> tuple[bool, bytes]:
        device = self.device
        # Short payloads (no or few parameter bytes: status queries, `A4 46` once per TLV) repeat: their
        # decoded requests (frozen dataclasses) are kept instead of being parsed again.
        decoded = self._decoded.get(payload) if len(payload) <= _DECODED_MAX_LEN else None
        if decoded is None:
            try:
                decoded = cmd.decode_request(payload, self.dialect)
            except ProtocolError:
                return False, self._error(self._decode_error_code(payload), 0)
            if len(payload) <= _DECODED_MAX_LEN:
                if len(self._decoded) >= _DECODED_KEEP:
                    self._decoded.clear()
                self._decoded[bytes(payload)] = decoded
        password, request = decoded
        self.executed.append(request)
        self.executed_count += 1
        try:
            device.check_access(password)
            # `handle()` inlined (one call less per task).
            kind = type(request)
            handler = _QUERIES.get(kind)
            if handler is not None:
                reply = handler(self, device, request)
            else:
                action = _ACTIONS.get(kind)
                if action is None:
                    raise DeviceError(codes.INVALID_COMMAND, detail=f"not implemented: {kind.__name__}")
                action(self, device, request)
                reply = _OK
        except DeviceError as exc:
            return False, self._error(exc.code, exc.ext)
        if kind is not cmd.LastError:
            device.volatile.last_error = 0
        if reply is _OK:
            return True, _OK_BYTES
        return True, cmd.encode_reply(reply, self.dialect)

    def _error(self, code: int, ext: int) -> bytes:
        self.device.volatile.last_error = code
        return cmd.encode_reply(cmd.ErrorReply(code, ext), self.dialect)

    @staticmethod
    def _decode_error_code(payload: bytes) -> int:
        if len(payload) < 3:
            return codes.INVALID_LENGTH
        code: Any = payload[2]
        if code == 0xA4:
            if len(payload) < 4:
                return codes.INVALID_LENGTH
            code = (0xA4, payload[3])
        try:
            cmd.spec_for(code)
        except ProtocolError:
            return codes.INVALID_COMMAND
        return codes.INVALID_LENGTH

    # -- one handler per request type --------------------------------------------------------------

    def handle(self, request: Any) -> Any:
        """Run one decoded request on the device and return its reply (`Ok` for commands without one).

        One dict lookup on the request's type picks its handler (the request classes do not inherit
        from each other): a chain of ~45 `isinstance` tests cost most for the readback commands, the
        commonest of all (`A4 46` once per TLV), which came last."""
        kind = type(request)
        handler = _QUERIES.get(kind)
        if handler is not None:
            return handler(self, self.device, request)
        action = _ACTIONS.get(kind)
        if action is None:
            raise DeviceError(codes.INVALID_COMMAND, detail=f"not implemented: {type(request).__name__}")
        action(self, self.device, request)  # whatever the device method returns, the reply is `Ok`
        return _OK

    # -- handlers longer than a line (the tables below the class name all of them) -----------------

    def _short_state(self, d: Device, request: cmd.ShortState) -> Any:
        return cmd.ShortStateReply(
            mode=d.volatile.mode, submode=d.volatile.submode, no_paper=not d.paper_present,
            mechanical_error=d.cover_open,
        )

    def _device_type(self, d: Device, request: cmd.DeviceType) -> Any:
        major, minor = d.config.firmware
        return cmd.DeviceTypeReply(
            protocol=3, device_type=1, model=d.config.model_id, mode=d.volatile.mode,
            submode=d.volatile.submode, version=bytes((major, minor, 0, 0, 1)), name=d.config.model_name,
        )

    def _register_item(self, d: Device, request: cmd.RegisterItem) -> None:
        d.register_item(
            request.name, request.price, request.quantity, request.tax, request.section,
            request.discount, request.discount_type, request.discount_sign, request.flags,
        )

    def _payment(self, d: Device, request: cmd.Payment) -> Any:
        remaining, change = d.payment(request.pay_type, request.amount, request.flags)
        return cmd.PaymentReply(remaining, change)

    def _payment_storno(self, d: Device, request: cmd.PaymentStorno) -> Any:
        remaining, change = d.payment_storno(request.pay_type, request.amount, request.flags)
        return cmd.PaymentReply(remaining, change)

    def _receipt_discount(self, d: Device, request: cmd.ReceiptDiscount) -> None:
        if request.sign != 0 or request.area != 0:
            raise DeviceError(codes.INVALID_DISCOUNT, detail="only a discount on the whole receipt")
        amount = request.amount
        if request.discount_type == 0:  # percent with 2 decimals
            receipt = d.volatile.receipt
            subtotal = receipt.subtotal if receipt else 0
            amount = subtotal * request.amount // 10000
        d.receipt_discount(amount, request.flags)

    def _fn_shift_state(self, d: Device, request: cmd.FnShiftState) -> Any:
        state, shift, receipt_number = d.fn_shift_state()
        return cmd.FnShiftStateReply(state != 0, shift, receipt_number)

    def _fn_ofd_state(self, d: Device, request: cmd.FnOfdState) -> Any:
        unsent_count, first = d.unsent_summary()
        return cmd.FnOfdStateReply(
            flags=0x02 if unsent_count else 0x01,
            unsent_count=unsent_count,
            first_unsent_number=first.number if first else 0,
            first_unsent_datetime=_dt.datetime.fromisoformat(first.date_time).replace(second=0) if first else None,
        )

    def _fn_open_document(self, d: Device, request: cmd.FnOpenDocument) -> Any:
        document = d.memory.get(request.number)
        if document is None:
            raise DeviceError(codes.NO_MORE_DATA, detail=f"no fiscal document {request.number}")
        tlvs = document_tlvs(document, d)
        d.open_document(request.number, tlvs)
        size = sum(4 + len(value) for _, value in tlvs)
        kind = DOCUMENT_TYPE.get(document.kind, 0)
        return cmd.FnOpenDocumentReply(kind.to_bytes(2, "little") + min(size, 0xFFFF).to_bytes(2, "little"))

    def _fn_read_tlv(self, d: Device, request: cmd.FnReadTlv) -> Any:
        tag, value = d.next_tlv()
        return cmd.FnReadTlvReply(tag, value)

    def _device_state(self) -> Any:
        s = self.device.status()
        return cmd.DeviceStateReply(
            cashier=s.operator % 100,
            hall_number=1,
            datetime=s.now,
            fiscalised=s.fiscal,
            shift_open=s.shift_open,
            drawer_open=s.drawer_open,
            paper_present=s.paper_present,
            cover_open=s.cover_open,
            fn_active=True,
            serial_number=s.serial,
            model=s.model,
            firmware=bytes(s.firmware),
            mode=s.mode,
            submode=s.submode,
            receipt_number=s.receipt_number % 10000,
            shift_number=s.shift_number % 10000,
            receipt_state=s.receipt_type,
            receipt_sum=s.receipt_sum,
            decimal_point=2,
            interface=self.interface,
        )

    def _register(self, register: int) -> bytes:
        from protocols.atol.bcd import encode_bcd

        d = self.device
        if register == 18:  # shift open flag
            return bytes((1 if d.durable.shift_open else 0,))
        if register == 22:  # serial number
            return encode_bcd(d.config.registration.serial_digits(), 4)
        if register == 17:  # date and time, BCD DD MM YY hh mm ss
            now = d.now()
            parts = (now.day, now.month, now.year % 100, now.hour, now.minute, now.second)
            return b"".join(encode_bcd(value, 1) for value in parts)
        raise DeviceError(codes.NOT_SUPPORTED, ext=register, detail=f"register {register} not simulated")


_Handler = Callable[[Dispatcher, Device, Any], Any]

#: The reply of every action and its bytes, made once (both are constants).
_OK = cmd.Ok()
_OK_BYTES = cmd.encode_reply(_OK)

#: Requests answered with data: request type -> handler(dispatcher, device, request) -> reply.
_QUERIES: dict[type, _Handler] = {
    cmd.DeviceState: lambda self, d, r: self._device_state(),
    cmd.ShortState: Dispatcher._short_state,
    cmd.DeviceType: Dispatcher._device_type,
    cmd.Payment: Dispatcher._payment,
    cmd.PaymentStorno: Dispatcher._payment_storno,
    cmd.CashInDrawer: lambda self, d, r: cmd.CashInDrawerReply(d.durable.cash_in_drawer),
    cmd.LastShiftTotals: lambda self, d, r: cmd.LastShiftTotalsReply(d.durable.last_shift_income,
                                                                     d.durable.last_shift_expense),
    cmd.ReadRegister: lambda self, d, r: cmd.ReadRegisterReply(self._register(r.register)),
    cmd.LastError: lambda self, d, r: cmd.LastErrorReply(d.volatile.last_error, 0),
    cmd.FnShiftState: Dispatcher._fn_shift_state,
    cmd.FnOfdState: Dispatcher._fn_ofd_state,
    cmd.FnState: lambda self, d, r: cmd.FnStateReply(phase=3, shift_open=int(d.durable.shift_open),
                                                     fn_number=d.config.registration.fn_number),
    cmd.FnNumber: lambda self, d, r: cmd.FnNumberReply(d.config.registration.fn_number),
    cmd.FnValidity: lambda self, d, r: cmd.FnValidityReply(_dt.date(2030, 12, 31), 11, 1),
    cmd.FnVersion: lambda self, d, r: cmd.FnVersionReply("kkm-bridge-sim01", True),
    cmd.FnOpenDocument: Dispatcher._fn_open_document,
    cmd.FnReadTlv: Dispatcher._fn_read_tlv,
}

#: Requests answered `Ok`: request type -> action(dispatcher, device, request), result ignored.
_ACTIONS: dict[type, _Handler] = {
    cmd.EnterMode: lambda self, d, r: d.enter_mode(r.mode, r.password),
    cmd.LeaveMode: lambda self, d, r: d.leave_mode(),
    cmd.OpenShift: lambda self, d, r: d.open_shift(r.flags),
    cmd.OpenReceipt: lambda self, d, r: d.open_receipt(r.receipt_type, r.flags),
    cmd.RegisterItem: Dispatcher._register_item,
    cmd.CloseReceipt: lambda self, d, r: d.close_receipt(r.pay_type, r.amount, r.flags),
    cmd.CancelReceipt: lambda self, d, r: d.cancel_receipt(),
    cmd.ReceiptDiscount: Dispatcher._receipt_discount,
    cmd.CashIn: lambda self, d, r: d.cash_in(r.amount, r.flags),
    cmd.CashOut: lambda self, d, r: d.cash_out(r.amount, r.flags),
    cmd.XReport: lambda self, d, r: d.x_report(r.report_type),
    cmd.ZReport: lambda self, d, r: d.z_report(),
    cmd.PrintLine: lambda self, d, r: d.print_line(r.text),
    cmd.Cut: lambda self, d, r: d.cut(),
    cmd.PrintBarcode: lambda self, d, r: d.print_barcode(r.data),
    cmd.Beep: lambda self, d, r: None,
    cmd.OpenDrawer: lambda self, d, r: d.open_drawer(),
    cmd.SetDate: lambda self, d, r: d.set_date(r.date),
    cmd.SetDateTime: lambda self, d, r: d.set_datetime(r.dt),
}


def document_tlvs(document: FiscalDocument, device: Device) -> list[tuple[int, bytes]]:
    """The TLV records `A4 46` returns for a stored document, in order."""
    reg = device.config.registration
    fields: list[tuple[int, Any]] = [
        (tlv.DOCUMENT_NUMBER, document.number),
        (tlv.DATETIME, _dt.datetime.fromisoformat(document.date_time)),
        (tlv.SHIFT_NUMBER, document.shift_number),
        (tlv.REGISTRATION_NUMBER, document.registration_number),
        (tlv.FN_NUMBER, reg.fn_number),
    ]
    if document.kind == DocumentKind.RECEIPT:
        fields.append((tlv.RECEIPT_NUMBER, document.receipt_number or 0))
        fields.append((tlv.OPERATION_TYPE, OPERATION_TYPE.get(document.receipt_type or 1, 1)))
        for line in document.lines:
            slot = device.tax_table.get(line["tax"])
            label = slot.label if slot else ""
            fields.append((tlv.ITEM, [
                (tlv.ITEM_NAME, line["name"]),
                (tlv.ITEM_PRICE, line["price"]),
                (tlv.ITEM_QUANTITY, line["quantity"]),
                (tlv.ITEM_AMOUNT, line["amount"]),
                (tlv.ITEM_VAT_RATE, FFD_VAT_CODE.get(label, line["tax"])),
            ]))
        fields.append((tlv.TOTAL, document.total))
        paid = {p["type"]: p["amount"] for p in document.payments}
        fields.append((tlv.CASH, paid.get(1, 0) - document.change))
        fields.append((tlv.ELECTRONIC, sum(v for k, v in paid.items() if k != 1)))
    elif document.kind in (DocumentKind.CASH_IN, DocumentKind.CASH_OUT):
        fields.append((tlv.TOTAL, document.total))
    out = [(tag, tlv.encode_value(tag, value)) for tag, value in fields]
    out.append((tlv.FISCAL_SIGN, int(document.fiscal_sign).to_bytes(6, "big")))
    return out
