"""Registry submission: exactly one POST per change, to a real HTTP server on loopback."""

import json
from collections.abc import Iterator
from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import ActivityEnvironment

from models.reports import RegistrySubmissionRow, SubmissionStatus
from registry.activity import RegistryActivities, RegistrySubmissionInput
from registry.config import RegistrySettings
from registry.submission import (
    HttpTransport,
    SubmissionError,
    submit_all_changed,
    submit_if_changed,
)
from tests.registry.support import Registry
from tests.reports.support import change_outcome, fresh_postgres, insert_audit_cohort

SETTINGS = RegistrySettings(pseudonym_secret="test-secret", _env_file=None)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with fresh_postgres() as engine:
        insert_audit_cohort(engine)
        yield engine


@pytest.fixture
def registry() -> Iterator[Registry]:
    r = Registry()
    yield r
    r.close()


def _rows(engine: Engine, pid: str) -> list[RegistrySubmissionRow]:
    with Session(engine) as session:
        stmt = select(RegistrySubmissionRow).where(col(RegistrySubmissionRow.pathway_id) == pid)
        return list(session.exec(stmt.order_by(col(RegistrySubmissionRow.version))))


def test_resubmits_exactly_once_per_change(engine: Engine, registry: Registry) -> None:
    transport = HttpTransport(registry.url)
    first = submit_if_changed(engine, "pb", transport, SETTINGS)
    assert (first.status, first.version, first.http_status) == ("sent", 1, 201)
    again = submit_if_changed(engine, "pb", transport, SETTINGS)
    assert again.status == "unchanged"
    assert len(registry.posts) == 1

    change_outcome(engine, "pb", date(2027, 1, 5))
    changed = submit_if_changed(engine, "pb", transport, SETTINGS)
    assert (changed.status, changed.version) == ("sent", 2)
    assert changed.record_hash != first.record_hash
    assert submit_if_changed(engine, "pb", transport, SETTINGS).status == "unchanged"
    assert len(registry.posts) == 2

    post = registry.posts[-1]
    assert post["headers"]["Content-Type"] == "application/fhir+json"
    assert changed.record_hash is not None
    assert post["headers"]["Idempotency-Key"].endswith(f":2:{changed.record_hash[:16]}")
    Bundle.model_validate(post["bundle"])
    rows = _rows(engine, "pb")
    assert [(r.version, r.status) for r in rows] == [(1, "sent"), (2, "sent")]
    assert rows[1].record_hash == changed.record_hash and rows[1].sent_at is not None
    assert json.loads(rows[1].payload) == post["bundle"]


def test_a_failed_send_is_retried_once_then_not_again(engine: Engine, registry: Registry) -> None:
    transport = HttpTransport(registry.url)
    registry.fail_next = 1
    with pytest.raises(SubmissionError, match="503"):
        submit_if_changed(engine, "pc", transport, SETTINGS)
    assert [(r.version, r.status) for r in _rows(engine, "pc")] == [(1, SubmissionStatus.FAILED)]
    retried = submit_if_changed(engine, "pc", transport, SETTINGS)
    assert (retried.status, retried.version) == ("sent", 1)
    assert submit_if_changed(engine, "pc", transport, SETTINGS).status == "unchanged"
    assert len(registry.posts) == 1
    (row,) = _rows(engine, "pc")
    assert (row.status, row.attempts, row.http_status) == ("sent", 2, 201)


def test_untreated_pathway_sends_nothing(engine: Engine, registry: Registry) -> None:
    result = submit_if_changed(engine, "pg", HttpTransport(registry.url), SETTINGS)
    assert result.status == "not_treated" and registry.posts == []


def test_activity_submits_through_the_configured_url(engine: Engine, registry: Registry) -> None:
    settings = SETTINGS.model_copy(update={"url": registry.url})
    activities = RegistryActivities(engine, settings)
    env = ActivityEnvironment()
    inp = RegistrySubmissionInput(pathway_id="pe")
    assert env.run(activities.submit_registry_record, inp).status == "sent"
    assert env.run(activities.submit_registry_record, inp).status == "unchanged"
    assert len(registry.posts) == 1
    off = RegistryActivities(engine, SETTINGS)
    assert env.run(off.submit_registry_record, inp).status == "disabled"


def test_reconciliation_sends_only_changed_records(engine: Engine, registry: Registry) -> None:
    transport = HttpTransport(registry.url)
    first = submit_all_changed(engine, transport, SETTINGS)
    assert sum(first.values()) == 6  # the treated patients
    assert submit_all_changed(engine, transport, SETTINGS) == {"unchanged": 6}
    assert len(registry.posts) == first.get("sent", 0)
