"""The electronic business licence (电子营业执照) as a PDF: the licence's registration items in
Chinese, as on the 2019 format (GOV-NOTES), and a QR code that opens the public check of this
licence (the page ``/check?code=CODE``, which answers as ``GET /api/v1/public/licences/{code}``), so
anyone who holds the paper or the file can learn whether it is genuine and valid now.

The items come from the licence register (the code, the name and the date the business licence
step issued) and from the application the licence was issued on (type, legal representative,
capital, domicile, scope). Only a licence valid on the register is rendered; a revoked or unknown
one is refused (``LicenceNotValid``), and every text is refused if it carries a control or
invisible character, whatever validated it before.

The font, the check on text and the QR drawing are every agency document's (``agencies.paper``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import segno
from fpdf import FPDF
from fpdf.enums import MethodReturnValue, WrapMode

from agencies.identifiers import JINAN_CITY, JINAN_DIVISIONS, validate_uscc
from agencies.names import FORMS
from agencies.paper import INK, RED, begin, chinese_date, clean, double_frame, draw_qr
from agencies.paper import UnsafeText as UnsafeText  # what LicenceDocument raises, named here too
from agencies.register import LicenceStatus

CITY_NAME = "济南市"
TITLE = "营业执照"
QR_CAPTION = "扫描二维码核验本执照的真伪与状态"
FOOTER = "本执照的真伪与是否有效，以扫描二维码所得的登记机关实时核验结果为准。"
SCOPE_NOTE = "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"


class LicenceNotValid(ValueError):
    """No document for a licence that is not valid on the register (revoked, or unknown here)."""

    def __init__(self, status: LicenceStatus):
        when = f" on {status.revoked_on}" if status.revoked_on else ""
        super().__init__(f"the business licence {status.code} is {status.status}{when}: no licence document is issued")
        self.status = status


# ------------------------------------------------------------------------------------ items
_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_LARGE_UNITS = ("", "万", "亿", "万亿")


def _group_in_words(group: int) -> str:
    """0 < group < 10000 in financial numerals, inner zeros read once (1005: 壹仟零伍)."""
    out, zero = "", False
    for pos in (3, 2, 1, 0):
        digit = group // 10**pos % 10
        if digit == 0:
            zero = zero or bool(out)
            continue
        out += ("零" if zero else "") + _DIGITS[digit] + _SMALL_UNITS[pos]
        zero = False
    return out


def capital_in_words(yuan: int) -> str:
    """Registered capital as a licence writes it: 1000000 -> 壹佰万元整 (whole yuan, up to 10^16)."""
    if not 0 < yuan < 10**16:
        raise ValueError(f"registered capital must be 1 to 10^16 - 1 yuan, not {yuan}")
    groups = []
    while yuan:
        yuan, group = divmod(yuan, 10000)
        groups.append(group)
    out, zero = "", False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            zero = zero or bool(out)
            continue
        if out and (zero or group < 1000):
            out += "零"
        out += _group_in_words(group) + _LARGE_UNITS[index]
        zero = False
    return out + "元整"


def entity_type(company_name: str, shareholders: int) -> str:
    """主体类型 from the legal form ending the name; every shareholder here is a natural person
    (each gives a resident ID number)."""
    form = next((f for f in FORMS if company_name.endswith(f)), None)
    if form == "股份有限公司":
        return "股份有限公司（非上市、自然人投资或控股）"
    if form is None:
        raise ValueError(f"company name must end with its legal form ({' / '.join(FORMS)})")
    return "有限责任公司（自然人独资）" if shareholders == 1 else "有限责任公司（自然人投资或控股）"


def registration_authority(division: str) -> str:
    """登记机关: the market regulation bureau of the company's district (济南市历下区市场监督管理局)."""
    if division == JINAN_CITY:
        return f"{CITY_NAME}市场监督管理局"
    if division not in JINAN_DIVISIONS:
        raise ValueError(f"division {division!r} is not one of Jinan's")
    return f"{CITY_NAME}{JINAN_DIVISIONS[division]}市场监督管理局"


def check_url(base_url: str, code: str) -> str:
    """The public check page of one licence, as its QR code carries it (a phone opens a page that
    says in words whether it is genuine and valid; the same answer as GET /api/v1/public/licences/CODE)."""
    return f"{base_url.rstrip('/')}/check?code={validate_uscc(code)}"


@dataclass(frozen=True)
class LicenceDocument:
    """The registration items a licence shows, checked: a well-formed code, and no text with a
    control or invisible character."""

    uscc: str
    company_name: str
    entity_type: str
    legal_representative: str
    registered_capital_cny: int
    established_on: date
    domicile: str
    business_scope: str
    authority: str
    issued_on: date
    check_url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "uscc", validate_uscc(self.uscc))
        for item in ("company_name", "entity_type", "legal_representative", "domicile", "authority", "check_url"):
            object.__setattr__(self, item, clean(item, getattr(self, item)))
        object.__setattr__(self, "business_scope", clean("business_scope", self.business_scope, multiline=True))
        if not self.check_url.endswith(f"/check?code={self.uscc}"):
            raise ValueError(f"the QR code must open the public check of {self.uscc}, not {self.check_url}")

    @classmethod
    def issued(cls, status: LicenceStatus, application: dict[str, Any], base_url: str) -> LicenceDocument:
        """The document of a licence the register holds as valid, with the items of the application
        it was issued on. Any other status is refused (``LicenceNotValid``)."""
        if status.status != "valid" or not status.company_name or not status.issued_on:
            raise LicenceNotValid(status)
        company = application["company"]
        day = date.fromisoformat(status.issued_on)
        return cls(
            uscc=status.code,
            company_name=status.company_name,
            entity_type=entity_type(status.company_name, len(application["shareholders"])),
            legal_representative=application["legal_representative"]["name"],
            registered_capital_cny=int(company["registered_capital_cny"]),
            established_on=day,
            domicile=company["address"],
            business_scope=company["business_scope"],
            authority=registration_authority(company["division"]),
            issued_on=day,
            check_url=check_url(base_url, status.code),
        )


