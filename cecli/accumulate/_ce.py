"""The cross-entropy accumulator: per-chunk sufficient statistics, finished once (see the
package docstring for what chunking can and cannot change)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..core import (
    TOP_K_TIES,
    CEOptions,
    LossSpec,
    Positions,
    as_float,
    binary_probs,
    ce_positions,
    class_axis_of,
    index_targets,
    is_soft,
    reduce,
    sample_weight_findings,
)
from ..core import as_3d as _as_3d
from ..errors import DataError, UsageError
from ._pairs import PairCounts
from ._protocol import Accumulator, FirstRow, MergeRule
from ._sums import BootstrapSums, DDSum, LossHistogram, TreeSum, group_keys
from ._tokens import IGNORED, GroupSums, check_token_logprobs, lp_views
from .spec import CI_METHOD, QUANTILES, Measures, loss_keywords, measures_keywords


def ece_boundaries(bins: int) -> np.ndarray:
    """torchmetrics' bin boundaries, bit for bit: ``torch.linspace(0, 1, bins + 1)`` in float32.

    torch's CPU ``linspace`` computes ``start + step * i`` for the first half of the points and
    ``end - step * (steps - 1 - i)`` for the second, with a float32 ``step`` and a fused
    multiply-add; evaluating that in float64 and rounding once to float32 reproduces it (checked
    against torch 2.13 for every ``bins`` up to 2000).
    """
    steps = bins + 1
    step = np.float64(np.float32(1.0) / np.float32(bins))
    i = np.arange(steps, dtype=np.float64)
    edges = np.where(i < steps // 2, step * i, 1.0 - step * (steps - 1 - i))
    return np.asarray(edges, dtype=np.float32)


def ece_bucket(conf: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """torchmetrics' ``_binning_bucketize``: ``bucketize(conf, boundaries, right=True) - 1`` on
    float32 confidences, so bin b is ``[edge_b, edge_b+1)`` and a confidence of exactly 1 gets a
    bin of its own (index ``bins``)."""
    idx = np.searchsorted(boundaries, conf.astype(np.float32), side="right") - 1
    return np.clip(idx, 0, boundaries.size - 1)


def bootstrap_keys(start: int, n: int, per_pos: int, group: Any = None) -> np.ndarray:
    """The keys of the bootstrap weights of rows ``start .. start+n-1`` (``per_pos`` positions
    each): the positions' global indices, or their group's key with ``group``."""
    if group is not None:
        return np.repeat(group_keys(np.asarray(group).reshape(-1)), per_pos)
    return np.arange(start * per_pos, (start + n) * per_pos, dtype=np.uint64)


@dataclass
class CEResult:
    """Everything one cross-entropy evaluation reports (before formatting)."""

    loss: float
    reduction: str
    loss_sum: float
    weight_sum: float
    samples: int
    counted: int
    ignored: int
    classes: int
    accuracy: float
    perplexity: float | None
    top_k: int = 0
    top_k_accuracy: float | None = None
    ece: float | None = None
    ece_bins: int = 0
    confusions: list[dict[str, Any]] | None = None  # the most frequent (target, pred) pairs
    confusions_exact: bool = True  # False once rare pairs were dropped (counts: lower bounds)
    reliability: dict[str, list[float]] | None = None  # per ECE bin: count, conf and acc (correct) sums
    per_class: list[dict[str, Any]] | None = None
    ci: dict[str, Any] | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    histogram: tuple[list[float], list[int]] = field(default_factory=lambda: ([], []))
    replicate_means: np.ndarray | None = None
    unnormalised_rows: int = 0
    first_unnormalised: int = -1
    probs_like: bool = False  # logits that all look like probabilities (counted rows only)
    not_logprob_rows: int = 0  # log-probabilities input whose values cannot be log-probabilities
    first_not_logprob: int = -1
    negative_weight_rows: int = 0  # rows with a negative sample weight
    first_negative_weight: int = -1
    binary_form: bool = False  # one column of probabilities read as sklearn's [1 - p, p]
    top_k_ties: str | None = None  # the tie rule (core.TOP_K_TIES) when top_k is asked
    tokens: bool = False  # target log-probabilities: no vocabulary, no accuracy
    bits_per_token: float | None = None
    bytes: float | None = None  # --bytes-col: the sum of the column
    bits_per_byte: float | None = None
    per_group: list[dict[str, Any]] | None = None  # target log-probabilities with --group-col


class CrossEntropyAccumulator(Accumulator):
    """Streaming cross-entropy: ``update`` chunk by chunk, ``merge`` partials, ``compute`` once.

    Give a :class:`~cecli.core.LossSpec` and :class:`~cecli.accumulate.Measures`, or torch's
    keyword names (``weight``, ``ignore_index``, ``reduction``, ``label_smoothing``,
    ``input_kind``, ``targets``, ``nonfinite``, ``float64``) and the measures' (``top_k``,
    ``per_class``, ``ece_bins``, ``bootstrap`` replicates of an interval at ``ci_level``,
    ``seed``). ``axis`` is the class axis of the chunks. The result equals
    :func:`cecli.cross_entropy` on the concatenated chunks (to float64 rounding of the
    per-chunk sums).

    Examples
    --------
    >>> import numpy as np, cecli
    >>> x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]]); y = np.array([0, 2])
    >>> acc = cecli.CrossEntropyAccumulator()
    >>> _ = acc.update(x[:1], y[:1]); _ = acc.update(x[1:], y[1:])
    >>> bool(np.isclose(acc.compute(), cecli.cross_entropy(x, y)))
    True
    """

    STATE: ClassVar[dict[str, MergeRule]] = {
        "loss_sum": "merge",  # TreeSums: identical to the last bit for any chunking
        "denom_sum": "merge",
        "samples": "add",
        "counted": "add",
        "correct": "add",
        "topk_correct": "add",
        "hist": "merge",
        "nonfinite": "merge",
        "unnormalised": "merge",
        "not_probs_like": "add",  # chunks whose logits are not all probabilities
        "not_logprob": "merge",
        "negative_weight": "merge",
        "binary_form": "max",
        "class_stats": "merge",  # DDSums: equal across chunkings to float64 rounding
        "ece_stats": "merge",
        "boot": "merge",
        "pairs": "merge",
        "next_row": "max",
        "bytes_sum": "merge",  # target log-probabilities: --bytes-col
        "bytes_seen": "max",
        "groups": "merge",  # target log-probabilities: per group (document)
    }

    def __init__(
        self,
        loss: LossSpec | None = None,
        measures: Measures | None = None,
        *,
        axis: int = 1,
        **torch_options: Any,
    ) -> None:
        if loss is None:
            options, asked = measures_keywords(torch_options)
            loss = LossSpec(**loss_keywords(options))
            if measures is None:
                measures = asked
            elif asked != Measures():
                raise TypeError("give Measures or the measures' keyword options, not both")
        elif torch_options:
            raise TypeError("give a LossSpec or torch's keyword options, not both")
        if loss.binary:
            raise UsageError("CrossEntropyAccumulator needs a ce or nll spec, not bce")
        self.loss = loss
        self.measures = measures if measures is not None else Measures()
        self.axis = axis
        self.opts: CEOptions | None = None  # the spec bound to the data by the first chunk
        self.next_row = 0  # global row index of the next sequential update
        # statistics
        self.loss_sum = TreeSum(compensated=True)
        self.denom_sum = TreeSum(compensated=True)
        self.samples = 0
        self.counted = 0
        self.correct = 0
        self.topk_correct = 0
        self.hist = LossHistogram()
        self.nonfinite = FirstRow()
        self.unnormalised = FirstRow()
        self.not_probs_like = 0  # probabilities given as logits: every chunk must look so
        self.not_logprob = FirstRow()  # log-probabilities input: rows that cannot be
        self.negative_weight = FirstRow()  # sample weights below 0
        self.binary_form = False  # one column of probabilities read as [1 - p, p]
        self.class_stats: dict[str, DDSum] | None = None
        self.ece_stats: dict[str, DDSum] | None = None
        bins = self.measures.ece_bins
        self.ece_edges = ece_boundaries(bins) if bins else None
        self.boot: BootstrapSums | None = None
        self.pairs: PairCounts | None = None
        self.tokens = loss.input == "target-logprobs"
        self.bytes_sum = TreeSum(compensated=True)
        self.bytes_seen = False
        self.groups: GroupSums | None = GroupSums() if self.tokens else None

    def spawn(self) -> CrossEntropyAccumulator:
        """An empty accumulator with the same configuration (for a worker's partial)."""
        other = CrossEntropyAccumulator(self.loss, self.measures, axis=self.axis)
        other.opts = self.opts
        if self.opts is not None:
            other._alloc(self.opts.num_classes)
        return other

    @property
    def started(self) -> bool:
        return self.opts is not None

    def _bind_like(self, other: CrossEntropyAccumulator) -> None:
        assert other.opts is not None
        self._setup(other.opts.num_classes, other.opts.soft)

    # -- setup ---------------------------------------------------------------------------------
    def _setup(self, num_classes: int, soft: bool) -> CEOptions:
        if self.opts is None:
            opts = self.loss.bind(num_classes, soft, self.measures.top_k)
            if self.tokens:  # see _tokens.IGNORED
                opts = dataclasses.replace(opts, ignore_index=IGNORED)
            self.opts = opts
            self._alloc(num_classes)
        elif self.opts.num_classes != num_classes:
            raise DataError(
                f"a chunk has {num_classes} classes but earlier chunks had {self.opts.num_classes}"
            )
        elif self.opts.soft != soft:
            raise DataError("a chunk's targets are of another kind (index vs probabilities)")
        return self.opts

    def _alloc(self, C: int) -> None:
        m = self.measures
        if m.per_class and self.class_stats is None:
            self.class_stats = {k: DDSum(C) for k in ("count", "weight", "loss", "correct")}
        if m.ece_bins and self.ece_stats is None:
            # bins + 1 buckets, as torchmetrics: the last holds confidences of exactly 1
            self.ece_stats = {k: DDSum(m.ece_bins + 1) for k in ("count", "conf", "acc")}
        if m.confusions and self.pairs is None:
            self.pairs = PairCounts()
        if m.replicates and self.boot is None:
            # series: loss, denom; a sum's interval needs a draw per position
            self.boot = BootstrapSums(2, m.replicates, m.seed, self.loss.reduction == "sum")

    # -- update ----------------------------------------------------------------------------------
    def kernel_views(
        self, preds: Any, target: Any, start: int, missing: Any = None
    ) -> tuple[np.ndarray, np.ndarray, int, int, int]:
        """Kernel views of a chunk: ``(x3, t3, rows, positions per row, kernel rows per row)``,
        with the targets validated (class indices in range, or probabilities). ``missing``:
        positions without a target log-probability (``--input target-logprobs`` only)."""
        if self.tokens:
            x3, t3, n, per_pos = lp_views(preds, target, self.loss.ignore_index, missing)
            self._setup(1, False)
            check_token_logprobs(x3, t3, start)
            return x3, t3, n, per_pos, 1
        x = as_float(preds)
        t = np.asarray(target)
        if x.ndim < 2:
            raise DataError(f"a chunk of predictions must be (rows, classes, ...), not {x.shape}")
        n = x.shape[0]
        ax = class_axis_of(x.ndim, self.axis)
        soft = is_soft(t, x.shape, self.loss.targets)
        x3, pos_shape = _as_3d(x, ax)
        C = x3.shape[1]
        if C == 1 and not soft and self.loss.input == "probs":
            x3, C = binary_probs(x3), 2  # sklearn's binary form: P(class 1) per row
            self.binary_form = True
        opts = self._setup(C, soft)
        per_pos = x3.shape[0] * x3.shape[2] // n if n else 1
        per_r = x3.shape[0] // n if n else 1
        try:
            if soft:
                if t.shape != x.shape:
                    raise DataError(
                        f"probability targets {t.shape} do not match predictions {x.shape}"
                    )
                t3, _ = _as_3d(t, ax)
            else:
                if t.shape != pos_shape:
                    raise DataError(
                        f"targets have shape {t.shape[1:]} per row but the predictions "
                        f"{x.shape[1:]} need {pos_shape[1:]}",
                        fix="check --class-axis, or give probability targets of the predictions' "
                        "shape",
                    )
                t3 = index_targets(
                    t.reshape(x3.shape[0], x3.shape[2]),
                    C,
                    opts.ignore_index,
                    row_div=max(1, per_pos),
                    first_row=start,
                )
        except DataError as exc:
            exc.about = "target"  # the api names the file (and column) the targets came from
            raise
        return x3, t3, n, max(1, per_pos), max(1, per_r)

    def update(
        self,
        preds: Any,
        target: Any,
        *,
        sample_weight: Any = None,
        group: Any = None,
        start: int | None = None,
        missing: Any = None,
        nbytes: Any = None,
    ) -> Positions:
        """Add a chunk of rows ``(n, C, ...)`` with targets ``(n, ...)`` (or probabilities).

        ``start`` is the global index of the chunk's first row (default: right after the
        previous update); it keys the bootstrap weights and error messages. Returns the
        chunk's per-position results (losses in ``.loss``). With ``--input target-logprobs``
        the predictions are ``(n, ...)`` log-probabilities of the realised tokens, ``target``
        may be None (or token ids, compared with ``ignore_index``), ``missing`` marks
        positions without a value and ``nbytes`` gives the bytes of each position (bits per
        byte divide by the bytes of every position, ignored ones too: the text's bytes).
        """
        if start is None:
            start = self.next_row
        x3, t3, n, per_pos, per_r = self.kernel_views(preds, target, start, missing)
        self.next_row = start + n
        opts = self.opts
        assert opts is not None
        pos = ce_positions(x3, t3, opts)
        sw = None
        if sample_weight is not None:
            neg, first_neg = sample_weight_findings(sample_weight, start)
            self.negative_weight.add(first_neg, neg)
            sw = np.repeat(np.asarray(sample_weight, dtype=np.float64).reshape(-1), per_pos)
        keys = bootstrap_keys(start, n, per_pos, group) if self.boot is not None else None
        self._add(pos, sw, keys, start, per_r, start * per_pos)
        if self.tokens:
            self._tokens(pos, sw, group, nbytes, per_pos, start * per_pos)
        return pos

    def _tokens(
        self, pos: Positions, sw: Any, group: Any, nbytes: Any, per_pos: int, first_pos: int
    ) -> None:
        """Bytes (of every position, as the contract's ``sum(bytes)``) and per-group sums of
        target log-probabilities."""
        b = None
        if nbytes is not None:
            b = np.asarray(nbytes, dtype=np.float64).reshape(-1)
            self.bytes_sum.add(first_pos, b)
            self.bytes_seen = True
        if group is not None and self.groups is not None:
            with np.errstate(invalid="ignore", over="ignore"):
                loss = pos.loss if sw is None else pos.loss * sw
                denom = pos.denom if sw is None else pos.denom * sw
            g = np.repeat(np.asarray(group).reshape(-1), per_pos)
            self.groups.add(g, loss, denom, pos.counted, b)

    def _add(
        self,
        pos: Positions,
        sw: np.ndarray | None,
        keys: np.ndarray | None,
        start: int,
        per_row: int,
        first_pos: int,
    ) -> None:
        # per_row: kernel rows (R) per sample row: 1, or the sequence length with a last class axis.
        # first_pos: the global index of the chunk's first position (keys the tree sums).
        opts = self.opts
        assert opts is not None
        with np.errstate(invalid="ignore", over="ignore"):
            loss = pos.loss if sw is None else pos.loss * sw
            denom = pos.denom if sw is None else pos.denom * sw
        self.loss_sum.add(first_pos, loss)
        self.denom_sum.add(first_pos, denom)
        counted = pos.counted
        n_counted = int(np.count_nonzero(counted))
        self.samples += pos.loss.size
        self.counted += n_counted
        hit = (pos.pred == pos.target) & counted
        self.correct += int(np.count_nonzero(hit))
        if pos.topk is not None:
            self.topk_correct += int(np.count_nonzero(pos.topk & counted))
        self.hist.add(pos.loss[counted])
        if pos.nonfinite_count:
            self.nonfinite.add(start + pos.nonfinite_rows[0] // per_row, pos.nonfinite_count)
        if pos.unnormalised_rows:
            self.unnormalised.add(start + pos.first_unnormalised // per_row, pos.unnormalised_rows)
        self.not_probs_like += not pos.probs_like
        if pos.not_logprob_rows:
            self.not_logprob.add(start + pos.first_not_logprob // per_row, pos.not_logprob_rows)
        C = opts.num_classes
        if self.class_stats is not None:
            y = pos.target[counted]
            cs = self.class_stats
            cs["count"].add(np.bincount(y, minlength=C).astype(np.float64))
            cs["weight"].add(np.bincount(y, weights=denom[counted], minlength=C))
            cs["loss"].add(np.bincount(y, weights=loss[counted], minlength=C))
            cs["correct"].add(np.bincount(y, weights=hit[counted], minlength=C))
        if self.ece_stats is not None and self.ece_edges is not None:
            conf = pos.conf[counted]
            b = ece_bucket(conf, self.ece_edges)
            nb = self.ece_edges.size
            es = self.ece_stats
            es["count"].add(np.bincount(b, minlength=nb).astype(np.float64))
            es["conf"].add(np.bincount(b, weights=conf, minlength=nb))
            es["acc"].add(np.bincount(b, weights=hit[counted], minlength=nb))
        if self.boot is not None and keys is not None:
            self.boot.add(first_pos, keys, [loss, denom])
        if self.pairs is not None:
            wrong = counted & (pos.pred != pos.target)
            self.pairs.add(pos.target[wrong] * np.int64(C) + pos.pred[wrong])

    # -- finish ----------------------------------------------------------------------------------
    def compute(self) -> float:
        """The reduced loss (``mean`` or ``sum``) of everything seen so far."""
        self.check()
        reduction = self.loss.reduction
        if reduction == "none":
            raise UsageError("compute() gives a reduced loss; use update()'s positions for none")
        return reduce(self.loss_sum.scalar(), self.denom_sum.scalar(), reduction)

    def result(self) -> CEResult:
        """All reported figures (the loss as ``mean``/``sum``; ``none`` reports the mean)."""
        self.check()
        C = self.opts.num_classes if self.opts else 0
        total = self.loss_sum.scalar()
        denom = self.denom_sum.scalar()
        reduction = self.loss.reduction
        red = reduction if reduction != "none" else "mean"
        loss = reduce(total, denom, red)
        counted = self.counted
        res = CEResult(
            loss=loss,
            reduction=str(reduction),
            loss_sum=total,
            weight_sum=denom,
            samples=self.samples,
            counted=counted,
            ignored=self.samples - counted,
            classes=C,
            accuracy=self.correct / counted if counted else math.nan,
            perplexity=_exp(loss) if red == "mean" else None,
            unnormalised_rows=self.unnormalised.count,
            first_unnormalised=self.unnormalised.first,
            probs_like=self.not_probs_like == 0 and counted > 0,
            not_logprob_rows=self.not_logprob.count,
            first_not_logprob=self.not_logprob.first,
            negative_weight_rows=self.negative_weight.count,
            first_negative_weight=self.negative_weight.first,
            binary_form=self.binary_form,
        )
        if self.opts is not None and self.opts.top_k:
            res.top_k = self.opts.top_k
            res.top_k_accuracy = self.topk_correct / counted if counted else math.nan
            res.top_k_ties = TOP_K_TIES
        if self.ece_stats is not None:
            # sum_b prop_b * |acc_b - conf_b| = sum_b |correct_b - conf_sum_b| / n
            es = {k: v.value() for k, v in self.ece_stats.items()}
            n = es["count"].sum()
            res.ece = float(np.sum(np.abs(es["conf"] - es["acc"])) / n) if n else math.nan
            res.ece_bins = self.measures.ece_bins
            res.reliability = {k: v.tolist() for k, v in es.items()}
        if self.class_stats is not None:
            res.per_class = self._per_class(total)
        if self.pairs is not None:
            res.confusions = self.pairs.top(self.measures.confusions, C)
            res.confusions_exact = self.pairs.dropped == 0
        if self.tokens:
            self._token_result(res)
        res.quantiles = {f"p{round(q * 100)}": self.hist.quantile(q) for q in QUANTILES}
        res.quantiles["max"] = self.hist.max if self.hist.max > -math.inf else math.nan
        res.histogram = self.hist.coarse()
        if self.boot is not None:
            res.replicate_means, res.ci = bootstrap_interval(self.boot, red, self.measures, res.loss)
        return res

    def _token_result(self, res: CEResult) -> None:
        """Bits per token / byte; accuracy means nothing without a vocabulary."""
        res.accuracy = math.nan
        res.tokens = True
        ln2 = math.log(2.0)
        if res.reduction != "sum":
            res.bits_per_token = res.loss / ln2
        if self.bytes_seen:
            res.bytes = self.bytes_sum.scalar()
            with np.errstate(divide="ignore", invalid="ignore"):
                res.bits_per_byte = float(np.float64(res.loss_sum) / ln2 / np.float64(res.bytes))
        if self.groups is not None and self.groups.labels:
            res.per_group = self.groups.rows(self.bytes_seen)

    def _per_class(self, total: float) -> list[dict[str, Any]]:
        assert self.class_stats is not None
        cs = {k: v.value() for k, v in self.class_stats.items()}
        rows = []
        for c in range(cs["count"].size):
            count = int(cs["count"][c])
            w = float(cs["weight"][c])
            loss_c = float(cs["loss"][c])
            with np.errstate(divide="ignore", invalid="ignore"):
                mean_c = float(np.float64(loss_c) / np.float64(w)) if count else math.nan
                share = float(np.float64(loss_c) / np.float64(total)) if total else math.nan
            rows.append(
                {
                    "index": c,
                    "count": count,
                    "weight_sum": w,
                    "loss_sum": loss_c,
                    "loss": mean_c,
                    "share": share,
                    "accuracy": float(cs["correct"][c]) / count if count else math.nan,
                }
            )
        return rows


def replicate_values(sums: np.ndarray, reduction: str) -> np.ndarray:
    """Replicate losses from ``(2, B)`` sums (loss, denominator): ratios for ``mean``."""
    if reduction != "mean":
        return np.asarray(sums[0], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(sums[0] / sums[1], dtype=np.float64)


def bootstrap_interval(
    boot: BootstrapSums, reduction: str, measures: Measures, point: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """The replicate losses of ``(loss, denominator)`` replicate sums and the ``ci`` field of
    the percentile interval they give (``group`` filled in by the caller). A loss (``point``)
    that is not finite has no interval: its replicates that drew the offending position are
    not finite either, and an interval of the others would exclude the loss itself."""
    reps = replicate_values(boot.value(), reduction)
    lo, hi = percentile_interval(reps, measures.level) if math.isfinite(point) else (math.nan, math.nan)
    return reps, {
        "level": measures.level,
        "low": lo,
        "high": hi,
        "method": CI_METHOD,
        "replicates": measures.replicates,
        "seed": measures.seed,
        "group": None,
    }


def percentile_interval(reps: np.ndarray, level: float) -> tuple[float, float]:
    """The percentile bootstrap interval of the finite replicates (NaN when there are none).

    Replicates are NaN when every position a replicate drew is ignored (weight sum 0); they are
    left out, as a resample that has no data says nothing about the mean.
    """
    finite = reps[np.isfinite(reps)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan
