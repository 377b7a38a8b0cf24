"""Per-row output you can pipe (issue 13): ``--reduction none -f tsv|csv|jsonl`` and ``-o -``
print a header (id, target, loss, ...) and one row per position; labels keep the input's
spelling in every output that has them; ``--per-class -f tsv|csv`` keeps the per-class table.
End to end with the installed ``cecli``; expected losses come from ``-f value`` and ``-o FILE``
(the per-row path the contract already fixes), never from the code under test's internals."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, cecli_command, run_cecli

CSV = EXAMPLES / "iris_logits.csv"  # id column, string labels in 'label'
NPY, LABELS = EXAMPLES / "iris_logits.npy", EXAMPLES / "iris_labels.npy"


def _ok(args: list[object], **kw: object) -> subprocess.CompletedProcess[bytes]:
    p = run_cecli([str(a) for a in args], **kw)  # type: ignore[arg-type]
    assert p.returncode == 0, p.stderr.decode()
    return p


def _file_rows(tmp_path: Path, *args: object) -> list[list[str]]:
    out = tmp_path / "rows.csv"
    _ok([*args, "-o", out, "--force"])
    return list(csv.reader(out.read_text().splitlines()))


def test_tsv_head_prints_a_header_and_rows_and_ends_quietly() -> None:
    """The issue's done-when, through a real shell pipe (``head`` closes it early)."""
    cmd = " ".join([*cecli_command(), "ce", str(CSV), "--reduction", "none", "-f", "tsv"])
    env = {**os.environ, "NO_COLOR": "1"}
    p = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{cmd} | head -3"],
        capture_output=True, timeout=120, env=env,
    )
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    lines = p.stdout.decode().splitlines()
    assert lines[0] == "id\ttarget\tloss"
    assert [ln.split("\t")[:2] for ln in lines[1:]] == [["flower-000", "setosa"],
                                                        ["flower-001", "virginica"]]


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
def test_rows_on_stdout_equal_the_o_file(tmp_path: Path, fmt: str) -> None:
    want = _file_rows(tmp_path, "ce", CSV, "--with-probs")
    assert want[0] == ["id", "target", "loss", "target_prob", "pred"]
    for args in (["--reduction", "none", "-f", fmt], ["-o", "-", "-f", fmt]):
        out = _ok(["ce", CSV, "--with-probs", *args]).stdout.decode()
        if fmt == "jsonl":
            objs = [json.loads(ln) for ln in out.splitlines()]
            got = [list(want[0]), *([str(o[k]) for k in want[0]] for o in objs)]
            assert isinstance(objs[0]["loss"], float) and isinstance(objs[0]["target"], str)
        else:
            got = list(csv.reader(io.StringIO(out), delimiter="\t" if fmt == "tsv" else ","))
        assert got == want
        assert len(got) == 301


def test_o_dash_defaults_to_tsv_and_other_formats_are_refused() -> None:
    out = _ok(["ce", NPY, LABELS, "-o", "-"]).stdout.decode().splitlines()
    assert out[0] == "id\ttarget\tloss" and len(out) == 301
    # no id column in an NPY: the id is the global row index
    assert [ln.split("\t")[0] for ln in out[1:4]] == ["0", "1", "2"]
    want = np.load(LABELS)
    assert [int(ln.split("\t")[1]) for ln in out[1:]] == want.tolist()
    for fmt in ("json", "table", "value", "markdown"):
        p = run_cecli(["ce", NPY, LABELS, "-o", "-", "-f", fmt])
        assert p.returncode == 2 and p.stdout == b""
        (line,) = p.stderr.decode().splitlines()
        assert line.startswith("error: -o - ") and "-f tsv" in line


def test_reduction_none_in_other_formats_keeps_the_losses() -> None:
    values = _ok(["ce", NPY, LABELS, "--reduction", "none", "-f", "value"]).stdout.split()
    assert len(values) == 300
    out = json.loads(_ok(["ce", NPY, LABELS, "--reduction", "none", "-f", "json"]).stdout)
    assert [float(v) for v in values] == out["losses"]


def test_rows_with_the_total_match_the_reduced_loss(tmp_path: Path) -> None:
    mean = float(_ok(["ce", CSV, "-f", "value"]).stdout)
    rows = list(csv.DictReader(io.StringIO(
        _ok(["ce", CSV, "--reduction", "none", "-f", "csv"]).stdout.decode())))
    assert np.mean([float(r["loss"]) for r in rows]) == pytest.approx(mean, rel=1e-12)


def test_a_failed_run_prints_no_partial_table(tmp_path: Path) -> None:
    lines = CSV.read_text().splitlines()
    lines[250] = lines[250].rsplit(",", 1)[0] + ",unicorn"  # an unknown label, late
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    spool = tmp_path / "spool"
    spool.mkdir()
    p = subprocess.run([*cecli_command(), "ce", str(bad), "-o", "-", "--chunk-rows", "16"],
                       capture_output=True, timeout=120,
                       env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(spool)})
    assert p.returncode == 3 and p.stdout == b""
    (line,) = p.stderr.decode().splitlines()
    assert line.startswith("error: ") and "unicorn" in line
    assert list(spool.iterdir()) == []  # the spooled rows were removed


