"""Write the golden fixtures of the loss family's command-line tests (bce, softmax, gradients,
probability inputs), computed by PyTorch and scikit-learn.

How to run (from the repository root)::

    /work/venv/bin/python scripts/make_golden_family.py

It needs torch 2.13.0 (CPU build), NumPy and scikit-learn 1.9. Every random draw comes from
``numpy.random.default_rng(SEED)`` and torch runs single-threaded, so rerunning the script
rewrites the same values. The tests never import torch or scikit-learn: they read only

    tests/fixtures/bce_softmax/cases.json   one entry per case: the command line to run, the
                                            names of its input arrays, the expected values
    tests/fixtures/bce_softmax/arrays.npz   every array by name (inputs in their own dtype,
                                            references as float64)

Provenance of the expected values:

* ``bce`` cases: ``torch.nn.functional.binary_cross_entropy_with_logits`` (or
  ``binary_cross_entropy`` for ``--input probs``) evaluated **in the input's dtype** on exactly
  the stored arrays, with ``weight`` / ``pos_weight`` as tensors of that dtype; the gradient is
  autograd's ``input.grad`` after ``loss.backward()`` (``backward(ones_like(loss))`` for
  ``none``).
* ``grad`` cases (``ce`` / ``nll --grad-output``): ``F.cross_entropy`` / ``F.nll_loss`` and
  autograd, likewise in the input's dtype; a class axis other than 1 is moved to 1 for torch
  and the gradient moved back. ``--input probs`` is
  ``F.nll_loss(log(clamp(p, eps, 1 - eps)))`` with ``eps`` of the input's dtype (sklearn's
  ``log_loss`` clip, what DESIGN.md defines it as; torch's clamp passes the gradient inside
  the interval, its ends included, and 0 outside).
* ``softmax`` cases: ``torch.softmax`` / ``torch.log_softmax`` of ``x / T`` (the division in
  the input's dtype, as ``x / T`` does in torch) along the class axis.
* ``log_loss`` cases: ``sklearn.metrics.log_loss(y, P, labels=range(C), normalize=...,
  sample_weight=...)``. P is float64, rows inside [0.01, 0.95] so sklearn's clipping to
  ``[eps, 1 - eps]`` is a no-op; one case scales some rows so they do not sum to 1 (sklearn
  warns and does not renormalise, and neither does cecli).
* ``log_loss_edge`` cases (drawn from their own generator, ``SEED + 1``, so the cases above keep
  their values): ``sklearn.metrics.log_loss`` where its clip matters -- probabilities of exactly
  0 and 1 and below ``eps`` -- in float16, float32 and float64 (sklearn clips to
  ``[eps, 1 - eps]`` with ``eps = finfo(dtype).eps`` of the input and computes in that dtype);
  and sklearn's binary form, ``y_proba`` of shape ``(n,)`` holding the positive class's
  probability with 0/1 labels, stored as one column, with and without (some negative) sample
  weights. sklearn computes float16 / float32 input in that precision while cecli takes the
  log in float32 and sums in float64, so those cases carry a dtype-sized tolerance (``rtol``).
* ``grad-ce-probs-binary-*`` (family ``grad``): the binary form's gradient with respect to the
  one column ``p``: autograd through ``F.nll_loss(log(clamp(stack([1 - p, p]), eps, 1 - eps)))``.
* ``grad_nonfinite_ignored`` cases: ``F.cross_entropy`` with an ignored row whose logits hold
  NaN / inf: torch's gradient is NaN on that row (its softmax is NaN, and 0 * NaN is NaN),
  stored as torch gives it, so the test shows where cecli (0 on ignored rows) differs.

Tolerance scales (``*_scale`` arrays) are computed here **from the inputs only**: the size of
the terms that meet in each result, so a test can use ``atol = tol * scale`` where a relative
tolerance alone is meaningless (a loss or gradient that cancels to ~0). They are documented
next to each computation below.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss

torch.set_num_threads(1)

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bce_softmax"
SEED = 20250414
DT = {"f32": np.float32, "f64": np.float64}


class Store:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.cases: list[dict[str, Any]] = []

    def put(self, cid: str, name: str, a: np.ndarray) -> str:
        key = f"{cid}/{name}"
        assert key not in self.arrays
        self.arrays[key] = np.array(a, order="C")
        return key

    def add(self, entry: dict[str, Any]) -> None:
        assert all(c["id"] != entry["id"] for c in self.cases)
        self.cases.append(entry)


def num(v: float) -> float | str:
    """A JSON-safe number (non-finite as a string)."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def csv_list(v: np.ndarray) -> str:
    return ",".join(repr(float(x)) for x in np.asarray(v).reshape(-1))


