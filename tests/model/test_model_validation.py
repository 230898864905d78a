"""Validation and the dict builder: every bad input is rejected with its code and path."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

import pytest

from kkm_bridge.model.builder import BuildOptions, build_receipt, load_receipt, receipt_problems
from kkm_bridge.model.errors import Problem, ValidationError
from kkm_bridge.model.jurisdiction import KZ, RU, UZ, get_jurisdiction
from kkm_bridge.model.receipt import (
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
from kkm_bridge.model.tax import KZ_PROFILE, RU_PROFILE, UZ_PROFILE, VatRate
from kkm_bridge.model.units import unit_table_from_config
from kkm_bridge.model.validation import ValidationOptions, check_receipt, remap_problems, validate

Body = dict[str, Any]


def body(**changes: Any) -> Body:
    """A valid KZ 2026 sale: milk 500.00 at 16 % plus 1.5 kg of apples at 800.00 at 16 %, cash 2000."""
    base: Body = {
        "operation": "sell",
        "date_time": "2026-01-05T10:30:00",
        "currency": "KZT",
        "items": [
            {"name": "Milk", "price": Decimal("500.00"), "quantity": 1, "vat_rate": "16", "unit": 796},
            {"name": "Apples", "price": "800", "quantity": "1.5", "vat_rate": 16, "unit": "kg",
             "discount": "100.00", "kind": "goods", "section": 1, "barcode": "4870001234567"},
        ],
        "payments": [{"type": "card", "amount": "1000"}, {"type": "cash", "amount": Decimal("1000.00")}],
        "client": {"tax_id": "900101300126", "phone": "+7 701 123-45-67", "email": "a@b.kz"},
        "cashier": {"name": "Aigerim", "iin": "850315400015"},
        "total": "1600.00",
        "vat_sums": [{"rate": "16", "sum": "220.69"}],
    }
    base.update(changes)
    return base


def problems_of(data: Body, profile=KZ_PROFILE, **kw: Any) -> list[Problem]:  # type: ignore[no-untyped-def]
    return receipt_problems(data, profile, **kw)[1]


def test_valid_body_builds() -> None:
    receipt = load_receipt(body(), KZ_PROFILE)
    assert receipt.operation is Operation.SELL
    assert receipt.line_amounts == (50000, 110000)
    assert receipt.total == 160000
    assert receipt.vat_by_rate == {VatRate.parse("16"): 6897 + 15172}
    assert receipt.change == 40000
    assert receipt.items[1].unit == 166
    assert receipt.items[1].quantity == 1500
    assert receipt.client == Client(tax_id="900101300126", phone="+7 701 123-45-67", email="a@b.kz")
    assert receipt.paid_by_type == {PaymentType.CARD: 100000, PaymentType.CASH: 100000}


def test_valid_body_from_json_text() -> None:
    text = """{"operation": "sell", "date_time": "2026-01-05T10:30:00Z",
               "items": [{"name": "Book", "price": 500.00, "quantity": 2, "vat_rate": null},
                         {"name": "Pen", "price": 1e2, "quantity": 0.5, "vat_rate": "16%", "unit": "006"}],
               "payments": [{"type": "mobile", "amount": 500}, {"type": "cash", "amount": 600.00}],
               "total": 1050.00, "vat_sums": [{"rate": "16", "sum": 6.90}, {"rate": "none", "sum": 0}]}"""
    receipt = load_receipt(json.loads(text, parse_float=Decimal), KZ_PROFILE)
    assert receipt.total == 105000
    assert receipt.vat_by_rate == {VatRate.parse("none"): 0, VatRate.parse("16"): 690}
    assert receipt.change == 5000
    assert receipt.items[1].unit == 6


def test_json_float_is_refused() -> None:
    text = '{"operation": "sell", "date_time": "2026-01-05T10:30:00", "items": [{"name": "Book", "price": 0.1, "quantity": 1, "vat_rate": "none"}], "payments": []}'
    problems = problems_of(json.loads(text))  # parsed WITHOUT parse_float=Decimal
    assert [(p.code, p.path) for p in problems] == [("float_not_allowed", "/items/0/price")]


def _set(path: str, value: Any) -> Callable[[Body], None]:
    def apply(data: Body) -> None:
        parts = path.strip("/").split("/")
        target: Any = data
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        last = parts[-1]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return apply


_DELETE = object()

# (case id, mutation, expected code, expected path)
BAD_INPUTS: list[tuple[str, Callable[[Body], None], str, str]] = [
    ("no items", _set("/items", []), "no_items", "/items"),
    ("items missing", _set("/items", _DELETE), "no_items", "/items"),
    ("items not a list", _set("/items", {"a": 1}), "wrong_type", "/items"),
    ("item not an object", _set("/items/0", "milk"), "wrong_type", "/items/0"),
    ("empty name", _set("/items/0/name", "  "), "name_empty", "/items/0/name"),
    ("name missing", _set("/items/0/name", _DELETE), "missing_field", "/items/0/name"),
    ("name not str", _set("/items/0/name", 5), "wrong_type", "/items/0/name"),
    ("name with newline", _set("/items/0/name", "Milk\nBread"), "name_bad_characters", "/items/0/name"),
    ("name too long", _set("/items/1/name", "x" * 129), "name_too_long", "/items/1/name"),
    ("price float", _set("/items/0/price", 500.0), "float_not_allowed", "/items/0/price"),
    ("price bool", _set("/items/0/price", True), "not_a_number", "/items/0/price"),
    ("price text", _set("/items/0/price", "five"), "not_a_number", "/items/0/price"),
    ("price 3 decimals", _set("/items/0/price", "500.001"), "too_many_decimals", "/items/0/price"),
    ("price negative", _set("/items/0/price", "-1"), "negative_value", "/items/0/price"),
    ("price NaN", _set("/items/0/price", "NaN"), "not_finite", "/items/0/price"),
    ("price Infinity", _set("/items/0/price", Decimal("Infinity")), "not_finite", "/items/0/price"),
    ("price absurd", _set("/items/0/price", "1e15"), "value_too_large", "/items/0/price"),
    ("price missing", _set("/items/0/price", _DELETE), "missing_field", "/items/0/price"),
    ("quantity zero", _set("/items/0/quantity", 0), "quantity_not_positive", "/items/0/quantity"),
    ("quantity negative", _set("/items/0/quantity", -1), "negative_value", "/items/0/quantity"),
    ("quantity 4 decimals", _set("/items/0/quantity", "1.0001"), "too_many_decimals", "/items/0/quantity"),
    ("quantity float", _set("/items/0/quantity", 1.0), "float_not_allowed", "/items/0/quantity"),
    ("quantity absurd", _set("/items/0/quantity", "1e12"), "value_too_large", "/items/0/quantity"),
    ("quantity missing", _set("/items/0/quantity", _DELETE), "missing_field", "/items/0/quantity"),
    ("unknown unit", _set("/items/0/unit", 999), "unknown_unit", "/items/0/unit"),
    ("unknown unit alias", _set("/items/0/unit", "bucket"), "unknown_unit", "/items/0/unit"),
    ("vat rate not allowed", _set("/items/0/vat_rate", "12"), "vat_rate_not_allowed", "/items/0/vat_rate"),
    ("vat rate garbage", _set("/items/0/vat_rate", "twelve"), "bad_vat_rate", "/items/0/vat_rate"),
    ("vat rate missing", _set("/items/0/vat_rate", _DELETE), "missing_field", "/items/0/vat_rate"),
    ("discount too big", _set("/items/1/discount", "1200.01"), "discount_exceeds_amount", "/items/1/discount"),
    ("discount negative", _set("/items/1/discount", "-5"), "negative_value", "/items/1/discount"),
    ("markup garbage", _set("/items/1/markup", "1,5"), "not_a_number", "/items/1/markup"),
    ("bad section", _set("/items/1/section", -1), "bad_section", "/items/1/section"),
    ("bad kind", _set("/items/1/kind", "thing"), "bad_item_kind", "/items/1/kind"),
    ("bad barcode", _set("/items/1/barcode", ""), "bad_barcode", "/items/1/barcode"),
    ("item vat sum", _set("/items/0/vat_sum", "68.96"), "vat_sum_mismatch", "/items/0/vat_sum"),
    ("unknown item field", _set("/items/0/qty", 2), "unknown_field", "/items/0/qty"),
    ("total mismatch", _set("/total", "1600.01"), "total_mismatch", "/total"),
    ("total garbage", _set("/total", 1600.0), "float_not_allowed", "/total"),
    ("vat sums mismatch", _set("/vat_sums/0/sum", "220.70"), "vat_sum_mismatch", "/vat_sums/0/sum"),
    ("vat sums wrong rate", _set("/vat_sums", [{"rate": "12", "sum": "0"}]), "vat_sum_mismatch", "/vat_sums"),
    ("vat sums dup", _set("/vat_sums", [{"rate": "16", "sum": "220.69"}, {"rate": "16", "sum": "220.69"}]),
     "duplicate_vat_rate", "/vat_sums/1/rate"),
    ("vat sums not a list", _set("/vat_sums", {"16": "1.00"}), "wrong_type", "/vat_sums"),
    ("vat sum rate missing", _set("/vat_sums", [{"sum": "1.00"}]), "missing_field", "/vat_sums/0/rate"),
    ("vat sum garbage", _set("/vat_sums/0/sum", "x"), "not_a_number", "/vat_sums/0/sum"),
    ("payments short", _set("/payments/1/amount", "599.99"), "payments_less_than_total", "/payments"),
    ("no payments", _set("/payments", []), "payments_less_than_total", "/payments"),
    ("non-cash exceeds", _set("/payments/0/amount", "1600.01"), "non_cash_exceeds_total", "/payments"),
    ("payment zero", _set("/payments/0/amount", "0"), "payment_not_positive", "/payments/0/amount"),
    ("payment negative", _set("/payments/0/amount", "-1"), "negative_value", "/payments/0/amount"),
    ("payment type", _set("/payments/0/type", "cheque"), "bad_payment_type", "/payments/0/type"),
    ("payment type missing", _set("/payments/0/type", _DELETE), "missing_field", "/payments/0/type"),
    ("client iin checksum", _set("/client/tax_id", "900101300127"), "bad_iin_checksum", "/client/tax_id"),
    ("client iin format", _set("/client/tax_id", "90010130012"), "bad_iin_format", "/client/tax_id"),
    ("client phone", _set("/client/phone", "12"), "bad_phone", "/client/phone"),
    ("client email", _set("/client/email", "nobody"), "bad_email", "/client/email"),
    ("client tax id type", _set("/client/tax_id", 900101300126), "wrong_type", "/client/tax_id"),
    ("cashier iin", _set("/cashier/iin", "900101300800"), "bad_iin_checksum", "/cashier/iin"),
    ("cashier name", _set("/cashier/name", " "), "cashier_name_empty", "/cashier/name"),
    ("electronic without contact", lambda d: (d.update(electronic_only=True), d.pop("client")),
     "electronic_requires_contact", "/client"),
    ("electronic flag type", _set("/electronic_only", "yes"), "wrong_type", "/electronic_only"),
    ("operation", _set("/operation", "refund"), "bad_operation", "/operation"),
    ("operation missing", _set("/operation", _DELETE), "missing_field", "/operation"),
    ("date time", _set("/date_time", "yesterday"), "bad_date_time", "/date_time"),
    ("date time missing", _set("/date_time", _DELETE), "missing_field", "/date_time"),
    ("currency", _set("/currency", "USD"), "unknown_currency", "/currency"),
    ("currency mismatch", _set("/currency", "RUB"), "currency_mismatch", "/currency"),
    ("unknown field", _set("/totals", "1"), "unknown_field", "/totals"),
    ("return without original", _set("/operation", "sell_return"), "return_requires_original", "/original"),
    ("original on sale", _set("/original", {"fiscal_sign": "123"}), "original_not_allowed", "/original"),
    ("original without sign",
     lambda d: d.update(operation="sell_return", original={"fiscal_sign": " "}),
     "original_fiscal_sign_empty", "/original/fiscal_sign"),
    ("original sign missing",
     lambda d: d.update(operation="sell_return", original={"total": "1"}), "missing_field", "/original/fiscal_sign"),
    ("return exceeds original",
     lambda d: d.update(operation="sell_return", original={"fiscal_sign": "123", "total": "1599.99"}),
     "return_exceeds_original", "/original/total"),
    ("original after return",
     lambda d: d.update(operation="sell_return",
                        original={"fiscal_sign": "123", "date_time": "2026-01-06T00:00:00"}),
     "original_after_return", "/original/date_time"),
    ("original date garbage",
     lambda d: d.update(operation="sell_return", original={"fiscal_sign": "123", "date_time": "x"}),
     "bad_date_time", "/original/date_time"),
    ("not an object", lambda d: None, "wrong_type", "/"),
]


@pytest.mark.parametrize(("mutate", "code", "path"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_rejected_with_code_and_path(mutate: Callable[[Body], None], code: str, path: str) -> None:
    data: Any = body()
    if code == "wrong_type" and path == "/":
        data = ["not", "an", "object"]
    else:
        mutate(data)
    problems = problems_of(data)
    assert (code, path) in [(p.code, p.path) for p in problems], problems
    with pytest.raises(ValidationError) as info:
        load_receipt(data, KZ_PROFILE)
    assert any(p.code == code and p.path == path for p in info.value.problems)


def test_all_problems_reported_at_once() -> None:
    data = body()
    data["items"][0]["name"] = ""
    data["items"][0]["vat_rate"] = "12"
    data["items"][1]["price"] = "8.001"
    data["client"]["tax_id"] = "900101300127"
    data["payments"][0]["type"] = "cheque"
    found = {(p.code, p.path) for p in problems_of(data)}
    assert {
        ("name_empty", "/items/0/name"),
        ("vat_rate_not_allowed", "/items/0/vat_rate"),
        ("too_many_decimals", "/items/1/price"),
        ("bad_iin_checksum", "/client/tax_id"),
        ("bad_payment_type", "/payments/0/type"),
    } <= found
    # Sums are not compared when a line could not be read: no misleading cascade.
    assert not any(p.code in ("total_mismatch", "payments_less_than_total") for p in problems_of(data))


def test_vat_rate_message_for_http() -> None:
    data = body()
    data["items"][0]["vat_rate"] = "12"
    (problem,) = [p for p in problems_of(data) if p.code == "vat_rate_not_allowed"]
    assert problem.message.startswith("Incorrect VAT rate 12")
    assert "16, 10, 5, 0, none" in problem.message


def test_vat_sum_mismatch_names_expected_value() -> None:
    data = body()
    data["vat_sums"] = [{"rate": "16", "sum": "220.70"}]
    data["items"][0]["vat_sum"] = "68.00"
    messages = {p.path: p.message for p in problems_of(data) if p.code == "vat_sum_mismatch"}
    assert "220.69" in messages["/vat_sums/0/sum"]
    assert "68.97" in messages["/items/0/vat_sum"]


def test_total_mismatch_names_computed_total() -> None:
    (problem,) = [p for p in problems_of(body(total="1")) if p.code == "total_mismatch"]
    assert "1600.00" in problem.message


def test_rates_follow_receipt_date() -> None:
    old = body(date_time="2025-12-31T23:59:59", vat_sums=None)
    for item in old["items"]:
        item["vat_rate"] = "12"
    assert problems_of(old) == []
    old["items"][0]["vat_rate"] = "16"
    assert [(p.code, p.path) for p in problems_of(old)] == [("vat_rate_not_allowed", "/items/0/vat_rate")]


def test_name_length_configurable() -> None:
    data = body()
    data["items"][0]["name"] = "x" * 129
    assert any(p.code == "name_too_long" for p in problems_of(data))
    options = ValidationOptions(max_name_length=200)
    assert problems_of(data, validation=options) == []
    data["items"][0]["name"] = "x" * 128
    assert problems_of(data) == []


def test_unknown_units_when_configured() -> None:
    data = body()
    data["items"][0]["unit"] = 4242
    units = unit_table_from_config({"allow_unknown": True})
    assert problems_of(data, build=BuildOptions(units=units)) == []


def test_return_original_optional_when_configured() -> None:
    data = body(operation="sell_return")
    assert problems_of(data, validation=ValidationOptions(require_original_for_returns=False)) == []


def test_valid_return() -> None:
    data = body(operation="sell_return",
                original={"fiscal_sign": 2875117262, "date_time": "05.01.2026 09:00:00",
                          "registration_number": "010102360375", "total": "1600.00"})
    receipt = load_receipt(data, KZ_PROFILE)
    assert receipt.original == OriginalReceiptRef("2875117262", datetime(2026, 1, 5, 9), "010102360375", 160000)


def test_now_fills_missing_date() -> None:
    data = body()
    del data["date_time"]
    receipt = load_receipt(data, KZ_PROFILE, build=BuildOptions(now=datetime(2026, 2, 1, 12)))
    assert receipt.date_time == datetime(2026, 2, 1, 12)


def test_lenient_mode_ignores_unknown_fields() -> None:
    data = body(extra="x")
    assert problems_of(data, build=BuildOptions(strict=False)) == []


def test_build_receipt_reports_only_parsing() -> None:
    result = build_receipt(body(total="1"))
    assert result.problems == ()
    assert result.receipt is not None
    assert result.receipt.declared_total == 100


def test_remap_problems() -> None:
    data = body()
    data["items"][0]["price"] = "-1"
    mapped = remap_problems(problems_of(data), lambda p: p.replace("/items", "/Positions").replace("price", "Price"))
    assert ("negative_value", "/Positions/0/Price") in [(p.code, p.path) for p in mapped]


# --- direct model construction -------------------------------------------------------------------


def _receipt(**changes: Any) -> Receipt:
    base = dict(
        operation=Operation.SELL,
        items=(Item("Milk", 50000, 1000, VatRate.parse("12")),),
        payments=(Payment(PaymentType.CASH, 50000),),
        date_time=datetime(2025, 6, 1, 12),
    )
    base.update(changes)
    return Receipt(**base)  # type: ignore[arg-type]


def test_validate_direct_receipt() -> None:
    assert validate(_receipt(), KZ_PROFILE) == []
    assert check_receipt(_receipt(), KZ_PROFILE).total == 50000


@pytest.mark.parametrize(
    ("item", "code", "path"),
    [
        (Item("Milk", -1, 1000, VatRate.parse("12")), "negative_value", "/items/0/price"),
        (Item("Milk", 100, 0, VatRate.parse("12")), "quantity_not_positive", "/items/0/quantity"),
        (Item("Milk", 100, 1000, VatRate.parse("12"), unit=1), "unknown_unit", "/items/0/unit"),
        (Item("Milk", 100, 1000, VatRate.parse("12"), discount=101), "discount_exceeds_amount", "/items/0/discount"),
        (Item("Milk", 100, 1000, VatRate.parse("12"), markup=-1), "negative_value", "/items/0/markup"),
        (Item("Milk", 100, 1000, VatRate.parse("12"), section=-1), "bad_section", "/items/0/section"),
        (Item("Milk", 100, 1000, VatRate.parse("12"), product_code="\x00"), "bad_product_code", "/items/0/product_code"),
        (Item("", 100, 1000, VatRate.parse("12")), "name_empty", "/items/0/name"),
        (Item("Milk", 100, 1000, VatRate.parse("16")), "vat_rate_not_allowed", "/items/0/vat_rate"),
        (Item("Milk", 10**13, 1000, VatRate.parse("12")), "value_too_large", "/items/0/price"),
    ],
)
def test_validate_direct_item_problems(item: Item, code: str, path: str) -> None:
    problems = validate(_receipt(items=(item,)), KZ_PROFILE)
    assert (code, path) in [(p.code, p.path) for p in problems]


def test_discount_equal_to_amount_is_allowed() -> None:
    item = Item("Gift", 100, 1000, VatRate.parse("12"), discount=100)
    assert validate(_receipt(items=(item,), payments=()), KZ_PROFILE) == []


def test_check_receipt_raises_with_all_problems() -> None:
    with pytest.raises(ValidationError) as info:
        check_receipt(_receipt(items=(), payments=(Payment(PaymentType.CARD, 0),)), KZ_PROFILE)
    codes = [p.code for p in info.value.problems]
    assert codes == ["no_items", "payment_not_positive"]
    assert isinstance(info.value, ValueError)
    assert "no_items" in str(info.value)


def test_too_many_items() -> None:
    items = tuple(Item("x", 1, 1000, VatRate.parse("12")) for _ in range(3))
    problems = validate(_receipt(items=items), KZ_PROFILE, ValidationOptions(max_items=2))
    assert [p.code for p in problems] == ["too_many_items"]


def test_total_too_large() -> None:
    items = (Item("x", 600, 1000, VatRate.parse("12")), Item("y", 600, 1000, VatRate.parse("12")))
    problems = validate(_receipt(items=items, payments=(Payment(PaymentType.CASH, 1200),)), KZ_PROFILE,
                        ValidationOptions(max_total=1000))
    assert [p.code for p in problems] == ["total_too_large"]


# --- jurisdictions ----------------------------------------------------------------------------------


def _uz_receipt(**item_changes: Any) -> Receipt:
    fields: dict[str, Any] = dict(name="Non", price=300000, quantity=1000, vat_rate=VatRate.parse("12"),
                                  product_code="08510003002000000")
    fields.update(item_changes)
    return Receipt(Operation.SELL, (Item(**fields),), (Payment(PaymentType.CASH, 300000),),
                   datetime(2026, 1, 5), currency="UZS")


def test_uz_rules() -> None:
    assert validate(_uz_receipt(), UZ_PROFILE) == []
    assert [(p.code, p.path) for p in validate(_uz_receipt(product_code=None), UZ_PROFILE)] == [
        ("product_code_required", "/items/0/product_code")
    ]
    assert [p.code for p in validate(_uz_receipt(product_code="123"), UZ_PROFILE)] == ["bad_product_code"]
    receipt = _uz_receipt()
    for tax_id, code in [("31508900011234", "bad_pinfl_checksum"), ("12345678", "bad_tin_format")]:
        problems = validate(replace(receipt, client=Client(tax_id=tax_id)), UZ_PROFILE)
        assert [(p.code, p.path) for p in problems] == [(code, "/client/tax_id")]
    assert validate(replace(receipt, client=Client(tax_id="31508900011235")), UZ_PROFILE) == []
    assert validate(replace(receipt, client=Client(tax_id="123456789")), UZ_PROFILE) == []


def test_ru_rules() -> None:
    receipt = Receipt(Operation.SELL, (Item("Хлеб", 12000, 1000, VatRate.parse("20/120")),),
                      (Payment(PaymentType.CARD, 12000),), datetime(2025, 12, 1), currency="RUB")
    assert validate(receipt, RU_PROFILE) == []
    assert receipt.vat_total == 2000
    assert validate(replace(receipt, client=Client(tax_id="123")), RU_PROFILE)[0].code == "bad_inn_format"
    twenty_two = replace(receipt, items=(Item("Хлеб", 12200, 1000, VatRate.parse("22")),),
                         payments=(Payment(PaymentType.CARD, 12200),))
    assert [p.code for p in validate(twenty_two, RU_PROFILE)] == ["vat_rate_not_allowed"]
    assert validate(replace(twenty_two, date_time=datetime(2026, 1, 1)), RU_PROFILE) == []


def test_jurisdiction_codes() -> None:
    assert KZ.payment_code(PaymentType.CASH) == 0
    assert KZ.payment_code(PaymentType.CARD) == 1
    assert KZ.payment_code(PaymentType.MOBILE) == 4
    assert KZ.operation_codes[Operation.SELL] == 2
    assert KZ.item_kind_codes[ItemKind.SERVICE] == 2
    assert RU.operation_codes[Operation.SELL_RETURN] == 2
    assert RU.payment_code(PaymentType.MOBILE) == 1
    assert UZ.payment_code(PaymentType.CASH) == "receivedCash"
    assert get_jurisdiction("kz") is KZ


def test_jurisdiction_override() -> None:
    lenient = replace(UZ, product_code_required=False, product_code_digits=None)
    options = ValidationOptions(jurisdiction=lenient)
    assert validate(_uz_receipt(product_code=None), UZ_PROFILE, options) == []


def test_cashier_without_iin_and_declared_vat_no_vat_rate() -> None:
    receipt = _receipt(
        cashier=Cashier("Aigerim"),
        items=(Item("Milk", 50000, 1000, VatRate.parse("12")), Item("Book", 1000, 1000, VatRate.parse("none"))),
        payments=(Payment(PaymentType.CASH, 51000),),
        declared_vat_sums=(VatSum(VatRate.parse("12"), 5357),),
        declared_total=51000,
    )
    assert validate(receipt, KZ_PROFILE) == []
    assert copy.deepcopy(receipt) == receipt
