"""Drives a pathway to a given stage through the real Updates, for tests of later steps."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.clock import local_date
from core.pathways import submit_step
from models.config import PathwayConfig
from models.state import PathwayState
from models.vocab import Stage
from tests import payloads
from tests.readmodel import wait_for_stage

_ORDER = [
    Stage.MDT_REVIEW,
    Stage.WORKUP,
    Stage.DOSIMETRY_PLANNING,
    Stage.TREATMENT_SCHEDULED,
    Stage.FOLLOW_UP,
]


@dataclass
class Journey:
    """One pathway under test, with the environment that moves its clock."""

    pathways: Any
    handle: WorkflowHandle[Any, PathwayState]
    state: PathwayState

    @property
    def id(self) -> str:
        return self.handle.id

    @property
    def env(self) -> WorkflowEnvironment:
        env: WorkflowEnvironment = self.pathways.env
        return env

    async def today(self) -> date:
        """Today in the centre's calendar by the pathway's clock, as the workflow counts it."""
        return local_date(await self.env.get_current_time())

    async def step(self, name: str, payload: dict[str, Any]) -> PathwayState:
        """Submit a step; the pathway's state as committed after it (the Update returns less)."""
        outcome = await submit_step(self.pathways.client, self.id, name, payload)
        state = await self.live()
        assert state.seq >= outcome.seq and outcome.stage in {s.stage for s in state.history}
        return state

    async def live(self) -> PathwayState:
        self.state = await self.handle.query("state", result_type=PathwayState)
        return self.state

    async def sleep(self, days: float) -> None:
        await self.env.sleep(timedelta(days=days))


async def start(pathways: Any, config: PathwayConfig | None = None, **referral: Any) -> Journey:
    handle = await pathways.start(payloads.referral(**referral), config)
    # Another patient's complete referral goes to the MDT too; other overrides leave it open.
    stage = Stage.MDT_REVIEW if set(referral) <= {"patient"} else Stage.REFERRED
    return Journey(pathways, handle, await wait_for_stage(handle, stage))


async def drive_to(
    pathways: Any,
    stage: Stage,
    config: PathwayConfig | None = None,
    lung_dose_gy: float | None = None,
    workup: dict[str, Any] | None = None,
    patient: dict[str, Any] | None = None,
) -> Journey:
    """A complete referral (of ``patient`` if given) taken through each step until the
    pathway is in ``stage``; ``workup`` overrides fields of the work-up it records.
    ``lung_dose_gy`` picks the work-up lung shunt fraction that gives the plan that (computed)
    lung dose."""
    overrides = dict(workup or {})
    if lung_dose_gy is not None:
        overrides.setdefault("lung_shunt_fraction", payloads.lsf_for_lung_dose(lung_dose_gy))
    j = await start(pathways, config, **({"patient": patient} if patient else {}))
    target = _ORDER.index(stage)
    if target >= 1:
        await j.step("mdt-decision", payloads.mdt(await j.today()))
    if target >= 2:
        when = await j.today() + timedelta(days=2)
        await j.step("schedule-workup", {"scheduled_on": when.isoformat()})
        await j.sleep(2)
        recorded = payloads.workup(await j.today(), **overrides)
        await j.step("workup", recorded)
    if target >= 3:
        await j.step("dosimetry-plan", payloads.plan(await j.today(), from_workup=recorded))
    if target >= 4:
        when = await j.today() + timedelta(days=3)
        await j.step("schedule-treatment", {"scheduled_on": when.isoformat()})
        await j.sleep(3)
        await j.step("treatment", payloads.treatment(await j.today()))
    assert j.state.stage == stage
    return j
