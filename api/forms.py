"""HTML forms generated from a step's pydantic model, and form data parsed back into a payload.

One level of nested model becomes a fieldset of proper inputs; lists of text become a textarea
(one item per line); lists of flat objects and mappings of scalars (a lesion id to its diameter)
become repeatable rows; a questionnaire (``x-items`` in its schema) is one answer per item.
Anything deeper would be a JSON textarea, and no step's form has one (a test walks them all).
Validation errors come back as detail locs and are put next to their field.
"""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from pydantic import BaseModel

from models.dates import parse_uk_date
from models.labels import label_for, label_path

__all__ = ["label_for"]

Schema = dict[str, Any]


@dataclass
class FormField:
    """One input (or fieldset) of a generated form."""

    name: str
    label: str
    widget: str  # text, textarea, number, date, select, checkbox, tristate, lines, json, fieldset
    required: bool = False
    hint: str | None = None
    options: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    step: str | None = None
    max_length: int | None = None
    default: str = ""
    children: list["FormField"] = field(default_factory=list)
    keyed: bool = False  # rows of (key, value) read back as a mapping, not a list

    @property
    def dom_id(self) -> str:
        """An id usable in HTML and CSS selectors."""
        return "f-" + self.name.replace(".", "-")

    def walk(self) -> list["FormField"]:
        """This field and every field inside it."""
        return [self, *(f for c in self.children for f in c.walk())]


def _resolve(schema: Schema, defs: Schema) -> Schema:
    while "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    if "allOf" in schema and len(schema["allOf"]) == 1:
        inner = _resolve(schema["allOf"][0], defs)
        schema = {**inner, **{k: v for k, v in schema.items() if k != "allOf"}}
    return schema


def _unwrap_optional(schema: Schema, defs: Schema) -> tuple[Schema, bool]:
    """The non-null branch of ``X | None``, and whether null was allowed."""
    options = schema.get("anyOf")
    if options:
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            outer = {k: v for k, v in schema.items() if k != "anyOf"}
            merged = {**_resolve(rest[0], defs), **outer}
            return merged, len(rest) < len(options)
    return _resolve(schema, defs), False


def _json_hint(schema: Schema, defs: Schema) -> str:
    if schema.get("type") == "array":
        items = _resolve(schema.get("items", {}), defs)
        keys = ", ".join(items.get("properties", {}))
        return f"JSON list of objects with the keys: {keys}" if keys else "JSON list"
    return 'JSON object, for example {"L1": 23.5}'


def _field(name: str, schema: Schema, defs: Schema, required: bool, depth: int) -> FormField:
    schema, nullable = _unwrap_optional(schema, defs)
    short = name.rsplit(".", 1)[-1]
    f = FormField(
        name=name,
        label=label_for(short),
        widget="text",
        required=required,
        hint=schema.get("description"),
    )
    default = schema.get("default")
    if default is not None and not isinstance(default, (list, dict)):
        f.default = ("yes" if default else "no") if isinstance(default, bool) else str(default)
    kind = schema.get("type")
    if "properties" in schema and depth == 0:
        f.widget = "fieldset"
        inner_required = set(schema.get("required", []))
        f.children = [
            _field(f"{name}.{k}", v, defs, k in inner_required, depth + 1)
            for k, v in schema["properties"].items()
        ]
    elif "enum" in schema:
        f.widget, f.options = "select", [str(o) for o in schema["enum"]]
    elif kind == "string" and schema.get("format") == "date":
        f.widget = "date"
    elif kind == "string":
        f.max_length = schema.get("maxLength")
        f.widget = "textarea" if (f.max_length or 0) > 200 else "text"
    elif kind in ("integer", "number"):
        f.minimum = schema.get("minimum", schema.get("exclusiveMinimum"))
        f.maximum = schema.get("maximum", schema.get("exclusiveMaximum"))
        f.step = "1" if kind == "integer" else "any"
        small = f.minimum is not None and f.maximum is not None and f.maximum - f.minimum <= 10
        if kind == "integer" and small:
            assert f.minimum is not None and f.maximum is not None
            f.widget = "select"
            f.options = [str(i) for i in range(int(f.minimum), int(f.maximum) + 1)]
        else:
            f.widget = "number"
    elif kind == "boolean":
        f.widget = "tristate" if nullable else "checkbox"
    elif kind == "array" and _resolve(schema.get("items", {}), defs).get("type") == "string":
        f.widget = "lines"
        f.hint = "One per line." + (f" {f.hint}" if f.hint else "")
    elif kind == "object" and "x-items" in schema:
        f.widget, f.children = "fieldset", _item_fields(name, schema["x-items"])
    elif kind == "object" and (pairs := _pair_fields(name, schema, defs, depth)):
        f.widget, f.children, f.keyed = "rows", pairs, True
        f.hint = "One row each; leave rows you do not need empty." + (
            f" {f.hint}" if f.hint else ""
        )
    elif kind == "array" and (rows := _row_fields(name, schema, defs, depth)):
        f.widget, f.children = "rows", rows
        f.hint = "One row each; leave rows you do not need empty." + (
            f" {f.hint}" if f.hint else ""
        )
    else:
        f.widget = "json"
        f.hint = _json_hint(schema, defs) + (f". {f.hint}" if f.hint else "")
    return f


