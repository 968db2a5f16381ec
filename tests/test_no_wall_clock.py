"""Nothing but core/clock.py reads the machine's date: code and tests ask the one clock.

A direct ``datetime.now()`` or ``date.today()`` is how a suite comes to pass on Friday and
fail on Saturday, so this check fails on any, in the product and in the tests alike.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {ROOT / "core" / "clock.py"}
SKIPPED_DIRS = {".venv", ".git", ".data", "build", "node_modules"}
WALL_CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def python_files() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if not SKIPPED_DIRS & set(p.relative_to(ROOT).parts) and p not in ALLOWED
    )


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    """(line, call) for every ``datetime.now()``-like call, however datetime was imported."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        # `datetime.now()` and `date.today()`, or `datetime.datetime.now()`.
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        if (name, node.func.attr) in WALL_CLOCK_READS:
            found.append((node.lineno, f"{name}.{node.func.attr}()"))
    return found


def test_the_check_finds_each_way_of_reading_the_date() -> None:
    source = "\n".join(
        [
            "import datetime as dt",
            "from datetime import date, datetime",
            "a = datetime.now(UTC)",
            "b = date.today()",
            "c = dt.datetime.utcnow()",
            "d = dt.date.today()",
            "e = clock.now()",
            "f = workflow.now()",
        ]
    )
    assert wall_clock_reads(source) == [
        (3, "datetime.now()"),
        (4, "date.today()"),
        (5, "datetime.utcnow()"),
        (6, "date.today()"),
    ]


def test_only_the_clock_module_reads_the_machines_date() -> None:
    files = python_files()
    assert ROOT / "worker.py" in files and ROOT / "tests" / "conftest.py" in files
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {call}"
        for path in files
        for line, call in wall_clock_reads(path.read_text())
    ]
    assert offenders == [], "use core.clock (now, today) instead:\n" + "\n".join(offenders)
