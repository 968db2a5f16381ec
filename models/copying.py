"""A deep copy of the pathway's state, several times faster than ``model_copy(deep=True)``.

Every step copies the state: its validator tries the step on a copy, its handler applies it
to another. ``copy.deepcopy`` walks dates, datetimes and enums through ``__reduce_ex__`` and
its memo, and was a tenth of the worker's time (docs/decisions.md, "Scale"). The state is a
tree of models, lists, dicts and immutable values, with nothing shared and no cycles, so it
is copied here by walking that tree; any other type falls back to ``copy.deepcopy``.
"""

import copy
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)
_Copier = Callable[[Any], Any]


def deep_copy(model: _M) -> _M:
    """An independent copy of ``model``: changing one never changes the other."""
    copied: _M = _copy_model(model)
    return copied


def _copy(value: Any) -> Any:
    copier = _COPIERS.get(type(value)) or _copier_for(type(value))
    return value if copier is _shared else copier(value)


def _copier_for(kind: type) -> _Copier:
    """How values of a type met for the first time are copied, remembered by exact type.

    issubclass once per type, not isinstance per value: the workflow sandbox routes every
    isinstance call through a Python wrapper.
    """
    if issubclass(kind, Enum):
        copier: _Copier = _shared
    elif issubclass(kind, BaseModel):
        copier = _copy_model
    else:
        copier = copy.deepcopy
    _COPIERS[kind] = copier
    return copier


def _shared(value: Any) -> Any:
    """Immutable: the copy shares it."""
    return value


def _copy_model(model: Any) -> Any:
    # What pydantic's own __deepcopy__ sets, with the field values copied by _copy.
    new = model.__class__.__new__(model.__class__)
    setattr_ = object.__setattr__
    fields = {}
    for k, v in model.__dict__.items():  # _copy inlined: most values are shared
        copier = _COPIERS.get(type(v)) or _copier_for(type(v))
        fields[k] = v if copier is _shared else copier(v)
    setattr_(new, "__dict__", fields)
    setattr_(new, "__pydantic_fields_set__", set(model.__pydantic_fields_set__))
    extra = model.__pydantic_extra__
    setattr_(new, "__pydantic_extra__", None if extra is None else _copy(extra))
    private = model.__pydantic_private__
    setattr_(new, "__pydantic_private__", None if private is None else _copy(private))
    return new


_IMMUTABLE = (str, int, float, bool, bytes, type(None), date, datetime, time, timedelta, Decimal)
_COPIERS: dict[type, _Copier] = {
    **dict.fromkeys(_IMMUTABLE, _shared),
    list: lambda v: [_copy(x) for x in v],
    dict: lambda v: {k: _copy(x) for k, x in v.items()},
    tuple: lambda v: tuple(_copy(x) for x in v),
    set: lambda v: {_copy(x) for x in v},
}
