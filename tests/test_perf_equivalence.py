"""The kernel's fast paths agree with a straightforward float64 NumPy reference.

The kernel (``cecli.core._ce`` / ``_kernel``) picks between a *rows* layout (positions x
classes) and a transposed *columns* layout by ``WIDE_MIN_CLASSES``, cuts inputs into tiles of
``BLOCK_ELEMENTS`` values (whole rows, or pieces of one row), may run tiles on several threads,
and upcasts float16 tiles to float32. None of this may change an answer. Each test here forces
one path (by patching those two constants) and compares every per-position output with
:func:`reference`, written from the definitions in DESIGN.md in float64 with full N x C
temporaries; paths are also compared with each other bit for bit where the arithmetic is the
same. These are correctness tests only: nothing here is timed.

Tolerances: float64 inputs agree to ~1e-12 relative. float32 (and float16, computed in float32)
inputs carry float32 rounding in the log-sum-exp, ~1e-6 of ``|loss| + log C``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import cecli
import cecli.core._blocks as blocks
import cecli.core._ce as ce
from cecli.accumulate.spec import loss_keywords
from cecli.core import CEOptions, LossSpec, as_3d, ce_positions, index_targets

LAYOUTS = {"rows": 1, "columns": 1 << 40}  # WIDE_MIN_CLASSES forcing each layout
# Around every boundary the kernel has: the chosen WIDE_MIN_CLASSES, the old one (24), the
# int8 / int16 argmax keys (127), tiny C, and row lengths around a cache line (16 floats).
CLASSES = sorted(
    {1, 2, 3, 10, 15, 16, 17, 23, 24, 25, 63, 64, 65, 126, 127, 128, 129, 300}
    | {ce.WIDE_MIN_CLASSES - 1, ce.WIDE_MIN_CLASSES, ce.WIDE_MIN_CLASSES + 1}
)


@pytest.fixture
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Force a layout and small tiles (many tiles, rows split across tiles)."""
    name, block = request.param
    monkeypatch.setattr(ce, "WIDE_MIN_CLASSES", LAYOUTS[name])
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", block)
    yield name


PATHS = [("rows", 1 << 17), ("columns", 1 << 17), ("rows", 700), ("columns", 700)]
PATH_IDS = [f"{n}-{b}" for n, b in PATHS]


