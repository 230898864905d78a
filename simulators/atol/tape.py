"""The printed tape: every document as the lines a 58 mm (32 chars) or 80 mm (48 chars) printer prints.

Why render at all: integrators need to see what the customer gets, and the KZ receipt has mandatory
content (reference `fiscal-rules-kz-uz-ru.md` §1.2) that a test can check on the tape itself: seller
name and BIN, factory (ЗНМ) and registration (РНМ) numbers, shift and receipt numbers, date-time,
items with quantity, unit and price, VAT per rate, payments, change, fiscal sign, OFD name and site,
"ФИСКАЛЬНЫЙ ЧЕК", an offline mark, and a QR code with the verification URL (§1.3):
`<ofd host>?i=<fiscal sign>&f=<registration number>&s=<total, 2 decimals>&t=<YYYYMMDDTHHMMSS>`.

Labels are bilingual where Webkassa's print forms are (Kazakh first: `БСН/БИН`, `ФБ/ФП`, «ФИСКАЛДЫ
ЧЕК» above «ФИСКАЛЬНЫЙ ЧЕК»), reference §1.2.

Exports: plain text (`PrintedDocument.text()`), a PNG image (`to_png()`, pillow) and an HTML page
(`to_html()`), both with a real QR code made by the `qrcode` library.
"""

from __future__ import annotations

import base64
import copy
import html
import io
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from kkm_bridge.model.money import format_amount, format_quantity

if TYPE_CHECKING:  # pragma: no cover
    from .config import DeviceConfig
    from .fiscal_memory import FiscalDocument
    from .state import DurableState

#: Marker line the QR image replaces in PNG/HTML output.
QR_MARK = "[QR-код]"
RECEIPT_TYPE_NAMES = {1: "ПРОДАЖА", 2: "ВОЗВРАТ ПРОДАЖИ", 4: "ПОКУПКА", 5: "ВОЗВРАТ ПОКУПКИ"}
PAY_TYPE_NAMES = {1: "Наличные", 2: "Банковская карта", 3: "Предоплата", 4: "Кредит", 5: "Иная форма оплаты"}
DEFAULT_UNIT = "шт"


