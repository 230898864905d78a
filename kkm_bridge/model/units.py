"""Measure-unit codes as data (OKEI-style numbers as used on Kazakh receipts).

The table is Webkassa's RefUnits list (reference section 6). Codes are stored as integers: the same unit
is spelt ``"006"`` in OKEI and ``6`` in Webkassa, and the OFD protocol carries it as the string ``"6"``
or ``"796"``; ``Unit.okei`` gives the zero-padded form. Clients may also use a short alias (``"pcs"``,
``"kg"``, ``"l"``). An unknown code is rejected (``unknown_unit``) unless the operator configured it or
allowed unknown codes, because the vendor list changes and should be fetched at runtime, but a typo must
not silently print a wrong unit.

Note (reference 6, unconfirmed): Webkassa's 5 (dm^2) and 53 (dm) look swapped compared with OKEI; the
table follows Webkassa, since that is what KZ receipts use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from .errors import ConfigError, InputError, join_path

__all__ = ["Unit", "UnitTable", "DEFAULT_UNIT", "DEFAULT_UNITS", "UNITS", "unit_table_from_config"]

DEFAULT_UNIT = 796  # piece: the default everywhere


@dataclass(frozen=True, slots=True)
class Unit:
    """One measure unit: numeric code, names, and short aliases a client may send instead of the code."""

    code: int
    name_ru: str
    name_en: str
    short: str
    aliases: tuple[str, ...] = ()
    name_kz: str = ""

    @property
    def okei(self) -> str:
        """The code zero-padded to 3 digits, as OKEI writes it (``6 -> "006"``)."""
        return f"{self.code:03d}"


def _u(code: int, ru: str, en: str, short: str, *aliases: str, kz: str = "") -> Unit:
    return Unit(code, ru, en, short, aliases, kz)


UNITS: tuple[Unit, ...] = (
    _u(796, "штука", "piece", "pcs", "pc", "piece", "pieces", "шт", kz="дана"),
    _u(166, "килограмм", "kilogram", "kg", "кг"),
    _u(163, "грамм", "gram", "g", "г"),
    _u(168, "тонна", "tonne", "t", "т"),
    _u(206, "центнер", "centner", "q", "ц"),
    _u(112, "литр", "litre", "l", "liter", "litre", "л"),
    _u(111, "миллилитр", "millilitre", "ml", "мл"),
    _u(110, "кубический миллиметр", "cubic millimetre", "mm3"),
    _u(122, "гектолитр", "hectolitre", "hl"),
    _u(113, "кубический метр", "cubic metre", "m3"),
    _u(123, "кубический метр условный", "conventional cubic metre", "m3c"),
    _u(6, "метр", "metre", "m", "meter", "metre", "м"),
    _u(4, "сантиметр", "centimetre", "cm", "см"),
    _u(2, "микрометр", "micrometre", "um"),
    _u(8, "километр", "kilometre", "km", "км"),
    _u(18, "метр погонный", "running metre", "rm"),
    _u(53, "дециметр", "decimetre", "dm"),
    _u(5, "дециметр квадратный", "square decimetre", "dm2"),
    _u(51, "сантиметр квадратный", "square centimetre", "cm2"),
    _u(55, "метр квадратный", "square metre", "m2", "sqm"),
    _u(59, "гектар", "hectare", "ha"),
    _u(778, "упаковка", "package", "pack", "pkg", kz="орама"),
    _u(812, "ящик", "case", "case"),
    _u(8751, "коробка", "box", "box", kz="қорап"),
    _u(868, "бутылка", "bottle", "bottle"),
    _u(872, "флакон", "vial", "vial"),
    _u(870, "ампула", "ampoule", "ampoule"),
    _u(881, "банка условная", "conventional can", "can"),
    _u(736, "рулон", "roll", "roll"),
    _u(625, "лист", "sheet", "sheet"),
    _u(839, "комплект", "kit", "kit"),
    _u(704, "набор", "set", "set"),
    _u(715, "пара", "pair", "pair"),
    _u(797, "сто штук", "hundred pieces", "100pcs"),
    _u(643, "тысяча единиц", "thousand units", "1000u"),
    _u(876, "единица условная", "conventional unit", "unit"),
    _u(879, "штука условная", "conventional piece", "cpcs"),
    _u(5111, "одна пачка", "one pack", "pack1"),
    _u(5114, "одна услуга", "one service", "service", "svc", "услуга"),
    _u(5110, "одно исследование", "one examination", "exam"),
    _u(5113, "одна процедура", "one procedure", "procedure"),
    _u(356, "час", "hour", "h", "hour", "hours", "ч"),
    _u(359, "сутки", "day", "day", "days"),
    _u(362, "месяц", "month", "month", "months"),
    _u(792, "человек", "person", "person"),
    _u(245, "киловатт-час", "kilowatt hour", "kwh"),
    _u(841, "килограмм пероксида водорода", "kilogram of hydrogen peroxide", "kgh2o2"),
    _u(469, "тенге казахский", "Kazakh tenge", "kzt"),
    _u(383, "рубль российский", "Russian rouble", "rub"),
)


@dataclass(frozen=True)
class UnitTable:
    """The units a receipt may use, with alias lookup; ``allow_unknown`` accepts any numeric code."""

    units: tuple[Unit, ...] = UNITS
    allow_unknown: bool = False
    _by_code: Mapping[int, Unit] = field(init=False, repr=False, compare=False)
    _by_alias: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[int, Unit] = {}
        by_alias: dict[str, int] = {}
        for unit in self.units:
            if unit.code in by_code:
                raise ConfigError("duplicate_unit", "/units", f"unit code {unit.code} listed twice")
            by_code[unit.code] = unit
            for alias in (unit.short, *unit.aliases):
                key = alias.strip().lower()
                if key and not key.isdigit():
                    # The first unit to claim an alias keeps it; later duplicates are ignored.
                    by_alias.setdefault(key, unit.code)
        object.__setattr__(self, "_by_code", MappingProxyType(by_code))
        object.__setattr__(self, "_by_alias", MappingProxyType(by_alias))

    def get(self, code: int) -> Unit | None:
        return self._by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def is_allowed(self, code: int) -> bool:
        return code in self._by_code or (self.allow_unknown and 0 < code <= 99_999)

    def resolve(self, value: object, path: str) -> int:
        """A unit code from an int, a numeric string (``"796"``, ``"006"``) or an alias (``"pcs"``).

        ``unknown_unit`` when the code is not in the table (and unknown codes are not allowed) or the
        alias is not known.
        """
        if type(value) is str:
            # The usual spelling is an alias exactly as the table keeps it ("pcs"): one look-up. Aliases
            # are stripped, lower-case and never all digits, so the general path below gives the same.
            found = self._by_alias.get(value)
            if found is not None:
                return found
        code: int | None = None
        if isinstance(value, bool):
            code = None
        elif isinstance(value, int):
            code = value
        elif isinstance(value, str):
            text = value.strip()
            if text.isascii() and text.isdigit() and len(text) <= 5:
                code = int(text)
            elif text.lower() in self._by_alias:
                return self._by_alias[text.lower()]
        elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            # JSON numbers parsed with parse_float=Decimal: "796.0" still names piece.
            code = int(value) if abs(value) < 10**6 else None
        if code is not None and self.is_allowed(code):
            return code
        raise InputError("unknown_unit", path, f"Unknown measure unit {value!r}")

    def with_units(self, extra: Iterable[Unit]) -> "UnitTable":
        """A copy with more (or replaced) units."""
        merged = {u.code: u for u in self.units}
        for unit in extra:
            merged[unit.code] = unit
        return UnitTable(tuple(merged.values()), self.allow_unknown)


DEFAULT_UNITS = UnitTable()


def unit_table_from_config(config: Mapping[str, Any], path: str = "") -> UnitTable:
    """Build a unit table from configuration::

        {"allow_unknown": false,
         "extra": [{"code": 9999, "name": "bag", "short": "bag", "aliases": ["sack"]}]}

    ``extra`` units are added to (or replace) the built-in table.
    """
    if not isinstance(config, Mapping):
        raise ConfigError("bad_units", path or "/", "units configuration must be a table/object")
    for key in config:
        if key not in ("allow_unknown", "extra"):
            raise ConfigError("unknown_field", join_path(path, str(key)), f"unknown units field {key!r}")
    allow = config.get("allow_unknown", False)
    if not isinstance(allow, bool):
        raise ConfigError("bad_units", join_path(path, "allow_unknown"), "allow_unknown must be true or false")
    extra_raw = config.get("extra", [])
    if not isinstance(extra_raw, (list, tuple)):
        raise ConfigError("bad_units", join_path(path, "extra"), "extra must be a list")
    extra: list[Unit] = []
    for index, raw in enumerate(extra_raw):
        upath = join_path(path, "extra", index)
        if not isinstance(raw, Mapping):
            raise ConfigError("bad_units", upath, "a unit must be a table/object")
        code = raw.get("code")
        if isinstance(code, str) and code.isascii() and code.isdigit():
            code = int(code)
        if isinstance(code, bool) or not isinstance(code, int) or not 0 < code <= 99_999:
            raise ConfigError("bad_units", join_path(upath, "code"), "code must be an integer 1..99999")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("bad_units", join_path(upath, "name"), "name must be a non-empty string")
        short = raw.get("short", "")
        aliases = raw.get("aliases", [])
        if not isinstance(short, str) or not isinstance(aliases, (list, tuple)) or not all(
            isinstance(a, str) for a in aliases
        ):
            raise ConfigError("bad_units", upath, "short and aliases must be strings")
        extra.append(Unit(code, str(raw.get("name_ru", name)), name, short, tuple(aliases)))
    return UnitTable(DEFAULT_UNITS.with_units(extra).units, allow)
