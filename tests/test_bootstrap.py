"""Streaming Poisson-bootstrap confidence intervals (``--ci``).

What is promised, and tested here:

* the weights are a pure function of (seed, key, replicate): a position's key is hashed into
  one of ``BUCKETS`` buckets, whose positions share their weights;
* the bucket sums are per-span ``bincount`` sums added over a :class:`TreeSum` of the spans'
  global indices, so the interval is identical to the last bit for any ``--chunk-rows`` and
  ``--workers`` (given identical per-position losses: see the note on one-row chunks in
  ``test_measures.py``), also where chunks cut spans;
* resampling buckets keeps the variance of resampling positions, on data in any order (sorted
  by loss included);
* ``--group-col`` gives every position of a group the same weights (whole groups resampled);
* a nominal 95% interval covers a known true mean 92-98% of the time (simulation below), and
  with correlated groups the group bootstrap covers while the row bootstrap does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, invoke_json
from hypothesis import given, settings
from hypothesis import strategies as st

import cecli
from cecli.accumulate import (
    BUCKETS,
    BootstrapSums,
    CrossEntropyAccumulator,
    TreeSum,
    bootstrap_weights,
    bucket_of,
    group_keys,
    percentile_interval,
    poisson_weights,
)
from cecli.accumulate._sums import SPAN
from cecli.errors import DataError

# -- the weights ---------------------------------------------------------------------------


def test_poisson_weights_are_a_pure_function_of_seed_and_key() -> None:
    keys = np.arange(1000, dtype=np.uint64)
    w = poisson_weights(keys, 257, seed=7)
    assert w.shape == (1000, 257) and w.dtype == np.uint8
    # any subset, in any order, gets the same rows
    idx = np.array([999, 3, 500, 3])
    assert np.array_equal(poisson_weights(keys[idx], 257, seed=7), w[idx])
    # fewer replicates are a prefix of more
    assert np.array_equal(poisson_weights(keys, 100, seed=7), w[:, :100])
    assert not np.array_equal(poisson_weights(keys, 257, seed=8), w)


def test_poisson_weights_are_poisson_one() -> None:
    w = poisson_weights(np.arange(20000, dtype=np.uint64), 100, seed=1).astype(np.float64)
    assert w.mean() == pytest.approx(1.0, abs=0.003)
    assert w.var() == pytest.approx(1.0, abs=0.006)
    freq = np.bincount(w.astype(np.int64).ravel(), minlength=5)[:5] / w.size
    pmf = np.exp(-1.0) / np.array([1, 1, 2, 6, 24])
    np.testing.assert_allclose(freq, pmf, atol=0.002)
    # replicates and keys are uncorrelated
    c = np.corrcoef(w[:, :20].T)
    assert np.abs(c[np.triu_indices(20, 1)]).max() < 0.03


def test_group_keys_are_stable_across_chunks() -> None:
    g = np.array(["doc-a", "doc-b", "doc-a", "doc-c"])
    k = group_keys(g)
    assert k[0] == k[2] and len({int(v) for v in k}) == 3
    assert np.array_equal(group_keys(g[2:]), k[2:])  # same label, same key, in any chunk
    assert np.array_equal(group_keys(np.array([3.0, 4.0])), group_keys(np.array([3, 4])))
    assert np.array_equal(group_keys(np.array([3.0, 4.5]))[:1], group_keys(np.array([3])))


# -- tree sums -----------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 300),
    st.lists(st.integers(1, 40), min_size=1, max_size=30),
    st.booleans(),
)
def test_tree_sum_is_identical_for_any_chunking(n: int, cuts: list[int], compensated: bool) -> None:
    rng = np.random.default_rng(n)
    v = rng.normal(size=(n, 3)) * 10.0 ** rng.integers(-8, 8, size=(n, 1))
    ref = TreeSum(3, compensated)
    ref.add(0, v)
    merged = TreeSum(3, compensated)
    a, i = 0, 0
    while a < n:
        b = min(n, a + cuts[i % len(cuts)])
        part = TreeSum(3, compensated)
        part.add(a, v[a:b])
        merged.merge(part)  # partial sums merged in order, as the engines do
        a, i = b, i + 1
    assert np.array_equal(merged.value(), ref.value())
    np.testing.assert_allclose(ref.value(), np.sum(v, axis=0), rtol=1e-9, atol=1e-300)


def test_tree_sum_compensated_is_accurate() -> None:
    # Runs of 64 positions are summed plainly, everything above them with TwoSum: the small
    # runs survive next to the huge ones that cancel (a plain float64 sum loses them).
    v = np.repeat([1e16, 1.0, -1e16, 1.0, 3.0, -1e16, 1e16, 0.5], 64)
    t = TreeSum(compensated=True)
    t.add(0, v)
    assert t.scalar() == 64 * 5.5
    plain = TreeSum()
    plain.add(0, v)
    assert plain.scalar() != 64 * 5.5


def test_bootstrap_sums_zero_weight_rows_ignore_infinite_values() -> None:
    b = BootstrapSums(1, 200, seed=3)
    v = np.array([1.0, np.inf, 2.0])
    b.add(0, np.arange(3, dtype=np.uint64), [v])
    w = bootstrap_weights(np.arange(3, dtype=np.uint64), 200, 3)
    assert len(set(bucket_of(np.arange(3, dtype=np.uint64), 3).tolist())) == 3
    out = b.value()[0]
    drawn = w[1] > 0
    assert np.all(np.isinf(out[drawn]))
    np.testing.assert_allclose(out[~drawn], (w[0] * 1.0 + w[2] * 2.0)[~drawn])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 700),
    st.integers(0, 300),
    st.sampled_from([1, 3, 257, 1000]),
    st.lists(st.integers(1, 400), min_size=1, max_size=6),
    st.sampled_from(["float", "mask", "int", "inf", "huge", "negative zero"]),
)
def test_bootstrap_sums_are_the_sums_of_weighted_values(
    n: int, start: int, B: int, cuts: list[int], kind: str
) -> None:
    """Whatever the chunking, the replicate sums are identical to the last bit, and they are
    ``sum_i w[bucket_i, b] * v_i`` (to rounding; an undrawn infinite value contributes 0)."""
    rng = np.random.default_rng(n * 1000 + start)
    loss = rng.gamma(1.0, 1.0, n) * 10.0 ** rng.integers(-4, 4, n)
    other = {
        "float": rng.random(n),
        "mask": (rng.random(n) > 0.2).astype(np.float64),
        "int": rng.integers(-3, 5, n).astype(np.float64),
        "inf": np.where(rng.random(n) > 0.98, np.inf, 1.0),
        "huge": np.full(n, 1e301),
        "negative zero": np.where(rng.random(n) > 0.01, -0.0, 1.0),
    }[kind]
    keys = np.arange(start, start + n, dtype=np.uint64)
    whole = BootstrapSums(2, B, seed=11)
    whole.add(start, keys, [loss, other])
    got = BootstrapSums(2, B, seed=11)
    a, i = 0, 0
    while a < n:
        b = min(n, a + cuts[i % len(cuts)])
        part = got.spawn()
        part.add(start + a, keys[a:b], [loss[a:b], other[a:b]])
        got.merge(part)
        a, i = b, i + 1
    assert np.array_equal(got.value(), whole.value())
    w = bootstrap_weights(keys, B, seed=11).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        want = np.stack([np.where(w > 0, v[:, None] * w, 0.0).sum(axis=0) for v in (loss, other)])
    np.testing.assert_allclose(whole.value(), want, rtol=1e-12, atol=0)


def _chunked(n: int, start: int, cuts: list[int], seed: int, tree: bool) -> np.ndarray:
    """Replicate sums of positions ``start .. start+n-1`` cut at ``cuts`` (cycled), the parts
    merged left to right or, with ``tree``, pairwise (((p0 p1) (p2 p3)) ...)."""
    rng = np.random.default_rng(seed)
    loss, denom = rng.gamma(1.0, 1.0, n), (rng.random(n) > 0.1).astype(np.float64)
    keys = np.arange(start, start + n, dtype=np.uint64)
    proto = BootstrapSums(2, 50, seed=3)
    parts, a, i = [], 0, 0
    while a < n:
        b = min(n, a + cuts[i % len(cuts)])
        part = proto.spawn()
        part.add(start + a, keys[a:b], [loss[a:b], denom[a:b]])
        parts.append(part)
        a, i = b, i + 1
    while len(parts) > 1 and tree:
        pairs = [parts[j : j + 2] for j in range(0, len(parts), 2)]
        for pair in pairs:
            if len(pair) == 2:
                pair[0].merge(pair[1])
        parts = [pair[0] for pair in pairs]
    for part in parts[1:]:
        parts[0].merge(part)
    return parts[0].value()


@pytest.mark.parametrize("start", [0, 5, SPAN - 3])
def test_bootstrap_sums_identical_where_chunks_cut_spans(start: int) -> None:
    """Spans cut by chunk boundaries wait for their other pieces, from later chunks or merged
    partials (in a left-to-right fold or a tree of merges, as the engines do)."""
    n = 2 * SPAN + 777
    want = _chunked(n, start, [n], 1, tree=False)
    for cuts, tree in (
        ([SPAN // 3 + 1], False),
        ([SPAN // 3 + 1], True),
        ([7, SPAN, 50_001, 13], True),
        ([SPAN - 1, 2], False),
        ([1000, SPAN * 2], True),
    ):
        assert np.array_equal(_chunked(n, start, cuts, 1, tree), want), (cuts, tree)


def test_buckets_resample_like_positions_on_sorted_data() -> None:
    """Buckets are random sets of positions: the spread of the replicate means is the
    positions' standard error, also when the data is sorted by loss (a bucket per position
    modulo BUCKETS would shrink it there), and close to a per-position bootstrap's."""
    n = 200_000
    rng = np.random.default_rng(5)
    loss = np.sort(rng.gamma(0.5, 2.0, n))
    se = loss.std() / np.sqrt(n)
    keys = np.arange(n, dtype=np.uint64)
    boot = BootstrapSums(2, 1000, seed=2)
    boot.add(0, keys, [loss, np.ones(n)])
    sums = boot.value()
    spread = (sums[0] / sums[1]).std()
    # B = 1000 estimates a standard deviation to 2.2%; the buckets add ~1.1%: 4 sigma each side
    assert spread == pytest.approx(se, rel=0.1)
    assert np.bincount(bucket_of(keys, 2), minlength=BUCKETS).min() > 0
    w = poisson_weights(keys, 1000, 2).astype(np.float64)
    per_position = (loss @ w) / w.sum(axis=0)
    assert spread == pytest.approx(per_position.std(), rel=0.1)


