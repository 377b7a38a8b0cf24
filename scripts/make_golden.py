"""Write cecli's golden fixtures: losses and gradients computed by PyTorch.

How to run (from the repository root)::

    /work/venv/bin/python scripts/make_golden.py          # or any env with the pins below

It needs torch 2.13.0 (CPU build; the values were produced with ``2.13.0+cpu``) and NumPy;
scikit-learn is optional (when installed, a few ``sklearn.metrics.log_loss`` references are
added). Every random draw comes from ``numpy.random.default_rng`` with the fixed seeds below and
torch runs single-threaded, so rerunning the script rewrites byte-identical values.

This script is never a test dependency: the tests read only the files it writes,

    tests/fixtures/golden/cases.json   the manifest: one entry per case (family, options,
                                       array keys, expected scalar values or array keys,
                                       expected error class), plus the CLI subset
    tests/fixtures/golden/arrays.npz   every array, packed into one flat buffer per dtype
                                       (the manifest holds ``[dtype, offset, shape]``)

and never import torch. Provenance of the expected values:

* ``cross_entropy`` / ``nll_loss`` / ``binary_cross_entropy(_with_logits)`` / ``softmax`` /
  ``log_softmax`` are torch's ``torch.nn.functional`` functions evaluated **in the input's
  dtype** (float32 or float64) on exactly the stored arrays; results are stored as float64
  (an exact upcast of the float32 result where the input is float32).
* gradients are torch autograd of the reduced loss with respect to the input
  (``loss.backward()``; for ``reduction='none'`` ``loss.backward(torch.ones_like(loss))``),
  in the input's dtype, stored as float64.
* cases whose class axis is not 1 (``axis=-1`` ...) are computed by torch on
  ``np.moveaxis(input, axis, 1)`` and the gradient is moved back.
* error cases record the ``cecli`` error class the contract (DESIGN.md) asks for; the manifest
  says whether torch itself raises for them (it does for all but a negative label smoothing,
  which torch 2.13 accepts and the contract rejects).
* ``sklearn_log_loss`` cases: ``sklearn.metrics.log_loss`` (scikit-learn 1.9) clips the
  probabilities to ``[eps, 1 - eps]`` with ``eps = finfo(dtype).eps`` and does *not*
  renormalise rows (it only warns when rows do not sum to 1 within ``sqrt(eps)``). The stored
  probabilities are float64 rows normalised in float64 and kept inside [0.01, 0.95], so that
  clipping is a no-op and ``cross_entropy(log(clip(p, tiny, 1)), y)`` must agree with it.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "golden"
SEED = 20240611
DTYPES = {"f32": np.float32, "f64": np.float64}
TORCH_INT = torch.int64


# --------------------------------------------------------------------------------------------
# the store


class Store:
    """Collects arrays and manifest entries; ids are unique and stable (a running counter).

    Arrays are packed into one flat buffer per dtype (a zip entry per array would cost more
    in headers than the data); the manifest refers to an array as ``[dtype, offset, shape]``.
    Identical arrays are stored once.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, list[np.ndarray]] = {}
        self.sizes: dict[str, int] = {}
        self.seen: dict[tuple[str, tuple[int, ...], bytes], list[Any]] = {}
        self.cases: list[dict[str, Any]] = []
        self.ids: set[str] = set()

    def new_id(self, stem: str) -> str:
        cid = f"{stem}-{len(self.cases):03d}"
        assert cid not in self.ids
        self.ids.add(cid)
        return cid

    def arr(self, cid: str, name: str, a: np.ndarray | None) -> list[Any] | None:
        if a is None:
            return None
        a = np.array(a, order="C")  # a copy; np.ascontiguousarray would make 0-d arrays 1-d
        dt = a.dtype.name
        key = (dt, a.shape, a.tobytes())
        if key not in self.seen:
            offset = self.sizes.get(dt, 0)
            self.buffers.setdefault(dt, []).append(a.reshape(-1))
            self.sizes[dt] = offset + a.size
            self.seen[key] = [dt, offset, list(a.shape)]
        return self.seen[key]

    def value(self, cid: str, name: str, v: np.ndarray) -> Any:
        """A 0-d result goes into the manifest as a number (non-finite as a string); an array
        goes into the npz and the manifest holds its reference."""
        v = np.asarray(v, dtype=np.float64)
        if v.ndim == 0:
            return encode_scalar(float(v))
        return {"array": self.arr(cid, name, v)}

    def add(self, entry: dict[str, Any]) -> None:
        self.cases.append(entry)

    def packed(self) -> dict[str, np.ndarray]:
        return {dt: np.concatenate(parts) for dt, parts in self.buffers.items()}


def encode_scalar(v: float) -> float | str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def tt(a: np.ndarray | None) -> torch.Tensor | None:
    return None if a is None else torch.from_numpy(np.array(a, order="C"))


def run_backward(loss: torch.Tensor, reduction: str) -> None:
    if reduction == "none":
        loss.backward(torch.ones_like(loss))
    else:
        loss.backward()


# --------------------------------------------------------------------------------------------
# cross-entropy / nll


