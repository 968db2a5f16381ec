"""Settings for every process, from environment variables (prefix SIRT_) or a .env file."""

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    def resolved_key_file(self) -> Path:
        """Where the payload key is read from (and created on first run)."""
        return self.encryption_key_file or self.data_dir / "payload.key"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
