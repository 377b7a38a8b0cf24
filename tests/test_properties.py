"""Invariants of the cross-entropy family, checked on random inputs with hypothesis.

Each property follows from the definitions in DESIGN.md (restated in the docstrings), not from
cecli's code, and each can fail: a wrong shift, a wrong denominator, a chunk that is dropped or
counted twice, smoothing applied to the wrong term, all change the numbers compared here.
Everything is float64 unless a test says otherwise; tolerances are a few hundred float64 ulps
(``1e-12``) relative, plus, where a value can be ~0, an absolute ``4 * eps`` times the loss's
weight: ``log(sum exp(x - max))`` of a confident row is ``log(1 + tiny)``, which float64 only
knows to an ulp of 1.
"""

from __future__ import annotations

import itertools
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cecli

SETTINGS = settings(
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
RTOL = 1e-12
EPS = float(np.finfo(np.float64).eps)


def assert_rel(got: Any, want: Any, *, atol: Any = 0.0, rtol: float = RTOL, what: str = "") -> None:
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    assert np.array_equal(np.isnan(g), np.isnan(w)), f"{what}: NaN mismatch {g} vs {w}"
    fin = np.isfinite(w)
    assert np.array_equal(g[~fin & ~np.isnan(w)], w[~fin & ~np.isnan(w)]), what
    err = np.abs(np.where(fin, g, 0.0) - np.where(fin, w, 0.0))
    bound = np.broadcast_to(np.asarray(atol, dtype=np.float64), w.shape) + rtol * np.abs(w)
    assert (err <= bound)[fin].all(), f"{what}: max err {err[fin].max()} got {g} want {w}"


# --------------------------------------------------------------------------------------------
# problems


@st.composite
def problems(
    draw: st.DrawFn,
    *,
    kind: str | None = None,
    ignore: bool = True,
    smoothing: bool = True,
    min_n: int = 1,
    max_n: int = 12,
    min_c: int = 1,
) -> dict[str, Any]:
    """A logits array ``(N, C, d...)``, targets (index or probability), options."""
    C = draw(st.integers(min_c, 6))
    N = draw(st.integers(min_n, max_n))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    shape = (N, C, *extra)
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-20, 20, allow_subnormal=False)))
    kind = kind or draw(st.sampled_from(["index", "probs"]))
    pos_shape = (N, *extra)
    ignore_index = -100
    if kind == "index":
        if ignore:
            ignore_index = draw(st.sampled_from([-100, 0, C + 1]))
        choices = list(range(C)) + ([ignore_index] if ignore else [])
        target = draw(hnp.arrays(np.int64, pos_shape, elements=st.sampled_from(choices)))
    else:
        raw = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1, allow_subnormal=False)))
        norm = draw(st.booleans())
        total = raw.sum(axis=1, keepdims=True)
        target = np.where(total > 0, raw / np.where(total > 0, total, 1), raw) if norm else raw
    weight = None
    if draw(st.booleans()):
        weight = draw(hnp.arrays(np.float64, (C,), elements=st.floats(0, 3, allow_subnormal=False)))
    e = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0])) if smoothing else 0.0
    return {
        "x": x,
        "target": target,
        "kind": kind,
        "kw": {"weight": weight, "ignore_index": ignore_index, "label_smoothing": e},
    }


def coef(p: dict[str, Any]) -> np.ndarray:
    """Per position ``sum_c coef_c`` of ``l_i = sum_c coef_c * -lp_c`` (DESIGN.md)."""
    x, y, kw = p["x"], p["target"], p["kw"]
    C = x.shape[1]
    w = np.ones(C) if kw["weight"] is None else kw["weight"]
    e = kw["label_smoothing"]
    if p["kind"] == "index":
        counted = y != kw["ignore_index"]
        wy = np.where(counted, w[np.where(counted, y, 0)], 0.0)
        return counted * ((1 - e) * wy + e / C * w.sum())
    t = np.moveaxis(y, 1, -1) * (1 - e) + e / C
    return (t * w).sum(axis=-1)


def denominator(p: dict[str, Any]) -> float:
    """The ``mean`` denominator: ``sum_i m_i w[y_i]`` (index) or the number of positions."""
    x, y, kw = p["x"], p["target"], p["kw"]
    if p["kind"] == "probs":
        return float(np.prod((x.shape[0], *x.shape[2:])))
    w = np.ones(x.shape[1]) if kw["weight"] is None else kw["weight"]
    counted = y != kw["ignore_index"]
    return float(np.where(counted, w[np.where(counted, y, 0)], 0.0).sum())


def one_shot(p: dict[str, Any], reduction: str, x: np.ndarray | None = None) -> Any:
    return cecli.cross_entropy(
        p["x"] if x is None else x, p["target"], reduction=reduction, **p["kw"]
    )


