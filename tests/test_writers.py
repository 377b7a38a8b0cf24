"""Outputs that never clobber, never lie and never half-exist (``cecli.writers``).

* the final move of a finished output never replaces a file that someone else created while
  cecli ran (without ``--force``): ``renameat2(RENAME_NOREPLACE)``, else a hard link, else a
  name reserved with ``O_EXCL`` -- each mechanism is tested, for files and dataset folders;
* CSV / TSV fields are quoted RFC 4180 style: ids and class names holding commas, quotes, tabs,
  CR or LF read back exactly with Python's csv module, pandas and pyarrow;
* a full disk (a tiny tmpfs, where this test may mount one) is exit 3 with one line, and leaves
  no file (EFBIG under ``RLIMIT_FSIZE`` is in the bad-input matrix);
* outputs and inputs are the same file by identity (device, inode), not by spelling.

End-to-end cases run the installed ``cecli`` as a process.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import cecli_command, run_cecli

from cecli import writers
from cecli.errors import OutputError, UsageError
from cecli.writers import (
    AtomicFile,
    DatasetWriter,
    TableWriter,
    _place,
    check_dataset_output,
    check_distinct,
    check_output,
    commit_together,
    move_noreplace,
    same_file,
)

THEIRS = b"written by another program while cecli ran\n"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".cecli-" in p.name)


# -- the move into place, by each mechanism ------------------------------------------------------

HAVE_RENAMEAT2 = _place.renameat2_func() is not None


@pytest.fixture(params=["renameat2", "link", "reserve"])
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Force :func:`move_noreplace` down one path: ``renameat2``; a hard link (no renameat2);
    a name reserved with ``O_EXCL`` then a rename (no renameat2, no hard links here)."""
    kind: str = request.param
    if kind == "renameat2" and not HAVE_RENAMEAT2:
        pytest.skip("no renameat2 on this system")
    if kind != "renameat2":
        monkeypatch.setattr(_place, "renameat2_func", lambda: None)
    if kind == "reserve":
        def no_links(*args: Any, **kw: Any) -> None:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_links)
    return kind


def test_move_noreplace_moves_a_file(tmp_path: Path, mechanism: str) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"ours")
    move_noreplace(str(src), str(dst))
    assert dst.read_bytes() == b"ours" and not src.exists()
    assert os.stat(dst).st_nlink == 1


def test_move_noreplace_never_replaces_a_file(tmp_path: Path, mechanism: str) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"ours")
    dst.write_bytes(THEIRS)
    with pytest.raises(FileExistsError):
        move_noreplace(str(src), str(dst))
    assert dst.read_bytes() == THEIRS and src.read_bytes() == b"ours"


def test_move_noreplace_never_replaces_a_dangling_symlink(tmp_path: Path, mechanism: str) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"ours")
    os.symlink("nowhere", dst)
    with pytest.raises(FileExistsError):
        move_noreplace(str(src), str(dst))
    assert os.readlink(dst) == "nowhere"


