"""``--grad-output FILE`` of ``ce`` and ``nll`` equals torch autograd (``loss.backward()``).

References: ``tests/fixtures/bce_softmax/`` (``family == "grad"``), written by
``scripts/make_golden_family.py``: ``F.cross_entropy`` / ``F.nll_loss`` in the input's dtype
and ``input.grad`` after ``backward()`` (``backward(ones_like(loss))`` for ``none``), over
weight, ignore_index (-100 and a class index), label smoothing, probability targets, every
reduction, ``--input logprobs`` / ``probs``, ``(N, C, d)`` and ``(N, T, C)`` with
``--class-axis -1``, and every target ignored. The file the CLI writes is compared in NPY and in
CSV form: ``rtol = 1e-6`` (float32) / ``1e-10`` (float64) plus ``atol = rtol * scale``, the
per-element coefficient over the ``mean`` denominator the script derived from the inputs alone
(softmax is accurate to ~eps absolute, so ``coef * (softmax - target)`` is known to
``eps * coef``). ``bce --grad-output`` is covered in ``test_bce.py``. Never imports torch.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cecli.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "bce_softmax"
CASES = [
    c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"] if c["family"] == "grad"
]
TOL = {"float32": 1e-6, "float64": 1e-10}


@cache
def _arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "arrays.npz") as z:
        return {k: z[k] for k in z.files}


def A(key: str) -> np.ndarray:
    return _arrays()[key].copy()


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_close(got: np.ndarray, exp: np.ndarray, tol: float, scale: Any = 0.0) -> None:
    """Elementwise ``|got - exp| <= tol * |exp| + tol * scale``; NaN meets NaN."""
    got, exp = np.asarray(got, dtype=np.float64), np.asarray(exp, dtype=np.float64)
    assert got.shape == exp.shape, (got.shape, exp.shape)
    with np.errstate(invalid="ignore"):
        ok = np.isclose(got, exp, rtol=tol, atol=0.0, equal_nan=True) | (
            np.abs(got - exp) <= tol * np.abs(exp) + tol * np.asarray(scale)
        )
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, (
        f"{bad.size} elements differ, first at {bad[0]}: "
        f"{got.reshape(-1)[bad[0]]!r} vs {exp.reshape(-1)[bad[0]]!r}"
    )


def read_grad_table(path: Path, shape: tuple[int, ...], sep: str = ",") -> np.ndarray:
    lines = path.read_text().splitlines()
    header = lines[0].split(sep)
    cols = [i for i, h in enumerate(header) if h.startswith("grad_")]
    assert len(cols) == int(np.prod(shape[1:]))
    vals = np.array([[float(r.split(sep)[i]) for i in cols] for r in lines[1:]])
    return vals.reshape(shape)


def test_fixtures_cover_the_combinations() -> None:
    args = [" ".join(c["args"]) for c in CASES]
    for option in ("--weight", "--ignore-index", "--label-smoothing", "--targets probs",
                   "--input logprobs", "--input probs", "--class-axis -1"):
        assert any(option in a for a in args), option
    assert {c["reduction"] for c in CASES} == {"mean", "sum", "none"}
    assert {c["command"] for c in CASES} == {"ce", "nll"}
    assert {c["dtype"] for c in CASES} == {"float32", "float64"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_grad_output_matches_autograd(case: dict[str, Any], tmp_path: Path) -> None:
    tol = TOL[case["dtype"]]
    x, y = A(case["preds"]), A(case["target"])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    outputs = ["g.npy"] + (["g.csv"] if x.ndim == 2 else [])
    for name in outputs:
        res = run(case["command"], tmp_path / "x.npy", tmp_path / "y.npy", *case["args"],
                  "--grad-output", tmp_path / name, "-f", "json", "--workers", 1)
        assert res.exit_code == 0, res.stderr
        loss = json.loads(res.stdout)["loss"]
        if case["loss"] is not None and case["loss"] != "nan":
            assert loss == pytest.approx(float(case["loss"]), rel=tol * 10)
    exp, scale = A(case["grad"]), A(case["grad_scale"])
    got = np.load(tmp_path / "g.npy")
    assert got.shape == x.shape
    assert_close(got, exp, tol, scale)
    if x.ndim == 2:
        assert_close(read_grad_table(tmp_path / "g.csv", x.shape), exp, tol, scale)


def test_every_target_ignored_gives_a_zero_gradient(tmp_path: Path) -> None:
    # torch: the mean is 0/0 = NaN, but ignored positions get exactly 0, not NaN.
    case = next(c for c in CASES if c["id"] == "grad-ce-all-ignored-f64")
    np.save(tmp_path / "x.npy", A(case["preds"]))
    np.save(tmp_path / "y.npy", A(case["target"]))
    res = run("ce", tmp_path / "x.npy", tmp_path / "y.npy", "--grad-output", tmp_path / "g.npy")
    assert res.exit_code == 0, res.stderr
    assert np.array_equal(np.load(tmp_path / "g.npy"), np.zeros(A(case["preds"]).shape))
    assert not np.any(A(case["grad"]))


def test_grad_table_carries_ids_and_class_names(tmp_path: Path) -> None:
    f = tmp_path / "p.tsv"
    f.write_text("id\tcat\tdog\tlabel\nA\t1.0\t0.0\tdog\nB\t0.0\t0.0\tcat\n")
    res = run("ce", f, "--grad-output", tmp_path / "g.tsv", "-r", "sum")
    assert res.exit_code == 0, res.stderr
    lines = (tmp_path / "g.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["id", "grad_cat", "grad_dog"]
    a = [float(v) for v in lines[1].split("\t")[1:]]
    e = np.exp(1.0) / (np.exp(1.0) + 1.0)  # softmax([1, 0])[0]
    assert lines[1].startswith("A\t") and a == pytest.approx([e, (1 - e) - 1], rel=1e-15)


def test_grad_output_refused_on_stdin_and_as_an_input(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    res = run("ce", tmp_path / "x.npy", tmp_path / "y.npy", "--grad-output", tmp_path / "y.npy")
    assert res.exit_code == 3 and "one of the inputs" in res.stderr
    res = run("ce", tmp_path / "x.npy", tmp_path / "y.npy", "--grad-output", tmp_path / "g.npy",
              "-o", tmp_path / "g.npy")
    assert res.exit_code == 2


NONFINITE = [
    c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]
    if c["family"] == "grad_nonfinite_ignored"
]


@pytest.mark.parametrize("case", NONFINITE, ids=[c["id"] for c in NONFINITE])
def test_ignored_rows_with_nonfinite_logits_get_zero_not_torchs_nan(
    case: dict[str, Any], tmp_path: Path
) -> None:
    """A documented divergence: torch's gradient of an ignored row whose logits hold NaN / inf
    is NaN (its softmax is NaN and 0 * NaN is NaN); cecli never reads an ignored row's logits,
    so its gradient there is 0, as for any ignored row. Counted rows match torch."""
    tol = TOL[case["dtype"]]
    x, y = A(case["preds"]), A(case["target"])
    exp = A(case["grad"])
    ignored = case["ignored_rows"]
    assert np.isnan(exp[ignored]).all()  # what torch gives there
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    res = run("ce", tmp_path / "x.npy", tmp_path / "y.npy", "--grad-output", tmp_path / "g.npy",
              "-f", "json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["loss"] == pytest.approx(float(case["loss"]), rel=tol * 10)
    got = np.load(tmp_path / "g.npy")
    assert np.array_equal(got[ignored], np.zeros_like(got[ignored]))
    counted = [i for i in range(len(y)) if i not in ignored]
    assert_close(got[counted], exp[counted], tol, 1.0)