SCALAR_WIDGETS = {"text", "number", "select", "date", "checkbox", "tristate"}
MAX_ROWS = 10  # repeatable rows a form offers (no scripts: a fixed number of rows)


def _row_fields(name: str, schema: Schema, defs: Schema, depth: int) -> list[FormField] | None:
    """The columns of a list of small objects (prior therapies, injection positions, target
    lesions), or None when an item is not flat enough for a row of inputs."""
    items = _resolve(schema.get("items", {}), defs)
    props = items.get("properties")
    if items.get("type") != "object" or not props:
        return None
    required = set(items.get("required", []))
    columns = [_field(f"{name}.{k}", v, defs, k in required, depth + 1) for k, v in props.items()]
    return columns if all(c.widget in SCALAR_WIDGETS for c in columns) else None


def _pair_fields(name: str, schema: Schema, defs: Schema, depth: int) -> list[FormField] | None:
    """The two columns of a mapping typed as rows (a lesion's id, then its diameter), or None
    when its values are not scalars. The schema's ``x-key`` and ``x-value`` name them."""
    values = schema.get("additionalProperties")
    if not isinstance(values, dict) or schema.get("properties"):
        return None
    key_name, value_name = schema.get("x-key", "key"), schema.get("x-value", "value")
    key_max = schema.get("propertyNames", {}).get("maxLength")
    key = FormField(f"{name}.{key_name}", label_for(key_name), "text", True, max_length=key_max)
    value = _field(f"{name}.{value_name}", values, defs, False, depth + 1)
    return [key, value] if value.widget in SCALAR_WIDGETS else None


def _item_fields(name: str, items: list[dict[str, Any]]) -> list[FormField]:
    """A questionnaire as one answer per item (``x-items``: item, highest answer, scale)."""
    return [
        FormField(
            name=f"{name}.{i['item']}",
            label=f"{i['item']}. {i['scale']}",
            widget="select",
            options=[str(a) for a in range(1, int(i["max"]) + 1)],
        )
        for i in items
    ]


def row_name(column: FormField, index: int) -> str:
    """The form name of one cell: ``prior_therapies.0.kind`` for column ``prior_therapies.kind``."""
    parent, short = column.name.rsplit(".", 1)
    return f"{parent}.{index}.{short}"


def row_count(f: FormField, values: Mapping[str, str]) -> int:
    """Rows to show: those filled in, and two more (at least three, at most MAX_ROWS)."""
    used = [i for i in range(MAX_ROWS) for c in f.children if values.get(row_name(c, i))]
    return min(max((max(used) + 3) if used else 3, 3), MAX_ROWS)


def fields_for(model: type[BaseModel]) -> list[FormField]:
    """The form fields of a model, from its JSON schema."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    return [
        _field(name, prop, defs, name in required, 0)
        for name, prop in schema.get("properties", {}).items()
    ]


def _parse(f: FormField, form: Mapping[str, str], errors: dict[str, str]) -> tuple[bool, Any]:
    """(present, value) of one field from form data."""
    if f.widget == "fieldset":
        sub: dict[str, Any] = {}
        for child in f.children:
            present, value = _parse(child, form, errors)
            if present:
                sub[child.name.rsplit(".", 1)[-1]] = value
        return (bool(sub) or f.required), sub
    if f.widget == "rows":
        rows: list[dict[str, Any]] = []
        numbers: list[int] = []  # each row's number on the form
        for i in range(MAX_ROWS):
            row: dict[str, Any] = {}
            for c in f.children:
                cell = replace(c, name=row_name(c, i))
                present, value = _parse(cell, form, errors)
                if present and (c.widget != "checkbox" or value):
                    row[c.name.rsplit(".", 1)[-1]] = value
            if row:
                rows.append(row)
                numbers.append(i + 1)
        if f.keyed:
            return _mapping(f, zip(numbers, rows, strict=True), errors)
        return bool(rows), rows
    if f.widget == "checkbox":
        return True, f.name in form
    if f.widget == "date":
        return _parse_date(f, form, errors)
    raw = form.get(f.name, "").strip()
    if f.widget == "tristate":
        return (raw in ("yes", "no")), raw == "yes"
    if not raw:
        return False, None
    if f.widget == "lines":
        return True, [line.strip() for line in raw.splitlines() if line.strip()]
    if f.widget == "json":
        try:
            return True, json.loads(raw)
        except json.JSONDecodeError as exc:
            errors[f.name] = f"not valid JSON ({exc.msg} at line {exc.lineno})"
            return False, None
    return True, raw


DATE_PARTS = ("day", "month", "year")


def date_parts(values: Mapping[str, str], name: str, default: str = "") -> dict[str, str]:
    """What a date input's day, month and year boxes show: the boxes as submitted, else the
    field's ISO value (prefilled or default) split up, else empty boxes."""
    typed = {p: values.get(f"{name}-{p}", "") for p in DATE_PARTS}
    if any(typed.values()):
        return typed
    try:
        day = date.fromisoformat(values.get(name, default).strip())
    except ValueError:
        return typed
    return {"day": str(day.day), "month": str(day.month), "year": str(day.year)}


