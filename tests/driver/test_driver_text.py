"""The device's text capability (`kkm_bridge.driver.text`) and `AtolDriver.receipt_problems`.

Pure tests first (no device); then, against the simulator over a real pty and TCP, that the policy reaches
the device: transliterated names are what the fiscal memory stores, and under "reject" the driver's own
device-time check still refuses before anything is sent.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from driver_testutil import KZ_TAX_TABLE, VAT16, Rig, receipt

from kkm_bridge.config import UNSUPPORTED_TEXT_POLICIES
from kkm_bridge.driver import text
from kkm_bridge.driver.api import ChecksReceipts
from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.driver.errors import ReceiptNotSupported
from kkm_bridge.model.receipt import Item, Payment, PaymentType
from kkm_bridge.model.tax import VatRate
from protocols.atol.codepage import encode_text
from protocols.errors import ProtocolError

KAZAKH_LOWER = "әғқңөұүһі"
KAZAKH_UPPER = "ӘҒҚҢӨҰҮҺІ"
RUSSIAN_LOWER = "агкноуухи"
RUSSIAN_UPPER = RUSSIAN_LOWER.upper()


def encodes(char: str) -> bool:
    try:
        encode_text(char)
    except ProtocolError:
        return False
    return True


# -- the code page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("letter", KAZAKH_LOWER + KAZAKH_UPPER)
def test_no_kazakh_letter_is_printable(letter: str) -> None:
    assert not encodes(letter)
    assert not text.can_print(letter)
    assert text.unsupported_characters(f"a{letter}b{letter}") == [letter]


def test_printable_set_is_what_the_codec_encodes() -> None:
    assert len(text.PRINTABLE) == 256
    assert all(encodes(c) for c in text.PRINTABLE)
    for char in "АБВабвЁё№$ 0123456789%.,-\"'":
        assert text.can_print(char)
    for char in "€😀中«»—…":
        assert not text.can_print(char)
        assert not encodes(char)


def test_every_replacement_is_printable_and_only_replaces_what_the_page_lacks() -> None:
    for source, target in text.REPLACEMENTS.items():
        assert not text.can_print(source), source
        assert all(text.can_print(c) for c in target), (source, target)


# -- transliteration -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kazakh", "russian"), list(zip(KAZAKH_LOWER + KAZAKH_UPPER, RUSSIAN_LOWER + RUSSIAN_UPPER)))
def test_every_kazakh_letter_transliterates_to_russian_in_both_cases(kazakh: str, russian: str) -> None:
    assert text.KAZAKH_TO_RUSSIAN[kazakh] == russian
    assert text.prepare_text(f"x{kazakh}y", "transliterate") == f"x{russian}y"
    assert text.prepare_text(f"x{kazakh}y", "reject") == f"x{kazakh}y"  # reject never alters text
    assert text.text_problems(receipt(lines=(Item(f"Сүт {kazakh}", 100, 1000, VAT16),)), "transliterate") == []


def test_kazakh_i_becomes_cyrillic_not_latin() -> None:
    assert text.prepare_text("Іле і", "transliterate") == "Иле и"
    assert "i" not in text.prepare_text("і", "transliterate")  # Latin i only looks alike


def test_the_table_covers_exactly_the_nine_letters_in_both_cases() -> None:
    assert set(text.KAZAKH_TO_RUSSIAN) == set(KAZAKH_LOWER + KAZAKH_UPPER)


def test_prepare_text_sentences_and_punctuation() -> None:
    assert text.prepare_text("Сүт «Әсем» 1л — 2,5%", "transliterate") == 'Сут "Асем" 1л - 2,5%'
    assert text.prepare_text("Қазақстан… “Ұлы”", "transliterate") == 'Казакстан... "Улы"'
    assert text.prepare_text("Молоко 3.2%", "transliterate") == "Молоко 3.2%"
    assert text.prepare_text("Сүт 😀", "transliterate") == "Сут 😀"  # no replacement: left for the check


def test_printable_line_never_fails() -> None:
    assert text.printable_line("Сәлем 😀") == "С?лем ?"
    assert text.printable_line("Сәлем 😀", "transliterate") == "Салем ?"


def test_policy_values() -> None:
    assert text.POLICIES == UNSUPPORTED_TEXT_POLICIES  # config validates against the same values
    assert text.DEFAULT_POLICY == "reject"
    assert text.check_policy("transliterate") == "transliterate"
    with pytest.raises(ValueError, match="reject"):
        text.check_policy("drop")


# -- problems ----------------------------------------------------------------------------------------


def test_text_problems_name_the_characters_the_path_and_the_option() -> None:
    lines = (Item("Нан", 100, 1000, VAT16), Item("Сүт қой 1л", 100, 1000, VAT16))
    [problem] = text.text_problems(receipt(lines=lines), "reject")
    assert problem.code == "unsupported_characters"
    assert problem.path == "/items/1/name"
    assert "'ү' (U+04AF)" in problem.message and "'қ' (U+049B)" in problem.message
    assert 'unsupported_text = "transliterate"' in problem.message
    assert "ү->у" in problem.message


def test_characters_without_a_replacement_are_refused_under_either_policy() -> None:
    lines = (Item("Сүт 😀", 100, 1000, VAT16),)
    [rejected] = text.text_problems(receipt(lines=lines), "reject")
    assert "😀" in rejected.message and "no replacement" in rejected.message
    [still] = text.text_problems(receipt(lines=lines), "transliterate")
    assert still.code == "unsupported_characters" and "'😀'" in still.message and "'ү'" not in still.message


def test_a_name_longer_than_the_device_field_is_refused_not_truncated() -> None:
    assert text.text_problems(receipt(lines=(Item("Ә" * 64, 100, 1000, VAT16),)), "transliterate") == []
    [problem] = text.text_problems(receipt(lines=(Item("Ә" * 65, 100, 1000, VAT16),)), "transliterate")
    assert problem.code == "name_too_long_for_device" and problem.path == "/items/0/name"
    assert "64" in problem.message and "65" in problem.message


# -- AtolDriver.receipt_problems (pure: no connection) -------------------------------------------------


class _NoTransport:
    """The driver never touches its transport to check a receipt."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"receipt_problems used the transport ({name})")


