"""Enumerations shared by the workflow, the read model and the entry points."""

from enum import StrEnum


class Stage(StrEnum):
    """Where a pathway is. The last five are exits: the pathway ends there."""

    REFERRED = "REFERRED"
    MDT_REVIEW = "MDT_REVIEW"
    WORKUP = "WORKUP"
    DOSIMETRY_PLANNING = "DOSIMETRY_PLANNING"
    TREATMENT_SCHEDULED = "TREATMENT_SCHEDULED"
    FOLLOW_UP = "FOLLOW_UP"
    COMPLETED = "COMPLETED"
    NOT_SUITABLE = "NOT_SUITABLE"
    ALTERNATIVE_TREATMENT = "ALTERNATIVE_TREATMENT"
    WITHDRAWN = "WITHDRAWN"
    DECEASED = "DECEASED"
    LOST_TO_FOLLOW_UP = "LOST_TO_FOLLOW_UP"

    @property
    def is_terminal(self) -> bool:
        """True once the pathway has ended."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        Stage.COMPLETED,
        Stage.NOT_SUITABLE,
        Stage.ALTERNATIVE_TREATMENT,
        Stage.WITHDRAWN,
        Stage.DECEASED,
        Stage.LOST_TO_FOLLOW_UP,
    }
)


class Role(StrEnum):
    """Who a task or message is for. The last two receive escalations only."""

    COORDINATOR = "coordinator"
    MDT_CLINICIAN = "mdt_clinician"
    INTERVENTIONAL_RADIOLOGIST = "interventional_radiologist"
    PHYSICIST = "physicist"
    OPS = "ops"
    ADMIN = "admin"
    REFERRER = "referrer"
    PATHWAY_LEAD = "pathway_lead"
    SERVICE_MANAGER = "service_manager"


class TaskKind(StrEnum):
    """Every kind of human task the pathway waits for."""

    TRIAGE_REFERRAL = "triage_referral"
    MDT_DECISION = "mdt_decision"
    SCHEDULE_WORKUP = "schedule_workup"
    RECORD_WORKUP = "record_workup"
    DOSIMETRY_PLAN = "dosimetry_plan"
    SCHEDULE_TREATMENT = "schedule_treatment"
    RECORD_TREATMENT = "record_treatment"
    FOLLOW_UP_VISIT = "follow_up_visit"
    CHASE_MISSED_VISIT = "chase_missed_visit"
    LTFU_REVIEW = "ltfu_review"
    REILD_REVIEW = "reild_review"
    CONFIRM_DEATH = "confirm_death"


class TaskState(StrEnum):
    """Life of a task: open until done, missed or cancelled."""

    OPEN = "open"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class VisitState(StrEnum):
    """Life of a scheduled follow-up visit."""

    SCHEDULED = "scheduled"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


class TimeoutAction(StrEnum):
    """What happens when a task runs past its timeout."""

    NONE = "none"
    ESCALATE = "escalate"
    MARK_MISSED = "mark_missed"


class MessageKind(StrEnum):
    """Kinds of notification written to the outbox."""

    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATION = "escalation"
    TIMEOUT = "timeout"
    REQUEST = "request"
