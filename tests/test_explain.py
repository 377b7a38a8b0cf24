"""``cecli explain``: every number equals what ``ce`` computes for that row, and the golden values.

- the golden fixtures (torch 2.13, ``tests/fixtures/golden``): each row of every 2-D ``ce`` /
  ``nll`` / probability-target / ``bce`` case derived by :func:`cecli.api.explain`; the row's
  loss matches torch's ``reduction='none'`` value (and the reduction torch's ``sum`` / ``mean``)
  within the golden tolerances, and the derivation's own last step matches the row's loss;
- end to end, the installed ``cecli``: ``explain --rows`` equals ``ce --reduction none`` for the
  row (bit for bit), ``--worst K`` gives the K largest of those, in order, one streaming pass
  with small chunks; bce likewise; errors are one line with the right exit code;
- ``-m slow``: ``--worst 5`` on a 1 GB NPY stays under 256 MiB of peak RSS.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import EXAMPLES, cecli_command, invoke, invoke_json, run_cecli
from test_golden import (
    CASES,
    TOL,
    assert_close,
    bce_args,
    bce_scales,
    ce_args,
    ce_scales,
    expected,
)

from cecli.api import ExplainSpec, explain
from cecli.core import LossSpec
from cecli.readers import ReadOptions

IRIS = str(EXAMPLES / "iris_logits.csv")


def _explainable(c: dict[str, Any]) -> bool:
    """2-D cases the command line takes: not one column of logits (the contract's error that
    suggests bce), no weight shaped for broadcasting (the command line takes vectors)."""
    shape = c["input"][2]
    weights = [c.get(k) for k in ("weight", "pos_weight")]
    return (
        "error" not in c
        and len(shape) == 2
        and (shape[1] > 1 or c["family"].startswith("bce"))
        and all(w is None or len(w[2]) <= 1 for w in weights)
    )


def _two_d(families: tuple[str, ...]) -> list[Any]:
    out = [pytest.param(c, id=c["id"]) for c in CASES if c["family"] in families and _explainable(c)]
    assert out
    return out


def _derive(tmp_path: Path, x: np.ndarray, t: np.ndarray, loss: LossSpec) -> Any:
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    n = x.shape[0]
    pick = ExplainSpec(rows=tuple(range(n))) if n else ExplainSpec(worst=1)  # empty: no row
    read = ReadOptions(binary=loss.binary)
    return explain(str(tmp_path / "x.npy"), str(tmp_path / "t.npy"), read, loss, pick)


@pytest.mark.parametrize("case", _two_d(("ce", "nll")))
def test_ce_rows_match_golden(case: dict[str, Any], tmp_path: Path) -> None:
    x, y, kw = ce_args(case)
    loss = LossSpec(
        kind=case["family"],
        input="logits" if case["family"] == "ce" else "logprobs",
        targets=case["target_kind"],
        weight=kw["weight"],
        ignore_index=kw["ignore_index"],
        reduction=kw["reduction"],
        label_smoothing=kw.get("label_smoothing", 0.0),
    )
    ex = _derive(tmp_path, x, y, loss)
    got = np.array([d.loss for d in ex.rows])
    steps = np.array([d.step_loss for d in ex.rows])
    tol = TOL[case["dtype"]]
    coef, denom = ce_scales(case)
    want = expected(case["expected"])
    if kw["reduction"] == "none":
        assert_close(got, want, tol, tol * coef, case["id"])
    # the derivation (float64, shifted) gives the kernel's loss for each row
    counted = np.array([d.counted for d in ex.rows], dtype=bool)
    assert_close(steps[counted], got[counted], tol, tol * coef[counted], case["id"] + " steps")
    red = ex.result
    assert_close(red.loss_sum, np.asarray(coef.size and got.sum()), 1e-12, 1e-12 * coef.sum(), "sum")
    assert red.weight_sum == pytest.approx(denom, rel=1e-12)
    if kw["reduction"] in ("sum", "mean"):
        assert_close(red.loss, want, tol, tol * (coef.sum() / (denom or 1)), case["id"] + " reduced")
    for d in ex.rows:  # every derivation names its stages' formulas, once
        assert d.stages and len({s.name for s in d.steps}) == len(d.steps)


@pytest.mark.parametrize("case", _two_d(("bce_logits",)))
def test_bce_rows_match_golden(case: dict[str, Any], tmp_path: Path) -> None:
    x, t, kw = bce_args(case)
    loss = LossSpec(kind="bce", weight=kw["weight"], pos_weight=kw["pos_weight"], reduction=kw["reduction"])
    ex = _derive(tmp_path, x, t, loss)
    tol = TOL[case["dtype"]]
    scale = bce_scales(case)[0]
    # the kernel's per-label losses, and the derivation's
    kernel = np.array([d.steps[-1].value for d in ex.rows]).reshape(x.shape)
    derived = np.array([next(s.value for s in d.steps if s.name == "loss") for d in ex.rows])
    derived = derived.reshape(x.shape)
    if kw["reduction"] == "none":
        assert_close(kernel, expected(case["expected"]), tol, tol * scale, case["id"])
    assert_close(derived, kernel, tol, tol * scale, case["id"] + " steps")
    if kw["reduction"] != "none":
        n = max(1, scale.size) if kw["reduction"] == "mean" else 1
        assert_close(ex.result.loss, expected(case["expected"]), tol, tol * scale.sum() / n, case["id"])


def _none_losses(*args: str) -> list[float]:
    out = run_cecli(["ce", *args, "--reduction", "none", "-f", "value"])
    assert out.returncode == 0, out.stderr
    return [float(v) for v in out.stdout.split()]


def test_iris_row_equals_ce_none() -> None:
    """The issue's example: `explain iris --rows 0` and `ce --reduction none` agree exactly."""
    out = run_cecli(["explain", IRIS, "--rows", "0,17"])
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)  # not a terminal: JSON
    none = _none_losses(IRIS)
    rows = {r["row"]: r for r in d["rows"]}
    assert sorted(rows) == [0, 17]
    for i, r in rows.items():
        assert r["loss"] == none[i]
        steps = r["steps"]
        for name in ("logits", "max", "shifted", "exp", "sum", "logsumexp", "log_softmax",
                     "target_logprob", "weight", "nll_term", "loss"):  # fmt: skip
            assert name in steps, name
        # float32 logits: the kernel's log-sum-exp is float32 (good to ~1e-6 absolute, as the
        # golden tolerances state), the derivation float64
        assert steps["loss"]["value"] == pytest.approx(none[i], rel=1e-6, abs=1e-6)
        assert steps["logsumexp"]["value"] == pytest.approx(
            steps["max"]["value"] + math.log(steps["sum"]["value"]), rel=1e-15
        )
        lp = np.array(steps["logits"]["values"]) - steps["logsumexp"]["value"]
        assert np.allclose(steps["log_softmax"]["values"], lp, rtol=1e-15)
    ce = json.loads(run_cecli(["ce", IRIS, "-f", "json"]).stdout)
    red = d["reduction"]
    assert red["loss"] == ce["loss"] and red["denominator"] == ce["weight_sum"]
    assert red["mean"] == pytest.approx(red["sum"] / red["denominator"], rel=1e-15)


