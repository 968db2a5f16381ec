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
from models.users import ApiTokenRow, LoginThrottleRow, SessionRow, UserRow
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
        if password is not None and user.id is not None:
            # A new password ends every session opened with the old one.
            revoke_user_sessions(engine, user.id)
        return user


def set_password(engine: Engine, username: str, password: str) -> None:
    """Change a user's password and sign them out everywhere at once."""
    if len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    with Session(engine) as session:
        user = _user(session, username)
        user.password_hash = hash_password(password)
        session.add(user)
        session.commit()
        assert user.id is not None
        user_id = user.id
    revoke_user_sessions(engine, user_id)


def deactivate_user(engine: Engine, username: str) -> int:
    """Disable a user: no sign-in, and its sessions and tokens revoked now; how many sessions."""
    with Session(engine) as session:
        user = _user(session, username)
        user.active = False
        session.add(user)
        session.commit()
        assert user.id is not None
        user_id = user.id
    revoke_token(engine, username)
    return revoke_user_sessions(engine, user_id)


def _user(session: Session, username: str) -> UserRow:
    user = session.exec(select(UserRow).where(UserRow.username == username.strip().lower())).first()
    if user is None or user.id is None:
        raise AccountError(f"no user {username!r}")
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


DEFAULT_TOKEN_DAYS = 90


def issue_token(
    engine: Engine, username: str, name: str = "api", *, days: int | None = DEFAULT_TOKEN_DAYS
) -> str:
    """A new random bearer token for the user, expiring after ``days`` (None: never); only its
    hash is stored, so show it once."""
    if days is not None and days < 1:
        raise AccountError("a token must last at least 1 day")
    with Session(engine) as session:
        user = _user(session, username)
        assert user.id is not None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now()
        session.add(
            ApiTokenRow(
                user_id=user.id,
                name=name,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=None if days is None else now + timedelta(days=days),
            )
        )
        session.commit()
        return token


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_tokens(engine: Engine, username: str) -> list[TokenInfo]:
    """The user's tokens, oldest first."""
    with Session(engine) as session:
        user = _user(session, username)
        rows = session.exec(
            select(ApiTokenRow).where(ApiTokenRow.user_id == user.id).order_by(col(ApiTokenRow.id))
        ).all()
        return [
            TokenInfo(
                id=r.id or 0,
                name=r.name,
                created_at=_aware(r.created_at) or r.created_at,
                expires_at=_aware(r.expires_at),
                last_used_at=_aware(r.last_used_at),
                revoked_at=_aware(r.revoked_at),
            )
            for r in rows
        ]


def revoke_token(engine: Engine, username: str, token_id: int | None = None) -> int:
    """Revoke one of the user's tokens (by id) or, with None, all of them; how many."""
    with Session(engine) as session:
        user = _user(session, username)
        stmt = (
            select(ApiTokenRow)
            .where(ApiTokenRow.user_id == user.id)
            .where(col(ApiTokenRow.revoked_at).is_(None))
        )
        if token_id is not None:
            stmt = stmt.where(ApiTokenRow.id == token_id)
        rows = session.exec(stmt).all()
        if token_id is not None and not rows:
            raise AccountError(f"user {username!r} has no unrevoked token {token_id}")
        for row in rows:
            row.revoked_at = _now()
            session.add(row)
        session.commit()
        return len(rows)


# last_used_at is written at most this often per token, not on every request.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def principal_for_token(engine: Engine, token: str) -> Principal | None:
    """Who a bearer token belongs to, if it is valid, unrevoked, unexpired and its user active;
    records when it was last used."""
    now = _now()
    with Session(engine) as session:
        row = session.exec(
            select(ApiTokenRow)
            .where(ApiTokenRow.token_hash == hash_token(token))
            .where(col(ApiTokenRow.revoked_at).is_(None))
        ).first()
        if row is None:
            return None
        expires_at = _aware(row.expires_at)
        if expires_at is not None and expires_at <= now:
            return None
        last_used = _aware(row.last_used_at)
        if last_used is None or now - last_used >= _LAST_USED_RESOLUTION:
            row.last_used_at = now
            session.add(row)
            session.commit()
        return _principal(session.get(UserRow, row.user_id), "token")


