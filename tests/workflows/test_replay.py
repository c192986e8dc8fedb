"""Saved histories of finished and in-flight cases replay against the current workflow code,
so a change that would break the cases running in production fails here first.
(Record them with ``python -m tests.workflows.record_histories``.)"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.engine import CaseWorkflow
from workflows.messages import (
    ANCHOR_HANDOFF,
    ANCHOR_SIGNED,
    CASE_WORKFLOW,
    CLOSE_CASE,
    COMPENSATE_STEP,
    CONFIRM_ANCHORS,
    CONFIRM_AND_CLOSE,
    ESCALATE_STEP,
    EXECUTE_STEP,
    PERFORM_STEP,
    RECORD_CASE,
    RECORD_HANDOFF,
    SIGN_ESCALATION,
    SUBMIT_STEP,
    UNDO_STEP,
    CaseInput,
    CaseStatus,
)

HISTORIES = sorted(Path(__file__).with_name("histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def test_there_are_finished_and_in_flight_histories_of_both_shapes():
    """``v1-``: cases started before one agency activity per step (they sign, anchor and record
    apart, and must keep doing so across the upgrade); ``v2-``: one activity per step, but started
    before cases ended in a closing record (they end without one); ``v3-``: started before engine
    generations (``CaseInput.engine``), each step anchored before the next acts; the others: the
    current shape (generation 3: steps send their anchors, the engine confirms them together)."""
    names = {p.stem for p in HISTORIES}
    kinds = {"completed_standard", "inflight_awaiting_clerk", "inflight_returned", "withdrawn"}
    for shape in ("", "v1-", "v2-", "v3-"):
        assert {f"{shape}{k}" for k in kinds} <= names
    committed = {"inflight_returned_committed", "withdrawn_committed"}  # reasons as salted commitments
    assert committed <= names and {f"v3-{k}" for k in committed} <= names


def activity_types(path: Path) -> set[str]:
    events = json.loads(path.read_text())["events"]
    return {
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_each_shape_schedules_its_own_activities(path):
    legacy = {EXECUTE_STEP, ANCHOR_HANDOFF, RECORD_HANDOFF, RECORD_CASE, COMPENSATE_STEP, ESCALATE_STEP}
    v2 = {PERFORM_STEP, UNDO_STEP, SIGN_ESCALATION}  # and the engine's records as local activities
    v3 = v2 | {CLOSE_CASE}
    current = {SUBMIT_STEP, CONFIRM_ANCHORS, CONFIRM_AND_CLOSE, ANCHOR_SIGNED, UNDO_STEP, SIGN_ESCALATION}
    kinds = activity_types(path)
    if path.stem.startswith("v1-"):
        assert kinds <= legacy and kinds & {EXECUTE_STEP, ANCHOR_HANDOFF}
    elif path.stem.startswith("v2-"):
        assert kinds <= v2 and PERFORM_STEP in kinds
    elif path.stem.startswith("v3-"):  # a case that ended closed its trail; one in flight has not yet
        assert kinds <= v3 and PERFORM_STEP in kinds
        assert (CLOSE_CASE in kinds) == (not path.stem.startswith("v3-inflight_"))
    else:  # every anchor is confirmed before the case returns to the applicant, is undone, or closes
        assert kinds <= current and SUBMIT_STEP in kinds
        assert (CONFIRM_AND_CLOSE in kinds) == (not path.stem.startswith("inflight_"))
        waited = path.stem != "completed_standard"  # for a clerk: what it sent was confirmed first
        assert (CONFIRM_ANCHORS in kinds) == waited


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_against_the_current_code(path):
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(load(path))


@workflow.defn(name=CASE_WORKFLOW)
class CaseWorkflowThatForgetsToRecord(CaseWorkflow):
    """A careless change: neither the case's status nor its handoffs are recorded in the store."""

    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:
        return await super().run(case)

    async def _record_case(self) -> None:
        return None

    async def _record(self, done) -> None:
        return None

    async def _record_batch(self, anchored) -> None:
        return None


@pytest.mark.parametrize(
    "name", ["v1-completed_standard", "v2-completed_standard", "v3-completed_standard", "completed_standard"]
)
async def test_an_incompatible_change_is_caught_by_replay(name):
    replayer = Replayer(workflows=[CaseWorkflowThatForgetsToRecord], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(
        load(Path(__file__).with_name("histories") / f"{name}.json"), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None and "Nondeterminism" in type(result.replay_failure).__name__ + str(
        result.replay_failure
    )


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_a_recorded_definition_keeps_the_version_its_handoffs_name(path):
    """A case running across an upgrade goes on naming the definition it started with: its
    handoffs, and the auditor, hash the same definition to the same version."""
    events = json.loads(path.read_text())["events"]
    started = events[0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    case = CaseInput.model_validate_json(base64.b64decode(started["data"]))
    named = {
        json.loads(base64.b64decode(e["activityTaskScheduledEventAttributes"]["input"]["payloads"][0]["data"])).get(
            "flow_version"
        )
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    } - {None}
    assert named == {case.flow.version_hash()}
