"""The surfaces around the numbers (issue 13): help that fits the terminal, completion of every
choice, one error style for the option parser, one number format in the tables."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import EXAMPLES, ROOT, cecli_command, invoke, run_cecli

COMMANDS = ("ce", "nll", "bce", "compare", "softmax", "inspect")


def _commands() -> dict[str, Any]:
    import typer.main

    from cecli.cli import app

    group = typer.main.get_command(app)
    return {name: group.commands[name] for name in COMMANDS}  # type: ignore[attr-defined]


def _help(command: str, columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    res = subprocess.run([*cecli_command(), command, "--help"], capture_output=True, env=env,
                         timeout=60, check=True)  # fmt: skip
    return res.stdout.decode()


def _flat(text: str) -> str:
    """Help text without its boxes and line breaks: what a reader reads, word after word."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


# -- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 160])
@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_the_terminal_and_cuts_nothing(command: str, columns: int) -> None:
    """Every argument and option has help, and all of it is there, whole words in order, with
    no line wider than the terminal and no ellipsis: nothing cut mid-word."""
    text = _help(command, columns)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert "…" not in text
    flat = _flat(text)
    for param in _commands()[command].params:
        if getattr(param, "hidden", False):
            continue
        assert param.help, f"{command} {param.name} has no help text"
        assert _flat(param.help.replace("\\[", "[")) in flat, (command, param.name)
        choices = getattr(param.type, "choices", None)
        if choices and not param.metavar:  # the choices as the metavar column shows them
            shown = "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
            assert shown in flat, (command, param.name, shown)
    if columns == 160:  # the width is used, not capped at 80
        assert max(len(line) for line in lines) > 100


def test_help_groups_options_in_panels() -> None:
    text = _help("ce", 160)
    titles = re.findall(r"╭─ (.+?) ─", text)
    assert titles == ["Arguments", "Options", "Inputs", "Loss options", "Measures",
                      "Gates (exit 1 when a check fails)", "Output", "Engine"]  # fmt: skip


def test_each_command_shows_its_own_examples() -> None:
    ce, nll = _help("ce", 160), _help("nll", 160)
    assert "cecli ce " in ce and "cecli nll " not in ce
    assert "cecli nll " in nll and "cecli ce " not in nll


# -- completion -----------------------------------------------------------------------------------


