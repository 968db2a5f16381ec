"""The clinical rules guard the pathway: unsafe plans refused, visits graded, clocks kept."""

from datetime import timedelta

import pytest
from sqlmodel import Session
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from core.clock import local_date
from models.config import PathwayConfig
from models.tables import OutcomeRow, PathwayRow, WaitingClockRow
from models.vocab import Stage
from tests import payloads
from tests.journey import Journey, drive_to
from tests.readmodel import assert_read_model_matches, rows


async def refusal(j: Journey, step: str, payload: dict) -> ApplicationError:
    before = await j.live()
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await j.step(step, payload)
    assert await j.live() == before
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_a_plan_whose_lung_dose_would_exceed_30_gy_cannot_be_signed_off(pathways) -> None:
    # 1.8 GBq with a work-up LSF of 34.9%: 49.67 x 1.8 x 0.349 / 1 kg = 31.2 Gy.
    j = await drive_to(pathways, Stage.WORKUP)
    await j.step("schedule-workup", {"scheduled_on": (await j.today()).isoformat()})
    recorded = payloads.workup(
        await j.today(), lung_shunt_fraction=payloads.lsf_for_lung_dose(31.2)
    )
    await j.step("workup", recorded)
    cause = await refusal(j, "dosimetry-plan", payloads.plan(await j.today(), from_workup=recorded))
    assert cause.type == "UnsafePlan"
    assert cause.message == (
        "predicted_lung_dose_gy: predicted lung dose 31.20 Gy exceeds the single-treatment "
        "limit of 30 Gy"
    )
    state = await j.live()
    assert state.stage == Stage.DOSIMETRY_PLANNING
    assert_read_model_matches(pathways.engine, state)


async def test_a_normal_liver_dose_over_the_resin_limit_is_refused(pathways) -> None:
    # 2.6 GBq, LSF 8%, TNR 3, tumour 450 of 1800 mL: normal liver 42.72 Gy by the partition model.
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)
    positions = [
        {"position": "right hepatic", "activity_gbq": 1.6},
        {"position": "left hepatic", "activity_gbq": 1.0},
    ]
    plan = payloads.plan(await j.today(), positions=positions)
    cause = await refusal(j, "dosimetry-plan", plan)
    assert cause.message == (
        "predicted_normal_liver_dose_gy: predicted normal-liver dose 42.72 Gy exceeds the "
        "resin Y-90 limit of 40 Gy"
    )


async def test_a_centre_may_allow_a_justified_physicist_override(pathways) -> None:
    config = PathwayConfig(allow_dosimetry_override=True)
    j = await drive_to(pathways, Stage.WORKUP, config=config)
    await j.step("schedule-workup", {"scheduled_on": (await j.today()).isoformat()})
    recorded = payloads.workup(await j.today(), lung_shunt_fraction=payloads.lsf_for_lung_dose(31))
    await j.step("workup", recorded)
    plan = payloads.plan(await j.today(), from_workup=recorded)
    cause = await refusal(j, "dosimetry-plan", plan)
    assert cause.message.endswith(
        "a physicist may override by filling in 'Reason for the override'"
    )
    plan["override_reason"] = "palliative intent, agreed at MDT 12/03"
    state = await j.step("dosimetry-plan", plan)
    assert state.stage == Stage.TREATMENT_SCHEDULED


async def test_a_repeat_treatment_over_the_50_gy_cumulative_lung_dose_is_refused(
    pathways,
) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP, lung_dose_gy=28.0)
    await j.step("mdt-decision", payloads.mdt(await j.today()))
    await j.step("schedule-workup", {"scheduled_on": (await j.today()).isoformat()})
    recorded = payloads.workup(await j.today(), lung_shunt_fraction=payloads.lsf_for_lung_dose(25))
    await j.step("workup", recorded)
    cause = await refusal(j, "dosimetry-plan", payloads.plan(await j.today(), from_workup=recorded))
    assert cause.message == (
        "predicted_lung_dose_gy: cumulative lung dose 53.00 Gy (this plan 25.00 Gy, earlier "
        "treatments 28.00 Gy) exceeds the cumulative limit of 50 Gy"
    )
    assert (await j.live()).stage == Stage.DOSIMETRY_PLANNING


