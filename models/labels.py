"""The clinical words for field names: one map for the pages, the API's errors and the CLI.

A pure module (no IO, no imports beyond the standard library) so the API, the CLI, the reports
and the workflows' transitions (which run in Temporal's sandbox) can all use it. Refusals and
validator messages start with the field they are about ("labs.bilirubin_umol_l: ..."); that
path is turned into words here ("Labs > Bilirubin (µmol/L)").
"""

import re
from collections.abc import Sequence

# Words shown in capitals, and unit suffixes shown as units.
_ACRONYMS = {
    "ecog": "ECOG",
    "inr": "INR",
    "alt": "ALT",
    "ast": "AST",
    "alp": "ALP",
    "ggt": "GGT",
    "wbc": "WBC",
    "egfr": "eGFR",
    "mdt": "MDT",
    "net": "NET",
    "nhs": "NHS",
    "cga": "CgA",
    "5hiaa": "5-HIAA",
    "hiaa": "5-HIAA",
    "ki67": "Ki-67",
    "qlq": "QLQ",
    "c30": "C30",
    "recist": "RECIST",
    "mrecist": "mRECIST",
    "prs": "PRS",
    "ltfu": "LTFU",
    "ctcae": "CTCAE",
    "id": "ID",
}
_UNITS = [
    ("_umol_24h", "µmol/24 h"),
    ("_umol_l", "µmol/L"),
    ("_ug_l", "µg/L"),
    ("_10e9_l", "\u00d710\u2079/L"),  # x10^9/L
    ("_ml_min", "mL/min"),
    ("_g_l", "g/L"),
    ("_u_l", "U/L"),
    ("_pct", "%"),
    ("_mbq", "MBq"),
    ("_gbq", "GBq"),
    ("_gy", "Gy"),
    ("_ml", "mL"),
    ("_mm", "mm"),
    ("_cm", "cm"),
    ("_kg", "kg"),
]
# Names whose words the rule above would not find.
LABELS = {
    "ecog": "ECOG performance status (0-4)",
    "child_pugh_score": "Child-Pugh score",
    "net_experienced_mdt": "The MDT is experienced in neuroendocrine tumours",
    "attendees": "Attendees",
    "decision": "Decision",
    "nhs_number": "NHS number",
    "grade": "WHO grade",
    "labs": "Blood results",
    "override_reason": "Reason for the override",
    "excess_activity_reason": "Reason more activity was given than planned",
    "supplied": "Items the referral lacked",
    "target_lesions_mm": "Target lesions (longest diameter, mm)",
    "viable_target_lesions_mm": "Viable target lesions (mRECIST, mm)",
    "qlq_c30": "EORTC QLQ-C30 answers (1 not at all to 4 very much; 29-30: 1 very poor to 7 "
    "excellent)",
    "complete": "The referral is complete",
    "missing_items": "Still missing",
    "lesion_id": "Lesion ID",
    "baseline_mm": "Baseline diameter (mm)",
    "nodal": "Lymph node",
    "activity_gbq": "Activity (GBq)",
    "predicted_lung_dose_gy": "Lung dose (Gy)",
    "predicted_perfused_dose_gy": "Perfused liver dose (Gy)",
    "predicted_tumour_dose_gy": "Tumour dose (Gy)",
    "predicted_normal_liver_dose_gy": "Normal liver dose (Gy)",
    "lung_shunt_fraction": "Lung shunt fraction (0-1)",
    "physicist_signoff": "Physicist sign-off",
    "scheduled_on": "Booked date",
    "performed_on": "Date performed",
    "stage": "Stage",
}
# "field.path: message", the form of model-level validator and Update refusal messages.
FIELD_MESSAGE = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (?P<msg>.+)$", re.S)
SEPARATOR = " > "


def label_for(name: str) -> str:
    """A readable label for a field name, with units and acronyms."""
    if name in LABELS:
        return LABELS[name]
    unit = None
    for suffix, shown in _UNITS:
        if name.endswith(suffix):
            name, unit = name.removesuffix(suffix), shown
            break
    words = [_ACRONYMS.get(w, w) for w in name.split("_")]
    if words and words[0] not in _ACRONYMS.values():
        words[0] = words[0][:1].upper() + words[0][1:]
    text = " ".join(words)
    return f"{text} ({unit})" if unit else text


def label_path(parts: Sequence[str | int]) -> str:
    """A field path in words: ("labs", "bilirubin_umol_l") -> "Blood results > Bilirubin
    (µmol/L)"; a list index is a row ("Positions > row 2 > Activity (GBq)")."""
    words = []
    for part in parts:
        text = str(part)
        words.append(f"row {int(text) + 1}" if text.isdigit() else label_for(text))
    return SEPARATOR.join(words)


def split_field_message(message: str) -> tuple[list[str], str]:
    """The field path a message starts with (empty if none) and the rest of the message."""
    match = FIELD_MESSAGE.match(message)
    if match is None:
        return [], message
    return match["field"].split("."), match["msg"]


def readable(message: str) -> str:
    """A refusal or validator message with its leading field path in words:
    "override_reason: give a reason" -> "Reason to proceed despite the limit: give a reason"."""
    path, rest = split_field_message(message)
    return f"{label_path(path)}: {rest}" if path else message
