"""The `ce` / `nll` command end to end: formats, routes, outputs, exit codes, pipes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, invoke, invoke_json, run_cecli

EXPECTED = json.loads((EXAMPLES / "expected.json").read_text())


def test_version_and_help() -> None:
    import cecli

    res = invoke(["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"cecli {cecli.__version__}"
    for cmd in ("ce", "nll", "bce", "softmax", "inspect", "compare"):
        res = invoke([cmd, "--help"])
        assert res.exit_code == 0, (cmd, res.output)
        assert "Example" in res.stdout, f"`cecli {cmd} --help` shows no example"


@pytest.mark.parametrize(
    "args",
    [
        ["iris_logits.csv"],
        ["iris_logits.parquet"],
        ["iris_logits_list.parquet"],
        ["iris_logits.npy", "iris_labels.npy"],
    ],
    ids=["csv", "wide-parquet", "list-parquet", "npy"],
)
def test_example_routes_agree_with_reference(args: list[str]) -> None:
    out = invoke_json(["ce", *(EXAMPLES / a for a in args)])
    # float64 logits, a float64 reference summed exactly: the same number, to the last bit
    assert out["loss"] == EXPECTED["loss"]
    assert out["accuracy"] == pytest.approx(EXPECTED["accuracy"])
    assert out["samples"] == EXPECTED["samples"] and out["classes"] == 3
    assert out["counted"] == 300 and out["ignored"] == 0 and out["weight_sum"] == 300.0
    assert out["perplexity"] == pytest.approx(np.exp(out["loss"]))
    assert out["signature"] == "ce|in:logits|tgt:index|red:mean|w:none|ii:-100|ls:0|v:0.1.0"
    assert out["options"] == {
        "input": "logits",
        "targets": "index",
        "weight": None,
        "ignore_index": -100,
        "label_smoothing": 0.0,
    }
    assert out["inputs"][0]["rows"] == 300
    assert out["warnings"] == []


def test_routes_agree_to_1e12_and_chunking_does_not_matter(tmp_path: Path) -> None:
    ref = invoke_json(["ce", EXAMPLES / "iris_logits.npy", EXAMPLES / "iris_labels.npy"])["loss"]
    for path in ("iris_logits.csv", "iris_logits.parquet", "iris_logits_list.parquet"):
        got = invoke_json(["ce", EXAMPLES / path])["loss"]
        assert got == pytest.approx(ref, rel=1e-12, abs=0), path
    for rows in ("1", "7", "1000"):
        for workers in ("1", "2"):
            got = invoke_json(
                ["ce", EXAMPLES / "iris_logits.csv", "--chunk-rows", rows, "--workers", workers]
            )["loss"]
            assert got == pytest.approx(ref, rel=1e-12, abs=0), (rows, workers)


def test_value_format_prints_only_the_number() -> None:
    res = invoke(["ce", EXAMPLES / "iris_logits.csv", "-f", "value"])
    assert res.exit_code == 0
    assert res.stderr == ""
    assert float(res.stdout) == pytest.approx(EXPECTED["loss"], rel=1e-6)
    assert res.stdout.count("\n") == 1


def test_tsv_and_table_formats() -> None:
    res = invoke(["ce", EXAMPLES / "iris_logits.csv", "-f", "tsv"])
    assert res.exit_code == 0
    head, values = res.stdout.strip().split("\n")
    row = dict(zip(head.split("\t"), values.split("\t"), strict=True))
    assert float(row["loss"]) == pytest.approx(EXPECTED["loss"], rel=1e-6)
    res = invoke(["ce", EXAMPLES / "iris_logits.csv", "-f", "table", "--per-class"])
    assert res.exit_code == 0
    assert "loss (mean)" in res.stdout and "virginica" in res.stdout and "accuracy" in res.stdout


def test_reduction_none_lines_and_json(tmp_path: Path) -> None:
    x = np.load(EXAMPLES / "iris_logits.npy")
    y = np.load(EXAMPLES / "iris_labels.npy")
    res = invoke(["ce", EXAMPLES / "iris_logits.npy", EXAMPLES / "iris_labels.npy",
                  "--reduction", "none", "-f", "value"])
    assert res.exit_code == 0
    vals = np.array([float(v) for v in res.stdout.split()])
    z = x.astype(np.float64)
    ref = np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]
    np.testing.assert_allclose(vals, ref, rtol=1e-5, atol=1e-6)
    out = invoke_json(["ce", EXAMPLES / "iris_logits.npy", EXAMPLES / "iris_labels.npy",
                       "--reduction", "none"])
    assert len(out["losses"]) == 300 and out["reduction"] == "none"
    np.testing.assert_allclose(out["losses"], vals, rtol=0, atol=0)


def test_output_file_is_atomic_and_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "losses.npy"
    args = ["ce", EXAMPLES / "iris_logits.npy", EXAMPLES / "iris_labels.npy", "-o", out]
    res = invoke([*args, "-f", "json"])
    assert res.exit_code == 0, res.output
    first = np.load(out)
    assert first.shape == (300,)
    res = invoke([*args, "-f", "json"])
    assert res.exit_code == 3
    assert res.stderr.startswith("error: ") and "--force" in res.stderr
    assert res.stderr.count("\n") == 1
    res = invoke([*args, "-f", "json", "--force"])
    assert res.exit_code == 0
    np.testing.assert_array_equal(np.load(out), first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["losses.npy"]  # no temp files left


def test_output_csv_parquet_with_ids_and_probs(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    for name in ("l.csv", "l.parquet", "l.tsv"):
        out = tmp_path / name
        res = invoke(["ce", EXAMPLES / "iris_logits.csv", "--id-col", "id", "-o", out,
                      "--with-probs", "-f", "json"])
        assert res.exit_code == 0, res.output
        if name.endswith(".parquet"):
            table = pq.read_table(out).to_pydict()
        else:
            sep = "," if name.endswith(".csv") else "\t"
            lines = out.read_text().strip().split("\n")
            cols = lines[0].split(sep)
            rows = [ln.split(sep) for ln in lines[1:]]
            table = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
        assert list(table) == ["id", "target", "loss", "target_prob", "pred"]
        assert len(table["loss"]) == 300 and table["id"][0] == "flower-000"
        losses = np.array(table["loss"], dtype=float)
        assert losses.mean() == pytest.approx(EXPECTED["loss"], rel=1e-6)
        probs = np.array(table["target_prob"], dtype=float)
        np.testing.assert_allclose(probs, np.exp(-losses), rtol=1e-5)


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "p.npy"
    np.save(src, np.zeros((2, 3), np.float32))
    np.save(tmp_path / "t.npy", np.array([0, 1]))
    before = src.read_bytes()
    res = invoke(["ce", src, tmp_path / "t.npy", "-o", src, "--force"])
    assert res.exit_code == 3
    assert "one of the inputs" in res.stderr
    assert src.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--reduction", "average"], 2, "--reduction"),
        (["--label-smoothing", "1.5"], 2, "label-smoothing"),
        (["--input", "scores"], 2, "--input"),
        (["--weight", "1,2"], 2, "3 classes"),
        (["--weight", "1,x,2"], 2, "not a number"),
        (["--chunk-rows", "0"], 2, "chunk-rows"),
        (["--group-col", "doc"], 2, "--group-col is for --ci"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], code: int, needle: str) -> None:
    res = invoke(["ce", EXAMPLES / "iris_logits.npy", EXAMPLES / "iris_labels.npy", *args])
    assert res.exit_code == code, res.output
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.output


def test_data_errors_name_file_row_and_value(tmp_path: Path) -> None:
    p, t = tmp_path / "p.npy", tmp_path / "t.npy"
    np.save(p, np.zeros((5, 3), np.float32))
    np.save(t, np.array([0, 1, 2, 7, 1]))
    res = invoke(["ce", p, t])
    assert res.exit_code == 3
    # the bad label is in TARGETS: that file is named (0-based row, as arrays count)
    assert str(t) in res.stderr and "row 3" in res.stderr and "value 7" in res.stderr
    x = np.zeros((5, 3), np.float32)
    x[2, 1] = np.nan
    x[4, 0] = np.inf
    np.save(p, x)
    np.save(t, np.array([0, 1, 2, 0, 1]))
    res = invoke(["ce", p, t])
    assert res.exit_code == 3
    assert "non-finite" in res.stderr and "row 2" in res.stderr and "2 counted row" in res.stderr
    res = invoke(["ce", p, t, "--nonfinite", "propagate", "-f", "json"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["loss"] is None and out["warnings"]
    res = invoke(["ce", tmp_path / "missing.npy", t])
    assert res.exit_code == 3 and "missing.npy" in res.stderr


def test_ignored_rows_never_leak_nan(tmp_path: Path) -> None:
    p, t = tmp_path / "p.npy", tmp_path / "t.npy"
    x = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]], np.float32)
    np.save(p, x)
    np.save(t, np.array([2, -100]))
    out = invoke_json(["ce", p, t])
    z = x[0].astype(np.float64)
    assert out["loss"] == pytest.approx(np.log(np.exp(z).sum()) - z[2], rel=1e-6)
    assert out["ignored"] == 1 and out["counted"] == 1


def test_all_ignored_mean_is_null_with_warning(tmp_path: Path) -> None:
    p, t = tmp_path / "p.npy", tmp_path / "t.npy"
    np.save(p, np.zeros((3, 4), np.float32))
    np.save(t, np.full(3, -100))
    res = invoke(["ce", p, t, "-f", "json"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["loss"] is None and "ignored" in out["warnings"][0]
    assert "warning:" in res.stderr
    assert invoke_json(["ce", p, t, "--reduction", "sum"])["loss"] == 0.0


def test_nll_is_ce_on_log_probabilities(tmp_path: Path) -> None:
    x = np.load(EXAMPLES / "iris_logits.npy").astype(np.float64)
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    np.save(tmp_path / "lp.npy", lp)
    out = invoke_json(["nll", tmp_path / "lp.npy", EXAMPLES / "iris_labels.npy"])
    assert out["command"] == "nll" and out["options"]["input"] == "logprobs"
    assert out["signature"].startswith("nll|in:logprobs|")
    assert out["loss"] == pytest.approx(EXPECTED["loss"], rel=1e-6)


def test_ce_and_nll_share_one_function_but_not_their_defaults(tmp_path: Path) -> None:
    """One function is registered as `ce` and `nll`: the command's name picks --input's default,
    an explicit --input wins on either, and each --help shows its own examples."""
    logits, labels = EXAMPLES / "iris_logits.npy", EXAMPLES / "iris_labels.npy"
    ce = invoke_json(["ce", logits, labels])
    assert ce["command"] == "ce" and ce["options"]["input"] == "logits"
    assert ce["signature"].startswith("ce|in:logits|")
    as_logits = invoke_json(["nll", logits, labels, "--input", "logits", "-q"])
    assert as_logits["command"] == "nll" and as_logits["options"]["input"] == "logits"
    assert as_logits["loss"] == pytest.approx(EXPECTED["loss"], rel=1e-6)
    x = np.load(logits).astype(np.float64)
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    np.save(tmp_path / "lp.npy", lp)
    as_lp = invoke_json(["ce", tmp_path / "lp.npy", labels, "--input", "logprobs"])
    assert as_lp["command"] == "ce" and as_lp["options"]["input"] == "logprobs"
    helps = {cmd: invoke([cmd, "--help"]).stdout for cmd in ("ce", "nll")}
    assert "cecli nll logprobs.npy labels.npy" in helps["nll"]
    assert "cecli nll" not in helps["ce"] and "cecli ce logits.npy" in helps["ce"]
    for text in helps.values():
        assert "nll: logprobs" in " ".join(text.split())


# -- the installed command as a real process ---------------------------------------------------


def test_installed_command_pipes_and_module_entry_point() -> None:
    res = run_cecli(["ce", EXAMPLES / "iris_logits.csv", "-f", "value"])
    assert res.returncode == 0, res.stderr
    assert float(res.stdout) == pytest.approx(EXPECTED["loss"], rel=1e-6)
    assert res.stderr == b""
    value_out = res.stdout
    # stdout is not a terminal: auto is JSON, with no colour codes
    res = run_cecli(["ce", EXAMPLES / "iris_logits.csv"])
    assert json.loads(res.stdout)["loss"] == pytest.approx(EXPECTED["loss"], rel=1e-6)
    assert b"\x1b[" not in res.stdout
    mod = subprocess.run(
        [sys.executable, "-m", "cecli", "ce", str(EXAMPLES / "iris_logits.csv"), "-f", "value"],
        capture_output=True,
        check=True,
    )
    assert mod.stdout == value_out


def test_stdin_and_closed_pipe(tmp_path: Path) -> None:
    data = (EXAMPLES / "iris_logits.csv").read_bytes()
    res = run_cecli(["ce", "-", "-f", "value"], input=data)
    assert res.returncode == 0, res.stderr
    assert float(res.stdout) == pytest.approx(EXPECTED["loss"], rel=1e-6)
    # `cecli ... --reduction none | head -1` ends quietly
    cmd = " ".join(
        [*map(str, __import__("conftest").cecli_command()), "ce",
         str(EXAMPLES / "iris_logits.npy"), str(EXAMPLES / "iris_labels.npy"),
         "--reduction", "none", "-f", "value", "--chunk-rows", "1"]
    )
    proc = subprocess.run(
        f"set -o pipefail; {cmd} | head -1", shell=True, executable="/bin/bash",
        capture_output=True, timeout=60,
    )
    assert proc.stdout.count(b"\n") == 1
    assert proc.stderr == b"", proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["ce", "--ci", "0.95", "--bootstrap", "10000000000"],
        ["ce", "--ece-bins", "1000000000"],
        ["compare", EXAMPLES / "iris_logits.parquet", "--ci", "0.95", "--bootstrap", "10000000000"],
    ],
    ids=["ce-bootstrap", "ce-ece-bins", "compare-bootstrap"],
)
def test_sizes_that_could_only_exhaust_memory_are_refused(args: list[object]) -> None:
    cmd, *rest = args
    res = invoke([cmd, EXAMPLES / "iris_logits.csv", *rest])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: ") and "allows" in res.stderr


def test_progress_bar_on_a_terminal_only_after_a_moment() -> None:
    import io

    from rich.console import Console

    from cecli.cli._console import progress_bar
    from cecli.report import ProgressBar

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    quick = ProgressBar(console, delay=60.0)
    quick(10, 100)  # a quick run: nothing shown
    quick.close()
    assert buf.getvalue() == ""
    bar = ProgressBar(console, delay=0.0)
    bar(50, 100)
    bar(100, 100)
    bar.close()
    assert "rows" in buf.getvalue() and "100/100" in buf.getvalue()
    # never in a pipe (pytest captures stderr) and never with --quiet
    assert progress_bar(quiet=False) is None and progress_bar(quiet=True) is None


def test_progress_bar_shows_on_a_real_terminal(tmp_path: Path) -> None:
    """Through a pseudo-terminal (`script`), a long run draws a bar on stderr; the result on
    stdout is unchanged."""
    import shutil

    if shutil.which("script") is None:
        pytest.skip("util-linux `script` is not installed")
    p = tmp_path / "p.npy"
    np.lib.format.open_memmap(p, mode="w+", dtype="float32", shape=(400_000, 100))
    np.save(tmp_path / "t.npy", np.zeros(400_000, dtype=np.int64))
    cmd = " ".join([*map(str, __import__("conftest").cecli_command()), "ce", str(p),
                    str(tmp_path / "t.npy"), "-f", "value", "--chunk-rows", "100",
                    "--workers", "1"])
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    text = proc.stdout.decode(errors="replace")
    assert "4.60517" in text  # log(100)
    assert "rows" in text, "no progress bar on a terminal"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--target-col", "y", "--target-cols", "a,b"], "--target-col or --target-cols, not both"),
        (["--target-cols", " , "], "--target-cols names no column"),
    ],
)
def test_bce_target_column_options_exit_2_with_one_line(args: list[str], needle: str) -> None:
    res = invoke(["bce", EXAMPLES / "iris_logits.csv", *args])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    assert needle in res.stderr


def test_ece_flag_is_fifteen_bins() -> None:
    flag = invoke_json(["ce", EXAMPLES / "iris_logits.csv", "--ece"])
    bins = invoke_json(["ce", EXAMPLES / "iris_logits.csv", "--ece-bins", "15"])
    assert flag["ece"] == bins["ece"] and flag["ece"] is not None
