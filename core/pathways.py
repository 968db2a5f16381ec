"""Starting pathways and calling their steps: shared by the CLI, the API and the tests."""

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from core.calendar import CalendarConfig
from core.codec import EncryptionCodec
from models.config import PathwayConfig
from models.referral import Referral
from models.state import PathwayInput, PathwayState
from models.steps import (
    AmendTreatmentDate,
    ClockPauseRequest,
    ClockResume,
    DosimetryPlan,
    FollowUpVisitRecord,
    LtfuReview,
    MdtDecision,
    ReildReview,
    ScheduleProcedure,
    TaskClosure,
    TreatmentRecord,
    TriageDecision,
    UnscheduledEvent,
    WorkupResult,
)
from workflows.pathway import PatientPathwayWorkflow

# Step name (as typed on the CLI or in a URL) -> (Update name, payload model).
STEPS: Mapping[str, tuple[str, type[BaseModel]]] = {
    "triage": ("triage_referral", TriageDecision),
    "mdt-decision": ("record_mdt_decision", MdtDecision),
    "schedule-workup": ("schedule_workup", ScheduleProcedure),
    "workup": ("record_workup", WorkupResult),
    "dosimetry-plan": ("record_dosimetry_plan", DosimetryPlan),
    "schedule-treatment": ("schedule_treatment", ScheduleProcedure),
    "treatment": ("record_treatment", TreatmentRecord),
    "amend-treatment-date": ("amend_treatment_date", AmendTreatmentDate),
    "follow-up-visit": ("record_follow_up_visit", FollowUpVisitRecord),
    "event": ("record_unscheduled_event", UnscheduledEvent),
    "close-task": ("close_task", TaskClosure),
    "ltfu-review": ("review_lost_to_follow_up", LtfuReview),
    "reild-review": ("record_reild_review", ReildReview),
    "pause-clock": ("pause_clock", ClockPauseRequest),
    "resume-clock": ("resume_clock", ClockResume),
}


def centre_pathway_config(path: Path | None = None) -> PathwayConfig:
    """The configuration new pathways start with: the centre's file, else the defaults.

    The defaults include the working-day calendar (England, Europe/London).
    """
    if path is not None:
        return PathwayConfig.model_validate_json(path.read_text())
    return PathwayConfig(calendar=CalendarConfig())


def new_pathway_id() -> str:
    """A pseudonymous id: random, so it says nothing about the patient."""
    return f"pathway-{uuid.uuid4()}"


# An idempotency key as a client sends it: a UUID, a ULID, "batch-7:row-12"... but nothing
# that could smuggle text into an Update id, a log line or a header.
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
IDEMPOTENCY_KEY_RULE = "1-128 characters: letters, digits, '.', '_', ':' or '-' (a UUID will do)"


def valid_idempotency_key(key: str) -> bool:
    """Whether ``key`` may be used as an idempotency key (see IDEMPOTENCY_KEY_RULE)."""
    return IDEMPOTENCY_KEY.fullmatch(key) is not None


def new_idempotency_key() -> str:
    """A fresh key for a submission whose caller gave none."""
    return str(uuid.uuid4())


def _codec(client: Client) -> EncryptionCodec:
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        raise RuntimeError("keyed ids need the encrypting data converter")
    return codec


def update_id(client: Client, step: str, key: str) -> str:
    """The Update id of a step submitted with ``key``: namespaced by step, so one key reused
    for another step is a different Update (and the API refuses it as a different request).

    The key is HMAC'd: Update ids are stored unencrypted in Temporal, and a client may choose
    any key it likes, even one that carries an NHS number.
    """
    secret = _codec(client).derived_secret("update-id")
    return f"{step}:{hmac.new(secret, key.encode(), 'sha256').hexdigest()[:32]}"


def payload_digest(payload: BaseModel) -> str:
    """A digest of a validated payload, to tell a retry from a different request."""
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ReferralKey(BaseModel):
    """What makes two referral submissions "the same referral".

    ``scope`` is who sent it (a user or integration, or the CLI), so two senders' keys never
    meet; ``kind`` says where the key came from (a client's Idempotency-Key, the referrer's
    own reference), so a reference never collides with a key chosen for something else.
    """

    scope: str
    kind: str
    key: str

    @classmethod
    def of(cls, scope: str, referral: Referral, key: str | None) -> "ReferralKey | None":
        """The sender's key if given, else the referrer's own reference, else None."""
        if key is not None:
            return cls(scope=scope, kind="key", key=key)
        if referral.referrer_reference:
            return cls(scope=scope, kind="reference", key=referral.referrer_reference)
        return None


def referral_pathway_id(client: Client, centre: str, referral_key: ReferralKey) -> str:
    """The pathway id for a keyed referral: a keyed hash (HMAC with a secret derived from the
    payload key), so the id is stable across retries yet says nothing about the patient or the
    key, and cannot be computed by anyone without the key."""
    message = "\0".join([centre, referral_key.scope, referral_key.kind, referral_key.key])
    secret = _codec(client).derived_secret("referral-pathway-id")
    digest = hmac.new(secret, message.encode(), "sha256")
    return f"pathway-{uuid.UUID(bytes=digest.digest()[:16])}"


async def start_pathway(
    client: Client,
    referral: Referral,
    *,
    task_queue: str,
    centre: str,
    config: PathwayConfig | None = None,
    referral_key: ReferralKey | None = None,
) -> WorkflowHandle[PatientPathwayWorkflow, PathwayState]:
    """Start a pathway for a referral; the workflow id is the pathway id.

    With a referral key the id is derived from it, and a retry finds the pathway the first
    attempt started (running or ended) instead of starting a second one.
    """
    if referral_key is None:
        pathway_id = new_pathway_id()
    else:
        pathway_id = referral_pathway_id(client, centre, referral_key)
    inp = PathwayInput(
        pathway_id=pathway_id,
        centre=centre,
        referral=referral,
        config=config or centre_pathway_config(),
    )
    try:
        return await client.start_workflow(
            PatientPathwayWorkflow.run,
            inp,
            id=pathway_id,
            task_queue=task_queue,
            # A running pathway is returned as is; an ended one is never started afresh
            # (REJECT_DUPLICATE raises, and is caught below).
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        if referral_key is None:
            raise
        return client.get_workflow_handle_for(PatientPathwayWorkflow.run, pathway_id)


def parse_step(step: str, payload: Mapping[str, Any]) -> tuple[str, BaseModel]:
    """Validate a step's payload at the edge, where errors can name the field."""
    try:
        update, model = STEPS[step]
    except KeyError:
        raise ValueError(f"unknown step {step!r}; steps: {', '.join(STEPS)}") from None
    return update, model.model_validate(payload)


async def submit_step(
    client: Client,
    pathway_id: str,
    step: str,
    payload: Mapping[str, Any] | BaseModel,
    *,
    idempotency_key: str | None = None,
    rpc_timeout: timedelta | None = None,
) -> PathwayState:
    """Validate and send one step; raises ValidationError or WorkflowUpdateFailedError.

    The Update id comes from ``idempotency_key`` (a fresh one if None): Temporal answers a
    second Update with the same id on the same run with the first one's result, applying once.
    """
    if isinstance(payload, BaseModel):
        update, model = STEPS[step][0], payload
    else:
        update, model = parse_step(step, payload)
    handle = client.get_workflow_handle(pathway_id)
    state: PathwayState = await handle.execute_update(
        update,
        model,
        id=update_id(client, step, idempotency_key or new_idempotency_key()),
        result_type=PathwayState,
        rpc_timeout=rpc_timeout,
    )
    return state
