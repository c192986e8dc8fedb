"""Service-level figures an auditor can check against the ledger: every time is the difference of
two anchor block times (never a clock of the operator's), so each figure can be recomputed from
the blocks the handoffs were anchored in.

- time to licence: from the case's name-check anchor to its business-licence anchor;
- time to all seals: from the name-check anchor to the seal-approval anchor;
- a step's time, per agency: from the latest anchor of the handoffs it depends on (its parents) to
  its own anchor (the first step of a case has no parent and no figure).

Per month (of the name-check anchor, UTC) and overall: count, median, 90th percentile, maximum.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel

START, LICENCE, SEALS = "name_check", "business_licence", "seal_approval"
BASIS = "differences of anchor block times, read from the handoffs' anchors (recheck them on the ledger)"


class Figure(BaseModel):
    n: int
    p50_s: float | None = None
    p90_s: float | None = None
    max_s: float | None = None


class MonthFigures(BaseModel):
    month: str
    cases: int
    time_to_licence: Figure
    time_to_all_seals: Figure


class AgencyFigures(BaseModel):
    agency: str
    steps: Figure


class ServiceLevels(BaseModel):
    basis: str = BASIS
    cases: int
    time_to_licence: Figure
    time_to_all_seals: Figure
    by_month: list[MonthFigures]
    by_agency: list[AgencyFigures]


def figure(values: list[float]) -> Figure:
    """Nearest-rank percentiles: each figure is one of the measured times."""
    if not values:
        return Figure(n=0)
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return Figure(n=len(ordered), p50_s=rank(0.5), p90_s=rank(0.9), max_s=ordered[-1])


def service_levels(handoffs: Iterable[tuple[str, str, str, str, list[str], int]]) -> ServiceLevels:
    """From completed handoffs as (case id, hash, step, agency, parent hashes, anchor block time)."""
    at: dict[str, int] = {}
    cases: dict[str, dict[str, int]] = defaultdict(dict)
    rows = list(handoffs)
    for case_id, digest, step, _agency, _parents, when in rows:
        at[digest.lower()] = when
        cases[case_id][step] = when
    steps_by_agency: dict[str, list[float]] = defaultdict(list)
    for _case_id, _digest, _step, agency, parents, when in rows:
        known = [at[p.lower()] for p in parents if p.lower() in at]
        if known:
            steps_by_agency[agency].append(float(when - max(known)))
    licence: dict[str, list[float]] = defaultdict(list)
    seals: dict[str, list[float]] = defaultdict(list)
    months: dict[str, set[str]] = defaultdict(set)
    for case_id, times in cases.items():
        if START not in times:
            continue
        month = datetime.fromtimestamp(times[START], UTC).strftime("%Y-%m")
        months[month].add(case_id)
        if LICENCE in times:
            licence[month].append(float(times[LICENCE] - times[START]))
        if SEALS in times:
            seals[month].append(float(times[SEALS] - times[START]))
    return ServiceLevels(
        cases=sum(len(c) for c in months.values()),
        time_to_licence=figure([v for vs in licence.values() for v in vs]),
        time_to_all_seals=figure([v for vs in seals.values() for v in vs]),
        by_month=[
            MonthFigures(
                month=m, cases=len(months[m]), time_to_licence=figure(licence[m]), time_to_all_seals=figure(seals[m])
            )
            for m in sorted(months)
        ],
        by_agency=[AgencyFigures(agency=a, steps=figure(v)) for a, v in sorted(steps_by_agency.items())],
    )
