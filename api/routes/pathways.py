"""Pathways: refer (JSON or FHIR), list, view one, submit its steps, record events, withdraw."""

import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api import audit, queries, service
from api.accounts import Principal
from api.audit import Outcome
from api.deps import PATHWAY_ID_PATTERN, CtxDep, identity_visible, require
from api.fhir import FhirError, referral_from_bundle
from api.permissions import step_action
from api.schemas import (
    PathwayDetail,
    PathwayPage,
    ReferralAccepted,
    StepResult,
    WithdrawRequest,
)
from api.search import Search, parse_search
from api.service import ApiError
from core.pathways import STEPS
from models.referral import Referral
from models.steps import UnscheduledEvent
from models.vocab import Role, Stage

router = APIRouter(prefix="/pathways", tags=["pathways"])

PathwayId = Annotated[
    str, Path(pattern=PATHWAY_ID_PATTERN, max_length=64, description="Pseudonymous pathway id.")
]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes a retry safe: a request sent again with the same key is applied "
        "once and answered with the first answer. 1-128 letters, digits, '.', '_', ':' or '-' "
        "(a UUID will do). On a referral it is the referral key.",
    ),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such pathway"},
    409: {"description": "The pathway has ended"},
    422: {
        "description": "Invalid payload, or the step was refused, or the Idempotency-Key is "
        "malformed or was used for a different request; detail names the field or header"
    },
    503: {
        "description": "The pathway did not answer in time: the step may have been applied; "
        "check the timeline, and retry with the same Idempotency-Key"
    },
}

_FHIR_EXAMPLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "fullUrl": "urn:uuid:6a4c1f0e-0000-4000-8000-000000000001",
            "resource": {
                "resourceType": "Patient",
                "identifier": [
                    {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}
                ],
                "name": [{"use": "official", "family": "Testpatient", "given": ["Zebedee"]}],
                "birthDate": "1958-03-14",
            },
        },
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "urn:uuid:6a4c1f0e-0000-4000-8000-000000000001"},
                "requester": {"display": "Dr A Referrer"},
                "extension": [
                    {
                        "url": "https://sirt-pathway.example/fhir/StructureDefinition/primary-site",
                        "valueCode": "midgut",
                    },
                ],
            },
        },
    ],
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ReferralAccepted)
async def refer(
    referral: Referral,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("pathway:refer"))],
    idempotency_key: IdempotencyKey = None,
) -> ReferralAccepted:
    """Refer a patient: starts their pathway and returns its pseudonymous id.

    Sent again with the same Idempotency-Key (or the same `referrer_reference`), it returns
    the pathway the first request started and starts no second one.
    """
    return await service.refer(ctx, who, referral, "json", idempotency_key)


@router.post(
    "/fhir",
    status_code=status.HTTP_201_CREATED,
    response_model=ReferralAccepted,
    responses={422: {"description": "Not a valid FHIR referral; detail names the element"}},
)
async def refer_fhir(
    bundle: Annotated[
        dict[str, Any],
        Body(
            description="FHIR R4 Bundle with one Patient and one ServiceRequest "
            "(see docs/fhir-referral.md for the extensions carrying clinical items).",
            examples=[_FHIR_EXAMPLE],
            media_type="application/fhir+json",
        ),
    ],
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("pathway:refer"))],
    idempotency_key: IdempotencyKey = None,
) -> ReferralAccepted:
    """Refer a patient with a FHIR R4 Bundle (Patient + ServiceRequest).

    The referral key is the Idempotency-Key, else the ServiceRequest's identifier.
    """
    try:
        referral = referral_from_bundle(bundle)
    except FhirError as exc:
        await run_in_threadpool(
            audit.record, ctx.engine, who, "pathway:refer", Outcome.INVALID, detail="fhir"
        )
        raise ApiError(422, exc.detail) from exc
    return await service.refer(ctx, who, referral, "fhir", idempotency_key)


async def _search(ctx: CtxDep, who: Principal, q: str) -> Search:
    """The parsed search term; 422 naming q if unreadable, 403 for an identity search by a
    role that may not see identity. Audited by kind, never by the term itself."""
    try:
        search = parse_search(q)
    except ValueError as exc:
        field, _, msg = str(exc).partition(": ")
        raise ApiError(
            422, [{"loc": ["query", field], "msg": msg, "type": "value_error"}]
        ) from None
    allowed_here = identity_visible(who) or not search.kind.identifying
    await run_in_threadpool(
        audit.record,
        ctx.engine,
        who,
        "pathway:search",
        Outcome.OK if allowed_here else Outcome.DENIED,
        detail=f"by {search.kind}",
    )
    if not allowed_here:
        raise ApiError(403, f"q: searching by {search.kind} is not available for your role")
    return search


