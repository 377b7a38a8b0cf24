"""Sufficient statistics of binary / multi-label cross-entropy chunks (torch's
``BCEWithLogitsLoss`` and ``BCELoss``), merged exactly, finished once.

A chunk contributes its elements' losses to a :class:`TreeSum` over their global indices (so
the total is identical to the last bit for any chunk size or worker count), its element count
and how many elements the prediction gets right; ``mean`` is ``sum / elements`` as in torch.

The measures ``ce`` has, where they apply (:class:`~cecli.accumulate.Measures`): per-label sums
(loss, positives, right predictions: ``per_class``), calibration bins per label (``ece_bins``:
torchmetrics' binary calibration error, the predicted probability against the target, per
label and pooled over every element), and Poisson bootstrap replicates of the loss over *rows*
(a row's labels are resampled together), keyed by the rows' global indices like ``ce``'s, so
the interval does not depend on the chunking or the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core import (
    LossSpec,
    as_float,
    bce_arrays,
    bce_blocks,
    bce_grad,
    bce_probs,
    default_threshold,
    reduce,
)
from ..errors import DataError, UsageError
from ._ce import bootstrap_interval, bootstrap_keys, ece_boundaries, ece_bucket
from ._protocol import Accumulator, FirstRow, MergeRule
from ._sums import BootstrapSums, DDSum, TreeSum
from .spec import Measures, loss_keywords

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
    threshold: float = 0.0  # the decision threshold of ``accuracy``
    per_label: list[dict[str, Any]] | None = None
    ece: float | None = None  # pooled over every element (micro)
    ece_bins: int = 0
    ece_per_label: list[float] | None = None
    ci: dict[str, Any] | None = None
    replicate_means: np.ndarray | None = None


class BinaryAccumulator(Accumulator):
    """Streaming binary cross-entropy: ``update`` chunk by chunk, ``merge``, ``compute`` once.

    Predictions are ``(n,)`` (binary) or ``(n, C)`` (multi-label) logits, or probabilities with
    ``input_kind='probs'``; targets have the predictions' shape, with values in [0, 1].
    ``weight`` and ``pos_weight`` are one value or one per label (broadcast along the last
    axis, as torch does). Accuracy thresholds logits at 0 and probabilities at 0.5 (or
    ``measures.threshold``). Give a ``bce`` :class:`~cecli.core.LossSpec`, or torch's keyword
    names; and optionally :class:`~cecli.accumulate.Measures` (per label, ECE, interval).

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
        "label_stats": "merge",  # DDSums: equal across chunkings to float64 rounding
        "ece_stats": "merge",
        "boot": "merge",  # TreeSums over the rows' indices: identical for any chunking
    }

    def __init__(
        self, loss: LossSpec | None = None, measures: Measures | None = None, **torch_options: Any
    ) -> None:
        if loss is None:
            loss = LossSpec(kind="bce", **loss_keywords(torch_options))
        elif torch_options:
            raise TypeError("give a LossSpec or torch's keyword options, not both")
        if not loss.binary:
            raise UsageError(f"BinaryAccumulator needs a bce spec, not {loss.kind}")
        self.loss = loss
        self.measures = measures if measures is not None else Measures()
        if self.measures.top_k:
            raise UsageError("--top-k is for ce and nll (bce has one decision a label)")
        t = self.measures.threshold
        if t is not None and loss.input == "probs" and not 0.0 <= t <= 1.0:
            raise UsageError(
                "--threshold on probabilities must be between 0 and 1", value=t,
                fix="0.5 is the usual choice (0 for logits)",
            )
        self.labels: int | None = None  # set by the first chunk
        self.next_row = 0
        self.loss_sum = TreeSum(compensated=True)
        self.positives = TreeSum(compensated=True)
        self.elements = 0
        self.rows = 0
        self.correct = 0
        self.nonfinite = FirstRow()
        self.label_stats: dict[str, DDSum] | None = None
        self.ece_stats: dict[str, DDSum] | None = None
        bins = self.measures.ece_bins
        self.ece_edges = ece_boundaries(bins) if bins else None
        self.boot: BootstrapSums | None = None

    def spawn(self) -> BinaryAccumulator:
        other = BinaryAccumulator(self.loss, self.measures)
        other.labels = self.labels
        if self.labels is not None:
            other._alloc(self.labels)
        return other

    def _alloc(self, labels: int) -> None:
        m = self.measures
        if m.per_class and self.label_stats is None:
            self.label_stats = {k: DDSum(labels) for k in ("loss", "positives", "correct")}
        if m.ece_bins and self.ece_stats is None:
            # bins + 1 buckets a label, as torchmetrics: the last holds probabilities of exactly 1
            self.ece_stats = {k: DDSum((labels, m.ece_bins + 1)) for k in ("count", "conf", "acc")}
        if m.replicates and self.boot is None:
            # series: row loss, elements; a sum's interval needs a draw per position
            self.boot = BootstrapSums(2, m.replicates, m.seed, self.loss.reduction == "sum")

    @property
    def threshold(self) -> float:
        """The decision threshold of accuracy."""
        t = self.measures.threshold
        return default_threshold(self.logits) if t is None else t

    @property
    def started(self) -> bool:
        return self.labels is not None

    @property
    def logits(self) -> bool:
        return self.loss.input == "logits"

    def _bind_like(self, other: BinaryAccumulator) -> None:
        if self.labels is None:
            self.labels = other.labels
            if other.labels is not None:
                self._alloc(other.labels)
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
            self._alloc(labels)
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
        row_losses = []
        blocks = bce_blocks(x, t, w, pw, logits=self.logits, scan_nonfinite=scan,
                            threshold=self.measures.threshold)
        for blk in blocks:
            first_row = start + blk.rows.start
            if blk.bad_rows is not None:
                self.nonfinite.add(first_row + int(blk.bad_rows[0]), int(blk.bad_rows.size))
            first = first_row * labels
            with np.errstate(invalid="ignore", over="ignore"):
                loss64 = blk.loss.reshape(-1, labels).astype(np.float64)
                self.loss_sum.add(first, loss64.reshape(-1))
                self.positives.add(first, t[blk.rows].reshape(-1).astype(np.float64))
            self.correct += blk.correct
            self._measure(x[blk.rows], t[blk.rows], loss64, blk.hit, labels)
            if self.boot is not None:
                row_losses.append(loss64.sum(axis=1))
            if out is not None:
                out[blk.rows] = blk.loss
        if self.boot is not None and n:
            keys = bootstrap_keys(start, n, 1)
            self.boot.add(start, keys, [np.concatenate(row_losses), np.full(n, float(labels))])
        self.elements += int(x.size)
        self.rows += n
        return out

    def _measure(
        self, x: np.ndarray, t: np.ndarray, loss: np.ndarray, hit: np.ndarray | None, labels: int
    ) -> None:
        """Per-label sums and calibration bins of a block (``loss``: ``(rows, labels)``)."""
        if self.label_stats is not None:
            ls = self.label_stats
            with np.errstate(invalid="ignore", over="ignore"):
                ls["loss"].add(loss.sum(axis=0))
            ls["positives"].add(t.reshape(-1, labels).astype(np.float64).sum(axis=0))
            if hit is not None:
                ls["correct"].add(hit.reshape(-1, labels).sum(axis=0).astype(np.float64))
        if self.ece_stats is not None and self.ece_edges is not None:
            p = bce_probs(x, self.logits).reshape(-1, labels)
            nb = self.ece_edges.size
            b = ece_bucket(p, self.ece_edges) + nb * np.arange(labels)  # one run of bins a label
            es = self.ece_stats
            size = labels * nb
            es["count"].add(np.bincount(b.ravel(), minlength=size).reshape(labels, nb).astype(np.float64))
            es["conf"].add(np.bincount(b.ravel(), weights=p.ravel().astype(np.float64),
                                       minlength=size).reshape(labels, nb))
            es["acc"].add(np.bincount(b.ravel(), weights=t.reshape(-1).astype(np.float64),
                                      minlength=size).reshape(labels, nb))

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
        res = BCEResult(
            loss=reduce(total, float(self.elements), red),
            reduction=str(self.loss.reduction),
            loss_sum=total,
            elements=self.elements,
            rows=self.rows,
            labels=self.labels or 0,
            accuracy=self.correct / self.elements if self.elements else math.nan,
            positives=self.positives.scalar(),
            threshold=self.threshold,
        )
        if self.label_stats is not None:
            res.per_label = self._per_label(total)
        if self.ece_stats is not None:
            es = {k: v.value() for k, v in self.ece_stats.items()}
            gap = np.abs(es["conf"] - es["acc"])  # sum_b |conf_b - acc_b| a label
            n = es["count"].sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                res.ece_per_label = [float(v) for v in gap.sum(axis=1) / n]
            # pooled: every element in one set of bins (the labels' bins added first)
            pooled = np.abs(es["conf"].sum(axis=0) - es["acc"].sum(axis=0)).sum()
            res.ece = float(pooled / n.sum()) if n.sum() else math.nan
            res.ece_bins = self.measures.ece_bins
            if res.per_label is not None:
                for row, e in zip(res.per_label, res.ece_per_label, strict=True):
                    row["ece"] = e
        if self.boot is not None:
            res.replicate_means, res.ci = bootstrap_interval(self.boot, red, self.measures, res.loss)
        return res

    def _per_label(self, total: float) -> list[dict[str, Any]]:
        assert self.label_stats is not None
        ls = {k: v.value() for k, v in self.label_stats.items()}
        rows = self.rows
        out = []
        for i in range(ls["loss"].size):
            loss_i = float(ls["loss"][i])
            with np.errstate(divide="ignore", invalid="ignore"):
                share = float(np.float64(loss_i) / np.float64(total)) if total else math.nan
            out.append(
                {
                    "index": i,
                    "count": rows,
                    "positives": float(ls["positives"][i]),
                    "loss_sum": loss_i,
                    "loss": loss_i / rows if rows else math.nan,
                    "share": share,
                    "accuracy": float(ls["correct"][i]) / rows if rows else math.nan,
                }
            )
        return out
