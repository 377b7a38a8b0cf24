"""Fuzzed readers: mutated NPY / NPZ / Parquet / CSV / gzip-CSV / TSV / txt bytes never crash cecli.

Hypothesis mutates valid files (truncation, flipped bits, overwritten, inserted and deleted
bytes, aimed at the head, the tail -- where NPZ and Parquet keep their directories -- or
anywhere) and forges headers (NPY header dicts with any dtype, order and shape; CSV header lines
with duplicate, empty, non-UTF-8 names and other delimiters). Each mutated file goes through
the library (``cecli.api.evaluate`` with a ``-o`` output, and ``inspect_file``) and, for the
binary formats, through the command line on stdin. Every run must end in a result or a
:class:`~cecli.errors.CecliError` -- never another exception, never a hang (each run has a
timeout) -- and a failed run leaves no output and no temporary file.

The default run is small and derandomised (a fixed set of examples, a few seconds); the
``slow`` tests run many more random examples (``pytest -m slow tests/test_fuzz.py``).
"""

from __future__ import annotations

import gzip
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cecli.accumulate import Measures
from cecli.api import OutputSpec, RunSpec, evaluate
from cecli.core import LossSpec
from cecli.errors import CecliError
from cecli.readers import ReadOptions, inspect_file

TIMEOUT = 20.0  # seconds per run: generous for a loaded machine, tiny for these inputs
N, C = 12, 3


def _seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, C)).astype(np.float32)
    y = rng.integers(0, C, N)

    def npy(a: np.ndarray) -> bytes:
        buf = io.BytesIO()
        np.save(buf, a)
        return buf.getvalue()

    def npz(compressed: bool) -> bytes:
        buf = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buf, logits=x, target=y)
        return buf.getvalue()

    def parquet(table: pa.Table) -> bytes:
        buf = io.BytesIO()
        pq.write_table(table, buf, row_group_size=5)
        return buf.getvalue()

    names = np.array(["cat", "dog", "eel"])[y]
    csv = "a,b,c,label\n" + "".join(
        f"{r[0]!r},{r[1]!r},{r[2]!r},{t}\n" for r, t in zip(x.tolist(), names, strict=True)
    )
    return {
        "p.npy": npy(x),
        "f.npy": npy(np.asfortranarray(x)),
        "z.npz": npz(False),
        "zc.npz": npz(True),
        "p.parquet": parquet(pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": y})),
        "l.parquet": parquet(
            pa.table({"logits": pa.array(list(x), pa.list_(pa.float32())), "label": names})
        ),
        "p.csv": csv.replace("a,b,c,", "cat,dog,eel,").encode(),
        "p.csv.gz": gzip.compress(csv.encode(), mtime=0),
        "p.tsv": csv.replace(",", "\t").encode(),
        "t.txt": "".join(f"{v}\n" for v in y).encode(),
    }


SEEDS = _seeds()
TARGETS = {"p.npy": "t.npy", "f.npy": "t.npy", "t.txt": None}  # others hold their targets


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(3)
    np.save(d / "t.npy", rng.integers(0, C, N))
    np.save(d / "p12.npy", rng.normal(size=(N, C)).astype(np.float32))
    return d


# -- mutations -------------------------------------------------------------------------------

_pos = st.floats(0, 1, exclude_max=True)
OP = st.one_of(
    st.tuples(st.just("truncate"), _pos),
    st.tuples(st.just("flip"), _pos, st.integers(0, 7)),
    st.tuples(st.just("set"), _pos, st.integers(0, 255)),
    st.tuples(st.just("insert"), _pos, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), _pos, st.integers(1, 32)),
)
MUTATION = st.tuples(st.sampled_from(["head", "tail", "any"]), st.lists(OP, min_size=1, max_size=4))


def mutate(data: bytes, mutation: tuple[str, list[tuple[Any, ...]]]) -> bytes:
    region, ops = mutation
    b = bytearray(data)
    for op in ops:
        if not b:
            break
        span = min(len(b), 256)
        base = {"head": 0, "tail": len(b) - span, "any": 0}[region]
        width = span if region != "any" else len(b)
        i = base + int(op[1] * width)
        if op[0] == "truncate":
            del b[i:]
        elif op[0] == "flip":
            b[i] ^= 1 << op[2]
        elif op[0] == "set":
            b[i] = op[2]
        elif op[0] == "insert":
            b[i:i] = op[2]
        else:
            del b[i : i + op[2]]
    return bytes(b)


_dims = st.one_of(st.sampled_from([0, 1, 3, N, 2**31, 2**40, 2**63 - 1]), st.integers(-3, 40))
NPY_HEADER = st.fixed_dictionaries(
    {
        "descr": st.sampled_from(
            ["<f4", "<f8", "<f2", ">f4", "|O", "<U3", "|b1", "<i8", "<u2", "<c8", "|V8", "|S3",
             "<M8[s]", [("a", "<f4"), ("b", "<f4")], "<f16"]
        ),
        "fortran_order": st.booleans(),
        "shape": st.lists(_dims, max_size=4).map(tuple),
    }
)


