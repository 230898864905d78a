"""Helpers shared by the simulator tests (imported as a plain module, like journal_testutil)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols.atol import commands as cmd
from simulators.atol.testing import InProcessHost


class FakeMonotonic:
    """A monotonic clock a test moves by hand (stalls, power-off periods)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Item:
    name: str
    price: int
    quantity: int
    tax: int = 1




def open_registration(host: InProcessHost, password: int = 30) -> None:
    host.call_ok(cmd.EnterMode(cmd.Mode.REGISTRATION, password))


def sell(host: InProcessHost, items: list[Item], payments: list[tuple[int, int]],
         close_with: tuple[int, int] = (cmd.PayType.CASH, 0)) -> Any:
    """One sale receipt: open, items, payments (pay type, amount), close. Returns the close reply."""
    host.call_ok(cmd.OpenReceipt(0, cmd.ReceiptType.SELL))
    for item in items:
        host.call_ok(cmd.RegisterItem(2, item.name, item.price, item.quantity, tax=item.tax))
    for pay_type, amount in payments:
        host.call_ok(cmd.Payment(0, pay_type, amount))
    return host.call(cmd.CloseReceipt(0, close_with[0], close_with[1]))


ITEMS = [Item("Хлеб", 15000, 2000, 1), Item("Молоко 3.2%", 45050, 1500, 2), Item("Пакет", 500, 1000, 4)]
#: 300.00 + 675.75 + 5.00
ITEMS_TOTAL = 30000 + 67575 + 500
