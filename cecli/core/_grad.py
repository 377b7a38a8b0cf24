"""Gradients of the cross-entropy with respect to the predictions (``loss.backward()``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._blocks import buffer, rows_per_block, work_dtype
from ._checks import probs_clip
from ._oneshot import torch_inputs
from .spec import DEFAULT_IGNORE_INDEX, CEOptions


def ce_denominator(t: np.ndarray, opts: CEOptions) -> float:
    """The ``mean`` denominator from the targets alone: ``sum_i m_i w[y_i]`` (index targets) or
    the number of positions (probability targets)."""
    if opts.soft:
        return float(t.shape[0] * t.shape[2])
    valid = t != opts.ignore_index
    if opts.weight is None:
        return float(np.count_nonzero(valid))
    return float(np.sum(opts.weight[t[valid]]))


def ce_grad_positions(
    x3: np.ndarray, t: np.ndarray, opts: CEOptions, scale: float = 1.0
) -> np.ndarray:
    """Gradient of ``scale * sum_i l_i`` with respect to the predictions, ``(R, C, D)``.

    ``scale`` is ``1 / denominator`` for ``mean`` (1 for ``sum``/``none``). It multiplies the
    gradient with respect to the log-probabilities before the softmax's backward step, as in
    torch, so a zero denominator gives what torch gives: NaN rows for counted positions (only
    the target column with log-probability input), zeros for ignored ones.
    """
    R, C, D = x3.shape
    wd = work_dtype(x3.dtype, opts.float64)
    g = np.empty((R, C, D), dtype=wd)
    rb = rows_per_block(C, D)
    for a in range(0, R, rb):
        b = min(R, a + rb)
        g[a:b] = _grad_block(x3[a:b], t[a:b], opts, wd, scale)
    return g


def _grad_block(
    xb: np.ndarray, tb: np.ndarray, opts: CEOptions, wd: np.dtype, scale: float
) -> np.ndarray:
    n, C, D = xb.shape
    e = opts.label_smoothing
    w = opts.weight.astype(wd)[None, :, None] if opts.weight is not None else None
    x = xb.astype(wd)
    p_in = None
    if opts.input_kind == "probs":
        # sklearn's clip to [eps, 1 - eps] of the input's dtype; outside it the gradient is 0
        lo, hi = (wd.type(v) for v in probs_clip(xb.dtype))
        p_in = x
        x = np.log(np.clip(x, lo, hi))
    sc = wd.type(scale)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if opts.soft:
            tt = tb.astype(wd) * (1 - e) + e / C if e else tb.astype(wd)
            tw = tt * w if w is not None else tt
            valid = np.ones((n, 1, D), dtype=bool)
            base = -tw * sc  # d(-sum tw * lp)/d lp
        else:
            valid = (tb != opts.ignore_index)[:, None, :]
            ys = np.where(valid[:, 0, :], tb, 0)
            wy = w[0, :, 0][ys][:, None, :] if w is not None else np.ones((n, 1, D), dtype=wd)
            base = np.zeros((n, C, D), dtype=wd)
            # torch: grad_lp[y] = -w[y] * (grad_out / W); other classes are never multiplied.
            np.put_along_axis(base, ys[:, None, :], -(1 - e) * wy * sc, axis=1)
            if e:
                base -= (e / C) * (w if w is not None else wd.type(1)) * sc
        if opts.input_kind == "logits":
            m = x.max(axis=1, keepdims=True)
            p = buffer(x.size, wd, slot=2).reshape(x.shape)
            np.exp(x - m, out=p)
            p /= p.sum(axis=1, keepdims=True)
            # log_softmax backward: g_x = g_lp - softmax * sum_c g_lp
            grad = base - p * base.sum(axis=1, keepdims=True)
        else:
            grad = base
            if p_in is not None:
                inside = (p_in >= lo) & (p_in <= hi)
                grad = np.where(inside, grad / p_in, 0)
        return np.where(valid, grad, 0).astype(wd, copy=False)


def binary_grad(g3: np.ndarray) -> np.ndarray:
    """The gradient w.r.t. ``p`` of sklearn's binary form ``[1 - p, p]`` from the gradient
    ``(R, 2, D)`` w.r.t. its two columns: ``g[:, 1] - g[:, 0]``, as ``(R, 1, D)``."""
    out: np.ndarray = g3[:, 1:2, :] - g3[:, 0:1, :]
    return out


def cross_entropy_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    axis: int = 1,
    *,
    input_kind: str = "logits",
    targets: str = "auto",
) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to ``input``, the array torch's
    ``loss.backward()`` leaves in ``input.grad`` (for ``reduction='none'``, with an upstream
    gradient of ones). Same shape as ``input``.

    Examples
    --------
    >>> import numpy as np, cecli
    >>> cecli.cross_entropy_grad(np.array([[0.0, 0.0]]), np.array([1]))
    array([[ 0.5, -0.5]])
    """
    x = np.asarray(input)
    x3, t3, _, opts, ax = torch_inputs(
        x, target, axis, input_kind, targets, weight, ignore_index, reduction, label_smoothing
    )
    scale = 1.0
    if reduction == "mean":
        denom = ce_denominator(t3, opts)
        scale = 1.0 / denom if denom else math.inf
    g3 = ce_grad_positions(x3, t3, opts, scale)
    if x3.shape[1] == 2 and g3.shape[1] != (x.shape[ax] if x.ndim > 1 else x.shape[0]):
        g3 = binary_grad(g3)
    shape = x.shape if x.ndim > 1 else (1, *x.shape)
    if ax in (1, len(shape) - 1):
        return g3.reshape(x.shape)
    moved = np.moveaxis(np.empty(shape, dtype=bool), ax, 1).shape
    return np.moveaxis(g3.reshape(moved), 1, ax)


def nll_loss_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    reduction: str = "mean",
    axis: int = 1,
    *,
    targets: str = "auto",
) -> np.ndarray:
    """Gradient of :func:`nll_loss` with respect to its log-probability ``input``."""
    return cross_entropy_grad(
        input, target, weight, ignore_index, reduction, 0.0, axis, input_kind="logprobs",
        targets=targets,
    )
