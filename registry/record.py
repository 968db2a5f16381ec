"""One treated patient's registry record, built from the read model's recorded facts.

The record holds NICE HTG720's patient-selection variables and outcomes (3.2-3.4) and nothing
that depends on the day it is built, so its hash changes only when a recorded fact changes.
The patient table is read only when ``include_identifiers`` is configured.
"""

import hashlib
import hmac
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from clinical.recist import Response, best_overall_response
from core.clock import local_date
from models.tables import OutcomeRow, PathwayRow, PatientRow, VisitRow
from registry.config import RegistryConfigError, RegistrySettings

# The visit whose response NICE's audit and the registries report ("at 3 months").
RESPONSE_VISIT_CODE = "3m"
QOL_VISIT_CODES = ("3m", "6m")
# Symptom response: flushes or stools per day down by at least this share of the baseline.
SYMPTOM_RESPONSE_REDUCTION = 0.5
GRADE_3 = 3
QLQ_GLOBAL_SCALE = "QL2"


class TreatmentEntry(BaseModel):
    """One SIRT delivery."""

    number: int
    performed_on: date
    device: str | None
    dosimetry_method: str | None
    prescribed_activity_gbq: float | None
    delivered_activity_gbq: float
    extent: str
    delivered_lung_dose_gy: float | None
    lung_shunt_fraction: float | None
    positions: list[str]


class VisitEntry(BaseModel):
    """One follow-up visit's outcomes, raw and derived."""

    visit_id: str
    treatment_number: int
    code: str
    visit_date: date
    recist_response: str | None
    mrecist_response: str | None
    hepatic_progression_on: date | None
    overall_progression_on: date | None
    labs: dict[str, float] = Field(default_factory=dict)
    ctcae_grades: dict[str, int] = Field(default_factory=dict)
    prs_present: bool | None = None
    prs_max_grade: int | None = None
    reild_present: bool | None = None
    flushes_per_day: float | None = None
    stools_per_day: float | None = None
    qlq_c30_items: dict[int, int | None] = Field(default_factory=dict)
    qlq_c30_scores: dict[str, float | None] = Field(default_factory=dict)
    cga_ug_l: float | None = None
    hiaa_umol_24h: float | None = None


class AdverseEventEntry(BaseModel):
    """A CTCAE-graded adverse event, from a visit or reported between visits."""

    term: str
    ctcae_grade: int
    onset_on: date
    source: str


class ScheduledVisit(BaseModel):
    """A planned follow-up visit and what became of it (the CarePlan)."""

    visit_id: str
    code: str
    kind: str
    due_on: date
    window_days: int
    state: str


class RegistryRecord(BaseModel):
    """A pseudonymised registry record. Scalar fields are the CSV columns, in order."""

    NESTED: ClassVar[tuple[str, ...]] = ("treatments", "visits", "adverse_events", "schedule")

    record_id: str
    nhs_number: str | None = None
    centre: str
    referred_on: date
    primary_site: str | None
    grade: int | None
    ki67_pct: float | None
    carcinoid_syndrome: bool | None
    baseline_flushes_per_day: float | None
    baseline_stools_per_day: float | None
    baseline_cga_ug_l: float | None
    baseline_5hiaa_umol_24h: float | None
    prior_therapies: list[str]
    mdt_on: date | None
    ecog: int | None
    child_pugh_score: int | None
    extrahepatic_disease: str | None
    tumour_burden_pct: float | None
    tumour_burden_over_threshold: bool | None
    intent: str | None
    lung_shunt_fraction: float | None
    whole_liver_volume_ml: float | None
    tumour_volume_ml: float | None
    device: str | None
    dosimetry_method: str | None
    predicted_tumour_dose_gy: float | None
    predicted_normal_liver_dose_gy: float | None
    treatment_count: int
    first_treatment_on: date
    extent: str
    activity_gbq: float
    total_activity_gbq: float
    cumulative_lung_dose_gy: float
    best_response: str | None
    response_3m: str | None
    mrecist_response_3m: str | None
    hepatic_progression_on: date | None
    overall_progression_on: date | None
    died_on: date | None
    cause_of_death: str | None
    withdrawn_on: date | None
    last_known_alive_on: date
    os_days: int
    os_event: bool
    hepatic_pfs_days: int
    hepatic_pfs_event: bool
    pfs_days: int
    pfs_event: bool
    prs: bool | None
    prs_max_grade: int | None
    reild: bool | None
    reild_braat_grade: int | None
    max_ae_grade: int | None
    grade3_clinical_toxicity: bool
    max_lab_ctcae_grade: int | None
    grade3_biochemical_toxicity: bool
    qlq_c30_global_first: float | None
    qlq_c30_global_3m: float | None
    qlq_c30_global_6m: float | None
    flushes_3m: float | None
    stools_3m: float | None
    symptom_response_3m: bool | None
    later_treatments: list[str]
    visits_done: int
    treatments: list[TreatmentEntry]
    visits: list[VisitEntry]
    adverse_events: list[AdverseEventEntry]
    schedule: list[ScheduledVisit]

    @classmethod
    def columns(cls) -> list[str]:
        """The flat (CSV) columns, in order."""
        return [name for name in cls.model_fields if name not in cls.NESTED]

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON: the record's version for resubmission."""
        canonical = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), default=str
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class PathwayFacts(BaseModel):
    """What the read model holds for one pathway, in recording order."""

    pathway_id: str
    centre: str
    referred_on: date
    outcomes: list[tuple[str, dict[str, Any]]]
    schedule: list[ScheduledVisit] = Field(default_factory=list)
    nhs_number: str | None = None


