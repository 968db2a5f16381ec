"""Read-model engine and schema migrations (Alembic)."""

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlmodel import create_engine

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One pooled engine per database URL for the life of the process."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Pre-ping replaces connections a database restart or network cut has killed; the connect
    # timeout turns an unreachable host into an error (503 in the app) instead of a hang.
    # hide_parameters: an error's message never quotes the values (a patient's name) it was
    # given; activities also scrub what the database itself quotes (activities/errors.py).
    return create_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, hide_parameters=True
    )


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the web app read while activity threads write; foreign keys are off by default.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at this package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the read-model schema up to date (to the one head; a second head is an error)."""
    get_engine(url)  # creates the SQLite directory if needed
    command.upgrade(alembic_config(url), "head")
