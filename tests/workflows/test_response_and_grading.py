"""Visits derive RECIST 1.1 overall response (target, non-target, new lesions) and CTCAE grades
for INR and GGT, and the pathway's best response follows (issue 10, points 4 and 5)."""

from models.tables import OutcomeRow
from models.vocab import Stage
from tests import payloads
from tests.journey import Journey, drive_to
from tests.readmodel import rows


def lesions() -> list[dict]:
    return [
        {"lesion_id": "L1", "organ": "liver", "baseline_mm": 40},
        {"lesion_id": "N1", "organ": "hepatic hilar node", "baseline_mm": 18, "nodal": True},
    ]


async def treated_with_lesions(pathways) -> Journey:
    j = await drive_to(pathways, Stage.WORKUP)
    when = await j.today()
    await j.step("schedule-workup", {"scheduled_on": when.isoformat()})
    recorded = payloads.workup(when, baseline_target_lesions=lesions())
    await j.step("workup", recorded)
    await j.step("dosimetry-plan", payloads.plan(when, from_workup=recorded))
    await j.step("schedule-treatment", {"scheduled_on": when.isoformat()})
    await j.step("treatment", payloads.treatment(when))
    return j


def derived(j: Journey) -> list[dict]:
    visits = [o for o in rows(j.pathways.engine, OutcomeRow, j.id) if o.kind == "follow_up_visit"]
    # In the order recorded (a query without ORDER BY has none on PostgreSQL).
    visits.sort(key=lambda o: o.recorded_at)
    return [o.data["derived"] for o in visits]


async def test_cr_needs_the_node_under_10_mm_and_reappearance_after_cr_is_pd(pathways) -> None:
    j = await treated_with_lesions(pathways)
    await j.sleep(42)
    # 6 weeks: the liver lesion has gone, the node is 8 mm short axis, non-target disease gone.
    state = await j.step(
        "follow-up-visit",
        payloads.visit(
            "6w", await j.today(), target_lesions_mm={"L1": 0, "N1": 8}, non_target_response="CR"
        ),
    )
    assert state.best_response == "CR"
    await j.sleep(49)
    # 3 months: the liver lesion is back at 4 mm. Far below 20% + 5 mm over the nadir (8 mm),
    # but after a CR any reappearance is progression (RECIST 1.1).
    state = await j.step(
        "follow-up-visit",
        payloads.visit(
            "3m", await j.today(), target_lesions_mm={"L1": 4, "N1": 8}, non_target_response="CR"
        ),
    )
    six_weeks, three_months = derived(j)
    assert six_weeks["recist"]["response"] == "CR" and six_weeks["recist"]["sum_mm"] == 8
    assert three_months["recist"]["target_response"] == "PD"
    assert three_months["recist"]["response"] == "PD"
    assert state.responses == ["CR", "PD"] and state.best_response == "CR"


async def test_non_target_progression_overrides_shrinking_targets(pathways) -> None:
    j = await treated_with_lesions(pathways)
    await j.sleep(42)
    state = await j.step(
        "follow-up-visit",
        payloads.visit(
            "6w",
            await j.today(),
            target_lesions_mm={"L1": 20, "N1": 12},
            non_target_response="PD",
        ),
    )
    [visit] = derived(j)
    assert visit["recist"]["target_response"] == "PR"  # 58 -> 32 mm: -44.8%
    assert visit["recist"]["response"] == "PD"
    assert state.best_response == "PD"


async def test_inr_and_ggt_are_graded_inr_against_baseline_when_anticoagulated(pathways) -> None:
    j = await treated_with_lesions(pathways)  # baseline INR 1.0 at the MDT
    await j.sleep(42)
    labs = {"inr": 1.1, "ggt_u_l": 140, "ast_u_l": 130, "on_anticoagulation": True}
    await j.step("follow-up-visit", payloads.visit("6w", await j.today(), labs=labs))
    await j.sleep(49)
    labs = {"inr": 1.1, "ggt_u_l": 56, "ast_u_l": 130}
    await j.step("follow-up-visit", payloads.visit("3m", await j.today(), labs=labs))
    anticoagulated, not_anticoagulated = derived(j)
    # CTCAE v5 "INR increased": on anticoagulation >1-1.5 x baseline (1.0) is grade 1; otherwise
    # grade 1 starts above 1.2 x ULN (1.0), so 1.1 is grade 0. GGT 140 > 2.5 x 55: grade 2; 56 >
    # ULN: grade 1. AST 130 > 3 x 40: grade 2.
    assert anticoagulated["ctcae_grades"] == {"ast": 2, "ggt": 2, "inr": 1}
    assert not_anticoagulated["ctcae_grades"] == {"ast": 2, "ggt": 1, "inr": 0}
