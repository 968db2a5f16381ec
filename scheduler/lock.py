"""The single-instance lock: only its holder runs APScheduler (its 3.x job stores cannot be
shared between processes).

PostgreSQL: a session-level advisory lock on a dedicated connection held for the process
lifetime; if the process dies, its connection closes and the lock is free for a standby.
SQLite: an exclusive flock on data_dir/scheduler.lock, released by the OS when the process dies.
"""

import contextlib
import fcntl
import hashlib
import logging
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, NullPool, create_engine, make_url, text

from core.config import Settings

log = logging.getLogger("sirt.scheduler")

# One fixed 64-bit key per application; advisory locks are scoped to the database.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"sirt-pathway-scheduler").digest()[:8], signed=True)


class SchedulerLock(Protocol):
    """A non-blocking, process-lifetime lock."""

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        ...

    def still_held(self) -> bool:
        """Whether the lock is still ours (a dropped database connection loses it)."""
        ...

    def release(self) -> None:
        """Let a standby take over."""
        ...


class PostgresAdvisoryLock:
    """pg_try_advisory_lock on a connection of its own (never returned to a pool)."""

    def __init__(self, url: str, key: int = LOCK_KEY) -> None:
        self._engine: Engine = create_engine(url, poolclass=NullPool)
        self._key = key
        self._conn: Connection | None = None
        self._held = False

    @property
    def backend_pid(self) -> int | None:
        """The server process of the lock's connection (to simulate a crash in tests)."""
        if self._conn is None:
            return None
        return int(self._conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            got = self._conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            ).scalar_one()
            self._conn.commit()  # the lock is session-level: it outlives the transaction
        except Exception as exc:
            log.warning("scheduler lock: cannot ask PostgreSQL: %s", exc)
            self._drop()
            return False
        self._held = bool(got)
        return self._held

    def still_held(self) -> bool:
        if self._conn is None or not self._held:
            return False
        try:
            count = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted"
                )
            ).scalar_one()
            self._conn.commit()
        except Exception as exc:
            log.warning("scheduler lock: connection lost: %s", exc)
            self._drop()
            return False
        return int(count) > 0

    def release(self) -> None:
        if self._conn is not None and self._held:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
                self._conn.commit()
        self._drop()

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def dispose(self) -> None:
        """Close everything (after release)."""
        self.release()
        self._engine.dispose()


class FileLock:
    """An exclusive, non-blocking flock; a second open of the same file in any process fails."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def still_held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def dispose(self) -> None:
        """Same as release."""
        self.release()


def lock_for(settings: Settings) -> PostgresAdvisoryLock | FileLock:
    """The advisory lock on PostgreSQL, a file lock next to the data otherwise."""
    url = settings.resolved_database_url
    if make_url(url).get_backend_name() == "postgresql":
        return PostgresAdvisoryLock(url)
    return FileLock(settings.data_dir / "scheduler.lock")
