"""Benchmark the ops dashboard and the worklists on a 100,000-pathway PostgreSQL read model.

    .venv/bin/python -m bench.dashboard_bench [--pathways 100000] [--runs 200] [--keep]

Creates a database of its own on the local PostgreSQL (like tests/conftest.py), runs the
migrations, loads synthetic pathways, then times ``ops_dashboard`` and ``worklist`` (every role
with tasks) and prints p50/p95/p99 in milliseconds. Pathway timelines are drawn in Python
(seeded); the bulk rows (tasks, visits, outcomes, outbox, clocks) are expanded from them by
INSERT ... SELECT inside PostgreSQL, which is what keeps the load under two minutes on 2 cores.
Figures only: nothing here asserts on timing.
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
from sqlalchemy import Engine

from core import clock
from core.db import get_engine, migrate
from models.vocab import Role, Stage
from reports.dashboard import ops_dashboard, worklist

PG_ADMIN = os.environ.get("SIRT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

# Days from the treatment of each default follow-up visit (2w, 6w, 3-12m 3-monthly, 18-60m).
VISIT_CODES: tuple[str, ...] = ("2w", "6w", "3m", "6m", "9m", "12m", "18m", "24m", "30m")
VISIT_CODES += ("36m", "42m", "48m", "54m", "60m")
VISIT_DAYS = (14, 42, 91, 182, 274, 365, 547, 730, 913, 1095, 1278, 1461, 1643, 1826)
WINDOW_DAYS = 14

# Synthetic service shape [practice]: referrals spread over six years; MDT outcomes; timings.
HISTORY_DAYS = 6 * 365
SHARE_NOT_SUITABLE = 0.10
SHARE_ALTERNATIVE = 0.05
SHARE_WITHDRAW = 0.02
SHARE_LOST = 0.03
MEDIAN_OS_DAYS = 33 * 30.44  # DOMAIN.md: median OS ~33 months
SHARE_PATIENTS_MISSING_A_VISIT = 0.15


@dataclass
class Timeline:
    """One synthetic pathway's key dates; None where it has not got that far."""

    id: str
    referred_at: datetime
    mdt_on: date | None
    decision: str | None
    workup_booked_on: date | None
    workup_on: date | None
    plan_on: date | None
    treatment_booked_on: date | None
    treated_on: date | None
    end_stage: str | None
    end_on: date | None
    stage: str
    stage_entered_on: date


def draw(rng: random.Random, today: date, n: int) -> Iterator[Timeline]:
    """Pathway timelines with realistic stage durations (days: MDT 7-25, work-up 10-30...)."""
    for _ in range(n):
        ref_day = today - timedelta(days=rng.randrange(HISTORY_DAYS))
        ref = datetime.combine(ref_day, datetime.min.time(), UTC) + timedelta(
            seconds=rng.randrange(8 * 3600, 18 * 3600)
        )
        steps: dict[str, date | None] = dict.fromkeys(
            ("mdt", "wbook", "workup", "plan", "tbook", "treat"), None
        )
        decision = None
        end_stage = end_on = None
        stage, entered = Stage.MDT_REVIEW, ref_day
        cursor = ref_day
        chain = [
            ("mdt", 7, 25, Stage.WORKUP),
            ("wbook", 1, 6, Stage.WORKUP),
            ("workup", 7, 21, Stage.DOSIMETRY_PLANNING),
            ("plan", 2, 8, Stage.TREATMENT_SCHEDULED),
            ("tbook", 1, 6, Stage.TREATMENT_SCHEDULED),
            ("treat", 7, 25, Stage.FOLLOW_UP),
        ]
        for name, lo, hi, next_stage in chain:
            cursor = cursor + timedelta(days=rng.randint(lo, hi))
            if cursor > today:
                break
            steps[name] = cursor
            if name == "mdt":
                r = rng.random()
                decision = "proceed"
                if r < SHARE_NOT_SUITABLE:
                    decision, end_stage, end_on = "not_suitable", Stage.NOT_SUITABLE, cursor
                elif r < SHARE_NOT_SUITABLE + SHARE_ALTERNATIVE:
                    decision, end_stage, end_on = "alternative", Stage.ALTERNATIVE_TREATMENT, cursor
                if end_stage is not None:
                    stage, entered = end_stage, cursor
                    break
            if next_stage != stage:
                stage, entered = next_stage, cursor
        treated = steps["treat"]
        if treated is not None:
            death = treated + timedelta(days=int(rng.expovariate(0.693 / MEDIAN_OS_DAYS)))
            r = rng.random()
            other = treated + timedelta(days=rng.randrange(60, VISIT_DAYS[-1]))
            completed = treated + timedelta(days=VISIT_DAYS[-1])
            candidates = [(death, Stage.DECEASED), (completed, Stage.COMPLETED)]
            if r < SHARE_WITHDRAW:
                candidates.append((other, Stage.WITHDRAWN))
            elif r < SHARE_WITHDRAW + SHARE_LOST:
                candidates.append((other, Stage.LOST_TO_FOLLOW_UP))
            when, what = min(candidates)
            if when <= today:
                end_stage, end_on, stage, entered = what, when, what, when
        yield Timeline(
            id=f"pathway-{uuid.UUID(int=rng.getrandbits(128))}",
            referred_at=ref,
            mdt_on=steps["mdt"],
            decision=decision,
            workup_booked_on=steps["wbook"],
            workup_on=steps["workup"],
            plan_on=steps["plan"],
            treatment_booked_on=steps["tbook"],
            treated_on=treated,
            end_stage=end_stage,
            end_on=end_on,
            stage=stage,
            stage_entered_on=entered,
        )


