"""An agency service over HTTP: any back-end behind ``POST /steps/{step}``.

This is what ``RemoteBackend`` talks to; an agency that runs its own system exposes the same
three answers: 200 with outputs, 409 with a refusal reason, 503 when it cannot answer now.
Run the simulated one with ``onevisit agency serve NAME --port P`` (or ``uvicorn --factory
agencies.service:simulated_app`` with ONEVISIT_AGENCY and ONEVISIT_AGENCY_STATE).
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from agencies.backend import AgencyBackend, Broken, Refused, Unavailable
from agencies.simulated import SimulatedBackend
from chain.jsonguard import BodyLimit
from workflows.messages import CompensateInput, StepInput

MAX_BODY = 256 * 1024  # a step's input is the application and the outputs of earlier steps


def _answer(kind: str, in_path: str, in_body: str, act) -> JSONResponse:
    """200 with outputs, 409 a refusal, 503 not now, 422 never (a fault, or a path/body mismatch)."""
    if in_path != in_body:
        return JSONResponse({"detail": f"path names {kind} {in_path!r}, body names {in_body!r}"}, status_code=422)
    try:
        return JSONResponse({"outputs": act()})
    except Refused as refusal:
        return JSONResponse({"reason": refusal.reason, "code": refusal.code}, status_code=409)
    except Unavailable as exc:
        return JSONResponse({"detail": str(exc)}, status_code=503)
    except Broken as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)


def create_service(backend: AgencyBackend, token: str | None = None) -> FastAPI:
    """``token``: every request must carry ``Authorization: Bearer TOKEN`` (checked before the body
    is read); without one, serve on loopback only (``onevisit agency serve`` refuses otherwise)."""
    app = FastAPI(title=f"{backend.agency} agency service")
    app.add_middleware(BodyLimit, limit_for=lambda _method, _path: MAX_BODY)
    if token is not None:
        expected = f"Bearer {token}".encode()

        @app.middleware("http")  # added last, so it runs first
        async def authenticate(request, call_next):
            if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
                return JSONResponse(
                    {"detail": "this agency service answers its own workers only: Authorization: Bearer TOKEN"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await call_next(request)

    @app.post("/steps/{step}")
    def perform(step: str, request: StepInput) -> JSONResponse:
        return _answer("step", step, request.step, lambda: backend.perform(request))

    @app.post("/compensations/{action}")
    def compensate(action: str, request: CompensateInput) -> JSONResponse:
        return _answer("action", action, request.action, lambda: backend.compensate(request))

    return app


def simulated_app() -> FastAPI:
    agency = os.environ["ONEVISIT_AGENCY"]
    return create_service(
        SimulatedBackend(agency, Path(os.environ.get("ONEVISIT_AGENCY_STATE", f".onevisit/agencies/{agency}")))
    )