@router.get("", response_model=PathwayPage)
async def list_pathways(
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("pathway:list"))],
    stage: Stage | None = None,
    overdue: bool | None = None,
    due_within_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
    role: Annotated[Role | None, Query(description="Pathways with an open task for this role")] = (
        None
    ),
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Find by NHS number (any spacing), family name (its start), date of "
            "birth (14/03/1958 or 1958-03-14) or pathway id (its start). Identity searches "
            "need a role that may see identity.",
        ),
    ] = None,
) -> PathwayPage:
    """Pathways from the read model, overdue first; names and NHS numbers only if allowed."""
    today = await ctx.today()
    with_identity = identity_visible(who)
    search = await _search(ctx, who, q) if q and q.strip() else None
    page = await run_in_threadpool(
        lambda: queries.list_pathways(
            ctx.engine,
            with_identity=with_identity,
            today=today,
            stage=stage,
            overdue=overdue,
            due_within_days=due_within_days,
            role=role,
            search=search,
            limit=limit,
            offset=offset,
        )
    )
    if with_identity and page.items:
        await run_in_threadpool(
            audit.record,
            ctx.engine,
            who,
            "pathway:list",
            Outcome.OK,
            detail=f"{len(page.items)} pathways with identity",
        )
    return page


@router.get("/{pathway_id}", response_model=PathwayDetail, responses={404: _ERRORS[404]})
async def get_pathway(
    pathway_id: PathwayId,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("pathway:view"))],
) -> PathwayDetail:
    """One pathway's timeline: stage history, tasks, visits, recorded outcomes and running
    waiting-time clocks."""
    today = await ctx.today()
    detail = await run_in_threadpool(
        lambda: queries.pathway_detail(
            ctx.engine, pathway_id, with_identity=identity_visible(who), today=today
        )
    )
    outcome = Outcome.OK if detail is not None else Outcome.NOT_FOUND
    await run_in_threadpool(
        audit.record, ctx.engine, who, "pathway:view", outcome, pathway_id=pathway_id
    )
    if detail is None:
        raise ApiError(404, "no such pathway")
    return detail


StepEndpoint = Callable[..., Coroutine[Any, Any, StepResult]]


def _step_endpoint(step: str, model: type[BaseModel]) -> StepEndpoint:
    """A route for one step, with its payload model as the typed body (for OpenAPI)."""

    async def endpoint(
        pathway_id: PathwayId,
        payload: BaseModel,
        ctx: CtxDep,
        who: Annotated[Principal, Depends(require(step_action(step)))],
        idempotency_key: IdempotencyKey = None,
    ) -> StepResult:
        body = payload.model_dump(mode="json")
        return await service.submit(ctx, who, pathway_id, step, body, idempotency_key)

    # The payload's annotation is only known here; FastAPI reads the signature.
    sig = inspect.signature(endpoint)
    params = [
        p.replace(annotation=Annotated[model, Body()]) if p.name == "payload" else p
        for p in sig.parameters.values()
    ]
    endpoint.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"submit_{step.replace('-', '_')}"
    endpoint.__doc__ = f"Submit the '{step}' step: {(model.__doc__ or '').strip()}"
    return endpoint


for _step, _spec in STEPS.items():
    router.add_api_route(
        f"/{{pathway_id}}/steps/{_step}",
        _step_endpoint(_step, _spec.payload),
        methods=["POST"],
        response_model=StepResult,
        responses=_ERRORS,
        summary=f"Submit {_step}",
    )


@router.post("/{pathway_id}/events", response_model=StepResult, responses=_ERRORS)
async def record_event(
    pathway_id: PathwayId,
    event: UnscheduledEvent,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require(step_action("event")))],
    idempotency_key: IdempotencyKey = None,
) -> StepResult:
    """Record an unscheduled event: an adverse event, a death or a withdrawal."""
    body = event.model_dump(mode="json")
    return await service.submit(ctx, who, pathway_id, "event", body, idempotency_key)


@router.post("/{pathway_id}/withdraw", response_model=StepResult, responses=_ERRORS)
async def withdraw(
    pathway_id: PathwayId,
    body: WithdrawRequest,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require(step_action("event")))],
    idempotency_key: IdempotencyKey = None,
) -> StepResult:
    """Withdraw the patient (an unscheduled event of kind withdrawal); the pathway ends."""
    payload = {"kind": "withdrawal", **body.model_dump(mode="json")}
    return await service.submit(ctx, who, pathway_id, "event", payload, idempotency_key)
