"""The extra measures of a ``ce`` run: accuracy, top-k, per-class, ECE and loss quantiles.

Every reference is computed here, independently of the accumulator: per-class figures are a
NumPy group-by of the per-sample losses of :func:`cecli.cross_entropy` (``reduction='none'``,
itself checked against torch in ``test_golden.py``); top-k and accuracy are direct NumPy
computations; ECE reproduces torchmetrics' documented example and hand-worked bin edges;
quantiles are checked against ``np.quantile`` within the histogram's stated resolution.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, invoke_json
from hypothesis import given, settings
from hypothesis import strategies as st

import cecli
from cecli.accumulate import (
    HIST_RESOLUTION,
    CrossEntropyAccumulator,
    LossHistogram,
    ece_boundaries,
    ece_bucket,
)

QS = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def _data(n: int = 500, C: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, C)) * 2.0).astype(np.float32)
    y = rng.integers(0, C, n)
    return x, y


def _run(x: np.ndarray, y: np.ndarray, chunk: int, **kw: object) -> cecli.CEResult:
    acc = CrossEntropyAccumulator(**kw)  # type: ignore[arg-type]
    for a in range(0, len(x), chunk):
        acc.update(x[a : a + chunk], y[a : a + chunk])
    return acc.result()


# -- per class -----------------------------------------------------------------------------


def _group_by(x: np.ndarray, y: np.ndarray, **kw: object) -> list[dict[str, float]]:
    """Per-class figures from the per-sample losses (reduction='none'), grouped with NumPy."""
    weight = kw.get("weight")
    ii = int(kw.get("ignore_index", -100))  # type: ignore[call-overload]
    losses = cecli.cross_entropy(x, y, reduction="none", **kw)  # type: ignore[arg-type]
    w = np.ones(x.shape[1]) if weight is None else np.asarray(weight, dtype=np.float64)
    pred = x.argmax(axis=1)
    rows = []
    for c in range(x.shape[1]):
        m = (y == c) & (y != ii)
        loss_c = float(np.sum(losses[m]))
        wsum = float(np.sum(w[c] * m))
        rows.append(
            {
                "count": int(m.sum()),
                "weight_sum": wsum,
                "loss": loss_c / wsum if m.any() else math.nan,
                "share": loss_c / float(np.sum(losses)),
                "accuracy": float(np.mean(pred[m] == c)) if m.any() else math.nan,
            }
        )
    return rows


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"weight": [1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25]},
        {"ignore_index": 3},
        {"label_smoothing": 0.2, "weight": [1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.25]},
    ],
    ids=["plain", "weighted", "ignore", "smoothing"],
)
@pytest.mark.parametrize("chunk", [1, 37, 500])
def test_per_class_equals_numpy_group_by(kw: dict[str, object], chunk: int) -> None:
    x, y = _data()
    ref = _group_by(x, y, **kw)
    res = _run(x, y, chunk, per_class=True, **kw)
    assert res.per_class is not None and len(res.per_class) == x.shape[1]
    for got, want in zip(res.per_class, ref, strict=True):
        assert got["count"] == want["count"]
        for k in ("weight_sum", "loss", "share", "accuracy"):
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, err_msg=k)


def test_per_class_empty_class_is_nan_and_shares_sum_to_one() -> None:
    x, y = _data(C=5)
    y = np.where(y == 4, 0, y)  # class 4 never occurs
    res = _run(x, y, 64, per_class=True)
    assert res.per_class is not None
    last = res.per_class[4]
    assert last["count"] == 0 and math.isnan(last["loss"]) and math.isnan(last["accuracy"])
    assert last["share"] == 0.0
    assert math.isclose(sum(r["share"] for r in res.per_class), 1.0, rel_tol=1e-12)


def test_per_class_cli_json_and_table(tmp_path: Path) -> None:
    x, y = _data(n=300, C=4, seed=3)
    np.save(tmp_path / "p.npy", x)
    np.save(tmp_path / "t.npy", y)
    out = invoke_json(["ce", tmp_path / "p.npy", tmp_path / "t.npy", "--per-class",
                       "--classes", "a,b,c,d", "--chunk-rows", "13"])
    ref = _group_by(x, y)
    assert [r["class"] for r in out["per_class"]] == ["a", "b", "c", "d"]
    for got, want in zip(out["per_class"], ref, strict=True):
        assert got["count"] == want["count"]
        for k in ("weight_sum", "loss", "share", "accuracy"):
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, err_msg=k)
    res = invoke(["ce", tmp_path / "p.npy", tmp_path / "t.npy", "--per-class", "-f", "table",
                  "--classes", "a,b,c,d"])
    assert res.exit_code == 0, res.stderr
    table = res.stdout.split("per class (by share of the total loss)")[1]
    first_cells = [ln.strip("│┃|").split()[0] for ln in table.splitlines() if ln.startswith("│")]
    # rows are sorted by share, largest first
    assert first_cells == ["abcd"[c] for c in sorted(range(4), key=lambda c: -ref[c]["share"])]


# -- accuracy and top-k --------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_top_k_matches_numpy(k: int) -> None:
    x, y = _data(n=400, C=7, seed=5)  # continuous logits: no ties
    topk = np.argsort(-x, axis=1)[:, :k]
    want = float(np.mean((topk == y[:, None]).any(axis=1)))
    for chunk in (1, 50, 400):
        res = _run(x, y, chunk, top_k=k)
        assert res.top_k == k
        assert res.top_k_accuracy == want
    assert res.accuracy == float(np.mean(x.argmax(axis=1) == y))


def test_top_k_with_ignored_targets_and_wide_rows() -> None:
    # C >= 24 takes the kernel's wide path; ignored positions are not counted.
    x, y = _data(n=300, C=40, seed=6)
    y[::7] = -100
    m = y != -100
    topk = np.argsort(-x, axis=1)[:, :5]
    want = float(np.mean((topk[m] == y[m, None]).any(axis=1)))
    res = _run(x, y, 64, top_k=5)
    assert res.top_k_accuracy == want
    assert res.accuracy == float(np.mean(x[m].argmax(axis=1) == y[m]))


def test_top_k_ties_favour_the_target() -> None:
    # Rank = the number of classes scoring strictly above the target.
    x = np.array([[1.0, 1.0, 1.0, 0.0], [2.0, 1.5, 1.0, 1.0], [0.0, 0.0, 5.0, 0.0]])
    y = np.array([2, 3, 1])  # ranks 0 (tied for first), 2, 1
    assert _run(x, y, 3, top_k=1).top_k_accuracy == pytest.approx(1 / 3)
    assert _run(x, y, 3, top_k=2).top_k_accuracy == pytest.approx(2 / 3)
    assert _run(x, y, 1, top_k=3).top_k_accuracy == 1.0


def test_top_k_cli(tmp_path: Path) -> None:
    x, y = _data(n=200, C=6, seed=8)
    np.save(tmp_path / "p.npy", x)
    np.save(tmp_path / "t.npy", y)
    out = invoke_json(["ce", tmp_path / "p.npy", tmp_path / "t.npy", "--top-k", "3"])
    topk = np.argsort(-x, axis=1)[:, :3]
    assert out["top_k"] == 3
    assert out["top_k_accuracy"] == float(np.mean((topk == y[:, None]).any(axis=1)))
    assert out["accuracy"] == float(np.mean(x.argmax(axis=1) == y))


# -- ECE -----------------------------------------------------------------------------------


def test_ece_torchmetrics_documented_multiclass_example() -> None:
    """torchmetrics' ``MulticlassCalibrationError`` docstring (Lightning-AI/torchmetrics,
    ``src/torchmetrics/classification/calibration_error.py``)::

        >>> preds = torch.tensor([[0.25, 0.20, 0.55],
        ...                       [0.55, 0.05, 0.40],
        ...                       [0.10, 0.30, 0.60],
        ...                       [0.90, 0.05, 0.05]])
        >>> target = torch.tensor([0, 1, 2, 0])
        >>> metric = MulticlassCalibrationError(num_classes=3, n_bins=3, norm='l1')
        >>> metric(preds, target)
        tensor(0.2000)

    The predictions are probabilities (torchmetrics uses values in [0, 1] as they are), so
    cecli reads them with ``--input probs``.
    """
    preds = np.array(
        [[0.25, 0.20, 0.55], [0.55, 0.05, 0.40], [0.10, 0.30, 0.60], [0.90, 0.05, 0.05]],
        dtype=np.float32,
    )
    target = np.array([0, 1, 2, 0])
    res = _run(preds, target, 4, ece_bins=3, input_kind="probs")
    assert res.ece is not None and res.ece_bins == 3
    assert round(res.ece, 4) == 0.2000
    assert res.ece == pytest.approx(0.2, abs=1e-7)  # float32 confidences


def test_ece_torchmetrics_example_cli(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(
        "a,b,c,label\n0.25,0.20,0.55,0\n0.55,0.05,0.40,1\n0.10,0.30,0.60,2\n0.90,0.05,0.05,0\n"
    )
    out = invoke_json(["ce", tmp_path / "p.csv", "--input", "probs", "--ece-bins", "3"])
    assert out["ece_bins"] == 3
    assert round(out["ece"], 4) == 0.2
    out = invoke_json(["ce", tmp_path / "p.csv", "--input", "probs", "--ece"])
    assert out["ece_bins"] == 15


def test_ece_bin_edges_are_torchmetrics() -> None:
    """torchmetrics' ``_binning_bucketize``: ``bucketize(conf, linspace(0, 1, bins + 1),
    right=True) - 1`` over ``bins + 1`` buckets, so a bin is ``[lo, hi)`` and a confidence of
    exactly 1 has a bucket of its own. Worked by hand, 5 bins (edges 0, .2, .4, .6, .8, 1):

    * conf 0.8 wrong and 0.7 right: 0.8 opens bin [0.8, 1), 0.7 is in [0.6, 0.8):
      |0.8 - 0| + |0.7 - 1| = 1.1, not |1.5 - 1| = 0.5 as with (lo, hi] bins;
    * conf 1.0 wrong and 0.9 right: 1.0 is alone: |1 - 0| + |0.9 - 1| = 1.1, not
      |1.9 - 1| = 0.9 as with 1.0 folded into the last bin.
    """
    p = np.array([[0.8, 0.2, 0.0], [0.7, 0.3, 0.0]], dtype=np.float32)
    res = _run(p, np.array([1, 0]), 2, ece_bins=5, input_kind="probs")
    assert res.ece == pytest.approx(1.1 / 2, abs=1e-7)
    p = np.array([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0]], dtype=np.float32)
    res = _run(p, np.array([1, 0]), 1, ece_bins=5, input_kind="probs")
    assert res.ece == pytest.approx(1.1 / 2, abs=1e-7)
    edges = ece_boundaries(5)
    assert list(ece_bucket(np.array([0.0, 0.2, 0.39, 0.8, 0.99, 1.0], np.float32), edges)) == [
        0, 1, 1, 4, 4, 5,
    ]


def test_ece_chunk_invariant_and_binned_like_torchmetrics_on_random_logits() -> None:
    """A straight re-implementation of torchmetrics' l1 ECE in NumPy on float32 softmax
    confidences (which is what torchmetrics bins), against the streaming one."""
    x, y = _data(n=2000, C=5, seed=11)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    conf = (1.0 / e.sum(axis=1)).astype(np.float32)
    acc = (x.argmax(axis=1) == y).astype(np.float64)
    for bins in (3, 10, 15):
        edges = ece_boundaries(bins)
        b = np.searchsorted(edges, conf, side="right") - 1
        want = sum(
            abs(acc[b == i].sum() - conf[b == i].astype(np.float64).sum()) for i in range(bins + 1)
        ) / len(y)
        for chunk in (7, 2000):
            assert _run(x, y, chunk, ece_bins=bins).ece == pytest.approx(want, rel=1e-6)


@pytest.mark.torch
def test_ece_matches_torch_bucketize() -> None:
    torch = pytest.importorskip("torch")
    for bins in (1, 3, 7, 15, 20, 100, 1000):
        ref = torch.linspace(0, 1, bins + 1, dtype=torch.float).numpy()
        assert np.array_equal(ece_boundaries(bins), ref), bins
    x, y = _data(n=3000, C=4, seed=12)
    x[:50] *= 40.0  # saturated rows: confidence exactly 1.0 in float32
    probs = torch.softmax(torch.from_numpy(x), dim=1)
    conf, pred = probs.max(dim=1)
    accs = (pred == torch.from_numpy(y)).to(conf.dtype)
    edges = torch.linspace(0, 1, 16, dtype=torch.float)
    idx = torch.bucketize(conf, edges, right=True) - 1
    count = torch.zeros(16).scatter_add_(0, idx, torch.ones_like(conf))
    csum = torch.zeros(16).scatter_add_(0, idx, conf)
    asum = torch.zeros(16).scatter_add_(0, idx, accs)
    want = float(torch.sum(torch.abs(asum - csum)) / count.sum())
    assert (conf == 1.0).any()
    assert _run(x, y, 500, ece_bins=15).ece == pytest.approx(want, rel=1e-5)


# -- quantiles -----------------------------------------------------------------------------


def _bracket_ok(est: float, values: np.ndarray, q: float) -> bool:
    """The estimate is within one histogram bin of an order statistic next to the quantile."""
    lo = float(np.quantile(values, q, method="lower"))
    hi = float(np.quantile(values, q, method="higher"))
    return lo / (1 + HIST_RESOLUTION) - 1e-12 <= est <= hi * (1 + HIST_RESOLUTION) + 1e-12


def test_quantiles_within_resolution_of_np_quantile() -> None:
    x, y = _data(n=20000, C=10, seed=21)
    losses = cecli.cross_entropy(x, y, reduction="none")
    res = _run(x, y, 4096)
    for name, q in QS.items():
        want = float(np.quantile(losses, q))
        assert abs(res.quantiles[name] - want) <= HIST_RESOLUTION * want + 1e-12, name
    assert res.quantiles["max"] == float(losses.max())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(0.0, 1e-10),
            st.floats(1e-13, 50.0),
            st.floats(1e4, 1e11),
            st.just(0.0),
        ),
        min_size=1,
        max_size=200,
    ),
    st.integers(1, 7),
)
def test_histogram_quantile_brackets_order_statistics(values: list[float], parts: int) -> None:
    v = np.array(values)
    whole = LossHistogram()
    whole.add(v)
    merged = LossHistogram()
    for chunk in np.array_split(v, parts):
        h = LossHistogram()
        h.add(chunk)
        merged.merge(h)
    for q in (0.01, 0.5, 0.9, 0.99, 1.0):
        est = whole.quantile(q)
        assert est == merged.quantile(q)  # integer counts: chunking changes nothing
        assert _bracket_ok(est, v, q), (q, est)


def test_histogram_edge_values() -> None:
    h = LossHistogram()
    h.add(np.array([1e13, 1e15]))
    assert 1e12 <= h.quantile(0.5) <= 1e15 and h.quantile(1.0) == 1e15
    h = LossHistogram()
    assert math.isnan(h.quantile(0.5))
    h.add(np.array([np.nan, 1.0, np.inf, 2.0]))
    assert h.quantile(0.99) == math.inf  # the top of three non-NaN values is +inf
    assert h.quantile(0.1) == pytest.approx(1.0, rel=HIST_RESOLUTION)
    assert h.max == math.inf


def test_quantiles_in_json_and_table(tmp_path: Path) -> None:
    x, y = _data(n=500, C=3, seed=2)
    np.save(tmp_path / "p.npy", x)
    np.save(tmp_path / "t.npy", y)
    losses = cecli.cross_entropy(x, y, reduction="none")
    out = invoke_json(["ce", tmp_path / "p.npy", tmp_path / "t.npy"])
    assert set(out["quantiles"]) == {"p50", "p90", "p99", "max"}
    for name, q in QS.items():
        assert _bracket_ok(out["quantiles"][name], losses, q)
    res = invoke(["ce", tmp_path / "p.npy", tmp_path / "t.npy", "-f", "table"])
    assert "loss p50" in res.stdout and "loss p99" in res.stdout and "distribution" in res.stdout
    json.dumps(out)  # plain JSON


# -- chunk invariance ----------------------------------------------------------------------


def _assert_same(res: cecli.CEResult, ref: cecli.CEResult) -> None:
    assert res.loss == ref.loss  # tree sums: to the last bit
    assert res.weight_sum == ref.weight_sum
    assert (res.accuracy, res.top_k_accuracy) == (ref.accuracy, ref.top_k_accuracy)
    assert res.quantiles == ref.quantiles
    assert res.ece == pytest.approx(ref.ece, rel=1e-13)
    assert res.per_class is not None and ref.per_class is not None
    for a, b in zip(res.per_class, ref.per_class, strict=True):
        assert a["count"] == b["count"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-13)


KW = {"per_class": True, "ece_bins": 15, "top_k": 3}


@pytest.mark.parametrize("chunk", [2, 13, 100])
def test_measures_do_not_depend_on_chunking(chunk: int) -> None:
    x, y = _data(n=777, C=9, seed=30)  # no chunk size here leaves a 1-row chunk
    y[::11] = -100
    _assert_same(_run(x, y, chunk, **KW), _run(x, y, 777, **KW))


def test_measures_do_not_depend_on_chunking_one_row_chunks_logprobs() -> None:
    # Log-probabilities have no log-sum-exp: per-position losses are exact whatever the chunk,
    # so this isolates the accumulator's own sums.
    x, y = _data(n=300, C=9, seed=31)
    lp = cecli.log_softmax(x.astype(np.float64), axis=1)
    kw = {**KW, "input_kind": "logprobs"}
    _assert_same(_run(lp, y, 1, **kw), _run(lp, y, 300, **kw))


def test_measures_do_not_depend_on_chunking_one_row_chunks_logits() -> None:
    x, y = _data(n=300, C=9, seed=30)
    _assert_same(_run(x, y, 1, **KW), _run(x, y, 300, **KW))


def test_histogram_fast_path_bins_exactly_as_the_general_one() -> None:
    from cecli.accumulate._sums import LossHistogram

    class General(LossHistogram):
        __slots__ = ()

        def _add_plain(self, v: np.ndarray) -> bool:
            return False

    rng = np.random.default_rng(5)
    cases = [
        rng.exponential(size=5000),
        np.concatenate([rng.exponential(size=100), [0.0, 1e-13, 1e-12, 5e-12, 9.999e11]]),
        rng.exponential(size=100) * 1e-9,
        np.zeros(3),
    ]
    for v in cases:
        fast, general = LossHistogram(), General()
        fast.add(v)
        general.add(v)
        np.testing.assert_array_equal(fast.counts, general.counts)
        assert (fast.min, fast.max, fast.n) == (general.min, general.max, general.n)
