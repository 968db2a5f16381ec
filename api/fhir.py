"""A FHIR R4 referral: a Bundle of one Patient and one ServiceRequest, mapped to a Referral.

Parsed and validated with fhir.resources' R4B models (R4B is R4 with fixes; Bundle, Patient and
ServiceRequest are the same shape). The mapping, also in docs/fhir-referral.md:

- Patient.identifier with system https://fhir.nhs.uk/Id/nhs-number -> NHS number
- Patient.name (the "official" one, else the first): family, first given name; Patient.birthDate
- ServiceRequest.authoredOn -> received on; ServiceRequest.requester.display -> referrer
- ServiceRequest.extension, url EXTENSION_BASE + name, for the clinical items (below)
- ServiceRequest.subject, if present, must reference the Patient in the Bundle
"""

from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from api.service import ErrorDetail, validation_detail
from core.clock import local_date
from models.referral import Referral

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
EXTENSION_BASE = "https://sirt-pathway.example/fhir/StructureDefinition/"

# Extension name -> Referral field; the value is read from whichever value[x] is set.
CLINICAL_EXTENSIONS: dict[str, str] = {
    "primary-site": "primary_site",  # valueCode: foregut, midgut, hindgut, pancreas, unknown
    "who-grade": "grade",  # valueInteger 1-3
    "ki67-percent": "ki67_pct",  # valueDecimal
    "carcinoid-syndrome": "carcinoid_syndrome",  # valueBoolean
    "flushes-per-day": "flushes_per_day",  # valueDecimal
    "stools-per-day": "stools_per_day",  # valueDecimal
    "baseline-chromogranin-a": "baseline_cga_ug_l",  # valueDecimal or valueQuantity, ug/L
    "baseline-5hiaa": "baseline_5hiaa_umol_24h",  # valueDecimal or valueQuantity, umol/24h
    "referring-trust": "referring_trust",  # valueString
}
# A prior therapy is a complex extension with sub-extensions kind, last-given-on, cycles.
PRIOR_THERAPY = "prior-therapy"
_PRIOR_PARTS = {"kind": "kind", "last-given-on": "last_given_on", "cycles": "cycles"}

# Where a Referral field came from, so an error names the FHIR element.
_PATIENT_LOCS: dict[str, list[str]] = {
    "nhs_number": ["Patient", "identifier"],
    "family_name": ["Patient", "name", "family"],
    "given_name": ["Patient", "name", "given"],
    "date_of_birth": ["Patient", "birthDate"],
}
_FIELD_EXTENSION = {field: name for name, field in CLINICAL_EXTENSIONS.items()}


class FhirError(ValueError):
    """The Bundle is not a referral we can read; ``detail`` names the elements at fault."""

    def __init__(self, detail: ErrorDetail) -> None:
        super().__init__("; ".join(d["msg"] for d in detail))
        self.detail = detail


def _error(loc: list[str | int], msg: str, kind: str = "value_error") -> FhirError:
    return FhirError([{"loc": ["body", *loc], "msg": msg, "type": kind}])


def _value(ext: Extension) -> Any:
    for name in (
        "valueCode",
        "valueString",
        "valueInteger",
        "valueDecimal",
        "valueBoolean",
        "valueDate",
    ):
        value = getattr(ext, name, None)
        if value is not None:
            return value
    quantity = getattr(ext, "valueQuantity", None)
    return quantity.value if quantity is not None else None


