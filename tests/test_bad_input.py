"""The bad-input matrix: every user mistake through the installed ``cecli``.

Each case runs the real command (a subprocess, cwd = a folder of small inputs written here by
numpy / pyarrow / hand) and checks the contract of DESIGN.md: the exit code (2 usage, 3 input /
data / output), exactly one stderr line starting ``error: `` that names the file and, where they
apply, the row, column and value, no traceback, and that no output was created or changed:

* ``out="new"``: ``-o cases/ID/out.csv`` is added; it must not exist afterwards;
* ``out="existing"``: ``cases/ID/out.csv`` holds a sentinel and ``-o ... --force`` is added: a
  failed run must not clobber it;
* ``out=None``: the case names its own outputs (or the command has none); ``{case}`` in a
  case's arguments is its folder (relative to the data folder), ``{d}`` the data folder's
  absolute path (for ``file://`` URIs).

A case with ``fsize`` runs with ``RLIMIT_FSIZE`` set to that many bytes in the child (and
``SIGXFSZ`` ignored), so writing past it fails with EFBIG ("File too large"), as on a full disk;
those cases run through the installed command only (a limit would hit the test process itself).

In every case the case's folder must end up holding exactly what it held before (no temporary
``.out.csv.cecli-*.tmp`` left behind), and no input may change. Rows: text and Parquet inputs
count data rows from 1 (and say so), arrays count from 0 (and say so).

Pickles: the object arrays below unpickle to ``os.open(SENTINEL, O_CREAT)``;
``test_the_pickle_payloads_are_live`` shows that loading them with pickles allowed creates the
sentinel, and every case checks that cecli never did.

Through the installed command, the default run takes the cases that are not in ``SLOW_ONLY``
(more than 60, every kind of mistake), run concurrently (a few processes at a time) in one
module fixture; ``-m slow`` adds the variations in ``SLOW_ONLY``. Every case also runs
in-process through typer's runner, with the same checks, in the default run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import resource
import shutil
import signal
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import cecli_command, invoke

C = 3
N = 20
BIG = 20_000  # rows of the inputs whose outputs (>= 160 KB) pass FSIZE
FSIZE = 64 << 10
SENTINEL = "PWNED"  # what the pickles would create, in the data folder
SENTINEL_OUT = b"sentinel: a failed run must not touch me\n"


class _Evil:
    """Unpickles to ``os.open(path, O_CREAT | O_WRONLY)``: a file appears if it is ever loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.open, (self.path, os.O_CREAT | os.O_WRONLY, 0o644))


def evil_array(path: str) -> np.ndarray:
    arr = np.empty(N, dtype=object)
    arr[:] = [_Evil(path) for _ in range(N)]
    return arr