# --------------------------------------------------------------------------------- rendering
def qr_code(url: str) -> segno.QRCode:
    return segno.make_qr(url, error="m")


class _Licence(FPDF):
    def fit(self, text: str, width: float, size: float, smallest: float) -> float:
        """The largest font size from ``size`` down to ``smallest`` at which ``text`` is one line."""
        while size > smallest:
            self.set_font_size(size)
            if self.get_string_width(text) <= width - 2 * self.c_margin:
                return size
            size -= 0.5
        self.set_font_size(smallest)
        return smallest

    def item(self, x: float, y: float, label: str, value: str, width: float) -> float:
        """A label (spaced, as printed licences do) and its value wrapping by character; returns
        the y below it."""
        self.set_text_color(*INK)
        self.set_font_size(12)
        self.set_xy(x, y)
        self.cell(26, 7, label)
        size = self.fit(value, width - 28, 12, 9)
        self.set_xy(x + 28, y)
        self.multi_cell(width - 28, size * 0.55, value, wrapmode=WrapMode.CHAR, align="L")
        return max(self.get_y(), y + 7) + 3

    def box(self, x: float, y: float, label: str, value: str, width: float, height: float) -> None:
        """A long item (the business scope) shrunk until it fits its box."""
        self.set_font_size(12)
        self.set_xy(x, y)
        self.cell(26, 7, label)
        size = 11.0
        while True:
            self.set_font_size(size)
            lines = self.multi_cell(
                width - 28,
                size * 0.5,
                value,
                wrapmode=WrapMode.CHAR,
                dry_run=True,
                output=MethodReturnValue.LINES,
            )
            if len(lines) * size * 0.5 <= height or size <= 5:
                break
            size -= 0.5
        self.set_xy(x + 28, y + 0.8)
        self.multi_cell(width - 28, size * 0.5, value, wrapmode=WrapMode.CHAR, align="L")


def _spaced(label: str) -> str:
    """A two-character label spread to the width of a four-character one (名　　称), as printed."""
    return "\u3000\u3000".join(label) if len(label) == 2 else label


def render_licence(doc: LicenceDocument) -> bytes:
    """The e-licence: A4 landscape, the code top left, the QR code of the public check top right,
    the items in two columns, the registration authority and date bottom right."""
    pdf = _Licence(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    begin(pdf, doc.issued_on, f"{TITLE} {doc.company_name} {doc.uscc}", "电子营业执照")
    double_frame(pdf, 8, 8, 281, 194, 1.2)

    # code, top left
    pdf.set_text_color(*INK)
    pdf.set_xy(20, 20)
    pdf.set_font_size(11)
    pdf.cell(text="统一社会信用代码")
    pdf.set_xy(20, 26)
    pdf.set_font_size(15)
    pdf.cell(text=doc.uscc)

    # QR code of the public check, top right, with its caption
    draw_qr(pdf, qr_code(doc.check_url), x=246, y=16, size=32)
    pdf.set_font_size(7)
    pdf.set_xy(226, 49)
    pdf.multi_cell(60, 3.2, QR_CAPTION, align="C")
    pdf.set_font_size(5.5)
    pdf.set_xy(216, 53)
    pdf.multi_cell(70, 2.6, doc.check_url, align="C", wrapmode=WrapMode.CHAR)

    # title
    pdf.set_text_color(*RED)
    pdf.set_font_size(40)
    pdf.set_xy(0, 30)
    pdf.cell(297, 16, "\u2002".join(TITLE), align="C")
    pdf.set_font_size(12)
    pdf.set_xy(0, 48)
    pdf.cell(297, 7, "（电子营业执照）", align="C")

    # the items: name, type, legal representative and scope on the left; capital, date and domicile on the right
    left, right = 24, 150
    y = 66
    y = pdf.item(left, y, _spaced("名称"), doc.company_name, 124)
    y = pdf.item(left, y, _spaced("类型"), doc.entity_type, 124)
    y = pdf.item(left, y, "法定代表人", doc.legal_representative, 124)
    scope = doc.business_scope.replace("\n", "；").replace(";", "；").rstrip("；。 ") + "。\n" + SCOPE_NOTE
    pdf.box(left, y, "经营范围", scope, 124, 178 - y)
    y = 66
    y = pdf.item(right, y, "注册资本", capital_in_words(doc.registered_capital_cny), 128)
    y = pdf.item(right, y, "成立日期", chinese_date(doc.established_on), 128)
    y = pdf.item(right, y, _spaced("住所"), doc.domicile, 128)

    # registration authority and date, bottom right; the footer
    pdf.set_text_color(*INK)
    pdf.set_font_size(12)
    pdf.set_xy(right + 48, 160)
    pdf.cell(text="登记机关")
    pdf.set_xy(right + 48, 168)
    pdf.cell(text=doc.authority)
    pdf.set_xy(right + 48, 176)
    pdf.cell(text=chinese_date(doc.issued_on))
    pdf.set_font_size(7.5)
    pdf.set_xy(0, 188)
    pdf.cell(297, 5, FOOTER, align="C")
    return bytes(pdf.output())
