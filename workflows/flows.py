"""Flow definitions as data: steps, the agency owning each, dependencies, approval, SLA, retry,
and the application fields each step reads (all its agency's clerks are shown of a case).

A definition is validated when it is built (or loaded): unknown dependencies, cycles and
duplicate steps are refused with a message naming the step. ``version_hash`` identifies the
exact definition that produced a handoff, so an auditor can re-run the decision.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chain.handoff import CLOSING_STEP, definition_hash
from workflows.rules import MISSING, Approval, lookup

SLUG = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
FIELD_PATH = r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62})*$"
# CLOSING_STEP (chain.handoff): the step a case's trail ends with, its closing record, anchored by
# the flow's lead agency (its first step's). No flow can name a step so (SLUG).


class RetrySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_interval_s: float = Field(1.0, gt=0)
    backoff: float = Field(2.0, ge=1)
    max_interval_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(0, ge=0, description="0 = retry until the SLA escalates")


class StepDef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=SLUG.pattern)
    title: str
    agency: str = Field(pattern=SLUG.pattern)
    depends_on: list[str] = Field(default_factory=list)
    when: str | None = Field(
        None, description="dotted path to an application option; the step runs only when it is true"
    )
    when_equals: str | None = Field(
        None,
        exclude_if=lambda v: v is None,  # absent, a definition hashes as it did before
        description="with ``when``: the step runs only when that field equals this (e.g. which hospital reads)",
    )
    approval: Approval = Approval()
    sla_minutes: int = Field(60, gt=0)
    timeout_s: float = Field(60.0, gt=0, description="one attempt of the agency's action")
    retry: RetrySpec = RetrySpec()
    compensation: str | None = Field(None, description="the agency's action that undoes this step on withdrawal")
    reads: list[Annotated[str, Field(pattern=FIELD_PATH)]] | None = Field(
        None,
        exclude_if=lambda v: v is None,  # absent, a definition hashes as it did before steps declared reads
        description="the application's fields this step needs, as dotted paths (``company``, ``company.name``): "
        "all its agency's clerks may read of the case; none declared, none read",
    )
    judges: list[Annotated[str, Field(pattern=FIELD_PATH)]] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="the fields its outcome rests on, when fewer than it reads (a correction may not change them "
        "once the step completed); default: what it reads",
    )

    def judged(self) -> list[str] | None:
        """The application paths this step's outcome rests on: what it declares it judges (else
        all it reads), what its rules test and the option that decides whether it runs; None
        (everything) when it declares neither."""
        basis = self.judges if self.judges is not None else self.reads
        if basis is None:
            return None
        return [*basis, *(r.field for r in self.approval.rules), *([self.when] if self.when else [])]

    def applies(self, application: dict) -> bool:
        if self.when is None:
            return True
        value = lookup(application, self.when)
        if self.when_equals is not None:
            return value == self.when_equals
        return value is not MISSING and bool(value)


class FlowDef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=SLUG.pattern)
    title: str
    version: int = Field(ge=1)
    sla_minutes: int = Field(180, gt=0)
    corrections: bool = Field(
        True,
        exclude_if=lambda v: v is True,  # the default hashes as definitions did before the setting existed
        description="whether a rejected case goes back to the applicant to correct (a registration) or ends "
        "rejected at once (a read refused: there is nothing to correct)",
    )
    lead: str | None = Field(
        None,
        pattern=SLUG.pattern,
        exclude_if=lambda v: v is None,
        description="the agency that closes a case (signs its closing record); default: its first step's",
    )
    steps: list[StepDef] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_graph(self) -> FlowDef:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique: {', '.join(dupes)} appear more than once")
        known = set(ids)
        for s in self.steps:
            if s.when_equals is not None and s.when is None:
                raise ValueError(f"step {s.id!r} has when_equals but no when (the field to compare)")
            missing = [d for d in s.depends_on if d not in known]
            if missing:
                raise ValueError(f"step {s.id!r} depends on missing step(s): {', '.join(missing)}")
        self.topological_order()  # raises on a cycle
        return self

    def step(self, step_id: str) -> StepDef:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"flow {self.name!r} has no step {step_id!r}")

    def topological_order(self) -> list[str]:
        deps = {s.id: set(s.depends_on) for s in self.steps}
        order: list[str] = []
        while deps:
            ready = sorted(k for k, v in deps.items() if not v)
            if not ready:
                raise ValueError(f"flow {self.name!r} has a dependency cycle among: {', '.join(sorted(deps))}")
            order.extend(ready)
            for k in ready:
                del deps[k]
            for v in deps.values():
                v.difference_update(ready)
        return order

    def lead_agency(self) -> str:
        """Who closes a case of this flow: the one it names, else the agency of its first step (the registrar)."""
        return self.lead or self.steps[0].agency

    def owned_steps(self) -> list[tuple[str, str]]:
        """(step, agency) for every step an agency anchors handoffs of: the flow's, and its closing."""
        return [(s.id, s.agency) for s in self.steps] + [(CLOSING_STEP, self.lead_agency())]

    def check_agencies(self, known: set[str]) -> None:
        unknown = sorted(({s.agency for s in self.steps} | {self.lead_agency()}) - known)
        if unknown:
            raise ValueError(f"flow {self.name!r} names unknown agency(ies): {', '.join(unknown)}")

    def version_hash(self) -> str:
        """Which definition produced a handoff (sha256 over its canonical JSON)."""
        return definition_hash(self.model_dump(mode="json"))


def agency_queue(agency: str, prefix: str = "agency-") -> str:
    """The Temporal task queue an agency's worker polls: agencies are named by queue, never import."""
    return f"{prefix}{agency}"


def extract(application: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """The application limited to ``fields`` (dotted paths), in its own shape: what an agency's
    step is sent and what its clerks are shown (need to know)."""
    out: dict[str, Any] = {}
    for path in fields:
        value = lookup(application, path)
        if value is MISSING:
            continue
        *parents, leaf = path.split(".")
        into = out
        for part in parents:
            into = into.setdefault(part, {})
        into[leaf] = value
    return out


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two applications differ (a list counts as one value)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += changed_paths(old.get(key, MISSING), new.get(key, MISSING), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def overlaps(path: str, judged: list[str] | None) -> bool:
    """Whether a changed ``path`` touches anything in ``judged`` (None: everything)."""
    if judged is None:
        return True
    return any(path == j or path.startswith(j + ".") or j.startswith(path + ".") for j in judged)
