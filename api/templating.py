"""Jinja2 templates and the filters that make dates, stages and NHS numbers readable."""

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.accounts import Principal
from api.deps import csrf_token
from api.forms import date_parts, label_for, row_count, row_name
from api.permissions import allowed

_DASH = "\u2013"  # an en dash: "nothing here"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

_STAGES = {
    "REFERRED": "Referred",
    "MDT_REVIEW": "MDT review",
    "WORKUP": "Work-up",
    "DOSIMETRY_PLANNING": "Dosimetry planning",
    "TREATMENT_SCHEDULED": "Treatment scheduled",
    "FOLLOW_UP": "Follow-up",
    "COMPLETED": "Completed",
    "NOT_SUITABLE": "Not suitable",
    "ALTERNATIVE_TREATMENT": "Alternative treatment",
    "WITHDRAWN": "Withdrawn",
    "DECEASED": "Deceased",
    "LOST_TO_FOLLOW_UP": "Lost to follow-up",
}
_ROLES = {
    "coordinator": "Coordinator",
    "mdt_clinician": "MDT clinician",
    "interventional_radiologist": "Interventional radiologist",
    "physicist": "Physicist",
    "ops": "Operations",
    "admin": "Administrator",
}


def _nhs(value: str) -> str:
    return f"{value[:3]} {value[3:6]} {value[6:]}" if len(value) == 10 else value


def _day(value: date | None) -> str:
    return value.strftime("%d %b %Y") if value else _DASH


def _when(value: datetime | None) -> str:
    return value.strftime("%d %b %Y %H:%M") if value else _DASH


def _duration(seconds: float) -> str:
    """A wait as people say it: "40 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _short_id(value: str) -> str:
    # Enough of the UUID to tell pathways apart on screen; the full id is in the URL.
    return value[:16]


def _pretty(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(_pretty(v) for v in value) or _DASH
    if isinstance(value, dict):
        return ", ".join(f"{label_for(str(k))}: {_pretty(v)}" for k, v in value.items() if v)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


templates.env.filters.update(
    nhs=_nhs,
    day=_day,
    when=_when,
    duration=_duration,
    short_id=_short_id,
    pretty=_pretty,
    label=label_for,
    stage=lambda s: _STAGES.get(str(s), str(s)),
)
templates.env.globals["role_label"] = lambda r: _ROLES.get(str(r), str(r))
templates.env.globals["row_name"] = row_name
templates.env.globals["row_count"] = row_count
templates.env.globals["date_parts"] = date_parts


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page, with the user, their permissions, the CSRF token and any flash message."""
    base = {
        "user": principal,
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
        "can": lambda action: principal is not None and allowed(principal.role, action),
        "title": "SIRT Pathway",
    }
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    # Pages show patient data: never cache them.
    response.headers["Cache-Control"] = "no-store"
    return response


def flash(request: Request, message: str) -> None:
    """A one-off message shown on the next page."""
    request.session["flash"] = message
