from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from gateway.auth import CurrentUser, SessionDep, authenticate, issue_token
from gateway.schemas import Token

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(request: Request, session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    token = issue_token(session, user, request.app.state.settings.token_ttl_minutes)
    return Token(access_token=token, role=user.role, agency=user.agency)


@router.get("/me")
def me(user: CurrentUser) -> dict:
    return {"username": user.username, "role": user.role, "agency": user.agency}
