"""Who gets which message over which channel, and how hard delivery tries.

Loaded from a JSON or TOML file named by SIRT_NOTIFY_CONFIG; single values can be overridden by
environment variables (SIRT_NOTIFY_MAX_ATTEMPTS=3). With no channels configured delivery is off.
"""

import json
import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.calendar import CalendarConfig, QuietHours

CONFIG_ENV = "SIRT_NOTIFY_CONFIG"


class SmtpConfig(BaseModel):
    """The mail relay. The default is a local relay with no TLS (a development catcher)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 1025
    use_tls: bool = Field(default=False, description="Implicit TLS from the start (port 465).")
    start_tls: bool = Field(default=False, description="Upgrade with STARTTLS (port 587).")
    validate_certs: bool = True
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "sirt-pathway@localhost"
    timeout_seconds: float = 30.0

    @model_validator(mode="after")
    def _one_tls_mode(self) -> "SmtpConfig":
        if self.use_tls and self.start_tls:
            raise ValueError("smtp: use_tls and start_tls are exclusive")
        return self


class EmailChannel(BaseModel):
    """Mail to fixed addresses. ``secure`` (e.g. nhs.net to nhs.net) allows the patient's name."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["email"] = "email"
    to: list[str] = Field(min_length=1)
    secure: bool = False


class WebhookChannel(BaseModel):
    """An HTTP POST of JSON (Teams/Slack-style relay), HMAC-SHA256 signed when a secret is set."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"] = "webhook"
    url: str
    secret: SecretStr | None = None
    secure: bool = False
    timeout_seconds: float = 10.0
    headers: dict[str, str] = Field(default_factory=dict)


Channel = Annotated[EmailChannel | WebhookChannel, Field(discriminator="type")]


class NotifyConfig(BaseSettings):
    """Channels by name, roles to channel names, and the retry policy."""

    model_config = SettingsConfigDict(env_prefix="SIRT_NOTIFY_", extra="forbid")

    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    channels: dict[str, Channel] = Field(default_factory=dict)
    roles: dict[str, list[str]] = Field(
        default_factory=dict, description="Role (models.vocab.Role value) -> channel names."
    )
    calendar: CalendarConfig = Field(
        default_factory=CalendarConfig, description="Quiet hours, digest time, working days."
    )
    poll_seconds: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=100, ge=1)
    concurrency: int = Field(default=4, ge=1)
    max_attempts: int = Field(default=6, ge=1)
    backoff_initial_seconds: float = Field(default=60.0, gt=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    lease_seconds: float = Field(
        default=300.0, gt=0, description="How long a claimed send may take before a retry."
    )

    @model_validator(mode="after")
    def _known_channels(self) -> "NotifyConfig":
        for role, names in self.roles.items():
            unknown = [n for n in names if n not in self.channels]
            if unknown:
                raise ValueError(f"roles.{role}: unknown channel(s) {', '.join(unknown)}")
        return self

    @property
    def enabled(self) -> bool:
        """Delivery runs only when some role has a channel."""
        return any(self.roles.values())

    def channels_for(self, role: str) -> dict[str, EmailChannel | WebhookChannel]:
        """The channels a role's messages go to, by name."""
        return {name: self.channels[name] for name in self.roles.get(role, [])}

    def backoff(self, attempts: int) -> timedelta:
        """Wait before the next try after ``attempts`` failed ones: exponential, capped."""
        seconds = self.backoff_initial_seconds * self.backoff_factor ** max(attempts - 1, 0)
        return timedelta(seconds=min(seconds, self.backoff_max_seconds))


def load_notify_config(path: Path | str | None = None) -> NotifyConfig:
    """The configuration from ``path`` or $SIRT_NOTIFY_CONFIG (.json or .toml); defaults if
    neither is given (delivery then stays off)."""
    source = path or os.environ.get(CONFIG_ENV)
    if not source:
        return NotifyConfig()
    file = Path(source)
    text = file.read_text()
    data: dict[str, Any] = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    # Through __init__, so SIRT_NOTIFY_* variables fill in what the file leaves unset.
    return NotifyConfig(**data)


__all__ = [
    "CONFIG_ENV",
    "CalendarConfig",
    "Channel",
    "EmailChannel",
    "NotifyConfig",
    "QuietHours",
    "SmtpConfig",
    "WebhookChannel",
    "load_notify_config",
]
