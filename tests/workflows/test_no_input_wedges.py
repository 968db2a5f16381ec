"""No input wedges a pathway: hostile but schema-valid payloads for every step, in every stage.

Hypothesis takes a valid payload of each step and breaks one to three of its fields the way a
hurried or mistaken user would: unknown lesion, position and task ids, negative, zero and huge
numbers, NaN, dates before the referral or the work-up, after today and years ahead, empty and
doubled lists; besides, a hand-picked list of hazards users have already found. Whatever
passes the payload model goes to the Update. Each one is either applied or refused by its
validator within seconds; a refusal leaves the state exactly as it was; and no history ever
holds a failed workflow task. SIRT_GENERATIVE_EXAMPLES sets hypothesis's examples per step and
stage (default 4) for a longer soak.
"""

import asyncio
import contextlib
import copy
import math
import os
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from core.pathways import STEPS, UPDATES, parse_step
from models.state import PathwayState
from models.vocab import Stage
from tests import payloads
from tests.journey import Journey, drive_to, start

EXAMPLES = int(os.environ.get("SIRT_GENERATIVE_EXAMPLES", "4"))
UPDATE_LIMIT_S = 20.0
DAY_OFFSETS = [-36500, -3650, -400, -30, -15, -14, -3, -1, 0, 1, 3, 14, 15, 400, 731, 3650]
Path = tuple[str | int, ...]


# Baseline target lesions, so a visit's diameters have something to be compared with.
LESIONS = {
    "baseline_target_lesions": [
        {"lesion_id": "L1", "organ": "liver", "baseline_mm": 40},
        {"lesion_id": "L2", "organ": "liver", "baseline_mm": 25},
    ]
}


def base_payloads(today: date) -> dict[str, dict[str, Any]]:
    """A valid payload of every step (valid in some stage), to be broken by hypothesis."""
    day = today.isoformat
    return {
        "triage": {"complete": False, "missing_items": ["CT liver"], "note": "chased"},
        "mdt-decision": payloads.mdt(today),
        "schedule-workup": {"scheduled_on": (today + timedelta(days=2)).isoformat()},
        "workup": payloads.workup(today, **LESIONS),
        "dosimetry-plan": payloads.plan(today),
        "schedule-treatment": {"scheduled_on": (today + timedelta(days=3)).isoformat()},
        "treatment": payloads.treatment(today),
        "amend-treatment-date": {"performed_on": day(), "reason": "date mistyped"},
        "follow-up-visit": payloads.visit(
            "2w",
            today,
            target_lesions_mm={"L1": 30.0, "L2": 20.0},
            labs={"bilirubin_umol_l": 20, "albumin_g_l": 35, "alt_u_l": 40},
            qlq_c30={"1": 2, "29": 5},
            adverse_events=[{"term": "fatigue", "ctcae_grade": 2, "onset_day": 3}],
        ),
        "event": {
            "kind": "adverse_event",
            "occurred_on": day(),
            "adverse_event": {"term": "abdominal pain", "ctcae_grade": 2},
        },
        "close-task": {"task_id": "chase_missed_visit-12", "note": "patient called"},
        "ltfu-review": {"decision": "continue", "note": "rebooked"},
        "reild-review": {"findings": {"laboratory_abnormality": True}, "note": "bilirubin up"},
        "pause-clock": {"kind": "62-day", "start": day(), "reason": "patient choice"},
        "resume-clock": {"kind": "62-day", "end": day()},
        "external-results": {
            "source": "hl7v2",
            "collected_on": day(),
            "labs": {"bilirubin_umol_l": 40, "albumin_g_l": 30, "inr": 1.2},
            "chromogranin_a_ug_l": 300,
        },
        "report-death": {"source": "hl7v2", "died_on": day()},
        "confirm-death": {"confirmed": True, "died_on": day()},
    }


