"""``cecli bce`` (and :class:`BinaryAccumulator`) against torch, through the command line.

Golden values come from ``tests/fixtures/bce_softmax/`` written by
``scripts/make_golden_family.py`` (torch 2.13 ``binary_cross_entropy_with_logits`` /
``binary_cross_entropy`` and autograd, in the input's dtype; see its docstring). Tolerances:
``rtol = 1e-6`` for float32 and ``1e-10`` for float64, plus ``atol = rtol * scale`` where the
script derived ``scale`` from the inputs alone (the size of the terms that cancel in each value,
e.g. ``|x|`` for a logit of 200 whose loss rounds to 0). This file never imports torch.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import cecli
from cecli.accumulate import BinaryAccumulator
from cecli.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "bce_softmax"
CASES = [c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"] if c["family"] == "bce"]
TOL = {"float32": 1e-6, "float64": 1e-10}


@cache
def _arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "arrays.npz") as z:
        return {k: z[k] for k in z.files}


def A(key: str) -> np.ndarray:
    return _arrays()[key].copy()


def run(*args: Any, input: str | None = None) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ok_json(*args: Any) -> dict[str, Any]:
    res = run(*args, "-f", "json")
    assert res.exit_code == 0, (res.stdout, res.stderr)
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def assert_close(got: np.ndarray, exp: np.ndarray, tol: float, scale: Any = 0.0) -> None:
    """Elementwise ``|got - exp| <= tol * |exp| + tol * scale``; NaN meets NaN, inf the same inf."""
    got, exp = np.asarray(got, dtype=np.float64), np.asarray(exp, dtype=np.float64)
    assert got.shape == exp.shape, (got.shape, exp.shape)
    ok = np.isclose(got, exp, rtol=tol, atol=0.0, equal_nan=True) | (
        np.abs(got - exp) <= tol * np.abs(exp) + tol * np.asarray(scale)
    )
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, f"{bad.size} elements differ, first at {bad[0]}: {got.reshape(-1)[bad[0]]!r} vs {exp.reshape(-1)[bad[0]]!r}"


def num(v: Any) -> float:
    return float(v)  # "nan" / "inf" strings parse too


def read_grad_csv(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cols = [i for i, h in enumerate(header) if h.startswith("grad")]
    vals = np.array([[float(r.split(",")[i]) for i in cols] for r in lines[1:]])
    return vals.reshape(shape)


def test_fixtures_cover_the_options() -> None:
    ids = {c["id"] for c in CASES}
    assert len(CASES) >= 20
    assert {"bce-bin-f32-mean", "bce-ml-w-pw-f32-none", "bce-probs-f64-sum"} <= ids
    assert any("--pos-weight" in c["args"] for c in CASES)
    assert any(c["args"][1] == "probs" for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bce_matches_torch(case: dict[str, Any], tmp_path: Path) -> None:
    tol = TOL[case["dtype"]]
    x, t = A(case["preds"]), A(case["target"])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    grad_file = tmp_path / ("g.csv" if case["dtype"] == "float64" else "g.npy")
    out = ok_json(
        "bce", tmp_path / "x.npy", tmp_path / "t.npy", *case["args"],
        "--grad-output", grad_file, "--workers", 1,
    )
    assert out["command"] == "bce"
    assert out["samples"] == x.size and out["rows"] == x.shape[0]
    if case["reduction"] == "none":
        got = np.array(out["losses"], dtype=np.float64)
        exp = A(case["losses"])
        assert got.shape == exp.shape
        assert_close(got, exp, tol, A(case["loss_scale"]))
    else:
        exp_v = num(case["loss"])
        assert out["loss"] == pytest.approx(exp_v, rel=tol, abs=tol * case["loss_scale"])
    exp_g = A(case["grad"])
    if grad_file.suffix == ".npy":
        got_g = np.load(grad_file)
        assert got_g.dtype == x.dtype and got_g.shape == x.shape
    else:
        got_g = read_grad_csv(grad_file, x.shape)
    assert_close(got_g, exp_g, tol, A(case["grad_scale"]))


def test_library_accumulator_matches_torch_for_any_chunking() -> None:
    case = next(c for c in CASES if c["id"] == "bce-ml-w-pw-f64-sum")
    x, t = A(case["preds"]), A(case["target"])
    w, pw = np.array([1.0, 2.0, 0.5, 0.0]), np.array([3.0, 0.5, 1.0, 10.0])
    totals = set()
    for step in (1, 3, 10):
        acc = BinaryAccumulator(weight=w, pos_weight=pw, reduction="sum")
        parts = []
        for a in range(0, len(x), step):
            part = acc.spawn()
            part.update(x[a : a + step], t[a : a + step], start=a)
            parts.append(part)
        for p in parts:
            acc.merge(p)
        totals.add(acc.compute())
        assert acc.compute() == pytest.approx(num(case["loss"]), rel=1e-12)
    assert len(totals) == 1
    one_shot = cecli.binary_cross_entropy_with_logits(x, t, w, pw, reduction="sum")
    assert one_shot == pytest.approx(num(case["loss"]), rel=1e-12)


# -- inputs: columns, files, shapes ---------------------------------------------------------


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")
    return path


def test_binary_csv_with_target_column(tmp_path: Path) -> None:
    x = np.array([2.0, -1.0, 0.5, -3.0, 200.0])
    t = np.array([1, 0, 0, 1, 0])
    f = _csv(tmp_path / "s.csv", ["id", "score", "clicked"],
             [[f"u{i}", x[i], t[i]] for i in range(5)])
    out = ok_json("bce", f, "--target-col", "clicked")
    assert out["loss"] == pytest.approx(
        cecli.binary_cross_entropy_with_logits(x, t.astype(float)), rel=1e-12
    )
    assert out["samples"] == 5 and out["labels"] == 1 and out["samples_unit"] == "elements"
    assert out["signature"].startswith("bce|in:logits|red:mean|w:none|pw:none|")
    assert out["accuracy"] == pytest.approx(2 / 5)  # (x > 0) == (t > 0.5) in rows 0 and 1
    res = run("bce", f, "--target-col", "clicked", "-f", "value")
    assert res.exit_code == 0 and float(res.stdout) == pytest.approx(out["loss"], rel=1e-15)


def test_multilabel_target_cols_parquet_and_per_element_output(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3))
    t = (rng.random((6, 3)) < 0.5).astype(np.float64)
    cols: dict[str, Any] = {"id": [f"d{i}" for i in range(6)]}
    cols.update({n: x[:, i] for i, n in enumerate(["cat", "dog", "owl"])})
    cols.update({f"y_{n}": t[:, i] for i, n in enumerate(["cat", "dog", "owl"])})
    pq.write_table(pa.table(cols), tmp_path / "m.parquet")
    out = ok_json(
        "bce", tmp_path / "m.parquet", "--target-cols", "y_cat,y_dog,y_owl",
        "--logit-cols", "cat,dog,owl", "--weight", "1,2,0.5", "--pos-weight", "2",
        "-o", tmp_path / "per.csv", "--reduction", "sum",
    )
    w, pw = np.array([1, 2, 0.5]), np.array([2.0])
    assert out["loss"] == pytest.approx(
        cecli.binary_cross_entropy_with_logits(x, t, w, pw, reduction="sum"), rel=1e-12
    )
    assert out["label_names"] == ["cat", "dog", "owl"] and out["samples"] == 18
    lines = (tmp_path / "per.csv").read_text().splitlines()
    assert lines[0] == "id,row,label,target,loss"
    assert len(lines) == 19 and lines[2].startswith("d0,0,dog,")
    per = np.array([float(ln.split(",")[-1]) for ln in lines[1:]])
    np.testing.assert_allclose(
        per, cecli.binary_cross_entropy_with_logits(x, t, w, pw, reduction="none").reshape(-1),
        rtol=1e-14,
    )


def test_npy_output_and_none_values(tmp_path: Path) -> None:
    x = np.array([[1.0, -2.0], [0.0, 3.0], [-1.0, 0.5]], dtype=np.float32)
    t = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "-r", "none", "-o", tmp_path / "l.npy")
    assert res.exit_code == 0, res.stderr
    exp = cecli.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(np.load(tmp_path / "l.npy"), exp, rtol=1e-15)
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "-r", "none", "-f", "value")
    assert [float(v) for v in res.stdout.split()] == pytest.approx(exp.reshape(-1).tolist())


def test_chunk_and_worker_invariance(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x = (rng.normal(size=(257, 5)) * 3).astype(np.float32)
    t = rng.random((257, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    base = ok_json("bce", tmp_path / "x.npy", tmp_path / "t.npy", "--workers", 1)
    for chunk, workers in ((1, 2), (16, 2), (100, 1)):
        out = ok_json("bce", tmp_path / "x.npy", tmp_path / "t.npy", "--chunk-rows", chunk,
                      "--workers", workers, "--grad-output", tmp_path / f"g{chunk}.npy")
        assert out["loss"] == base["loss"]  # tree sums over global indices: bit for bit
    np.testing.assert_array_equal(np.load(tmp_path / "g1.npy"), np.load(tmp_path / "g100.npy"))


def test_mean_gradient_of_a_csv_takes_a_second_pass(tmp_path: Path) -> None:
    # CSV row counts are unknown up front: the 1/numel scale needs the first pass to finish.
    x = np.array([0.3, -1.2, 2.0, 0.0])
    t = np.array([1.0, 0.0, 0.5, 1.0])
    f = _csv(tmp_path / "s.csv", ["logit", "y"], [[x[i], t[i]] for i in range(4)])
    res = run("bce", f, "--grad-output", tmp_path / "g.npy", "--chunk-rows", 3)
    assert res.exit_code == 0, res.stderr
    exp = cecli.binary_cross_entropy_with_logits_grad(x, t)
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), exp, rtol=1e-14)
    res = run("bce", "-", "--grad-output", tmp_path / "g2.npy", input=f.read_text())
    assert res.exit_code == 2 and "stdin" in res.stderr


# -- gates and errors ------------------------------------------------------------------------


def test_fail_above_sets_exit_1_with_one_verdict(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.array([-3.0, 3.0]))
    np.save(tmp_path / "t.npy", np.array([1.0, 0.0]))
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "--fail-above", "0.5", "-f", "json")
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["checks"][0]["passed"] is False
    assert res.stderr.strip().startswith("FAIL bce loss 3.04")
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "--fail-above", "5", "-f", "value")
    assert res.exit_code == 0 and res.stderr.strip().startswith("ok bce loss")


@pytest.mark.parametrize(
    ("preds", "target", "args", "code", "text"),
    [
        ([0.5, 2.0], [1.0, 1.5], [], 3, "targets must be in [0, 1]"),
        ([0.5, 1.2], [1.0, 0.0], ["--input", "probs"], 3, "probabilities must be in [0, 1]"),
        ([0.5, np.nan], [1.0, 0.0], ["--input", "probs"], 3, "row 1"),
        ([0.5, np.nan], [1.0, 0.0], [], 3, "non-finite"),
        ([0.5, 0.2], [1.0, 0.0], ["--input", "probs", "--pos-weight", "2"], 2, "--pos-weight"),
        ([[0.5, 0.2]], [[1.0, 0.0]], ["--weight", "1,2,3"], 2, "weight has 3 values"),
        ([[0.5, 0.2]], [1.0], [], 3, "shape"),
        ([0.5], [1.0], ["--reduction", "avg"], 2, "--reduction"),
        ([0.5], [1.0], ["--pos-weight", "a,b"], 2, "--pos-weight"),
    ],
)
def test_errors(
    tmp_path: Path, preds: Any, target: Any, args: list[str], code: int, text: str
) -> None:
    np.save(tmp_path / "x.npy", np.array(preds))
    np.save(tmp_path / "t.npy", np.array(target))
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", *args)
    assert res.exit_code == code, (res.stdout, res.stderr)
    assert res.stdout == ""
    assert res.stderr.startswith("error: ") and text in res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_nan_logits_propagate_on_request(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.array([0.5, np.nan]))
    np.save(tmp_path / "t.npy", np.array([1.0, 0.0]))
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "--nonfinite", "propagate",
              "-f", "json")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["loss"] is None and out["warnings"] == ["the loss is NaN"]
    assert "warning: the loss is NaN" in res.stderr


def test_outputs_refused_like_ce(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.array([0.5]))
    np.save(tmp_path / "t.npy", np.array([1.0]))
    (tmp_path / "l.npy").write_bytes(b"keep")
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "-o", tmp_path / "l.npy")
    assert res.exit_code == 3 and "--force" in res.stderr
    assert (tmp_path / "l.npy").read_bytes() == b"keep"
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "--grad-output", tmp_path / "t.npy")
    assert res.exit_code == 3 and "one of the inputs" in res.stderr
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "-o", tmp_path / "l.npy", "--force")
    assert res.exit_code == 0 and np.load(tmp_path / "l.npy").shape == (1,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.npy", "t.npy", "x.npy"]


def test_formats_tsv_and_table(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.array([0.5, -0.5]))
    np.save(tmp_path / "t.npy", np.array([1.0, 1.0]))
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "-f", "tsv")
    head, values = res.stdout.splitlines()
    row = dict(zip(head.split("\t"), values.split("\t"), strict=True))
    assert row["command"] == "bce" and row["samples"] == "2"
    assert math.isclose(float(row["loss"]), cecli.binary_cross_entropy_with_logits(
        np.array([0.5, -0.5]), np.array([1.0, 1.0])), rel_tol=1e-15)
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "-f", "table")
    assert res.exit_code == 0 and "BCEWithLogitsLoss" in res.stdout and "elements" in res.stdout


def test_empty_input_gives_nan_mean_and_a_warning(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((0, 3)))
    np.save(tmp_path / "t.npy", np.zeros((0, 3)))
    res = run("bce", tmp_path / "x.npy", tmp_path / "t.npy", "-f", "json")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["loss"] is None and out["samples"] == 0 and out["warnings"]
    out = ok_json("bce", tmp_path / "x.npy", tmp_path / "t.npy", "-r", "sum")
    assert out["loss"] == 0.0
