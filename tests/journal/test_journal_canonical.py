"""Property tests for the canonical body and its hash: equal bodies hash equal, different bodies do not."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kkm_bridge.journal import body_hash, canonical_json, canonicalize
from kkm_bridge.journal.canonical import decimal_text

decimals = st.builds(
    lambda digits, exponent, negative: Decimal((int(negative), tuple(int(c) for c in str(digits)), exponent)),
    st.integers(min_value=0, max_value=10**30),
    st.integers(min_value=-12, max_value=12),
    st.booleans(),
)
keys = st.text(min_size=0, max_size=8)
scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=10), st.integers(min_value=-(10**20), max_value=10**20), decimals,
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
)
bodies = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)


def reformat(value: Any, rng: random.Random) -> Any:
    """The same JSON value written differently: shuffled keys, numbers as int/float/Decimal with extra zeros."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        sign, digits, exponent = exact.as_tuple()
        assert isinstance(exponent, int)
        # Trailing zeros added without arithmetic (Decimal arithmetic would round to 28 digits).
        padded = Decimal((sign, digits + (0, 0, 0), exponent - 3))
        variants: list[Any] = [exact, padded, Decimal(f"{exact:f}"), Decimal(f"{exact:E}")]
        if exact == exact.to_integral_value():
            variants.append(int(exact))
        as_float = float(exact)
        if Decimal(repr(as_float)) == exact:
            variants.append(as_float)
        return rng.choice(variants)
    if isinstance(value, list):
        return [reformat(item, rng) for item in value]
    items = list(value.items())
    rng.shuffle(items)
    return {key: reformat(item, rng) for key, item in items}


@settings(max_examples=300, deadline=None)
@given(bodies, st.randoms(use_true_random=False))
def test_equal_bodies_have_equal_hashes(body: Any, rng: random.Random) -> None:
    assert body_hash(reformat(body, rng)) == body_hash(body)


@settings(max_examples=300, deadline=None)
@given(bodies, bodies)
def test_hash_equal_exactly_when_canonical_values_equal(a: Any, b: Any) -> None:
    assert (body_hash(a) == body_hash(b)) == (canonicalize(a) == canonicalize(b))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, scalars, min_size=1, max_size=6), st.data())
def test_changing_one_field_changes_the_hash(body: dict[str, Any], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(body)))
    new_value = data.draw(scalars)
    if canonicalize(new_value) == canonicalize(body[key]):
        return
    assert body_hash({**body, key: new_value}) != body_hash(body)


@settings(max_examples=300, deadline=None)
@given(decimals, decimals)
def test_number_text_is_equal_exactly_when_values_are_equal(a: Decimal, b: Decimal) -> None:
    assert (decimal_text(a) == decimal_text(b)) == (a == b)
    assert Decimal(decimal_text(a)) == a


@settings(max_examples=200, deadline=None)
@given(bodies)
def test_canonical_form_is_a_fixed_point_and_has_no_floats(body: Any) -> None:
    text = canonical_json(body)
    parsed = json.loads(text)  # default parser: any JSON number would come back as int/float
    assert canonical_json(parsed) == text

    def no_numbers(value: Any) -> bool:
        if isinstance(value, dict):
            return all(no_numbers(v) for v in value.values())
        if isinstance(value, list):
            return all(no_numbers(v) for v in value)
        return value is None or isinstance(value, (bool, str))

    assert no_numbers(parsed)


def test_examples() -> None:
    assert canonical_json({"b": 1, "a": [1.0, Decimal("1.50"), 0.1, -0.0, "1.50"], "c": "Нан"}) == (
        '{"a":["1","1.5","0.1","0","1.50"],"b":"1","c":"Нан"}'
    )
    assert body_hash({"x": 1}) == body_hash({"x": 1.0}) == body_hash({"x": Decimal("1.000")})
    assert body_hash({"x": True}) != body_hash({"x": 1})
    assert body_hash({"x": None}) != body_hash({})
    assert body_hash({"x": [1, 2]}) != body_hash({"x": [2, 1]})


@pytest.mark.parametrize("bad", [float("inf"), Decimal("NaN"), Decimal("1E+1000"), {1: "x"}, {"x": {1, 2}}])
def test_rejects_non_json(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json(bad if isinstance(bad, dict) else {"x": bad})
