"""The synthetic cohort: deterministic scripts, driven through real pathways."""

from collections import Counter
from datetime import date

from sqlmodel import Session, col, select

from core.clock import local_date
from core.pathways import parse_step
from demo.cohort import CohortConfig, generate_cohort, seed_cohort, synthetic_nhs_number
from models.referral import Referral
from models.tables import OutcomeRow, PathwayRow
from registry.config import RegistrySettings
from registry.record import load_records

SHORT = CohortConfig(follow_up_days=100)  # to the 3-month visit: keeps the test fast
SETTINGS = RegistrySettings(pseudonym_mode="pathway_id", _env_file=None)


def test_same_seed_same_cohort_and_every_payload_validates() -> None:
    start = date(2026, 1, 5)
    cohort = generate_cohort(60, seed=11, start=start)
    assert cohort == generate_cohort(60, seed=11, start=start)
    assert cohort != generate_cohort(60, seed=12, start=start)
    for patient in cohort:
        Referral.model_validate(patient.referral)
        for step in patient.steps:
            parse_step(step.step, step.payload)
    treated = [p for p in cohort if any(s.step == "treatment" for s in p.steps)]
    assert 0.75 * len(cohort) <= len(treated) < len(cohort)
    activities = [
        sum(pos["activity_gbq"] for pos in s.payload["positions"])
        for p in cohort
        for s in p.steps
        if s.step == "dosimetry-plan" and s.payload["device"] == "resin_y90"
    ]
    assert all(1.0 <= a <= 2.7 for a in activities)


def test_synthetic_nhs_numbers_pass_the_check_digit() -> None:
    for n in range(50):
        Referral.model_validate(
            {
                "patient": {
                    "nhs_number": synthetic_nhs_number(n),
                    "family_name": "X",
                    "given_name": "Y",
                    "date_of_birth": "1950-01-01",
                }
            }
        )


async def test_seeding_drives_real_pathways(pathways) -> None:
    today = local_date(await pathways.env.get_current_time())
    scripts = generate_cohort(3, seed=1, start=today, config=SHORT)
    ids = await seed_cohort(
        pathways.client,
        pathways.task_queue,
        3,
        seed=1,
        sleep=pathways.env.sleep,
        today=today,
        centre="LEEDS",
        config=SHORT,
    )
    pathways.started.extend(ids)
    with Session(pathways.engine) as session:
        rows = {
            p.id: p for p in session.exec(select(PathwayRow).where(col(PathwayRow.id).in_(ids)))
        }
        outcomes = session.exec(select(OutcomeRow).where(col(OutcomeRow.pathway_id).in_(ids)))
        kinds = Counter((o.pathway_id, o.kind) for o in outcomes)
    for pid, script in zip(ids, scripts, strict=True):
        decision = script.steps[0].payload["decision"]
        visits = sum(1 for s in script.steps if s.step == "follow-up-visit")
        expected_stage = "FOLLOW_UP" if decision == "proceed" else "NOT_SUITABLE"
        assert rows[pid].stage == expected_stage
        assert kinds[(pid, "follow_up_visit")] == visits
        assert kinds[(pid, "referral")] == 1
    records = load_records(pathways.engine, SETTINGS, ids)
    assert len(records) == 2
    for record in records:
        assert record.response_3m in {"CR", "PR", "SD", "PD"}
        assert record.visits_done == 3  # 2w, 6w, 3m
