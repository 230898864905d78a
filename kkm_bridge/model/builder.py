"""Turn a plain dict (already-parsed JSON, numbers as ``Decimal``) into a ``Receipt``, collecting problems.

This is the one place where untrusted client data becomes model values. Every field error is collected
with its path instead of stopping at the first, so together with ``validation.validate`` a client gets
the full list in one answer.

The canonical body (all money in major units, as JSON numbers or strings)::

    {"operation": "sell",                       # sell | sell_return | buy | buy_return
     "date_time": "2026-01-05T10:30:00",        # ISO 8601 (or "05.01.2026 10:30:00"); default: now
     "currency": "KZT",
     "items": [{"name": "Milk", "price": "500.00", "quantity": "1", "vat_rate": "16",
                "unit": 796, "discount": "0", "markup": "0", "section": 1, "kind": "goods",
                "product_code": null, "barcode": null, "vat_sum": "68.97"}],
     "payments": [{"type": "cash", "amount": "1000"}],
     "client": {"tax_id": "900101300126", "name": null, "phone": "+77011234567", "email": null},
     "cashier": {"name": "Aigerim", "iin": null},
     "electronic_only": false,
     "original": {"fiscal_sign": "1234567890", "date_time": "...", "registration_number": "...",
                  "total": "500.00"},
     "total": "500.00",
     "vat_sums": [{"rate": "16", "sum": "68.97"}]}

HTTP dialects reuse this in one of two ways: map their body onto this shape and call
``build_receipt`` (then ``validation.remap_problems`` to report paths in their own field names), or
call the per-part parsers (``parse_item``, ``parse_payment``...) directly with their own paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from .currency import CURRENCIES, Currency
from .errors import InputError, Problem, ValidationError, join_path
from .money import DEFAULT_MAX_AMOUNT, DEFAULT_MAX_QUANTITY, parse_amount, parse_quantity, parse_scaled
from .receipt import (
    Cashier,
    Client,
    Item,
    ItemKind,
    Operation,
    OriginalReceiptRef,
    Payment,
    PaymentType,
    Receipt,
    VatSum,
)
from .tax import NO_VAT, TaxProfile, VatRate
from .units import DEFAULT_UNIT, DEFAULT_UNITS, UnitTable
from .validation import (
    ValidationOptions,
    check_cashier,
    check_client,
    check_item,
    check_payment,
    validate,
)

__all__ = [
    "BuildOptions",
    "BuildResult",
    "build_receipt",
    "load_receipt",
    "receipt_problems",
    "parse_item",
    "parse_payment",
    "parse_client",
    "parse_cashier",
    "parse_original",
    "parse_vat_sums",
    "parse_datetime",
    "parse_enum",
    "ITEM_FIELDS",
    "RECEIPT_FIELDS",
]

E = TypeVar("E", bound=StrEnum)

RECEIPT_FIELDS = frozenset(
    {"operation", "date_time", "currency", "items", "payments", "client", "cashier", "electronic_only",
     "original", "total", "vat_sums"}
)
ITEM_FIELDS = frozenset(
    {"name", "price", "quantity", "vat_rate", "unit", "discount", "markup", "section", "kind", "product_code",
     "barcode", "vat_sum"}
)
PAYMENT_FIELDS = frozenset({"type", "amount"})
CLIENT_FIELDS = frozenset({"tax_id", "name", "phone", "email"})
CASHIER_FIELDS = frozenset({"name", "iin"})
ORIGINAL_FIELDS = frozenset({"fiscal_sign", "date_time", "registration_number", "total"})
VAT_SUM_FIELDS = frozenset({"rate", "sum"})


@dataclass(frozen=True)
class BuildOptions:
    """How to read a body. ``now`` fills a missing ``date_time`` (the model never reads the clock)."""

    units: UnitTable = DEFAULT_UNITS
    currencies: Mapping[str, Currency] = field(default_factory=lambda: CURRENCIES)
    default_currency: str = "KZT"
    now: datetime | None = None
    #: Unknown keys are problems (``unknown_field``): a typo like "qty" must not be silently ignored.
    strict: bool = True
    max_amount: int = DEFAULT_MAX_AMOUNT
    max_quantity: int = DEFAULT_MAX_QUANTITY


@dataclass(frozen=True)
class BuildResult:
    """The receipt, if every field parsed, and the problems found while parsing.

    ``items`` / ``payments`` hold the parts that did parse, by their index in the body, so that
    line-level checks can still run (and be reported) when some other field is broken.
    """

    receipt: Receipt | None
    problems: tuple[Problem, ...]
    items: Mapping[int, Item] = field(default_factory=dict)
    #: The fields that did parse, for lines with at least one broken field.
    broken_items: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    payments: Mapping[int, Payment] = field(default_factory=dict)
    client: Client | None = None
    cashier: Cashier | None = None
    date_time: datetime | None = None
    minor_digits: int = 2


class _Problems(list[Problem]):
    """The problems found so far; ``take`` records a parser's ``InputError`` instead of letting it raise."""

    def take(self, error: InputError) -> None:
        self.append(error.problem)


