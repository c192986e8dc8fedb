"""The e-licence PDF, read back as a person or a bank would: its text extracted (PDFium, the engine
Chrome shows PDFs with) and its QR code decoded from the rendered page (zxing-cpp)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp

from agencies.identifiers import random_uscc
from agencies.licence_document import (
    LicenceDocument,
    LicenceNotValid,
    UnsafeText,
    capital_in_words,
    entity_type,
    registration_authority,
    render_licence,
)
from agencies.register import LicenceStatus

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "registration.json"
BASE = "https://onevisit.example"


def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def valid(code: str, name: str = "济南泉智信息科技有限公司") -> LicenceStatus:
    return LicenceStatus(code, True, "valid", name, "2026-11-22")


def read_back(pdf: bytes) -> tuple[int, str, list[str]]:
    """Pages, the first page's text, and every QR code decoded from it rendered at 144 dpi."""
    doc = pypdfium2.PdfDocument(pdf)
    page = doc[0]
    text = page.get_textpage().get_text_bounded()
    codes = [b.text for b in zxingcpp.read_barcodes(page.render(scale=2).to_pil()) if b.format.name == "QRCode"]
    return len(doc), text, codes


@pytest.fixture(scope="module")
def rendered() -> tuple[LicenceDocument, bytes]:
    doc = LicenceDocument.issued(valid(random_uscc("370102")), example(), BASE)
    return doc, render_licence(doc)


def test_the_licence_reads_back_with_its_items_exactly(rendered):
    doc, pdf = rendered
    pages, text, _codes = read_back(pdf)
    lines = text.splitlines()
    assert pages == 1
    assert doc.uscc in lines  # the code on a line of its own, top left
    assert "名\u3000\u3000称 济南泉智信息科技有限公司" in lines
    assert "类\u3000\u3000型 有限责任公司（自然人投资或控股）" in lines
    assert "法定代表人 李明" in lines
    assert "注册资本 壹佰万元整" in lines
    assert "成立日期 2026年11月22日" in lines
    assert "住\u3000\u3000所 山东省济南市历下区经十路 9999 号 A 座 1201 室" in lines
    assert "济南市历下区市场监督管理局" in lines
    assert "软件开发；信息技术咨询服务；数据处理服务。" in text


def test_the_qr_code_opens_the_public_check_of_this_licence(rendered):
    doc, pdf = rendered
    _pages, text, codes = read_back(pdf)
    assert codes == [f"{BASE}/check?code={doc.uscc}"] == [doc.check_url]
    assert doc.check_url in text.splitlines()  # printed under the code too, for whoever cannot scan


def test_the_font_is_embedded_so_no_system_font_is_needed(rendered):
    _doc, pdf = rendered
    assert b"/FontFile3" in pdf and b"NotoSerifSC" in pdf


def test_a_scope_at_its_longest_still_fits_one_page_and_the_qr_code_still_reads():
    app = example()
    app["company"]["business_scope"] = ("软件开发；信息技术咨询服务；数据处理服务；" * 100)[:2000]
    app["company"]["address"] = "山东省济南市历下区经十路 9999 号 A 座 1201 室" * 4
    doc = LicenceDocument.issued(valid(random_uscc("370102")), app, BASE)
    pages, _text, codes = read_back(render_licence(doc))
    assert pages == 1 and codes == [doc.check_url]


@pytest.mark.parametrize(
    "status",
    [
        LicenceStatus("91370102MA3C8G8X3E", True, "revoked", "济南泉智信息科技有限公司", "2026-11-22", "2026-11-23"),
        LicenceStatus("91370102MA3C8G8X3E", True, "unknown"),
    ],
    ids=["revoked", "unknown"],
)
def test_only_a_valid_licence_has_a_document(status):
    with pytest.raises(LicenceNotValid, match=f"is {status.status}"):
        LicenceDocument.issued(status, example(), BASE)


@pytest.mark.parametrize(
    "item, value",
    [
        ("company_name", "济南\u202e司公限有技科息信智泉"),  # right-to-left override
        ("company_name", "济南泉智\u200b信息科技有限公司"),  # zero-width space
        ("legal_representative", "李\u0000明"),
        ("domicile", "经十路\u2028 9999 号"),  # line separator
        ("business_scope", "软件开发\u2066；数据处理"),  # left-to-right isolate
    ],
    ids=["rlo-in-name", "zero-width-in-name", "nul-in-representative", "line-separator-in-domicile", "lri-in-scope"],
)
def test_control_and_invisible_characters_never_reach_the_pdf(rendered, item, value):
    doc, _pdf = rendered
    fields = {**doc.__dict__, item: value}
    with pytest.raises(UnsafeText, match=f"{item} contains a control or invisible character"):
        LicenceDocument(**fields)


def test_a_qr_code_pointing_at_another_licence_is_refused(rendered):
    doc, _pdf = rendered
    other = random_uscc("370103")
    with pytest.raises(ValueError, match="must open the public check of"):
        LicenceDocument(**{**doc.__dict__, "check_url": f"{BASE}/check?code={other}"})


def test_a_malformed_code_is_refused():
    with pytest.raises(ValueError, match="check"):
        LicenceDocument.issued(valid("91370102MA3C8G8X3F"), example(), BASE)


@pytest.mark.parametrize(
    "yuan, words",
    [
        (1, "壹元整"),
        (10, "壹拾元整"),
        (1005, "壹仟零伍元整"),
        (1050, "壹仟零伍拾元整"),
        (30_000, "叁万元整"),
        (1_000_000, "壹佰万元整"),
        (10_000_500, "壹仟万零伍佰元整"),
        (10_050_000, "壹仟零伍万元整"),
        (50_000_000, "伍仟万元整"),
        (100_010_000, "壹亿零壹万元整"),
        (1_234_567_890, "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元整"),
        (10**12, "壹万亿元整"),
    ],
)
def test_registered_capital_in_financial_numerals(yuan, words):
    assert capital_in_words(yuan) == words


def test_type_and_authority_as_the_register_writes_them():
    assert entity_type("济南泉智信息科技有限公司", 1) == "有限责任公司（自然人独资）"
    assert entity_type("济南泉智信息科技有限责任公司", 3) == "有限责任公司（自然人投资或控股）"
    assert entity_type("济南泉智信息科技股份有限公司", 5) == "股份有限公司（非上市、自然人投资或控股）"
    assert registration_authority("370112") == "济南市历城区市场监督管理局"
    with pytest.raises(ValueError, match="not one of Jinan's"):
        registration_authority("110101")


def test_the_same_licence_renders_the_same_bytes(rendered):
    doc, pdf = rendered
    assert doc.issued_on == date(2026, 11, 22)
    assert render_licence(doc) == pdf
