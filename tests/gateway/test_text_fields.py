"""Unicode tricks in free text are refused at the edge, naming the field; names are judged in
their NFKC form (what the name check and uniqueness then see)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.schemas import DecisionIn, RegistrationApplication, WithdrawalIn

EXAMPLE = json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "registration.json").read_text(encoding="utf-8")
)


def with_(path: str, value: str) -> dict:
    app = json.loads(json.dumps(EXAMPLE))
    *parents, leaf = path.split(".")
    node = app
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[leaf] = value
    return app


@pytest.mark.parametrize(
    "path, value, rule",
    [
        ("company.name", "济南中\u200d国科技有限公司", "format characters (U+200D)"),  # zero-width joiner hides 中国
        ("company.name", "济南泉智\u202e司公限有技科息信", "format characters (U+202E)"),  # right-to-left override
        ("company.name", "济南泉智\x00信息科技有限公司", "control characters (U+0000)"),
        ("legal_representative.name", "张\x1b[31m三", "control characters (U+001B)"),  # ANSI escape for a terminal
        ("shareholders.0.name", "李\ufeff四", "format characters (U+FEFF)"),
        ("contact.name", "王\ue000五", "private-use characters (U+E000)"),
        ("company.address", "济南市历下区\u0378一号", "unassigned characters (U+0378)"),
        ("company.business_scope", "软件开发\u2066", "format characters (U+2066)"),
        ("contact.phone", "1٣8000000000"[:11], "should match pattern"),  # Arabic-Indic digit
        ("contact.phone", "１３８００１３８０００", "should match pattern"),  # fullwidth digits
        ("legal_representative.phone", "13८00138000", "should match pattern"),  # Devanagari digit
    ],
)
def test_refused_with_the_field_named(path, value, rule):
    with pytest.raises(ValidationError) as err:
        RegistrationApplication.model_validate(with_(path, value))
    errors = err.value.errors()
    assert [".".join(str(p) for p in e["loc"]) for e in errors] == [path]
    assert rule in errors[0]["msg"]


def test_names_are_nfkc_normalised_and_line_breaks_allowed_only_in_long_text():
    app = RegistrationApplication.model_validate(with_("company.name", "济南泉智信息科技有限公司\uff08济南\uff09"))
    assert app.company.name == "济南泉智信息科技有限公司(济南)"  # fullwidth brackets fold to ASCII
    scope = RegistrationApplication.model_validate(with_("company.business_scope", "软件开发;\n技术服务"))
    assert scope.company.business_scope == "软件开发;\n技术服务"
    with pytest.raises(ValidationError, match="control characters"):
        RegistrationApplication.model_validate(with_("company.address", "济南市\n历下区"))


def test_clerk_and_applicant_reasons_are_checked_too():
    with pytest.raises(ValidationError, match="format characters"):
        DecisionIn(decision="reject", reason="材料不全\u202e")
    with pytest.raises(ValidationError, match="control characters"):
        WithdrawalIn(reason="不办了\x07")
    assert DecisionIn(decision="reject", reason="经营范围\n需要审批").reason == "经营范围\n需要审批"
