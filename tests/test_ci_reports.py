"""CI reports (issue 13): ``-f markdown`` for ``$GITHUB_STEP_SUMMARY``, ``--junit FILE`` (each
gate a test case), and the GitHub workflow in ``examples/ci-gate/`` whose ``run:`` steps are run
here as GitHub would run them (bash -e, the step summary and runner temp as files). The JUnit
files are checked for the shape JUnit consumers read: testsuites / testsuite / testcase /
failure, with consistent counts."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, cecli_command, run_cecli

GATE = EXAMPLES / "ci-gate"
WORKFLOW = GATE / "workflow.yml"
CSV = EXAMPLES / "iris_logits.csv"
NPY, LABELS = EXAMPLES / "iris_logits.npy", EXAMPLES / "iris_labels.npy"


def check_junit(path: Path) -> list[ET.Element]:
    """The JUnit shape: counts on every level agree with the elements; returns the testcases."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert suites and all(s.get("name") for s in suites)
    cases: list[ET.Element] = []
    for s in suites:
        mine = s.findall("testcase")
        assert int(s.get("tests", "-1")) == len(mine)
        assert int(s.get("failures", "-1")) == sum(c.find("failure") is not None for c in mine)
        assert int(s.get("errors", "-1")) == 0 and int(s.get("skipped", "-1")) == 0
        for c in mine:
            assert c.get("classname", "").startswith("cecli.") and c.get("name")
            for f in c.findall("failure"):
                assert f.get("message", "").startswith("FAIL ")
                text = f.text or ""
                assert "value: " in text and "threshold: " in text
        cases += mine
    for key in ("tests", "failures", "errors"):
        assert int(root.get(key, "-1")) == sum(int(s.get(key, "0")) for s in suites)
    return cases


def _failed(cases: list[ET.Element]) -> dict[str, bool]:
    return {c.get("name", ""): c.find("failure") is not None for c in cases}


# -- the workflow example -------------------------------------------------------------------------


def _steps() -> tuple[dict[str, str], list[dict[str, Any]]]:
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert flow["name"] and "jobs" in flow
    steps = flow["jobs"]["gate"]["steps"]
    return flow.get("env", {}), [s for s in steps if "cecli " in s.get("run", "")
                                 and not s["run"].startswith("pip ")]


def _run_workflow(tmp_path: Path, **env: str) -> tuple[list[int], Path]:
    """Every cecli ``run:`` step of the workflow, as GitHub runs it (``bash -e``), from the
    repository's root; returns the exit codes and the runner's temp folder."""
    flow_env, steps = _steps()
    assert len(steps) >= 2
    runner = tmp_path / "runner"
    runner.mkdir()
    summary = tmp_path / "summary.md"
    bindir = os.path.dirname(cecli_command()[0])
    base = {**os.environ, **flow_env, **env, "NO_COLOR": "1", "RUNNER_TEMP": str(runner),
            "GITHUB_STEP_SUMMARY": str(summary), "PATH": bindir + os.pathsep + os.environ["PATH"]}
    codes = []
    for step in steps:
        p = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=ROOT, env=base,
                           capture_output=True, timeout=300)
        assert p.returncode in (0, 1), (step["name"], p.stderr.decode())
        assert not p.stderr.decode().count("error:"), p.stderr.decode()
        codes.append(p.returncode)
    return codes, runner


def test_the_workflow_passes_on_the_accepted_model(tmp_path: Path) -> None:
    codes, runner = _run_workflow(tmp_path)
    assert codes == [0] * len(codes)
    gate = check_junit(runner / "cecli-gate.xml")
    assert _failed(gate) == {"fail_above": False, "baseline": False}
    compare = check_junit(runner / "cecli-compare.xml")
    assert _failed(compare) == {"fail_if_worse": False}
    summary = (tmp_path / "summary.md").read_text()
    assert "### cecli ce" in summary and "### cecli compare" in summary
    result = json.loads((runner / "cecli-result.json").read_text())
    assert result["per_class"] and result["ci"]["level"] == 0.95


def test_the_workflow_fails_a_regressed_model_with_the_values(tmp_path: Path) -> None:
    codes, runner = _run_workflow(tmp_path, PREDS="examples/ci-gate/candidate.csv")
    assert codes[:2] == [1, 1]
    gate = check_junit(runner / "cecli-gate.xml")
    assert _failed(gate) == {"fail_above": False, "baseline": True}
    failure = next(c for c in gate if c.get("name") == "baseline").find("failure")
    assert failure is not None
    fields = dict(line.split(": ", 1) for line in (failure.text or "").splitlines())
    result = json.loads((runner / "cecli-result.json").read_text())
    assert float(fields["value"]) == result["loss"]
    base = json.loads((GATE / "baseline.json").read_text())["loss"]
    assert float(fields["threshold"]) == pytest.approx(base + 0.01)
    assert _failed(check_junit(runner / "cecli-compare.xml")) == {"fail_if_worse": True}
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count("**FAIL**") == 2


