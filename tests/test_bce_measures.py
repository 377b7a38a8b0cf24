"""``bce`` on a par with ``ce`` (issue 13): ``--per-class`` (per label), ``--ece`` (per label and
pooled), ``--ci`` (the Poisson bootstrap over rows) and accuracy at ``--threshold``.

References are sklearn's and torchmetrics' formulas written out here in plain NumPy (float64,
the naive forms, not cecli's stable ones): ``log_loss`` per label, ``accuracy_score`` of the
thresholded predictions, torchmetrics' ``binary_calibration_error`` (l1 norm, equal-width bins,
the predicted probability against the target). The data keeps every probability away from a
bin edge, so the edges' last bits cannot matter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import invoke_json, run_cecli

N, C = 400, 3
BINS = 15


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bce-measures")
    rng = np.random.default_rng(13)
    x = rng.normal(size=(N, C)) * 2 + np.array([0.5, -1.0, 0.0])
    edges = np.linspace(0.0, 1.0, BINS + 1)
    for _ in range(50):  # nudge any probability within 1e-6 of a bin edge
        near = np.abs(_sigmoid(x)[..., None] - edges).min(axis=-1) < 1e-6
        if not near.any():
            break
        x[near] += 1e-3
    t = (rng.random((N, C)) < _sigmoid(x * 0.7)).astype(np.float64)  # miscalibrated on purpose
    np.save(d / "x.npy", x)
    np.save(d / "t.npy", t)
    np.save(d / "p.npy", _sigmoid(x))
    np.save(d / "x1.npy", x[:, 0])
    np.save(d / "t1.npy", t[:, 0])
    return d


def _ref_log_loss(p: np.ndarray, t: np.ndarray) -> float:
    """sklearn's log_loss of one label: the mean of -(t log p + (1 - t) log(1 - p))."""
    return float(np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p))))


