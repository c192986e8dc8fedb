"""OpenTelemetry tracing (issue 14), off unless ONEVISIT_OTEL_ENDPOINT names an OTLP/HTTP collector.

When on, each process holds one TracerProvider (its own service name) that exports its spans in
batches, and its Temporal client carries temporalio's TracingInterceptor, which the workers made
from that client inherit; the gateway also opens a server span for each HTTP request. So one
application (POST /api/v1/cases) is one trace: the request's span, StartWorkflow, RunWorkflow, and
StartActivity/RunActivity on each agency's worker. When off, nothing is imported or installed."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer
    from temporalio.client import Interceptor

    from gateway.settings import Settings

GATEWAY, ENGINE, WORKERS = "onevisit-gateway", "onevisit-engine", "onevisit-workers"


def agency_service(name: str) -> str:
    return f"onevisit-agency-{name}"


def tracer_provider(service: str, exporter: SpanExporter) -> TracerProvider:
    """A provider naming ``service`` that hands its finished spans to ``exporter`` in batches (off
    the request's path; what is queued at exit is flushed then)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@cache
def _process_tracer(endpoint: str, service: str) -> Tracer:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = tracer_provider(service, OTLPSpanExporter(endpoint=endpoint))
    trace.set_tracer_provider(provider)  # the process's, for any other instrumentation too
    return provider.get_tracer("onevisit")


def process_tracer(settings: Settings, service: str) -> Tracer | None:
    """This process's tracer (made the first time, exporting to ONEVISIT_OTEL_ENDPOINT), or None
    when tracing is off."""
    return _process_tracer(settings.otel_endpoint, service) if settings.otel_endpoint else None


def temporal_interceptors(tracer: Tracer | None) -> list[Interceptor]:
    """For Client.connect: a span for each client call, workflow and activity, propagated in
    Temporal's headers (workers made from the client take it too); none without a tracer."""
    if tracer is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(tracer)]


class ServerSpans:
    """ASGI middleware: a server span for each HTTP request (continuing a caller's ``traceparent``),
    named by its method and route template, never by a path that holds a case id."""

    def __init__(self, app, tracer: Tracer):
        self.app, self.tracer = app, tracer

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode

        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method, context=propagate.extract(carrier), kind=SpanKind.SERVER, attributes={"http.request.method": method}
        ) as span:

            async def send_status(message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