def pure_driver(**options: object) -> AtolDriver:
    return AtolDriver(_NoTransport(), tax_table=KZ_TAX_TABLE, **options)  # type: ignore[arg-type]


def test_the_driver_checks_receipts_without_the_device() -> None:
    driver = pure_driver()
    assert isinstance(driver, ChecksReceipts)
    assert driver.unsupported_text == "reject"
    assert driver.receipt_problems(receipt()) == []
    kazakh = receipt(lines=(Item("Сүт", 100, 1000, VAT16),))
    assert [p.code for p in driver.receipt_problems(kazakh)] == ["unsupported_characters"]
    assert pure_driver(unsupported_text="transliterate").receipt_problems(kazakh) == []
    with pytest.raises(ValueError):
        pure_driver(unsupported_text="maybe")


def test_the_driver_reports_rates_and_payment_types_it_has_no_slot_for() -> None:
    driver = pure_driver(pay_types={PaymentType.CASH: 0})
    lines = (Item("Нан", 100, 1000, VatRate(Decimal(5))),)
    problems = driver.receipt_problems(receipt(lines=lines, payments=(Payment(PaymentType.CARD, 100),)))
    assert [(p.code, p.path) for p in problems] == [
        ("vat_rate_not_on_device", "/items/0/vat_rate"), ("payment_type_not_on_device", "/payments/0/type"),
    ]
    assert "'5'" in problems[0].message and "16" in problems[0].message


# -- the policy at the device --------------------------------------------------------------------------


async def test_transliterated_names_are_what_the_device_stores(rig: Rig) -> None:
    driver = rig.driver(unsupported_text="transliterate")
    await driver.connect()
    try:
        result = await driver.fiscalize(receipt(lines=(Item("Сүт Әсем", 45000, 1000, VAT16),)))
        await driver.print_text(["Рақмет!"])
    finally:
        await driver.close()
    stored = next(d for d in rig.sim.documents if d.number == result.document.number)
    assert [line["name"] for line in stored.lines] == ["Сут Асем"]
    assert "Ракмет!" in rig.sim.device.tape[-1].text()


async def test_under_reject_the_device_time_check_still_refuses_before_sending(rig: Rig) -> None:
    driver = rig.driver()
    await driver.connect()
    try:
        before = len(rig.sim.documents)
        with pytest.raises(ReceiptNotSupported, match="not printable"):
            await driver.fiscalize(receipt(lines=(Item("Сүт", 45000, 1000, VAT16),)))
        assert len(rig.sim.documents) == before
        assert not (await driver.status()).receipt_open
    finally:
        await driver.close()

