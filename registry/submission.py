"""Submitting registry records: each change of a record goes out exactly once.

Every version of a pathway's record is a ``registry_submission`` row, unique on (pathway,
version). An attempt first *claims* the next version (inserting the row, or taking over a
failed or stale pending one with an optimistic check on ``attempts``), then sends, then marks
the row sent. So two attempts never both send one version; an unchanged record (same hash as
the last version sent) sends nothing. A crash between sending and marking resends the same
version with the same Idempotency-Key, which a registry can use to drop the duplicate.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx
from pydantic import BaseModel
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core import clock as core_clock
from models.reports import RegistrySubmissionRow, SubmissionStatus
from models.tables import PathwayRow
from registry.config import RegistrySettings
from registry.fhir import bundle_json, record_bundle
from registry.record import load_records

_KEEP_RESPONSE_CHARS = 2000


class SubmissionRequest(BaseModel):
    """What a transport sends: the bundle, and the keys a registry can deduplicate on."""

    record_id: str
    version: int
    record_hash: str
    body: str

    @property
    def idempotency_key(self) -> str:
        """Stable for one version of one record."""
        return f"{self.record_id}:{self.version}:{self.record_hash[:16]}"


class TransportResponse(BaseModel):
    """The registry's answer."""

    status_code: int
    body: str = ""


Transport = Callable[[SubmissionRequest], TransportResponse]


class SubmissionError(RuntimeError):
    """The registry refused or could not be reached; a retry sends the same version again."""


class SubmissionInProgress(RuntimeError):
    """Another attempt holds a fresh claim on this record; retry later."""


class SubmissionResult(BaseModel):
    """What one call did."""

    pathway_id: str
    status: Literal["sent", "unchanged", "not_treated", "disabled"]
    version: int | None = None
    record_hash: str | None = None
    http_status: int | None = None


class HttpTransport:
    """POSTs the bundle as application/fhir+json; any non-2xx answer is a SubmissionError."""

    def __init__(
        self, url: str, timeout_seconds: float = 30.0, headers: dict[str, str] | None = None
    ) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._headers = headers or {}

    def __call__(self, request: SubmissionRequest) -> TransportResponse:
        headers = {
            "Content-Type": "application/fhir+json",
            "Accept": "application/fhir+json, application/json",
            "Idempotency-Key": request.idempotency_key,
            **self._headers,
        }
        try:
            response = httpx.post(
                self._url, content=request.body, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise SubmissionError(f"registry unreachable: {exc}") from exc
        if not response.is_success:
            raise SubmissionError(
                f"registry answered {response.status_code}: {response.text[:200]}"
            )
        return TransportResponse(status_code=response.status_code, body=response.text)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _claim(
    engine: Engine,
    pathway_id: str,
    record_hash: str,
    body: str,
    settings: RegistrySettings,
    now: datetime,
) -> tuple[int, int] | None:
    """Claim the version to send: (row id, version), or None when already sent unchanged."""
    table = RegistrySubmissionRow
    with Session(engine) as session:
        latest = session.exec(
            select(table)
            .where(col(table.pathway_id) == pathway_id)
            .order_by(col(table.version).desc())
            .limit(1)
        ).first()
        sent = latest is not None and latest.status == SubmissionStatus.SENT
        if sent and latest is not None and latest.record_hash == record_hash:
            return None
        if latest is None or latest.status == SubmissionStatus.SENT:
            row = table(
                pathway_id=pathway_id,
                version=(latest.version + 1) if latest else 1,
                record_hash=record_hash,
                status=SubmissionStatus.PENDING,
                claimed_at=now,
                attempts=1,
                payload=body,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                raise SubmissionInProgress(f"{pathway_id}: version claimed concurrently") from None
            assert row.id is not None
            return row.id, row.version
        lease = timedelta(seconds=settings.claim_lease_seconds)
        if latest.status == SubmissionStatus.PENDING and _aware(latest.claimed_at) > now - lease:
            raise SubmissionInProgress(f"{pathway_id}: version {latest.version} is being sent")
        # A failed or abandoned attempt: take it over, with whatever the record says now.
        taken = session.execute(
            update(table)
            .where(col(table.id) == latest.id, col(table.attempts) == latest.attempts)
            .values(
                record_hash=record_hash,
                payload=body,
                status=SubmissionStatus.PENDING,
                claimed_at=now,
                attempts=latest.attempts + 1,
            )
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise SubmissionInProgress(f"{pathway_id}: version {latest.version} taken over")
        session.commit()
        assert latest.id is not None
        return latest.id, latest.version


def _finish(
    engine: Engine,
    row_id: int,
    status: SubmissionStatus,
    http_status: int | None,
    text: str,
    now: datetime,
) -> None:
    with Session(engine) as session:
        row = session.get(RegistrySubmissionRow, row_id)
        assert row is not None
        row.status = status
        row.http_status = http_status
        row.response = text[:_KEEP_RESPONSE_CHARS]
        if status == SubmissionStatus.SENT:
            row.sent_at = now
        session.add(row)
        session.commit()


def submit_if_changed(
    engine: Engine,
    pathway_id: str,
    transport: Transport,
    settings: RegistrySettings | None = None,
    clock: Callable[[], datetime] = core_clock.now,
) -> SubmissionResult:
    """Send the pathway's registry record if it differs from the last version sent.

    Raises SubmissionError when the registry fails (the version stays claimed as failed and
    the next call resends it) and SubmissionInProgress when another attempt is sending.
    ``clock`` dates claims and sends (and so decides when a pending claim is stale).
    """
    settings = settings or RegistrySettings()
    records = load_records(engine, settings, [pathway_id])
    if not records:
        return SubmissionResult(pathway_id=pathway_id, status="not_treated")
    record = records[0]
    record_hash = record.content_hash()
    body = bundle_json(record_bundle(record, settings))
    claimed = _claim(engine, pathway_id, record_hash, body, settings, clock())
    if claimed is None:
        return SubmissionResult(pathway_id=pathway_id, status="unchanged", record_hash=record_hash)
    row_id, version = claimed
    request = SubmissionRequest(
        record_id=record.record_id, version=version, record_hash=record_hash, body=body
    )
    try:
        response = transport(request)
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        _finish(engine, row_id, SubmissionStatus.FAILED, None, failure, clock())
        raise
    _finish(engine, row_id, SubmissionStatus.SENT, response.status_code, response.body, clock())
    return SubmissionResult(
        pathway_id=pathway_id,
        status="sent",
        version=version,
        record_hash=record_hash,
        http_status=response.status_code,
    )


def submit_all_changed(
    engine: Engine,
    transport: Transport,
    settings: RegistrySettings | None = None,
    clock: Callable[[], datetime] = core_clock.now,
) -> dict[str, int]:
    """Reconcile: submit every treated pathway whose record changed; counts by outcome.

    A safety net for a scheduler job (nightly): an unchanged record costs a read, no POST.
    A failure is counted and left for the next run.
    """
    settings = settings or RegistrySettings()
    with Session(engine) as session:
        ids = session.exec(select(PathwayRow.id).where(col(PathwayRow.treatment_number) > 0))
        pathway_ids = sorted(ids)
    counts: dict[str, int] = {}
    for pid in pathway_ids:
        status: str
        try:
            status = submit_if_changed(engine, pid, transport, settings, clock).status
        except (SubmissionError, SubmissionInProgress):
            status = "failed"
        counts[status] = counts.get(status, 0) + 1
    return counts
