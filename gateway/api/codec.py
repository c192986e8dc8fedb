"""POST /api/codec/decode: the Temporal codec server protocol, so the Temporal CLI
(``temporal workflow show --codec-endpoint URL/api/codec --codec-auth "Bearer TOKEN"``) and the
Temporal Web UI (its codec endpoint setting) can show the encrypted payloads of a case's history.

Auditors only: what it returns is personal data in the clear, so each call is logged with who
asked and how many payloads, and counted. Decoding only: nothing can be encoded (and so sent to a
case) through it. The body is proto3 JSON, ``{"payloads": [{"metadata": {...}, "data": ...}]}``,
every bytes field base64, and the answer has the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from google.protobuf import json_format
from google.protobuf.json_format import ParseError
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payloads

from gateway.api.deps import CurrentUser, SettingsDep, require, unprocessable
from workflows.codec import EncryptionCodec

router = APIRouter(prefix="/api/codec", tags=["codec"], dependencies=[require("auditor")])
log = logging.getLogger("onevisit.gateway.codec")
MAX_PAYLOADS = 1000


class PayloadsJson(BaseModel):
    payloads: list[dict[str, Any]] = Field(max_length=MAX_PAYLOADS)


@router.post("/decode", response_model=PayloadsJson)
async def decode(body: PayloadsJson, request: Request, settings: SettingsDep, user: CurrentUser) -> PayloadsJson:
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
