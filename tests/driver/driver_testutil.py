"""Receipts and checks shared by the driver tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kkm_bridge.driver.api import DocumentKind, FiscalDocument
from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.driver.shift_policy import ShiftPolicy
from kkm_bridge.driver.timeouts import Timeouts
from kkm_bridge.model.receipt import Item, Operation, Payment, PaymentType, Receipt
from kkm_bridge.model.tax import NO_VAT, VatRate
from kkm_bridge.transports import open_transport
from protocols.atol.tax_table import TaxSlot
from simulators.atol import ManualClock, Simulator
from simulators.atol.servers import RunningServers

#: A Kazakhstan-style tax table (the simulator and the driver are both given it).
KZ_TAX_TABLE = {
    1: TaxSlot(1, "16", Decimal(16)),
    2: TaxSlot(2, "12", Decimal(12)),
    3: TaxSlot(3, "0", Decimal(0)),
    4: TaxSlot(4, "none", None),
}
#: Short link timings: a lost frame costs 0.1 s of silence, not the production 0.3 s.
FAST = Timeouts(sync_reply=0.1, result_poll=0.1, retries=8)


@dataclass
class Rig:
    sim: Simulator
    clock: ManualClock
    servers: RunningServers
    uri: str

    def driver(self, **options: object) -> AtolDriver:
        options.setdefault("tax_table", KZ_TAX_TABLE)
        options.setdefault("timeouts", FAST)
        options.setdefault("shift_policy", ShiftPolicy())
        return AtolDriver(open_transport(self.uri), **options)  # type: ignore[arg-type]


VAT16 = VatRate(Decimal(16))
VAT12 = VatRate(Decimal(12))
WHEN = datetime(2026, 1, 15, 9, 0)

SIM_KIND = {
    DocumentKind.SHIFT_OPEN: "shift_open",
    DocumentKind.SHIFT_CLOSE: "shift_close",
    DocumentKind.CASH_IN: "cash_in",
    DocumentKind.CASH_OUT: "cash_out",
}
RECEIPT_TYPE = {DocumentKind.SELL: 1, DocumentKind.SELL_RETURN: 2, DocumentKind.BUY: 4, DocumentKind.BUY_RETURN: 5}


def items() -> tuple[Item, ...]:
    return (
        Item("Хлеб белый", 15000, 2000, VAT16),
        Item("Молоко 3.2%", 45050, 1500, VAT12, discount=575),
        Item("Пакет", 500, 1000, NO_VAT, markup=100),
        Item("Яблоки, кг", 89990, 1234, VAT16, section=2),
    )


def receipt(operation: Operation = Operation.SELL, *, payments: tuple[Payment, ...] | None = None,
            lines: tuple[Item, ...] | None = None, electronic_only: bool = False) -> Receipt:
    body = lines if lines is not None else items()
    total = sum(item.amount for item in body)
    if payments is None:
        card = total // 3
        payments = (Payment(PaymentType.CARD, card), Payment(PaymentType.CASH, total - card + 5000))
    return Receipt(operation, body, payments, WHEN, electronic_only=electronic_only)


def assert_matches(sim: Simulator, document: FiscalDocument, *, total: int | None = None) -> None:
    """The driver's document is the simulator's stored one: number, fiscal sign, total, kind."""
    stored = next(d for d in sim.documents if d.number == document.number)
    assert document.fiscal_sign == stored.fiscal_sign
    assert document.total == stored.total or document.kind is DocumentKind.SHIFT_CLOSE
    assert document.shift_number == stored.shift_number
    if document.kind in RECEIPT_TYPE:
        assert stored.kind == "receipt" and stored.receipt_type == RECEIPT_TYPE[document.kind]
        assert document.receipt_number == stored.receipt_number
    else:
        assert stored.kind == SIM_KIND[document.kind]
    if total is not None:
        assert document.total == total == stored.total
