"""Server-rendered pages: worklist, pathway list, timeline, referral and step forms.

They call the same functions as the JSON API, so authorisation, validation and audit are the
same whichever way a step arrives.
"""

import re
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api import service
from api.accounts import Principal
from api.context import AppContext
from api.deps import PATHWAY_ID_PATTERN, CtxDep, identity_visible, require
from api.dose_check import DoseCheck, check_doses
from api.forms import FormField, errors_by_field, fields_for, form_values, parse_form
from api.idempotency import FORM_FIELD
from api.outages import retry_after
from api.permissions import allowed, step_action
from api.queries import lab_feed_offer
from api.routes import docs, report_pages
from api.routes import ops as ops_routes
from api.routes import pathways as pathway_api
from api.routes import worklist as worklist_api
from api.routes.ops import AckRequest
from api.routes.pathways import PathwayId
from api.schemas import PathwayDetail, PathwayPage, SnoozeRequest
from api.service import ApiError, validation_detail
from api.templating import flash, render
from core.pathways import STEPS, centre_pathway_config
from models.catalogue import STEP_OF_TASK
from models.labels import SEPARATOR
from models.referral import Referral
from models.steps import DosimetryPlan, ScheduleProcedure
from models.vocab import Role, Stage, TaskKind

router = APIRouter(include_in_schema=False)
# Their routes join this router's (no prefix), so the app lists them like its own pages.
router.routes.extend([*report_pages.router.routes, *docs.router.routes])


def step_title(step: str) -> str:
    """A step's heading, from the step catalogue."""
    return STEPS[step].title


# Dates that are usually today when the form is filled in.
_TODAY_FIELDS = {"meeting_date", "performed_on", "visit_date", "occurred_on", "signed_on"}
_FORM_FIELDS: dict[str, list[FormField]] = {
    slug: fields_for(spec.payload) for slug, spec in STEPS.items()
}
_REFERRAL_FIELDS = fields_for(Referral)


def new_nonce() -> str:
    """A form's idempotency key, made when the form is rendered: submitting the same form
    twice (a double click, the browser resending it) records the step once. Hex, since a
    key must start with a letter or digit (a url-safe token starts with '-' or '_' 1 time in 32)."""
    return secrets.token_hex(16)


def _nonce(form: dict[str, str]) -> str | None:
    return form.pop(FORM_FIELD, None) or None


def _form_errors(
    fields: list[FormField], detail: str | list[dict[str, Any]]
) -> tuple[dict[str, str], list[str]]:
    """An ApiError's detail for a form; the header a form's nonce stands for is "this form"."""
    if isinstance(detail, str):
        return {}, [detail]
    general = [f"This form {d['msg']}" for d in detail if d.get("loc", [None])[0] == "header"]
    errors, rest = errors_by_field(
        fields, [d for d in detail if d.get("loc", [None])[0] != "header"]
    )
    return errors, [*general, *rest]


@router.get("/")
async def home(who: Annotated[Principal, Depends(require("pathway:list"))]) -> Response:
    """The worklist for roles that have one, else the pathway list."""
    target = "/worklist" if allowed(who.role, "worklist:view") else "/pathways"
    return RedirectResponse(target, status_code=303)


@router.get("/worklist")
async def worklist_page(
    request: Request, ctx: CtxDep, who: Annotated[Principal, Depends(require("worklist:view"))]
) -> Response:
    """My actionable tasks; for coordinators also what is waiting on others (a second tab)."""
    mine = await worklist_api.my_worklist(ctx, who)
    team = None
    if allowed(who.role, "worklist:team"):
        everyone = await worklist_api.team_worklist(ctx, who)
        team = everyone.model_copy(
            update={
                "items": [t for t in everyone.items if t.role != who.role],
                "total": everyone.total - mine.total,
            }
        )
    tab = "team" if team is not None and request.query_params.get("tab") == "team" else "mine"
    return render(
        request,
        "worklist.html",
        who,
        title="My worklist",
        active="worklist",
        mine=mine,
        team=team,
        tab=tab,
    )


