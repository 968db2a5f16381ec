"""Users, passwords, API tokens and login lockout. Synchronous: call from a thread pool."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.permissions import APP_ROLES
from core import clock
from models.users import ApiTokenRow, LoginThrottleRow, UserRow
from models.vocab import Role

TOKEN_PREFIX = "sirt_"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("not a real password")


class AccountError(ValueError):
    """A user or token request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by a session cookie or a bearer token."""

    user_id: int
    username: str
    role: Role
    via: str  # "session" or "token"


class LoginOutcome(StrEnum):
    """What a login attempt came to."""

    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"


def _now() -> datetime:
    return clock.now()


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes even for timezone-aware columns; they were stored as UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def hash_token(token: str) -> str:
    """The SHA-256 of a token, as stored (tokens are random, so no salt or stretching needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _role(value: str) -> Role:
    role = Role(value)
    if role not in APP_ROLES:
        raise AccountError(f"role must be one of {', '.join(APP_ROLES)}")
    return role


def create_user(
    engine: Engine,
    username: str,
    role: str,
    password: str | None,
    display_name: str | None = None,
    *,
    replace: bool = False,
) -> UserRow:
    """Add a user (or, with ``replace``, update its role, name and password)."""
    username = username.strip().lower()
    if not username or len(username) > 64:
        raise AccountError("username must be 1-64 characters")
    try:
        checked_role = _role(role)
    except ValueError as exc:
        raise AccountError(f"role must be one of {', '.join(APP_ROLES)}") from exc
    if password is not None and len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    with Session(engine) as session:
        user = session.exec(select(UserRow).where(UserRow.username == username)).first()
        if user is not None and not replace:
            raise AccountError(f"user {username!r} already exists")
        if user is None:
            user = UserRow(username=username, role=checked_role, created_at=_now())
        user.role = checked_role
        user.display_name = display_name
        user.active = True
        if password is not None:
            user.password_hash = hash_password(password)
        session.add(user)
        session.commit()
        session.refresh(user)
        return user


def get_user(engine: Engine, username: str) -> UserRow | None:
    """The user with this username, if any."""
    with Session(engine) as session:
        stmt = select(UserRow).where(UserRow.username == username.strip().lower())
        return session.exec(stmt).first()


def list_users(engine: Engine) -> list[tuple[str, str, bool]]:
    """(username, role, active) of every user, by username."""
    with Session(engine) as session:
        users = session.exec(select(UserRow).order_by(col(UserRow.username))).all()
        return [(u.username, u.role, u.active) for u in users]


def issue_token(engine: Engine, username: str, name: str = "api") -> str:
    """A new random bearer token for the user; only its hash is stored, so show it once."""
    with Session(engine) as session:
        user = session.exec(select(UserRow).where(UserRow.username == username.lower())).first()
        if user is None or user.id is None:
            raise AccountError(f"no user {username!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        session.add(
            ApiTokenRow(user_id=user.id, name=name, token_hash=hash_token(token), created_at=_now())
        )
        session.commit()
        return token


def principal_for_token(engine: Engine, token: str) -> Principal | None:
    """Who a bearer token belongs to, if it is valid, unrevoked and its user active."""
    with Session(engine) as session:
        stmt = (
            select(UserRow)
            .join(ApiTokenRow, col(ApiTokenRow.user_id) == col(UserRow.id))
            .where(ApiTokenRow.token_hash == hash_token(token))
            .where(col(ApiTokenRow.revoked_at).is_(None))
        )
        user = session.exec(stmt).first()
        return _principal(user, "token")


def principal_for_user(engine: Engine, user_id: int) -> Principal | None:
    """The session's user, if it still exists and is active (so disabling takes effect now)."""
    with Session(engine) as session:
        return _principal(session.get(UserRow, user_id), "session")


def _principal(user: UserRow | None, via: str) -> Principal | None:
    if user is None or not user.active or user.id is None:
        return None
    return Principal(user_id=user.id, username=user.username, role=Role(user.role), via=via)


def authenticate(
    engine: Engine,
    username: str,
    password: str,
    *,
    max_failures: int,
    lockout: timedelta,
    now: datetime | None = None,
) -> tuple[LoginOutcome, Principal | None]:
    """Check a password, counting failures per username and locking it out after too many.

    A locked username is refused even with the right password until the lockout ends.
    """
    now = now or _now()
    key = username.strip().lower()[:64]
    with Session(engine) as session:
        throttle = session.get(LoginThrottleRow, key) or LoginThrottleRow(username=key)
        locked_until = _aware(throttle.locked_until)
        if locked_until is not None and locked_until > now:
            return LoginOutcome.LOCKED, None
        user = session.exec(select(UserRow).where(UserRow.username == key)).first()
        if _verify(user.password_hash if user and user.active else None, password):
            assert user is not None
            if throttle.failures or throttle.locked_until:
                throttle.failures, throttle.locked_until = 0, None
                session.add(throttle)
                session.commit()
            return LoginOutcome.OK, _principal(user, "session")
        throttle.failures += 1
        throttle.last_failure_at = now
        outcome = LoginOutcome.BAD_CREDENTIALS
        if throttle.failures >= max_failures:
            throttle.failures, throttle.locked_until = 0, now + lockout
            outcome = LoginOutcome.LOCKED
        session.add(throttle)
        session.commit()
        return outcome, None


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None
