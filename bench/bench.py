"""cecli's benchmark: ratios measured in one run, on this machine, against torch and the floor.

What it measures (every comparison is a ratio of timings taken in the same run, interleaved,
the best of several repeats, so load from other processes cancels out as far as it can):

* **core**: ``cecli.cross_entropy`` on in-memory float32 logits against torch CPU
  ``F.cross_entropy`` at the same thread count (``torch.set_num_threads``), against the *exp
  floor* (``np.exp`` over the same values in cache-sized blocks on the same threads: no
  NumPy log-sum-exp can beat it) and against a naive NumPy version (``x - logsumexp`` with
  full N x C temporaries);
* **workers**: the streaming path as ``cecli ce`` runs it (chunks through the accumulator on
  ``ordered_map`` threads) with 1 and 2 workers, and the kernel alone on the same chunks (the
  difference is the accumulator's per-chunk overhead);
* **process**: the installed ``cecli ce ... -f value`` against the torch + pandas script a user
  would write, on a tiny CSV, NPY, fixed-size-list Parquet, wide Parquet and a wide CSV: wall
  time and peak resident memory of each process;
* **startup**: ``import cecli`` against ``import numpy``, and ``cecli --help``.

Data is generated once and cached under ``--data`` (default ``/tmp/cecli-bench``; never
committed). Results go to ``bench/results.json``, ``bench/results.md`` and a chart,
``bench/results.png`` (matplotlib) or ``bench/results.svg`` without it.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench.py --quick   # seconds
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench.py           # ~10 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import cecli  # noqa: E402
from cecli.accumulate import CrossEntropyAccumulator  # noqa: E402
from cecli.api import RunSpec, ordered_map  # noqa: E402
from cecli.core import LossSpec, ce_positions  # noqa: E402
from cecli.core._blocks import BLOCK_ELEMENTS  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is optional
    torch = None  # type: ignore[assignment]

CORE_FULL = [(1_000_000, 10), (200_000, 1000), (4096, 50257), (2048, 128256)]
CORE_QUICK = [(100_000, 10), (20_000, 1000), (256, 50257), (128, 128256)]
THREADS = (1, 2)


# -- timing ----------------------------------------------------------------------------------
def best_of(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Best wall time of each function, the functions interleaved round by round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


_pool = ThreadPoolExecutor(max_workers=max(THREADS))


def exp_floor(x: np.ndarray, threads: int) -> None:
    """``np.exp`` over every value of ``x`` in cache-sized blocks, on ``threads`` threads."""
    flat = x.reshape(-1)
    bounds = [flat.size * k // threads for k in range(threads + 1)]

    def part(k: int) -> None:
        buf = np.empty(BLOCK_ELEMENTS, dtype=x.dtype)
        for a in range(bounds[k], bounds[k + 1], BLOCK_ELEMENTS):
            b = min(bounds[k + 1], a + BLOCK_ELEMENTS)
            np.exp(flat[a:b], out=buf[: b - a])

    list(_pool.map(part, range(threads)))


def naive_numpy(x: np.ndarray, y: np.ndarray) -> float:
    """What a NumPy user writes first: log-softmax with full N x C temporaries."""
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    lp = x - lse
    return float(-lp[np.arange(x.shape[0]), y].mean())


# -- data ------------------------------------------------------------------------------------
def logits(data: Path, N: int, C: int) -> tuple[np.ndarray, np.ndarray]:
    """Cached ``(N, C)`` float32 logits (normal, scale 3) and int64 targets, memory-mapped."""
    px, py = data / f"logits_{N}x{C}.npy", data / f"targets_{N}x{C}.npy"
    if not (px.exists() and py.exists()):
        rng = np.random.default_rng(N * 7919 + C)
        x = np.lib.format.open_memmap(str(px) + ".tmp", "w+", np.float32, (N, C))
        step = max(1, (1 << 24) // C)
        for a in range(0, N, step):
            b = min(N, a + step)
            x[a:b] = rng.standard_normal((b - a, C), dtype=np.float32) * np.float32(3)
        x.flush()
        del x
        np.save(py, rng.integers(0, C, N))
        os.replace(str(px) + ".tmp", px)
    return np.load(px, mmap_mode="r"), np.load(py)


# -- core ------------------------------------------------------------------------------------
def bench_core(data: Path, sizes: list[tuple[int, int]], reps: int) -> list[dict[str, Any]]:
    rows = []
    for N, C in sizes:
        rows.append(core_one(data, N, C, reps))
        _print_core(rows[-1])
    return rows


def core_one(data: Path, N: int, C: int, reps: int) -> dict[str, Any]:
    xm, y = logits(data, N, C)
    x = np.array(xm)  # in memory, as torch gets it
    ref = None
    row: dict[str, Any] = {"N": N, "C": C}
    fns: dict[str, Callable[[], object]]
    for nt in THREADS:
        fns = {
            "core": lambda nt=nt: cecli.cross_entropy(x, y, threads=nt),
            "exp": lambda nt=nt: exp_floor(x, nt),
        }
        if torch is not None:
            torch.set_num_threads(nt)
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)
            fns["torch"] = lambda tx=tx, ty=ty: F.cross_entropy(tx, ty)
            ref = float(F.cross_entropy(tx.double(), ty))
        row[f"t{nt}"] = best_of(fns, reps)
    got = float(cecli.cross_entropy(x, y))
    row["naive"] = best_of({"naive": lambda: naive_numpy(x, y)}, max(2, reps // 2))["naive"]
    row["loss"] = got
    row["torch_f64_loss"] = ref
    row["rel_err_vs_torch_f64"] = abs(got - ref) / abs(ref) if ref else None
    return row


def _print_core(r: dict[str, Any]) -> None:
    parts = [f"{r['N']}x{r['C']}:"]
    for nt in THREADS:
        t = r[f"t{nt}"]
        s = f" {nt}t core {t['core'] * 1e3:.1f} ms, /exp {t['core'] / t['exp']:.2f}"
        if "torch" in t:
            s += f", /torch {t['core'] / t['torch']:.2f}"
        parts.append(s)
    parts.append(f"; naive/core(1t) {r['naive'] / r['t1']['core']:.1f}")
    print(",".join(parts), flush=True)


# -- workers ---------------------------------------------------------------------------------
def bench_workers(data: Path, sizes: list[tuple[int, int]], reps: int) -> list[dict[str, Any]]:
    """The streaming path: chunks of ``RunSpec().rows_per_chunk`` through the accumulator (what
    ``evaluate`` does) on 1 and 2 ``ordered_map`` workers, and the bare kernel on the same
    chunks."""
    rows = []
    for N, C in sizes:
        t = workers_one(data, N, C, reps)
        rows.append(t)
        print(
            f"{N}x{C} workers: 2w/1w {t['stream1'] / t['stream2']:.2f}x (kernel alone "
            f"{t['kernel1'] / t['kernel2']:.2f}x); accumulate overhead "
            f"{(t['stream1'] - t['kernel1']) / t['chunks'] * 1e3:.2f} ms/chunk "
            f"(+{t['stream1'] / t['kernel1'] - 1:.0%})",
            flush=True,
        )
    return rows


def workers_one(data: Path, N: int, C: int, reps: int) -> dict[str, Any]:
    xm, y = logits(data, N, C)
    x = np.array(xm)
    chunk = RunSpec().rows_per_chunk(C, x.dtype.itemsize)
    starts = range(0, N, chunk)
    opts = LossSpec().bind(C, False)

    def streamed(workers: int) -> float:
        acc = CrossEntropyAccumulator()

        def work(a: int) -> CrossEntropyAccumulator:
            part = acc.spawn()
            part.update(x[a : a + chunk], y[a : a + chunk], start=a)
            return part

        for part in ordered_map(work, starts, workers):
            acc.merge(part)
        return acc.compute()

    def kernel(workers: int) -> None:
        def work(a: int) -> float:
            b = min(N, a + chunk)
            pos = ce_positions(x[a:b].reshape(b - a, C, 1), y[a:b].reshape(b - a, 1), opts)
            return float(np.sum(pos.loss))

        for _ in ordered_map(work, starts, workers):
            pass

    t = best_of(
        {
            "stream1": lambda: streamed(1),
            "stream2": lambda: streamed(2),
            "kernel1": lambda: kernel(1),
            "kernel2": lambda: kernel(2),
        },
        reps,
    )
    return {"N": N, "C": C, "chunk_rows": chunk, "chunks": len(starts), **t}


# -- layout calibration ----------------------------------------------------------------------
def bench_layout(reps: int, quick: bool) -> dict[str, Any]:
    """How ``WIDE_MIN_CLASSES`` and ``BLOCK_ELEMENTS`` were chosen: the kernel (one thread) with
    each layout forced, across C, and with several tile sizes, on ~8M float32 values."""
    import cecli.core._blocks as blocks
    import cecli.core._ce as ce

    total = 1 << (21 if quick else 23)
    rng = np.random.default_rng(0)
    saved = (ce.WIDE_MIN_CLASSES, blocks.BLOCK_ELEMENTS)

    def timed(x: np.ndarray, y: np.ndarray, wide_min: int, block: int) -> None:
        ce.WIDE_MIN_CLASSES, blocks.BLOCK_ELEMENTS = wide_min, block
        ce_positions(x.reshape(*x.shape, 1), y.reshape(-1, 1), LossSpec().bind(x.shape[1], False))

    out: dict[str, Any] = {"layout": [], "block": []}
    try:
        for C in (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024):
            x = rng.standard_normal((total // C, C), dtype=np.float32)
            y = rng.integers(0, C, total // C)
            t = best_of(
                {
                    "rows": lambda x=x, y=y: timed(x, y, 1, saved[1]),
                    "columns": lambda x=x, y=y: timed(x, y, 1 << 40, saved[1]),
                },
                reps,
            )
            out["layout"].append({"C": C, **t})
            print(f"layout C={C}: rows / columns = {t['rows'] / t['columns']:.2f}", flush=True)
        for C in (10, 1000):
            x = rng.standard_normal((total // C, C), dtype=np.float32)
            y = rng.integers(0, C, total // C)
            t = best_of(
                {
                    str(b): lambda x=x, y=y, b=b: timed(x, y, saved[0], b)
                    for b in (1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 20)
                },
                reps,
            )
            out["block"].append({"C": C, **t})
            print(f"tile size C={C}: " + ", ".join(f"{k}: {v * 1e3:.1f} ms" for k, v in t.items()))
    finally:
        ce.WIDE_MIN_CLASSES, blocks.BLOCK_ELEMENTS = saved
    return out


# -- whole process ---------------------------------------------------------------------------
USER_SCRIPT = """\
import sys
import numpy as np, pandas as pd, torch, torch.nn.functional as F
kind, path = sys.argv[1], sys.argv[2]
if kind == "npy":
    x = torch.from_numpy(np.load(path)); y = torch.from_numpy(np.load(sys.argv[3]))
