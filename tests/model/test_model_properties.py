"""Property tests: totals reconcile, VAT bounded, parsing exact, change formula."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from hypothesis import given, settings, strategies as st

from kkm_bridge.model.builder import load_receipt
from kkm_bridge.model.money import format_amount, format_quantity, parse_amount, parse_quantity
from kkm_bridge.model.receipt import Item, compute_change
from kkm_bridge.model.tax import KZ_PROFILE, RU_PROFILE, VatRate

CTX = Context(prec=60, rounding=ROUND_HALF_UP)
CENT = Decimal("0.01")
KZ_2026_RATES = ["16", "10", "5", "0", "none"]
ALL_RATES = ["22", "20", "16", "12", "10", "5", "0", "none", "20/120", "10/110", "22/122", "12.5"]


def _reference_line(price: str, quantity: str, discount: str, markup: str) -> Decimal:
    """The line amount computed independently with Decimal, as a person would by hand."""
    gross = CTX.multiply(Decimal(price), Decimal(quantity)).quantize(CENT, context=CTX)
    return gross - Decimal(discount) + Decimal(markup)


def _reference_vat(amount: Decimal, rate: str) -> Decimal:
    if rate in ("none", "0"):
        return Decimal("0.00")
    r = Decimal(rate.split("/")[0])
    return CTX.divide(CTX.multiply(amount, r), 100 + r).quantize(CENT, context=CTX)


@st.composite
def receipt_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], Decimal, dict[str, Decimal]]:
    """A valid KZ 2026 body, with the expected total and per-rate VAT computed independently."""
    items = []
    total = Decimal("0.00")
    vat: dict[str, Decimal] = {}
    for _ in range(draw(st.integers(1, 6))):
        price = draw(st.integers(0, 10_000_000))  # minor units
        quantity = draw(st.integers(1, 100_000))  # thousandths
        gross = (price * quantity * 2 + 1000) // 2000  # half-up, for bounds only
        markup = draw(st.integers(0, 10_000)) if draw(st.booleans()) else 0
        discount = draw(st.integers(0, gross + markup)) if draw(st.booleans()) else 0
        rate = draw(st.sampled_from(KZ_2026_RATES))
        fields = {
            "name": draw(st.text(st.characters(blacklist_categories=("C",)), min_size=1, max_size=128).filter(lambda s: s.strip() != "")),
            "price": format_amount(price),
            "quantity": format_quantity(quantity),
            "vat_rate": rate,
            "discount": format_amount(discount),
            "markup": format_amount(markup),
            "unit": draw(st.sampled_from([796, 166, 163, 112, 6, 55, 356, 5114])),
        }
        line = _reference_line(fields["price"], fields["quantity"], fields["discount"], fields["markup"])
        total += line
        vat[rate] = vat.get(rate, Decimal("0.00")) + _reference_vat(line, rate)
        items.append(fields)

    total_minor = int(total * 100)
    non_cash = draw(st.integers(0, total_minor))
    card = draw(st.integers(0, non_cash))
    mobile = non_cash - card
    cash = total_minor - non_cash + draw(st.integers(0, 500_000))
    payments = [
        {"type": kind, "amount": format_amount(amount)}
        for kind, amount in (("card", card), ("mobile", mobile), ("cash", cash))
        if amount > 0
    ]
    body = {
        "operation": draw(st.sampled_from(["sell", "buy"])),
        "date_time": "2026-03-01T12:00:00",
        "currency": "KZT",
        "items": items,
        "payments": payments,
        "total": str(total),
        "vat_sums": [{"rate": rate, "sum": str(amount)} for rate, amount in vat.items()],
    }
    return body, total, vat


@settings(max_examples=150, deadline=None)
@given(receipt_bodies())
def test_totals_reconcile_for_any_valid_receipt(case: tuple[dict[str, Any], Decimal, dict[str, Decimal]]) -> None:
    body, expected_total, expected_vat = case
    receipt = load_receipt(body, KZ_PROFILE)  # raises with every problem if anything disagrees
    assert receipt.total == int(expected_total * 100)
    assert receipt.total == sum(receipt.line_amounts)
    assert receipt.total == sum(receipt.taxable_by_rate.values())
    assert {r.code: v for r, v in receipt.vat_by_rate.items()} == {
        rate: int(amount * 100) for rate, amount in expected_vat.items()
    }
    assert sum(receipt.vat_by_rate.values()) == receipt.vat_total == sum(item.vat for item in receipt.items)
    assert receipt.paid - receipt.change == receipt.total
    assert receipt.paid == receipt.cash_paid + receipt.non_cash_paid


@settings(max_examples=150, deadline=None)
@given(receipt_bodies())
def test_change_formula_whenever_cash_present(case: tuple[dict[str, Any], Decimal, dict[str, Decimal]]) -> None:
    receipt = load_receipt(case[0], KZ_PROFILE)
    if receipt.cash_paid > 0:
        assert receipt.change == receipt.cash_paid - (receipt.total - receipt.non_cash_paid)
    assert 0 <= receipt.change <= receipt.cash_paid


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.integers(0, 10**12))
def test_change_never_exceeds_cash(total: int, cash: int, non_cash: int) -> None:
    change = compute_change(total, cash, non_cash)
    assert 0 <= change <= cash
    if cash > 0 and non_cash <= total and cash + non_cash >= total:
        assert change == cash - (total - non_cash)


@given(
    st.integers(0, 10_000_000),
    st.integers(1, 1_000_000),
    st.sampled_from(ALL_RATES),
    st.integers(0, 100_000),
    st.data(),
)
def test_line_vat_never_exceeds_line_amount(price: int, quantity: int, rate: str, markup: int, data: st.DataObject) -> None:
    gross = Item("x", price, quantity, VatRate.parse(rate)).gross_amount
    discount = data.draw(st.integers(0, gross + markup))
    item = Item("x", price, quantity, VatRate.parse(rate), discount=discount, markup=markup)
    assert 0 <= item.vat <= item.amount
    if item.amount > 0 and rate not in ("0", "none"):
        assert item.vat < item.amount


@given(st.integers(0, 999_999_999_999))
def test_parsing_exact_for_every_representable_amount(minor: int) -> None:
    value = Decimal(minor).scaleb(-2)
    for spelling in (str(value), value, value.normalize(), str(value.normalize()), format(value, "f")):
        assert parse_amount(spelling, "/x") == minor
    assert str(Decimal(format_amount(minor))) == str(value)


@given(st.integers(1, 99_999_999_999))
def test_quantity_parsing_exact(milli: int) -> None:
    value = Decimal(milli).scaleb(-3)
    for spelling in (str(value), value, value.normalize(), format_quantity(milli)):
        assert parse_quantity(spelling, "/q") == milli


@given(st.sampled_from(["20", "20/120", "10", "10/110"]), st.integers(0, 10**9))
def test_calculated_rate_same_vat_as_plain(rate: str, amount: int) -> None:
    plain = VatRate.parse(rate.split("/")[0])
    assert VatRate.parse(rate).vat(amount) == plain.vat(amount)
    day = datetime(2025, 6, 1)
    assert RU_PROFILE.allows(VatRate.parse(rate), day)