def test_worst_k_are_the_largest_in_one_pass(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(997, 30)) * 3
    y = rng.integers(0, 30, size=997)
    y[::50] = -100
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    args = [str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--label-smoothing", "0.1", "--weight", ",".join(["1", "2"] * 15)]
    d = invoke_json(["explain", *args, "--worst", "5", "--chunk-rows", "64", "-f", "json"])
    none = _none_losses(*args)
    order = sorted(range(len(none)), key=lambda i: (-none[i], i))[:5]
    assert [r["row"] for r in d["rows"]] == order
    assert [r["loss"] for r in d["rows"]] == [none[i] for i in order]
    for r in d["rows"]:
        assert r["steps"]["loss"]["value"] == pytest.approx(r["loss"], rel=1e-12)
        assert len(r["shown"]) < 30 and r["elided"] == 30 - len(r["shown"])
        assert r["target"] in r["shown"]
    red = d["reduction"]
    assert red["ignored"] == 20 and red["ignored_rows"] == list(range(0, 500, 50))
    assert red["denominator"] == pytest.approx(sum(1 + (t % 2) for t in y if t != -100), rel=1e-15)


def test_probability_targets_and_ignored_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5))
    t = rng.dirichlet(np.ones(5), size=40)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    args = [str(tmp_path / "x.npy"), str(tmp_path / "t.npy"), "--label-smoothing", "0.2"]
    d = invoke_json(["explain", *args, "--rows", "0,39", "-f", "json"])
    none = _none_losses(*args)
    for r in d["rows"]:
        assert r["loss"] == none[r["row"]]
        q = np.array(r["steps"]["smoothed_target"]["values"])
        assert np.allclose(q, t[r["row"]] * 0.8 + 0.2 / 5, rtol=1e-15)
        assert r["steps"]["loss"]["value"] == pytest.approx(r["loss"], rel=1e-12)
    assert d["reduction"]["denominator"] == 40.0  # positions, not weights
    np.save(tmp_path / "x3.npy", x[:3])
    np.save(tmp_path / "y.npy", np.array([1, -100, 2]))
    d = invoke_json(["explain", str(tmp_path / "x3.npy"), str(tmp_path / "y.npy"), "--rows", "1"])
    r = d["rows"][0]
    assert r["counted"] is False and r["loss"] == 0.0 and "ignore_index" in r["ignored_because"]
    assert d["reduction"]["ignored_rows"] == [1]


