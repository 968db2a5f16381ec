"""The permission matrix: which roles may take which action. The single source of authorisation.

Every route declares its action with ``require(action)`` (api.deps); nothing else decides who
may do what. docs/authorisation.md documents this table and a test keeps the two in step.
"""

from collections.abc import Mapping

from models.vocab import Role

C = Role.COORDINATOR
MDT = Role.MDT_CLINICIAN
IR = Role.INTERVENTIONAL_RADIOLOGIST
PHYS = Role.PHYSICIST
OPS = Role.OPS
ADMIN = Role.ADMIN

# The roles people log in with (the others in Role only receive notifications).
APP_ROLES: tuple[Role, ...] = (C, MDT, IR, PHYS, OPS, ADMIN)
CLINICAL: frozenset[Role] = frozenset({MDT, IR, PHYS})
EVERYONE: frozenset[Role] = frozenset(APP_ROLES)

VIEW_IDENTITY = "patient:identity"


def step_action(step: str) -> str:
    """The action of submitting one pathway step (a slug of core.pathways.STEPS)."""
    return f"step:{step}"


# Who records each step: the role whose task it is, and nobody else.
_STEP_ROLES: Mapping[str, frozenset[Role]] = {
    "triage": frozenset({C}),
    "mdt-decision": frozenset({MDT}),
    "schedule-workup": frozenset({C}),
    "workup": frozenset({IR}),
    "dosimetry-plan": frozenset({PHYS}),
    "schedule-treatment": frozenset({C}),
    "treatment": frozenset({IR}),
    "amend-treatment-date": frozenset({IR}),
    "follow-up-visit": frozenset({C, MDT, IR}),
    "event": frozenset({C, MDT, IR}),
    "close-task": frozenset({C}),
    "ltfu-review": frozenset({C}),
    "reild-review": frozenset({MDT}),
    "pause-clock": frozenset({C}),
    "resume-clock": frozenset({C}),
}

_STEP_TEXT: Mapping[str, str] = {
    "triage": "Triage a referral (complete, or re-request what is missing)",
    "mdt-decision": "Record the MDT selection decision",
    "schedule-workup": "Book the work-up angiography",
    "workup": "Record the work-up angiography and scout scan",
    "dosimetry-plan": "Record the dosimetry plan with the physicist's sign-off",
    "schedule-treatment": "Book the SIRT treatment",
    "treatment": "Record the SIRT treatment",
    "amend-treatment-date": "Correct the treatment date (follow-up visits move with it)",
    "follow-up-visit": "Record a follow-up visit's outcomes",
    "event": "Record an unscheduled event: adverse event, death, withdrawal (also /withdraw)",
    "close-task": "Close a chase task for a missed visit",
    "ltfu-review": "Review consecutive missed visits (continue or lost to follow-up)",
    "reild-review": "Review suspected REILD",
    "pause-clock": "Pause a waiting-time clock for documented patient choice",
    "resume-clock": "Resume a paused waiting-time clock",
}

# action -> roles allowed; a missing action (a new step not yet added) is allowed to nobody.
MATRIX: Mapping[str, frozenset[Role]] = {
    "pathway:refer": frozenset({C, ADMIN}),
    "pathway:list": EVERYONE,
    "pathway:view": EVERYONE,
    VIEW_IDENTITY: frozenset({C}) | CLINICAL,
    "stats:view": frozenset({C, OPS, ADMIN}),
    "worklist:view": frozenset({C}) | CLINICAL,
    "worklist:team": frozenset({C, ADMIN}),
    "task:snooze": frozenset({C}) | CLINICAL,
    "audit:view": frozenset({ADMIN}),
    "ops:dashboard": frozenset({OPS, ADMIN}),
    "ops:metrics": frozenset({OPS, ADMIN}),
    "report:audit": frozenset({OPS, ADMIN, MDT}),
    "registry:export": frozenset({ADMIN}),
    "calendar:view": frozenset({C}) | CLINICAL,
    "task:ack": frozenset({C}) | CLINICAL,
    "notifications:admin": frozenset({ADMIN}),
    "engine:ui": frozenset({OPS, ADMIN}),
    "engine:ui-write": frozenset({ADMIN}),
    "engine:decode": frozenset({OPS, ADMIN}),
    "engine:encode": frozenset({ADMIN}),
    **{step_action(step): roles for step, roles in _STEP_ROLES.items()},
}

# What each action means, for the documentation and the pages.
DESCRIPTIONS: Mapping[str, str] = {
    "pathway:refer": "Refer a patient (JSON or FHIR)",
    "pathway:list": "List pathways (names and NHS numbers only with patient:identity)",
    "pathway:view": "View one pathway's timeline (identity only with patient:identity)",
    VIEW_IDENTITY: "See patient names, NHS numbers and dates of birth",
    "stats:view": "Aggregate counts by stage (no patient data)",
    "worklist:view": "My worklist (tasks for my role) and snoozing",
    "worklist:team": "Every open task, whoever it waits for",
    "task:snooze": "Snooze a task on my own worklist",
    "audit:view": "Read the audit trail",
    "ops:dashboard": "The ops dashboard: stages, flow, overdue tasks, waiting times, reminders",
    "ops:metrics": "Scrape Prometheus metrics",
    "report:audit": "The NICE audit report (aggregate, pseudonymous)",
    "registry:export": "Export pseudonymised registry records (CSV, JSON)",
    "calendar:view": "iCalendar feed of upcoming procedures and visits for a role",
    "task:ack": "Acknowledge an overdue task (stops its escalation)",
    "notifications:admin": "Retry dead-lettered notifications",
    "engine:ui": "The Temporal Web UI, through the app (read)",
    "engine:ui-write": "Terminate, cancel, signal, update or reset through the Temporal Web UI",
    "engine:decode": "Temporal Web UI codec: decrypt payloads (ops without identity or free text)",
    "engine:encode": "Temporal Web UI codec: encrypt payloads the UI sends (admin writes)",
    **{step_action(step): text for step, text in _STEP_TEXT.items()},
}


def allowed(role: str, action: str) -> bool:
    """Whether ``role`` may take ``action``."""
    return role in MATRIX.get(action, frozenset())


def can_view_identity(role: str) -> bool:
    """Whether ``role`` may see who the patient is (ops and admin never do)."""
    return allowed(role, VIEW_IDENTITY)


def describe(action: str) -> str:
    """What an action means (a step added later without a description gets a generic one)."""
    return DESCRIPTIONS.get(action) or f"Submit the '{action.removeprefix('step:')}' step"


def markdown_table() -> str:
    """The matrix as a markdown table, the form docs/authorisation.md keeps."""
    header = "| Action | Meaning | " + " | ".join(r.value for r in APP_ROLES) + " |"
    rule = "|---|---|" + "---|" * len(APP_ROLES)
    lines = [header, rule]
    for action, roles in MATRIX.items():
        marks = " | ".join("yes" if r in roles else "-" for r in APP_ROLES)
        lines.append(f"| `{action}` | {describe(action)} | {marks} |")
    return "\n".join(lines)
