"""What the cross-entropy kernel gives for each position of a block (:class:`Positions`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Positions"]


@dataclass
class Positions:
    """Per-position results of a block, flattened to ``R * D`` entries (row-major).

    ``conf`` and ``target_prob`` are computed on first use (from the row sums the kernel keeps),
    so a run that reports neither pays nothing for them. ``target`` may share memory with the
    targets given to :func:`ce_positions`.
    """

    loss: np.ndarray  # float64, 0 where ignored
    denom: np.ndarray  # float64: w[y] for counted index targets, 1 for probability targets
    counted: np.ndarray  # bool
    target: np.ndarray  # int64 class index (argmax for probability targets)
    pred: np.ndarray  # int64 argmax of the predictions
    topk: np.ndarray | None = None  # bool, when top_k > 0
    nonfinite_rows: list[int] = field(default_factory=list)  # block-local rows (error mode)
    nonfinite_count: int = 0
    unnormalised_rows: int = 0  # probability rows whose sum is not 1 within 1e-4
    first_unnormalised: int = -1
    probs_like: bool = True  # logits: every counted position holds probabilities (a mistake?)
    not_logprob_rows: int = 0  # log-probabilities: positions that cannot be (their maximum)
    first_not_logprob: int = -1
    # conf = exp(top) / norm and target_prob = exp(tgt) / norm, per position, in the working
    # precision: for logits norm = sum_c exp(x_c - shift), top = max - shift, tgt = x_y - shift
    # (the shift is the maximum, or 0); for log-probabilities norm = 1 (None).
    _norm: np.ndarray | None = field(default=None, repr=False)
    _top: np.ndarray | None = field(default=None, repr=False)
    _tgt: np.ndarray | None = field(default=None, repr=False)
    _conf: np.ndarray | None = field(default=None, repr=False)
    _target_prob: np.ndarray | None = field(default=None, repr=False)

    @property
    def conf(self) -> np.ndarray:
        """float64 top-1 probability."""
        if self._conf is None:
            self._conf = self._prob(self._top)
        return self._conf

    @property
    def target_prob(self) -> np.ndarray:
        """float64 probability of the target class."""
        if self._target_prob is None:
            self._target_prob = self._prob(self._tgt)
        return self._target_prob

    def _prob(self, log_num: np.ndarray | None) -> np.ndarray:
        if self._tgt is None:
            raise ValueError("conf and target_prob are not computed by ce_positions(light=True)")
        n = self.loss.size
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            p = np.ones(n) if log_num is None else np.exp(log_num, dtype=np.float64)
            if self._norm is not None:
                p /= self._norm
        return p
