"""A registry record as a FHIR R4 Bundle (fhir.resources' R4B models; these resources are the
same in R4 and R4B): Patient, Procedure, Observation, AdverseEvent, QuestionnaireResponse,
CarePlan. Every resource is built as its fhir.resources model, so building validates it.

The bundle is deterministic: ids are UUID5 of the pseudonym and the item they describe, and no
timestamp of its own is added, so an unchanged record yields a byte-identical bundle.
Codes this product owns use ``CODE_SYSTEM``; labs carry LOINC codes alongside their text.
"""

import uuid
from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.resource import Resource

from registry.config import RegistrySettings
from registry.record import RegistryRecord, ScheduledVisit, TreatmentEntry, VisitEntry

CODE_SYSTEM = "https://sirt-pathway.example/fhir/CodeSystem/sirt"
QLQ_C30_QUESTIONNAIRE = "https://sirt-pathway.example/fhir/Questionnaire/eortc-qlq-c30-v3"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_NAMESPACE = uuid.UUID("6f1d3c52-7c1e-4d0a-9a53-5b0f2d8e9c41")

# Labs field -> (LOINC code, display, UCUM unit).
LAB_CODES: Mapping[str, tuple[str | None, str, str]] = {
    "bilirubin_umol_l": ("14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma", "umol/L"),
    "albumin_g_l": ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/L"),
    "alt_u_l": ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume]", "U/L"),
    "ast_u_l": ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume]", "U/L"),
    "alp_u_l": ("6768-6", "Alkaline phosphatase [Enzymatic activity/volume]", "U/L"),
    "ggt_u_l": ("2324-2", "Gamma glutamyl transferase [Enzymatic activity/volume]", "U/L"),
    "inr": ("6301-6", "INR in Platelet poor plasma by Coagulation assay", "{INR}"),
    "platelets_10e9_l": ("777-3", "Platelets [#/volume] in Blood", "10*9/L"),
    "wbc_10e9_l": ("6690-2", "Leukocytes [#/volume] in Blood", "10*9/L"),
    "egfr_ml_min": (None, "eGFR", "mL/min/{1.73_m2}"),
}
# CTCAE lab test (derived grades) -> labs field it grades.
CTCAE_LAB_FIELD = {
    "bilirubin": "bilirubin_umol_l",
    "alt": "alt_u_l",
    "ast": "ast_u_l",
    "alp": "alp_u_l",
    "albumin": "albumin_g_l",
    "platelets": "platelets_10e9_l",
}
# Visit state in the read model -> CarePlan activity status.
CAREPLAN_STATUS = {
    "scheduled": "scheduled",
    "done": "completed",
    "missed": "stopped",
    "cancelled": "cancelled",
}


def _uuid(record: RegistryRecord, *parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join([record.record_id, *map(str, parts)])))


