"""EORTC QLQ-C30 and QLQ-GI.NET21 scores, by the scoring manual's linear transformation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.errors import ClinicalRuleError
from clinical.qlq_c30 import QLQ_C30_SCALES, ScaleKind, score_qlq_c30
from clinical.qlq_ginet21 import QLQ_GINET21_SCALES, score_qlq_ginet21

C30_CODES = [
    "QL2",
    "PF2",
    "RF2",
    "EF",
    "CF",
    "SF",
    "FA",
    "NV",
    "PA",
    "DY",
    "SL",
    "AP",
    "CO",
    "DI",
    "FI",
]


def _answers(symptom: int, global_: int) -> dict[int, int | None]:
    answers: dict[int, int | None] = dict.fromkeys(range(1, 29), symptom)
    return answers | {29: global_, 30: global_}


def test_all_fifteen_scales_are_scored_in_manual_order() -> None:
    assert list(score_qlq_c30(_answers(1, 7))) == C30_CODES
    assert [scale.code for scale in QLQ_C30_SCALES] == C30_CODES


def test_a_patient_with_no_problems_and_excellent_quality_of_life() -> None:
    scores = score_qlq_c30(_answers(1, 7))
    for scale in QLQ_C30_SCALES:
        expected = 0.0 if scale.kind is ScaleKind.SYMPTOM else 100.0
        assert scores[scale.code] == expected


def test_worked_example_from_the_transformation() -> None:
    answers = _answers(1, 7)
    answers.update({1: 2, 2: 3, 3: 1, 4: 1, 5: 1})  # PF2 raw (2+3+1+1+1)/5 = 1.6
    answers.update({10: 3, 12: 2, 18: 4})  # FA raw 3.0
    answers.update({29: 5, 30: 4})  # QL2 raw 4.5
    scores = score_qlq_c30(answers)
    assert scores["PF2"] == pytest.approx(100 * (1 - (1.6 - 1) / 3), abs=0.01)  # 80.00
    assert scores["FA"] == pytest.approx(100 * (3.0 - 1) / 3, abs=0.01)  # 66.67
    assert scores["QL2"] == pytest.approx(100 * (4.5 - 1) / 6, abs=0.01)  # 58.33


def test_a_scale_half_answered_is_scored_from_the_answered_items() -> None:
    answers: dict[int, int | None] = dict(_answers(1, 7))
    answers.update({1: 4, 2: 4, 3: 1, 4: None, 5: None})  # 3 of 5 answered: raw 3.0
    answers.update({6: 3, 7: None})  # 1 of 2 answered: exactly half
    scores = score_qlq_c30(answers)
    assert scores["PF2"] == pytest.approx(33.33, abs=0.01)
    assert scores["RF2"] == pytest.approx(33.33, abs=0.01)


def test_a_scale_less_than_half_answered_is_missing() -> None:
    answers: dict[int, int | None] = dict(_answers(2, 4))
    for item in (1, 2, 3):
        answers[item] = None  # 2 of 5 physical functioning items answered
    del answers[8]  # the single dyspnoea item
    scores = score_qlq_c30(answers)
    assert scores["PF2"] is None
    assert scores["DY"] is None
    assert scores["SL"] == pytest.approx(33.33, abs=0.01)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({1: 5}, "item 1 must be between 1 and 4"),
        ({28: 0}, "item 28 must be between 1 and 4"),
        ({29: 8}, "item 29 must be between 1 and 7"),
        ({31: 1}, "item 31 is not part of this questionnaire"),
        ({3: True}, "item 3 must be a whole number"),
    ],
)
def test_out_of_range_answers_are_refused(answers: dict[int, int], message: str) -> None:
    with pytest.raises(ClinicalRuleError, match=message):
        score_qlq_c30(answers)


def test_the_seven_point_global_items_accept_7() -> None:
    assert score_qlq_c30({29: 7, 30: 1})["QL2"] == 50.0


c30_answers = st.fixed_dictionaries(
    {item: st.none() | st.integers(1, 4) for item in range(1, 29)}
    | {item: st.none() | st.integers(1, 7) for item in (29, 30)}
)


@given(c30_answers)
def test_every_qlq_c30_score_is_between_0_and_100(answers: dict[int, int | None]) -> None:
    for score in score_qlq_c30(answers).values():
        assert score is None or 0 <= score <= 100


def test_ginet21_scales_use_the_documented_item_mapping() -> None:
    mapping = {scale.code: scale.items for scale in QLQ_GINET21_SCALES}
    assert mapping["ED"] == (31, 32, 33)
    assert mapping["GI"] == (34, 35, 36, 37, 38)
    assert mapping["TR"] == (39, 40, 42)
    assert mapping["WG"] == (41,)
    covered = sorted(item for items in mapping.values() for item in items)
    assert covered == list(range(31, 52))  # each of the 21 items in exactly one scale


def test_ginet21_symptom_scores() -> None:
    answers: dict[int, int | None] = dict.fromkeys(range(31, 52), 1)
    answers.update({31: 4, 32: 3, 33: 2})  # endocrine raw 3.0 -> 66.67
    answers[39] = None  # not on treatment: TR from items 40 and 42
    scores = score_qlq_ginet21(answers)
    assert scores["ED"] == pytest.approx(66.67, abs=0.01)
    assert scores["TR"] == 0.0
    assert scores["GI"] == 0.0


def test_ginet21_refuses_core_items() -> None:
    with pytest.raises(ClinicalRuleError, match="item 30 is not part"):
        score_qlq_ginet21({30: 1})


@given(st.fixed_dictionaries({item: st.none() | st.integers(1, 4) for item in range(31, 52)}))
def test_every_ginet21_score_is_between_0_and_100(answers: dict[int, int | None]) -> None:
    for score in score_qlq_ginet21(answers).values():
        assert score is None or 0 <= score <= 100
