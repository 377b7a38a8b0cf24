"""Bounded memory through the Parquet and CSV routes, measured on the installed ``cecli ce``.

Issue 3: a 4 GB input stays under 400 MB of peak RSS through the NPY, Parquet and CSV routes.
The NPY route is covered by ``test_scale.py``; here the Parquet route (a ``list`` column of
float32 logits in several row groups) and the CSV route (100 float64 columns as text), each
through a fresh ``cecli ce`` process whose peak RSS is its ``ru_maxrss`` (what ``/usr/bin/time
-v`` reports as "Maximum resident set size").

- default run: ~400 MB of Parquet and ~200 MB of CSV. The interpreter with pyarrow loaded
  already takes ~100 MB, so the check is on what the data costs: the peak over the same
  command's on a 500-row file of the same layout must be well under the input's size. Also
  ~200 MB of NPY on stdin, which the contract reads into memory first: held once, not twice;
- ``-m slow``: ~4 GB of each of Parquet and CSV, peak under 400 MB.

Inputs are one block repeated (written fast with pyarrow, in a temporary folder, removed after),
so the expected loss is the block's, computed here with NumPy: a wrong or partial read fails.
``--workers 2`` is fixed: the engine keeps up to two chunks per worker in flight, so the peak
depends on the worker count, and the bound is stated for two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import cecli_command

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux"
)

MB = 1 << 20
LIMIT = 400 * MB


@dataclass
class Input:
    path: Path
    tiny: Path  # 500 rows of the same layout
    loss: float  # of the repeated block, float64 NumPy
    rows: int
    rel: float  # float32 logits: the kernel's log-sum-exp is float32


# A small interpreter runs cecli and reports its child's peak: measuring from the test process
# itself would not do, as a child's ru_maxrss starts from its parent's RSS at fork/exec.
PEAK = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
    "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.stdout.buffer.write(p.stdout)\n"
)


def peak_run(args: list[object], stdin: Path | None = None) -> tuple[int, dict[str, object]]:
    """Peak RSS (bytes) and JSON output of one ``cecli`` process (``stdin``: a file fed in)."""
    with open(stdin or os.devnull, "rb") as fh:
        proc = subprocess.run(
            [sys.executable, "-c", PEAK, *cecli_command(), *map(str, args)],
            stdin=fh,
            capture_output=True,
            timeout=1800,
        )
    first, _, rest = proc.stdout.partition(b"\n")
    code, kib = map(int, first.split())
    assert code == 0, proc.stderr.decode()
    return kib * 1024, json.loads(rest)


def reference(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64)
    z = x - x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def write_parquet(folder: Path, target_bytes: int) -> Input:
    """A ``list<float32>`` column of 1000 logits and an int64 label, row groups of 8192 rows."""
    rng = np.random.default_rng(0)
    n, c = 5000, 1000
    x = rng.standard_normal((n, c), dtype=np.float32)
    y = np.arange(n) * 7919 % c
    offsets = pa.array(np.arange(0, n * c + 1, c, dtype=np.int32))
    batch = pa.record_batch(
        [pa.ListArray.from_arrays(offsets, pa.array(x.reshape(-1))), pa.array(y)],
        names=["logits", "label"],
    )
    reps = max(1, target_bytes // (n * c * 4))
    path = folder / "big.parquet"
    with pq.ParquetWriter(path, batch.schema, compression="none") as w:
        for _ in range(reps):
            w.write_batch(batch, row_group_size=8192)
    assert pq.ParquetFile(path).metadata.num_row_groups >= reps > 1
    pq.write_table(pa.Table.from_batches([batch.slice(0, 500)]), folder / "tiny.parquet")
    return Input(path, folder / "tiny.parquet", reference(x, y), n * reps, 1e-5)


def write_csv(folder: Path, target_bytes: int) -> Input:
    """100 logit columns of 3-decimal float64 values (exact as text) and an integer label."""
    rng = np.random.default_rng(1)
    n, c = 20_000, 100
    x = np.round(rng.normal(scale=2.0, size=(n, c)), 3)
    y = np.arange(n) * 7919 % c
    table = pa.table({**{f"logit_{j}": x[:, j] for j in range(c)}, "label": y})
    path = folder / "big.csv"
    with pacsv.CSVWriter(path, table.schema) as w:
        w.write_table(table)
        block = path.stat().st_size
        reps = max(1, target_bytes // block)
        for _ in range(reps - 1):
            w.write_table(table)
    pacsv.write_csv(table.slice(0, 500), folder / "tiny.csv")
    return Input(path, folder / "tiny.csv", reference(x, y), n * reps, 1e-9)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("memory")
    yield path
    for f in path.iterdir():  # GBs: do not leave them to pytest's retention of old tmp dirs
        f.unlink()


def check(inp: Input) -> tuple[int, int]:
    """``(peak, tiny peak)`` in bytes, after checking the loss and the rows read."""
    peak, out = peak_run(["ce", inp.path, "--workers", "2", "-f", "json"])
    assert out["samples"] == inp.rows
    assert out["loss"] == pytest.approx(inp.loss, rel=inp.rel)
    tiny, _ = peak_run(["ce", inp.tiny, "--workers", "2", "-f", "json"])
    size = inp.path.stat().st_size
    print(
        f"{inp.path.name}: {size / MB:.0f} MB input, peak {peak / MB:.0f} MB "
        f"(a 500-row file: {tiny / MB:.0f} MB)"
    )
    return peak, tiny


# ------------------------------------------------------------------------------ default run
def test_parquet_list_column_memory_is_bounded(folder: Path) -> None:
    # measured (2 cores): 394 MB input -> peak 231-244 MB, the 500-row file 112-116 MB; before
    # the list column was read 1 MiB at a time (parquet.LIST_READ_BYTES), peak 304-306 MB
    inp = write_parquet(folder, 400 * MB)
    try:
        peak, tiny = check(inp)
        assert peak - tiny < 0.4 * inp.path.stat().st_size
        assert peak < LIMIT
    finally:
        inp.path.unlink()


def test_csv_memory_is_bounded(folder: Path) -> None:
    # measured (2 cores): 196 MB input -> peak 159-162 MB, the 500-row file 100-103 MB
    inp = write_csv(folder, 200 * MB)
    try:
        peak, tiny = check(inp)
        assert peak - tiny < inp.path.stat().st_size // 2
        assert peak < LIMIT
    finally:
        inp.path.unlink()


def test_npy_on_stdin_is_held_once(folder: Path) -> None:
    """Binary stdin is read into memory first (the contract), once: the array is a view of
    the bytes read (through ``np.load`` a 4 GB NPY peaked at 7.9 GB)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2000, 1000), dtype=np.float32)
    y = np.arange(2000) % 1000
    big, tiny = folder / "stdin.npy", folder / "stdin_tiny.npy"
    reps = 25  # 200 MB
    arr = np.lib.format.open_memmap(big, mode="w+", dtype=np.float32, shape=(2000 * reps, 1000))
    for k in range(reps):
        arr[k * 2000 : (k + 1) * 2000] = x
    arr.flush()
    del arr
    np.save(tiny, x[:500])
    np.save(folder / "stdin_y.npy", np.tile(y, reps))
    np.save(folder / "stdin_ty.npy", y[:500])
    try:
        args = ["ce", "-", "--format-in", "npy", "--workers", "2", "-f", "json"]
        peak, out = peak_run([*args[:2], folder / "stdin_y.npy", *args[2:]], stdin=big)
        assert out["samples"] == 2000 * reps
        assert out["loss"] == pytest.approx(reference(x, y), rel=1e-5)
        base, _ = peak_run([*args[:2], folder / "stdin_ty.npy", *args[2:]], stdin=tiny)
        size = big.stat().st_size
        print(f"stdin npy: {size / MB:.0f} MB, peak {peak / MB:.0f} MB (500 rows: {base / MB:.0f})")
        assert peak - base < 1.4 * size
    finally:
        big.unlink()


# ------------------------------------------------------------------------------ -m slow: 4 GB
@pytest.mark.slow
def test_4gb_parquet_list_column_under_400mb(folder: Path) -> None:
    inp = write_parquet(folder, 4000 * MB)
    try:
        peak, _ = check(inp)
        assert peak < LIMIT, f"peak RSS {peak / MB:.0f} MB"
    finally:
        inp.path.unlink()


@pytest.mark.slow
def test_4gb_csv_under_400mb(folder: Path) -> None:
    inp = write_csv(folder, 4000 * MB)
    try:
        peak, _ = check(inp)
        assert peak < LIMIT, f"peak RSS {peak / MB:.0f} MB"
    finally:
        inp.path.unlink()
