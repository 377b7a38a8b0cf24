"""Shared test helpers: the CLI through typer's runner, and the installed command as a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` tests (multi-GB inputs, long fuzzing) run only when asked for with ``-m``
    (``pytest -m slow``); the default run skips them."""
    if config.option.markexpr:
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})


def invoke(args: list[str], input: str | bytes | None = None) -> Any:
    """Run the CLI in-process; ``result.stdout`` and ``result.stderr`` are separate."""
    from cecli.cli import app

    r = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
    return r.invoke(app, [str(a) for a in args], input=input)


def invoke_json(args: list[str], input: str | bytes | None = None) -> dict[str, Any]:
    res = invoke([*args, "-f", "json"], input=input)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def cecli_command() -> list[str]:
    """The installed console script, or ``python -m cecli`` beside this interpreter."""
    exe = shutil.which("cecli", path=os.path.dirname(sys.executable)) or shutil.which("cecli")
    return [exe] if exe else [sys.executable, "-m", "cecli"]


def run_cecli(
    args: list[str], *, input: bytes | None = None, timeout: float = 120, **kw: Any
) -> subprocess.CompletedProcess[bytes]:
    """The installed ``cecli`` as a real process (pipes, stdin, exit codes)."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [*cecli_command(), *map(str, args)],
        input=input,
        capture_output=True,
        timeout=timeout,
        env=env,
        **kw,
    )