def referral_from_bundle(data: dict[str, Any]) -> Referral:
    """The Referral a FHIR Bundle describes; FhirError with field-level detail otherwise."""
    try:
        bundle = Bundle.model_validate(data)
    except ValidationError as exc:
        raise FhirError(validation_detail(exc)) from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # fhir.resources can fail outside pydantic on odd input; it is still bad input.
        raise _error([], f"not a valid FHIR Bundle ({type(exc).__name__})") from exc
    patients: list[tuple[str | None, Patient]] = []
    requests: list[ServiceRequest] = []
    for entry in bundle.entry or []:
        resource = entry.resource
        if isinstance(resource, Patient):
            patients.append((entry.fullUrl, resource))
        elif isinstance(resource, ServiceRequest):
            requests.append(resource)
    if len(patients) != 1:
        raise _error(["entry"], f"expected exactly one Patient, found {len(patients)}")
    if len(requests) != 1:
        raise _error(["entry"], f"expected exactly one ServiceRequest, found {len(requests)}")
    (full_url, patient), request = patients[0], requests[0]
    _check_subject(request, patient, full_url)
    fields: dict[str, Any] = {"patient": _identity(patient)}
    fields.update(_clinical(request))
    try:
        return Referral.model_validate(fields)
    except ValidationError as exc:
        raise FhirError(_fhir_locs(validation_detail(exc, prefix=()))) from exc


def _check_subject(request: ServiceRequest, patient: Patient, full_url: str | None) -> None:
    reference = request.subject.reference if request.subject else None
    if reference is None:
        return
    targets = {full_url, f"Patient/{patient.id}" if patient.id else None} - {None}
    if reference not in targets:
        raise _error(["ServiceRequest", "subject"], "does not reference the Patient in this Bundle")


def _identity(patient: Patient) -> dict[str, Any]:
    nhs = next(
        (i.value for i in patient.identifier or [] if i.system == NHS_NUMBER_SYSTEM and i.value),
        None,
    )
    names = patient.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    return {
        "nhs_number": nhs,
        "family_name": name.family if name else None,
        "given_name": (name.given or [None])[0] if name else None,
        "date_of_birth": patient.birthDate,
    }


def _clinical(request: ServiceRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if request.authoredOn is not None:
        authored = request.authoredOn
        # A timestamp is read as the centre's calendar date, as the workflow counts days.
        fields["received_on"] = local_date(authored) if isinstance(authored, datetime) else authored
    if request.requester is not None and request.requester.display:
        fields["referrer"] = request.requester.display
    # The requester's own identifier of the order: a resent Bundle carries it again, so it is
    # the referral key (see core.pathways.ReferralKey).
    reference = next((i for i in request.identifier or [] if i.value), None)
    if reference is not None:
        system = f"{reference.system}|" if reference.system else ""
        fields["referrer_reference"] = f"{system}{reference.value}"
    therapies = []
    for ext in request.extension or []:
        url = ext.url or ""
        name = url.removeprefix(EXTENSION_BASE) if url.startswith(EXTENSION_BASE) else None
        if name in CLINICAL_EXTENSIONS:
            fields[CLINICAL_EXTENSIONS[name]] = _value(ext)
        elif name == PRIOR_THERAPY:
            therapies.append(
                {
                    _PRIOR_PARTS[part.url]: _value(part)
                    for part in ext.extension or []
                    if part.url in _PRIOR_PARTS
                }
            )
    if therapies:
        fields["prior_therapies"] = therapies
    return fields


def _fhir_locs(detail: ErrorDetail) -> ErrorDetail:
    """Point Referral errors at the FHIR elements the values came from."""
    out = []
    for d in detail:
        loc = [str(p) for p in d["loc"]]
        if loc[:1] == ["patient"] and len(loc) > 1 and loc[1] in _PATIENT_LOCS:
            target: list[str | int] = list(_PATIENT_LOCS[loc[1]])
        elif loc and loc[0] in _FIELD_EXTENSION:
            target = ["ServiceRequest", "extension", _FIELD_EXTENSION[loc[0]]]
        elif loc[:1] == ["prior_therapies"]:
            target = ["ServiceRequest", "extension", PRIOR_THERAPY, *loc[1:]]
        elif loc[:1] == ["received_on"]:
            target = ["ServiceRequest", "authoredOn"]
        elif loc[:1] == ["referrer"]:
            target = ["ServiceRequest", "requester", "display"]
        elif loc[:1] == ["referrer_reference"]:
            target = ["ServiceRequest", "identifier"]
        else:
            target = list(loc)
        out.append({**d, "loc": ["body", *target]})
    return out