@dataclass
class PrintedDocument:
    """One printed document: its lines, and the QR payload if it carries one."""

    kind: str
    lines: list[str]
    width: int
    qr: str | None = None
    document_number: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def qr_image(self, box_size: int = 4, border: int = 2) -> Any:
        """The QR code as a PIL image (None if this document has no QR)."""
        if self.qr is None:
            return None
        import qrcode

        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border)
        code.add_data(self.qr)
        code.make(fit=True)
        return code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")

    def to_png(self) -> bytes:
        """Render the document as a PNG image (monospace text, the QR code where it is printed)."""
        from PIL import Image, ImageDraw

        font = _font()
        text_w = int(font.getlength("M" * self.width)) + 1
        line_h = max(12, font.getbbox("IgM")[3] + 4)
        qr = self.qr_image()
        margin = 8
        width = max(text_w, qr.width if qr is not None else 0) + 2 * margin
        height = 2 * margin
        for line in self.lines:
            height += qr.height if (line == QR_MARK and qr is not None) else line_h
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        y = margin
        for line in self.lines:
            if line == QR_MARK and qr is not None:
                image.paste(qr, ((width - qr.width) // 2, y))
                y += qr.height
                continue
            try:
                draw.text((margin, y), line, fill="black", font=font)
            except UnicodeEncodeError:  # a bitmap fallback font without Cyrillic (no DejaVu installed)
                draw.text((margin, y), line.encode("ascii", "replace").decode("ascii"), fill="black", font=font)
            y += line_h
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    def to_html(self) -> str:
        """A standalone HTML page: the tape in a <pre>, the QR code as an inline PNG."""
        parts = []
        for line in self.lines:
            if line == QR_MARK and self.qr is not None:
                buffer = io.BytesIO()
                self.qr_image().save(buffer, format="PNG")
                data = base64.b64encode(buffer.getvalue()).decode("ascii")
                parts.append(
                    f'</pre><div style="text-align:center"><img alt="QR" title="{html.escape(self.qr)}" '
                    f'src="data:image/png;base64,{data}"></div><pre>'
                )
            else:
                parts.append(html.escape(line) + "\n")
        body = "".join(parts)
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
            f"{html.escape(self.kind)} {self.document_number or ''}</title></head>"
            f'<body><div style="width:{self.width}ch;font-family:monospace;border:1px solid #ccc;padding:8px">'
            f"<pre>{body}</pre></div></body></html>"
        )


class DeferredPrintedDocument(PrintedDocument):
    """A fiscal document on the tape that is rendered the first time someone looks at it.

    Rendering a receipt (wrapping, centring, the QR URL) costs about as much as the rest of the command,
    and a simulator inside a daemon prints thousands of documents nobody reads. This keeps what the
    rendering needs (the committed document, a snapshot of the configuration, the receipt's extra text)
    and renders on the first access to `lines` or `qr` (`text()`, `to_png()`, `on_print`, --tape-dir):
    the result is exactly what `render_fiscal_document` gave at print time.
    """

    def __init__(self, kind: str, width: int, document_number: int | None, meta: dict[str, Any],
                 render: Callable[[], PrintedDocument]) -> None:  # noqa: D107 - not the dataclass __init__
        self.kind = kind
        self.width = width
        self.document_number = document_number
        self.meta = meta
        self._render: Callable[[], PrintedDocument] | None = render
        self._lines: list[str] = []
        self._qr: str | None = None

    def _materialise(self) -> None:
        if self._render is not None:
            printed = self._render()
            self._render = None
            self._lines, self._qr = printed.lines, printed.qr

    @property  # type: ignore[override]
    def lines(self) -> list[str]:
        self._materialise()
        return self._lines

    @lines.setter
    def lines(self, value: list[str]) -> None:
        self._materialise()
        self._lines = value

    @property  # type: ignore[override]
    def qr(self) -> str | None:
        self._materialise()
        return self._qr

    @qr.setter
    def qr(self, value: str | None) -> None:
        self._materialise()
        self._qr = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrintedDocument):
            return NotImplemented
        return (self.kind, self.lines, self.width, self.qr, self.document_number, self.meta) == (
            other.kind, other.lines, other.width, other.qr, other.document_number, other.meta)

    __hash__ = None  # type: ignore[assignment]


_T = TypeVar("_T")


def _shallow_copy(obj: _T) -> _T:
    """`copy.copy` of a plain (dict-based) dataclass, without the `__reduce_ex__` protocol: it runs
    twice per fiscal document (~5x cheaper)."""
    if type(obj).__dict__.get("__slots__") is not None or not hasattr(obj, "__dict__"):
        return copy.copy(obj)
    clone = object.__new__(type(obj))
    clone.__dict__.update(obj.__dict__)
    return clone


def defer_fiscal_document(
    document: "FiscalDocument",
    config: "DeviceConfig",
    tax_table: dict[int, Any] | None = None,
    extra_lines: list[str] | None = None,
) -> PrintedDocument:
    """`render_fiscal_document`, deferred to the first look (see `DeferredPrintedDocument`). The
    configuration is snapshotted (a later change of registration data does not reach a printed document);
    `document` is a committed document, which nothing changes."""
    config = _shallow_copy(config)
    config.registration = _shallow_copy(config.registration)
    extra = list(extra_lines) if extra_lines else None
    return DeferredPrintedDocument(
        document.kind, config.line_width, document.number,
        {"total": document.total, "fiscal_sign": document.fiscal_sign},
        lambda: render_fiscal_document(document, config, tax_table, extra),
    )


def _font() -> Any:
    from PIL import ImageFont

    for name in ("DejaVuSansMono.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"):
        try:
            return ImageFont.truetype(name, 14)
        except OSError:
            continue
    return ImageFont.load_default()


# -- layout helpers --------------------------------------------------------------------------------


