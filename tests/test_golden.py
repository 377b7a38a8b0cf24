"""cecli against golden values computed by PyTorch 2.13.

The references live in ``tests/fixtures/golden/`` (``cases.json`` + ``arrays.npz``) and were
written by ``scripts/make_golden.py``: torch evaluated every loss, gradient and (log-)softmax in
the input's own dtype on exactly the stored arrays, and stored the result as float64; the
script's docstring has the details. These tests never import torch.

Tolerances
----------
float64 cases use ``rtol = 1e-10``; float32 cases ``rtol = 1e-6`` (about 8 float32 ulps: the
two sides may use different ``exp`` / ``log`` kernels and summation orders, each worth an ulp
or two). A relative tolerance alone is wrong near 0: a float32 result is only known to within a
few ulps *of the quantities it was computed from*, not of the (possibly tiny) final value. So
every comparison also gets ``atol = tol * scale``, where ``scale`` is worked out below from the
inputs (never from either implementation's output) as the size of the terms that meet in the
result:

* cross-entropy: each position's loss is ``sum_c coef_c * -lp_c`` with ``coef >= 0`` and
  ``-lp_c = (m - x_c) + log(sum exp(x - m)) >= 0`` computed shift-free, so its rounding error
  is ``~ eps * (loss + sum_c coef_c)``: the relative part is covered by ``rtol`` and the
  absolute part by ``scale = sum_c coef_c`` (``(1-e) w[y] + e/C * sum(w)`` for index targets,
  ``sum_c w_c t'_c`` for probabilities), summed / averaged like the loss itself. A
  confidently right prediction (loss ~ 1e-9) may thus differ by ~1e-6 * weight in float32, no
  more. (An implementation that adds the row max back before subtracting the target's logit
  loses ``eps * |max logit|`` and fails the 1e4-scale cases, as it should: torch does not.)
* gradients: ``coef * (softmax - target)``; softmax is good to ``~ eps`` absolute, so
  ``scale = coef / denominator`` per element.
* BCE with logits: ``w * [(1 - t) x + (1 + (pw - 1) t) * -logsigmoid(x)]`` cancels for large
  ``|x|``, so ``scale = |w| (|1-t| |x| + |lw| (|x| + log 2))``, the size of the two terms.
* BCE on probabilities: ``scale = |w| (t (|log p| + 1) + (1-t) (|log(1-p)| + 1))``, logs
  clamped at 100 as torch does; its gradient ``w (p - t) / max(p (1-p), 1e-12)`` gets
  ``|w| (p + t) / max(p (1-p), 1e-12)``.
* softmax values lie in [0, 1]: ``atol = tol * 1e-2``; log_softmax: ``atol = tol``.

NaN must meet NaN and an infinity the same infinity. ``none`` results are compared elementwise
in the target's shape.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cecli

FIXTURES = Path(__file__).parent / "fixtures" / "golden"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "cases.json").read_text())
CASES: list[dict[str, Any]] = MANIFEST["cases"]
BY_ID = {c["id"]: c for c in CASES}

TOL = {"float32": 1e-6, "float64": 1e-10}


@cache
def _buffers() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "arrays.npz") as z:  # allow_pickle stays False
        return {k: z[k] for k in z.files}


def arr(ref: list[Any] | None) -> np.ndarray | None:
    """The array a manifest reference ``[dtype, offset, shape]`` points at (a fresh copy)."""
    if ref is None:
        return None
    dtype, offset, shape = ref
    n = math.prod(shape)
    return _buffers()[dtype][offset : offset + n].reshape(shape).copy()


def expected(value: Any) -> np.ndarray:
    if isinstance(value, dict):
        out = arr(value["array"])
        assert out is not None
        return out
    return np.asarray(float(value))  # float("nan") / float("inf") parse the strings


def assert_close(got: Any, want: np.ndarray, rtol: float, atol: Any, what: str) -> None:
    """Elementwise ``|got - want| <= atol + rtol * |want|``; NaN meets NaN, inf the same inf."""
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    assert g.shape == w.shape, f"{what}: shape {g.shape}, expected {w.shape}"
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    assert np.array_equal(nan_g, nan_w), (
        f"{what}: NaN at {np.argwhere(nan_g != nan_w)[:5].tolist()}: got {g[nan_g != nan_w][:5]}, "
        f"expected {w[nan_g != nan_w][:5]}"
    )
    inf_w = np.isinf(w)
    assert np.array_equal(g[inf_w], w[inf_w]), f"{what}: got {g[inf_w]}, expected {w[inf_w]}"
    assert not np.isinf(g[~inf_w]).any(), f"{what}: got {g[~inf_w]}, expected {w[~inf_w]}"
    fin = np.isfinite(w)
    bound = np.broadcast_to(np.asarray(atol, dtype=np.float64), w.shape) + rtol * np.abs(w)
    err = np.abs(np.where(fin, g, 0.0) - np.where(fin, w, 0.0))  # no inf - inf
    bad = fin & ~(err <= bound)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {w.size} values off; worst "
            f"{float(np.max(err[bad] / np.maximum(bound[bad], 1e-300))):.3g}x the tolerance; "
            f"at {idx.tolist()}: got {g[bad][:5].tolist()}, expected {w[bad][:5].tolist()}"
        )


def ids(cases: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(c, id=c["id"]) for c in cases]


def select(*families: str, error: bool = False, where: Any = None) -> list[Any]:
    out = [
        c
        for c in CASES
        if c["family"] in families and ("error" in c) == error and (where is None or where(c))
    ]
    assert out, f"no golden cases for {families}"
    return ids(out)


# --------------------------------------------------------------------------------------------
# cross-entropy / nll


def ce_args(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    x, y = arr(case["input"]), arr(case["target"])
    assert x is not None and y is not None
    kw = dict(case["options"])
    kw["weight"] = arr(case["weight"])
    return x, y, kw


def ce_scales(case: dict[str, Any]) -> tuple[np.ndarray, float]:
    """Per-position ``sum_c coef_c`` (in the target's position shape) and the ``mean``
    denominator, from the contract's formulas (DESIGN.md), in float64."""
    x, y, kw = ce_args(case)
    axis = kw["axis"] % x.ndim
    C = x.shape[axis]
    w = np.ones(C) if kw["weight"] is None else kw["weight"].astype(np.float64)
    e = kw.get("label_smoothing", 0.0)
    if case["target_kind"] == "index":
        counted = y != kw["ignore_index"]
        wy = np.where(counted, w[np.where(counted, y, 0).astype(np.int64)], 0.0)
        coef = counted * ((1 - e) * wy + e / C * w.sum())
        return coef, float(wy.sum())
    t = np.moveaxis(y.astype(np.float64), axis, -1) * (1 - e) + e / C
    coef = (t * w).sum(axis=-1)
    return coef, float(coef.size)


def loss_atol(case: dict[str, Any], tol: float) -> Any:
    coef, denom = ce_scales(case)
    red = case["options"]["reduction"]
    if red == "none":
        return tol * coef
    if red == "sum":
        return tol * coef.sum()
    return tol * coef.sum() / denom if denom > 0 else 0.0


def grad_atol(case: dict[str, Any], tol: float) -> np.ndarray:
    x, _, kw = ce_args(case)
    coef, denom = ce_scales(case)
    if kw["reduction"] == "mean" and denom > 0:
        coef = coef / denom
    axis = kw["axis"] % x.ndim
    return tol * np.broadcast_to(np.expand_dims(coef, axis), x.shape)


def ce_call(case: dict[str, Any]) -> Any:
    x, y, kw = ce_args(case)
    fn = cecli.cross_entropy if case["family"] == "ce" else cecli.nll_loss
    return fn(x, y, **kw)


@pytest.mark.parametrize("case", select("ce", "nll"))
def test_loss(case: dict[str, Any]) -> None:
    got = ce_call(case)
    want = expected(case["expected"])
    if case["options"]["reduction"] != "none":
        assert np.ndim(got) == 0, f"a reduced loss is a scalar, got shape {np.shape(got)}"
    tol = TOL[case["dtype"]]
    assert_close(got, want, tol, loss_atol(case, tol), case["id"])


@pytest.mark.parametrize("case", select("ce", "nll", where=lambda c: c["grad"] is not None))
def test_grad(case: dict[str, Any]) -> None:
    name = "cross_entropy_grad" if case["family"] == "ce" else "nll_loss_grad"
    fn = getattr(cecli, name, None)
    if fn is None:
        pytest.skip(f"cecli.{name} does not exist")
    x, y, kw = ce_args(case)
    got = fn(x, y, **kw)
    assert np.shape(got) == x.shape
    tol = TOL[case["dtype"]]
    assert_close(got, expected(case["grad"]), tol, grad_atol(case, tol), case["id"] + " grad")


@pytest.mark.parametrize("case", select("ce", "nll", error=True))
def test_error(case: dict[str, Any]) -> None:
    error = getattr(cecli, case["error"])
    with pytest.raises(error):
        ce_call(case)


def chunkable(case: dict[str, Any]) -> bool:
    return case["options"]["reduction"] != "none" and len(case["input"][2]) >= 2


@pytest.mark.parametrize("case", select("ce", "nll", where=chunkable))
def test_accumulator_matches_golden(case: dict[str, Any]) -> None:
    """The streaming accumulator, fed the golden input in uneven chunks along N."""
    x, y, kw = ce_args(case)
    acc = cecli.CrossEntropyAccumulator(
        **kw, input_kind="logits" if case["family"] == "ce" else "logprobs"
    )
    n = x.shape[0]
    for lo, hi in ((0, n // 3), (n // 3, n // 3), (n // 3, n)):  # includes an empty chunk
        acc.update(x[lo:hi], y[lo:hi])
    tol = TOL[case["dtype"]]
    assert_close(
        acc.compute(),
        expected(case["expected"]),
        tol,
        loss_atol(case, tol),
        case["id"] + " accumulated",
    )


# --------------------------------------------------------------------------------------------
# binary cross-entropy


def bce_args(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    x, t = arr(case["input"]), arr(case["target"])
    assert x is not None and t is not None
    kw: dict[str, Any] = {"weight": arr(case["weight"]), "reduction": case["options"]["reduction"]}
    if case["family"] == "bce_logits":
        kw["pos_weight"] = arr(case["pos_weight"])
    return x, t, kw


def bce_scales(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise size of the terms of the loss and of the gradient (see the docstring)."""
    x, t, kw = bce_args(case)
    x, t = x.astype(np.float64), t.astype(np.float64)
    w = np.ones_like(x) if kw["weight"] is None else np.broadcast_to(kw["weight"], x.shape)
    w = np.abs(w.astype(np.float64))
    if case["family"] == "bce_logits":
        pw = 1.0 if kw["pos_weight"] is None else kw["pos_weight"].astype(np.float64)
        lw = np.abs(1 + (pw - 1) * t)
        loss = w * (np.abs(1 - t) * np.abs(x) + lw * (np.abs(x) + math.log(2)))
        grad = w * (np.abs(1 - t) + lw)
    else:
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped to 100 like torch
            lp = np.minimum(-np.log(x), 100.0)
            l1p = np.minimum(-np.log1p(-x), 100.0)
        loss = w * (t * (lp + 1) + (1 - t) * (l1p + 1))
        grad = w * (x + t) / np.maximum(x * (1 - x), 1e-12)
    return loss, grad


def reduce_atol(scale: np.ndarray, reduction: str, tol: float) -> Any:
    if reduction == "none":
        return tol * scale
    total = tol * scale.sum()
    return total / scale.size if reduction == "mean" and scale.size else total


@pytest.mark.parametrize("case", select("bce_logits", "bce"))
def test_bce_loss(case: dict[str, Any]) -> None:
    x, t, kw = bce_args(case)
    fn = (
        cecli.binary_cross_entropy_with_logits
        if case["family"] == "bce_logits"
        else cecli.binary_cross_entropy
    )
    got = fn(x, t, **kw)
    tol = TOL[case["dtype"]]
    atol = reduce_atol(bce_scales(case)[0], kw["reduction"], tol)
    assert_close(got, expected(case["expected"]), tol, atol, case["id"])


@pytest.mark.parametrize("case", select("bce_logits", "bce"))
def test_bce_grad(case: dict[str, Any]) -> None:
    name = (
        "binary_cross_entropy_with_logits_grad"
        if case["family"] == "bce_logits"
        else "binary_cross_entropy_grad"
    )
    fn = getattr(cecli, name, None)
    if fn is None:
        pytest.skip(f"cecli.{name} does not exist")
    x, t, kw = bce_args(case)
    got = fn(x, t, **kw)
    tol = TOL[case["dtype"]]
    scale = bce_scales(case)[1]
    if kw["reduction"] == "mean" and scale.size:
        scale = scale / scale.size
    assert_close(got, expected(case["grad"]), tol, tol * scale, case["id"] + " grad")


# --------------------------------------------------------------------------------------------
# softmax / log_softmax


@pytest.mark.parametrize("case", select("softmax", "log_softmax"))
def test_softmax(case: dict[str, Any]) -> None:
    x = arr(case["input"])
    assert x is not None
    fn = cecli.softmax if case["family"] == "softmax" else cecli.log_softmax
    got = fn(x, axis=case["options"]["axis"])
    assert got.dtype == x.dtype, "(log_)softmax keeps a float32 / float64 input's dtype"
    tol = TOL[case["dtype"]]
    atol = tol * (1e-2 if case["family"] == "softmax" else 1.0)
    assert_close(got, expected(case["expected"]), tol, atol, case["id"])


# --------------------------------------------------------------------------------------------
# scikit-learn's log_loss


@pytest.mark.parametrize("case", select("sklearn_log_loss"))
def test_sklearn_log_loss(case: dict[str, Any]) -> None:
    """sklearn clips to [eps, 1 - eps] and does not renormalise; the stored probabilities
    stay inside [0.01, 0.95] with rows summing to 1, so both clips are no-ops."""
    p, y = arr(case["input"]), arr(case["target"])
    assert p is not None and y is not None
    logp = np.log(np.clip(p, np.finfo(p.dtype).tiny, 1.0))
    got = cecli.cross_entropy(logp, y, reduction=case["options"]["reduction"])
    assert_close(got, expected(case["expected"]), 1e-10, 0.0, case["id"])


# --------------------------------------------------------------------------------------------
# the command line, on a representative subset


def _cli_app() -> Any:
    try:
        from cecli.cli import app
    except ModuleNotFoundError as exc:
        if exc.name == "cecli.cli":
            pytest.skip("cecli.cli does not exist yet")
        raise
    return app


def cli_argv(case: dict[str, Any], preds: Path, targets: Path) -> list[str]:
    _, _, kw = ce_args(case)
    argv = [case["family"], str(preds), str(targets), "-f", "json", "--reduction", kw["reduction"]]
    if kw["weight"] is not None:
        argv += ["--weight", ",".join(repr(float(v)) for v in kw["weight"])]
    if kw["ignore_index"] != -100:
        argv.append(f"--ignore-index={kw['ignore_index']}")
    if kw.get("label_smoothing"):
        argv += ["--label-smoothing", repr(kw["label_smoothing"])]
    return argv


def json_loss(v: Any) -> Any:
    """A JSON number, ``null`` (NaN) or a (nested) list of them, as float64."""
    if isinstance(v, list):
        return np.array([json_loss(u) for u in v], dtype=np.float64)
    return np.asarray(math.nan if v is None else float(v))


@pytest.mark.parametrize("case", ids([BY_ID[i] for i in MANIFEST["cli_subset"]]))
def test_cli(case: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    app = _cli_app()
    x, y, kw = ce_args(case)
    preds, targets = tmp_path / "preds.npy", tmp_path / "targets.npy"
    np.save(preds, x)
    np.save(targets, y)
    argv = cli_argv(case, preds, targets)
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "120"})
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, f"{argv}\n{result.output}"
    out = json.loads(result.stdout)
    tol = TOL[case["dtype"]]
    want = expected(case["expected"])
    atol = loss_atol(case, tol)
    if kw["reduction"] != "none":
        assert out["reduction"] == kw["reduction"]
        assert_close(json_loss(out["loss"]), want, tol, atol, case["id"] + " cli loss")
        return
    # JSON ``losses``: nested in the targets' shape, or one flat list in C order
    losses = json_loss(out["losses"])
    if losses.shape != want.shape:
        assert losses.shape == (want.size,), f"losses shape {losses.shape}, targets {want.shape}"
        losses = losses.reshape(want.shape)
    assert_close(losses, want, tol, atol, case["id"] + " cli losses")
    dest = tmp_path / "out.npy"
    result = runner.invoke(app, [*argv, "-o", str(dest)])
    assert result.exit_code == 0, f"{argv} -o\n{result.output}"
    assert_close(np.load(dest), want, tol, atol, case["id"] + " cli -o")
