"""NHS numbers are checked at referral: 10 digits with a modulus-11 check digit."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.nhs_number import format_nhs_number, is_valid_nhs_number, normalise_nhs_number


@pytest.mark.parametrize("raw", ["9434765919", "943 476 5919", "943-476-5919", " 943 476-5919 "])
def test_a_referral_may_write_the_number_with_spaces_or_dashes(raw: str) -> None:
    assert normalise_nhs_number(raw) == "9434765919"
    assert is_valid_nhs_number(raw)


def test_the_check_digit_is_worked_out_by_hand() -> None:
    # 9*10 + 4*9 + 3*8 + 4*7 + 7*6 + 6*5 + 5*4 + 9*3 + 1*2 = 299; 299 mod 11 = 2; 11 - 2 = 9.
    assert normalise_nhs_number("9434765919")[-1] == "9"


def test_a_mistyped_last_digit_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="NHS number check digit is wrong"):
        normalise_nhs_number("943 476 5918")
    assert not is_valid_nhs_number("9434765918")


@pytest.mark.parametrize(
    "raw",
    [
        "943476591",
        "94347659190",
        "",
        "943 476 591X",
        "\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19",
    ],
)
def test_anything_but_ten_digits_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="NHS number must have 10 digits"):
        normalise_nhs_number(raw)


def test_a_remainder_giving_eleven_means_check_digit_zero() -> None:
    # 2*10 + 1*2 = 22; 22 mod 11 = 0; 11 - 0 = 11 -> 0.
    assert normalise_nhs_number("2000000010") == "2000000010"


def test_nine_digits_whose_check_would_be_ten_never_make_a_valid_number() -> None:
    # 6*2 = 12; 12 mod 11 = 1; 11 - 1 = 10: no check digit can follow.
    for last in range(10):
        assert not is_valid_nhs_number(f"000000006{last}")
    with pytest.raises(ValueError, match="check digit is wrong"):
        normalise_nhs_number("0000000060")


def test_error_messages_do_not_repeat_the_patient_identifier() -> None:
    with pytest.raises(ValueError, match="check digit") as caught:
        normalise_nhs_number("9434765918")
    assert "943476591" not in str(caught.value)


def test_display_form_is_three_three_four() -> None:
    assert format_nhs_number("9434765919") == "943 476 5919"


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_last_digit_completes_a_number_unless_the_check_is_ten(first: str) -> None:
    valid = [digit for digit in "0123456789" if is_valid_nhs_number(first + digit)]
    assert len(valid) <= 1
    for digit in valid:
        assert normalise_nhs_number(f"{first[:3]} {first[3:6]} {first[6:]}{digit}") == first + digit
