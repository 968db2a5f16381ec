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
from models.catalogue import BY_SLUG, CATALOGUE, StepSpec, step
from models.config import PathwayConfig
from models.referral import Referral
from models.state import PathwayInput, PathwayState, StepOutcome
from workflows.pathway import PatientPathwayWorkflow

# Step slug (as typed on the CLI or in a URL) -> the catalogue's entry.
STEPS: Mapping[str, StepSpec] = BY_SLUG

# Step slug -> the workflow's Update, as a typed method: the client never names it by string.
UPDATES: Mapping[str, Any] = {s.slug: getattr(PatientPathwayWorkflow, s.update) for s in CATALOGUE}


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


def parse_step(slug: str, payload: Mapping[str, Any]) -> tuple[StepSpec, BaseModel]:
    """Validate a step's payload at the edge, where errors can name the field."""
    spec = step(slug)
    return spec, spec.payload.model_validate(payload)


async def submit_step(
    client: Client,
    pathway_id: str,
    slug: str,
    payload: Mapping[str, Any] | BaseModel,
    *,
    idempotency_key: str | None = None,
    rpc_timeout: timedelta | None = None,
) -> StepOutcome:
    """Validate and send one step; raises ValidationError or WorkflowUpdateFailedError.

    The Update id comes from ``idempotency_key`` (a fresh one if None): Temporal answers a
    second Update with the same id on the same run with the first one's result, applying once.
    """
    if isinstance(payload, BaseModel):
        model = payload
    else:
        _, model = parse_step(slug, payload)
    handle = client.get_workflow_handle_for(PatientPathwayWorkflow.run, pathway_id)
    outcome: StepOutcome = await handle.execute_update(
        UPDATES[slug],
        model,
        id=update_id(client, slug, idempotency_key or new_idempotency_key()),
        rpc_timeout=rpc_timeout,
    )
    return outcome
