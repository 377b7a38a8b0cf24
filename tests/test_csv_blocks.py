"""CSV files of several blocks, parsed on several threads (cecli.readers._blocks): the rows,
values and error rows are those of one sequential read, wherever the blocks are cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cecli.errors import DataError
from cecli.readers import ReadOptions, open_inputs
from cecli.readers._blocks import block_size

ROWS = 60_000  # ~9 MB of text below: four blocks or more


def table(rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return np.round(rng.normal(size=(rows, 20)), 4), rng.integers(0, 20, rows)


def lines(x: np.ndarray, y: np.ndarray, note: bool = False) -> list[str]:
    """One text line a row (``note``: a quoted field holding line ends before the logits)."""
    head = ",".join(["note"] * note + [f"c{j}" for j in range(x.shape[1])] + ["label"])
    rows = [
        ",".join(['"a\nb, ""c""\n"'] * note + [repr(v) for v in row] + [str(t)])
        for row, t in zip(x.tolist(), y.tolist(), strict=True)
    ]
    return [head, *rows]


def read(path: Path, **opts: object) -> tuple[np.ndarray, np.ndarray]:
    with open_inputs(str(path), None, ReadOptions(**opts)) as inputs:  # type: ignore[arg-type]
        batches = list(inputs.batches(7919))
    return (
        np.concatenate([b.preds for b in batches]),
        np.concatenate([b.target for b in batches]),
    )


@pytest.mark.parametrize("writer", ["repr", "pyarrow"])
def test_blocks_read_every_row_in_order(tmp_path: Path, writer: str) -> None:
    """Every row, in order; also under a quoted header as pyarrow (and R) write it, which is
    still one line, with the numbers after it read in blocks."""
    x, y = table()
    path = tmp_path / "p.csv"
    if writer == "repr":
        path.write_text("\n".join(lines(x, y)) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        cols = {f"c{j}": x[:, j] for j in range(x.shape[1])}
        pacsv.write_csv(pa.table({**cols, "label": y}), path)
        assert path.read_bytes().startswith(b'"c0","c1"')
    assert path.stat().st_size > 3 * block_size(21)
    preds, target = read(path)
    np.testing.assert_array_equal(preds, x)
    np.testing.assert_array_equal(target, y)


def test_quoted_line_ends_are_never_cut(tmp_path: Path) -> None:
    """Every row holds a quoted value with line ends (and escaped quotes): a cut at any line
    end inside it would shift the fields."""
    x, y = table()
    path = tmp_path / "q.csv"
    path.write_text("\n".join(lines(x, y, note=True)) + "\n")
    assert path.stat().st_size > 3 * block_size(21)
    cols = ",".join(f"c{j}" for j in range(20))
    preds, target = read(path, logit_cols=cols, target_col="label")
    np.testing.assert_array_equal(preds, x)
    np.testing.assert_array_equal(target, y)


def _with_ids(x: np.ndarray, y: np.ndarray, ids: list[str], header_extra: str = "") -> str:
    head = ",".join(["id", *(f"c{j}{header_extra if j == 3 else ''}" for j in range(x.shape[1])), "label"])
    rows = [
        ",".join([i, *(repr(v) for v in row), str(t)])
        for i, row, t in zip(ids, x.tolist(), y.tolist(), strict=True)
    ]
    return "\n".join([head, *rows]) + "\n"


@pytest.mark.parametrize("late_quote", [500, 40_000])
def test_a_quote_inside_unquoted_fields_reads_every_row(tmp_path: Path, late_quote: int) -> None:
    """A class named ``12" pizza`` (a quote inside an unquoted header field, which pyarrow
    reads literally) and an id ``5" tv`` in a data row: counting quotes to find safe cuts
    dropped the rows before that id (a wrong loss, exit 0) or read nothing; then quoted ids
    with line ends later in the file. Every row is read, in order."""
    x, y = table()
    ids = [f"r{i}" for i in range(ROWS)]
    ids[late_quote] = '5" tv'
    ids[late_quote + 7000] = '"multi\nline, ""quoted"""'
    path = tmp_path / "q.csv"
    path.write_text(_with_ids(x, y, ids, header_extra='" pizza'))
    assert path.stat().st_size > 3 * block_size(22)
    cols = ",".join(f"c{j}" + ('" pizza' if j == 3 else "") for j in range(20))
    preds, target = read(path, logit_cols=cols, target_col="label", id_col="id")
    np.testing.assert_array_equal(preds, x)
    np.testing.assert_array_equal(target, y)


def test_ids_keep_the_first_blocks_type_in_every_block(tmp_path: Path) -> None:
    """Ids ``s0``... then zero-padded digits past the first block: a block parsed on its own
    inferred integers, so ids lost their zeros (and a Parquet -o had two schemas)."""
    x, y = table()
    ids = [f"s{i}" if i < 2000 else f"{i:09d}" for i in range(ROWS)]
    path = tmp_path / "ids.csv"
    path.write_text(_with_ids(x, y, ids))
    with open_inputs(str(path), None, ReadOptions(id_col="id")) as inputs:  # type: ignore[arg-type]
        got = [str(v) for b in inputs.batches(7919) for v in b.ids]
    assert got == ids


def test_crlf_bom_and_no_final_line_end(tmp_path: Path) -> None:
    x, y = table()
    path = tmp_path / "w.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines(x, y)).encode())
    preds, target = read(path)
    np.testing.assert_array_equal(preds, x)
    np.testing.assert_array_equal(target, y)


@pytest.mark.parametrize("bad", ["1x", "ragged"])
def test_error_rows_in_a_later_block(tmp_path: Path, bad: str) -> None:
    x, y = table()
    text = lines(x, y)
    row = ROWS - 123  # 1-based data row, blocks past the first
    cells = text[row].split(",")
    if bad == "ragged":
        cells.pop(3)
    else:
        cells[3] = bad
    text[row] = ",".join(cells)
    path = tmp_path / "e.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError) as exc:
        read(path)
    assert exc.value.row == row
    if bad != "ragged":
        assert exc.value.column == "c3" and exc.value.value == bad
    else:
        assert "ragged row: 20 fields, the header has 21" in str(exc.value)
