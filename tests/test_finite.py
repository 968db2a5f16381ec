"""NaN and infinity are refused at every boundary through one base-model setting.

Walks every pydantic model defined in the packages that parse input (clinical rules, payloads,
state, workflow input, API schemas) and, for each field with a float in its type, submits NaN,
+inf and -inf (bare, in a list and as a mapping value): each must fail as "finite_number" at
that field. Database tables (SQLModel ``table=True``) are projections written by activities,
never parsed from a caller, and are not walked.
"""

import importlib
import inspect
import math
import pkgutil
import typing
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import clinical
import models
from clinical.finite import Finite

_PACKAGES: tuple[ModuleType, ...] = (clinical, models)
_MODULES = ("api.schemas", "cli.dosimetry")


def _modules() -> list[ModuleType]:
    found = [importlib.import_module(name) for name in _MODULES]
    for package in _PACKAGES:
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            found.append(importlib.import_module(info.name))
    return found


def _models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for module in _modules():
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if not issubclass(obj, BaseModel) or obj.__module__ != module.__name__:
                continue
            if getattr(obj, "model_config", {}).get("table"):
                continue
            seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [seen[k] for k in sorted(seen)]


def _has_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    return any(_has_float(arg) for arg in typing.get_args(annotation))


FLOAT_FIELDS = [
    pytest.param(model, name, id=f"{model.__name__}.{name}")
    for model in _models()
    for name, info in model.model_fields.items()
    if _has_float(info.annotation)
]


def test_every_model_derives_from_the_finite_base() -> None:
    models_found = _models()
    assert len(models_found) > 40
    assert [m.__name__ for m in models_found if not issubclass(m, Finite)] == []


def test_there_are_float_fields_to_check() -> None:
    assert len(FLOAT_FIELDS) > 100


@pytest.mark.parametrize(("model", "name"), FLOAT_FIELDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_every_float_field_refuses_nan_and_infinity(
    model: type[BaseModel], name: str, bad: float
) -> None:
    refused = False
    for value in (bad, [bad], {"1": bad}):
        with pytest.raises(ValidationError) as info:
            model.model_validate({name: value})
        refused = refused or any(
            e["type"] == "finite_number" and e["loc"][:1] == (name,) for e in info.value.errors()
        )
    assert refused, f"{model.__name__}.{name} accepted {bad}"