def backward(loss: torch.Tensor, reduction: str) -> None:
    loss.backward(torch.ones_like(loss) if reduction == "none" else None)


# ---------------------------------------------------------------------------------------------
# bce


def bce_case(
    store: Store,
    cid: str,
    x: np.ndarray,
    t: np.ndarray,
    *,
    kind: str = "logits",
    weight: np.ndarray | None = None,
    pos_weight: np.ndarray | None = None,
    reduction: str = "mean",
) -> None:
    dt = x.dtype
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    tt = torch.from_numpy(t.copy())
    wt = None if weight is None else torch.from_numpy(weight.astype(dt))
    pwt = None if pos_weight is None else torch.from_numpy(pos_weight.astype(dt))
    if kind == "logits":
        loss = F.binary_cross_entropy_with_logits(
            xt, tt, weight=wt, pos_weight=pwt, reduction=reduction
        )
    else:
        loss = F.binary_cross_entropy(xt, tt, weight=wt, reduction=reduction)
    backward(loss, reduction)
    assert xt.grad is not None
    value = loss.detach().numpy().astype(np.float64)
    grad = xt.grad.numpy().astype(np.float64)

    # Tolerance scales, from the inputs: each element's loss is a sum of terms of these sizes,
    # and its gradient a difference of terms of these sizes.
    xd, td = x.astype(np.float64), t.astype(np.float64)
    w = np.ones(1) if weight is None else weight.astype(np.float64)
    if kind == "logits":
        pw = np.ones(1) if pos_weight is None else pos_weight.astype(np.float64)
        lw = 1 + (pw - 1) * td
        scale = np.abs(w) * (np.abs(1 - td) * np.abs(xd) + np.abs(lw) * (np.abs(xd) + math.log(2)))
        gscale = np.abs(w) * (np.abs(1 - td) + np.abs(lw) + np.abs(pw) * td)
    else:
        with np.errstate(divide="ignore"):
            lp = np.minimum(-np.log(xd), 100.0)
            l1p = np.minimum(-np.log1p(-xd), 100.0)
        scale = np.abs(w) * (td * (lp + 1) + (1 - td) * (l1p + 1))
        gscale = np.abs(w) * (xd + td) / np.maximum(xd * (1 - xd), 1e-12)
    scale = np.broadcast_to(scale, x.shape)
    gscale = np.broadcast_to(gscale, x.shape)
    n = x.size
    if reduction == "mean":
        gscale = gscale / n
    args = ["--input", kind, "--reduction", reduction]
    if weight is not None:
        args += ["--weight", csv_list(weight)]
    if pos_weight is not None:
        args += ["--pos-weight", csv_list(pos_weight)]
    entry: dict[str, Any] = {
        "id": cid,
        "family": "bce",
        "dtype": dt.name,
        "args": args,
        "reduction": reduction,
        "preds": store.put(cid, "preds", x),
        "target": store.put(cid, "target", t),
        "grad": store.put(cid, "grad", grad),
        "grad_scale": store.put(cid, "grad_scale", gscale),
    }
    if reduction == "none":
        entry["losses"] = store.put(cid, "losses", value)
        entry["loss_scale"] = store.put(cid, "loss_scale", scale)
    else:
        entry["loss"] = num(float(value))
        entry["loss_scale"] = float(scale.sum() if reduction == "sum" else scale.mean())
    store.add(entry)