def _complete(words: list[str], current: str = "") -> list[str]:
    """What bash completion offers for the word ``current`` after ``words`` (typer's form of
    click's machinery: the instruction is ``complete_bash``), from the installed command as
    bash runs it."""
    env = {**os.environ, "_CECLI_COMPLETE": "complete_bash",
           "COMP_WORDS": " ".join(["cecli", *words, current]), "COMP_CWORD": str(len(words) + 1)}  # fmt: skip
    res = subprocess.run(cecli_command(), capture_output=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.decode().split()


def _choice_options() -> list[tuple[str, str, list[str]]]:
    found = []
    for name, command in _commands().items():
        for param in command.params:
            choices = getattr(param.type, "choices", None)
            if choices and param.opts[0].startswith("--"):
                found.append((name, param.opts[0], [str(getattr(c, "value", c)) for c in choices]))
    return found


def test_completion_offers_the_values_of_every_choice_option() -> None:
    options = _choice_options()
    assert {o for _, o, _ in options} >= {"--format", "--reduction", "--input", "--targets",
                                          "--engine", "--nonfinite", "--format-in",
                                          "--targets-format"}  # fmt: skip
    for command, option, values in options:
        assert _complete([command, "x.csv", option]) == values, (command, option)


def test_completion_offers_commands_and_options() -> None:
    assert set(_complete([])) >= set(COMMANDS)
    assert "--per-class" in _complete(["ce", "x.csv"], "--per")


# -- one error style ------------------------------------------------------------------------------

USAGE_ERRORS = {
    "unknown option": (["ce", "x.csv", "--bogus"], "--bogus", "cecli ce --help"),
    "a suggestion": (["ce", "x.csv", "--per-clas"], "--per-class", "cecli ce --help"),
    "missing argument": (["compare", "a.csv"], "PREDS_B", "cecli compare --help"),
    "bad choice": (["ce", "x.csv", "--reduction", "avg"], "--reduction", "'mean', 'sum', 'none'"),
    "bad int": (["ce", "x.csv", "--top-k", "two"], "--top-k", "cecli ce --help"),
    "bad float": (["bce", "x.csv", "--fail-above", "half"], "--fail-above", "cecli bce --help"),
    "missing value": (["ce", "x.csv", "--weight"], "--weight", "cecli ce --help"),
    "bad format": (["inspect", "x", "--format-in", "xls"], "--format-in", "'parquet'"),
    "extra argument": (["ce", "a", "b", "c"], "(c)", "cecli ce --help"),
    "unknown command": (["cee", "x.csv"], "'cee'", "cecli --help"),
    "root option": (["--bogus"], "--bogus", "cecli --help"),
    # it asked for no ECE at all, silently (ECE takes at least one bin)
    "zero bins": (["ce", "x.csv", "--ece-bins", "0"], "--ece-bins", "x>=1"),
    "zero bins, compare": (["compare", "a", "b", "--ece-bins", "0"], "--ece-bins", "x>=1"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS, ids=list(USAGE_ERRORS))
def test_usage_errors_are_one_error_line_exit_2(case: str) -> None:
    args, names, fix = USAGE_ERRORS[case]
    res = run_cecli(args)
    assert res.returncode == 2, res.stderr
    assert res.stdout == b""
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and names in lines[0] and fix in lines[0], lines[0]
    assert "Usage:" not in lines[0] and "╭" not in lines[0]


def test_no_arguments_still_shows_the_help() -> None:
    res = run_cecli(["ce"])
    assert res.returncode == 2 and b"Usage: cecli ce" in res.stdout


# -- one number format ----------------------------------------------------------------------------


def test_number_column() -> None:
    from cecli.report._numbers import NumberColumn, aligned

    col = NumberColumn.fit([0.0949286, 2.97179, 1.0])
    assert col.cells([0.0949286, 2.97179, 1.0]) == ["0.09493", "2.97179", "1.00000"]
    assert NumberColumn.fit([0.9307, 1.0]).real(1.0) == "1.0000"
    big = NumberColumn.fit([1_500_000.0, 30_358.0])
    assert (big.number(1_500_000.0), big.number(30_358.0)) == ("1,500,000", "30,358")
    assert NumberColumn.fit([3e-12, 0.5]).real(3e-12) == "3.000e-12"  # no 0.00000000
    assert NumberColumn.fit([1.0]).real(float("nan")) == "\u2013"
    assert aligned(["0.5", "12", "1,234.25"]) == ["    0.5", "   12", "1,234.25"]


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 rows of 3 classes with sample weights that are whole numbers."""
    d = tmp_path_factory.mktemp("counted")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1500, 3)).round(3)
    y = rng.integers(0, 3, 1500)
    lines = ["a,b,c,label,w", *(f"{r[0]},{r[1]},{r[2]},{t},2" for r, t in zip(x, y, strict=True))]
    (d / "p.csv").write_text("\n".join(lines) + "\n")
    return d / "p.csv"


def test_counts_and_weight_sums_have_the_same_separators(counted: Path) -> None:
    res = invoke(["ce", counted, "--sample-weight-col", "w", "--per-class", "-f", "table"])
    assert res.exit_code == 0, res.stderr
    row = {ln.split("│")[1].strip(): ln for ln in res.stdout.splitlines() if ln.startswith("│")}
    assert "1,500" in row["samples"] and "3,000" in row["weight sum"]
    assert "1500" not in res.stdout and "3000" not in res.stdout and "e+0" not in res.stdout


def test_reduction_none_table_says_what_it_shows() -> None:
    res = invoke(["ce", EXAMPLES / "iris_logits.csv", "--reduction", "none", "-f", "table"])
    assert res.exit_code == 0, res.stderr
    assert "mean of none" not in res.stdout
    assert "mean loss" in res.stdout and "-f value or -o FILE" in res.stdout


def test_json_keeps_full_precision() -> None:
    """Tables round; JSON never does."""
    out = json.loads(run_cecli(["ce", EXAMPLES / "iris_logits.csv", "-f", "json"],
                               cwd=ROOT).stdout)  # fmt: skip
    value = run_cecli(["ce", EXAMPLES / "iris_logits.csv", "-f", "value"]).stdout.decode()
    assert repr(out["loss"]) == value.strip()
    assert len(value.strip()) > 12