def hazards(today: date) -> dict[str, list[dict[str, Any]]]:
    """Hand-picked hostile changes per step, always tried: the ones users and fault
    injection have found (unknown lesions, negative diameters, dates before the referral)."""
    long_ago = (today - timedelta(days=400)).isoformat()
    nan = math.nan
    return {
        "follow-up-visit": [
            {"target_lesions_mm": {"L9": 10.0}},
            {"target_lesions_mm": {"L1": -5.0}},
            {"target_lesions_mm": {"L1": nan, "L2": None}},
            {"viable_target_lesions_mm": {"L1": 3.0}},
            {"qlq_c30": {"99": 1}},
            {"qlq_c30": {"1": 9}},
            {"visit_date": long_ago},
            {"hepatic_progression_on": long_ago, "overall_progression_on": long_ago},
            {"labs": {"bilirubin_umol_l": nan}},
        ],
        "treatment": [
            {"performed_on": long_ago, "discharged_on": long_ago},
            {"positions": [{"position": "segment 4", "administered_activity_gbq": 1.0}]},
            {"positions": [{"position": "right hepatic", "administered_activity_gbq": 1e6}]},
            {"positions": [{"position": "right hepatic", "administered_activity_gbq": 0}]},
        ],
        "amend-treatment-date": [{"performed_on": long_ago}],
        "dosimetry-plan": [
            {"predicted_lung_dose_gy": nan},
            {"positions": [{"position": "right hepatic", "activity_gbq": 0}]},
            {"positions": []},
            {"tumour_to_normal_ratio": 0},
        ],
        "workup": [
            {"performed_on": long_ago},
            {"lung_shunt_fraction": 1.0},
            {"lung_shunt_fraction": nan},
            {"tumour_volume_ml": 1800, "whole_liver_volume_ml": 1800},
            {"baseline_target_lesions": [{"lesion_id": "L1", "organ": "liver", "baseline_mm": -1}]},
        ],
        "mdt-decision": [{"meeting_date": long_ago}, {"labs": {"inr": nan}}],
        "pause-clock": [{"start": long_ago}, {"kind": "31-day"}],
        "resume-clock": [{"end": long_ago}],
        "event": [
            {"kind": "death", "occurred_on": long_ago, "cause_of_death": "sepsis"},
            {"kind": "withdrawal", "occurred_on": long_ago, "reason": "moved"},
        ],
        "close-task": [{"task_id": "triage_referral-1"}],
        "schedule-workup": [{"scheduled_on": today.isoformat()}],
        "schedule-treatment": [{"scheduled_on": (today + timedelta(days=800)).isoformat()}],
    }