def bce_targets(rng: np.random.Generator, shape: tuple[int, ...], dt: Any, soft: bool) -> np.ndarray:
    if soft:
        return rng.random(shape).astype(dt)
    return (rng.random(shape) < 0.4).astype(dt)


def bce_cases(store: Store, rng: np.random.Generator) -> None:
    for dname, dt in DT.items():
        # Binary (N,) logits with extremes: +-200 must not overflow, 0 and +-50 in between.
        x1 = (rng.normal(size=12) * 3).astype(dt)
        x1[:5] = [200.0, -200.0, 50.0, -50.0, 0.0]
        t1 = bce_targets(rng, (12,), dt, soft=False)
        t1[:2] = [0.0, 1.0]  # the worst cancellations: confident and wrong
        for red in ("mean", "sum", "none"):
            bce_case(store, f"bce-bin-{dname}-{red}", x1, t1, reduction=red)
        bce_case(store, f"bce-bin-pw-{dname}", x1, t1, pos_weight=np.array([2.5]))
        # Multi-label (N, C) logits, soft targets, per-label weight and pos_weight.
        x2 = (rng.normal(size=(10, 4)) * 4).astype(dt)
        x2[0] = [200.0, -200.0, 120.0, -80.0]
        t2 = bce_targets(rng, (10, 4), dt, soft=True)
        w = np.array([1.0, 2.0, 0.5, 0.0])
        pw = np.array([3.0, 0.5, 1.0, 10.0])
        for red in ("mean", "sum", "none"):
            bce_case(store, f"bce-ml-w-pw-{dname}-{red}", x2, t2, weight=w, pos_weight=pw,
                     reduction=red)
        bce_case(store, f"bce-ml-scalar-w-{dname}", x2, t2, weight=np.array([0.7]),
                 pos_weight=np.array([1.5]))
        bce_case(store, f"bce-ml-hard-{dname}", x2, bce_targets(rng, (10, 4), dt, soft=False))
        # BCELoss on probabilities, with exact 0 and 1 (log clamped at -100).
        p = rng.uniform(0.001, 0.999, size=(8, 3)).astype(dt)
        p[0] = [0.0, 1.0, 0.5]
        p[1] = [1.0, 0.0, 1e-30 if dname == "f64" else 1e-20]
        tp = bce_targets(rng, (8, 3), dt, soft=True)
        tp[0] = [1.0, 0.0, 1.0]
        tp[1] = [1.0, 0.0, 0.0]
        for red in ("mean", "sum", "none"):
            bce_case(store, f"bce-probs-{dname}-{red}", p, tp, kind="probs", reduction=red)
        bce_case(store, f"bce-probs-w-{dname}", p, tp, kind="probs",
                 weight=np.array([2.0, 1.0, 0.25]))


# ---------------------------------------------------------------------------------------------
# ce / nll gradients


