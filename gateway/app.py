"""The FastAPI application: REST API, health, and the long-lived clients it holds."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlmodel import Session
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from chain.jsonguard import BodyLimit
from chain.ledger import connect
from gateway.api import audit as audit_api
from gateway.api import auth as auth_api
from gateway.api import cases as cases_api
from gateway.api import clerks as clerks_api
from agencies.directory import AGENCIES
from gateway.auth import seed_demo_users
from gateway.deployment import read_deployment
from gateway.settings import Settings, get_settings
from gateway.store import Vault, make_engine
from workflows.codec import data_converter
from workflows.flows import agency_queue
from workflows.messages import ENGINE_QUEUE

log = logging.getLogger("onevisit.gateway")

APPLICATION_BODY = 256 * 1024  # an application is a few KB, with room for long business scopes
OTHER_BODY = 16 * 1024  # sign-in, decisions, withdrawals


def body_limit(method: str, path: str) -> int:
    """The largest request body a route accepts (larger: 413 before anything is read or parsed)."""
    if method == "POST" and (path == "/api/cases" or path.endswith("/correction")):
        return APPLICATION_BODY
    return OTHER_BODY


async def connect_temporal(settings: Settings, attempts: int = 60) -> Client:
    for attempt in range(attempts):
        try:
            return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                        data_converter=data_converter(settings.resolved_data_key()))
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = make_engine(settings.db_url)
        app.state.vault = Vault(settings.resolved_data_key())
        if settings.environment == "embedded":
            with Session(app.state.engine) as session:
                seed_demo_users(session)
        app.state.deployment = read_deployment(settings.deployment_file)
        app.state.temporal = await connect_temporal(settings)
        yield
        app.state.engine.dispose()

    app = FastAPI(title="OneVisit", version="0.1.0", lifespan=lifespan)
    app.add_middleware(BodyLimit, limit_for=body_limit)
    app.state.settings = settings
    app.state.temporal = None
    app.include_router(auth_api.router)
    app.include_router(cases_api.router)
    app.include_router(clerks_api.router)
    app.include_router(audit_api.router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each field and rule; a body that is not JSON at all says so plainly."""
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                where = err["loc"][-1] if err.get("loc") else "?"
                err = {**err, "loc": ["body"], "msg": f"request body is not valid JSON: "
                       f"{err.get('ctx', {}).get('error', 'decode error')} (at character {where})"}
            errors.append(err)
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        body, ok = await health(app, settings)
        return JSONResponse(body, status_code=200 if ok else 503)

    return app


async def _pollers(client: Client, namespace: str, queue: str, kind: TaskQueueType.ValueType) -> int:
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind))
    return len(resp.pollers)


async def health(app: FastAPI, settings: Settings) -> tuple[dict, bool]:
    deployment, _ = app.state.deployment
    body: dict = {"status": "ok", "temporal": settings.temporal_address, "temporal_ui": settings.temporal_ui_url,
                  "ledger_rpc": settings.ledger_rpc, "chain_id": deployment.chain_id,
                  "contracts": {"registry": deployment.registry, "ledger": deployment.ledger}, "problems": []}
    try:
        chain_id = await asyncio.to_thread(lambda: connect(settings.ledger_rpc, timeout=3).eth.chain_id)
        if chain_id != deployment.chain_id:
            body["problems"].append(f"ledger is chain {chain_id}, expected {deployment.chain_id}")
    except Exception as exc:  # report every part's state, never fail the probe itself
        body["problems"].append(f"ledger: {exc}")
    client = app.state.temporal
    queues = {ENGINE_QUEUE: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
              **{agency_queue(a): TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY for a in AGENCIES}}
    body["workers"] = {}
    for queue, kind in queues.items():
        try:
            n = await _pollers(client, settings.temporal_namespace, queue, kind)
        except Exception as exc:
            body["problems"].append(f"temporal: {exc}")
            break
        body["workers"][queue] = n
        if n == 0:
            body["problems"].append(f"no worker polls {queue}")
    ok = not body["problems"]
    body["status"] = "ok" if ok else "starting"
    return body, ok