def leaves(value: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    """Every field of a payload (containers included), with its path."""
    found: list[tuple[Path, Any]] = [(path, value)] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += leaves(item, (*path, index))
    return found


def hostile(value: Any, today: date) -> st.SearchStrategy[Any]:
    """Values of the same JSON type that a user could type and the pathway must survive."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int | float):
        edges = [-1, 0, 1e-9, 0.5, 1, 29.99, 30.01, 1e6, 1e308, math.nan, math.inf]
        return st.sampled_from(edges) | st.floats(-1e4, 1e4) | st.integers(-1000, 10**6)
    if isinstance(value, str):
        try:
            date.fromisoformat(value)
        except ValueError:
            return st.sampled_from(["", "x", "L9", "segment 4", "nope-1", value + " ", value * 2])
        return st.sampled_from(DAY_OFFSETS).map(lambda d: (today + timedelta(days=d)).isoformat())
    if isinstance(value, list):
        return st.sampled_from([[], value[:1], value + value])
    if isinstance(value, dict):
        # Measurements keyed by ids the work-up never recorded, or with impossible values.
        keys = st.sampled_from([*value, "L9", "", "29", "31"])
        numbers = st.sampled_from([-5.0, 0.0, 1e308, math.nan, None, 7])
        return st.sampled_from([{}, value]) | st.dictionaries(keys, numbers, min_size=1, max_size=3)
    return st.none()


def set_at(payload: dict[str, Any], path: Path, value: Any) -> None:
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def broken(base: dict[str, Any], today: date) -> st.SearchStrategy[dict[str, Any]]:
    """The base payload with one to three of its fields replaced by hostile values."""
    fields = leaves(base)

    def apply(chosen: list[tuple[Path, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        def build(values: tuple[Any, ...]) -> dict[str, Any]:
            out = copy.deepcopy(base)
            for (path, _), value in zip(chosen, values, strict=True):
                # An earlier change may have removed the container.
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    set_at(out, path, value)
            return out

        return st.tuples(*(hostile(v, today) for _, v in chosen)).map(build)

    picks = st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique_by=lambda f: f[0])
    return picks.flatmap(apply)


def draw(strategy: st.SearchStrategy[Any], n: int, seed: str) -> list[Any]:
    """``n`` examples, the same on every run (derandomised)."""
    found: list[Any] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.just(seed), strategy)
    def collect(_: str, example: Any) -> None:
        found.append(example)

    collect()
    return found[:n]


async def to_referred(pathways: Any) -> Journey:
    return await start(pathways, grade=None, ki67_pct=None)


async def withdrawn(pathways: Any) -> Journey:
    j = await drive_to(pathways, Stage.WORKUP, workup=LESIONS)
    left = {"kind": "withdrawal", "occurred_on": str(await j.today()), "reason": "moved away"}
    await j.step("event", left)
    return j


def driven(stage: Stage) -> Callable[[Any], Any]:
    async def go(pathways: Any) -> Journey:
        return await drive_to(pathways, stage, workup=LESIONS)

    return go


STAGES: dict[str, Callable[[Any], Any]] = {
    "REFERRED": to_referred,
    "MDT_REVIEW": driven(Stage.MDT_REVIEW),
    "WORKUP": driven(Stage.WORKUP),
    "DOSIMETRY_PLANNING": driven(Stage.DOSIMETRY_PLANNING),
    "TREATMENT_SCHEDULED": driven(Stage.TREATMENT_SCHEDULED),
    "FOLLOW_UP": driven(Stage.FOLLOW_UP),
    "WITHDRAWN": withdrawn,
}


async def submit(j: Journey, step: str, payload: dict[str, Any]) -> str:
    """'applied', 'refused', 'edge' (the payload model refused it before Temporal) or 'ended'
    (the pathway's workflow has completed: Temporal takes no Update at all)."""
    try:
        _, model = parse_step(step, payload)
    except (ValidationError, ValueError):
        return "edge"
    handle = j.handle
    before = await handle.query("state", result_type=PathwayState)
    if before.stage.is_terminal:
        return "ended"
    try:
        await asyncio.wait_for(handle.execute_update(UPDATES[step], model), UPDATE_LIMIT_S)
    except WorkflowUpdateFailedError as exc:
        assert isinstance(exc.cause, ApplicationError), (step, payload, exc.cause)
        assert exc.cause.message.split(":", 1)[0], exc.cause.message
        after = await handle.query("state", result_type=PathwayState)
        assert after == before, f"{step} refused but the state changed: {payload}"
        return "refused"
    return "applied"


def payloads_for(step: str, today: date, stage: str) -> list[dict[str, Any]]:
    """The valid payload itself, the known hazards, then hypothesis's broken ones."""
    base = base_payloads(today)[step]
    known = [{**base, **change} for change in hazards(today).get(step, [])]
    return [base, *known, *draw(broken(base, today), EXAMPLES, f"{stage}/{step}")]


@pytest.mark.parametrize("stage", list(STAGES))
async def test_no_schema_valid_payload_wedges_a_pathway_in_any_stage(
    pathways: Any, stage: str
) -> None:
    """Every payload meets a pathway in ``stage`` that no earlier payload changed."""
    j = await STAGES[stage](pathways)
    journeys = [j]
    today = await j.today()
    outcomes: Counter[str] = Counter()
    for step in base_payloads(today):
        assert step in STEPS
        index, made_for = 0, None
        while True:
            # Dates are relative to the pathway's today, which moves on with each new pathway.
            today = await j.today()
            if made_for != today:
                examples, made_for = payloads_for(step, today, stage), today
            if index == len(examples):
                break
            assert (await j.live()).stage.value == stage
            outcome = await submit(j, step, examples[index])
            index += 1
            outcomes[outcome] += 1
            if outcome == "applied":  # the next payload meets an untouched pathway
                j = await STAGES[stage](pathways)
                journeys.append(j)
    failed = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    for journey in journeys:
        history = await journey.handle.fetch_history()
        assert [e for e in history.events if e.event_type == failed] == [], journey.id
    assert outcomes["applied"] + outcomes["refused"] + outcomes["ended"] > 0
    total = sum(outcomes.values())
    print(f"\n{stage}: {len(STEPS)} steps, {total} payloads: {dict(sorted(outcomes.items()))}")
