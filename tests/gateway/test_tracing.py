"""Tracing (issue 14): one application is one trace, from the gateway's HTTP span through the
workflow to each agency's activity (a real case on the time-skipping server, real agency
adapters, the spans kept in memory); with ONEVISIT_OTEL_ENDPOINT unset nothing is installed."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from gateway import tracing
from gateway.app import create_app
from gateway.settings import Settings
from gateway.temporal import connect_temporal
from tests.fixtures.engine import engine_rig
from tests.fixtures.stack import application
from workflows.engine import CaseWorkflow
from workflows.messages import CONFIRM_AND_CLOSE, SUBMIT_STEP


def traced(env, tracer):
    """``env`` as the rig reads it, its client (and so every worker made from it) tracing."""
    config = env.client.config()
    config["interceptors"] = [*config["interceptors"], *tracing.temporal_interceptors(tracer)]
    return SimpleNamespace(client=Client(**config), get_current_time=env.get_current_time)


async def test_one_application_is_one_trace_from_the_http_request_to_each_agency(
    time_skipping_env, queue_prefix, embedded_ledger, tmp_path
):
    spans = InMemorySpanExporter()
    provider = tracing.tracer_provider("onevisit-test", spans)
    tracer = provider.get_tracer("test")
    async with engine_rig(traced(time_skipping_env, tracer), queue_prefix, embedded_ledger, tmp_path) as rig:
        gateway = FastAPI()
        gateway.add_middleware(tracing.ServerSpans, tracer=tracer)

        @gateway.post("/api/v1/cases")
        async def apply(body: dict) -> dict:
            return {"case_id": (await rig.start(body)).id}

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway") as http:
            resp = await http.post("/api/v1/cases", json=application())
        assert resp.status_code == 200
        status = await rig.client.get_workflow_handle_for(CaseWorkflow.run, resp.json()["case_id"]).result()
    assert status.state == "completed"
    provider.force_flush()
    finished = spans.get_finished_spans()
    provider.shutdown()

    (request,) = [s for s in finished if s.name.startswith("POST")]
    assert request.kind == SpanKind.SERVER
    assert request.name == "POST /api/v1/cases" and request.attributes["http.response.status_code"] == 200
    assert request.resource.attributes["service.name"] == "onevisit-test"
    assert {s.context.trace_id for s in finished} == {request.context.trace_id}, "one case, one trace"
    (start,) = [s for s in finished if s.name.startswith("StartWorkflow:")]
    assert start.name == "StartWorkflow:CaseWorkflow" and start.parent.span_id == request.context.span_id
    assert [s.name for s in finished if s.name.startswith("RunWorkflow:")] == ["RunWorkflow:CaseWorkflow"]
    scheduled = {s.context.span_id for s in finished if s.name.startswith("StartActivity:")}
    ran = [s for s in finished if s.name.startswith("RunActivity:")]
    assert ran and all(s.parent.span_id in scheduled for s in ran), "each activity run under its scheduling"
    performed = [s for s in ran if s.name == f"RunActivity:{SUBMIT_STEP}"]
    assert len(performed) == len([s for s in status.steps if s.state == "completed"]) == 5
    assert f"RunActivity:{CONFIRM_AND_CLOSE}" in {s.name for s in ran}


async def test_with_the_endpoint_unset_nothing_is_installed(time_skipping_env, tmp_path):
    settings = Settings(data_dir=tmp_path, temporal_address=time_skipping_env.client.service_client.config.target_host)
    assert settings.otel_endpoint is None
    assert tracing.process_tracer(settings, tracing.GATEWAY) is None and tracing.temporal_interceptors(None) == []
    client = await connect_temporal(settings)
    assert not any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"])
    assert tracing.ServerSpans not in [m.cls for m in create_app(settings).user_middleware]
    assert not isinstance(trace.get_tracer_provider(), TracerProvider), "no provider for the process"


async def test_with_the_endpoint_set_the_client_and_the_app_trace(time_skipping_env, tmp_path, monkeypatch):
    """The counterpart of the test above (the process's provider made in memory, not exported)."""
    made = []

    def process_tracer(endpoint: str, service: str):
        made.append((endpoint, service))
        return TracerProvider().get_tracer("test")

    monkeypatch.setattr(tracing, "_process_tracer", process_tracer)
    endpoint = "http://collector:4318/v1/traces"
    settings = Settings(
        data_dir=tmp_path,
        temporal_address=time_skipping_env.client.service_client.config.target_host,
        otel_endpoint=endpoint,
    )
    client = await connect_temporal(settings, service=tracing.agency_service("tax"))
    assert any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"])
    assert tracing.ServerSpans in [m.cls for m in create_app(settings).user_middleware]
    assert made == [(endpoint, "onevisit-agency-tax"), (endpoint, "onevisit-gateway")]
