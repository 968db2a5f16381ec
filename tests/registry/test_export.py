"""Registry records: pseudonymised CSV, JSON and FHIR exports of the treated patients."""

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Engine

from registry.config import RegistryConfigError, RegistrySettings
from registry.export import bundles_json, records_csv, records_json
from registry.record import RegistryRecord, load_records, pseudonym
from tests.reports.support import SEEDED_NAMES, SEEDED_NHS, fresh_postgres, insert_audit_cohort

SETTINGS = RegistrySettings(pseudonym_secret="test-secret", _env_file=None)
DICTIONARY = Path(__file__).resolve().parents[2] / "docs" / "registry-data-dictionary.md"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with fresh_postgres() as engine:
        insert_audit_cohort(engine)
        yield engine


@pytest.fixture(scope="module")
def records(engine: Engine) -> list[RegistryRecord]:
    return load_records(engine, SETTINGS)


def test_one_record_per_treated_patient(records: list[RegistryRecord]) -> None:
    assert len(records) == 6  # pg was referred but never treated
    by_id = {r.record_id: r for r in records}
    f = by_id[pseudonym("pf", SETTINGS)]
    assert str(f.first_treatment_on) == "2025-04-01"  # the amended date
    assert (f.response_3m, f.grade3_clinical_toxicity, f.died_on is not None) == ("PR", True, True)
    a = by_id[pseudonym("pa", SETTINGS)]
    assert (a.primary_site, a.ecog, a.tumour_burden_over_threshold, a.extent) == (
        "midgut",
        1,
        True,
        "bilobar",
    )
    assert (a.device, a.activity_gbq, a.prior_therapies) == ("resin_y90", 1.8, ["ssa"])
    assert (a.os_days, a.os_event, a.hepatic_pfs_days, a.hepatic_pfs_event) == (
        200,
        True,
        151,
        True,
    )
    assert (a.prs, a.max_lab_ctcae_grade, a.qlq_c30_global_first, a.qlq_c30_global_3m) == (
        True,
        3,
        50.0,
        75.0,
    )


def test_pseudonym_is_a_keyed_hash() -> None:
    p = pseudonym("pa", SETTINGS)
    assert re.fullmatch(r"[0-9a-f]{24}", p)
    assert p == pseudonym("pa", SETTINGS) != pseudonym("pb", SETTINGS)
    other = SETTINGS.model_copy(update={"pseudonym_secret": None})
    with pytest.raises(RegistryConfigError, match="pseudonym_secret"):
        pseudonym("pa", other)
    as_id = SETTINGS.model_copy(update={"pseudonym_mode": "pathway_id"})
    assert pseudonym("pa", as_id) == "pa"


def test_exports_carry_no_name_or_nhs_number(records: list[RegistryRecord]) -> None:
    texts = [records_csv(records), records_json(records), *bundles_json(records, SETTINGS)]
    for text in texts:
        for secret in (*SEEDED_NAMES, SEEDED_NHS, "943 476 5919", "1958-03-14"):
            assert secret not in text
        for pid in ("pa", "pb", "pc"):
            assert f'"{pid}"' not in text


def test_identifiers_only_when_configured(engine: Engine) -> None:
    identified = SETTINGS.model_copy(update={"include_identifiers": True})
    records = load_records(engine, identified)
    assert {r.nhs_number for r in records} == {SEEDED_NHS}
    bundle = json.loads(bundles_json(records[:1], identified)[0])
    patient = bundle["entry"][0]["resource"]
    assert {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": SEEDED_NHS} in patient[
        "identifier"
    ]
    assert "name" not in patient


def test_every_bundle_validates(records: list[RegistryRecord]) -> None:
    for text in bundles_json(records, SETTINGS):
        bundle = Bundle.model_validate_json(text)
        kinds = {e.resource.get_resource_type() for e in bundle.entry or [] if e.resource}
        assert {"Patient", "Procedure", "Observation", "CarePlan"} <= kinds
    texts = bundles_json(records, SETTINGS)
    kinds = set()
    for text in texts:
        kinds |= {e["resource"]["resourceType"] for e in json.loads(text)["entry"]}
    assert kinds == {
        "Patient",
        "Procedure",
        "Observation",
        "AdverseEvent",
        "QuestionnaireResponse",
        "CarePlan",
    }


def test_bundle_contents(records: list[RegistryRecord]) -> None:
    a = next(r for r in records if r.record_id == pseudonym("pa", SETTINGS))
    bundle = json.loads(bundles_json([a], SETTINGS)[0])
    resources = [e["resource"] for e in bundle["entry"]]
    patient = resources[0]
    assert patient["identifier"] == [{"system": SETTINGS.identifier_system, "value": a.record_id}]
    assert patient["deceasedDateTime"] == "2025-07-20"
    labs = [r for r in resources if r["resourceType"] == "Observation" and "component" in r]
    bilirubin = next(r for r in labs if r["code"]["coding"][0]["code"] == "14631-6")
    assert bilirubin["valueQuantity"]["value"] == 70
    assert bilirubin["component"][0]["valueInteger"] == 3
    (qlq,) = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    answers = {i["linkId"]: i["answer"][0] for i in qlq["item"]}
    assert (answers["29"], answers["30"]) == ({"valueInteger": 5}, {"valueInteger": 6})
    assert answers["score-QL2"] == {"valueDecimal": 75.0}
    # Same record, same bytes: the bundle is deterministic.
    assert bundles_json([a], SETTINGS) == bundles_json([a], SETTINGS)


def test_csv_columns_match_the_data_dictionary(records: list[RegistryRecord]) -> None:
    header = next(csv.reader(io.StringIO(records_csv(records))))
    assert header == RegistryRecord.columns()
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", DICTIONARY.read_text(), re.MULTILINE)
    assert [c for c in documented if c in header] == header
    missing = set(header) - set(documented)
    assert not missing, f"undocumented columns: {sorted(missing)}"