# --------------------------------------------------------------------------------------------
# shift invariance


@SETTINGS
@given(p=problems(), data=st.data())
def test_shift_invariance(p: dict[str, Any], data: st.DataObject) -> None:
    """``log_softmax(x + c) = log_softmax(x)`` for any per-position constant ``c``."""
    x = p["x"]
    shift_shape = (x.shape[0], 1, *x.shape[2:])
    c = data.draw(hnp.arrays(np.float64, shift_shape, elements=st.floats(-100, 100)))
    atol = 4 * EPS * coef(p)
    base = one_shot(p, "none")
    assert_rel(one_shot(p, "none", x + c), base, atol=atol, what="none")
    s = one_shot(p, "sum")
    assert_rel(one_shot(p, "sum", x + c), s, atol=atol.sum(), what="sum")


# --------------------------------------------------------------------------------------------
# streaming


def accumulate(
    p: dict[str, Any],
    reduction: str,
    bounds: list[int],
    kind: str = "logits",
    x: np.ndarray | None = None,
) -> float:
    x = p["x"] if x is None else x
    acc = cecli.CrossEntropyAccumulator(reduction=reduction, input_kind=kind, **p["kw"])
    for lo, hi in itertools.pairwise(bounds):
        acc.update(x[lo:hi], p["target"][lo:hi])
    return acc.compute()


def chunkings(n: int, cuts: list[int]) -> dict[str, list[int]]:
    return {
        "ones": list(range(n + 1)),
        "sevens": [*range(0, n, 7), n],
        "random": sorted({0, n, *(c % (n + 1) for c in cuts)}),
    }


@SETTINGS
@given(
    p=problems(max_n=30),
    cuts=st.lists(st.integers(0, 30), max_size=6),
    reduction=st.sampled_from(["mean", "sum"]),
)
def test_chunk_size_invariance(p: dict[str, Any], cuts: list[int], reduction: str) -> None:
    """Fed in chunks of 1, of 7 or at random split points, the accumulator gives the one-shot
    result (the per-row losses are the same; only the grouping of the sums changes)."""
    want = one_shot(p, reduction)
    for name, bounds in chunkings(p["x"].shape[0], cuts).items():
        assert_rel(accumulate(p, reduction, bounds), want, what=f"{reduction} {name}")


@SETTINGS
@given(
    p=problems(kind="index", smoothing=False, max_n=20),
    cut=st.integers(0, 20),
    reduction=st.sampled_from(["mean", "sum"]),
)
def test_logprob_input_accumulates_to_nll(p: dict[str, Any], cut: int, reduction: str) -> None:
    """``input_kind='logprobs'`` streams ``nll_loss``: fed ``log_softmax(x)`` in two chunks it
    gives ``cross_entropy(x)`` and ``nll_loss(log_softmax(x))``."""
    lp = cecli.log_softmax(p["x"], axis=1)
    kw = {k: v for k, v in p["kw"].items() if k != "label_smoothing"}
    want = cecli.nll_loss(lp, p["target"], reduction=reduction, **kw)
    assert_rel(want, one_shot(p, reduction), atol=4 * EPS * coef(p).sum(), what="nll vs ce")
    n = p["x"].shape[0]
    got = accumulate(p, reduction, [0, min(cut, n), n], kind="logprobs", x=lp)
    assert_rel(got, want, what="accumulated nll")


@SETTINGS
@given(p=problems(max_n=25), cut=st.integers(0, 25), reduction=st.sampled_from(["mean", "sum"]))
def test_merge_equals_one_shot(p: dict[str, Any], cut: int, reduction: str) -> None:
    """Two accumulators over the two sides of a split, merged (either way round), give the
    one-shot result; ``merge`` returns the accumulator it merged into."""
    x, y, n = p["x"], p["target"], p["x"].shape[0]
    k = min(cut, n)
    want = one_shot(p, reduction)

    def acc(lo: int, hi: int) -> Any:
        a = cecli.CrossEntropyAccumulator(reduction=reduction, **p["kw"])
        a.update(x[lo:hi], y[lo:hi])
        return a

    left, right = acc(0, k), acc(k, n)
    merged = left.merge(right)
    assert merged is left
    assert_rel(merged.compute(), want, what="left.merge(right)")
    assert_rel(acc(k, n).merge(acc(0, k)).compute(), want, what="right.merge(left)")


# --------------------------------------------------------------------------------------------
# index targets versus one-hot probabilities


