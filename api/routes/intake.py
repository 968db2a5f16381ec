"""The reconciliation worklist: messages from other systems that matched no open pathway."""

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api import audit
from api.accounts import Principal
from api.audit import Outcome
from api.deps import CtxDep, require
from api.service import ApiError
from api.templating import flash, render
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
    config = load_intake_config(ctx.settings.intake_config_file)
    return Intake(ctx.temporal(), ctx.engine, config, slots=ctx.step_slots)


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


class IntakeAccepted(BaseModel):
    """A FHIR result or death taken in: applied to the patient's pathway."""

    resource_id: str
    status: str
    detail: str


def _loc(text: str) -> list[str]:
    # Our reasons start with the element: "Observation.valueQuantity.code: unit ...".
    element = text.split(": ", 1)[0] if ": " in text else ""
    return ["body", *element.split(".")] if element and " " not in element else ["body"]


@router.post(
    "/fhir",
    status_code=201,
    response_model=IntakeAccepted,
    responses={422: {"description": "Not a resource taken here; detail names the element"}},
)
async def receive_fhir(
    body: Annotated[
        dict[str, Any],
        Body(
            description="FHIR R4: an Observation (LOINC-coded result), a Bundle of "
            "Observations of one patient, or a Patient with deceased[x]. Its id keys it.",
            media_type="application/fhir+json",
        ),
    ],
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("intake:fhir"))],
) -> IntakeAccepted:
    """Take a FHIR result or death: 201 applied, 422 naming the element, 503 to send again."""
    outcome = await _intake(ctx).receive_fhir(json.dumps(body).encode())
    ok = outcome.code == "AA"
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "intake:fhir",
        Outcome.OK if ok else Outcome.INVALID,
        pathway_id=outcome.pathway_id,
        detail=f"fhir intake: {outcome.status}",
    )
    if outcome.status == "received":
        raise ApiError(503, outcome.text)
    if not ok:
        raise ApiError(
            422, [{"loc": _loc(outcome.text), "msg": outcome.text, "type": outcome.status}]
        )
    return IntakeAccepted(
        resource_id=str(body.get("id")), status=outcome.status, detail=outcome.text
    )


# ---------------------------------------------------------------- the page

pages_router = APIRouter(tags=["pages"], include_in_schema=False)


@pages_router.get("/intake")
async def intake_page(
    request: Request, ctx: CtxDep, who: Annotated[Principal, Depends(require("intake:reconcile"))]
) -> Response:
    """The reconciliation worklist, with a link and a discard form per message."""
    items = await unmatched(ctx, who)
    return render(
        request, "intake.html", who, title="Messages to reconcile", active="intake", items=items
    )


async def _from_page(
    request: Request, control_id: str, field: str, act: Callable[[str], Awaitable[str]], bad: str
) -> Response:
    """A reconciliation from the page: ``act`` on the form's one field, flash what happened
    (or ``bad`` when the field is refused), then back to the worklist."""
    form = await request.form()
    try:
        said = await act(str(form.get(field, "")).strip())
    except ValidationError:
        said = bad
    except ApiError as exc:
        said = str(exc.detail)
    flash(request, f"{control_id}: {said}")
    return RedirectResponse("/intake", status_code=303)


@pages_router.post("/intake/{channel}/{control_id}/link")
async def link_page(
    request: Request,
    channel: Channel,
    control_id: ControlId,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("intake:reconcile"))],
) -> Response:
    """Link from the page, then back to it with what happened."""

    async def act(pathway_id: str) -> str:
        done = await link(channel, control_id, LinkRequest(pathway_id=pathway_id), ctx, who)
        return f"{done.detail}."

    return await _from_page(
        request, control_id, "pathway_id", act, "pathway_id is not a pathway id."
    )


@pages_router.post("/intake/{channel}/{control_id}/discard")
async def discard_page(
    request: Request,
    channel: Channel,
    control_id: ControlId,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("intake:reconcile"))],
) -> Response:
    """Discard from the page, then back to it."""

    async def act(note: str) -> str:
        await discard(channel, control_id, DiscardRequest(note=note), ctx, who)
        return "discarded."

    return await _from_page(request, control_id, "note", act, "note: say why it is discarded.")
