"""Readers: every format read back to the arrays written, every error named precisely.

All inputs are written into ``tmp_path`` by the tests themselves (numpy / pyarrow writers), so
the expected arrays are the ones we wrote, never numbers produced by the code under test.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from cecli.errors import DataError, InputError, UsageError
from cecli.readers import ReadOptions, inspect_file, open_inputs
from cecli.readers.roles import RolesError

ROOT = Path(__file__).resolve().parent.parent
CHUNKS = (1, 7, 1000)
NAMES = ["cat", "dog", "eel", "fox"]


def read_all(
    preds: Any, targets: Any = None, opts: ReadOptions | None = None, chunk: int = 7, **kw: Any
) -> dict[str, Any]:
    """Stream everything; concatenate each field; check starts are consecutive."""
    with open_inputs(
        str(preds), None if targets is None else str(targets), opts or ReadOptions(), **kw
    ) as inputs:
        batches = list(inputs.batches(chunk))
        out: dict[str, Any] = {"inputs": inputs}
        pos = 0
        for b in batches:
            assert b.start == pos
            assert 1 <= len(b.preds) <= chunk
            pos += len(b.preds)
        out["rows"] = pos
        for name in ("preds", "target", "ids", "sample_weight", "group"):
            arrays = [getattr(b, name) for b in batches]
            out[name] = None if not arrays or arrays[0] is None else np.concatenate(arrays)
        return out


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((29, 4)).astype(np.float32)
    y = rng.integers(0, 4, 29)
    return x, y


def wide_table(x: np.ndarray, y: Any, prefix: str = "logit_") -> pa.Table:
    cols: dict[str, Any] = {f"{prefix}{n}": x[:, j] for j, n in enumerate(NAMES)}
    cols["label"] = y
    return pa.table(cols)


def check_error(exc: pytest.ExceptionInfo[Any], *parts: object) -> None:
    text = str(exc.value)
    for part in parts:
        assert str(part) in text, f"{part!r} not in {text!r}"


# --------------------------------------------------------------------------------- NPY / NPZ
@pytest.mark.parametrize("chunk", CHUNKS)
def test_npy_preds_and_targets(tmp_path: Path, data: Any, chunk: int) -> None:
    x, y = data
    np.save(tmp_path / "p.npy", x)
    np.save(tmp_path / "t.npy", y.astype(np.int16))
    got = read_all(tmp_path / "p.npy", tmp_path / "t.npy", chunk=chunk)
    np.testing.assert_array_equal(got["preds"], x)
    np.testing.assert_array_equal(got["target"], y)
    assert got["target"].dtype == np.int16
    inputs = got["inputs"]
    assert inputs.sample_shape == (4,) and inputs.dtype == np.float32 and inputs.rows == 29
    assert [s.format for s in inputs.sources] == ["npy", "npy"]


def test_npy_float16_fortran_and_views(tmp_path: Path, data: Any) -> None:
    x, y = data
    np.save(tmp_path / "f.npy", np.asfortranarray(x.astype(np.float16)))
    np.save(tmp_path / "t.npy", y)
    with open_inputs(str(tmp_path / "f.npy"), str(tmp_path / "t.npy"), ReadOptions()) as inp:
        assert inp.dtype == np.float16
        got = np.concatenate([b.preds for b in inp.batches(5)])
    np.testing.assert_array_equal(got, x.astype(np.float16))
    np.save(tmp_path / "c.npy", x.astype(np.float16))
    with open_inputs(str(tmp_path / "c.npy"), str(tmp_path / "t.npy"), ReadOptions()) as inp:
        first = next(inp.batches(5)).preds
        assert first.dtype == np.float16
        assert not first.flags.writeable and not first.flags.owndata  # a view of the map


def test_npy_class_axis_last(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 5)).astype(np.float32)  # (batch, seq, vocab)
    y = rng.integers(0, 5, (6, 3))
    np.save(tmp_path / "p.npy", x)
    np.save(tmp_path / "t.npy", y)
    opts = ReadOptions(class_axis=-1, classes=tuple("abcde"))
    got = read_all(tmp_path / "p.npy", tmp_path / "t.npy", opts, chunk=4)
    np.testing.assert_array_equal(got["preds"], x)
    np.testing.assert_array_equal(got["target"], y)
    assert got["inputs"].sample_shape == (3, 5)
    assert got["inputs"].class_names == list("abcde")


def test_npy_unbatched_and_binary(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", np.array([0.1, 2.0, -1.0], dtype=np.float32))
    np.save(tmp_path / "t.npy", np.array(2))
    got = read_all(tmp_path / "p.npy", tmp_path / "t.npy")
    assert got["inputs"].unbatched and got["inputs"].sample_shape == (3,)
    assert got["preds"].shape == (1, 3) and got["target"].tolist() == [2]
    np.save(tmp_path / "b.npy", np.array([0.5, -1.0, 2.0, 0.0]))
    np.save(tmp_path / "bt.npy", np.array([1.0, 0.0, 1.0, 1.0]))
    got = read_all(tmp_path / "b.npy", tmp_path / "bt.npy", ReadOptions(binary=True), chunk=3)
    assert not got["inputs"].unbatched and got["inputs"].sample_shape == ()
    assert got["preds"].shape == (4,) and got["rows"] == 4


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_keys(tmp_path: Path, data: Any, compressed: bool) -> None:
    x, y = data
    save = np.savez_compressed if compressed else np.savez
    save(tmp_path / "a.npz", logits=x, labels=y, extra=np.arange(3))
    got = read_all(tmp_path / "a.npz", chunk=6)
    np.testing.assert_array_equal(got["preds"], x)
    np.testing.assert_array_equal(got["target"], y)
    assert got["inputs"].target_info is None and got["inputs"].target_name == "labels"
    save(tmp_path / "b.npz", scores=np.asfortranarray(x), gold=y)
    got = read_all(tmp_path / "b.npz", opts=ReadOptions(preds_key="scores", target_key="gold"))
    np.testing.assert_array_equal(got["preds"], x)
    np.testing.assert_array_equal(got["target"], y)
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "b.npz"), None, ReadOptions(preds_key="scores"))
    check_error(exc, "b.npz", "gold", "--target-key")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "b.npz"), None, ReadOptions(preds_key="score"))
    check_error(exc, "b.npz", "'score'", "did you mean --preds-key scores")


def test_npz_stored_member_is_mapped(tmp_path: Path, data: Any) -> None:
    x, y = data
    np.savez(tmp_path / "a.npz", logits=x, y=y)
    with open_inputs(str(tmp_path / "a.npz"), None, ReadOptions()) as inp:
        first = next(inp.batches(10)).preds
        assert not first.flags.owndata and not first.flags.writeable
        np.testing.assert_array_equal(first, x[:10])


# ------------------------------------------------------------------------------- CSV / TSV
@pytest.mark.parametrize("chunk", CHUNKS)
def test_csv_string_labels_prefix_stripped(tmp_path: Path, data: Any, chunk: int) -> None:
    x, y = data
    pacsv.write_csv(wide_table(x.astype(np.float64), [NAMES[i] for i in y]), tmp_path / "p.csv")
    got = read_all(tmp_path / "p.csv", chunk=chunk)
    np.testing.assert_allclose(got["preds"], x, rtol=1e-6)
    np.testing.assert_array_equal(got["target"], y)
    assert got["inputs"].class_names == NAMES
    assert got["inputs"].preds_info.rows == 29  # filled in after streaming


def test_csv_crlf_bom_quotes_and_int_like_floats(tmp_path: Path) -> None:
    text = '\ufeffa,"b",label\r\n"1.5",2,1.0\r\n3,"-4e-1",0.0\r\n'
    (tmp_path / "p.csv").write_bytes(text.encode("utf-8"))
    got = read_all(tmp_path / "p.csv")
    np.testing.assert_array_equal(got["preds"], [[1.5, 2.0], [3.0, -0.4]])
    assert got["target"].dtype == np.float64 and got["target"].tolist() == [1.0, 0.0]


def test_tsv_gz_and_columns(tmp_path: Path) -> None:
    rows = [
        "id\tw\tdoc\tp0\tp1\ty",
        "a\t0.5\t1\t0.1\t0.2\t1",
        "b\t2\t1\t0.3\t0.4\t0",
        "c\t1\t2\t0.5\t0.6\t1",
    ]
    with gzip.open(tmp_path / "p.tsv.gz", "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    opts = ReadOptions(sample_weight_col="w", group_col="doc")
    got = read_all(tmp_path / "p.tsv.gz", opts=opts, chunk=2)
    np.testing.assert_array_equal(got["preds"], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    assert got["ids"].tolist() == ["a", "b", "c"]
    assert got["sample_weight"].tolist() == [0.5, 2.0, 1.0]
    assert got["group"].tolist() == [1, 1, 2]
    assert got["target"].tolist() == [1, 0, 1]
    assert got["inputs"].id_name == "id"


def test_csv_logit_cols_glob_and_list(tmp_path: Path, data: Any) -> None:
    x, y = data
    t = wide_table(x.astype(np.float64), y)
    t = t.append_column("score", pa.array(np.ones(29)))
    pacsv.write_csv(t, tmp_path / "p.csv")
    got = read_all(tmp_path / "p.csv", opts=ReadOptions(logit_cols="logit_*"))
    assert got["preds"].shape == (29, 4)
    got = read_all(tmp_path / "p.csv", opts=ReadOptions(logit_cols="logit_dog, logit_cat"))
    np.testing.assert_allclose(got["preds"], x[:, [1, 0]], rtol=1e-6)
    # default: the numeric columns that are evidently classes; an integer column among float
    # logits is not one (issue 12: it used to become a fifth class)
    with pytest.raises(RolesError, match="--logit-cols") as info:
        read_all(tmp_path / "p.csv")
    assert info.value.column == "score"


def test_stdin_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "a,b,y\n" + "".join(f"{i},{-i},{i % 2}\n" for i in range(50))

    class FakeStdin:
        buffer = io.BytesIO(text.encode())

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    got = read_all("-", chunk=8)
    assert got["preds"][:, 0].tolist() == list(range(50))
    assert got["target"].tolist() == [i % 2 for i in range(50)]
    assert got["inputs"].preds_info.format == "csv"
    # stdin cannot be re-read to find a bad row: the reader keeps a window of it
    lines = text.splitlines()
    lines[41] = "7,x7,1"
    FakeStdin.buffer = io.BytesIO("\n".join(lines).encode())
    with pytest.raises(DataError) as exc:
        read_all("-", chunk=8)
    check_error(exc, "-: row 41", "column 'b'", "'x7'")


# ------------------------------------------------------------------------------------ Parquet
@pytest.mark.parametrize("chunk", CHUNKS)
def test_parquet_wide_mixed_widths_row_groups(tmp_path: Path, data: Any, chunk: int) -> None:
    x, y = data
    t = wide_table(x, pa.array(y, pa.int8()))
    t = t.set_column(0, "logit_cat", pa.array(x[:, 0].astype(np.float16)))
    pq.write_table(t, tmp_path / "p.parquet", row_group_size=5)
    got = read_all(tmp_path / "p.parquet", chunk=chunk)
    want = x.copy()
    want[:, 0] = x[:, 0].astype(np.float16)
    assert got["preds"].dtype == np.float32
    np.testing.assert_array_equal(got["preds"], want)
    np.testing.assert_array_equal(got["target"], y)
    assert got["target"].dtype == np.int8
    assert got["inputs"].class_names == ["logit_" + n for n in NAMES]  # int labels: kept


@pytest.mark.parametrize("kind", ["list", "large_list", "fixed_size_list"])
def test_parquet_list_column_float16(tmp_path: Path, data: Any, kind: str) -> None:
    x, y = data
    x16 = x.astype(np.float16)
    flat = pa.array(x16.reshape(-1))
    if kind == "fixed_size_list":
        col = pa.FixedSizeListArray.from_arrays(flat, 4)
    else:
        cls = pa.ListArray if kind == "list" else pa.LargeListArray
        col = cls.from_arrays(
            pa.array(np.arange(30) * 4, pa.int32() if kind == "list" else pa.int64()), flat
        )
    strings = pa.array([NAMES[i] for i in y]).dictionary_encode()
    pq.write_table(
        pa.table({"logits": col, "label": strings}), tmp_path / "p.parquet", row_group_size=8
    )
    got = read_all(tmp_path / "p.parquet", opts=ReadOptions(classes=tuple(NAMES)), chunk=6)
    assert got["preds"].dtype == np.float16
    np.testing.assert_array_equal(got["preds"], x16)
    np.testing.assert_array_equal(got["target"], y)
    assert got["inputs"].sample_shape == (4,)


def test_parquet_list_zero_copy(tmp_path: Path, data: Any) -> None:
    x, _ = data
    col = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 4)
    pq.write_table(pa.table({"logits": col}), tmp_path / "p.parquet")
    with open_inputs(str(tmp_path / "p.parquet"), None, ReadOptions(), need_target=False) as inp:
        b = next(inp.batches(100))
    assert b.target is None and not b.preds.flags.owndata  # a view of Arrow's buffer


def test_parquet_directory_glob_sorted(tmp_path: Path, data: Any) -> None:
    x, y = data
    d = tmp_path / "preds"
    d.mkdir()
    cuts = [0, 10, 11, 29]
    for k, name in ((1, "b.parquet"), (0, "a.parquet"), (2, "c.pq")):  # written out of order
        lo, hi = cuts[k], cuts[k + 1]
        pq.write_table(wide_table(x[lo:hi], y[lo:hi]), d / name)
    (d / "_SUCCESS").write_text("")
    for path in (d, f"{d}/*.p*"):
        got = read_all(path, chunk=4)
        np.testing.assert_array_equal(got["preds"], x)
        np.testing.assert_array_equal(got["target"], y)
        assert got["inputs"].rows == 29


def test_parquet_hive_partitions_as_columns(tmp_path: Path, data: Any) -> None:
    import pyarrow.dataset as ds

    x, y = data
    doc = np.arange(29) // 10
    t = wide_table(x, y).append_column("doc", pa.array(doc))
    ds.write_dataset(
        t, tmp_path / "hive", format="parquet", partitioning=["doc"], partitioning_flavor="hive"
    )
    got = read_all(tmp_path / "hive", opts=ReadOptions(group_col="doc"), chunk=8)
    np.testing.assert_array_equal(got["group"], doc)  # docs 0, 1, 2 sorted by path
    np.testing.assert_array_equal(got["preds"], x)  # `doc` is not taken as a logit
    np.testing.assert_array_equal(got["target"], y)


def test_parquet_string_target_via_prefix(tmp_path: Path, data: Any) -> None:
    x, y = data
    pq.write_table(wide_table(x, [NAMES[i] for i in y], prefix="p_"), tmp_path / "p.parquet")
    got = read_all(tmp_path / "p.parquet")
    np.testing.assert_array_equal(got["target"], y)
    assert got["inputs"].class_names == NAMES


def test_multi_label_target_cols(tmp_path: Path) -> None:
    t = pa.table({"a": [0.1, -2.0], "b": [1.0, 0.0], "ta": [1, 0], "tb": [0.5, 1.0]})
    pq.write_table(t, tmp_path / "m.parquet")
    opts = ReadOptions(logit_cols="a,b", target_cols=("ta", "tb"), binary=True)
    got = read_all(tmp_path / "m.parquet", opts=opts)
    assert got["target"].dtype == np.float64
    np.testing.assert_array_equal(got["target"], [[1.0, 0.5], [0.0, 1.0]])
    np.testing.assert_array_equal(got["preds"], [[0.1, 1.0], [-2.0, 0.0]])


# ------------------------------------------------------------------------------ TXT targets
def test_txt_targets(tmp_path: Path, data: Any) -> None:
    x, y = data
    np.save(tmp_path / "p.npy", x)
    (tmp_path / "t.txt").write_bytes(("\r\n".join(map(str, y)) + "\r\n\r\n").encode())
    got = read_all(tmp_path / "p.npy", tmp_path / "t.txt", chunk=5)
    np.testing.assert_array_equal(got["target"], y)
    (tmp_path / "s.txt").write_text("\ufeff" + "\n".join(NAMES[i] for i in y))
    got = read_all(tmp_path / "p.npy", tmp_path / "s.txt", ReadOptions(classes=tuple(NAMES)))
    np.testing.assert_array_equal(got["target"], y)
    (tmp_path / "f.txt").write_text("\n".join(f"{v}.0" for v in y))
    got = read_all(tmp_path / "p.npy", tmp_path / "f.txt")
    assert got["target"].dtype == np.float64
    np.testing.assert_array_equal(got["target"], y)


def test_string_labels_in_separate_files_use_pred_names(tmp_path: Path, data: Any) -> None:
    x, y = data
    pq.write_table(wide_table(x, y).drop_columns(["label"]), tmp_path / "p.parquet")
    (tmp_path / "t.txt").write_text("\n".join(NAMES[i] for i in y) + "\n")
    got = read_all(tmp_path / "p.parquet", tmp_path / "t.txt")
    np.testing.assert_array_equal(got["target"], y)
    assert got["inputs"].class_names == NAMES
    pacsv.write_csv(
        pa.table({"id": np.arange(29), "label": [NAMES[i] for i in y]}), tmp_path / "t.csv"
    )
    got = read_all(tmp_path / "p.parquet", tmp_path / "t.csv", ReadOptions(id_col="id"))
    np.testing.assert_array_equal(got["target"], y)
    np.testing.assert_array_equal(got["ids"], np.arange(29))
    np.save(tmp_path / "t.npy", np.array([NAMES[i] for i in y]))
    got = read_all(tmp_path / "p.parquet", tmp_path / "t.npy")
    np.testing.assert_array_equal(got["target"], y)


def test_headerless_single_column_target_csv(tmp_path: Path, data: Any) -> None:
    x, y = data
    np.save(tmp_path / "p.npy", x)
    (tmp_path / "t.csv").write_text("\n".join(map(str, y)) + "\n")
    got = read_all(tmp_path / "p.npy", tmp_path / "t.csv")
    np.testing.assert_array_equal(got["target"], y)


# ---------------------------------------------------------------------------- chunk alignment
@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("combo", ["parquet+csv", "csv+npy", "npy+txt", "npz+parquet"])
def test_alignment_across_formats(tmp_path: Path, chunk: int, combo: str) -> None:
    rng = np.random.default_rng(7)
    n = 2500
    x = rng.standard_normal((n, 3))
    y = rng.integers(0, 3, n)
    pfmt, tfmt = combo.split("+")
    p, t = tmp_path / f"p.{pfmt}", tmp_path / f"t.{tfmt}"
    table = pa.table({"c0": x[:, 0], "c1": x[:, 1], "c2": x[:, 2]})
    if pfmt == "parquet":
        pq.write_table(table, p, row_group_size=333)
    elif pfmt == "csv":
        pacsv.write_csv(table, p)
    elif pfmt == "npy":
        np.save(p, x)
    else:
        np.savez_compressed(p, logits=x)
    if tfmt == "csv":
        pacsv.write_csv(pa.table({"target": y}), t)
    elif tfmt == "npy":
        np.save(t, y)
    elif tfmt == "txt":
        t.write_text("\n".join(map(str, y)))
    else:
        pq.write_table(pa.table({"y": y}), t, row_group_size=97)
    got = read_all(p, t, chunk=chunk)
    np.testing.assert_array_equal(got["preds"], x)
    np.testing.assert_array_equal(got["target"], y)


# -------------------------------------------------------------------------------------- errors
def test_missing_target_column_names_closest(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("a,b,lable\n1,2,0\n")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "p.csv"), None, ReadOptions())
    check_error(exc, "p.csv", "--target-col lable", "'a'")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "p.csv"), None, ReadOptions(target_col="labl"))
    check_error(exc, "p.csv", "'labl'", "did you mean --target-col lable")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "p.csv"), None, ReadOptions(target_col="lable", id_col="idx"))
    check_error(exc, "p.csv", "'idx'", "--id-col")
    with open_inputs(str(tmp_path / "p.csv"), None, ReadOptions(), need_target=False) as inp:
        assert not inp.has_target and next(inp.batches(5)).target is None


@pytest.mark.parametrize("bad_row", [3, 40000])
def test_csv_non_numeric_cell(tmp_path: Path, bad_row: int) -> None:
    lines = ["a,b,label"] + [f"{i}.5,1,0" for i in range(50000)]
    lines[bad_row] = "7.5,1x,0"
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "p.csv", chunk=1000)
    check_error(exc, "p.csv", f"row {bad_row}", "column 'b'", "'1x'", "1-based data row")
    assert exc.value.row == bad_row and exc.value.column == "b" and exc.value.value == "1x"


def test_csv_empty_logit_cell_and_ragged_row(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("a,b,label\n1,2,0\n3,,1\n")
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "e.csv")
    check_error(exc, "e.csv", "row 2", "column 'b'", "empty")
    (tmp_path / "r.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6\n")
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "r.csv")
    check_error(exc, "r.csv", "row 3", "2 fields", "3")


def test_csv_malformed_files(tmp_path: Path) -> None:
    cases = {
        "empty.csv": ("", "empty file"),
        "header.csv": ("a,b,label\n", "header only"),
        "dup.csv": ("a,a,label\n1,2,0\n", "duplicate column"),
        "semi.csv": ("a;b;label\n1;2;0\n", "semicolon-separated"),
    }
    for name, (text, what) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError) as exc:
            open_inputs(str(tmp_path / name), None, ReadOptions())
        check_error(exc, name, what)


def test_null_target_and_unknown_label(tmp_path: Path, data: Any) -> None:
    x, y = data
    labels: list[Any] = [NAMES[i] for i in y]
    labels[17] = None
    pq.write_table(wide_table(x, labels), tmp_path / "n.parquet", row_group_size=10)
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "n.parquet", chunk=4)
    check_error(exc, "n.parquet", "row 18", "null target", "column 'label'")
    labels[17] = "gnu"
    pq.write_table(wide_table(x, labels), tmp_path / "u.parquet", row_group_size=10)
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "u.parquet", chunk=4)
    check_error(exc, "u.parquet", "row 18", "unknown label", "'gnu'", "cat, dog")
    (tmp_path / "t.txt").write_text("cat\ndog\nyak\n")
    np.save(tmp_path / "p.npy", x[:3])
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "p.npy", tmp_path / "t.txt", ReadOptions(classes=tuple(NAMES)))
    check_error(exc, "t.txt", "row 3", "'yak'")
    (tmp_path / "b.txt").write_text("1\n\n2\n")
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "p.npy", tmp_path / "b.txt")
    check_error(exc, "b.txt", "row 2", "empty line")


def test_ragged_list_rows(tmp_path: Path) -> None:
    col = pa.array(
        [[0.1, 0.2, 0.3]] * 5 + [[0.1, 0.2]] + [[0.1, 0.2, 0.3]] * 3, pa.list_(pa.float32())
    )
    pq.write_table(pa.table({"logits": col, "y": [0] * 9}), tmp_path / "r.parquet")
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "r.parquet", chunk=4)
    check_error(exc, "r.parquet", "row 6", "2 values, expected 3")


def test_row_count_mismatch(tmp_path: Path, data: Any) -> None:
    x, y = data
    np.save(tmp_path / "p.npy", x)
    np.save(tmp_path / "t.npy", y[:-2])
    with pytest.raises(DataError) as exc:  # both known: before streaming
        open_inputs(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), ReadOptions())
    check_error(exc, "p.npy", "t.npy", "29", "27")
    (tmp_path / "t.txt").write_text("\n".join(map(str, y[:-3])))
    with pytest.raises(DataError) as exc:  # txt: at the end of the stream
        read_all(tmp_path / "p.npy", tmp_path / "t.txt", chunk=4)
    check_error(exc, "PREDS has 29 rows", "t.txt has 26")
    pacsv.write_csv(pa.table({"a": x[:5, 0], "b": x[:5, 1]}), tmp_path / "p.csv")
    with pytest.raises(DataError) as exc:  # csv preds shorter than the targets
        read_all(tmp_path / "p.csv", tmp_path / "t.txt", chunk=2)
    check_error(exc, "PREDS has 5 rows", "t.txt has 26")


def test_bad_npy_files(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> Any:
            return (open, (str(marker), "w"))

    np.save(tmp_path / "o.npy", np.array([Evil(), 1], dtype=object), allow_pickle=True)
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "o.npy"), None, ReadOptions(), need_target=False)
    check_error(exc, "o.npy", "pickle")
    assert not marker.exists()
    np.savez(tmp_path / "o.npz", logits=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "o.npz"), None, ReadOptions())
    check_error(exc, "o.npz", "pickle")
    np.save(tmp_path / "full.npy", np.zeros((100, 10)))
    raw = (tmp_path / "full.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "cut.npy"), None, ReadOptions(), need_target=False)
    check_error(exc, "cut.npy", "truncated")
    (tmp_path / "zero.npy").write_bytes(b"")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "zero.npy"), None, ReadOptions(), need_target=False)
    check_error(exc, "zero.npy", "not a valid NPY")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "nope.npy"), None, ReadOptions())
    check_error(exc, "nope.npy", "no such file")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "full.npy"), None, ReadOptions())
    check_error(exc, "full.npy", "TARGETS")


def test_bad_parquet_files(tmp_path: Path, data: Any) -> None:
    x, y = data
    pq.write_table(wide_table(x, y), tmp_path / "ok.parquet")
    raw = (tmp_path / "ok.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(raw[: len(raw) - 100])
    (tmp_path / "zero.parquet").write_bytes(b"")
    for name in ("cut.parquet", "zero.parquet"):
        with pytest.raises(InputError) as exc:
            open_inputs(str(tmp_path / name), None, ReadOptions())
        check_error(exc, name, "Parquet")
    d = tmp_path / "d"
    d.mkdir()
    pq.write_table(wide_table(x[:10], y[:10]), d / "a.parquet")
    pq.write_table(
        wide_table(x[10:], y[10:]).append_column("logit_gnu", pa.array(np.zeros(19, np.float32))),
        d / "b.parquet",
    )
    with pytest.raises(DataError) as exc:
        open_inputs(str(d), None, ReadOptions())
    check_error(exc, "b.parquet", "class-count mismatch", "5", "4")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "nothing" / "*.parquet"), None, ReadOptions())
    check_error(exc, "no Parquet files")


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        open_inputs("-", "-", ReadOptions())
    with pytest.raises(UsageError):
        open_inputs("x.csv", None, ReadOptions(format_in="xlsx"))
    (tmp_path / "p.dat").write_text("")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "p.dat"), None, ReadOptions())
    check_error(exc, "p.dat", "--format-in")


# ------------------------------------------------------------------------------------ inspect
def test_inspect(tmp_path: Path, data: Any) -> None:
    x, y = data
    pq.write_table(
        wide_table(x, [NAMES[i] for i in y]).append_column("id", pa.array(np.arange(29))),
        tmp_path / "p.parquet",
        row_group_size=10,
    )
    info = inspect_file(str(tmp_path / "p.parquet"), ReadOptions())
    assert info["rows"] == 29 and info["row_groups"] == 3 and info["classes"] == 4
    assert info["class_names"] == NAMES and info["target"] == "label"
    roles = {c["name"]: c["role"] for c in info["columns"]}
    assert roles == {**{f"logit_{n}": "logits" for n in NAMES}, "label": "target", "id": "id"}
    assert info["suggestion"].startswith(f"cecli ce {tmp_path / 'p.parquet'} --target-col label")
    assert "--logit-cols 'logit_*'" in info["suggestion"]
    np.savez(tmp_path / "a.npz", logits=x, gold=y)
    info = inspect_file(str(tmp_path / "a.npz"), ReadOptions())
    assert info["shape"] == [29, 4] and info["target"] is None
    assert [k["name"] for k in info["keys"]] == ["logits", "gold"]
    (tmp_path / "s.csv").write_text("name,label\na,cat\n")
    info = inspect_file(str(tmp_path / "s.csv"), ReadOptions())
    assert "no numeric logit columns" in info["problem"]
    assert [c["name"] for c in info["columns"]] == ["name", "label"]


# ------------------------------------------------------------------------------ import hygiene
def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_no_pyarrow_at_import_and_no_pandas_when_reading(tmp_path: Path, data: Any) -> None:
    import pyarrow.dataset as ds

    x, y = data
    pq.write_table(wide_table(x, [NAMES[i] for i in y]), tmp_path / "p.parquet")
    pacsv.write_csv(wide_table(x, y), tmp_path / "p.csv")
    t = wide_table(x, y).append_column("doc", pa.array(np.arange(29) % 3))
    ds.write_dataset(
        t, tmp_path / "hive", format="parquet", partitioning=["doc"], partitioning_flavor="hive"
    )
    paths = [str(tmp_path / "p.parquet"), str(tmp_path / "p.csv"), str(tmp_path / "hive")]
    out = _run(
        "import sys, cecli.readers as r\n"
        "assert 'pyarrow' not in sys.modules\n"
        f"for p in {paths!r}:\n"
        "    with r.open_inputs(p, None, r.ReadOptions()) as i:\n"
        "        n = sum(len(b.preds) for b in i.batches(7))\n"
        "    r.inspect_file(p, r.ReadOptions())\n"
        "import pyarrow.dataset\n"
        "print(n, 'pandas' in sys.modules)\n"
        # pandas still works for anyone who asks for it explicitly afterwards
        "import pandas, pyarrow as pa\n"
        "print(pa.Table.from_pandas(pandas.DataFrame({'a': [1]})).num_rows)\n"
    )
    assert out.split() == ["29", "False", "1"]


def test_zip_compressed_fortran_member_loads(tmp_path: Path, data: Any) -> None:
    x, y = data
    with zipfile.ZipFile(tmp_path / "f.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        for key, arr in (("logits", np.asfortranarray(x)), ("y", y)):
            buf = io.BytesIO()
            np.save(buf, arr)
            zf.writestr(f"{key}.npy", buf.getvalue())
    got = read_all(tmp_path / "f.npz", chunk=9)
    np.testing.assert_array_equal(got["preds"], x)
    np.testing.assert_array_equal(got["target"], y)


# ------------------------------------------------------------------------------ bounded memory
_MEMORY_SCRIPT = """
import sys
import numpy as np
from cecli.readers import ReadOptions, open_inputs

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) // 1024

