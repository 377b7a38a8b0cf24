"""Issue 15, item 4: does a fused single-pass kernel pay? A prototype, not part of cecli.

A Numba kernel that does per row what torch's fused CPU kernel does: the maximum, then one pass
of ``exp(x - max)`` summed (a vectorisable Cephes ``expf`` polynomial, 2**k by bit pattern, so
LLVM can use 8 lanes of AVX2 instead of calling libm per value), then ``log``, over rows in
parallel. It is timed against torch's ``F.cross_entropy`` and cecli's NumPy core
(``cecli.cross_entropy``) in the same run, interleaved, best of ``--reps``, on the bench's
sizes, and its per-row losses are compared with torch in float64.

    pip install numba torch==2.13.0   # neither is a dependency of cecli
    python bench/fused_prototype.py [--threads 2] [--reps 7] [--quick]

The decision and the figures are in bench/README.md ("A fused kernel").
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np


def build(threads: int) -> Any:
    import numba as nb
    from numba import types
    from numba.extending import intrinsic

    nb.set_num_threads(threads)

    @intrinsic  # type: ignore[misc]
    def as_float32(typingctx: Any, bits: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(types.float32))

        return types.float32(types.int32), codegen

    f32 = np.float32

    @nb.njit(inline="always", fastmath=True)  # type: ignore[misc]
    def exp_nonpositive(t: float) -> float:
        t = max(t, f32(-87.0))  # exp underflows to 0 in float32 below this
        k = math.floor(t * f32(1.44269504088896341) + f32(0.5))
        x = t - k * f32(0.693359375) - k * f32(-2.12194440e-4)
        y = f32(1.9875691500e-4) * x + f32(1.3981999507e-3)
        y = ((y * x + f32(8.3334519073e-3)) * x + f32(4.1665795894e-2)) * x
        y = (y + f32(1.6666665459e-1)) * x + f32(5.0000001201e-1)
        return (y * x * x + x + f32(1.0)) * as_float32((np.int32(k) + np.int32(127)) << 23)

    @nb.njit(parallel=True, fastmath=True)  # type: ignore[misc]
    def cross_entropy_rows(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
        n, c = x.shape
        for i in nb.prange(n):
            row = x[i]
            m = row[0]
            for j in range(1, c):
                m = max(m, row[j])
            s = f32(0.0)
            for j in range(c):
                s += exp_nonpositive(row[j] - m)
            out[i] = (np.float64(m) + math.log(np.float64(s))) - row[y[i]]

    return cross_entropy_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="a tenth of the rows")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    fused = build(args.threads)
    sizes = [(1_000_000, 10), (200_000, 1000), (4096, 50257)]
    print(f"threads={args.threads}; time of each / torch F.cross_entropy (lower is better)")
    for n, c in sizes:
        one_size(fused, n // 10 if args.quick else n, c, args.threads, args.reps)


def one_size(fused: Any, n: int, c: int, threads: int, reps: int) -> None:
    import torch

    import cecli

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c), dtype=np.float32) * 3
    y = rng.integers(0, c, n)
    out = np.empty(n, np.float64)
    fused(x, y, out)  # compile outside the timing
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    runs = {
        "torch": lambda: torch.nn.functional.cross_entropy(xt, yt),
        "fused": lambda: fused(x, y, out),
        "cecli": lambda: cecli.cross_entropy(x, y, threads=threads),
        "floor": lambda: np.exp(x),  # one thread: np.exp does not thread
    }
    best = dict.fromkeys(runs, math.inf)
    for _ in range(reps):
        for name, run in runs.items():
            t = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t)
    ref = torch.nn.functional.cross_entropy(xt.double(), yt, reduction="none").numpy()
    err = float(np.max(np.abs(out - ref) / np.maximum(np.abs(ref), 1e-30)))
    ms = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in best.items())
    print(
        f"{n} x {c}: {ms}; fused/torch {best['fused'] / best['torch']:.3f}, "
        f"cecli/torch {best['cecli'] / best['torch']:.3f}, "
        f"fused/(floor/{threads}) {best['fused'] * threads / best['floor']:.2f}, "
        f"max relative error vs torch float64 {err:.1e}"
    )


if __name__ == "__main__":
    main()
