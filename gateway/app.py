"""The FastAPI application: its routers, and the long-lived clients it holds (``gateway.api.deps`` hands them out)."""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from sqlmodel import Session

from chain.jsonguard import BodyLimit
from gateway.accounts import LoginThrottle, RateLimit, disable_demo_users, seed_demo_users
from gateway.api import audit as audit_api
from gateway.api import auth as auth_api
from gateway.api import cases as cases_api
from gateway.api import clerks as clerks_api
from gateway.api import codec as codec_api
from gateway.api import credit as credit_api
from gateway.api import documents as documents_api
from gateway.api import erasure as erasure_api
from gateway.api import health as health_api
from gateway.api import health_cards as health_cards_api
from gateway.api import public as public_api
from gateway.deployment import DeploymentFile
from gateway.live import CaseFeed
from gateway.metrics import Metrics
from gateway.schemas import APPLICATION_FLOWS
from gateway.settings import Settings, get_settings
from gateway.store import Vault, make_engine, mark, marked
from gateway.temporal import connect_temporal
from gateway.tracing import GATEWAY, ServerSpans, process_tracer
from gateway.web import router as web_router

log = logging.getLogger("onevisit.gateway")

IN_FLIGHT = 16  # requests worked on at once; the rest wait their turn holding no thread or connection
REQUEST_THREADS = 8  # for the routes' blocking work: more only fight over the GIL
APPLICATION_BODY = 256 * 1024  # an application is a few KB, with room for long business scopes
OTHER_BODY = 16 * 1024  # sign-in, decisions, withdrawals


def body_limit(method: str, path: str) -> int:
    """The largest request body a route accepts (larger: 413 before anything is read or parsed)."""
    if method == "POST" and (path == f"{API}cases" or path.endswith("/correction")):
        return APPLICATION_BODY
    return OTHER_BODY


class InFlightLimit:
    """At most ``limit`` HTTP requests in the app at once (fewer than the request threads and the
    database connections), the others queued in arrival order. Without it, a burst of reads could
    take every database connection and then wait for request threads that were all waiting for a
    connection: a standstill until the pool's 30 s timeout. ``exempt(path)``: long-lived streams."""

    def __init__(self, app, limit: int, exempt=lambda path: False):
        self.app, self.limit, self.exempt = app, limit, exempt
        self._slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> its semaphore

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.limit)
        async with slots:
            await self.app(scope, receive, send)


API = "/api/v1/"  # the REST API's version prefix
VERSIONED = re.compile(r"/api/v\d+(/|$)")  # this version's paths and any other version's (404 here)


class MovedToVersioned:
    """The paths from before the version prefix: ``/api/X`` answers 308 Permanent Redirect to
    ``/api/v1/X`` with the query kept (a 308 keeps the method and body), before any body is read;
    a client written for them goes on working while it moves. They are not in the OpenAPI."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path.startswith("/api/") and not VERSIONED.match(path):
            query = scope.get("query_string", b"").decode("latin-1")
            target = API + path.removeprefix("/api/") + (f"?{query}" if query else "")
            await RedirectResponse(target, status_code=308)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def prepare_accounts(session: Session, settings: Settings) -> None:
    """A production gateway marks its database as production and disables any demo account in it;
    demo accounts are seeded only when asked (ONEVISIT_DEMO_ACCOUNTS, which `onevisit up` sets)
    and never into a database marked production."""
    if settings.environment == "production":
        mark(session, "environment", "production")
        disabled = disable_demo_users(session)
        if disabled:
            log.warning("disabled demo accounts in a production database: %s", ", ".join(disabled))
    elif settings.demo_accounts:
        if marked(session, "environment") == "production":
            raise RuntimeError("refusing to seed demo accounts into a database a production gateway has used")
        seed_demo_users(session)


async def sweep_consents(app: FastAPI, every_s: float) -> None:
    """Record every SME credit consent's expiry once its last day has passed: each an anchored
    handoff of the big data bureau, without waiting for the operator (POST /api/v1/credit/expiries)."""
    from gateway.api.credit import sweep_expiries

    while True:
        try:
            with Session(app.state.engine) as session:
                started = await sweep_expiries(session, app.state.temporal, app.state.vault)
            if started:
                log.info("recording %d consent expiries: %s", len(started), ", ".join(started))
        except Exception:  # noqa: BLE001 - the next sweep tries again; nothing is lost meanwhile
            log.exception("the consent expiry sweep failed; it runs again in %.0f s", every_s)
        await asyncio.sleep(every_s)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        app.state.engine = make_engine(settings.db_url)
        app.state.case_feed = CaseFeed(app.state.engine)
        app.state.metrics = Metrics(app.state.engine)
        app.state.vault = Vault(settings.resolved_data_key())
        app.state.signer = settings.gateway_signer()
        with Session(app.state.engine) as session:
            prepare_accounts(session, settings)
        app.state.deployment = DeploymentFile.read(settings.deployment_file)
        app.state.temporal = await connect_temporal(settings)
        sweeper = (
            asyncio.create_task(sweep_consents(app, settings.consent_sweep_s)) if settings.consent_sweep_s else None
        )
        yield
        if sweeper is not None:
            sweeper.cancel()
        app.state.engine.dispose()

    # the OpenAPI document at /openapi.json; no /docs or /redoc: FastAPI's load their scripts from a CDN
    app = FastAPI(title="OneVisit", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, limit_for=body_limit)
    app.add_middleware(InFlightLimit, limit=IN_FLIGHT, exempt=lambda path: path.endswith("/events"))
    app.add_middleware(MovedToVersioned)
    if tracer := process_tracer(settings, GATEWAY):  # around the limits: its span holds the queueing too
        app.add_middleware(ServerSpans, tracer=tracer)
    if settings.temporal_ui_url:  # the Temporal Web UI calls /api/v1/codec/decode from the browser (token or cookie)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[settings.temporal_ui_url.rstrip("/")],
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            allow_credentials=True,  # the codec cookie (api/codec.py), sent only to /api/v1/codec
        )
    app.state.settings = settings
    app.state.temporal = None
    app.state.login_throttle = LoginThrottle()
    app.state.public_limit = RateLimit(per_minute=60)
    app.include_router(auth_api.router)
    app.include_router(cases_api.router)
    app.include_router(clerks_api.router)
    app.include_router(erasure_api.router)
    app.include_router(documents_api.router)
    app.include_router(codec_api.router)
    app.include_router(credit_api.router)
    app.include_router(audit_api.router)
    app.include_router(health_api.router)
    app.include_router(health_cards_api.router)
    app.include_router(public_api.router)
    app.include_router(web_router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each field and rule; a body that is not JSON at all says so plainly."""
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                where = err["loc"][-1] if err.get("loc") else "?"
                err = {
                    **err,
                    "loc": ["body"],
                    "msg": f"request body is not valid JSON: "
                    f"{err.get('ctx', {}).get('error', 'decode error')} (at character {where})",
                }
            loc = list(err.get("loc") or [])
            if len(loc) > 1 and loc[0] == "body" and loc[1] in APPLICATION_FLOWS:  # the union's tag: not a field
                err = {**err, "loc": [loc[0], *loc[2:]]}
            errors.append(err)
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    return app
