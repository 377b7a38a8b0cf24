"""Binary and multi-label cross-entropy (torch's ``BCEWithLogitsLoss`` and ``BCELoss``).

The one-shot functions work on the whole array; the streaming accumulator walks a chunk in row
blocks (:func:`bce_blocks`: losses, correct predictions and the non-finite scan, block by
block), as the cross-entropy kernel of :mod:`._ce` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ._blocks import work_dtype
from ._oneshot import as_float, check_reduction, reduce


def bce_arrays(
    input: Any, target: Any, weight: Any, pos_weight: Any, *, logits: bool, float64: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.dtype]:
    """Validated ``(x, t, w, pw, work dtype)``; weights broadcast as torch does."""
    x = as_float(input)
    wd = work_dtype(x.dtype, float64)
    t = np.asarray(target)
    if t.shape != x.shape:
        raise DataError(
            f"targets have shape {t.shape} but the predictions have {x.shape}",
            fix="binary targets must have the predictions' shape",
            about="target",
        )
    t = t.astype(wd, copy=False)
    with np.errstate(invalid="ignore"):
        bad_t = ~((t >= 0) & (t <= 1))
    if bad_t.any():
        i = int(np.flatnonzero(bad_t.reshape(-1))[0])
        raise DataError(
            "binary targets must be in [0, 1]",
            row=i // max(1, int(np.prod(x.shape[1:], dtype=np.int64))) if x.ndim > 1 else i,
            value=t.reshape(-1)[i].item(),
            about="target",
        )
    if not logits:
        with np.errstate(invalid="ignore"):
            bad_p = ~((x >= 0) & (x <= 1))
        if bad_p.any():
            i = int(np.flatnonzero(bad_p.reshape(-1))[0])
            raise DataError(
                "probabilities must be in [0, 1]",
                row=i // max(1, int(np.prod(x.shape[1:], dtype=np.int64))) if x.ndim > 1 else i,
                value=x.reshape(-1)[i].item(),
                fix="use --input logits for raw scores",
            )
    w = _broadcastable(weight, x.shape, "weight", wd)
    pw = None
    if pos_weight is not None:
        if not logits:
            raise UsageError("pos_weight applies to logits only (as in torch's BCELoss)")
        pw = _broadcastable(pos_weight, x.shape, "pos_weight", wd)
    return x.astype(wd, copy=False), t, w, pw, wd


def _broadcastable(v: Any, shape: tuple[int, ...], name: str, wd: np.dtype) -> np.ndarray | None:
    if v is None:
        return None
    with np.errstate(over="ignore"):  # checked just below
        a = np.asarray(v, dtype=wd)
    if not np.isfinite(a).all() and np.isfinite(np.asarray(v, dtype=np.float64)).all():
        raise UsageError(
            f"{name} values up to {float(np.max(v)):g} do not fit in the predictions' "
            f"precision ({np.dtype(wd).name})",
            fix="scale them down, or pass --float64",
        )
    try:
        np.broadcast_shapes(a.shape, shape)
    except ValueError:
        raise UsageError(
            f"{name} of shape {a.shape} does not broadcast to the predictions' shape {shape}",
            fix=f"give one value or one per class ({shape[-1] if shape else 1})",
        ) from None
    return a


#: torch's ``EPSILON`` in ``binary_cross_entropy_backward`` is a C++ ``float``.
_BCE_EPS = float(np.float32(1e-12))


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``, stable for any ``x``."""
    return np.asarray(np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))))


def bce_with_logits_elements(
    x: np.ndarray, t: np.ndarray, w: np.ndarray | None, pw: np.ndarray | None
) -> np.ndarray:
    """torch's stable form: ``w * ((1 - t) * x - (1 + (pw - 1) * t) * log_sigmoid(x))``."""
    ls = log_sigmoid(x)
    lw = 1 + (pw - 1) * t if pw is not None else 1
    out = np.asarray((1 - t) * x - lw * ls)
    return out * w if w is not None else out


def bce_elements(x: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """``-w * (t * log(p) + (1 - t) * log(1 - p))`` with each log clamped at -100 (torch)."""
    with np.errstate(divide="ignore"):
        lp = np.maximum(np.log(x), -100)
        l1p = np.maximum(np.log1p(-x), -100)
    out = np.asarray(-(t * lp + (1 - t) * l1p))
    return out * w if w is not None else out


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
) -> Any:
    """Binary cross-entropy of logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    ``weight`` broadcasts against the input; ``pos_weight`` weighs positives (one value per
    class, broadcast along the last axis). ``mean`` divides by the number of elements.

    Examples
    --------
    >>> import numpy as np, cecli
    >>> round(cecli.binary_cross_entropy_with_logits(np.array([0.0, 200.0]), np.array([1.0, 0.0])), 4)
    100.3466
    """
    check_reduction(reduction)
    x, t, w, pw, _ = bce_arrays(input, target, weight, pos_weight, logits=True)
    out = bce_with_logits_elements(x, t, w, pw)
    return _reduce_elements(out, reduction)


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> Any:
    """Binary cross-entropy of probabilities, as ``torch.nn.functional.binary_cross_entropy``
    (logs clamped at -100).

    Examples
    --------
    >>> import numpy as np, cecli
    >>> round(cecli.binary_cross_entropy(np.array([0.5]), np.array([1.0])), 6)
    0.693147
    """
    check_reduction(reduction)
    x, t, w, _, _ = bce_arrays(input, target, weight, None, logits=False)
    out = bce_elements(x, t, w)
    return _reduce_elements(out, reduction)


def _reduce_elements(out: np.ndarray, reduction: str) -> Any:
    out = out.astype(np.float64)
    if reduction == "none":
        return out
    return reduce(float(np.sum(out)), float(out.size), reduction)


