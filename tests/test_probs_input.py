"""``ce --input probs`` equals scikit-learn's ``log_loss``; ``--input logprobs`` / ``nll`` apply no
softmax; rows that do not sum to 1 are a warning, never renormalised.

References: ``tests/fixtures/bce_softmax/`` (``family == "log_loss"``) written by
``scripts/make_golden_family.py`` with ``sklearn.metrics.log_loss`` (scikit-learn 1.9):
``normalize=True`` is ``--reduction mean``, ``normalize=False`` is ``sum``, ``sample_weight`` is
``--sample-weight-col``. In the ``log_loss`` cases the probabilities lie in [0.01, 0.95], so the
clip to ``[eps, 1 - eps]`` is a no-op and the two must agree to float64 rounding
(``rtol = 1e-10``); the ``log_loss_edge`` cases hold exact 0s and 1s in float16 / float32 /
float64 (the clip decides the value) and sklearn's one-column binary form, with the tolerance
the script gives (sklearn computes float16 / float32 in that precision, cecli's log is float32
and its sums float64). Neither library is imported here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cecli
from typer.testing import CliRunner

from cecli.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "bce_softmax"
CASES = [
    c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]
    if c["family"] == "log_loss"
]


@cache
def _arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "arrays.npz") as z:
        return {k: z[k] for k in z.files}


def A(key: str) -> np.ndarray:
    return _arrays()[key].copy()


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def write_csv(path: Path, p: np.ndarray, y: np.ndarray, sw: np.ndarray | None) -> Path:
    header = [f"p{c}" for c in range(p.shape[1])] + ["label"] + (["w"] if sw is not None else [])
    rows = []
    for i in range(len(y)):
        cells = [repr(float(v)) for v in p[i]] + [str(int(y[i]))]
        if sw is not None:
            cells.append(repr(float(sw[i])))
        rows.append(",".join(cells))
    path.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_ce_probs_equals_sklearn_log_loss(case: dict[str, Any], tmp_path: Path) -> None:
    p, y = A(case["preds"]), A(case["target"])
    sw = A(case["sample_weight"]) if case["sample_weight"] else None
    f = write_csv(tmp_path / "p.csv", p, y, sw)
    extra = ["--sample-weight-col", "w"] if sw is not None else []
    res = run("ce", f, "--input", "probs", "--reduction", case["reduction"], *extra,
              "--chunk-rows", 7, "-f", "json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["loss"] == pytest.approx(case["expected"], rel=1e-10)
    assert out["options"]["input"] == "probs"
    if sw is None:  # the same through NPY files
        np.save(tmp_path / "p.npy", p)
        np.save(tmp_path / "y.npy", y)
        res = run("ce", tmp_path / "p.npy", tmp_path / "y.npy", "--input", "probs",
                  "--reduction", case["reduction"], "-f", "value")
        assert res.exit_code == 0, res.stderr
        assert float(res.stdout) == pytest.approx(case["expected"], rel=1e-10)


def test_unnormalised_rows_warn_and_are_not_renormalised(tmp_path: Path) -> None:
    case = next(c for c in CASES if c["unnormalised_rows"])
    p, y = A(case["preds"]), A(case["target"])
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", y)
    res = run("ce", tmp_path / "p.npy", tmp_path / "y.npy", "--input", "probs", "-f", "json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    # sklearn does not renormalise either, so the values still agree
    assert out["loss"] == pytest.approx(case["expected"], rel=1e-10)
    warnings = [w for w in out["warnings"] if "do not sum to 1" in w]
    assert len(warnings) == 1
    assert f"{case['unnormalised_rows']} row(s)" in warnings[0]
    assert f"row {case['first_unnormalised']}" in warnings[0]
    assert "warning: " + warnings[0] in res.stderr
    quiet = run("ce", tmp_path / "p.npy", tmp_path / "y.npy", "--input", "probs", "-q", "-f",
                "value")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    # normalised rows do not warn
    clean = next(c for c in CASES if not c["unnormalised_rows"])
    np.save(tmp_path / "p2.npy", A(clean["preds"]))
    np.save(tmp_path / "y2.npy", A(clean["target"]))
    res = run("ce", tmp_path / "p2.npy", tmp_path / "y2.npy", "--input", "probs", "-f", "json")
    assert json.loads(res.stdout)["warnings"] == [] and res.stderr == ""


def test_logprobs_and_nll_apply_no_softmax(tmp_path: Path) -> None:
    case = next(c for c in CASES if c["id"].startswith("logloss-n40") and c["reduction"] == "mean"
                and not c["sample_weight"])
    p, y = A(case["preds"]), A(case["target"])
    np.save(tmp_path / "lp.npy", np.log(p))
    np.save(tmp_path / "y.npy", y)
    for cmd, extra in (("nll", []), ("ce", ["--input", "logprobs"])):
        res = run(cmd, tmp_path / "lp.npy", tmp_path / "y.npy", *extra, "-f", "value")
        assert res.exit_code == 0, res.stderr
        assert float(res.stdout) == pytest.approx(case["expected"], rel=1e-10)
    # On rows that do not sum to 1 the difference shows: nll takes log p as it is, ce (logits)
    # renormalises through its softmax.
    bad = next(c for c in CASES if c["unnormalised_rows"])
    pb, yb = A(bad["preds"]), A(bad["target"])
    np.save(tmp_path / "lpb.npy", np.log(pb))
    np.save(tmp_path / "yb.npy", yb)
    nll = run("nll", tmp_path / "lpb.npy", tmp_path / "yb.npy", "-r", "none", "-f", "value")
    ce = run("ce", tmp_path / "lpb.npy", tmp_path / "yb.npy", "-r", "none", "-f", "value")
    got_nll = np.array(nll.stdout.split(), dtype=float)
    got_ce = np.array(ce.stdout.split(), dtype=float)
    rows = np.arange(len(yb))
    np.testing.assert_allclose(got_nll, -np.log(pb[rows, yb]), rtol=1e-13)
    renorm = pb / pb.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got_ce, -np.log(renorm[rows, yb]), rtol=1e-12)
    assert not np.allclose(got_nll, got_ce)


EDGE = [
    c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]
    if c["family"] == "log_loss_edge"
]


def test_edge_fixtures_cover_what_they_claim() -> None:
    assert {c["dtype"] for c in EDGE} == {"float16", "float32", "float64"}
    assert any(c["binary"] and c["sample_weight"] for c in EDGE)
    for c in EDGE:
        p = A(c["preds"])
        assert p.dtype.name == c["dtype"]
        if not c["binary"]:
            assert (p == 0).any() and (p == 1).any(), c["id"]  # the clip is not a no-op


@pytest.mark.parametrize("case", EDGE, ids=[c["id"] for c in EDGE])
def test_ce_probs_clips_as_sklearn_does(case: dict[str, Any], tmp_path: Path) -> None:
    """Probabilities of exactly 0 and 1 (and below eps) give sklearn's value in each dtype:
    ``clip(p, eps, 1 - eps)`` with eps of the input's dtype (``[[0, 1], [1, 0]]`` is 36.04 in
    float64, not 708.4). One column with 0/1 labels is sklearn's binary form."""
    p, y = A(case["preds"]), A(case["target"])
    np.save(tmp_path / "p.npy", p)  # NPY keeps the dtype, which sets eps
    np.save(tmp_path / "y.npy", y)
    res = run("ce", tmp_path / "p.npy", tmp_path / "y.npy", "--input", "probs",
              "--reduction", case["reduction"], "--chunk-rows", 5, "-f", "json")
    if case["sample_weight"] is None:
        assert res.exit_code == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["loss"] == pytest.approx(case["expected"], rel=case["rtol"])
        assert out["classes"] == (2 if case["binary"] else p.shape[1])
    if case["binary"] and case["dtype"] == "float64":  # the same from a CSV, weights included
        sw = A(case["sample_weight"]) if case["sample_weight"] else None
        f = write_csv(tmp_path / "p.csv", p, y, sw)
        extra = ["--sample-weight-col", "w"] if sw is not None else []
        res = run("ce", f, "--input", "probs", "--reduction", case["reduction"], *extra,
                  "-f", "json")
        assert res.exit_code == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["loss"] == pytest.approx(case["expected"], rel=case["rtol"])
        negative = [w for w in out["warnings"] if "negative sample weight" in w]
        if sw is not None:  # two negative weights, at 0-based rows 5 and 17
            assert len(negative) == 1 and negative[0].startswith("2 row(s)")
            assert "first: row 6;" in negative[0]  # CSV rows are 1-based
        else:
            assert negative == []


