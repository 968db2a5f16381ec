"""The registry's referral is the one sent with the items the coordinator typed in at triage."""

from typing import Any

from registry.record import _referral


def test_items_supplied_at_triage_fill_the_referral_the_registry_reads() -> None:
    outcomes: list[tuple[str, dict[str, Any]]] = [
        ("referral", {"primary_site": "midgut", "grade": None, "ki67_pct": None}),
        ("triage", {"complete": False, "supplied": {"grade": 2, "ki67_pct": None}}),
        ("triage", {"complete": False, "supplied": {"grade": None, "ki67_pct": 12.5}}),
        ("triage", {"complete": True, "missing_items": []}),  # recorded before `supplied`
    ]
    assert _referral(outcomes) == {"primary_site": "midgut", "grade": 2, "ki67_pct": 12.5}
