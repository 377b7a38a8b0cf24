"""``cecli inspect`` through the command line: what it reports, and that its suggestion works.

For each layout of one dataset (500 rows x 7 classes, float64 logits; written here with numpy /
pyarrow), ``cecli inspect FILE -f json`` must report the format, rows, shape or columns with
their dtypes and roles, class names and row groups as written; the table (``-f table``) must show
the same facts, with the suggestion on one line that can be copied; and the suggested command,
run as printed (split with :mod:`shlex`, a ``TARGETS.npy`` placeholder replaced by the targets
file), must give the loss of the plain NPY route.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import invoke, invoke_json
from typer.testing import CliRunner

from cecli.cli import app

N, C = 500, 7
NAMES = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu"]
WIDE_NAMES = [f"logit_{n}" for n in NAMES]


@dataclass
class Case:
    """A file to inspect and what ``inspect`` must say about it."""

    path: Path
    facts: dict[str, Any]  # JSON keys that must equal these values
    columns: list[tuple[str, str, str]] | None = None  # (name, dtype, role), in file order
    keys: list[tuple[str, list[int], str]] | None = None  # NPZ (name, shape, dtype)
    options: list[str] = field(default_factory=list)  # extra `cecli inspect` options
    placeholders: dict[str, str] = field(default_factory=dict)  # in the suggestion


@dataclass
class Data:
    x: np.ndarray
    y: np.ndarray
    dir: Path
    loss: float = 0.0  # the NPY route's


def wide_table(d: Data, label: Any = None) -> pa.Table:
    cols: dict[str, Any] = {"id": [f"s{i:04d}" for i in range(N)]}
    cols.update({n: d.x[:, j] for j, n in enumerate(WIDE_NAMES)})
    cols["label"] = [NAMES[i] for i in d.y] if label is None else label
    return pa.table(cols)


def wide_columns(label_dtype: str = "string") -> list[tuple[str, str, str]]:
    return [
        ("id", "string", "id"),
        *[(n, "double", "logits") for n in WIDE_NAMES],
        ("label", label_dtype, "target"),
    ]


# ------------------------------------------------------------------------------ cases
def case_npy(d: Data) -> Case:
    np.save(d.dir / "x.npy", d.x)
    np.save(d.dir / "y.npy", d.y)
    return Case(
        d.dir / "x.npy",
        {"format": "npy", "rows": N, "shape": [N, C], "dtype": "float64", "classes": C},
        placeholders={"TARGETS.npy": str(d.dir / "y.npy")},
    )


def case_npz(d: Data) -> Case:
    np.savez(d.dir / "a.npz", logits=d.x, target=d.y)
    return Case(
        d.dir / "a.npz",
        {"format": "npz", "rows": N, "shape": [N, C], "classes": C, "target": "target"},
        keys=[("logits", [N, C], "float64"), ("target", [N], "int64")],
    )


def case_npz_other_keys(d: Data) -> Case:
    # no `logits` key and no target-like name: the suggestion must name both keys
    np.savez_compressed(d.dir / "b.npz", scores=d.x.astype(np.float32), gold=d.y.astype(np.int32))
    return Case(
        d.dir / "b.npz",
        {"format": "npz", "preds_key": None, "target": None},
        keys=[("scores", [N, C], "float32"), ("gold", [N], "int32")],
    )


def case_csv(d: Data) -> Case:
    pacsv.write_csv(wide_table(d), d.dir / "w.csv")
    return Case(
        d.dir / "w.csv",
        {"format": "csv", "rows": N, "classes": C, "class_names": NAMES, "target": "label"},
        columns=wide_columns(),
    )


def case_parquet_wide(d: Data) -> Case:
    pq.write_table(wide_table(d), d.dir / "w.parquet", row_group_size=100)
    return Case(
        d.dir / "w.parquet",
        {
            "format": "parquet",
            "rows": N,
            "row_groups": 5,
            "files": 1,
            "classes": C,
            "dtype": "float64",
            "class_names": NAMES,
            "target": "label",
        },
        columns=wide_columns(),
    )


def case_parquet_list(d: Data) -> Case:
    t = pa.table(
        {
            "logits": pa.FixedSizeListArray.from_arrays(pa.array(d.x.reshape(-1)), C),
            "y": pa.array(d.y, pa.int16()),
            "w": np.linspace(0.5, 2.0, N),
        }
    )
    pq.write_table(t, d.dir / "l.parquet", row_group_size=128)
    return Case(
        d.dir / "l.parquet",
        {"format": "parquet", "rows": N, "row_groups": 4, "classes": C, "target": "y"},
        columns=[
            ("logits", "fixed_size_list<element: double>[7]", "logits"),
            ("y", "int16", "target"),
            ("w", "double", "weight"),
        ],
        options=["--sample-weight-col", "w"],
    )


def case_parquet_directory(d: Data) -> Case:
    root = d.dir / "dir"
    root.mkdir(exist_ok=True)
    t = wide_table(d, label=d.y)
    pq.write_table(t.slice(0, 200), root / "part-0.parquet", row_group_size=100)
    pq.write_table(t.slice(200), root / "part-1.parquet")
    return Case(
        root,
        {"format": "parquet", "rows": N, "row_groups": 3, "files": 2, "classes": C},
        columns=wide_columns("int64"),
    )


CASES = [
    pytest.param(case_npy, id="npy"),
    pytest.param(case_npz, id="npz"),
    pytest.param(case_npz_other_keys, id="npz-other-keys"),
    pytest.param(case_csv, id="csv"),
    pytest.param(case_parquet_wide, id="parquet-wide"),
    pytest.param(case_parquet_list, id="parquet-list"),
    pytest.param(case_parquet_directory, id="parquet-directory"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    rng = np.random.default_rng(7)
    d = Data(
        rng.normal(scale=2.0, size=(N, C)), rng.integers(0, C, N), tmp_path_factory.mktemp("i")
    )
    np.save(d.dir / "ref_x.npy", d.x)
    np.save(d.dir / "ref_y.npy", d.y)
    d.loss = invoke_json(["ce", d.dir / "ref_x.npy", d.dir / "ref_y.npy"])["loss"]
    # the NPY route against a float64 NumPy log-softmax (nothing taken from the code under test)
    z = d.x - d.x.max(axis=1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert d.loss == pytest.approx(-lp[np.arange(N), d.y].mean(), rel=1e-12)
    return d


def run_suggestion(suggestion: str, placeholders: dict[str, str]) -> dict[str, Any]:
    argv = [placeholders.get(a, a) for a in shlex.split(suggestion)]
    assert argv[:2] == ["cecli", "ce"], suggestion
    assert not any(a in ("KEY", "TARGETS.npy", "TARGETS.txt") for a in argv), suggestion
    return invoke_json(argv[1:])


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("make", CASES)
def test_inspect_json_and_its_suggestion(make: Callable[[Data], Case], data: Data) -> None:
    case = make(data)
    info = invoke_json(["inspect", case.path, *case.options])
    assert info["path"] == str(case.path)
    for key, want in case.facts.items():
        assert info[key] == want, (key, info)
    if case.columns is not None:
        got = [(c["name"], c["dtype"], c["role"]) for c in info["columns"]]
        assert got == case.columns
    if case.keys is not None:
        assert [(k["name"], k["shape"], k["dtype"]) for k in info["keys"]] == case.keys
    assert info["size_bytes"] > 0
    res = run_suggestion(info["suggestion"], case.placeholders)
    assert res["samples"] == N and res["classes"] == C
    if "weight" in {c[2] for c in case.columns or []}:
        w = np.linspace(0.5, 2.0, N)
        z = data.x - data.x.max(axis=1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        want = float(np.sum(w * -lp[np.arange(N), data.y]) / w.sum())
        assert res["loss"] == pytest.approx(want, rel=1e-12)
    elif case.keys and case.keys[0][2] == "float32":
        x32 = data.x.astype(np.float32)
        np.save(data.dir / "ref32.npy", x32)
        want = invoke_json(["ce", data.dir / "ref32.npy", data.dir / "ref_y.npy"])["loss"]
        assert res["loss"] == pytest.approx(want, rel=1e-12)
    else:
        assert res["loss"] == pytest.approx(data.loss, rel=1e-12)


def _cell(out: str, label: str, value: object) -> bool:
    """A row ``label | value`` of the rich table (box characters and padding ignored)."""
    return re.search(rf"{re.escape(label)}\s*│\s*{re.escape(str(value))}[\s,│]", out) is not None


@pytest.mark.parametrize("make", CASES)
def test_inspect_table(make: Callable[[Data], Case], data: Data) -> None:
    case = make(data)
    info = invoke_json(["inspect", case.path, *case.options])
    # an 80-column terminal: most suggestions are longer, and must not be wrapped
    runner = CliRunner(env={"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"})
    res = runner.invoke(app, ["inspect", str(case.path), *case.options, "-f", "table"])
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert str(case.path) in out
    for key in ("format", "rows", "row_groups", "classes", "target"):
        if info.get(key) is not None:
            assert _cell(out, key.replace("_", " "), info[key]), (key, out)
    if info.get("shape"):
        assert _cell(out, "shape", info["shape"]), out
    if info.get("class_names"):  # a long list may wrap inside its cell
        assert _cell(out, "class names", info["class_names"][0]), out
        assert all(n in out for n in info["class_names"]), out
    for name, dtype, role in case.columns or []:
        assert re.search(rf"│ {re.escape(name)}\s*│ {re.escape(dtype)}\s*│ {role}\s*│", out), (
            name,
            out,
        )
    for name, shape, dtype in case.keys or []:
        assert re.search(rf"│ {name}\s*│ {re.escape(str(shape))}\s*│ {dtype}\s*│", out), out
    # the suggestion is one line, whatever the terminal width (it is meant to be copied)
    lines = [ln for ln in out.splitlines() if ln.startswith("suggestion: ")]
    assert lines == [f"suggestion: {info['suggestion']}"], out


def test_inspect_names_are_not_markup_and_their_glob_is_exact(data: Data) -> None:
    """Column names and paths with brackets show as written, and the suggestion's
    ``--logit-cols`` selects exactly the logit columns (a ``[`` is no glob class)."""
    folder = data.dir / "run [a]"
    folder.mkdir()
    names = [f"head[0].{n}" for n in NAMES]  # as a glob, "head[0].*" would miss them
    t = pa.table({**{n: data.x[:, j] for j, n in enumerate(names)}, "label": data.y})
    pq.write_table(t, folder / "brackets.parquet")
    path = folder / "brackets.parquet"
    info = invoke_json(["inspect", path])
    assert [c["name"] for c in info["columns"]] == [*names, "label"]
    assert run_suggestion(info["suggestion"], {})["loss"] == pytest.approx(data.loss, rel=1e-12)
    out = invoke(["inspect", path, "-f", "table"]).stdout
    assert "run [a]" in out  # not eaten as a markup tag
    for n in names:
        assert f"│ {n} " in out, out


def test_inspect_of_a_glob(data: Data) -> None:
    """The suggestion for a glob keeps it quoted (the shell must not expand it)."""
    root = data.dir / "globbed"
    root.mkdir()
    t = wide_table(data)
    for k, lo in enumerate(range(0, N, 250)):
        pq.write_table(t.slice(lo, 250), root / f"p{k}.parquet")
    pattern = str(root / "p*.parquet")
    info = invoke_json(["inspect", pattern])
    assert info["files"] == 2 and info["rows"] == N
    assert shlex.quote(pattern) in info["suggestion"]
    assert run_suggestion(info["suggestion"], {})["loss"] == pytest.approx(data.loss, rel=1e-12)
    assert json.loads(json.dumps(info)) == info  # plain JSON
