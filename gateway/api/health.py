"""GET /healthz: each part's state (ledger, Temporal, a worker on every queue); 503 until all serve."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response, status
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from agencies.directory import AGENCIES
from chain.client import connect
from gateway.api.deps import DeploymentDep, SettingsDep, TemporalDep
from gateway.deployment import DeploymentFile
from gateway.schemas import Health
from gateway.settings import Settings
from workflows.flows import agency_queue
from workflows.messages import ENGINE_QUEUE

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health, "description": "still starting"}})
async def healthz(
    response: Response, settings: SettingsDep, deployment: DeploymentDep, temporal: TemporalDep
) -> Health:
    body = await health(settings, deployment, temporal)
    if body.problems:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return body


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition (gateway.metrics): aggregates from the store and this process."""
    body, kind = request.app.state.metrics.exposition()
    return Response(body, **kind)


async def _pollers(client: Client, namespace: str, queue: str, kind: TaskQueueType.ValueType) -> int:
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind)
    )
    return len(resp.pollers)


async def health(settings: Settings, deployment: DeploymentFile, client: Client) -> Health:
    chain = deployment.chain
    problems: list[str] = []
    try:
        chain_id = await asyncio.to_thread(lambda: connect(settings.ledger_rpc, timeout=3).eth.chain_id)
        if chain_id != chain.chain_id:
            problems.append(f"ledger is chain {chain_id}, expected {chain.chain_id}")
    except Exception as exc:  # report every part's state, never fail the probe itself
        problems.append(f"ledger: {exc}")
    queues = {
        ENGINE_QUEUE: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        **{agency_queue(a): TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY for a in AGENCIES},
    }
    workers: dict[str, int] = {}
    for queue, kind in queues.items():
        try:
            n = await _pollers(client, settings.temporal_namespace, queue, kind)
        except Exception as exc:
            problems.append(f"temporal: {exc}")
            break
        workers[queue] = n
        if n == 0:
            problems.append(f"no worker polls {queue}")
    return Health(
        status="starting" if problems else "ok",
        temporal=settings.temporal_address,
        temporal_ui=settings.temporal_ui_url,
        ledger_rpc=settings.ledger_rpc,
        chain_id=chain.chain_id,
        contracts={"registry": chain.registry, "ledger": chain.ledger},
        problems=problems,
        workers=workers,
    )
