"""Derive, never trust: the plan is recomputed from the recorded work-up, and so is the delivery.

Each story starts from a measurement on the old main (issue 10) that let a wrong number through.
Doses are checked by hand: lung = 49.67 x A x LSF / M_lung (EANM 2022 dosimetry guideline).
"""

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.config import PathwayConfig
from models.tables import OutcomeRow
from models.vocab import Stage
from tests import payloads
from tests.journey import Journey, drive_to
from tests.readmodel import rows


async def refused(j: Journey, step: str, payload: dict[str, Any]) -> ApplicationError:
    before = await j.live()
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await j.step(step, payload)
    assert await j.live() == before  # nothing changed
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


def positions(*gbq: float) -> list[dict[str, Any]]:
    names = ("right hepatic", "left hepatic")
    return [{"position": n, "activity_gbq": a} for n, a in zip(names, gbq, strict=False)]


def delivered(*gbq: float) -> list[dict[str, Any]]:
    names = ("right hepatic", "left hepatic")
    return [
        {"position": n, "administered_activity_gbq": a, "residual_pct": 0}
        for n, a in zip(names, gbq, strict=False)
    ]


async def planning(pathways: Any, **workup: Any) -> tuple[Journey, dict[str, Any]]:
    j = await drive_to(pathways, Stage.WORKUP)
    await j.step("schedule-workup", {"scheduled_on": (await j.today()).isoformat()})
    recorded = payloads.workup(await j.today(), **workup)
    await j.step("workup", recorded)
    return j, recorded


async def test_a_typed_lung_dose_below_what_the_work_up_implies_is_refused(pathways) -> None:
    # Measured on main: LSF 0.25 and 3 GBq accepted with a typed 10 Gy. 49.67 x 3 x 0.25 = 37.25.
    j, recorded = await planning(pathways, lung_shunt_fraction=0.25)
    plan = payloads.plan(await j.today(), from_workup=recorded, positions=positions(2.0, 1.0))
    plan["predicted_lung_dose_gy"] = 10.0
    cause = await refused(j, "dosimetry-plan", plan)
    assert cause.type == "UnsafePlan"
    assert cause.message == (
        "predicted_lung_dose_gy: typed lung dose 10.00 Gy differs from the 37.25 Gy the "
        "recorded inputs give (3.00 GBq x LSF 25.0% x 49.67 Gy kg/GBq / default lung mass 1 kg) "
        "by more than 5% (or 1 Gy); predicted lung dose 37.25 Gy exceeds the single-treatment "
        "limit of 30 Gy; predicted normal-liver dose 40.19 Gy exceeds the resin Y-90 limit of 40 Gy"
    )


async def test_a_wrong_typed_figure_cannot_be_overridden(pathways) -> None:
    config = PathwayConfig(allow_dosimetry_override=True)
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING, config=config)
    plan = payloads.plan(await j.today(), predicted_tumour_dose_gy=150.0)
    plan["override_reason"] = "agreed at MDT"
    cause = await refused(j, "dosimetry-plan", plan)
    assert cause.message == (
        "predicted_tumour_dose_gy: typed tumour dose 150.00 Gy differs from the 88.73 Gy the "
        "recorded inputs give (1.80 GBq by the partition method) by more than 5% (or 1 Gy)"
    )


async def test_typed_figures_within_the_tolerance_are_accepted_and_computed_doses_kept(
    pathways,
) -> None:
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)
    # Rounded as a manufacturer's calculator does (C = 50, not 49.67): within 5%.
    plan = payloads.plan(
        await j.today(),
        predicted_lung_dose_gy=7.2,
        predicted_tumour_dose_gy=89.3,
        predicted_normal_liver_dose_gy=29.8,
    )
    state = await j.step("dosimetry-plan", plan)
    assert state.stage == Stage.TREATMENT_SCHEDULED
    [row] = [o for o in rows(j.pathways.engine, OutcomeRow, j.id) if o.kind == "dosimetry_plan"]
    doses = row.data["computed_doses"]
    assert doses["lung_gy"] == pytest.approx(7.1525, abs=1e-4)
    assert doses["tumour_gy"] == pytest.approx(88.7309, abs=1e-4)
    assert doses["normal_liver_gy"] == pytest.approx(29.5770, abs=1e-4)
    assert row.data["predicted_lung_dose_gy"] == 7.2  # the typed figure is kept beside it


async def test_the_normal_liver_limit_applies_when_no_normal_liver_dose_is_typed(
    pathways,
) -> None:
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)
    plan = payloads.plan(await j.today(), positions=positions(1.6, 1.0))
    del plan["predicted_normal_liver_dose_gy"]
    cause = await refused(j, "dosimetry-plan", plan)
    assert cause.message == (
        "predicted_normal_liver_dose_gy: predicted normal-liver dose 42.72 Gy exceeds the "
        "resin Y-90 limit of 40 Gy"
    )


@pytest.mark.parametrize("device", ["glass_y90", "ho166"])
async def test_the_bsa_method_is_for_resin_only(pathways, device: str) -> None:
    j = await drive_to(pathways, Stage.DOSIMETRY_PLANNING)
    plan = payloads.plan(await j.today(), device=device, method="mird")
    plan["method"] = "bsa"
    cause = await refused(j, "dosimetry-plan", plan)
    assert cause.message.startswith(
        f"method: the bsa method is not used with {device} (the BSA method is for resin Y-90 "
        "only); use one of mird, partition, voxel"
    )