def reference(
    x3: np.ndarray,
    t: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    smoothing: float = 0.0,
    soft: bool = False,
    input_kind: str = "logits",
    top_k: int = 0,
) -> dict[str, np.ndarray]:
    """Per-position outputs in float64, position order ``r * D + d``, from the definitions.

    Non-finite logits give what the formulas give (NaN for a NaN, +inf or all -inf row)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _reference(x3, t, weight, ignore_index, smoothing, soft, input_kind, top_k)


def _reference(
    x3: np.ndarray,
    t: np.ndarray,
    weight: np.ndarray | None,
    ignore_index: int,
    smoothing: float,
    soft: bool,
    input_kind: str,
    top_k: int,
) -> dict[str, np.ndarray]:
    C = x3.shape[1]
    x = x3.astype(np.float64).transpose(0, 2, 1).reshape(-1, C)  # (P, C)
    P = x.shape[0]
    w = np.ones(C) if weight is None else weight.astype(np.float64)
    shown = None  # probabilities: what conf and target_prob are read from
    if input_kind == "probs":
        # the loss: sklearn's log_loss clip to [eps, 1 - eps], eps of the input's dtype; conf
        # and target_prob: the probability itself (clipped to [tiny, 1] against log 0)
        tiny = np.finfo(np.float32 if x3.dtype != np.float64 else np.float64).tiny
        eps = np.finfo(x3.dtype).eps
        shown = np.log(np.clip(x, tiny, 1.0))
        x = np.log(np.clip(x, eps, 1.0 - eps))
    if input_kind == "logits":
        m = x.max(axis=1, keepdims=True)
        lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
        lp = x - lse
    else:
        lp = x
    ar = np.arange(P)
    pred = np.argmax(x, axis=1)
    if soft:
        tt = t.astype(np.float64).transpose(0, 2, 1).reshape(-1, C)
        target = np.argmax(tt, axis=1)
        ts = tt * (1 - smoothing) + smoothing / C
        loss = -(w * ts * lp).sum(axis=1)
        valid = np.ones(P, dtype=bool)
        denom = np.ones(P)
    else:
        target = t.reshape(-1)
        valid = target != ignore_index
        ys = np.where(valid, target, 0)
        wy = w[ys]
        loss = (1 - smoothing) * wy * -lp[ar, ys]
        if smoothing:
            loss += (smoothing / C) * (w * -lp).sum(axis=1)
        loss = np.where(valid, loss, 0.0)
        denom = np.where(valid, wy, 0.0)
    ys = np.where(valid, target, 0)
    rank = (x > x[ar, ys][:, None]).sum(axis=1)
    out = {
        "loss": loss,
        "denom": denom,
        "counted": valid,
        "target": target,
        "pred": pred,
        "conf": np.exp((lp if shown is None else shown)[ar, pred]),
        "target_prob": np.exp((lp if shown is None else shown)[ar, ys]),
    }
    if top_k:
        out["topk"] = rank < top_k
    return out


def ce_options(C: int, *, soft: bool = False, top_k: int = 0, **kw: Any) -> CEOptions:
    """The kernel's options for torch's keyword options."""
    return LossSpec(**loss_keywords(kw)).bind(C, soft, top_k)


def run(x3: np.ndarray, t: np.ndarray, threads: int = 1, **kw: Any) -> ce.Positions:
    soft = kw.pop("soft", False)
    opts = ce_options(x3.shape[1], soft=soft, **kw)
    if not soft:
        t = index_targets(t, x3.shape[1], opts.ignore_index)
    return ce_positions(x3, t, opts, threads=threads)


def check(pos: ce.Positions, ref: dict[str, np.ndarray], dtype: np.dtype, C: int) -> None:
    exact = ("counted", "target", "pred", "topk")
    for k, want in ref.items():
        got = getattr(pos, k)
        if k in exact:
            np.testing.assert_array_equal(got, want, err_msg=k)
        elif dtype == np.float64:
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12, err_msg=k)
        else:
            scale = 1.0 if k in ("conf", "target_prob") else np.abs(want) + np.log(C) + 1.0
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.max(scale), err_msg=k)


def problem(
    rng: np.random.Generator, shape: tuple[int, ...], C: int, dtype: Any, ignore: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    y = rng.integers(0, C, size=(shape[0], *shape[2:]))
    if ignore:
        y.reshape(-1)[::7] = -100
    return x, y


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS, indirect=True)
@pytest.mark.parametrize("C", CLASSES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_every_class_count_and_dtype(path: str, C: int, dtype: Any) -> None:
    """(N, C) logits with ignored targets, top-k: every output equals the reference."""
    rng = np.random.default_rng(C)
    x, y = problem(rng, (97, C), C, dtype)
    x3, _ = as_3d(x, 1)
    pos = run(x3, y.reshape(-1, 1), top_k=3)
    check(pos, reference(x3, y.reshape(-1, 1), top_k=3), np.dtype(dtype), C)


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS, indirect=True)
@pytest.mark.parametrize("C", [3, 17, 64, 129, 300])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options",
    [
        {"weight": True},
        {"smoothing": 0.2},
        {"weight": True, "smoothing": 0.1, "ignore_index": 1},
        {"soft": True},
        {"soft": True, "weight": True, "smoothing": 0.3},
        {"input_kind": "logprobs"},
        {"input_kind": "logprobs", "smoothing": 0.1, "weight": True},
        {"input_kind": "probs"},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_options(path: str, C: int, dtype: Any, options: dict[str, Any]) -> None:
    """Weights, smoothing, probability targets and the input kinds, on both layouts."""
    rng = np.random.default_rng(C + 1)
    x, y = problem(rng, (61, C), C, dtype)
    kw = dict(options)
    weight = rng.uniform(0.1, 2.0, C) if kw.pop("weight", False) else None
    smoothing = kw.pop("smoothing", 0.0)
    soft = kw.pop("soft", False)
    ignore_index = kw.pop("ignore_index", -100)
    input_kind = kw.pop("input_kind", "logits")
    if input_kind == "logprobs":
        x = (x - np.log(np.exp(x.astype(np.float64)).sum(1, keepdims=True))).astype(dtype)
    elif input_kind == "probs":
        e = np.exp(x.astype(np.float64))
        x = (e / e.sum(1, keepdims=True)).astype(dtype)
    if soft:
        tgt = rng.dirichlet(np.ones(C), size=61).astype(dtype)
        t3, _ = as_3d(tgt, 1)
        y = None
    else:
        if ignore_index >= 0:
            y[y == -100] = ignore_index
        t3 = y.reshape(-1, 1)
    x3, _ = as_3d(x, 1)
    kwargs: dict[str, Any] = dict(
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=smoothing,
        input_kind=input_kind,
        soft=soft,
    )
    pos = run(x3, t3, **kwargs)
    ref = reference(
        x3,
        t3,
        weight=weight,
        ignore_index=ignore_index,
        smoothing=smoothing,
        soft=soft,
        input_kind=input_kind,
    )
    check(pos, ref, np.dtype(dtype), C)


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS, indirect=True)
@pytest.mark.parametrize(
    ("shape", "axis"), [((9, 5, 40), 1), ((4, 130, 33), 1), ((7, 31, 3), -1), ((3, 50, 200), -1)]
)
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_trailing_positions(path: str, shape: tuple[int, ...], axis: int, dtype: Any) -> None:
    """(N, C, d) and (N, d, C) arrays: positions beyond the batch axis, tiles that split a row."""
    rng = np.random.default_rng(len(shape) + shape[-1])
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    ax = 1 if axis == 1 else x.ndim - 1
    C = x.shape[ax]
    x3, pos_shape = as_3d(x, ax)
    y = rng.integers(0, C, size=pos_shape)
    y.reshape(-1)[::5] = -100
    t = y.reshape(x3.shape[0], x3.shape[2])
    check(run(x3, t, top_k=2), reference(x3, t, top_k=2), np.dtype(dtype), C)


@pytest.mark.parametrize("C", [10, 200])
@pytest.mark.parametrize("block", [300, 1 << 17])
def test_threads_change_nothing(C: int, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiles on 1, 2 or 3 threads: bit-identical outputs, in the same order."""
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", block)
    rng = np.random.default_rng(C)
    x, y = problem(rng, (3000, C), C, np.float32)
    x[5, 3] = np.nan  # error-mode findings must merge across threads too
    x[2999, 0] = np.inf
    x3, _ = as_3d(x, 1)
    t = y.reshape(-1, 1)
    kw = dict(top_k=2, nonfinite="error")
    one = run(x3, t, threads=1, **kw)
    for threads in (2, 3):
        many = run(x3, t, threads=threads, **kw)
        for k in ("loss", "denom", "counted", "target", "pred", "conf", "target_prob", "topk"):
            np.testing.assert_array_equal(getattr(many, k), getattr(one, k), err_msg=k)
        assert many.nonfinite_rows == one.nonfinite_rows == [5]
        assert many.nonfinite_count == one.nonfinite_count == 2
    a = cecli.cross_entropy(x, y, threads=1, reduction="none")
    b = cecli.cross_entropy(x, y, threads=2, reduction="none")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS, indirect=True)
