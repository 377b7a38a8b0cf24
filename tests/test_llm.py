"""LLM evaluation inputs (issue 14, item 3): JSON Lines, Arrow IPC / Feather, ragged list
columns (one document a row) and ``--input target-logprobs`` with bits per token / byte.

Every route is compared with the NPY of the same data (to 1e-12), and the per-token figures
with an independent computation from the file as Python's ``json`` reads it.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest
from conftest import EXAMPLES, run_cecli

RTOL = 1e-12


def _json(args: list[Any], **kw: Any) -> dict[str, Any]:
    res = run_cecli([*args, "-f", "json"], **kw)
    assert res.returncode == 0, res.stderr.decode()
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def _error(args: list[Any], code: int = 3) -> str:
    """The one ``error:`` line of a failing run (no traceback, nothing on stdout)."""
    res = run_cecli(args)
    err = res.stderr.decode()
    assert res.returncode == code, err
    assert res.stdout == b""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Ragged documents of logits over 7 classes (one of them empty), their targets (some
    ignored), and the same data written every way."""
    d = tmp_path_factory.mktemp("docs")
    rng = np.random.default_rng(1414)
    C, lengths = 7, [5, 1, 9, 0, 3, 12, 2]
    x = [rng.normal(scale=2.0, size=(n, C)) for n in lengths]
    y = [rng.integers(0, C, size=n) for n in lengths]
    y[2][3] = -100
    y[5][0] = -100
    np.save(d / "x.npy", np.concatenate(x))
    np.save(d / "y.npy", np.concatenate(y))
    with open(d / "ragged.jsonl", "w") as fh:
        for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
            fh.write(json.dumps({"doc": i, "logits": xi.tolist(), "target": yi.tolist()}) + "\n")
    with open(d / "wide.jsonl", "w") as fh:  # one token a line, one key a class
        for xi, yi in zip(x, y, strict=True):
            for row, t in zip(xi, yi, strict=True):
                rec = {f"c{k}": float(v) for k, v in enumerate(row)}
                fh.write(json.dumps({**rec, "label": int(t)}) + "\n")
    with open(d / "list.jsonl", "w") as fh:  # one token a line, a list of logits
        for xi, yi in zip(x, y, strict=True):
            for row, t in zip(xi, yi, strict=True):
                fh.write(json.dumps({"logits": row.tolist(), "label": int(t)}) + "\n")
    (d / "list.jsonl.gz").write_bytes(gzip.compress((d / "list.jsonl").read_bytes()))
    ragged = pa.table(
        {
            "doc": list(range(len(lengths))),
            "logits": [xi.tolist() for xi in x],
            "target": [yi.tolist() for yi in y],
        }
    )
    feather.write_feather(ragged, d / "ragged.feather", chunksize=3)
    sink = pa.OSFile(str(d / "ragged.arrows"), "wb")  # the IPC stream format
    with sink, pa.ipc.new_stream(sink, ragged.schema) as w:
        w.write_table(ragged, max_chunksize=2)
    flat = np.concatenate(x)
    wide = pa.table({**{f"c{k}": flat[:, k] for k in range(C)}, "label": np.concatenate(y)})
    feather.write_feather(wide, d / "wide.arrow", chunksize=10)
    return {"dir": d, "C": C}


def _npy_loss(d: Path, *extra: Any) -> float:
    loss: float = _json(["ce", d / "x.npy", d / "y.npy", *extra])["loss"]
    return loss


@pytest.mark.parametrize(
    "name",
    ["ragged.jsonl", "wide.jsonl", "list.jsonl", "list.jsonl.gz", "ragged.feather",
     "wide.arrow"],
)  # fmt: skip
@pytest.mark.parametrize("chunk", [None, 2])
def test_jsonl_arrow_and_ragged_lists_equal_the_npy(
    docs: dict[str, Any], name: str, chunk: int | None
) -> None:
    d = docs["dir"]
    extra = ["--chunk-rows", chunk] if chunk else []
    want = _npy_loss(d)
    got = _json(["ce", d / name, *extra])
    assert got["loss"] == pytest.approx(want, rel=RTOL)
    assert got["samples"] == 32 and got["ignored"] == 2 and got["classes"] == docs["C"]


