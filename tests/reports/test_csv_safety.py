"""No CSV the app writes can make a spreadsheet run a formula (CSV injection)."""

import csv
import io

from core.csvsafe import safe_cell, write_rows


def test_text_that_a_sheet_would_evaluate_is_made_text_and_numbers_stay_numbers() -> None:
    typed = ["=1+1", "+44 113", "-cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx"]
    assert [safe_cell(v) for v in typed] == ["'" + v for v in typed]
    assert [safe_cell(v) for v in ("-3.5", "12", "Leeds", "", None, -2, 1.5)] == [
        "-3.5",
        "12",
        "Leeds",
        "",
        None,
        -2,
        1.5,
    ]


def test_a_whole_document_is_safe_header_included() -> None:
    body = write_rows(["=h", "n"], [['=HYPERLINK("http://x")', "-4"], ["ok", "@x"]])
    assert list(csv.reader(io.StringIO(body))) == [
        ["'=h", "n"],
        ['\'=HYPERLINK("http://x")', "-4"],
        ["ok", "'@x"],
    ]
