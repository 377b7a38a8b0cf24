"""Hostile inputs (issue 12) through the installed ``cecli``: bounded memory, one error line.

Each case here is also in the bad-input matrix (``tests/test_bad_input.py``) for its exit code
and message; this module adds what the matrix cannot see: the peak memory of the process (its
``ru_maxrss``, measured by a small parent interpreter, as in ``test_memory_routes.py``), the
values read where the input is fine, and the timing-free checks of stdin, Dask and S3 paths.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import cecli_command, run_cecli

MB = 1 << 20

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux"
)

# The child's peak RSS, reported by a small parent (the test process's own RSS would leak in).
PEAK = (
    "import resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
    "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.stdout.buffer.write(p.stderr)\n"
)


def peak_run(args: list[Any], cwd: Path, stdin: Path | None = None) -> tuple[int, int, str]:
    """``(exit code, peak RSS in bytes, stderr)`` of one ``cecli`` process."""
    with open(stdin or "/dev/null", "rb") as fh:
        proc = subprocess.run(
            [sys.executable, "-c", PEAK, *cecli_command(), *map(str, args)],
            stdin=fh, capture_output=True, timeout=300, cwd=cwd,
        )
    first, _, rest = proc.stdout.partition(b"\n")
    code, kib = map(int, first.split())
    return code, kib * 1024, rest.decode(errors="replace")


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """A hand-made NPY 1.0 header (for shapes numpy.save would never write)."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    text += b" " * ((64 - (10 + len(text) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


def one_error(stderr: str, *needles: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for n in needles:
        assert n in lines[0], (n, stderr)
    return lines[0]


def bomb_npz(path: Path, shape: tuple[int, ...], extra: int) -> None:
    """An NPZ whose ``logits`` member's header declares ``shape`` (float32) and whose data is
    followed by ``extra`` zero bytes: a small file that inflates far beyond its header."""
    x = np.arange(int(np.prod(shape)), dtype=np.float32)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("logits.npy", "w", force_zip64=True) as m:
            m.write(npy_header(shape))
            m.write(x.tobytes())
            block = bytes(16 * MB)
            for _ in range(extra // len(block)):
                m.write(block)
        buf = io.BytesIO()
        np.save(buf, np.zeros(shape[0] if len(shape) > 1 else (), np.int64))
        zf.writestr("target.npy", buf.getvalue())


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(3)
    np.save(d / "p.npy", rng.normal(size=(6, 4)).astype(np.float32))
    np.save(d / "t.npy", np.array([0, 1, 2, 3, 1, 0]))
    return d


# -- 1. --weight / --pos-weight ---------------------------------------------------------------


@pytest.mark.parametrize("cmd,option", [("ce", "--weight"), ("bce", "--pos-weight"),
                                        ("bce", "--weight")])
@pytest.mark.parametrize("spec,position", [("1,,2,3", 2), ("1,2,3,", 4), (",1,2,3", 1)])
def test_an_empty_position_in_a_vector_option_is_a_usage_error(
    d: Path, cmd: str, option: str, spec: str, position: int
) -> None:
    """``--weight 1,,2,3`` was read as three values: every later class's weight shifted."""
    targets = "t.npy" if cmd == "ce" else "p.npy"
    r = run_cecli([cmd, "p.npy", targets, option, spec, "-f", "value"], cwd=d)
    assert r.returncode == 2, r.stderr
    one_error(r.stderr.decode(), option, f"value {position} is empty")
    assert r.stdout == b""


def test_an_empty_line_inside_a_weight_file_is_an_error(d: Path) -> None:
    (d / "w_gap.txt").write_text("1\n\n2\n3\n")
    r = run_cecli(["ce", "p.npy", "t.npy", "--weight", "w_gap.txt"], cwd=d)
    assert r.returncode == 3
    one_error(r.stderr.decode(), "w_gap.txt", "value 2 is empty")


def test_weight_files_in_every_spelling_give_the_same_loss(d: Path) -> None:
    """Trailing newlines, CRLF, commas and tabs, an NPY of any numeric dtype or byte order --
    all the same four weights, so the same loss as the comma list."""
    w = [0.5, 2.0, 1.0, 3.0]
    (d / "w_lines.txt").write_text("0.5\r\n2\r\n1\r\n3\r\n\r\n")
    (d / "w_row.csv").write_text("0.5,2,1,3\n")
    (d / "w_tabs.tsv").write_text("0.5\t2\t1\t3")
    np.save(d / "w_be.npy", np.array(w, dtype=">f8"))
    np.save(d / "w_f32.npy", np.array(w, dtype=np.float32))
    x = np.load(d / "p.npy").astype(np.float64)
    y = np.load(d / "t.npy")
    lp = x - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True)) - x.max(
        1, keepdims=True)
    wa = np.array(w)
    expected = float(-(wa[y] * lp[np.arange(6), y]).sum() / wa[y].sum())
    for spec in ("0.5,2,1,3", "w_lines.txt", "w_row.csv", "w_tabs.tsv", "w_be.npy",
                 "w_f32.npy"):
        r = run_cecli(["ce", "p.npy", "t.npy", "--weight", spec, "-f", "value"], cwd=d)
        assert r.returncode == 0, (spec, r.stderr)
        assert float(r.stdout) == pytest.approx(expected, rel=1e-6), spec


