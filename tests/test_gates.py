"""CI gates, end to end with the installed ``cecli``: ``--fail-above``, ``--baseline
--max-increase [--relative]``, ``compare --fail-if-worse``; exit codes, verdict lines, ``checks``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, ROOT, cecli_command, invoke, run_cecli

from cecli.report import check_verdict, format_pair

PREDS = EXAMPLES / "iris_logits.npy"
LABELS = EXAMPLES / "iris_labels.npy"
GATE = ROOT / "examples" / "ci-gate"


def _loss() -> float:
    out = run_cecli(["ce", PREDS, LABELS, "-f", "value"])
    assert out.returncode == 0, out.stderr
    return float(out.stdout)


@pytest.fixture(scope="module")
def loss() -> float:
    return _loss()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("gates")
    out = run_cecli(["ce", PREDS, LABELS, "-f", "json"])
    assert out.returncode == 0, out.stderr
    (d / "baseline.json").write_bytes(out.stdout)
    worse = np.load(PREDS) * 0.5  # under-confident: a higher loss, same argmax
    np.save(d / "worse.npy", worse.astype(np.float32))
    return d


def _stderr(p: subprocess.CompletedProcess[bytes]) -> list[str]:
    return p.stderr.decode().strip().splitlines()


def test_fail_above(loss: float) -> None:
    p = run_cecli(["ce", PREDS, LABELS, "--fail-above", "0.1", "-f", "value"])
    assert p.returncode == 1
    assert float(p.stdout) == loss  # the result is still printed
    assert _stderr(p) == [f"FAIL ce loss {loss:.3f} > 0.100"]
    p = run_cecli(["ce", PREDS, LABELS, "--fail-above", "0.5", "-f", "json"])
    assert p.returncode == 0
    out = json.loads(p.stdout)
    assert out["checks"] == [
        {"name": "fail_above", "threshold": 0.5, "value": loss, "passed": True}
    ]
    assert _stderr(p) == [f"ok ce loss {loss:.3f} <= 0.500"]
    p = run_cecli(["ce", PREDS, LABELS, "--fail-above", "0.5", "-q"])
    assert p.returncode == 0 and p.stderr == b""


def test_fail_above_nan_fails(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.full(300, -100))
    p = run_cecli(["ce", PREDS, tmp_path / "t.npy", "--fail-above", "10", "-f", "json"])
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["loss"] is None and out["checks"][0]["passed"] is False
    assert "FAIL ce loss nan" in p.stderr.decode()


def test_baseline_gate(baseline: Path, loss: float) -> None:
    base = baseline / "baseline.json"
    p = run_cecli(["ce", PREDS, LABELS, "--baseline", base, "--max-increase", "0", "-f", "json"])
    assert p.returncode == 0, p.stderr
    check = json.loads(p.stdout)["checks"][0]
    assert check["name"] == "baseline" and check["passed"] is True
    assert check["baseline"] == loss and check["threshold"] == loss
    assert _stderr(p)[0].startswith("ok ce loss")

    worse = baseline / "worse.npy"
    p = run_cecli(["ce", worse, LABELS, "--baseline", base, "--max-increase", "0.01", "-f", "json"])
    assert p.returncode == 1
    out = json.loads(p.stdout)
    check = out["checks"][0]
    assert check["passed"] is False and check["value"] == out["loss"]
    assert check["threshold"] == pytest.approx(loss + 0.01)
    (line,) = _stderr(p)
    assert line.startswith("FAIL ce loss ") and f"(baseline {loss:.3f} + 0.010)" in line

    # the same regression is within a generous relative allowance
    increase = out["loss"] / loss - 1
    p = run_cecli(["ce", worse, LABELS, "--baseline", base, "--max-increase",
                   str(increase * 1.1), "--relative"])
    assert p.returncode == 0, p.stderr
    assert "%" in _stderr(p)[0]
    p = run_cecli(["ce", worse, LABELS, "--baseline", base, "--max-increase",
                   str(increase * 0.9), "--relative"])
    assert p.returncode == 1


def test_baseline_with_other_settings_is_refused(baseline: Path) -> None:
    base = baseline / "baseline.json"
    p = run_cecli(["ce", PREDS, LABELS, "--label-smoothing", "0.1", "--baseline", base,
                   "--max-increase", "1"])
    assert p.returncode == 3
    (line,) = _stderr(p)
    assert line.startswith("error: ") and "other settings" in line
    assert "ls:0 in the baseline but ls:0.1 here" in line
    # the version alone may differ
    data = json.loads(base.read_text())
    data["signature"] = data["signature"].replace("|v:", "|v:0.0.1-was-")
    old = baseline / "old_version.json"
    old.write_text(json.dumps(data))
    p = run_cecli(["ce", PREDS, LABELS, "--baseline", old, "--max-increase", "0"])
    assert p.returncode == 0, p.stderr


def test_a_baseline_saved_with_ci_accepts_a_run_without_it_and_back(
    baseline: Path, loss: float
) -> None:
    """The interval's settings are recorded in the signature, not compared (issue 13)."""
    p = run_cecli(["ce", PREDS, LABELS, "--ci", "0.9", "--bootstrap", "50", "--seed", "3",
                   "-f", "json"])
    assert p.returncode == 0, p.stderr
    with_ci = baseline / "with_ci.json"
    with_ci.write_bytes(p.stdout)
    assert "|ci:0.9,poisson-bootstrap,B:50,seed:3,grp:none|" in json.loads(p.stdout)["signature"]
    p = run_cecli(["ce", PREDS, LABELS, "--baseline", with_ci, "--max-increase", "0", "-f", "json"])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["checks"][0]["baseline"] == loss
    # a baseline without an interval accepts a run with another one
    p = run_cecli(["ce", PREDS, LABELS, "--baseline", baseline / "baseline.json",
                   "--max-increase", "0", "--ci", "0.95", "--bootstrap", "20", "-f", "value"])
    assert p.returncode == 0, p.stderr
    # a setting that changes the loss is still refused, interval or not
    p = run_cecli(["ce", PREDS, LABELS, "--reduction", "sum", "--ci", "0.9", "--bootstrap", "50",
                   "--seed", "3", "--baseline", with_ci, "--max-increase", "0"])
    assert p.returncode == 3
    (line,) = _stderr(p)
    assert "red:mean in the baseline but red:sum here" in line and "ci:" not in line.split("(")[1]