_STAGING = """
CREATE UNLOGGED TABLE bench_pathway (
    id text PRIMARY KEY, referred_at timestamptz, mdt_on date, decision text,
    workup_booked_on date, workup_on date, plan_on date, treatment_booked_on date,
    treated_on date, end_stage text, end_on date, stage text, stage_entered_on date,
    missed_visit int)
"""

# Each step task: (kind, role, opened from, done on, due days after opening).
_STEP_TASKS = (
    ("mdt_decision", "mdt_clinician", "referred_at::date", "mdt_on", 14),
    ("schedule_workup", "coordinator", "mdt_on", "workup_booked_on", 7),
    ("record_workup", "interventional_radiologist", "workup_booked_on", "workup_on", 10),
    ("dosimetry_plan", "physicist", "workup_on", "plan_on", 7),
    ("schedule_treatment", "coordinator", "plan_on", "treatment_booked_on", 7),
    ("record_treatment", "interventional_radiologist", "treatment_booked_on", "treated_on", 12),
)


def _expand_sql(today: date) -> list[str]:
    """INSERT ... SELECTs that expand the staged timelines into the read-model tables."""
    t = f"DATE '{today.isoformat()}'"
    stmts = [
        f"""
        INSERT INTO pathway (id, centre, stage, stage_entered_at, referred_at, next_due_on,
            overdue, treatment_number, treatment_on, cumulative_lung_dose_gy, exit_reason,
            best_response, last_seq, updated_at)
        SELECT id, 'C' || (abs(hashtext(id)) % 4)::text, stage, stage_entered_on::timestamptz,
            referred_at, NULL, false, CASE WHEN treated_on IS NULL THEN 0 ELSE 1 END,
            treated_on, CASE WHEN treated_on IS NULL THEN 0 ELSE 6.0 END, end_stage,
            CASE WHEN treated_on IS NULL THEN NULL ELSE (ARRAY['CR','PR','SD','PD'])[
                1 + abs(hashtext(id || 'r')) % 4] END, 10, {t}::timestamptz
        FROM bench_pathway""",
        """
        INSERT INTO stage_history (pathway_id, ordinal, stage, entered_at, reason)
        SELECT id, ord, s, at::timestamptz, 'bench' FROM bench_pathway,
        LATERAL (VALUES (0, 'REFERRED', referred_at::date), (1, 'MDT_REVIEW', referred_at::date),
            (2, CASE decision WHEN 'proceed' THEN 'WORKUP' ELSE end_stage END, mdt_on),
            (3, 'DOSIMETRY_PLANNING', workup_on), (4, 'TREATMENT_SCHEDULED', plan_on),
            (5, 'FOLLOW_UP', treated_on),
            (6, CASE WHEN treated_on IS NOT NULL THEN end_stage END, end_on)) AS v(ord, s, at)
        WHERE at IS NOT NULL AND s IS NOT NULL""",
    ]
    for kind, role, opened, done, due in _STEP_TASKS:
        stmts.append(
            f"""
            INSERT INTO task (pathway_id, id, kind, role, title, state, opened_at, due_on,
                not_before, overdue, closed_at, detail, visit_id)
            SELECT id, '{kind}-1', '{kind}', '{role}', '{kind}',
                CASE WHEN {done} IS NOT NULL THEN 'done'
                     WHEN end_on IS NOT NULL THEN 'cancelled' ELSE 'open' END,
                ({opened})::timestamptz, ({opened}) + {due}, NULL,
                {done} IS NULL AND end_on IS NULL AND ({opened}) + {due} < {t},
                ({done})::timestamptz, NULL, NULL
            FROM bench_pathway WHERE ({opened}) IS NOT NULL"""
        )
    codes = "ARRAY[" + ",".join(f"'{c}'" for c in VISIT_CODES) + "]"
    days = "ARRAY[" + ",".join(str(d) for d in VISIT_DAYS) + "]"
    visits = f"""
        SELECT b.id, b.treated_on, b.end_on, b.missed_visit, g.n, ({codes})[g.n] AS code,
            b.treated_on + ({days})[g.n] AS due,
            CASE
              WHEN b.end_on IS NOT NULL AND b.treated_on + ({days})[g.n] > b.end_on
                THEN 'cancelled'
              WHEN g.n = b.missed_visit AND b.treated_on + ({days})[g.n] + 15 <= {t}
                THEN 'missed'
              WHEN b.treated_on + ({days})[g.n] <= {t} - 3 THEN 'done'
              WHEN b.treated_on + ({days})[g.n] <= {t} AND g.n % 3 = 0 THEN 'done'
              ELSE 'scheduled' END AS state
        FROM bench_pathway b, generate_series(1, {len(VISIT_CODES)}) AS g(n)
        WHERE b.treated_on IS NOT NULL"""
    stmts += [
        f"CREATE UNLOGGED TABLE bench_visit AS {visits}",
        f"""
        INSERT INTO visit (pathway_id, id, code, kind, treatment_number, due_on, window_days,
            state, recorded_on)
        SELECT id, 't1-' || code, code, 'clinic_imaging_labs', 1, due, {WINDOW_DAYS}, state,
            CASE WHEN state = 'done' THEN due END
        FROM bench_visit""",
        f"""
        INSERT INTO task (pathway_id, id, kind, role, title, state, opened_at, due_on,
            not_before, overdue, closed_at, detail, visit_id)
        SELECT id, 'follow_up_visit-' || (6 + n), 'follow_up_visit', 'coordinator',
            'Follow-up visit ' || code,
            CASE state WHEN 'scheduled' THEN 'open' ELSE state END,
            treated_on::timestamptz, due, due - {WINDOW_DAYS}, state = 'scheduled' AND due < {t},
            CASE WHEN state <> 'scheduled' THEN LEAST(due, {t})::timestamptz END, NULL,
            't1-' || code
        FROM bench_visit""",
        f"""
        INSERT INTO task (pathway_id, id, kind, role, title, state, opened_at, due_on,
            not_before, overdue, closed_at, detail, visit_id)
        SELECT id, 'chase_missed_visit-' || n, 'chase_missed_visit', 'coordinator',
            'Chase a missed follow-up visit',
            CASE WHEN due + 15 + 7 < {t} - 30 THEN 'done' ELSE 'open' END,
            (due + 15)::timestamptz, due + 22, NULL, due + 22 < {t},
            CASE WHEN due + 15 + 7 < {t} - 30 THEN (due + 25)::timestamptz END, NULL, NULL
        FROM bench_visit WHERE state = 'missed'""",
        """
        INSERT INTO outcome (pathway_id, id, kind, recorded_at, data)
        SELECT id, 'o' || ord, kind, at::timestamptz, data::json FROM bench_pathway,
        LATERAL (VALUES
            (1, 'referral', referred_at::date, '{"primary_site": "midgut", "grade": 2}'),
            (2, 'mdt_decision', mdt_on, '{"ecog": 1, "decision": "' || decision || '"}'),
            (3, 'workup', workup_on, '{"lung_shunt_fraction": 0.06}'),
            (4, 'dosimetry_plan', plan_on, '{"device": "resin_y90"}'),
            (5, 'treatment', treated_on, '{"extent": "bilobar", "delivered_lung_dose_gy": 6}'),
            (6, 'death', CASE WHEN end_stage = 'DECEASED' THEN end_on END,
                '{"kind": "death", "cause_of_death": "progression"}')
        ) AS v(ord, kind, at, data)
        WHERE at IS NOT NULL""",
        """
        INSERT INTO outcome (pathway_id, id, kind, recorded_at, data)
        SELECT id, 'o' || (10 + n), 'follow_up_visit', due::timestamptz,
            json_build_object('visit_code', code, 'visit_date', due,
                'recist_response', (ARRAY['PR','SD','SD','PD'])[1 + n % 4])
        FROM bench_visit WHERE state = 'done'""",
        f"""
        INSERT INTO waiting_clock (pathway_id, key, kind, start_on, stop_on, pauses)
        SELECT id, '62-day#1', '62-day', referred_at::date, treated_on,
            CASE WHEN abs(hashtext(id)) % 50 = 0 AND mdt_on IS NOT NULL
                THEN json_build_array(json_build_object('start', referred_at::date + 3,
                    'end', referred_at::date + 10, 'reason', 'patient choice'))
                ELSE '[]'::json END
        FROM bench_pathway
        UNION ALL
        SELECT id, '31-day#1', '31-day', mdt_on, treated_on, '[]'::json
        FROM bench_pathway WHERE decision = 'proceed' AND mdt_on <= {t}""",
        # Notifications: a reminder the day before each task falls due and one a week before a
        # visit; an overdue notice for each task that ran late. Delivered within minutes, except
        # the most recent few which the loop has not reached yet.
        f"""
        INSERT INTO outbox (id, pathway_id, task_id, recipient_role, kind, due_on, subject,
            send_at, created_at, delivered_at, attempts)
        SELECT pathway_id || ':' || id || ':' || k, pathway_id, id, role, kind2, due_on,
            'Reminder: ' || title, at, at,
            CASE WHEN at < {t}::timestamptz - interval '10 minutes'
                THEN at + interval '2 minutes' END, 1
        FROM task, LATERAL (VALUES
            ('reminder:1', 'reminder', (due_on - 1)::timestamptz),
            ('reminder:7', 'reminder',
                CASE WHEN kind = 'follow_up_visit' THEN (due_on - 7)::timestamptz END),
            ('overdue', 'overdue', CASE WHEN overdue OR (closed_at IS NOT NULL
                AND closed_at::date > due_on) THEN (due_on + 1)::timestamptz END)
        ) AS v(k, kind2, at)
        WHERE at IS NOT NULL AND at <= {t}::timestamptz + interval '12 hours'""",
        f"""
        UPDATE pathway p SET next_due_on = d.due, overdue = d.late
        FROM (SELECT pathway_id, min(due_on) AS due, bool_or(due_on < {t}) AS late
              FROM task WHERE state = 'open' GROUP BY pathway_id) d
        WHERE p.id = d.pathway_id""",
        "DROP TABLE bench_visit",
        "DROP TABLE bench_pathway",
    ]
    return stmts


