"""What a running system is doing, for Prometheus (prometheus-client), at ``GET /metrics``.

Counted from the store when scraped, so every gateway replica answers the same and nothing is lost
on a restart: cases by state, handoffs by agency and outcome, SLA breaches (signed escalations) by
agency. Counted in this process: sign-in failures and refusals by the sign-in throttle. Aggregates only: no case id, no
name, no personal data. Each app holds its own registry (several apps in one test process do not
collide).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from gateway.store import Case, HandoffRow

CASE_STATES = ("running", "returned", "completed", "rejected", "failed", "withdrawn")


class StoreCollector:
    """Cases and handoffs as the store holds them, read at each scrape (three grouped counts)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def describe(self) -> list[Metric]:
        return []  # collected on demand only: registering must not query the store

    def collect(self) -> Iterator[Metric]:
        with Session(self.engine) as session:
            by_state = dict(session.exec(select(Case.status, func.count()).group_by(Case.status)).all())
            handoffs = session.exec(
                select(HandoffRow.agency, HandoffRow.outcome, func.count()).group_by(
                    HandoffRow.agency, HandoffRow.outcome
                )
            ).all()
        cases = GaugeMetricFamily("onevisit_cases", "Cases in the store, by state", labels=["state"])
        for state in sorted({*CASE_STATES, *by_state}):
            cases.add_metric([state], by_state.get(state, 0))
        yield cases
        total = CounterMetricFamily(
            "onevisit_handoffs",
            "Signed, anchored handoffs recorded, by agency and outcome",
            labels=["agency", "outcome"],
        )
        breaches = CounterMetricFamily(
            "onevisit_sla_breaches", "Steps that passed their SLA (signed escalations), by agency", labels=["agency"]
        )
        for agency, outcome, n in sorted(handoffs):
            total.add_metric([agency, outcome], n)
            if outcome == "escalated":
                breaches.add_metric([agency], n)
        yield total
        yield breaches


class Metrics:
    def __init__(self, engine: Engine):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(engine))
        self.login_failures = Counter(
            "onevisit_login_failures",
            "Refused sign-ins: a wrong user name or password, or the throttle after repeated failures",
            ["reason"],
            registry=self.registry,
        )
        self.codec_decodes = Counter(
            "onevisit_codec_decoded_payloads",
            "Temporal payloads decrypted for an auditor through /api/v1/codec/decode, by auditor",
            ["auditor"],
            registry=self.registry,
        )

    def exposition(self) -> tuple[bytes, dict[str, Any]]:
        return generate_latest(self.registry), {"media_type": CONTENT_TYPE_LATEST}
