"""Referring patients and submitting steps, with errors mapped to field-level detail and audited.

Shared by the JSON API and the pages, so both refuse the same input in the same words.
"""

import asyncio
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import audit, idempotency, queries
from api.accounts import Principal
from api.audit import Outcome
from api.context import AppContext
from api.idempotency import HEADER, Seen
from api.outages import TEMPORAL_DOWN
from api.schemas import ReferralAccepted, StepResult
from core.pathways import (
    IDEMPOTENCY_KEY_RULE,
    STEPS,
    ReferralKey,
    centre_pathway_config,
    new_idempotency_key,
    parse_step,
    payload_digest,
    referral_pathway_id,
    start_pathway,
    submit_step,
    valid_idempotency_key,
)
from core.step_slots import NoSlot
from models.labels import label_path, split_field_message
from models.referral import Referral, identity_problems
from models.state import StepOutcome
from models.vocab import Stage

log = logging.getLogger("sirt.api")


ErrorDetail = list[dict[str, Any]]


class ApiError(Exception):
    """A request that failed for a reason the caller can act on."""

    def __init__(self, status: int, detail: str | ErrorDetail) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def labelled(loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    """One error detail: ``loc`` as FastAPI gives it, ``label`` the field in the shared label
    map's words, and ``msg`` naming that field in those words ("Blood results > Bilirubin
    (µmol/L): Input should be ...")."""
    if loc and loc[0] in ("query", "path", "header"):
        label = str(loc[1]) if len(loc) > 1 else ""  # a parameter's own name
    else:
        label = label_path(loc[1:] if loc and loc[0] == "body" else loc)
    text = f"{label}: {msg}" if label else msg
    return {"loc": loc, "label": label, "msg": text, "type": kind}


def normalise_errors(
    errors: Sequence[Mapping[str, Any]], prefix: tuple[str, ...] = ()
) -> ErrorDetail:
    """Errors as FastAPI-style detail; "field: msg" errors get the field as their loc.

    Values are never echoed (no "input"), so no submitted data ends up in logs or responses.
    """
    detail = []
    for err in errors:
        raw_loc = list(err.get("loc", ()))
        loc: list[str | int] = [*prefix, *raw_loc]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        path, rest = split_field_message(msg)
        # A model-level validator has no loc of its own: its message names the field.
        if path and raw_loc in ([], ["body"]):
            loc, msg = [*loc, *path], rest
        detail.append(labelled(loc, msg, str(err.get("type", "value_error"))))
    return detail


def validation_detail(exc: ValidationError, prefix: tuple[str, ...] = ("body",)) -> ErrorDetail:
    """A pydantic ValidationError as detail under ``prefix``."""
    return normalise_errors(exc.errors(), prefix)


def refusal_detail(exc: WorkflowUpdateFailedError) -> ErrorDetail:
    """A refused Update as detail naming the field its message starts with."""
    cause = exc.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
    kind = (cause.type if isinstance(cause, ApplicationError) else None) or "refused"
    path, rest = split_field_message(message)
    return [labelled(["body", *path], rest, kind)]


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def audit_fields(detail: ErrorDetail) -> str:
    """Which fields failed, for the audit trail: schema names and indexes only.

    A loc can hold a submitted mapping key (free text); those become "*", so no value typed by
    a user (or a fuzzer) ends up in the audit trail.
    """
    paths = []
    for d in detail:
        parts = [str(p) if isinstance(p, int) or _NAME.match(str(p)) else "*" for p in d["loc"][1:]]
        paths.append(".".join(parts) or "-")
    return ("fields: " + ", ".join(paths))[:500]


async def _audit(
    ctx: AppContext,
    who: Principal,
    action: str,
    outcome: Outcome,
    pathway_id: str | None = None,
    detail: str | None = None,
) -> None:
    await run_in_threadpool(
        audit.record, ctx.engine, who, action, outcome, pathway_id=pathway_id, detail=detail
    )


def _header_error(msg: str, kind: str) -> ErrorDetail:
    return [{"loc": ["header", HEADER], "msg": msg, "type": kind}]


async def _checked_key(
    ctx: AppContext, who: Principal, action: str, key: str | None, pathway_id: str | None = None
) -> str | None:
    """The Idempotency-Key as given, or ApiError(422) naming the header if it is malformed."""
    if key is None or valid_idempotency_key(key):
        return key
    await _audit(ctx, who, action, Outcome.INVALID, pathway_id, f"fields: header {HEADER}")
    raise ApiError(422, _header_error(f"must be {IDEMPOTENCY_KEY_RULE}", "idempotency_key"))


def referral_key(
    who: Principal, referral: Referral, idempotency_key: str | None
) -> ReferralKey | None:
    """The referral's key: the client's Idempotency-Key, else the referrer's reference; scoped
    to the user (or integration) sending it, so another sender's key never finds this pathway."""
    return ReferralKey.of(f"user:{who.user_id}", referral, idempotency_key)


DUPLICATE = "duplicate_referral"


async def _check_identity(
    ctx: AppContext, who: Principal, referral: Referral, source: str, pathway_id: str | None
) -> None:
    """Refuse an impossible date of birth (422), and a second open pathway for the same NHS
    number unless a reason is stated (409, naming the open pathway). A keyed referral sent
    again is not its own duplicate."""
    problems = identity_problems(referral.patient, await ctx.today())
    if problems:
        await _audit(ctx, who, "pathway:refer", Outcome.INVALID, None, f"{source}: identity")
        raise ApiError(
            422,
            [labelled(["body", *field.split(".")], msg, "value_error") for field, msg in problems],
        )
    other = await run_in_threadpool(queries.open_duplicate, ctx.engine, referral, pathway_id)
    if other is not None:
        await _audit(ctx, who, "pathway:refer", Outcome.CONFLICT, other, f"{source}: duplicate")
        where: list[str | int] = ["body", "patient", "nhs_number"]
        error = labelled(where, queries.duplicate_message(other), DUPLICATE)
        raise ApiError(409, [{**error, "pathway_id": other}])


async def refer(
    ctx: AppContext,
    who: Principal,
    referral: Referral,
    source: str,
    idempotency_key: str | None = None,
) -> ReferralAccepted:
    """Start a pathway for a referral and wait briefly for its first read-model row.

    A keyed referral (Idempotency-Key or the referrer's reference) sent again returns the
    pathway the first one started, and starts no second one.
    """
    action = "pathway:refer"
    key = referral_key(who, referral, await _checked_key(ctx, who, action, idempotency_key))
    pathway_id: str | None = None
    if key is not None:
        pathway_id = referral_pathway_id(ctx.temporal(), ctx.settings.centre, key)
    await _check_identity(ctx, who, referral, source, pathway_id)
    if key is not None and pathway_id is not None:
        found = await run_in_threadpool(
            idempotency.claim,
            ctx.engine,
            pathway_id,
            "referral",
            "refer",
            payload_digest(referral),
            await ctx.clock(),
        )
        if found.seen is Seen.OTHER:
            await _audit(ctx, who, action, Outcome.CONFLICT, pathway_id, f"{source}: key reused")
            where = ["header", HEADER] if key.kind == "key" else ["body", "referrer_reference"]
            msg = (
                f"was already used for a different referral (pathway {pathway_id}); "
                "record changes on that pathway, or use a new key for a new referral"
            )
            raise ApiError(422, [{"loc": where, "msg": msg, "type": "referral_key_reused"}])
        if found.seen is Seen.DONE and found.result is not None:
            await _audit(ctx, who, action, Outcome.OK, pathway_id, f"{source}: repeat")
            return ReferralAccepted.model_validate_json(found.result)
    try:
        handle = await start_pathway(
            ctx.temporal(),
            referral,
            task_queue=ctx.settings.task_queue,
            centre=ctx.settings.centre,
            config=centre_pathway_config(ctx.settings.pathway_config_file),
            referral_key=key,
        )
    except RPCError as exc:
        await _audit(ctx, who, action, Outcome.ERROR, pathway_id, detail=source)
        log.warning("Temporal unavailable (%s): %s", action, exc.message)
        raise ApiError(503, TEMPORAL_DOWN) from exc
    await _audit(ctx, who, action, Outcome.OK, handle.id, detail=source)
    stage = await _first_stage(ctx, handle.id)
    accepted = ReferralAccepted(pathway_id=handle.id, stage=stage)
    if key is not None:
        await run_in_threadpool(
            idempotency.complete,
            ctx.engine,
            handle.id,
            "referral",
            accepted.model_dump_json(),
            await ctx.clock(),
        )
    return accepted


async def _first_stage(ctx: AppContext, pathway_id: str) -> Stage | None:
    # The first projections run just after the start; a page redirecting to the timeline
    # should find the pathway there with its first task open, so wait a little (bounded:
    # the worker may be down, and the referral is durable in Temporal either way).
    deadline = time.monotonic() + ctx.api.refer_wait_s
    while True:
        row = await run_in_threadpool(queries.pathway_row, ctx.engine, pathway_id)
        settled = row is not None and (row.next_due_on is not None or Stage(row.stage).is_terminal)
        if settled or time.monotonic() >= deadline:
            return Stage(row.stage) if row is not None else None
        await asyncio.sleep(0.05)


def retry_safely(key: str) -> str:
    """How to retry a step without applying it twice."""
    return f"Retrying with the same {HEADER} ({key}) is safe: the step is applied at most once."


BUSY = (
    "The service is busy, so the step was not sent and nothing was recorded; try again in a moment."
)


async def _send(
    ctx: AppContext, pathway_id: str, step: str, model: BaseModel, key: str
) -> StepOutcome:
    """Send the step once a slot is free (ApiSettings.max_steps_in_flight); NoSlot if none
    frees in time, TimeoutError if the pathway does not answer within the step timeout."""
    async with ctx.step_slots.taken():
        return await asyncio.wait_for(
            submit_step(ctx.temporal(), pathway_id, step, model, idempotency_key=key),
            ctx.api.step_timeout_s,
        )


def maybe_applied(pathway_id: str, key: str) -> str:
    """What to tell a caller whose step may or may not have been applied."""
    return (
        "the pathway did not answer in time, so the step may have been applied: check the "
        f"pathway's timeline (/api/v1/pathways/{pathway_id}, or the page /pathways/{pathway_id}). "
        + retry_safely(key)
    )


async def submit(
    ctx: AppContext,
    who: Principal,
    pathway_id: str,
    step: str,
    payload: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> StepResult:
    """Validate and submit one step; ApiError(422) names the field and nothing changes.

    The step is sent as an Update whose id comes from ``idempotency_key`` (or a fresh one): a
    retry with the same key is applied once and gets the first answer, status and body.
    """
    action = f"step:{step}"
    if step not in STEPS:
        raise ApiError(404, f"unknown step {step!r}")
    given = await _checked_key(ctx, who, action, idempotency_key, pathway_id)
    if not await run_in_threadpool(queries.pathway_exists, ctx.engine, pathway_id):
        await _audit(ctx, who, action, Outcome.NOT_FOUND, pathway_id)
        raise ApiError(404, "no such pathway")
    try:
        _, model = parse_step(step, payload)
    except ValidationError as exc:
        detail = validation_detail(exc)
        await _audit(ctx, who, action, Outcome.INVALID, pathway_id, audit_fields(detail))
        raise ApiError(422, detail) from exc
    hits = await run_in_threadpool(queries.free_text_identifiers, ctx.engine, pathway_id, model)
    if hits:
        detail = [labelled(["body", *where], msg, "identifier_in_free_text") for where, msg in hits]
        await _audit(ctx, who, action, Outcome.INVALID, pathway_id, audit_fields(detail))
        raise ApiError(422, detail)
    key = given or new_idempotency_key()
    found = await run_in_threadpool(
        idempotency.claim,
        ctx.engine,
        pathway_id,
        key,
        step,
        payload_digest(model),
        await ctx.clock(),
    )
    if found.seen is Seen.OTHER:
        await _audit(ctx, who, action, Outcome.CONFLICT, pathway_id, f"{HEADER} reused")
        msg = (
            "was already used for a different request on this pathway; use a new key "
            "(or reload the form) to record something else"
        )
        raise ApiError(422, _header_error(msg, "idempotency_key_reused"))
    if found.seen is Seen.DONE and found.result is not None:
        await _audit(ctx, who, action, Outcome.OK, pathway_id, "repeat: the first answer")
        return StepResult.model_validate_json(found.result)

    async def forget() -> None:
        # Refused or never reached the pathway: nothing was applied, the key is free again.
        await run_in_threadpool(idempotency.release, ctx.engine, pathway_id, key)

    try:
        outcome = await _send(ctx, pathway_id, step, model, key)
    except NoSlot:
        await forget()
        await _audit(ctx, who, action, Outcome.ERROR, pathway_id, "busy: not sent")
        raise ApiError(503, f"{BUSY} {retry_safely(key)}") from None
    except WorkflowUpdateFailedError as exc:
        await forget()
        detail = refusal_detail(exc)
        await _audit(ctx, who, action, Outcome.REFUSED, pathway_id, audit_fields(detail))
        raise ApiError(422, detail) from exc
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
        # The Update may have been accepted (and may yet complete): say so, never "try again"
        # without the key, which would apply it twice.
        await _audit(ctx, who, action, Outcome.ERROR, pathway_id, "timeout: may have applied")
        raise ApiError(503, maybe_applied(pathway_id, key)) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            # The workflow has completed (an exit stage): nothing more can be recorded.
            await forget()
            await _audit(ctx, who, action, Outcome.CONFLICT, pathway_id, "pathway ended")
            raise ApiError(409, "the pathway has ended; no further steps can be recorded") from exc
        await _audit(ctx, who, action, Outcome.ERROR, pathway_id, exc.status.name)
        log.warning("Temporal unavailable (%s): %s", action, exc.message)
        raise ApiError(503, f"{TEMPORAL_DOWN} {retry_safely(key)}") from exc
    result = StepResult.model_validate(outcome.model_dump())
    await run_in_threadpool(
        idempotency.complete,
        ctx.engine,
        pathway_id,
        key,
        result.model_dump_json(),
        await ctx.clock(),
    )
    await _audit(ctx, who, action, Outcome.OK, pathway_id)
    return result