def grad_case(
    store: Store,
    cid: str,
    command: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    kind: str = "logits",
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    smoothing: float = 0.0,
    reduction: str = "mean",
    axis: int = 1,
) -> None:
    dt = x.dtype
    ax = axis % x.ndim
    xm = np.array(np.moveaxis(x, ax, 1), order="C")
    soft = y.dtype.kind == "f"
    ym = np.array(np.moveaxis(y, ax, 1), order="C") if soft else y
    xt = torch.from_numpy(xm.copy()).requires_grad_(True)
    yt = torch.from_numpy(ym.copy()) if soft else torch.from_numpy(ym.astype(np.int64))
    wt = None if weight is None else torch.from_numpy(weight.astype(dt))
    if kind == "logits":
        loss = F.cross_entropy(xt, yt, weight=wt, ignore_index=ignore_index,
                               reduction=reduction, label_smoothing=smoothing)
    else:
        lp = xt
        if kind == "probs":
            eps = np.finfo(dt).eps
            lp = torch.log(torch.clamp(xt, min=float(eps), max=float(dt.type(1) - eps)))
        assert smoothing == 0.0 and not soft
        loss = F.nll_loss(lp, yt, weight=wt, ignore_index=ignore_index, reduction=reduction)
    backward(loss, reduction)
    assert xt.grad is not None
    grad = np.moveaxis(xt.grad.numpy().astype(np.float64), 1, ax)

    # Tolerance scale per element, from the inputs: the gradient is coef * (softmax - target)
    # (logits), -coef-like constants (logprobs) or those over p (probs); softmax is good to
    # ~eps absolute, so the scale is the position's coefficient over the mean denominator.
    C = xm.shape[1]
    wv = np.ones(C) if weight is None else weight.astype(np.float64)
    wb = wv.reshape((1, C) + (1,) * (xm.ndim - 2))
    if soft:
        tp = ym.astype(np.float64) * (1 - smoothing) + smoothing / C
        coef = np.sum(tp * wb, axis=1, keepdims=True) + np.abs(tp * wb)
        denom = float(np.prod(ym.shape) / C)
    else:
        valid = ym != ignore_index
        yc = np.where(valid, ym, 0)
        wy = wv[yc] * valid
        coef = ((1 - smoothing) * wy + smoothing / C * wv.sum() * valid)[:, None]
        denom = float(wy.sum())
    gscale = np.broadcast_to(coef, xm.shape).astype(np.float64)
    if kind == "probs":
        gscale = gscale / np.maximum(xm.astype(np.float64), np.finfo(dt).tiny)
    if reduction == "mean" and denom > 0:
        gscale = gscale / denom
    gscale = np.moveaxis(gscale, 1, ax)

    args = ["--reduction", reduction, "--input", kind]
    if weight is not None:
        args += ["--weight", csv_list(weight)]
    if ignore_index != -100:
        args += ["--ignore-index", str(ignore_index)]
    if smoothing:
        args += ["--label-smoothing", repr(smoothing)]
    if axis != 1:
        args += ["--class-axis", str(axis)]
    if soft:
        args += ["--targets", "probs"]
    store.add({
        "id": cid,
        "family": "grad",
        "command": command,
        "dtype": dt.name,
        "args": args,
        "reduction": reduction,
        "loss": num(float(loss.detach().sum())) if reduction != "none" else None,
        "preds": store.put(cid, "preds", x),
        "target": store.put(cid, "target", y),
        "grad": store.put(cid, "grad", grad),
        "grad_scale": store.put(cid, "grad_scale", gscale),
    })


def grad_cases(store: Store, rng: np.random.Generator) -> None:
    for dname, dt in DT.items():
        N, C = 9, 5
        x = (rng.normal(size=(N, C)) * 2).astype(dt)
        y = rng.integers(0, C, size=N)
        y_ig = y.copy()
        y_ig[[1, 4]] = -100
        w = np.array([1.0, 2.0, 0.5, 3.0, 0.25])
        for red in ("mean", "sum", "none"):
            grad_case(store, f"grad-ce-{dname}-{red}", "ce", x, y, reduction=red)
            grad_case(store, f"grad-ce-w-ii-{dname}-{red}", "ce", x, y_ig, weight=w,
                      reduction=red)
        grad_case(store, f"grad-ce-ls-w-ii-{dname}", "ce", x, y_ig, weight=w, smoothing=0.1)
        grad_case(store, f"grad-ce-ls-sum-{dname}", "ce", x, y, smoothing=0.25, reduction="sum")
        y_i2 = y.copy()
        y_i2[y_i2 == 2] = 3
        y_i2[0] = 2
        grad_case(store, f"grad-ce-ii2-{dname}", "ce", x, y_i2, ignore_index=2)
        # probability targets (soft), with weight and smoothing
        tp = rng.dirichlet(np.ones(C), size=N).astype(dt)
        for red in ("mean", "sum", "none"):
            grad_case(store, f"grad-ce-soft-w-ls-{dname}-{red}", "ce", x, tp, weight=w,
                      smoothing=0.1, reduction=red)
        # nll on log-probabilities
        lp = torch.log_softmax(torch.from_numpy(x), 1).numpy()
        for red in ("mean", "sum", "none"):
            grad_case(store, f"grad-nll-w-ii-{dname}-{red}", "nll", lp, y_ig, kind="logprobs",
                      weight=w, reduction=red)
        # ce --input probs
        p = rng.dirichlet(np.ones(C) * 2, size=N).astype(dt)
        grad_case(store, f"grad-ce-probs-{dname}", "ce", p, y_ig, kind="probs", weight=w)
        # (N, C, d) with ignored positions, and (N, T, C) with --class-axis -1
        x3 = rng.normal(size=(4, C, 3)).astype(dt)
        y3 = rng.integers(0, C, size=(4, 3))
        y3[0, 1] = -100
        grad_case(store, f"grad-ce-3d-{dname}", "ce", x3, y3, weight=w)
        xs = rng.normal(size=(3, 4, C)).astype(dt)
        ys = rng.integers(0, C, size=(3, 4))
        ys[2, 3] = -100
        grad_case(store, f"grad-ce-seq-{dname}", "ce", xs, ys, smoothing=0.05, axis=-1)
        # every target ignored: a NaN mean, but a zero gradient (torch)
        grad_case(store, f"grad-ce-all-ignored-{dname}", "ce", x[:3], np.full(3, -100))


