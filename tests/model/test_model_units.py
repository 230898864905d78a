"""Measure-unit table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kkm_bridge.model.errors import ConfigError, InputError
from kkm_bridge.model.units import DEFAULT_UNIT, DEFAULT_UNITS, UnitTable, unit_table_from_config


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (796, 796), ("796", 796), ("pcs", 796), ("шт", 796), (Decimal("796"), 796),
        (166, 166), ("kg", 166), ("KG", 166), (163, 163), ("g", 163),
        (112, 112), ("l", 112), ("litre", 112), ("006", 6), ("6", 6), (6, 6), ("m", 6),
        ("055", 55), ("m2", 55), (356, 356), ("h", 356), (5114, 5114), ("service", 5114),
        (113, 113), (839, 839),
    ],
)
def test_resolve(value: object, code: int) -> None:
    assert DEFAULT_UNITS.resolve(value, "/items/0/unit") == code


@pytest.mark.parametrize("value", [999, "999", "xyz", True, None, 1.0, -796, "796.5", Decimal("796.5")])
def test_unknown_rejected(value: object) -> None:
    with pytest.raises(InputError) as info:
        DEFAULT_UNITS.resolve(value, "/items/0/unit")
    assert (info.value.code, info.value.path) == ("unknown_unit", "/items/0/unit")


def test_required_units_have_names() -> None:
    for code, name in [(796, "piece"), (166, "kilogram"), (163, "gram"), (112, "litre"), (6, "metre"),
                       (55, "square metre"), (356, "hour"), (5114, "one service")]:
        unit = DEFAULT_UNITS.get(code)
        assert unit is not None and unit.name_en == name and unit.name_ru
    assert DEFAULT_UNITS.get(6).okei == "006"  # type: ignore[union-attr]
    assert DEFAULT_UNIT == 796


def test_unknown_accepted_when_configured() -> None:
    table = unit_table_from_config({"allow_unknown": True})
    assert table.resolve(999, "/u") == 999
    assert table.resolve("4242", "/u") == 4242
    with pytest.raises(InputError):
        table.resolve("nonsense", "/u")


def test_extra_units() -> None:
    table = unit_table_from_config({"extra": [{"code": 9001, "name": "sack", "short": "sack", "aliases": ["bag"]}]})
    assert table.resolve("bag", "/u") == 9001
    assert table.resolve(9001, "/u") == 9001
    assert table.resolve(796, "/u") == 796
    with pytest.raises(InputError):
        table.resolve(9002, "/u")


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"allow_unknown": "yes"}, "/allow_unknown"),
        ({"extra": [{"code": 0, "name": "x"}]}, "/extra/0/code"),
        ({"extra": [{"code": 9001}]}, "/extra/0/name"),
        ({"extras": []}, "/extras"),
    ],
)
def test_units_config_errors(config: dict, path: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        unit_table_from_config(config)
    assert info.value.path == path


def test_duplicate_codes_rejected() -> None:
    unit = DEFAULT_UNITS.get(796)
    assert unit is not None
    with pytest.raises(ConfigError):
        UnitTable((unit, unit))
