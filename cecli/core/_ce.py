"""The cross-entropy kernel: a block of rows in, per-position statistics out.

The kernel is shared by the one-shot functions (:mod:`cecli.core._api`) and the streaming
accumulator (:mod:`cecli.accumulate`), so chunked and one-shot results are computed by the same
arithmetic. For each position it shifts by the maximum, exponentiates in a reused, cache-sized
buffer and sums (the log-sum-exp in the input's precision, float16 upcast to float32); nothing of
size N x C is ever allocated. Per-position losses are float64. The tile arithmetic is in
:mod:`._kernel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, UsageError
from . import _blocks as blocks
from ._blocks import parallel_map, resolve_threads, split_even, tiles, work_dtype
from ._kernel import TileKernel
from .spec import CEOptions

#: From this many classes on, the kernel works on tiles of positions x classes ("rows": reduce
#: along contiguous rows); below it, on tiles transposed to classes x positions ("columns": every
#: pass a SIMD loop over positions). Chosen by measurement (``bench/bench.py --only layout``,
#: one thread, 8M float32 values): rows / columns time was 3.7 at C = 8, 2.1 at 32, 1.3 at 64,
#: 1.11 at 96, 0.92 at 128, 0.5 at 1024 (the rows layout pays NumPy's per-row loop overhead).
WIDE_MIN_CLASSES = 112

INPUT_KINDS = ("logits", "probs", "logprobs")


def ce_options(
    num_classes: int,
    *,
    weight: object = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    input_kind: str = "logits",
    soft: bool = False,
    nonfinite: str = "propagate",
    float64: bool = False,
    top_k: int = 0,
) -> CEOptions:
    """Validate options against torch's rules and return them frozen."""
    if input_kind not in INPUT_KINDS:
        raise UsageError(f"unknown input kind {input_kind!r}", fix="use logits, probs or logprobs")
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise UsageError(
            "label smoothing must be in [0, 1]", value=label_smoothing, fix="pass a value in [0, 1]"
        )
    if soft and ignore_index >= 0:
        raise UsageError(
            "ignore_index >= 0 is not supported with probability targets (as in torch)",
            value=ignore_index,
            fix="drop --ignore-index or give class-index targets",
        )
    if nonfinite not in ("error", "propagate"):
        raise UsageError(f"unknown nonfinite policy {nonfinite!r}", fix="use error or propagate")
    if top_k < 0:
        raise UsageError("top-k must be positive", value=top_k)
    w = None
    if weight is not None:
        w = np.asarray(weight, dtype=np.float64).reshape(-1)
        if w.shape != (num_classes,):
            raise UsageError(
                f"class weights have {w.size} values but the predictions have {num_classes} classes",
                fix=f"give exactly {num_classes} weights",
            )
        if not np.all(np.isfinite(w)):
            raise UsageError("class weights must be finite numbers", value=w.tolist())
    return CEOptions(
        num_classes=num_classes,
        weight=w,
        ignore_index=int(ignore_index),
        label_smoothing=float(label_smoothing),
        input_kind=input_kind,
        soft=soft,
        nonfinite=nonfinite,
        float64=float64,
        top_k=int(top_k),
    )


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


def index_targets(
    target: np.ndarray, num_classes: int, ignore_index: int, *, row_div: int = 1, first_row: int = 0
) -> np.ndarray:
    """Class-index targets as int64, validated: integer-valued and in ``[0, C)`` or ignored."""
    t = np.asarray(target)
    if t.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            frac = ~np.isfinite(t) | (np.floor(t) != t)
        if frac.any():
            bad = int(np.flatnonzero(frac.reshape(-1))[0])
            raise DataError(
                "class-index targets must be whole numbers",
                row=first_row + bad // row_div,
                value=t.reshape(-1)[bad].item(),
                fix="use --targets probs for probability targets",
            )
        _fits_int64(t, num_classes, ignore_index, row_div, first_row)
        t = t.astype(np.int64)
    elif t.dtype.kind == "b":
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise DataError(f"class-index targets must be integers, not {t.dtype}")
    else:
        if t.dtype == np.uint64:
            _fits_int64(t, num_classes, ignore_index, row_div, first_row)
        t = t.astype(np.int64, copy=False)
    if t.size == 0 or (int(t.min()) >= 0 and int(t.max()) < num_classes):
        return t  # the common case, in two quick passes
    bad_mask = (t != ignore_index) & ((t < 0) | (t >= num_classes))
    if bad_mask.any():
        flat = np.flatnonzero(bad_mask.reshape(-1))
        bad = int(flat[0])
        raise DataError(
            f"target out of range: {flat.size} label(s) outside [0, {num_classes})",
            row=first_row + bad // row_div,
            value=int(t.reshape(-1)[bad]),
            fix=f"labels must be in [0, {num_classes}) or equal --ignore-index ({ignore_index})",
        )
    return t


