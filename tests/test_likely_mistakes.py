"""Inputs that are almost certainly a mistake: a warning on stderr and in JSON ``warnings``
(exit 0), or, where the number would mean nothing, an error with the fix (DESIGN.md "Inputs").

* probabilities given as logits (every counted row in [0, 1] summing to 1 within 1e-4);
* ``nll`` / ``--input logprobs`` on values that cannot be log-probabilities (a row's maximum
  above 0, or too low for the row to sum to 1);
* ``--top-k`` >= C; negative sample weights (used as sklearn uses them); NaN / infinite sample
  weights are an error (exit 3) naming the row;
* one score column given to ``ce`` as logits is an error (exit 3) suggesting ``bce``.

The expected counts and rows are set by how each file is built here, never read from cecli.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cecli.cli import app
from cecli.core import looks_like_probs, not_logprobs, sample_weight_findings
from cecli.errors import DataError


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def run_json(*args: Any) -> dict[str, Any]:
    res = run(*args, "-f", "json")
    assert res.exit_code == 0, res.stderr
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def matching(out: dict[str, Any], needle: str) -> list[str]:
    return [w for w in out["warnings"] if needle in w]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    n, C = 40, 5
    x = rng.normal(size=(n, C)) * 3
    x[:, 0] = np.abs(x[:, 0]) + 1.5  # every row has a logit above 1: never probabilities
    p = rng.dirichlet(np.ones(C), size=n)
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "probs.npy", p)
    np.save(tmp_path / "logp.npy", np.log(p))
    np.save(tmp_path / "y.npy", rng.integers(0, C, size=n))
    return tmp_path


# -- probabilities given as logits ----------------------------------------------------------


def test_probabilities_read_as_logits_warn(files: Path) -> None:
    for extra in ([], ["--chunk-rows", "7", "--workers", "2"]):
        out = run_json("ce", files / "probs.npy", files / "y.npy", *extra)
        assert len(matching(out, "--input probs")) == 1, out["warnings"]
    res = run("ce", files / "probs.npy", files / "y.npy", "-f", "value")
    assert res.exit_code == 0 and "warning: every row holds probabilities" in res.stderr
    # read as what they are, or real logits: no warning
    assert matching(run_json("ce", files / "probs.npy", files / "y.npy", "--input", "probs"),
                    "--input probs") == []
    assert matching(run_json("ce", files / "logits.npy", files / "y.npy"), "--input probs") == []


def test_one_row_that_is_not_a_distribution_silences_it(files: Path) -> None:
    p = np.load(files / "probs.npy")
    p[33] *= 0.5  # sums to 0.5: these are not all probabilities
    np.save(files / "half.npy", p)
    out = run_json("ce", files / "half.npy", files / "y.npy", "--chunk-rows", "10")
    assert matching(out, "--input probs") == []
    y = np.load(files / "y.npy")
    y[33] = -100  # ...unless that row is ignored: only counted rows are judged
    np.save(files / "y33.npy", y)
    out = run_json("ce", files / "half.npy", files / "y33.npy", "--chunk-rows", "10")
    assert len(matching(out, "--input probs")) == 1


# -- nll on logits -----------------------------------------------------------------------------


def test_nll_on_logits_warns_with_count_and_first_row(files: Path) -> None:
    x = np.load(files / "logits.npy")
    x[:3] = np.log(np.full(5, 0.2))  # rows 0-2 are log-probabilities; the other 37 have a max > 1
    np.save(files / "mixed.npy", x)
    for cmd, extra in (("nll", []), ("ce", ["--input", "logprobs"])):
        for chunks in ([], ["--chunk-rows", "4", "--workers", "2"]):
            out = run_json(cmd, files / "mixed.npy", files / "y.npy", *extra, *chunks)
            found = matching(out, "cannot be log-probabilities")
            assert len(found) == 1, out["warnings"]
            assert found[0].startswith("37 row(s)") and "first: row 3;" in found[0]
            assert "`cecli ce`" in found[0]
    out = run_json("nll", files / "logp.npy", files / "y.npy")
    assert matching(out, "log-probabilities") == []


def test_nll_on_rows_too_low_to_sum_to_one_warns(files: Path) -> None:
    lp = np.load(files / "logp.npy")
    lp[[4, 9]] -= 10.0  # every value far below 0: these rows sum to e^-10, not 1
    np.save(files / "low.npy", lp)
    out = run_json("nll", files / "low.npy", files / "y.npy")
    found = matching(out, "cannot be log-probabilities")
    assert len(found) == 1 and found[0].startswith("2 row(s)") and "first: row 4;" in found[0]


# -- top-k ---------------------------------------------------------------------------------------


def test_top_k_not_below_classes_warns(files: Path) -> None:
    for k in (5, 6):
        out = run_json("ce", files / "logits.npy", files / "y.npy", "--top-k", k)
        assert len(matching(out, f"--top-k {k} is not below the number of classes (5)")) == 1
        assert out["top_k_accuracy"] == 1.0
    out = run_json("ce", files / "logits.npy", files / "y.npy", "--top-k", 4)
    assert matching(out, "--top-k") == []


def test_top_k_ties_favour_the_target_and_json_says_so(tmp_path: Path) -> None:
    # Row 0: the target (class 1) ties the maximum: argmax says class 0, top-1 counts it.
    # Row 1: two classes score strictly above the target: outside the top 2, inside the top 3.
    np.save(tmp_path / "x.npy", np.array([[2.0, 2.0, 0.0, 0.0], [3.0, 2.0, 1.0, 1.0]]))
    np.save(tmp_path / "y.npy", np.array([1, 2]))
    out = run_json("ce", tmp_path / "x.npy", tmp_path / "y.npy", "--top-k", 1)
    assert out["accuracy"] == 0.0 and out["top_k_accuracy"] == 0.5
    assert out["top_k_ties"] == "favour-target"
    out = run_json("ce", tmp_path / "x.npy", tmp_path / "y.npy", "--top-k", 2)
    assert out["top_k_accuracy"] == 0.5
    out = run_json("ce", tmp_path / "x.npy", tmp_path / "y.npy", "--top-k", 3)
    assert out["top_k_accuracy"] == 1.0
    assert "top_k_ties" not in run_json("ce", tmp_path / "x.npy", tmp_path / "y.npy")


# -- sample weights -------------------------------------------------------------------------------


def _weighted_csv(path: Path, weights: list[str]) -> Path:
    rows = ["a,b,label,w"]
    logits = [(1.0, 2.0, 0), (3.0, 1.0, 1), (0.0, 0.5, 1), (2.0, -1.0, 0)]
    for (a, b, y), w in zip(logits, weights, strict=True):
        rows.append(f"{a},{b},{y},{w}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_negative_sample_weights_warn_and_count(tmp_path: Path) -> None:
    f = _weighted_csv(tmp_path / "w.csv", ["1", "-2", "0.5", "-1"])
    out = run_json("ce", f, "--sample-weight-col", "w")
    found = matching(out, "negative sample weight")
    assert len(found) == 1 and found[0].startswith("2 row(s)") and "first: row 2;" in found[0]
    # used as given, as sklearn's weighted average: sum(w l) / sum(w)
    x = np.array([[1.0, 2.0], [3.0, 1.0], [0.0, 0.5], [2.0, -1.0]])
    y = np.array([0, 1, 1, 0])
    w = np.array([1.0, -2.0, 0.5, -1.0])
    lse = np.log(np.exp(x).sum(axis=1))
    losses = lse - x[np.arange(4), y]
    assert out["loss"] == pytest.approx(float((w * losses).sum() / w.sum()), rel=1e-12)
    clean = run_json("ce", _weighted_csv(tmp_path / "c.csv", ["1", "2", "0.5", "1"]),
                     "--sample-weight-col", "w")
    assert matching(clean, "sample weight") == []


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_nan_or_infinite_sample_weight_is_an_error(tmp_path: Path, bad: str) -> None:
    # Before: NaN gave "loss": null with exit 0 -- even when the row was ignored.
    f = _weighted_csv(tmp_path / "w.csv", ["1", "2", bad, "1"])
    res = subprocess.run(["cecli", "ce", str(f), "--sample-weight-col", "w", "-f", "value"],
                         capture_output=True, text=True)
    assert res.returncode == 3 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {f}: row 3:"), res.stderr
    assert "--sample-weight-col" in lines[0]


# -- one score column given to ce ------------------------------------------------------------------


def test_one_score_column_to_ce_is_an_error_suggesting_bce(tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    f.write_text("score,label\n1.5,1\n-0.3,0\n0.2,0\n")
    np.save(tmp_path / "s.npy", np.array([[1.5], [-0.3], [0.2]]))
    np.save(tmp_path / "y.npy", np.array([0, 0, 0]))  # all 0: torch would give a silent 0
    for argv in (["ce", f], ["ce", tmp_path / "s.npy", tmp_path / "y.npy"],
                 ["compare", f, f]):
        res = subprocess.run(["cecli", *map(str, argv)], capture_output=True, text=True)
        assert res.returncode == 3, res.stderr
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
        assert "`cecli bce`" in res.stderr and "--input probs" in res.stderr
    # what it suggests works: bce on the scores, ce --input probs on probabilities
    assert run("bce", f, "-f", "value").exit_code == 0
    g = tmp_path / "p.csv"
    g.write_text("p,label\n0.8,1\n0.3,0\n0.4,0\n")
    out = run_json("ce", g, "--input", "probs")
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.6)) / 3
    assert out["loss"] == pytest.approx(expected, rel=1e-12) and out["classes"] == 2


# -- the core checks on their own ----------------------------------------------------------------


def test_core_checks() -> None:
    p = np.array([[0.2, 0.8], [0.5, 0.5]])  # rows layout: positions x classes
    m = p.max(axis=1)
    assert looks_like_probs(p, m, None, 1, lambda: p.sum(axis=1))
    q = np.array([[0.2, 0.7], [0.5, 0.5]])
    assert not looks_like_probs(q, q.max(axis=1), None, 1, lambda: q.sum(axis=1))
    assert looks_like_probs(q, q.max(axis=1), np.array([False, True]), 1, lambda: q.sum(axis=1))
    x = np.array([[3.0, 1.0], [0.2, 0.8]])

    def never() -> np.ndarray:
        raise AssertionError("a maximum above 1 must decide without the row sums")

    assert not looks_like_probs(x, x.max(axis=1), None, 1, never)
    # log-probabilities: max in [-log C, 0] passes; above 0 or below -log C does not
    mx = np.array([-0.1, 0.5, -np.log(4) - 0.01, -np.log(4) + 0.01, -np.inf, np.nan])
    assert not_logprobs(mx, 4, None).tolist() == [False, True, True, False, False, False]
    assert sample_weight_findings(np.array([1.0, -1.0, 0.0, -3.0]), 10) == (2, 11)
    assert sample_weight_findings(np.array([1.0, 2.0]), 0) == (0, -1)
    with pytest.raises(DataError) as err:
        sample_weight_findings(np.array([1.0, np.nan, np.inf]), 5)
    assert err.value.row == 6 and "2 sample weight(s)" in err.value.what
