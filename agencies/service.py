"""An agency service over HTTP: any back-end behind ``POST /steps/{step}``.

This is what ``RemoteBackend`` talks to; an agency that runs its own system exposes the same
three answers: 200 with outputs, 409 with a refusal reason, 503 when it cannot answer now.
Run the simulated one with ``uvicorn --factory agencies.service:simulated_app``
(ONEVISIT_AGENCY and ONEVISIT_AGENCY_STATE name the agency and its state directory).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from agencies.backend import AgencyBackend, Refused, Unavailable
from agencies.simulated import SimulatedBackend
from workflows.messages import CompensateInput, StepInput


def create_service(backend: AgencyBackend) -> FastAPI:
    app = FastAPI(title=f"{backend.agency} agency service")

    @app.post("/steps/{step}")
    def perform(step: str, request: StepInput) -> JSONResponse:
        if step != request.step:
            return JSONResponse({"detail": f"path names step {step!r}, body names {request.step!r}"}, status_code=422)
        try:
            return JSONResponse({"outputs": backend.perform(request)})
        except Refused as refusal:
            return JSONResponse({"reason": refusal.reason, "code": refusal.code}, status_code=409)
        except Unavailable as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.post("/compensations/{action}")
    def compensate(action: str, request: CompensateInput) -> JSONResponse:
        if action != request.action:
            return JSONResponse({"detail": f"path names action {action!r}, body names {request.action!r}"}, status_code=422)
        try:
            return JSONResponse({"outputs": backend.compensate(request)})
        except Unavailable as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503)

    return app


def simulated_app() -> FastAPI:
    agency = os.environ["ONEVISIT_AGENCY"]
    return create_service(SimulatedBackend(agency, Path(os.environ.get("ONEVISIT_AGENCY_STATE", f".onevisit/agencies/{agency}"))))
