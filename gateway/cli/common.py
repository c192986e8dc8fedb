"""What every ``onevisit`` command shares: options, errors, the API client."""

from __future__ import annotations

from typing import Annotated

import typer

Url = Annotated[str, typer.Option("--url", envvar="ONEVISIT_URL", help="the gateway's URL")]
User = Annotated[
    str | None,
    typer.Option("--user", envvar="ONEVISIT_USER", help="sign in as (default: the demo account for the command)"),
]
Password = Annotated[
    str | None, typer.Option("--password", envvar="ONEVISIT_PASSWORD", help="password (demo accounts: the user name)")
]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def api(url: str, user: str | None, password: str | None, default_user: str):
    from gateway.client import Api

    user = user or default_user
    return Api(url, user, password if password is not None else user)


def call(fn, *args):
    from gateway.client import ApiError

    try:
        return fn(*args)
    except ApiError as exc:
        fail(str(exc))


LedgerRpc = Annotated[
    str | None,
    typer.Option("--ledger-rpc", help="verify against this ledger node directly (default: the one the gateway names)"),
]