@pytest.mark.parametrize(
    "content, what",
    [
        (None, "no such baseline file"),
        ("{not json", "cannot read the baseline as JSON"),
        ('{"loss": null, "signature": "x"}', "not a finite number"),
        ('{"signature": "x"}', "no 'loss'"),
        ('{"loss": 0.1}', "no 'signature'"),
    ],
)
def test_bad_baseline_files_exit_3(tmp_path: Path, content: str | None, what: str) -> None:
    path = tmp_path / "base.json"
    if content is not None:
        path.write_text(content)
    res = invoke(["ce", PREDS, LABELS, "--baseline", path])
    assert res.exit_code == 3, res.stderr
    assert res.stderr.startswith("error: ") and what in res.stderr


def test_gate_usage_errors() -> None:
    for args in (["--max-increase", "0.1"], ["--relative"], ["--fail-above", "nan"]):
        res = invoke(["ce", PREDS, LABELS, *args])
        assert res.exit_code == 2, (args, res.stderr)
        assert res.stderr.startswith("error: ")


def test_both_gates_and_the_table(baseline: Path, loss: float) -> None:
    res = invoke(["ce", PREDS, LABELS, "--fail-above", "0.1", "--baseline",
                  baseline / "baseline.json", "-f", "table"])
    assert res.exit_code == 1
    assert "fail_above" in res.stdout and "baseline" in res.stdout and "FAIL" in res.stdout
    lines = res.stderr.strip().splitlines()
    assert lines[0] == f"FAIL ce loss {loss:.3f} > 0.100"
    assert lines[1].startswith("ok ce loss")


def test_compare_fail_if_worse_end_to_end(baseline: Path) -> None:
    p = run_cecli(["compare", PREDS, baseline / "worse.npy", LABELS, "--fail-if-worse",
                   "--bootstrap", "300"])
    assert p.returncode == 1
    assert _stderr(p)[-1].startswith("FAIL compare delta")
    assert json.loads(p.stdout)["checks"][0]["passed"] is False
    p = run_cecli(["compare", PREDS, PREDS, LABELS, "--fail-if-worse", "--bootstrap", "300"])
    assert p.returncode == 0
    assert _stderr(p)[-1].startswith("ok compare delta 0.000")


def test_verdict_number_format() -> None:
    assert format_pair(0.532, 0.5) == ("0.532", "0.500")
    assert format_pair(0.50001, 0.5) == ("0.50001", "0.50000")
    assert format_pair(2e-5, 1e-5) == ("2e-05", "1e-05")
    assert format_pair(math.nan, 0.5) == ("nan", "0.500")
    line = check_verdict("ce", {"name": "fail_above", "threshold": 0.5, "value": 0.532,
                                "passed": False})
    assert line == "FAIL ce loss 0.532 > 0.500"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_ci_gate_example_runs(tmp_path: Path) -> None:
    """``examples/ci-gate/gate.sh``: passes on the baseline model, fails (exit 1) on the
    regressed candidate, and its committed baseline matches what cecli computes today."""
    env = {**os.environ, "NO_COLOR": "1", "CECLI": " ".join(cecli_command()),
           "OUT": str(tmp_path / "result.json")}
    ok = subprocess.run(["bash", GATE / "gate.sh"], capture_output=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert b"ok ce loss" in ok.stderr
    bad = subprocess.run(["bash", GATE / "gate.sh", GATE / "candidate.csv"], capture_output=True,
                         env=env, timeout=120)
    assert bad.returncode == 1, bad.stderr
    assert b"FAIL ce loss" in bad.stderr
    committed = json.loads((GATE / "baseline.json").read_text())
    now = run_cecli(["ce", EXAMPLES / "iris_logits.csv", "-f", "json"])
    assert json.loads(now.stdout)["loss"] == pytest.approx(committed["loss"], rel=1e-6)
