"""Tiles, reused buffers and threads: how the core walks a large array without N x C temporaries.

Every kernel sees its input as a 3-D view ``(R, C, D)``: R rows, C classes, D trailing positions
(``d1 * ... * dk``). ``(N, C, d1..dk)`` with the class axis at 1 is ``(N, C, D)``; a
``(N, d1..dk, C)`` array with the class axis last is ``(N * D, C, 1)``. Both are views, never
copies, of a C-contiguous (or memory-mapped) array.

The cross-entropy kernel cuts that view into *tiles* of about :data:`BLOCK_ELEMENTS` values
(whole rows, or pieces of one row when a row alone is larger) and works on each tile in
per-thread scratch buffers that stay in the core's L2 cache, so each value is read from memory
once however many passes the arithmetic makes over it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..errors import UsageError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

#: Values in one tile. 2**17 float32 values are 512 KiB: with the kernel's scratch buffers a
#: tile stays in a core's L2 cache (2 MiB here), which measured fastest on this machine
#: (``bench/bench.py --only layout``, 8M values, one thread: C = 10 took 29 ms with 2**16 or
#: 2**17, 43 ms with 2**20, whose working set spills out of L2; 2**15 pays more per-tile Python
#: overhead; C = 1000 was flat within 10% from 2**16 to 2**20).
BLOCK_ELEMENTS = 1 << 17

#: Below this many values a one-shot call stays on the calling thread (a thread hop costs more
#: than it saves).
PARALLEL_MIN_ELEMENTS = 1 << 21

_local = threading.local()

T = TypeVar("T")
R_ = TypeVar("R_")


def work_dtype(dtype: np.dtype, float64: bool = False) -> np.dtype:
    """The precision a row's log-sum-exp is computed in: the input's, float16 upcast to
    float32, and float64 when asked (or for integer input)."""
    if float64 or dtype == np.float64 or dtype.kind not in "f":
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def buffer(n: int, dtype: np.dtype | type, slot: int = 0) -> np.ndarray:
    """A per-thread scratch buffer of at least ``n`` elements (reused across calls)."""
    dt = np.dtype(dtype)
    cache: dict[tuple[int, str], np.ndarray] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = (slot, dt.str)
    buf = cache.get(key)
    if buf is None or buf.size < n:
        buf = np.empty(max(n, 1), dtype=dt)
        cache[key] = buf
    return buf[:n]


def rows_per_block(C: int, D: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, C * D))


def tiles(R: int, C: int, D: int, block: int | None = None) -> list[tuple[int, int, int, int]]:
    """Tiles ``(r0, r1, d0, d1)`` covering an ``(R, C, D)`` view in position order.

    Whole rows while a row fits in ``block`` values (default :data:`BLOCK_ELEMENTS`), else
    pieces of one row along D (a single position when one position's C values alone exceed
    ``block``). A tile's positions ``r * D + d`` are always one contiguous range.
    """
    block = BLOCK_ELEMENTS if block is None else block
    row = max(1, C * D)
    if row <= block:
        nr = block // row
        return [(a, min(R, a + nr), 0, D) for a in range(0, R, nr)]
    # At least 16 positions (a cache line of float32) per tile, so a transposing copy uses
    # every line it reads, even when that makes the tile larger than ``block``.
    dd = max(min(D, 16), block // max(1, C))
    return [(r, r + 1, d0, min(D, d0 + dd)) for r in range(R) for d0 in range(0, D, dd)]


def transpose_into(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src.T`` (2-D, casting as needed), a few source rows at a time.

    A transposing copy reads one value per cache line. Done whole, the lines it walks fall out
    of L1 (and for power-of-two strides fight over the same cache sets) before the next column
    reuses them; in pieces whose source spans at most 32 KiB each line is read once. 2-3x
    faster for rows of 64-512 values; rows shorter than a cache line copy in one go.
    """
    A, B = dst.shape
    step = B if A < 16 else max(16, 8192 // A)
    for j in range(0, B, step):
        np.copyto(dst[:, j : j + step], src[j : j + step].T, casting="unsafe")


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int | None, elements: int, pieces: int) -> int:
    """How many threads a call uses: ``None`` means all cores for large inputs, one otherwise."""
    if threads is None:
        threads = default_threads() if elements >= PARALLEL_MIN_ELEMENTS else 1
    return max(1, min(int(threads), pieces))


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def parallel_map(fn: Callable[[T], R_], items: Sequence[T], threads: int) -> list[R_]:
    """``[fn(item) for item in items]`` on up to ``threads`` threads (NumPy releases the GIL);
    the first item runs on the calling thread. Results come back in input order."""
    if threads <= 1 or len(items) <= 1:
        return [fn(it) for it in items]
    from concurrent.futures import ThreadPoolExecutor  # lazily: it imports logging (~7 ms)

    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < threads - 1:
            _pool = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="cecli-core")
            _pool_size = threads - 1
        pool = _pool
    futures = [pool.submit(fn, it) for it in items[1:]]
    try:
        first = fn(items[0])
    finally:
        results = [f.result() for f in futures]
    return [first, *results]


def split_even(items: Sequence[T], parts: int) -> list[Sequence[T]]:
    """``items`` cut into ``parts`` contiguous runs of nearly equal length."""
    n = len(items)
    bounds = [n * k // parts for k in range(parts + 1)]
    return [items[bounds[k] : bounds[k + 1]] for k in range(parts) if bounds[k] < bounds[k + 1]]


def class_axis_of(ndim: int, axis: int) -> int:
    """Normalise the class axis; only the second axis (torch's) and the last are views."""
    if ndim == 0:
        raise UsageError("predictions must have at least one dimension (the classes)")
    ax = axis + ndim if axis < 0 else axis
    if not 0 <= ax < ndim:
        raise UsageError(f"class axis {axis} is out of range for an array of {ndim} dimensions")
    return ax


def as_3d(x: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """View batched ``x`` as ``(R, C, D)`` and return it with the positions' shape.

    The positions' shape is what ``reduction='none'`` returns: ``x.shape`` without the class
    axis. ``axis`` must already be normalised and ``x.ndim >= 2``.
    """
    shape = x.shape
    C = shape[axis]
    pos_shape = shape[:axis] + shape[axis + 1 :]
    if axis == x.ndim - 1:
        R = int(np.prod(shape[:-1], dtype=np.int64))
        return x.reshape(R, C, 1), pos_shape
    if axis == 1:
        D = int(np.prod(shape[2:], dtype=np.int64))
        return x.reshape(shape[0], C, D), pos_shape
    # Any other axis: move it next to the batch axis (a copy for a non-contiguous result).
    moved = np.moveaxis(x, axis, 1)
    D = int(np.prod(moved.shape[2:], dtype=np.int64))
    R = int(np.prod(moved.shape[:1], dtype=np.int64))
    return moved.reshape(R, C, D), pos_shape