def forge_npy(header: dict[str, Any], payload_rows: int) -> bytes:
    """An NPY whose header says ``header`` and whose data is ``payload_rows`` rows of floats."""
    text = repr(header).encode()
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    head = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
    return head + np.zeros((payload_rows, C), np.float32).tobytes()


_name = st.one_of(
    st.sampled_from(["a", "b", "c", "label", "target", "id", "", " ", "logit_*", "1", "nan"]),
    st.text(max_size=6),
)
CSV_HEADER = st.tuples(
    st.lists(_name, min_size=1, max_size=6),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["utf-8", "latin-1", "utf-16"]),
)


def forge_csv_header(header: tuple[list[str], str, str]) -> bytes:
    names, sep, encoding = header
    body = SEEDS["p.csv"].split(b"\n", 1)[1]
    return sep.join(names).encode(encoding, errors="replace") + b"\n" + body


# -- running ---------------------------------------------------------------------------------


def with_timeout(fn: Callable[[], Any]) -> BaseException | None:
    """Run ``fn`` in a thread; its exception (None when it returned); fail if it hangs."""
    box: list[BaseException | None] = [None]

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # handed to the caller to judge
            box[0] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(TIMEOUT)
    if t.is_alive():
        pytest.fail(f"no result after {TIMEOUT:.0f} s: a hang")
    return box[0]


def check_library(work: Path, name: str, data: bytes) -> None:
    path = work / f"m_{name}"
    path.write_bytes(data)
    out = work / "out.csv"
    targets = TARGETS.get(name, "")
    if name == "t.txt":  # a TARGETS file: fuzz it against valid predictions
        preds, tgt = str(work / "p12.npy"), str(path)
    else:
        preds, tgt = str(path), (str(work / targets) if targets else None)
    before = sorted(os.listdir(work))
    loss = LossSpec(nonfinite="error")  # type: ignore[arg-type]  # the command line's default
    run, output = RunSpec(workers=1, chunk_rows=5), OutputSpec(path=str(out))
    exc = with_timeout(lambda: evaluate(preds, tgt, ReadOptions(), loss, Measures(), run, output))
    if exc is not None and not isinstance(exc, CecliError):
        raise AssertionError(f"{type(exc).__name__} escaped for {name}: {exc}") from exc
    if exc is not None:  # a failed run: no output, no temporary file
        assert sorted(os.listdir(work)) == before, exc
        assert exc.message() and "\n" not in exc.message()
    elif out.exists():
        out.unlink()
    exc = with_timeout(lambda: inspect_file(str(path), ReadOptions()))
    if exc is not None and not isinstance(exc, CecliError):
        raise AssertionError(f"{type(exc).__name__} escaped inspect for {name}: {exc}") from exc


def check_stdin(work: Path, name: str, data: bytes) -> None:
    """The command line with the mutated bytes on stdin (read into memory for NPY / NPZ /
    Parquet, streamed for CSV)."""
    fmt = name.split(".")[1]
    args = ["ce", "-", *([str(work / TARGETS[name])] if TARGETS.get(name) else [])]
    res = invoke([*args, "--format-in", fmt, "-f", "json", "--workers", "1"], input=data)
    assert res.exit_code in (0, 2, 3), (res.exit_code, res.stderr, res.exception)
    if res.exit_code:
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr


FAST = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SLOW = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NAMES = sorted(SEEDS)
STDIN_NAMES = ["p.npy", "zc.npz", "p.parquet", "p.csv"]


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(mutation=MUTATION)
def test_mutated_file(work: Path, name: str, mutation: Any) -> None:
    check_library(work, name, mutate(SEEDS[name], mutation))


@pytest.mark.parametrize("name", STDIN_NAMES)
@FAST
@given(mutation=MUTATION)
def test_mutated_stdin(work: Path, name: str, mutation: Any) -> None:
    check_stdin(work, name, mutate(SEEDS[name], mutation))


@FAST
@given(header=NPY_HEADER, rows=st.sampled_from([0, 1, N, 2 * N]))
def test_forged_npy_header(work: Path, header: dict[str, Any], rows: int) -> None:
    check_library(work, "p.npy", forge_npy(header, rows))


@FAST
@given(header=CSV_HEADER)
def test_forged_csv_header(work: Path, header: Any) -> None:
    check_library(work, "p.csv", forge_csv_header(header))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@SLOW
@given(mutation=MUTATION)
def test_mutated_file_many(work: Path, name: str, mutation: Any) -> None:
    check_library(work, name, mutate(SEEDS[name], mutation))


@pytest.mark.slow
@pytest.mark.parametrize("name", STDIN_NAMES)
@SLOW
@given(mutation=MUTATION)
def test_mutated_stdin_many(work: Path, name: str, mutation: Any) -> None:
    check_stdin(work, name, mutate(SEEDS[name], mutation))


@pytest.mark.slow
@SLOW
@given(header=NPY_HEADER, rows=st.sampled_from([0, 1, N, 2 * N]))
def test_forged_npy_header_many(work: Path, header: dict[str, Any], rows: int) -> None:
    check_library(work, "p.npy", forge_npy(header, rows))


@pytest.mark.slow
@SLOW
@given(header=CSV_HEADER)
def test_forged_csv_header_many(work: Path, header: Any) -> None:
    check_library(work, "p.csv", forge_csv_header(header))
