"""POST /api/v1/codec/decode: the Temporal codec server protocol, so the Temporal CLI
(``temporal workflow show --codec-endpoint URL/api/v1/codec --codec-auth "Bearer TOKEN"``) and the
Temporal Web UI (its codec endpoint setting) can show the encrypted payloads of a case's history.

The Web UI cannot send a bearer token of ours, so an auditor signed in here may also let this
browser call the decoder: ``POST /api/v1/codec/session`` sets an HttpOnly cookie (SameSite=Strict,
path ``/api/v1/codec``, expiring with the sign-in) that the decoder, and nothing else, accepts; the UI
sends it with its codec setting "include cross-origin credentials" (compose sets it;
``DELETE /api/v1/codec/session`` takes it back).

Auditors only: what it returns is personal data in the clear, so each call is logged with who
asked and how many payloads, and counted. Decoding only: nothing can be encoded (and so sent to a
case) through it. The body is proto3 JSON, ``{"payloads": [{"metadata": {...}, "data": ...}]}``,
every bytes field base64, and the answer has the same shape.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from google.protobuf import json_format
from google.protobuf.json_format import ParseError
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payloads

from gateway.accounts import token_expiry, token_user
from gateway.api.deps import BearerToken, SessionDep, SettingsDep, blocking, oauth2, require, unprocessable
from gateway.store import User, utcnow
from workflows.codec import EncryptionCodec

router = APIRouter(prefix="/api/v1/codec", tags=["codec"])
COOKIE = "ov_codec"
log = logging.getLogger("onevisit.gateway.codec")
MAX_PAYLOADS = 1000


class PayloadsJson(BaseModel):
    payloads: list[dict[str, Any]] = Field(max_length=MAX_PAYLOADS)


async def codec_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2)] = None
) -> User:
    """The auditor calling the decoder: by bearer token, or by the cookie a session here set."""
    token = token or request.cookies.get(COOKIE)
    user = await blocking(request, token_user, session, token) if token else None
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in, or the session expired")
    if user.role != "auditor":
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role auditor; you are {user.role}")
    return user


@router.post("/session", status_code=status.HTTP_204_NO_CONTENT, dependencies=[require("auditor")])
def open_session(request: Request, response: Response, session: SessionDep, token: BearerToken) -> None:
    """Let this browser's Temporal Web UI call the decoder as you, until your sign-in expires."""
    expires = token_expiry(session, token)
    seconds = max(0, int((expires - utcnow()).total_seconds())) if expires else 0
    response.set_cookie(
        COOKIE,
        token,
        max_age=seconds,
        path="/api/v1/codec",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, dependencies=[require("auditor")])
def close_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/api/v1/codec", httponly=True, samesite="strict")


@router.post("/decode", response_model=PayloadsJson)
async def decode(
    body: PayloadsJson, request: Request, settings: SettingsDep, user: Annotated[User, Depends(codec_user)]
) -> PayloadsJson:
    """The payloads, decrypted with the data key (refused, naming why, if one was not ours)."""
    try:
        payloads = json_format.ParseDict({"payloads": body.payloads}, Payloads())
    except ParseError as exc:
        raise unprocessable(("body", "payloads"), f"not Temporal payloads: {exc}") from exc
    try:
        decoded = await EncryptionCodec(settings.resolved_data_key()).decode(list(payloads.payloads))
    except ValueError as exc:
        raise unprocessable(("body", "payloads"), str(exc)) from exc
    namespace = request.headers.get("x-namespace", "-")
    log.warning("decoded %d payload(s) of namespace %s for %s", len(decoded), namespace, user.username)
    request.app.state.metrics.codec_decodes.labels(user.username).inc(len(decoded))
    return PayloadsJson(payloads=json_format.MessageToDict(Payloads(payloads=decoded))["payloads"] if decoded else [])
