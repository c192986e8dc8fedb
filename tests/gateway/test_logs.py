"""ONEVISIT_LOG_FORMAT=json: one JSON object per line, with the case id (and, inside Temporal's
workflows and activities, the workflow id, run and activity) wherever the line has them."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys

from temporalio.testing import ActivityEnvironment

from gateway.logs import JsonFormatter
from tests.agencies.test_adapter import adapter, request
from tests.fixtures.stack import application


def formatted(**extra) -> dict:
    record = logging.LogRecord("onevisit.test", logging.WARNING, __file__, 1, "refused %s", ("decide",), None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))


def test_a_line_is_one_json_object_with_what_it_knows():
    line = formatted(case_id="BR-20261204-0000ABCD", update="decide")
    assert {k: line[k] for k in ("level", "logger", "message", "case_id", "update")} == {
        "level": "warning",
        "logger": "onevisit.test",
        "message": "refused decide",
        "case_id": "BR-20261204-0000ABCD",
        "update": "decide",
    }
    assert "workflow_id" not in line


def test_an_exception_is_kept_in_the_line():
    try:
        raise ValueError("bad input")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: bad input" in json.loads(JsonFormatter().format(record))["exception"]


def test_an_agency_activitys_line_names_its_case_workflow_and_activity(embedded_ledger, tmp_path, caplog):
    market = adapter(embedded_ledger, tmp_path, "market_regulation")
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, activity_type="agency.perform_step", workflow_id="BR-20261204-0000ABCD")
    with caplog.at_level(logging.INFO, logger="temporalio.activity"):
        env.run(market.perform_step, request("name_check", "BR-20261204-0000ABCD", application()))
    [record] = [r for r in caplog.records if getattr(r, "case_id", None) == "BR-20261204-0000ABCD"]
    line = json.loads(JsonFormatter().format(record))
    assert (line["case_id"], line["step"], line["agency"], line["activity"]) == (
        "BR-20261204-0000ABCD",
        "name_check",
        "market_regulation",
        "agency.perform_step",
    )
    assert (line["workflow_id"], line["attempt"]) == ("BR-20261204-0000ABCD", 1)
