"""Send an Update to a case's workflow and turn the engine's refusals into clear HTTP errors.

A validator's refusal leaves no trace in the workflow's history, so the gateway logs it here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import HTTPException, status
from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from gateway.api.deps import unprocessable
from gateway.store import User
from workflows.authority import GatewaySigner
from workflows.messages import Refusal, UpdateResult

log = logging.getLogger("onevisit.gateway.updates")

REFUSAL_STATUS = {  # any other refusal (the case is not in a state to take it) is a 409
    Refusal.NO_SUCH_STEP: status.HTTP_404_NOT_FOUND,
    Refusal.NOT_YOUR_STEP: status.HTTP_403_FORBIDDEN,
    Refusal.NOT_APPLICANT: status.HTTP_403_FORBIDDEN,
}
UNPROCESSABLE = {  # refusals of what was sent: a 422 naming the field, as every 422 does
    Refusal.REASON_REQUIRED: ("body", "reason"),
    Refusal.CHANGES_JUDGED: ("body",),  # the message names the fields and the step that judged them
}


async def send_update(
    temporal: Client, signer: GatewaySigner, case_id: str, update: str, arg: BaseModel, user: User
) -> UpdateResult:
    """Send ``arg``, signed by the gateway for this case and update (the engine takes no other)."""
    handle = temporal.get_workflow_handle(case_id)
    signed = arg.model_copy(update={"authority": signer.sign(case_id, update, arg, datetime.now(UTC))})
    try:
        return await handle.execute_update(update, signed, result_type=UpdateResult)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        kind = cause.type if isinstance(cause, ApplicationError) else None
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
        context = {"case_id": case_id, "update": update}
        log.warning("refused %s on %s by %s (%s): %s", update, case_id, user.username, kind, message, extra=context)
        if kind == Refusal.NO_AUTHORITY:  # the engine does not trust this gateway's key: the operator's to mend
            log.error("the engine refused this gateway's signature on %s for %s: %s", update, case_id, message)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the workflow engine does not accept this gateway's signature"
            ) from exc
        if kind in UNPROCESSABLE:
            raise unprocessable(UNPROCESSABLE[kind], message, kind) from exc
        raise HTTPException(REFUSAL_STATUS.get(kind or "", status.HTTP_409_CONFLICT), message) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            log.warning("refused %s on closed case %s by %s", update, case_id, user.username)
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"case {case_id} is closed: nothing can change it now"
            ) from exc
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the workflow engine did not answer: {exc}") from exc