def pseudonym(pathway_id: str, settings: RegistrySettings) -> str:
    """The registry's id for a patient: a keyed hash of the pathway id (or the id itself)."""
    if settings.pseudonym_mode == "pathway_id":
        return pathway_id
    if settings.pseudonym_secret is None:
        raise RegistryConfigError(
            "pseudonym_secret: set SIRT_REGISTRY_PSEUDONYM_SECRET (or pseudonym_mode=pathway_id)"
        )
    key = settings.pseudonym_secret.get_secret_value().encode()
    digest = hmac.new(key, pathway_id.encode(), hashlib.sha256).hexdigest()
    return digest[: settings.pseudonym_length]


# ------------------------------------------------------------------ loading


def _outcome_order(row: OutcomeRow) -> tuple[Any, int, str]:
    # Outcome ids are "o<counter>" per pathway: the counter is the recording order.
    digits = row.id[1:]
    return (row.recorded_at, int(digits) if digits.isdigit() else 0, row.id)


def load_facts(
    engine: Engine, settings: RegistrySettings, pathway_ids: Sequence[str] | None = None
) -> list[PathwayFacts]:
    """Facts of every treated pathway (or of those named that were treated), by pathway id."""
    with Session(engine) as session:
        stmt = select(PathwayRow).where(col(PathwayRow.treatment_number) > 0)
        if pathway_ids is not None:
            stmt = stmt.where(col(PathwayRow.id).in_(list(pathway_ids)))
        pathways = {p.id: p for p in session.exec(stmt)}
        if not pathways:
            return []
        ids = sorted(pathways)
        by_pathway: dict[str, list[OutcomeRow]] = defaultdict(list)
        for row in session.exec(select(OutcomeRow).where(col(OutcomeRow.pathway_id).in_(ids))):
            by_pathway[row.pathway_id].append(row)
        schedule: dict[str, list[ScheduledVisit]] = defaultdict(list)
        visits = select(VisitRow).where(col(VisitRow.pathway_id).in_(ids))
        for v in session.exec(visits.order_by(col(VisitRow.due_on), col(VisitRow.id))):
            schedule[v.pathway_id].append(
                ScheduledVisit(
                    visit_id=v.id,
                    code=v.code,
                    kind=v.kind,
                    due_on=v.due_on,
                    window_days=v.window_days,
                    state=v.state,
                )
            )
        nhs: dict[str, str] = {}
        if settings.include_identifiers:
            patients = select(PatientRow).where(col(PatientRow.pathway_id).in_(ids))
            nhs = {p.pathway_id: p.nhs_number for p in session.exec(patients)}
    return [
        PathwayFacts(
            pathway_id=pid,
            centre=pathways[pid].centre,
            referred_on=local_date(pathways[pid].referred_at),
            outcomes=[(o.kind, o.data) for o in sorted(by_pathway[pid], key=_outcome_order)],
            schedule=schedule[pid],
            nhs_number=nhs.get(pid),
        )
        for pid in ids
    ]


def load_records(
    engine: Engine, settings: RegistrySettings, pathway_ids: Sequence[str] | None = None
) -> list[RegistryRecord]:
    """Registry records of every treated pathway (or of those named)."""
    out = []
    for facts in load_facts(engine, settings, pathway_ids):
        record = build_record(facts, settings)
        if record is not None:
            out.append(record)
    return out


# ------------------------------------------------------------------ building