@pytest.mark.parametrize("kind", ["renameat2", "mkdir"])
def test_move_noreplace_folders(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder never replaces another, even an empty one (which a plain rename would)."""
    if kind == "renameat2" and not HAVE_RENAMEAT2:
        pytest.skip("no renameat2 on this system")
    if kind == "mkdir":
        monkeypatch.setattr(_place, "renameat2_func", lambda: None)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "part").write_bytes(b"ours")
    dst.mkdir()  # empty: os.rename would silently replace it
    with pytest.raises(FileExistsError):
        move_noreplace(str(src), str(dst))
    assert sorted(os.listdir(dst)) == [] and (src / "part").read_bytes() == b"ours"
    dst.rmdir()
    move_noreplace(str(src), str(dst))
    assert (dst / "part").read_bytes() == b"ours" and not src.exists()


# -- writers: an output that appears while the run is going ---------------------------------------


def _write_some(path: Path, force: bool) -> TableWriter:
    w = TableWriter(str(path), force=force)
    w.write({"id": np.array(["a", "b"], dtype=object), "target": np.array([0, 1]),
             "loss": np.array([0.5, 1.5])})
    return w


@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.parquet", "out.npy"])
def test_commit_keeps_an_output_created_meanwhile(
    tmp_path: Path, name: str, mechanism: str
) -> None:
    out = tmp_path / name
    w = _write_some(out, force=False)
    out.write_bytes(THEIRS)  # someone else, after the run started
    with pytest.raises(OutputError, match="created by someone else") as err:
        w.commit()
    assert err.value.file == str(out) and "--force" in str(err.value)
    assert out.read_bytes() == THEIRS
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["out.csv", "out.npy"])
def test_commit_with_force_replaces_an_output_created_meanwhile(
    tmp_path: Path, name: str
) -> None:
    out = tmp_path / name
    w = _write_some(out, force=True)
    out.write_bytes(THEIRS)
    w.commit()
    assert out.read_bytes() != THEIRS and leftovers(tmp_path) == []
    if name.endswith(".npy"):
        assert np.load(out).tolist() == [0.5, 1.5]


def test_commit_without_anyone_meanwhile(tmp_path: Path, mechanism: str) -> None:
    out = tmp_path / "out.csv"
    _write_some(out, force=False).commit()
    assert out.read_text() == "id,target,loss\na,0,0.5\nb,1,1.5\n"
    assert os.stat(out).st_nlink == 1 and leftovers(tmp_path) == []


def test_atomic_file_mode_follows_the_umask(tmp_path: Path, mechanism: str) -> None:
    old = os.umask(0o027)
    try:
        a = AtomicFile(str(tmp_path / "x.csv"))
        a.commit()
    finally:
        os.umask(old)
    assert (tmp_path / "x.csv").stat().st_mode & 0o777 == 0o640


def _dataset(tmp_path: Path, force: bool) -> DatasetWriter:
    ds = DatasetWriter(str(tmp_path / "losses.parquet"), force)
    writers.write_part(ds.part_path(0), {"loss": np.array([1.0, 2.0])})
    return ds


@pytest.mark.parametrize("kind", ["renameat2", "mkdir"])
@pytest.mark.parametrize("theirs", ["file", "empty folder", "folder"])
def test_dataset_commit_keeps_an_output_created_meanwhile(
    tmp_path: Path, kind: str, theirs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "renameat2" and not HAVE_RENAMEAT2:
        pytest.skip("no renameat2 on this system")
    if kind == "mkdir":
        monkeypatch.setattr(_place, "renameat2_func", lambda: None)
    ds = _dataset(tmp_path, force=False)
    out = tmp_path / "losses.parquet"
    if theirs == "file":
        out.write_bytes(THEIRS)
    else:
        out.mkdir()
        if theirs == "folder":
            (out / "theirs.parquet").write_bytes(THEIRS)
    with pytest.raises(OutputError, match="created by someone else"):
        ds.commit(1, 5, {"parts": 1})
    if theirs == "file":
        assert out.read_bytes() == THEIRS
    else:
        assert sorted(os.listdir(out)) == ([] if theirs == "empty folder" else ["theirs.parquet"])
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["exchange", "rename"])
@pytest.mark.parametrize("theirs", ["file", "folder"])
def test_dataset_commit_with_force_replaces(
    tmp_path: Path, kind: str, theirs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "exchange" and not HAVE_RENAMEAT2:
        pytest.skip("no renameat2 on this system")
    if kind == "rename":
        monkeypatch.setattr(_place, "renameat2_func", lambda: None)
    ds = _dataset(tmp_path, force=True)
    out = tmp_path / "losses.parquet"
    if theirs == "file":
        out.write_bytes(THEIRS)
    else:
        out.mkdir()
        (out / "old.parquet").write_bytes(THEIRS)
    ds.commit(1, 5, {"parts": 1})
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000.parquet"]
    assert pq.read_table(out / "part-00000.parquet").column("loss").to_pylist() == [1.0, 2.0]
    assert leftovers(tmp_path) == []


def test_a_retried_part_replaces_its_first_attempt(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, force=False)
    writers.write_part(ds.part_path(0), {"loss": np.array([3.0])})
    ds.commit(1, 5, {"parts": 1})
    assert pq.read_table(tmp_path / "losses.parquet").column("loss").to_pylist() == [3.0]


# -- several outputs of one run: all or none ------------------------------------------------------


def _pair(tmp_path: Path, force: bool) -> tuple[TableWriter, TableWriter]:
    a = _write_some(tmp_path / "out.csv", force)
    b = TableWriter(str(tmp_path / "g.npy"), (2,), np.float32, force=force)
    b.write({"loss": np.ones(4, np.float32)})
    return a, b


def test_commit_together_takes_back_the_first_when_the_second_fails(
    tmp_path: Path, mechanism: str
) -> None:
    a, b = _pair(tmp_path, force=False)
    (tmp_path / "g.npy").write_bytes(THEIRS)  # the second output appears meanwhile
    with pytest.raises(OutputError, match="created by someone else"):
        commit_together([a, b])
    assert not (tmp_path / "out.csv").exists()
    assert (tmp_path / "g.npy").read_bytes() == THEIRS
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["exchange", "link"])
def test_commit_together_with_force_puts_replaced_files_back(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "exchange" and not HAVE_RENAMEAT2:
        pytest.skip("no renameat2 on this system")
    if kind == "link":
        monkeypatch.setattr(_place, "renameat2_func", lambda: None)
    (tmp_path / "out.csv").write_bytes(b"older output\n")
    a, b = _pair(tmp_path, force=True)
    (tmp_path / "g.npy").mkdir()  # a folder where the second goes: its move fails
    with pytest.raises(OutputError, match=r"g\.npy: cannot write the output \(Is a directory\)"):
        commit_together([a, b])
    assert (tmp_path / "out.csv").read_bytes() == b"older output\n"
    assert (tmp_path / "g.npy").is_dir() and leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["exchange", "link"])
def test_commit_together_with_force_replaces_both(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "exchange" and not HAVE_RENAMEAT2:
        pytest.skip("no renameat2 on this system")
    if kind == "link":
        monkeypatch.setattr(_place, "renameat2_func", lambda: None)
    (tmp_path / "out.csv").write_bytes(b"older output\n")
    (tmp_path / "g.npy").write_bytes(b"older gradient\n")
    commit_together(list(_pair(tmp_path, force=True)))
    assert (tmp_path / "out.csv").read_text() == "id,target,loss\na,0,0.5\nb,1,1.5\n"
    assert np.load(tmp_path / "g.npy").shape == (2, 2)
    assert leftovers(tmp_path) == []


def test_commit_together_publishes_nothing_when_a_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _pair(tmp_path, force=False)

    def full(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    assert b.arrays is not None
    b.arrays.fh.close()  # the disk fills up as the header is written: a stand-in file
    monkeypatch.setattr(b.arrays, "fh", type("F", (), {"closed": False, "seek": full,
                                                       "close": lambda self: None})())
    with pytest.raises(OutputError, match="No space left on device"):
        commit_together([a, b])
    assert sorted(os.listdir(tmp_path)) == []


def test_taking_back_spares_a_file_that_is_no_longer_ours(tmp_path: Path) -> None:
    a = AtomicFile(str(tmp_path / "x.csv"))
    a.publish()
    (tmp_path / "x.csv").unlink()
    (tmp_path / "x.csv").write_bytes(THEIRS)  # replaced by someone else since
    a.abort()
    assert (tmp_path / "x.csv").read_bytes() == THEIRS


@pytest.mark.parametrize("theirs", ["out.csv", "g.npy"])
def test_an_output_appearing_during_the_gradient_pass_keeps_neither(
    tmp_path: Path, theirs: str
) -> None:
    """``ce -o out.csv --grad-output g.npy``: one of them appears while the gradient is written
    (the run is paused with SIGSTOP meanwhile, so the order is certain): exit 3 naming it, and
    the other (out.csv is complete since the first pass) is not left behind."""
    rows, classes = 300_000, 100
    arr = np.lib.format.open_memmap(tmp_path / "p.npy", mode="w+", dtype="float32",
                                    shape=(rows, classes))
    del arr  # a sparse file: its pages stay holes
    np.save(tmp_path / "t.npy", np.arange(rows, dtype=np.int64) % classes)
    proc = subprocess.Popen(
        [*cecli_command(), "ce", "p.npy", "t.npy", "-o", "out.csv", "--grad-output", "g.npy",
         "--chunk-rows", "1000", "--workers", "1", "-f", "value"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while not any(tmp_path.glob(".g.npy.cecli-*.tmp")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the gradient never started"
            time.sleep(0.002)
        proc.send_signal(signal.SIGSTOP)
        (tmp_path / theirs).write_bytes(THEIRS)
        proc.send_signal(signal.SIGCONT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, stderr.decode()
    lines = stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {theirs}: "), lines
    assert "created by someone else" in lines[0] and stdout == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["p.npy", "t.npy", theirs])
    assert (tmp_path / theirs).read_bytes() == THEIRS


# -- the whole command: an output created while cecli reads a slow stdin -------------------------


@pytest.fixture
def slow_run(tmp_path: Path) -> Iterator[Any]:
    """Start ``cecli ce - -o out.csv`` on a CSV fed through a pipe; once its temporary output
    exists, create ``out.csv`` as another program would, then finish the input."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(*extra: str) -> tuple[int, str, str]:
        proc = subprocess.Popen(
            [*cecli_command(), "ce", "-", "-o", "out.csv", "-f", "value", "--chunk-rows",
             "1000", *extra],
            cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
        )
        procs.append(proc)
        assert proc.stdin is not None
        proc.stdin.write(b"a,b,c,label\n" + b"0.5,-1.25,2.0,1\n" * 200_000)
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while not any(tmp_path.glob(".out.csv.cecli-*.tmp")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the output never started"
            time.sleep(0.01)
        (tmp_path / "out.csv").write_bytes(THEIRS)
        proc.stdin.write(b"0.5,-1.25,2.0,0\n" * 10)
        stdout, stderr = proc.communicate(timeout=120)
        return proc.returncode, stdout.decode(), stderr.decode()

    yield run
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_output_created_during_the_run_is_kept(slow_run: Any, tmp_path: Path) -> None:
    code, stdout, stderr = slow_run()
    assert code == 3, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: out.csv: "), stderr
    assert "created by someone else" in lines[0] and "--force" in lines[0]
    assert stdout == "" and "Traceback" not in stderr
    assert (tmp_path / "out.csv").read_bytes() == THEIRS
    assert leftovers(tmp_path) == []


def test_output_created_during_the_run_is_replaced_with_force(
    slow_run: Any, tmp_path: Path
) -> None:
    code, stdout, stderr = slow_run("--force")
    assert code == 0 and float(stdout) > 0, stderr
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0] == "target,loss" and len(rows) == 1 + 200_010
    assert leftovers(tmp_path) == []


# -- CSV / TSV quoting --------------------------------------------------------------------------

NASTY = [
    "plain", "a,b", 'say "hi"', "tab\there", "new\nline", "cr\rhere", "crlf\r\nend", "",
    " padded ", "é,ü", '"', '""', ",", "\t", "\n", "NA", "nan", "null", "a;b", "'single'",
    'a,"b"\tc\nd',
]
CLASSES = ["x,1", 'q"2', "tab\t3"]


def raw_text(path: Path) -> str:
    """The file's text with its line ends as written (no universal-newline translation)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


def read_all(path: Path, sep: str) -> list[tuple[list[str], list[list[str]]]]:
    """The file read by Python's csv module, pandas and pyarrow, every field as a string:
    ``[(header, rows), ...]``."""
    import pandas as pd

    text = raw_text(path)
    with_csv = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                     encoding="utf-8")
    with_pandas = [list(df.columns), df.to_numpy().tolist()]
    header = with_csv[0]
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.string() for h in header}, strings_can_be_null=False
        ),
    )
    with_arrow = [table.column_names, [list(r.values()) for r in table.to_pylist()]]
    return [(header, with_csv[1:]), (with_pandas[0], with_pandas[1]),
            (with_arrow[0], with_arrow[1])]


@pytest.fixture
def nasty_parquet(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = len(NASTY)
    x = rng.normal(size=(n, 3))
    path = tmp_path / "p.parquet"
    pq.write_table(
        pa.table({"id": NASTY, **{c: x[:, i] for i, c in enumerate(CLASSES)},
                  "label": rng.integers(0, 3, n)}),
        path,
    )
    return path


@pytest.mark.parametrize("ext", ["csv", "tsv"])
def test_loss_output_quotes_ids(nasty_parquet: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"out.{ext}"
    res = run_cecli(["ce", nasty_parquet, "--id-col", "id", "-o", out, "--reduction", "none",
                     "-f", "json"])
    assert res.returncode == 0, res.stderr
    losses = json.loads(res.stdout).get("losses")
    for header, rows in read_all(out, "," if ext == "csv" else "\t"):
        assert header == ["id", "target", "loss"]
        assert [r[0] for r in rows] == NASTY
        if losses is not None:
            assert [float(r[2]) for r in rows] == losses


@pytest.mark.parametrize("ext", ["csv", "tsv"])
def test_softmax_output_quotes_ids_and_class_names(
    nasty_parquet: Path, tmp_path: Path, ext: str
) -> None:
    out = tmp_path / f"sm.{ext}"
    res = run_cecli(["softmax", nasty_parquet, "--id-col", "id", "-o", out, "-q"])
    assert res.returncode == 0, res.stderr
    x = pq.read_table(nasty_parquet).select(CLASSES).to_pandas().to_numpy()
    want = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    for header, rows in read_all(out, "," if ext == "csv" else "\t"):
        assert header == ["id", "target", *CLASSES]
        assert [r[0] for r in rows] == NASTY
        got = np.array([[float(v) for v in r[2:]] for r in rows])
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("ext", ["csv", "tsv"])
def test_grad_output_quotes_ids_and_class_names(
    nasty_parquet: Path, tmp_path: Path, ext: str
) -> None:
    out = tmp_path / f"g.{ext}"
    res = run_cecli(["ce", nasty_parquet, "--id-col", "id", "--grad-output", out, "-q"])
    assert res.returncode == 0, res.stderr
    for header, rows in read_all(out, "," if ext == "csv" else "\t"):
        assert header == ["id", *(f"grad_{c}" for c in CLASSES)]
        assert [r[0] for r in rows] == NASTY


@pytest.mark.parametrize("sep", [",", "\t"])
def test_text_fields_round_trip_through_the_csv_module(tmp_path: Path, sep: str) -> None:
    """Every short string over the characters that need quoting reads back exactly; fields
    that need no quotes are written as they are (what Python's csv writer does)."""
    alphabet = ['a', ',', '"', '\t', '\r', '\n', ' ', ';']
    rng = np.random.default_rng(11)
    ids = ["".join(rng.choice(alphabet, size=rng.integers(0, 6))) for _ in range(2000)]
    path = tmp_path / ("o.csv" if sep == "," else "o.tsv")
    w = TableWriter(str(path))
    w.write_columns({"id": np.array(ids, dtype=object), "loss": np.arange(len(ids), dtype=float)})
    w.commit()
    rows = list(csv.reader(io.StringIO(raw_text(path), newline=""), delimiter=sep))
    assert rows[0] == ["id", "loss"] and [r[0] for r in rows[1:]] == ids
    lines = []
    for row in [["id", "loss"], *([i, repr(float(k))] for k, i in enumerate(ids))]:
        ref = io.StringIO()  # the csv module's default dialect (its line end quotes CR too)
        csv.writer(ref, delimiter=sep, lineterminator="\r\n").writerow(row)
        lines.append(ref.getvalue().removesuffix("\r\n"))
    assert raw_text(path) == "\n".join(lines) + "\n"


def test_a_lone_empty_column_is_not_a_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    w = TableWriter(str(path))
    w.write_columns({"id": np.array(["", "x", ""], dtype=object)})
    w.commit()
    assert path.read_text() == 'id\n""\nx\n""\n'


# -- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, where mounting is allowed (root in a container that permits it)."""
    mnt = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    try:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                             capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc})")
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.decode().strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(5)
    np.save(d / "p.npy", rng.normal(size=(20_000, 3)).astype(np.float32))
    np.save(d / "t.npy", rng.integers(0, 3, 20_000))
    return d