def test_nll_has_no_softmax_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 4))
    lp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    np.save(tmp_path / "lp.npy", lp)
    np.save(tmp_path / "y.npy", rng.integers(0, 4, size=20))
    args = [str(tmp_path / "lp.npy"), str(tmp_path / "y.npy")]
    d = invoke_json(["explain", *args, "--loss", "nll", "--rows", "4", "-f", "json"])
    out = run_cecli(["nll", *args, "--reduction", "none", "-f", "value"])
    r = d["rows"][0]
    assert r["loss"] == float(out.stdout.split()[4])
    assert "exp" not in r["steps"] and "NLLLoss" in r["stages"]
    assert r["steps"]["loss"]["value"] == r["loss"]


def test_bce_rows_equal_bce_none(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(30, 3)) * 4
    t = (rng.random((30, 3)) > 0.5).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    args = [str(tmp_path / "x.npy"), str(tmp_path / "t.npy"), "--pos-weight", "3"]
    d = invoke_json(["explain", *args, "--loss", "bce", "--worst", "2", "-f", "json"])
    out = run_cecli(["bce", *args, "--reduction", "none", "-f", "json"])
    none = np.array(json.loads(out.stdout)["losses"])
    worst = np.argsort(-none.sum(axis=1), kind="stable")[:2]
    assert [r["row"] for r in d["rows"]] == worst.tolist()
    for r in d["rows"]:
        assert r["steps"]["kernel_loss"]["values"] == none[r["row"]].tolist()
        assert np.allclose(r["steps"]["loss"]["values"], none[r["row"]], rtol=1e-12)
    assert d["reduction"]["denominator"] == 90.0


def test_table_view_names_each_step() -> None:
    r = invoke(["explain", IRIS, "--rows", "0", "-f", "table"])
    assert r.exit_code == 0, r.output
    for word in ("LogSoftmax", "CrossEntropyLoss", "logsumexp", "target_logprob", "reduction", "denominator"):
        assert word in r.stdout, word


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--rows", "300"], 3, "row 300 is beyond the last row"),
        (["--rows", "a"], 2, "--rows must be a comma list"),
        ([], 2, "give --rows 0,17 or --worst K"),
        (["--rows", "1", "--worst", "2"], 2, "give --rows 0,17 or --worst K"),
        (["--worst", "0"], 2, "--worst must be at least 1"),
        (["--rows", "1", "--loss", "kl"], 2, "invalid value for '--loss'"),
    ],
)
def test_errors_are_one_line(args: list[str], code: int, needle: str) -> None:
    out = run_cecli(["explain", IRIS, *args])
    err = out.stderr.decode()
    assert out.returncode == code, err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1
    assert out.stdout == b""


PEAK = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
    "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux")
def test_worst_on_a_1gb_npy_in_bounded_memory(tmp_path: Path) -> None:
    """1 GiB of float32 logits (2^18 rows x 1024 classes), one block repeated: --worst 5 finds
    the planted rows with a peak RSS under 256 MiB."""
    rows, C = 1 << 18, 1024
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=(rows, C))
    block = np.random.default_rng(0).normal(size=(4096, C)).astype(np.float32)
    for lo in range(0, rows, 4096):
        x[lo : lo + 4096] = block
    planted = [12345, 200001, 77]
    for k, r in enumerate(planted):
        x[r] = 0
        x[r, 1] = 40 + k  # the target (0) is far below: loss ~ 40 + k
    x.flush()
    del x
    np.save(tmp_path / "y.npy", np.zeros(rows, dtype=np.int64))
    cmd = [sys.executable, "-c", PEAK, *cecli_command(), "explain",
           str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--worst", "5", "--workers", "2", "-f", "json"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    code, peak_kib = p.stdout.split()
    assert int(code) == 0, p.stderr
    assert int(peak_kib) * 1024 < 256 << 20, f"peak RSS {int(peak_kib) / 1024:.0f} MiB"
    d = invoke_json(["explain", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--rows", ",".join(map(str, planted)), "-f", "json"])
    assert [r["row"] for r in d["rows"]] == sorted(planted)



def test_readme_shows_what_explain_prints() -> None:
    """The README's ``explain`` block is the command's output (an 80-column terminal)."""
    import os
    import re

    text = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- explain -->\n```text\n\$ cecli (.*)\n((?:.*\n)*?)```", text)
    assert block, "README has no explain block"
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    out = subprocess.run([*cecli_command(), *block.group(1).split()], capture_output=True, env=env,
                         cwd=EXAMPLES.parent, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == block.group(2)