@router.post("/tasks/{pathway_id}/{task_id}/snooze")
async def snooze_page(
    request: Request,
    pathway_id: PathwayId,
    task_id: str,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("task:snooze"))],
) -> Response:
    """Snooze from the worklist, then back to it."""
    form = await request.form()
    try:
        days = SnoozeRequest(days=int(str(form.get("days", "1"))))
        result = await worklist_api.snooze_task(pathway_id, task_id, days, ctx, who)
        flash(request, f"Snoozed until {result.snoozed_until:%d %b %Y %H:%M}.")
    except (ValueError, ApiError):
        flash(request, "That task could not be snoozed.")
    return RedirectResponse("/worklist", status_code=303)


# A ticked task is "<pathway id>/<task id>" (both pseudonymous).
_BULK_TASK = re.compile(PATHWAY_ID_PATTERN[1:-1].join(["^(", r")/([a-z0-9_\-]{1,64})$"]))


@router.post("/worklist/bulk")
async def worklist_bulk(
    request: Request, ctx: CtxDep, who: Annotated[Principal, Depends(require("task:snooze"))]
) -> Response:
    """Snooze or acknowledge the ticked tasks of my worklist, then back to it."""
    form = await request.form()
    chosen = [m for v in form.getlist("task") if (m := _BULK_TASK.match(str(v)))]
    action = str(form.get("action", ""))
    if not chosen:
        flash(request, "Choose at least one task, then snooze or acknowledge.")
        return RedirectResponse("/worklist", status_code=303)
    done = 0
    if action == "acknowledge" and allowed(who.role, "task:ack"):
        for m in chosen:
            try:
                await ops_routes.ack(m[1], m[2], AckRequest(), ctx, who)
                done += 1
            except HTTPException:
                pass
        verb = "Acknowledged"
    elif action == "snooze":
        try:
            days = SnoozeRequest(days=int(str(form.get("days", "1"))))
        except ValueError:
            flash(request, "Snooze for: choose 1, 3 or 7 days.")
            return RedirectResponse("/worklist", status_code=303)
        for m in chosen:
            try:
                await worklist_api.snooze_task(m[1], m[2], days, ctx, who)
                done += 1
            except ApiError:
                pass
        verb = "Snoozed"
    else:
        flash(request, "Choose snooze or acknowledge.")
        return RedirectResponse("/worklist", status_code=303)
    skipped = len(chosen) - done
    note = f"; {skipped} could not be (no longer open, or not yours)" if skipped else ""
    flash(request, f"{verb} {done} task{'' if done == 1 else 's'}{note}.")
    return RedirectResponse("/worklist", status_code=303)


@router.get("/ops")
async def ops_page(
    request: Request, ctx: CtxDep, who: Annotated[Principal, Depends(require("ops:dashboard"))]
) -> Response:
    """The service dashboard for operations staff: counts, waiting times, engine health, and
    charts (served SVG), as of a chosen day (``?as_of=2026-11-01``; default today)."""
    errors: list[str] = []
    as_of = _parse(request.query_params.get("as_of"), date.fromisoformat, "as of", errors)
    overview = await ops_routes.service_overview(ctx, as_of)
    query = "?" + urlencode({"as_of": as_of.isoformat()}) if as_of else ""
    return render(
        request,
        "ops.html",
        who,
        title="Service dashboard",
        active="ops",
        o=overview,
        errors=errors,
        as_of=as_of,
        charts={name: f"/ops/charts/{name}.svg{query}" for name in report_pages.CHARTS},
        chart_titles=report_pages.CHARTS,
    )


@router.get("/pathways")
async def pathways_page(
    request: Request, ctx: CtxDep, who: Annotated[Principal, Depends(require("pathway:list"))]
) -> Response:
    """Pathways with filters; blank filters mean "any". ``q`` searches (see api.search)."""
    return await _pathways(request, ctx, who, dict(request.query_params))


@router.post("/pathways/search")
async def pathways_search(
    request: Request, ctx: CtxDep, who: Annotated[Principal, Depends(require("pathway:list"))]
) -> Response:
    """The search form posts here, so a name or NHS number never sits in a URL (history,
    proxy and server logs); the results are rendered straight away, not redirected."""
    form = await request.form()
    return await _pathways(request, ctx, who, {"q": str(form.get("q", ""))})


