"""What every document an agency issues as a PDF shares: the font (Noto Serif SC from a wheel,
``pylopdf-fonts-zh-cn``, SIL OFL 1.1, subset and embedded, so rendering needs no system font), the
check that no text carries a control or invisible character, dates as Chinese documents write
them, the colours, and QR codes drawn as vectors."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import segno
from fpdf import FPDF

RED = (176, 28, 36)
INK = (20, 20, 20)
FONT = "NotoSerifSC"

# Characters no printed item may carry: controls, format (bidi overrides, zero-width…),
# private-use, surrogates, unassigned, and line or paragraph separators.
_REFUSED = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


class UnsafeText(ValueError):
    """An item holds a control or invisible character, or nothing."""


def clean(item: str, value: str, *, multiline: bool = False) -> str:
    """``value`` stripped, if it is printable text; ``UnsafeText`` naming ``item`` otherwise."""
    value = value.strip()
    for ch in value:
        if unicodedata.category(ch) in _REFUSED and not (multiline and ch == "\n"):
            raise UnsafeText(f"{item} contains a control or invisible character (U+{ord(ch):04X})")
    if not value:
        raise UnsafeText(f"{item} is empty")
    return value


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def font_path() -> str:
    import pylopdf_fonts_zh_cn

    return str(pylopdf_fonts_zh_cn.serif_path())


def begin(pdf: FPDF, issued_on: date, title: str, subject: str, author: str | None = None) -> None:
    """The document's font, metadata (dated the day it was issued, in Chinese) and first page."""
    pdf.add_font(FONT, fname=font_path())
    pdf.set_creation_date(datetime.combine(issued_on, datetime.min.time(), tzinfo=UTC))
    pdf.set_title(title)
    pdf.set_subject(subject)
    if author is not None:
        pdf.set_author(author)
    pdf.set_creator("OneVisit")
    pdf.set_lang("zh-CN")
    pdf.add_page()
    pdf.set_font(FONT, size=12)


def double_frame(pdf: FPDF, x: float, y: float, w: float, h: float, outer_width: float) -> None:
    """The red frame official papers carry: a heavy rule and a thin one 2.5 mm inside it."""
    pdf.set_draw_color(*RED)
    pdf.set_line_width(outer_width)
    pdf.rect(x, y, w, h)
    pdf.set_line_width(0.3)
    pdf.rect(x + 2.5, y + 2.5, w - 5, h - 5)


def draw_qr(pdf: FPDF, qr: segno.QRCode, x: float, y: float, size: float) -> None:
    """The QR code as vector modules (one rectangle per run of dark modules in a row), with its
    four-module quiet zone kept white."""
    matrix = [list(row) for row in qr.matrix]
    count = len(matrix)
    module = size / (count + 8)
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < count:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < count and row[c]:
                c += 1
            pdf.rect(x + (4 + start) * module, y + (4 + r) * module, (c - start) * module, module, style="F")
