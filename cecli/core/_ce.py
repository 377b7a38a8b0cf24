"""The cross-entropy kernel: one block of rows in, per-position statistics out.

The kernel is shared by the one-shot functions (:mod:`cecli.core._api`) and the streaming
accumulator (:mod:`cecli.accumulate`), so chunked and one-shot results are computed by the same
arithmetic. For each row it shifts by the row maximum, exponentiates into a reused buffer and
sums (the log-sum-exp in the input's precision); nothing of size N x C is ever allocated.
Per-position results are float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, UsageError
from ._blocks import buffer, rows_per_block, work_dtype

#: Below this many classes (with one position per row) the kernel loops over the class columns
#: instead of reducing along the class axis: for C ~ 10 an axis-1 reduction runs a tiny inner
#: loop per row and is several times slower than C whole-column passes.
WIDE_MIN_CLASSES = 24

INPUT_KINDS = ("logits", "probs", "logprobs")


@dataclass(frozen=True)
class CEOptions:
    """Options of one cross-entropy evaluation, validated once (see :func:`ce_options`)."""

    num_classes: int
    weight: np.ndarray | None = None  # float64 (C,)
    ignore_index: int = -100
    label_smoothing: float = 0.0
    input_kind: str = "logits"
    soft: bool = False  # probability targets
    nonfinite: str = "propagate"  # "error" records offending rows; "propagate" lets NaN through
    float64: bool = False
    top_k: int = 0

    @property
    def weight_total(self) -> float:
        return float(self.num_classes) if self.weight is None else float(np.sum(self.weight))


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
    """Per-position results of a block, flattened to ``R * D`` entries (row-major)."""

    loss: np.ndarray  # float64, 0 where ignored
    denom: np.ndarray  # float64: w[y] for counted index targets, 1 for probability targets
    counted: np.ndarray  # bool
    target: np.ndarray  # int64 class index (argmax for probability targets)
    pred: np.ndarray  # int64 argmax of the predictions
    conf: np.ndarray  # float64 top-1 probability
    target_prob: np.ndarray  # float64 probability of the target class
    topk: np.ndarray | None = None  # bool, when top_k > 0
    nonfinite_rows: list[int] = field(default_factory=list)  # block-local rows (error mode)
    nonfinite_count: int = 0
    unnormalised_rows: int = 0  # probability rows whose sum is not 1 within 1e-4
    first_unnormalised: int = -1


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
        t = t.astype(np.int64)
    elif t.dtype.kind == "b":
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise DataError(f"class-index targets must be integers, not {t.dtype}")
    else:
        t = t.astype(np.int64, copy=False)
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


def ce_positions(x3: np.ndarray, t: np.ndarray, opts: CEOptions) -> Positions:
    """Cross-entropy statistics of every position of ``x3`` ``(R, C, D)``.

    ``t`` is ``(R, D)`` validated int64 class indices (:func:`index_targets`) or, with
    ``opts.soft``, ``(R, C, D)`` probabilities. Row indices in ``nonfinite_rows`` are block-local.
    """
    R, C, D = x3.shape
    P = R * D
    wd = work_dtype(x3.dtype, opts.float64)
    out = Positions(
        loss=np.empty(P),
        denom=np.empty(P),
        counted=np.empty(P, dtype=bool),
        target=np.empty(P, dtype=np.int64),
        pred=np.empty(P, dtype=np.int64),
        conf=np.empty(P),
        target_prob=np.empty(P),
        topk=np.empty(P, dtype=bool) if opts.top_k else None,
    )
    rb = rows_per_block(C, D)
    for a in range(0, R, rb):
        b = min(R, a + rb)
        _block(x3[a:b], t[a:b], opts, wd, out, a, D)
    return out


def _block(
    xb: np.ndarray, tb: np.ndarray, opts: CEOptions, wd: np.dtype, out: Positions, a: int, D: int
) -> None:
    n, C, _ = xb.shape
    sl = slice(a * D, (a + n) * D)
    w = opts.weight
    e = opts.label_smoothing
    kind = opts.input_kind
    unnorm = 0
    if kind == "probs":
        # log(clip(p, tiny, 1)) into a scratch buffer, then the log-probability path.
        p = xb
        lpb = buffer(n * C * D, wd, slot=1).reshape(n, C, D)
        tiny = np.finfo(wd).tiny
        np.clip(p, tiny, 1.0, out=lpb)
        with np.errstate(divide="ignore"):
            np.log(lpb, out=lpb)
        rowsum = p.sum(axis=1, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            off = ~(np.abs(rowsum - 1.0) <= 1e-4) & ~np.isnan(rowsum)
        unnorm = int(off.sum())
        if unnorm and out.first_unnormalised < 0:
            out.first_unnormalised = a + int(np.flatnonzero(off.any(axis=1))[0])
        out.unnormalised_rows += unnorm
        # NaN in p survives clip: keep it visible to the non-finite check below.
        xb = lpb
        kind = "logprobs"

    if opts.soft:
        tsoft = tb.astype(wd, copy=False)
        if e:
            tsoft = tsoft * (1.0 - e) + e / C
        tw = tsoft * w[None, :, None] if w is not None else tsoft
        target = np.argmax(tb, axis=1)
        valid = np.ones((n, D), dtype=bool)
        ys = target
    else:
        target = tb
        valid = tb != opts.ignore_index
        ys = np.where(valid, tb, 0)

    wide = D == 1 and C >= WIDE_MIN_CLASSES
    if wide:
        x2 = xb[:, :, 0]
        ar = np.arange(n)
        am = np.argmax(x2, axis=1)
        m = x2[ar, am].astype(wd)
        xy = x2[ar, ys[:, 0]].astype(wd)[:, None]
        m2 = m[:, None]
        am = am[:, None]
    else:
        am = np.zeros((n, D), dtype=np.intp)
        m2 = xb[:, 0, :].astype(wd)
        for c in range(1, C):
            xc = xb[:, c, :]
            am[xc > m2] = c
            np.maximum(m2, xc, out=m2, casting="unsafe")
        xy = np.take_along_axis(xb, ys[:, None, :], axis=1)[:, 0, :].astype(wd)

    smooth_dot = None  # sum_c w_c * d_c (index targets with smoothing)
    soft_dot = None  # sum_c tw_c * d_c (probability targets)
    rank = None
    if kind == "logits":
        dy = xy - m2
        s, smooth_dot, soft_dot, rank = _exp_pass(xb, m2, dy, opts, wd, tw if opts.soft else None)
        with np.errstate(divide="ignore"):
            ls = np.log(s)
        nll = ls - dy
        conf = 1.0 / s.astype(np.float64)
        tprob = np.exp(dy.astype(np.float64)) * conf
        bad = np.isnan(s)
    else:  # log-probabilities: nothing to normalise
        ls = np.zeros_like(m2)
        nll = -xy
        if e and not opts.soft:
            smooth_dot = _class_dot(xb, w, wd)
        if opts.soft:
            soft_dot = _class_dot(xb, None, wd, tw)
        if opts.top_k:
            rank = _rank(xb, xy)
        conf = np.exp(m2.astype(np.float64))
        tprob = np.exp(xy.astype(np.float64))
        bad = np.isnan(m2) | (m2 == np.inf)

    # Non-finite predictions in counted rows: NaN or +inf anywhere in the row. An all -inf row
    # gives NaN too, as in torch, but is not an error.
    counted_bad = bad & valid
    if opts.nonfinite == "error" and counted_bad.any():
        rows = np.flatnonzero(counted_bad.any(axis=1))
        real = [int(r) for r in rows if _has_nan_or_posinf(xb[r])]
        if real:
            out.nonfinite_rows.append(a + real[0])
            out.nonfinite_count += len(real)

    with np.errstate(invalid="ignore", over="ignore"):
        if opts.soft:
            twsum = tw.sum(axis=1, dtype=np.float64)
            assert soft_dot is not None
            loss = ls.astype(np.float64) * twsum - soft_dot.astype(np.float64)
            denom = np.ones((n, D))
        else:
            wy = w[ys] if w is not None else np.ones((n, D))
            loss = wy * nll.astype(np.float64)
            if e:
                assert smooth_dot is not None
                smooth = ls.astype(np.float64) * opts.weight_total - smooth_dot.astype(np.float64)
                loss = (1.0 - e) * loss + (e / C) * smooth
            loss = np.where(valid, loss, 0.0)
            denom = np.where(valid, wy, 0.0)

    out.loss[sl] = loss.reshape(-1)
    out.denom[sl] = denom.reshape(-1)
    out.counted[sl] = valid.reshape(-1)
    out.target[sl] = target.reshape(-1)
    out.pred[sl] = am.reshape(-1)
    out.conf[sl] = conf.reshape(-1)
    out.target_prob[sl] = tprob.reshape(-1)
    if out.topk is not None:
        assert rank is not None
        out.topk[sl] = (rank < opts.top_k).reshape(-1)


def _exp_pass(
    xb: np.ndarray,
    m2: np.ndarray,
    dy: np.ndarray,
    opts: CEOptions,
    wd: np.dtype,
    tw: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """One pass over the block: ``d = x - max``; the dot products that need ``d``; then
    ``sum(exp(d))`` in place. Returns (s, smooth_dot, soft_dot, rank)."""
    n, C, D = xb.shape
    w = opts.weight
    need_smooth = bool(opts.label_smoothing) and not opts.soft
    smooth_dot = soft_dot = rank = None
    with np.errstate(invalid="ignore", over="ignore"):
        if D == 1 and C >= WIDE_MIN_CLASSES:
            d = buffer(n * C, wd).reshape(n, C)
            np.subtract(xb[:, :, 0], m2, out=d, casting="unsafe")
            if need_smooth:
                smooth_dot = (d @ w.astype(wd) if w is not None else d.sum(axis=1))[:, None]
            if tw is not None:
                soft_dot = np.einsum("ij,ij->i", d, tw[:, :, 0])[:, None]
            if opts.top_k:
                rank = np.count_nonzero(d > dy, axis=1)[:, None]
            np.exp(d, out=d)
            s = d.sum(axis=1)[:, None]
            return s, smooth_dot, soft_dot, rank
        s = np.zeros((n, D), dtype=wd)
        tmp = buffer(n * D, wd).reshape(n, D)
        if need_smooth:
            smooth_dot = np.zeros((n, D), dtype=np.float64)
        if tw is not None:
            soft_dot = np.zeros((n, D), dtype=np.float64)
        if opts.top_k:
            rank = np.zeros((n, D), dtype=np.int64)
        for c in range(C):
            np.subtract(xb[:, c, :], m2, out=tmp, casting="unsafe")
            if smooth_dot is not None:
                smooth_dot += tmp if w is None else w[c] * tmp
            if soft_dot is not None:
                soft_dot += tw[:, c, :] * tmp  # type: ignore[index]
            if rank is not None:
                rank += tmp > dy
            np.exp(tmp, out=tmp)
            s += tmp
        return s, smooth_dot, soft_dot, rank


def _class_dot(
    xb: np.ndarray, w: np.ndarray | None, wd: np.dtype, tw: np.ndarray | None = None
) -> np.ndarray:
    """``sum_c coef_c * x_c`` over the class axis, with coef ``w`` (per class), ``tw`` (per
    position) or ones."""
    with np.errstate(invalid="ignore", over="ignore"):
        if tw is not None:
            return np.einsum("icd,icd->id", xb.astype(wd, copy=False), tw)
        if w is not None:
            return np.einsum("icd,c->id", xb.astype(wd, copy=False), w.astype(wd))
        return xb.sum(axis=1, dtype=wd)


def _rank(xb: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """How many classes score strictly above the target (ties count in the target's favour)."""
    return np.count_nonzero(xb > xy[:, None, :], axis=1)


def _has_nan_or_posinf(row: np.ndarray) -> bool:
    return bool(np.isnan(row).any() or np.isposinf(row).any())