# ---------------------------------------------------------------------------------------------
# softmax


def softmax_case(
    store: Store, cid: str, x: np.ndarray, *, log: bool, temperature: float = 1.0, axis: int = 1
) -> None:
    xt = torch.from_numpy(x.copy())
    if temperature != 1.0:
        xt = xt / temperature
    out = (torch.log_softmax if log else torch.softmax)(xt, dim=axis % x.ndim)
    args = ["--log"] if log else []
    if temperature != 1.0:
        args += ["--temperature", repr(temperature)]
    if axis != 1:
        args += ["--class-axis", str(axis)]
    store.add({
        "id": cid,
        "family": "softmax",
        "dtype": x.dtype.name,
        "args": args,
        "preds": store.put(cid, "preds", x),
        "expected": store.put(cid, "expected", out.numpy().astype(np.float64)),
    })


def softmax_cases(store: Store, rng: np.random.Generator) -> None:
    for dname, dt in DT.items():
        x = (rng.normal(size=(8, 6)) * 5).astype(dt)
        x[0, [1, 3]] = -np.inf  # masked classes
        x[1] = -np.inf  # every class masked: NaN, as torch
        x[2, 0] = 80.0  # one dominant class (exp would overflow unshifted in float32)
        x[3] = [1000.0, 999.0, -1000.0, 0.0, 1000.0, -np.inf]
        for log in (False, True):
            softmax_case(store, f"softmax-{dname}-{'log' if log else 'p'}", x, log=log)
            softmax_case(store, f"softmax-t-{dname}-{'log' if log else 'p'}", x, log=log,
                         temperature=2.5)
        x3 = rng.normal(size=(3, 4, 5)).astype(dt)
        x3[0, 1, 2] = -np.inf
        softmax_case(store, f"softmax-seq-{dname}", x3, log=False, axis=-1)
        softmax_case(store, f"softmax-3d-{dname}", x3, log=True, axis=1)


# ---------------------------------------------------------------------------------------------
# --input probs against sklearn's log_loss


