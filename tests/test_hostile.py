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
    for args, stdin in (([path.name], None), (["-"], path)):
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


# -- 3. a .txt of targets holding one huge line --------------------------------------------------


def test_a_huge_line_in_txt_targets_is_an_error_naming_it_with_bounded_memory(d: Path) -> None:
    """A .txt.gz of targets whose third line is 256 MiB (a ~1 MB file): read whole it took
    2.2 GB of RSS for 1 GiB and crashed (exit 4); lines are read with a bound now."""
    import gzip

    np.save(d / "p4.npy", np.zeros((4, 3), np.float32))
    with gzip.open(d / "long.txt.gz", "wb", compresslevel=1) as fh:
        fh.write(b"0\n1\n")
        for _ in range(16):
            fh.write(b"7" * (16 * MB))
        fh.write(b"\n2\n")
    for args, stdin in ((["long.txt.gz"], None), (["-"], d / "long.txt.gz")):
        code, peak, err = peak_run(["ce", "p4.npy", *args], d, stdin=stdin)
        assert code == 3, err
        one_error(err, "row 3", "longer than 1 MiB")
        assert peak < 150 * MB


# -- 9. inspect: what a file is, and a suggestion that runs ----------------------------------


def _inspect_set(d: Path) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """Files as numpy / pandas write them: ``(file, placeholders, facts inspect must report)``."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n, c = 40, 4
    x = rng.normal(size=(n, c))
    y = rng.integers(0, c, n)
    y01 = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    np.save(d / "i_logits.npy", x)
    np.save(d / "i_labels.npy", y)
    np.save(d / "i_y01.npy", y01)
    np.save(d / "i_score.npy", score)  # sklearn's decision_function of a binary model
    np.save(d / "i_btv.npy", rng.normal(size=(3, 5, 9)).astype(np.float32))
    np.save(d / "i_bt.npy", rng.integers(0, 9, (3, 5)))
    np.savez(d / "i_scores.npz", score=score, y=y01)
    np.savez(d / "i_seq.npz", logits=rng.normal(size=(3, 5, 9)), target=rng.integers(0, 9, (3, 5)))
    (d / "i_labels.txt").write_text("".join(f"{v}\n" for v in y))
    wide = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(label=y)
    wide.to_csv(d / "i_wide.csv", index=False)
    pd.DataFrame({"score": score, "label": y01}).to_csv(d / "i_score.csv", index=False)
    pd.DataFrame({"id": [f"r{i}" for i in range(n)], "score": score, "y": y01}).to_parquet(
        d / "i_score.parquet", index=False)
    p = {"PREDS.npy": "i_logits.npy", "PREDS": "i_wide.csv"}
    return [
        ("i_labels.npy", p, {"rows": n, "classes": None}),
        ("i_logits.npy", {"TARGETS.npy": "i_labels.npy"}, {"rows": n, "classes": c}),
        ("i_score.npy", {"TARGETS.npy": "i_y01.npy"}, {"rows": n, "command": "bce"}),
        ("i_btv.npy", {"TARGETS.npy": "i_bt.npy"}, {"rows": 3, "classes": 9,
                                                    "class_axis": "-1"}),
        ("i_scores.npz", {}, {"rows": n, "command": "bce"}),
        ("i_seq.npz", {}, {"rows": 3, "classes": 9, "class_axis": "-1"}),
        ("i_labels.txt", p, {"rows": n}),
        ("i_wide.csv", {}, {"rows": n, "classes": c}),
        ("i_score.csv", {}, {"rows": n, "command": "bce"}),
        ("i_score.parquet", {}, {"rows": n, "command": "bce"}),
    ]


def _run_suggestion(suggestion: str, placeholders: dict[str, str], d: Path,
                    stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    import shlex

    argv = [placeholders.get(a, a) for a in shlex.split(suggestion)]
    assert argv[0] == "cecli" and not any(a.isupper() for a in argv), suggestion
    return run_cecli([*argv[1:], "-f", "json"], cwd=d, input=stdin)


def test_every_suggestion_of_inspect_runs(d: Path) -> None:
    """A label vector is rows N (not one sample of N classes), a score column is ``bce``, a
    (B, T, V) array is read with ``--class-axis -1``; every suggestion (placeholders replaced by
    the file's companions) exits 0 -- from the file, and from stdin (``cecli inspect -``)."""
    import json

    for name, placeholders, facts in _inspect_set(d):
        for stdin in (False, True):
            data = (d / name).read_bytes() if stdin else None
            r = run_cecli(["inspect", "-" if stdin else name, "-f", "json"], cwd=d, input=data)
            assert r.returncode == 0, (name, r.stderr)
            info = json.loads(r.stdout)
            assert info["path"] == ("-" if stdin else name)
            for key in ("rows", "classes"):
                if key in facts:
                    assert info[key] == facts[key], (name, stdin, key, info)
            suggestion = info["suggestion"]
            command = suggestion.split()[1]
            assert command == facts.get("command", "ce"), (name, suggestion)
            assert ("--class-axis -1" in suggestion) == ("class_axis" in facts), suggestion
            run = _run_suggestion(suggestion, placeholders, d, data)
            assert run.returncode == 0, (name, stdin, suggestion, run.stderr)
            out = json.loads(run.stdout)
            assert out["samples"] == facts["rows"] * (5 if "class_axis" in facts else 1)


def test_inspect_of_an_npz_whose_member_disagrees_with_its_header(d: Path) -> None:
    """inspect describes the archive, names the broken member, and suggests nothing."""
    import json

    bomb_npz(d / "ibomb.npz", (20, 3), 16 * MB)
    r = run_cecli(["inspect", "ibomb.npz", "-f", "json"], cwd=d)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["suggestion"] is None
    assert "more data than the header" in info["problem"]


# -- 4. stdin: sniffed, one format per input ----------------------------------------------------


@pytest.fixture(scope="module")
def pair(d: Path) -> tuple[Path, float]:
    """A wide CSV of logits with its labels in every format, and the loss (float64 NumPy)."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 3))
    y = rng.integers(0, 3, 30)
    lines = ["a,b,c"] + [",".join(repr(float(v)) for v in r) for r in x]
    (d / "s_preds.csv").write_text("\n".join(lines) + "\n")
    (d / "s_preds.tsv").write_text("\n".join(ln.replace(",", "\t") for ln in lines) + "\n")
    (d / "s_labels.txt").write_text("".join(f"{v}\n" for v in y))
    (d / "s_labels.csv").write_text("label\n" + "".join(f"{v}\n" for v in y))
    (d / "s_labels.txt.gz").write_bytes(gzip.compress((d / "s_labels.txt").read_bytes()))
    (d / "s_preds.csv.gz").write_bytes(gzip.compress((d / "s_preds.csv").read_bytes()))
    np.save(d / "s_preds.npy", x)
    np.save(d / "s_labels.npy", y)
    np.savez(d / "s_both.npz", logits=x, target=y)
    pq.write_table(pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": y}),
                   d / "s_both.parquet")
    z = x - x.max(1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return d, float(-lp[np.arange(30), y].mean())


@pytest.mark.parametrize("args,stdin", [
    (["s_preds.csv", "-"], "s_labels.txt"),  # cat labels.txt | cecli ce preds.csv -
    (["s_preds.csv", "-"], "s_labels.txt.gz"),
    (["s_preds.csv", "-"], "s_labels.csv"),
    (["s_preds.csv", "-"], "s_labels.npy"),
    (["-", "s_labels.txt"], "s_preds.csv"),
    (["-", "s_labels.txt"], "s_preds.csv.gz"),
    (["-", "s_labels.txt"], "s_preds.tsv"),
    (["-", "s_labels.npy"], "s_preds.npy"),
    (["-"], "s_both.npz"),
    (["-"], "s_both.parquet"),
    (["s_preds.npy", "-", "--targets-format", "txt"], "s_labels.txt"),
    (["-", "s_labels.txt", "--format-in", "csv"], "s_preds.csv"),
])
def test_stdin_is_sniffed_per_input(pair: tuple[Path, float], args: list[str],
                                    stdin: str) -> None:
    """Stdin was always CSV unless --format-in, which applied to every input: a label file
    or an NPY piped in failed. Each input now has its format, stdin's sniffed."""
    d, loss = pair
    r = run_cecli(["ce", *args, "-f", "value"], cwd=d, input=(d / stdin).read_bytes())
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == pytest.approx(loss, rel=1e-12)


# -- 5. a stalled or slow stdin: interrupts, errors ---------------------------------------------


def _start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*cecli_command(), *args], cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_until_reading(proc: subprocess.Popen[bytes]) -> None:
    """Until one of the process's threads waits in ``select`` / ``read`` (stdin has stalled):
    the signal must arrive at the stalled read, not during start-up."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{proc.pid}/task").glob("*"):
            try:
                wchan = (task / "wchan").read_text()
            except OSError:
                continue
            if "poll" in wchan or "select" in wchan or "pipe_read" in wchan:
                time.sleep(0.2)
                return
        time.sleep(0.05)
    pytest.fail("the process never waited on stdin")


def _rows(n: int) -> bytes:
    return b"1.0,2.0,0.5,1\n" * n


@pytest.mark.parametrize("sig,code", [("SIGINT", 130), ("SIGTERM", 143)])
@pytest.mark.parametrize("what", ["csv-header", "csv-streaming", "txt-targets", "npy"])
def test_an_interrupt_ends_a_run_whose_stdin_stalls(d: Path, what: str, sig: str,
                                                    code: int) -> None:
    """The producer stalls with its pipe held open. SIGINT / SIGTERM must end the run (130 /
    143) now -- not when more data arrives -- and without an abort in the interpreter's
    shutdown (``terminate called without an active exception``, SIGABRT) while pyarrow's
    reader thread waits on stdin."""
    import signal

    np.save(d / "stall_p.npy", np.zeros((1000, 4), np.float32))
    args, head = {
        "csv-header": (["ce", "-"], b"a,b,c,label\n" + _rows(5)),
        "csv-streaming": (["ce", "-"], b"a,b,c,label\n" + _rows(200_000)),  # past the sniff
        "txt-targets": (["ce", "stall_p.npy", "-"], b"1\n" * 500),
        "npy": (["ce", "-", "t.npy"], (d / "stall_p.npy").read_bytes()[:3000]),
    }[what]
    proc = _start([*args, "-f", "value"], d)
    try:
        assert proc.stdin is not None
        proc.stdin.write(head)
        proc.stdin.flush()
        _wait_until_reading(proc)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=10)  # the pipe is still open: a hang fails here
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert b"Fatal" not in err and b"terminate" not in err and b"Traceback" not in err, err
    assert out == b""


def test_a_bad_cell_from_a_slow_producer_is_one_error_and_no_abort(d: Path) -> None:
    """The bad cell is found while the producer is still writing: the right ``error:`` line,
    exit 3 -- then ``Fatal Python error: PyGILState_Release`` and SIGABRT as pyarrow's reader
    thread was still inside a Python read at shutdown."""
    import time

    for _ in range(3):
        proc = _start(["ce", "-", "-f", "value"], d)
        assert proc.stdin is not None
        try:
            proc.stdin.write(b"a,b,c,label\n" + _rows(5) + b"1.0,x,0.5,1\n")
            for _ in range(200):
                proc.stdin.write(_rows(20_000))
                proc.stdin.flush()
                time.sleep(0.01)
        except BrokenPipeError:
            pass  # it stopped reading: the error was found
        try:
            out, err = proc.communicate(timeout=30)
        except (BrokenPipeError, ValueError):
            out, err = b"", b""
            proc.wait(timeout=30)
            err = proc.stderr.read() if proc.stderr else b""
        assert proc.returncode == 3, err
        line = one_error(err.decode(), "-: row 6", "column 'b'", "'x'")
        assert line and out == b""


# -- 6. --engine dask: a scheduler address that is wrong ----------------------------------------


def _have_dask() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


needs_dask = pytest.mark.skipif(not _have_dask(), reason="needs the dask extra")


@pytest.mark.parametrize("address,needle", [
    ("127.0.0.1", "has no port"),
    ("tcp://127.0.0.1", "has no port"),
    ("http://127.0.0.1:8786", "web address"),
    ("https://dask.example.com:8787/status", "web address"),
    ("tcp://127.0.0.1:99999", "bad port"),
    ("udp://127.0.0.1:8786", "protocol 'udp'"),
])
@pytest.mark.parametrize("via", ["option", "env"])
def test_a_malformed_scheduler_address_is_a_usage_error_before_connecting(
    d: Path, address: str, needle: str, via: str
) -> None:
    """A missing port or a dashboard URL made Dask retry for 20 s, then a traceback (exit 4)."""
    import os

    args = ["ce", "p.npy", "t.npy", "--engine", "dask", "-f", "value"]
    env = {**os.environ, "NO_COLOR": "1"}
    if via == "option":
        args += ["--scheduler", address]
    else:
        env["DASK_SCHEDULER_ADDRESS"] = address
    r = subprocess.run([*cecli_command(), *args], cwd=d, env=env, capture_output=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    one_error(r.stderr.decode(), "--scheduler" if via == "option" else "DASK_SCHEDULER_ADDRESS",
              needle, repr(address))


class _Server:
    """A TCP server on 127.0.0.1 that is not a Dask scheduler: it answers HTTP, or accepts
    and never says anything."""

    def __init__(self, reply: bytes | None) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.held: list[Any] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.reply is not None:
                conn.sendall(self.reply)
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


def _refused_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()  # nothing listens there now: a connection is refused
    return port


@pytest.fixture(scope="module")
def lonely_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real ``dask scheduler`` on 127.0.0.1 without any worker."""
    import json
    import time

    if not _have_dask():
        pytest.skip("needs the dask extra")
    d = tmp_path_factory.mktemp("lonely")
    info = d / "scheduler.json"
    with open(d / "log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(info)], stdout=log, stderr=log)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and proc.poll() is None:
            try:
                yield json.loads(info.read_text())["address"]
                break
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        else:
            pytest.fail("dask scheduler did not start")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@needs_dask
@pytest.mark.parametrize("kind,needle", [
    ("refused", "refused"),
    ("http", "no Dask scheduler answers"),
    ("silent", "no Dask scheduler answers"),
    ("no-workers", "no worker"),
])
def test_a_wrong_scheduler_is_one_error_line_and_exit_3(
    d: Path, kind: str, needle: str, request: pytest.FixtureRequest
) -> None:
    """A refused port, a port that is not a Dask scheduler (an HTTP server, a silent one) and
    a scheduler without workers: exit 3 with one line (it took 10-37 s, hung, or printed
    tracebacks). The probe and the handshake are bounded (1.5 s + 3 s, 2 s for workers)."""
    import time

    server = None
    if kind == "refused":
        address = f"tcp://127.0.0.1:{_refused_port()}"
    elif kind == "no-workers":
        address = request.getfixturevalue("lonely_scheduler")
    else:
        server = _Server(b"HTTP/1.0 200 OK\r\n\r\nnot dask\r\n" if kind == "http" else None)
        address = f"tcp://127.0.0.1:{server.port}"
    try:
        t = time.monotonic()
        r = run_cecli(["ce", "p.npy", "t.npy", "--engine", "dask", "--scheduler", address],
                      cwd=d, timeout=120)
        print(f"{kind}: exit {r.returncode} after {time.monotonic() - t:.1f} s")
    finally:
        if server is not None:
            server.close()
    assert r.returncode == 3, r.stderr
    one_error(r.stderr.decode(), needle, address)
    assert r.stdout == b""


# -- 7. s3:// with an endpoint that refuses or never answers ------------------------------------


@pytest.mark.parametrize("kind", ["refused", "silent"])
@pytest.mark.parametrize("uri", ["s3://preds/p.parquet", "s3://preds/p.csv", "s3://preds/dir/"])
def test_an_unreachable_s3_endpoint_is_one_error_line_and_exit_3(d: Path, kind: str,
                                                                  uri: str) -> None:
    """A refused endpoint escaped as an OSError (exit 4) after pyarrow's retries; a silent
    one took 20-40 s. The endpoint is probed first (a connection and any reply, in 3 s)."""
    import os
    import time

    server = _Server(None) if kind == "silent" else None
    port = server.port if server is not None else _refused_port()
    env = {**os.environ, "NO_COLOR": "1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    env.pop("AWS_ENDPOINT_URL_S3", None)
    try:
        t = time.monotonic()
        r = subprocess.run([*cecli_command(), "ce", uri, "-f", "value"], cwd=d, env=env,
                           capture_output=True, timeout=120)
        print(f"{kind} {uri}: exit {r.returncode} after {time.monotonic() - t:.1f} s")
    finally:
        if server is not None:
            server.close()
    assert r.returncode == 3, r.stderr
    one_error(r.stderr.decode(), uri, "S3 endpoint",
              "refused" if kind == "refused" else "does not answer")


# -- 8. numbers at the edge of float64: no RuntimeWarning on stderr ------------------------------


@pytest.mark.parametrize("args,code", [
    (["ce", "p.npy", "t.npy", "--weight", "1e308,1e308,1e308,1e308"], 2),  # float32 preds
    (["ce", "p.npy", "t.npy", "--weight", "1e308,1,1,1", "--label-smoothing", "0.1"], 2),
    (["ce", "p.npy", "t.npy", "--weight", "1e308,1e308,1e308,1e308", "--float64"], 3),
    (["ce", "p.npy", "t.npy", "--weight", "1e308,1e308,1e308,1e308", "--float64",
      "--per-class", "--ci", "0.9", "--ece"], 3),
    (["ce", "x308.npy", "t.npy", "--weight", "1e308,1e308,1,1"], 3),
    (["bce", "p.npy", "p01.npy", "--pos-weight", "1e308"], 2),
    (["bce", "p.npy", "p01.npy", "--weight", "1e308"], 2),
    (["ce", "p.npy", "t.npy", "--weight", "1e300,1e300,1e300,1e300", "--float64"], 0),
    (["ce", "x308.npy", "t.npy", "--per-class", "--ece", "--top-k", "2", "--ci", "0.9"], 0),
])
def test_huge_weights_and_logits_give_the_right_number_or_an_error_never_a_warning(
    d: Path, args: list[str], code: int
) -> None:
    """Weights of 1e308 leaked ``RuntimeWarning: overflow encountered in cast / add`` and
    gave NaN (or 0) with exit 0. A weight that does not fit the predictions' precision is a
    usage error; a sum that overflows float64 is a data error; otherwise the right number."""
    x = np.load(d / "p.npy").astype(np.float64)
    x[0] = [1e308, -1e308, 0.0, 1.0]
    np.save(d / "x308.npy", x)
    np.save(d / "p01.npy", (np.load(d / "p.npy") > 0).astype(np.float32))
    r = run_cecli([*args, "-f", "value"], cwd=d)
    err = r.stderr.decode()
    assert "Warning" not in err and "Traceback" not in err, err
    assert r.returncode == code, err
    if code:
        one_error(err)
        return
    assert err == ""
    y = np.load(d / "t.npy")
    xx = np.load(d / ("x308.npy" if "x308.npy" in args else "p.npy")).astype(np.float64)
    with np.errstate(over="ignore"):  # 1e308 - (-1e308) is -inf after the shift: exp gives 0
        z = xx - xx.max(1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(1, keepdims=True))
    assert float(r.stdout) == pytest.approx(float(-lp[np.arange(len(y)), y].mean()), rel=1e-6)
