"""The audit trail: every write and every view of a patient's record, appended, never changed."""

import logging
from enum import StrEnum

from sqlalchemy import Engine
from sqlmodel import Session

from api.accounts import Principal
from core import clock
from models.users import AuditEventRow

log = logging.getLogger("sirt.audit")


class Outcome(StrEnum):
    """How an audited request ended."""

    OK = "ok"
    DENIED = "denied"
    INVALID = "invalid"
    REFUSED = "refused"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    ERROR = "error"
    LOCKED = "locked"
    FAILED = "failed"


def record(
    engine: Engine,
    who: Principal | str,
    action: str,
    outcome: Outcome,
    *,
    pathway_id: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one audit event. ``detail`` must hold names (fields, steps), never values.

    ``who`` is the caller, or for a login attempt the username tried (there is no caller yet).
    """
    if isinstance(who, Principal):
        user_id, username, role = who.user_id, who.username, who.role.value
    else:
        user_id, username, role = None, who[:64], None
    row = AuditEventRow(
        at=clock.now(),
        user_id=user_id,
        username=username,
        role=role,
        action=action,
        pathway_id=pathway_id,
        outcome=outcome,
        detail=detail[:500] if detail else None,
    )
    with Session(engine) as session:
        session.add(row)
        session.commit()
    # The log line carries the same pseudonymous facts as the row, nothing more.
    log.info("audit %s %s %s %s %s", username, role, action, pathway_id or "-", outcome.value)
