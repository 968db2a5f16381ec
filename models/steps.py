"""Payloads of the human steps, one model per Update.

These check what a form can check alone (ranges, required combinations). Rules that need
the pathway's state (its stage, earlier doses) run in the workflow's Update validators.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue, model_validator

from clinical.enums import ClockKind, Device, DosimetryMethod
from clinical.errors import ClinicalRuleError
from clinical.liver_toxicity import BraatInputs, PrsSymptoms
from clinical.qlq_c30 import QLQ_C30_ITEM_MAX, QLQ_C30_SCALES
from clinical.recist import NonTargetResponse, TargetLesion, validate_target_lesions
from models.plausible import Plausible
from models.referral import ReferralItems

# Length bounds on every list and on the words in it: a payload travels through Temporal
# (4 MB per message) and lands in history for years, so nothing in it is unbounded.
MAX_ITEMS = 50
ShortText = Annotated[str, Field(max_length=200)]


class _Step(Plausible):
    model_config = ConfigDict(extra="forbid")


class TriageDecision(_Step):
    """A coordinator's triage: complete, or what is still missing (re-requested). Items the
    referral lacked may be typed in (``supplied``, say from a phone call to the referrer): a
    referral they complete goes on to MDT review without a re-referral."""

    complete: bool = Field(
        description="Tick to accept the referral as it is; it goes on to the MDT list. A "
        "referral the items below complete goes on without it."
    )
    missing_items: list[ShortText] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="What to ask the referrer for. Items typed in below are not asked for.",
    )
    supplied: ReferralItems | None = Field(
        default=None, description="Values of items the referral lacked, found at triage."
    )
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _missing_named(self) -> "TriageDecision":
        if not self.complete and not self.missing_items and not self.supplied:
            raise ValueError("missing_items: name what is missing when the referral is incomplete")
        return self


class Labs(_Step):
    """Laboratory values in the units named."""

    bilirubin_umol_l: float | None = Field(default=None, ge=0, le=1000)
    albumin_g_l: float | None = Field(default=None, ge=0, le=80)
    alt_u_l: float | None = Field(default=None, ge=0, le=10000)
    ast_u_l: float | None = Field(default=None, ge=0, le=10000)
    alp_u_l: float | None = Field(default=None, ge=0, le=10000)
    ggt_u_l: float | None = Field(default=None, ge=0, le=10000)
    inr: float | None = Field(default=None, ge=0)
    platelets_10e9_l: float | None = Field(default=None, ge=0)
    wbc_10e9_l: float | None = Field(default=None, ge=0)
    egfr_ml_min: float | None = Field(default=None, ge=0, le=200)
    on_anticoagulation: bool = Field(
        default=False, description="CTCAE v5 then grades INR against the baseline INR."
    )


class MdtOutcome(StrEnum):
    """What the MDT decided."""

    PROCEED = "proceed"
    NOT_SUITABLE = "not_suitable"
    ALTERNATIVE = "alternative"
    REDISCUSS = "rediscuss"


class AlternativeTreatment(StrEnum):
    """Alternatives NICE HTG720 2.2 names."""

    RESECTION = "resection"
    ABLATION = "ablation"
    CHEMOTHERAPY = "chemotherapy"
    SSA = "ssa"
    PRRT = "prrt"
    BLAND_EMBOLISATION = "bland_embolisation"
    TACE = "tace"
    DEB_TACE = "deb_tace"


class MdtDecision(_Step):
    """The MDT's selection decision with what it was based on."""

    meeting_date: date
    net_experienced_mdt: bool
    attendees: list[ShortText] = Field(min_length=1, max_length=MAX_ITEMS)
    ecog: int = Field(ge=0, le=4)
    child_pugh_score: int | None = Field(default=None, ge=5, le=15)
    extrahepatic_disease: Literal["none", "limited", "extensive"] | None = None
    tumour_burden_pct: float | None = Field(default=None, ge=0, le=100)
    weeks_since_systemic_therapy: float | None = Field(default=None, ge=0)
    main_portal_vein_thrombosis: bool | None = None
    active_antiangiogenic: bool | None = None
    labs: Labs = Field(default_factory=Labs)
    intent: Literal["disease_control", "symptom_control", "downstaging"] | None = None
    decision: MdtOutcome
    reason: str | None = Field(default=None, max_length=2000)
    alternative_treatment: AlternativeTreatment | None = None
    missing_items: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    consent_obtained: bool = False
    override_reason: str | None = Field(
        default=None, max_length=2000, description="Why proceed despite a contraindication."
    )

    @model_validator(mode="after")
    def _decision_complete(self) -> "MdtDecision":
        if self.decision == MdtOutcome.NOT_SUITABLE and not self.reason:
            raise ValueError("reason: say why the patient is not suitable")
        if self.decision == MdtOutcome.ALTERNATIVE and self.alternative_treatment is None:
            raise ValueError("alternative_treatment: name the alternative chosen")
        if self.decision == MdtOutcome.REDISCUSS and not self.missing_items:
            raise ValueError("missing_items: name what the re-discussion needs")
        return self