async def _pathways(request: Request, ctx: CtxDep, who: Principal, q: dict[str, str]) -> Response:
    errors: list[str] = []
    stage = _parse(q.get("stage"), Stage, "stage", errors)
    role = _parse(q.get("role"), Role, "waiting on", errors)
    overdue = {"true": True, "false": False}.get(q.get("overdue", ""))
    due = _parse(q.get("due_within_days"), int, "due within", errors)
    if due is not None and not 0 <= due <= 3650:
        errors.append("due within: between 0 and 3650 days")
        due = None
    offset = max(_parse(q.get("offset"), int, "offset", errors) or 0, 0)
    term = q.get("q", "").strip()[:100]
    status = 200
    try:
        page = await pathway_api.list_pathways(
            ctx, who, stage=stage, overdue=overdue, due_within_days=due, role=role,
            offset=offset, q=term or None,
        )  # fmt: skip
    except ApiError as exc:
        errors.append(_message(exc.detail))
        status = exc.status
        page = PathwayPage(items=[], total=0, limit=50, offset=0)
    # Paging and filter links never carry the search term (it may be a name).
    filters = {k: v for k, v in q.items() if k not in ("offset", "q") and v}

    def link(new_offset: int) -> str | None:
        return None if term else "/pathways?" + urlencode({**filters, "offset": new_offset})

    response = render(
        request,
        "pathways.html",
        who,
        status_code=status,
        title="Pathways",
        active="pathways",
        page=page,
        filters=filters,
        term=term,
        can_identity=identity_visible(who),
        no_referrer=bool(term),
        errors=errors,
        stages=list(Stage),
        roles=[r for r in Role if r in _TASK_ROLES],
        prev_url=link(max(offset - page.limit, 0)) if offset > 0 else None,
        next_url=link(offset + page.limit) if offset + page.limit < page.total else None,
    )
    return response


def _message(detail: str | list[dict[str, Any]]) -> str:
    if isinstance(detail, str):
        return detail.replace("q: ", "Search: ", 1)
    return "; ".join(f"Search: {d['msg']}" for d in detail)


_TASK_ROLES = {
    Role.COORDINATOR,
    Role.MDT_CLINICIAN,
    Role.INTERVENTIONAL_RADIOLOGIST,
    Role.PHYSICIST,
}


def _parse(raw: str | None, kind: Callable[[str], Any], name: str, errors: list[str]) -> Any:
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        errors.append(f"{name}: {raw!r} is not a valid choice")
        return None


@router.get("/pathways/new")
async def refer_form(
    request: Request, who: Annotated[Principal, Depends(require("pathway:refer"))]
) -> Response:
    """The referral form."""
    return _refer_page(
        request, who, values={}, errors={}, general=[], submitted=False, nonce=new_nonce()
    )