_MISSING: Any = object()


def _object(
    value: object, path: str, problems: _Problems, known: frozenset[str], strict: bool
) -> Mapping[str, Any] | None:
    # ``type(...) is dict`` first: a parsed JSON object always is one, and the ABC check costs more.
    if type(value) is not dict and not isinstance(value, Mapping):
        problems.append(Problem("wrong_type", path or "/", "expected an object"))
        return None
    if strict and not known.issuperset(value):  # look for the unknown keys only when there are some
        for key in value:
            if key not in known:
                problems.append(Problem("unknown_field", join_path(path, str(key)), f"unknown field {key!r}"))
    return value


def _required(obj: Mapping[str, Any], key: str, path: str, problems: _Problems) -> Any:
    if key not in obj or obj[key] is None:
        problems.append(Problem("missing_field", join_path(path, key), f"{key} is required"))
        return _MISSING
    return obj[key]


def _opt_str(
    obj: Mapping[str, Any], key: str, path: str, problems: _Problems, *, digits_ok: bool = False
) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if digits_ok and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str):
        problems.append(Problem("wrong_type", join_path(path, key), f"{key} must be a string"))
        return None
    return value.strip()


#: Each ``StrEnum``'s members by value, for ``parse_enum``.
_ENUM_VALUES: dict[type[StrEnum], dict[str, Any]] = {}


def parse_enum(value: object, path: str, enum: type[E], code: str, what: str) -> E:
    """A ``StrEnum`` member from its value (case-insensitive); ``code`` with the allowed list otherwise."""
    if isinstance(value, str):
        text = value.strip().lower()
        members = _ENUM_VALUES.get(enum)
        if members is None:
            members = _ENUM_VALUES[enum] = {member.value: member for member in enum}
        found = members.get(text)  # a dict look-up instead of EnumType.__call__ (runs per item, per payment)
        if found is not None:
            return found
        try:
            return enum(text)  # whatever else the enum itself accepts (a _missing_ hook)
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in enum)
    raise InputError(code, path, f"unknown {what} {value!r}; allowed: {allowed}")


