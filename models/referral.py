"""A referral: who the patient is (confidential) and what the referrer sends."""

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from clinical.nhs_number import normalise_nhs_number
from models.dates import uk_date
from models.plausible import Plausible

MAX_AGE_YEARS = 120

# Typed as people write it (14/03/1958) or as ISO; a text box, not a browser date picker.
BirthDate = Annotated[
    date,
    BeforeValidator(uk_date),
    WithJsonSchema({"type": "string", "description": "Day/month/year, for example 14/03/1958."}),
]


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
    date_of_birth: BirthDate

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


class _ReferralHeader(Plausible):
    """Who the patient is and when the referral arrived."""

    model_config = ConfigDict(extra="forbid")

    patient: PatientIdentity
    received_on: date | None = None


class ReferralItems(Plausible):
    """The clinical items of a referral a referrer may leave out. Triage may supply them
    (``TriageDecision.supplied``), so a referral completed at triage needs no re-referral."""

    model_config = ConfigDict(extra="forbid")

    primary_site: PrimarySite | None = None
    grade: int | None = Field(default=None, ge=1, le=3, description="WHO grade 1-3.")
    ki67_pct: float | None = Field(default=None, ge=0, le=100)
    carcinoid_syndrome: bool | None = None
    flushes_per_day: float | None = Field(default=None, ge=0)
    stools_per_day: float | None = Field(default=None, ge=0)
    baseline_cga_ug_l: float | None = Field(default=None, ge=0)
    baseline_5hiaa_umol_24h: float | None = Field(default=None, ge=0)
    referrer: str | None = Field(default=None, max_length=200)
    referring_trust: str | None = Field(default=None, max_length=200)

    def given(self) -> dict[str, object]:
        """The items that have a value."""
        return self.model_dump(mode="json", exclude_none=True)


class Referral(ReferralItems, _ReferralHeader):
    """What a referrer sends. Clinical items may be missing; triage asks for them (or the
    coordinator types them in at triage)."""

    model_config = ConfigDict(extra="forbid")

    prior_therapies: list[PriorTherapy] = Field(default_factory=list, max_length=50)
    referrer_reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The referrer's own reference for this referral: a referral sent again "
        "with the same reference (by the same sender) returns the pathway the first one started.",
    )
    second_pathway_reason: str | None = Field(
        default=None,
        min_length=3,
        max_length=500,
        description="Only when this patient already has an open pathway: why a second one "
        "(for example a new primary).",
    )

    def missing_items(self, required: tuple[str, ...]) -> list[str]:
        """The required items this referral lacks, in the order configured."""
        return [name for name in required if getattr(self, name, None) in (None, "", [])]


def identity_problems(patient: PatientIdentity, today: date) -> list[tuple[str, str]]:
    """What is impossible about a patient's identity on ``today`` as (field, message): a date
    of birth in the future, or more than 120 years ago. Checked where a referral arrives (API,
    pages, FHIR, CLI), which knows today's date; the model itself must stay clock-free because
    workflows decode it on replay."""
    born = patient.date_of_birth
    if born > today:
        return [("patient.date_of_birth", f"date of birth {born:%d/%m/%Y} is in the future")]
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age > MAX_AGE_YEARS:
        return [
            (
                "patient.date_of_birth",
                f"date of birth {born:%d/%m/%Y} makes the patient {age}: "
                f"at most {MAX_AGE_YEARS} years",
            )
        ]
    return []