def npy_bytes(a: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


def npy_header(d: dict[str, Any]) -> bytes:
    """A hand-made NPY (1.0) header, for shapes numpy.save would never write."""
    text = repr(d).encode()
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


def write(path: Path, data: bytes | str) -> None:
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def csv_text(x: np.ndarray, y: Any, header: str = "a,b,c,label", sep: str = ",") -> str:
    lines = [header]
    lines += [sep.join([*(repr(float(v)) for v in r), str(t)]) for r, t in zip(x, y, strict=True)]
    return "\n".join(lines) + "\n"


def make_data(d: Path) -> None:
    """Valid inputs, then every broken variant the cases use."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, C)).astype(np.float32)
    y = rng.integers(0, C, N)
    sentinel = str(d / SENTINEL)

    # -- NPY ----------------------------------------------------------------------------------
    np.save(d / "p.npy", x)
    np.save(d / "t.npy", y)
    good = (d / "p.npy").read_bytes()
    write(d / "trunc.npy", good[:-10])
    write(d / "trunc_head.npy", good[:30])
    write(d / "magic.npy", b"\x00" + good[1:])
    write(d / "empty.npy", b"")
    write(d / "pickle.npy", npy_bytes(evil_array(sentinel), allow_pickle=True))
    write(d / "huge.npy", npy_header({"descr": "<f4", "fortran_order": False,
                                      "shape": (2**40, 2**40)}) + b"\0" * 64)
    write(d / "negdim.npy", npy_header({"descr": "<f4", "fortran_order": False,
                                        "shape": (-1, 3)}) + b"\0" * 64)
    write(d / "badheader.npy", b"\x93NUMPY\x01\x00" + (20).to_bytes(2, "little")
          + b"{'descr': '<f4', (\n")
    np.save(d / "struct.npy", np.zeros(N, dtype=[("a", "<f4"), ("b", "<f4")]))
    np.save(d / "strings.npy", np.array(["a", "b"] * (N // 2)))
    np.save(d / "t_trunc_src.npy", y)
    write(d / "t_trunc.npy", (d / "t_trunc_src.npy").read_bytes()[:-7])
    os.remove(d / "t_trunc_src.npy")
    np.save(d / "t19.npy", y[:19])
    np.save(d / "t_oor.npy", np.where(np.arange(N) == 4, 7, y))
    np.save(d / "t_neg.npy", np.where(np.arange(N) == 6, -3, y))
    np.save(d / "t_frac.npy", np.where(np.arange(N) == 5, 0.5, y.astype(float)))
    np.save(d / "t_wide.npy", np.zeros((N, 4), np.int64))
    np.save(d / "probs.npy", np.full((N, C), 1 / C))
    np.save(d / "probs4.npy", np.full((N, 4), 0.25))
    x_nan = x.copy()
    x_nan[8, 1] = np.nan
    np.save(d / "nan.npy", x_nan)
    np.save(d / "p4.npy", rng.normal(size=(N, 4)).astype(np.float32))
    np.save(d / "p19.npy", x[:19])

    # -- NPZ ----------------------------------------------------------------------------------
    np.savez(d / "z.npz", logits=x, target=y)
    np.savez_compressed(d / "zc.npz", logits=x, target=y)
    zc = (d / "zc.npz").read_bytes()
    write(d / "trunc.npz", zc[: len(zc) // 2])
    write(d / "empty.npz", b"")
    # a deflate stream with flipped bytes inside an intact archive
    with zipfile.ZipFile(d / "zc.npz") as zf:
        info = zf.getinfo("logits.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    bad = bytearray(zc)
    for i in range(start, start + 24):
        bad[i] ^= 0x5A
    write(d / "corrupt.npz", bytes(bad))
    # a stored member whose local header no longer matches the directory
    z = bytearray((d / "z.npz").read_bytes())
    at = z.find(b"PK\x03\x04")
    z[at + 30] ^= 0x20  # first letter of the member name in its local header
    write(d / "badlocal.npz", bytes(z))
    np.savez(d / "pickle.npz", logits=evil_array(sentinel), target=y)
    np.savez(d / "pickle_t.npz", logits=x, target=evil_array(sentinel))
    np.savez(d / "nokey.npz", logits=x)
    np.savez(d / "rows.npz", logits=x, target=y[:15])

    # -- Parquet ------------------------------------------------------------------------------
    wide = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": y})
    pq.write_table(wide, d / "p.parquet")
    pqb = (d / "p.parquet").read_bytes()
    write(d / "trunc.parquet", pqb[: len(pqb) // 2])
    write(d / "empty.parquet", b"")
    write(d / "notparquet.parquet", csv_text(x, y))
    lists = [[float(v) for v in r] for r in x]
    lists[2] = lists[2][:2]
    pq.write_table(pa.table({"logits": pa.array(lists, pa.list_(pa.float64())), "label": y}),
                   d / "ragged.parquet")
    lists = [[float(v) for v in r] for r in x]
    lists[3][1] = None  # type: ignore[call-overload]
    pq.write_table(pa.table({"logits": pa.array(lists, pa.list_(pa.float64())), "label": y}),
                   d / "nullinlist.parquet")
    names = np.array(["a", "b", "c"])[y].tolist()
    pq.write_table(wide.set_column(3, "label", pa.array([*names[:9], None, *names[10:]])),
                   d / "nulllabel.parquet")
    pq.write_table(wide.set_column(3, "label", pa.array([*names[:11], "zebra", *names[12:]])),
                   d / "unknown.parquet")
    (d / "ds").mkdir()
    pq.write_table(wide, d / "ds" / "part-0.parquet")
    pq.write_table(wide.append_column("d", pa.array(x[:, 0])), d / "ds" / "part-1.parquet")
    (d / "dsok").mkdir()
    pq.write_table(wide, d / "dsok" / "part-0.parquet")

    # -- gzip ---------------------------------------------------------------------------------
    gz = gzip.compress(csv_text(x, y).encode())
    write(d / "trunc.csv.gz", gz[: len(gz) // 2])
    bad = bytearray(gz)
    for i in range(40, 60):
        bad[i] ^= 0xFF
    write(d / "corrupt.csv.gz", bytes(bad))
    write(d / "notgzip.csv.gz", csv_text(x, y))

    # -- CSV / TSV ----------------------------------------------------------------------------
    def rows(**edits: str) -> str:
        """The valid CSV with cells replaced: ``r2_b="x"`` is data row 2, column b."""
        table = [[repr(float(v)) for v in r] + [str(t)] for r, t in zip(x, y, strict=True)]
        for key, value in edits.items():
            r, col = key[1:].split("_")
            table[int(r) - 1]["abcl".index(col[0])] = value
        return "a,b,c,label\n" + "".join(",".join(r) + "\n" for r in table)

    write(d / "p.csv", csv_text(x, y))
    write(d / "empty.csv", b"")
    write(d / "header.csv", "a,b,c,label\n")
    write(d / "nonnum.csv", rows(r3_b="x"))
    write(d / "emptycell.csv", rows(r4_c=""))
    write(d / "inf.csv", rows(r5_a="inf"))
    write(d / "nan.csv", rows(r6_b="nan"))
    sw = ["1.0"] * N
    sw[3] = "nan"  # data row 4
    write(d / "sw_nan.csv", "a,b,c,label,w\n" + "".join(
        ",".join([*(repr(float(v)) for v in r), str(t), w]) + "\n"
        for r, t, w in zip(x, y, sw, strict=True)))
    write(d / "onecol.csv", "score,label\n" + "".join(
        f"{float(v)!r},{int(t) % 2}\n" for v, t in zip(x[:, 0], y, strict=True)))
    np.save(d / "onecol.npy", x[:, :1])
    text = csv_text(x, y).splitlines()
    text[3] = ",".join(text[3].split(",")[:3])
    write(d / "ragged.csv", "\n".join(text) + "\n")
    write(d / "dup.csv", csv_text(x, y, header="a,a,c,label"))
    write(d / "dupstr.csv", "a,b,note,note,label\n" + "1,2,x,y,0\n" * 3)
    write(d / "semicolon.csv", csv_text(x, y, header="a;b;c;label", sep=";"))
    write(d / "tabs.csv", csv_text(x, y, header="a\tb\tc\tlabel", sep="\t"))
    write(d / "latin1_header.csv", csv_text(x, y, header="a,b,\xe9t\xe9,label").encode("latin1"))
    write(d / "latin1_cell.csv", rows(r2_c="caf\xe9").encode("latin1"))
    write(d / "latin1_label.csv", csv_text(x, ["caf\xe9"] * N).encode("latin1"))
    write(d / "oor.csv", rows(r2_l="5"))
    write(d / "neg.csv", rows(r7_l="-2"))
    write(d / "frac.csv", rows(r3_l="1.5"))
    labels = np.array(["a", "b", "c"])[y].tolist()
    labels[8] = "zebra"
    write(d / "unknown.csv", csv_text(x, labels))
    write(d / "nulllabel.csv", rows(r9_l=""))
    write(d / "nolabel.csv", "a,b,c\n" + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in x))
    write(d / "t21.csv", "label\n" + "0\n" * 21)

    # -- txt TARGETS --------------------------------------------------------------------------
    write(d / "t_oor.txt", "".join(f"{v}\n" for v in np.where(np.arange(N) == 4, 7, y)))
    write(d / "t_unknown.txt", "a\nb\nc\n" * 5 + "a\nb\nc\nwolf\na\n")
    write(d / "t_blank.txt", "0\n1\n\n2\n" + "0\n" * 16)
    write(d / "t_empty.txt", "")
    write(d / "t19.txt", "0\n" * 19)

    # -- options ------------------------------------------------------------------------------
    write(d / "w2.txt", "1\n2\n")
    np.save(d / "w_neg.npy", np.array([1.0, -1.0, 1.0]))
    write(d / "w_bad.txt", "1\nheavy\n3\n")
    np.save(d / "w_str.npy", np.array(["low", "mid", "high"]))
    write(d / "w_pickle.npy", npy_bytes(evil_array(sentinel)[:C], allow_pickle=True))
    write(d / "pw_bad.txt", "1,two\n")
    (d / "emptydir").mkdir()
    (d / "dir.npy").mkdir()
    write(d / "notjson.json", "loss: 1\n")
    write(d / "base_sum.json", '{"loss": 1.0, "signature": '
          '"ce|in:logits|tgt:index|red:sum|w:none|ii:-100|ls:0|v:0.0.1"}\n')
    write(d / "existing.csv", "precious\n")
    write(d / "afile", "I am a file, not a folder\n")
    os.symlink("p.npy", d / "plink.npy")  # another name of p.npy
    os.link(d / "t.npy", d / "thard.npy")  # the same inode as t.npy
    write(d / "e1.csv", "an earlier output\n")
    os.link(d / "e1.csv", d / "e1hard.csv")
    # big enough that every per-row output passes the cases' RLIMIT_FSIZE (FSIZE)
    np.save(d / "pbig.npy", rng.normal(size=(BIG, C)).astype(np.float32))
    np.save(d / "tbig.npy", rng.integers(0, C, BIG))
    np.save(d / "bbig.npy", rng.normal(size=(BIG, 2)).astype(np.float32))
    np.save(d / "btbig.npy", rng.integers(0, 2, (BIG, 2)).astype(np.float32))

    # -- hostile (issue 12) ---------------------------------------------------------------------
    write(d / "w_huge.npy", npy_header({"descr": "<f8", "fortran_order": False,
                                        "shape": (10**12,)}) + b"\0" * 24)
    with zipfile.ZipFile(d / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        # a header of 20 x 3 values, then 4 MiB more: the zip is small, the member is not
        with zf.open("logits.npy", "w") as m:
            m.write(npy_header({"descr": "<f4", "fortran_order": False, "shape": (N, C)}))
            m.write(x.tobytes() + bytes(4 << 20))
        zf.writestr("target.npy", npy_bytes(y))
    with zipfile.ZipFile(d / "short.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("logits.npy", npy_bytes(x)[:-12])
        zf.writestr("target.npy", npy_bytes(y))
    write(d / "t.txt", "".join(f"{v}\n" for v in y))
    write(d / "t_longline.txt", "0\n1\n" + "7" * (2 << 20) + "\n" + "2\n" * (N - 3))

    # -- bce ----------------------------------------------------------------------------------
    np.save(d / "b.npy", rng.normal(size=(10, 2)).astype(np.float32))
    np.save(d / "bt.npy", rng.integers(0, 2, (10, 2)).astype(np.float32))
    np.save(d / "bt_bad.npy", np.where(np.arange(20).reshape(10, 2) == 7, 1.5, 0.0))
    np.save(d / "bt_shape.npy", np.zeros((10, 3)))


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int
    needles: tuple[str, ...]
    out: str | None = "new"  # "new", "existing" or None (see the module docstring)
    stdin: str | None = None  # a data file piped to stdin
    fsize: int | None = None  # RLIMIT_FSIZE of the child, in bytes (installed command only)

    def command(self, out_path: str, data: Path | None = None) -> list[str]:
        case_dir = os.path.dirname(out_path)
        args = [a.replace("{case}", case_dir).replace("{d}", str(data)) for a in self.argv]
        if self.out == "new":
            args += ["-o", out_path]
        elif self.out == "existing":
            args += ["-o", out_path, "--force"]
        return args


def case(id: str, argv: str, code: int, *needles: str, out: str | None = "new",
         stdin: str | None = None, fsize: int | None = None) -> Case:
    return Case(id, tuple(argv.split()), code, needles, out, stdin, fsize)


ROW_CSV = "1-based data rows"
ROW_PQ = "1-based within the file"
ROW_ARR = "0-based"

CASES = [
    # -- NPY: truncated, corrupt, forged, pickled ---------------------------------------------
    case("npy-truncated", "ce trunc.npy t.npy", 3, "trunc.npy", "truncated"),
    case("npy-truncated-header", "ce trunc_head.npy t.npy", 3, "trunc_head.npy",
         "not a valid NPY"),
    case("npy-bad-magic", "ce magic.npy t.npy", 3, "magic.npy", "not a valid NPY",
         out="existing"),
    case("npy-empty-file", "ce empty.npy t.npy", 3, "empty.npy", "not a valid NPY"),
    case("npy-unparsable-header", "ce badheader.npy t.npy", 3, "badheader.npy",
         "not a valid NPY"),
    case("npy-forged-huge-shape", "ce huge.npy t.npy", 3, "huge.npy", "truncated",
         "1099511627776"),
    case("npy-negative-dimension", "ce negdim.npy t.npy", 3, "negdim.npy", "negative dimension"),
    case("npy-pickle-preds", "ce pickle.npy t.npy", 3, "pickle.npy", "pickle", "never unpickles"),
    case("npy-pickle-stdin", "ce - t.npy --format-in npy", 3, "error: -:", "pickle",
         stdin="pickle.npy"),
    case("npy-pickle-weight-file", "ce p.npy t.npy --weight w_pickle.npy", 3, "w_pickle.npy"),
    case("npy-structured-dtype", "ce struct.npy t.npy", 3, "struct.npy", "non-numeric"),
    case("npy-strings-as-preds", "ce strings.npy t.npy", 3, "strings.npy", "strings"),
    case("npy-truncated-targets", "ce p.npy t_trunc.npy", 3, "t_trunc.npy", "truncated",
         "TARGETS"),
    case("npy-truncated-stdin", "ce - t.npy --format-in npy", 3, "error: -:", "truncated",
         stdin="trunc.npy"),
    case("npy-without-targets", "ce p.npy", 3, "p.npy", "holds no targets"),
    # -- NPZ ----------------------------------------------------------------------------------
    case("npz-truncated", "ce trunc.npz", 3, "trunc.npz", "not a valid NPZ"),
    case("npz-empty-file", "ce empty.npz", 3, "empty.npz", "not a valid NPZ"),
    case("npz-corrupt-deflate", "ce corrupt.npz", 3, "corrupt.npz", "logits", "corrupt",
         out="existing"),
    case("npz-bad-local-header", "ce badlocal.npz", 3, "badlocal.npz", "corrupt"),
    case("npz-pickle-preds", "ce pickle.npz", 3, "pickle.npz[logits]", "pickle"),
    case("npz-pickle-target", "ce pickle_t.npz", 3, "pickle_t.npz[target]", "pickle"),
    case("npz-pickle-stdin", "ce - --format-in npz", 3, "error: -", "pickle",
         stdin="pickle.npz"),
    case("npz-missing-key", "ce z.npz --preds-key scores", 3, "z.npz", "'scores'", "logits"),
    case("npz-no-target-key", "ce nokey.npz", 3, "nokey.npz", "no target key"),
    case("npz-row-count-mismatch", "ce rows.npz", 3, "rows.npz", "row-count mismatch", "15"),
    # -- Parquet ------------------------------------------------------------------------------
    case("parquet-truncated", "ce trunc.parquet", 3, "trunc.parquet", "not a readable Parquet"),
    case("parquet-empty-file", "ce empty.parquet", 3, "empty.parquet", "not a readable Parquet"),
    case("parquet-not-parquet", "ce notparquet.parquet", 3, "notparquet.parquet",
         "not a readable Parquet", out="existing"),
    case("parquet-ragged-list", "ce ragged.parquet", 3, "ragged.parquet", "row 3",
         "column 'logits'", "ragged list", ROW_PQ),
    case("parquet-null-in-list", "ce nullinlist.parquet", 3, "nullinlist.parquet", "row 4",
         "column 'logits'", "null value"),
    case("parquet-null-label", "ce nulllabel.parquet", 3, "nulllabel.parquet", "row 10",
         "column 'label'", "null target"),
    case("parquet-unknown-label", "ce unknown.parquet", 3, "unknown.parquet", "row 12",
         "column 'label'", "'zebra'", "unknown label"),
    case("parquet-missing-column", "ce p.parquet --target-col species", 3, "p.parquet",
         "'species'", "label"),
    case("parquet-dataset-class-count-mismatch", "ce ds", 3, "part-1.parquet",
         "class-count mismatch", "part-0.parquet"),
    # -- gzip ---------------------------------------------------------------------------------
    case("gzip-truncated", "ce trunc.csv.gz", 3, "trunc.csv.gz", "runcated"),
    case("gzip-corrupt", "ce corrupt.csv.gz", 3, "corrupt.csv.gz"),
    case("gzip-not-gzip", "ce notgzip.csv.gz", 3, "notgzip.csv.gz", out="existing"),
    # -- CSV ----------------------------------------------------------------------------------
    case("csv-empty-file", "ce empty.csv", 3, "empty.csv", "empty file"),
    case("csv-empty-stdin", "ce -", 3, "error: -:", "empty", stdin="empty.csv"),
    case("csv-header-only", "ce header.csv", 3, "header.csv", "header only"),
    case("csv-non-numeric-cell", "ce nonnum.csv", 3, "nonnum.csv", "row 3", "column 'b'",
         "'x'", ROW_CSV, out="existing"),
    case("csv-non-numeric-cell-stdin", "ce -", 3, "error: -:", "row 3", "column 'b'", "'x'",
         stdin="nonnum.csv"),
    case("csv-empty-cell", "ce emptycell.csv", 3, "emptycell.csv", "row 4", "column 'c'",
         "empty"),
    case("csv-inf-cell", "ce inf.csv", 3, "inf.csv", "row 5", "non-finite", ROW_CSV),
    case("csv-nan-cell", "ce nan.csv", 3, "nan.csv", "row 6", "non-finite", ROW_CSV),
    case("csv-sample-weight-nan", "ce sw_nan.csv --sample-weight-col w", 3, "sw_nan.csv",
         "row 4", ROW_CSV, "NaN or infinite", "(value nan)", "--sample-weight-col"),
    case("csv-one-score-column-to-ce", "ce onecol.csv", 3, "onecol.csv", "`cecli bce`",
         "--input probs"),
    case("npy-one-score-column-to-ce", "ce onecol.npy t.npy", 3, "onecol.npy", "`cecli bce`"),
    case("csv-ragged-row", "ce ragged.csv", 3, "ragged.csv", "row 3", "ragged row", "3 fields"),
    case("csv-duplicate-columns", "ce dup.csv", 3, "dup.csv", "column 'a'", "duplicate"),
    case("csv-duplicate-text-columns", "ce dupstr.csv", 3, "dupstr.csv", "column 'note'",
         "duplicate"),
    case("csv-semicolon-delimiter", "ce semicolon.csv", 3, "semicolon.csv", "semicolon"),
    case("csv-tab-delimiter", "ce tabs.csv", 3, "tabs.csv", "tab"),
    case("csv-non-utf8-header", "ce latin1_header.csv", 3, "latin1_header.csv", "UTF-8"),
    case("csv-non-utf8-logit", "ce latin1_cell.csv", 3, "latin1_cell.csv", "row 2",
         "column 'c'", "UTF-8"),
    case("csv-non-utf8-label", "ce latin1_label.csv", 3, "latin1_label.csv", "column 'label'",
         "UTF-8"),
    case("csv-label-out-of-range", "ce oor.csv", 3, "oor.csv", "row 2", "column 'label'",
         "value 5", "out of range", ROW_CSV),
    case("csv-label-negative", "ce neg.csv", 3, "neg.csv", "row 7", "value -2", "out of range"),
    case("csv-label-fractional", "ce frac.csv", 3, "frac.csv", "row 3", "value 1.5",
         "whole numbers"),
    case("csv-label-unknown", "ce unknown.csv", 3, "unknown.csv", "row 9", "'zebra'",
         "unknown label"),
    case("csv-label-null", "ce nulllabel.csv", 3, "nulllabel.csv", "row 9", "column 'label'",
         "null target"),
    case("csv-no-target-column", "ce nolabel.csv", 3, "nolabel.csv", "no target column"),
    case("csv-missing-target-col", "ce p.csv --target-col species", 3, "p.csv", "'species'"),
    case("csv-missing-id-col", "ce p.csv --id-col uid", 3, "p.csv", "'uid'"),
    case("csv-logit-glob-matches-nothing", "ce p.csv --logit-cols logit_*", 3, "p.csv",
         "'logit_*'"),
    case("csv-not-a-prediction-file", "ce t_oor.txt", 3, "t_oor.txt", "labels, not predictions"),
    # -- TARGETS: labels, rows, classes --------------------------------------------------------
    case("targets-row-count-mismatch", "ce p.npy t19.npy", 3, "t19.npy", "row-count mismatch",
         "20", "19"),
    case("targets-txt-row-count-mismatch", "ce p.npy t19.txt", 3, "t19.txt",
         "row-count mismatch"),
    case("targets-csv-row-count-mismatch", "ce p.npy t21.csv", 3, "t21.csv",
         "row-count mismatch", "21"),
    case("targets-npy-out-of-range", "ce p.npy t_oor.npy", 3, "t_oor.npy", "row 4", "value 7",
         ROW_ARR),
    case("targets-npy-negative", "ce p.npy t_neg.npy", 3, "t_neg.npy", "row 6", "value -3"),
    case("targets-npy-fractional", "ce p.npy t_frac.npy", 3, "t_frac.npy", "row 5",
         "value 0.5", "whole numbers"),
    case("targets-txt-out-of-range", "ce p.npy t_oor.txt", 3, "t_oor.txt", "row 5", "value 7",
         "line numbers"),
    case("targets-txt-unknown-label", "ce p.npy t_unknown.txt --classes a,b,c", 3,
         "t_unknown.txt", "row 19", "'wolf'"),
    case("targets-txt-blank-line", "ce p.npy t_blank.txt", 3, "t_blank.txt", "row 3",
         "empty line"),
    case("targets-txt-empty", "ce p.npy t_empty.txt", 3, "t_empty.txt", "empty"),
    case("targets-class-count-mismatch", "ce p.npy t_wide.npy", 3, "t_wide.npy", "shape"),
    case("targets-probs-class-count-mismatch", "ce p.npy probs4.npy --targets probs", 3,
         "probs4.npy", "(20, 4)", "(20, 3)"),
    case("classes-count-mismatch", "ce p4.npy t.npy --classes a,b,c", 3, "p4.npy", "3 classes",
         "4"),
    case("preds-nan", "ce nan.npy t.npy", 3, "nan.npy", "row 8", "non-finite", ROW_ARR,
         out="existing"),
    # -- options: weights, smoothing, ignore_index ---------------------------------------------
    case("weight-wrong-length", "ce p.npy t.npy --weight 1,2", 2, "p.npy", "2 values",
         "3 classes"),
    case("weight-negative", "ce p.npy t.npy --weight 1,-2,3", 2, "--weight", "negative",
         "'1,-2,3'"),
    case("weight-non-numeric", "ce p.npy t.npy --weight 1,heavy,3", 2, "--weight", "'heavy'"),
    case("weight-file-wrong-length", "ce p.npy t.npy --weight w2.txt", 2, "2 values"),
    case("weight-file-negative", "ce p.npy t.npy --weight w_neg.npy", 2, "w_neg.npy",
         "negative"),
    case("weight-file-non-numeric", "ce p.npy t.npy --weight w_bad.txt", 3, "w_bad.txt",
         "'heavy'"),
    case("weight-file-strings-npy", "ce p.npy t.npy --weight w_str.npy", 3, "w_str.npy",
         "numbers"),
    case("label-smoothing-above-1", "ce p.npy t.npy --label-smoothing 1.5", 2,
         "--label-smoothing", "1.5"),
    case("label-smoothing-negative", "ce p.npy t.npy --label-smoothing -0.1", 2,
         "--label-smoothing", "-0.1"),
    case("ignore-index-with-probability-targets", "ce p.npy probs.npy --ignore-index 0", 2,
         "ignore_index", "probability targets"),
    # -- files that are not there or not files -------------------------------------------------
    case("missing-preds-file", "ce nosuch.npy t.npy", 3, "nosuch.npy", "no such file"),
    case("unknown-extension", "ce p.xyz t.npy", 3, "p.xyz", "format"),
    case("targets-is-a-directory", "ce p.npy emptydir", 3, "emptydir", "no Parquet files"),
    case("preds-directory-named-npy", "ce dir.npy t.npy", 3, "dir.npy"),
    case("weight-is-a-directory", "ce p.npy t.npy --weight emptydir", 3, "emptydir",
         "directory"),
    case("classes-is-a-directory", "ce p.npy t.npy --classes emptydir", 3, "emptydir",
         "directory"),
    case("baseline-is-a-directory", "ce p.npy t.npy --baseline emptydir --max-increase 0.1", 3,
         "emptydir", "directory"),
    case("baseline-not-json", "ce p.npy t.npy --baseline notjson.json --max-increase 0.1", 3,
         "notjson.json", "JSON"),
    case("baseline-other-signature", "ce p.npy t.npy --baseline base_sum.json --max-increase 0",
         3, "base_sum.json", "other settings", "red:sum", "red:mean"),
    # -- outputs ------------------------------------------------------------------------------
    case("output-is-preds", "ce p.npy t.npy -o p.npy --force", 3, "p.npy", "one of the inputs",
         out=None),
    case("output-is-targets-other-spelling", "ce p.npy t.npy -o ./t.npy --force", 3, "./t.npy",
         "one of the inputs", out=None),
    case("grad-output-is-preds", "ce p.npy t.npy --grad-output p.npy", 3, "p.npy",
         "one of the inputs"),
    case("output-exists-without-force", "ce p.npy t.npy -o existing.csv", 3, "existing.csv",
         "--force", out=None),
    case("grad-output-exists-without-force", "ce p.npy t.npy --grad-output existing.csv", 3,
         "existing.csv", "--force"),
    case("output-folder-missing", "ce p.npy t.npy -o nosuchdir/out.csv", 3, "nosuchdir/out.csv",
         "does not exist", out=None),
    case("output-folder-is-a-file", "ce p.npy t.npy -o afile/out.csv", 3, "afile/out.csv",
         out=None),
    # root ignores permission bits: /proc is a folder nobody (not even root) can create files in
    case("output-folder-read-only", "ce p.npy t.npy -o /proc/cecli-out.csv", 3,
         "/proc/cecli-out.csv", "cannot write", out=None),
    case("output-is-a-directory", "ce p.npy t.npy -o emptydir --force", 3, "emptydir",
         "directory", out=None),
    case("output-unknown-extension", "ce p.npy t.npy -o out.xyz", 2, "out.xyz",
         out=None),
    case("grad-output-same-as-output", "ce p.npy t.npy -o same.npy --grad-output same.npy", 2,
         "same file", out=None),
    case("failed-run-keeps-existing-output", "ce oor.csv", 3, "oor.csv", "row 2",
         out="existing"),
    # the same file under another name: identity (device, inode), not the text of the path
    case("output-is-preds-as-file-uri", "ce file://{d}/p.npy t.npy -o p.npy --force", 3,
         "p.npy", "one of the inputs", out=None),
    case("output-is-preds-absolute-path", "ce p.npy t.npy -o {d}/p.npy --force", 3,
         "one of the inputs", out=None),
    case("output-is-symlink-to-preds", "ce p.npy t.npy -o plink.npy --force", 3, "plink.npy",
         "one of the inputs", out=None),
    case("preds-is-symlink-to-output", "ce plink.npy t.npy -o p.npy --force", 3, "p.npy",
         "one of the inputs", out=None),
    case("output-is-hard-link-to-targets", "ce p.npy t.npy -o thard.npy --force", 3,
         "thard.npy", "one of the inputs", out=None),
    case("grad-output-is-targets-as-file-uri",
         "ce p.npy file://{d}/t.npy --grad-output t.npy --force", 3, "t.npy",
         "one of the inputs"),
    case("output-matches-preds-glob", "ce p.cs? -o p.csv --force", 3, "p.csv",
         "one of the inputs", out=None),
    case("output-parquet-inside-preds-folder", "ce dsok -o dsok/losses.parquet", 3,
         "dsok/losses.parquet", "one of the inputs", out=None),
    case("grad-output-same-as-output-other-spelling",
         "ce p.npy t.npy -o {case}/same.npy --grad-output ./{case}/same.npy", 2, "same file",
         out=None),
    case("grad-output-same-as-output-hard-link",
         "ce p.npy t.npy -o e1.csv --grad-output e1hard.csv --force", 2, "same file", out=None),
    case("bce-grad-output-same-as-output-other-spelling",
         "bce b.npy bt.npy -o {case}/same.csv --grad-output ./{case}/same.csv", 2, "same file",
         out=None),
    case("softmax-output-is-input-as-file-uri", "softmax file://{d}/p.npy -o p.npy --force", 3,
         "p.npy", "one of the inputs", out=None),
    # writing fails part-way (EFBIG under RLIMIT_FSIZE, as ENOSPC on a full disk)
    case("output-csv-file-too-large", "ce pbig.npy tbig.npy", 3, "out.csv", "File too large",
         fsize=FSIZE),
    case("output-csv-file-too-large-keeps-existing", "ce pbig.npy tbig.npy", 3, "out.csv",
         "File too large", out="existing", fsize=FSIZE),
    case("output-npy-file-too-large", "ce pbig.npy tbig.npy -o {case}/out.npy", 3, "out.npy",
         "File too large", out=None, fsize=FSIZE),
    case("output-parquet-file-too-large", "ce pbig.npy tbig.npy -o {case}/out.parquet", 3,
         "out.parquet", "File too large", out=None, fsize=FSIZE),
    case("grad-output-npy-file-too-large", "ce pbig.npy tbig.npy --grad-output {case}/g.npy",
         3, "g.npy", "File too large", out=None, fsize=FSIZE),
    case("grad-output-csv-file-too-large", "ce pbig.npy tbig.npy --grad-output {case}/g.csv",
         3, "g.csv", "File too large", out=None, fsize=FSIZE),
    # -o (160 KB) fits, the gradient (240 KB) does not: neither is left
    case("grad-output-too-large-after-output-fits",
         "ce pbig.npy tbig.npy -o {case}/out.npy --grad-output {case}/g.npy", 3, "g.npy",
         "File too large", out=None, fsize=200_000),
    case("bce-output-file-too-large", "bce bbig.npy btbig.npy", 3, "out.csv", "File too large",
         fsize=FSIZE),
    case("bce-grad-output-file-too-large", "bce bbig.npy btbig.npy --grad-output {case}/g.npy",
         3, "g.npy", "File too large", out=None, fsize=FSIZE),
    case("softmax-csv-file-too-large", "softmax pbig.npy", 3, "out.csv", "File too large",
         fsize=FSIZE),
    case("softmax-npy-file-too-large", "softmax pbig.npy -o {case}/s.npy", 3, "s.npy",
         "File too large", out=None, fsize=FSIZE),
    case("softmax-parquet-file-too-large", "softmax pbig.npy -o {case}/s.parquet", 3,
         "s.parquet", "File too large", out=None, fsize=FSIZE),
    # -- bce ----------------------------------------------------------------------------------
    case("bce-targets-outside-0-1", "bce b.npy bt_bad.npy", 3, "bt_bad.npy", "row 3",
         "value 1.5", "[0, 1]"),
    case("bce-targets-shape", "bce b.npy bt_shape.npy", 3, "bt_shape.npy", "shape"),
    case("bce-probs-outside-0-1", "bce b.npy bt.npy --input probs", 3, "b.npy",
         "probabilities must be in [0, 1]", out="existing"),
    case("bce-pos-weight-wrong-length", "bce b.npy bt.npy --pos-weight 1,2,3", 2, "b.npy",
         "3 values"),
    case("bce-pos-weight-negative", "bce b.npy bt.npy --pos-weight -1", 2, "--pos-weight",
         "negative"),
    case("bce-pos-weight-file-non-numeric", "bce b.npy bt.npy --pos-weight pw_bad.txt", 3,
         "pw_bad.txt", "'two'"),
    case("bce-pickle-preds", "bce pickle.npy bt.npy", 3, "pickle.npy", "pickle"),
    case("bce-output-is-input", "bce b.npy bt.npy -o bt.npy --force", 3, "bt.npy",
         "one of the inputs", out=None),
    # -- softmax ------------------------------------------------------------------------------
    case("softmax-output-is-input", "softmax p.npy -o p.npy --force", 3, "p.npy",
         "one of the inputs", out=None),
    case("softmax-output-exists", "softmax p.npy -o existing.csv", 3, "existing.csv", "--force",
         out=None),
    case("softmax-temperature-zero", "softmax p.npy --temperature 0", 2, "--temperature"),
    case("softmax-truncated-input", "softmax trunc.npy", 3, "trunc.npy", "truncated",
         out="existing"),
    case("softmax-ragged-csv", "softmax ragged.csv", 3, "ragged.csv", "row 3", "ragged"),
    case("softmax-pickle", "softmax pickle.npy", 3, "pickle.npy", "pickle"),
    # -- compare ------------------------------------------------------------------------------
    case("compare-row-count-mismatch", "compare p.npy p19.npy t.npy", 3, "p19.npy",
         "row-count mismatch", out=None),
    case("compare-class-count-mismatch", "compare p.npy p4.npy t.npy", 3, "p4.npy", "(4,)",
         out=None),
    case("compare-nan-in-b", "compare p.npy nan.npy t.npy", 3, "nan.npy", "row 8", "non-finite",
         out=None),
    case("compare-label-out-of-range", "compare oor.csv oor.csv", 3, "oor.csv", "row 2",
         "column 'label'", "value 5", out=None),
    case("compare-truncated-b", "compare p.npy trunc.npy t.npy", 3, "trunc.npy", "truncated",
         out=None),
    # -- hostile inputs (issue 12) ---------------------------------------------------------------
    case("weight-empty-position", "ce p.npy t.npy --weight 1,,2,3", 2, "--weight",
         "value 2 is empty"),
    case("weight-trailing-comma", "ce p.npy t.npy --weight 1,2,3,", 2, "--weight",
         "value 4 is empty"),
    case("pos-weight-empty-position", "bce b.npy bt.npy --pos-weight 1,,2", 2, "--pos-weight",
         "value 2 is empty"),
    case("weight-npy-forged-huge", "ce p.npy t.npy --weight w_huge.npy", 3, "w_huge.npy",
         "1000000000000", "truncated"),
    case("pos-weight-npy-forged-huge", "bce b.npy bt.npy --pos-weight w_huge.npy", 3,
         "w_huge.npy", "1000000000000"),
    case("npz-member-inflates-past-header", "ce bomb.npz", 3, "bomb.npz", "'logits'",
         "more data than the header"),
    case("npz-member-shorter-than-header", "ce short.npz", 3, "short.npz", "'logits'",
         "truncated"),
    case("npz-member-inflates-past-header-stdin", "ce -", 3, "error: -:", "'logits'",
         "more data than the header", stdin="bomb.npz"),
    case("stdin-sniffed-pickle-npy", "ce - t.npy", 3, "error: -:", "pickle", stdin="pickle.npy"),
    case("stdin-sniffed-truncated-npy", "ce - t.npy", 3, "error: -:", "truncated",
         stdin="trunc.npy"),
    case("stdin-sniffed-truncated-gzip", "ce -", 3, "error: -:", "gzip", stdin="trunc.csv.gz"),
    case("stdin-sniffed-corrupt-gzip", "ce - t.txt", 3, "error: -:", "gzip",
         stdin="corrupt.csv.gz"),
    case("stdin-targets-sniffed-out-of-range", "ce p.npy -", 3, "error: -:", "row 5",
         "value 7", stdin="t_oor.txt"),
    case("stdin-targets-format-unknown", "ce p.npy - --targets-format xls", 2,
         "--targets-format", "'xls'", stdin="t_oor.txt"),
    case("inspect-stdin-truncated-npy", "inspect -", 3, "error: -:", "truncated", out=None,
         stdin="trunc.npy"),
    case("inspect-stdin-empty", "inspect -", 3, "error: -:", "empty", out=None,
         stdin="empty.csv"),
    case("targets-txt-huge-line", "ce p.npy t_longline.txt", 3, "t_longline.txt", "row 3",
         "longer than 1 MiB"),
    case("targets-txt-huge-line-stdin", "ce p.npy -", 3, "error: -:", "row 3",
         "longer than 1 MiB", stdin="t_longline.txt"),
    case("weight-overflows-float32", "ce p.npy t.npy --weight 1e308,1e308,1e308", 2,
         "--weight", "float32", "--float64"),
    case("weight-sum-overflows-float64", "ce p.npy t.npy --weight 1e308,1e308,1e308 --float64",
         3, "p.npy", "overflows float64"),
    case("bce-pos-weight-overflows-float32", "bce b.npy bt.npy --pos-weight 1e308", 2,
         "pos_weight", "float32"),
    case("dask-scheduler-without-port", "ce p.npy t.npy --engine dask --scheduler 127.0.0.1",
         2, "--scheduler", "no port", out=None),
    case("dask-scheduler-dashboard-url",
         "ce p.npy t.npy --engine dask --scheduler http://127.0.0.1:8787/status", 2,
         "--scheduler", "web address", out=None),
    case("dask-scheduler-refused", "ce p.npy t.npy --engine dask --scheduler tcp://127.0.0.1:1",
         3, "refused", "tcp://127.0.0.1:1", out=None),
    # -- inspect ------------------------------------------------------------------------------
    case("inspect-truncated-npy", "inspect trunc.npy", 3, "trunc.npy", "truncated", out=None),
    case("inspect-pickle", "inspect pickle.npy", 3, "pickle.npy", "pickle", out=None),
    case("inspect-non-utf8-header", "inspect latin1_header.csv", 3, "latin1_header.csv",
         "UTF-8", out=None),
    case("inspect-missing-file", "inspect nosuch.csv", 3, "nosuch.csv", "no such file",
         out=None),
    case("inspect-corrupt-npz", "inspect trunc.npz", 3, "trunc.npz", "not a valid NPZ",
         out=None),
    case("inspect-empty-parquet", "inspect empty.parquet", 3, "empty.parquet", out=None),
    # -- column roles and labels (issue 12: each was a wrong number with exit 0) --------------
    case("csv-fold-column-among-logits", "ce fold.csv", 3, "fold.csv", "column 'fold'",
         "--logit-cols", "--id-col"),
    case("parquet-timestamp-among-logits", "ce stamp.parquet", 3, "stamp.parquet",
         "column 'when'", "--logit-cols"),
    case("parquet-bool-among-logits", "ce flag.parquet", 3, "flag.parquet", "column 'flag'",
         "--logit-cols"),
    case("logit-cols-names-the-target", "ce p.csv --logit-cols a,b,c,label", 2, "'label'",
         "--logit-cols"),
    case("csv-headerless-savetxt", "ce savetxt.csv t.npy", 3, "savetxt.csv", "--no-header"),
    case("classes-not-the-header-names", "ce p.csv --classes x,y,z", 3, "p.csv", "--classes",
         "'x'"),
    case("label-uint64-beyond-int64", "ce p.npy t_u64.npy", 3, "t_u64.npy", "row 5",
         str(2**64 - 100)),
    case("label-1e20-in-csv", "ce big_label.csv", 3, "big_label.csv", "row 2", "1e+20"),
    case("label-names-no-integer-class", "ce named123.csv", 3, "named123.csv", "row 3",
         "value 0", "known classes: 1, 2, 3"),
]


# Run through the installed command in the default run only these (every kind of mistake the
# issue lists, and more than 60); the others are variations, run through the installed command
# with ``-m slow`` -- and every case runs in-process (typer's runner) in the default run.
SLOW_ONLY = {
    "npy-truncated-header", "npy-unparsable-header", "npy-negative-dimension",
    "npy-structured-dtype", "npy-strings-as-preds", "npy-truncated-stdin", "npy-without-targets",
    "npz-empty-file", "npz-bad-local-header", "npz-pickle-stdin", "npz-no-target-key",
    "npz-row-count-mismatch", "npz-missing-key",
    "parquet-not-parquet", "parquet-null-in-list", "parquet-dataset-class-count-mismatch",
    "parquet-empty-file",
    "gzip-not-gzip",
    "csv-empty-stdin", "csv-non-numeric-cell-stdin", "csv-duplicate-text-columns",
    "csv-tab-delimiter", "csv-non-utf8-label", "csv-missing-target-col", "csv-missing-id-col",
    "csv-logit-glob-matches-nothing", "csv-not-a-prediction-file", "csv-label-negative",
    "csv-empty-cell",
    "targets-txt-row-count-mismatch", "targets-csv-row-count-mismatch", "targets-npy-negative",
    "targets-npy-fractional", "targets-txt-unknown-label", "targets-txt-blank-line",
    "targets-txt-empty", "classes-count-mismatch", "targets-probs-class-count-mismatch",
    "weight-file-strings-npy", "weight-file-negative", "label-smoothing-negative",
    "unknown-extension", "preds-directory-named-npy", "weight-is-a-directory",
    "classes-is-a-directory", "baseline-not-json",
    "grad-output-is-preds", "grad-output-exists-without-force", "output-unknown-extension",
    "grad-output-same-as-output", "output-is-targets-other-spelling", "output-folder-is-a-file",
    "bce-targets-shape", "bce-pos-weight-negative", "bce-pos-weight-file-non-numeric",
    "bce-pickle-preds", "bce-output-is-input",
    "softmax-temperature-zero", "softmax-ragged-csv", "softmax-pickle",
    "compare-label-out-of-range", "compare-truncated-b",
    "inspect-missing-file", "inspect-corrupt-npz", "inspect-empty-parquet",
    "output-is-preds-absolute-path", "preds-is-symlink-to-output",
    "bce-grad-output-same-as-output-other-spelling", "output-npy-file-too-large",
    "softmax-npy-file-too-large", "grad-output-csv-file-too-large",
}
INSTALLED = [
    pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.id in SLOW_ONLY else [])
    for c in CASES
]
ALL = [pytest.param(c, id=c.id) for c in CASES if c.fsize is None]


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (the case folders excepted) -> its SHA-1."""
    out = {}
    for p in sorted(folder.rglob("*")):
        parts = p.relative_to(folder).parts
        if p.is_file() and "cases" not in parts and "inproc" not in parts:
            out[str(p.relative_to(folder))] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    make_data(d)
    make_roles_data(d)
    return d


def make_roles_data(d: Path) -> None:
    """Inputs of the column-roles cases: real files' layouts (issue 12)."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(N, C))
    y = rng.integers(0, C, N)
    body = ["".join(f",{float(v)!r}" for v in r) for r in x]
    write(d / "fold.csv", "fold,a,b,c,label\n" + "".join(
        f"{i % 5}{b},{t}\n" for i, (b, t) in enumerate(zip(body, y, strict=True))))
    wide = {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": y}
    pq.write_table(pa.table({**wide, "when": pa.array(np.arange(N).astype("datetime64[s]"))}),
                   d / "stamp.parquet")
    pq.write_table(pa.table({**wide, "flag": pa.array([i % 2 == 0 for i in range(N)])}),
                   d / "flag.parquet")
    np.savetxt(d / "savetxt.csv", x, delimiter=",")
    t = y.astype(np.uint64)
    t[5] = np.uint64(2**64 - 100)  # a cast would make it -100: ignored, silently
    np.save(d / "t_u64.npy", t)
    labels = [str(v) for v in y]
    labels[1] = "1e20"
    write(d / "big_label.csv", "a,b,c,label\n" + "".join(
        f"{b[1:]},{t}\n" for b, t in zip(body, labels, strict=True)))
    named = [str(v + 1) for v in y]
    named[2] = "0"  # no class is named 0
    write(d / "named123.csv", "1,2,3,label\n" + "".join(
        f"{b[1:]},{t}\n" for b, t in zip(body, named, strict=True)))


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    before: list[str]
    after: list[str]
    out_path: Path
    sentinel_before: bytes | None


def run_case(c: Case, d: Path) -> Outcome:
    folder = d / "cases" / c.id
    folder.mkdir(parents=True)
    out_path = folder / "out.csv"
    if c.out == "existing":
        out_path.write_bytes(SENTINEL_OUT)
    before = sorted(os.listdir(folder))
    stdin = (d / c.stdin).read_bytes() if c.stdin else b""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [*cecli_command(), *c.command(str(out_path.relative_to(d)), d)],
        input=stdin,
        capture_output=True,
        cwd=d,
        env=env,
        timeout=120,
        preexec_fn=None if c.fsize is None else _limit_file_size(c.fsize),
    )
    return Outcome(
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        before,
        sorted(os.listdir(folder)),
        out_path,
        out_path.read_bytes() if out_path.exists() else None,
    )


def _limit_file_size(size: int) -> Any:
    """A ``preexec_fn``: files the child writes stop at ``size`` bytes, with EFBIG (not the
    SIGXFSZ that would kill it)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, data: Path) -> dict[str, Any]:
    """Run the selected cases, a few at a time; the inputs' digests before and after."""
    wanted = [
        item.callspec.params["c"]
        for item in request.session.items
        if item.module is request.module
        and getattr(item, "originalname", None) == "test_bad_input"
        and item.get_closest_marker("skip") is None  # slow ones, when not asked for
    ]
    inputs_before = digest(data)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = pool.map(lambda c: run_case(c, data), wanted)
        results = dict(zip([c.id for c in wanted], runs, strict=True))
    return {"results": results, "inputs_before": inputs_before, "inputs_after": digest(data)}


