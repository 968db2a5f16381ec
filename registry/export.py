"""Registry exports: CSV (flat columns), JSON (full records) and FHIR Bundles."""

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from core.csvsafe import write_rows
from registry.config import RegistrySettings
from registry.fhir import bundle_json, record_bundle
from registry.record import RegistryRecord, load_records


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def records_csv(records: Sequence[RegistryRecord]) -> str:
    """One row per record, columns as in docs/registry-data-dictionary.md; lists joined by ';'."""
    columns = RegistryRecord.columns()
    rows = []
    for record in records:
        data = record.model_dump(mode="json", include=set(columns))
        rows.append([_cell(data[c]) for c in columns])
    return write_rows(columns, rows)


def records_json(records: Sequence[RegistryRecord]) -> str:
    """All records with their nested treatments, visits, adverse events and schedule."""
    return json.dumps([r.model_dump(mode="json") for r in records], indent=2, sort_keys=False)


def bundles_json(records: Sequence[RegistryRecord], settings: RegistrySettings) -> list[str]:
    """One FHIR Bundle (JSON) per record."""
    return [bundle_json(record_bundle(r, settings)) for r in records]


def export_csv(engine: Engine, settings: RegistrySettings | None = None) -> str:
    """CSV of every treated patient."""
    return records_csv(load_records(engine, settings or RegistrySettings()))


def export_json(engine: Engine, settings: RegistrySettings | None = None) -> str:
    """JSON of every treated patient."""
    return records_json(load_records(engine, settings or RegistrySettings()))
