"""Sufficient statistics of binary / multi-label cross-entropy chunks (torch's
``BCEWithLogitsLoss`` and ``BCELoss``), merged exactly, finished once.

A chunk contributes its elements' losses to a :class:`TreeSum` over their global indices (so
the total is identical to the last bit for any chunk size or worker count), its element count
and how many elements the prediction gets right; ``mean`` is ``sum / elements`` as in torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core import LossSpec, as_float, bce_arrays, bce_blocks, bce_grad, reduce
from ..errors import DataError, UsageError
from ._protocol import Accumulator, FirstRow, MergeRule
from ._sums import TreeSum
from .spec import loss_keywords

__all__ = ["BCEResult", "BinaryAccumulator"]


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


class BinaryAccumulator(Accumulator):
    """Streaming binary cross-entropy: ``update`` chunk by chunk, ``merge``, ``compute`` once.

    Predictions are ``(n,)`` (binary) or ``(n, C)`` (multi-label) logits, or probabilities with
    ``input_kind='probs'``; targets have the predictions' shape, with values in [0, 1].
    ``weight`` and ``pos_weight`` are one value or one per label (broadcast along the last
    axis, as torch does). Accuracy thresholds logits at 0 and probabilities at 0.5. Give a
    ``bce`` :class:`~cecli.core.LossSpec`, or torch's keyword names.

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

    STATE: ClassVar[dict[str, MergeRule]] = {
        # sums over the elements' global indices: identical to the last bit for any chunking
        "loss_sum": "merge",
        "positives": "merge",
        "elements": "add",
        "rows": "add",
        "correct": "add",
        "nonfinite": "merge",
        "next_row": "max",
    }

    def __init__(self, loss: LossSpec | None = None, **torch_options: Any) -> None:
        if loss is None:
            loss = LossSpec(kind="bce", **loss_keywords(torch_options))
        elif torch_options:
            raise TypeError("give a LossSpec or torch's keyword options, not both")
        if not loss.binary:
            raise UsageError(f"BinaryAccumulator needs a bce spec, not {loss.kind}")
        self.loss = loss
        self.labels: int | None = None  # set by the first chunk
        self.next_row = 0
        self.loss_sum = TreeSum(compensated=True)
        self.positives = TreeSum(compensated=True)
        self.elements = 0
        self.rows = 0
        self.correct = 0
        self.nonfinite = FirstRow()

    def spawn(self) -> BinaryAccumulator:
        other = BinaryAccumulator(self.loss)
        other.labels = self.labels
        return other

    @property
    def started(self) -> bool:
        return self.labels is not None

    @property
    def logits(self) -> bool:
        return self.loss.input == "logits"

    def _bind_like(self, other: BinaryAccumulator) -> None:
        if self.labels is None:
            self.labels = other.labels
        elif self.labels != other.labels:
            raise DataError(
                f"a chunk has {other.labels} label(s) but earlier chunks had {self.labels}"
            )

    # -- chunks ------------------------------------------------------------------------------
    def _labels(self, shape: tuple[int, ...]) -> int:
        if len(shape) not in (1, 2):
            raise DataError(
                f"binary predictions must be (rows,) or (rows, labels), not {shape}",
                fix="flatten extra axes first",
            )
        labels = shape[1] if len(shape) == 2 else 1
        if self.labels is None:
            for name, v in (("weight", self.loss.weight), ("pos_weight", self.loss.pos_weight)):
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
                x, t, self.loss.weight, self.loss.pos_weight, logits=self.logits,
                float64=self.loss.float64,
            )
        except DataError as exc:
            if exc.row is not None:
                exc.row += start
                exc.args = (exc.message(),)
            raise
        return xs, ts, w, pw

    def grad_of(
        self, x: np.ndarray, t: np.ndarray, w: np.ndarray | None, pw: np.ndarray | None
    ) -> np.ndarray:
        """Per-element gradient of the unreduced loss (upstream gradient of ones), in the
        working precision; divide by the element count for ``mean``."""
        return bce_grad(x, t, w, pw, self.logits)

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
        labels = self.labels or 1
        scan = self.loss.nonfinite == "error" and self.logits
        for blk in bce_blocks(x, t, w, pw, logits=self.logits, scan_nonfinite=scan):
            first_row = start + blk.rows.start
            if blk.bad_rows is not None:
                self.nonfinite.add(first_row + int(blk.bad_rows[0]), int(blk.bad_rows.size))
            first = first_row * labels
            with np.errstate(invalid="ignore", over="ignore"):
                self.loss_sum.add(first, blk.loss.reshape(-1).astype(np.float64))
                self.positives.add(first, t[blk.rows].reshape(-1).astype(np.float64))
            self.correct += blk.correct
            if out is not None:
                out[blk.rows] = blk.loss
        self.elements += int(x.size)
        self.rows += n
        return out

    # -- finish ------------------------------------------------------------------------------
    def compute(self) -> float:
        """The reduced loss (``mean`` = sum / elements, or ``sum``); NaN ``mean`` when empty."""
        self.check()
        if self.loss.reduction == "none":
            raise UsageError("compute() gives a reduced loss; use update()'s losses for none")
        return reduce(self.loss_sum.scalar(), float(self.elements), self.loss.reduction)

    def result(self) -> BCEResult:
        """All reported figures (the loss as ``mean``/``sum``; ``none`` reports the mean)."""
        self.check()
        red = self.loss.reduction if self.loss.reduction != "none" else "mean"
        total = self.loss_sum.scalar()
        return BCEResult(
            loss=reduce(total, float(self.elements), red),
            reduction=str(self.loss.reduction),
            loss_sum=total,
            elements=self.elements,
            rows=self.rows,
            labels=self.labels or 0,
            accuracy=self.correct / self.elements if self.elements else math.nan,
            positives=self.positives.scalar(),
        )
