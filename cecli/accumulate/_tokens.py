"""Target log-probabilities (``--input target-logprobs``): kernel views and per-group sums.

Each position holds only ``lp``, the log-probability of its realised token. It is read as
log-probabilities of a single class with the target 0, so the cross-entropy kernel gives
``-lp`` per position and every reduction, interval and output as for any other input. A
position is ignored when its target (if a target column is given: the token ids) equals
``ignore_index``, or when its log-probability is missing (a null: the first token, which no
model predicts). NaN or +inf in a counted position is a data error like any non-finite
prediction; ``-inf`` (a token given probability 0) gives an infinite loss.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import DIST_TOL, as_float
from ..errors import DataError
from ._sums import group_keys

__all__ = ["IGNORED", "GroupSums", "lp_views"]

IGNORED = -1
"""The kernel's mark of an ignored position (its one class is 0; the spec's ``ignore_index``
is only compared with the target column)."""


def lp_views(
    preds: Any, target: Any, ignore_index: int, missing: Any = None
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(x3, t3, rows, positions per row)``: ``x3`` ``(n, 1, positions)``, ``t3`` 0 where
    counted and :data:`IGNORED` where not."""
    x = as_float(preds)
    if x.ndim < 1:
        raise DataError("target log-probabilities must be (rows,) or (rows, positions)")
    n = x.shape[0]
    x3 = x.reshape(n, 1, -1)
    per_pos = x3.shape[2]
    skip = np.zeros(x.shape, dtype=bool)
    if target is not None:
        t = np.asarray(target)
        if t.shape != x.shape:
            exc = DataError(
                f"targets have shape {t.shape[1:]} per row but the log-probabilities "
                f"{x.shape[1:]}",
                fix="give one target (token id) per log-probability",
            )
            exc.about = "target"
            raise exc
        skip |= t == ignore_index
    if missing is not None:
        skip |= np.asarray(missing, dtype=bool).reshape(x.shape)
    t3 = np.where(skip, IGNORED, 0).astype(np.int64).reshape(n, per_pos)
    return x3, t3, n, max(1, per_pos)


def check_token_logprobs(x3: np.ndarray, t3: np.ndarray, start: int) -> None:
    """A counted value above 0 (beyond rounding, :data:`~cecli.core.DIST_TOL`) is no
    log-probability: its loss would be negative. Logits, or probabilities, read as target
    log-probabilities are the usual cause; a DataError names the first such row."""
    with np.errstate(invalid="ignore"):
        bad = (x3[:, 0, :] > DIST_TOL) & (t3 != IGNORED)
    if bad.any():
        row, pos = (int(i[0]) for i in np.nonzero(bad))
        raise DataError(
            f"{int(np.count_nonzero(bad))} value(s) above 0 cannot be log-probabilities "
            "(their loss would be negative), the first",
            row=start + row,
            value=float(x3[row, 0, pos]),
            fix="--input target-logprobs reads each realised token's log-probability (<= 0); "
            "for logits or probabilities use --input logits or probs",
        )


class GroupSums:
    """Per group (document): loss sum, mean denominator, counted positions, bytes; groups in
    the order they first appear (chunks are merged in order)."""

    def __init__(self) -> None:
        self.keys: dict[Any, int] = {}
        self.labels: list[Any] = []
        self.sums = np.zeros((0, 4), dtype=np.float64)

    def add(
        self,
        group: Any,
        loss: np.ndarray,
        denom: np.ndarray,
        counted: np.ndarray,
        nbytes: np.ndarray | None,
    ) -> None:
        g = np.asarray(group).reshape(-1)
        if g.size == 0:
            return
        keys = group_keys(g)
        uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        cols = [loss, denom, counted.astype(np.float64)]
        cols.append(np.zeros(g.size) if nbytes is None else np.asarray(nbytes, np.float64))
        part = np.stack([np.bincount(inv, weights=c, minlength=uniq.size) for c in cols], 1)
        for j in np.argsort(first, kind="stable"):
            self._add(int(uniq[j]), g[first[j]], part[j])

    def _add(self, key: int, label: Any, row: np.ndarray) -> None:
        i = self.keys.get(key)
        if i is None:
            i = self.keys[key] = len(self.labels)
            self.labels.append(label.item() if hasattr(label, "item") else label)
            if i >= self.sums.shape[0]:
                grown = np.zeros((max(16, 2 * i), 4))
                grown[: self.sums.shape[0]] = self.sums
                self.sums = grown
        self.sums[i] += row

    def merge(self, other: GroupSums) -> None:
        for key, i in other.keys.items():
            self._add(key, other.labels[i], other.sums[i])

    def rows(self, with_bytes: bool) -> list[dict[str, Any]]:
        """One row per group: tokens counted, loss (mean), perplexity, bits per token (and
        bytes, bits per byte)."""
        out = []
        for i, label in enumerate(self.labels):
            loss_sum, denom, counted, nbytes = (float(v) for v in self.sums[i])
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = float(np.float64(loss_sum) / np.float64(denom))
                bpb = float(np.float64(loss_sum) / np.log(2.0) / np.float64(nbytes))
            row = {
                "group": label,
                "tokens": int(counted),
                "loss_sum": loss_sum,
                "loss": mean,
                "perplexity": _exp(mean),
                "bits_per_token": mean / math.log(2.0),
            }
            if with_bytes:
                row.update(bytes=nbytes, bits_per_byte=bpb)
            out.append(row)
        return out


def _exp(x: float) -> float:
    if x != x:
        return x
    return math.exp(x) if x < 700 else math.inf