async def test_proceeding_over_a_contraindication_needs_a_recorded_reason(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    labs = {"bilirubin_umol_l": 40, "platelets_10e9_l": 210, "inr": 1.0, "albumin_g_l": 38}
    cause = await refusal(j, "mdt-decision", payloads.mdt(await j.today(), labs=labs))
    assert cause.type == "Contraindication"
    assert cause.message.startswith("labs.bilirubin_umol_l: bilirubin 40")
    assert "34.2" in cause.message and cause.message.endswith("fill in 'Reason for the override'")
    state = await j.step(
        "mdt-decision",
        payloads.mdt(await j.today(), labs=labs, override_reason="Gilbert's syndrome"),
    )
    assert state.stage == Stage.WORKUP


def lesions() -> list[dict]:
    return [
        {"lesion_id": "L1", "organ": "liver", "baseline_mm": 40},
        {"lesion_id": "L2", "organ": "liver", "baseline_mm": 30},
    ]


async def test_a_visit_stores_graded_labs_and_tumour_response(pathways) -> None:
    j = await drive_to(pathways, Stage.WORKUP)
    when = await j.today()
    await j.step("schedule-workup", {"scheduled_on": when.isoformat()})
    await j.step("workup", payloads.workup(when, baseline_target_lesions=lesions()))
    await j.step("dosimetry-plan", payloads.plan(when))
    await j.step("schedule-treatment", {"scheduled_on": when.isoformat()})
    await j.step("treatment", payloads.treatment(when))
    await j.sleep(91)
    # ALT 130 U/L is 3.25 x ULN (40): grade 2. Sum 70 -> 45 mm is -35.7%: partial response.
    labs = {"alt_u_l": 130, "bilirubin_umol_l": 15, "albumin_g_l": 38}
    state = await j.step(
        "follow-up-visit",
        payloads.visit("3m", await j.today(), labs=labs, target_lesions_mm={"L1": 25, "L2": 20}),
    )
    assert state.best_response == "PR"
    [outcome] = [o for o in rows(pathways.engine, OutcomeRow, j.id) if o.kind == "follow_up_visit"]
    derived = outcome.data["derived"]
    assert derived["ctcae_grades"] == {"bilirubin": 0, "alt": 2, "albumin": 0}
    assert derived["recist"]["response"] == "PR"
    assert derived["recist"]["change_from_baseline_pct"] == pytest.approx(-35.71, abs=0.01)
    assert outcome.data["labs"]["alt_u_l"] == 130  # raw value kept beside its grade
    with Session(pathways.engine) as session:
        row = session.get(PathwayRow, j.id)
        assert row is not None and row.best_response == "PR"


async def test_a_reild_pattern_opens_a_clinician_review(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP)
    await j.sleep(42)
    labs = {"bilirubin_umol_l": 60, "albumin_g_l": 28}
    state = await j.step(
        "follow-up-visit", payloads.visit("6w", await j.today(), labs=labs, ascites="new_or_worse")
    )
    [review] = [t for t in state.open_tasks if t.kind == "reild_review"]
    assert review.role == "mdt_clinician"
    state = await j.step(
        "reild-review",
        {"findings": {"clinical_signs": True, "treatment": "medical"}, "note": "diuretics"},
    )
    assert not [t for t in state.open_tasks if t.kind == "reild_review"]
    [graded] = [o for o in rows(pathways.engine, OutcomeRow, j.id) if o.kind == "reild_review"]
    assert graded.data["braat_grade"] == 3
    assert_read_model_matches(pathways.engine, state)


async def test_waiting_time_clocks_run_from_referral_and_decision_to_treatment(pathways) -> None:
    j = await drive_to(pathways, Stage.MDT_REVIEW)
    referred = local_date(j.state.referred_at)
    await j.sleep(10)
    await j.step("mdt-decision", payloads.mdt(await j.today()))
    decided = await j.today()
    state = await j.step(
        "pause-clock", {"kind": "31-day", "start": decided.isoformat(), "reason": "holiday"}
    )
    await j.sleep(7)
    state = await j.step("resume-clock", {"kind": "31-day", "end": (await j.today()).isoformat()})
    cause = await refusal(j, "resume-clock", {"kind": "31-day", "end": str(await j.today())})
    assert cause.message == "kind: the 31-day clock is not paused"
    await j.step("schedule-workup", {"scheduled_on": (await j.today()).isoformat()})
    await j.step("workup", payloads.workup(await j.today()))
    await j.step("dosimetry-plan", payloads.plan(await j.today()))
    await j.step("schedule-treatment", {"scheduled_on": (await j.today()).isoformat()})
    treated = await j.today()
    state = await j.step("treatment", payloads.treatment(treated))
    assert state.clocks["62-day#1"].start == referred
    assert state.clocks["62-day#1"].stop == treated
    clock31 = state.clocks["31-day#1"]
    assert (clock31.start, clock31.stop) == (decided, treated)
    assert [(p.start, p.end, p.reason) for p in clock31.pauses] == [
        (decided, decided + timedelta(days=7), "holiday")
    ]
    stored = {r.key: (r.start_on, r.stop_on) for r in rows(pathways.engine, WaitingClockRow, j.id)}
    assert stored == {"62-day#1": (referred, treated), "31-day#1": (decided, treated)}