def test_a_forged_weight_npy_header_is_refused_at_once_with_bounded_memory(d: Path) -> None:
    """An NPY ``--weight`` whose header declares 10^12 float64 values (8 TB), 24 bytes of data:
    refused from the header and the file size, before anything is allocated."""
    (d / "w_huge.npy").write_bytes(npy_header((10**12,), "<f8") + bytes(24))
    for cmd, option in (("ce", "--weight"), ("bce", "--pos-weight")):
        targets = "t.npy" if cmd == "ce" else "p.npy"
        code, peak, err = peak_run([cmd, "p.npy", targets, option, "w_huge.npy"], d)
        assert code == 3, err
        one_error(err, "w_huge.npy", option, "1000000000000", "truncated")
        assert peak < 150 * MB


def test_a_weight_npy_with_trailing_data_is_refused(d: Path) -> None:
    (d / "w_tail.npy").write_bytes(npy_header((4,), "<f8") + np.ones(4).tobytes() + bytes(8))
    r = run_cecli(["ce", "p.npy", "t.npy", "--weight", "w_tail.npy"], cwd=d)
    assert r.returncode == 3
    one_error(r.stderr.decode(), "w_tail.npy", "4 values")


# -- 2. NPZ members that disagree with their header --------------------------------------------


@pytest.mark.parametrize("shape", [(20, 3), (3,)], ids=["streamed-rows", "one-sample"])
def test_an_npz_member_inflating_past_its_header_is_refused_with_bounded_memory(
    d: Path, shape: tuple[int, ...]
) -> None:
    """A ~300 KB archive whose member inflates to 256 MiB behind a header of a few values:
    today streamed rows ignored the excess (exit 0) and one sample was read whole (~1.6 GB
    RSS for 768 MiB); the member's size is checked against its header before reading."""
    path = d / f"bomb{len(shape)}.npz"
    bomb_npz(path, shape, 256 * MB)
    assert path.stat().st_size < 2 * MB
    for args, stdin in (([path.name], None), (["-", "--format-in", "npz"], path)):
        code, peak, err = peak_run(["ce", *args, "-f", "value"], d, stdin=stdin)
        assert code == 3, err
        one_error(err, "'logits'", "the NPY header promises", "more data than the header")
        assert peak < 150 * MB


def test_an_npz_member_shorter_than_its_header_is_refused(d: Path) -> None:
    x = np.zeros((20, 3), np.float32)
    with zipfile.ZipFile(d / "short.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("logits.npy", npy_header((20, 3)) + x.tobytes()[:-12])
        buf = io.BytesIO()
        np.save(buf, np.zeros(20, np.int64))
        zf.writestr("target.npy", buf.getvalue())
    r = run_cecli(["ce", "short.npz"], cwd=d)
    assert r.returncode == 3, r.stderr
    one_error(r.stderr.decode(), "short.npz", "'logits'", "truncated")
