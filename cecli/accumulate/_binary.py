"""Sufficient statistics of binary / multi-label cross-entropy chunks (torch's
``BCEWithLogitsLoss`` and ``BCELoss``), merged exactly, finished once.

A chunk contributes its elements' losses to a :class:`TreeSum` over their global indices (so
the total is identical to the last bit for any chunk size or worker count), its element count
and how many elements the prediction gets right; ``mean`` is ``sum / elements`` as in torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import (
    as_float,
    bce_arrays,
    bce_elements,
    bce_grad_elements,
    bce_with_logits_elements,
    bce_with_logits_grad_elements,
    check_reduction,
    raise_nonfinite,
    reduce,
)
from ..errors import DataError, UsageError
from ._sums import TreeSum

__all__ = ["BCEResult", "BinaryAccumulator"]

BCE_INPUTS = ("logits", "probs")

#: Elements per row block inside a chunk (a float32 block is 1 MiB).
BLOCK_ELEMENTS = 1 << 18


@dataclass
class BCEResult:
    """Everything one binary cross-entropy evaluation reports (before formatting)."""

    loss: float
    reduction: str
    loss_sum: float
    elements: int  # what ``mean`` divides by: rows x labels
    rows: int
    labels: int  # 1 for ``(N,)`` predictions, C for ``(N, C)``
    accuracy: float  # (prediction > threshold) == (target > 0.5), over elements
    positives: float  # sum of the targets (the expected number of positive elements)


class BinaryAccumulator:
    """Streaming binary cross-entropy: ``update`` chunk by chunk, ``merge``, ``compute`` once.

    Predictions are ``(n,)`` (binary) or ``(n, C)`` (multi-label) logits, or probabilities with
    ``input_kind='probs'``; targets have the predictions' shape, with values in [0, 1].
    ``weight`` and ``pos_weight`` are one value or one per label (broadcast along the last
    axis, as torch does). Accuracy thresholds logits at 0 and probabilities at 0.5.

    Examples
    --------
    >>> import numpy as np, cecli
    >>> from cecli.accumulate import BinaryAccumulator
    >>> x = np.array([[2.0, -1.0], [0.5, 3.0]]); t = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> acc = BinaryAccumulator()
    >>> _ = acc.update(x[:1], t[:1]); _ = acc.update(x[1:], t[1:])
    >>> bool(np.isclose(acc.compute(), cecli.binary_cross_entropy_with_logits(x, t)))
    True
    """

    def __init__(
        self,
        weight: Any = None,
        pos_weight: Any = None,
        reduction: str = "mean",
        input_kind: str = "logits",
        *,
        nonfinite: str = "propagate",
        float64: bool = False,
    ) -> None:
        check_reduction(reduction)
        if input_kind not in BCE_INPUTS:
            raise UsageError(f"unknown input kind {input_kind!r}", fix="use logits or probs")
        if nonfinite not in ("error", "propagate"):
            raise UsageError(f"unknown nonfinite policy {nonfinite!r}", fix="use error or propagate")
        self.weight = _vector(weight, "weight")
        self.pos_weight = _vector(pos_weight, "pos_weight")
        if self.pos_weight is not None and input_kind != "logits":
            raise UsageError(
                "pos_weight applies to logits only (as in torch's BCELoss)",
                fix="drop --pos-weight, or give logits",
            )
        self.reduction = reduction
        self.input_kind = input_kind
        self.nonfinite = nonfinite
        self.float64 = float64
        self.labels: int | None = None  # set by the first chunk
        self.next_row = 0
        # sums over the elements' global indices: identical to the last bit for any chunking
        self.loss_sum = TreeSum(compensated=True)
        self.positives = TreeSum(compensated=True)
        self.elements = 0
        self.rows = 0
        self.correct = 0
        self.nonfinite_first = -1
        self.nonfinite_count = 0

    def spawn(self) -> BinaryAccumulator:
        """An empty accumulator with the same configuration (for a worker's partial)."""
        other = BinaryAccumulator(
            self.weight,
            self.pos_weight,
            self.reduction,
            self.input_kind,
            nonfinite=self.nonfinite,
            float64=self.float64,
        )
        other.labels = self.labels
        return other

    # -- chunks ------------------------------------------------------------------------------
    def _labels(self, shape: tuple[int, ...]) -> int:
        if len(shape) not in (1, 2):
            raise DataError(
                f"binary predictions must be (rows,) or (rows, labels), not {shape}",
                fix="flatten extra axes first",
            )
        labels = shape[1] if len(shape) == 2 else 1
        if self.labels is None:
            for name, v in (("weight", self.weight), ("pos_weight", self.pos_weight)):
                if v is not None and v.size not in (1, labels):
                    raise UsageError(
                        f"{name} has {v.size} values but the predictions have {labels} label(s)",
                        fix=f"give one value, or one per label ({labels})",
                    )
            self.labels = labels
        elif labels != self.labels:
            raise DataError(
                f"a chunk has {labels} label(s) but earlier chunks had {self.labels}"
            )
        return labels

    def arrays(
        self, preds: Any, target: Any, start: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Validated ``(x, t, weight, pos_weight)`` of a chunk in the working precision."""
        x = as_float(preds)
        t = np.asarray(target)
        self._labels(x.shape)
        if t.shape != x.shape:
            fix = "binary targets must have the predictions' shape"
            if x.ndim == 2 and t.ndim == 1:
                fix = f"give {x.shape[1]} target columns with --target-cols a,b,... (multi-label)"
            raise DataError(
                f"targets have shape {t.shape[1:]} per row but the predictions have "
                f"{x.shape[1:]}",
                row=start,
                fix=fix,
                about="target",
            )
        if t.dtype.kind not in "biuf":
            raise DataError(
                f"binary targets must be numbers in [0, 1], not {t.dtype}",
                row=start,
                about="target",
            )
        try:
            xs, ts, w, pw, _ = bce_arrays(
                x,
                t,
                self.weight,
                self.pos_weight,
                logits=self.input_kind == "logits",
                float64=self.float64,
            )
        except DataError as exc:
            if exc.row is not None:
                exc.row += start
                exc.args = (exc.message(),)
            raise
        return xs, ts, w, pw

    def _blocks(self, n: int) -> Iterator[slice]:
        # Row blocks of about BLOCK_ELEMENTS elements: the elementwise formulas make several
        # temporaries of their input's size, which stay small (and in cache) this way.
        rb = max(1, BLOCK_ELEMENTS // max(1, self.labels or 1))
        for a in range(0, n, rb):
            yield slice(a, min(n, a + rb))

    def _elements(
        self, x: np.ndarray, t: np.ndarray, w: np.ndarray | None, pw: np.ndarray | None
    ) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            if self.input_kind == "logits":
                return bce_with_logits_elements(x, t, w, pw)
            return bce_elements(x, t, w)

    def elements_of(
        self, x: np.ndarray, t: np.ndarray, w: np.ndarray | None, pw: np.ndarray | None
    ) -> np.ndarray:
        """Per-element losses (float64) in the predictions' shape."""
        out = np.empty(x.shape, dtype=np.float64)
        for b in self._blocks(x.shape[0]):
            out[b] = self._elements(x[b], t[b], w, pw)
        return out

    def grad_of(
        self, x: np.ndarray, t: np.ndarray, w: np.ndarray | None, pw: np.ndarray | None
    ) -> np.ndarray:
        """Per-element gradient of the unreduced loss (upstream gradient of ones), in the
        working precision; divide by the element count for ``mean``."""
        g = np.empty(x.shape, dtype=x.dtype)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            for b in self._blocks(x.shape[0]):
                if self.input_kind == "logits":
                    g[b] = bce_with_logits_grad_elements(x[b], t[b], w, pw)
                else:
                    g[b] = bce_grad_elements(x[b], t[b], w)
        return g

    def update(self, preds: Any, target: Any, *, start: int | None = None) -> np.ndarray:
        """Add a chunk of ``(n,)`` or ``(n, C)`` predictions and targets of the same shape.

        ``start`` is the global index of the chunk's first row (default: right after the
        previous update), used in error messages. Returns the per-element losses (float64).
        """
        if start is None:
            start = self.next_row
        x, t, w, pw = self.arrays(preds, target, start)
        loss = self.add(x, t, w, pw, start, keep=True)
        assert loss is not None
        return loss

    def add(
        self,
        x: np.ndarray,
        t: np.ndarray,
        w: np.ndarray | None,
        pw: np.ndarray | None,
        start: int,
        *,
        keep: bool = False,
    ) -> np.ndarray | None:
        """:meth:`update` on arrays already validated by :meth:`arrays`; returns the
        per-element losses (float64) only when ``keep``."""
        n = x.shape[0]
        self.next_row = start + n
        out = np.empty(x.shape, dtype=np.float64) if keep else None
        threshold = x.dtype.type(0.0 if self.input_kind == "logits" else 0.5)
        check = self.nonfinite == "error" and self.input_kind == "logits"
        for b in self._blocks(n):
            xb, tb = x[b], t[b]
            if check:
                bad = ~np.isfinite(xb)
                if bad.any():
                    rows = np.flatnonzero(bad.reshape(xb.shape[0], -1).any(axis=1))
                    if self.nonfinite_first < 0:
                        self.nonfinite_first = start + b.start + int(rows[0])
                    self.nonfinite_count += int(rows.size)
            lb = self._elements(xb, tb, w, pw)
            first = (start + b.start) * (self.labels or 1)
            with np.errstate(invalid="ignore", over="ignore"):
                self.loss_sum.add(first, lb.reshape(-1).astype(np.float64))
                self.positives.add(first, tb.reshape(-1).astype(np.float64))
            self.correct += int(np.count_nonzero((xb > threshold) == (tb > 0.5)))
            if out is not None:
                out[b] = lb
        self.elements += int(x.size)
        self.rows += n
        return out

    def merge(self, other: BinaryAccumulator) -> BinaryAccumulator:
        """Add another accumulator's statistics (chunks it saw come after this one's)."""
        if other.labels is None:
            return self
        if self.labels is None:
            self.labels = other.labels
        elif self.labels != other.labels:
            raise DataError(
                f"a chunk has {other.labels} label(s) but earlier chunks had {self.labels}"
            )
        self.loss_sum.merge(other.loss_sum)
        self.positives.merge(other.positives)
        self.elements += other.elements
        self.rows += other.rows
        self.correct += other.correct
        if other.nonfinite_count:
            if self.nonfinite_first < 0 or 0 <= other.nonfinite_first < self.nonfinite_first:
                self.nonfinite_first = other.nonfinite_first
            self.nonfinite_count += other.nonfinite_count
        self.next_row = max(self.next_row, other.next_row)
        return self

    # -- finish ------------------------------------------------------------------------------
    def check(self, file: str | None = None) -> None:
        """Raise the data errors recorded while streaming (non-finite logits)."""
        if self.nonfinite_count:
            raise_nonfinite(self.nonfinite_first, self.nonfinite_count, file)

    def compute(self) -> float:
        """The reduced loss (``mean`` = sum / elements, or ``sum``); NaN ``mean`` when empty."""
        self.check()
        if self.reduction == "none":
            raise UsageError("compute() gives a reduced loss; use update()'s losses for none")
        return reduce(self.loss_sum.scalar(), float(self.elements), self.reduction)

    def result(self) -> BCEResult:
        """All reported figures (the loss as ``mean``/``sum``; ``none`` reports the mean)."""
        self.check()
        red = self.reduction if self.reduction != "none" else "mean"
        total = self.loss_sum.scalar()
        return BCEResult(
            loss=reduce(total, float(self.elements), red),
            reduction=self.reduction,
            loss_sum=total,
            elements=self.elements,
            rows=self.rows,
            labels=self.labels or 0,
            accuracy=self.correct / self.elements if self.elements else math.nan,
            positives=self.positives.scalar(),
        )


def _vector(v: Any, name: str) -> np.ndarray | None:
    """A weight given as one value or one per label, as a float64 vector."""
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64)
    if a.ndim > 1:
        raise UsageError(f"{name} must be one value or one per label, not shape {a.shape}")
    a = a.reshape(-1)
    if not np.all(np.isfinite(a)):
        raise UsageError(f"{name} values must be finite numbers", value=a.tolist())
    return a