# warm up every import and allocator first, so the baseline is fair
with open_inputs(sys.argv[1], sys.argv[2], ReadOptions()) as inputs:
    next(inputs.batches(16))
base = status("VmRSS:")
total = 0.0
with open_inputs(sys.argv[1], sys.argv[2], ReadOptions()) as inputs:
    for batch in inputs.batches(4096):
        total += float(batch.preds.sum(dtype=np.float64))  # touch every value
print(status("VmHWM:") - base, total)
"""


def _peak_rss_delta(preds: Path, targets: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(preds), str(targets)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[0])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_streaming_memory_is_bounded(tmp_path: Path) -> None:
    """A ~300 MB C-order NPY, a 100 MB Fortran NPY and a 160 MB Parquet file in a single row
    group, each streamed in a fresh process: peak RSS stays far below the data size."""
    n, c = 300_000, 256  # 307 MB of float32
    rng = np.random.default_rng(0)
    block = rng.standard_normal((20_000, c), dtype=np.float32)
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(n, c))
    for lo in range(0, n, 20_000):
        big[lo : lo + 20_000] = block
    big.flush()
    del big
    for rows in (n, 100_000, 160_000):
        np.save(tmp_path / f"t{rows}.npy", np.zeros(rows, dtype=np.int64))
    np.save(tmp_path / "f.npy", np.asfortranarray(np.tile(block, (5, 1))))
    schema = pa.schema([("logits", pa.list_(pa.float32(), c)), ("y", pa.int64())])
    col = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), c)
    part = pa.record_batch([col, pa.array(np.zeros(20_000, np.int64))], schema=schema)
    table = pa.Table.from_batches([part] * 8)
    pq.write_table(table, tmp_path / "l.parquet", compression="none", row_group_size=10**9)
    del table, part, col
    assert pq.ParquetFile(tmp_path / "l.parquet").metadata.num_row_groups == 1

    deltas = {
        "npy": _peak_rss_delta(tmp_path / "big.npy", tmp_path / f"t{n}.npy"),
        "fortran": _peak_rss_delta(tmp_path / "f.npy", tmp_path / "t100000.npy"),
        "parquet": _peak_rss_delta(tmp_path / "l.parquet", tmp_path / "t160000.npy"),
    }
    # measured: npy ~6 MB, fortran ~8 MB, parquet ~85 MB (arrow's decode buffers)
    assert deltas["npy"] < 64 and deltas["fortran"] < 64, deltas
    assert deltas["parquet"] < 150, deltas


# ----------------------------------------------------------------------------- more edge cases
def test_stdin_binary_formats(tmp_path: Path, data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = data
    buf = io.BytesIO()
    np.save(buf, x)
    np.save(tmp_path / "t.npy", y)

    class FakeStdin:
        buffer = io.BytesIO(buf.getvalue())

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    got = read_all("-", tmp_path / "t.npy", ReadOptions(format_in="npy"))
    np.testing.assert_array_equal(got["preds"], x)
    sink = io.BytesIO()
    pq.write_table(wide_table(x, y), sink)
    FakeStdin.buffer = io.BytesIO(sink.getvalue())
    got = read_all("-", opts=ReadOptions(format_in="parquet"))
    np.testing.assert_array_equal(got["preds"], x)
    np.testing.assert_array_equal(got["target"], y)


def test_soft_targets_and_npz_string_labels(tmp_path: Path, data: Any) -> None:
    x, y = data
    soft = np.eye(4, dtype=np.float32)[y] * 0.9 + 0.025
    lists = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 4)
    probs = pa.FixedSizeListArray.from_arrays(pa.array(soft.reshape(-1)), 4)
    pq.write_table(pa.table({"logits": lists, "target": probs}), tmp_path / "s.parquet")
    got = read_all(tmp_path / "s.parquet")
    np.testing.assert_array_equal(got["target"], soft)
    np.savez(tmp_path / "a.npz", logits=x, label=np.array([NAMES[i] for i in y]))
    got = read_all(tmp_path / "a.npz", opts=ReadOptions(classes=tuple(NAMES)))
    np.testing.assert_array_equal(got["target"], y)


def test_dataset_errors_name_the_file_and_its_row(tmp_path: Path, data: Any) -> None:
    x, y = data
    d = tmp_path / "d"
    d.mkdir()
    labels: list[Any] = list(y)
    labels[15] = None
    pq.write_table(wide_table(x[:10], labels[:10]), d / "a.parquet")
    pq.write_table(wide_table(x[10:], labels[10:]), d / "b.parquet")
    with pytest.raises(DataError) as exc:
        read_all(d, chunk=3)
    check_error(exc, "b.parquet: row 6", "null target", "within the file")
    e = tmp_path / "e"
    e.mkdir()
    for name, width in (("a.parquet", 4), ("b.parquet", 3)):
        col = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(2 * width, np.float32)), width)
        pq.write_table(pa.table({"logits": col, "y": [0, 1]}), e / name)
    with pytest.raises(DataError) as exc:
        open_inputs(str(e), None, ReadOptions())
    check_error(exc, "b.parquet", "class-count mismatch", "3 values per row", "has 4")


def test_more_input_errors(tmp_path: Path) -> None:
    (tmp_path / "c.tsv").write_text("a,b,label\n1,2,0\n")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "c.tsv"), None, ReadOptions())
    check_error(exc, "c.tsv", "comma-separated", "--format-in csv")
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n1,2,1x\n3,3,1\n")
    with pytest.raises(DataError) as exc:
        read_all(tmp_path / "t.csv")
    check_error(exc, "t.csv", "row 2", "column 'label'", "'1x'", "not an integer label")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "*.csv"), None, ReadOptions())
    check_error(exc, "*.csv", "Parquet only")
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "t.csv"), None, ReadOptions(logit_cols="a,zz"))
    check_error(exc, "t.csv", "'zz'", "--logit-cols")
    pq.write_table(
        pa.table({"l": pa.array([[1, 2]], pa.list_(pa.int64())), "y": [0]}), tmp_path / "i.parquet"
    )
    with pytest.raises(InputError) as exc:
        open_inputs(str(tmp_path / "i.parquet"), None, ReadOptions())
    check_error(exc, "i.parquet", "column 'l'", "int64, not floats")
    np.save(tmp_path / "p.npy", np.zeros((2, 3)))
    with open_inputs(f"file://{tmp_path / 'p.npy'}", None, ReadOptions(), need_target=False) as inp:
        assert inp.rows == 2 and next(inp.batches(8)).target is None


def test_inspect_npy_and_txt(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", np.zeros((5, 2, 7), np.float16))
    info = inspect_file(str(tmp_path / "p.npy"), ReadOptions(class_axis=-1))
    assert info["shape"] == [5, 2, 7] and info["dtype"] == "float16" and info["classes"] == 7
    assert info["rows"] == 5 and "--class-axis -1" in info["suggestion"]
    (tmp_path / "t.txt").write_text("1\n0\n2\n")
    info = inspect_file(str(tmp_path / "t.txt"), ReadOptions())
    assert info["rows"] == 3 and info["labels"] == "int"


def test_csv_logits_dtype_follows_the_text(tmp_path: Path, data: Any) -> None:
    x, y = data  # float32 values printed at double precision: read back as those float32s
    pacsv.write_csv(wide_table(x.astype(np.float64), y), tmp_path / "f32.csv")
    got = read_all(tmp_path / "f32.csv")
    assert got["inputs"].dtype == np.float32
    np.testing.assert_array_equal(got["preds"], x)
    (tmp_path / "short.csv").write_text("a,b,y\n0.5,2,1\n-3.25,1e-3,0\n")
    got = read_all(tmp_path / "short.csv")  # short decimals: float64, exact
    assert got["inputs"].dtype == np.float64
    np.testing.assert_array_equal(got["preds"], [[0.5, 2.0], [-3.25, 1e-3]])
    x64 = np.random.default_rng(5).standard_normal((6, 2))
    pacsv.write_csv(pa.table({"a": x64[:, 0], "b": x64[:, 1], "y": [0] * 6}), tmp_path / "d.csv")
    got = read_all(tmp_path / "d.csv")
    assert got["inputs"].dtype == np.float64
    np.testing.assert_array_equal(got["preds"], x64)


def test_wide_csv_columns_typed_before_reading_as_pyarrow_infers(tmp_path: Path) -> None:
    """From WIDE_SNIFF columns on, plain numeric columns of the first block are typed before
    pyarrow reads it (its inference costs ~40 us a column); every column must still get the
    type pyarrow's own inference gives, including the cases the typing leaves alone."""
    from cecli.readers.tabular import NULLS, WIDE_SNIFF

    rng = np.random.default_rng(4)
    n, c = 12, WIDE_SNIFF + 5
    cols: dict[str, list[str]] = {f"c{j}": [f"{v:.3f}" for v in rng.normal(size=n)] for j in range(c)}
    cols["label"] = [str(int(v)) for v in rng.integers(0, c, n)]
    cols["mixed"] = ["1", "2.5", "", "-3", "1e-05", "0.25", "7", "NA", "8", "9", "1.0", "2"]
    cols["ints_nulls"] = ["", "3", "-0", "NA", "12", "5", "6", "7", "8", "9", "10", "11"]
    cols["all_null"] = [""] * n
    cols["huge"] = ["1000000000000000000"] + ["5"] * (n - 1)  # 19 digits: still int64
    cols["too_big"] = ["99999999999999999999"] + ["5"] * (n - 1)  # past int64: double
    cols["zeros"] = ["007", "8"] + ["1"] * (n - 2)
    cols["spaced"] = [" 1.5"] + ["2.5"] * (n - 1)
    cols["flags"] = ["true", "false"] * (n // 2)
    cols["words"] = ["a", "b"] * (n // 2)
    cols["dates"] = ["2024-01-0" + str(1 + i % 9) for i in range(n)]
    cols["nan"] = ["nan", "1.5"] + ["2.5"] * (n - 2)
    names = list(cols)
    lines = [",".join(f'"{k}"' for k in names)]  # a quoted header, as pyarrow writes it
    lines += [",".join(cols[k][i] for k in names) for i in range(n)]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n")
    want = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True, null_values=NULLS),
    ).schema
    got = inspect_file(str(path), ReadOptions(target_col="label", logit_cols="c*"))
    assert "problem" not in got, got.get("problem")  # the sniffed schema, not a fallback's
    types = {col["name"]: col["dtype"] for col in got["columns"]}
    want_types = {f.name: str(f.type) for f in want}
    want_types.update({f"c{j}": "double" for j in range(c)})  # the logits, as read
    assert types == want_types
    assert types["c0"] == "double" and types["ints_nulls"] == "int64"
    assert types["mixed"] == "double" and types["huge"] == "int64"