def test_matrix_has_at_least_60_cases() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.id for c in CASES} >= SLOW_ONLY
    assert len(CASES) - len(SLOW_ONLY) >= 60  # through the installed command, by default


@pytest.mark.parametrize("c", INSTALLED)
def test_bad_input(c: Case, outcomes: dict[str, Any], data: Path) -> None:
    """One case through the installed ``cecli``."""
    check(c, outcomes["results"][c.id], outcomes, data)


@pytest.mark.parametrize("c", ALL)
def test_bad_input_in_process(c: Case, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case through typer's runner in this process (cheap: the whole matrix, always)."""
    monkeypatch.chdir(data)
    folder = data / "inproc" / c.id
    folder.mkdir(parents=True)
    out_path = folder / "out.csv"
    if c.out == "existing":
        out_path.write_bytes(SENTINEL_OUT)
    before = sorted(os.listdir(folder))
    inputs_before = digest(data)
    res = invoke(c.command(str(out_path.relative_to(data)), data),
                 input=(data / c.stdin).read_bytes() if c.stdin else None)
    r = Outcome(res.exit_code, res.stdout, res.stderr, before, sorted(os.listdir(folder)),
                out_path, out_path.read_bytes() if out_path.exists() else None)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    check(c, r, {"inputs_before": inputs_before, "inputs_after": digest(data)}, data)


def check(c: Case, r: Outcome, outcomes: dict[str, Any], data: Path) -> None:
    shown = f"exit {r.code}\nstderr: {r.stderr}\nstdout: {r.stdout[:300]}"
    assert r.code == c.code, shown
    assert "Traceback" not in r.stderr, shown
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for needle in c.needles:
        assert needle in lines[0], f"{needle!r} missing\n{shown}"
    assert r.stdout == "", shown  # nothing on stdout: no partial result
    # no output created, an existing one untouched, no temporary file left
    assert r.after == r.before, shown
    if c.out == "existing":
        assert r.sentinel_before == SENTINEL_OUT
    else:
        assert not r.out_path.exists()
    # no input changed, and no pickle was ever loaded
    assert outcomes["inputs_after"] == outcomes["inputs_before"]
    assert not (data / SENTINEL).exists(), "a pickle from an input was unpickled"


def test_the_pickle_payloads_are_live(tmp_path: Path) -> None:
    """The control: the same payloads, loaded with pickles allowed, do create their file."""
    for name, load in (
        ("a.npy", lambda p: np.load(p, allow_pickle=True)),
        ("a.npz", lambda p: np.load(p, allow_pickle=True)["logits"]),
    ):
        sentinel = tmp_path / f"created-by-{name}"
        path = tmp_path / name
        if name.endswith(".npy"):
            np.save(path, evil_array(str(sentinel)), allow_pickle=True)
        else:
            np.savez(path, logits=evil_array(str(sentinel)))
        assert not sentinel.exists()
        fds = load(path)
        for fd in fds:  # each element unpickled to an open file descriptor
            os.close(int(fd))
        assert sentinel.exists(), f"the {name} payload did not fire"


def test_cases_clean_up_after_themselves(outcomes: dict[str, Any], data: Path) -> None:
    """Nothing but the data files and the case folders in the data folder; nothing in /proc."""
    assert not any(p.name.startswith(".") and ".cecli-" in p.name for p in data.rglob("*"))
    assert not os.path.exists("/proc/cecli-out.csv")
    shutil.rmtree(data / "cases", ignore_errors=True)
    shutil.rmtree(data / "inproc", ignore_errors=True)
