"""A pathway's configuration: due dates, reminders, timeouts and the follow-up schedule.

It is workflow input, so a running pathway keeps the configuration it started with and a
change of defaults never breaks the replay of an old history.
"""

from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from clinical.config import ClinicalConfig
from clinical.enums import ClockKind
from clinical.finite import Finite
from core.calendar import CalendarConfig
from models.catalogue import STEP_OF_TASK, TASKS
from models.vocab import Role, TaskKind, TimeoutAction


class StepPolicy(Finite):
    """When one kind of task is due, who is reminded, and what happens when it runs late.

    Times count in whole days. A task is due on a date; it is overdue from the next midnight.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    due_days: int = Field(ge=0, description="Days from opening (or from the procedure date).")
    reminder_days_before: tuple[int, ...] = Field(
        default=(1, 0), description="Reminders this many days before the due date (0: on it)."
    )
    escalate_after_days: int | None = Field(
        default=2, ge=0, description="Days overdue before the pathway lead is told; None: never."
    )
    timeout_after_days: int | None = Field(
        default=None, ge=0, description="Days overdue before the timeout action; None: never."
    )
    timeout_action: TimeoutAction = TimeoutAction.NONE


class VisitSpec(Finite):
    """One scheduled follow-up visit, counted from the treatment date."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=1, max_length=16)
    weeks: int = Field(default=0, ge=0)
    months: int = Field(default=0, ge=0)
    kind: str = Field(default="clinic_imaging_labs", description="call, clinic_labs, ...")
    window_days: int = Field(default=14, ge=0, description="+/- days in which it is on time.")

    @model_validator(mode="after")
    def _has_offset(self) -> "VisitSpec":
        if self.weeks == 0 and self.months == 0:
            raise ValueError(f"visit {self.code}: weeks or months must be set")
        return self


def _default_steps() -> dict[TaskKind, StepPolicy]:
    # Who each task waits for comes from the step catalogue; only the timings are set here.
    timings: dict[TaskKind, dict[str, Any]] = {
        TaskKind.TRIAGE_REFERRAL: {"due_days": 3},
        TaskKind.MDT_DECISION: {
            "due_days": 14,
            "reminder_days_before": (3, 0),
            "timeout_after_days": 7,
            "timeout_action": TimeoutAction.ESCALATE,
        },
        TaskKind.SCHEDULE_WORKUP: {"due_days": 7},
        TaskKind.RECORD_WORKUP: {"due_days": 1, "reminder_days_before": (0,)},
        TaskKind.DOSIMETRY_PLAN: {"due_days": 7},
        TaskKind.SCHEDULE_TREATMENT: {"due_days": 7},
        TaskKind.RECORD_TREATMENT: {"due_days": 1, "reminder_days_before": (0,)},
        # A visit's due date and timeout come from its VisitSpec (the window end).
        TaskKind.FOLLOW_UP_VISIT: {
            "due_days": 0,
            "reminder_days_before": (7, 1),
            "escalate_after_days": None,
            "timeout_action": TimeoutAction.MARK_MISSED,
        },
        TaskKind.CHASE_MISSED_VISIT: {"due_days": 7},
        TaskKind.LTFU_REVIEW: {"due_days": 14},
        TaskKind.REILD_REVIEW: {"due_days": 2, "escalate_after_days": 0},
        TaskKind.CONFIRM_DEATH: {"due_days": 1},
    }
    return {kind: StepPolicy(role=TASKS[kind].role, **t) for kind, t in timings.items()}


def _default_visits() -> tuple[VisitSpec, ...]:
    early = (
        VisitSpec(code="2w", weeks=2, kind="call"),
        VisitSpec(code="6w", weeks=6, kind="clinic_labs"),
    )
    year_one = tuple(VisitSpec(code=f"{m}m", months=m) for m in (3, 6, 9, 12))
    to_five_years = tuple(VisitSpec(code=f"{m}m", months=m) for m in range(18, 61, 6))
    return early + year_one + to_five_years


class PathwayConfig(Finite):
    """Everything a centre may tune about one pathway; defaults are documented in README."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: dict[TaskKind, StepPolicy] = Field(default_factory=_default_steps)
    follow_up: tuple[VisitSpec, ...] = Field(default_factory=_default_visits, min_length=1)
    auto_triage_complete_referrals: bool = Field(
        default=True,
        description="A referral with every required item goes straight to MDT review.",
    )
    required_referral_items: tuple[str, ...] = (
        "primary_site",
        "grade",
        "ki67_pct",
        "baseline_cga_ug_l",
        "referrer",
        "referring_trust",
    )
    escalation_role: Role = Role.PATHWAY_LEAD
    timeout_escalation_role: Role = Role.SERVICE_MANAGER
    missed_visits_for_ltfu_review: int = Field(default=2, ge=1)
    max_history_events_per_run: int = Field(
        default=10_000,
        ge=50,
        description="Follow-up continues-as-new past this many events, or when Temporal says.",
    )
    clinical: ClinicalConfig = Field(default_factory=ClinicalConfig)
    max_booking_ahead_days: int = Field(
        default=730, ge=1, description="How far ahead a procedure may be booked."
    )
    allow_dosimetry_override: bool = Field(
        default=False,
        description="Whether a physicist may sign off a plan over a dose limit with a reason.",
    )
    calendar: CalendarConfig | None = Field(
        default=None,
        description="Working days, time zone and reminder time; None: calendar days at "
        "midnight UTC (pathways started before calendars existed keep that on replay).",
    )
    clocks: tuple[ClockKind, ...] = Field(
        default=(ClockKind.DAYS_62, ClockKind.DAYS_31),
        description="Waiting-time clocks this centre runs for SIRT patients.",
    )

    @field_validator("steps", mode="before")
    @classmethod
    def _defaults_for_unnamed_steps(cls, value: Any) -> Any:
        # A centre overrides only the steps it names; a kind added later gets its default,
        # which also lets histories recorded before that kind existed decode on replay.
        if isinstance(value, dict):
            return {**_default_steps(), **value}
        return value

    @model_validator(mode="after")
    def _complete(self) -> "PathwayConfig":
        # A task's role is decided here, among the roles the catalogue lets record its step:
        # a task on a worklist whose owner could not submit it would be a dead end.
        for kind, policy in self.steps.items():
            step = STEP_OF_TASK[kind]
            if policy.role not in step.roles:
                allowed = ", ".join(sorted(step.roles))
                raise ValueError(
                    f"steps.{kind}.role: {policy.role} may not record '{step.slug}'; "
                    f"choose one of: {allowed}"
                )
        codes = [v.code for v in self.follow_up]
        if len(set(codes)) != len(codes):
            raise ValueError("follow_up: visit codes must be unique")
        return self


# Every cached pathway holds its settings, deserialised from its input: about 50 KB each, the
# same for every pathway of a centre. Frozen, so pathways can share one object.
_SHARED: dict[str, PathwayConfig] = {}
_SHARED_MAX = 64


def shared(config: PathwayConfig) -> PathwayConfig:
    """The one object in this process equal to ``config`` (itself the first time)."""
    key = config.model_dump_json()
    found = _SHARED.get(key)
    if found is not None:
        return found
    if len(_SHARED) < _SHARED_MAX:
        _SHARED[key] = config
    return config
