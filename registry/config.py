"""Registry settings: where records go and how patients are pseudonymised (env SIRT_REGISTRY_*)."""

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RegistryConfigError(ValueError):
    """The registry settings cannot produce a record (e.g. no pseudonym secret)."""


class RegistrySettings(BaseSettings):
    """How registry records are pseudonymised, and where they are submitted.

    The pseudonym is HMAC-SHA256 of the pathway id under ``pseudonym_secret``: stable for a
    patient across submissions, meaningless without the secret. A registry that is allowed to
    hold the product's own pathway id may use ``pseudonym_mode = "pathway_id"``. The NHS number
    leaves only when ``include_identifiers`` is set (a registry with section 251 approval).
    """

    model_config = SettingsConfigDict(env_prefix="SIRT_REGISTRY_", env_file=".env", extra="ignore")

    url: str | None = Field(default=None, description="FHIR endpoint; None: submission is off.")
    pseudonym_mode: Literal["hmac", "pathway_id"] = "hmac"
    pseudonym_secret: SecretStr | None = Field(
        default=None, description="HMAC key for the pseudonym; required in hmac mode."
    )
    pseudonym_length: int = Field(
        default=24, ge=16, le=64, description="Hex characters of the HMAC kept (24 = 96 bits)."
    )
    include_identifiers: bool = Field(
        default=False, description="Add the NHS number to every export and bundle."
    )
    identifier_system: str = Field(
        default="https://sirt-pathway.example/registry-pseudonym",
        description="FHIR identifier system of the pseudonym.",
    )
    timeout_seconds: float = Field(default=30.0, gt=0)
    claim_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A pending submission older than this is taken over by the next attempt.",
    )
    tumour_burden_threshold_pct: float = Field(
        default=25.0, description="Registries report tumour burden as above/below this share."
    )