def log_loss_cases(store: Store, rng: np.random.Generator) -> None:
    def probs(n: int, C: int) -> np.ndarray:
        while True:
            p = rng.dirichlet(np.ones(C) * 3, size=n)
            if p.min() >= 0.01 and p.max() <= 0.95:
                return p

    for n, C in ((40, 4), (25, 2)):
        p = probs(n, C)
        y = rng.integers(0, C, size=n)
        sw = rng.uniform(0.2, 3.0, size=n).round(3)
        for normalize in (True, False):
            for weighted in (False, True):
                cid = f"logloss-n{n}-C{C}-{'mean' if normalize else 'sum'}{'-sw' if weighted else ''}"
                value = log_loss(y, y_proba=p, labels=list(range(C)), normalize=normalize,
                                 sample_weight=sw if weighted else None)
                store.add({
                    "id": cid,
                    "family": "log_loss",
                    "reduction": "mean" if normalize else "sum",
                    "preds": store.put(cid, "preds", p),
                    "target": store.put(cid, "target", y),
                    "sample_weight": store.put(cid, "sample_weight", sw) if weighted else None,
                    "expected": value,
                    "unnormalised_rows": 0,
                })
    # rows that do not sum to 1: sklearn warns and does not renormalise (nor does cecli)
    p = probs(30, 3)
    p[[2, 5, 11]] *= 1.05
    y = rng.integers(0, 3, size=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = log_loss(y, y_proba=p, labels=[0, 1, 2])
    assert any("do not sum to one" in str(w.message) for w in caught)
    cid = "logloss-unnormalised"
    store.add({
        "id": cid,
        "family": "log_loss",
        "reduction": "mean",
        "preds": store.put(cid, "preds", p),
        "target": store.put(cid, "target", y),
        "sample_weight": None,
        "expected": value,
        "unnormalised_rows": 3,
        "first_unnormalised": 2,
    })


def log_loss_edge_cases(store: Store, rng: np.random.Generator) -> None:
    rtol = {"f16": 2e-3, "f32": 2e-6, "f64": 1e-12}
    dts = {"f16": np.float16, **DT}
    # The example, then rows with exact 0 / 1, values below eps and ordinary ones.
    base = np.array([[0.0, 1.0], [1.0, 0.0]])
    for dname, dt in dts.items():
        cid = f"logloss-edge-2x2-{dname}"
        p = base.astype(dt)
        y = np.array([0, 1])
        store.add({
            "id": cid, "family": "log_loss_edge", "dtype": np.dtype(dt).name, "binary": False,
            "reduction": "mean", "preds": store.put(cid, "preds", p),
            "target": store.put(cid, "target", y), "sample_weight": None,
            "expected": log_loss(y, y_proba=p, labels=[0, 1]), "rtol": rtol[dname],
        })
        n, C = 24, 4
        q = rng.dirichlet(np.ones(C) * 0.5, size=n)
        q[0] = [0.0, 0.0, 1.0, 0.0]  # the target's probability is 0 or 1 (rows 0, 1)
        q[1] = [0.0, 1.0, 0.0, 0.0]
        q[2] = [1e-30, 1.0 - 1e-30, 0.0, 0.0]  # below every dtype's eps (0 in float16/32)
        q[3] = [2e-17, 1.0 - 2e-17, 0.0, 0.0]  # below float64's eps
        q = q.astype(dt)
        y = rng.integers(0, C, size=n)
        y[:4] = [1, 1, 0, 0]
        for red, normalize in (("mean", True), ("sum", False)):
            cid = f"logloss-edge-n{n}-C{C}-{dname}-{red}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # float16 rows need not sum to 1 within sqrt(eps)
                value = log_loss(y, y_proba=q, labels=list(range(C)), normalize=normalize)
            store.add({
                "id": cid, "family": "log_loss_edge", "dtype": np.dtype(dt).name, "binary": False,
                "reduction": red, "preds": store.put(cid, "preds", q),
                "target": store.put(cid, "target", y), "sample_weight": None,
                "expected": value, "rtol": rtol[dname],
            })
    # sklearn's binary form: y_proba (n,) is P(class 1); labels 0/1.
    for dname, dt in DT.items():
        n = 30
        p1 = rng.uniform(0.0, 1.0, size=n)
        p1[:4] = [0.0, 1.0, 1.0, 0.0]  # sure and right (rows 0, 1), sure and wrong (2, 3)
        p1 = p1.astype(dt)
        y = rng.integers(0, 2, size=n)
        y[:4] = [0, 1, 0, 1]
        sw = rng.uniform(0.2, 3.0, size=n).round(3)
        sw[[5, 17]] = [-0.5, -1.25]  # sklearn accepts negative weights
        for weighted in (False, True):
            for red, normalize in (("mean", True), ("sum", False)):
                cid = f"logloss-binary-{dname}-{red}{'-sw' if weighted else ''}"
                value = log_loss(y, y_proba=p1, normalize=normalize,
                                 sample_weight=sw if weighted else None)
                store.add({
                    "id": cid, "family": "log_loss_edge", "dtype": np.dtype(dt).name,
                    "binary": True, "reduction": red,
                    "preds": store.put(cid, "preds", p1.reshape(n, 1)),
                    "target": store.put(cid, "target", y),
                    "sample_weight": store.put(cid, "sample_weight", sw) if weighted else None,
                    "expected": value, "rtol": rtol[dname],
                })


def grad_edge_cases(store: Store, rng: np.random.Generator) -> None:
    w = np.array([1.0, 2.0])
    for dname, dt in DT.items():
        n = 11
        p = rng.uniform(0.05, 0.95, size=n)
        p[:3] = [0.0, 1.0, 0.5]  # the clip's ends: gradient 0 outside [eps, 1 - eps]
        p = p.astype(dt)
        y = rng.integers(0, 2, size=n)
        y[:3] = [1, 0, 1]
        y[5] = -100
        eps = np.finfo(dt).eps
        for red in ("mean", "sum"):
            cid = f"grad-ce-probs-binary-{dname}-{red}"
            pt = torch.from_numpy(p.copy()).requires_grad_(True)
            P = torch.stack([1 - pt, pt], dim=1)
            lp = torch.log(torch.clamp(P, min=float(eps), max=float(np.dtype(dt).type(1) - eps)))
            loss = F.nll_loss(lp, torch.from_numpy(y.astype(np.int64)),
                              weight=torch.from_numpy(w.astype(dt)), reduction=red)
            loss.backward()
            assert pt.grad is not None
            grad = pt.grad.numpy().astype(np.float64).reshape(n, 1)
            valid = y != -100
            wy = np.where(valid, w[np.where(valid, y, 0)], 0.0)
            pd = p.astype(np.float64)
            gscale = (wy / np.maximum(np.minimum(pd, 1 - pd), eps)).reshape(n, 1)
            if red == "mean":
                gscale = gscale / wy.sum()
            store.add({
                "id": cid, "family": "grad", "command": "ce", "dtype": np.dtype(dt).name,
                "args": ["--reduction", red, "--input", "probs", "--weight", csv_list(w)],
                "reduction": red, "loss": num(float(loss.detach())),
                "preds": store.put(cid, "preds", p.reshape(n, 1)),
                "target": store.put(cid, "target", y),
                "grad": store.put(cid, "grad", grad),
                "grad_scale": store.put(cid, "grad_scale", gscale),
            })
    # an ignored row with non-finite logits: torch's gradient there is NaN
    for dname, dt in DT.items():
        x = rng.normal(size=(5, 3)).astype(dt)
        x[1] = [np.nan, 0.0, 1.0]
        x[3] = [np.inf, 0.0, 1.0]
        y = np.array([0, -100, 2, -100, 1])
        cid = f"grad-nonfinite-ignored-{dname}"
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        loss = F.cross_entropy(xt, torch.from_numpy(y))
        loss.backward()
        assert xt.grad is not None
        grad = xt.grad.numpy().astype(np.float64)
        assert np.isnan(grad[[1, 3]]).all() and np.isfinite(grad[[0, 2, 4]]).all()
        store.add({
            "id": cid, "family": "grad_nonfinite_ignored", "command": "ce",
            "dtype": np.dtype(dt).name, "loss": num(float(loss.detach())),
            "preds": store.put(cid, "preds", x), "target": store.put(cid, "target", y),
            "grad": store.put(cid, "grad", grad), "ignored_rows": [1, 3],
        })


def main() -> None:
    assert torch.__version__.startswith("2.13."), torch.__version__
    rng = np.random.default_rng(SEED)
    store = Store()
    bce_cases(store, rng)
    grad_cases(store, rng)
    softmax_cases(store, rng)
    log_loss_cases(store, rng)
    edge = np.random.default_rng(SEED + 1)
    log_loss_edge_cases(store, edge)
    grad_edge_cases(store, edge)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "scripts/make_golden_family.py",
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "cases": store.cases,
    }
    (OUT_DIR / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n")
    np.savez_compressed(OUT_DIR / "arrays.npz", **store.arrays)
    print(f"{len(store.cases)} cases, {len(store.arrays)} arrays -> {OUT_DIR}")


if __name__ == "__main__":
    main()
