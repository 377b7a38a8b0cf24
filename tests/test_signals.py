"""Interrupted runs and closed pipes, through the installed ``cecli`` as a real process.

A ~200 MB NPY (a sparse file: creating it costs nothing) streams into a CSV output with
``--chunk-rows 1000 --workers 1``, which takes many seconds; once the temporary output beside
the target has grown, the process gets SIGINT or SIGTERM. It must exit 130 / 143, leave no
temporary or partial file, and leave an existing output (``--force``) exactly as it was.
With ``-o`` and ``--grad-output`` together, an interruption of the gradient's pass (the second
one) must not leave the already written losses behind either.
A reader that goes away (``cecli ... | head -1``) ends the run quietly: exit 0, empty stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import cecli_command

ROWS, CLASSES = 500_000, 100  # 200 MB of float32
SENTINEL = b"an older output: an interrupted run must leave it as it is\n"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("signals")
    arr = np.lib.format.open_memmap(d / "big.npy", mode="w+", dtype="float32",
                                    shape=(ROWS, CLASSES))
    del arr  # never written: the data pages stay holes (zeros)
    np.save(d / "t.npy", np.arange(ROWS, dtype=np.int64) % CLASSES)
    return d


def start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen(
        [*cecli_command(), *args], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def wait_for_temp(folder: Path, name: str, proc: subprocess.Popen[bytes]) -> Path:
    """The temporary file of output ``name`` once it holds data (the run is mid-write)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for p in folder.glob(f".{name}.cecli-*.tmp"):
            try:
                if p.stat().st_size > 64 << 10:
                    return p
            except FileNotFoundError:
                pass
        time.sleep(0.01)
    proc.kill()
    pytest.fail("the output never started")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".cecli-" in p.name)


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
@pytest.mark.parametrize(
    "command",
    [
        ["ce", "big.npy", "t.npy"],
        ["softmax", "big.npy"],
    ],
    ids=["ce", "softmax"],
)
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_mid_write_leaves_no_partial_output(
    big: Path, tmp_path: Path, command: list[str], sig: int, code: int, existing: bool
) -> None:
    out = tmp_path / "out.csv"
    if existing:
        out.write_bytes(SENTINEL)
    args = [
        command[0], *(str(big / a) for a in command[1:]), "-o", str(out),
        "--chunk-rows", "1000", "--workers", "1", "-f", "json", *(["--force"] if existing else []),
    ]
    proc = start(args, tmp_path)
    wait_for_temp(tmp_path, "out.csv", proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr.decode()
    assert b"Traceback" not in stderr and stdout == b""
    assert leftovers(tmp_path) == []
    if existing:
        assert out.read_bytes() == SENTINEL
    else:
        assert not out.exists()


def test_interrupted_gradient_pass_keeps_both_outputs_unwritten(
    big: Path, tmp_path: Path
) -> None:
    """``-o`` is complete after the first pass, but the run is not: neither file appears
    (and an existing ``-o`` is not replaced)."""
    out, grad = tmp_path / "out.csv", tmp_path / "grad.csv"
    out.write_bytes(SENTINEL)
    proc = start(
        ["ce", str(big / "big.npy"), str(big / "t.npy"), "-o", str(out), "--grad-output",
         str(grad), "--force", "--chunk-rows", "1000", "--workers", "1", "-f", "json"],
        tmp_path,
    )
    wait_for_temp(tmp_path, "grad.csv", proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert out.read_bytes() == SENTINEL and not grad.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "args",
    [
        ["ce", "big.npy", "t.npy", "--reduction", "none", "-f", "value"],
        ["ce", "big.npy", "t.npy", "--reduction", "none", "-f", "json"],
        ["--help"],
    ],
    ids=["values", "json", "help"],
)
def test_closed_pipe_ends_quietly(big: Path, args: list[str]) -> None:
    """``cecli ... | head -1``: the reader leaves after one line; cecli exits 0, says nothing."""
    proc = start(args, big)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    assert first
    proc.stdout.close()
    try:
        stderr = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        proc.stderr.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert stderr == b"", stderr.decode()
    assert proc.returncode == 0


def test_closed_pipe_through_the_shell(big: Path) -> None:
    """The same through a real shell pipeline, as users write it."""
    cmd = " ".join(cecli_command()) + " ce big.npy t.npy --reduction none -f value | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=big, capture_output=True,
                          timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    assert float(proc.stdout.decode()) == pytest.approx(np.log(CLASSES))