elif kind == "parquet-list":
    df = pd.read_parquet(path)
    x = torch.tensor(np.stack(df["logits"].to_numpy())); y = torch.tensor(df["target"].to_numpy())
else:
    df = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    y = torch.tensor(df.pop("target").to_numpy()); x = torch.tensor(df.to_numpy(np.float32))
print(F.cross_entropy(x, y).item())
"""


def npy_files(d: Path, N: int, C: int, rng: np.random.Generator) -> tuple[Path, Path]:
    """float32 logits ``(N, C)`` and integer targets as NPY files in ``d`` (made once)."""
    px, py = d / f"logits_{N}x{C}.npy", d / f"targets_{N}x{C}.npy"
    if not py.exists():
        x = np.lib.format.open_memmap(px, "w+", np.float32, (N, C))
        for a in range(0, N, 100_000):
            b = min(N, a + 100_000)
            x[a:b] = rng.standard_normal((b - a, C), dtype=np.float32) * np.float32(3)
        x.flush()
        del x
        np.save(py, rng.integers(0, C, N))
    return px, py


def process_files(data: Path, quick: bool) -> list[dict[str, Any]]:
    """The files of the whole-process runs (made once): name, cecli args, user-script args."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    scale = 10 if quick else 1
    d = data / ("process-quick" if quick else "process")
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)

    def table(N: int, C: int, decimals: int | None = None) -> pa.Table:
        x = rng.standard_normal((N, C), dtype=np.float32) * np.float32(3)
        if decimals is not None:
            x = np.round(x, decimals)
        cols = {f"c{i}": x[:, i] for i in range(C)}
        cols["target"] = rng.integers(0, C, N)
        return pa.table(cols)

    specs: list[dict[str, Any]] = []
    tiny = d / "tiny.csv"
    if not tiny.exists():
        pacsv.write_csv(table(20, 3, 3), tiny)
    specs.append(
        {"kind": "tiny", "name": "tiny CSV (20 x 3)", "cecli": [tiny], "user": ["csv", tiny]}
    )

    for kind, N in (("npy", 100_000 // scale), ("npy-large", 2_000_000 // scale)):
        px, py = npy_files(d, N, 100, rng)
        label = "NPY" if kind == "npy" else "NPY, large (memory)"
        specs.append(
            {
                "kind": kind,
                "name": f"{label} ({N} x 100)",
                "cecli": [px, py],
                "user": ["npy", px, py],
            }
        )

    N, C = 500_000 // scale, 100
    pl = d / f"list_{N}x{C}.parquet"
    if not pl.exists():
        x = rng.standard_normal((N, C), dtype=np.float32) * np.float32(3)
        arr = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), C)
        t = pa.table({"logits": arr, "target": rng.integers(0, C, N)})
        pq.write_table(t, pl, row_group_size=65536)
    specs.append(
        {
            "kind": "parquet-list",
            "name": f"Parquet fixed-size list ({N} x {C})",
            "cecli": [pl],
            "user": ["parquet-list", pl],
        }
    )

    N, C = 200_000 // scale, 100
    pw = d / f"wide_{N}x{C}.parquet"
    if not pw.exists():
        pq.write_table(table(N, C), pw, row_group_size=65536)
    specs.append(
        {
            "kind": "parquet-wide",
            "name": f"Parquet wide ({N} x {C})",
            "cecli": [pw],
            "user": ["parquet", pw],
        }
    )

    N, C = 50_000 // scale, 1000
    pc = d / f"wide_{N}x{C}.csv"
    if not pc.exists():
        pacsv.write_csv(table(N, C, 3), pc)
    specs.append(
        {"kind": "csv-wide", "name": f"CSV wide ({N} x {C})", "cecli": [pc], "user": ["csv", pc]}
    )
    N, C = 5, 100_000 // scale
    pk = d / f"columns_{N}x{C}.csv"
    if not pk.exists():
        pacsv.write_csv(table(N, C, 3), pk)
    specs.append(
        {"kind": "csv-columns", "name": f"CSV, many columns ({N} x {C})", "cecli": [pk],
         "user": ["csv", pk]}
    )
    return specs