@pytest.mark.parametrize(
    ("command", "out"),
    [
        (["ce", "p.npy", "t.npy", "-o"], "out.csv"),
        (["ce", "p.npy", "t.npy", "-o"], "out.parquet"),
        (["ce", "p.npy", "t.npy", "--grad-output"], "g.npy"),
        (["softmax", "p.npy", "-o"], "s.tsv"),
    ],
    ids=["ce-csv", "ce-parquet", "grad-npy", "softmax-tsv"],
)
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_disk_full_is_one_error_and_no_file(
    tiny_disk: Path, big_inputs: Path, command: list[str], out: str, existing: bool
) -> None:
    target = tiny_disk / out
    if existing:
        target.write_bytes(THEIRS)
    res = run_cecli([*command, target, *(["--force"] if existing else [])], cwd=big_inputs)
    stderr = res.stderr.decode()
    assert res.returncode == 3, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {target}: "), stderr
    assert "No space left on device" in lines[0] and "Traceback" not in stderr
    assert res.stdout == b""
    assert sorted(os.listdir(tiny_disk)) == ([out] if existing else [])
    if existing:
        assert target.read_bytes() == THEIRS


# -- identity of outputs and inputs ----------------------------------------------------------


def test_same_file_by_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.npy").write_bytes(b"x")
    os.link("a.npy", "hard.npy")
    os.symlink("a.npy", "soft.npy")
    (tmp_path / "sub").mkdir()
    for other in ["./a.npy", "sub/../a.npy", str(tmp_path / "a.npy"), "hard.npy", "soft.npy"]:
        assert same_file("a.npy", other), other
    assert same_file("new.npy", "./sub/../new.npy")  # neither exists yet
    assert not same_file("a.npy", "b.npy")
    (tmp_path / "b.npy").write_bytes(b"x")
    assert not same_file("a.npy", "b.npy")


