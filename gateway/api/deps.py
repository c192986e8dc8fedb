"""Every route dependency, as an Annotated alias: the store session, the signed-in user and the
role checks, the case a route names, and the long-lived parts the app holds (its settings, the
vault, the deployment and the Temporal client). Routes take these; none reads ``app.state``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session
from temporalio.client import Client

from gateway.access import may_see
from gateway.accounts import LoginThrottle, RateLimited, token_user
from gateway.deployment import DeploymentFile
from gateway.settings import Settings
from gateway.store import Case, User, Vault
from workflows.authority import GatewaySigner

T = TypeVar("T")


# ----------------------------------------------------------------- what the app holds
# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` in a worker thread,
# a hop that costs more than these do.
async def app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(app_settings)]


async def get_vault(request: Request) -> Vault:
    return request.app.state.vault


VaultDep = Annotated[Vault, Depends(get_vault)]


async def get_deployment(request: Request) -> DeploymentFile:
    return request.app.state.deployment


DeploymentDep = Annotated[DeploymentFile, Depends(get_deployment)]


async def get_temporal(request: Request) -> Client:
    client = request.app.state.temporal
    if client is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the workflow engine is not connected yet")
    return client


TemporalDep = Annotated[Client, Depends(get_temporal)]


async def get_signer(request: Request) -> GatewaySigner:
    return request.app.state.signer


SignerDep = Annotated[GatewaySigner, Depends(get_signer)]


async def get_session(request: Request):
    """A session for the request, opened and closed on the event loop (no thread hop: it connects
    lazily, in the thread of the first query)."""
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def blocking(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a store call: inline on an SQLite store (a local file answers in well under a
    millisecond, less than a hop to a worker thread costs), in a worker thread on a database
    across the network (PostgreSQL), so that a slow answer never stalls the event loop."""
    if request.app.state.engine.dialect.name == "sqlite":
        return fn(*args)
    return await anyio.to_thread.run_sync(fn, *args)


def unprocessable(
    loc: tuple[str, ...], msg: str, kind: str = "value_error", value: Any = None
) -> RequestValidationError:
    """A 422 in the shape the OpenAPI document gives every 422 (a list of errors, each naming the
    field by ``loc`` and the rule by ``msg``), for what the route itself finds wrong."""
    return RequestValidationError([{"type": kind, "loc": loc, "msg": msg, "input": value}])


# ------------------------------------------------------------------ who is asking
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def current_user(request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2)]) -> User:
    user = await blocking(request, token_user, session, token) if token else None
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "not signed in, or the session expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]
BearerToken = Annotated[str, Depends(oauth2)]  # the raw token, for a route that revokes it (after CurrentUser)


async def get_throttle(request: Request) -> LoginThrottle:
    return request.app.state.login_throttle


ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]


async def public_limit(request: Request) -> None:
    """Unauthenticated routes: at most so many requests a minute per address (429, Retry-After)."""
    try:
        request.app.state.public_limit.check(request.client.host if request.client else "?")
    except RateLimited as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from exc


PublicLimitDep = Depends(public_limit)


def require(*roles: str):
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(roles)}; you are {user.role}"
            )
        return user

    return Depends(check)


async def get_case(request: Request, case_id: str, session: SessionDep, user: CurrentUser, vault: VaultDep) -> Case:
    """The case, if this user may see it: applicants their own, clerks those their agency holds a
    step of, auditors and admins any. Any other is "no case", as if it did not exist."""

    def visible() -> Case | None:
        case = session.get(Case, case_id)
        return case if case is not None and may_see(case, user, vault, session) else None

    case = await blocking(request, visible)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    return case


CaseDep = Annotated[Case, Depends(get_case)]
