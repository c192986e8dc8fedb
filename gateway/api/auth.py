from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from gateway.accounts import authenticate, issue_token, revoke_token
from gateway.api.deps import BearerToken, CurrentUser, SessionDep, SettingsDep, ThrottleDep
from gateway.schemas import Token, UserPublic

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    """A bearer token; after repeated failures for an account or from an address, 429 with
    Retry-After (right password or not) until the lock passes."""
    keys = (f"user:{form.username.casefold()}", f"addr:{request.client.host if request.client else '?'}")
    wait = throttle.retry_after(*keys)
    if wait:
        request.app.state.metrics.login_failures.labels("throttled").inc()
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed sign-ins: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = authenticate(session, form.username, form.password)
    if user is None:
        throttle.failed(*keys)
        request.app.state.metrics.login_failures.labels("bad_credentials").inc()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    throttle.succeeded(keys[0])
    token = issue_token(session, user, settings.token_ttl_minutes)
    return Token(access_token=token, role=user.role, agency=user.agency)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic(username=user.username, role=user.role, agency=user.agency)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(session: SessionDep, _user: CurrentUser, token: BearerToken) -> Response:
    """Revoke the bearer token this request carries."""
    revoke_token(session, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
