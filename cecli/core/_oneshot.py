"""One-shot functions with torch's names and semantics, built on the block kernel.

Each call builds a :class:`~cecli.core.spec.LossSpec` from torch's keyword arguments (so the
one-shot functions and the accumulators validate options the same way) and runs the kernel of
:mod:`._ce` on the whole array.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ._blocks import as_3d, buffer, class_axis_of, rows_per_block, work_dtype
from ._ce import ce_positions, index_targets
from ._checks import binary_probs
from .spec import DEFAULT_IGNORE_INDEX, CEOptions, LossSpec, Reduction, TargetKind


def check_reduction(reduction: str) -> Reduction:
    """``reduction`` as a :class:`Reduction` (a UsageError for anything else)."""
    return Reduction.parse(reduction, "--reduction")


def as_float(x: Any) -> np.ndarray:
    """Predictions as a float array (integers become float64; float16 stays float16)."""
    a = np.asarray(x)
    if a.dtype.kind != "f":
        if a.dtype.kind not in "biu":
            raise DataError(f"predictions must be numbers, not {a.dtype}")
        a = a.astype(np.float64)
    return a


def is_soft(target: np.ndarray, pred_shape: tuple[int, ...], targets: TargetKind) -> bool:
    """torch's rule: targets of the predictions' shape are class probabilities."""
    if targets is TargetKind.AUTO:
        return target.shape == pred_shape and target.dtype.kind == "f"
    return targets is TargetKind.PROBS


def split_input(
    input: Any, target: Any, axis: int, targets: TargetKind = TargetKind.AUTO
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], int, bool, int]:
    """Predictions and targets as kernel views.

    Returns ``(x3, t, positions_shape, C, soft, class_axis)``: ``x3`` is ``(R, C, D)``; ``t`` is
    ``(R, D)`` raw class indices or ``(R, C, D)`` probabilities. Unbatched ``(C,)`` input is
    treated as one sample (positions shape ``()``).
    """
    x = as_float(input)
    t = np.asarray(target)
    unbatched = x.ndim == 1
    if unbatched:
        x = x[None]
        t = t[None]
        axis = 1
    ax = class_axis_of(x.ndim, axis)
    if x.ndim == 1:
        raise UsageError("predictions need a class axis")
    C = x.shape[ax]
    soft = is_soft(t, x.shape, targets)
    x3, pos_shape = as_3d(x, ax)
    if soft:
        if t.shape != x.shape:
            raise DataError(
                f"probability targets have shape {_shape(t.shape, unbatched)} but the "
                f"predictions have {_shape(x.shape, unbatched)}"
            )
        t3, _ = as_3d(t if t.dtype.kind == "f" else t.astype(np.float64), ax)
    else:
        if t.shape != pos_shape:
            raise DataError(
                f"targets have shape {_shape(t.shape, unbatched)} but the predictions "
                f"{_shape(x.shape, unbatched)} need {_shape(pos_shape, unbatched)}",
                fix="check --class-axis, or give probability targets of the predictions' shape",
            )
        t3 = t.reshape(x3.shape[0], x3.shape[2])
    if unbatched:
        pos_shape = ()
    return x3, t3, pos_shape, C, soft, ax


def _shape(shape: tuple[int, ...], unbatched: bool) -> tuple[int, ...]:
    return shape[1:] if unbatched else shape


def reduce(total: float, denom: float, reduction: str) -> float:
    """``sum`` or ``mean`` of already-summed statistics.

    A zero denominator gives NaN, as in torch: the weighted log-likelihood part is then 0/0
    (every counted target has weight 0, or nothing is counted), and NaN absorbs the rest.
    """
    if reduction == "sum":
        return float(total)
    if denom == 0:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(total) / np.float64(denom))


def raise_nonfinite(first_row: int, count: int, file: str | None = None) -> None:
    raise DataError(
        f"non-finite predictions (NaN or +inf) in {count} counted row(s), the first",
        file=file,
        row=first_row,
        fix="clean the predictions, or pass --nonfinite propagate to let NaN through as torch does",
    )


def kernel_inputs(
    input: Any, target: Any, spec: LossSpec, axis: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], CEOptions, int]:
    """Validated kernel inputs of a one-shot call: ``(x3, t3, positions shape, options, class
    axis)``, with class-index targets checked against ``[0, C)``. Probabilities of one class
    with class-index targets are sklearn's binary form, read as ``[1 - p, p]`` (two classes)."""
    x3, t3, pos_shape, C, soft, ax = split_input(input, target, axis, spec.targets)
    if spec.input == "probs" and C == 1 and not soft:
        x3, C = binary_probs(x3), 2  # sklearn's binary form: the positive class's probability
    opts = spec.bind(C, soft)
    if not soft:
        t3 = index_targets(t3, C, spec.ignore_index)
    return x3, t3, pos_shape, opts, ax