# -- the accumulator -----------------------------------------------------------------------


def _data(n: int = 600, C: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, C)) * 2).astype(np.float32), rng.integers(0, C, n)


def test_replicates_are_the_weighted_means_they_claim() -> None:
    x, y = _data(300)
    y[::9] = -100
    w_cls = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    acc = CrossEntropyAccumulator(weight=w_cls, bootstrap=300, seed=99)
    acc.update(x, y)
    res = acc.result()
    losses = cecli.cross_entropy(x, y, weight=w_cls, reduction="none")
    denom = np.where(y == -100, 0.0, w_cls[np.where(y == -100, 0, y)])
    w = bootstrap_weights(np.arange(300, dtype=np.uint64), 300, 99).astype(np.float64)
    want = (losses @ w) / (denom @ w)
    assert res.replicate_means is not None
    np.testing.assert_allclose(res.replicate_means, want, rtol=1e-12)
    assert res.ci is not None
    assert (res.ci["low"], res.ci["high"]) == percentile_interval(want, 0.95) or np.allclose(
        (res.ci["low"], res.ci["high"]), percentile_interval(want, 0.95), rtol=1e-12
    )
    assert res.ci["method"] == "poisson-bootstrap"
    assert (res.ci["replicates"], res.ci["seed"], res.ci["group"]) == (300, 99, None)


