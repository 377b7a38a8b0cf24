"""Per-row checks for inputs that are probably a mistake, and sklearn's reading of probabilities.

Each check is a small function fed by values the kernel already has per position (the maximum
over the classes, the validity mask), so that on the common input it costs an O(positions) pass,
never another pass over the ``positions x classes`` values. The counts they return are merged
by the accumulators and worded as warnings by the api.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import DataError

#: How far a row's probabilities may sum from 1 (or its log-sum-exp sit from 0) and still be
#: read as a distribution: the tolerance of the ``--input probs`` "do not sum to 1" warning.
DIST_TOL = 1e-4


def probs_clip(dtype: np.dtype) -> tuple[float, float]:
    """``(eps, 1 - eps)`` with ``eps = finfo(dtype).eps`` of the *input's* dtype: the interval
    sklearn's ``log_loss`` clips probabilities to (float64 for integer input)."""
    dt = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float64)
    eps = dt.type(np.finfo(dt).eps)
    return float(eps), float(dt.type(1) - eps)


def binary_probs(x3: np.ndarray) -> np.ndarray:
    """sklearn's binary form: one column of positive-class probabilities ``(R, 1, D)`` becomes
    ``(R, 2, D)`` ``[1 - p, p]``, computed in the input's dtype as ``log_loss`` does."""
    p = x3[:, :1, :]
    return np.concatenate([p.dtype.type(1) - p, p], axis=1)


def looks_like_probs(
    X: np.ndarray,
    m: np.ndarray,
    valid: np.ndarray | None,
    class_axis: int,
    rowsum: Callable[[], np.ndarray],
) -> bool:
    """Whether every counted position of a laid-out tile holds probabilities: values in
    ``[0, 1]`` summing to 1 within :data:`DIST_TOL` (what ``--input probs`` expects).

    ``m`` is the tile's per-position maximum (the kernel has it). Real logits fail on it, a
    free test; only a tile whose maxima all lie in ``[0, 1]`` pays for the minimum and the sum
    (``rowsum()``: the float64 per-position sums, computed only then).
    """
    mv = m if valid is None else m[valid]
    if mv.size == 0:
        return True
    if not (float(mv.min()) >= 0.0 and float(mv.max()) <= 1.0):
        return False
    lo = np.minimum.reduce(X, axis=class_axis)
    ok = (lo >= 0) & (np.abs(rowsum() - 1.0) <= DIST_TOL)
    return bool(ok.all() if valid is None else ok[valid].all())


def not_logprobs(m: np.ndarray, num_classes: int, valid: np.ndarray | None) -> np.ndarray:
    """Positions whose values cannot be log-probabilities, judged from their maximum alone:
    above 0 (a probability above 1), or so low that even ``C`` classes at the maximum cannot
    sum to 1 (``max + log C < 0``). Either way the log-sum-exp is more than :data:`DIST_TOL`
    from 0. A row of log-probabilities passes; logits with a positive maximum (nearly all) do
    not. All ``-inf`` rows and NaN are left to the other checks."""
    low = -math.log(max(num_classes, 1)) - DIST_TOL
    if m.size and float(m.min()) >= low and float(m.max()) <= DIST_TOL:
        return np.zeros(m.shape, dtype=bool)  # the common case, in two quick passes (NaN fails)
    with np.errstate(invalid="ignore"):
        far = (m > DIST_TOL) | ((m < low) & (m > -np.inf))
    return far if valid is None else far & valid


def sample_weight_findings(sw: np.ndarray, first_row: int) -> tuple[int, int]:
    """``(number of negative weights, first row of one)`` of a chunk of per-row sample
    weights (``-1`` when none); a NaN or infinite weight is a data error naming its row.

    A NaN weight makes the weighted sum NaN whatever the other rows hold (an empty cell is
    already refused by the readers; ``nan`` spelled out is the same missing value). Negative
    weights are what sklearn accepts, so they are counted, and warned about, not refused.
    """
    w = np.asarray(sw, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(w)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{int(np.count_nonzero(bad))} sample weight(s) are NaN or infinite, the first",
            row=first_row + i,
            value=float(w[i]),
            fix="fill or drop those rows of the --sample-weight-col column (a missing weight "
            "has no right value)",
            about="sample_weight",
        )
    neg = w < 0
    if not neg.any():
        return 0, -1
    return int(np.count_nonzero(neg)), first_row + int(np.flatnonzero(neg)[0])
