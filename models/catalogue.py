"""The step catalogue: every human step of a pathway, defined once.

The client, the API routes, the permission matrix, the pages, the worklist mapping, the task
titles, the default task roles and the workflow's stage checks are all derived from this
table. Adding a step is one row here, one payload model, one transition and one Update.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from models.steps import (
    AmendTreatmentDate,
    ClockPauseRequest,
    ClockResume,
    DeathConfirmation,
    DosimetryPlan,
    ExternalResults,
    FollowUpVisitRecord,
    LtfuReview,
    MdtDecision,
    ReildReview,
    ReportedDeath,
    ScheduleProcedure,
    TaskClosure,
    TreatmentRecord,
    TriageDecision,
    UnscheduledEvent,
    WorkupResult,
)
from models.vocab import Role, Stage, TaskKind

C = Role.COORDINATOR
MDT = Role.MDT_CLINICIAN
IR = Role.INTERVENTIONAL_RADIOLOGIST
PHYS = Role.PHYSICIST

# Steps that may be taken whenever the pathway is still open.
OPEN_STAGES: tuple[Stage, ...] = tuple(s for s in Stage if not s.is_terminal)


@dataclass(frozen=True)
class TaskSpec:
    """The task a step completes: its kind, its name on a worklist, who it waits for."""

    kind: TaskKind
    title: str
    role: Role


@dataclass(frozen=True)
class StepSpec:
    """One human step: how it is called, what it takes, who may take it and when."""

    slug: str  # as typed on the CLI and in URLs
    update: str  # the workflow's Update
    payload: type[BaseModel]
    title: str  # the form's heading
    description: str  # what it does, for the permission matrix and help text
    roles: frozenset[Role]  # who may submit it (a task's role must be one of them)
    stages: tuple[Stage, ...]  # the stages it may be taken in
    tasks: tuple[TaskSpec, ...] = ()  # the tasks it completes
    registry: bool = False  # the changed record goes to the registry (treated patients)


CATALOGUE: tuple[StepSpec, ...] = (
    StepSpec(
        slug="triage",
        update="triage_referral",
        payload=TriageDecision,
        title="Triage the referral",
        description="Triage a referral (complete, or re-request what is missing)",
        roles=frozenset({C}),
        stages=(Stage.REFERRED,),
        tasks=(TaskSpec(TaskKind.TRIAGE_REFERRAL, "Triage the referral", C),),
    ),
    StepSpec(
        slug="mdt-decision",
        update="record_mdt_decision",
        payload=MdtDecision,
        title="MDT selection decision",
        description="Record the MDT selection decision",
        roles=frozenset({MDT}),
        stages=(Stage.MDT_REVIEW, Stage.FOLLOW_UP),
        tasks=(TaskSpec(TaskKind.MDT_DECISION, "MDT selection decision", MDT),),
    ),
    StepSpec(
        slug="schedule-workup",
        update="schedule_workup",
        payload=ScheduleProcedure,
        title="Book the work-up angiography",
        description="Book the work-up angiography",
        roles=frozenset({C}),
        stages=(Stage.WORKUP,),
        tasks=(TaskSpec(TaskKind.SCHEDULE_WORKUP, "Book the work-up angiography", C),),
    ),
    StepSpec(
        slug="workup",
        update="record_workup",
        payload=WorkupResult,
        title="Record the work-up angiography",
        description="Record the work-up angiography and scout scan",
        roles=frozenset({IR}),
        stages=(Stage.WORKUP,),
        tasks=(TaskSpec(TaskKind.RECORD_WORKUP, "Record the work-up angiography", IR),),
    ),
    StepSpec(
        slug="dosimetry-plan",
        update="record_dosimetry_plan",
        payload=DosimetryPlan,
        title="Dosimetry plan and physicist sign-off",
        description="Record the dosimetry plan with the physicist's sign-off",
        roles=frozenset({PHYS}),
        stages=(Stage.DOSIMETRY_PLANNING,),
        tasks=(TaskSpec(TaskKind.DOSIMETRY_PLAN, "Dosimetry plan and physicist sign-off", PHYS),),
    ),
    StepSpec(
        slug="schedule-treatment",
        update="schedule_treatment",
        payload=ScheduleProcedure,
        title="Book the SIRT treatment",
        description="Book the SIRT treatment",
        roles=frozenset({C}),
        stages=(Stage.TREATMENT_SCHEDULED,),
        tasks=(TaskSpec(TaskKind.SCHEDULE_TREATMENT, "Book the SIRT treatment", C),),
    ),
    StepSpec(
        slug="treatment",
        update="record_treatment",
        payload=TreatmentRecord,
        title="Record the SIRT treatment",
        description="Record the SIRT treatment",
        roles=frozenset({IR}),
        stages=(Stage.TREATMENT_SCHEDULED,),
        tasks=(TaskSpec(TaskKind.RECORD_TREATMENT, "Record the SIRT treatment", IR),),
        registry=True,
    ),
    StepSpec(
        slug="amend-treatment-date",
        update="amend_treatment_date",
        payload=AmendTreatmentDate,
        title="Amend the treatment date",
        description="Correct the treatment date (follow-up visits move with it)",
        roles=frozenset({IR}),
        stages=(Stage.FOLLOW_UP,),
        registry=True,
    ),
    StepSpec(
        slug="follow-up-visit",
        update="record_follow_up_visit",
        payload=FollowUpVisitRecord,
        title="Record a follow-up visit",
        description="Record a follow-up visit's outcomes",
        roles=frozenset({C, MDT, IR}),
        stages=(Stage.FOLLOW_UP,),
        tasks=(TaskSpec(TaskKind.FOLLOW_UP_VISIT, "Follow-up visit", C),),
        registry=True,
    ),
    StepSpec(
        slug="event",
        update="record_unscheduled_event",
        payload=UnscheduledEvent,
        title="Record an unscheduled event",
        description="Record an unscheduled event: adverse event, death, withdrawal "
        "(also /withdraw)",
        roles=frozenset({C, MDT, IR}),
        stages=OPEN_STAGES,
        registry=True,
    ),
    StepSpec(
        slug="close-task",
        update="close_task",
        payload=TaskClosure,
        title="Close a chase task",
        description="Close a chase task for a missed visit",
        roles=frozenset({C}),
        stages=OPEN_STAGES,
        tasks=(TaskSpec(TaskKind.CHASE_MISSED_VISIT, "Chase a missed follow-up visit", C),),
    ),
    StepSpec(
        slug="ltfu-review",
        update="review_lost_to_follow_up",
        payload=LtfuReview,
        title="Lost-to-follow-up review",
        description="Review consecutive missed visits (continue or lost to follow-up)",
        roles=frozenset({C}),
        stages=OPEN_STAGES,
        tasks=(TaskSpec(TaskKind.LTFU_REVIEW, "Review: consecutive missed visits", C),),
    ),
    StepSpec(
        slug="reild-review",
        update="record_reild_review",
        payload=ReildReview,
        title="REILD review",
        description="Review suspected REILD",
        roles=frozenset({MDT}),
        stages=OPEN_STAGES,
        tasks=(TaskSpec(TaskKind.REILD_REVIEW, "Review suspected REILD (Braat grade)", MDT),),
        registry=True,
    ),
    StepSpec(
        slug="pause-clock",
        update="pause_clock",
        payload=ClockPauseRequest,
        title="Pause a waiting-time clock",
        description="Pause a waiting-time clock for documented patient choice",
        roles=frozenset({C}),
        stages=OPEN_STAGES,
    ),
    StepSpec(
        slug="resume-clock",
        update="resume_clock",
        payload=ClockResume,
        title="Resume a waiting-time clock",
        description="Resume a paused waiting-time clock",
        roles=frozenset({C}),
        stages=OPEN_STAGES,
    ),
    StepSpec(
        slug="external-results",
        update="record_external_results",
        payload=ExternalResults,
        title="Record results from another system",
        description="Record laboratory results another system sent (HL7v2 ORU, FHIR "
        "Observation), graded by CTCAE and checked for REILD",
        roles=frozenset({C}),
        stages=OPEN_STAGES,
    ),
    StepSpec(
        slug="report-death",
        update="report_death",
        payload=ReportedDeath,
        title="Report a death from another system",
        description="Report a death another system sent (HL7v2 ADT, FHIR Patient); it opens "
        "a task to confirm it and never ends the pathway alone",
        roles=frozenset({C}),
        stages=OPEN_STAGES,
    ),
    StepSpec(
        slug="confirm-death",
        update="confirm_death",
        payload=DeathConfirmation,
        title="Confirm a reported death",
        description="Confirm (the pathway ends as deceased) or reject a reported death",
        roles=frozenset({C}),
        stages=OPEN_STAGES,
        tasks=(TaskSpec(TaskKind.CONFIRM_DEATH, "Confirm a reported death", C),),
    ),
)

BY_SLUG: Mapping[str, StepSpec] = {s.slug: s for s in CATALOGUE}
BY_UPDATE: Mapping[str, StepSpec] = {s.update: s for s in CATALOGUE}
# The step that completes each kind of task, and the task itself.
STEP_OF_TASK: Mapping[TaskKind, StepSpec] = {t.kind: s for s in CATALOGUE for t in s.tasks}
TASKS: Mapping[TaskKind, TaskSpec] = {t.kind: t for s in CATALOGUE for t in s.tasks}


def step(slug: str) -> StepSpec:
    """The step called ``slug``; ValueError naming the known steps otherwise."""
    try:
        return BY_SLUG[slug]
    except KeyError:
        raise ValueError(f"unknown step {slug!r}; steps: {', '.join(BY_SLUG)}") from None