_BULK_TABLES = ("pathway", "stage_history", "task", "visit", "outcome", "waiting_clock", "outbox")


def load(dsn: str, n: int, today: date, seed: int) -> dict[str, int]:
    """Stage the timelines with COPY, expand them in SQL; returns row counts per table."""
    rng = random.Random(seed)
    phase = time.perf_counter()

    def lap(what: str) -> None:
        nonlocal phase
        now = time.perf_counter()
        print(f"  {what:<28} {now - phase:6.1f} s")
        phase = now

    with psycopg.connect(dsn) as conn:
        conn.execute(_STAGING)
        with conn.cursor().copy("COPY bench_pathway FROM STDIN") as copy:
            for tl in draw(rng, today, n):
                # One visit missed by some patients; an index past the schedule: none.
                missed = rng.randint(1, len(VISIT_CODES))
                copy.write_row(
                    (
                        tl.id,
                        tl.referred_at,
                        tl.mdt_on,
                        tl.decision,
                        tl.workup_booked_on,
                        tl.workup_on,
                        tl.plan_on,
                        tl.treatment_booked_on,
                        tl.treated_on,
                        tl.end_stage,
                        tl.end_on,
                        tl.stage,
                        tl.stage_entered_on,
                        missed if rng.random() < SHARE_PATIENTS_MISSING_A_VISIT else 99,
                    )
                )
        # Building indexes once after the load is several times faster than maintaining them
        # row by row; the definitions are the migrations' own, read back from the catalogue.
        conn.execute("SET maintenance_work_mem = '256MB'")
        # The rows are consistent by construction: skip the per-row foreign-key triggers.
        conn.execute("SET session_replication_role = replica")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND tablename = ANY(%s) AND indexname NOT LIKE '%%_pkey'",
            (list(_BULK_TABLES),),
        ).fetchall()
        lap("timelines drawn and copied")
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for stmt in _expand_sql(today):
            conn.execute(stmt)
        lap("rows expanded in SQL")
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
        lap("secondary indexes built")
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Index-only scans need the visibility map; autovacuum would do this in service.
        conn.execute("VACUUM ANALYZE")
        lap("vacuum analyze")
        tables = ("pathway", "stage_history", "task", "visit", "outcome", "waiting_clock")
        return {
            name: int(conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0])  # type: ignore[index]
            for name in (*tables, "outbox")
        }


