"""The printed tape carries the KZ receipt details and a real QR code with the verification URL."""

from __future__ import annotations

import io
import re
from datetime import datetime

import pytest
from sim_testutil import ITEMS, ITEMS_TOTAL, open_registration, sell

from protocols.atol import commands as cmd
from simulators.atol import DeviceConfig, ManualClock, Simulator
from simulators.atol.tape import QR_MARK, qr_url
from simulators.atol.testing import InProcessHost


def printed_receipt(width: int, offline: bool = False):  # type: ignore[no-untyped-def]
    clock = ManualClock(datetime(2026, 2, 3, 14, 5, 9))
    sim = Simulator(DeviceConfig(line_width=width, offline=offline, sign_key_seed=11), clock=clock)
    host = InProcessHost(sim)
    open_registration(host)
    sell(host, ITEMS, [(cmd.PayType.ELECTRONIC, 20000), (cmd.PayType.CASH, 100000)])
    return sim, sim.device.tape[-1], sim.documents[-1]


@pytest.mark.parametrize("width", [32, 48])
def test_receipt_tape_has_the_mandatory_details(width: int) -> None:
    sim, printed, document = printed_receipt(width)
    text = printed.text()
    reg = sim.config.registration
    assert all(len(line) <= width for line in printed.lines)
    flat = text.replace("\n", "")
    for required in (reg.seller_name, f"БИН {reg.seller_bin}", reg.factory_number, reg.registration_number,
                     "Смена №1", "Чек №1", "03.02.2026 14:05:09", "Хлеб", "2 шт x 150.00", "1.5 шт x 450.50",
                     "НДС 20%", "НДС 10%", "Без НДС", "ИТОГО:", "=980.75", "Наличные", "Банковская карта",
                     "Сдача", "219.25", document.fiscal_sign, reg.ofd_name, reg.ofd_site,
                     "ФИСКАЛЬНЫЙ ЧЕК", reg.address):
        assert required in flat, required
    assert "АВТОНОМНЫЙ" not in text
    assert ITEMS_TOTAL == 98075


def test_offline_mark() -> None:
    _, printed, document = printed_receipt(48, offline=True)
    assert document.offline
    assert "АВТОНОМНЫЙ РЕЖИМ" in printed.text()


