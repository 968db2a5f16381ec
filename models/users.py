"""Tables of the web app: users, API tokens, login throttling, task snoozes and the audit trail.

These hold no patient identifiers: the audit trail names the pseudonymous pathway id only.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    # Timezone-aware, like the read model, so comparisons with "now" never mix naive and aware.
    return Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index)
    )


class UserRow(SQLModel, table=True):
    """A person (or integration) who may use the app, with exactly one role."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    role: str = Field(max_length=32)
    display_name: str | None = Field(default=None, max_length=200)
    password_hash: str | None = Field(default=None, description="argon2id; None: tokens only.")
    active: bool = True
    created_at: datetime = _ts()


class ApiTokenRow(SQLModel, table=True):
    """A bearer token for an integration; only its SHA-256 is kept, the token is shown once."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)
    expires_at: datetime | None = _ts(nullable=True)
    last_used_at: datetime | None = _ts(nullable=True)


class SessionRow(SQLModel, table=True):
    """A signed-in browser session, server-side so that it can be revoked at once.

    The cookie carries a random session token; only its SHA-256 is kept here.
    """

    __tablename__ = "app_session"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class LoginThrottleRow(SQLModel, table=True):
    """Failed logins per (username, client address): known names or not, so lockout does not
    reveal which exist, and per address, so nobody can lock a user out from elsewhere."""

    __tablename__ = "login_throttle"

    username: str = Field(primary_key=True, max_length=64)
    client: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    lockouts: int = Field(default=0, description="Lockouts in a row: each one lasts longer.")
    locked_until: datetime | None = _ts(nullable=True)
    last_failure_at: datetime | None = _ts(nullable=True)


class TaskSnoozeRow(SQLModel, table=True):
    """A user's snooze of one task: it sinks to the bottom of their worklist until then."""

    __tablename__ = "task_snooze"

    user_id: int = Field(primary_key=True, foreign_key="app_user.id")
    pathway_id: str = Field(primary_key=True, max_length=64)
    task_id: str = Field(primary_key=True, max_length=64)
    snoozed_until: datetime = _ts()


class AuditEventRow(SQLModel, table=True):
    """One write or one view of a patient's record: who, in which role, when, what, outcome.

    Append-only. ``detail`` carries field names or step names, never submitted values.
    """

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    user_id: int | None = Field(default=None, index=True)
    username: str = Field(max_length=64)
    role: str | None = Field(default=None, max_length=32)
    action: str = Field(index=True, max_length=64)
    pathway_id: str | None = Field(default=None, index=True, max_length=64)
    outcome: str = Field(max_length=16)
    detail: str | None = Field(default=None, max_length=500)


class IdempotencyKeyRow(SQLModel, table=True):
    """A request made with an idempotency key: what it was (digest) and, once done, its answer.

    ``scope`` is the pathway id (a step) or the keyed pathway id (a referral), ``request`` the
    step or "refer". A retry is answered from ``result`` (even after the pathway has ended or
    continued as new); the same key for a different request is refused. Only a digest of the
    payload is kept, never the payload.
    """

    __tablename__ = "idempotency_key"

    scope: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=128)
    request: str = Field(max_length=32)
    digest: str = Field(max_length=64)
    result: str | None = Field(default=None, description="The answer given, as JSON.")
    created_at: datetime = _ts(index=True)
    completed_at: datetime | None = _ts(nullable=True)