def test_groups_share_their_weights() -> None:
    x, y = _data(400)
    groups = np.repeat(np.arange(40) * 7 + 1000, 10)  # 40 documents of 10 rows
    acc = CrossEntropyAccumulator(bootstrap=200, seed=5)
    for a in range(0, 400, 33):  # chunks cut through groups
        acc.update(x[a : a + 33], y[a : a + 33], group=groups[a : a + 33])
    res = acc.result()
    losses = cecli.cross_entropy(x, y, reduction="none")
    w = bootstrap_weights(group_keys(groups), 200, 5).astype(np.float64)
    assert np.array_equal(w[0], w[9]) and not np.array_equal(w[0], w[10])
    assert res.replicate_means is not None
    np.testing.assert_allclose(res.replicate_means, (losses @ w) / w.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("chunk", [1, 13, 64])
def test_interval_is_identical_for_any_chunking_library(chunk: int) -> None:
    x, y = _data(500)
    lp = cecli.log_softmax(x, axis=1)  # exact per-row losses: isolates the accumulator
    ref = CrossEntropyAccumulator(input_kind="logprobs", bootstrap=500)
    ref.update(lp, y)
    acc = CrossEntropyAccumulator(input_kind="logprobs", bootstrap=500)
    for a in range(0, 500, chunk):
        part = acc.spawn()  # a worker's partial, merged in order
        part.update(lp[a : a + chunk], y[a : a + chunk], start=a)
        acc.merge(part)
    r, s = acc.result(), ref.result()
    assert r.replicate_means is not None and s.replicate_means is not None
    assert np.array_equal(r.replicate_means, s.replicate_means)
    assert r.ci == s.ci and r.loss == s.loss


def test_sum_reduction_interval_is_of_the_sum() -> None:
    x, y = _data(200)
    acc = CrossEntropyAccumulator(reduction="sum", bootstrap=400)
    acc.update(x, y)
    res = acc.result()
    assert res.ci is not None
    assert res.ci["low"] < res.loss < res.ci["high"]
    assert res.loss == pytest.approx(float(cecli.cross_entropy(x, y, reduction="sum")))


# -- the command line ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("boot")
    x, y = _data(500, C=5, seed=42)  # 500 = 38 * 13 + 6: no one-row chunk at 13
    np.save(d / "p.npy", x)
    np.save(d / "lp.npy", cecli.log_softmax(x.astype(np.float64), axis=1))
    np.save(d / "t.npy", y)
    groups = np.repeat([f"doc{i:03d}" for i in range(50)], 10)
    lines = ["doc,c0,c1,c2,c3,c4,label"] + [
        ",".join([groups[i], *(repr(float(v)) for v in x[i]), str(y[i])]) for i in range(500)
    ]
    (d / "g.csv").write_text("\n".join(lines) + "\n")
    return d


CI = ["--ci", "0.95", "--bootstrap", "300", "--seed", "7"]


def test_cli_interval_identical_across_chunks_and_workers(files: Path) -> None:
    """``nll`` on log-probabilities: per-position losses are exact, so everything that differs
    between runs would be the streaming's fault."""
    runs = []
    for extra in (["--chunk-rows", "1"], ["--chunk-rows", "13"], [], ["--workers", "1"],
                  ["--workers", "2", "--chunk-rows", "13"]):
        runs.append(invoke_json(["nll", files / "lp.npy", files / "t.npy", *CI, *extra]))
    first = runs[0]
    for out in runs[1:]:
        assert out["ci"] == first["ci"]
        assert out["loss"] == first["loss"]
        assert out["signature"] == first["signature"]


def test_cli_interval_identical_across_chunk_sizes_logits(files: Path) -> None:
    runs = [
        invoke_json(["ce", files / "p.npy", files / "t.npy", *CI, *extra])
        for extra in (["--chunk-rows", "13"], [], ["--workers", "2", "--chunk-rows", "64"])
    ]
    assert runs[0]["ci"] == runs[1]["ci"] == runs[2]["ci"]
    assert runs[0]["loss"] == runs[1]["loss"] == runs[2]["loss"]


def test_cli_ci_json_and_signature(files: Path) -> None:
    out = invoke_json(["ce", files / "p.npy", files / "t.npy", *CI])
    ci = out["ci"]
    assert ci["level"] == 0.95 and ci["low"] < out["loss"] < ci["high"]
    assert (ci["method"], ci["replicates"], ci["seed"], ci["group"]) == (
        "poisson-bootstrap", 300, 7, None,
    )
    assert "ci:0.95,poisson-bootstrap,B:300,seed:7,grp:none" in out["signature"]
    other = invoke_json(["ce", files / "p.npy", files / "t.npy", *CI[:-1], "8"])
    assert other["ci"] != ci and other["signature"] != out["signature"]


def test_cli_group_col_resamples_groups(files: Path) -> None:
    out = invoke_json(["ce", files / "g.csv", *CI, "--group-col", "doc", "--chunk-rows", "7"])
    assert out["ci"]["group"] == "doc"
    assert "grp:doc" in out["signature"]
    assert "doc" not in [str(c) for c in range(5)]  # the group column is not a logit column
    assert out["classes"] == 5
    rows = invoke_json(["ce", files / "g.csv", *CI])
    assert rows["loss"] == pytest.approx(out["loss"], rel=1e-12)
    assert rows["ci"] != out["ci"]
    # the same interval as the library, with the groups' keys
    x = np.load(files / "p.npy").astype(np.float64)
    y = np.load(files / "t.npy")
    groups = np.repeat([f"doc{i:03d}" for i in range(50)], 10)
    acc = CrossEntropyAccumulator(bootstrap=300, seed=7)
    acc.update(x, y, group=groups)
    lib = acc.result().ci
    assert lib is not None
    assert out["ci"]["low"] == pytest.approx(lib["low"], rel=1e-6)
    assert out["ci"]["high"] == pytest.approx(lib["high"], rel=1e-6)


def test_cli_ci_table_and_usage_errors(files: Path) -> None:
    res = invoke(["ce", files / "p.npy", files / "t.npy", *CI, "-f", "table"])
    assert res.exit_code == 0, res.stderr
    assert "95% interval" in res.stdout and "300 bootstrap replicates" in res.stdout
    assert "B=" not in res.stdout  # replicates, not a model B (issue 13)
    for bad in (["--ci", "1.5"], ["--ci", "0.9", "--bootstrap", "1"], ["--group-col", "doc"]):
        res = invoke(["ce", files / "p.npy", files / "t.npy", *bad])
        assert res.exit_code == 2, (bad, res.stderr)
        assert res.stderr.startswith("error: ")


# -- coverage ------------------------------------------------------------------------------

# Rows are drawn from four prototypes (logits, target 0) with known probabilities, so the true
# mean loss is exact: sum_k p_k * loss_k. The loss distribution is skewed (a 10% tail near 3.2
# against a bulk near 0.04), which is where percentile intervals struggle.
PROTO = np.array([[4.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.5, 0.4, 0.3], [0.0, 1.0, 3.0]])
PROB = np.array([0.45, 0.3, 0.15, 0.1])
TRUE_MEAN = float(PROB @ cecli.cross_entropy(PROTO, np.zeros(4, dtype=np.int64), reduction="none"))


def test_coverage_of_the_95_percent_interval() -> None:
    """500 datasets of 200 rows, B = 1000 (the default): the nominal 95% interval must cover the
    true mean 92-98% of the time (a binomial standard error of 1% at 500 datasets)."""
    rng = np.random.default_rng(2024)
    datasets, hits = 500, 0
    for d in range(datasets):
        k = rng.choice(4, size=200, p=PROB)
        acc = CrossEntropyAccumulator(bootstrap=1000, seed=d, ci_level=0.95)
        acc.update(PROTO[k], np.zeros(200, dtype=np.int64))
        ci = acc.result().ci
        assert ci is not None
        hits += ci["low"] <= TRUE_MEAN <= ci["high"]
    assert 0.92 <= hits / datasets <= 0.98, hits / datasets


def test_coverage_with_correlated_groups() -> None:
    """80 groups of 5 identical rows: resampling rows ignores the correlation and under-covers
    badly; resampling groups covers at the nominal rate."""
    rng = np.random.default_rng(7)
    datasets, by_rows, by_groups = 300, 0, 0
    groups = np.repeat(np.arange(80), 5)
    target = np.zeros(400, dtype=np.int64)
    for d in range(datasets):
        k = np.repeat(rng.choice(4, size=80, p=PROB), 5)
        rows = CrossEntropyAccumulator(bootstrap=500, seed=d)
        rows.update(PROTO[k], target)
        grouped = CrossEntropyAccumulator(bootstrap=500, seed=d)
        grouped.update(PROTO[k], target, group=groups)
        a, b = rows.result().ci, grouped.result().ci
        assert a is not None and b is not None
        by_rows += a["low"] <= TRUE_MEAN <= a["high"]
        by_groups += b["low"] <= TRUE_MEAN <= b["high"]
    assert by_rows / datasets < 0.8, by_rows / datasets
    assert 0.92 <= by_groups / datasets <= 0.98, by_groups / datasets


def test_weights_in_reused_scratch_memory_are_the_fresh_ones() -> None:
    from cecli.accumulate import poisson_weights

    keys = np.arange(5000, 7000, dtype=np.uint64)
    fresh = poisson_weights(keys, 37, 11)
    for _ in range(2):  # the second call reuses the first's memory
        assert np.array_equal(poisson_weights(keys, 37, 11, reuse=True), fresh)
    assert np.array_equal(poisson_weights(keys[:10], 37, 11, reuse=True), fresh[:10])


@pytest.mark.parametrize("cut", [None, 1000])
def test_bucket_sums_that_overflow_are_an_error_and_large_ones_are_not(cut: int | None) -> None:
    """Finite values whose bucket sum is not finite are the overflow error (whole spans and
    pieces alike); sums above 1e300 that stay finite are fine."""
    n = SPAN
    keys = np.arange(n, dtype=np.uint64)
    for value, fails in ((1e299, False), (1e308, True)):
        boot = BootstrapSums(1, 10, seed=0)
        v = np.full(n, value)
        parts = [(0, n)] if cut is None else [(0, cut), (cut, n)]
        if fails:
            with pytest.raises(DataError, match="overflows float64"):
                for a, b in parts:
                    boot.add(a, keys[a:b], [v[a:b]])
                boot.value()
        else:
            for a, b in parts:
                boot.add(a, keys[a:b], [v[a:b]])
            assert np.isfinite(boot.value()).all()


def test_a_sum_is_resampled_per_position() -> None:
    """Buckets share a weight, which cancels in a ratio but not in a sum: resampled by buckets,
    a sum of 100k positive losses would spread about twice the positions' sqrt(sum l**2).
    ``--reduction sum`` draws per position, and its interval is identical for any chunking."""
    n = 100_000
    rng = np.random.default_rng(9)
    loss = rng.gamma(2.0, 0.5, n)  # mean 1: (sum l)**2 / BUCKETS is ~3x sum l**2
    keys = np.arange(n, dtype=np.uint64)
    boot = BootstrapSums(2, 1000, seed=4, per_position=True)
    boot.add(0, keys, [loss, np.ones(n)])
    spread = boot.value()[0].std()
    assert spread == pytest.approx(np.sqrt((loss**2).sum()), rel=0.1)
    shared = BootstrapSums(2, 1000, seed=4)
    shared.add(0, keys, [loss, np.ones(n)])
    assert shared.value()[0].std() > 1.5 * spread  # what the per-position draw avoids
    parts = BootstrapSums(2, 1000, seed=4, per_position=True)
    for a in range(0, n, 7919):
        part = parts.spawn()
        part.add(a, keys[a : a + 7919], [loss[a : a + 7919], np.ones(n)[a : a + 7919]])
        parts.merge(part)
    assert np.array_equal(parts.value(), boot.value())


def test_cli_sum_interval_is_the_per_position_one(files: Path) -> None:
    out = invoke_json(["ce", files / "p.npy", files / "t.npy", *CI, "-r", "sum"])
    x, y = np.load(files / "p.npy"), np.load(files / "t.npy")
    losses = cecli.cross_entropy(x, y, reduction="none").astype(np.float64)
    w = poisson_weights(np.arange(len(y), dtype=np.uint64), 300, 7).astype(np.float64)
    lo, hi = percentile_interval(losses @ w, 0.95)
    assert out["ci"]["low"] == pytest.approx(lo, rel=1e-9)
    assert out["ci"]["high"] == pytest.approx(hi, rel=1e-9)


def test_a_loss_that_is_not_finite_has_no_interval(tmp_path: Path) -> None:
    """A target logit of -inf makes the loss inf; the replicates that did not draw that row
    gave a finite interval excluding the loss itself (exit 0)."""
    x, y = _data(300)
    x[5, y[5]] = -np.inf
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = invoke_json(["ce", tmp_path / "x.npy", tmp_path / "y.npy", *CI])
    assert out["loss"] is None and any("infinite" in w for w in out["warnings"])
    assert out["ci"]["low"] is None and out["ci"]["high"] is None


def test_large_integer_groups_beside_a_null_stay_apart(tmp_path: Path) -> None:
    """Integer group ids above 2**53 in a column with a null came out of Arrow as float64, which
    rounds them: groups merged in the chunks holding the null only, so the interval changed
    with --chunk-rows (and was far off: [1.91, 6.12] for a loss of 1.95)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    x, y = _data(2000, C=4, seed=3)
    ids = [2**60 + i // 10 for i in range(2000)]
    ids[1500] = None  # type: ignore[call-overload]
    table = {f"c{j}": x[:, j] for j in range(4)}
    pq.write_table(pa.table({**table, "label": y, "g": pa.array(ids, pa.int64())}), tmp_path / "g.parquet")
    base = ["ce", tmp_path / "g.parquet", "--logit-cols", "c0,c1,c2,c3", "--group-col", "g", *CI]
    runs = [invoke_json([*base, *extra]) for extra in ([], ["--chunk-rows", "100"], ["--chunk-rows", "7"])]
    assert runs[0]["ci"] == runs[1]["ci"] == runs[2]["ci"]
    assert runs[0]["ci"]["high"] - runs[0]["ci"]["low"] < 0.2