def _ref_ece(p: np.ndarray, t: np.ndarray, bins: int = BINS) -> float:
    """torchmetrics' binary_calibration_error (norm l1): sum over bins of
    |mean(p in bin) - mean(t in bin)| * (count in bin) / n."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins)
    total = 0.0
    for k in np.unique(b):
        m = b == k
        total += abs(p[m].mean() - t[m].mean()) * m.sum() / p.size
    return float(total)


def _bce(*args: Any) -> dict[str, Any]:
    return invoke_json(["bce", *map(str, args)])


def test_per_label_loss_accuracy_and_ece_match_sklearn_formulas(data: Path) -> None:
    x, t = np.load(data / "x.npy"), np.load(data / "t.npy")
    p = _sigmoid(x)
    out = _bce(data / "x.npy", data / "t.npy", "--per-class", "--ece")
    assert out["threshold"] == 0.0
    assert out["accuracy"] == pytest.approx(np.mean((p > 0.5) == (t > 0.5)), abs=0)
    rows = out["per_label"]
    assert [r["label"] for r in rows] == ["0", "1", "2"] and [r["index"] for r in rows] == [0, 1, 2]
    total = sum(_ref_log_loss(p[:, c], t[:, c]) for c in range(C))
    for c, row in enumerate(rows):
        assert row["count"] == N
        assert row["positives"] == t[:, c].sum()
        assert row["loss"] == pytest.approx(_ref_log_loss(p[:, c], t[:, c]), rel=1e-10)
        assert row["share"] == pytest.approx(_ref_log_loss(p[:, c], t[:, c]) / total, rel=1e-10)
        assert row["accuracy"] == np.mean((p[:, c] > 0.5) == (t[:, c] > 0.5))
        assert row["ece"] == pytest.approx(_ref_ece(p[:, c], t[:, c]), rel=1e-9)
    assert out["ece_per_label"] == [r["ece"] for r in rows]
    assert out["ece"] == pytest.approx(_ref_ece(p.ravel(), t.ravel()), rel=1e-9)  # pooled
    assert out["ece_bins"] == BINS
    assert out["loss"] == pytest.approx(total / C, rel=1e-10)


def test_probabilities_give_the_same_measures(data: Path) -> None:
    logits = _bce(data / "x.npy", data / "t.npy", "--per-class", "--ece", "--float64")
    probs = _bce(data / "p.npy", data / "t.npy", "--input", "probs", "--per-class", "--ece")
    assert probs["threshold"] == 0.5
    assert probs["accuracy"] == logits["accuracy"]
    assert probs["ece"] == pytest.approx(logits["ece"], rel=1e-9)
    for a, b in zip(probs["per_label"], logits["per_label"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-9)
        assert a["accuracy"] == b["accuracy"]


@pytest.mark.parametrize("threshold", ["0.3", "-1.5", "2"])
def test_accuracy_at_a_threshold(data: Path, threshold: str) -> None:
    x, t = np.load(data / "x.npy"), np.load(data / "t.npy")
    thr = float(threshold)
    out = _bce(data / "x.npy", data / "t.npy", "--threshold", threshold, "--per-class")
    assert out["threshold"] == thr
    assert out["accuracy"] == np.mean((x > thr) == (t > 0.5))
    assert [r["accuracy"] for r in out["per_label"]] == [
        np.mean((x[:, c] > thr) == (t[:, c] > 0.5)) for c in range(C)
    ]
    base = _bce(data / "x.npy", data / "t.npy")
    assert out["loss"] == base["loss"]  # the threshold changes no loss
    # on probabilities the threshold is a probability
    p = np.load(data / "p.npy")
    probs = _bce(data / "p.npy", data / "t.npy", "--input", "probs", "--threshold", "0.7")
    assert probs["accuracy"] == np.mean((p > 0.7) == (t > 0.5))


def test_one_label_predictions(data: Path) -> None:
    x, t = np.load(data / "x1.npy"), np.load(data / "t1.npy")
    out = _bce(data / "x1.npy", data / "t1.npy", "--per-class", "--ece")
    (row,) = out["per_label"]
    assert row["loss"] == pytest.approx(_ref_log_loss(_sigmoid(x), t), rel=1e-10)
    assert out["ece"] == row["ece"] == pytest.approx(_ref_ece(_sigmoid(x), t), rel=1e-9)


def test_the_interval_is_chunk_and_worker_invariant(data: Path) -> None:
    args = [data / "x.npy", data / "t.npy", "--ci", "0.9", "--bootstrap", "300", "--seed", "5"]
    first = _bce(*args)
    ci = first["ci"]
    assert ci["method"] == "poisson-bootstrap" and ci["replicates"] == 300 and ci["seed"] == 5
    assert ci["low"] < first["loss"] < ci["high"]
    for extra in (["--chunk-rows", "7"], ["--chunk-rows", "64", "--workers", "2"],
                  ["--chunk-rows", "1"]):
        assert _bce(*args, *extra)["ci"] == ci  # bit for bit
    assert _bce(*args[:2], "--ci", "0.9", "--bootstrap", "300", "--seed", "6")["ci"] != ci
    summed = _bce(*args, "--reduction", "sum")
    assert summed["ci"]["low"] < summed["loss"] < summed["ci"]["high"]


def test_the_interval_resamples_rows(data: Path, tmp_path: Path) -> None:
    """A row's labels are drawn together: three copies of one label give that label's own
    interval (resampling 3N independent elements would give one sqrt(3) times narrower)."""
    x, t = np.load(data / "x1.npy"), np.load(data / "t1.npy")
    np.save(tmp_path / "x3.npy", np.repeat(x[:, None], 3, axis=1))
    np.save(tmp_path / "t3.npy", np.repeat(t[:, None], 3, axis=1))
    ci = ["--ci", "0.95", "--bootstrap", "400"]
    one = _bce(data / "x1.npy", data / "t1.npy", *ci)
    three = _bce(tmp_path / "x3.npy", tmp_path / "t3.npy", *ci)
    assert three["loss"] == pytest.approx(one["loss"], rel=1e-14)
    assert three["ci"]["low"] == pytest.approx(one["ci"]["low"], rel=1e-12)
    assert three["ci"]["high"] == pytest.approx(one["ci"]["high"], rel=1e-12)
    # and its width is that of the rows' standard error (about 3.92 of them at 95%)
    p = _sigmoid(x)
    losses = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    se = losses.std(ddof=1) / np.sqrt(N)
    assert 3.0 * se < one["ci"]["high"] - one["ci"]["low"] < 5.0 * se


def test_ci_is_recorded_in_the_signature_not_compared(data: Path, tmp_path: Path) -> None:
    p = run_cecli(["bce", data / "x.npy", data / "t.npy", "--ci", "0.9", "--bootstrap", "50",
                   "-f", "json"])
    assert p.returncode == 0, p.stderr
    base = tmp_path / "base.json"
    base.write_bytes(p.stdout)
    assert "|ci:0.9,poisson-bootstrap,B:50," in json.loads(p.stdout)["signature"]
    p = run_cecli(["bce", data / "x.npy", data / "t.npy", "--baseline", base,
                   "--max-increase", "0", "-f", "value"])
    assert p.returncode == 0, p.stderr


def test_bce_refuses_top_k_and_bad_thresholds(data: Path) -> None:
    for extra in (["--threshold", "nan"], ["--threshold", "inf"]):
        p = run_cecli(["bce", data / "x.npy", data / "t.npy", *extra])
        assert p.returncode == 2 and p.stderr.decode().startswith("error: ")
        assert "--threshold" in p.stderr.decode()
    from cecli.accumulate import BinaryAccumulator, Measures
    from cecli.errors import UsageError

    with pytest.raises(UsageError, match="top-k"):
        BinaryAccumulator(measures=Measures(top_k=2))
    # no probability is above 1 or below 0: such a threshold makes accuracy meaningless
    with pytest.raises(UsageError, match="between 0 and 1"):
        BinaryAccumulator(input_kind="probs", measures=Measures(threshold=2.0))
    assert BinaryAccumulator(measures=Measures(threshold=2.0)).threshold == 2.0  # logits: any


def test_library_accumulator_merges_to_the_one_pass_result(data: Path) -> None:
    from cecli.accumulate import BinaryAccumulator, Measures

    x, t = np.load(data / "x.npy"), np.load(data / "t.npy")
    m = Measures(per_class=True, ece_bins=10, ci=0.95, bootstrap=64, threshold=0.25)
    whole = BinaryAccumulator(measures=m)
    whole.update(x, t)
    parts = [BinaryAccumulator(measures=m) for _ in range(3)]
    for acc, (lo, hi) in zip(parts, [(0, 100), (100, 101), (101, N)], strict=True):
        acc.update(x[lo:hi], t[lo:hi], start=lo)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    a, b = whole.result(), merged.result()
    assert a.loss == b.loss and a.accuracy == b.accuracy and a.ci == b.ci
    assert a.ece == pytest.approx(b.ece, rel=1e-14)
    assert a.per_label is not None and b.per_label is not None
    for ra, rb in zip(a.per_label, b.per_label, strict=True):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-14)
        assert ra["accuracy"] == rb["accuracy"]