def parse_datetime(value: object, path: str) -> datetime:
    """ISO 8601 (``2026-01-05T10:30:00``, optional offset/``Z``) or ``dd.mm.yyyy HH:MM:SS`` (ATOL/Webkassa)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        try:
            return datetime.strptime(text, "%d.%m.%Y %H:%M:%S")
        except ValueError:
            pass
    raise InputError("bad_date_time", path, f"expected a date-time such as 2026-01-05T10:30:00, got {value!r}")


def _parse_int(value: object, path: str, code: str, lo: int, hi: int, what: str) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value() and abs(value) < 10**9:
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 10:
        number = int(value.strip())
    if number is None or not lo <= number <= hi:
        raise InputError(code, path, f"{what} must be an integer {lo}..{hi}")
    return number


#: Rate codes already parsed -> their ``VatRate``: a receipt repeats a handful of codes, and parsing one
#: builds and canonicalises a ``Decimal``. Only plain str/int codes that parsed; bounded, as clients send them.
_RATES: dict[tuple[type, object], VatRate] = {}
_RATES_MAX = 64


def _parse_rate(value: object, path: str) -> VatRate:
    """``VatRate.parse`` of an item's ``vat_rate`` (``path`` is the item's), remembered for common codes."""
    kind = type(value)
    if kind is not str and kind is not int:
        return VatRate.parse(value, f"{path}/vat_rate")
    key = (kind, value)
    rate = _RATES.get(key)
    if rate is None:
        rate = VatRate.parse(value, f"{path}/vat_rate")
        if len(_RATES) < _RATES_MAX and (kind is int or len(value) <= 16):  # type: ignore[arg-type]
            _RATES[key] = rate
    return rate


def _item_parts(
    data: object, path: str, minor_digits: int, options: BuildOptions
) -> tuple[dict[str, Any], list[Problem]]:
    """Parse each item field on its own: the values that parsed, and the problems of those that did not."""
    collected = _Problems()
    obj = _object(data, path, collected, ITEM_FIELDS, options.strict)
    parts: dict[str, Any] = {}
    if obj is None:
        return parts, list(collected)

    name = _required(obj, "name", path, collected)
    if name is not _MISSING:
        if isinstance(name, str):
            parts["name"] = name
        else:
            collected.append(Problem("wrong_type", join_path(path, "name"), "name must be a string"))

    for key, required in (("price", True), ("discount", False), ("markup", False), ("vat_sum", False)):
        raw = _required(obj, key, path, collected) if required else obj.get(key)
        if raw is _MISSING:
            continue
        if raw is None:
            parts[key] = None
            continue
        try:  # parse_amount's body, called directly (4 amounts per line)
            parts[key] = parse_scaled(raw, f"{path}/{key}", minor_digits, max_scaled=options.max_amount, what="amount")
        except InputError as exc:
            collected.take(exc)

    raw_quantity = _required(obj, "quantity", path, collected)
    if raw_quantity is not _MISSING:
        try:
            parts["quantity"] = parse_quantity(
                raw_quantity, f"{path}/quantity", max_milli=options.max_quantity
            )
        except InputError as exc:
            collected.take(exc)

    if "vat_rate" not in obj:
        # Absent is not "no VAT": a silent default here would print a wrong fiscal receipt. Send
        # "none" (or null) explicitly for goods without VAT.
        collected.append(
            Problem("missing_field", join_path(path, "vat_rate"), 'vat_rate is required (use "none" for no VAT)')
        )
    else:
        try:
            parts["vat_rate"] = _parse_rate(obj["vat_rate"], path)
        except InputError as exc:
            collected.take(exc)

    if obj.get("unit") is None:
        parts["unit"] = DEFAULT_UNIT
    else:
        try:
            parts["unit"] = options.units.resolve(obj["unit"], f"{path}/unit")
        except InputError as exc:
            collected.take(exc)

    if obj.get("section") is None:
        parts["section"] = None
    else:
        try:
            parts["section"] = _parse_int(
                obj["section"], join_path(path, "section"), "bad_section", 0, 9999, "section"
            )
        except InputError as exc:
            collected.take(exc)

    if obj.get("kind") is None:
        parts["kind"] = ItemKind.GOODS
    else:
        try:
            parts["kind"] = parse_enum(obj["kind"], join_path(path, "kind"), ItemKind, "bad_item_kind", "item kind")
        except InputError as exc:
            collected.take(exc)

    for key in ("product_code", "barcode"):
        if key not in obj:  # the usual case: nothing to check
            parts[key] = None
            continue
        before = len(collected)
        value = _opt_str(obj, key, path, collected, digits_ok=True)
        if len(collected) == before:
            parts[key] = value
    return parts, list(collected)


_ITEM_REQUIRED = ("name", "price", "quantity", "vat_rate")
_ITEM_REQUIRED_KEYS = frozenset(_ITEM_REQUIRED)


def _item_from_parts(parts: Mapping[str, Any]) -> Item:
    get = parts.get
    # Positional, in Item's field order (name, price, quantity, vat_rate, unit, discount, markup, section,
    # kind, product_code, barcode, vat_sum): one line per item per request.
    return Item(
        parts["name"], parts["price"], parts["quantity"], parts["vat_rate"], get("unit", DEFAULT_UNIT),
        get("discount") or 0, get("markup") or 0, get("section"), get("kind", ItemKind.GOODS),
        get("product_code"), get("barcode"), get("vat_sum"),
    )


def parse_item(
    data: object,
    path: str,
    problems: list[Problem],
    *,
    minor_digits: int = 2,
    options: BuildOptions = BuildOptions(),
) -> Item | None:
    """One item from its object; appends problems and returns ``None`` if any field is unusable."""
    parts, found = _item_parts(data, path, minor_digits, options)
    problems.extend(found)
    if found or not _ITEM_REQUIRED_KEYS <= parts.keys():
        return None
    return _item_from_parts(parts)


# Checks that combine several fields of a line; meaningless when one of its fields did not parse.
_CROSS_FIELD_CODES = frozenset({"discount_exceeds_amount", "vat_sum_mismatch"})


def _check_partial_item(
    parts: Mapping[str, Any],
    path: str,
    profile: TaxProfile,
    when: datetime | None,
    options: ValidationOptions,
    minor_digits: int,
) -> list[Problem]:
    """Run the line checks on the fields of a broken line that did parse.

    Missing fields get harmless stand-ins; problems about stand-ins and cross-field problems are
    dropped, so what remains is exactly what is wrong with the parsed fields.
    """
    stand_ins: dict[str, Any] = {"name": "-", "price": 0, "quantity": 1000, "vat_rate": NO_VAT}
    probe = _item_from_parts({**stand_ins, **parts})
    parsed = {join_path(path, key) for key in parts}
    rate_day = when if "vat_rate" in parts else None
    found = check_item(probe, path, profile, rate_day, options, minor_digits=minor_digits)
    return [p for p in found if p.path in parsed and p.code not in _CROSS_FIELD_CODES]


def parse_payment(
    data: object,
    path: str,
    problems: list[Problem],
    *,
    minor_digits: int = 2,
    options: BuildOptions = BuildOptions(),
) -> Payment | None:
    collected = _Problems()
    obj = _object(data, path, collected, PAYMENT_FIELDS, options.strict)
    if obj is None:
        problems.extend(collected)
        return None
    ptype: PaymentType | None = None
    raw_type = _required(obj, "type", path, collected)
    if raw_type is not _MISSING:
        try:
            ptype = parse_enum(raw_type, join_path(path, "type"), PaymentType, "bad_payment_type", "payment type")
        except InputError as exc:
            collected.take(exc)
    amount: int | None = None
    raw_amount = _required(obj, "amount", path, collected)
    if raw_amount is not _MISSING:
        try:
            amount = parse_amount(raw_amount, join_path(path, "amount"), minor_digits, max_minor=options.max_amount)
        except InputError as exc:
            collected.take(exc)
    problems.extend(collected)
    if collected or ptype is None or amount is None:
        return None
    return Payment(ptype, amount)


def parse_client(
    data: object, path: str, problems: list[Problem], *, options: BuildOptions = BuildOptions()
) -> Client | None:
    collected = _Problems()
    obj = _object(data, path, collected, CLIENT_FIELDS, options.strict)
    if obj is None:
        problems.extend(collected)
        return None
    client = Client(
        tax_id=_opt_str(obj, "tax_id", path, collected),
        name=_opt_str(obj, "name", path, collected),
        phone=_opt_str(obj, "phone", path, collected),
        email=_opt_str(obj, "email", path, collected),
    )
    problems.extend(collected)
    return None if collected else client


def parse_cashier(
    data: object, path: str, problems: list[Problem], *, options: BuildOptions = BuildOptions()
) -> Cashier | None:
    collected = _Problems()
    obj = _object(data, path, collected, CASHIER_FIELDS, options.strict)
    if obj is None:
        problems.extend(collected)
        return None
    name = _required(obj, "name", path, collected)
    if name is not _MISSING and not isinstance(name, str):
        collected.append(Problem("wrong_type", join_path(path, "name"), "name must be a string"))
    iin = _opt_str(obj, "iin", path, collected)
    problems.extend(collected)
    if collected:
        return None
    return Cashier(name=name, iin=iin)


def parse_original(
    data: object,
    path: str,
    problems: list[Problem],
    *,
    minor_digits: int = 2,
    options: BuildOptions = BuildOptions(),
) -> OriginalReceiptRef | None:
    collected = _Problems()
    obj = _object(data, path, collected, ORIGINAL_FIELDS, options.strict)
    if obj is None:
        problems.extend(collected)
        return None
    fiscal_sign: str | None = None
    raw_sign = _required(obj, "fiscal_sign", path, collected)
    if raw_sign is not _MISSING:
        fiscal_sign = _opt_str(obj, "fiscal_sign", path, collected, digits_ok=True)
    date_time: datetime | None = None
    if obj.get("date_time") is not None:
        try:
            date_time = parse_datetime(obj["date_time"], join_path(path, "date_time"))
        except InputError as exc:
            collected.take(exc)
    registration_number = _opt_str(obj, "registration_number", path, collected, digits_ok=True)
    total: int | None = None
    if obj.get("total") is not None:
        try:
            total = parse_amount(obj["total"], join_path(path, "total"), minor_digits, max_minor=options.max_amount)
        except InputError as exc:
            collected.take(exc)
    problems.extend(collected)
    if collected or fiscal_sign is None:
        return None
    return OriginalReceiptRef(fiscal_sign, date_time, registration_number, total)


def parse_vat_sums(
    data: object,
    path: str,
    problems: list[Problem],
    *,
    minor_digits: int = 2,
    options: BuildOptions = BuildOptions(),
) -> tuple[VatSum, ...] | None:
    """Client VAT sums: ``[{"rate": "12", "sum": "53.57"}]``.

    Only the list form: validation reports ``/vat_sums/<index>/sum``, which must point at the body.
    """
    collected = _Problems()
    entries: list[tuple[object, object, str, str]] = []  # (rate, sum, rate path, sum path)
    if isinstance(data, (list, tuple)):
        for index, raw in enumerate(data):
            epath = join_path(path, index)
            obj = _object(raw, epath, collected, VAT_SUM_FIELDS, options.strict)
            if obj is None:
                continue
            rate = obj["rate"] if "rate" in obj else _required(obj, "rate", epath, collected)
            value = _required(obj, "sum", epath, collected)
            if rate is _MISSING or value is _MISSING:
                continue
            entries.append((rate, value, join_path(epath, "rate"), join_path(epath, "sum")))
    else:
        collected.append(Problem("wrong_type", path, "vat_sums must be a list of {rate, sum}"))
    result: list[VatSum] = []
    for rate_raw, sum_raw, rpath, spath in entries:
        try:
            rate = VatRate.parse(rate_raw, rpath)
            result.append(VatSum(rate, parse_amount(sum_raw, spath, minor_digits, max_minor=options.max_amount)))
        except InputError as exc:
            collected.take(exc)
    problems.extend(collected)
    return None if collected else tuple(result)


def _parse_list(data: Mapping[str, Any], key: str, problems: _Problems) -> list[Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        problems.append(Problem("wrong_type", f"/{key}", f"{key} must be a list"))
        return None
    return list(value)


def build_receipt(data: object, options: BuildOptions = BuildOptions()) -> BuildResult:
    """Parse a canonical body into a ``Receipt``; ``receipt`` is ``None`` if any field is unusable.

    Only *parsing* problems are reported here (types, amounts, codes); rules that need the whole
    receipt and a tax profile are ``validation.validate``'s. ``load_receipt`` runs both.
    """
    problems = _Problems()
    obj = _object(data, "", problems, RECEIPT_FIELDS, options.strict)
    if obj is None:
        return BuildResult(None, tuple(problems))

    operation: Operation | None = None
    raw_operation = _required(obj, "operation", "", problems)
    if raw_operation is not _MISSING:
        try:
            operation = parse_enum(raw_operation, "/operation", Operation, "bad_operation", "operation")
        except InputError as exc:
            problems.take(exc)

    date_time: datetime | None = None
    if obj.get("date_time") is None:
        if options.now is None:
            problems.append(Problem("missing_field", "/date_time", "date_time is required"))
        date_time = options.now
    else:
        try:
            date_time = parse_datetime(obj["date_time"], "/date_time")
        except InputError as exc:
            problems.take(exc)

    currency_code = options.default_currency
    minor_digits = 2
    if obj.get("currency") is not None:
        raw_currency = obj["currency"]
        currency_code = raw_currency.strip().upper() if isinstance(raw_currency, str) else str(raw_currency)
    currency = options.currencies.get(currency_code)
    if currency is None:
        known = ", ".join(sorted(options.currencies))
        problems.append(Problem("unknown_currency", "/currency", f"Unknown currency {currency_code!r}; known: {known}"))
    else:
        minor_digits = currency.minor_digits

    items: dict[int, Item] = {}
    broken_items: dict[int, Mapping[str, Any]] = {}
    raw_items = _parse_list(obj, "items", problems)
    if raw_items is not None:
        for index, raw in enumerate(raw_items):
            parts, found = _item_parts(raw, f"/items/{index}", minor_digits, options)
            problems.extend(found)
            if found or not _ITEM_REQUIRED_KEYS <= parts.keys():
                broken_items[index] = parts
            else:
                items[index] = _item_from_parts(parts)

    payments: dict[int, Payment] = {}
    raw_payments = _parse_list(obj, "payments", problems)
    if raw_payments is not None:
        for index, raw in enumerate(raw_payments):
            payment = parse_payment(
                raw, f"/payments/{index}", problems, minor_digits=minor_digits, options=options
            )
            if payment is not None:
                payments[index] = payment

    client = parse_client(obj["client"], "/client", problems, options=options) if obj.get("client") is not None else None
    cashier = (
        parse_cashier(obj["cashier"], "/cashier", problems, options=options) if obj.get("cashier") is not None else None
    )
    original = (
        parse_original(obj["original"], "/original", problems, minor_digits=minor_digits, options=options)
        if obj.get("original") is not None
        else None
    )

    electronic_only = obj.get("electronic_only", False)
    if electronic_only is None:
        electronic_only = False
    if not isinstance(electronic_only, bool):
        problems.append(Problem("wrong_type", "/electronic_only", "electronic_only must be true or false"))
        electronic_only = False

    declared_total: int | None = None
    if obj.get("total") is not None:
        try:
            declared_total = parse_amount(obj["total"], "/total", minor_digits, max_minor=options.max_amount)
        except InputError as exc:
            problems.take(exc)
    declared_vat = (
        parse_vat_sums(obj["vat_sums"], "/vat_sums", problems, minor_digits=minor_digits, options=options)
        if obj.get("vat_sums") is not None
        else None
    )

    receipt: Receipt | None = None
    if not problems and operation is not None and date_time is not None:
        receipt = Receipt(
            operation=operation,
            items=tuple(items[i] for i in sorted(items)),
            payments=tuple(payments[i] for i in sorted(payments)),
            date_time=date_time,
            currency=currency_code,
            client=client,
            cashier=cashier,
            electronic_only=electronic_only,
            original=original,
            declared_total=declared_total,
            declared_vat_sums=declared_vat,
        )
    return BuildResult(
        receipt=receipt,
        problems=tuple(problems),
        items=items,
        broken_items=broken_items,
        payments=payments,
        client=client,
        cashier=cashier,
        date_time=date_time,
        minor_digits=minor_digits,
    )


_DEFAULT_VALIDATION = ValidationOptions(units=DEFAULT_UNITS, max_amount=DEFAULT_MAX_AMOUNT,
                                        max_quantity=DEFAULT_MAX_QUANTITY)


def receipt_problems(
    data: object,
    profile: TaxProfile,
    *,
    build: BuildOptions = BuildOptions(),
    validation: ValidationOptions | None = None,
) -> tuple[Receipt | None, list[Problem]]:
    """Parse and validate; return the receipt (``None`` if it could not be built) and every problem.

    When some field does not parse, the parts that did are still checked on their own (item names,
    rates, identifiers...), so the client sees as much as possible in one answer; only the sums are
    skipped, since they would be computed from an incomplete receipt.
    """
    if validation is None:
        if (build.units is DEFAULT_UNITS and build.max_amount == DEFAULT_MAX_AMOUNT
                and build.max_quantity == DEFAULT_MAX_QUANTITY):
            validation = _DEFAULT_VALIDATION  # the same options, built once instead of per receipt
        else:
            validation = ValidationOptions(
                units=build.units, max_amount=build.max_amount, max_quantity=build.max_quantity
            )
    result = build_receipt(data, build)
    if result.receipt is not None:
        problems = validate(result.receipt, profile, validation)
        return result.receipt, problems
    problems = list(result.problems)
    jurisdiction = validation.jurisdiction_for(profile)
    for index, item in result.items.items():
        problems += check_item(
            item, join_path("/items", index), profile, result.date_time, validation, minor_digits=result.minor_digits
        )
    for index, parts in result.broken_items.items():
        problems += _check_partial_item(
            parts, join_path("/items", index), profile, result.date_time, validation, result.minor_digits
        )
    for index, payment in result.payments.items():
        problems += check_payment(payment, join_path("/payments", index), validation, minor_digits=result.minor_digits)
    if result.client is not None:
        problems += check_client(result.client, "/client", jurisdiction)
    if result.cashier is not None:
        problems += check_cashier(result.cashier, "/cashier", jurisdiction)
    return None, problems


def load_receipt(
    data: object,
    profile: TaxProfile,
    *,
    build: BuildOptions = BuildOptions(),
    validation: ValidationOptions | None = None,
) -> Receipt:
    """Parse and validate; the receipt if it is sound, else ``ValidationError`` listing every problem."""
    receipt, problems = receipt_problems(data, profile, build=build, validation=validation)
    if problems or receipt is None:
        raise ValidationError(problems)
    return receipt