def test_arrow_ipc_stream_format_and_stdin(docs: dict[str, Any]) -> None:
    d = docs["dir"]
    want = _npy_loss(d)
    got = _json(["ce", d / "ragged.arrows", "--format-in", "arrow"])
    assert got["loss"] == pytest.approx(want, rel=RTOL)
    for name in ("ragged.feather", "ragged.jsonl", "list.jsonl.gz"):
        piped = _json(["ce", "-"], input=(d / name).read_bytes())
        assert piped["loss"] == pytest.approx(want, rel=RTOL), name


def test_ragged_options_as_in_the_npy(docs: dict[str, Any]) -> None:
    """torch's options apply per position of a ragged row as they do to the flat rows."""
    d = docs["dir"]
    opts = ["--label-smoothing", "0.1", "--weight", "1,2,0.5,1,1,3,1", "--reduction", "sum"]
    got = _json(["ce", d / "ragged.jsonl", *opts])
    assert got["loss"] == pytest.approx(_npy_loss(d, *opts), rel=RTOL)


# -- target log-probabilities -----------------------------------------------------------------


@pytest.fixture(scope="module")
def lps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Documents of target log-probabilities, the first of each null (no prediction), some
    tokens padding (target 0 with --ignore-index 0)."""
    d = tmp_path_factory.mktemp("lps")
    rng = np.random.default_rng(7)
    lengths = [4, 1, 6, 0, 3, 8]
    lp = [(-rng.exponential(2.0, size=n)).tolist() for n in lengths]
    tok = [rng.integers(1, 50000, size=n).tolist() for n in lengths]
    for row in lp:
        if row:
            row[0] = None
    tok[2][-2:] = [0, 0]  # padding
    nbytes = [int(rng.integers(5, 60)) for _ in lengths]
    nbytes[3] = 0
    with open(d / "docs.jsonl", "w") as fh:
        for i in range(len(lengths)):
            rec = {"doc": f"d{i}", "lp": lp[i], "target": tok[i], "bytes": nbytes[i]}
            fh.write(json.dumps(rec) + "\n")
    table = pa.table({"doc": [f"d{i}" for i in range(len(lengths))], "lp": lp, "target": tok,
                      "bytes": nbytes})  # fmt: skip
    feather.write_feather(table, d / "docs.arrow")
    counted = [
        [v for v, t in zip(row, ts, strict=True) if v is not None and t != 0]
        for row, ts in zip(lp, tok, strict=True)
    ]
    flat = np.array([v if v is not None else 0.0 for row in lp for v in row])
    flat_t = np.array([t if v is not None else 0 for row, ts in zip(lp, tok, strict=True)
                       for v, t in zip(row, ts, strict=True)])  # fmt: skip
    np.save(d / "lp.npy", flat)
    np.save(d / "tok.npy", flat_t)
    return {"dir": d, "counted": counted, "bytes": nbytes}


def test_target_logprobs_equal_the_npy_and_an_independent_mean(lps: dict[str, Any]) -> None:
    d = lps["dir"]
    every = [v for row in lps["counted"] for v in row]
    want = -math.fsum(every) / len(every)
    base = ["--input", "target-logprobs", "--ignore-index", "0"]
    npy = _json(["ce", d / "lp.npy", d / "tok.npy", *base])
    assert npy["loss"] == pytest.approx(want, rel=RTOL)
    for name in ("docs.jsonl", "docs.arrow"):
        for chunk in ([], ["--chunk-rows", "3"]):
            got = _json(["ce", d / name, *base, *chunk])
            assert got["loss"] == pytest.approx(want, rel=RTOL), (name, chunk)
            assert got["counted"] == len(every)
            assert got["perplexity"] == pytest.approx(math.exp(want), rel=RTOL)
            assert got["bits_per_token"] == pytest.approx(want / math.log(2), rel=RTOL)
            assert "accuracy" not in got


def test_target_logprobs_bits_per_byte_and_per_document_table(lps: dict[str, Any]) -> None:
    d = lps["dir"]
    got = _json(["ce", d / "docs.jsonl", "--input", "target-logprobs", "--ignore-index", "0",
                 "--bytes-col", "bytes", "--group-col", "doc"])  # fmt: skip
    counted, nbytes = lps["counted"], lps["bytes"]
    nll = -math.fsum(v for row in counted for v in row)
    assert got["bytes"] == sum(nbytes)
    assert got["bits_per_byte"] == pytest.approx(nll / math.log(2) / sum(nbytes), rel=RTOL)
    rows = {r["group"]: r for r in got["per_group"]}
    assert list(rows) == ["d0", "d1", "d2", "d4", "d5"]  # d3 has no tokens
    for i, key in enumerate(["d0", "d1", "d2", "d3", "d4", "d5"]):
        if key not in rows:
            continue
        r = rows[key]
        assert r["tokens"] == len(counted[i])
        if counted[i]:
            mean = -math.fsum(counted[i]) / len(counted[i])
            assert r["loss"] == pytest.approx(mean, rel=RTOL)
            bpb = -math.fsum(counted[i]) / math.log(2) / nbytes[i]
            assert r["bits_per_byte"] == pytest.approx(bpb, rel=RTOL)


def test_bits_per_byte_of_the_shipped_example() -> None:
    """examples/llm_tokens.jsonl (scripts/make_examples.py), computed from the file alone."""
    recs = [json.loads(line) for line in (EXAMPLES / "llm_tokens.jsonl").read_text().splitlines()]
    lps = [v for r in recs for v in r["logprobs"] if v is not None]
    nbytes = sum(r["bytes"] for r in recs)
    assert nbytes == sum(len("".join(r["tokens"]).encode("utf-8")) for r in recs)
    nll = -math.fsum(lps)
    got = _json(["ce", EXAMPLES / "llm_tokens.jsonl", "--input", "target-logprobs",
                 "--bytes-col", "bytes"])  # fmt: skip
    assert got["loss"] == pytest.approx(nll / len(lps), rel=RTOL)
    assert got["bits_per_byte"] == pytest.approx(nll / math.log(2) / nbytes, rel=RTOL)
    assert got["bits_per_token"] == pytest.approx(nll / len(lps) / math.log(2), rel=RTOL)
    assert got["ignored"] == len(recs)  # each document's first token has no prediction


def test_target_logprobs_non_finite_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "nan.arrow"
    feather.write_feather(pa.table({"lp": [-1.0, float("nan"), -0.5]}), p)
    line = _error(["ce", p, "--input", "target-logprobs"])
    assert "row 2" in line and "non-finite" in line
    p.unlink()
    feather.write_feather(pa.table({"lp": [-1.0, float("-inf")]}), p)
    assert _json(["ce", p, "--input", "target-logprobs"])["loss"] is None  # inf, as torch


def test_target_logprobs_usage_errors(lps: dict[str, Any]) -> None:
    f = lps["dir"] / "docs.jsonl"
    for extra in (["--weight", "1"], ["--top-k", "2"], ["--per-class"],
                  ["--label-smoothing", "0.1"]):  # fmt: skip
        line = _error(["ce", f, "--input", "target-logprobs", *extra], code=2)
        assert extra[0] in line
    assert "--bytes-col" in _error(["ce", f, "--bytes-col", "bytes"], code=2)


# -- bad input: one error line naming file, line and field --------------------------------------


def test_malformed_json_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"a": 1.0, "b": 2.0, "label": 0}\n{"a": 1.0, "b": 2.0, "label": 1}\n'
                 '{"a": 1.0, "b": , "label": 0}\n')  # fmt: skip
    line = _error(["ce", p])
    assert str(p) in line and "line 3" in line and "malformed JSON" in line


def test_wrong_type_names_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    good = '{"a": 1.0, "b": 2.0, "label": 0}\n'
    p.write_text(good + '{"a": 1.0, "b": "x", "label": 1}\n')
    line = _error(["ce", p])
    assert "line 2" in line and "'b'" in line and "string" in line
    # past the first block (the schema is fixed by then)
    p.write_text(good * 60000 + '{"a": 1.0, "b": [2.0], "label": 1}\n')
    line = _error(["ce", p])
    assert "line 60001" in line and "'b'" in line and "list" in line


def test_ragged_inner_length_mismatch_names_row_and_token(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(
        json.dumps({"logits": [[1, 2, 3], [1, 2, 3]], "target": [0, 1]}) + "\n"
        + json.dumps({"logits": [[1, 2, 3], [1, 2]], "target": [0, 1]}) + "\n"
    )
    line = _error(["ce", p])
    assert "row 2" in line and "token 2" in line and "3 classes" in line and "'logits'" in line
    p.write_text(json.dumps({"logits": [[1, 2, 3], [1, 2, 3]], "target": [0]}) + "\n")
    line = _error(["ce", p])
    assert "row 1" in line and "'target'" in line and "2 tokens" in line
    # an error found past the reader counts token positions, and says so
    p.write_text(json.dumps({"logits": [[1, 2, 3], [1, 2, 3]], "target": [0, 9]}) + "\n")
    line = _error(["ce", p])
    assert "row 2" in line and "token position" in line and "value 9" in line


def test_truncated_arrow_file(tmp_path: Path) -> None:
    p = tmp_path / "cut.feather"
    feather.write_feather(pa.table({"a": [1.0, 2.0], "b": [0.0, 1.0], "label": [0, 1]}), p)
    p.write_bytes(p.read_bytes()[:-40])
    line = _error(["ce", p])
    assert "Arrow IPC" in line and str(p) in line


def test_inspect_and_targets_read_jsonl_and_arrow(tmp_path: Path) -> None:
    """JSON Lines and Arrow files are inspected, and read as TARGETS, like CSV and Parquet."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 3))
    y = rng.integers(0, 3, 6)
    rows = [{"a": float(r[0]), "b": float(r[1]), "c": float(r[2]), "label": int(t)} for r, t in zip(x, y, strict=True)]
    jl = tmp_path / "p.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    feather.write_feather(pa.table({"label": pa.array(y)}), str(tmp_path / "t.feather"))
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({"label": int(t)}) + "\n" for t in y))
    np.save(tmp_path / "x.npy", x)
    for path in (jl, tmp_path / "t.feather"):
        info = _json(["inspect", path])
        assert info["rows"] in (6, None) and "label" in json.dumps(info)
    want = _json(["ce", jl])["loss"]
    lse = np.log(np.exp(x).sum(1))
    assert want == pytest.approx(float(np.mean(lse - x[np.arange(6), y])), rel=RTOL)
    for targets in ("t.feather", "t.jsonl"):
        assert _json(["ce", tmp_path / "x.npy", tmp_path / targets])["loss"] == pytest.approx(want, rel=RTOL)


