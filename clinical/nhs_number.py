"""NHS number validation: 10 digits whose last digit is a modulus-11 check digit.

The check digit is computed from the first nine digits weighted 10 down to 2:
``check = 11 - (sum mod 11)``; 11 becomes 0 and 10 means no valid number has those nine digits.
Error messages never repeat the number: they may reach logs or Temporal failures, which must not
carry patient identifiers.
"""

_SEPARATORS = str.maketrans("", "", " -")
_WEIGHTS = range(10, 1, -1)


def _check_digit(first_nine: str) -> int | None:
    """Return the modulus-11 check digit for nine digits, or None when it would be 10."""
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def normalise_nhs_number(raw: str) -> str:
    """Return the NHS number as 10 bare digits, or raise ``ValueError`` saying what is wrong.

    Spaces and dashes are accepted as separators (``943 476 5919``, ``943-476-5919``).
    """
    digits = raw.strip().translate(_SEPARATORS)
    if digits and not (digits.isascii() and digits.isdigit()):
        raise ValueError("NHS number must have 10 digits (only digits, spaces and dashes)")
    if len(digits) != 10:
        raise ValueError(f"NHS number must have 10 digits (got {len(digits)})")
    expected = _check_digit(digits[:9])
    if expected is None:
        raise ValueError("NHS number check digit is wrong: no valid number has these first nine")
    if expected != int(digits[9]):
        raise ValueError(
            f"NHS number check digit is wrong: the first nine digits need {expected} at the end"
        )
    return digits


def is_valid_nhs_number(raw: str) -> bool:
    """True when ``raw`` is a well-formed NHS number with a correct check digit."""
    try:
        normalise_nhs_number(raw)
    except ValueError:
        return False
    return True


def format_nhs_number(raw: str) -> str:
    """Return the NHS number in the conventional 3-3-4 display form, e.g. ``943 476 5919``."""
    digits = normalise_nhs_number(raw)
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