def torch_inputs(
    input: Any,
    target: Any,
    axis: int,
    input_kind: str,
    targets: str,
    weight: Any,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    nonfinite: str = "propagate",
    float64: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], CEOptions, int]:
    """:func:`kernel_inputs` of a one-shot call (``cross_entropy`` and its gradient) from
    torch's keyword arguments, validated by the :class:`LossSpec` they make."""
    spec = LossSpec(
        kind="ce",
        input=input_kind,  # type: ignore[arg-type]  # parsed by the spec
        targets=targets,  # type: ignore[arg-type]
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,  # type: ignore[arg-type]
        label_smoothing=label_smoothing,
        float64=float64,
        nonfinite=nonfinite,  # type: ignore[arg-type]
    )
    return kernel_inputs(input, target, spec, axis)


def cross_entropy(
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
    nonfinite: str = "propagate",
    float64: bool = False,
    threads: int | None = None,
) -> Any:
    """Cross-entropy between predictions and targets, as ``torch.nn.functional.cross_entropy``.

    Parameters
    ----------
    input : array_like
        Logits of shape ``(N, C)``, ``(N, C, d1, ..., dk)`` or ``(C,)`` (one sample), with the
        classes on ``axis``. ``input_kind='probs'`` or ``'logprobs'`` takes probabilities or
        log-probabilities instead (no softmax is applied to log-probabilities).
    target : array_like
        Class indices of shape ``(N, d1, ..., dk)`` (or ``()``), or class probabilities of the
        input's shape.
    weight : array_like, optional
        A weight per class (``C`` values).
    ignore_index : int
        Targets equal to it contribute nothing and leave the ``mean`` denominator.
    reduction : {"mean", "sum", "none"}
    label_smoothing : float in [0, 1]
    axis : int
        The class axis (1 as in torch; -1 for ``(batch, seq, vocab)`` arrays).
    threads : int, optional
        Threads for large inputs (NumPy releases the GIL); default: every core the process may
        use once the input has a few million values, one thread below that.

    Returns
    -------
    float or ndarray
        The reduced loss (a float, NaN when nothing is counted for ``mean``), or with
        ``reduction='none'`` a float64 array in the targets' shape.

    Notes
    -----
    With ``lp = log_softmax(input)``, ``m_i = [y_i != ignore_index]`` and smoothing ``e``::

        l_i  = m_i * ((1 - e) * w[y_i] * -lp[i, y_i] + (e / C) * sum_c w[c] * -lp[i, c])
        mean = sum_i l_i / sum_i m_i * w[y_i]

    For probability targets ``t' = t (1 - e) + e / C``, ``l_i = -sum_c w[c] t'[i, c] lp[i, c]``
    and ``mean`` divides by the number of positions. Each row's log-sum-exp is computed in the
    input's precision (float16 upcast to float32); losses are summed in float64.

    Examples
    --------
    >>> import numpy as np, cecli
    >>> round(cecli.cross_entropy(np.array([[2.0, 0.5, -1.0]]), np.array([0])), 6)
    0.241311
    """
    x3, t3, pos_shape, opts, _ = torch_inputs(
        input, target, axis, input_kind, targets, weight, ignore_index, reduction,
        label_smoothing, nonfinite, float64,
    )
    pos = ce_positions(x3, t3, opts, threads=threads, light=True)
    if pos.nonfinite_count:
        raise_nonfinite(pos.nonfinite_rows[0], pos.nonfinite_count)
    if reduction == "none":
        return pos.loss.reshape(pos_shape)
    return reduce(float(np.sum(pos.loss)), float(np.sum(pos.denom)), reduction)


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    reduction: str = "mean",
    axis: int = 1,
    *,
    targets: str = "auto",
    nonfinite: str = "propagate",
    threads: int | None = None,
) -> Any:
    """Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    ``cross_entropy(..., input_kind='logprobs')``: no softmax is applied.

    Examples
    --------
    >>> import numpy as np, cecli
    >>> float(cecli.nll_loss(np.log([[0.5, 0.25, 0.25]]), np.array([1])))
    1.3862943611198906
    """
    return cross_entropy(
        input,
        target,
        weight,
        ignore_index,
        reduction,
        0.0,
        axis,
        input_kind="logprobs",
        targets=targets,
        nonfinite=nonfinite,
        threads=threads,
    )


