"""Small CSV / TSV files read without pyarrow (cecli.readers.small) agree with the pyarrow path.

Every file of an awkward corpus -- written by pandas, numpy.savetxt, R (as ``write.csv`` and
``write.table`` write), pyarrow, polars when installed, and by hand -- is read both ways: the
sources' roles, dtypes, class names and arrays are compared bit for bit, and ``cecli ce``'s
output through typer's runner (or its one error line and exit code) on the file is compared with
its output on the same bytes gzipped, which always takes the pyarrow path. Files the small path
must leave to pyarrow (quotes, NA, CR, BOM, ragged rows, text labels, ...) are checked to do so;
a real process on a tiny file imports neither pyarrow nor pandas.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cecli.errors import CecliError
from cecli.readers import ReadOptions
from cecli.readers.small import SMALL, open_small
from cecli.readers.tabular import CsvSource
from tests.conftest import invoke

RNG = np.random.default_rng(15)
N = 20


def _logits(dtype: Any = np.float32, n: int = N, c: int = 3) -> np.ndarray[Any, Any]:
    return (RNG.standard_normal((n, c)) * 3).astype(dtype)


def _targets(n: int = N, c: int = 3) -> np.ndarray[Any, Any]:
    return RNG.integers(0, c, n)


def _frame(x: np.ndarray[Any, Any], y: Any, **extra: Any) -> Any:
    pd = pytest.importorskip("pandas")
    cols = {f"c{i}": x[:, i] for i in range(x.shape[1])}
    return pd.DataFrame({**extra, **cols, "target": y})


def _text(header: str, rows: list[str], end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def _pandas(tmp: Path) -> dict[str, tuple[bytes, bool]]:
    pytest.importorskip("pandas")
    x, y = _logits(), _targets()
    f = _frame(x, y)
    out: dict[str, tuple[bytes, bool]] = {
        "pd_index.csv": (f.to_csv().encode(), True),
        "pd_noindex.csv": (f.to_csv(index=False).encode(), True),
        "pd_float64.csv": (_frame(_logits(np.float64), y).to_csv(index=False).encode(), True),
        "pd_tsv.tsv": (f.to_csv(sep="\t", index=False).encode(), True),
        "pd_unnamed.csv": (_frame(x, y).reset_index().to_csv().encode(), True),
        "pd_rownumbers.csv": (_frame(x, y, rownum=np.arange(N)).to_csv(index=False).encode(), True),
        "pd_fold.csv": (_frame(x, y, fold=np.arange(N) % 3).to_csv(index=False).encode(), True),
        "pd_int_logits.csv": (_frame(np.rint(x).astype(int), y).to_csv(index=False).encode(), True),
        "pd_small_values.csv": (_frame(x * 1e-7, y).to_csv(index=False).encode(), True),
        "pd_large_values.csv": (_frame(x * 1e21, y).to_csv(index=False).encode(), True),
        "pd_one_logit.csv": (_frame(x[:, :1], y % 1).to_csv(index=False).encode(), True),
        "pd_target_range.csv": (_frame(x, y + 2).to_csv(index=False).encode(), True),
        "pd_ignore_index.csv": (_frame(x, np.where(y == 1, -100, y)).to_csv(index=False).encode(), True),
        "pd_negative_target.csv": (_frame(x, np.where(y == 1, -1, y)).to_csv(index=False).encode(), True),
        "pd_mixed_precision.csv": (
            _frame(np.vstack([x[:-1].astype(np.float64), _logits(np.float64, 1)]), y)
            .to_csv(index=False)
            .encode(),
            True,
        ),
        "pd_id.csv": (_frame(x, y, id=np.arange(N) + 100).to_csv(index=False).encode(), False),
        "pd_nan.csv": (_frame(np.where(x > 2, np.nan, x), y).to_csv(index=False).encode(), False),
        "pd_labels.csv": (_frame(x, np.array(["c0", "c1", "c2"])[y]).to_csv(index=False).encode(), False),
        "pd_float_target.csv": (_frame(x, y.astype(float)).to_csv(index=False).encode(), False),
        "pd_quoted.csv": (f.to_csv(index=False, quoting=1).encode(), False),
        "pd_crlf.csv": (f.to_csv(index=False, lineterminator="\r\n").encode(), False),
        "pd_bom.csv": (f.to_csv(index=False).encode("utf-8-sig"), False),
        "pd_decimal_comma.csv": (f.to_csv(index=False, sep=";", decimal=",").encode(), False),
        "pd_int_names.csv": (_frame(x, y).rename(columns={"c0": "0", "c1": "1", "c2": "2"}).to_csv(index=False).encode(), False),
    }
    big = _frame(_logits(np.float64, 1200), _targets(1200))
    out["pd_big.csv"] = (big.to_csv(index=False).encode(), False)
    assert len(out["pd_big.csv"][0]) > SMALL
    return out


def _savetxt(tmp: Path) -> dict[str, tuple[bytes, bool]]:
    import io

    x, y = _logits(), _targets()
    table = np.column_stack([x.astype(np.float64), y])

    def save(**kw: Any) -> bytes:
        buf = io.BytesIO()
        np.savetxt(buf, table, delimiter=",", **kw)
        return buf.getvalue()

    header = "c0,c1,c2,target"
    return {
        "np_default.csv": (save(fmt=["%.18e"] * 3 + ["%d"], header=header, comments=""), True),
        "np_g.csv": (save(fmt=["%.9g"] * 3 + ["%d"], header=header, comments=""), True),
        "np_hash_header.csv": (save(fmt=["%.8f"] * 3 + ["%d"], header=header), True),
        "np_float_target.csv": (save(header=header, comments=""), False),
        "np_no_header.csv": (save(fmt=["%.18e"] * 3 + ["%d"]), False),
    }


def _r_style(tmp: Path) -> dict[str, tuple[bytes, bool]]:
    x, y = _logits(np.float64), _targets()
    cells = [[*(f"{v:.15g}" for v in row), str(t)] for row, t in zip(x, y, strict=True)]
    plain = [",".join(r) for r in cells]
    named = [f'"{i + 1}",' + ",".join(r) for i, r in enumerate(cells)]
    quoted = '"c0","c1","c2","target"'
    na = [r.replace(r.split(",")[1], "NA", 1) if i == 3 else r for i, r in enumerate(plain)]
    return {
        "r_no_row_names.csv": (_text(quoted, plain), True),
        "r_write_csv.csv": (_text('"",' + quoted, named), False),
        "r_write_table.csv": (_text(quoted, named), False),
        "r_na.csv": (_text(quoted, na), False),
        "r_crlf.csv": (_text(quoted, plain, "\r\n"), False),
    }


def _arrow_and_polars(tmp: Path) -> dict[str, tuple[bytes, bool]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    x, y = _logits(), _targets()
    table = pa.table({"c0": x[:, 0], "c1": x[:, 1], "c2": x[:, 2], "target": y})
    out: dict[str, tuple[bytes, bool]] = {}
    pacsv.write_csv(table, tmp / "written.csv")
    out["pa_write_csv.csv"] = ((tmp / "written.csv").read_bytes(), True)
    try:
        import polars as pl
    except ImportError:
        return out
    frame = pl.DataFrame({"c0": x[:, 0], "c1": x[:, 1], "c2": x[:, 2], "target": y})
    out["polars.csv"] = (frame.write_csv().encode(), True)
    return out


def _by_hand(tmp: Path) -> dict[str, tuple[bytes, bool]]:
    rows = ["0.5,-1.25,2,1", "-0,0.0,-0.0,0", "1.5e-05,-3E+20,7,2", "12345678901234.5,1,-2,0"]
    h = "a,b,c,target"
    return {
        "hand_exponents.csv": (_text(h, rows), True),
        "hand_no_final_newline.csv": (_text(h, rows)[:-1], True),
        "hand_bare_exponent.csv": (_text(h, ["1e5,2,1E-05,1", "3,-4,-2e+10,0"]), True),
        "hand_label_column.csv": (_text("a,b,c,label", rows), True),
        "hand_long_int.csv": (_text(h, [*rows, "123456789012345678,1,2,0"]), True),
        "hand_no_target.csv": (_text("a,b,c,d", rows), True),
        "hand_quoted_empty_name.csv": (_text('"",a,b,target', ["0,1.5,2.5,1", "1,0.5,0.25,0"]), True),
        "hand_longer_int.csv": (_text(h, [*rows, "1234567890123456789,1,2,0"]), False),
        "hand_3_digit_exponent.csv": (_text(h, [*rows, "1.5e+300,1,2,0"]), False),
        "hand_inf.csv": (_text(h, [*rows, "inf,1,2,0"]), False),
        "hand_nan.csv": (_text(h, [*rows, "nan,1,2,0"]), False),
        "hand_plus.csv": (_text(h, [*rows, "+1.5,1,2,0"]), False),
        "hand_dot.csv": (_text(h, [*rows, ".5,1,2,0"]), False),
        "hand_space.csv": (_text(h, [*rows, " 1.5,1,2,0"]), False),
        "hand_empty_cell.csv": (_text(h, [*rows, ",1,2,0"]), False),
        "hand_empty_line.csv": (_text(h, [rows[0], "", *rows[1:]]), False),
        "hand_trailing_empty_line.csv": (_text(h, [*rows, ""]), False),
        "hand_ragged.csv": (_text(h, [*rows, "1,2,0"]), False),
        "hand_duplicate_names.csv": (_text("a,a,c,target", rows), False),
        "hand_one_column.csv": (_text("a;b;target", ["0,5;1,5;1"]), False),
        "hand_header_only.csv": (_text(h, []), False),
        "hand_numbers_header.csv": (_text("0.5,1.5,2.5,1", rows), False),
        "hand_inf_header.csv": (_text("inf,nan,x,target", rows), False),
        "hand_latin1.csv": (_text(h, rows).replace(b"a,", b"\xe9,"), False),
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, bool]]:
    tmp = tmp_path_factory.mktemp("small")
    files: dict[str, tuple[bytes, bool]] = {}
    for make in (_pandas, _savetxt, _r_style, _arrow_and_polars, _by_hand):
        files.update(make(tmp))
    out = {}
    for name, (data, small) in files.items():
        (tmp / name).write_bytes(data)
        out[name] = (tmp / name, small)
    return out


def _read(path: Path, small: bool) -> Any:
    """What a source delivers (or the error it raises); None: the small path declined."""
    fmt = "tsv" if path.suffix == ".tsv" else "csv"
    opts, kw = ReadOptions(), {"want_target": True, "need_target": True, "aux_elsewhere": False}
    try:
        src = open_small(str(path), fmt, opts, **kw) if small else CsvSource(str(path), fmt, opts, **kw)
        if src is None:
            return None
        parts = [{k: (v.dtype.str, v.shape, v.tobytes()) for k, v in p.arrays.items()} for p in src.parts(7)]
    except CecliError as exc:
        return ("error", type(exc).__name__, exc.message())
    return {
        "fields": src.fields,
        "dtype": src.dtype,
        "shape": src.sample_shape,
        "classes": src.class_names,
        "target": src.target_name,
        "id": src.id_name,
        "info": src.info,
        "logits": src.roles.logits,
        "excluded": src.roles.excluded,
        "parts": parts,
    }


def test_small_path_agrees_with_pyarrow(corpus: dict[str, tuple[Path, bool]]) -> None:
    taken = []
    for name, (path, expect_small) in corpus.items():
        small = _read(path, small=True)
        assert (small is not None) == expect_small, (name, small)
        if small is not None:
            assert small == _read(path, small=False), name
            taken.append(name)
    assert {"pd_index.csv", "np_default.csv", "r_no_row_names.csv", "pa_write_csv.csv"} <= set(taken)


def _gz(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


@pytest.mark.parametrize("args", [["-f", "json"], ["--reduction", "none", "-f", "csv"]])
def test_command_agrees_with_pyarrow(corpus: dict[str, tuple[Path, bool]], args: list[str]) -> None:
    """The whole command on each file and on the same bytes gzipped (the pyarrow path): the
    same output, or the same error line and exit code."""
    for name, (path, _) in corpus.items():
        gz = _gz(path)
        plain, packed = invoke(["ce", path, *args]), invoke(["ce", gz, *args])
        assert plain.exit_code == packed.exit_code, (name, plain.stderr, packed.stderr)
        assert plain.stdout == packed.stdout.replace(gz.name, path.name), name
        assert plain.stderr == packed.stderr.replace(gz.name, path.name), name


def test_tiny_run_imports_no_pyarrow(corpus: dict[str, tuple[Path, bool]]) -> None:
    code = (
        "import sys\nfrom cecli.cli import main\n"
        "sys.argv = ['cecli', 'ce', sys.argv[1], '-f', 'value']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'pandas')))\n"
    )
    for name in ("pd_index.csv", "pa_write_csv.csv"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(corpus[name][0])], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        value, modules = done.stdout.splitlines()
        assert float(value) > 0 and modules == "[]", (name, done.stdout)