def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _last(outcomes: Iterable[tuple[str, dict[str, Any]]], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for k, data in outcomes:
        if k == kind:
            found = data
    return found


def _referral(outcomes: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The referral as sent, with the items a coordinator supplied at triage."""
    found: dict[str, Any] = {}
    for kind, data in outcomes:
        if kind == "referral":
            found = dict(data)
        elif kind == "triage" and data.get("supplied"):
            found.update({k: v for k, v in data["supplied"].items() if v is not None})
    return found


def _visit_entry(data: Mapping[str, Any]) -> VisitEntry:
    derived = data.get("derived") or {}
    recist = (derived.get("recist") or {}).get("response") or data.get("recist_response")
    mrecist = (derived.get("mrecist") or {}).get("response") or data.get("mrecist_response")
    prs = derived.get("prs")
    reild = derived.get("reild")
    visit_id = str(data.get("visit_id") or f"t1-{data['visit_code']}")
    number = int(visit_id[1:].split("-", 1)[0]) if visit_id.startswith("t") else 1
    labs = {k: float(v) for k, v in (data.get("labs") or {}).items() if v is not None}
    items = {int(k): v for k, v in (data.get("qlq_c30") or {}).items()}
    return VisitEntry(
        visit_id=visit_id,
        treatment_number=number,
        code=str(data["visit_code"]),
        visit_date=date.fromisoformat(data["visit_date"]),
        recist_response=recist,
        mrecist_response=mrecist,
        hepatic_progression_on=_d(data.get("hepatic_progression_on")),
        overall_progression_on=_d(data.get("overall_progression_on")),
        labs=labs,
        ctcae_grades={k: int(v) for k, v in (derived.get("ctcae_grades") or {}).items()},
        prs_present=None if prs is None else bool(prs["present"]),
        prs_max_grade=None if prs is None else int(prs["max_grade"]),
        reild_present=None if reild is None else bool(reild["present"]),
        flushes_per_day=data.get("flushes_per_day"),
        stools_per_day=data.get("stools_per_day"),
        qlq_c30_items=items,
        qlq_c30_scores=dict(derived.get("qlq_c30") or {}),
        cga_ug_l=data.get("cga_ug_l"),
        hiaa_umol_24h=data.get("hiaa_umol_24h"),
    )


def _treatments(outcomes: Sequence[tuple[str, dict[str, Any]]]) -> list[TreatmentEntry]:
    """Treatments with the plan and work-up current when each was given; amendments applied."""
    out: list[TreatmentEntry] = []
    plan: dict[str, Any] = {}
    workup: dict[str, Any] = {}
    for kind, data in outcomes:
        if kind == "dosimetry_plan":
            plan = data
        elif kind == "workup":
            workup = data
        elif kind == "treatment":
            delivered = sum(
                p["administered_activity_gbq"] * (1 - p.get("residual_pct", 0) / 100)
                for p in data["positions"]
            )
            prescribed = sum(p["activity_gbq"] for p in plan.get("positions", [])) or None
            out.append(
                TreatmentEntry(
                    number=len(out) + 1,
                    performed_on=date.fromisoformat(data["performed_on"]),
                    device=plan.get("device"),
                    dosimetry_method=plan.get("method"),
                    prescribed_activity_gbq=prescribed,
                    delivered_activity_gbq=round(delivered, 3),
                    extent=data["extent"],
                    delivered_lung_dose_gy=data.get("delivered_lung_dose_gy"),
                    lung_shunt_fraction=workup.get("lung_shunt_fraction"),
                    positions=[p["position"] for p in data["positions"]],
                )
            )
        elif kind == "treatment_date_amended" and out:
            out[-1] = out[-1].model_copy(
                update={"performed_on": date.fromisoformat(data["performed_on"])}
            )
    return out


def _adverse_events(
    outcomes: Sequence[tuple[str, dict[str, Any]]], treatments: Sequence[TreatmentEntry]
) -> list[AdverseEventEntry]:
    out = []
    for kind, data in outcomes:
        if kind == "follow_up_visit":
            visit_on = date.fromisoformat(data["visit_date"])
            for ae in data.get("adverse_events") or []:
                onset = visit_on
                if ae.get("onset_day") is not None and treatments:
                    # onset_day counts from the treatment the visit follows.
                    number = _visit_entry(data).treatment_number
                    anchor = treatments[min(number, len(treatments)) - 1].performed_on
                    onset = anchor + timedelta(days=int(ae["onset_day"]))
                out.append(
                    AdverseEventEntry(
                        term=ae["term"],
                        ctcae_grade=ae["ctcae_grade"],
                        onset_on=onset,
                        source="visit",
                    )
                )
        elif kind == "adverse_event" and data.get("adverse_event"):
            ae = data["adverse_event"]
            out.append(
                AdverseEventEntry(
                    term=ae["term"],
                    ctcae_grade=ae["ctcae_grade"],
                    onset_on=date.fromisoformat(data["occurred_on"]),
                    source="unscheduled",
                )
            )
    return out


def _first(values: Iterable[date | None]) -> date | None:
    dates = [v for v in values if v is not None]
    return min(dates) if dates else None


def _max(values: Iterable[int | None]) -> int | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None


def _symptom_response(
    baseline: Mapping[str, float | None], at_3m: Mapping[str, float | None]
) -> bool | None:
    """Response when any symptom with a baseline fell by the configured share; None if unknown."""
    assessed = [
        (b, at_3m[k]) for k, b in baseline.items() if b and b > 0 and at_3m.get(k) is not None
    ]
    if not assessed:
        return None
    return any(
        now <= b * (1 - SYMPTOM_RESPONSE_REDUCTION) for b, now in assessed if now is not None
    )


def build_record(facts: PathwayFacts, settings: RegistrySettings) -> RegistryRecord | None:
    """The registry record of one pathway; None if it has no treatment."""
    outcomes = facts.outcomes
    treatments = _treatments(outcomes)
    if not treatments:
        return None
    first = treatments[0]
    referral = _referral(outcomes)
    # Selection: the MDT decision and work-up that led to the first treatment.
    before_first: list[tuple[str, dict[str, Any]]] = []
    for kind, data in outcomes:
        if kind == "treatment":
            break
        before_first.append((kind, data))
    mdt = _last(before_first, "mdt_decision")
    workup = _last(before_first, "workup")
    plan = _last(before_first, "dosimetry_plan")
    visits = [_visit_entry(d) for k, d in outcomes if k == "follow_up_visit"]
    visits.sort(key=lambda v: (v.visit_date, v.visit_id))
    events = _adverse_events(outcomes, treatments)
    death = _last(outcomes, "death")
    withdrawal = _last(outcomes, "withdrawal")
    died_on = _d(death.get("occurred_on"))
    reviews = [int(d["braat_grade"]) for k, d in outcomes if k == "reild_review"]

    first_visits = {v.code: v for v in visits if v.treatment_number == 1}
    v3 = first_visits.get(RESPONSE_VISIT_CODE)
    responses = [Response(v.recist_response) for v in visits if v.recist_response]
    hep_prog = _first(v.hepatic_progression_on for v in visits)
    all_prog = _first(
        [*(v.overall_progression_on for v in visits), *(v.hepatic_progression_on for v in visits)]
    )
    contacts = [
        *(t.performed_on for t in treatments),
        *(v.visit_date for v in visits),
        *(e.onset_on for e in events if e.source == "unscheduled"),
    ]
    withdrawn_on = _d(withdrawal.get("occurred_on"))
    if withdrawn_on is not None:
        contacts.append(withdrawn_on)
    last_alive = max(contacts)
    end = died_on or last_alive

    def _span(event_on: date | None) -> tuple[int, bool]:
        """Days from first treatment to the event (or death), else censored at last contact."""
        candidates = [d for d in (event_on, died_on) if d is not None]
        if candidates:
            return (min(candidates) - first.performed_on).days, True
        return (last_alive - first.performed_on).days, False

    hep_days, hep_event = _span(hep_prog)
    pfs_days, pfs_event = _span(all_prog)
    qol = {v.code: v.qlq_c30_scores.get(QLQ_GLOBAL_SCALE) for v in first_visits.values()}
    # No QLQ-C30 is taken before treatment, so the first one before the 3-month visit is the
    # nearest to a baseline the pathway records (see the data dictionary).
    before_3m = v3.visit_date if v3 else None
    qol_visits = [
        v
        for v in visits
        if v.treatment_number == 1
        and v.qlq_c30_scores.get(QLQ_GLOBAL_SCALE) is not None
        and (before_3m is None or v.visit_date < before_3m)
        and v.code not in QOL_VISIT_CODES
    ]
    prs_flags = [v.prs_present for v in visits if v.prs_present is not None]
    reild_flags = [v.reild_present for v in visits if v.reild_present is not None]
    # A clinician's Braat grading overrides the automatic screen.
    reild = (max(reviews) >= 1) if reviews else (any(reild_flags) if reild_flags else None)
    max_ae = _max([e.ctcae_grade for e in events])
    prs_max = _max([v.prs_max_grade for v in visits])
    lab_max = _max([g for v in visits for g in v.ctcae_grades.values()])
    burden = mdt.get("tumour_burden_pct")
    baseline_symptoms = {
        "flushes": referral.get("flushes_per_day"),
        "stools": referral.get("stools_per_day"),
    }
    at_3m = {
        "flushes": v3.flushes_per_day if v3 else None,
        "stools": v3.stools_per_day if v3 else None,
    }
    later = sorted(
        {t for k, d in outcomes if k == "follow_up_visit" for t in d.get("later_treatments") or []}
    )
    return RegistryRecord(
        record_id=pseudonym(facts.pathway_id, settings),
        nhs_number=facts.nhs_number if settings.include_identifiers else None,
        centre=facts.centre,
        referred_on=_d(referral.get("received_on")) or facts.referred_on,
        primary_site=referral.get("primary_site"),
        grade=referral.get("grade"),
        ki67_pct=referral.get("ki67_pct"),
        carcinoid_syndrome=referral.get("carcinoid_syndrome"),
        baseline_flushes_per_day=referral.get("flushes_per_day"),
        baseline_stools_per_day=referral.get("stools_per_day"),
        baseline_cga_ug_l=referral.get("baseline_cga_ug_l"),
        baseline_5hiaa_umol_24h=referral.get("baseline_5hiaa_umol_24h"),
        prior_therapies=sorted({p["kind"] for p in referral.get("prior_therapies") or []}),
        mdt_on=_d(mdt.get("meeting_date")),
        ecog=mdt.get("ecog"),
        child_pugh_score=mdt.get("child_pugh_score"),
        extrahepatic_disease=mdt.get("extrahepatic_disease"),
        tumour_burden_pct=burden,
        tumour_burden_over_threshold=(
            None if burden is None else burden > settings.tumour_burden_threshold_pct
        ),
        intent=mdt.get("intent"),
        lung_shunt_fraction=workup.get("lung_shunt_fraction"),
        whole_liver_volume_ml=workup.get("whole_liver_volume_ml"),
        tumour_volume_ml=workup.get("tumour_volume_ml"),
        device=plan.get("device") or first.device,
        dosimetry_method=plan.get("method") or first.dosimetry_method,
        predicted_tumour_dose_gy=plan.get("predicted_tumour_dose_gy"),
        predicted_normal_liver_dose_gy=plan.get("predicted_normal_liver_dose_gy"),
        treatment_count=len(treatments),
        first_treatment_on=first.performed_on,
        extent=first.extent,
        activity_gbq=first.delivered_activity_gbq,
        total_activity_gbq=round(sum(t.delivered_activity_gbq for t in treatments), 3),
        cumulative_lung_dose_gy=round(sum(t.delivered_lung_dose_gy or 0.0 for t in treatments), 2),
        best_response=best_overall_response(responses).value if responses else None,
        response_3m=v3.recist_response if v3 else None,
        mrecist_response_3m=v3.mrecist_response if v3 else None,
        hepatic_progression_on=hep_prog,
        overall_progression_on=all_prog,
        died_on=died_on,
        cause_of_death=death.get("cause_of_death"),
        withdrawn_on=withdrawn_on,
        last_known_alive_on=last_alive,
        os_days=(end - first.performed_on).days,
        os_event=died_on is not None,
        hepatic_pfs_days=hep_days,
        hepatic_pfs_event=hep_event,
        pfs_days=pfs_days,
        pfs_event=pfs_event,
        prs=any(prs_flags) if prs_flags else None,
        prs_max_grade=prs_max,
        reild=reild,
        reild_braat_grade=max(reviews) if reviews else None,
        max_ae_grade=max_ae,
        grade3_clinical_toxicity=(max_ae or 0) >= GRADE_3 or (prs_max or 0) >= GRADE_3,
        max_lab_ctcae_grade=lab_max,
        grade3_biochemical_toxicity=(lab_max or 0) >= GRADE_3,
        qlq_c30_global_first=(
            qol_visits[0].qlq_c30_scores.get(QLQ_GLOBAL_SCALE) if qol_visits else None
        ),
        qlq_c30_global_3m=qol.get(QOL_VISIT_CODES[0]),
        qlq_c30_global_6m=qol.get(QOL_VISIT_CODES[1]),
        flushes_3m=at_3m["flushes"],
        stools_3m=at_3m["stools"],
        symptom_response_3m=_symptom_response(baseline_symptoms, at_3m),
        later_treatments=later,
        visits_done=len(visits),
        treatments=treatments,
        visits=visits,
        adverse_events=events,
        schedule=facts.schedule,
    )
