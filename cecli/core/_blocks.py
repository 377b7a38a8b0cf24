"""Row blocks and reused buffers: how the core walks a large array without N x C temporaries.

Every kernel sees its input as a 3-D view ``(R, C, D)``: R rows, C classes, D trailing positions
(``d1 * ... * dk``). ``(N, C, d1..dk)`` with the class axis at 1 is ``(N, C, D)``; a
``(N, d1..dk, C)`` array with the class axis last is ``(N * D, C, 1)``. Both are views, never
copies, of a C-contiguous (or memory-mapped) array.
"""

from __future__ import annotations

import threading

import numpy as np

from ..errors import UsageError

#: Elements in one row block. 2**20 float32 values are 4 MiB: small enough to stay in the
#: last-level cache with its temporaries, large enough that NumPy's per-call overhead vanishes.
BLOCK_ELEMENTS = 1 << 20

_local = threading.local()


def work_dtype(dtype: np.dtype, float64: bool = False) -> np.dtype:
    """The precision a row's log-sum-exp is computed in: the input's, float16 upcast to
    float32, and float64 when asked (or for integer input)."""
    if float64 or dtype == np.float64 or dtype.kind not in "f":
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def buffer(n: int, dtype: np.dtype, slot: int = 0) -> np.ndarray:
    """A per-thread scratch buffer of at least ``n`` elements (reused across calls)."""
    cache: dict[tuple[int, str], np.ndarray] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = (slot, dtype.str)
    buf = cache.get(key)
    if buf is None or buf.size < n:
        buf = np.empty(max(n, 1), dtype=dtype)
        cache[key] = buf
    return buf[:n]


def rows_per_block(C: int, D: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, C * D))


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
