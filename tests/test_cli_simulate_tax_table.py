"""`kkm-bridge simulate --tax-table`: the simulator is programmed with the slots a daemon config assumes."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from decimal import Decimal

import pytest

from kkm_bridge.cli import build_parser
from kkm_bridge.cli.simulate import build_simulator, parse_tax_table
from kkm_bridge.config import DEFAULT_TAX_TABLES, DeviceSettings
from kkm_bridge.daemon import tax_table as daemon_tax_table
from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.model.receipt import Item, Operation, Payment, PaymentType, Receipt
from kkm_bridge.model.tax import VatRate
from kkm_bridge.transports import open_transport
from simulators.atol.sim_transport import register_simulator, unregister_simulator


def test_a_country_gives_the_table_the_daemon_assumes_for_it() -> None:
    table = parse_tax_table("kz")
    assert {index: slot.label for index, slot in table.items()} == dict(DEFAULT_TAX_TABLES["KZ"])
    assert table[1].percent == Decimal(16) and table[5].percent is None


def test_explicit_slots() -> None:
    table = parse_tax_table("1=16, 2=none,3=0")
    assert [(i, s.label, s.percent) for i, s in sorted(table.items())] == [
        (1, "16", Decimal(16)), (2, "none", None), (3, "0", Decimal(0))]


@pytest.mark.parametrize("spec", ["1=16,1=10", "0=16", "x=16", "1=abc", "16", "1=16,"])
def test_mistakes_are_value_errors_naming_the_part(spec: str) -> None:
    with pytest.raises(ValueError, match="tax-table"):
        parse_tax_table(spec)


def test_the_cli_reports_a_bad_table_and_exits_2() -> None:
    out = subprocess.run([sys.executable, "-m", "kkm_bridge", "simulate", "--tcp", "0", "--tax-table", "1=abc"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "bad --tax-table rate 'abc'" in out.stderr


async def test_a_kz_sale_at_16_percent_prints_on_a_kz_programmed_simulator() -> None:
    """The same table on both sides, as `simulate --tax-table KZ` with a config that names no table."""
    sim = build_simulator(build_parser().parse_args(["simulate", "--tax-table", "KZ", "--sign-key-seed", "3"]))
    register_simulator("cli-tax-table", sim)
    settings = DeviceSettings(id="k", uri="sim://cli-tax-table", fiscal_id="k", country="KZ")
    driver = AtolDriver(open_transport("sim://cli-tax-table"), tax_table=daemon_tax_table(settings))
    try:
        await driver.connect()
        item = Item("Milk", 50000, 1000, VatRate(Decimal(16)))
        result = await driver.fiscalize(Receipt(Operation.SELL, (item,), (Payment(PaymentType.CASH, 50000),),
                                                datetime(2026, 2, 1, 10, 0)))
        assert result.document.total == 50000 and result.document.vat == {"16": 6897}
        [line] = [d for d in sim.documents if d.kind == "receipt"][0].lines
        assert line["tax"] == 1  # slot 1 = 16 % in the KZ table
    finally:
        await driver.close()
        unregister_simulator("cli-tax-table")
