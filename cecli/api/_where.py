"""Where an error found in the arrays is, in the terms of the file it came from.

The array layers (core, accumulate) know no files: they number rows from 0 along the stream and
mark an error about the targets with ``about="target"``. Readers number the rows of tables from
1 and say so. :func:`locate` gives a kernel's error the file it concerns (TARGETS for a bad
label in a separate TARGETS file, else PREDS), the target column, and the row as that file
numbers it -- so one file's errors never count rows two ways.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ..errors import CecliError
from ..readers import Inputs, SourceInfo

__all__ = ["locate", "located", "shown_row"]

_TABLE_NOTE = "rows are 1-based data rows, the header not counted"
_NOTES = {
    "csv": _TABLE_NOTE,
    "tsv": _TABLE_NOTE,
    "txt": "rows are 1-based line numbers",
    "jsonl": "rows are 1-based records (lines)",
    "arrow": "rows are 1-based records",
}
_ARRAY_NOTE = "rows are 0-based indices"


def shown_row(row: int, info: SourceInfo) -> tuple[int, str]:
    """A 0-based stream row as ``info``'s file numbers it, and the note that says how."""
    if info.positions:
        return row + 1, "a 1-based token position, counted over the rows' token lists in order"
    if info.format in _NOTES:
        return row + 1, _NOTES[info.format]
    if info.format == "parquet":
        if os.path.isfile(info.path) or info.path == "-":
            return row + 1, "rows are 1-based within the file"
        return row + 1, "rows are 1-based, counted over the dataset's files in path order"
    return row, _ARRAY_NOTE


def locate(exc: CecliError, inputs: Inputs) -> CecliError:
    """``exc`` naming the input it concerns and its row in that input's numbering.

    An error that already names a file (a reader's) is returned as it is; one without a row
    only gets the file (PREDS, or TARGETS for an error about the targets).
    """
    if exc.file is not None:
        return exc
    info = inputs.preds_info
    column = exc.column
    if exc.about == "target":
        if inputs.target_info is not None:
            info = inputs.target_info
        if info.format in ("csv", "tsv", "parquet", "jsonl", "arrow"):
            column = column or inputs.target_name
    if exc.row is None and column == exc.column:
        return exc.with_file(info.path)
    what, row = exc.what, exc.row
    if row is not None:
        row, note = shown_row(row, info)
        what = f"{what} ({note})"
    return type(exc)(
        what, file=info.path, row=row, column=column, value=exc.value, fix=exc.fix,
        about=exc.about,
    )


@contextlib.contextmanager
def located(
    inputs: Inputs, keep: tuple[type[CecliError], ...] = ()
) -> Iterator[None]:
    """Raise the errors of the block as :func:`locate` names them (``keep``: error types that
    are about the run, not the inputs, raised as they are)."""
    try:
        yield
    except keep:
        raise
    except CecliError as exc:
        raise locate(exc, inputs) from None
