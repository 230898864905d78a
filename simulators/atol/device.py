"""The simulated fiscal printer's behaviour, on typed calls: modes, shift, receipts, reports, memory.

This is the state machine only. It knows nothing about bytes or frames: `dispatch.py` turns decoded
requests into these calls and their results (or `DeviceError`) into replies, and `link_v3.py` carries
them over the wire. Keeping it byte-free means the rules are tested directly and read like the manual.

Modes (`56`/`48`): 0 selection, 1 registration, 2 X reports, 3 Z reports, 4 programming, 5 fiscal
memory, 6 EKLZ. A mode is entered from mode 0 only, with a mode password (see `config.py` for the
defaults and who may enter what); `48` goes back to mode 0 (refused while a receipt is open).
Sub-mode in registration: 0 idle, 1 receipt open (items), 4 receipt taking payments.

Shift: opened by `9A` or, by default, automatically by the first receipt or cash operation (as a real
ATOL does). It expires `shift_hours` (24) after opening by the device clock: then every operation
that would add to it fails with SHIFT_EXPIRED until a Z report closes it.

Receipt: open (`92`) -> items (`E6`, `43`) -> payments (`99`, `9B`) -> close (`4A`), or cancel (`59`)
at any point. Only a closed receipt is a fiscal document; it is committed to fiscal memory (with the
new counters, atomically) before the command reports success.

Printing: every document is rendered onto `self.tape` (see `tape.py`; it keeps the last
`config.tape_keep`). Commands that print fail with NO_PAPER or the cover-open error when the paper is
out or the cover is open; receipts opened with the "do not print" flag do not need paper.
"""

from __future__ import annotations

import os
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from kkm_bridge.model.money import line_amount, round_half_up, vat_included

from . import codes
from .clock import Clock, SystemClock
from .codes import DeviceError
from .config import MODES_BY_ROLE, DeviceConfig, Registration
from .fiscal_memory import DocumentKind, FiscalDocument, FiscalMemory
from .fiscal_sign import compute_fiscal_sign
from .state import DurableState, OpenReceipt, ReceiptLine, ReceiptPhase, ShiftCounters, VolatileState
from .tape import PrintedDocument, defer_fiscal_document, render_text_document, render_x_report

RECEIPT_TYPES = {1, 2, 4, 5}
PAY_TYPES = {1, 2, 3, 4, 5}
CASH = 1
#: Receipt types that bring money in (cash added to the drawer).
INCOMING_TYPES = {1, 5}
MAX_LINES = 1000
SUBMODE_IDLE, SUBMODE_ITEMS, SUBMODE_PAYMENTS = 0, 1, 4
#: Flags bit0 of registration commands: execute as a test, change nothing.
FLAG_TEST = 0x01
#: Flags bit1 of `92`: do not print the receipt.
FLAG_NO_PRINT = 0x02


@dataclass(frozen=True)
class TaxRate:
    """One slot of the device tax table, as the simulator needs it."""

    index: int
    label: str
    percent: Decimal | None


def load_tax_table(table: dict[int, Any] | None = None) -> dict[int, TaxRate]:
    """Read the protocol's tax table (`protocols.atol.tax_table.DEFAULT_TAX_TABLE`) into `TaxRate`s."""
    if table is None:
        from protocols.atol.tax_table import DEFAULT_TAX_TABLE

        table = DEFAULT_TAX_TABLE
    out: dict[int, TaxRate] = {}
    for index, slot in table.items():
        percent = getattr(slot, "percent", None)
        out[int(index)] = TaxRate(int(index), str(getattr(slot, "label", index)), percent)
    return out


def rate_text(percent: Decimal | None) -> str | None:
    """`Decimal("16") -> "16"`, `None -> None` (no VAT)."""
    if percent is None:
        return None
    text = format(percent.normalize(), "f")
    return text


@dataclass
class DeviceStatus:
    """What 3F/45 report, gathered in one place."""

    operator: int
    now: datetime
    fiscal: bool
    shift_open: bool
    shift_expired: bool
    drawer_open: bool
    paper_present: bool
    cover_open: bool
    serial: int
    model: int
    firmware: tuple[int, int]
    mode: int
    submode: int
    receipt_number: int
    shift_number: int
    document_number: int
    receipt_type: int  # 0 when no receipt is open
    receipt_sum: int


