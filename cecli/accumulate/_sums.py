"""Mergeable sums: compensated float sums, a loss histogram, Poisson bootstrap weights."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


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


# Histogram of per-position losses: an exact-zero bin, then 100 log-spaced bins per decade from
# 1e-8 to 1e4 (2.3% wide, so quantiles read from it are within about 1.2%), then an overflow bin.
HIST_LO, HIST_HI, HIST_PER_DECADE = -8, 4, 100
HIST_BINS = (HIST_HI - HIST_LO) * HIST_PER_DECADE
HIST_EDGES = 10.0 ** (HIST_LO + np.arange(HIST_BINS + 1) / HIST_PER_DECADE)


class LossHistogram:
    """A fixed-bin histogram of non-negative losses, mergeable by adding counts."""

    __slots__ = ("counts", "max", "min", "n")

    def __init__(self) -> None:
        self.counts = np.zeros(HIST_BINS + 3, dtype=np.int64)  # [0], bins..., [>=1e4], [nan]
        self.n = 0
        self.max = -np.inf
        self.min = np.inf

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        v = values
        nan = np.isnan(v)
        with np.errstate(divide="ignore", invalid="ignore"):
            idx = np.floor((np.log10(v) - HIST_LO) * HIST_PER_DECADE)
        idx = np.where(v <= 0, -1, idx)
        idx = np.clip(idx, -1, HIST_BINS) + 1
        idx = np.where(nan, HIST_BINS + 2, idx).astype(np.intp)
        self.counts += np.bincount(idx, minlength=self.counts.size)
        finite = v[~nan]
        if finite.size:
            self.max = max(self.max, float(finite.max()))
            self.min = min(self.min, float(finite.min()))
        self.n += v.size

    def merge(self, other: LossHistogram) -> None:
        self.counts += other.counts
        self.n += other.n
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)

    def quantile(self, q: float) -> float:
        """The q-quantile, interpolated log-linearly inside its bin, clipped to [min, max]."""
        valid = self.counts[:-1]
        total = int(valid.sum())
        if total == 0:
            return float("nan")
        rank = q * total
        cum = np.cumsum(valid)
        i = int(np.searchsorted(cum, rank, side="left"))
        i = min(i, valid.size - 1)
        before = cum[i - 1] if i else 0
        frac = (rank - before) / valid[i] if valid[i] else 0.0
        if i == 0:
            value = 0.0
        elif i == valid.size - 1:
            value = self.max
        else:
            lo, hi = np.log10(HIST_EDGES[i - 1]), np.log10(HIST_EDGES[i])
            value = float(10.0 ** (lo + frac * (hi - lo)))
        return float(min(max(value, self.min), self.max))

    def coarse(self, bins: int = 24) -> tuple[list[float], list[int]]:
        """Counts over ``bins`` equal-width bins between 0 and the largest finite loss."""
        if self.n == 0 or not np.isfinite(self.max):
            return [], []
        top = self.max if self.max > 0 else 1.0
        edges = np.linspace(0.0, top, bins + 1)
        centres = np.concatenate([[0.0], np.sqrt(HIST_EDGES[:-1] * HIST_EDGES[1:]), [top]])
        counts = np.histogram(
            np.minimum(centres, top), bins=edges, weights=self.counts[:-1].astype(float)
        )[0]
        return edges.tolist(), [int(c) for c in counts]


# ---------------------------------------------------------------------------------------------
# Poisson(1) bootstrap weights that depend only on (seed, key, replicate).

_POISSON1_CDF = np.cumsum(
    [np.exp(-1.0) / float(np.prod(np.arange(1, k + 1), dtype=np.float64)) for k in range(24)]
)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def poisson_weights(keys: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """``(len(keys), replicates)`` Poisson(1) counts, a pure function of (seed, key, replicate).

    A row's weights depend on its global index (or its group's key) and nothing else, so the
    bootstrap is identical for any chunking, worker count or engine.
    """
    k = keys.astype(np.uint64, copy=False)
    base = _splitmix64(k ^ _splitmix64(np.uint64(seed & 0xFFFFFFFFFFFFFFFF)))
    with np.errstate(over="ignore"):
        h = _splitmix64(base[:, None] + np.arange(replicates, dtype=np.uint64)[None, :] * _GOLDEN)
    u = (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return np.searchsorted(_POISSON1_CDF, u, side="right").astype(np.float64)


def group_keys(group: np.ndarray) -> np.ndarray:
    """Stable 64-bit keys for group labels: integers as themselves, anything else hashed."""
    g = np.asarray(group)
    if g.dtype.kind in "iu":
        return g.astype(np.uint64)
    uniq, inv = np.unique(g.astype(str), return_inverse=True)
    hashed = np.array(
        [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in uniq],
        dtype=np.uint64,
    )
    # Offset so string groups never collide with small integer row indices by construction.
    return hashed[inv.reshape(-1)] ^ np.uint64(0x5BD1E9955BD1E995)
