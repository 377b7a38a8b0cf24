"""``cecli compare``: two prediction files, one set of targets, a paired bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, invoke_json

import cecli
from cecli.accumulate import CrossEntropyAccumulator, Measures, percentile_interval
from cecli.api import compare
from cecli.api._compare import paired_p_values
from cecli.core import LossSpec
from cecli.readers import ReadOptions

N, C = 400, 4


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, N)
    signal = np.eye(C)[y] * 2.0
    a = (signal + rng.normal(size=(N, C))).astype(np.float32)
    worse = (signal * 0.4 + rng.normal(size=(N, C))).astype(np.float32)
    close = (a + rng.normal(scale=0.05, size=(N, C))).astype(np.float32)
    np.save(d / "a.npy", a)
    np.save(d / "worse.npy", worse)
    np.save(d / "close.npy", close)
    np.save(d / "t.npy", y)
    np.save(d / "short.npy", a[:-3])
    ids = [f"s{i:04d}" for i in range(N)]

    def csv(name: str, x: np.ndarray, idx: list[str], labels: np.ndarray) -> None:
        lines = ["id,c0,c1,c2,c3,label"] + [
            ",".join([idx[i], *(repr(float(v)) for v in x[i]), str(labels[i])]) for i in range(N)
        ]
        (d / name).write_text("\n".join(lines) + "\n")

    csv("a.csv", a, ids, y)
    csv("worse.csv", worse, ids, y)
    swapped = list(ids)
    swapped[10], swapped[11] = swapped[11], swapped[10]
    csv("swapped.csv", worse, swapped, y)
    y2 = y.copy()
    y2[17] = (y2[17] + 1) % C
    csv("other_labels.csv", worse, ids, y2)
    return d


CI = ["--bootstrap", "400", "--seed", "3"]


def test_file_against_itself(files: Path) -> None:
    res = invoke(["compare", files / "a.npy", files / "a.npy", files / "t.npy", *CI,
                  "--fail-if-worse", "-f", "json"])
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["command"] == "compare"
    assert out["delta"] == 0.0
    assert (out["ci"]["low"], out["ci"]["high"]) == (0.0, 0.0)
    assert out["p_value"] == 1.0
    assert out["a"]["loss"] == out["b"]["loss"]
    assert out["checks"][0]["passed"] is True
    assert res.stderr.startswith("ok compare delta 0.000")


def test_clearly_worse_model_fails(files: Path) -> None:
    res = invoke(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI,
                  "--fail-if-worse", "-f", "json"])
    assert res.exit_code == 1, res.stderr
    out = json.loads(res.stdout)
    assert out["delta"] > 0 and out["ci"]["low"] > 0
    assert out["p_value"] < 0.01
    check = out["checks"][0]
    assert check["name"] == "fail_if_worse" and check["passed"] is False
    assert check["p_worse"] < 0.05
    assert res.stderr.startswith("FAIL compare delta ")
    assert len(res.stderr.strip().splitlines()) == 1


def test_better_model_passes_and_margin_tolerates(files: Path) -> None:
    res = invoke(["compare", files / "worse.npy", files / "a.npy", files / "t.npy", *CI,
                  "--fail-if-worse", "-f", "json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["delta"] < 0
    out = invoke_json(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI])
    delta = out["delta"]
    res = invoke(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI,
                  "--fail-if-worse", "--margin", str(delta * 2), "-f", "json"])
    assert res.exit_code == 0, res.stderr
    res = invoke(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI,
                  "--fail-if-worse", "--margin", str(delta / 10)])
    assert res.exit_code == 1


def test_json_fields(files: Path) -> None:
    out = invoke_json(["compare", files / "a.npy", files / "close.npy", files / "t.npy", *CI,
                       "--top-k", "2", "--ece"])
    for key in ("command", "a", "b", "delta", "ci", "p_value", "checks", "signature", "version",
                "inputs", "options", "warnings"):
        assert key in out, key
    assert out["checks"] == []
    assert out["a"]["path"].endswith("a.npy") and out["b"]["path"].endswith("close.npy")
    assert out["delta"] == out["b"]["loss"] - out["a"]["loss"]
    assert out["a"]["top_k"] == 2 and "ece" in out["b"]
    assert out["ci"]["method"] == "paired-poisson-bootstrap"
    assert (out["ci"]["replicates"], out["ci"]["seed"], out["ci"]["level"]) == (400, 3, 0.95)
    assert out["signature"].startswith("compare|in:logits|tgt:index|red:mean")
    assert "ci:0.95,poisson-bootstrap,B:400,seed:3,grp:none" in out["signature"]
    x = np.load(files / "a.npy")
    y = np.load(files / "t.npy")
    assert out["a"]["loss"] == pytest.approx(float(cecli.cross_entropy(x, y)), rel=1e-12)


def test_interval_is_paired(files: Path) -> None:
    """The replicate deltas are exactly B's replicates minus A's, with the same weights: the
    pairing is what makes the interval of a small difference narrow."""
    read = ReadOptions()
    measures = Measures(ci=0.9, bootstrap=500, seed=11)
    cmp = compare(
        str(files / "a.npy"), str(files / "close.npy"), str(files / "t.npy"), read, LossSpec(),
        measures,
    )
    y = np.load(files / "t.npy")
    reps = []
    for name in ("a.npy", "close.npy"):
        acc = CrossEntropyAccumulator(bootstrap=500, seed=11)
        acc.update(np.load(files / name), y)
        r = acc.result()
        assert r.replicate_means is not None
        reps.append(r.replicate_means)
    deltas = reps[1] - reps[0]
    np.testing.assert_allclose(cmp.replicate_deltas, deltas, rtol=1e-12, atol=1e-15)
    lo, hi = percentile_interval(deltas, 0.9)
    assert cmp.ci["low"] == pytest.approx(lo, abs=1e-14)
    assert cmp.ci["high"] == pytest.approx(hi, abs=1e-14)
    # paired is far narrower than the two separate intervals would suggest
    sep = np.std(reps[0]) + np.std(reps[1])
    assert np.std(cmp.replicate_deltas) < sep / 4


def test_p_value_definition() -> None:
    assert paired_p_values(np.zeros(99)) == 1.0
    assert paired_p_values(np.ones(99)) == pytest.approx(2 / 100)
    d = np.concatenate([-np.ones(10), np.ones(89)])  # 10 of 99 replicates at or below 0
    assert paired_p_values(d) == pytest.approx(2 * 11 / 100)
    assert np.isnan(paired_p_values(np.array([np.nan])))


@pytest.mark.parametrize("extra", [["--chunk-rows", "13"], ["--workers", "2", "--chunk-rows", "7"]])
def test_chunking_does_not_change_the_comparison(files: Path, extra: list[str]) -> None:
    ref = invoke_json(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI])
    out = invoke_json(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI,
                       *extra])
    assert (out["delta"], out["ci"], out["p_value"]) == (ref["delta"], ref["ci"], ref["p_value"])


def test_rows_aligned_by_id(files: Path) -> None:
    out = invoke_json(["compare", files / "a.csv", files / "worse.csv", "--id-col", "id", *CI,
                       "--chunk-rows", "9"])
    ref = invoke_json(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI])
    assert out["delta"] == pytest.approx(ref["delta"], rel=1e-6)
    res = invoke(["compare", files / "a.csv", files / "swapped.csv", "--id-col", "id", *CI])
    assert res.exit_code == 3
    assert res.stderr.startswith("error: ")
    # ids[10] is CSV data row 11 (1-based, as CSV errors count)
    assert "row 11" in res.stderr and "s0010" in res.stderr and "ids" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_mismatched_counts_and_targets_exit_3(files: Path) -> None:
    res = invoke(["compare", files / "a.npy", files / "short.npy", files / "t.npy", *CI])
    assert res.exit_code == 3
    assert "row-count mismatch" in res.stderr and "397" in res.stderr
    res = invoke(["compare", files / "a.csv", files / "other_labels.csv", *CI])
    assert res.exit_code == 3
    assert "targets differ" in res.stderr and "row 18" in res.stderr  # y2[17]: data row 18


def test_formats(files: Path) -> None:
    res = invoke(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI,
                  "-f", "value"])
    assert res.exit_code == 0
    ref = invoke_json(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI])
    assert float(res.stdout) == ref["delta"]
    res = invoke(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI,
                  "-f", "tsv"])
    head, vals = res.stdout.splitlines()
    assert head.split("\t")[:3] == ["loss_a", "loss_b", "delta"]
    assert float(vals.split("\t")[2]) == ref["delta"]
    res = invoke(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *CI,
                  "-f", "table", "--fail-if-worse"])
    assert res.exit_code == 1
    assert "B - A" in res.stdout and "p-value" in res.stdout and "FAIL" in res.stdout


@pytest.mark.parametrize(
    "bad",
    [["--reduction", "none"], ["--alpha", "0.1"], ["--fail-if-worse", "--alpha", "2"],
     ["--ci", "0"], ["--bootstrap", "1"]],
)
def test_usage_errors(files: Path, bad: list[str]) -> None:
    res = invoke(["compare", files / "a.npy", files / "worse.npy", files / "t.npy", *bad])
    assert res.exit_code == 2, res.stderr
    assert res.stderr.startswith("error: ")


def test_help_has_an_example() -> None:
    res = invoke(["compare", "--help"])
    assert res.exit_code == 0
    assert "cecli compare " in res.stdout and "--fail-if-worse" in res.stdout


# -- classes are lined up by name ---------------------------------------------------------------


def _wide(path: Path, x: np.ndarray, names: list[str], y: np.ndarray) -> None:
    lines = [",".join([*names, "label"])] + [
        ",".join([*(repr(float(v)) for v in x[i]), str(y[i])]) for i in range(len(x))
    ]
    path.write_text("\n".join(lines) + "\n")


def test_reordered_columns_are_lined_up_by_name(files: Path, tmp_path: Path) -> None:
    """The same predictions with the class columns in another order: delta exactly 0 (by
    position it would be a large difference, and each order would call the other worse)."""
    a = np.load(files / "a.npy")
    y = np.load(files / "t.npy")
    names = ["c0", "c1", "c2", "c3"]
    perm = [2, 0, 3, 1]
    _wide(tmp_path / "a.csv", a, names, y)
    _wide(tmp_path / "b.csv", a[:, perm], [names[i] for i in perm], y)
    for first, second in (("a.csv", "b.csv"), ("b.csv", "a.csv")):
        out = invoke_json(["compare", tmp_path / first, tmp_path / second, *CI])
        assert out["delta"] == 0.0
        assert out["a"]["loss"] == out["b"]["loss"]
    # a shared prefix spelled differently still lines up
    _wide(tmp_path / "p.csv", a[:, perm], [f"logit_{names[i]}" for i in perm], y)
    assert invoke_json(["compare", tmp_path / "a.csv", tmp_path / "p.csv", *CI])["delta"] == 0.0


def test_classes_that_cannot_be_lined_up_are_an_error(files: Path, tmp_path: Path) -> None:
    a = np.load(files / "a.npy")
    y = np.load(files / "t.npy")
    _wide(tmp_path / "a.csv", a, ["c0", "c1", "c2", "c3"], y)
    # (a class named unlike c0..c2, say zz, is refused on its own: tests/test_roles.py)
    _wide(tmp_path / "other.csv", a, ["c0", "c1", "c2", "c9"], y)
    res = invoke(["compare", tmp_path / "a.csv", tmp_path / "other.csv", *CI])
    assert res.exit_code == 3
    assert "name different classes" in res.stderr and "c9" in res.stderr
    # named against unnamed (an NPY): no guess by position; --classes settles it
    res = invoke(["compare", tmp_path / "a.csv", files / "a.npy", "--target-col", "label", *CI])
    assert res.exit_code == 3 and "--classes" in res.stderr, res.stderr
    assert res.stderr.count("error:") == 1
    out = invoke_json(["compare", tmp_path / "a.csv", files / "a.npy", "--target-col", "label",
                       "--classes", "c0,c1,c2,c3", *CI])
    assert out["delta"] == 0.0
