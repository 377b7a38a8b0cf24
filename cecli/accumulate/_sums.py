"""Mergeable sums: compensated float sums, canonical tree sums, a loss histogram, and Poisson
bootstrap weights.

Two kinds of sum, for two promises:

* :class:`DDSum` folds per-chunk totals exactly (double-double), so merging loses nothing, but
  each chunk's own total is rounded where the chunk happens to end: results agree across
  chunkings to float64 rounding (~1e-16 relative).
* :class:`TreeSum` sums per-position values over a binary tree fixed by the positions' *global*
  indices (pairwise summation over aligned power-of-two blocks). Whatever the chunk boundaries,
  worker count or engine, every addition happens between the same two operands, so the result is
  identical to the last bit. The bootstrap replicates and the loss totals use it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import DataError


class DDSum:
    """A float64 sum carried as an unevaluated pair ``hi + lo`` (double-double, Knuth's TwoSum).

    Adding chunk totals this way loses nothing at float64 precision (the error is about 2**-106
    of the magnitudes involved), so the result does not depend on how the data was chunked
    beyond the per-chunk pairwise sums, and folding in chunk order makes it deterministic.
    Works on scalars or arrays (per-class sums, bootstrap replicates).
    """

    __slots__ = ("hi", "lo")

    def __init__(self, shape: tuple[int, ...] | int = ()) -> None:
        self.hi = np.zeros(shape)
        self.lo = np.zeros(shape)

    def add(self, x: Any) -> None:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            s = self.hi + x
            bp = s - self.hi
            err = (self.hi - (s - bp)) + (x - bp)
        self.hi = s
        self.lo = self.lo + err

    def merge(self, other: DDSum) -> None:
        self.add(other.hi)
        self.lo = self.lo + other.lo

    def value(self) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            return np.where(np.isfinite(self.hi), self.hi + self.lo, self.hi)

    def scalar(self) -> float:
        return float(self.value())


# ---------------------------------------------------------------------------------------------
# Canonical tree sums: identical to the last bit for any chunking.


_scratch = threading.local()
#: Scratch arrays up to this many bytes are kept per thread and slot (larger ones are not).
SCRATCH_BYTES = 32 << 20


def scratch(slot: str, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """An uninitialised array of ``shape``, reused by this thread for ``slot`` while the caller
    holds it (the next call for the same slot reuses the memory). Fresh large arrays cost a
    page fault per 4 KiB where malloc returns freed memory at once -- a Dask nanny sets
    ``MALLOC_TRIM_THRESHOLD_=65536``, which made the bootstrap 3x slower on its workers."""
    dt = np.dtype(dtype)
    size = math.prod(shape)
    if size * dt.itemsize > SCRATCH_BYTES:
        return np.empty(shape, dt)
    pool: dict[str, np.ndarray] | None = getattr(_scratch, "pool", None)
    if pool is None:
        pool = _scratch.pool = {}
    buf = pool.get(slot)
    if buf is None or buf.dtype != dt or buf.size < size:
        buf = pool[slot] = np.empty(size, dt)
    return buf[:size].reshape(shape)


@contextmanager
def _sums_may_not_overflow() -> Iterator[None]:
    try:
        with np.errstate(over="raise"):  # finite + finite = inf: a wrong number, not a sum
            yield
    except FloatingPointError:
        raise _overflow() from None


def _overflow() -> DataError:
    return DataError(
        "a sum of the weighted losses overflows float64 (weights or losses near 1e308)",
        fix="scale --weight / the sample weights down (the mean does not change)",
    )


def _halve(x: np.ndarray, levels: int | None = None) -> np.ndarray:
    """Pairwise sums of aligned runs of ``2**levels`` rows (all rows by default):
    ``x[0::2] + x[1::2]``, repeated. Elementwise adds only, so the rounding never depends on SIMD
    width, memory alignment or threads. The result lives in this thread's scratch memory (two
    slots used in turn): copy what must outlive the next call."""
    steps = x.shape[0].bit_length() - 1 if levels is None else levels
    with _sums_may_not_overflow():
        for i in range(steps):
            out = scratch(f"halve{i & 1}", (x.shape[0] // 2, *x.shape[1:]), x.dtype)
            x = np.add(x[0::2], x[1::2], out=out)
    return x


def _halve_into(x: np.ndarray, half: np.ndarray, out: np.ndarray) -> None:
    """``_halve(x)[0]`` (``x`` has a power of two >= 2 rows) written to ``out``: the same
    additions in the same order, through ``half`` (half as many rows) as the only scratch.
    Overwrites ``x``."""
    n, src, dst = x.shape[0], x, half
    with _sums_may_not_overflow():
        while n > 2:
            n //= 2
            np.add(src[0 : 2 * n : 2], src[1 : 2 * n : 2], out=dst[:n])
            src, dst = dst, src
        np.add(src[0], src[1], out=out)


def _two_sum(
    ah: np.ndarray, al: np.ndarray, bh: np.ndarray, bl: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    # Knuth's TwoSum on double-double pairs. Inf / NaN operands make the error term NaN;
    # TreeSum.value() keeps ``hi`` for those.
    with np.errstate(invalid="ignore", over="ignore"):
        s = ah + bh
        bp = s - ah
        err = (ah - (s - bp)) + (bh - bp)
        return s, (al + bl) + err


#: Compensated tree sums add the lowest levels (runs of 2**6 positions) plainly, and carry a
#: double-double pair above: the rounding error is that of 64-term pairwise sums (<= 6 ulps of
#: the run's magnitude), whatever N, at a few percent of the cost of TwoSum at every node.
PLAIN_LEVELS = 6


class TreeSum:
    """Sums of per-position values over the binary tree of their global indices.

    Position ``p`` is leaf ``p``; node ``(level, i)`` is the sum of leaves ``i * 2**level`` to
    ``(i + 1) * 2**level - 1``, always computed as ``left + right`` of its two children. A chunk
    covering ``[start, start + n)`` is cut into maximal aligned blocks, each summed pairwise
    (:func:`_halve`), and pushed onto a stack where siblings combine. The stack of a prefix
    ``[0, N)`` is the binary decomposition of N whatever the chunking, and :meth:`value` folds it
    in a fixed order, so the sums are identical to the last bit for any chunk size, worker count
    or engine, provided partial sums are merged in position order (the engines do).

    ``compensated=True`` carries nodes above :data:`PLAIN_LEVELS` as double-double pairs
    (TwoSum), for scalar totals: then the error does not grow with the number of positions.
    """

    __slots__ = ("compensated", "end", "shape", "stack")

    def __init__(self, shape: tuple[int, ...] | int = (), compensated: bool = False) -> None:
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.compensated = compensated
        # (level, index, hi, lo)
        self.stack: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        self.end = 0  # one past the last position seen

    def add(self, start: int, values: np.ndarray) -> None:
        """Add ``values`` (``(n, *shape)``, float64) of global positions ``start .. start+n-1``."""
        n = values.shape[0]
        pos, off = start, 0
        while off < n:
            level = (n - off).bit_length() - 1
            if pos:
                level = min(level, (pos & -pos).bit_length() - 1)
            block = values[off : off + (1 << level)]
            if self.compensated and level > PLAIN_LEVELS:
                hi = _halve(block, PLAIN_LEVELS)
                lo = np.zeros_like(hi)
                while hi.shape[0] > 1:
                    hi, lo = _two_sum(hi[0::2], lo[0::2], hi[1::2], lo[1::2])
                lo = lo[0].copy()
            else:
                hi = _halve(block)
                lo = np.zeros(hi.shape[1:], hi.dtype)
            # a copy: a view would keep the whole chunk's array (or scratch) alive on the stack
            self._push(level, pos >> level, hi[0].copy(), lo)
            pos += 1 << level
            off += 1 << level
        self.end = max(self.end, start + n)

    def add_node(self, level: int, index: int, value: np.ndarray) -> None:
        """Add the sum of the aligned block of positions ``index * 2**level`` to
        ``(index + 1) * 2**level - 1``, summed by the caller exactly as :meth:`add` would (pairwise,
        :func:`_halve`), at a plain level."""
        if self.compensated and level > PLAIN_LEVELS:
            raise ValueError("a compensated node above PLAIN_LEVELS needs add()")
        self._push(level, index, value, np.zeros_like(value))
        self.end = max(self.end, (index + 1) << level)

    def _push(self, level: int, index: int, hi: np.ndarray, lo: np.ndarray) -> None:
        st = self.stack
        while st and st[-1][0] == level and index & 1 and st[-1][1] == index - 1:
            _, _, lh, ll = st.pop()
            level, index = level + 1, index >> 1
            if self.compensated and level > PLAIN_LEVELS:
                hi, lo = _two_sum(lh, ll, hi, lo)
            else:
                hi = lh + hi  # lo is 0 at plain levels
        st.append((level, index, np.asarray(hi), np.asarray(lo)))

    def merge(self, other: TreeSum) -> None:
        """Add the sums of positions that come after this one's (in position order)."""
        for level, index, hi, lo in other.stack:
            self._push(level, index, hi, lo)
        self.end = max(self.end, other.end)

    def value(self) -> np.ndarray:
        """The total: the stack folded right to left (the same fold for the same N)."""
        if not self.stack:
            return np.zeros(self.shape)
        _, _, hi, lo = self.stack[-1]
        for _, _, h, lw in reversed(self.stack[:-1]):
            hi, lo = _two_sum(h, lw, hi, lo) if self.compensated else (h + hi, lo)
        if not self.compensated:
            return np.array(hi, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            return np.asarray(np.where(np.isfinite(hi), hi + lo, hi), dtype=np.float64)

    def scalar(self) -> float:
        return float(self.value())


# ---------------------------------------------------------------------------------------------
# Histogram of per-position losses: a bin for values below 1e-12 (zero included), then 100
# log-spaced bins per decade from 1e-12 to 1e12 (each 10**0.01 - 1 = 2.33% wide), then
# [1e12, inf), then +inf, then NaN (2404 int64 counts, 19 KiB). Counts are integers, so merging
# is exact and the quantiles do not depend on the chunking at all.
HIST_LO, HIST_HI, HIST_PER_DECADE = -12, 12, 100
HIST_BINS = (HIST_HI - HIST_LO) * HIST_PER_DECADE
HIST_EDGES = 10.0 ** (HIST_LO + np.arange(HIST_BINS + 1) / HIST_PER_DECADE)
#: Relative width of one log bin: a quantile read from the histogram is within this factor of
#: an order statistic next to the true quantile (within 1e-12 absolute below 1e-12; above 1e12
#: it is interpolated between 1e12 and the maximum).
HIST_RESOLUTION = float(10.0 ** (1.0 / HIST_PER_DECADE) - 1.0)
_UNDER, _OVER, _POSINF, _NAN = 0, HIST_BINS + 1, HIST_BINS + 2, HIST_BINS + 3


class LossHistogram:
    """A fixed-bin histogram of per-position losses, mergeable by adding counts.

    :meth:`quantile` finds the bin holding the order statistic of rank ``ceil(q * n)`` and
    interpolates log-linearly inside it (linearly in the bin below 1e-12), clipped to the exact
    minimum and maximum. So the estimate lies within one bin (2.33%) of one of the two order
    statistics that ``np.quantile`` interpolates between (for values up to 1e12).
    """

    __slots__ = ("counts", "max", "min", "n")

    def __init__(self) -> None:
        self.counts = np.zeros(HIST_BINS + 4, dtype=np.int64)
        self.n = 0
        self.max = -np.inf  # over non-NaN values (+inf included)
        self.min = np.inf

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if self._add_plain(v):
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            idx = np.floor((np.log10(v) - HIST_LO) * HIST_PER_DECADE)
            idx = np.clip(np.nan_to_num(idx, nan=-1.0, neginf=-1.0), -1, HIST_BINS) + 1
            idx = np.where(v < HIST_EDGES[0], _UNDER, idx)
        idx = np.where(np.isposinf(v), _POSINF, idx)
        idx = np.where(np.isnan(v), _NAN, idx).astype(np.intp)
        self.counts += np.bincount(idx, minlength=self.counts.size)
        real = v[~np.isnan(v)]
        if real.size:
            self.max = max(self.max, float(real.max()))
            self.min = min(self.min, float(real.min()))
        self.n += v.size

    def _add_plain(self, v: np.ndarray) -> bool:
        """The common case in a few passes instead of sixteen: no NaN, nothing negative or at
        or above 1e12. Bins exactly as :meth:`add` does; returns False to leave it the rest."""
        vmin, vmax = float(v.min()), float(v.max())
        if not (vmin >= 0.0 and vmax < HIST_EDGES[-1]):  # NaN fails both comparisons
            return False
        lv = np.log10(np.maximum(v, HIST_EDGES[0]))
        lv -= HIST_LO
        lv *= HIST_PER_DECADE
        idx = lv.astype(np.intp)  # truncation is floor: lv >= 0 here
        idx += 1
        if vmin < HIST_EDGES[0]:
            idx[v < HIST_EDGES[0]] = _UNDER
        self.counts += np.bincount(idx, minlength=self.counts.size)
        self.max = max(self.max, vmax)
        self.min = min(self.min, vmin)
        self.n += v.size
        return True

    def merge(self, other: LossHistogram) -> None:
        self.counts += other.counts
        self.n += other.n
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)

    def quantile(self, q: float) -> float:
        """The q-quantile of the non-NaN values (NaN when there are none)."""
        valid = self.counts[:_NAN]
        total = int(valid.sum())
        if total == 0:
            return math.nan
        rank = max(q * total, 1e-9)  # the element of rank ceil(q * total), at least the first
        cum = np.cumsum(valid)
        i = min(int(np.searchsorted(cum, rank, side="left")), valid.size - 1)
        before = cum[i - 1] if i else 0
        frac = float((rank - before) / valid[i]) if valid[i] else 0.0
        if i == _UNDER:
            top = min(HIST_EDGES[0], self.max)
            value = self.min + frac * (top - self.min) if math.isfinite(self.min) else self.min
        elif i == _POSINF:
            return math.inf
        elif i == _OVER:
            hi = self.max if math.isfinite(self.max) else HIST_EDGES[-1]
            lo = math.log10(HIST_EDGES[-1])
            value = 10.0 ** (lo + frac * (math.log10(max(hi, HIST_EDGES[-1])) - lo))
        else:
            lo, hi = math.log10(HIST_EDGES[i - 1]), math.log10(HIST_EDGES[i])
            value = 10.0 ** (lo + frac * (hi - lo))
        return float(min(max(value, self.min), self.max))

    def coarse(self, bins: int = 24) -> tuple[list[float], list[int]]:
        """Counts over ``bins`` equal-width bins between 0 and the largest finite loss (for the
        sparkline; each fine bin is placed at its centre)."""
        top = self.max
        if self.n == 0 or not np.isfinite(top):
            finite_top = HIST_EDGES[-1] if self.counts[_OVER] else None
            if finite_top is None:
                return [], []
            top = finite_top
        top = top if top > 0 else 1.0
        edges = np.linspace(0.0, top, bins + 1)
        centres = np.concatenate(
            [[max(self.min, 0.0) if np.isfinite(self.min) else 0.0],
             np.sqrt(HIST_EDGES[:-1] * HIST_EDGES[1:]), [top]]
        )
        counts = np.histogram(
            np.clip(centres, 0.0, top), bins=edges, weights=self.counts[:_POSINF].astype(float)
        )[0]
        return edges.tolist(), [int(c) for c in counts]