def torch_ce(
    family: str,
    x: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    axis: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and grad from torch; ``x`` has its classes on ``axis``."""
    moved = np.array(np.moveaxis(x, axis, 1), order="C") if x.ndim >= 2 else x
    xt = torch.from_numpy(moved.copy()).requires_grad_(True)
    if np.issubdtype(target.dtype, np.integer):
        yt = torch.from_numpy(target.astype(np.int64))
    else:
        ym = np.moveaxis(target, axis, 1) if target.ndim >= 2 else target
        yt = torch.from_numpy(np.array(ym, order="C"))
    wt = tt(weight)
    if family == "ce":
        loss = F.cross_entropy(
            xt,
            yt,
            weight=wt,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
    else:
        loss = F.nll_loss(xt, yt, weight=wt, ignore_index=ignore_index, reduction=reduction)
    run_backward(loss, reduction)
    assert xt.grad is not None
    grad = xt.grad.numpy()
    if x.ndim >= 2:
        grad = np.moveaxis(grad, 1, axis)
    return loss.detach().numpy().astype(np.float64), grad.astype(np.float64)


def torch_raises(family: str, x, target, weight, ignore_index, reduction, ls) -> str | None:
    try:
        torch_ce(family, x, target, weight, ignore_index, reduction, ls, 1)
    except (RuntimeError, IndexError, ValueError) as exc:
        return type(exc).__name__
    return None


def add_ce(
    store: Store,
    stem: str,
    family: str,
    x: np.ndarray,
    target: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    axis: int = 1,
    grad: bool = True,
    note: str | None = None,
    tags: tuple[str, ...] = (),
) -> str:
    cid = store.new_id(stem)
    loss, g = torch_ce(family, x, target, weight, ignore_index, reduction, label_smoothing, axis)
    entry: dict[str, Any] = {
        "id": cid,
        "family": family,
        "dtype": str(x.dtype),
        "target_kind": "index" if np.issubdtype(target.dtype, np.integer) else "probs",
        "input": store.arr(cid, "input", x),
        "target": store.arr(cid, "target", target),
        "weight": store.arr(cid, "weight", weight),
        "options": {
            "ignore_index": int(ignore_index),
            "reduction": reduction,
            "axis": axis,
            **({"label_smoothing": float(label_smoothing)} if family == "ce" else {}),
        },
        "expected": store.value(cid, "expected", loss),
        "grad": store.value(cid, "grad", g) if grad else None,
        "tags": list(tags),
    }
    if note:
        entry["note"] = note
    store.add(entry)
    return cid


def add_ce_error(
    store: Store,
    stem: str,
    family: str,
    x: np.ndarray,
    target: np.ndarray,
    error: str,
    *,
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    note: str | None = None,
) -> None:
    cid = store.new_id(stem)
    raised = torch_raises(family, x, target, weight, ignore_index, reduction, label_smoothing)
    entry: dict[str, Any] = {
        "id": cid,
        "family": family,
        "dtype": str(x.dtype),
        "target_kind": "index" if np.issubdtype(target.dtype, np.integer) else "probs",
        "input": store.arr(cid, "input", x),
        "target": store.arr(cid, "target", target),
        "weight": store.arr(cid, "weight", weight),
        "options": {
            "ignore_index": int(ignore_index),
            "reduction": reduction,
            "axis": 1,
            **({"label_smoothing": float(label_smoothing)} if family == "ce" else {}),
        },
        "error": error,
        "torch_raises": raised,
        "tags": ["error"],
    }
    if note:
        entry["note"] = note
    store.add(entry)


RANK_SHAPES = ("unbatched", "2d", "3d", "4d", "5d", "6d")


def draw_shape(rng: np.random.Generator, rank: str, C: int) -> tuple[int, ...]:
    """Small shapes, classes on axis 1 (axis 0 when unbatched)."""
    if rank == "unbatched":
        return (C,)
    if rank == "2d":
        return (int(rng.integers(3, 9)), C)
    if rank == "3d":
        return (int(rng.integers(2, 5)), C, int(rng.integers(2, 6)))
    if rank == "4d":
        return (int(rng.integers(2, 4)), C, int(rng.integers(2, 4)), int(rng.integers(2, 4)))
    if rank == "5d":
        return (2, C, 2, int(rng.integers(1, 3)), 3)
    return (2, C, 2, 2, 2, int(rng.integers(1, 3)))


def target_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return () if len(shape) == 1 else (shape[0], *shape[2:])


def draw_logits(rng: np.random.Generator, shape, dtype, scale: float = 2.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def draw_probs(rng: np.random.Generator, shape, dtype, axis: int = 1, normalised=True):
    """Positive class probabilities along ``axis``; unnormalised ones are allowed by torch."""
    raw = rng.uniform(0.05, 1.0, size=shape)
    if normalised:
        raw = raw / raw.sum(axis=axis if len(shape) > 1 else 0, keepdims=True)
    return raw.astype(dtype)


def ce_grid(store: Store, rng: np.random.Generator) -> None:
    """The cross product: weight x ignore_index x reduction x rank for index targets, and
    weight x ignore_index(-100, -1) x reduction x rank for probability targets; dtype and label
    smoothing drawn per case (1.0 now and then)."""
    weights = ("none", "pos", "zeros")
    reductions = ("mean", "sum", "none")
    int_dtypes = (np.int64, np.int64, np.int32, np.int16)

    for widx, (wkind, ikind, red, rank) in enumerate(
        itertools.product(weights, ("default", "inside", "outside"), reductions, RANK_SHAPES)
    ):
        dt = (np.float64, np.float32)[int(rng.integers(0, 2))]
        ls = float(rng.choice([0.0, 0.1, 0.0, 0.1, 0.25]))
        if widx % 23 == 7:
            ls = 1.0
        C = int(rng.integers(2, 7))
        shape = draw_shape(rng, rank, C)
        tshape = target_shape(shape)
        x = draw_logits(rng, shape, dt)
        y = rng.integers(0, C, size=tshape).astype(np.int64)
        npos = int(np.prod(tshape)) if tshape else 1
        if ikind == "default":
            ii = -100
            if npos > 2 and rng.random() < 0.6:  # some positions carry the default ignore
                flat = y.reshape(-1)
                flat[rng.choice(npos, size=max(1, npos // 5), replace=False)] = -100
        elif ikind == "inside":
            ii = int(rng.integers(0, C))
            if npos > 2:
                flat = y.reshape(-1)
                flat[rng.choice(npos, size=max(1, npos // 4), replace=False)] = ii
                # keep at least one counted position
                if (flat == ii).all():
                    flat[0] = (ii + 1) % C
        else:
            ii = (C + 2) if widx % 2 else -1
            if npos > 2:
                flat = y.reshape(-1)
                flat[rng.choice(npos, size=max(1, npos // 4), replace=False)] = ii
        # some targets in narrower integer dtypes (values must fit)
        idt = int_dtypes[widx % len(int_dtypes)]
        y = y.astype(idt)
        w = None
        if wkind == "pos":
            w = rng.uniform(0.25, 2.5, size=C).astype(dt)
        elif wkind == "zeros":
            w = rng.uniform(0.25, 2.5, size=C).astype(dt)
            counted = np.unique(y[(y != ii) & (y >= 0) & (y < C)])
            if counted.size > 1:
                w[rng.choice(counted)] = 0.0
            else:  # zero a class that is not the only counted one
                w[(int(counted[0]) + 1) % C if counted.size else 0] = 0.0
        stem = f"ce-idx-{rank}-w_{wkind}-ii_{ikind}-{red}-ls{ls:g}-{np.dtype(dt).name}"
        add_ce(
            store, stem, "ce", x, y, weight=w, ignore_index=ii, reduction=red, label_smoothing=ls
        )

    for widx, (wkind, ii, red, rank) in enumerate(
        itertools.product(weights, (-100, -1), reductions, RANK_SHAPES)
    ):
        dt = (np.float64, np.float32)[int(rng.integers(0, 2))]
        ls = float(rng.choice([0.0, 0.1, 0.0, 0.2]))
        if widx % 17 == 5:
            ls = 1.0
        C = int(rng.integers(2, 7))
        shape = draw_shape(rng, rank, C)
        x = draw_logits(rng, shape, dt)
        t = draw_probs(rng, shape, dt, normalised=widx % 9 != 4)
        w = None
        if wkind == "pos":
            w = rng.uniform(0.25, 2.5, size=C).astype(dt)
        elif wkind == "zeros":
            w = rng.uniform(0.25, 2.5, size=C).astype(dt)
            w[int(rng.integers(0, C))] = 0.0
        stem = f"ce-prob-{rank}-w_{wkind}-ii{ii}-{red}-ls{ls:g}-{np.dtype(dt).name}"
        add_ce(
            store, stem, "ce", x, t, weight=w, ignore_index=ii, reduction=red, label_smoothing=ls
        )


def nll_grid(store: Store, rng: np.random.Generator) -> None:
    """nll_loss on log-probabilities (and a few unnormalised negative scores)."""
    for k, (wkind, ikind, red) in enumerate(
        itertools.product(
            ("none", "pos", "zeros"), ("default", "inside", "outside"), ("mean", "sum", "none")
        )
    ):
        for dt in (np.float32, np.float64):
            rank = RANK_SHAPES[(k + (dt is np.float32) * 3) % len(RANK_SHAPES)]
            C = int(rng.integers(2, 7))
            shape = draw_shape(rng, rank, C)
            tshape = target_shape(shape)
            z = rng.standard_normal(shape) * 2.0
            if k % 5 == 3:
                lp = -np.abs(z)  # not normalised: nll_loss never looks at the other classes
            else:
                lp = z - np.log(np.exp(z).sum(axis=0 if len(shape) == 1 else 1, keepdims=True))
            x = lp.astype(dt)
            y = rng.integers(0, C, size=tshape).astype(np.int64)
            npos = int(np.prod(tshape)) if tshape else 1
            ii = {"default": -100, "inside": int(rng.integers(0, C)), "outside": C + 1}[ikind]
            if npos > 2 and ikind != "default":
                flat = y.reshape(-1)
                flat[rng.choice(npos, size=max(1, npos // 4), replace=False)] = ii
                if (flat == ii).all():
                    flat[0] = (ii + 1) % C
            w = None
            if wkind != "none":
                w = rng.uniform(0.25, 2.5, size=C).astype(dt)
                if wkind == "zeros":
                    counted = np.unique(y[(y != ii)])
                    w[int(counted[0]) if counted.size > 1 else (int(ii) + 1) % C] = 0.0
            stem = f"nll-{rank}-w_{wkind}-ii_{ikind}-{red}-{np.dtype(dt).name}"
            add_ce(store, stem, "nll", x, y, weight=w, ignore_index=ii, reduction=red)


def ce_axis_cases(store: Store, rng: np.random.Generator) -> None:
    """Classes on another axis than 1 (cecli's ``axis`` / ``--class-axis``)."""
    for dt, red, (shape, axis), kind in [
        (np.float64, "mean", ((3, 4, 5), -1), "index"),
        (np.float32, "none", ((3, 4, 5), 2), "index"),
        (np.float64, "sum", ((2, 3, 2, 6), -1), "index"),
        (np.float32, "mean", ((4, 5), -1), "index"),
        (np.float64, "none", ((2, 3, 4), -1), "probs"),
        (np.float32, "mean", ((2, 5, 3), -1), "probs"),
        (np.float64, "mean", ((5,), 0), "index"),
        (np.float64, "mean", ((5,), -1), "probs"),
    ]:
        C = shape[axis]
        x = draw_logits(rng, shape, dt)
        tshape = tuple(s for i, s in enumerate(shape) if i != (axis % len(shape)))
        if kind == "index":
            y = rng.integers(0, C, size=tshape).astype(np.int64)
            if len(tshape) and y.size > 2:
                y.reshape(-1)[1] = -100
            add_ce(
                store,
                f"ce-axis{axis}-{kind}-{red}-{np.dtype(dt).name}",
                "ce",
                x,
                y,
                reduction=red,
                label_smoothing=0.1,
                axis=axis,
                weight=rng.uniform(0.5, 2, size=C).astype(dt),
                tags=("axis",),
            )
        else:
            t = draw_probs(rng, shape, dt, axis=axis)
            add_ce(
                store,
                f"ce-axis{axis}-{kind}-{red}-{np.dtype(dt).name}",
                "ce",
                x,
                t,
                reduction=red,
                axis=axis,
                tags=("axis",),
            )
    # nll with classes last
    lp = np.log(draw_probs(rng, (3, 4, 6), np.float64, axis=-1))
    y = rng.integers(0, 6, size=(3, 4))
    add_ce(
        store, "nll-axis-1-mean-float64", "nll", lp, y, reduction="mean", axis=-1, tags=("axis",)
    )


def ce_special(store: Store, rng: np.random.Generator) -> None:
    reds = ("mean", "sum", "none")
    # all targets ignored
    for dt, red, ls, w in itertools.product(
        (np.float32, np.float64), reds, (0.0, 0.1), (None, "pos")
    ):
        if (red == "none" and w is not None) or (dt is np.float32 and w is not None):
            continue
        x = draw_logits(rng, (4, 3), dt)
        y = np.full(4, -100, dtype=np.int64)
        wt = None if w is None else rng.uniform(0.5, 2, 3).astype(dt)
        add_ce(
            store,
            f"ce-allignored-{red}-ls{ls:g}-{np.dtype(dt).name}",
            "ce",
            x,
            y,
            weight=wt,
            reduction=red,
            label_smoothing=ls,
            tags=("special", "all_ignored"),
        )
    x = draw_logits(rng, (3, 4, 2), np.float64)
    add_ce(
        store,
        "ce-allignored-inside-3d-mean",
        "ce",
        x,
        np.full((3, 2), 2),
        ignore_index=2,
        tags=("special", "all_ignored"),
    )
    add_ce(
        store,
        "nll-allignored-mean",
        "nll",
        np.log(draw_probs(rng, (3, 4), np.float64)),
        np.full(3, 1),
        ignore_index=1,
        tags=("special", "all_ignored"),
    )
    # empty N = 0
    for dt, red in itertools.product((np.float32, np.float64), reds):
        add_ce(
            store,
            f"ce-empty-idx-{red}-{np.dtype(dt).name}",
            "ce",
            np.zeros((0, 5), dtype=dt),
            np.zeros((0,), dtype=np.int64),
            reduction=red,
            tags=("special", "empty"),
        )
    for red in reds:
        add_ce(
            store,
            f"ce-empty-prob-{red}",
            "ce",
            np.zeros((0, 5)),
            np.zeros((0, 5)),
            reduction=red,
            tags=("special", "empty"),
        )
    add_ce(
        store,
        "ce-empty-3d-mean-ls",
        "ce",
        np.zeros((0, 3, 4)),
        np.zeros((0, 4), dtype=np.int64),
        label_smoothing=0.1,
        weight=np.ones(3),
        tags=("special", "empty"),
    )
    add_ce(
        store,
        "nll-empty-sum",
        "nll",
        np.zeros((0, 3)),
        np.zeros((0,), dtype=np.int64),
        reduction="sum",
        tags=("special", "empty"),
    )
    # zero total weight: the classes present in the targets all weigh 0
    for red, ls, dt in itertools.product(reds, (0.0, 0.1), (np.float64, np.float32)):
        if dt is np.float32 and red == "none":
            continue
        x = draw_logits(rng, (5, 4), dt)
        y = np.array([0, 2, 2, 0, -100])
        w = np.array([0.0, 1.5, 0.0, 2.0], dtype=dt)
        add_ce(
            store,
            f"ce-zeroweight-{red}-ls{ls:g}-{np.dtype(dt).name}",
            "ce",
            x,
            y,
            weight=w,
            reduction=red,
            label_smoothing=ls,
            tags=("special", "zero_weight"),
        )
    add_ce(
        store,
        "nll-zeroweight-mean",
        "nll",
        np.log(draw_probs(rng, (4, 3), np.float64)),
        np.array([1, 1, 1, 1]),
        weight=np.array([1.0, 0.0, 1.0]),
        tags=("special", "zero_weight"),
    )
    # -inf logits (masked classes)
    for dt, red, ls in itertools.product((np.float32, np.float64), reds, (0.0, 0.1)):
        x = draw_logits(rng, (6, 5), dt)
        y = rng.integers(0, 3, size=6)
        x[:, 3:] = -np.inf  # classes 3 and 4 masked everywhere, never targets
        x[2, 0] = -np.inf if y[2] != 0 else x[2, 0]
        add_ce(
            store,
            f"ce-masked-{red}-ls{ls:g}-{np.dtype(dt).name}",
            "ce",
            x,
            y,
            reduction=red,
            label_smoothing=ls,
            tags=("special", "neg_inf"),
        )
    for dt, red in itertools.product((np.float32, np.float64), reds):
        x = draw_logits(rng, (4, 3), dt)
        y = np.array([0, 1, 2, 1])
        x[1, 1] = -np.inf  # the target's own logit: loss inf
        add_ce(
            store,
            f"ce-target-neginf-{red}-{np.dtype(dt).name}",
            "ce",
            x,
            y,
            reduction=red,
            tags=("special", "neg_inf"),
        )
    x = draw_logits(rng, (4, 3), np.float64)
    x[1, 1] = -np.inf
    add_ce(
        store,
        "ce-target-neginf-ignored-mean",
        "ce",
        x,
        np.array([0, 1, 2, 1]),
        ignore_index=1,
        tags=("special", "neg_inf"),
        note="the -inf target logit sits in an ignored position: finite loss",
    )
    add_ce(
        store,
        "nll-target-neginf-sum",
        "nll",
        np.array([[0.0, -np.inf], [-0.5, -1.0]]),
        np.array([1, 0]),
        reduction="sum",
        tags=("special", "neg_inf"),
    )
    for red in reds:
        x = draw_logits(rng, (3, 4), np.float64)
        x[:, 3] = -np.inf
        t = draw_probs(rng, (3, 4), np.float64)
        t[:, 3] = 0.0
        t /= t.sum(1, keepdims=True)
        add_ce(
            store,
            f"ce-prob-masked-t0-{red}",
            "ce",
            x,
            t,
            reduction=red,
            tags=("special", "neg_inf"),
            note="torch multiplies t=0 by log p=-inf: 0*-inf = nan for the masked rows",
        )
    x = draw_logits(rng, (3, 4), np.float64)
    x[0, 2] = -np.inf
    add_ce(
        store,
        "ce-prob-masked-tpos-mean",
        "ce",
        x,
        draw_probs(rng, (3, 4), np.float64),
        tags=("special", "neg_inf"),
    )
    # large logits (1e4 scale)
    for dt, red, kind in itertools.product((np.float32, np.float64), reds, ("index", "probs")):
        x = draw_logits(rng, (6, 4), dt, scale=1e4)
        if kind == "index":
            y = rng.integers(0, 4, size=6)
            y[:3] = np.argmax(x[:3], axis=1)  # confident and right: tiny losses
            add_ce(
                store,
                f"ce-large-idx-{red}-{np.dtype(dt).name}",
                "ce",
                x,
                y,
                reduction=red,
                label_smoothing=0.1 if red == "sum" else 0.0,
                tags=("special", "large"),
            )
        else:
            add_ce(
                store,
                f"ce-large-prob-{red}-{np.dtype(dt).name}",
                "ce",
                x,
                draw_probs(rng, (6, 4), dt),
                reduction=red,
                tags=("special", "large"),
            )
    x = (rng.standard_normal((5, 3)) * 0.1 + 1e4).astype(np.float32)
    add_ce(
        store,
        "ce-large-offset-none-float32",
        "ce",
        x,
        rng.integers(0, 3, size=5),
        reduction="none",
        tags=("special", "large"),
        note="all logits near 1e4: float32 must shift by the row max, not add it back",
    )
    # C = 1
    for red, ls in itertools.product(reds, (0.0, 0.1)):
        add_ce(
            store,
            f"ce-c1-idx-{red}-ls{ls:g}",
            "ce",
            draw_logits(rng, (4, 1), np.float64),
            np.zeros(4, dtype=np.int64),
            reduction=red,
            label_smoothing=ls,
            tags=("special", "c1"),
        )
    add_ce(
        store,
        "ce-c1-prob-mean",
        "ce",
        draw_logits(rng, (3, 1, 2), np.float32),
        rng.uniform(0, 1, size=(3, 1, 2)).astype(np.float32),
        tags=("special", "c1"),
    )
    add_ce(
        store,
        "nll-c1-sum",
        "nll",
        -np.abs(draw_logits(rng, (3, 1), np.float64)),
        np.zeros(3, dtype=np.int64),
        reduction="sum",
        tags=("special", "c1"),
    )
    # large C
    x = draw_logits(rng, (3, 5000), np.float32)
    add_ce(
        store,
        "ce-bigC-mean-ls0.1-float32",
        "ce",
        x,
        np.array([17, 4999, 2500]),
        label_smoothing=0.1,
        tags=("special", "big_c"),
    )
    # logits on a 1/256 grid and weights on a 1/16 grid keep the fixture compressible
    x = np.round(draw_logits(rng, (3, 5000), np.float64, scale=5.0) * 256) / 256
    add_ce(
        store,
        "ce-bigC-none-weighted-float64",
        "ce",
        x,
        np.array([0, 4321, 4999]),
        weight=np.round(rng.uniform(0.5, 1.5, size=5000) * 16) / 16,
        reduction="none",
        tags=("special", "big_c"),
    )
    # NaN logits in ignored positions do not leak (the gradient is not compared: torch's
    # log_softmax backward multiplies the NaN row by a zero upstream gradient and gives NaN,
    # while the contract says ignored logits are never read)
    for red, ls, ii in (("mean", 0.0, -100), ("sum", 0.1, 7), ("none", 0.0, 1), ("mean", 0.1, 7)):
        x = draw_logits(rng, (5, 3), np.float64)
        x[2] = np.nan
        x[4, 1] = np.nan
        y = np.array([0, 2, ii, 2, ii])
        add_ce(
            store,
            f"ce-nan-ignored-{red}-ls{ls:g}-ii{ii}",
            "ce",
            x,
            y,
            ignore_index=ii,
            reduction=red,
            label_smoothing=ls,
            grad=False,
            weight=np.array([1.0, 2.0, 0.5]) if ls else None,
            tags=("special", "nan_ignored"),
            note="NaN logits only in ignored positions",
        )


def ce_errors(store: Store, rng: np.random.Generator) -> None:
    x = draw_logits(rng, (4, 3), np.float64)
    p = draw_probs(rng, (4, 3), np.float64)
    for red in ("mean", "sum", "none"):
        add_ce_error(
            store,
            f"ce-err-target-eq-C-{red}",
            "ce",
            x,
            np.array([0, 1, 3, 2]),
            "DataError",
            reduction=red,
        )
    add_ce_error(store, "ce-err-target-big", "ce", x, np.array([0, 100, 1, 2]), "DataError")
    add_ce_error(store, "ce-err-target-neg1", "ce", x, np.array([0, -1, 1, 2]), "DataError")
    add_ce_error(
        store,
        "ce-err-target-neg-other-ii",
        "ce",
        x,
        np.array([0, -3, -5, 2]),
        "DataError",
        ignore_index=-5,
    )
    add_ce_error(
        store,
        "ce-err-target-out-ls",
        "ce",
        x,
        np.array([0, 1, 4, 2]),
        "DataError",
        label_smoothing=0.1,
        weight=np.ones(3),
    )
    add_ce_error(
        store,
        "ce-err-3d-out",
        "ce",
        draw_logits(rng, (2, 3, 4), np.float32),
        np.array([[0, 1, 2, 3], [0, 0, 0, 0]]),
        "DataError",
    )
    add_ce_error(store, "ce-err-unbatched-out", "ce", x[0], np.array(5), "DataError")
    add_ce_error(store, "ce-err-prob-ii-inside", "ce", x, p, "UsageError", ignore_index=1)
    add_ce_error(store, "ce-err-prob-ii-outside", "ce", x, p, "UsageError", ignore_index=7)
    add_ce_error(
        store, "ce-err-prob-ii-zero-sum", "ce", x, p, "UsageError", ignore_index=0, reduction="sum"
    )
    add_ce_error(
        store, "ce-err-ls-1.5", "ce", x, np.array([0, 1, 1, 2]), "UsageError", label_smoothing=1.5
    )
    add_ce_error(store, "ce-err-ls-1.5-prob", "ce", x, p, "UsageError", label_smoothing=1.5)
    add_ce_error(
        store,
        "ce-err-ls-neg",
        "ce",
        x,
        np.array([0, 1, 1, 2]),
        "UsageError",
        label_smoothing=-0.1,
        note="torch 2.13 accepts a negative label_smoothing; DESIGN.md asks [0, 1]",
    )
    lp = np.log(p)
    add_ce_error(store, "nll-err-target-eq-C", "nll", lp, np.array([0, 3, 1, 2]), "DataError")
    add_ce_error(
        store,
        "nll-err-target-neg1",
        "nll",
        lp,
        np.array([0, -1, 1, 2]),
        "DataError",
        reduction="none",
    )


# --------------------------------------------------------------------------------------------
# binary cross-entropy


def add_bce(store, stem, family, x, t, *, weight=None, pos_weight=None, reduction="mean", tags=()):
    cid = store.new_id(stem)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    if family == "bce_logits":
        loss = F.binary_cross_entropy_with_logits(
            xt, tt(t), weight=tt(weight), pos_weight=tt(pos_weight), reduction=reduction
        )
    else:
        loss = F.binary_cross_entropy(xt, tt(t), weight=tt(weight), reduction=reduction)
    run_backward(loss, reduction)
    store.add(
        {
            "id": cid,
            "family": family,
            "dtype": str(x.dtype),
            "input": store.arr(cid, "input", x),
            "target": store.arr(cid, "target", t),
            "weight": store.arr(cid, "weight", weight),
            "pos_weight": store.arr(cid, "pos_weight", pos_weight),
            "options": {"reduction": reduction},
            "expected": store.value(cid, "expected", loss.detach().numpy()),
            "grad": store.value(cid, "grad", xt.grad.numpy()),
            "tags": list(tags),
        }
    )


def draw_bce_targets(rng, shape, dt):
    t = rng.uniform(0, 1, size=shape)
    hard = rng.random(shape) < 0.5
    t[hard] = np.round(t[hard])
    return t.astype(dt)


def bce_logits_grid(store: Store, rng: np.random.Generator) -> None:
    layouts = {
        "1d": ((7,), ("none", "scalar", "per_sample")),
        "2d": ((5, 4), ("none", "scalar", "per_class", "per_sample", "full")),
    }
    k = 0
    for lay, (shape, wkinds) in layouts.items():
        C = shape[-1]
        for wkind, pkind, red in itertools.product(
            wkinds, ("none", "scalar", "per_class"), ("mean", "sum", "none")
        ):
            dt = (np.float64, np.float32)[k % 2 if k % 6 else 1 - k % 2]
            k += 1
            x = rng.standard_normal(shape) * 3.0
            big = rng.random(shape) < 0.25
            x[big] = rng.choice([-200.0, 200.0, -35.0, 35.0, -1e-3], size=int(big.sum()))
            x = x.astype(dt)
            t = draw_bce_targets(rng, shape, dt)
            w = {
                "none": None,
                "scalar": np.array(rng.uniform(0.5, 2.0), dtype=dt),
                "per_class": rng.uniform(0.0, 2.0, size=(C,)).astype(dt),
                "per_sample": rng.uniform(
                    0.0, 2.0, size=(shape[0],) if len(shape) == 1 else (shape[0], 1)
                ).astype(dt),
                "full": rng.uniform(0.0, 2.0, size=shape).astype(dt),
            }[wkind]
            pw = {
                "none": None,
                "scalar": np.array(rng.uniform(0.5, 4.0), dtype=dt),
                "per_class": rng.uniform(0.2, 4.0, size=(C,) if len(shape) == 2 else (1,)).astype(
                    dt
                ),
            }[pkind]
            add_bce(
                store,
                f"bcel-{lay}-w_{wkind}-pw_{pkind}-{red}-{np.dtype(dt).name}",
                "bce_logits",
                x,
                t,
                weight=w,
                pos_weight=pw,
                reduction=red,
            )
    for red in ("mean", "sum"):
        add_bce(
            store,
            f"bcel-empty-{red}",
            "bce_logits",
            np.zeros((0, 3)),
            np.zeros((0, 3)),
            reduction=red,
            tags=("special", "empty"),
        )
    x = np.array([[-200.0, 200.0, 0.0, -30.0], [88.0, -88.0, 1e-8, 17.0]], dtype=np.float32)
    t = np.array([[1.0, 0.0, 0.5, 1.0], [0.0, 1.0, 1.0, 0.0]], dtype=np.float32)
    for red in ("none", "sum"):
        add_bce(
            store,
            f"bcel-extreme-{red}-float32",
            "bce_logits",
            x,
            t,
            pos_weight=np.array([1.0, 2.0, 3.0, 0.5], dtype=np.float32),
            reduction=red,
            tags=("special", "large"),
        )


def bce_probs_grid(store: Store, rng: np.random.Generator) -> None:
    for k, (shape, wkind, red) in enumerate(
        itertools.product(((8,), (5, 3)), ("none", "per_class", "full"), ("mean", "sum", "none"))
    ):
        dt = (np.float64, np.float32)[k % 2]
        p = rng.uniform(0.001, 0.999, size=shape)
        flat = p.reshape(-1)
        flat[:4] = [0.0, 1.0, 0.0, 1.0]  # exact 0 and 1: torch clamps log at -100
        p = p.astype(dt)
        t = draw_bce_targets(rng, shape, dt)
        tf = t.reshape(-1)
        tf[:4] = [0.0, 1.0, 1.0, 0.0]
        C = shape[-1]
        w = {
            "none": None,
            "per_class": rng.uniform(0, 2, size=(C,)).astype(dt),
            "full": rng.uniform(0, 2, size=shape).astype(dt),
        }[wkind]
        add_bce(
            store,
            f"bcep-{len(shape)}d-w_{wkind}-{red}-{np.dtype(dt).name}",
            "bce",
            p,
            t,
            weight=w,
            reduction=red,
        )
    add_bce(
        store, "bcep-empty-mean", "bce", np.zeros((0,)), np.zeros((0,)), tags=("special", "empty")
    )
    add_bce(
        store,
        "bcep-tiny-probs-none",
        "bce",
        np.array([1e-50, 1e-44, 1 - 1e-16, 0.5, 1e-300]),
        np.array([1.0, 1, 0, 0.3, 1]),
        reduction="none",
        tags=("special",),
    )


# --------------------------------------------------------------------------------------------
# softmax / log_softmax


def softmax_cases(store: Store, rng: np.random.Generator) -> None:
    specs = []
    for dt in (np.float32, np.float64):
        x = draw_logits(rng, (6, 5), dt)
        x[1, 2] = -np.inf
        x[3, [0, 4]] = -np.inf
        x[4, :] = -np.inf  # an all -inf row: torch gives NaN
        specs.append(("neginf", x, 1))
        specs.append(("3d", draw_logits(rng, (2, 4, 3), dt), 1))
        specs.append(("last-axis", draw_logits(rng, (2, 3, 6), dt), -1))
        specs.append(("unbatched", draw_logits(rng, (7,), dt), 0))
        specs.append(("large", draw_logits(rng, (4, 5), dt, scale=1e4), 1))
        specs.append(("wideC", draw_logits(rng, (2, 1000), dt, scale=4.0), 1))
    for name, x, axis in specs:
        for fam in ("softmax", "log_softmax"):
            cid = store.new_id(f"{fam}-{name}-{x.dtype.name}")
            xt = torch.from_numpy(x.copy())
            fn = torch.softmax if fam == "softmax" else torch.log_softmax
            out = fn(xt, dim=axis).numpy()
            store.add(
                {
                    "id": cid,
                    "family": fam,
                    "dtype": str(x.dtype),
                    "input": store.arr(cid, "input", x),
                    "options": {"axis": axis},
                    "expected": store.value(cid, "expected", out),
                    "tags": [],
                }
            )


# --------------------------------------------------------------------------------------------
# scikit-learn references


def sklearn_cases(store: Store, rng: np.random.Generator) -> None:
    try:
        import sklearn
        from sklearn.metrics import log_loss
    except ImportError:
        print("scikit-learn not installed: no sklearn_log_loss cases", file=sys.stderr)
        return
    for n, C in ((12, 3), (40, 6)):
        p = rng.uniform(0.05, 1.0, size=(n, C))
        p /= p.sum(axis=1, keepdims=True)
        assert p.min() > 0.01 and p.max() < 0.95  # log_loss's [eps, 1-eps] clip is a no-op
        y = rng.integers(0, C, size=n)
        y[:C] = np.arange(C)
        for normalize in (True, False):
            cid = store.new_id(f"sklearn-logloss-n{n}-C{C}-{'mean' if normalize else 'sum'}")
            ref = log_loss(y, p, normalize=normalize, labels=list(range(C)))
            store.add(
                {
                    "id": cid,
                    "family": "sklearn_log_loss",
                    "dtype": "float64",
                    "input": store.arr(cid, "probs", p),
                    "target": store.arr(cid, "target", y),
                    "options": {
                        "normalize": normalize,
                        "reduction": "mean" if normalize else "sum",
                    },
                    "expected": float(ref),
                    "sklearn": sklearn.__version__,
                    "note": "sklearn clips p to [eps, 1-eps] (eps = finfo(float64).eps) and does "
                    "not renormalise; these p lie in [0.01, 0.95] and rows sum to 1 in "
                    "float64, so cross_entropy(log(clip(p, tiny, 1)), y) must match.",
                    "tags": [],
                }
            )


# --------------------------------------------------------------------------------------------


def cli_subset(cases: list[dict[str, Any]]) -> list[str]:
    """About 30 representative ce / nll cases for the command-line test: every reduction,
    both target kinds and dtypes, ranks 1-6, weights, ignore indices, smoothing."""
    chosen: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for c in cases:
        if c["family"] not in ("ce", "nll") or "error" in c or c["options"]["axis"] != 1:
            continue
        tags = set(c["tags"])
        if tags & {"nan_ignored", "neg_inf", "empty", "big_c", "large"}:
            continue
        o = c["options"]
        key = (
            c["family"],
            c["target_kind"],
            o["reduction"],
            c["dtype"],
            c["id"].split("-")[2],
            c["weight"] is not None,
        )
        if key in seen:
            continue
        seen.add(key)
        chosen.append(c["id"])
    # thin to about 30, evenly through the list (the list is ordered by family / grid)
    step = max(1, len(chosen) // 28)
    picked = chosen[::step]
    picked += [c["id"] for c in cases if "all_ignored" in c["tags"] and c["family"] == "ce"][:1]
    return picked


def main() -> None:
    rng = np.random.default_rng(SEED)
    store = Store()
    ce_grid(store, rng)
    nll_grid(store, rng)
    ce_axis_cases(store, rng)
    ce_special(store, rng)
    ce_errors(store, rng)
    bce_logits_grid(store, rng)
    bce_probs_grid(store, rng)
    softmax_cases(store, rng)
    sklearn_cases(store, rng)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "scripts/make_golden.py",
        "seed": SEED,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "conventions": {
            "arrays": "an array is [dtype, offset, shape]: arrays.npz[dtype][offset:offset + "
            "prod(shape)].reshape(shape)",
            "expected": "a number, 'nan' / 'inf' / '-inf', or {'array': array}",
            "dtype": "the input's dtype; torch computed in it; results stored as float64",
            "grad": "torch autograd of the reduced loss w.r.t. input (ones upstream for "
            "'none'); null where not compared",
            "axis": "the class axis of the stored input (torch saw np.moveaxis(x, axis, 1))",
            "error": "the cecli exception class DESIGN.md asks for; torch_raises names what "
            "torch raised (null: torch accepts the input)",
        },
        "cases": store.cases,
        "cli_subset": cli_subset(store.cases),
    }
    # one case per line: small, and a diff names the cases that changed
    cases = manifest.pop("cases")
    text = json.dumps(manifest, indent=1, allow_nan=False)[:-2]
    text += ',\n "cases": [\n' + ",\n".join(json.dumps(c, allow_nan=False) for c in cases)
    text += "\n ]\n}\n"
    assert json.loads(text)["cases"] == cases
    (OUT_DIR / "cases.json").write_text(text)
    np.savez_compressed(OUT_DIR / "arrays.npz", **store.packed())

    counts: dict[str, int] = {}
    for c in store.cases:
        fam = c["family"] + ("/error" if "error" in c else "")
        counts[fam] = counts.get(fam, 0) + 1
    size = sum(os.path.getsize(OUT_DIR / f) for f in ("cases.json", "arrays.npz"))
    print(json.dumps(counts, indent=1))
    print(f"{len(store.cases)} cases, cli subset {len(manifest['cli_subset'])}, {size} bytes")


if __name__ == "__main__":
    main()