@SETTINGS
@given(p=problems(kind="index", ignore=False))
def test_index_targets_equal_one_hot_probabilities(p: dict[str, Any]) -> None:
    """With ``t = onehot(y)`` the probability formula's smoothed target is
    ``t' = onehot(y) (1-e) + e/C``, so ``-sum_c w_c t'_c lp_c = (1-e) w[y] (-lp_y) +
    (e/C) sum_c w_c (-lp_c)``: exactly the index formula, weights and smoothing included. So
    ``none`` and ``sum`` agree. ``mean`` divides by ``sum_i w[y_i]`` for indices but by the
    number of positions for probabilities: equal without weights, and in general
    ``mean_index * sum_i w[y_i] = mean_probs * positions``."""
    x, y, kw = p["x"], p["target"], p["kw"]
    C = x.shape[1]
    onehot = np.moveaxis(np.eye(C)[y], -1, 1)
    q = {**p, "target": onehot, "kind": "probs"}
    atol = 4 * EPS * coef(p)
    assert_rel(one_shot(q, "none"), one_shot(p, "none"), atol=atol, what="none")
    assert_rel(one_shot(q, "sum"), one_shot(p, "sum"), atol=atol.sum(), what="sum")
    mean_i, mean_p = one_shot(p, "mean"), one_shot(q, "mean")
    if kw["weight"] is None:
        assert_rel(mean_p, mean_i, atol=atol.mean(), what="unweighted mean")
    elif denominator(p) > 0:
        assert_rel(
            mean_p * denominator(q),
            mean_i * denominator(p),
            atol=atol.sum(),
            what="weighted mean, rescaled",
        )


# --------------------------------------------------------------------------------------------
# reductions


@SETTINGS
@given(p=problems(kind="index"))
def test_none_reduces_to_mean_and_sum(p: dict[str, Any]) -> None:
    """``none`` has one value per position, 0 where ignored; with unit weights ``mean`` is the
    average over counted positions, and in general ``sum(none) = sum`` and
    ``sum(none) / sum_i m_i w[y_i] = mean``."""
    y, kw = p["target"], p["kw"]
    per = np.asarray(one_shot(p, "none"))
    assert per.shape == y.shape
    counted = y != kw["ignore_index"]
    assert (per[~counted] == 0).all(), "ignored positions give 0"
    atol = 4 * EPS * coef(p).sum()
    assert_rel(one_shot(p, "sum"), np.sum(per), atol=atol, what="sum")
    mean = one_shot(p, "mean")
    if not counted.any():
        assert np.isnan(mean)
        return
    unit = {**p, "kw": {**kw, "weight": None}}
    assert_rel(
        one_shot(unit, "mean"),
        np.asarray(one_shot(unit, "none"))[counted].mean(),
        atol=atol / counted.sum(),
        what="unit-weight mean",
    )
    if denominator(p) > 0:
        assert_rel(
            mean, np.sum(per) / denominator(p), atol=atol / denominator(p), what="weighted mean"
        )


# --------------------------------------------------------------------------------------------
# softmax / log_softmax


@st.composite
def logit_rows(draw: st.DrawFn, dtype: Any = np.float64) -> np.ndarray:
    """Rows of logits, some entries -inf (masked), never a whole row."""
    n, c = draw(st.integers(1, 8)), draw(st.integers(1, 40))
    x = draw(
        hnp.arrays(
            dtype, (n, c), elements=st.floats(-50, 50, width=32 if dtype == np.float32 else 64)
        )
    )
    mask = draw(hnp.arrays(np.bool_, (n, c)))
    mask[np.arange(n), draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))] = False
    x[mask] = -np.inf
    return x


def row_logsumexp(lp: np.ndarray) -> np.ndarray:
    lp = lp.astype(np.float64)
    m = lp.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(lp - m).sum(axis=1, keepdims=True)))[:, 0]


@SETTINGS
@given(x=logit_rows(), dtype=st.sampled_from([np.float64, np.float32]))
def test_log_softmax_rows_logsumexp_to_zero(x: np.ndarray, dtype: Any) -> None:
    """``logsumexp(log_softmax(x)) = 0`` per row; entries are <= 0, -inf stays -inf."""
    x = x.astype(dtype)
    lp = cecli.log_softmax(x, axis=1)
    assert lp.dtype == dtype
    assert (lp <= 0).all()
    assert np.array_equal(np.isneginf(lp), np.isneginf(x))
    eps = float(np.finfo(dtype).eps)
    assert np.abs(row_logsumexp(lp)).max() <= 4 * eps * x.shape[1]


