"""Alembic: one head; empty databases and databases at the old heads migrate to it."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

import models.events
import models.inbound

# Imported for their side effect: they register every table on SQLModel.metadata.
import models.notifications
import models.reports
import models.tables
import models.users  # noqa: F401
from core.db import alembic_config, get_engine, migrate

PG_ADMIN = os.environ.get("SIRT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
HEAD = "0008_event_backlog"
MERGE = "0003_merge"  # joins the 0002 branches; later revisions chain after it
# Where databases migrated before the merge revision stand: these rows in alembic_version
# (0002_reports, then a depends_on of 0002_clinical, had already taken 0002_clinical's row).
STRUCTURE = {"add_table", "remove_table", "add_column", "remove_column"}
OLD_HEADS = ("0002_notifications", "0002_reports", "0002_users")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database with no tables at all, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        yield url
        get_engine(url).dispose()
        return
    name = f"sirt_migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        url = f"{url}/{name}"
        try:
            yield url
        finally:
            get_engine(url).dispose()
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def versions(url: str) -> list[str]:
    with get_engine(url).connect() as conn:
        return sorted(MigrationContext.configure(conn).get_current_heads())


def test_the_migrations_have_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [HEAD]
    assert sorted(script.get_revision(MERGE).down_revision or ()) == list(OLD_HEADS)


def test_an_empty_database_migrates_to_the_head_and_matches_the_models(empty_url: str) -> None:
    migrate(empty_url)
    assert versions(empty_url) == [HEAD]
    with get_engine(empty_url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # Every model table and column, nothing else (reporting indexes live only in migrations).
    assert [d for d in diffs if isinstance(d, tuple) and d[0] in STRUCTURE] == []
    # Running it again is a no-op.
    migrate(empty_url)
    assert versions(empty_url) == [HEAD]


def test_a_database_at_the_old_heads_moves_to_the_one_head(empty_url: str) -> None:
    cfg = alembic_config(empty_url)
    for revision in OLD_HEADS:
        command.upgrade(cfg, revision)
    assert versions(empty_url) == list(OLD_HEADS)
    tables = set(inspect(get_engine(empty_url)).get_table_names())
    command.upgrade(cfg, MERGE)
    assert versions(empty_url) == [MERGE]
    # The merge changes no schema.
    assert set(inspect(get_engine(empty_url)).get_table_names()) == tables
    migrate(empty_url)
    assert versions(empty_url) == [HEAD]
