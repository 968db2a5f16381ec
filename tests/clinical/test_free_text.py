"""The identifier screen on free text: NHS-number patterns and the patient's own names."""

from clinical.free_text import identifier_hits

NAMES = ["Testpatient", "Ann"]


def test_nhs_number_patterns_in_any_free_text_field_at_any_depth() -> None:
    payload = {
        "reason": "ok",
        "labs": {"note": "ref 4857773456"},
        "events": [{"cause_of_death": "see 485-777-3456"}],
        "count": 4857773456,  # not free text: numbers are checked by their own rules
        "site": "485 777 3456",  # not a free-text key
    }
    assert [where for where, _ in identifier_hits(payload, NAMES)] == [
        ("labs", "note"),
        ("events", 0, "cause_of_death"),
    ]


def test_the_patients_names_as_words_only() -> None:
    assert identifier_hits({"reason": "Annual review declined"}, NAMES) == []
    [(where, msg)] = identifier_hits({"reason": "ann declined"}, NAMES)
    assert where == ("reason",) and msg.startswith("it contains the patient's name")
    assert identifier_hits({"reason": "12345 6789 units"}, NAMES) == []
