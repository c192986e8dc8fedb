"""The certificates the agencies issue after the business licence, as PDFs: the seal filing
(印章备案), the tax registration notice, the employer's social-security registration, the housing
fund's unit registration and the basic bank account. Chinese first with English subtitles, as the
e-licence.

Each is made from one signed, anchored handoff and nothing else: the outputs the issuing agency
signed (seal numbers, taxpayer type, account numbers…), the company's name and credit code from
the business licence's handoff, and where it rests on the ledger (the handoff's hash, the anchor's
block and transaction), printed with the command that checks it (``onevisit audit verify CASE``).
So a certificate carries no personal data: nothing of the application is read to make one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from fpdf import FPDF
from fpdf.enums import WrapMode

from agencies.directory import AGENCIES
from agencies.identifiers import validate_uscc
from agencies.paper import INK, RED, begin, chinese_date, clean, double_frame

CHINA = timezone(timedelta(hours=8), "CST")  # the date a certificate gives is Beijing time's

SEAL_KINDS = {
    "official": ("公章", "Official seal"),
    "finance": ("财务专用章", "Finance seal"),
    "invoice": ("发票专用章", "Invoice seal"),
    "contract": ("合同专用章", "Contract seal"),
    "legal_representative": ("法定代表人名章", "Legal representative's seal"),
}
TAXPAYER_TYPES = {
    "small_scale": ("小规模纳税人", "small-scale taxpayer"),
    "general": ("一般纳税人", "general taxpayer"),
}

Row = tuple[str, str, str]  # (label in Chinese, its English subtitle, the value)


class NotACertificate(ValueError):
    """The handoff is not one that issues a certificate (another step, or not completed)."""


@dataclass(frozen=True)
class Kind:
    """What one step issues: its certificate's kind, title in both languages, and the rows its
    signed outputs make (a table below them for the seals)."""

    kind: str
    title_zh: str
    title_en: str
    rows: Callable[[dict[str, Any]], list[Row]]
    table: Callable[[dict[str, Any]], list[Row]] | None = None


def _seal_rows(outputs: dict[str, Any]) -> list[Row]:
    return [("印章数量", "Seals filed", f"{len(outputs['seals'])} 枚")]


def _seal_table(outputs: dict[str, Any]) -> list[Row]:
    out = []
    for seal in outputs["seals"]:
        zh, en = SEAL_KINDS.get(seal["kind"], (seal["kind"], seal["kind"]))
        out.append((zh, en, str(seal["number"])))
    return out


def _tax_rows(outputs: dict[str, Any]) -> list[Row]:
    zh, en = TAXPAYER_TYPES.get(outputs["taxpayer_type"], (outputs["taxpayer_type"],) * 2)
    rows = [
        ("纳税人识别号", "Taxpayer ID", str(outputs["taxpayer_id"])),
        ("纳税人类型", "Taxpayer type", f"{zh}（{en}）"),
        ("主管税务机关", "Tax office", str(outputs["tax_office"])),
        ("预计年销售额", "Declared annual sales", f"{int(outputs.get('declared_annual_sales_cny') or 0):,} 元"),
    ]
    for quota in outputs.get("invoice_quota") or []:
        limit = f"单张最高 {int(quota['max_amount_cny']):,} 元，每月 {int(quota['copies_per_month'])} 份"
        rows.append(("发票核定", "Invoice quota", f"{quota['kind']}：{limit}"))
    return rows


def _insurances(outputs: dict[str, Any]) -> str:
    return "、".join(str(i["name"]) for i in outputs.get("insurances") or []) or "—"


def _social_rows(outputs: dict[str, Any]) -> list[Row]:
    return [
        ("单位社保编号", "Employer number", str(outputs["social_security_employer_id"])),
        ("参保人数", "Insured staff", f"{int(outputs['insured_staff'])} 人"),
        ("参保险种", "Insurances", _insurances(outputs)),
    ]


def _housing_rows(outputs: dict[str, Any]) -> list[Row]:
    return [
        ("单位账号", "Unit account", str(outputs["housing_fund_unit_account"])),
        ("缴存人数", "Contributing staff", f"{int(outputs['insured_staff'])} 人"),
    ]


def _bank_rows(outputs: dict[str, Any]) -> list[Row]:
    return [
        ("账号", "Account number", str(outputs["basic_account"])),
        ("账户性质", "Account type", "基本存款账户（basic deposit account）"),
    ]


# step of the business registration flow -> what it issues (the licence is the e-licence's own)
KINDS: dict[str, Kind] = {
    "seal_approval": Kind("seal_filing", "印章备案证明", "Seal filing certificate", _seal_rows, _seal_table),
    "tax_registration": Kind("tax_registration", "税务登记通知书", "Tax registration notice", _tax_rows),
    "social_security": Kind(
        "social_security", "社会保险登记证明", "Employer social-security registration", _social_rows
    ),
    "housing_fund": Kind("housing_fund", "住房公积金单位缴存登记证明", "Housing fund unit registration", _housing_rows),
    "bank_account": Kind("bank_account", "基本存款账户信息", "Basic deposit account", _bank_rows),
}


def agency_name(agency: str) -> tuple[str, str]:
    """(Chinese, English) name of an agency as the directory writes it."""
    zh, _, en = AGENCIES.get(agency, agency).partition(" ")
    return zh, en or agency


@dataclass(frozen=True)
class Certificate:
    """One certificate's content, checked: a well-formed credit code and printable text only."""

    step: str
    kind: str
    title_zh: str
    title_en: str
    agency: str
    agency_zh: str
    agency_en: str
    company_name: str
    uscc: str
    issued_on: date
    rows: list[Row]
    table: list[Row] = field(default_factory=list)
    case_id: str = ""
    handoff: str = ""
    block_number: int = 0
    tx_hash: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "uscc", validate_uscc(self.uscc))
        for item in ("company_name", "case_id", "handoff", "tx_hash", "agency_zh"):
            object.__setattr__(self, item, clean(item, getattr(self, item)))
        for where in ("rows", "table"):
            checked = [tuple(clean(f"{where}[{i}]", str(v)) for v in row) for i, row in enumerate(getattr(self, where))]
            object.__setattr__(self, where, checked)

    @classmethod
    def issued(
        cls, record: dict[str, Any], anchor: dict[str, Any], licence: dict[str, Any], case_id: str
    ) -> Certificate:
        """The certificate a completed handoff ``record`` (its signed fields) issued, anchored as
        ``anchor`` says, for the company the licence's outputs ``licence`` name."""
        kind = KINDS.get(record["step"])
        if kind is None or record["outcome"] != "completed":
            raise NotACertificate(f"a {record['outcome']} {record['step']} handoff issues no certificate")
        outputs = record["outputs"]
        zh, en = agency_name(record["agency"])
        when = datetime.fromisoformat(record["time"].replace("Z", "+00:00")).astimezone(CHINA)
        return cls(
            step=record["step"],
            kind=kind.kind,
            title_zh=kind.title_zh,
            title_en=kind.title_en,
            agency=record["agency"],
            agency_zh=zh,
            agency_en=en,
            company_name=licence["company_name"],
            uscc=licence["uscc"],
            issued_on=when.date(),
            rows=kind.rows(outputs),
            table=kind.table(outputs) if kind.table else [],
            case_id=case_id,
            handoff=anchor["handoff"],
            block_number=int(anchor["block_number"]),
            tx_hash=anchor["tx_hash"],
        )

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.uscc}.pdf"


