"""The public licence check on the real stack: a licence issued by a completed case is valid to
anyone, without signing in, through the API and `onevisit verify-licence`."""

from __future__ import annotations

import json

import pytest

from agencies.identifiers import random_uscc
from tests.fixtures.http import loopback
from tests.fixtures.stack import application, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def test_anyone_checks_a_licence_without_signing_in(stack, tmp_path):
    app = application()
    case = json.loads(
        stack.cli_in_process(
            "apply", str(write_application(tmp_path, app)), "--url", stack.url, "--wait", "--json", check=True
        ).stdout
    )
    code = case["uscc"]
    answer = loopback.get(f"{stack.url}/api/v1/public/licences/{code}", timeout=30).json()
    assert answer == {
        "code": code,
        "format_valid": True,
        "status": "valid",
        "company_name": app["company"]["name"],
        "issued_on": case["result"]["licence_date"],
    }
    ok = stack.cli("verify-licence", code, "--url", stack.url, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "valid"
    elsewhere = stack.cli_in_process("verify-licence", random_uscc("370105"), "--url", stack.url)
    assert elsewhere.returncode == 1 and "UNKNOWN" in elsewhere.stdout
    forged = stack.cli_in_process(
        "verify-licence", code[:-1] + ("0" if code[-1] != "0" else "1"), "--url", stack.url, "--json"
    )
    assert forged.returncode == 1 and json.loads(forged.stdout)["format_valid"] is False
