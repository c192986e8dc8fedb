from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from gateway.api.deps import CurrentUser, SessionDep, SettingsDep
from gateway.auth import authenticate, issue_token
from gateway.schemas import Token, UserPublic

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(session: SessionDep, settings: SettingsDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    token = issue_token(session, user, settings.token_ttl_minutes)
    return Token(access_token=token, role=user.role, agency=user.agency)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic(username=user.username, role=user.role, agency=user.agency)