def bench_ci(data: Path, quick: bool, reps: int) -> dict[str, Any]:
    """``--ci 0.95`` (B = 1000) against the same run without it, on a ~1 GB NPY (a tenth with
    ``--quick``), the bootstrap's own cost per row (:meth:`BootstrapSums.add`, 2 series) and
    its once-per-run cost (:meth:`BootstrapSums.value`: the draws over the occupied buckets)."""
    from cecli.accumulate import BootstrapSums

    N, C = (250_000 if quick else 2_500_000), 100
    d = data / "ci"
    d.mkdir(parents=True, exist_ok=True)
    px, py = npy_files(d, N, C, np.random.default_rng(11))
    plain = [*cecli_command(), "ce", str(px), str(py), "-f", "value"]
    runs: dict[str, list[float]] = {"plain": [], "ci": []}
    for _ in range(reps):
        runs["plain"].append(measure(plain)[0])
        runs["ci"].append(measure([*plain, "--ci", "0.95"])[0])
    n = 1 << 16
    keys = np.arange(n, dtype=np.uint64)
    loss, denom = np.random.default_rng(0).random(n), np.ones(n)

    filled = BootstrapSums(2, 1000, seed=0)
    filled.add(0, keys, [loss, denom])

    def boot() -> None:
        BootstrapSums(2, 1000, seed=0).add(0, keys, [loss, denom])

    times = best_of({"boot": boot, "value": filled.value}, reps)
    per_row = times["boot"] / n
    out = {"N": N, "C": C, "plain": min(runs["plain"]), "ci": min(runs["ci"]), "row": per_row,
           "once": times["value"]}
    print(
        f"--ci 0.95 on {N} x {C} NPY: {out['ci']:.2f} s vs {out['plain']:.2f} s without "
        f"({out['ci'] / out['plain']:.2f}x); the bootstrap alone {per_row * 1e9:.0f} ns a row "
        f"and {out['once']:.3f} s once (B = 1000, every bucket occupied)",
        flush=True,
    )
    return out