class ScheduleProcedure(_Step):
    """A date booked for the work-up angiography or the treatment."""

    scheduled_on: date


class ExtrahepaticUptake(_Step):
    """Uptake outside the liver seen on the scout scan."""

    site: str = Field(min_length=1, max_length=200)
    resolved: bool


class WorkupResult(_Step):
    """Work-up angiography and scout scan."""

    performed_on: date
    vessels_studied: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    coils_placed: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    injection_positions: list[ShortText] = Field(min_length=1, max_length=MAX_ITEMS)
    scout_agent: Literal["tc99m_maa", "ho166_scout"] = "tc99m_maa"
    scout_activity_mbq: float = Field(gt=0, le=1000)
    lung_shunt_fraction: float = Field(ge=0, description="A fraction, 0-1.")
    lsf_method: Literal["planar", "spect_ct"] = "planar"
    extrahepatic_uptake: list[ExtrahepaticUptake] = Field(
        default_factory=list, max_length=MAX_ITEMS
    )
    whole_liver_volume_ml: float = Field(gt=0)
    tumour_volume_ml: float = Field(ge=0)
    perfused_volume_ml: float | None = Field(default=None, gt=0)
    lung_volume_ml: float | None = Field(default=None, gt=0)
    baseline_target_lesions: list[TargetLesion] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="RECIST 1.1 target lesions on the baseline CT/MRI.",
    )
    baseline_viable_lesions: list[TargetLesion] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="mRECIST: viable (enhancing) tumour diameters.",
    )

    @model_validator(mode="after")
    def _volumes(self) -> "WorkupResult":
        if self.tumour_volume_ml > self.whole_liver_volume_ml:
            raise ValueError("tumour_volume_ml: larger than the whole liver volume")
        if self.perfused_volume_ml is not None and (
            self.perfused_volume_ml > self.whole_liver_volume_ml
        ):
            raise ValueError("perfused_volume_ml: larger than the whole liver volume")
        for name in ("baseline_target_lesions", "baseline_viable_lesions"):
            lesions = getattr(self, name)
            if lesions:
                try:
                    validate_target_lesions(lesions)
                except ClinicalRuleError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        return self

    @property
    def unresolved_uptake(self) -> list[str]:
        """Sites of extrahepatic uptake that coiling did not resolve."""
        return [u.site for u in self.extrahepatic_uptake if not u.resolved]


class PositionActivity(_Step):
    """Prescribed activity for one injection position."""

    position: str = Field(min_length=1)
    activity_gbq: float = Field(gt=0)


class PhysicistSignoff(_Step):
    """The physicist who checked the plan."""

    physicist: str = Field(min_length=1, max_length=200)
    signed_on: date


class DosimetryPlan(_Step):
    """Personalised dosimetry with its predicted doses."""

    device: Device
    method: DosimetryMethod
    tumour_to_normal_ratio: float | None = Field(default=None, gt=0, le=100)
    positions: list[PositionActivity] = Field(min_length=1, max_length=MAX_ITEMS)
    predicted_tumour_dose_gy: float | None = Field(default=None, ge=0, le=2000)
    predicted_normal_liver_dose_gy: float | None = Field(default=None, ge=0, le=1000)
    predicted_perfused_dose_gy: float | None = Field(default=None, ge=0, le=2000)
    predicted_lung_dose_gy: float = Field(ge=0, le=500)
    pretreated_liver: bool = False
    physicist_signoff: PhysicistSignoff
    override_reason: str | None = Field(default=None, max_length=2000)

    @property
    def total_activity_gbq(self) -> float:
        """Sum of the prescribed activities."""
        return sum(p.activity_gbq for p in self.positions)