def log_softmax(x: Any, axis: int = 1) -> np.ndarray:
    """``log(softmax(x))`` along ``axis``, computed stably (shift by the maximum).

    Float16 input is computed and returned as float32. A row that is all ``-inf`` gives NaN, as
    in torch; ``-inf`` entries of other rows give ``-inf``.

    Examples
    --------
    >>> import numpy as np, cecli
    >>> cecli.log_softmax(np.array([[0.0, 0.0]]))
    array([[-0.69314718, -0.69314718]])
    """
    return _softmax(x, axis, log=True)


def softmax(x: Any, axis: int = 1) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis`` (see :func:`log_softmax`).

    Examples
    --------
    >>> import numpy as np, cecli
    >>> cecli.softmax(np.array([[0.0, np.log(3.0)]]))
    array([[0.25, 0.75]])
    """
    return _softmax(x, axis, log=False)


def _softmax(x: Any, axis: int, log: bool, temperature: float = 1.0) -> np.ndarray:
    a = as_float(x)
    unbatched = a.ndim == 1
    if unbatched:
        a = a[None]
        axis = 1
    ax = class_axis_of(a.ndim, axis)
    if ax != 1 and ax != a.ndim - 1:
        return np.moveaxis(_softmax(np.moveaxis(a, ax, -1), -1, log, temperature), -1, ax)
    x3, _ = as_3d(a, ax)
    out = np.empty(x3.shape, dtype=work_dtype(a.dtype))
    softmax_into(x3, out, log=log, temperature=temperature)
    res = out.reshape(a.shape)
    return res[0] if unbatched else res


def softmax_into(
    x3: np.ndarray, out: np.ndarray, *, log: bool, temperature: float = 1.0
) -> None:
    """Write (log-)softmax of ``x3 / temperature`` ``(R, C, D)`` over axis 1 into ``out``."""
    R, C, D = x3.shape
    rb = rows_per_block(C, D)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for a in range(0, R, rb):
            b = min(R, a + rb)
            o = out[a:b]
            np.copyto(o, x3[a:b], casting="unsafe")
            if temperature != 1.0:
                o /= o.dtype.type(temperature)
            m = o.max(axis=1, keepdims=True)
            o -= m
            e = buffer(o.size, o.dtype).reshape(o.shape)
            np.exp(o, out=e)
            s = e.sum(axis=1, keepdims=True)
            if log:
                o -= np.log(s)
            else:
                np.divide(e, s, out=o)