@SETTINGS
@given(x=logit_rows(), dtype=st.sampled_from([np.float64, np.float32]))
def test_softmax_rows_sum_to_one(x: np.ndarray, dtype: Any) -> None:
    """Softmax rows lie in [0, 1], sum to 1, and equal ``exp(log_softmax)``."""
    x = x.astype(dtype)
    p = cecli.softmax(x, axis=1)
    assert p.dtype == dtype
    assert ((p >= 0) & (p <= 1)).all()
    eps = float(np.finfo(dtype).eps)
    assert np.abs(p.astype(np.float64).sum(axis=1) - 1).max() <= 4 * eps * x.shape[1]
    lp = cecli.log_softmax(x, axis=1).astype(np.float64)
    # exp amplifies an absolute error d in lp into a relative error d ~ eps * (|lp| + 1)
    # atol: a probability below the smallest normal float is denormal and carries less
    # relative precision, so compare it absolutely at that scale
    np.testing.assert_allclose(
        p,
        np.exp(lp),
        rtol=8 * eps * (1 + np.abs(lp[np.isfinite(lp)]).max(initial=0)),
        atol=float(np.finfo(dtype).smallest_normal),
    )


@SETTINGS
@given(x=logit_rows(), axis_last=st.booleans())
def test_softmax_axis(x: np.ndarray, axis_last: bool) -> None:
    """The class axis can be any axis: moving it moves the result, nothing else (up to the
    order of the class sum: an ulp of ``log(sum exp)``)."""
    x3 = np.stack([x, x[::-1]], axis=0)  # (2, n, c), classes last
    got = cecli.log_softmax(x3, axis=-1 if axis_last else 2)
    want = cecli.log_softmax(np.moveaxis(x3, 2, 1), axis=1)
    assert_rel(np.moveaxis(got, 2, 1), want, atol=4 * EPS * x.shape[1], what="moved axis")


@SETTINGS
@given(x=logit_rows(), data=st.data())
def test_float16_is_upcast_to_float32(x: np.ndarray, data: st.DataObject) -> None:
    """A float16 input is computed as float32 (DESIGN.md: "float16 is upcast"): the same
    numbers as the float32 copy of the input, in float32."""
    x16 = x.astype(np.float16)
    x32 = x16.astype(np.float32)
    lp16 = cecli.log_softmax(x16, axis=1)
    assert lp16.dtype == np.float32
    assert_rel(lp16, cecli.log_softmax(x32, axis=1), rtol=1e-6, atol=1e-6, what="log_softmax")
    y = data.draw(hnp.arrays(np.int64, (x.shape[0],), elements=st.integers(0, x.shape[1] - 1)))
    want = cecli.cross_entropy(x32, y, reduction="none")
    assert_rel(
        cecli.cross_entropy(x16, y, reduction="none"),
        want,
        rtol=1e-6,
        atol=1e-6,
        what="cross_entropy",
    )


# --------------------------------------------------------------------------------------------
# gradients


def grad_fn() -> Any:
    fn = getattr(cecli, "cross_entropy_grad", None)
    if fn is None:
        pytest.skip("cecli.cross_entropy_grad does not exist")
    return fn


@SETTINGS
@given(p=problems(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_grad_sums_to_zero_over_classes(p: dict[str, Any], reduction: str) -> None:
    """``d l_i / d x_i = sum_c coef_c (softmax(x_i) - e_c)``, and both terms sum to 1 over
    classes, so each position's gradient sums to 0 (index or probability targets, any weights
    and smoothing)."""
    fn = grad_fn()
    if reduction == "mean" and denominator(p) == 0:
        return
    g = fn(p["x"], p["target"], reduction=reduction, **p["kw"])
    scale = coef(p) / (denominator(p) if reduction == "mean" else 1.0)
    bound = 8 * EPS * p["x"].shape[1] * (scale + 1e-300)
    assert (np.abs(np.asarray(g).sum(axis=1)) <= bound).all()


@SETTINGS
@given(p=problems(max_n=6), reduction=st.sampled_from(["mean", "sum"]), data=st.data())
def test_grad_matches_finite_differences(
    p: dict[str, Any], reduction: str, data: st.DataObject
) -> None:
    """The directional derivative along a random ``v`` equals ``<grad, v>`` (central
    differences, step 1e-5 on logits bounded by 20: truncation ~ h^2, rounding ~ eps / h)."""
    fn = grad_fn()
    if reduction == "mean" and denominator(p) == 0:
        return
    x = np.clip(p["x"], -5, 5)
    v = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-1, 1)))
    h = 1e-5
    up = cecli.cross_entropy(x + h * v, p["target"], reduction=reduction, **p["kw"])
    down = cecli.cross_entropy(x - h * v, p["target"], reduction=reduction, **p["kw"])
    fd = (float(up) - float(down)) / (2 * h)
    g = np.asarray(fn(x, p["target"], reduction=reduction, **p["kw"]))
    scale = float(coef(p).sum()) / (denominator(p) if reduction == "mean" else 1.0)
    assert abs(fd - float((g * v).sum())) <= 1e-6 * (scale * np.abs(v).sum() / x.shape[1] + 1)