# ---------------------------------------------------------------------------------------------
# Poisson(1) bootstrap weights that depend only on (seed, key, replicate).

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _poisson1_table() -> np.ndarray:
    """Poisson(1) draws for each 16-bit uniform: ``u`` maps to the k with
    ``F(k-1) <= u / 65536 < F(k)``; each probability is thus exact to within 2**-16."""
    pmf = [math.exp(-1.0) / math.factorial(k) for k in range(24)]
    cdf = np.cumsum(pmf)
    u = np.arange(1 << 16, dtype=np.float64) / float(1 << 16)
    return np.searchsorted(cdf, u, side="right").astype(np.uint8)


_POISSON1 = _poisson1_table()


def _splitmix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return np.asarray(z ^ (z >> np.uint64(31)))


def _splitmix64_inplace(z: np.ndarray, t: np.ndarray | None = None) -> None:
    """:func:`_splitmix64` without temporaries beyond one scratch array ``t`` (the hot loop of
    the bootstrap: one call per 4 replicates per position)."""
    t = np.empty_like(z) if t is None else t
    with np.errstate(over="ignore"):
        z += _GOLDEN
        np.right_shift(z, np.uint64(30), out=t)
        z ^= t
        z *= _M1
        np.right_shift(z, np.uint64(27), out=t)
        z ^= t
        z *= _M2
        np.right_shift(z, np.uint64(31), out=t)
        z ^= t


