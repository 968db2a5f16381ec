"""Small fixed cohorts written straight into a read model, and a database of their own.

The dashboard and audit tests compare with numbers worked out by hand from these rows, so
each test gets a fresh database: other tests' pathways would change the counts.
"""

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any

import psycopg
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import get_engine, migrate
from models.steps import (
    AmendTreatmentDate,
    DosimetryPlan,
    FollowUpVisitRecord,
    MdtDecision,
    ReildReview,
    TreatmentRecord,
    UnscheduledEvent,
    WorkupResult,
)
from models.tables import (
    OutboxRow,
    OutcomeRow,
    PathwayRow,
    PatientRow,
    StageHistoryRow,
    TaskRow,
    WaitingClockRow,
)
from tests import payloads

PG_ADMIN = os.environ.get("SIRT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def fresh_postgres() -> Iterator[Engine]:
    """A migrated PostgreSQL database for one test module, dropped afterwards."""
    name = f"sirt_rep_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{base}/{name}"
    try:
        migrate(url)
        yield get_engine(url)
    finally:
        get_engine(url).dispose()
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def pathway(pid: str, stage: str, referred: date, **fields: Any) -> PathwayRow:
    values: dict[str, Any] = {
        "id": pid,
        "centre": "LEEDS",
        "stage": stage,
        "stage_entered_at": at(referred),
        "referred_at": at(referred),
        "updated_at": at(referred),
    }
    values.update(fields)
    return PathwayRow(**values)


def task(pid: str, tid: str, role: str, due: date, state: str = "open", **fields: Any) -> TaskRow:
    values: dict[str, Any] = {
        "pathway_id": pid,
        "id": tid,
        "kind": tid.rsplit("-", 1)[0],
        "role": role,
        "title": tid,
        "state": state,
        "opened_at": at(due),
        "due_on": due,
        "overdue": False,
    }
    values.update(fields)
    return TaskRow(**values)


def clock(
    pid: str,
    kind: str,
    start: date,
    stop: date | None = None,
    pauses: list[tuple[date, date]] | None = None,
) -> WaitingClockRow:
    return WaitingClockRow(
        pathway_id=pid,
        key=f"{kind}#1",
        kind=kind,
        start_on=start,
        stop_on=stop,
        pauses=[
            {"start": a.isoformat(), "end": b.isoformat(), "reason": "patient choice"}
            for a, b in pauses or []
        ],
    )


def history(pid: str, ordinal: int, stage: str, on: date) -> StageHistoryRow:
    return StageHistoryRow(pathway_id=pid, ordinal=ordinal, stage=stage, entered_at=at(on))


def outbox(mid: str, pid: str, send: datetime, delivered: datetime | None) -> OutboxRow:
    return OutboxRow(
        id=mid,
        pathway_id=pid,
        recipient_role="coordinator",
        kind="reminder",
        subject="Reminder",
        send_at=send,
        created_at=send,
        delivered_at=delivered,
    )


D = date
DASHBOARD_TODAY = D(2026, 11, 25)  # a Wednesday in ISO week 2026-W48


def insert_dashboard_cohort(engine: Engine) -> None:
    """Eight pathways whose dashboard figures are worked out in test_dashboard.py."""
    rows: list[Any] = [
        pathway("p1", "MDT_REVIEW", D(2026, 11, 20)),
        pathway("p2", "WORKUP", D(2026, 8, 1)),
        pathway("p3", "TREATMENT_SCHEDULED", D(2026, 9, 10)),
        pathway("p4", "FOLLOW_UP", D(2026, 6, 1), treatment_number=1),
        pathway("p5", "DECEASED", D(2026, 1, 5), treatment_number=1),
        pathway("p6", "NOT_SUITABLE", D(2026, 10, 1)),
        pathway("p7", "COMPLETED", D(2021, 5, 3), treatment_number=1),
        pathway("p8", "FOLLOW_UP", D(2026, 8, 20), treatment_number=1),
    ]
    rows += [
        history("p5", 5, "DECEASED", D(2026, 11, 18)),
        history("p6", 2, "NOT_SUITABLE", D(2026, 10, 14)),
        history("p7", 6, "COMPLETED", D(2026, 11, 24)),
        history("p7", 5, "FOLLOW_UP", D(2021, 7, 1)),
    ]
    rows += [
        task("p1", "mdt_decision-1", "mdt_clinician", D(2026, 11, 20), overdue=True),
        task("p2", "schedule_workup-2", "coordinator", D(2026, 11, 1), overdue=True),
        task("p3", "record_treatment-6", "interventional_radiologist", D(2026, 11, 25)),
        task(
            "p4",
            "follow_up_visit-8",
            "coordinator",
            D(2026, 11, 10),
            overdue=True,
            not_before=D(2026, 10, 27),
        ),
        task("p4", "follow_up_visit-9", "coordinator", D(2026, 12, 15), not_before=D(2026, 12, 1)),
        task("p4", "follow_up_visit-7", "coordinator", D(2026, 10, 1), state="done"),
        task("p4", "reild_review-10", "mdt_clinician", D(2026, 11, 14), overdue=True),
        task("p8", "chase_missed_visit-9", "coordinator", D(2026, 10, 20), overdue=True),
        task("p5", "follow_up_visit-9", "coordinator", D(2026, 11, 1), state="cancelled"),
    ]
    rows += [
        clock("p1", "62-day", D(2026, 11, 20)),
        clock("p2", "62-day", D(2026, 8, 1)),
        clock("p2", "31-day", D(2026, 11, 10)),
        clock("p3", "62-day", D(2026, 9, 10), pauses=[(D(2026, 9, 20), D(2026, 10, 10))]),
        clock("p3", "31-day", D(2026, 10, 20)),
        clock("p4", "62-day", D(2026, 6, 1), D(2026, 9, 15)),
        clock("p4", "31-day", D(2026, 8, 20), D(2026, 9, 15)),
        clock("p5", "62-day", D(2026, 1, 5), D(2026, 2, 1)),
        clock("p6", "62-day", D(2026, 10, 1)),
        clock("p8", "62-day", D(2026, 8, 20), D(2026, 11, 2), [(D(2026, 9, 1), D(2026, 9, 15))]),
        clock("p8", "31-day", D(2026, 10, 5), D(2026, 11, 2)),
    ]
    rows += [
        outbox("m1", "p1", at(D(2026, 11, 20), 8), at(D(2026, 11, 20), 8)),
        outbox("m2", "p2", at(D(2026, 11, 10), 8), at(D(2026, 11, 10), 9)),
        outbox("m3", "p2", at(D(2026, 11, 24), 10), None),
        outbox("m4", "p3", at(D(2026, 11, 27), 0), None),
    ]
    _write(engine, rows)


def _write(engine: Engine, rows: list[Any]) -> None:
    with Session(engine) as session:
        for row in rows:
            if isinstance(row, PathwayRow):
                session.add(row)
        session.flush()
        for row in rows:
            if not isinstance(row, PathwayRow):
                session.add(row)
        session.commit()


# ------------------------------------------------------------------ the audit cohort

AUDIT_AS_OF = D(2027, 6, 30)
SEEDED_NAMES = ("Zebedee", "Testpatient")
SEEDED_NHS = "9434765919"
# Items 1-28 "not at all", global health 5 and 6 of 7: QL2 = (5.5 - 1) / 6 x 100 = 75.
QLQ_ANSWERS: dict[int, int | None] = {**dict.fromkeys(range(1, 29), 1), 29: 5, 30: 6}


def _dump(model: BaseModel, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json")
    data.update(extra)
    return data


def _visit(
    code: str, on: date, number: int = 1, derived: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    record = FollowUpVisitRecord(visit_code=code, visit_date=on, **fields)
    return _dump(record, visit_id=f"t{number}-{code}", derived=derived or {})


class Outcomes:
    """Builds one pathway's outcome rows in recording order, as the workflow would."""

    def __init__(self, pid: str) -> None:
        self.pid = pid
        self.rows: list[OutcomeRow] = []

    def add(self, kind: str, on: date, data: dict[str, Any]) -> "Outcomes":
        n = len(self.rows) + 1
        self.rows.append(
            OutcomeRow(pathway_id=self.pid, id=f"o{n}", kind=kind, recorded_at=at(on), data=data)
        )
        return self

    def treated(
        self,
        on: date,
        site: str = "midgut",
        flushes: float | None = None,
        stools: float | None = None,
        device: str = "resin_y90",
        extent: str = "bilobar",
        ecog: int = 1,
        burden: float = 30,
    ) -> "Outcomes":
        referral = payloads.referral(
            primary_site=site, flushes_per_day=flushes, stools_per_day=stools
        )
        self.add("referral", on, referral.model_dump(mode="json", exclude={"patient"}))
        mdt = MdtDecision.model_validate(payloads.mdt(on, ecog=ecog, tumour_burden_pct=burden))
        self.add("mdt_decision", on, _dump(mdt, eligibility_flags=[]))
        workup = WorkupResult.model_validate(payloads.workup(on))
        self.add("workup", on, _dump(workup))
        plan = DosimetryPlan.model_validate(payloads.plan(on, device=device))
        self.add("dosimetry_plan", on, _dump(plan, overridden_limits=[]))
        treatment = TreatmentRecord.model_validate(payloads.treatment(on, extent=extent))
        self.add("treatment", on, _dump(treatment, delivered_lung_dose_gy=6.0))
        return self

    def visit(
        self, code: str, on: date, derived: dict[str, Any] | None = None, **fields: Any
    ) -> "Outcomes":
        return self.add("follow_up_visit", on, _visit(code, on, derived=derived, **fields))

    def event(self, kind: str, on: date, **fields: Any) -> "Outcomes":
        return self.add(kind, on, _dump(UnscheduledEvent(kind=kind, occurred_on=on, **fields)))

    def reild_review(self, on: date, grade_inputs: dict[str, Any], grade: int) -> "Outcomes":
        review = ReildReview.model_validate({"findings": grade_inputs, "note": "reviewed"})
        return self.add("reild_review", on, _dump(review, braat_grade=grade))

    def amend(self, on: date, performed_on: date) -> "Outcomes":
        amended = AmendTreatmentDate(performed_on=performed_on, reason="typo in the date")
        return self.add("treatment_date_amended", on, _dump(amended))


def insert_audit_cohort(engine: Engine) -> list[str]:
    """Six treated patients and one not treated; test_audit.py works their figures by hand."""
    a = (
        Outcomes("pa")
        .treated(D(2025, 1, 1), flushes=6, stools=4)
        .visit("2w", D(2025, 1, 15), derived={"prs": {"present": True, "max_grade": 2}})
        .visit(
            "6w",
            D(2025, 2, 12),
            derived={"qlq_c30": {"QL2": 50.0}, "ctcae_grades": {"bilirubin": 3}},
            labs={"bilirubin_umol_l": 70, "albumin_g_l": 38},
        )
        .visit(
            "3m",
            D(2025, 4, 1),
            recist_response="PR",
            flushes_per_day=2,
            stools_per_day=4,
            qlq_c30=QLQ_ANSWERS,
            derived={"qlq_c30": {"QL2": 75.0}},
        )
        .visit("6m", D(2025, 7, 1), recist_response="PD", hepatic_progression_on=D(2025, 6, 1))
        .event("death", D(2025, 7, 20), cause_of_death="progression")
    )
    b = (
        Outcomes("pb")
        .treated(D(2025, 1, 1), flushes=6, stools=4)
        .visit("2w", D(2025, 1, 15), derived={"prs": {"present": False, "max_grade": 0}})
        .visit(
            "6w",
            D(2025, 2, 12),
            derived={"qlq_c30": {"QL2": 60.0}, "reild": {"present": True, "reason": "x"}},
        )
        .reild_review(D(2025, 2, 14), {"laboratory_abnormality": False}, 0)
        .visit(
            "3m",
            D(2025, 4, 1),
            recist_response="SD",
            flushes_per_day=5,
            stools_per_day=4,
            derived={"qlq_c30": {"QL2": 50.0}},
        )
        .visit("18m", D(2026, 7, 1), recist_response="SD")
    )
    c = (
        Outcomes("pc")
        .treated(D(2025, 2, 1), device="glass_y90")
        .visit("3m", D(2025, 5, 1), recist_response="PD", hepatic_progression_on=D(2025, 5, 1))
        .reild_review(D(2025, 5, 2), {"clinical_signs": True, "treatment": "medical"}, 3)
        .event("death", D(2026, 2, 20), cause_of_death="liver failure")
    )
    d = (
        Outcomes("pd")
        .treated(D(2025, 3, 1), site="pancreas", ecog=0, burden=20)
        .event("death", D(2025, 3, 21), cause_of_death="sepsis")
    )
    e = (
        Outcomes("pe")
        .treated(D(2025, 3, 1), site="pancreas", extent="unilobar", burden=20)
        .visit("2w", D(2025, 3, 15), derived={"prs": {"present": True, "max_grade": 3}})
        .visit("3m", D(2025, 6, 1), recist_response="CR")
    )
    f = Outcomes("pf").treated(D(2025, 3, 25), site="pancreas")
    f = (
        f.amend(D(2025, 4, 2), D(2025, 4, 1))
        .visit(
            "3m",
            D(2025, 7, 1),
            recist_response="SD",
            derived={"recist": {"response": "PR", "sum_mm": 30.0}},
        )
        .event(
            "adverse_event",
            D(2025, 8, 1),
            adverse_event={"term": "Gastric ulcer", "ctcae_grade": 3},
        )
        .event("death", D(2027, 1, 1), cause_of_death="progression")
    )
    g = Outcomes("pg")
    g.add("referral", D(2025, 5, 1), {"primary_site": "midgut"})
    cohort = [a, b, c, d, e, f]
    rows: list[Any] = []
    for o in [*cohort, g]:
        treated = o is not g
        rows.append(
            pathway(
                o.pid,
                "FOLLOW_UP" if treated else "MDT_REVIEW",
                D(2024, 12, 1),
                treatment_number=1 if treated else 0,
            )
        )
        rows.append(
            PatientRow(
                pathway_id=o.pid,
                nhs_number=SEEDED_NHS,
                family_name=SEEDED_NAMES[1],
                given_name=SEEDED_NAMES[0],
                date_of_birth=D(1958, 3, 14),
            )
        )
        rows.extend(o.rows)
    _write(engine, rows)
    return [o.pid for o in cohort]


def change_outcome(engine: Engine, pid: str, on: date) -> None:
    """Record one more follow-up visit for a pathway (a change to its registry record)."""
    with Session(engine) as session:
        n = len(session.exec(select(OutcomeRow).where(col(OutcomeRow.pathway_id) == pid)).all())
        session.add(
            OutcomeRow(
                pathway_id=pid,
                id=f"o{n + 1}",
                kind="follow_up_visit",
                recorded_at=at(on),
                data=_visit("24m", on, recist_response="SD"),
            )
        )
        session.commit()
