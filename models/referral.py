"""A referral: who the patient is (confidential) and what the referrer sends."""

from datetime import date
from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator

from clinical.nhs_number import normalise_nhs_number
from models.plausible import Plausible


class PrimarySite(StrEnum):
    """Where the neuroendocrine tumour started."""

    FOREGUT = "foregut"
    MIDGUT = "midgut"
    HINDGUT = "hindgut"
    PANCREAS = "pancreas"
    UNKNOWN = "unknown"


class PriorTherapyKind(StrEnum):
    """Treatments a patient may have had before referral."""

    RESECTION = "resection"
    ABLATION = "ablation"
    TACE_TAE = "tace_tae"
    SSA = "ssa"
    PRRT = "prrt"
    CHEMOTHERAPY = "chemotherapy"
    ANTIANGIOGENIC = "antiangiogenic"


class PatientIdentity(Plausible):
    """The only identifying data: kept in encrypted payloads and the patient table."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str = Field(description="10 digits with a modulus-11 check digit.")
    family_name: str = Field(min_length=1, max_length=100)
    given_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date

    @field_validator("nhs_number")
    @classmethod
    def _valid_nhs_number(cls, value: str) -> str:
        return normalise_nhs_number(value)


class PriorTherapy(Plausible):
    """One earlier treatment; for PRRT the last cycle's date."""

    model_config = ConfigDict(extra="forbid")

    kind: PriorTherapyKind
    last_given_on: date | None = None
    cycles: int | None = Field(default=None, ge=1)


class Referral(Plausible):
    """What a referrer sends. Clinical items may be missing; triage asks for them."""

    model_config = ConfigDict(extra="forbid")

    patient: PatientIdentity
    received_on: date | None = None
    primary_site: PrimarySite | None = None
    grade: int | None = Field(default=None, ge=1, le=3, description="WHO grade 1-3.")
    ki67_pct: float | None = Field(default=None, ge=0, le=100)
    carcinoid_syndrome: bool | None = None
    flushes_per_day: float | None = Field(default=None, ge=0)
    stools_per_day: float | None = Field(default=None, ge=0)
    prior_therapies: list[PriorTherapy] = Field(default_factory=list, max_length=50)
    baseline_cga_ug_l: float | None = Field(default=None, ge=0)
    baseline_5hiaa_umol_24h: float | None = Field(default=None, ge=0)
    referrer: str | None = Field(default=None, max_length=200)
    referring_trust: str | None = Field(default=None, max_length=200)
    referrer_reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The referrer's own reference for this referral: a referral sent again "
        "with the same reference (by the same sender) returns the pathway the first one started.",
    )

    def missing_items(self, required: tuple[str, ...]) -> list[str]:
        """The required items this referral lacks, in the order configured."""
        return [name for name in required if getattr(self, name, None) in (None, "", [])]