# --------------------------------------------------------------------------------- rendering
WIDTH, LEFT = 210, 22
TEXT_W = WIDTH - 2 * LEFT
FOOTER = "本证明的真伪以其签名记录与区块链存证为准：可用下列命令核验。"
FOOTER_EN = "This certificate stands on the signed handoff and its ledger anchor below: check them with the command."


class _Sheet(FPDF):
    def labelled(self, y: float, zh: str, en: str, value: str) -> float:
        """A label, its English subtitle beneath, and the value wrapping by character; the y below."""
        self.set_text_color(*INK)
        self.set_font_size(11.5)
        self.set_xy(LEFT, y)
        self.cell(44, 6, zh)
        self.set_font_size(7)
        self.set_text_color(90, 90, 90)
        self.set_xy(LEFT, y + 5.5)
        self.cell(44, 4, en)
        self.set_text_color(*INK)
        self.set_font_size(11.5)
        self.set_xy(LEFT + 46, y)
        self.multi_cell(TEXT_W - 46, 6, value, wrapmode=WrapMode.CHAR, align="L")
        return max(self.get_y(), y + 10) + 2.5


def render_certificate(cert: Certificate) -> bytes:
    """A4 portrait: the title and its English subtitle, the company, the items the agency signed
    (the seals in a table), the issuing agency and date, and the handoff and anchor to check."""
    pdf = _Sheet(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_margins(LEFT, 20, LEFT)
    begin(pdf, cert.issued_on, f"{cert.title_zh} {cert.company_name} {cert.uscc}", cert.title_en, cert.agency_zh)
    double_frame(pdf, 10, 10, 190, 277, 1.0)

    pdf.set_text_color(*RED)
    pdf.set_font_size(24)
    pdf.set_xy(0, 24)
    pdf.cell(WIDTH, 12, cert.title_zh, align="C")
    pdf.set_font_size(11)
    pdf.set_xy(0, 37)
    pdf.cell(WIDTH, 6, cert.title_en, align="C")

    y = 52
    y = pdf.labelled(y, "企业名称", "Company", cert.company_name)
    y = pdf.labelled(y, "统一社会信用代码", "Unified social credit code", cert.uscc)
    for zh, en, value in cert.rows:
        y = pdf.labelled(y, zh, en, value)
    if cert.table:
        y = _seal_table(pdf, y + 2, cert.table)

    y += 6
    y = pdf.labelled(y, "发证机关", "Issued by", f"{cert.agency_zh}（{cert.agency_en}）")
    y = pdf.labelled(y, "发证日期", "Date", chinese_date(cert.issued_on))

    # where it rests on the ledger, and how to check it
    pdf.set_draw_color(*RED)
    pdf.line(LEFT, y + 2, WIDTH - LEFT, y + 2)
    pdf.set_text_color(*INK)
    pdf.set_xy(LEFT, y + 5)
    pdf.set_font_size(9)
    pdf.multi_cell(TEXT_W, 5, FOOTER, align="L")
    pdf.set_font_size(7.5)
    pdf.set_x(LEFT)
    pdf.multi_cell(TEXT_W, 4, FOOTER_EN, align="L")
    pdf.ln(1.5)
    for label, value in (
        ("签名记录 Handoff", cert.handoff),
        ("存证区块 Ledger block", f"#{cert.block_number}"),
        ("存证交易 Transaction", cert.tx_hash),
        ("案件 Case", cert.case_id),
        ("核验 Check", f"onevisit audit verify {cert.case_id}"),
    ):
        pdf.set_x(LEFT)
        pdf.set_font_size(8)
        pdf.cell(38, 5, label)
        pdf.multi_cell(TEXT_W - 38, 5, value, wrapmode=WrapMode.CHAR, align="L")
    return bytes(pdf.output())


def _seal_table(pdf: _Sheet, y: float, rows: list[Row]) -> float:
    """The seals: kind (with its English name) and number, one row each, ruled."""
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.2)
    pdf.set_text_color(*INK)
    pdf.set_font_size(10)
    pdf.set_xy(LEFT, y)
    pdf.cell(TEXT_W / 2, 8, "印章类型 Seal", border=1, align="C")
    pdf.cell(TEXT_W / 2, 8, "印章编码 Seal number", border=1, align="C")
    y += 8
    for zh, en, number in rows:
        pdf.set_xy(LEFT, y)
        pdf.set_font_size(10.5)
        pdf.cell(TEXT_W / 2, 9, f"{zh}  {en}", border=1, align="L")
        pdf.cell(TEXT_W / 2, 9, number, border=1, align="C")
        y += 9
    pdf.set_y(y)
    return y + 2
