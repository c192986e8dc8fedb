"""The payload codec: what Temporal stores is sealed, for the operator or for the one agency an
activity's input is addressed to; an agency's worker opens its own inputs and nothing else."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workflows.codec import (
    LEGACY,
    AgencyCodec,
    EncryptionCodec,
    agency_data_converter,
    agency_recipient,
    data_converter,
    payload_key,
)

KEY = Fernet.generate_key().decode()
CASE = WorkflowSerializationContext(namespace="default", workflow_id="case-1")


def activity_on(queue: str | None, local: bool = False) -> ActivitySerializationContext:
    return ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="step",
        activity_task_queue=queue,
        workflow_id="case-1",
        workflow_type="CaseWorkflow",
        is_local=local,
    )


def agency(name: str) -> AgencyCodec:
    """What ``onevisit worker agency NAME`` holds: its payload key from its key file, no data key."""
    return AgencyCodec(name, payload_key(KEY, agency_recipient(name)))


def plain(value) -> list[Payload]:
    return data_converter(None).payload_converter.to_payloads([value])


APPLICATION = {"id_number": "370102198806151237", "name": "济南泉智信息科技有限公司"}


async def test_payloads_are_encrypted_and_come_back_whole():
    codec = EncryptionCodec(KEY)
    sealed = await codec.encode(plain(APPLICATION))
    assert b"370102198806151237" not in sealed[0].SerializeToString()
    assert sealed[0].metadata["recipient"] == b"operator"
    assert await codec.decode(sealed) == plain(APPLICATION)


async def test_another_data_key_is_refused():
    sealed = await EncryptionCodec(KEY).encode([Payload(data=b"x")])
    with pytest.raises(ValueError, match="another key"):
        await EncryptionCodec(Fernet.generate_key().decode()).decode(sealed)


async def test_plain_payloads_from_a_client_without_the_key_are_refused():
    """Fail closed: whoever reaches the Temporal port with a plain data converter (to approve a
    step or withdraw a case behind the gateway's back) gets nothing decoded, nor does an agency."""
    update = plain({"decision": "approve", "clerk_agency": "tax"})
    with pytest.raises(ValueError, match="not encrypted"):
        await EncryptionCodec(KEY).with_context(CASE).decode(update)
    with pytest.raises(ValueError, match="not encrypted"):
        await agency("tax").decode(update)


async def test_a_forged_payload_in_our_encoding_is_refused():
    good = (await EncryptionCodec(KEY).encode([Payload(data=b"x")]))[0]
    forged = Payload(metadata=dict(good.metadata), data=good.data[:-4] + b"AAAA")
    with pytest.raises(ValueError, match="does not open"):
        await EncryptionCodec(KEY).decode([forged])


async def test_an_activity_input_is_sealed_for_its_agency_and_the_operator_only():
    engine = EncryptionCodec(KEY).with_context(activity_on("agency-tax"))
    sealed = await engine.encode(plain(APPLICATION))
    assert sealed[0].metadata["recipient"] == b"agency:tax"
    assert await agency("tax").decode(sealed) == plain(APPLICATION)
    assert await EncryptionCodec(KEY).decode(sealed) == plain(APPLICATION)  # the auditors' decoder
    with pytest.raises(ValueError, match="sealed for agency:tax: this is agency:human_resources"):
        await agency("human_resources").decode(sealed)


@pytest.mark.parametrize(
    "context",
    [CASE, activity_on("engine", local=True), activity_on("engine"), activity_on("agency-bank"), None],
    ids=["case-input-or-update", "engine-local-activity", "engine-activity", "another-agencys-input", "no-context"],
)
async def test_an_agency_opens_nothing_else(context):
    """The application a case starts with, an update, the engine's own activities, another
    agency's inputs: an agency's worker cannot open any of them."""
    codec = EncryptionCodec(KEY)
    sealed = await (codec.with_context(context) if context else codec).encode(plain(APPLICATION))
    with pytest.raises(ValueError, match="refused a payload sealed for"):
        await agency("tax").decode(sealed)


async def test_without_the_activitys_task_queue_the_input_is_the_operators_and_the_agency_fails_loudly():
    sealed = await EncryptionCodec(KEY).with_context(activity_on(None)).encode(plain(APPLICATION))
    assert sealed[0].metadata["recipient"] == b"operator"
    with pytest.raises(ValueError, match="sealed for operator"):
        await agency("tax").decode(sealed)


async def test_a_payload_sealed_for_one_agency_and_relabelled_for_another_does_not_open():
    [sealed] = await EncryptionCodec(KEY).with_context(activity_on("agency-tax")).encode(plain(APPLICATION))
    bank_id = (await agency("bank").encode([Payload(data=b"x")]))[0].metadata["encryption-key-id"]
    relabelled = Payload(
        metadata={**sealed.metadata, "recipient": b"agency:bank", "encryption-key-id": bank_id}, data=sealed.data
    )
    with pytest.raises(ValueError, match="does not open as one sealed for agency:bank"):
        await agency("bank").decode([relabelled])
    with pytest.raises(ValueError, match="does not open"):
        await EncryptionCodec(KEY).with_context(activity_on("agency-bank")).decode([relabelled])
    as_operator = Payload(metadata={**sealed.metadata, "recipient": b"operator"}, data=sealed.data)
    with pytest.raises(ValueError, match="another key"):  # nor as the operator's
        await EncryptionCodec(KEY).with_context(CASE).decode([as_operator])


async def test_the_operator_takes_an_agencys_payload_only_as_that_agencys_activity_result():
    """An agency's result opens on the engine in that activity's context; sealed with the agency's
    own key as a case's input or update (a forgery by the agency), or as another agency's result,
    it is refused."""
    result = await agency("tax").encode(plain({"outcome": "approved"}))
    engine = EncryptionCodec(KEY)
    assert await engine.with_context(activity_on("agency-tax")).decode(result) == plain({"outcome": "approved"})
    with pytest.raises(ValueError, match="where only the operator's is taken"):
        await engine.with_context(CASE).decode(result)
    with pytest.raises(ValueError, match="in an activity of agency:bank"):
        await engine.with_context(activity_on("agency-bank")).decode(result)
    with pytest.raises(ValueError, match="in an activity of operator"):
        await engine.with_context(activity_on("engine", local=True)).decode(result)
    assert await engine.decode(result) == plain({"outcome": "approved"})  # the auditors' decoder reads all


async def test_histories_stored_by_the_previous_version_still_decode_for_the_operator():
    [inner] = plain(APPLICATION)
    key_id = hashlib.sha256(KEY.encode()).hexdigest()[:16].encode()
    legacy = Payload(
        metadata={"encoding": LEGACY, "encryption-key-id": key_id},
        data=Fernet(KEY.encode()).encrypt(inner.SerializeToString()),
    )
    assert await EncryptionCodec(KEY).with_context(CASE).decode([legacy]) == [inner]
    with pytest.raises(ValueError, match="not encrypted"):
        await agency("tax").decode([legacy])


async def test_failure_messages_are_encrypted_too():
    """An agency's error or a refusal's reason in a failure is kept encrypted, and read back whole."""
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    converter = data_converter(KEY)
    failure = Failure()
    error = ApplicationError("legal representative 370102198806151237 is under 18", type="ResidentIdInvalid")
    await converter.encode_failure(error, failure)
    stored = failure.SerializeToString()
    assert b"370102198806151237" not in stored and failure.message == "Encoded failure"
    back = await converter.decode_failure(failure)
    assert isinstance(back, ApplicationError) and back.message == error.message and back.type == "ResidentIdInvalid"


# ---- on a real Temporal server: the engine names the activity's task queue when it seals the input


@activity.defn(name="codec_probe")
async def codec_probe(application: dict) -> dict:
    if application["name"] == "refuse":
        from temporalio.exceptions import ApplicationError

        raise ApplicationError("name 370102198806151237 refused", type="NameRejected", non_retryable=True)
    return {"seen": application["name"]}


@workflow.defn(name="CodecProbe")
class CodecProbe:
    @workflow.run
    async def run(self, request: dict) -> dict:
        try:
            return await workflow.execute_activity(
                "codec_probe",
                request["application"],
                task_queue=request["queue"],
                schedule_to_close_timeout=timedelta(seconds=60),
            )
        except Exception as exc:  # the agency's failure, decoded by the engine
            return {"failed": str(exc.__cause__ or exc)}


async def test_on_temporal_an_agency_worker_with_only_its_key_runs_its_step_and_the_engine_reads_the_result(
    time_skipping_env,
):
    name = f"t{uuid.uuid4().hex[:8]}"
    service, namespace = time_skipping_env.client.service_client, time_skipping_env.client.namespace
    engine = Client(service, namespace=namespace, data_converter=data_converter(KEY))
    own_key = payload_key(KEY, agency_recipient(name))
    agency_client = Client(service, namespace=namespace, data_converter=agency_data_converter(name, own_key))
    request = {"application": APPLICATION, "queue": f"agency-{name}"}
    async with (
        Worker(
            engine, task_queue=f"{name}-engine", workflows=[CodecProbe], workflow_runner=UnsandboxedWorkflowRunner()
        ),
        Worker(agency_client, task_queue=f"agency-{name}", activities=[codec_probe]),
    ):
        handle = await engine.start_workflow(CodecProbe.run, request, id=f"{name}-ok", task_queue=f"{name}-engine")
        assert await handle.result() == {"seen": APPLICATION["name"]}
        refused = await engine.execute_workflow(
            CodecProbe.run,
            {**request, "application": {"name": "refuse"}},
            id=f"{name}-refused",
            task_queue=f"{name}-engine",
        )
        assert refused == {"failed": "NameRejected: name 370102198806151237 refused"}  # the failure decoded
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    scheduled = next(e for e in history.events if e.HasField("activity_task_scheduled_event_attributes"))
    completed = next(e for e in history.events if e.HasField("activity_task_completed_event_attributes"))
    assert started.metadata["recipient"] == b"operator"
    assert scheduled.activity_task_scheduled_event_attributes.input.payloads[0].metadata["recipient"] == (
        f"agency:{name}".encode()
    )
    assert completed.activity_task_completed_event_attributes.result.payloads[0].metadata["recipient"] == (
        f"agency:{name}".encode()
    )
    with pytest.raises(ValueError, match="refused a payload sealed for operator"):
        await AgencyCodec(name, own_key).decode([started])