def test_target_logprobs_above_zero_are_an_error(tmp_path: Path) -> None:
    """A positive log-probability would give a negative loss: one error naming the value, and
    logits read as target log-probabilities are caught the same way."""
    path = tmp_path / "pos.jsonl"
    path.write_text('{"lp": [null, -0.1, 0.7]}\n{"lp": [-0.2]}\n')
    line = _error(["ce", path, "--input", "target-logprobs"])
    assert "cannot be log-probabilities" in line and "0.7" in line and "--input logits" in line
    np.save(tmp_path / "logits.npy", np.random.default_rng(0).standard_normal((30, 4)))
    assert "cannot be log-probabilities" in _error(["ce", tmp_path / "logits.npy", "--input", "target-logprobs"])
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"lp": [null, -0.1, 0.00001]}\n')  # rounding above 0 is not an error
    assert _json(["ce", ok, "--input", "target-logprobs"])["loss"] == pytest.approx((0.1 - 0.00001) / 2)


def test_jsonl_bytes_per_token_lists(tmp_path: Path) -> None:
    """``--bytes-col`` holding a list per document (one number per token) reads from JSON Lines
    as from Arrow; bits per byte counts every token's bytes (as the README's formula)."""
    docs = [
        {"doc": "d0", "lp": [None, -3.78, -2.1, -1.29], "by": [5, 2, 5, 2]},
        {"doc": "d1", "lp": [None, -3.77, -3.09], "by": [5, 2, 3]},
    ]
    path = tmp_path / "tl.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    feather.write_feather(pa.Table.from_pylist(docs), str(tmp_path / "tl.feather"))
    lps = [-v for d in docs for v in d["lp"] if v is not None]
    nbytes = sum(b for d in docs for b in d["by"])
    for f in (path, tmp_path / "tl.feather"):
        out = _json(["ce", f, "--input", "target-logprobs", "--logit-cols", "lp", "--bytes-col", "by"])
        assert out["loss"] == pytest.approx(math.fsum(lps) / len(lps), rel=RTOL)
        assert out["bits_per_byte"] == pytest.approx(math.fsum(lps) / math.log(2) / nbytes, rel=RTOL)


