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


def test_blocks_read_every_row_in_order(tmp_path: Path) -> None:
    x, y = table()
    path = tmp_path / "p.csv"
    path.write_text("\n".join(lines(x, y)) + "\n")
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
