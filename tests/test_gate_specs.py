"""The CI gates as library objects (cecli.api.gates): validation, pre-checks and ``checks``.

The CLI's end-to-end gate tests are in ``test_gates.py``; these call the library directly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cecli.api.gates import Baseline, LossGates, WorseGate
from cecli.api.signature import Signature
from cecli.errors import InputError, UsageError

SIG = Signature.parse("ce|in:logits|tgt:index|red:mean|w:none|ii:-100|ls:0|v:0.1.0")


def _baseline(tmp_path: Path, loss: object = 0.5, signature: str = str(SIG)) -> str:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"loss": loss, "signature": signature}), encoding="utf-8")
    return str(path)


# -- validation, before anything is read --------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_increase": 0.1}, "--max-increase and --relative need --baseline"),
        ({"relative": True}, "--max-increase and --relative need --baseline"),
        ({"fail_above": math.nan}, "--fail-above must be a finite number"),
        ({"fail_above": math.inf}, "--fail-above must be a finite number"),
        ({"baseline": "b.json", "max_increase": math.inf}, "--max-increase must be a finite"),
    ],
)
def test_loss_gate_options_are_checked_when_built(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        LossGates(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"enabled": True, "alpha": 0.0}, "--alpha must be between 0 and 1"),
        ({"enabled": True, "alpha": 1.0}, "--alpha must be between 0 and 1"),
        ({"enabled": True, "alpha": math.nan}, "--alpha must be between 0 and 1"),
        ({"enabled": True, "margin": math.inf}, "--margin must be a finite number"),
        ({"alpha": 0.1}, "--alpha and --margin are for --fail-if-worse"),
        ({"margin": 0.01}, "--alpha and --margin are for --fail-if-worse"),
    ],
)
def test_worse_gate_options_are_checked_when_built(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        WorseGate(**kwargs)


def test_no_gate_no_check() -> None:
    assert LossGates().check(0.3, SIG) == []
    assert WorseGate().check(0.3, lambda m: 0.0) == []
    LossGates().precheck(SIG)  # nothing to read


# -- fail_above ---------------------------------------------------------------------------------
def test_fail_above() -> None:
    assert LossGates(fail_above=0.5).check(0.25, SIG) == [
        {"name": "fail_above", "threshold": 0.5, "value": 0.25, "passed": True}
    ]
    assert LossGates(fail_above=0.5).check(0.5, SIG)[0]["passed"] is True
    assert LossGates(fail_above=0.5).check(0.75, SIG)[0]["passed"] is False
    assert LossGates(fail_above=0.5).check(math.nan, SIG)[0]["passed"] is False


# -- baseline -----------------------------------------------------------------------------------
def test_baseline_absolute_and_relative(tmp_path: Path) -> None:
    base = _baseline(tmp_path, 0.5)
    (check,) = LossGates(baseline=base, max_increase=0.25).check(0.625, SIG)
    assert check == {
        "name": "baseline",
        "file": base,
        "baseline": 0.5,
        "max_increase": 0.25,
        "relative": False,
        "threshold": 0.75,
        "value": 0.625,
        "passed": True,
    }
    (check,) = LossGates(baseline=base, max_increase=0.25, relative=True).check(0.65, SIG)
    assert check["threshold"] == 0.625 and check["passed"] is False
    (check,) = LossGates(baseline=base).check(0.5, SIG)  # no --max-increase: not above it
    assert check["max_increase"] == 0.0 and check["threshold"] == 0.5 and check["passed"]
    (check,) = LossGates(baseline=base, max_increase=1.0).check(math.nan, SIG)
    assert check["passed"] is False


def test_both_gates_in_order(tmp_path: Path) -> None:
    gates = LossGates(fail_above=1.0, baseline=_baseline(tmp_path), max_increase=0.0)
    assert [c["name"] for c in gates.check(0.5, SIG)] == ["fail_above", "baseline"]


def test_a_baseline_with_other_settings_is_an_input_error(tmp_path: Path) -> None:
    base = _baseline(tmp_path, signature=str(SIG).replace("red:mean", "red:sum"))
    gates = LossGates(baseline=base, max_increase=0.1)
    with pytest.raises(InputError) as info:
        gates.check(0.5, SIG)
    err = info.value
    assert err.file == base
    assert (
        "the baseline was computed with other settings (red:sum in the baseline but "
        "red:mean here)" in err.message()
    )
    assert str(SIG) in err.message()  # the fix: this run's settings
    with pytest.raises(InputError, match="red:sum in the baseline"):
        gates.precheck(SIG)


def test_the_precheck_leaves_out_what_only_the_data_decides(tmp_path: Path) -> None:
    base = _baseline(tmp_path, signature=str(SIG).replace("tgt:index", "tgt:probs"))
    gates = LossGates(baseline=base, max_increase=0.1)
    gates.precheck(SIG, unknown=("tgt",))  # no error: the target kind is not known yet
    with pytest.raises(InputError, match="tgt:probs in the baseline but tgt:index here"):
        gates.check(0.5, SIG)


def test_only_the_version_may_differ(tmp_path: Path) -> None:
    base = _baseline(tmp_path, 0.5, str(SIG).replace("v:0.1.0", "v:0.0.1"))
    assert LossGates(baseline=base, max_increase=0.0).check(0.5, SIG)[0]["passed"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such baseline file"),
        ("{not json", "cannot read the baseline as JSON"),
        ("[1, 2]", "the baseline has no 'loss'"),
        ('{"signature": "x"}', "the baseline has no 'loss'"),
        ('{"loss": null, "signature": "x"}', "the baseline's loss is not a finite number"),
        ('{"loss": true, "signature": "x"}', "the baseline's loss is not a finite number"),
        ('{"loss": "0.5", "signature": "x"}', "the baseline's loss is not a finite number"),
        ('{"loss": 0.1}', "the baseline has no 'signature'"),
        ('{"loss": 0.1, "signature": 3}', "the baseline has no 'signature'"),
    ],
)
def test_bad_baseline_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "base.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        Baseline.read(str(path))
    assert info.value.file == str(path)


def test_a_directory_is_not_a_baseline(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the baseline is a directory"):
        Baseline.read(str(tmp_path))


def test_a_baseline_reads_back(tmp_path: Path) -> None:
    assert Baseline.read(_baseline(tmp_path, 2)) == Baseline(str(tmp_path / "baseline.json"), 2.0, SIG)


# -- compare --fail-if-worse --------------------------------------------------------------------
def test_fail_if_worse() -> None:
    asked: list[float] = []

    def p_worse(margin: float) -> float:
        asked.append(margin)
        return 0.01

    gate = WorseGate(enabled=True, alpha=0.05, margin=0.125)
    assert gate.check(0.25, p_worse) == [
        {
            "name": "fail_if_worse",
            "alpha": 0.05,
            "margin": 0.125,
            "threshold": 0.125,
            "value": 0.25,
            "p_worse": 0.01,
            "passed": False,
        }
    ]
    assert asked == [0.125]  # the p-value is of "delta <= margin"
    assert gate.check(0.0625, p_worse)[0]["passed"] is True  # within the margin
    assert gate.check(0.25, lambda m: 0.5)[0]["passed"] is True  # not significant
    assert gate.check(math.nan, lambda m: math.nan)[0]["passed"] is True  # not shown worse
