"""The device's tax-index table: which E6 `tax` byte means which VAT rate.

The real table is programmed into each device; no source in the reference shows the factory default.
This default follows the layout commonly used by ATOL devices for 54-FZ
[unconfirmed — verify on hardware]: 1 = VAT 20 %, 2 = 10 %, 3 = 0 %, 4 = no VAT, 5 = 20/120,
6 = 10/110. Index 0 is "use the tax from the item's section/programming" and carries no rate.
Simulator and driver both use `DEFAULT_TAX_TABLE` unless configured, so they agree with each other;
a deployment against real hardware configures its own table.

`label` is the VAT code string that `kkm_bridge.model` uses ("20", "0", "none", "20/120").
`percent` is the rate to use for the VAT part of an amount (`amount * r / (100 + r)`); a calculated
rate "20/120" has the same arithmetic as an included 20 %, so its percent is 20.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

__all__ = ["DEFAULT_TAX_TABLE", "TaxSlot", "index_for_label"]


@dataclass(frozen=True, slots=True)
class TaxSlot:
    index: int
    label: str
    percent: Decimal | None  # None: no VAT


DEFAULT_TAX_TABLE: Final[dict[int, TaxSlot]] = {
    slot.index: slot
    for slot in (
        TaxSlot(1, "20", Decimal(20)),
        TaxSlot(2, "10", Decimal(10)),
        TaxSlot(3, "0", Decimal(0)),
        TaxSlot(4, "none", None),
        TaxSlot(5, "20/120", Decimal(20)),
        TaxSlot(6, "10/110", Decimal(10)),
    )
}


def index_for_label(label: str, table: dict[int, TaxSlot] = DEFAULT_TAX_TABLE) -> int | None:
    """The tax index for a VAT code string, or None if the table has no such slot."""
    for slot in table.values():
        if slot.label == label:
            return slot.index
    return None
