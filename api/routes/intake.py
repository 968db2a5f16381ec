"""The reconciliation worklist: messages from other systems that matched no open pathway."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api import audit
from api.accounts import Principal
from api.audit import Outcome
from api.deps import CtxDep, require
from api.service import ApiError
from intake import store
from intake.loinc import load_intake_config
from intake.service import Intake, NotReconcilable

router = APIRouter(tags=["intake"])

Channel = Annotated[str, Path(pattern=r"^(hl7v2|fhir)$")]
ControlId = Annotated[str, Path(min_length=1, max_length=200)]


class UnmatchedMessage(BaseModel):
    """A message waiting for a coordinator: no identity, only why it did not match."""

    channel: str
    control_id: str
    message_type: str
    received_at: datetime
    reason: str


class LinkRequest(BaseModel):
    """The pathway an unmatched message belongs to."""

    pathway_id: str = Field(pattern=r"^pathway-[0-9a-f-]{36}$")


class DiscardRequest(BaseModel):
    """Why an unmatched message belongs to no pathway here."""

    note: str = Field(min_length=1, max_length=500)


class Reconciled(BaseModel):
    """What became of a reconciled message."""

    channel: str
    control_id: str
    status: str
    detail: str


def _intake(ctx: CtxDep) -> Intake:
    return Intake(ctx.temporal(), ctx.engine, load_intake_config(ctx.settings.intake_config_file))


@router.get("/intake/unmatched", response_model=list[UnmatchedMessage])
async def unmatched(
    ctx: CtxDep, who: Annotated[Principal, Depends(require("intake:reconcile"))]
) -> list[UnmatchedMessage]:
    """Messages for no known open pathway, oldest first."""
    rows = await run_in_threadpool(store.unmatched, ctx.engine)
    return [
        UnmatchedMessage(
            channel=r.channel,
            control_id=r.control_id,
            message_type=r.message_type,
            received_at=r.received_at,
            reason=r.ack_text or "",
        )
        for r in rows
    ]


@router.post("/intake/unmatched/{channel}/{control_id}/link", response_model=Reconciled)
async def link(
    channel: Channel,
    control_id: ControlId,
    body: LinkRequest,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("intake:reconcile"))],
) -> Reconciled:
    """Apply the message to the pathway named (422 if it is not waiting, or is refused)."""
    try:
        outcome = await _intake(ctx).link(channel, control_id, body.pathway_id, who.username)
    except NotReconcilable as exc:
        raise ApiError(422, str(exc)) from None
    if outcome.code != "AA":
        raise ApiError(422, outcome.text)
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "intake:reconcile",
        Outcome.OK,
        pathway_id=body.pathway_id,
        detail=f"linked {channel} {control_id}",
    )
    return Reconciled(
        channel=channel, control_id=control_id, status=outcome.status, detail=outcome.text
    )


@router.post("/intake/unmatched/{channel}/{control_id}/discard", response_model=Reconciled)
async def discard(
    channel: Channel,
    control_id: ControlId,
    body: DiscardRequest,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("intake:reconcile"))],
) -> Reconciled:
    """Set the message aside: it belongs to no pathway here."""
    try:
        await _intake(ctx).discard(channel, control_id, who.username, body.note)
    except NotReconcilable as exc:
        raise ApiError(422, str(exc)) from None
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "intake:reconcile",
        Outcome.OK,
        detail=f"discarded {channel} {control_id}",
    )
    return Reconciled(channel=channel, control_id=control_id, status="discarded", detail=body.note)