@pytest.mark.parametrize("C", [4, 40, 130])
def test_non_finite_and_ties(path: str, C: int) -> None:
    """NaN, +inf and -inf logits and tied maxima: the same findings and argmax on every path.

    torch's argmax (and NumPy's) returns the first NaN, else the first of tied maxima; a row of
    -inf gives NaN but is no error; NaN in an ignored row is never reported.
    """
    rng = np.random.default_rng(C)
    x = np.round(rng.standard_normal((40, C)) * 2).astype(np.float32)  # many ties
    y = rng.integers(0, C, 40)
    x[3, C // 2] = np.nan
    x[4, :] = -np.inf
    x[5, -1] = np.inf
    x[6, 0] = np.nan
    y[6] = -100  # ignored: not an error
    x[7, 1 % C :] = -np.inf  # masked classes
    y[7] = 0
    x3, _ = as_3d(x, 1)
    pos = run(x3, y.reshape(-1, 1), nonfinite="error")
    assert pos.nonfinite_rows == [3]
    assert pos.nonfinite_count == 2  # rows 3 and 5
    np.testing.assert_array_equal(pos.pred, np.argmax(x, axis=1))
    ref = reference(x3, y.reshape(-1, 1))
    fine = np.ones(40, dtype=bool)
    fine[[3, 4, 5]] = False
    np.testing.assert_allclose(pos.loss[fine], ref["loss"][fine], rtol=1e-6, atol=1e-6)
    assert np.isnan(pos.loss[[3, 4, 5]]).all()
    assert pos.loss[6] == 0.0


def test_float16_matches_float32() -> None:
    """float16 input is upcast per tile: the same numbers as the float32 copy of it."""
    rng = np.random.default_rng(0)
    for C in (10, 500):
        x, y = problem(rng, (200, C), C, np.float16)
        a = cecli.cross_entropy(x, y, reduction="none")
        b = cecli.cross_entropy(x.astype(np.float32), y, reduction="none")
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_rows_split_across_tiles_count_once(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row cut into several tiles (and threads) with NaN in two of them is one bad row."""
    monkeypatch.setattr(blocks, "BLOCK_ELEMENTS", 60)
    x = np.zeros((4, 5, 40), dtype=np.float32)
    x[1, 2, 3] = x[1, 0, 20] = x[1, 4, 39] = np.nan
    x[3, 1, 39] = np.inf
    y = np.zeros((4, 40), dtype=np.int64)
    x3, _ = as_3d(x, 1)
    pos = run(x3, y, threads=threads, nonfinite="error")
    assert pos.nonfinite_rows == [1]
    assert pos.nonfinite_count == 2  # rows 1 and 3


@pytest.mark.parametrize("C", [3, 9, 23, 64, 111, 112, 300])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunking_changes_no_bit(C: int, dtype: Any) -> None:
    """A position's outputs do not depend on the rows it is computed with: one row at a time
    (one-position tiles), in odd chunks, or all at once give identical bits. Rows whose logits
    are too large to skip the shift sit next to rows that skip it."""
    rng = np.random.default_rng(C)
    x, y = problem(rng, (40, C), C, dtype)
    x[::3] += dtype(200.0)  # these rows need the shift
    x[5, 1 % C] = -np.inf
    x3, _ = as_3d(x, 1)
    t = y.reshape(-1, 1)
    kw: dict[str, Any] = dict(top_k=2, label_smoothing=0.1, weight=rng.uniform(0.5, 2, C))
    whole = run(x3, t, **kw)
    for step in (1, 7):
        parts = [run(x3[a : a + step], t[a : a + step], **kw) for a in range(0, 40, step)]
        for k in ("loss", "denom", "pred", "conf", "target_prob", "topk"):
            got = np.concatenate([getattr(p, k) for p in parts])
            np.testing.assert_array_equal(got, getattr(whole, k), err_msg=f"{k}, step {step}")
    tgt = rng.dirichlet(np.ones(C), size=40).astype(dtype)
    t3, _ = as_3d(tgt, 1)
    whole = run(x3, t3, soft=True, label_smoothing=0.1)
    ones = [run(x3[a : a + 1], t3[a : a + 1], soft=True, label_smoothing=0.1) for a in range(40)]
    np.testing.assert_array_equal(np.concatenate([p.loss for p in ones]), whole.loss)


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS, indirect=True)
@pytest.mark.parametrize("C", [3, 40, 300])
@pytest.mark.parametrize("input_kind", ["logits", "logprobs", "probs"])
def test_light_mode_same_losses(path: str, C: int, input_kind: str) -> None:
    """``light=True`` (the one-shot functions' mode: no argmax, nothing kept for conf) gives
    the same loss, denominator, counts and findings, bit for bit."""
    rng = np.random.default_rng(C)
    x, y = problem(rng, (50, C), C, np.float32)
    if input_kind != "logits":
        e = np.exp(x.astype(np.float64))
        p = e / e.sum(1, keepdims=True)
        x = (np.log(p) if input_kind == "logprobs" else p).astype(np.float32)
    x[7, 0] = np.nan
    x3, _ = as_3d(x, 1)
    opts = ce_options(C, input_kind=input_kind, nonfinite="error", label_smoothing=0.1)
    t = index_targets(y.reshape(-1, 1), C, -100)
    full = ce_positions(x3, t, opts)
    light = ce_positions(x3, t, opts, light=True)
    for k in ("loss", "denom", "counted", "target"):
        np.testing.assert_array_equal(getattr(light, k), getattr(full, k), err_msg=k)
    assert light.nonfinite_rows == full.nonfinite_rows
    assert light.nonfinite_count == full.nonfinite_count
    assert light.pred.size == 0
    with pytest.raises(ValueError, match="light"):
        _ = light.conf
