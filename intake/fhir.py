"""FHIR R4 resources (validated by fhir.resources) to pathway steps, as HL7v2 messages are.

Accepted: an Observation, a Bundle of Observations (one patient, one results step) and a
Patient with deceased[x]. The patient is named by ``subject.identifier`` / ``identifier`` in
the NHS number system; LOINC codings and units go through the same table as HL7v2.
"""

import json
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from clinical.nhs_number import normalise_nhs_number
from core.clock import local_date
from intake.instruction import Instruction, Malformed
from intake.loinc import IntakeConfig, convert, results_payload
from models.steps import ReportedDeath

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
LOINC_SYSTEM = "http://loinc.org"
_RESULT_STATUSES = {"final", "amended", "corrected"}
KINDS = ("Observation", "Bundle", "Patient")


def resource_of(raw: bytes) -> dict[str, Any]:
    """The JSON object sent; Malformed if it is none."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise Malformed("body: not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("body: a FHIR resource is a JSON object")
    return data


def _validated(cls: Any, data: dict[str, Any]) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in (data.get("resourceType", "body"), *err["loc"]))
        raise Malformed(f"{where}: {err['msg']}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Malformed(f"{data.get('resourceType')}: not valid ({type(exc).__name__})") from None


def _nhs(identifiers: list[Identifier] | None, element: str) -> str:
    for ident in identifiers or []:
        if ident.system == NHS_NUMBER_SYSTEM and ident.value:
            try:
                return normalise_nhs_number(ident.value)
            except ValueError as exc:
                raise Malformed(f"{element}: {exc}") from None
    raise Malformed(f"{element}: no identifier in the system {NHS_NUMBER_SYSTEM}")


def _day(value: datetime | date) -> date:
    return local_date(value) if isinstance(value, datetime) else value


def _observation(
    obs: Observation, config: IntakeConfig, where: str, values: dict[str, float]
) -> tuple[str, date | None]:
    """Adds the observation's value (if its code is mapped) to ``values``; its patient, day."""
    subject = obs.subject.identifier if obs.subject else None
    nhs = _nhs([subject] if subject else None, f"{where}.subject.identifier")
    if obs.code is None:  # fhir.resources lets an explicit null through
        raise Malformed(f"{where}.code: Field required")
    codes = [c.code for c in obs.code.coding or [] if c.system == LOINC_SYSTEM and c.code]
    mapping = next((config.loinc[c] for c in codes if c in config.loinc), None)
    if mapping is None or obs.status not in _RESULT_STATUSES:
        return nhs, None
    quantity = obs.valueQuantity
    if quantity is None or quantity.value is None:
        raise Malformed(f"{where}.valueQuantity: {mapping.name} needs a value")
    unit = quantity.code or quantity.unit or ""
    converted = convert(mapping, float(quantity.value), unit)
    if converted is None:
        known = ", ".join(u or "(none)" for u in mapping.units)
        raise Malformed(
            f"{where}.valueQuantity.code: unit {unit!r} of {mapping.name}; accepted: {known}"
        )
    values[mapping.field] = converted
    when = obs.effectiveDateTime or obs.issued
    if when is None:
        raise Malformed(f"{where}.effectiveDateTime: when was the sample taken?")
    return nhs, _day(when)


def _results(observations: list[tuple[str, Observation]], config: IntakeConfig) -> Instruction:
    values: dict[str, float] = {}
    patients: set[str] = set()
    days: list[date] = []
    for where, obs in observations:
        nhs, day = _observation(obs, config, where, values)
        patients.add(nhs)
        if day is not None:
            days.append(day)
    if len(patients) != 1:
        raise Malformed("Bundle.entry: the Observations must all be of one patient")
    nhs = patients.pop()
    if not values:
        return Instruction("Observation", nhs, None, None, "no result of a mapped test")
    try:
        payload = results_payload("fhir", max(days), values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Malformed(f"Observation.valueQuantity.value: {err['msg']}") from None
    return Instruction("Observation", nhs, "external-results", payload)


def _patient(patient: Patient) -> Instruction:
    nhs = _nhs(patient.identifier, "Patient.identifier")
    died = patient.deceasedDateTime
    if died is None and not patient.deceasedBoolean:
        return Instruction("Patient", nhs, None, None, "no death reported (deceased[x])")
    payload = ReportedDeath(source="fhir", died_on=_day(died) if died else None)
    return Instruction("Patient", nhs, "report-death", payload)


def instruction(data: dict[str, Any], config: IntakeConfig) -> Instruction:
    """What the resource asks of the pathway; Malformed naming the element otherwise."""
    kind = data.get("resourceType")
    if kind == "Observation":
        return _results([("Observation", _validated(Observation, data))], config)
    if kind == "Patient":
        return _patient(_validated(Patient, data))
    if kind == "Bundle":
        bundle: Bundle = _validated(Bundle, data)
        entries = [e.resource for e in bundle.entry or []]
        observations = [
            (f"Bundle.entry.{i}.resource", r)
            for i, r in enumerate(entries)
            if isinstance(r, Observation)
        ]
        if not observations or len(observations) != len(entries):
            raise Malformed("Bundle.entry: a results Bundle holds Observations only")
        return _results(observations, config)
    raise Malformed(f"resourceType: {kind!r} is not taken; accepted: {', '.join(KINDS)}")


def control_id(data: dict[str, Any]) -> str:
    """The resource's id: it keys the message, so a resend is applied once."""
    value = data.get("id")
    if not isinstance(value, str) or not value:
        raise Malformed("id: the resource needs an id (a resend with it is applied once)")
    return value