class AdministeredPosition(_Step):
    """What was given at one position."""

    position: str = Field(min_length=1)
    administered_activity_gbq: float = Field(gt=0)
    residual_pct: float = Field(default=0, ge=0, le=100, description="Left in the vial.")


class TreatmentRecord(_Step):
    """The SIRT delivery."""

    performed_on: date
    positions: list[AdministeredPosition] = Field(min_length=1, max_length=MAX_ITEMS)
    extent: Literal["unilobar", "bilobar", "segmental"]
    stasis: bool = False
    intraprocedural_events: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    post_treatment_imaging: Literal["y90_pet", "bremsstrahlung_spect", "ho166_spect", "mri"]
    non_target_deposition: str | None = None
    discharged_on: date | None = None
    excess_activity_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why more activity than planned was given, when that broke a dose limit.",
    )

    @model_validator(mode="after")
    def _discharge_after(self) -> "TreatmentRecord":
        if self.discharged_on is not None and self.discharged_on < self.performed_on:
            raise ValueError("discharged_on: before the treatment date")
        return self

    @property
    def delivered_activity_gbq(self) -> float:
        """Activity that reached the patient (administered less the vial residual)."""
        return sum(p.administered_activity_gbq * (1 - p.residual_pct / 100) for p in self.positions)


class AmendTreatmentDate(_Step):
    """Corrects the date the treatment happened; pending follow-up visits move with it."""

    performed_on: date
    reason: str = Field(min_length=1, max_length=2000)


class AdverseEvent(_Step):
    """A CTCAE-graded adverse event."""

    term: str = Field(min_length=1, max_length=200)
    ctcae_grade: int = Field(ge=1, le=5)
    onset_day: int | None = Field(default=None, ge=0, description="Days after SIRT.")


class ImagingResponse(StrEnum):
    """A radiologist's response category (RECIST 1.1 / mRECIST)."""

    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NE = "NE"


# How a form shows a mapping: one row per lesion (its id, then its diameter), and the
# questionnaire as one answer per item (1 to the item's highest answer, named by its scale).
_LESION_COLUMNS: dict[str, JsonValue] = {"x-key": "lesion_id", "x-value": "diameter_mm"}
_QLQ_C30_ITEMS: list[JsonValue] = [
    {
        "item": item,
        "max": top,
        "scale": next(s.name for s in QLQ_C30_SCALES if item in s.items),
    }
    for item, top in QLQ_C30_ITEM_MAX.items()
]


class FollowUpVisitRecord(_Step):
    """Outcomes collected at one scheduled follow-up visit."""

    visit_code: str = Field(min_length=1)
    visit_date: date
    recist_response: ImagingResponse | None = None
    mrecist_response: ImagingResponse | None = None
    target_lesions_mm: dict[ShortText, float | None] = Field(
        default_factory=dict,
        max_length=MAX_ITEMS,
        description="Each target lesion chosen at the baseline work-up, by its ID: longest "
        "diameter (short axis for a node); no diameter when it cannot be evaluated.",
        json_schema_extra=_LESION_COLUMNS,
    )
    viable_target_lesions_mm: dict[ShortText, float | None] = Field(
        default_factory=dict, max_length=MAX_ITEMS, json_schema_extra=_LESION_COLUMNS
    )
    too_small_to_measure: list[ShortText] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Target lesions present but too small to measure (RECIST 1.1: 5 mm).",
    )
    non_target_response: NonTargetResponse | None = Field(
        default=None, description="RECIST 1.1 non-target lesions: CR, non-CR/non-PD, PD, NE."
    )
    mrecist_non_target_response: NonTargetResponse | None = None
    new_lesions: bool = False
    new_lesion_largest_mm: float | None = Field(
        default=None, ge=0, description="mRECIST: a new lesion counts from 10 mm."
    )
    new_lesion_typical_enhancement: bool | None = Field(
        default=None, description="mRECIST: arterial hyperenhancement with washout."
    )
    hepatic_progression_on: date | None = None
    overall_progression_on: date | None = None
    labs: Labs | None = None
    ascites: Literal["none", "stable", "new_or_worse"] | None = None
    biliary_obstruction: bool = False
    adverse_events: list[AdverseEvent] = Field(default_factory=list, max_length=MAX_ITEMS)
    prs_symptoms: PrsSymptoms | None = None
    flushes_per_day: float | None = Field(default=None, ge=0)
    stools_per_day: float | None = Field(default=None, ge=0)
    qlq_c30: dict[int, int | None] = Field(
        default_factory=dict,
        max_length=MAX_ITEMS,
        description="Answers by item number: 1 'not at all' to 4 'very much' (items 29-30: "
        "1 'very poor' to 7 'excellent').",
        json_schema_extra={"x-items": _QLQ_C30_ITEMS},
    )
    cga_ug_l: float | None = Field(default=None, ge=0)
    hiaa_umol_24h: float | None = Field(default=None, ge=0)
    later_treatments: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)