@pytest.mark.parametrize("force", [False, True])
def test_check_output_refuses_an_input_by_any_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    name = "my preds.csv"  # a space: %-encoded in a URI
    (tmp_path / name).write_text("a,b,label\n1,2,0\n")
    uri = "file://" + quote(str(tmp_path / name))
    for given in [uri, "file://" + str(tmp_path / name), "file://localhost" + str(tmp_path / name)]:
        with pytest.raises(OutputError, match="one of the inputs"):
            check_output(name, [given], force)
    check_output("other.csv", [uri], force)
    check_output("x.csv", ["s3://bucket/my preds.csv", "-"], force)


def test_check_output_refuses_a_parquet_output_an_input_would_read(tmp_path: Path) -> None:
    (tmp_path / "preds").mkdir()
    folder, glob = str(tmp_path / "preds"), str(tmp_path / "preds" / "*.parquet")
    for given in (folder, glob, "file://" + folder):
        with pytest.raises(OutputError, match="one of the inputs"):
            check_output(str(tmp_path / "preds" / "losses.parquet"), [given], False)
    check_output(str(tmp_path / "preds" / "losses.csv"), [folder, glob], False)
    check_output(str(tmp_path / "losses.parquet"), [folder, glob], False)
    with pytest.raises(OutputError, match="one of the inputs"):
        check_dataset_output(str(tmp_path / "preds" / "losses"), [folder], False)


