"""The ``onevisit`` command line, assembled here from its parts:

running    up, serve, worker (engine | agency NAME | all), agency serve NAME, db upgrade, provision, keygen
cases      apply, status, correct, withdraw, queue, decide, verify-licence
audit      audit (verify | export | verify-bundle | ledger), bench (ledger | startup)
bench      bench registrations
registry   registry (show | rotate-signer)
"""

from __future__ import annotations

import typer

from gateway.cli import audit, bench, cases, registry, running

app = typer.Typer(
    help="OneVisit: one-visit government services with a verifiable ledger trail.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(running.app)
app.add_typer(running.worker_app, name="worker")
app.add_typer(running.agency_app, name="agency")
app.add_typer(running.db_app, name="db")
app.add_typer(cases.app)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(audit.bench_app, name="bench")  # with gateway.cli.bench's registrations
assert bench.bench_registrations
app.add_typer(registry.registry_app, name="registry")


def main() -> None:
    app()
