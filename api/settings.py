"""Settings only the web app needs; the rest come from core.config.Settings."""

import os
import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Session cookie, lockout and paging settings (environment prefix SIRT_API_)."""

    model_config = SettingsConfigDict(env_prefix="SIRT_API_", env_file=".env", extra="ignore")

    session_secret: str | None = Field(
        default=None,
        description="Signs the session cookie; a key file under data_dir is used when unset.",
    )
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set behind TLS)."
    )
    session_max_age_s: int = Field(
        default=8 * 3600, ge=60, description="Absolute session lifetime: a working day."
    )
    session_idle_s: int = Field(
        default=30 * 60, ge=60, description="A session unused this long is ended."
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted (413 above it); well under gRPC's 4 MB.",
    )
    lockout_failures: int = Field(default=5, ge=1, description="Failed logins before lockout.")
    lockout_minutes: int = Field(default=15, ge=1)
    step_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a step may take before the API gives up."
    )
    max_steps_in_flight: int = Field(
        default=200,
        ge=1,
        description="Steps the app waits on at once. Temporal caps a namespace's waiting calls "
        "(the dev server at 1,200, worker polls included) and refuses more.",
    )
    step_slot_wait_s: float = Field(
        default=5.0,
        ge=0,
        description="How long a step waits for one of those before a 503 (nothing recorded).",
    )
    worklist_horizon_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="Worklists (and /ops) show tasks due within this many days, or overdue.",
    )
    refer_wait_s: float = Field(
        default=5.0, ge=0, description="How long a referral waits for its first read-model row."
    )


def load_or_create_secret(configured: str | None, key_file: Path) -> str:
    """The configured secret, else the key file's, creating it (mode 0600) on first use.

    A persisted secret keeps users logged in across restarts of `sirt dev`.
    """
    if configured:
        return configured
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret
