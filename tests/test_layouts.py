"""Issue 3, "Done when": one dataset laid out in many ways gives the NPY route's loss.

One dataset -- 500 rows x 7 classes of float64 logits, integer labels, class names, string
ids, groups and per-sample weights -- is written by the tests themselves (numpy / pyarrow
writers) in every layout of :data:`LAYOUTS`, and each layout is read through the command line
(``cecli ce ... -f json``: typer's runner in-process, the installed ``cecli`` for stdin). Each
must give the loss of the plain NPY route (``cecli ce x.npy y.npy``) to rel 1e-12, or 1e-6 where
float16 is involved (those compare with the NPY route of the same float16 values). The NPY route
itself is checked against a float64 NumPy log-softmax written here, so no expected number comes
from the code under test.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import invoke_json, run_cecli

N, C = 500, 7
NAMES = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu"]
REL, REL16 = 1e-12, 1e-6


@dataclass
class Data:
    x: np.ndarray  # (N, C) float64 logits
    y: np.ndarray  # (N,) int64 labels
    ids: np.ndarray  # (N,) str
    group: np.ndarray  # (N,) int64, 5 groups
    sw: np.ndarray  # (N,) float64 sample weights
    dir: Path
    s3: str | None = None  # the moto endpoint, for the s3 layout

    @property
    def labels(self) -> list[str]:
        return [NAMES[i] for i in self.y]

    @property
    def x16(self) -> np.ndarray:
        return self.x.astype(np.float16)


@dataclass
class Run:
    """How a layout is run: cecli arguments (after ``ce``), optional stdin bytes."""

    args: list[str]
    stdin: bytes | None = None
    fp16: bool = False
    weighted: bool = False  # --sample-weight-col: compared with the NumPy weighted mean


def reference_ce(x: np.ndarray, y: np.ndarray, sw: np.ndarray | None = None) -> float:
    """float64 cross-entropy with NumPy: ``sum s_i l_i / sum s_i`` (w = ones)."""
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
    losses = lse - x[np.arange(len(y)), y]
    s = np.ones(len(y)) if sw is None else sw
    return float(np.sum(s * losses) / np.sum(s))


# ------------------------------------------------------------------------------ writers
def wide(
    d: Data, names: list[str] | None = None, label: Any = None, extra: bool = False
) -> pa.Table:
    """id, one float64 column per class, label; ``extra``: numeric ``group`` and ``weight``
    columns too (logits by default, so only layouts naming them use them)."""
    cols: dict[str, Any] = {"id": d.ids}
    for j, n in enumerate(names or [f"logit_{k}" for k in NAMES]):
        cols[n] = d.x[:, j]
    cols["label"] = d.y if label is None else label
    if extra:
        cols["group"] = d.group
        cols["weight"] = d.sw
    return pa.table(cols)


def list_table(d: Data, kind: str, half: bool = False) -> pa.Table:
    """id, a ``list`` / ``large_list`` / ``fixed`` (size list) column of logits, label."""
    flat = pa.array((d.x16 if half else d.x).reshape(-1))
    offsets = pa.array(
        np.arange(0, N * C + 1, C, dtype=np.int32 if kind != "large_list" else np.int64)
    )
    if kind == "list":
        col = pa.ListArray.from_arrays(offsets, flat)
    elif kind == "large_list":
        col = pa.LargeListArray.from_arrays(offsets, flat)
    else:
        col = pa.FixedSizeListArray.from_arrays(flat, C)
    return pa.table({"id": d.ids, "logits": col, "label": d.y})


def text_table(table: pa.Table, delimiter: str = ",") -> bytes:
    """CSV / TSV text with floats at full precision (repr: round-trips float64 exactly)."""
    lines = [delimiter.join(table.column_names)]
    cols = [c.to_pylist() for c in table.columns]
    for row in zip(*cols, strict=True):
        lines.append(delimiter.join(repr(v) if isinstance(v, float) else str(v) for v in row))
    return ("\n".join(lines) + "\n").encode()


def save_npy_pair(d: Data, name: str, x: np.ndarray) -> tuple[str, str]:
    np.save(d.dir / f"{name}.npy", x)
    np.save(d.dir / f"{name}_y.npy", d.y)
    return str(d.dir / f"{name}.npy"), str(d.dir / f"{name}_y.npy")


# ------------------------------------------------------------------------------ layouts
def lay_npy(d: Data) -> Run:
    return Run(list(save_npy_pair(d, "plain", d.x)))


def lay_npy_fortran(d: Data) -> Run:
    p, t = save_npy_pair(d, "fortran", np.asfortranarray(d.x))
    assert np.load(p, mmap_mode="r").flags.f_contiguous
    return Run([p, t])


def lay_npy_float16(d: Data) -> Run:
    return Run(list(save_npy_pair(d, "half", d.x16)), fp16=True)


def lay_npy_class_axis_last(d: Data) -> Run:
    # the same positions as (N/S, S, V): rows i*S..i*S+S-1 of x are sequence i
    s = 5
    np.save(d.dir / "seq.npy", d.x.reshape(N // s, s, C))
    np.save(d.dir / "seq_y.npy", d.y.reshape(N // s, s))
    return Run([str(d.dir / "seq.npy"), str(d.dir / "seq_y.npy"), "--class-axis", "-1"])


def lay_npz_default_keys(d: Data) -> Run:
    np.savez(d.dir / "keys.npz", logits=d.x, target=d.y)
    return Run([str(d.dir / "keys.npz")])


def lay_npz_named_keys(d: Data) -> Run:
    np.savez_compressed(d.dir / "named.npz", scores=d.x, gold=d.y, other=d.y * 0)
    return Run([str(d.dir / "named.npz"), "--preds-key", "scores", "--target-key", "gold"])


def lay_stdin_npy(d: Data) -> Run:
    buf = io.BytesIO()
    np.save(buf, d.x)
    np.save(d.dir / "stdin_y.npy", d.y)
    return Run(["-", str(d.dir / "stdin_y.npy"), "--format-in", "npy"], stdin=buf.getvalue())


def lay_csv(d: Data) -> Run:
    (d.dir / "wide.csv").write_bytes(text_table(wide(d)))
    return Run([str(d.dir / "wide.csv")])


def lay_tsv(d: Data) -> Run:
    (d.dir / "wide.tsv").write_bytes(text_table(wide(d), "\t"))
    return Run([str(d.dir / "wide.tsv")])


def lay_csv_gz(d: Data) -> Run:
    (d.dir / "wide.csv.gz").write_bytes(gzip.compress(text_table(wide(d))))
    return Run([str(d.dir / "wide.csv.gz")])


def lay_stdin_csv(d: Data) -> Run:
    return Run(["-"], stdin=text_table(wide(d)))


def lay_csv_crlf_bom_quoted(d: Data) -> Run:
    text = text_table(wide(d)).decode()
    rows = []
    for line in text.splitlines():
        rows.append(",".join(f'"{f}"' for f in line.split(",")))
    (d.dir / "excel.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    return Run([str(d.dir / "excel.csv")])


def lay_csv_logit_cols_glob(d: Data) -> Run:
    # extra numeric columns that are not logits: without --logit-cols they would be taken
    t = wide(d, extra=True).append_column("score", pa.array(d.x.max(axis=1)))
    (d.dir / "extra.csv").write_bytes(text_table(t))
    return Run([str(d.dir / "extra.csv"), "--logit-cols", "logit_*"])


def lay_csv_string_labels_column_names(d: Data) -> Run:
    (d.dir / "names.csv").write_bytes(text_table(wide(d, names=NAMES, label=d.labels)))
    return Run([str(d.dir / "names.csv")])


def lay_csv_string_labels_prefix(d: Data) -> Run:
    (d.dir / "prefix.csv").write_bytes(text_table(wide(d, label=d.labels)))
    return Run([str(d.dir / "prefix.csv")])


def lay_txt_labels_classes_file(d: Data) -> Run:
    np.save(d.dir / "txt.npy", d.x)
    (d.dir / "labels.txt").write_text("\n".join(d.labels) + "\n")
    (d.dir / "classes.txt").write_text("\n".join(NAMES) + "\n")
    return Run(
        [str(d.dir / "txt.npy"), str(d.dir / "labels.txt"), "--classes", str(d.dir / "classes.txt")]
    )


def lay_sample_weight_col(d: Data) -> Run:
    pq.write_table(wide(d, extra=True).drop_columns(["group"]), d.dir / "weighted.parquet")
    return Run([str(d.dir / "weighted.parquet"), "--sample-weight-col", "weight"], weighted=True)


def lay_parquet_wide(d: Data) -> Run:
    pq.write_table(wide(d), d.dir / "wide.parquet")
    return Run([str(d.dir / "wide.parquet")])


def lay_parquet_list(d: Data) -> Run:
    pq.write_table(list_table(d, "list"), d.dir / "list.parquet")
    return Run([str(d.dir / "list.parquet")])


def lay_parquet_large_list(d: Data) -> Run:
    pq.write_table(list_table(d, "large_list"), d.dir / "large.parquet")
    assert pa.types.is_large_list(pq.read_schema(d.dir / "large.parquet").field("logits").type)
    return Run([str(d.dir / "large.parquet")])


def lay_parquet_fixed_size_list_float16(d: Data) -> Run:
    pq.write_table(list_table(d, "fixed", half=True), d.dir / "fixed16.parquet")
    typ = pq.read_schema(d.dir / "fixed16.parquet").field("logits").type
    assert pa.types.is_fixed_size_list(typ) and typ.value_type == pa.float16()
    return Run([str(d.dir / "fixed16.parquet")], fp16=True)


def lay_parquet_row_groups(d: Data) -> Run:
    pq.write_table(list_table(d, "list"), d.dir / "groups.parquet", row_group_size=64)
    assert pq.ParquetFile(d.dir / "groups.parquet").metadata.num_row_groups == 8
    return Run([str(d.dir / "groups.parquet"), "--chunk-rows", "50"])


def lay_parquet_dictionary_labels(d: Data) -> Run:
    t = wide(d, label=pa.array(d.labels).dictionary_encode())
    pq.write_table(t, d.dir / "dict.parquet", row_group_size=200)
    typ = pq.read_schema(d.dir / "dict.parquet").field("label").type
    assert pa.types.is_dictionary(typ)
    return Run([str(d.dir / "dict.parquet")])


def _split(d: Data, folder: str, table: pa.Table, cuts: tuple[int, ...] = (0, 170, 330, N)) -> Path:
    root = d.dir / folder
    root.mkdir()
    for k, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        pq.write_table(table.slice(lo, hi - lo), root / f"part-{k:02d}.parquet")
    return root


def lay_parquet_directory(d: Data) -> Run:
    root = _split(d, "dir", wide(d))
    (root / "_SUCCESS").write_text("")
    return Run([str(root)])


def lay_parquet_glob(d: Data) -> Run:
    root = _split(d, "globbed", list_table(d, "list"))
    (root / "notes.csv").write_text("not,part\n1,2\n")
    return Run([str(root / "part-*.parquet")])


def lay_parquet_hive(d: Data) -> Run:
    ds.write_dataset(
        wide(d, extra=True).drop_columns(["weight"]),
        d.dir / "hive",
        format="parquet",
        partitioning=["group"],
        partitioning_flavor="hive",
    )
    assert (d.dir / "hive" / "group=0").is_dir()
    return Run([str(d.dir / "hive"), "--id-col", "id"])


def lay_stdin_parquet(d: Data) -> Run:
    buf = io.BytesIO()
    pq.write_table(list_table(d, "fixed"), buf, row_group_size=128)
    return Run(["-", "--format-in", "parquet"], stdin=buf.getvalue())


def lay_parquet_hive_label_partitions(d: Data) -> Run:
    # the string label is the partition key: .../label=cat/part-0.parquet
    t = wide(d, label=d.labels)
    ds.write_dataset(
        t, d.dir / "bylabel", format="parquet", partitioning=["label"], partitioning_flavor="hive"
    )
    assert (d.dir / "bylabel" / "label=cat").is_dir()
    return Run([str(d.dir / "bylabel")])


def lay_npy_parquet_targets_int8(d: Data) -> Run:
    np.save(d.dir / "int8.npy", d.x)
    pq.write_table(pa.table({"y": pa.array(d.y, pa.int8())}), d.dir / "int8_y.parquet")
    return Run([str(d.dir / "int8.npy"), str(d.dir / "int8_y.parquet")])


def lay_list_parquet_csv_string_targets(d: Data) -> Run:
    pq.write_table(list_table(d, "list").drop_columns(["label"]), d.dir / "nolabel.parquet")
    (d.dir / "labels.csv").write_text(
        "id,label\n" + "".join(f"{i},{lab}\n" for i, lab in zip(d.ids, d.labels, strict=True))
    )
    return Run(
        [str(d.dir / "nolabel.parquet"), str(d.dir / "labels.csv"), "--classes", ",".join(NAMES)]
    )


def lay_s3_uri(d: Data) -> Run:
    import boto3

    assert d.s3 is not None
    buf = io.BytesIO()
    pq.write_table(list_table(d, "list"), buf, row_group_size=100)
    s3 = boto3.client("s3", endpoint_url=d.s3, region_name="us-east-1")
    s3.create_bucket(Bucket="layouts")
    s3.put_object(Bucket="layouts", Key="run/p.parquet", Body=buf.getvalue())
    return Run(["s3://layouts/run/p.parquet"])


LAYOUTS = [
    pytest.param(lay_npy, id="npy+npy-targets"),
    pytest.param(lay_npy_fortran, id="npy-fortran-order"),
    pytest.param(lay_npy_float16, id="npy-float16"),
    pytest.param(lay_npy_class_axis_last, id="npy-(N,S,V)-class-axis-last"),
    pytest.param(lay_npz_default_keys, id="npz-default-keys"),
    pytest.param(lay_npz_named_keys, id="npz-compressed-preds-key-target-key"),
    pytest.param(lay_stdin_npy, id="stdin-npy"),
    pytest.param(lay_csv, id="csv"),
    pytest.param(lay_tsv, id="tsv"),
    pytest.param(lay_csv_gz, id="csv-gzip"),
    pytest.param(lay_stdin_csv, id="stdin-csv"),
    pytest.param(lay_csv_crlf_bom_quoted, id="csv-crlf-bom-quoted-numbers"),
    pytest.param(lay_csv_logit_cols_glob, id="csv-logit-cols-glob"),
    pytest.param(lay_csv_string_labels_column_names, id="csv-string-labels-column-names"),
    pytest.param(lay_csv_string_labels_prefix, id="csv-string-labels-logit-prefix-stripped"),
    pytest.param(lay_txt_labels_classes_file, id="npy+txt-labels-classes-file"),
    pytest.param(lay_sample_weight_col, id="parquet-sample-weight-col"),
    pytest.param(lay_parquet_wide, id="parquet-wide"),
    pytest.param(lay_parquet_list, id="parquet-list"),
    pytest.param(lay_parquet_large_list, id="parquet-large-list"),
    pytest.param(lay_parquet_fixed_size_list_float16, id="parquet-fixed-size-list-float16"),
    pytest.param(lay_parquet_row_groups, id="parquet-8-row-groups"),
    pytest.param(lay_parquet_dictionary_labels, id="parquet-dictionary-string-labels"),
    pytest.param(lay_parquet_directory, id="parquet-directory"),
    pytest.param(lay_parquet_glob, id="parquet-glob"),
    pytest.param(lay_parquet_hive, id="parquet-hive-partitioned"),
    pytest.param(lay_parquet_hive_label_partitions, id="parquet-hive-string-label-partitions"),
    pytest.param(lay_stdin_parquet, id="stdin-parquet"),
    pytest.param(lay_npy_parquet_targets_int8, id="npy+parquet-int8-targets"),
    pytest.param(lay_list_parquet_csv_string_targets, id="parquet-list+csv-string-targets"),
    pytest.param(lay_s3_uri, id="s3-uri", marks=pytest.mark.s3),
]
"""Every layout of the one dataset, by test id (``pytest tests/test_layouts.py -v`` lists them)."""


# ------------------------------------------------------------------------------ fixtures
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("moto.server")
    pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Data:
    rng = np.random.default_rng(20240603)
    x = rng.normal(scale=2.0, size=(N, C))
    x[:, 2] += 1.5  # a little structure, so accuracy is not chance
    y = rng.integers(0, C, N)
    ids = np.array([f"s{i:04d}" for i in range(N)])
    group = np.arange(N) % 5
    sw = rng.uniform(0.1, 3.0, N)
    return Data(x, y, ids, group, sw, tmp_path_factory.mktemp("layouts"))


@pytest.fixture(scope="module")
def npy_loss(dataset: Data) -> dict[str, float]:
    """The NPY route's losses (float64 and float16 logits), checked against NumPy."""
    out = {}
    for name, x in (("f64", dataset.x), ("f16", dataset.x16)):
        p, t = save_npy_pair(dataset, f"ref_{name}", x)
        res = invoke_json(["ce", p, t])
        assert res["samples"] == N and res["classes"] == C
        out[name] = res["loss"]
    assert out["f64"] == pytest.approx(reference_ce(dataset.x, dataset.y), rel=REL)
    assert out["f16"] == pytest.approx(reference_ce(dataset.x16, dataset.y), rel=REL16)
    return out


