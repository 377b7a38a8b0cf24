"""Docs as tests: the README's quick start works as written, and CI runs what it says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT


def quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- quickstart -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README has no quick-start block"
    return [ln.strip() for ln in block.group(1).strip().splitlines() if ln.strip()]


def test_quickstart_is_two_commands_and_ci_runs_the_second() -> None:
    cmds = quickstart()
    assert len(cmds) == 2
    assert cmds[0].startswith("pip install ") and " cecli ce examples/" in cmds[0]
    assert "pytest" in cmds[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert cmds[1] in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_quickstart_first_command_in_a_fresh_venv(tmp_path: Path) -> None:
    """The first quick-start command, verbatim, in a new virtual environment (no site
    packages), from a copy of the repository: it installs and prints the example's loss."""
    cmd = quickstart()[0]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # a copy, so the build leaves nothing behind in the working tree
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", ".hypothesis",
                                      ".pytest_cache", ".mypy_cache", ".ruff_cache", "build"),
    )
    res = subprocess.run(
        ["bash", "-c", cmd], cwd=src, env=env, capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0, res.stderr[-3000:]
    # pip's own messages come first on stdout; cecli's JSON object (stdout is a pipe) is last
    out = json.loads(res.stdout[res.stdout.index('{"command"') :])
    expected = json.loads((EXAMPLES / "expected.json").read_text())
    assert out["loss"] == pytest.approx(expected["loss"], rel=1e-6)


def test_every_command_help_has_an_example() -> None:
    from conftest import invoke

    for cmd in ("ce", "nll", "bce", "softmax", "inspect", "compare"):
        res = invoke([cmd, "--help"])
        assert res.exit_code == 0, res.output
        assert re.search(r"Examples?:", res.stdout), cmd
        assert "cecli " + cmd in res.stdout, f"{cmd}'s help example does not run {cmd}"


def test_docstring_examples_run() -> None:
    """The numpydoc examples of the library are doctests: they must print what they say."""
    import doctest
    import importlib

    failures = 0
    tried = 0
    for name in (
        "cecli.core._oneshot",
        "cecli.core._bce",
        "cecli.core.spec",
        "cecli.core._grad",
        "cecli.accumulate._ce",
        "cecli.accumulate._binary",
        "cecli.accumulate.spec",
    ):
        res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        failures += res.failed
        tried += res.attempted
    assert tried >= 8, "the examples went missing"
    assert failures == 0


def test_readme_console_blocks_print_what_they_show() -> None:
    """Each ```console block of the README (``$ cecli ...`` then its output) prints exactly
    the output it shows, so no number in them is stale."""
    from conftest import run_cecli

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        for cmd, shown in re.findall(r"^\$ cecli (.*)\n((?:(?!\$ ).*\n)*)", block, re.M):
            res = run_cecli(cmd.split(), cwd=ROOT)
            assert res.returncode == 0, res.stderr
            assert res.stdout.decode() == shown, cmd


def test_readme_figures_are_what_cecli_and_its_constants_give(tmp_path: Path) -> None:
    """The numbers the README states in its prose, each produced here by the command or the
    constant it comes from (the console blocks are run by the test above)."""
    import numpy as np
    from conftest import run_cecli

    from cecli.accumulate import BUCKETS, DEFAULT_BOOTSTRAP, HIST_RESOLUTION

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    # sklearn's clipping: [[0, 1], [1, 0]] against labels 0, 1 is -log(eps) in float64
    np.save(tmp_path / "p.npy", np.array([[0.0, 1.0], [1.0, 0.0]]))
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    res = run_cecli(["ce", tmp_path / "p.npy", tmp_path / "y.npy", "--input", "probs", "-f", "value"])
    assert res.returncode == 0, res.stderr
    assert f"`[[0, 1], [1, 0]]` gives {float(res.stdout):.2f} in float64" in text
    eps = [f"{np.finfo(t).eps:.1e}".replace("e-0", "e-") for t in (np.float64, np.float32, np.float16)]
    assert f"{eps[0]} for float64, {eps[1]} for float32, {eps[2]} for float16" in text
    # the quantiles' bound is the histogram's bin width
    assert f"10^0.01 - 1 = {HIST_RESOLUTION:.2%} relative" in text
    # the bootstrap's buckets and the noise they add, against the replicates' own
    assert f"one of {BUCKETS:,} buckets" in text and f"`1 - 1/{BUCKETS}`" in text
    assert f"sqrt(2/{BUCKETS}) = {(2 / BUCKETS) ** 0.5:.1%}" in text
    B = DEFAULT_BOOTSTRAP
    assert f"B = {B} replicates add about sqrt(1/{2 * B}) = {(1 / (2 * B)) ** 0.5:.1%}" in text
    # the usage-error line the README quotes
    res = run_cecli(["ce", "examples/iris_logits.csv", "--label-smothing", "0.1"], cwd=ROOT)
    assert res.returncode == 2
    assert " ".join(res.stderr.decode().split()) in text


def test_one_iris_figure_everywhere() -> None:
    """The iris example's loss is one number wherever the repository writes it: the reference
    of examples/expected.json (float64, computed without cecli), what every route prints, the
    README, the ci-gate baseline; tables round it (docs/screens)."""
    from conftest import run_cecli

    want = json.loads((EXAMPLES / "expected.json").read_text())["loss"]
    routes = [["iris_logits.csv"], ["iris_logits.parquet"], ["iris_logits_list.parquet"],
              ["iris_logits.npy", "iris_labels.npy"]]  # fmt: skip
    for route in routes:
        res = run_cecli(["ce", *(EXAMPLES / r for r in route), "-f", "value"])
        assert float(res.stdout) == want, route
    found: set[str] = set()
    for path in ROOT.rglob("*"):
        if ".git" in path.parts or not path.is_file() or path.suffix not in (".md", ".json", ".txt", ".py"):
            continue
        found.update(re.findall(r"0\.196999\d*", path.read_text(encoding="utf-8", errors="replace")))
    assert found <= {repr(want), f"{want:.6f}"}, found
    assert repr(want) in (ROOT / "README.md").read_text(encoding="utf-8")