@router.post("/pathways/new")
async def refer_submit(
    request: Request, ctx: CtxDep, who: Annotated[Principal, Depends(require("pathway:refer"))]
) -> Response:
    """Validate the referral; start the pathway and show its timeline."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    nonce = _nonce(form)
    payload, errors = parse_form(_REFERRAL_FIELDS, form)
    general: list[str] = []
    outage = False
    duplicate_of: str | None = None
    if not errors:
        try:
            referral = Referral.model_validate(payload)
        except ValidationError as exc:
            errors, general = errors_by_field(_REFERRAL_FIELDS, validation_detail(exc))
        else:
            try:
                # The referrer's reference, when typed in, outranks the nonce: the same
                # referral entered again from a fresh form still finds its pathway.
                key = None if referral.referrer_reference else nonce
                accepted = await service.refer(ctx, who, referral, "form", key)
            except ApiError as exc:
                errors, general = _form_errors(_REFERRAL_FIELDS, exc.detail)
                outage = exc.status == 503
                duplicate_of = _duplicate_of(exc.detail)
            else:
                flash(request, "Referral received: the pathway has started.")
                return RedirectResponse(f"/pathways/{accepted.pathway_id}", status_code=303)
    values = form_values(form)
    # The same nonce again: a resubmission after an error must not start a second pathway.
    page = _refer_page(
        request,
        who,
        values=values,
        errors=errors,
        general=general,
        submitted=True,
        nonce=nonce or new_nonce(),
        duplicate_of=duplicate_of,
    )
    return _unavailable(page) if outage else page


def _duplicate_of(detail: str | list[dict[str, Any]]) -> str | None:
    """The open pathway a duplicate referral was refused for (pseudonymous, safe in a link)."""
    if isinstance(detail, str):
        return None
    return next((d["pathway_id"] for d in detail if d.get("type") == service.DUPLICATE), None)


def _unavailable(page: Response) -> Response:
    """The form again, typed values kept, marked 503 so clients and proxies know to retry."""
    page.status_code = 503
    page.headers.update(retry_after())
    return page


def _refer_page(
    request: Request,
    who: Principal,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    general: list[str],
    submitted: bool,
    nonce: str,
    duplicate_of: str | None = None,
) -> Response:
    return render(
        request,
        "step_form.html",
        who,
        status_code=422 if errors or general else 200,
        nonce=nonce,
        duplicate_of=duplicate_of,
        labels=_labels(_REFERRAL_FIELDS),
        title="Refer a patient",
        active="refer",
        intro="A complete referral goes straight to MDT review; missing items open a triage task.",
        pathway=None,
        fields=_REFERRAL_FIELDS,
        values=values,
        errors=errors,
        general=general,
        submitted=submitted,
        action="/pathways/new",
        submit_label="Refer",
    )


@router.get("/pathways/{pathway_id}")
async def pathway_page(
    request: Request,
    pathway_id: PathwayId,
    ctx: CtxDep,
    who: Annotated[Principal, Depends(require("pathway:view"))],
) -> Response:
    """A pathway's timeline."""
    detail = await pathway_api.get_pathway(pathway_id, ctx, who)
    return render(
        request,
        "pathway.html",
        who,
        title=_title(detail),
        active="pathways",
        p=detail,
        actions=_actions(detail, who),
    )


def _title(detail: PathwayDetail) -> str:
    # The page title shows in browser history and tab lists: never the patient's name.
    return f"Pathway {detail.id[:16]}"


def _actions(detail: PathwayDetail, who: Principal) -> list[dict[str, str]]:
    """Links to the steps this user can record now: open tasks first, then events."""
    base = f"/pathways/{detail.id}/steps"
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for t in detail.tasks:
        step = _task_step(t.kind)
        if t.state == "open" and step and allowed(who.role, step_action(step)):
            out.append({"url": f"{base}/{step}?task_id={t.id}", "label": t.title})
            seen.add(step)
    if detail.stage.is_terminal:
        return out
    extra = ["event"]
    if detail.stage == Stage.FOLLOW_UP:
        extra += ["amend-treatment-date", "mdt-decision"]
    for step in extra:
        if step not in seen and allowed(who.role, step_action(step)):
            out.append({"url": f"{base}/{step}", "label": step_title(step)})
    return out


def _task_step(kind: str) -> str | None:
    spec = STEP_OF_TASK.get(TaskKind(kind))
    return spec.slug if spec else None


StepPage = Callable[..., Coroutine[Any, Any, Response]]