class UnscheduledEvent(_Step):
    """Something that happens between visits: an adverse event, a death, a withdrawal."""

    kind: Literal["adverse_event", "death", "withdrawal"]
    occurred_on: date
    adverse_event: AdverseEvent | None = None
    cause_of_death: str | None = Field(default=None, max_length=500)
    reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _kind_details(self) -> "UnscheduledEvent":
        if self.kind == "adverse_event" and self.adverse_event is None:
            raise ValueError("adverse_event: describe the adverse event")
        if self.kind == "death" and not self.cause_of_death:
            raise ValueError("cause_of_death: record the cause (or 'unknown')")
        if self.kind == "withdrawal" and not self.reason:
            raise ValueError("reason: say why the patient withdrew")
        return self


class TaskClosure(_Step):
    """Closes an administrative task (a chase for a missed visit)."""

    task_id: str = Field(min_length=1)
    note: str = Field(min_length=1, max_length=2000)


class LtfuReview(_Step):
    """The review after consecutive missed visits."""

    decision: Literal["continue", "lost_to_follow_up"]
    note: str = Field(min_length=1, max_length=2000)


class ReildReview(_Step):
    """A clinician's review of suspected REILD, graded by Braat."""

    findings: BraatInputs
    note: str = Field(min_length=1, max_length=2000)


class ClockPauseRequest(_Step):
    """Pause a waiting-time clock for documented patient choice (audited)."""

    kind: ClockKind
    start: date
    reason: str = Field(min_length=1, max_length=2000)


class ClockResume(_Step):
    """End the running pause of a waiting-time clock."""

    kind: ClockKind
    end: date


class ExternalResults(_Step):
    """Results another hospital system sent (an HL7v2 ORU^R01, a FHIR Observation), already
    converted to the units of ``Labs`` by the intake's LOINC table."""

    source: Literal["hl7v2", "fhir", "manual"]
    collected_on: date
    labs: Labs = Field(default_factory=Labs)
    chromogranin_a_ug_l: float | None = Field(default=None, ge=0, le=1_000_000)
    hiaa_5_umol_24h: float | None = Field(default=None, ge=0, le=100_000)

    @model_validator(mode="after")
    def _has_a_value(self) -> "ExternalResults":
        markers = (self.chromogranin_a_ug_l, self.hiaa_5_umol_24h)
        if not self.labs.model_dump(exclude_none=True) and all(m is None for m in markers):
            raise ValueError("labs: no result of a mapped test")
        return self


class ReportedDeath(_Step):
    """A death reported by another system (PAS ADT^A03/A08, FHIR Patient.deceased[x]).

    It only opens a task: the pathway ends when a coordinator confirms it.
    """

    source: Literal["hl7v2", "fhir", "manual"]
    died_on: date | None = Field(default=None, description="None: reported without a date.")


class DeathConfirmation(_Step):
    """A coordinator's answer to a reported death: confirmed (the pathway ends) or not."""

    confirmed: bool
    died_on: date | None = None
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _date_when_confirmed(self) -> "DeathConfirmation":
        if self.confirmed and self.died_on is None:
            raise ValueError("died_on: give the date of death to confirm it")
        if not self.confirmed and not self.note:
            raise ValueError("note: say why the reported death is not confirmed")
        return self
