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

import hashlib
import math
import threading
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


def _halve(x: np.ndarray, levels: int | None = None) -> np.ndarray:
    """Pairwise sums of aligned runs of ``2**levels`` rows (all rows by default):
    ``x[0::2] + x[1::2]``, repeated. Elementwise adds only, so the rounding never depends on SIMD
    width, memory alignment or threads. The result lives in this thread's scratch memory (two
    slots used in turn): copy what must outlive the next call."""
    steps = x.shape[0].bit_length() - 1 if levels is None else levels
    try:
        with np.errstate(over="raise"):  # finite + finite = inf: a wrong number, not a sum
            for i in range(steps):
                out = scratch(f"halve{i & 1}", (x.shape[0] // 2, *x.shape[1:]), x.dtype)
                x = np.add(x[0::2], x[1::2], out=out)
    except FloatingPointError:
        raise DataError(
            "a sum of the weighted losses overflows float64 (weights or losses near 1e308)",
            fix="scale --weight / the sample weights down (the mean does not change)",
        ) from None
    return x


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


def poisson_weights(
    keys: np.ndarray, replicates: int, seed: int, reuse: bool = False
) -> np.ndarray:
    """``(len(keys), replicates)`` Poisson(1) counts (uint8), a pure function of
    (seed, key, replicate).

    A row's weights depend on its global index (or its group's key) and nothing else, so the
    bootstrap is identical for any chunking, worker count or engine. Each SplitMix64 hash of
    ``(seed, key, j)`` gives four 16-bit uniforms (replicates ``4j .. 4j+3``), mapped to counts
    through a 65536-entry table of the Poisson(1) quantile function. With ``reuse`` the result
    (and the temporaries) live in this thread's scratch memory, valid until the next call.
    """
    k = np.asarray(keys).astype(np.uint64, copy=False).reshape(-1)
    s = _splitmix64(np.array(seed & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64))
    base = _splitmix64(k ^ s)
    words = (replicates + 3) // 4
    h = scratch("poisson-h", (k.size, words), np.uint64) if reuse else None
    with np.errstate(over="ignore"):
        h = np.add(base[:, None], np.arange(words, dtype=np.uint64)[None, :] * _GOLDEN, out=h)
    _splitmix64_inplace(h, scratch("poisson-t", h.shape, np.uint64) if reuse else None)
    u16 = h.astype("<u8", copy=False).view("<u2").reshape(k.size, 4 * words)[:, :replicates]
    if not reuse:
        return np.asarray(_POISSON1[u16])
    out = scratch("poisson-w", u16.shape, np.uint8)
    # every index is in range: "clip" only spares take() its buffered copy
    return np.take(_POISSON1, u16, out=out, mode="clip")


def group_keys(group: np.ndarray) -> np.ndarray:
    """Stable 64-bit keys for group labels: integers as themselves, anything else (strings,
    floats, bytes) hashed from its text, so the same label gets the same key in every chunk."""
    g = np.asarray(group).reshape(-1)
    if g.dtype.kind in "iub":
        return g.astype(np.int64).astype(np.uint64)
    out = np.empty(g.size, dtype=np.uint64)
    todo = np.ones(g.size, dtype=bool)
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
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class BootstrapSums:
    """Poisson bootstrap replicate sums of several per-position series at once.

    ``add(start, keys, series)`` draws the ``(n, B)`` weights of the positions' keys once and adds
    ``sum_i w[i, b] * series[s][i]`` for every series ``s`` into a :class:`TreeSum` of shape
    ``(S, B)``. Sharing the weights between series is what makes a ratio (loss / weight) and a
    paired difference (model B - model A) resample the same rows.
    """

    #: Positions per block: bounds the ``(block, S, B)`` temporaries (~16 MiB at S=2, B=1000).
    BLOCK = 1 << 10

    def __init__(self, series: int, replicates: int, seed: int) -> None:
        if replicates < 1:
            raise ValueError("replicates must be positive")
        self.series = series
        self.replicates = replicates
        self.seed = seed
        self.sums = TreeSum((series, replicates))

    def spawn(self) -> BootstrapSums:
        return BootstrapSums(self.series, self.replicates, self.seed)

    def add(self, start: int, keys: np.ndarray, series: list[np.ndarray]) -> None:
        n = keys.shape[0]
        B = self.replicates
        step = max(1, self.BLOCK * 1000 // max(B, 1))
        for a in range(0, n, step):
            b = min(n, a + step)
            w = poisson_weights(keys[a:b], B, self.seed, reuse=True)
            block = scratch("bootstrap-block", (b - a, self.series, B))
            for s, values in enumerate(series):
                v = np.asarray(values[a:b], dtype=np.float64)
                if np.isfinite(v).all():
                    np.multiply(v[:, None], w, out=block[:, s, :])
                else:  # 0 * inf is NaN: an undrawn row must contribute exactly 0
                    with np.errstate(invalid="ignore"):
                        block[:, s, :] = np.where(w > 0, v[:, None] * w, 0.0)
            self.sums.add(start + a, block)

    def merge(self, other: BootstrapSums) -> None:
        self.sums.merge(other.sums)

    def value(self) -> np.ndarray:
        """``(S, B)`` replicate sums."""
        return self.sums.value()