def test_string_labels_stay_strings_in_every_output(tmp_path: Path) -> None:
    rows = _file_rows(tmp_path, "ce", CSV, "--with-probs")
    labels = [ln.rsplit(",", 1)[1] for ln in CSV.read_text().splitlines()[1:]]
    assert [r[1] for r in rows[1:]] == labels
    assert {r[4] for r in rows[1:]} <= {"setosa", "versicolor", "virginica"}
    import pyarrow.parquet as pq

    _ok(["ce", CSV, "-o", tmp_path / "rows.parquet"])
    table = pq.read_table(tmp_path / "rows.parquet")
    assert table.column("target").to_pylist() == labels
    _ok(["softmax", CSV, "-o", tmp_path / "probs.csv"])
    soft = list(csv.DictReader(io.StringIO((tmp_path / "probs.csv").read_text())))
    assert [r["target"] for r in soft] == labels
    # and the softmax output is read back by name, to the same loss
    back = _ok(["ce", tmp_path / "probs.csv", "--input", "probs", "-f", "value"]).stdout
    assert float(back) == pytest.approx(float(_ok(["ce", CSV, "-f", "value"]).stdout), rel=1e-6)


def test_integer_labels_stay_integers(tmp_path: Path) -> None:
    rows = _file_rows(tmp_path, "ce", NPY, LABELS)
    assert rows[0] == ["target", "loss"]
    assert [int(r[0]) for r in rows[1:]] == np.load(LABELS).tolist()


def test_an_index_that_names_no_class_is_written_empty(tmp_path: Path) -> None:
    """An ignored target (-100) among named labels is no class: an empty field, a null."""
    from cecli.readers import Batch
    from cecli.writers import TableWriter

    batch = Batch(np.zeros((3, 2)), None, label_names=["cat", "dog"])
    named = batch.spelled(np.array([1, -100, 0]))
    assert named.tolist() == ["dog", None, "cat"]
    assert Batch(np.zeros((1, 2)), None).spelled(np.array([1])).tolist() == [1]
    for name, want in (("o.csv", "target,loss\ndog,0.5\n,0.0\ncat,1.5\n"),
                       ("o.jsonl", '{"target": "dog", "loss": 0.5}\n{"target": null, "loss": 0.0}\n'
                                   '{"target": "cat", "loss": 1.5}\n')):
        w = TableWriter(str(tmp_path / name))
        w.write({"target": named, "loss": np.array([0.5, 0.0, 1.5])})
        w.commit()
        assert (tmp_path / name).read_text() == want


def test_per_class_tsv_and_csv_keep_the_per_class_table() -> None:
    whole = json.loads(_ok(["ce", CSV, "--per-class", "-f", "json"]).stdout)
    for fmt, sep in (("tsv", "\t"), ("csv", ",")):
        text = _ok(["ce", CSV, "--per-class", "--ci", "0.9", "--bootstrap", "50",
                    "-f", fmt]).stdout.decode()
        summary, per_class = text.split("\n\n")
        head, values = list(csv.reader(io.StringIO(summary), delimiter=sep))
        got = dict(zip(head, values, strict=True))
        assert float(got["loss"]) == whole["loss"]
        assert got["signature"].startswith("ce|") and "ci:0.9," in got["signature"]  # quoted
        table = list(csv.DictReader(io.StringIO(per_class), delimiter=sep))
        assert [r["class"] for r in table] == [c["class"] for c in whole["per_class"]]
        assert [float(r["loss"]) for r in table] == [c["loss"] for c in whole["per_class"]]


def test_bce_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    np.save(tmp_path / "x.npy", rng.normal(size=(5, 2)))
    np.save(tmp_path / "t.npy", (rng.random((5, 2)) < 0.5).astype(np.float32))
    np.save(tmp_path / "x1.npy", rng.normal(size=5))
    np.save(tmp_path / "t1.npy", (rng.random(5) < 0.5).astype(np.float32))
    multi = _ok(["bce", tmp_path / "x.npy", tmp_path / "t.npy", "--reduction", "none",
                 "-f", "csv"]).stdout.decode().splitlines()
    assert multi[0] == "row,label,target,loss" and len(multi) == 11
    one = [json.loads(ln) for ln in _ok(["bce", tmp_path / "x1.npy", tmp_path / "t1.npy",
                                         "-o", "-", "-f", "jsonl"]).stdout.splitlines()]
    assert [o["id"] for o in one] == [0, 1, 2, 3, 4]
    values = _ok(["bce", tmp_path / "x1.npy", tmp_path / "t1.npy", "--reduction", "none",
                  "-f", "value"]).stdout.split()
    assert [o["loss"] for o in one] == [float(v) for v in values]
