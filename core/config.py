"""Settings for every process, from environment variables (prefix SIRT_) or a .env file."""

from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import AliasChoices, BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSizing(BaseModel):
    """How much a worker takes on at once; see docs/decisions.md ("Worker sizing").

    The sticky cache bounds memory (each cached pathway holds a sandboxed workflow instance);
    the workflow-task slots must fit inside it (the SDK's core would otherwise clamp them).
    """

    max_cached_workflows: int = Field(default=400, ge=0)
    max_concurrent_workflow_tasks: int = Field(default=20, ge=2)
    max_concurrent_activities: int = Field(default=8, ge=1)
    workflow_task_pollers: int = Field(default=4, ge=2)
    activity_task_pollers: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _slots_fit_in_the_cache(self) -> Self:
        cache = self.max_cached_workflows
        if cache and self.max_concurrent_workflow_tasks > cache:
            raise ValueError(
                f"max_concurrent_workflow_tasks: {self.max_concurrent_workflow_tasks} is more "
                f"than max_cached_workflows ({cache}); lower it or raise the cache"
            )
        return self


class Settings(BaseSettings):
    """Where Temporal, the read model and the encryption key live.

    The defaults are the embedded single-machine setup that `make run` starts.
    """

    model_config = SettingsConfigDict(env_prefix="SIRT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path(".data"), description="Local state of the embedded setup.")
    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend.")
    temporal_namespace: str = "default"
    temporal_tls: bool = Field(
        default=False, description="Connect to Temporal over TLS (implied by the settings below)."
    )
    temporal_tls_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle for the server's certificate; system roots if unset.",
    )
    temporal_tls_cert_file: Path | None = Field(
        default=None, description="PEM client certificate for mTLS (with the key file)."
    )
    temporal_tls_key_file: Path | None = Field(
        default=None, description="PEM private key of the client certificate."
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="Server name to verify, when it differs from the address."
    )
    temporal_api_key: str | None = Field(
        default=None, description="Temporal Cloud (or server) API key; sent over TLS only."
    )
    temporal_ui_port: int = 8233
    temporal_ui_base: str | None = Field(
        default=None,
        description="Where the app reaches the Temporal Web UI on a cluster (internal address, "
        "including its public path, e.g. http://temporal-ui:8080/temporal).",
    )
    temporal_ui_public_path: str = Field(
        default="/temporal", description="The path the app serves the Temporal Web UI under."
    )
    web_base_url: str | None = Field(
        default=None,
        description="The web app's URL as browsers see it (the UI's codec endpoint is "
        "<this>/codec); http://127.0.0.1:<web port> when unset.",
    )
    task_queue: str = "sirt-pathway"
    sdk_metrics_address: str | None = Field(
        default=None,
        description="host:port where the Temporal SDK serves its Prometheus metrics; off if unset.",
    )
    web_port: int = Field(default=8000, description="Port of the web app under `sirt dev`.")
    hl7_port: int = Field(default=2575, description="MLLP port for HL7v2 under `sirt dev`.")
    events_webhook_url: str | None = Field(
        default=None, description="Pathway CloudEvents are POSTed here (structured, signed)."
    )
    events_webhook_secret: str | None = Field(
        default=None, description="HMAC-SHA256 secret of the events webhook's signature."
    )
    events_nats_url: str | None = Field(
        default=None, description="NATS JetStream for pathway CloudEvents, e.g. nats://h:4222."
    )
    intake_config_file: Path | None = Field(
        default=None,
        description="JSON IntakeConfig (LOINC codes and unit factors of results taken from "
        "other systems); the documented table when unset.",
    )
    centre: str = Field(default="DEMO", description="Centre code stamped on new pathways.")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SIRT_DATABASE_URL"),
        description="SQLAlchemy URL of the read model; SQLite under data_dir when unset.",
    )
    pathway_config_file: Path | None = Field(
        default=None,
        description="JSON PathwayConfig for new pathways (a centre's due dates, reminders, "
        "follow-up schedule, thresholds); the documented defaults when unset.",
    )
    encryption_key: str | None = Field(
        default=None,
        description="The current AES-256 key for Temporal payloads, `id:base64` (a bare "
        "base64 key has the id `default`); a local key file when unset.",
    )
    encryption_retired_keys: str | None = Field(
        default=None,
        description="Comma-separated `id:base64` keys that decrypt but never encrypt: keys "
        "rotated out (history written under them) or a new key staged before it is current.",
    )
    encryption_key_file: Path | None = Field(
        default=None, description="Key file; defaults to data_dir/payload.key (mode 0600)."
    )
    worker_max_cached_workflows: int = Field(
        default=WorkerSizing().max_cached_workflows,
        description="Pathways a worker keeps in memory (the sticky cache); 0 turns it off.",
    )
    worker_max_concurrent_workflow_tasks: int = Field(
        default=WorkerSizing().max_concurrent_workflow_tasks,
        description="Workflow tasks a worker runs at once; at most the cache size.",
    )
    worker_max_concurrent_activities: int = Field(
        default=WorkerSizing().max_concurrent_activities,
        description="Activities (projection, registry) at once; also the activity threads.",
    )
    worker_workflow_task_pollers: int = Field(default=WorkerSizing().workflow_task_pollers)
    worker_activity_task_pollers: int = Field(default=WorkerSizing().activity_task_pollers)

    @property
    def temporal_ui_url(self) -> str:
        """Where the app's proxy reaches the Temporal Web UI (SIRT_TEMPORAL_UI_BASE on a
        cluster, else the dev server's, bound to loopback under the public path)."""
        return (
            self.temporal_ui_base
            or f"http://127.0.0.1:{self.temporal_ui_port}{self.temporal_ui_public_path}"
        ).rstrip("/")

    @property
    def codec_endpoint(self) -> str:
        """The remote codec endpoint the Temporal Web UI is configured with."""
        base = self.web_base_url or f"http://127.0.0.1:{self.web_port}"
        return base.rstrip("/") + "/codec"

    @property
    def resolved_database_url(self) -> str:
        """The read model's URL, defaulting to a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'sirt.db'}"

    @property
    def worker_sizing(self) -> WorkerSizing:
        """The worker's sizing from SIRT_WORKER_* (validated: slots must fit in the cache)."""
        return WorkerSizing(
            max_cached_workflows=self.worker_max_cached_workflows,
            max_concurrent_workflow_tasks=self.worker_max_concurrent_workflow_tasks,
            max_concurrent_activities=self.worker_max_concurrent_activities,
            workflow_task_pollers=self.worker_workflow_task_pollers,
            activity_task_pollers=self.worker_activity_task_pollers,
        )

    @property
    def resolved_key_file(self) -> Path:
        """Where the payload key is read from (and created on first run)."""
        return self.encryption_key_file or self.data_dir / "payload.key"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