@dataclass
class DocumentReader:
    """The document opened by A4 45 and how far A4 46 has read it."""

    document: FiscalDocument
    tlvs: list[tuple[int, bytes]] = field(default_factory=list)
    position: int = 0


class Device:
    """One simulated printer: configuration, durable state (in `memory`), volatile state, tape."""

    def __init__(
        self,
        config: DeviceConfig | None = None,
        memory: FiscalMemory | None = None,
        clock: Clock | None = None,
        tax_table: dict[int, Any] | None = None,
    ) -> None:
        self.config = config or DeviceConfig()
        self.memory = memory if memory is not None else FiscalMemory()
        self.clock: Clock = clock or SystemClock()
        self.tax_table = load_tax_table(tax_table)
        self.volatile = VolatileState()
        #: The last `config.tape_keep` printed documents (a bounded deque: `tape[-1]`, `len`, iteration
        #: work; older ones fall off so a long-running server stays small; `on_print` sees every one).
        self.tape: deque[PrintedDocument] = deque(maxlen=self.config.tape_keep or None)
        #: Lines printed over the device's run (drives the print-time emulation), counted while
        #: `count_lines` is true. Counting a fiscal document's lines means rendering it, which is otherwise
        #: deferred until someone looks at the tape: the simulator counts only with a per-line print time.
        self.lines_printed = 0
        self.count_lines = True
        self._text_lines: list[str] | None = None  # loose text being printed (4C outside a document)
        self.reader: DocumentReader | None = None
        #: `shift_expired`'s parse of `durable.shift_opened_at`, and the text it was parsed from.
        self._opened_text: str | None = None
        self._opened_at: datetime | None = None
        # Physical state: survives a power cut (it is the paper and the lid, not memory).
        self.paper_present = True
        self.cover_open = False
        self.paper_left: int | None = None  # printed documents until the paper runs out (fault)
        self.cover_opens_after: int | None = None  # printed documents until the cover opens (fault)
        #: Called at named points inside commands (power-cut faults raise from here).
        self.fault_hook: Callable[[str], None] | None = None
        #: Called with every document put on the tape (the CLI's --tape-dir uses it).
        self.on_print: Callable[[PrintedDocument], None] | None = None
        self.durable = self._load_durable()

    # -- durable state -----------------------------------------------------------------------------

    def _load_durable(self) -> DurableState:
        if self.memory.device is not None:
            registration = self.memory.extra.get("registration")
            if registration:
                self.config.registration = Registration(**registration)
            return DurableState.from_dict(self.memory.device)
        if self.config.sign_key_seed is not None:
            key = random.Random(self.config.sign_key_seed).randbytes(32)
        else:
            key = os.urandom(32)
        durable = DurableState(sign_key=key.hex())
        self.memory.extra["registration"] = dict(vars(self.config.registration))
        self.memory.commit(durable.to_dict())
        return durable

    @property
    def sign_key(self) -> bytes:
        return bytes.fromhex(self.durable.sign_key)

    def power_cycle(self) -> None:
        """Lose everything volatile and reload the durable state from fiscal memory."""
        self.memory.reload()
        self.durable = self._load_durable()
        self.volatile = VolatileState()
        self.reader = None
        self._text_lines = None

    def _hook(self, point: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point)

    def _commit(self, durable: DurableState, document: FiscalDocument | None) -> None:
        """Make `durable` (and `document`) the device's committed state, atomically on disk."""
        if document is not None:
            self._hook(f"before_commit:{document.kind}")
        self.memory.commit(durable.to_dict(), document)
        self.durable = durable

    def _new_document(self, durable: DurableState, kind: str, **fields: Any) -> FiscalDocument:
        durable.last_document_number += 1
        reg = self.config.registration
        document = FiscalDocument(
            number=durable.last_document_number,
            kind=kind,
            date_time=self.now().isoformat(timespec="seconds"),
            shift_number=durable.shift_number,
            operator=self.volatile.operator,
            registration_number=reg.registration_number,
            factory_number=reg.factory_number,
            seller_bin=reg.seller_bin,
            offline=self.config.offline,
            **fields,
        )
        document.cash_in_drawer = durable.cash_in_drawer
        document.fiscal_sign = compute_fiscal_sign(self.sign_key, document.to_dict())
        return document

    # -- clock and shift ---------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def shift_expired(self) -> bool:
        durable = self.durable
        text = durable.shift_opened_at
        if not durable.shift_open or not text:
            return False
        # Asked several times per receipt (each item): the opening time is parsed once per value.
        opened = self._opened_at
        if text != self._opened_text or opened is None:
            opened = self._opened_at = datetime.fromisoformat(text)  # `durable.opened_at()`
            self._opened_text = text
        return self.now() - opened >= timedelta(hours=self.config.shift_hours)

    def _require_shift_usable(self, test: bool = False) -> None:
        """Open the shift if allowed and needed; refuse if it expired."""
        if self.durable.shift_open:
            if self.shift_expired():
                raise DeviceError(codes.SHIFT_EXPIRED, detail="shift is longer than 24 hours")
            return
        if not self.config.auto_open_shift:
            raise DeviceError(codes.NOT_ALLOWED_IN_MODE, detail="shift is closed")
        if not test:
            self._open_shift_document()

    def _open_shift_document(self) -> FiscalDocument:
        durable = self.durable.copy()
        durable.shift_number += 1
        durable.shift_open = True
        durable.shift_opened_at = self.now().isoformat(timespec="seconds")
        durable.receipt_number = 0
        durable.counters = ShiftCounters()
        document = self._new_document(durable, DocumentKind.SHIFT_OPEN)
        self._commit(durable, document)
        self._print(defer_fiscal_document(document, self.config, self.tax_table))
        return document

    # -- printing ----------------------------------------------------------------------------------

    def _require_printer(self) -> None:
        if self.cover_open:
            code = self.config.cover_open_error if self.config.cover_open_error is not None else codes.COVER_OPEN_ERROR
            raise DeviceError(code, detail="cover open")
        if not self.paper_present:
            raise DeviceError(codes.NO_PAPER, detail="no paper")

    def _print(self, printed: PrintedDocument) -> None:
        """Put a finished document on the tape and run the paper/cover countdowns."""
        self.tape.append(printed)
        if self.count_lines:
            self.lines_printed += len(printed.lines)
        if self.on_print is not None:
            self.on_print(printed)
        if self.paper_left is not None:
            self.paper_left -= 1
            if self.paper_left <= 0:
                self.paper_present = False
                self.paper_left = None
        if self.cover_opens_after is not None:
            self.cover_opens_after -= 1
            if self.cover_opens_after <= 0:
                self.cover_open = True
                self.cover_opens_after = None

    def load_paper(self) -> None:
        self.paper_present = True

    def close_cover(self) -> None:
        self.cover_open = False

    # -- access and modes --------------------------------------------------------------------------

    def check_access(self, password: int) -> None:
        if password != self.config.passwords.access:
            raise DeviceError(codes.WRONG_PASSWORD, detail="wrong access password")

    def _require_mode(self, *modes: int) -> None:
        if self.volatile.mode not in modes:
            raise DeviceError(codes.NOT_ALLOWED_IN_MODE, detail=f"needs mode {modes}, in {self.volatile.mode}")

    def enter_mode(self, mode: int, password: int) -> None:
        if not 0 <= mode <= 6:
            raise DeviceError(codes.NOT_ALLOWED_IN_MODE, detail=f"no mode {mode}")
        if self.volatile.mode != 0:
            raise DeviceError(codes.NOT_ALLOWED_IN_MODE, detail="leave the current mode first")
        if mode == 0:
            return
        found = self.config.passwords.role_for(password)
        if found is None or mode not in MODES_BY_ROLE[found[0]]:
            raise DeviceError(codes.WRONG_PASSWORD, detail="wrong mode password")
        self.volatile.mode = mode
        self.volatile.submode = 0
        self.volatile.operator = found[1]

    def leave_mode(self) -> None:
        if self.volatile.receipt is not None:
            raise DeviceError(codes.RECEIPT_OPEN, detail="close or cancel the receipt first")
        self.volatile.mode = 0
        self.volatile.submode = 0

    # -- status ------------------------------------------------------------------------------------

    def status(self) -> DeviceStatus:
        receipt = self.volatile.receipt
        return DeviceStatus(
            operator=self.volatile.operator,
            now=self.now(),
            fiscal=True,
            shift_open=self.durable.shift_open,
            shift_expired=self.shift_expired(),
            drawer_open=self.volatile.drawer_open,
            paper_present=self.paper_present,
            cover_open=self.cover_open,
            serial=self.config.registration.serial_digits(),
            model=self.config.model_id,
            firmware=self.config.firmware,
            mode=self.volatile.mode,
            submode=self.volatile.submode,
            receipt_number=self.durable.receipt_number,
            shift_number=self.durable.shift_number,
            document_number=self.durable.last_document_number,
            receipt_type=receipt.receipt_type if receipt else 0,
            receipt_sum=receipt.total if receipt else 0,
        )

    # -- registration: shift and receipt -----------------------------------------------------------

    def open_shift(self, flags: int = 0) -> FiscalDocument | None:
        self._require_mode(1)
        if self.volatile.receipt is not None:
            raise DeviceError(codes.RECEIPT_OPEN)
        if self.durable.shift_open:
            raise DeviceError(codes.SHIFT_OPEN, detail="shift already open")
        self._require_printer()
        if flags & FLAG_TEST:
            return None
        return self._open_shift_document()

    def open_receipt(self, receipt_type: int, flags: int = 0) -> None:
        self._require_mode(1)
        if self.volatile.receipt is not None:
            raise DeviceError(codes.RECEIPT_OPEN, detail="a receipt is already open")
        if receipt_type not in RECEIPT_TYPES:
            raise DeviceError(codes.INVALID_RECEIPT_TYPE, detail=f"receipt type {receipt_type}")
        printed = not flags & FLAG_NO_PRINT
        if printed:
            self._require_printer()
        self._require_shift_usable(test=bool(flags & FLAG_TEST))
        if flags & FLAG_TEST:
            return
        self.volatile.receipt = OpenReceipt(receipt_type=receipt_type, printed=printed)
        self.volatile.submode = SUBMODE_ITEMS

    def _open_receipt(self) -> OpenReceipt:
        self._require_mode(1)
        receipt = self.volatile.receipt
        if receipt is None:
            raise DeviceError(codes.RECEIPT_CLOSED, detail="no receipt is open")
        if self.shift_expired():
            raise DeviceError(codes.SHIFT_EXPIRED, detail="shift is longer than 24 hours")
        return receipt

    def register_item(
        self,
        name: str,
        price: int,
        quantity: int,
        tax: int,
        section: int = 0,
        discount: int = 0,
        discount_type: int = 1,
        discount_sign: int = 0,
        flags: int = 0,
    ) -> ReceiptLine:
        receipt = self._open_receipt()
        if receipt.phase != ReceiptPhase.ITEMS:
            raise DeviceError(codes.NOT_ALLOWED_IN_MODE, detail="items are not accepted after payments")
        if receipt.discount:
            raise DeviceError(codes.OPERATION_AFTER_DISCOUNT, detail="items after the receipt discount")
        if receipt.printed:
            self._require_printer()
        if price < 0:
            raise DeviceError(codes.INVALID_SUM, detail="negative price")
        if quantity <= 0:
            raise DeviceError(codes.INVALID_QUANTITY, detail="quantity must be positive")
        if tax not in self.tax_table:
            raise DeviceError(codes.INVALID_SUM, ext=tax, detail=f"no tax slot {tax}")
        if not 0 <= section <= 99:
            raise DeviceError(codes.INVALID_SECTION)
        if len(receipt.lines) >= MAX_LINES:
            raise DeviceError(codes.TOO_MANY_POSITIONS)
        gross = line_amount(price, quantity)
        if discount < 0 or discount_sign not in (0, 1) or discount_type not in (0, 1):
            raise DeviceError(codes.INVALID_DISCOUNT)
        # discount_type 0: percent with 2 decimals (1050 = 10.50 %); 1: an amount in minor units.
        off = round_half_up(gross * discount, 10000) if discount_type == 0 else discount
        signed = -off if discount_sign == 1 else off
        amount = gross - signed
        if amount < 0:
            raise DeviceError(codes.INVALID_DISCOUNT, detail="discount larger than the line")
        slot = self.tax_table[tax]
        line = ReceiptLine(
            name=name,
            price=price,
            quantity=quantity,
            amount=amount,
            discount=signed,
            tax=tax,
            section=section,
            vat_rate=rate_text(slot.percent),
            vat=vat_included(amount, slot.percent) if slot.percent is not None else 0,
        )
        if not flags & FLAG_TEST:
            receipt.lines.append(line)
        return line

    def receipt_discount(self, amount: int, flags: int = 0) -> int:
        """`43`: a discount on the whole receipt; 0 means "round the total down to whole units"."""
        receipt = self._open_receipt()
        if receipt.phase != ReceiptPhase.ITEMS:
            raise DeviceError(codes.NOT_ALLOWED_IN_MODE, detail="discount after payments")
        if receipt.discount:
            raise DeviceError(codes.INVALID_DISCOUNT, detail="receipt discount already given")
        if amount < 0 or amount > receipt.subtotal:
            raise DeviceError(codes.INVALID_DISCOUNT)
        value = amount if amount else receipt.subtotal % 100
        if not flags & FLAG_TEST:
            receipt.discount = value
        return value

    def _check_pay_type(self, pay_type: int) -> None:
        if pay_type not in PAY_TYPES:
            raise DeviceError(codes.INVALID_PAYMENT_TYPE, detail=f"payment type {pay_type}")

    def payment(self, pay_type: int, amount: int, flags: int = 0) -> tuple[int, int]:
        """`99`: take a payment; returns (remaining, change)."""
        receipt = self._open_receipt()
        self._check_pay_type(pay_type)
        if amount <= 0:
            raise DeviceError(codes.INVALID_SUM, detail="payment must be positive")
        if not receipt.lines:
            raise DeviceError(codes.NOT_ALLOWED_IN_MODE, detail="no items in the receipt")
        payments = dict(receipt.payments)
        payments[pay_type] = payments.get(pay_type, 0) + amount
        self._check_noncash(receipt.total, payments)
        if not flags & FLAG_TEST:
            receipt.payments = payments
            receipt.phase = ReceiptPhase.PAYMENTS
            self.volatile.submode = SUBMODE_PAYMENTS
        paid = sum(payments.values())
        return max(receipt.total - paid, 0), max(paid - receipt.total, 0)

    def payment_storno(self, pay_type: int, amount: int, flags: int = 0) -> tuple[int, int]:
        """`9B`: take back (part of) a payment; returns (remaining, change)."""
        receipt = self._open_receipt()
        self._check_pay_type(pay_type)
        if amount <= 0:
            raise DeviceError(codes.INVALID_SUM)
        if receipt.payments.get(pay_type, 0) < amount:
            raise DeviceError(codes.STORNO_EXCEEDS_PAYMENT)
        if not flags & FLAG_TEST:
            receipt.payments[pay_type] -= amount
            if not receipt.payments[pay_type]:
                del receipt.payments[pay_type]
        paid = receipt.paid
        return max(receipt.total - paid, 0), max(paid - receipt.total, 0)

    @staticmethod
    def _check_noncash(total: int, payments: dict[int, int]) -> None:
        noncash = sum(amount for kind, amount in payments.items() if kind != CASH)
        if noncash > total:
            raise DeviceError(codes.NONCASH_EXCEEDS_TOTAL, detail="non-cash payments exceed the total")

    def cancel_receipt(self) -> None:
        self._require_mode(1)
        receipt = self.volatile.receipt
        if receipt is None:
            raise DeviceError(codes.RECEIPT_CLOSED, detail="no receipt is open")
        self.volatile.receipt = None
        self.volatile.submode = SUBMODE_IDLE
        self.durable.counters.cancelled_count += 1  # stored with the next commit
        if receipt.printed and self.paper_present and not self.cover_open:
            self._print(render_text_document(["ЧЕК АННУЛИРОВАН"], self.config.line_width, kind="cancelled"))

    def close_receipt(self, pay_type: int = CASH, amount: int = 0, flags: int = 0) -> FiscalDocument | None:
        """`4A`: pay what is left (or `amount`) with `pay_type`, close, and commit the receipt."""
        receipt = self._open_receipt()
        self._check_pay_type(pay_type)
        if amount < 0:
            raise DeviceError(codes.INVALID_SUM)
        if not receipt.lines:
            raise DeviceError(codes.NOT_ALLOWED_IN_MODE, detail="no items in the receipt")
        if receipt.printed:
            self._require_printer()
        payments = dict(receipt.payments)
        total = receipt.total
        extra = amount if amount else max(total - sum(payments.values()), 0)
        if extra:
            payments[pay_type] = payments.get(pay_type, 0) + extra
        paid = sum(payments.values())
        if paid < total:
            raise DeviceError(codes.PAYMENT_LESS, detail="payments are less than the total")
        self._check_noncash(total, payments)
        change = paid - total
        cash_net = payments.get(CASH, 0) - change
        durable = self.durable.copy()
        if receipt.receipt_type in INCOMING_TYPES:
            durable.cash_in_drawer += cash_net
        else:
            if cash_net > durable.cash_in_drawer:
                raise DeviceError(codes.NOT_ENOUGH_CASH, detail="not enough cash in the drawer")
            durable.cash_in_drawer -= cash_net
        if flags & FLAG_TEST:
            return None
        lines = self._final_lines(receipt)
        vat = self._vat_groups(lines)
        durable.receipt_number += 1
        counters = durable.counters.for_type(receipt.receipt_type)
        counters.count += 1
        counters.total += total
        counters.change += change
        for kind, value in payments.items():
            counters.payments[str(kind)] = counters.payments.get(str(kind), 0) + value
        for group in vat:
            key = str(group["tax"])
            counters.vat[key] = counters.vat.get(key, 0) + group["amount"]
        document = self._new_document(
            durable,
            DocumentKind.RECEIPT,
            receipt_number=durable.receipt_number,
            receipt_type=receipt.receipt_type,
            lines=[vars(line).copy() for line in lines],
            payments=[{"type": kind, "amount": value} for kind, value in sorted(payments.items())],
            discount=receipt.discount,
            total=total,
            change=change,
            vat=vat,
        )
        self._commit(durable, document)
        self.volatile.receipt = None
        self.volatile.submode = SUBMODE_IDLE
        if receipt.printed:
            self._print(defer_fiscal_document(document, self.config, self.tax_table, receipt.text_lines))
        return document

    def _final_lines(self, receipt: OpenReceipt) -> list[ReceiptLine]:
        """Spread a receipt discount over the lines (largest remainder) and recompute their VAT."""
        lines = [line.copy() for line in receipt.lines]
        if receipt.discount and receipt.subtotal:
            shares = [receipt.discount * line.amount // receipt.subtotal for line in lines]
            left = receipt.discount - sum(shares)
            order = sorted(range(len(lines)), key=lambda i: -(receipt.discount * lines[i].amount % receipt.subtotal))
            for i in order[:left]:
                shares[i] += 1
            for line, share in zip(lines, shares):
                line.amount -= share
                line.discount += share
        for line in lines:
            percent = self.tax_table[line.tax].percent
            line.vat = vat_included(line.amount, percent) if percent is not None else 0
        return lines

    def _vat_groups(self, lines: list[ReceiptLine]) -> list[dict[str, Any]]:
        groups: dict[int, dict[str, Any]] = {}
        for line in lines:
            slot = self.tax_table[line.tax]
            group = groups.setdefault(
                line.tax, {"tax": line.tax, "label": slot.label, "rate": line.vat_rate, "base": 0, "amount": 0}
            )
            group["base"] += line.amount
            group["amount"] += line.vat
        return [groups[key] for key in sorted(groups)]

    # -- cash in / out -----------------------------------------------------------------------------

    def cash_in(self, amount: int, flags: int = 0) -> FiscalDocument | None:
        return self._cash_operation(DocumentKind.CASH_IN, amount, flags)

    def cash_out(self, amount: int, flags: int = 0) -> FiscalDocument | None:
        return self._cash_operation(DocumentKind.CASH_OUT, amount, flags)

    def _cash_operation(self, kind: str, amount: int, flags: int) -> FiscalDocument | None:
        self._require_mode(1)
        if self.volatile.receipt is not None:
            raise DeviceError(codes.RECEIPT_OPEN)
        if amount <= 0:
            raise DeviceError(codes.INVALID_SUM)
        self._require_printer()
        if kind == DocumentKind.CASH_OUT and amount > self.durable.cash_in_drawer:
            raise DeviceError(codes.NOT_ENOUGH_CASH, detail="not enough cash in the drawer")
        self._require_shift_usable(test=bool(flags & FLAG_TEST))
        if flags & FLAG_TEST:
            return None
        durable = self.durable.copy()
        if kind == DocumentKind.CASH_IN:
            durable.cash_in_drawer += amount
            durable.counters.cash_in_count += 1
            durable.counters.cash_in_total += amount
        else:
            durable.cash_in_drawer -= amount
            durable.counters.cash_out_count += 1
            durable.counters.cash_out_total += amount
        document = self._new_document(durable, kind, total=amount)
        self._commit(durable, document)
        self._print(defer_fiscal_document(document, self.config, self.tax_table))
        return document

    # -- reports -----------------------------------------------------------------------------------

    def x_report(self, report_type: int = 1) -> None:
        self._require_mode(2)
        self._require_printer()
        self._print(render_x_report(self.durable, self.config, self.now(), self.tax_table))

    def z_report(self) -> FiscalDocument:
        self._require_mode(3)
        if not self.durable.shift_open:
            raise DeviceError(codes.ZEROED_CASH, detail="the shift is already closed")
        self._require_printer()
        durable = self.durable.copy()
        counters = durable.counters
        income = sum(c.total for t, c in counters.by_type.items() if int(t) in INCOMING_TYPES)
        expense = sum(c.total for t, c in counters.by_type.items() if int(t) not in INCOMING_TYPES)
        durable.last_shift_income, durable.last_shift_expense = income, expense
        durable.shift_open = False
        snapshot = counters.to_dict()
        durable.counters = ShiftCounters()
        document = self._new_document(durable, DocumentKind.SHIFT_CLOSE, counters=snapshot, total=income - expense)
        self._commit(durable, document)
        self._print(defer_fiscal_document(document, self.config, self.tax_table))
        return document

    # -- non-fiscal printing and peripherals -------------------------------------------------------

    def print_line(self, text: str) -> None:
        self._require_printer()
        receipt = self.volatile.receipt
        if receipt is not None:
            receipt.text_lines.append(text)
            return
        if self._text_lines is None:
            self._text_lines = []
        self._text_lines.append(text)

    def print_barcode(self, data: str) -> None:
        self._require_printer()
        self.print_line(f"[QR: {data}]")

    def cut(self) -> None:
        if self._text_lines is not None:
            lines, self._text_lines = self._text_lines, None
            self._print(render_text_document(lines, self.config.line_width))

    def open_drawer(self) -> None:
        self.volatile.drawer_open = True

    # -- clock -------------------------------------------------------------------------------------

    def set_date(self, new_date: date) -> None:
        current = self.now()
        self.set_datetime(current.replace(year=new_date.year, month=new_date.month, day=new_date.day))

    def set_datetime(self, when: datetime) -> None:
        if self.durable.shift_open:
            raise DeviceError(codes.SHIFT_OPEN, detail="the clock is set with the shift closed")
        setter = getattr(self.clock, "set", None)
        if setter is None:
            raise DeviceError(codes.NOT_SUPPORTED)
        setter(when)

    # -- fiscal storage queries --------------------------------------------------------------------

    def fn_shift_state(self) -> tuple[int, int, int]:
        """(state: 0 closed / 1 open / 2 expired, shift number, receipt number) for A4 10."""
        state = 0 if not self.durable.shift_open else (2 if self.shift_expired() else 1)
        return state, self.durable.shift_number, self.durable.receipt_number

    def unsent_documents(self) -> list[FiscalDocument]:
        """Documents made offline: the OFD has not received them. Read from the store (tests, tools);
        `A4 20` uses `unsent_summary()`, which costs nothing per document."""
        return list(self.memory.iter_documents(offline_only=True))

    def unsent_summary(self) -> tuple[int, FiscalDocument | None]:
        """(count, first) of the documents the OFD has not received (A4 20)."""
        return self.memory.unsent()

    def open_document(self, number: int, tlvs: list[tuple[int, bytes]]) -> FiscalDocument:
        document = self.memory.get(number)
        if document is None:
            raise DeviceError(codes.NO_MORE_DATA, detail=f"no fiscal document {number}")
        self.reader = DocumentReader(document, tlvs)
        return document

    def next_tlv(self) -> tuple[int, bytes]:
        reader = self.reader
        if reader is None or reader.position >= len(reader.tlvs):
            raise DeviceError(codes.NO_MORE_DATA, detail="no more data")
        item = reader.tlvs[reader.position]
        reader.position += 1
        return item
