"""Demo users, one per role, for the embedded development setup (`sirt dev`)."""

from sqlalchemy import Engine

from api.accounts import create_user, get_user

# Username, password, role, display name. Documented in docs/authorisation.md; demo use only.
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("coordinator", "coordinator-demo", "coordinator", "Demo Coordinator"),
    ("mdt", "mdt-demo", "mdt_clinician", "Demo MDT Clinician"),
    ("radiologist", "radiologist-demo", "interventional_radiologist", "Demo Radiologist"),
    ("physicist", "physicist-demo", "physicist", "Demo Physicist"),
    ("ops", "ops-demo", "ops", "Demo Operations"),
    ("admin", "admin-demo", "admin", "Demo Administrator"),
)


def seed_demo_users(engine: Engine) -> list[tuple[str, str, str]]:
    """Create the demo users that do not exist yet; returns every (username, password, role).

    Idempotent: an existing user (even one whose password was changed) is left as it is.
    """
    for username, password, role, name in DEMO_USERS:
        if get_user(engine, username) is None:
            create_user(engine, username, role, password, name)
    return [(username, password, role) for username, password, role, _ in DEMO_USERS]
