"""An agency worker's own metrics for Prometheus (prometheus-client's process registry), served at
``ONEVISIT_METRICS_ADDRESS`` by the worker commands: how long each step takes an agency (its
back-end's action, the signature and the anchor), how long anchoring takes, how many handoffs
share a batch's transaction (batch mode), and the ledger's
refusals and errors. Labels name agencies and steps only: no case, no personal data."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

STEP_SECONDS = Histogram(
    "onevisit_agency_step_seconds",
    "An agency's activity for one step (act, sign, anchor), by agency, step and outcome",
    ["agency", "step", "outcome"],
    buckets=SECONDS,
)
ANCHOR_SECONDS = Histogram(
    "onevisit_anchor_seconds",
    "From sending a handoff's anchor to its receipt, where the agency waits for it (closing records, undos, "
    "escalations, anchors sent again; a step's own anchor is confirmed with its case's), by agency",
    ["agency"],
    buckets=SECONDS,
)
LEDGER_ERRORS = Counter(
    "onevisit_ledger_errors", "Anchors the ledger refused or could not take, by agency and kind", ["agency", "kind"]
)
BATCH_SIZE = Histogram(
    "onevisit_anchor_batch_size",
    "Handoffs anchored by one batch transaction (batch mode), by agency",
    ["agency"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
