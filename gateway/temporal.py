"""The Temporal client every OneVisit process connects with (the gateway, the engine's and the
agencies' workers): kept apart from ``gateway.app`` so that a worker does not import the web app."""

from __future__ import annotations

import asyncio
from functools import cache

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from gateway.settings import Settings
from gateway.tracing import GATEWAY, process_tracer, temporal_interceptors
from workflows.codec import data_converter


@cache
def metrics_runtime(address: str) -> Runtime:
    """One Temporal runtime per process that serves the SDK's metrics at ``address`` (Prometheus)."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


async def connect_temporal(
    settings: Settings, attempts: int = 60, service: str = GATEWAY, converter: DataConverter | None = None
) -> Client:
    """``service``: this process's name in its traces (when ONEVISIT_OTEL_ENDPOINT is set);
    ``converter``: an agency worker's own (workflows.codec.agency_data_converter), else the
    operator's, under the data key."""
    tls = settings.temporal_tls()  # mutual TLS in production; an unreadable certificate fails here, not retried
    runtime = metrics_runtime(settings.temporal_metrics_address) if settings.temporal_metrics_address else None
    for attempt in range(attempts):
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=converter or data_converter(settings.resolved_data_key()),
                tls=tls,
                runtime=runtime,
                interceptors=temporal_interceptors(process_tracer(settings, service)),
            )
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")