def compile_cecli() -> None:
    """Compile cecli's modules to bytecode, as installing a wheel does (pip compiles every
    module). An editable install run with ``PYTHONDONTWRITEBYTECODE=1`` (as on the project's
    machine) has no ``__pycache__`` and compiles cecli's ~70 modules from source in every
    process: ~60 ms of a tiny run, which no user of an installed cecli pays."""
    import compileall

    compileall.compile_dir(str(Path(cecli.__file__).parent), quiet=1)


def cecli_command() -> list[str]:
    """The installed console script next to this interpreter (else ``python -m cecli``)."""
    exe = shutil.which("cecli", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "cecli"]


def measure(cmd: list[str]) -> tuple[float, int | None, str]:
    """Wall time (s), peak resident memory (bytes) and stdout of one process.

    The peak comes from ``/usr/bin/time -f %M``: a child's own ``ru_maxrss`` (``wait4``) would
    start from this (large) process's resident size, which ``fork`` hands down.
    """
    timer = shutil.which("time", path="/usr/bin:/bin")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rss"
        full = [timer, "-f", "%M", "-o", str(report), *cmd] if timer else cmd
        t0 = time.perf_counter()
        p = subprocess.run(full, capture_output=True, check=False)
        wall = time.perf_counter() - t0
        if p.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr.decode()[-2000:]}")
        rss = int(report.read_text().split()[-1]) * 1024 if timer else None
    return wall, rss, p.stdout.decode().strip()


