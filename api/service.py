"""Referring patients and submitting steps, with errors mapped to field-level detail and audited.

Shared by the JSON API and the pages, so both refuse the same input in the same words.
"""

import asyncio
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import audit, queries
from api.accounts import Principal
from api.audit import Outcome
from api.context import AppContext
from api.outages import TEMPORAL_DOWN
from api.schemas import ReferralAccepted, StepResult
from core.pathways import STEPS, centre_pathway_config, start_pathway, submit_step
from models.referral import Referral
from models.vocab import Stage

log = logging.getLogger("sirt.api")

# "field.path: message", the form of model-level validator and Update validator messages.
_FIELD_MESSAGE = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (?P<msg>.+)$", re.S)

ErrorDetail = list[dict[str, Any]]


class ApiError(Exception):
    """A request that failed for a reason the caller can act on."""

    def __init__(self, status: int, detail: str | ErrorDetail) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


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
        match = _FIELD_MESSAGE.match(msg)
        # A model-level validator has no loc of its own: its message names the field.
        if match and raw_loc in ([], ["body"]):
            loc = [*loc, *match["field"].split(".")]
            msg = match["msg"]
        detail.append({"loc": loc, "msg": msg, "type": err.get("type", "value_error")})
    return detail


def validation_detail(exc: ValidationError, prefix: tuple[str, ...] = ("body",)) -> ErrorDetail:
    """A pydantic ValidationError as detail under ``prefix``."""
    return normalise_errors(exc.errors(), prefix)


def refusal_detail(exc: WorkflowUpdateFailedError) -> ErrorDetail:
    """A refused Update as detail naming the field its message starts with."""
    cause = exc.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
    kind = (cause.type if isinstance(cause, ApplicationError) else None) or "refused"
    match = _FIELD_MESSAGE.match(message)
    if match:
        return [{"loc": ["body", *match["field"].split(".")], "msg": match["msg"], "type": kind}]
    return [{"loc": ["body"], "msg": message, "type": kind}]


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


async def refer(
    ctx: AppContext, who: Principal, referral: Referral, source: str
) -> ReferralAccepted:
    """Start a pathway for a referral and wait briefly for its first read-model row."""
    try:
        handle = await start_pathway(
            ctx.temporal(),
            referral,
            task_queue=ctx.settings.task_queue,
            centre=ctx.settings.centre,
            config=centre_pathway_config(ctx.settings.pathway_config_file),
        )
    except RPCError as exc:
        await _audit(ctx, who, "pathway:refer", Outcome.ERROR, detail=source)
        log.warning("Temporal unavailable (pathway:refer): %s", exc.message)
        raise ApiError(503, TEMPORAL_DOWN) from exc
    await _audit(ctx, who, "pathway:refer", Outcome.OK, handle.id, detail=source)
    stage = await _first_stage(ctx, handle.id)
    return ReferralAccepted(pathway_id=handle.id, stage=stage)


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


async def submit(
    ctx: AppContext, who: Principal, pathway_id: str, step: str, payload: Mapping[str, Any]
) -> StepResult:
    """Validate and submit one step; ApiError(422) names the field and nothing changes."""
    action = f"step:{step}"
    if step not in STEPS:
        raise ApiError(404, f"unknown step {step!r}")
    if not await run_in_threadpool(queries.pathway_exists, ctx.engine, pathway_id):
        await _audit(ctx, who, action, Outcome.NOT_FOUND, pathway_id)
        raise ApiError(404, "no such pathway")
    try:
        state = await asyncio.wait_for(
            submit_step(ctx.temporal(), pathway_id, step, payload), ctx.api.step_timeout_s
        )
    except ValidationError as exc:
        detail = validation_detail(exc)
        await _audit(ctx, who, action, Outcome.INVALID, pathway_id, audit_fields(detail))
        raise ApiError(422, detail) from exc
    except WorkflowUpdateFailedError as exc:
        detail = refusal_detail(exc)
        await _audit(ctx, who, action, Outcome.REFUSED, pathway_id, audit_fields(detail))
        raise ApiError(422, detail) from exc
    except TimeoutError as exc:
        # The Update was admitted but never finished: the pathway is stuck (a workflow error).
        await _audit(ctx, who, action, Outcome.ERROR, pathway_id, "update timed out")
        raise ApiError(
            504, "the pathway did not finish the step in time; ask an administrator to check it"
        ) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        await _audit(ctx, who, action, Outcome.ERROR, pathway_id, "timeout")
        raise ApiError(503, "no worker handled the step in time; try again") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            # The workflow has completed (an exit stage): nothing more can be recorded.
            await _audit(ctx, who, action, Outcome.CONFLICT, pathway_id, "pathway ended")
            raise ApiError(409, "the pathway has ended; no further steps can be recorded") from exc
        await _audit(ctx, who, action, Outcome.ERROR, pathway_id, exc.status.name)
        log.warning("Temporal unavailable (%s): %s", action, exc.message)
        raise ApiError(503, TEMPORAL_DOWN) from exc
    await _audit(ctx, who, action, Outcome.OK, pathway_id)
    return StepResult(
        pathway_id=pathway_id,
        stage=state.stage,
        seq=state.seq,
        open_tasks=[t.model_dump(mode="json", exclude={"fired"}) for t in state.open_tasks],
    )
