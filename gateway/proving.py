"""Evidence an auditor can check offline without the operator (issue 8): the proofs of each block a
case was anchored in, read from the gateway's ledger node (``chain.proving``), and the agencies'
checkpoints over those blocks, asked of each agency's worker (``workflows.cosign``).

Without a Temporal client, or when the agencies do not answer, the bundle carries its proofs and
fewer (or no) checkpoints: the auditor then finds its blocks short of a quorum, never proven.
"""

from __future__ import annotations

import logging
import uuid

from temporalio.client import Client

from chain.audit.evidence import EvidenceBundle
from chain.checkpoint import BlockRef, Checkpoint
from chain.client import JsonRpc
from chain.proving import block_proofs
from gateway.deployment import DeploymentFile
from workflows.cosign import COSIGN_WITHIN, COSIGN_WORKFLOW, CosignRequest
from workflows.messages import ENGINE_QUEUE

log = logging.getLogger("onevisit.gateway")


def proofs_for(bundle: EvidenceBundle, ledger_rpc: str, deployment: DeploymentFile) -> EvidenceBundle:
    """The bundle with a BlockProof per anchor block (header and state proofs), no checkpoints yet."""
    anchors = [i.anchor for i in bundle.handoffs if i.anchor is not None]
    return bundle.model_copy(update={"proofs": block_proofs(JsonRpc(ledger_rpc), deployment.chain, anchors)})


async def cosigned(bundle: EvidenceBundle, temporal: Client | None, deployment: DeploymentFile) -> EvidenceBundle:
    """The bundle with every agency's checkpoint over its anchor blocks (those that answered)."""
    blocks = sorted({(i.anchor.block_number, i.anchor.block_hash.lower()) for i in bundle.handoffs if i.anchor})
    if temporal is None or not blocks:
        return bundle
    request = CosignRequest(
        chain_id=deployment.chain.chain_id,
        blocks=[BlockRef(number=n, hash=h) for n, h in blocks],
        agencies=sorted(deployment.agencies),
    )
    try:
        checkpoints = await temporal.execute_workflow(
            COSIGN_WORKFLOW,
            request,
            id=f"cosign-{bundle.case_id}-{uuid.uuid4().hex[:12]}",
            task_queue=ENGINE_QUEUE,
            execution_timeout=COSIGN_WITHIN * 3,
            result_type=list[Checkpoint],
        )
    except Exception as exc:  # the engine down or slow: the bundle goes out unproven, and says why by its findings
        log.warning("agencies' checkpoints for case %s not collected: %s", bundle.case_id, exc)
        return bundle
    return bundle.model_copy(update={"checkpoints": checkpoints})
