"""``cecli softmax PREDS -o OUT``: torch's softmax / log_softmax, streamed, in OUT's format.

References: ``tests/fixtures/bce_softmax/`` (``family == "softmax"``) from
``scripts/make_golden_family.py``: ``torch.softmax`` / ``torch.log_softmax`` of ``x / T`` in
the input's dtype, including ``-inf`` entries, an all ``-inf`` row (NaN, as torch), logits of
1000 and a class axis of -1. Softmax values are relatively accurate (an exp of the same shifted
input, one division), and log-softmax is a sum of two non-positive terms (no cancellation), so
a relative tolerance alone is right: ``1e-6`` for float32, ``1e-10`` for float64. Never
imports torch.
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
    c for c in json.loads((FIXTURES / "cases.json").read_text())["cases"]
    if c["family"] == "softmax"
]
TOL = {"float32": 1e-6, "float64": 1e-10}


@cache
def _arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "arrays.npz") as z:
        return {k: z[k] for k in z.files}


def A(key: str) -> np.ndarray:
    return _arrays()[key].copy()


def run(*args: Any, input: str | None = None) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ok(*args: Any, input: str | None = None) -> dict[str, Any]:
    res = run("softmax", *args, "-f", "json", input=input)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def assert_close(got: np.ndarray, exp: np.ndarray, tol: float) -> None:
    got, exp = np.asarray(got, dtype=np.float64), np.asarray(exp, dtype=np.float64)
    assert got.shape == exp.shape
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~np.isclose(got, exp, rtol=tol, atol=0.0, equal_nan=True))
    assert bad.size == 0, f"{bad.size} differ; first {got.reshape(-1)[bad[0]]!r} vs {exp.reshape(-1)[bad[0]]!r}"


def read_table(path: Path, sep: str = ",") -> tuple[list[str], list[list[str]]]:
    lines = path.read_text().splitlines()
    return lines[0].split(sep), [ln.split(sep) for ln in lines[1:]]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_softmax_npy_matches_torch(case: dict[str, Any], tmp_path: Path) -> None:
    x = A(case["preds"])
    np.save(tmp_path / "x.npy", x)
    out = ok(tmp_path / "x.npy", "-o", tmp_path / "p.npy", *case["args"], "--chunk-rows", 3)
    got = np.load(tmp_path / "p.npy")
    assert got.dtype == x.dtype and got.shape == x.shape
    assert out["rows"] == x.shape[0] and out["shape"] == list(x.shape)
    assert_close(got, A(case["expected"]), TOL[case["dtype"]])


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet-list", "parquet-wide"])
def test_softmax_tables_match_torch(fmt: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c["id"] == "softmax-t-f64-log")
    x, exp = A(case["preds"]), A(case["expected"])
    np.save(tmp_path / "x.npy", x)
    ext = fmt.split("-")[0]
    args = ["--wide"] if fmt == "parquet-wide" else []
    out = ok(tmp_path / "x.npy", "-o", tmp_path / f"p.{ext}", *case["args"], *args)
    if ext in ("csv", "tsv"):
        header, rows = read_table(tmp_path / f"p.{ext}", "," if ext == "csv" else "\t")
        assert header == [str(i) for i in range(x.shape[1])]
        got = np.array([[float(v) for v in r] for r in rows])
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(tmp_path / "p.parquet")
        if fmt == "parquet-list":
            assert table.column_names == ["logprobs"] and out["layout"] == "list"
            got = np.array(table.column("logprobs").to_pylist(), dtype=np.float64)
        else:
            assert table.column_names == [str(i) for i in range(x.shape[1])]
            got = np.column_stack([table.column(c).to_numpy() for c in table.column_names])
    assert_close(got, exp, TOL["float64"])


def test_wide_csv_carries_ids_and_class_names_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 3))
    f = tmp_path / "in.csv"
    f.write_text("doc,cat,dog,owl\n" + "".join(
        f"d{i}," + ",".join(repr(float(v)) for v in x[i]) + "\n" for i in range(50)))
    ok(f, "-o", tmp_path / "p.csv", "--id-col", "doc", "--chunk-rows", 7, "--workers", 2)
    header, rows = read_table(tmp_path / "p.csv")
    assert header == ["id", "cat", "dog", "owl"]
    assert [r[0] for r in rows] == [f"d{i}" for i in range(50)]
    got = np.array([[float(v) for v in r[1:]] for r in rows])
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-14)


def test_parquet_list_output_feeds_ce_probs(tmp_path: Path) -> None:
    # The target column is carried, so the output is a ready input of `ce --input probs`.
    f = tmp_path / "in.csv"
    f.write_text("id,a,b,label\nr0,2.0,0.0,a\nr1,0.0,1.0,a\nr2,-1.0,3.0,b\n")
    out = ok(f, "-o", tmp_path / "p.parquet")
    assert out["columns"] == ["id", "target", "probs"]
    res = run("ce", tmp_path / "p.parquet", "--input", "probs", "-f", "value")
    ref = run("ce", f, "-f", "value")
    assert res.exit_code == 0 and ref.exit_code == 0, (res.stderr, ref.stderr)
    assert float(res.stdout) == pytest.approx(float(ref.stdout), rel=1e-12)


def test_unbatched_and_empty_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([0.0, np.log(3.0)]))
    ok(tmp_path / "v.npy", "-o", tmp_path / "pv.npy")
    np.testing.assert_allclose(np.load(tmp_path / "pv.npy"), [0.25, 0.75], rtol=1e-15)
    np.save(tmp_path / "e.npy", np.zeros((0, 4), dtype=np.float32))
    out = ok(tmp_path / "e.npy", "-o", tmp_path / "pe.npy")
    assert out["rows"] == 0 and np.load(tmp_path / "pe.npy").shape == (0, 4)


def test_refuses_to_clobber(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    res = run("softmax", tmp_path / "x.npy", "-o", tmp_path / "x.npy", "--force")
    assert res.exit_code == 3 and "one of the inputs" in res.stderr
    (tmp_path / "p.csv").write_text("keep\n")
    res = run("softmax", tmp_path / "x.npy", "-o", tmp_path / "p.csv")
    assert res.exit_code == 3 and res.stderr.startswith("error: ") and "--force" in res.stderr
    assert (tmp_path / "p.csv").read_text() == "keep\n"
    res = run("softmax", tmp_path / "x.npy", "-o", tmp_path / "p.csv", "--force", "-q")
    assert res.exit_code == 0 and res.stderr == ""
    assert (tmp_path / "p.csv").read_text().splitlines()[1] == ",".join([repr(1 / 3)] * 3)


def test_a_failed_run_leaves_nothing(tmp_path: Path) -> None:
    f = tmp_path / "in.csv"
    f.write_text("a,b\n" + "1.0,2.0\n" * 100 + "1.0,oops\n")
    res = run("softmax", f, "-o", tmp_path / "p.csv", "--chunk-rows", 10)
    assert res.exit_code == 3, res.stderr
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["--temperature", "0"], 2, "--temperature"),
        (["--temperature", "nan"], 2, "--temperature"),
        (["--wide"], 2, "--wide"),
        (["-o", "p.txt"], 2, "output format"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], code: int, text: str) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    out = [] if "-o" in args else ["-o", tmp_path / "p.npy"]
    res = run("softmax", tmp_path / "x.npy", *out, *args)
    assert res.exit_code == code, res.stderr
    assert text in res.stderr


def test_3d_rows_need_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 4)))
    res = run("softmax", tmp_path / "x.npy", "-o", tmp_path / "p.csv")
    assert res.exit_code == 2 and ".npy" in res.stderr
    assert not (tmp_path / "p.csv").exists()