async def test_a_standard_glass_plan_of_120_gy_to_the_perfused_volume_is_accepted(
    pathways,
) -> None:
    # 4.87 GBq, LSF 8%, 1854 g perfused: 49.67 x 4.87 x 0.92 / 1.854 = 120.03 Gy; lung 19.35 Gy.
    j, recorded = await planning(pathways)
    plan = payloads.plan(
        await j.today(),
        from_workup=recorded,
        device="glass_y90",
        method="mird",
        tumour_to_normal_ratio=None,
        positions=positions(3.0, 1.87),
    )
    assert plan["predicted_perfused_dose_gy"] == 120.03
    state = await j.step("dosimetry-plan", plan)
    assert state.stage == Stage.TREATMENT_SCHEDULED


async def test_the_recorded_ct_lung_volume_sets_the_lung_mass(pathways) -> None:
    # 4000 mL x 0.3 g/mL = 1.2 kg: 49.67 x 1.8 x 0.08 / 1.2 = 5.96 Gy (7.15 Gy with 1 kg).
    j, recorded = await planning(pathways, lung_volume_ml=4000)
    cause = await refused(
        j,
        "dosimetry-plan",
        payloads.plan(await j.today(), predicted_lung_dose_gy=7.15),
    )
    assert "the 5.96 Gy the recorded inputs give" in cause.message
    assert "CT lung volume 4000 mL x 0.3 g/mL = 1.20 kg" in cause.message
    state = await j.step("dosimetry-plan", payloads.plan(await j.today(), from_workup=recorded))
    assert state.stage == Stage.TREATMENT_SCHEDULED


async def test_delivered_lung_dose_is_computed_from_the_delivered_activity(pathways) -> None:
    # Planned 1.8 GBq, delivered 1.5 GBq: 49.67 x 1.5 x 0.08 = 5.96 Gy, whatever was typed.
    j = await drive_to(pathways, Stage.TREATMENT_SCHEDULED)
    await j.step("schedule-treatment", {"scheduled_on": (await j.today()).isoformat()})
    state = await j.step(
        "treatment", payloads.treatment(await j.today(), positions=delivered(1.0, 0.5))
    )
    assert state.delivered_lung_doses_gy == [5.96]
    assert state.cumulative_lung_dose_gy == 5.96


async def test_delivering_more_than_planned_reruns_the_lung_limit(pathways) -> None:
    # Plan: 1.8 GBq at 28 Gy. Delivered 2.2 GBq (22.2% over the 10% margin): 34.22 Gy > 30 Gy.
    j = await drive_to(pathways, Stage.TREATMENT_SCHEDULED, lung_dose_gy=28.0)
    await j.step("schedule-treatment", {"scheduled_on": (await j.today()).isoformat()})
    over = payloads.treatment(await j.today(), positions=delivered(1.4, 0.8))
    cause = await refused(j, "treatment", over)
    assert cause.type == "UnsafeDelivery"
    assert cause.message == (
        "positions: delivered activity 2.20 GBq is 22.2% above the planned 1.80 GBq (margin 10%): "
        "predicted lung dose 34.22 Gy exceeds the single-treatment limit of 30 Gy; "
        "to record it, give excess_activity_reason"
    )
    over["excess_activity_reason"] = "vial calibration error found after delivery"
    state = await j.step("treatment", over)
    assert state.delivered_lung_doses_gy == [34.22]
    [row] = [o for o in rows(j.pathways.engine, OutcomeRow, j.id) if o.kind == "treatment"]
    assert row.data["delivered_lung_dose_gy"] == 34.22
    assert [v["code"] for v in row.data["overridden_limits"]] == ["lung_dose_single"]
    assert row.data["excess_activity_reason"] == "vial calibration error found after delivery"


async def test_delivering_a_little_more_than_planned_is_within_the_margin(pathways) -> None:
    # 1.95 GBq is 8.3% over a 28 Gy plan: within the 10% margin, recorded as 30.33 Gy.
    j = await drive_to(pathways, Stage.TREATMENT_SCHEDULED, lung_dose_gy=28.0)
    await j.step("schedule-treatment", {"scheduled_on": (await j.today()).isoformat()})
    state = await j.step(
        "treatment", payloads.treatment(await j.today(), positions=delivered(1.3, 0.65))
    )
    assert state.delivered_lung_doses_gy == [30.33]


async def test_the_mdt_for_a_repeat_sirt_sees_the_recorded_cumulative_lung_dose(pathways) -> None:
    j = await drive_to(pathways, Stage.FOLLOW_UP, lung_dose_gy=28.0)
    state = await j.step("mdt-decision", payloads.mdt(await j.today()))
    assert state.stage == Stage.WORKUP
    [decision] = [o for o in rows(j.pathways.engine, OutcomeRow, j.id) if o.kind == "mdt_decision"][
        -1:
    ]
    assert decision.data["eligibility_flags"] == [
        {
            "code": "repeat_sirt_lung_dose",
            "severity": "caution",
            "field": "prior_lung_dose_gy",
            "reason": "repeat SIRT: recorded cumulative lung dose 28.0 Gy leaves 22.0 Gy of the "
            "50.0 Gy cumulative limit",
        }
    ]