def _step_pages(step: str) -> tuple[StepPage, StepPage]:
    """The GET (form) and POST (submit) handlers of one step's page."""
    fields = _FORM_FIELDS[step]
    names = _all_names(fields)
    booking = _booking_of(step)

    async def show(
        request: Request,
        pathway_id: PathwayId,
        ctx: CtxDep,
        who: Annotated[Principal, Depends(require(step_action(step)))],
    ) -> Response:
        detail = await pathway_api.get_pathway(pathway_id, ctx, who)
        today = (await ctx.today()).isoformat()
        values = {n: today for n in names if n.rsplit(".", 1)[-1] in _TODAY_FIELDS}
        # The signer is the signed-in user (they may type someone else's name).
        values.update({n: who.username for n in names if n.rsplit(".", 1)[-1] in _SIGNER})
        task_id = request.query_params.get("task_id")
        if task_id:
            values.update(_prefill(detail, task_id, names))
        # Results a lab feed sent in this visit's window are offered, to be confirmed.
        offer = lab_feed_offer(detail, values["visit_code"]) if "visit_code" in values else None
        if offer is not None:
            values.update({n: v for n, v in offer.values.items() if n in names})
        return _step_page(
            request,
            who,
            step,
            detail,
            values,
            {},
            [],
            submitted=False,
            nonce=new_nonce(),
            note=offer.note if offer is not None else None,
        )

    async def submit(
        request: Request,
        pathway_id: PathwayId,
        ctx: CtxDep,
        who: Annotated[Principal, Depends(require(step_action(step)))],
    ) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        nonce = _nonce(form)
        confirmed = form.pop(CONFIRM_DATE, "") == "on"
        # "Check doses" records nothing: the form comes back with the computed doses.
        checking = form.pop(CHECK_DOSES, "") != "" and step in _DOSE_STEPS
        payload, errors = parse_form(fields, form)
        general: list[str] = []
        outage = False
        booked: date | None = None
        detail: PathwayDetail | None = None
        if not checking and not errors and booking and not confirmed:
            detail = await pathway_api.get_pathway(pathway_id, ctx, who)
            booked = _off_booking(detail, booking, payload)
        if booked is not None:
            general = [
                f"This was booked for {booked:%d %b %Y}. Check the date it was performed, "
                "then tick the box to confirm it and save again."
            ]
        elif not checking and not errors:
            try:
                await service.submit(ctx, who, pathway_id, step, payload, nonce)
            except ApiError as exc:
                errors, general = _form_errors(fields, exc.detail)
                outage = exc.status == 503
            else:
                flash(request, f"Recorded: {step_title(step)}.")
                return RedirectResponse(f"/pathways/{pathway_id}", status_code=303)
            detail = None  # read it again: a step that timed out may have been applied
        if detail is None:
            detail = await pathway_api.get_pathway(pathway_id, ctx, who)
        # The same nonce again: after a refusal nothing was applied and the key is free, and
        # after a timeout ("may have been applied") saving again must not apply it twice.
        page = _step_page(
            request,
            who,
            step,
            detail,
            form_values(form),
            errors,
            general,
            submitted=True,
            nonce=nonce or new_nonce(),
            confirm_date=booked,
            doses=_dose_check(ctx, detail, payload) if step in _DOSE_STEPS else None,
        )
        return _unavailable(page) if outage else page

    return show, submit


# Steps whose form shows the doses the recorded work-up and the typed plan imply.
_DOSE_STEPS = {slug for slug, spec in STEPS.items() if spec.payload is DosimetryPlan}
# The submit button that asks for those doses without recording anything.
CHECK_DOSES = "check_doses"


def _dose_check(ctx: AppContext, detail: PathwayDetail, payload: dict[str, Any]) -> DoseCheck:
    """The doses this pathway's work-up and the typed plan imply, under the centre's limits."""
    config = centre_pathway_config(ctx.settings.pathway_config_file)
    return check_doses(
        detail.outcomes, payload, detail.cumulative_lung_dose_gy, config.clinical.dosimetry
    )


def _dose_intro(doses: DoseCheck) -> str:
    """What the computed doses say, above the form."""
    if doses.missing:
        return f"Computed doses: {doses.missing}"
    text = f"Computed doses are shown beside the typed ones ({doses.basis})."
    if doses.refusals:
        return f"{text} As typed, the plan would be refused: " + "; ".join(doses.refusals)
    return f"{text} As typed, the plan passes the dose checks."


# Names (last segment) of fields prefilled with today, and with the signed-in user.
_SIGNER = {"physicist", "signed_by"}
# The box a user ticks to record a procedure on a date other than the booked one.
CONFIRM_DATE = "confirm_other_date"


def _labels(fields: list[FormField], parent: str = "") -> dict[str, str]:
    """Each field's name to its label as the form shows it ("Blood results > Bilirubin
    (µmol/L)"), so the error summary speaks in the form's words, the words of the API's error
    ``label`` (both from ``models.labels``), not internal field names."""
    out: dict[str, str] = {}
    for f in fields:
        label = f"{parent}{SEPARATOR}{f.label}" if parent else f.label
        out[f.name] = label
        out.update(_labels(f.children or [], label))
    return out


def _all_names(fields: list[FormField]) -> set[str]:
    return {n for f in fields for n in (f.name, *_all_names(f.children or []))}


def _booking_of(step: str) -> str | None:
    """The outcome kind that books this step's procedure, from the step catalogue: the
    ScheduleProcedure step of the same stage, for a step recording a ``performed_on``."""
    spec = STEPS[step]
    if "performed_on" not in spec.payload.model_fields:
        return None
    for other in STEPS.values():
        if other.payload is ScheduleProcedure and set(other.stages) & set(spec.stages):
            return other.tasks[0].kind.value if other.tasks else None
    return None