def center(text: str, width: int) -> list[str]:
    return [line.center(width).rstrip() for line in textwrap.wrap(text, width) or [""]]


def pair(left: str, right: str, width: int) -> str:
    """`left ..... right` on one line; the left part is cut if both do not fit."""
    room = width - len(right) - 1
    if room < 1:
        return (left + " " + right)[:width]
    return left[:room].ljust(room) + " " + right


def rule(width: int, char: str = "-") -> str:
    return char * width


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(text, width, initial_indent="", subsequent_indent=indent) or [""]


def money(minor: int) -> str:
    return format_amount(minor)


def qr_url(base: str, fiscal_sign: str, registration_number: str, total: int, when: datetime) -> str:
    """The verification URL of a receipt (reference §1.3)."""
    return f"{base}?i={fiscal_sign}&f={registration_number}&s={format_amount(total)}&t={when:%Y%m%dT%H%M%S}"


def _header(config: "DeviceConfig", width: int) -> list[str]:
    reg = config.registration
    lines = center(reg.seller_name, width) + center(f"БСН/БИН {reg.seller_bin}", width) + center(reg.address, width)
    lines += [pair("КЗН/ЗНМ:", reg.factory_number, width), pair("КТН/РНМ:", reg.registration_number, width)]
    lines += [pair("КСН/ИНК ОФД:", reg.ofd_kkm_id, width)]
    return lines


def _footer(document: "FiscalDocument", config: "DeviceConfig", width: int, when: datetime) -> list[str]:
    reg = config.registration
    lines = [rule(width)]
    lines.append(pair("ФД №", str(document.number), width))
    lines.append(pair("ФБ/ФП:", document.fiscal_sign, width))
    lines.append(pair("Уақыты/Время:", f"{when:%d.%m.%Y %H:%M:%S}", width))
    lines += wrap(f"ФДО/ОФД: {reg.ofd_name}", width)
    lines += wrap(f"Проверка чека: {reg.ofd_site}", width)
    if document.offline:
        lines += center("АВТОНОМДЫ РЕЖИМ", width) + center("АВТОНОМНЫЙ РЕЖИМ", width)
    return lines