def test_library_clips_as_sklearn_and_reads_the_binary_form() -> None:
    import cecli

    for case in EDGE:
        p, y = A(case["preds"]), A(case["target"])
        if case["sample_weight"] is None:
            got = cecli.cross_entropy(p, y, input_kind="probs", reduction=case["reduction"])
        else:  # sklearn's weighted average of the per-row losses
            sw = A(case["sample_weight"])
            rows = cecli.cross_entropy(p, y, input_kind="probs", reduction="none")
            got = float(np.sum(rows * sw) / (np.sum(sw) if case["reduction"] == "mean" else 1))
        assert got == pytest.approx(case["expected"], rel=case["rtol"]), case["id"]


def test_binary_form_from_a_1d_npy(tmp_path: Path) -> None:
    """``np.save`` of ``predict_proba[:, 1]`` (N,) with N integer labels: N rows of one score
    (sklearn's binary ``log_loss``), not one unbatched sample of N classes; as logits it is
    the one-column error that suggests bce."""
    p = np.array([0.9, 0.2, 0.6, 0.0, 1.0])
    y = np.array([1, 0, 0, 0, 1])
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", y)
    eps = np.finfo(np.float64).eps
    q = np.clip(p, eps, 1 - eps)
    want = float(np.mean(-(y * np.log(q) + (1 - y) * np.log1p(-q))))
    out = run_cecli(["ce", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "--input", "probs",
                     "-f", "value"])
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == pytest.approx(want, rel=1e-12)
    res = run_cecli(["ce", str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), "-f", "value"])
    assert res.returncode == 3 and "bce" in res.stderr.decode()