def run_layout(run: Run) -> dict[str, Any]:
    args = ["ce", *run.args]
    if run.stdin is None:
        return invoke_json(args)
    proc = run_cecli([*args, "-f", "json"], input=run.stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


# ------------------------------------------------------------------------------ the table
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_gives_the_npy_loss(
    layout: Callable[[Data], Run],
    dataset: Data,
    npy_loss: dict[str, float],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if layout is lay_s3_uri:
        dataset.s3 = request.getfixturevalue("s3_endpoint")
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": dataset.s3,
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
    run = layout(dataset)
    res = run_layout(run)
    assert res["samples"] == N, res
    assert res["classes"] == C, res
    assert res["counted"] == N and res["reduction"] == "mean"
    if run.weighted:
        want = reference_ce(dataset.x, dataset.y, dataset.sw)
        assert want != pytest.approx(npy_loss["f64"], rel=1e-3)  # the weights matter here
        assert res["loss"] == pytest.approx(want, rel=REL)
        assert res["weight_sum"] == pytest.approx(dataset.sw.sum(), rel=REL)
    elif run.fp16:
        assert res["loss"] == pytest.approx(npy_loss["f16"], rel=REL16)
    else:
        assert res["loss"] == pytest.approx(npy_loss["f64"], rel=REL)


def test_enough_layouts() -> None:
    assert len(LAYOUTS) >= 14
    assert len({p.id for p in LAYOUTS}) == len(LAYOUTS)


# ------------------------------------------------------------------------------ errors that help
# Issue 3's five acceptance errors, through the command line: exit 3, one line on stderr that
# starts with "error: ", names the file and says what is wrong where. (The big bad-input
# matrix lives in test_bad_input.py.)
def cli_error(args: list[Any]) -> str:
    from conftest import invoke

    res = invoke(["ce", *map(str, args), "-f", "json"])
    assert res.exit_code == 3, (res.exit_code, res.stdout, res.stderr)
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_error_row_count_mismatch_gives_both_counts(dataset: Data, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", dataset.x)
    np.save(tmp_path / "y.npy", dataset.y[:-3])
    msg = cli_error([tmp_path / "x.npy", tmp_path / "y.npy"])
    assert "row-count mismatch" in msg and "500" in msg and "497" in msg and "y.npy" in msg
    # a CSV's row count is known only once it is streamed: still both counts
    (tmp_path / "p.csv").write_bytes(text_table(wide(dataset).drop_columns(["label"])))
    for n in (497, 503):
        np.save(tmp_path / f"y{n}.npy", np.resize(dataset.y, n))
        msg = cli_error([tmp_path / "p.csv", tmp_path / f"y{n}.npy"])
        assert "row-count mismatch" in msg and "500" in msg and str(n) in msg, msg


@pytest.mark.parametrize("layout", ["wide", "list", "fixed_size_list"])
def test_error_class_count_mismatch_between_files(
    dataset: Data, tmp_path: Path, layout: str
) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    for k, (lo, hi, c) in enumerate([(0, 200, C), (200, N, C - 1)]):
        x, y = dataset.x[lo:hi, :c], dataset.y[lo:hi] % c
        if layout == "wide":
            t = pa.table({**{f"logit_{j}": x[:, j] for j in range(c)}, "label": y})
        elif layout == "list":
            t = pa.table({"logits": pa.array(list(x)), "label": y})
        else:
            t = pa.table(
                {
                    "logits": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), c),
                    "label": y,
                }
            )
        pq.write_table(t, root / f"part-{k}.parquet")
    msg = cli_error([root])
    assert "class-count mismatch" in msg, msg
    assert f"{root / 'part-1.parquet'}:" in msg and str(root / "part-0.parquet") in msg, msg
    assert str(C - 1) in msg and str(C) in msg, msg


def test_error_ragged_list_names_the_first_bad_row(dataset: Data, tmp_path: Path) -> None:
    rows = [list(r) for r in dataset.x]
    rows[137] = rows[137][:5]  # data row 138 (1-based)
    rows[300] = rows[300] + [0.0]
    pq.write_table(
        pa.table({"logits": pa.array(rows), "label": dataset.y}),
        tmp_path / "r.parquet",
        row_group_size=100,
    )
    msg = cli_error([tmp_path / "r.parquet", "--chunk-rows", "64"])
    assert "ragged" in msg and "row 138" in msg and "5 values" in msg and "'logits'" in msg, msg


@pytest.mark.parametrize("bad_row", [301, 30_000])
def test_error_non_numeric_cell_names_row_column_value(tmp_path: Path, bad_row: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40_000, 3))
    lines = ["logit_a,logit_b,logit_c,label"]
    lines += [f"{a!r},{b!r},{c!r},{i % 3}" for i, (a, b, c) in enumerate(x.tolist())]
    fields = lines[bad_row].split(",")
    fields[1] = "1.5e-3x"
    lines[bad_row] = ",".join(fields)  # data row bad_row (the header is line 0)
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    msg = cli_error([tmp_path / "p.csv"])
    assert f"row {bad_row}" in msg and "'logit_b'" in msg and "1.5e-3x" in msg, msg


@pytest.mark.parametrize(
    ("option", "given", "closest"),
    [
        ("--target-col", "lable", "label"),
        ("--id-col", "ID", "id"),
        ("--sample-weight-col", "weigth", "weight"),
        ("--logit-cols", "logit_ant,logit_bea", "logit_bee"),
    ],
)
def test_error_missing_column_lists_columns_and_the_closest(
    dataset: Data, tmp_path: Path, option: str, given: str, closest: str
) -> None:
    pq.write_table(wide(dataset, extra=True), tmp_path / "p.parquet")
    msg = cli_error([tmp_path / "p.parquet", option, given])
    assert f"no column {given.split(',')[-1]!r}" in msg, msg
    assert f"did you mean {option} {closest}?" in msg, msg
    for name in ("id", "logit_ant", "label", "weight"):  # the available columns
        assert f"'{name}'" in msg, msg