@pytest.mark.parametrize("force", [False, True])
def test_check_output_refuses_a_file_an_input_glob_matches(tmp_path: Path, force: bool) -> None:
    (tmp_path / "preds" / "b").mkdir(parents=True)
    (tmp_path / "preds" / "a.csv").write_text("x,label\n1,0\n")
    (tmp_path / "preds" / "b" / "c.csv").write_text("x,label\n1,0\n")
    flat, deep = str(tmp_path / "preds" / "*.csv"), str(tmp_path / "preds" / "**" / "*.csv")
    for out, given in [("a.csv", flat), ("new.csv", flat), ("b/c.csv", deep)]:
        with pytest.raises(OutputError, match="one of the inputs"):
            check_output(str(tmp_path / "preds" / out), [given], force)
    check_output(str(tmp_path / "preds" / "a.tsv"), [flat], force=True)


def test_check_distinct_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="--grad-output and --output name the same file"):
        check_distinct([("--output", "x.npy"), ("--grad-output", "./x.npy")])
    (tmp_path / "x.npy").write_bytes(b"")
    os.link("x.npy", "y.npy")
    with pytest.raises(UsageError, match="same file"):
        check_distinct([("--output", "x.npy"), ("--grad-output", "y.npy")])
    check_distinct([("--output", "x.npy"), ("--grad-output", None)])
    check_distinct([("--output", "x.npy"), ("--grad-output", "z.npy")])