def render_fiscal_document(
    document: "FiscalDocument",
    config: "DeviceConfig",
    tax_table: dict[int, Any] | None = None,
    extra_lines: list[str] | None = None,
) -> PrintedDocument:
    """Render a stored fiscal document as printed; used at close time and to reprint from memory."""
    width = config.line_width
    when = datetime.fromisoformat(document.date_time)
    lines = _header(config, width)
    qr: str | None = None
    if document.kind == "receipt":
        lines += [pair(f"Ауысым/Смена №{document.shift_number}", f"Чек №{document.receipt_number}", width)]
        lines += [RECEIPT_TYPE_NAMES.get(document.receipt_type or 0, "ЧЕК").center(width).rstrip()]
        lines += [pair(f"Кассир {document.operator}", f"{when:%d.%m.%Y %H:%M:%S}", width), rule(width)]
        for index, line in enumerate(document.lines, 1):
            lines += wrap(f"{index}. {line['name']}", width, indent="   ")
            qty = f"{format_quantity(line['quantity'])} {DEFAULT_UNIT} x {money(line['price'])}"
            lines.append(pair("   " + qty, money(line["amount"] + line["discount"]), width))
            if line["discount"]:
                label = "   Скидка" if line["discount"] > 0 else "   Наценка"
                lines.append(pair(label, money(-line["discount"]), width))
            rate = line.get("vat_rate")
            vat_label = f"   НДС {rate}%" if rate is not None else "   Без НДС"
            lines.append(pair(vat_label, money(line["vat"]), width))
        for text in extra_lines or []:
            lines += wrap(text, width) if text else [""]
        lines.append(rule(width))
        if document.discount:
            lines.append(pair("Скидка на чек", money(document.discount), width))
        lines.append(pair("БАРЛЫҒЫ/ИТОГО:", "=" + money(document.total), width))
        for payment in document.payments:
            lines.append(pair(PAY_TYPE_NAMES.get(payment["type"], str(payment["type"])), money(payment["amount"]), width))
        lines.append(pair("Сдача", money(document.change), width))
        for group in document.vat:
            label = f"НДС {group['rate']}%" if group["rate"] is not None else "Без НДС"
            lines.append(pair(f"{label} (база {money(group['base'])})", money(group["amount"]), width))
        lines += _footer(document, config, width, when)
        lines += center("ФИСКАЛДЫ ЧЕК", width) + center("ФИСКАЛЬНЫЙ ЧЕК", width)
        qr = qr_url(config.registration.qr_url_base, document.fiscal_sign, document.registration_number,
                    document.total, when)
        lines.append(QR_MARK)
        lines += wrap(qr, width)
    elif document.kind in ("shift_open", "shift_close"):
        title = "ОТКРЫТИЕ СМЕНЫ" if document.kind == "shift_open" else "Z-ОТЧЁТ (ЗАКРЫТИЕ СМЕНЫ)"
        lines += center(title, width)
        lines += [pair("Смена №", str(document.shift_number), width), pair("Кассир", str(document.operator), width)]
        if document.counters is not None:
            lines += _counter_lines(document.counters, width)
            lines.append(pair("Наличных в кассе", money(document.cash_in_drawer), width))
        lines += _footer(document, config, width, when)
    else:  # cash_in / cash_out
        title = "ВНЕСЕНИЕ НАЛИЧНЫХ" if document.kind == "cash_in" else "ИЗЪЯТИЕ НАЛИЧНЫХ"
        lines += center(title, width)
        lines += [pair("Смена №", str(document.shift_number), width), pair("Сумма", money(document.total), width)]
        lines.append(pair("Наличных в кассе", money(document.cash_in_drawer), width))
        lines += _footer(document, config, width, when)
    return PrintedDocument(document.kind, lines, width, qr=qr, document_number=document.number,
                           meta={"total": document.total, "fiscal_sign": document.fiscal_sign})


def _counter_lines(counters: dict[str, Any], width: int) -> list[str]:
    lines = []
    for key in sorted(counters.get("by_type", {}), key=int):
        data = counters["by_type"][key]
        lines.append(rule(width))
        lines.append(pair(RECEIPT_TYPE_NAMES.get(int(key), key), f"{data['count']} чек.", width))
        lines.append(pair("  Сумма", money(data["total"]), width))
        for pay in sorted(data.get("payments", {}), key=int):
            lines.append(pair("  " + PAY_TYPE_NAMES.get(int(pay), pay), money(data["payments"][pay]), width))
        for tax, amount in sorted(data.get("vat", {}).items()):
            lines.append(pair(f"  НДС (ставка {tax})", money(amount), width))
    lines.append(rule(width))
    lines.append(pair(f"Внесения ({counters.get('cash_in_count', 0)})", money(counters.get("cash_in_total", 0)), width))
    lines.append(pair(f"Изъятия ({counters.get('cash_out_count', 0)})", money(counters.get("cash_out_total", 0)), width))
    return lines


def render_x_report(durable: "DurableState", config: "DeviceConfig", now: datetime, tax_table: Any = None) -> PrintedDocument:
    width = config.line_width
    lines = _header(config, width) + center("X-ОТЧЁТ", width)
    lines += [pair("Смена №", str(durable.shift_number), width), pair("Время:", f"{now:%d.%m.%Y %H:%M:%S}", width)]
    lines += _counter_lines(durable.counters.to_dict(), width)
    lines.append(pair("Наличных в кассе", money(durable.cash_in_drawer), width))
    lines += center("НЕФИСКАЛЬНЫЙ ДОКУМЕНТ", width)
    return PrintedDocument("x_report", lines, width)


def render_text_document(text_lines: list[str], width: int, kind: str = "text") -> PrintedDocument:
    lines: list[str] = []
    for text in text_lines:
        lines += wrap(text, width) if text else [""]
    return PrintedDocument(kind, lines, width)