def _local(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": CODE_SYSTEM, "code": code, "display": display}], "text": display}


def _ref(full_url: str) -> dict[str, str]:
    return {"reference": full_url}


class _Builder:
    """Collects resources with deterministic ids and urn:uuid full URLs."""

    def __init__(self, record: RegistryRecord) -> None:
        self.record = record
        self.entries: list[dict[str, Any]] = []

    def add(self, resource: Resource, *key: object) -> str:
        rid = _uuid(self.record, resource.get_resource_type(), *key)
        resource.id = rid
        url = f"urn:uuid:{rid}"
        self.entries.append({"fullUrl": url, "resource": resource})
        return url


def _patient(record: RegistryRecord, settings: RegistrySettings) -> Patient:
    identifiers = [{"system": settings.identifier_system, "value": record.record_id}]
    if settings.include_identifiers and record.nhs_number:
        identifiers.append({"system": NHS_NUMBER_SYSTEM, "value": record.nhs_number})
    data: dict[str, Any] = {"identifier": identifiers}
    if record.died_on is not None:
        data["deceasedDateTime"] = record.died_on.isoformat()
    return Patient(**data)


def _procedure(t: TreatmentEntry, patient: str) -> Procedure:
    notes = [f"delivered activity {t.delivered_activity_gbq:g} GBq"]
    if t.delivered_lung_dose_gy is not None:
        notes.append(f"lung dose {t.delivered_lung_dose_gy:g} Gy")
    return Procedure(
        status="completed",
        category=_local("sirt", "Selective internal radiation therapy"),
        code=_local("sirt", "Selective internal radiation therapy"),
        subject=_ref(patient),
        performedDateTime=t.performed_on.isoformat(),
        bodySite=[{"text": f"liver, {t.extent}"}],
        usedCode=[_local(t.device, t.device)] if t.device else None,
        note=[{"text": "; ".join(notes)}],
    )


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observations(b: _Builder, record: RegistryRecord, patient: str, procs: list[str]) -> None:
    first = record.treatments[0]
    if record.lung_shunt_fraction is not None:
        b.add(
            Observation(
                status="final",
                code=_local("lung-shunt-fraction", "Lung shunt fraction"),
                subject=_ref(patient),
                effectiveDateTime=(record.mdt_on or first.performed_on).isoformat(),
                valueQuantity=_quantity(round(record.lung_shunt_fraction * 100, 3), "%"),
            ),
            "lsf",
        )
    for t, proc in zip(record.treatments, procs, strict=True):
        b.add(
            Observation(
                status="final",
                code=_local("administered-activity", "Administered activity"),
                subject=_ref(patient),
                partOf=[_ref(proc)],
                effectiveDateTime=t.performed_on.isoformat(),
                valueQuantity=_quantity(t.delivered_activity_gbq, "GBq"),
            ),
            "activity",
            t.number,
        )
    for v in record.visits:
        _visit_observations(b, v, patient)


def _visit_observations(b: _Builder, v: VisitEntry, patient: str) -> None:
    when = v.visit_date.isoformat()
    grades = {
        CTCAE_LAB_FIELD[test]: g for test, g in v.ctcae_grades.items() if test in CTCAE_LAB_FIELD
    }
    for field, value in sorted(v.labs.items()):
        loinc, display, unit = LAB_CODES.get(field, (None, field, "1"))
        coding = [{"system": LOINC, "code": loinc, "display": display}] if loinc else []
        coding.append({"system": CODE_SYSTEM, "code": field, "display": display})
        data: dict[str, Any] = {
            "status": "final",
            "category": [_local("laboratory", "Laboratory")],
            "code": {"coding": coding, "text": display},
            "subject": _ref(patient),
            "effectiveDateTime": when,
            "valueQuantity": _quantity(value, unit),
        }
        if field in grades:
            data["component"] = [
                {"code": _local("ctcae-v5-grade", "CTCAE v5 grade"), "valueInteger": grades[field]}
            ]
        b.add(Observation(**data), "lab", v.visit_id, field)
    for criteria, response in (("recist-1.1", v.recist_response), ("mrecist", v.mrecist_response)):
        if response:
            b.add(
                Observation(
                    status="final",
                    category=[_local("imaging", "Imaging")],
                    code=_local(f"{criteria}-response", f"{criteria.upper()} response"),
                    subject=_ref(patient),
                    effectiveDateTime=when,
                    valueCodeableConcept=_local(response, response),
                ),
                criteria,
                v.visit_id,
            )
    for code, present in (("prs", v.prs_present), ("reild", v.reild_present)):
        if present is not None:
            name = {"prs": "Post-radioembolisation syndrome", "reild": "REILD criteria met"}[code]
            b.add(
                Observation(
                    status="final",
                    code=_local(code, name),
                    subject=_ref(patient),
                    effectiveDateTime=when,
                    valueBoolean=present,
                ),
                code,
                v.visit_id,
            )


def _questionnaire(v: VisitEntry, patient: str) -> QuestionnaireResponse:
    items: list[dict[str, Any]] = []
    for number in sorted(v.qlq_c30_items):
        answer = v.qlq_c30_items[number]
        item: dict[str, Any] = {"linkId": str(number)}
        if answer is not None:
            item["answer"] = [{"valueInteger": answer}]
        items.append(item)
    for scale, score in sorted(v.qlq_c30_scores.items()):
        if score is not None:
            items.append(
                {"linkId": f"score-{scale}", "answer": [{"valueDecimal": round(score, 4)}]}
            )
    return QuestionnaireResponse(
        status="completed",
        questionnaire=QLQ_C30_QUESTIONNAIRE,
        subject=_ref(patient),
        authored=v.visit_date.isoformat(),
        item=items,
    )


def _care_plan(record: RegistryRecord, patient: str, schedule: list[ScheduledVisit]) -> CarePlan:
    open_visits = any(s.state == "scheduled" for s in schedule)
    ended = record.died_on is not None or record.withdrawn_on is not None
    status = "active" if open_visits and not ended else "completed"
    activities = []
    for s in schedule:
        from_day = s.due_on.toordinal() - s.window_days
        to_day = s.due_on.toordinal() + s.window_days
        activities.append(
            {
                "detail": {
                    "kind": "Appointment",
                    "code": _local(f"follow-up-{s.kind}", f"Follow-up {s.code} ({s.kind})"),
                    "status": CAREPLAN_STATUS.get(s.state, "unknown"),
                    "scheduledPeriod": {
                        "start": s.due_on.fromordinal(from_day).isoformat(),
                        "end": s.due_on.fromordinal(to_day).isoformat(),
                    },
                    "description": f"visit {s.visit_id}, due {s.due_on.isoformat()}",
                }
            }
        )
    return CarePlan(
        status=status,
        intent="plan",
        title="SIRT follow-up schedule",
        subject=_ref(patient),
        activity=activities or None,
    )


def record_bundle(record: RegistryRecord, settings: RegistrySettings) -> Bundle:
    """The FHIR Bundle (type collection) of one registry record."""
    b = _Builder(record)
    patient = b.add(_patient(record, settings), "patient")
    procs = [b.add(_procedure(t, patient), "procedure", t.number) for t in record.treatments]
    _observations(b, record, patient, procs)
    for i, ae in enumerate(record.adverse_events):
        b.add(
            AdverseEvent(
                actuality="actual",
                subject=_ref(patient),
                event={"text": ae.term},
                date=ae.onset_on.isoformat(),
                severity=_local(f"ctcae-grade-{ae.ctcae_grade}", f"CTCAE grade {ae.ctcae_grade}"),
                suspectEntity=[{"instance": _ref(procs[0])}],
            ),
            "ae",
            i,
        )
    for v in record.visits:
        if v.qlq_c30_items:
            b.add(_questionnaire(v, patient), "qlq-c30", v.visit_id)
    b.add(_care_plan(record, patient, record.schedule), "careplan")
    return Bundle(
        id=_uuid(record, "bundle"),
        type="collection",
        identifier={"system": settings.identifier_system, "value": record.record_id},
        entry=b.entries,
    )


def bundle_json(bundle: Bundle) -> str:
    """The bundle as compact JSON (what is posted and hashed on the wire)."""
    text: str = bundle.model_dump_json(exclude_none=True)
    return text