def _fits_int64(
    t: np.ndarray, num_classes: int, ignore_index: int, row_div: int, first_row: int
) -> None:
    """Labels beyond int64 (uint64 >= 2**63, floats like ``1e20``) are out of range: say so with
    their true value, before a cast wraps them (onto ``ignore_index``, even)."""
    if t.size == 0:
        return
    big = t > np.iinfo(np.int64).max if t.dtype.kind == "u" else np.abs(t) >= 2.0**63
    if big.any():
        flat = np.flatnonzero(big.reshape(-1))
        bad = int(flat[0])
        value = t.reshape(-1)[bad].item()
        raise DataError(
            f"target out of range: {flat.size} label(s) outside [0, {num_classes})",
            row=first_row + bad // row_div,
            value=value,
            fix=f"labels must be in [0, {num_classes}) or equal --ignore-index ({ignore_index})",
        )


def ce_positions(
    x3: np.ndarray,
    t: np.ndarray,
    opts: CEOptions,
    *,
    threads: int | None = 1,
    light: bool = False,
) -> Positions:
    """Cross-entropy statistics of every position of ``x3`` ``(R, C, D)``.

    ``t`` is ``(R, D)`` validated int64 class indices (:func:`index_targets`) or, with
    ``opts.soft``, ``(R, C, D)`` probabilities. Row indices in ``nonfinite_rows`` are block-local.
    ``threads`` splits the tiles over that many threads (``None``: every core, for large
    inputs); the streaming engine keeps the default of 1 and runs chunks on threads instead.
    ``light=True`` computes only what a loss needs (``loss``, ``denom``, ``counted``,
    ``target`` and the non-finite findings): no argmax, ``pred`` is empty and ``conf``,
    ``target_prob`` and ``topk`` are unavailable (the one-shot functions use it).
    """
    R, C, D = x3.shape
    P = R * D
    wd = work_dtype(x3.dtype, opts.float64)
    full = 0 if light else P
    out = Positions(
        loss=np.empty(P),
        denom=np.empty(P),
        counted=np.empty(P, dtype=bool),
        target=np.empty(P, dtype=np.int64) if opts.soft else t.reshape(-1),
        pred=np.empty(full, dtype=np.int64),
        topk=np.empty(P, dtype=bool) if opts.top_k and not light else None,
        _norm=None if light or opts.input_kind != "logits" else np.empty(P, dtype=wd),
        _top=None if light else np.empty(P, dtype=wd),
        _tgt=None if light else np.empty(P, dtype=wd),
    )
    if P == 0:
        return out
    tl = tiles(R, C, D)
    nt = resolve_threads(threads, R * C * D, len(tl))
    if nt > 1:
        # Threads contend for the GIL in the Python part of each tile (~25-50 us): twice
        # larger tiles halve it (1M x 10 on 2 threads: 15.9 -> 14.6 ms; on one thread they
        # cost ~5%, as the working set leaves L2).
        tl = tiles(R, C, D, 2 * blocks.BLOCK_ELEMENTS)
        nt = min(nt, len(tl))
    most = max((r1 - r0) * (d1 - d0) for r0, r1, d0, d1 in tl)
    kernel = TileKernel(
        x3, t, opts, out, wd, rows=C >= WIDE_MIN_CLASSES, tile_positions=most, light=light
    )
    parts = parallel_map(kernel.run, split_even(tl, nt), nt)
    flags = parts[0]
    for other in parts[1:]:
        flags.merge(other)
    if flags.bad_count:
        out.nonfinite_rows.append(flags.bad_first)
        out.nonfinite_count = flags.bad_count
    out.unnormalised_rows = flags.unnorm_count
    out.first_unnormalised = flags.unnorm_first
    return out