def _parse_date(
    f: FormField, form: Mapping[str, str], errors: dict[str, str]
) -> tuple[bool, str | None]:
    """(present, ISO date) from the date input's boxes ``<name>-day``, ``-month``, ``-year``;
    or from one box ``<name>`` (a repeatable row's cell, the API's form posts) typed the UK way
    (14/03/2026) or as ISO. Boxes that are incomplete or make no real date are an error naming
    the field, as the NHS date input pattern words it."""
    parts = {p: form.get(f"{f.name}-{p}", "").strip() for p in DATE_PARTS}
    if not any(parts.values()):
        raw = form.get(f.name, "").strip()
        if not raw:
            return False, None
        try:
            return True, parse_uk_date(raw).isoformat()
        except ValueError:
            return True, raw  # the model says what is wrong with it
    missing = [p for p in DATE_PARTS if not parts[p]]
    if missing:
        errors[f.name] = f"{f.label} must include a {' and '.join(missing)}"
        return False, None
    try:
        if not all(v.isdigit() for v in parts.values()) or len(parts["year"]) != 4:
            raise ValueError
        day = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        errors[f.name] = f"{f.label} must be a real date"
        return False, None
    return True, day.isoformat()


def _mapping(
    f: FormField, rows: Iterable[tuple[int, dict[str, Any]]], errors: dict[str, str]
) -> tuple[bool, dict[str, Any]]:
    """Rows of (key, value) as the mapping they stand for; a value without its key is an error."""
    key, value = (c.name.rsplit(".", 1)[-1] for c in f.children)
    out: dict[str, Any] = {}
    for n, row in rows:
        if not row.get(key):
            errors[f.name] = f"row {n}: give the {f.children[0].label}"
            continue
        out[str(row[key])] = row.get(value)
    return bool(out), out


def parse_form(
    fields: list[FormField], form: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The payload the form data describes, and errors for fields that could not be read."""
    payload: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        present, value = _parse(f, form, errors)
        if present:
            payload[f.name] = value
    return payload, errors


def errors_by_field(
    fields: list[FormField], detail: list[dict[str, Any]]
) -> tuple[dict[str, str], list[str]]:
    """API error detail mapped to form fields; what names no field becomes a form-level error,
    in the words of the shared label map (``models.labels``), as the API's ``label`` says."""
    names = {f.name for top in fields for f in top.walk()}
    by_field: dict[str, str] = {}
    general: list[str] = []
    for d in detail:
        loc = list(d.get("loc", []))[1:]  # drop "body"
        parts = [str(p) for p in loc]
        label = str(d.get("label") or "")
        # The API's msg names the field in words; next to the field it need not.
        msg = str(d.get("msg", "invalid")).removeprefix(f"{label}: " if label else "")
        target = None
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in names:
                target = candidate
                rest = label_path(loc[n:])  # a cell of repeatable rows: "row 2 > Activity"
                msg = f"{rest}: {msg}" if rest else msg
                break
        if target is None:
            label = label or label_path(loc)
            general.append(f"{label}: {msg}" if label else msg)
        else:
            by_field[target] = f"{by_field[target]}; {msg}" if target in by_field else msg
    return by_field, general


def form_values(form: Mapping[str, str]) -> dict[str, str]:
    """Submitted values to re-fill the form with (passwords and the CSRF token left out)."""
    return {k: v for k, v in form.items() if not re.match(r"^(csrf_token|password)$", k)}