def test_markdown_carries_the_token_measures() -> None:
    """``-f markdown`` shows what the JSON has for target log-probabilities: bits per token,
    bytes, bits per byte and the per-document table (no accuracy: there is no vocabulary)."""
    args = ["ce", EXAMPLES / "llm_tokens.jsonl", "--input", "target-logprobs", "--group-col", "doc",
            "--bytes-col", "bytes"]  # fmt: skip
    want = _json(args)
    res = run_cecli([*args, "-f", "markdown"])
    assert res.returncode == 0, res.stderr.decode()
    cells = {r.split("|")[1].strip(): r.split("|")[2].strip() for r in res.stdout.decode().splitlines()
             if r.startswith("| ") and r.count("|") == 3}  # fmt: skip
    assert float(cells["bits per byte"]) == pytest.approx(want["bits_per_byte"], rel=1e-6)
    assert float(cells["bits per token"]) == pytest.approx(want["bits_per_token"], rel=1e-6)
    assert int(cells["bytes"]) == want["bytes"] and "accuracy" not in cells
    groups = [g["group"] for g in want["per_group"]]
    assert "**per group**" in res.stdout.decode() and all(f"| {g} |" in res.stdout.decode() for g in groups)


def test_a_type_change_past_the_first_block_names_lines_inside_the_file(tmp_path: Path) -> None:
    """An integer label turning into 1.0 after the first 1 MiB block: one error whose line
    range ends at the file's last line (not one past it) and says what to fix."""
    n = 40_000
    lines = [json.dumps({"id": i, "a": 0.5, "b": -0.5, "label": 1}) for i in range(n - 10)]
    lines += [json.dumps({"id": i, "a": 0.5, "b": -0.5, "label": 1.0}) for i in range(n - 10, n)]
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(lines) + "\n")
    line = _error(["ce", path, "--id-col", "id", "-f", "value"])
    last = int(line.split("..")[1].split(":")[0])
    assert last == n and "one type on every line" in line


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        (["explain", "--rows", "0"], "explain derives a loss from every class's prediction"),
        (["compare", EXAMPLES / "llm_tokens.jsonl"], "compare pairs rows of class predictions"),
        (["report", "-o", "unused.html"], "report's figures need every class's prediction"),
    ],
)
def test_commands_that_need_classes_refuse_target_logprobs(
    command: list[Any], needle: str, tmp_path: Path
) -> None:
    """explain, compare and report work on class predictions: with target log-probabilities
    each says so in one line (exit 2) and names what to run instead, before reading."""
    args = [command[0], EXAMPLES / "llm_tokens.jsonl", *command[1:], "--input", "target-logprobs"]
    args = [tmp_path / a if a == "unused.html" else a for a in args]
    line = _error(args, code=2)
    assert needle in line and "cecli ce --input target-logprobs" in line
    assert not (tmp_path / "unused.html").exists()