def bench_process(data: Path, quick: bool, reps: int) -> list[dict[str, Any]]:
    specs = process_files(data, quick)
    script = data / "user_script.py"
    script.write_text(USER_SCRIPT)
    rows = []
    compile_cecli()
    for spec in specs:
        ours = [*cecli_command(), "ce", *map(str, spec["cecli"]), "-f", "value"]
        theirs = [sys.executable, str(script), *map(str, spec["user"])]
        res: dict[str, list[tuple[float, int | None, str]]] = {"cecli": [], "user": []}
        # start-up bound: other load on the two cores moves a ~0.2 s run by tens of percent
        for _ in range(3 * reps if spec["kind"] == "tiny" else reps):
            res["cecli"].append(measure(ours))
            if torch is not None:
                res["user"].append(measure(theirs))
        row: dict[str, Any] = {"kind": spec["kind"], "name": spec["name"]}
        for k, runs in res.items():
            if runs:
                row[k] = {
                    "time": min(r[0] for r in runs),
                    "rss": max(r[1] or 0 for r in runs) or None,
                    "value": float(runs[0][2].splitlines()[-1]),
                }
        rows.append(row)
        msg = f"{spec['name']}: cecli {row['cecli']['time']:.2f} s {_mib(row['cecli']['rss'])}"
        if "user" in row:
            msg += (
                f", torch+pandas {row['user']['time']:.2f} s {_mib(row['user']['rss'])}"
                f" -> {row['user']['time'] / row['cecli']['time']:.1f}x faster"
            )
        print(msg, flush=True)
    return rows


def _mib(b: int | None) -> str:
    return "n/a" if b is None else f"{b / 2**20:.0f} MiB"


def bench_startup(reps: int) -> dict[str, float]:
    py = sys.executable
    compile_cecli()
    t = best_of(
        {
            "python": lambda: subprocess.run([py, "-c", "pass"], check=True),
            "numpy": lambda: subprocess.run([py, "-c", "import numpy"], check=True),
            "cecli": lambda: subprocess.run([py, "-c", "import cecli"], check=True),
            "help": lambda: subprocess.run(
                [*cecli_command(), "--help"], check=True, stdout=subprocess.DEVNULL
            ),
        },
        reps,
    )
    print(
        f"startup: import numpy {t['numpy'] * 1e3:.0f} ms, import cecli {t['cecli'] * 1e3:.0f} ms "
        f"({t['cecli'] / t['numpy']:.2f}x), cecli --help {t['help'] * 1e3:.0f} ms",
        flush=True,
    )
    return t