def open_session(engine: Engine, user_id: int) -> str:
    """A new server-side session for the user; the token goes in the (signed) cookie."""
    token = secrets.token_urlsafe(32)
    now = _now()
    with Session(engine) as session:
        session.add(
            SessionRow(id=hash_token(token), user_id=user_id, created_at=now, last_seen_at=now)
        )
        session.commit()
    return token


def principal_for_session(
    engine: Engine, token: str, *, idle: timedelta, absolute: timedelta
) -> Principal | None:
    """The session's user, if the session is unrevoked, within both timeouts, and its user
    still active (so logout, deactivation and a password change take effect now)."""
    now = _now()
    with Session(engine) as session:
        row = session.get(SessionRow, hash_token(token))
        if row is None or row.revoked_at is not None:
            return None
        created, seen = _aware(row.created_at), _aware(row.last_seen_at)
        assert created is not None and seen is not None
        if now - created >= absolute or now - seen >= idle:
            row.revoked_at = now
            session.add(row)
            session.commit()
            return None
        if now - seen >= _LAST_USED_RESOLUTION:
            row.last_seen_at = now
            session.add(row)
            session.commit()
        return _principal(session.get(UserRow, row.user_id), "session")


def revoke_session(engine: Engine, token: str) -> None:
    """End one session (logout)."""
    with Session(engine) as session:
        row = session.get(SessionRow, hash_token(token))
        if row is not None and row.revoked_at is None:
            row.revoked_at = _now()
            session.add(row)
            session.commit()


def revoke_user_sessions(engine: Engine, user_id: int) -> int:
    """End every open session of the user; how many."""
    with Session(engine) as session:
        rows = session.exec(
            select(SessionRow)
            .where(SessionRow.user_id == user_id)
            .where(col(SessionRow.revoked_at).is_(None))
        ).all()
        for row in rows:
            row.revoked_at = _now()
            session.add(row)
        session.commit()
        return len(rows)


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
    client: str = "-",
    now: datetime | None = None,
) -> tuple[LoginOutcome, Principal | None]:
    """Check a password, counting failures per (username, client address) and locking that
    pair out after too many: each lockout in a row lasts twice as long as the one before
    (up to 64 times ``lockout``). Another address is never locked out by these failures, so
    nobody can lock the admin out from elsewhere.

    A locked pair is refused even with the right password until the lockout ends.
    """
    now = now or _now()
    key = username.strip().lower()[:64]
    where = client[:64]
    with Session(engine) as session:
        throttle = session.get(LoginThrottleRow, (key, where)) or LoginThrottleRow(
            username=key, client=where
        )
        locked_until = _aware(throttle.locked_until)
        if locked_until is not None and locked_until > now:
            return LoginOutcome.LOCKED, None
        user = session.exec(select(UserRow).where(UserRow.username == key)).first()
        if _verify(user.password_hash if user and user.active else None, password):
            assert user is not None
            if throttle.failures or throttle.locked_until or throttle.lockouts:
                throttle.failures, throttle.locked_until, throttle.lockouts = 0, None, 0
                session.add(throttle)
                session.commit()
            return LoginOutcome.OK, _principal(user, "session")
        throttle.failures += 1
        throttle.last_failure_at = now
        outcome = LoginOutcome.BAD_CREDENTIALS
        if throttle.failures >= max_failures:
            throttle.locked_until = now + lockout_length(lockout, throttle.lockouts)
            throttle.failures = 0
            throttle.lockouts += 1
            outcome = LoginOutcome.LOCKED
        session.add(throttle)
        session.commit()
        return outcome, None


def lockout_length(base: timedelta, earlier_lockouts: int) -> timedelta:
    """How long a lockout lasts after ``earlier_lockouts`` in a row (doubling, capped)."""
    return base * int(2 ** min(earlier_lockouts, 6))


def unlock(engine: Engine, username: str) -> int:
    """Clear the lockouts of a username from every address (an admin's action); how many."""
    key = username.strip().lower()[:64]
    with Session(engine) as session:
        rows = session.exec(select(LoginThrottleRow).where(LoginThrottleRow.username == key)).all()
        for row in rows:
            session.delete(row)
        session.commit()
        return len(rows)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None
