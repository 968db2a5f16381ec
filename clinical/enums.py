"""Vocabularies shared by the configuration and the rule modules.

They live apart from the rules so that ``config`` can key tables on them without importing
the rule modules (which themselves import ``config``).
"""

from enum import StrEnum


class Device(StrEnum):
    """Microsphere device; it fixes the dose constant and the normal-liver limit."""

    RESIN_Y90 = "resin_y90"
    GLASS_Y90 = "glass_y90"
    HO166 = "ho166"


class DosimetryMethod(StrEnum):
    """How the prescribed activity was planned."""

    BSA = "bsa"
    MIRD = "mird"
    PARTITION = "partition"
    VOXEL = "voxel"


class Nuclide(StrEnum):
    """Radionuclides whose activity the pathway decay-corrects."""

    Y90 = "y90"
    HO166 = "ho166"
    TC99M = "tc99m"


class LabTest(StrEnum):
    """Laboratory tests graded by CTCAE v5 here, with the unit each value is taken in."""

    BILIRUBIN = "bilirubin"  # umol/L
    ALT = "alt"  # U/L
    AST = "ast"  # U/L
    ALP = "alp"  # U/L
    ALBUMIN = "albumin"  # g/L
    PLATELETS = "platelets"  # x10^9/L
    GGT = "ggt"  # U/L
    INR = "inr"  # ratio


class ClockKind(StrEnum):
    """NHS cancer waiting-time clocks a centre may apply to a SIRT patient."""

    DAYS_31 = "31-day"  # decision to treat -> first treatment
    DAYS_62 = "62-day"  # urgent referral -> first definitive treatment