def test_a_file_size_limit_is_an_error_not_a_signal(big_inputs: Path, tmp_path: Path) -> None:
    """Under ``ulimit -f`` with SIGXFSZ at its default (which kills) in the parent, the write
    still fails with EFBIG (CPython ignores SIGXFSZ at start-up): exit 3, one line, no
    temporary left."""
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    out = tmp_path / "out.csv"
    res = run_cecli(["ce", "p.npy", "t.npy", "-o", out], cwd=big_inputs, preexec_fn=limit)
    stderr = res.stderr.decode()
    assert res.returncode == 3, stderr
    assert stderr.splitlines() == [f"error: {out}: cannot write the output (File too large)"]
    assert leftovers(tmp_path) == [] and not out.exists()


@pytest.mark.parametrize(
    "batches,want",
    [  # ids empty in a later batch, or in the first one; integer ids after text ones
        ([["a", "b"], [None, None]], ["a", "b", None, None]),
        ([[None, None], ["a", "b"]], [None, None, "a", "b"]),
        ([["a", "b"], [3, 4]], ["a", "b", "3", "4"]),
    ],
)
def test_parquet_rows_keep_one_schema_across_batches(
    tmp_path: Path, batches: list[list[object]], want: list[object]
) -> None:
    """A batch whose ids are all missing made pyarrow's null type, which the file's string
    schema refused: exit 4 and a traceback on a CSV whose id column was empty past a block."""
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    w = TableWriter(str(path))
    for ids in batches:
        w.write({"id": np.array(ids, dtype=object), "loss": np.ones(len(ids))})
    w.prepare()
    w.publish()
    table = pq.read_table(path)
    assert table.column("id").to_pylist() == want
    assert str(table.schema.field("id").type) == "string"


def test_parquet_rows_of_another_type_are_one_error(tmp_path: Path) -> None:
    w = TableWriter(str(tmp_path / "rows.parquet"))
    w.write({"id": np.array([1, 2]), "loss": np.ones(2)})
    with pytest.raises(OutputError, match="'id' holds string values here, int64 in the rows"):
        w.write({"id": np.array(["x"], dtype=object), "loss": np.ones(1)})
    w.abort()
    assert not (tmp_path / "rows.parquet").exists()
