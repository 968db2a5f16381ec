"""The permission matrix: which roles may take which action. The single source of authorisation.

Every route declares its action with ``require(action)`` (api.deps); nothing else decides who
may do what. docs/authorisation.md documents this table and a test keeps the two in step.
"""

from collections.abc import Mapping

from models.catalogue import CATALOGUE
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
    """The action of submitting one pathway step (a slug of the step catalogue)."""
    return f"step:{step}"


# Who records each step and what it does: the step catalogue decides.
_STEP_ROLES: Mapping[str, frozenset[Role]] = {s.slug: s.roles for s in CATALOGUE}
_STEP_TEXT: Mapping[str, str] = {s.slug: s.description for s in CATALOGUE}

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
    "intake:reconcile": frozenset({C}),
    "intake:fhir": frozenset({C, ADMIN}),
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
    "intake:reconcile": "Link or discard messages from other systems that matched no pathway",
    "intake:fhir": "Send FHIR results (Observation) and deaths (Patient) from hospital systems",
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