#: The same draw as comparisons: ``_POISSON1[u]`` is the number of thresholds ``ceil(65536 F(k))``
#: at or below ``u`` (those below 65536), which vectorises where the table lookup gathers.
_THRESHOLDS = [
    np.uint16(t)
    for t in np.ceil(np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(24)]) * 65536)
    if t < 65536
]


def poisson_weights(
    keys: np.ndarray, replicates: int, seed: int, reuse: bool = False
) -> np.ndarray:
    """``(len(keys), replicates)`` Poisson(1) counts (uint8), a pure function of
    (seed, key, replicate).

    A row's weights depend on its global index (or its group's key) and nothing else, so the
    bootstrap is identical for any chunking, worker count or engine. Each SplitMix64 hash of
    ``(seed, key, j)`` gives four 16-bit uniforms (replicates ``4j .. 4j+3``), mapped to counts
    through the Poisson(1) quantile function at 16-bit resolution (``_POISSON1``, computed as
    comparisons with ``_THRESHOLDS``). With ``reuse`` the result (and the temporaries) live in
    this thread's scratch memory, valid until the next call.
    """
    k = np.asarray(keys).astype(np.uint64, copy=False).reshape(-1)
    s = _splitmix64(np.array(seed & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64))
    base = _splitmix64(k ^ s)
    words = (replicates + 3) // 4

    def buffer(slot: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return scratch(slot, shape, dtype) if reuse else np.empty(shape, dtype)

    h = buffer("poisson-h", (k.size, words), np.uint64)
    with np.errstate(over="ignore"):
        np.add(base[:, None], np.arange(words, dtype=np.uint64)[None, :] * _GOLDEN, out=h)
    _splitmix64_inplace(h, buffer("poisson-t", h.shape, np.uint64))
    u16 = h.astype("<u8", copy=False).view("<u2").reshape(k.size, 4 * words)[:, :replicates]
    w = buffer("poisson-w", u16.shape, np.uint8)
    hit = buffer("poisson-hit", u16.shape, np.bool_)
    np.greater_equal(u16, _THRESHOLDS[0], out=w.view(np.bool_))
    for t in _THRESHOLDS[1:]:
        np.greater_equal(u16, t, out=hit)
        w += hit.view(np.uint8)
    return w


def _plain(v: np.ndarray) -> bool:
    """Finite and far from overflow (NaN fails both comparisons)."""
    return v.size == 0 or (float(v.min()) >= -1e300 and float(v.max()) <= 1e300)


def _small_integers(v: np.ndarray, rows: int) -> bool:
    """Whole numbers small enough that every partial sum of ``rows`` weighted values is an
    exact float64 integer: then any order of addition gives the pairwise tree's result."""
    if v.size == 0:
        return True
    big = max(-float(v.min()), float(v.max()))
    if not big * len(_THRESHOLDS) * rows < 2.0**52 or not np.all(v == np.floor(v)):
        return False
    # -0.0: a block of them sums to -0.0 pairwise, +0.0 through BLAS
    return not np.any(np.signbit(v) & (v == 0.0))


def group_keys(group: np.ndarray) -> np.ndarray:
    """Stable 64-bit keys for group labels: integers as themselves, anything else (strings,
    floats, bytes) hashed from its text, so the same label gets the same key in every chunk."""
    g = np.asarray(group).reshape(-1)
    if g.dtype.kind in "iub":
        return g.astype(np.int64).astype(np.uint64)
    out = np.empty(g.size, dtype=np.uint64)
    todo = np.ones(g.size, dtype=bool)
    if g.dtype.kind == "O":  # integers beside missing values: each integer its own key, as above
        whole = np.array([isinstance(v, int | np.integer) and not isinstance(v, bool) for v in g.tolist()])
        if whole.any():
            out[whole] = np.array([int(v) for v in g[whole]], dtype=np.int64).astype(np.uint64)
            todo = ~whole
    if g.dtype.kind == "f":  # 3.0 from a CSV is the group 3, in every chunk
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(g) & (g == np.floor(g)) & (np.abs(g) < 2.0**63)
        out[whole] = g[whole].astype(np.int64).astype(np.uint64)
        todo = ~whole
    if todo.any():
        uniq, inv = np.unique(g[todo].astype(str), return_inverse=True)
        hashed = np.array(
            [_hash64(s) for s in uniq.tolist()],
            dtype=np.uint64,
        )
        out[todo] = hashed[inv.reshape(-1)]
    return out


def _hash64(text: str) -> int:
    import hashlib  # only for text group labels (~3 ms of start-up otherwise)

    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


#: Positions are hashed into this many buckets, and a bucket's positions share their weights.
BUCKETS = 1 << 14
#: Positions per aligned span: a span's bucket sums are one ``np.bincount`` over its positions in
#: position order, so they do not depend on where the chunks of a run end.
SPAN = 1 << 16
_BUCKET_SALT = np.uint64(0x2545F4914F6CDD1D)


def bucket_of(keys: np.ndarray, seed: int) -> np.ndarray:
    """The bucket (``0 .. BUCKETS-1``) of each key: the top bits of a SplitMix64 hash of
    ``(seed, key)``, a pure function of the two, independent of the weights' own hash. The
    result lives in this thread's scratch memory, valid until the next call."""
    k = np.asarray(keys).astype(np.uint64, copy=False).reshape(-1)
    s = _splitmix64(np.array(seed & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64) ^ _BUCKET_SALT)
    h = np.bitwise_xor(k, s, out=scratch("bucket-h", k.shape, np.uint64))
    _splitmix64_inplace(h, scratch("bucket-t", h.shape, np.uint64))
    h >>= np.uint64(64 - (BUCKETS.bit_length() - 1))
    out: np.ndarray = h.view(np.intp)  # < 2**14: the same bits as signed
    return out


def bootstrap_weights(keys: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """The ``(len(keys), replicates)`` Poisson(1) weights :class:`BootstrapSums` gives positions
    with these keys: their buckets' weights."""
    return poisson_weights(bucket_of(keys, seed).astype(np.uint64), replicates, seed)


class _Replicates:
    """``series`` per-position series, ``replicates`` Poisson(1) replicates, ``seed``."""

    def __init__(self, series: int, replicates: int, seed: int) -> None:
        if replicates < 1:
            raise ValueError("replicates must be positive")
        self.series = series
        self.replicates = replicates
        self.seed = seed


class BootstrapSums(_Replicates):
    """Poisson bootstrap replicate sums of several per-position series at once.

    Each position's key (its global index, or its group's key) is hashed into one of
    :data:`BUCKETS` buckets, and every position of a bucket gets the bucket's Poisson(1) weight
    in each replicate: the weights are still a pure function of (seed, key, replicate), but the
    streaming pass only adds each position's values into its bucket, a few nanoseconds a
    position instead of a draw per position and replicate. :meth:`value` then draws the
    ``(buckets, B)`` weights once, over the occupied buckets, and returns the ``(S, B)``
    replicate sums ``sum_i w[bucket_i, b] * series[s][i]``. Sharing the weights between series
    is what makes a ratio (loss / weight) and a paired difference (model B - model A) resample
    the same rows.

    Resampling random buckets of positions instead of positions keeps the bootstrap's variance:
    a bucket's positions are an independent random draw from all positions, so the
    cross-products of their deviations from the mean cancel in expectation (the variance is
    ``1 - 1/BUCKETS`` of the positions' own). A fixed assignment (say, position modulo the
    number of buckets) would not do: on data sorted by loss it would shrink the interval.
    That cancellation needs a ratio (the mean: loss over weight, both drawn alike). A *sum*
    resampled by buckets would carry the variance of the buckets' totals, ``sum_k S_k**2``,
    about ``(sum_i l_i)**2 / BUCKETS`` more than the positions' ``sum_i l_i**2``: with
    ``per_position`` (``--reduction sum``) each position gets its own draw instead, at the
    cost of a draw per position and replicate.

    A bucket's sum is the ``np.bincount`` of an aligned :data:`SPAN` of positions in position
    order, then the spans' sums are added over the binary tree of their indices
    (:class:`TreeSum`): a span cut by a chunk boundary waits (``pending``) until its other
    pieces arrive, from the next chunk or a merged partial. So the interval is identical to the
    last bit for any chunking, worker count or engine.
    """

    def __init__(
        self, series: int, replicates: int, seed: int, per_position: bool = False
    ) -> None:
        super().__init__(series, replicates, seed)
        # a sum (not a ratio) needs a draw per position: see the class docstring
        self.positions = _RowBootstrap(series, replicates, seed) if per_position else None
        self.spans = TreeSum((series, BUCKETS))  # complete spans, each a leaf at its index
        # pieces of spans not seen whole: (first position, buckets, (S, n) values), and how many
        # positions of each such span they hold
        self.pending: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.filled: dict[int, int] = {}

    def spawn(self) -> BootstrapSums:
        return BootstrapSums(self.series, self.replicates, self.seed, self.positions is not None)

    def add(self, start: int, keys: np.ndarray, series: list[np.ndarray]) -> None:
        """Add the values of positions ``start .. start+n-1`` (their keys, one array a series)."""
        n = keys.shape[0]
        if self.positions is not None:
            self.positions.add(start, keys, series)
            return
        if n == 0:
            return
        buckets = bucket_of(keys, self.seed)
        values = scratch("bucket-values", (self.series, n))
        for s, v in enumerate(series):
            values[s] = np.asarray(v).reshape(-1)
        pos, off = start, 0
        while off < n:
            end = min(n, off + SPAN - pos % SPAN)
            if pos % SPAN == 0 and end - off == SPAN:
                self._push(pos // SPAN, buckets[off:end], values[:, off:end])
            else:  # kept compact: a bucket fits 16 bits
                self._pend((pos, buckets[off:end].astype(np.uint16), values[:, off:end].copy()))
            pos, off = pos + end - off, end

    def merge(self, other: BootstrapSums) -> None:
        """Add a partial of the positions that come after this one's (in position order)."""
        if self.positions is not None and other.positions is not None:
            self.positions.sums.merge(other.positions.sums)
            return
        first = _first_span(other.spans)
        for piece in other.pending:  # other's first span: may complete one of ours
            if first is None or piece[0] // SPAN < first:
                self._pend(piece)
        with _sums_may_not_overflow():
            self.spans.merge(other.spans)
        for piece in other.pending:  # other's last span: after its complete ones
            if first is not None and piece[0] // SPAN > first:
                self._pend(piece)

    def value(self) -> np.ndarray:
        """``(S, B)`` replicate sums."""
        if self.positions is not None:
            return self.positions.value()
        totals = self._bucket_totals()
        occupied = np.flatnonzero(np.any(totals != 0.0, axis=0))
        draws = _RowBootstrap(self.series, self.replicates, self.seed)
        if occupied.size:
            draws.add(0, occupied.astype(np.uint64), [t[occupied] for t in totals])
        return draws.value()

    def _bucket_totals(self) -> np.ndarray:
        """``(S, BUCKETS)`` sums of the positions of each bucket: the spans still pending (the
        last one, or the first of a run that does not start at 0) are summed as they are."""
        first = _first_span(self.spans)
        tree = TreeSum((self.series, BUCKETS))
        head = [p for p in self.pending if first is not None and p[0] // SPAN < first]
        tail = [p for p in self.pending if first is None or p[0] // SPAN > first]
        with _sums_may_not_overflow():
            for pieces in (head, None, tail):
                if pieces is None:
                    tree.merge(self.spans)
                    continue
                for span in sorted({p[0] // SPAN for p in pieces}):
                    part = [p for p in pieces if p[0] // SPAN == span]
                    tree.add_node(0, span, self._pieces_sums(part))
        return tree.value()

    def _pend(self, piece: tuple[int, np.ndarray, np.ndarray]) -> None:
        span = piece[0] // SPAN
        self.pending.append(piece)
        self.filled[span] = self.filled.get(span, 0) + piece[1].size
        if self.filled[span] == SPAN:  # whole: its sums join the tree
            del self.filled[span]
            mine = [p for p in self.pending if p[0] // SPAN == span]
            self.pending = [p for p in self.pending if p[0] // SPAN != span]
            with _sums_may_not_overflow():
                self.spans.add_node(0, span, self._pieces_sums(mine))

    def _push(self, span: int, buckets: np.ndarray, values: np.ndarray) -> None:
        """Add a whole span: ``np.bincount`` adds each position's value to its bucket in
        position order, starting from 0.0."""
        node = np.empty((self.series, BUCKETS))
        for s in range(self.series):
            node[s] = np.bincount(buckets, weights=values[s], minlength=BUCKETS)
        _check_finite(node, [values])
        with _sums_may_not_overflow():
            self.spans.add_node(0, span, node)

    def _pieces_sums(self, pieces: list[tuple[int, np.ndarray, np.ndarray]]) -> np.ndarray:
        """The bucket sums of a span's pieces: the same additions in the same order as
        :meth:`_push` makes on the whole span (``np.add.at`` adds one position after another,
        like ``np.bincount``), without joining the pieces first."""
        node = np.zeros((self.series, BUCKETS))
        for _, buckets, values in sorted(pieces, key=lambda p: p[0]):
            for s in range(self.series):
                np.add.at(node[s], buckets, values[s])
        _check_finite(node, [p[2] for p in pieces])
        return node


def _first_span(tree: TreeSum) -> int | None:
    """The index of the first span in a tree of spans (None when it has none)."""
    if not tree.stack:
        return None
    level, index = tree.stack[0][:2]
    return index << level


def _check_finite(node: np.ndarray, values: list[np.ndarray]) -> None:
    """``np.bincount`` and ``np.add.at`` overflow silently: finite values whose bucket sum is
    not finite are the overflow error."""
    if not np.isfinite(node).all() and all(np.isfinite(v).all() for v in values):
        raise _overflow()


class _RowBootstrap(_Replicates):
    """Replicate sums ``sum_i w[key_i, b] * series[s][i]`` with a weight draw per position.

    :class:`BootstrapSums` uses it once, at the end, over the occupied buckets. ``add(start,
    keys, series)`` draws the ``(n, B)`` weights of the keys once and adds the weighted series
    into a :class:`TreeSum` of shape ``(S, B)``.
    """

    #: Positions per block of the general path: bounds the ``(block, S, B)`` temporaries
    #: (~16 MiB at S=2, B=1000).
    BLOCK = 1 << 10
    #: Positions per aligned block of the fast path (a power of two):
    #: its three ``(rows, B)`` float64 buffers (2.5 MiB at B=1000) stay in cache.
    ROWS = 1 << 7

    def __init__(self, series: int, replicates: int, seed: int) -> None:
        super().__init__(series, replicates, seed)
        self.sums = TreeSum((series, replicates))

    def add(self, start: int, keys: np.ndarray, series: list[np.ndarray]) -> None:
        """Add ``sum_i w[i, b] * series[s][i]`` over positions ``start .. start+n-1``.

        Whole aligned blocks of :attr:`ROWS` positions go through :meth:`_add_blocks`, which
        computes each block's tree node exactly as the general path would (the same products,
        the same pairwise additions, or an exact integer sum), only without the big
        temporaries; the ragged ends, and chunks with a non-finite or huge value, take the
        general path. The sums are therefore identical whichever path a position takes."""
        n = keys.shape[0]
        values = [np.asarray(v, dtype=np.float64).reshape(-1) for v in series]
        R = self.ROWS
        head = min(n, -start % R)
        full = (n - head) // R * R
        if full and all(_plain(v) for v in values):
            if head:
                self._add_general(start, keys[:head], [v[:head] for v in values])
            a, b = head, head + full
            self._add_blocks(start + a, keys[a:b], [v[a:b] for v in values])
            if b < n:
                self._add_general(start + b, keys[b:], [v[b:] for v in values])
        else:
            self._add_general(start, keys, values)

    def _add_general(self, start: int, keys: np.ndarray, series: list[np.ndarray]) -> None:
        n = keys.shape[0]
        B = self.replicates
        step = max(1, self.BLOCK * 1000 // max(B, 1))
        for a in range(0, n, step):
            b = min(n, a + step)
            w = poisson_weights(keys[a:b], B, self.seed, reuse=True)
            block = scratch("bootstrap-block", (b - a, self.series, B))
            for s, v in enumerate(series):
                v = v[a:b]
                if np.isfinite(v).all():
                    np.multiply(v[:, None], w, out=block[:, s, :])
                else:  # 0 * inf is NaN: an undrawn row must contribute exactly 0
                    with np.errstate(invalid="ignore"):
                        block[:, s, :] = np.where(w > 0, v[:, None] * w, 0.0)
            self.sums.add(start + a, block)

    def _add_blocks(self, start: int, keys: np.ndarray, series: list[np.ndarray]) -> None:
        """Aligned blocks of ROWS positions (``start`` a multiple of ROWS, finite values): each
        block's ``(S, B)`` node is the pairwise sum of ``w * v`` over its rows, or for a series
        of small integers (the usual denominators: 0/1 masks, integer class weights) their
        exact sum, which a BLAS product gives in any order."""
        R, B = self.ROWS, self.replicates
        level = R.bit_length() - 1
        wf = scratch("bootstrap-weights", (R, B))
        ping, pong = scratch("bootstrap-ping", (R, B)), scratch("bootstrap-pong", (R // 2, B))
        exact = [_small_integers(v, R) for v in series]
        for a in range(0, keys.shape[0], R):
            np.copyto(wf, poisson_weights(keys[a : a + R], B, self.seed, reuse=True), casting="unsafe")
            node = np.empty((self.series, B))
            for s, v in enumerate(series):
                if exact[s]:
                    np.matmul(v[a : a + R], wf, out=node[s])
                    continue
                np.multiply(wf, v[a : a + R, None], out=ping)
                _halve_into(ping, pong, node[s])
            self.sums.add_node(level, (start + a) >> level, node)

    def value(self) -> np.ndarray:
        """``(S, B)`` replicate sums."""
        return self.sums.value()