def test_qr_url_and_images() -> None:
    sim, printed, document = printed_receipt(48)
    expected = (f"http://consumer.oofd.kz?i={document.fiscal_sign}&f=032600010282&s=980.75&t=20260203T140509")
    assert printed.qr == expected == qr_url("http://consumer.oofd.kz", document.fiscal_sign, "032600010282",
                                            98075, datetime(2026, 2, 3, 14, 5, 9))
    assert re.fullmatch(r"\d{10}", document.fiscal_sign)
    assert QR_MARK in printed.lines
    # The QR in the image is exactly the matrix the qrcode library builds for the URL ...
    import qrcode
    import zxingcpp
    from PIL import Image

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=2)
    code.add_data(expected)
    code.make(fit=True)
    assert printed.qr_image().tobytes() == code.make_image().get_image().convert("RGB").tobytes()
    png = printed.to_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    qr = printed.qr_image()
    assert image.height > qr.height and image.width >= qr.width
    # ... and an independent decoder (ZXing) scans it out of the whole printed receipt image.
    scanned = [r.text for r in zxingcpp.read_barcodes(image.convert("L")) if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert scanned == [expected]
    html = printed.to_html()
    assert "data:image/png;base64," in html and "ФИСКАЛЬНЫЙ ЧЕК" in html


def test_other_documents_are_printed_too(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.CashIn(0, 12345))
    host.call_ok(cmd.LeaveMode())
    host.call_ok(cmd.PrintLine("Спасибо за покупку!"))
    host.call_ok(cmd.Cut())
    host.call_ok(cmd.EnterMode(3, 30))
    host.call_ok(cmd.ZReport())
    kinds = [p.kind for p in sim.device.tape]
    assert kinds == ["shift_open", "cash_in", "text", "shift_close"]
    assert "ВНЕСЕНИЕ НАЛИЧНЫХ" in sim.device.tape[1].text() and "123.45" in sim.device.tape[1].text()
    assert sim.device.tape[2].lines == ["Спасибо за покупку!"]
    assert "Z-ОТЧЁТ" in sim.device.tape[3].text()


def test_png_without_a_cyrillic_font(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI machines may lack DejaVu: the PNG is still produced (text degraded, QR intact)."""
    from PIL import ImageFont

    import simulators.atol.tape as tape

    monkeypatch.setattr(tape, "_font", ImageFont.load_default_imagefont)
    _, printed, _ = printed_receipt(32)
    assert printed.to_png().startswith(b"\x89PNG")


@pytest.mark.parametrize("width", [32, 48])
def test_every_document_fits_the_paper(width: int) -> None:
    sim = Simulator(DeviceConfig(line_width=width), clock=ManualClock())
    host = InProcessHost(sim)
    open_registration(host)
    host.call_ok(cmd.CashIn(0, 10_000_000))
    sell(host, ITEMS, [(cmd.PayType.ELECTRONIC, 1000)])
    host.call_ok(cmd.OpenReceipt(0, cmd.ReceiptType.SELL_RETURN))
    host.call_ok(cmd.RegisterItem(2, "Очень длинное название товара, которое не помещается в строку", 99999, 12345,
                                  tax=2, discount=100))
    host.call_ok(cmd.PrintLine("Комментарий внутри чека, тоже длинный, длиннее ширины ленты"))
    host.call_ok(cmd.CloseReceipt(0, 1, 0))
    host.call_ok(cmd.CashOut(0, 5000))
    host.call_ok(cmd.OpenReceipt(0, 1))
    host.call_ok(cmd.CancelReceipt())
    host.call_ok(cmd.LeaveMode())
    host.call_ok(cmd.EnterMode(2, 30))
    host.call_ok(cmd.XReport(1))
    host.call_ok(cmd.LeaveMode())
    host.call_ok(cmd.EnterMode(3, 30))
    host.call_ok(cmd.ZReport())
    kinds = [p.kind for p in sim.device.tape]
    assert kinds == ["shift_open", "cash_in", "receipt", "receipt", "cash_out", "cancelled", "x_report",
                     "shift_close"]
    for printed in sim.device.tape:
        assert all(len(line) <= width for line in printed.lines), (printed.kind, printed.lines)
    assert any("Комментарий" in line for line in sim.device.tape[3].lines)


def test_fiscal_documents_are_rendered_on_first_look_exactly_as_at_print_time() -> None:
    from simulators.atol.tape import DeferredPrintedDocument, render_fiscal_document

    config = DeviceConfig()
    sim = Simulator(config, clock=ManualClock(datetime(2026, 3, 14, 9, 30, 0)))
    host = InProcessHost(sim)
    open_registration(host)
    sell(host, ITEMS, [])
    printed = sim.device.tape[-1]
    assert isinstance(printed, DeferredPrintedDocument) and printed._render is not None  # nothing rendered yet
    assert printed.kind == "receipt" and printed.document_number == 2
    expected = render_fiscal_document(sim.documents[-1], DeviceConfig())
    config.registration.seller_name = "ИП Позже"  # a later change does not reach a printed document
    assert printed.lines == expected.lines and printed.qr == expected.qr and printed.meta == expected.meta
    assert printed == expected and printed.text() == expected.text()
    assert printed._render is None  # rendered once, kept
    assert sim.device.lines_printed == 0  # no per-line print time: lines are not counted (nor rendered)


def test_on_print_and_line_timing_still_see_every_rendered_line() -> None:
    from simulators.atol import WireTiming

    seen: list[str] = []
    sim = Simulator(DeviceConfig(), clock=ManualClock(datetime(2026, 3, 14, 9, 30, 0)),
                    timing=WireTiming(line_seconds=0.001))
    sim.device.on_print = lambda printed: seen.append(printed.text())
    host = InProcessHost(sim)
    open_registration(host)
    sell(host, ITEMS, [])
    assert len(seen) == 2 and "ФИСКАЛЬНЫЙ ЧЕК" in seen[-1]
    assert sim.device.lines_printed == sum(len(p.lines) for p in sim.device.tape) > 0