def _off_booking(detail: PathwayDetail, booking: str, payload: dict[str, Any]) -> date | None:
    """The booked date, if the procedure is recorded on another day; else None."""
    booked = [o for o in detail.outcomes if o.kind == booking and "scheduled_on" in o.data]
    performed = payload.get("performed_on")
    if not booked or not performed:
        return None
    on = date.fromisoformat(str(booked[-1].data["scheduled_on"]))
    return on if str(performed) != on.isoformat() else None


def _prefill(detail: PathwayDetail, task_id: str, names: set[str]) -> dict[str, str]:
    """Values the task already determines (which task, which visit)."""
    values: dict[str, str] = {}
    task = next((t for t in detail.tasks if t.id == task_id), None)
    if task is None:
        return values
    if "task_id" in names:
        values["task_id"] = task.id
    visit = next((v for v in detail.visits if v.id == task.visit_id), None)
    if visit is not None and "visit_code" in names:
        values["visit_code"] = visit.code
    # Triage starts from what the referral lacked (the task says "missing: grade, ki67_pct").
    if "missing_items" in names and (missing := _missing(task.detail)):
        values["missing_items"] = "\n".join(missing)
    return values


_MISSING = "missing: "  # workflows.transitions.working.Working.request_missing


def _missing(task_detail: str | None) -> list[str]:
    """The referral items a triage task says are missing."""
    if not (task_detail or "").startswith(_MISSING):
        return []
    items = (task_detail or "").removeprefix(_MISSING).split(",")
    return [i.strip() for i in items if i.strip()]


def _page_fields(
    step: str, detail: PathwayDetail, doses: DoseCheck | None = None
) -> list[FormField]:
    """A step's form for this pathway: triage offers an input for each item the referral
    lacks (the open triage task names them), and none for the items it has; the dosimetry
    form shows each computed dose as the hint of its typed input."""
    fields = _FORM_FIELDS[step]
    if doses is not None:
        fields = [replace(f, hint=doses.hint(f.name) or f.hint) for f in fields]
    if not any(f.name == SUPPLIED for f in fields):
        return fields
    open_triage = [
        t for t in detail.tasks if t.kind == TaskKind.TRIAGE_REFERRAL and t.state == "open"
    ]
    missing = _missing(open_triage[0].detail) if open_triage else []
    out = []
    for f in fields:
        if f.name == SUPPLIED:
            kept = [c for c in f.children if c.name.rsplit(".", 1)[-1] in missing]
            if not kept:
                continue
            f = replace(f, children=kept)
        out.append(f)
    return out


SUPPLIED = "supplied"  # models.steps.TriageDecision.supplied


def _step_page(
    request: Request,
    who: Principal,
    step: str,
    detail: PathwayDetail,
    values: dict[str, str],
    errors: dict[str, str],
    general: list[str],
    *,
    submitted: bool,
    nonce: str,
    confirm_date: date | None = None,
    doses: DoseCheck | None = None,
    note: str | None = None,
) -> Response:
    return render(
        request,
        "step_form.html",
        who,
        status_code=422 if errors or general else 200,
        nonce=nonce,
        confirm_date=confirm_date,
        confirm_name=CONFIRM_DATE,
        labels=_labels(_FORM_FIELDS[step]),
        title=step_title(step),
        active="pathways",
        pathway=detail if identity_visible(who) else detail.model_copy(update={"patient": None}),
        fields=_page_fields(step, detail, doses),
        values=values,
        errors=errors,
        general=general,
        submitted=submitted,
        action=f"/pathways/{detail.id}/steps/{step}",
        submit_label="Save",
        check_label="Check doses" if step in _DOSE_STEPS else None,
        check_name=CHECK_DOSES,
        intro=_dose_intro(doses) if doses is not None else note,
    )


for _step in STEPS:
    _show, _submit = _step_pages(_step)
    router.add_api_route(f"/pathways/{{pathway_id}}/steps/{_step}", _show, methods=["GET"])
    router.add_api_route(f"/pathways/{{pathway_id}}/steps/{_step}", _submit, methods=["POST"])