# -- --junit ----------------------------------------------------------------------------------------


def test_junit_of_ce_bce_and_no_gates(tmp_path: Path) -> None:
    out = tmp_path / "j.xml"
    out.write_text("an earlier run's report")  # replaced, as pytest --junitxml does
    p = run_cecli(["ce", NPY, LABELS, "--fail-above", "0.1", "--junit", out, "-f", "json"])
    assert p.returncode == 1
    cases = check_junit(out)
    assert _failed(cases) == {"fail_above": True}
    props = {e.get("name"): e.get("value") for e in ET.parse(out).getroot().iter("property")}
    assert float(props["loss"] or "nan") == json.loads(p.stdout)["loss"]
    p = run_cecli(["ce", NPY, LABELS, "--junit", out, "-f", "value"])
    assert p.returncode == 0 and check_junit(out) == []
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(40, 2)))
    np.save(tmp_path / "t.npy", (rng.random((40, 2)) < 0.5).astype(np.float32))
    p = run_cecli(["bce", tmp_path / "x.npy", tmp_path / "t.npy", "--fail-above", "10",
                   "--junit", out])
    assert p.returncode == 0
    assert _failed(check_junit(out)) == {"fail_above": False}
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []


def test_a_bad_junit_path_fails_before_the_run(tmp_path: Path) -> None:
    for path, code in ((tmp_path / "no" / "j.xml", 3), (LABELS, 3), ("-", 2)):
        p = run_cecli(["ce", NPY, LABELS, "--fail-above", "1", "--junit", path, "-f", "value"])
        assert p.returncode == code and p.stdout == b""
        (line,) = p.stderr.decode().splitlines()
        assert line.startswith("error: ")


# -- -f markdown ------------------------------------------------------------------------------------


def _md_rows(text: str) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows.setdefault(cells[0], cells[1:])
    return rows


def test_markdown_of_ce_with_per_class_ci_and_gates() -> None:
    args = ["ce", CSV, "--per-class", "--ci", "0.9", "--bootstrap", "100", "--fail-above", "0.1"]
    whole = json.loads(run_cecli([*args, "-f", "json"]).stdout)
    p = run_cecli([*args, "-f", "markdown"])
    assert p.returncode == 1  # the gate still sets the exit code
    text = p.stdout.decode()
    assert text.startswith("### cecli ce · ")
    lines = text.splitlines()
    for i, line in enumerate(lines):  # every table has a header and an alignment row
        if line.startswith("| ") and (i == 0 or not lines[i - 1].startswith("|")):
            assert lines[i + 1].startswith("| ---")
            assert line.count(" | ") == lines[i + 1].count(" | ")
    rows = _md_rows(text)
    assert float(rows["loss (mean)"][0]) == pytest.approx(whole["loss"], rel=1e-7)
    assert float(rows["accuracy"][0]) == pytest.approx(whole["accuracy"], rel=1e-5)
    for c in whole["per_class"]:
        assert float(rows[c["class"]][2]) == pytest.approx(c["loss"], rel=1e-5)
    assert rows["fail_above"][0] == "**FAIL**"
    assert "90% interval" in rows


def test_markdown_of_compare_and_bce(tmp_path: Path) -> None:
    p = run_cecli(["compare", CSV, GATE / "candidate.csv", "--bootstrap", "100", "-f", "markdown"])
    assert p.returncode == 0
    rows = _md_rows(p.stdout.decode())
    whole = json.loads(run_cecli(["compare", CSV, GATE / "candidate.csv", "--bootstrap", "100",
                                  "-f", "json"]).stdout)
    a, b, delta = rows["loss (mean)"]
    assert float(a) == pytest.approx(whole["a"]["loss"], rel=1e-7)
    assert float(b) == pytest.approx(whole["b"]["loss"], rel=1e-7)
    assert float(delta) == pytest.approx(whole["delta"], rel=1e-5) and delta.startswith("+")
    import numpy as np

    np.save(tmp_path / "x.npy", np.array([[2.0, -1.0], [0.5, 3.0], [-2.0, 0.1]]))
    np.save(tmp_path / "t.npy", np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    p = run_cecli(["bce", tmp_path / "x.npy", tmp_path / "t.npy", "-f", "markdown"])
    assert p.returncode == 0 and p.stdout.decode().startswith("### cecli bce · ")