def percentiles(samples_ms: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of a sample."""
    q = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return q[49], q[94], q[98]


def timed(fn: Callable[[], object], runs: int, warmup: int = 5) -> list[float]:
    """Wall-clock milliseconds of ``runs`` calls after a few warm-up calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


WORKLIST_ROLES = (
    Role.COORDINATOR,
    Role.MDT_CLINICIAN,
    Role.INTERVENTIONAL_RADIOLOGIST,
    Role.PHYSICIST,
)


def _worklist_call(engine: Engine, role: Role, today: date) -> Callable[[], object]:
    return lambda: worklist(engine, role, today=today)


def main(argv: list[str] | None = None) -> int:
    """Create, load, time, report, drop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pathways", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)

    name = f"sirt_bench_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    url = dsn.replace("postgresql://", "postgresql+psycopg://")
    today = clock.today()
    try:
        start = time.perf_counter()
        migrate(url)
        counts = load(dsn, args.pathways, today, args.seed)
        print(f"database {name}: loaded in {time.perf_counter() - start:.1f} s")
        for table, rows in counts.items():
            print(f"  {table:<14} {rows:>10,}")
        engine = get_engine(url)
        print(f"\n{args.runs} runs each, milliseconds      p50      p95      p99")
        results = {"ops_dashboard": timed(lambda: ops_dashboard(engine, today), args.runs)}
        for role in WORKLIST_ROLES:
            results[f"worklist({role.value})"] = timed(
                _worklist_call(engine, role, today), args.runs
            )
        for label, samples in results.items():
            p50, p95, p99 = percentiles(samples)
            print(f"  {label:<34} {p50:8.2f} {p95:8.2f} {p99:8.2f}")
        dash = ops_dashboard(engine, today)
        active = dash.active_pathways
        print(f"\n  {dash.total_pathways:,} pathways, {active:,} active; open tasks by role:")
        for r in dash.tasks:
            print(f"    {r.role:<28} open {r.open:>8,}  overdue {r.overdue:>6,}")
        engine.dispose()
    finally:
        if args.keep:
            print(f"\nkept database {name}: {url}")
        else:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
