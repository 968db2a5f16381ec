"""Realistic step payloads for the pathway stories the tests tell.

The step builders are ``demo.examples`` (the benchmarks send the same pathway); here are what
only tests need: a fresh NHS number per referral, since the test database is shared.
"""

import itertools
from datetime import date
from typing import Any

from clinical.nhs_number import _check_digit
from demo.examples import (
    PATIENT,
    PLANNED_GBQ,
    lsf_for_lung_dose,
    mdt,
    plan,
    treatment,
    visit,
    workup,
)
from demo.examples import referral as referral_data
from models.referral import Referral

__all__ = [
    "PATIENT",
    "PLANNED_GBQ",
    "date",
    "fresh_nhs_number",
    "lsf_for_lung_dose",
    "mdt",
    "plan",
    "referral",
    "treatment",
    "visit",
    "workup",
]

_SERIAL = itertools.count(400_000_000)


def fresh_nhs_number() -> str:
    """A valid NHS number no earlier call returned: a second open pathway for one NHS number
    is refused, and the test database is shared by the whole run."""
    while True:
        nine = f"{next(_SERIAL):09d}"
        check = _check_digit(nine)
        if check is not None:
            return nine + str(check)


def referral(**overrides: Any) -> Referral:
    """A complete referral of a midgut NET patient (a fresh NHS number each time unless a
    patient is given), with any field overridden."""
    patient = {**PATIENT, "nhs_number": fresh_nhs_number()}
    return Referral.model_validate(referral_data(**{"patient": patient, **overrides}))
