"""Counts of (target, prediction) pairs of misclassified positions: the top confusions.

A dense C x C matrix is out of the question for LLM vocabularies (256k classes: 2^36 cells),
and the report wants only the most frequent pairs. :class:`PairCounts` holds the distinct
confused pairs seen so far as two sorted arrays (``key = target * C + prediction``, count),
merged with NumPy (no Python loop over pairs). It is exact while at most ``cap`` distinct pairs
occur; beyond that the rarest are dropped (the Misra-Gries idea), so a pair's count may then be
short by at most ``dropped`` (the largest count ever dropped): :meth:`top` says so.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PAIR_CAP", "PairCounts"]

#: Distinct confused pairs held exactly (two int64 arrays: 1 MiB).
PAIR_CAP = 1 << 16


class PairCounts:
    """Mergeable counts of int64 pair keys (see the module docstring)."""

    __slots__ = ("cap", "counts", "dropped", "keys")

    def __init__(self, cap: int = PAIR_CAP) -> None:
        self.cap = cap
        self.keys = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)
        self.dropped = 0  # the largest count dropped: 0 while exact

    def add(self, keys: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Count ``keys`` (each once, or ``counts`` times)."""
        if keys.size == 0:
            return
        if counts is None:
            counts = np.ones(keys.size, dtype=np.int64)
        allk = np.concatenate([self.keys, keys.astype(np.int64, copy=False)])
        allc = np.concatenate([self.counts, counts.astype(np.int64, copy=False)])
        self.keys, inv = np.unique(allk, return_inverse=True)
        self.counts = np.bincount(inv.reshape(-1), weights=allc, minlength=self.keys.size).astype(np.int64)
        if self.keys.size > self.cap:
            # keep the cap // 2 most frequent (ties: the smaller key), in key order
            order = np.lexsort((self.keys, -self.counts))
            gone = order[self.cap // 2 :]
            self.dropped = max(self.dropped, int(self.counts[gone].max()))
            keep = np.sort(order[: self.cap // 2])
            self.keys, self.counts = self.keys[keep], self.counts[keep]

    def merge(self, other: PairCounts) -> None:
        self.add(other.keys, other.counts)
        self.dropped = max(self.dropped, other.dropped)

    def top(self, n: int, classes: int) -> list[dict[str, int]]:
        """The ``n`` most frequent pairs (ties: the smaller target, then prediction), each as
        ``{"target", "pred", "count"}``."""
        order = np.lexsort((self.keys, -self.counts))[:n]
        return [
            {"target": int(k // classes), "pred": int(k % classes), "count": int(c)}
            for k, c in zip(self.keys[order].tolist(), self.counts[order].tolist(), strict=True)
        ]
