"""Writes a pathway's changes into the SQL read model, idempotently and in bulk.

One ``INSERT ... ON CONFLICT`` per table per batch, on PostgreSQL and SQLite alike, and no
SELECT before a write: the projection log's insert is the idempotency check (a batch applied
before inserts nothing there, and the transaction then writes nothing else), and the pathway
row's upsert only overwrites a row with an older ``last_seq``, so a late retry never rolls it
back.
"""

import contextlib
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Connection, Engine, Executable, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlmodel import SQLModel
from temporalio import activity

from models.events import PathwayEventRow
from models.state import ProjectionBatch
from models.tables import (
    OutboxRow,
    OutcomeRow,
    PathwayRow,
    PatientRow,
    ProjectionLogRow,
    StageHistoryRow,
    TaskRow,
    VisitRow,
    WaitingClockRow,
)
from outbound.events import events_of

# Columns the delivery loop owns: a re-sent message keeps its delivery bookkeeping.
_OUTBOX_KEPT = frozenset({"delivered_at", "attempts"})


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def _insert(dialect: str, model: type[SQLModel]) -> PgInsert | SqliteInsert:
    """The dialect's INSERT, which is the one that knows ON CONFLICT."""
    if dialect == "postgresql":
        return postgresql.insert(_table(model))
    if dialect == "sqlite":
        return sqlite.insert(_table(model))
    raise RuntimeError(f"the read model supports PostgreSQL and SQLite, not {dialect}")


@cache
def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """Each column's default (attempts=0, NULL where nullable); required columns absent."""
    fields = model.model_fields
    defaults = {c.name: None for c in _table(model).columns if c.nullable}
    defaults.update(
        (name, field.default)
        for name, field in fields.items()
        if field.default is not PydanticUndefined and field.default_factory is None
    )
    return defaults


@cache
def _upsert_statement(
    dialect: str, model: type[SQLModel], keep: frozenset[str], newer_only: bool
) -> Executable:
    """``INSERT ... VALUES (one row) ON CONFLICT DO UPDATE``, built once, run for every row.

    One row's statement, given all of a batch's rows at once (the driver's executemany: one
    prepared statement on SQLite, one pipelined round trip on psycopg). A multi-row VALUES
    would be one statement too, but SQLAlchemy cannot cache its compiled form, and compiling
    it on every batch cost more CPU than the database spent running it.
    """
    table = _table(model)
    keys = [c.name for c in table.primary_key.columns]
    stmt = _insert(dialect, model).values(
        {c.name: bindparam(c.name, type_=c.type) for c in table.columns}
    )
    updated = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in {*keys, *keep}}
    # Only a newer batch may overwrite a pathway's summary: a late retry never rolls it back.
    where = table.c.last_seq < stmt.excluded.last_seq if newer_only else None
    return stmt.on_conflict_do_update(index_elements=keys, set_=updated, where=where)


@cache
def _log_statement(dialect: str) -> Executable:
    """Record a batch as applied; returns no row if it was applied before."""
    log = _table(ProjectionLogRow)
    return (
        _insert(dialect, ProjectionLogRow)
        .values({c.name: bindparam(c.name, type_=c.type) for c in log.columns})
        .on_conflict_do_nothing(index_elements=["pathway_id", "seq"])
        .returning(log.c.seq)
    )


@cache
def _insert_new_statement(dialect: str, model: type[SQLModel]) -> Executable:
    """``INSERT ... ON CONFLICT DO NOTHING``, built once (as ``_upsert_statement``)."""
    return _insert(dialect, model).on_conflict_do_nothing()


def _insert_new(conn: Connection, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, leaving any that exist already as they are."""
    if rows:
        conn.execute(_insert_new_statement(conn.dialect.name, model), list(rows))


def _upsert(
    conn: Connection,
    model: type[SQLModel],
    rows: Sequence[dict[str, Any]],
    *,
    keep: frozenset[str] = frozenset(),
    newer_only: bool = False,
) -> None:
    """Write ``rows`` in one statement; existing rows take the new values (except ``keep``)."""
    if not rows:
        return
    defaults = _defaults(model)
    params = [{**defaults, **row} for row in rows]
    conn.execute(_upsert_statement(conn.dialect.name, model, keep, newer_only), params)


def apply_batch(conn: Connection, batch: ProjectionBatch) -> bool:
    """Apply one batch inside the caller's transaction; False if it was applied before."""
    pid = batch.pathway_id
    logged = conn.execute(
        _log_statement(conn.dialect.name),
        {"pathway_id": pid, "seq": batch.seq, "applied_at": batch.at},
    )
    if logged.first() is None:
        return False
    summary = {"id": pid, "last_seq": batch.seq, "updated_at": batch.at}
    _upsert(conn, PathwayRow, [{**summary, **batch.summary.model_dump()}], newer_only=True)
    if batch.patient is not None:
        _upsert(conn, PatientRow, [{"pathway_id": pid, **batch.patient.model_dump()}])
    _upsert(
        conn,
        StageHistoryRow,
        [
            {
                "pathway_id": pid,
                "ordinal": c.ordinal,
                "stage": c.stage,
                "entered_at": c.at,
                "reason": c.reason,
            }
            for c in batch.stage_changes
        ],
    )
    tasks = [{"pathway_id": pid, **t.model_dump(exclude={"fired"})} for t in batch.tasks]
    _upsert(conn, TaskRow, tasks)
    visits = [{"pathway_id": pid, **v.model_dump(exclude={"task_id"})} for v in batch.visits]
    _upsert(conn, VisitRow, visits)
    outcomes = [{"pathway_id": pid, **o.model_dump()} for o in batch.outcomes]
    _upsert(conn, OutcomeRow, outcomes)
    outbox = [{"pathway_id": pid, **m.model_dump()} for m in batch.outbox]
    _upsert(conn, OutboxRow, outbox, keep=_OUTBOX_KEPT)
    clocks = [
        {
            "pathway_id": pid,
            "key": key,
            "kind": clock.kind,
            "start_on": clock.start,
            "stop_on": clock.stop,
            "pauses": [p.model_dump(mode="json") for p in clock.pauses],
        }
        for key, clock in batch.clocks.items()
    ]
    _upsert(conn, WaitingClockRow, clocks)
    # Events go out only for what this transaction commits (outbound/publish.py sends them);
    # one already queued (a task seen open again in a later batch) is left as it is.
    _insert_new(conn, PathwayEventRow, events_of(batch))
    return True


class ProjectionActivities:
    """Activities bound to one read-model engine (sync: database drivers block)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # SQLite takes one writer at a time, and a writer that finds the file locked sleeps
        # (1, 2, 5, 10... ms) before trying again. Projection threads queue on this lock
        # instead, and each starts the moment the one before commits (docs/decisions.md,
        # "Scale"). PostgreSQL takes concurrent writers: no lock.
        self._one_writer = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @activity.defn(name="project_pathway")
    def project_pathway(self, batch: ProjectionBatch) -> bool:
        """Apply a batch in one transaction; True if it changed the read model.

        Two attempts racing on the same batch need no special case: on PostgreSQL the second
        waits on the first's projection-log row and then inserts nothing; SQLite serialises
        writers.
        """
        with self._one_writer, self._engine.begin() as conn:
            return apply_batch(conn, batch)
