"""Column roles by evidence, class order, labels by name, headerless CSV (issue 12).

Each file here is one a user really has (pandas ``to_csv`` with its index, R's ``write.csv``,
``np.savetxt``, a Parquet with a pandas index, ...), written by hand or pyarrow so the tests
need no pandas. Every expected loss is computed here with NumPy from the logits and labels
the test wrote (``ref_ce``: ``mean(logsumexp(x) - x[y])`` in float64), never taken from
cecli. Each case failed before this work: the index became an extra class, a column was
dropped, labels were read as positions, the first row was lost, or a label wrapped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cecli

from cecli.readers import ReadOptions, open_inputs

N, C = 12, 3
NAMES = ["a", "b", "c"]


def ref_ce(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
    return float(np.mean(lse - x[np.arange(len(y)), y]))


@pytest.fixture(scope="module")
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(N, C)) * 2
    y = np.arange(N) % C
    rng.shuffle(y)
    return x, y


def cells(row: np.ndarray) -> list[str]:
    return [repr(float(v)) for v in row]


def loss_of(args: list[Any]) -> tuple[float, dict[str, Any], str]:
    proc = run_cecli(["ce", *args, "-f", "json"])
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    out = json.loads(proc.stdout)
    return out["loss"], out, err


def error_of(args: list[Any], code: int = 3) -> str:
    proc = run_cecli(["ce", *args, "-f", "value"])
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and proc.stdout == b""
    return lines[0]


# -- index-like columns are never classes ---------------------------------------------------------
def _indexed_csv(x: np.ndarray, y: np.ndarray, head: str, index: list[str]) -> str:
    lines = [f"{head},a,b,c,label"]
    lines += [",".join([i, *cells(r), str(t)]) for i, r, t in zip(index, x, y, strict=True)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "head, index",
    [
        ("", [str(i) for i in range(N)]),  # pandas df.to_csv("p.csv"): the default
        ("Unnamed: 0", [str(i) for i in range(N)]),  # read back and written again
        ("index", [str(i) for i in range(N)]),  # df.reset_index().to_csv(index=False)
        ('""', [f'"{i + 1}"' for i in range(N)]),  # R's write.csv row names
        ("", [str(100 + 7 * i) for i in range(N)]),  # a shuffled / filtered frame's index
    ],
    ids=["pandas-unnamed", "unnamed-0", "index", "r-row-names", "unnamed-not-0..n"],
)
def test_an_index_column_by_its_header_is_not_a_class(
    tmp_path: Path, xy: Any, head: str, index: list[str]
) -> None:
    x, y = xy
    (tmp_path / "p.csv").write_text(_indexed_csv(x, y, head, index))
    loss, out, err = loss_of([tmp_path / "p.csv"])
    assert out["classes"] == C
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)
    assert err == ""  # the header says it: excluded silently


def test_a_row_number_column_among_float_logits_is_excluded_with_a_warning(
    tmp_path: Path, xy: Any
) -> None:
    x, y = xy
    (tmp_path / "p.csv").write_text(_indexed_csv(x, y, "row", [str(i) for i in range(N)]))
    loss, out, err = loss_of([tmp_path / "p.csv"])
    assert out["classes"] == C
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)
    assert "'row'" in err and "row numbers" in err
    assert any("'row'" in w for w in out["warnings"])


@pytest.mark.parametrize(
    "name, values",
    [("fold", lambda i: i % 5), ("epoch", lambda i: 3), ("grp", lambda i: i // 4)],
    ids=["fold", "epoch", "grp"],
)
def test_an_integer_column_among_float_logits_is_an_error_naming_the_fix(
    tmp_path: Path, xy: Any, name: str, values: Any
) -> None:
    x, y = xy
    vals = [str(values(i)) for i in range(N)]
    (tmp_path / "p.csv").write_text(_indexed_csv(x, y, name, vals))
    line = error_of([tmp_path / "p.csv"])
    assert f"column {name!r}" in line and "--logit-cols" in line and "--id-col" in line
    # the option settles it
    loss, _, _ = loss_of([tmp_path / "p.csv", "--logit-cols", "a,b,c"])
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)
    loss, _, _ = loss_of([tmp_path / "p.csv", "--id-col", name])
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)


@pytest.mark.parametrize(
    "spec, option",
    [("a,b,c,label", []), ("a,b,c,w", ["--sample-weight-col", "w"]), ("a,b,c,k", ["--id-col", "k"])],
)
def test_logit_cols_naming_another_role_is_a_usage_error(
    tmp_path: Path, xy: Any, spec: str, option: list[str]
) -> None:
    x, y = xy
    text = "a,b,c,label,w,k\n" + "".join(
        ",".join([*cells(r), str(t), "1.0", f"s{i}"]) + "\n"
        for i, (r, t) in enumerate(zip(x, y, strict=True))
    )
    (tmp_path / "p.csv").write_text(text)
    line = error_of([tmp_path / "p.csv", "--logit-cols", spec, *option], code=2)
    assert "--logit-cols" in line and spec.split(",")[-1] in line


def _pandas_meta(index: list[str]) -> bytes:
    return json.dumps({"index_columns": index, "columns": [], "pandas_version": "2.2.0"}).encode()


def test_parquet_named_pandas_index_is_not_a_class(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    table = pa.table(
        {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": y, "sample": 1000 + np.arange(N) * 3.5}
    )
    # df.set_index("sample").to_parquet(...): the index is a stored column, named in metadata
    table = table.replace_schema_metadata({b"pandas": _pandas_meta(["sample"])})
    pq.write_table(table, tmp_path / "p.parquet")
    loss, out, err = loss_of([tmp_path / "p.parquet"])
    assert out["classes"] == C and err == ""
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)


@pytest.mark.parametrize(
    "kind",
    ["bool", "decimal", "timestamp", "struct", "map"],
)
def test_parquet_odd_column_among_wide_logits_is_an_error(
    tmp_path: Path, xy: Any, kind: str
) -> None:
    import decimal

    x, y = xy
    odd = {
        "bool": pa.array([i % 2 == 0 for i in range(N)]),
        "decimal": pa.array([decimal.Decimal("1.25")] * N, pa.decimal128(5, 2)),
        "timestamp": pa.array(np.arange(N).astype("datetime64[s]")),
        "struct": pa.array([{"u": 1.0}] * N),
        "map": pa.array([[("k", 1.0)]] * N, pa.map_(pa.string(), pa.float64())),
    }[kind]
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "odd": odd, "c": x[:, 2], "label": y})
    pq.write_table(table, tmp_path / "p.parquet")
    line = error_of([tmp_path / "p.parquet"])
    assert "column 'odd'" in line and "--logit-cols" in line
    loss, _, _ = loss_of([tmp_path / "p.parquet", "--logit-cols", "a,b,c"])
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)


def test_trailing_empty_column_is_not_a_class(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    text = "a,b,c,label,\n" + "".join(",".join([*cells(r), str(t)]) + ",\n" for r, t in zip(x, y, strict=True))
    (tmp_path / "p.csv").write_text(text)
    loss, out, _ = loss_of([tmp_path / "p.csv"])
    assert out["classes"] == C
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)


def test_semicolon_csv_with_decimal_commas_gets_a_fix_that_keeps_the_numbers(
    tmp_path: Path, xy: Any
) -> None:
    x, y = xy
    text = "a;b;c;label\n" + "".join(
        ";".join([*(f"{v:.6f}".replace(".", ",") for v in r), str(t)]) + "\n"
        for r, t in zip(x, y, strict=True)
    )
    (tmp_path / "p.csv").write_text(text)
    line = error_of([tmp_path / "p.csv"])
    assert "semicolon" in line and "decimal" in line and "tr ';'" not in line


# -- --classes against a header that names the classes --------------------------------------------
def _named_csv(path: Path, x: np.ndarray, labels: list[str]) -> None:
    text = "a,b,c,label\n" + "".join(
        ",".join([*cells(r), t]) + "\n" for r, t in zip(x, labels, strict=True)
    )
    path.write_text(text)


def test_classes_reorders_named_columns_by_name(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    _named_csv(tmp_path / "p.csv", x, [NAMES[t] for t in y])
    order = [1, 0, 2]  # --classes b,a,c
    loss, out, _ = loss_of([tmp_path / "p.csv", "--classes", "b,a,c", "--per-class"])
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)
    assert [r["class"] for r in sorted(out["per_class"], key=lambda r: r["index"])] == [
        NAMES[i] for i in order
    ]
    with open_inputs(str(tmp_path / "p.csv"), None, ReadOptions(classes=("b", "a", "c"))) as inp:
        batch = next(inp.batches(100))
    np.testing.assert_array_equal(batch.preds, x[:, order])
    np.testing.assert_array_equal(batch.target, np.argsort(order)[y])


def test_classes_that_the_header_does_not_name_are_an_error(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    _named_csv(tmp_path / "p.csv", x, [str(t) for t in y])
    line = error_of([tmp_path / "p.csv", "--classes", "x,y,z"])
    assert "--classes" in line and "'x'" in line


def test_classes_name_positional_columns(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    text = "logit_0,logit_1,logit_2,label\n" + "".join(
        ",".join([*cells(r), NAMES[t]]) + "\n" for r, t in zip(x, y, strict=True)
    )
    (tmp_path / "p.csv").write_text(text)
    loss, _, _ = loss_of([tmp_path / "p.csv", "--classes", "a,b,c"])
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)


# -- labels ---------------------------------------------------------------------------------------
def test_integer_labels_match_integer_column_names_by_name(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    names = [1, 2, 3]  # sklearn classes_ = [1, 2, 3]; label 1 is column "1"
    text = "1,2,3,label\n" + "".join(
        ",".join([*cells(r), str(names[t])]) + "\n" for r, t in zip(x, y, strict=True)
    )
    (tmp_path / "p.csv").write_text(text)
    loss, _, _ = loss_of([tmp_path / "p.csv"])
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)
    # also from a separate TARGETS file
    (tmp_path / "t.txt").write_text("".join(f"{names[t]}\n" for t in y))
    lines = ["1,2,3"] + [",".join(cells(r)) for r in x]
    (tmp_path / "q.csv").write_text("\n".join(lines) + "\n")
    loss, _, _ = loss_of([tmp_path / "q.csv", tmp_path / "t.txt"])
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)
    # a label that names no class is an error naming its row and value
    (tmp_path / "t0.txt").write_text("".join(f"{names[t] if i != 4 else 0}\n" for i, t in enumerate(y)))
    line = error_of([tmp_path / "q.csv", tmp_path / "t0.txt"])
    assert "row 5" in line and "value 0" in line


def test_uint64_labels_beyond_int64_are_an_error_with_their_value(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    np.save(tmp_path / "p.npy", x)
    t = y.astype(np.uint64)
    t[3] = np.uint64(2**64 - 100)  # wraps to -100, the ignore_index, when cast
    np.save(tmp_path / "t.npy", t)
    line = error_of([tmp_path / "p.npy", tmp_path / "t.npy"])
    assert "row 3" in line and str(2**64 - 100) in line


def test_huge_float_labels_are_reported_as_written(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    labels = [str(t) for t in y]
    labels[2] = "1e20"
    _named_csv(tmp_path / "p.csv", x, labels)
    line = error_of([tmp_path / "p.csv"])
    assert "row 3" in line and "1e+20" in line and "-9223372036854775808" not in line


# -- headerless CSV -------------------------------------------------------------------------------
def test_savetxt_csv_is_refused_without_no_header_and_read_with_it(
    tmp_path: Path, xy: Any
) -> None:
    x, y = xy
    np.savetxt(tmp_path / "p.csv", x, delimiter=",")
    np.savetxt(tmp_path / "t.txt", y, fmt="%d")
    line = error_of([tmp_path / "p.csv", tmp_path / "t.txt"])
    assert "--no-header" in line
    loss, out, _ = loss_of([tmp_path / "p.csv", tmp_path / "t.txt", "--no-header"])
    assert out["inputs"][0]["rows"] == N
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)
    np.savetxt(tmp_path / "py.csv", np.column_stack([y, x]), delimiter=",")
    loss, _, _ = loss_of([tmp_path / "py.csv", "--no-header", "--target-col", "0"])
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)


def test_integer_header_is_still_a_header(tmp_path: Path, xy: Any) -> None:
    x, y = xy  # pd.DataFrame(logits).to_csv(index=False): columns named 0, 1, 2
    text = "0,1,2\n" + "".join(",".join(cells(r)) + "\n" for r in x)
    (tmp_path / "p.csv").write_text(text)
    (tmp_path / "t.txt").write_text("".join(f"{t}\n" for t in y))
    loss, out, _ = loss_of([tmp_path / "p.csv", tmp_path / "t.txt"])
    assert out["inputs"][0]["rows"] == N
    assert loss == pytest.approx(ref_ce(x, y), rel=1e-12)


# -- wide CSV -------------------------------------------------------------------------------------
def test_csv_header_over_1_mib(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    c, n = 100_000, 5
    x = rng.normal(size=(n, c))
    y = rng.integers(0, c, n)
    with open(tmp_path / "w.csv", "w") as f:
        f.write(",".join(f"class_{i}" for i in range(c)) + ",label\n")
        for r, t in zip(x, y, strict=True):
            f.write(",".join(cells(r)) + f",{t}\n")
    with open(tmp_path / "w.csv") as f:
        assert len(f.readline()) > 1 << 20
    loss, out, _ = loss_of([tmp_path / "w.csv"])
    assert out["classes"] == c
    assert math.isclose(loss, ref_ce(x, y), rel_tol=1e-12)


# -- float32 text ---------------------------------------------------------------------------------
def test_float32_shortest_text_gives_the_npy_number_bit_for_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    x = (rng.normal(size=(300, 7)) * 3).astype(np.float32)
    y = rng.integers(0, 7, 300)
    np.save(tmp_path / "p.npy", x)
    np.save(tmp_path / "t.npy", y)
    # str() of a numpy float32: its shortest text, as pandas to_csv of a float32 frame writes
    text = "a,b,c,d,e,f,g,label\n" + "".join(
        ",".join([*(str(v) for v in r), str(t)]) + "\n" for r, t in zip(x, y, strict=True)
    )
    assert "0." in text and all(len(v) < 13 for v in text.split(",")[8:20])
    (tmp_path / "p.csv").write_text(text)
    want, _, _ = loss_of([tmp_path / "p.npy", tmp_path / "t.npy"])
    got, _, _ = loss_of([tmp_path / "p.csv"])
    assert got == want  # the same float32 numbers in, the same bits out
    with open_inputs(str(tmp_path / "p.csv"), None, ReadOptions()) as inp:
        preds = next(inp.batches(1000)).preds
    assert preds.dtype == np.float32
    np.testing.assert_array_equal(preds, x)


def test_double_precision_text_stays_float64(tmp_path: Path, xy: Any) -> None:
    x, y = xy
    _named_csv(tmp_path / "p.csv", x, [str(t) for t in y])
    with open_inputs(str(tmp_path / "p.csv"), None, ReadOptions()) as inp:
        preds = next(inp.batches(1000)).preds
    assert preds.dtype == np.float64
    np.testing.assert_array_equal(preds, x)


def test_classes_against_a_header_named_by_the_labels(tmp_path: Path, xy: Any) -> None:
    x, y = xy  # header class_0.. and labels class_0..: the header names the classes
    text = "class_0,class_1,class_2,label\n" + "".join(
        ",".join([*cells(r), f"class_{t}"]) + "\n" for r, t in zip(x, y, strict=True)
    )
    (tmp_path / "p.csv").write_text(text)
    line = error_of([tmp_path / "p.csv", "--classes", "red,white,rose"])
    assert "--classes" in line and "class_0" in line


def test_an_undeclared_weight_column_is_never_a_class(tmp_path: Path) -> None:
    """A float ``sample_weight`` column (sklearn's name) among the logits: an error naming it
    and --sample-weight-col, never a fourth class; declared, it weights the loss."""
    x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, 3.0, 0.0]])
    y = np.array([0, 2, 1])
    w = np.array([1.0, 2.0, 0.5])
    lines = ["a,b,c,label,sample_weight"] + [
        ",".join([*(repr(float(v)) for v in x[i]), str(y[i]), repr(float(w[i]))]) for i in range(3)
    ]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    res = run_cecli(["ce", str(tmp_path / "p.csv"), "-f", "json"])
    assert res.returncode == 3
    err = res.stderr.decode()
    assert err.count("error:") == 1 and "'sample_weight'" in err and "--sample-weight-col" in err
    out = run_cecli(["ce", str(tmp_path / "p.csv"), "--sample-weight-col", "sample_weight",
                     "-f", "value"])
    lp = x - x.max(1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
    want = float(np.sum(-lp[np.arange(3), y] * w) / np.sum(w))
    assert float(out.stdout) == pytest.approx(want, rel=1e-12)


def test_labels_keep_a_prefix_of_their_own(tmp_path: Path) -> None:
    """Columns ``logit_class_0 ..`` with labels ``class_0 ..``: only ``logit_`` is the columns'
    prefix; the labels keep ``class_``."""
    x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, 3.0, 0.0]])
    y = np.array([0, 2, 1])
    lines = ["logit_class_0,logit_class_1,logit_class_2,label"] + [
        ",".join([*(repr(float(v)) for v in x[i]), f"class_{y[i]}"]) for i in range(3)
    ]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    out = run_cecli(["ce", str(tmp_path / "p.csv"), "-f", "value"])
    assert out.returncode == 0, out.stderr
    lp = x - x.max(1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
    assert float(out.stdout) == pytest.approx(float(np.mean(-lp[np.arange(3), y])), rel=1e-12)


def test_r_write_table_row_names(tmp_path: Path) -> None:
    """R's ``write.table`` writes no header cell over the row names: each data row has one field
    more than the header. The row names are an index, not a class; a row ending in an empty
    field (a trailing delimiter) is not taken for that layout."""
    x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, 3.0, 0.0]])
    y = np.array([0, 2, 1])
    rows = [f'"{10 + i}"\t' + "\t".join([*(repr(float(v)) for v in x[i]), f'"c{y[i]}"'])
            for i in range(3)]
    (tmp_path / "r.tsv").write_text("\n".join(['"c0"\t"c1"\t"c2"\t"label"', *rows]) + "\n")
    out = run_cecli(["ce", str(tmp_path / "r.tsv"), "-f", "json"])
    assert out.returncode == 0, out.stderr
    lp = x - x.max(1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
    doc = json.loads(out.stdout)
    assert doc["classes"] == 3
    assert doc["loss"] == pytest.approx(float(np.mean(-lp[np.arange(3), y])), rel=1e-12)
    trailing = ["a,b,c,label", *(",".join([*(repr(float(v)) for v in x[i]), str(y[i]), ""])
                                 for i in range(3))]
    (tmp_path / "t.csv").write_text("\n".join(trailing) + "\n")
    res = run_cecli(["ce", str(tmp_path / "t.csv"), "-f", "json"])
    assert res.returncode == 3 and res.stderr.decode().count("error:") == 1


def test_columns_named_unlike_a_numbered_family_of_classes_are_an_error(tmp_path: Path) -> None:
    """float32 ``logit_0..4`` beside a float64 ``confidence`` and an int ``epoch`` holding -1
    (which passes as integer-valued logits): all seven were taken as classes, a wrong loss
    with exit 0. Named unlike the numbered family, they are not evidently classes."""
    import pandas as pd

    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 5)).astype(np.float32)
    y = rng.integers(0, 5, 200)
    df = pd.DataFrame(x, columns=[f"logit_{j}" for j in range(5)])
    df["label"] = y
    df["confidence"] = rng.random(200)
    df["epoch"] = rng.integers(-1, 5, 200)
    df.to_parquet(tmp_path / "p.parquet", index=False)
    res = run_cecli(["ce", tmp_path / "p.parquet", "-f", "value"])
    err = res.stderr.decode()
    assert res.returncode == 3 and res.stdout == b"", err
    assert err.count("\n") == 1 and "column 'confidence'" in err and "--logit-cols 'logit_*'" in err
    ok = run_cecli(["ce", tmp_path / "p.parquet", "--logit-cols", "logit_*", "-f", "value"])
    lp = x.astype(np.float64) - np.log(np.exp(x.astype(np.float64)).sum(axis=1, keepdims=True))
    assert float(ok.stdout) == pytest.approx(-lp[np.arange(200), y].mean(), rel=1e-6)
    # no numbered family (named classes), or only the family: read as before
    df2 = pd.DataFrame(x[:, :3], columns=["cat", "dog", "bird"]).assign(label=y % 3)
    df2.to_parquet(tmp_path / "named.parquet", index=False)
    assert run_cecli(["ce", tmp_path / "named.parquet", "-f", "value"]).returncode == 0