# -- report ----------------------------------------------------------------------------------
def _cpu_model() -> str | None:
    """The CPU's model name and whether it has AVX-512 (Linux): ratios against torch and the
    exp floor differ between CPUs, so a run says which one it had."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), None)
    return f"{name}{', AVX-512' if 'avx512f' in info else ''}" if name else None


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", None),
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "block_elements": BLOCK_ELEMENTS,
        "load_average": os.getloadavg(),
    }
    try:
        from threadpoolctl import threadpool_info

        env["blas"] = [
            {k: i.get(k) for k in ("internal_api", "architecture", "num_threads")}
            for i in threadpool_info()
        ]
    except ImportError:
        pass
    return env


def verdicts(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against this run's measurements (ratios from this run)."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, higher_is_better: bool) -> None:
        if value is None:
            return
        ok = value >= limit if higher_is_better else value <= limit
        out.append({"target": name, "value": value, "limit": limit, "met": ok})

    core = res.get("core") or []
    big = [r for r in core if r["C"] >= 1000 and "torch" in r["t2"]]
    small = [r for r in core if r["C"] <= 10 and "torch" in r["t2"]]
    if big:
        add(
            "core / torch, C >= 1000, 2 threads (worst size)",
            max(r["t2"]["core"] / r["t2"]["torch"] for r in big),
            1 / 3,
            False,
        )
    if small:
        add(
            "core / torch, C = 10, 2 threads",
            max(r["t2"]["core"] / r["t2"]["torch"] for r in small),
            1 / 5,
            False,
        )
    for nt in THREADS:
        for label, group in (
            ("C >= 1000", [r for r in core if r["C"] >= 1000]),
            ("C = 10", [r for r in core if r["C"] <= 10]),
        ):
            if group:
                add(
                    f"core / exp floor, {label}, {nt} thread{'s' * (nt > 1)} (worst size)",
                    max(r[f"t{nt}"]["core"] / r[f"t{nt}"]["exp"] for r in group),
                    2.0,
                    False,
                )
    wk = [r for r in res.get("workers") or [] if r["C"] >= 1000]
    if wk:
        add(
            "2 workers / 1 worker speed-up, C >= 1000 (worst size)",
            min(r["stream1"] / r["stream2"] for r in wk),
            1.8,
            True,
        )
    ci = res.get("ci")
    if ci:
        add(f"--ci 0.95 / no --ci, NPY ({ci['N']} x {ci['C']})", ci["ci"] / ci["plain"], 1.5, False)
    for r in res.get("process") or []:
        if r["kind"] == "csv-columns":
            add(f"whole process (s), {r['name']}", r["cecli"]["time"], 2.0, False)
    st = res.get("startup")
    if st:
        add("import cecli / import numpy", st["cecli"] / st["numpy"], 1.3, False)
        add("cecli --help (s)", st["help"], 0.150, False)
    speed = {"tiny": 10.0, "npy": 6.0, "parquet-list": 3.0, "parquet-wide": 3.0, "csv-wide": 2.0}
    mem = {"npy": 256, "npy-large": 256, "parquet-list": 400, "parquet-wide": 400, "csv-wide": 400}
    for r in res.get("process") or []:
        if r["kind"] in speed and "user" in r:
            add(
                f"whole process speed-up, {r['name']}",
                r["user"]["time"] / r["cecli"]["time"],
                speed[r["kind"]],
                True,
            )
        if r["kind"] in mem and r["cecli"]["rss"]:
            add(f"peak RSS MiB, {r['name']}", r["cecli"]["rss"] / 2**20, mem[r["kind"]], False)
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = ["# cecli benchmark", ""]
    env = res["environment"]
    lines.append(
        f"{'Quick run' if res['quick'] else 'Full run'}; Python {env['python']}, NumPy "
        f"{env['numpy']}, torch {env['torch']}, {env['affinity']} cores; 1-minute load average "
        f"{env['load_average'][0]:.1f} at the start, "
        f"{env.get('load_average_end', [float('nan')])[0]:.1f} at the end (other processes "
        f"on the cores distort the 2-thread figures most). Ratios are times measured in the "
        f"same run (best of {res['reps']}); lower is better for 'time / ...'."
    )
    lines.append("")
    if res.get("verdicts"):
        lines += [
            "## Targets (issues 6 and 15)",
            "",
            "| target | measured | limit | met |",
            "|---|---|---|---|",
        ]
        for v in res["verdicts"]:
            lines.append(
                f"| {v['target']} | {v['value']:.3g} | {v['limit']:.3g} | "
                f"{'yes' if v['met'] else '**no**'} |"
            )
        lines.append("")
    if res.get("core"):
        lines += [
            "## Core: `cecli.cross_entropy` on float32 logits in memory",
            "",
            "| N x C | threads | core ms | core / torch | core / exp floor | naive NumPy / core |",
            "|---|---|---|---|---|---|",
        ]
        for r in res["core"]:
            for nt in THREADS:
                t = r[f"t{nt}"]
                tt = f"{t['core'] / t['torch']:.2f}" if "torch" in t else "n/a"
                nv = f"{r['naive'] / t['core']:.1f}x" if nt == 1 else ""
                lines.append(
                    f"| {r['N']} x {r['C']} | {nt} | {t['core'] * 1e3:.1f} | {tt} | "
                    f"{t['core'] / t['exp']:.2f} | {nv} |"
                )
        lines.append("")
    if res.get("workers"):
        lines += [
            "## Streaming: chunks through the accumulator on `ordered_map` workers",
            "",
            "| N x C | chunks | 2 workers vs 1 | kernel alone, 2 vs 1 | accumulate overhead |",
            "|---|---|---|---|---|",
        ]
        for r in res["workers"]:
            lines.append(
                f"| {r['N']} x {r['C']} | {r['chunks']} | {r['stream1'] / r['stream2']:.2f}x | "
                f"{r['kernel1'] / r['kernel2']:.2f}x | +{r['stream1'] / r['kernel1'] - 1:.0%} |"
            )
        lines.append("")
    if res.get("process"):
        lines += [
            "## Whole process: `cecli ce FILE -f value` vs a torch + pandas script",
            "",
            "| input | cecli s | cecli peak RSS | torch+pandas s | its peak RSS | speed-up |",
            "|---|---|---|---|---|---|",
        ]
        for r in res["process"]:
            c = r["cecli"]
            u = r.get("user")
            us = f"{u['time']:.2f} | {_mib(u['rss'])}" if u else "n/a | n/a"
            sp = f"{u['time'] / c['time']:.1f}x" if u else "n/a"
            lines.append(f"| {r['name']} | {c['time']:.2f} | {_mib(c['rss'])} | {us} | {sp} |")
        lines.append("")
    c, s = res.get("ci"), res.get("startup")
    paragraphs = {
        "Bootstrap: `--ci 0.95` (B = 1000)": c
        and f"`cecli ce` on a {c['N']} x {c['C']} float32 NPY: {c['ci']:.2f} s with `--ci 0.95`, "
        f"{c['plain']:.2f} s without ({c['ci'] / c['plain']:.2f}x). The bootstrap alone "
        f"(`BootstrapSums`, loss and denominator series) costs {c['row'] * 1e9:.0f} ns a row, "
        f"plus {c.get('once', 0.0):.3f} s once a run for the draws over the occupied buckets.",
        "Start-up": s
        and f"`import numpy` {s['numpy'] * 1e3:.0f} ms, `import cecli` {s['cecli'] * 1e3:.0f} ms "
        f"({s['cecli'] / s['numpy']:.2f}x numpy), `cecli --help` {s['help'] * 1e3:.0f} ms "
        f"(bare `python -c pass` {s['python'] * 1e3:.0f} ms).",
    }
    for title, text in paragraphs.items():
        if text:
            lines += [f"## {title}", "", text, ""]
    if res.get("layout"):
        lay = res["layout"]
        lines += [
            "## Kernel layout and tile size (one thread, ~8M values)",
            "",
            "| C | " + " | ".join(str(r["C"]) for r in lay["layout"]) + " |",
            "|---|" + "---|" * len(lay["layout"]),
            "| rows time / columns time | "
            + " | ".join(f"{r['rows'] / r['columns']:.2f}" for r in lay["layout"])
            + " |",
            "",
        ]
        for r in lay["block"]:
            sizes = [k for k in r if k != "C"]
            lines.append(
                f"Tile of 2^k values, C = {r['C']}: "
                + ", ".join(f"2^{int(k).bit_length() - 1}: {r[k] * 1e3:.1f} ms" for k in sizes)
            )
        lines.append("")
    return "\n".join(lines)


def chart(res: dict[str, Any], out: Path) -> Path | None:
    """Core time / torch time and / exp floor per size and thread count, and whole-process
    speed-ups, with the issue's targets as dashed lines."""
    core = [r for r in res.get("core", []) if "torch" in r["t1"]]
    proc = [r for r in res.get("process", []) if "user" in r]
    if not core and not proc:
        return None
    labels = [f"{r['N']} x\n{r['C']}" for r in core]
    names = {nt: f"{nt} thread{'s' * (nt > 1)}" for nt in THREADS}
    series = {
        names[nt]: [r[f"t{nt}"]["core"] / r[f"t{nt}"]["torch"] for r in core] for nt in THREADS
    }
    floor = {names[nt]: [r[f"t{nt}"]["core"] / r[f"t{nt}"]["exp"] for r in core] for nt in THREADS}
    speed = {r["name"]: r["user"]["time"] / r["cecli"]["time"] for r in proc}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _svg_chart(labels, series, speed, out.with_suffix(".svg"))
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(17, 4.8))
    width = 0.8 / max(1, len(series))
    xs = np.arange(len(labels))
    for ax, data, title, ylabel in (
        (a1, series, "Core vs torch F.cross_entropy, same threads", "cecli time / torch time"),
        (a2, floor, "Core vs the exp floor, same threads", "cecli time / np.exp time"),
    ):
        for k, (name, vals) in enumerate(data.items()):
            ax.bar(xs + k * width, vals, width, label=name)
        ax.set_xticks(xs + width * (len(data) - 1) / 2, labels)
        ax.set_ylabel(ylabel + " (lower is better)")
        ax.set_title(title)
        ax.legend()
    a1.axhline(1.0, color="grey", lw=0.8)
    a1.axhline(1 / 3, color="tab:red", ls="--", lw=1, label="target C >= 1000: 1/3")
    a1.axhline(1 / 5, color="tab:purple", ls="--", lw=1, label="target C = 10: 1/5")
    a1.legend()
    a2.axhline(2.0, color="tab:red", ls="--", lw=1, label="target: 2x")
    a2.legend()
    a3.barh(list(speed), list(speed.values()), color="tab:green")
    a3.axvline(1.0, color="grey", lw=0.8)
    a3.set_xlabel("torch + pandas time / cecli time (higher is better)")
    a3.set_title("Whole process")
    fig.tight_layout()
    path = out.with_suffix(".png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _svg_chart(
    labels: list[str], series: dict[str, list[float]], speed: dict[str, float], path: Path
) -> Path:
    """The same two panels as plain SVG, for machines without matplotlib."""
    W, H, pad = 900, 360, 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-size="11">']
    top = max([1.0, *[v for vals in series.values() for v in vals]])
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    gw = (W / 2 - 2 * pad) / max(1, len(labels))
    bw = gw * 0.8 / max(1, len(series))
    for i, lab in enumerate(labels):
        for k, vals in enumerate(series.values()):
            h = (H - 2 * pad) * vals[i] / top
            x = pad + i * gw + k * bw
            parts.append(
                f'<rect x="{x:.1f}" y="{H - pad - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                f'fill="{colors[k % 3]}"/>'
            )
        parts.append(
            f'<text x="{pad + i * gw:.1f}" y="{H - pad + 14}">{lab.replace(chr(10), " ")}</text>'
        )
    y1 = H - pad - (H - 2 * pad) / top
    parts.append(f'<line x1="{pad}" x2="{W / 2 - pad}" y1="{y1:.1f}" y2="{y1:.1f}" stroke="grey"/>')
    parts.append(f'<text x="{pad}" y="20">core time / torch time (lower is better)</text>')
    smax = max([1.0, *speed.values()])
    for i, (name, v) in enumerate(speed.items()):
        w = (W / 2 - 2 * pad) * v / smax
        y = pad + i * 40
        parts.append(
            f'<rect x="{W / 2 + pad}" y="{y}" width="{w:.1f}" height="20" fill="#2ca02c"/>'
        )
        parts.append(f'<text x="{W / 2 + pad}" y="{y - 3}">{name}: {v:.1f}x</text>')
    parts.append(f'<text x="{W / 2 + pad}" y="20">whole process speed-up vs torch + pandas</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small sizes: seconds, not minutes")
    ap.add_argument("--data", type=Path, default=Path("/tmp/cecli-bench"), help="data cache")
    ap.add_argument("--out", type=Path, default=HERE, help="where results.* go")
    ap.add_argument(
        "--only",
        default="core,workers,process,ci,startup",
        help="sections to run (comma list); 'layout' (not run by default) times the kernel's "
        "two layouts across C and its tile sizes",
    )
    ap.add_argument("--reps", type=int, default=None, help="repeats per timing (best is kept)")
    args = ap.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    reps = args.reps or 5
    sizes = CORE_QUICK if args.quick else CORE_FULL
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
        print(
            "note: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set; run with "
            "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` to benchmark",
            file=sys.stderr,
        )
    res: dict[str, Any] = {"quick": args.quick, "reps": reps, "environment": environment()}
    if "core" in only:
        res["core"] = bench_core(args.data, sizes, reps)
    if "workers" in only:
        res["workers"] = bench_workers(args.data, sizes, max(3, reps - 2))
    if "process" in only:
        res["process"] = bench_process(args.data, args.quick, 3)
    if "ci" in only:
        res["ci"] = bench_ci(args.data, args.quick, 3)
    if "startup" in only:
        res["startup"] = bench_startup(9)
    if "layout" in only:
        res["layout"] = bench_layout(reps, args.quick)
    res["environment"]["load_average_end"] = os.getloadavg()
    res["verdicts"] = verdicts(res)
    for v in res["verdicts"]:
        print(
            f"{'met ' if v['met'] else 'MISS'} {v['target']}: {v['value']:.3g} (limit {v['limit']:.3g})"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    (args.out / "results.md").write_text(markdown(res))
    path = chart(res, args.out / "results.png")
    print(
        f"wrote {args.out / 'results.json'}, {args.out / 'results.md'}"
        + (f", {path}" if path else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
