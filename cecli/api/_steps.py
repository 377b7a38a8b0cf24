"""The derivation of one row's loss, step by step, as a textbook writes it (``explain``).

Each function takes one row as stored (its predictions, its target) and the loss options bound
to the data, and returns a :class:`Derivation`: the named steps in order, each with the formula
it applies and its value (a number, or one value per shown class). The steps are computed in
float64 from the stored values, the way the formulas read (shift by the maximum, always); the
row's loss reported with them is the chunk kernel's own (what ``ce --reduction none`` prints),
so the last step and the loss can be compared. Long rows show the target, the top classes and
the first classes (``shown``), and say how many were left out; sums run over every class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import CEOptions, LossSpec, log_sigmoid, probs_clip

__all__ = ["LOG_SOFTMAX", "NLL", "Derivation", "Step", "bce_steps", "ce_steps", "shown_classes"]

#: The stages of a cross-entropy, each named once (torch's modules).
LOG_SOFTMAX = "LogSoftmax"
LOG_PROBS = "log of probabilities (sklearn's log_loss)"
NLL = "NLLLoss"
CROSS_ENTROPY = "CrossEntropyLoss = LogSoftmax + NLLLoss"
BCE_LOGITS = "BCEWithLogitsLoss"
BCE_PROBS = "BCELoss"

#: Rows with at most this many classes are shown whole.
SHOW_ALL = 12


@dataclass
class Step:
    """One step: its ``name``, the ``formula`` it applies, its ``value`` (a float, or an array
    over the shown classes) and the ``stage`` (torch's module) it belongs to."""

    name: str
    formula: str
    value: Any
    stage: str

    @property
    def per_class(self) -> bool:
        return isinstance(self.value, np.ndarray)


@dataclass
class Derivation:
    """One row's derivation: the steps, the classes (or labels) shown, and the row's loss as
    the chunk kernel computed it (``loss``; ``step_loss`` is the same from the steps)."""

    row: int
    loss: float
    step_loss: float
    counted: bool
    classes: int
    shown: np.ndarray  # class (label) indices the per-class steps show
    steps: list[Step] = field(default_factory=list)
    target: Any = None  # index target: the class index; probability targets: None
    why_ignored: str | None = None
    sample_weight: float | None = None
    id: Any = None
    stages: dict[str, str] = field(default_factory=dict)  # stage -> its formula, named once

    @property
    def elided(self) -> int:
        return self.classes - int(self.shown.size)

    def add(self, name: str, formula: str, value: Any, stage: str) -> Any:
        shown = value[self.shown] if isinstance(value, np.ndarray) else float(value)
        self.steps.append(Step(name, formula, shown, stage))
        return value


def shown_classes(C: int, keys: list[np.ndarray], must: list[int], top: int) -> np.ndarray:
    """The classes a long row shows: ``must`` (the target), the ``top`` largest of each key
    (the logits, the target probabilities) and the first classes, in class order."""
    if C <= SHOW_ALL:
        return np.arange(C)
    picked = set(must) | set(range(min(3, C)))
    for key in keys:
        order = np.argsort(-np.nan_to_num(key, nan=np.inf), kind="stable")
        picked.update(int(c) for c in order[:top])
    return np.array(sorted(picked), dtype=np.int64)


def _log_probs(d: Derivation, x: np.ndarray, opts: CEOptions, dtype: np.dtype) -> np.ndarray:
    """The log-softmax steps (logits), the clipped log (probabilities) or none (nll)."""
    if opts.input_kind == "logprobs":
        d.stages[NLL] = "l = -sum_c w_c * q_c * lp_c, the input being lp (no softmax)"
        given: np.ndarray = d.add("log_softmax", "lp_c = x_c (given: log-probabilities)", x, NLL)
        return given
    if opts.input_kind == "probs":
        lo, hi = probs_clip(dtype)
        d.stages[LOG_PROBS] = f"lp_c = log(clip(p_c, {lo:.3g}, 1 - {lo:.3g})), no softmax"
        d.add("probs", "p_c (given: probabilities)", x, LOG_PROBS)
        clipped = np.clip(x, lo, hi)
        logs: np.ndarray = d.add("log_probs", "lp_c = log(clip(p_c, eps, 1 - eps))", np.log(clipped), LOG_PROBS)
        return logs
    d.stages[LOG_SOFTMAX] = "lp_c = x_c - log(sum_j exp(x_j)), shifted by m = max_j x_j"
    d.add("logits", "x_c", x, LOG_SOFTMAX)
    finite = x[np.isfinite(x)]
    m = float(finite.max()) if finite.size else 0.0  # all -inf: no shift (scipy's logsumexp)
    d.add("max", "m = max_c x_c", m, LOG_SOFTMAX)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as torch gives
        s = d.add("shifted", "x_c - m", x - m, LOG_SOFTMAX)
        e = d.add("exp", "exp(x_c - m)", np.exp(s), LOG_SOFTMAX)
    with np.errstate(divide="ignore"):  # log 0 is -inf: every logit -inf
        total = d.add("sum", "S = sum_c exp(x_c - m)", float(np.sum(e)), LOG_SOFTMAX)
        lse = d.add("logsumexp", "lse = m + log(S)", m + float(np.log(total)), LOG_SOFTMAX)
    with np.errstate(invalid="ignore"):
        out: np.ndarray = d.add("log_softmax", "lp_c = x_c - lse", x - lse, LOG_SOFTMAX)
    return out


def ce_steps(
    row: int,
    preds: np.ndarray,
    target: Any,
    opts: CEOptions,
    loss: float,
    counted: bool,
    top: int = 5,
) -> Derivation:
    """The derivation of one ``ce`` / ``nll`` row: ``preds`` ``(C,)`` as stored, ``target``
    a class index or ``(C,)`` probabilities, ``loss`` the kernel's value for the row."""
    dtype = preds.dtype
    x = preds.astype(np.float64)
    C = opts.num_classes
    if x.size == 1 and C == 2:  # sklearn's binary form: one column of P(class 1)
        x = np.array([dtype.type(1) - preds[0], preds[0]], dtype=np.float64)
    w = np.ones(C) if opts.weight is None else opts.weight
    e = opts.label_smoothing
    soft = opts.soft
    t = np.asarray(target, dtype=np.float64) if soft else None
    y = None if soft else int(target)
    must = [y] if y is not None and 0 <= y < C else []
    shown = shown_classes(C, [x] + ([t] if t is not None else []), must, top)
    d = Derivation(row, float(loss), 0.0, counted, C, shown, target=y)
    if not counted:
        d.why_ignored = f"its target {y} equals ignore_index {opts.ignore_index}"
        d.stages[NLL] = "ignored: contributes 0 to the sum and nothing to the denominator"
        return d
    lp = _log_probs(d, x, opts, dtype)
    if soft:
        assert t is not None
        d.stages[CROSS_ENTROPY] = "l = -sum_c w_c * q_c * lp_c with q = t (1 - e) + e / C"
        d.add("target", "t_c (class probabilities)", t, CROSS_ENTROPY)
        q = d.add("smoothed_target", f"q_c = t_c (1 - {e:g}) + {e:g} / {C}", t * (1 - e) + e / C, CROSS_ENTROPY)
        d.add("weight", "w_c", w, CROSS_ENTROPY)
        with np.errstate(invalid="ignore"):  # 0 * -inf is NaN, as in torch
            terms = d.add("term", "-w_c q_c lp_c", -w * q * lp, CROSS_ENTROPY)
        d.step_loss = d.add("loss", "l = sum_c -w_c q_c lp_c", float(np.sum(terms)), CROSS_ENTROPY)
        return d
    assert y is not None
    stage = NLL if opts.input_kind == "logprobs" else CROSS_ENTROPY
    if stage == CROSS_ENTROPY:
        d.stages[CROSS_ENTROPY] = "l = (1 - e) w_y (-lp_y) + (e / C) sum_c w_c (-lp_c)"
    lpy = d.add("target_logprob", f"lp_y (y = {y})", lp[y], stage)
    d.add("target_prob", "p_y = exp(lp_y)", np.exp(lpy), stage)
    wy = d.add("weight", f"w_y (y = {y})", w[y], stage)
    nll = d.add("nll_term", f"(1 - {e:g}) w_y (-lp_y)", (1 - e) * wy * -lpy, stage)
    smooth = 0.0
    if e:
        with np.errstate(invalid="ignore"):
            total = float(np.sum(w * -lp))
        smooth = d.add("smoothing_term", f"({e:g} / {C}) sum_c w_c (-lp_c)", e / C * total, stage)
    d.step_loss = d.add("loss", "l = nll_term + smoothing_term" if e else "l = nll_term", nll + smooth, stage)
    return d


def bce_steps(
    row: int, preds: np.ndarray, target: np.ndarray, loss: LossSpec, losses: np.ndarray, top: int = 5
) -> Derivation:
    """The derivation of one ``bce`` row of ``L`` labels (``preds``, ``target`` ``(L,)``;
    ``losses`` the kernel's per-label values)."""
    x = np.atleast_1d(preds).astype(np.float64)
    t = np.atleast_1d(target).astype(np.float64)
    L = x.size
    w = np.broadcast_to(1.0 if loss.weight is None else loss.weight, (L,)).astype(np.float64)
    kernel = np.atleast_1d(losses).astype(np.float64)
    shown = shown_classes(L, [kernel], [], top)
    d = Derivation(row, float(np.sum(kernel)), 0.0, True, L, shown)
    d.add("target", "t", t, BCE_LOGITS)
    if loss.input == "probs":
        d.stages[BCE_PROBS] = "l = -w [t log(p) + (1 - t) log(1 - p)], each log clamped at -100"
        d.add("probs", "p (given)", x, BCE_PROBS)
        with np.errstate(divide="ignore"):
            lp = d.add("log_p", "max(log(p), -100)", np.maximum(np.log(x), -100), BCE_PROBS)
            l1p = d.add("log_1mp", "max(log(1 - p), -100)", np.maximum(np.log1p(-x), -100), BCE_PROBS)
        d.add("weight", "w", w, BCE_PROBS)
        terms = d.add("loss", "l = -w [t log p + (1 - t) log(1 - p)]", -w * (t * lp + (1 - t) * l1p), BCE_PROBS)
    else:
        pw = np.broadcast_to(1.0 if loss.pos_weight is None else loss.pos_weight, (L,)).astype(np.float64)
        d.stages[BCE_LOGITS] = "l = w [(1 - t) x - (1 + (pw - 1) t) log(sigmoid(x))]"
        d.add("logits", "x", x, BCE_LOGITS)
        ls = d.add("log_sigmoid", "log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))", log_sigmoid(x), BCE_LOGITS)
        d.add("log_1m_sigmoid", "log(1 - sigmoid(x)) = log(sigmoid(x)) - x", ls - x, BCE_LOGITS)
        d.add("pos_weight", "pw", pw, BCE_LOGITS)
        lw = d.add("log_weight", "1 + (pw - 1) t", 1 + (pw - 1) * t, BCE_LOGITS)
        d.add("weight", "w", w, BCE_LOGITS)
        terms = d.add("loss", "l = w [(1 - t) x - (1 + (pw - 1) t) log(sigmoid(x))]", w * ((1 - t) * x - lw * ls), BCE_LOGITS)
    d.add("kernel_loss", "l as bce --reduction none gives it", kernel, d.steps[-1].stage)
    d.step_loss = float(np.sum(terms))
    return d