def bce_with_logits_grad_elements(
    x: np.ndarray, t: np.ndarray, w: np.ndarray | None, pw: np.ndarray | None
) -> np.ndarray:
    """d/dx of the elementwise loss: ``w * ((1 - t) - lw * sigmoid(-x))`` with
    ``lw = 1 + (pw - 1) t``, which is ``w * (sigmoid(x) - t)`` without ``pos_weight``."""
    if pw is None:
        g = np.exp(log_sigmoid(x)) - t
    else:
        g = (1 - t) - (1 + (pw - 1) * t) * np.exp(log_sigmoid(-x))
    return np.asarray(g * w if w is not None else g)


def bce_grad_elements(x: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """torch's ``binary_cross_entropy_backward``: ``w (p - t) / max(p (1 - p), eps)`` where
    torch's ``eps`` is the float32 value nearest 1e-12, whatever the input's precision."""
    g = (x - t) / np.maximum((1 - x) * x, x.dtype.type(_BCE_EPS))
    return np.asarray(g * w if w is not None else g)


def binary_cross_entropy_with_logits_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy_with_logits` with respect to ``input`` (what
    ``loss.backward()`` gives; for ``none`` with an upstream gradient of ones)."""
    check_reduction(reduction)
    x, t, w, pw, _ = bce_arrays(input, target, weight, pos_weight, logits=True)
    g = np.broadcast_to(bce_with_logits_grad_elements(x, t, w, pw), x.shape)
    return g / x.size if reduction == "mean" and x.size else np.array(g)


def binary_cross_entropy_grad(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy` with respect to ``input``."""
    check_reduction(reduction)
    x, t, w, _, _ = bce_arrays(input, target, weight, None, logits=False)
    g = np.broadcast_to(bce_grad_elements(x, t, w), x.shape)
    return g / x.size if reduction == "mean" and x.size else np.array(g)


#: Elements per row block inside a chunk (a float32 block is 1 MiB): the elementwise formulas
#: make several temporaries of their input's size, which stay small (and in cache) this way.
BCE_BLOCK_ELEMENTS = 1 << 18


def row_blocks(x: np.ndarray) -> Iterator[slice]:
    """Row blocks of ``x`` ``(n,)`` or ``(n, labels)`` of about :data:`BCE_BLOCK_ELEMENTS`."""
    n = x.shape[0]
    labels = x.shape[1] if x.ndim == 2 else 1
    rb = max(1, BCE_BLOCK_ELEMENTS // max(1, labels))
    for a in range(0, n, rb):
        yield slice(a, min(n, a + rb))


def bce_losses(
    x: np.ndarray, t: np.ndarray, w: np.ndarray | None, pw: np.ndarray | None, logits: bool
) -> np.ndarray:
    """Per-element losses of validated arrays (:func:`bce_arrays`), in the working precision."""
    with np.errstate(invalid="ignore", over="ignore"):
        if logits:
            return bce_with_logits_elements(x, t, w, pw)
        return bce_elements(x, t, w)


def bce_grad(
    x: np.ndarray, t: np.ndarray, w: np.ndarray | None, pw: np.ndarray | None, logits: bool
) -> np.ndarray:
    """Per-element gradient of the unreduced loss (an upstream gradient of ones), block by
    block, in the working precision; divide by the element count for ``mean``."""
    g = np.empty(x.shape, dtype=x.dtype)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for b in row_blocks(x):
            if logits:
                g[b] = bce_with_logits_grad_elements(x[b], t[b], w, pw)
            else:
                g[b] = bce_grad_elements(x[b], t[b], w)
    return g


@dataclass
class BCEBlock:
    """One row block of a chunk: its rows, per-element losses (working precision), how many
    elements the prediction gets right, and the block-local rows holding a non-finite logit
    (scanned only when asked)."""

    rows: slice
    loss: np.ndarray
    correct: int
    bad_rows: np.ndarray | None = None
    hit: np.ndarray | None = None  # per element: the prediction is right (for per-label counts)


def default_threshold(logits: bool) -> float:
    """The decision threshold of a binary prediction: 0 on logits, 0.5 on probabilities (the
    same decision: sigmoid(0) = 0.5)."""
    return 0.0 if logits else 0.5


def bce_blocks(
    x: np.ndarray,
    t: np.ndarray,
    w: np.ndarray | None,
    pw: np.ndarray | None,
    *,
    logits: bool,
    scan_nonfinite: bool,
    threshold: float | None = None,
) -> Iterator[BCEBlock]:
    """Walk validated arrays in row blocks. Accuracy: a prediction above ``threshold``
    (default :func:`default_threshold`; compared in the predictions' precision) against a
    target above 0.5."""
    thr = x.dtype.type(default_threshold(logits) if threshold is None else threshold)
    for b in row_blocks(x):
        xb, tb = x[b], t[b]
        bad_rows = None
        if scan_nonfinite:
            bad = ~np.isfinite(xb)
            if bad.any():
                bad_rows = np.flatnonzero(bad.reshape(xb.shape[0], -1).any(axis=1))
        lb = bce_losses(xb, tb, w, pw, logits)
        hit = (xb > thr) == (tb > 0.5)
        yield BCEBlock(b, lb, int(np.count_nonzero(hit)), bad_rows, hit)


def bce_probs(x: np.ndarray, logits: bool) -> np.ndarray:
    """The predicted probability of each element: ``sigmoid(x)`` of logits (stable, in the
    working precision), probabilities as they are."""
    if not logits:
        return x
    with np.errstate(over="ignore"):
        p: np.ndarray = np.exp(log_sigmoid(x))
    return p
