"""The terminal screens of docs/screens/: one number format in every table column, and the
committed captures are what cecli shows now (scripts/capture_screens.py regenerates them)."""

from __future__ import annotations

import importlib.util
import itertools
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ROOT

SCREENS = ROOT / "docs" / "screens"

# A number as a table prints it: 1,234.5678, -0.02, +0.1698, 1.234e-09, 300, or a dash (none).
NUM = r"[+-]?(?:\d[\d,]*(?:\.\d+)?(?:e[+-]\d+)?|inf)|\u2013"
NUMBER = re.compile(NUM)
NUMBERS_ONLY = re.compile(rf"^(?:{NUM})(?: (?:\u2013|/) (?:{NUM}))*$")


def _script() -> ModuleType:
    path = ROOT / "scripts" / "capture_screens.py"
    spec = importlib.util.spec_from_file_location("capture_screens", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["capture_screens"] = module
    spec.loader.exec_module(module)
    return module


def tables(text: str) -> list[list[str]]:
    """The tables of a screen: each a list of its lines, from the top border to the bottom."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("┏") or line.startswith("┌"):
            current = [line]
        elif current is not None:
            current.append(line)
            if line.startswith("└"):
                found.append(current)
                current = None
    return found


def _cells(line: str, sep: str) -> list[tuple[int, str]]:
    """The cells of a row: (offset of the cell in the line, its text)."""
    bounds = [i for i, ch in enumerate(line) if ch == sep]
    return [(a + 1, line[a + 1 : b]) for a, b in itertools.pairwise(bounds)]


def format_problems(text: str) -> list[str]:
    """What breaks "one number format per column" in a screen's tables: a column mixing
    decimals, scientific and fixed notation, a number of 4+ digits without separators,
    decimal points (an integer's end) not lined up, a column without a header."""
    problems: list[str] = []
    for t, table in enumerate(tables(text)):
        header = [c for line in table if line.startswith("┃") for c in _cells(line, "┃")]
        if header and any(not c.strip() for _, c in header):
            problems.append(f"table {t}: a column without a header: {table[1]!r}")
        names = [c.strip() for _, c in header]
        columns: dict[int, list[tuple[int, str, str]]] = {}
        for line in table:
            if not line.startswith("│"):
                continue
            for j, (offset, cell) in enumerate(_cells(line, "│")):
                value = cell.strip()
                prose = j < len(names) and names[j] == "note"  # words that may hold numbers
                if value and not prose and NUMBERS_ONLY.match(value):
                    columns.setdefault(j, []).append((offset, cell, value))
        for j, cells in columns.items():
            where = f"table {t} column {j}"
            numbers = [m for _, _, v in cells for m in NUMBER.findall(v)]
            if any(re.search(r"\d{4}", n.split(".")[0].split("e")[0]) for n in numbers):
                problems.append(f"{where}: a number without thousands separators: {numbers}")
            sci = {("e" in n) for n in numbers if n not in ("\u2013",) and ("." in n or "e" in n)}
            if len(sci) > 1:
                problems.append(f"{where}: scientific next to fixed notation: {numbers}")
            decimals = {len(n.split(".")[1]) for n in numbers if "." in n and "e" not in n}
            if len(decimals) > 1:
                problems.append(f"{where}: numbers with {sorted(decimals)} decimals: {numbers}")
            anchors = set()
            for offset, cell, _ in cells:
                last = list(NUMBER.finditer(cell))[-1]
                dot = last.group().find(".")
                anchors.add(offset + (last.start() + dot if dot >= 0 else last.end()))
            if len(anchors) > 1:
                problems.append(f"{where}: decimal points not aligned: {[c for _, c, _ in cells]}")
    return problems


def test_the_check_can_fail() -> None:
    bad = """\
┏━━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━━━┓
┃ class    ┃ weight sum  ┃          ┃
┡━━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━━┩
│ a        │   1.5e+06   │        1 │
│ b        │   1500000   │   0.9307 │
│ c        │   30358.25  │   0.93   │
└──────────┴─────────────┴──────────┘
"""
    found = "\n".join(format_problems(bad))
    for what in ("without a header", "thousands separators", "scientific next to fixed",
                 "decimals", "not aligned"):  # fmt: skip
        assert what in found, what


def test_committed_screens_exist() -> None:
    names = sorted(p.name for p in SCREENS.glob("*.txt"))
    expected = sorted(f"{n}-{w}.txt" for n in _script().SCREENS for w in (80, 160))
    assert names == expected


@pytest.mark.parametrize("path", sorted(SCREENS.glob("*.txt")), ids=lambda p: p.stem)
def test_committed_screen_has_one_number_format_per_column(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_problems(text) == []
    width = int(path.stem.rsplit("-", 1)[1])
    for table in tables(text):
        assert max(len(line) for line in table) <= width, "a table wider than its terminal"


@pytest.mark.parametrize("name", ["ce", "ce-measures", "compare", "error-usage", "bce-per-label"])
def test_screen_is_what_cecli_shows_now(name: str) -> None:
    """The committed capture's table rows and error lines are what cecli prints today, in a
    fresh pseudo-terminal of the same width (progress lines aside, which depend on timing)."""
    script = _script()
    for width in (80, 160):
        command = [*script.cecli(), *shlex.split(script.SCREENS[name])]
        fresh, _ = script.run_in_terminal(command, width)
        assert format_problems(fresh) == []
        committed = (SCREENS / f"{name}-{width}.txt").read_text(encoding="utf-8")

        def stable(text: str) -> list[str]:
            return [ln for ln in text.splitlines() if ln[:1] in "┃│" or ln.startswith("error:")]

        assert stable(fresh) == stable(committed.split("\n", 1)[1]), (
            f"docs/screens/{name}-{width}.txt is stale: run python scripts/capture_screens.py"
        )


def test_tables_use_the_width_they_are_given() -> None:
    """At 160 columns the notes of the ce table are not wrapped as they are at 80."""
    narrow = (SCREENS / "ce-measures-80.txt").read_text(encoding="utf-8")
    wide = (SCREENS / "ce-measures-160.txt").read_text(encoding="utf-8")
    assert "1,000 bootstrap replicates, seed 12345" in wide
    assert len(tables(wide)[0]) < len(tables(narrow)[0])
