"""Small CSV / TSV files of plain numbers, read with the standard library instead of pyarrow.

A run on a tiny file is mostly imports, and pyarrow's are ~40 ms of them (issue 15). A local,
uncompressed file of at most :data:`SMALL` bytes whose every data cell is a plain number is
read here into exactly what :class:`~cecli.readers.tabular.CsvSource` delivers for it: the
roles come from the same :meth:`TableSource._decide` on the same names, kinds and first
values, the float32 / float64 choice from the same :func:`~cecli.readers.convert.text_dtype`,
and the arrays hold the same numbers (Python's ``float`` and pyarrow's parser both round
decimal text correctly).

Only what is certain is read here; everything else returns None and takes the pyarrow path,
which also raises every error, so no message has a second spelling:

* the data: ASCII, ``\\n`` line ends (no CR, no empty line), at least one row, every row as
  many fields as the header, every cell ``-12`` (at most 18 digits: int64) or ``-1.25`` /
  ``1.5e-05`` (float64): no quotes, spaces, empty cells, NA or NaN spellings, ``inf``;
* the header: at least two names, unique, none a number (a header of numbers may be data),
  each bare or wholly quoted without a quote or delimiter inside (pyarrow's ``write_csv``
  quotes every name); a pandas index column (``""``) is fine, R's row names (one header field
  fewer than the rows) are not;
* the roles: the logits and one integer target column, no id, weight, group or byte column;
  the options: none of ``--no-header``, ``--classes``, ``--target-cols``, the id / weight /
  group / bytes columns, bce's or target log-probabilities' one-column predictions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from cecli.readers.base import Part, ReadOptions, SourceInfo, is_glob, is_uri, strip_compression
from cecli.readers.convert import float32_text, text_dtype
from cecli.readers.roles import Evidence
from cecli.readers.table import TableSource

__all__ = ["SMALL", "SmallCsvSource", "open_small"]

SMALL = 64 << 10
"""The largest file read without pyarrow (bytes)."""
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]{1,2})?|[eE][-+]?[0-9]{1,2})")
_NUMBER = re.compile(r"\s*[-+]?([0-9]*\.?[0-9]+|[0-9]+\.|inf|infinity|nan)", re.IGNORECASE)
"""A header name that may be a number: such a header may be data, which the pyarrow path
tells (broader than its test, so every header it questions goes there)."""
_UNSET = ("target_cols", "id_col", "sample_weight_col", "group_col", "bytes_col", "classes")


def open_small(
    path: str,
    fmt: str,
    opts: ReadOptions,
    *,
    want_target: bool,
    need_target: bool,
    aux_elsewhere: bool,
) -> SmallCsvSource | None:
    """PREDS read without pyarrow, or None when the file is not certainly one this module
    reads as pyarrow would (module docstring)."""
    if not _plain_options(opts) or path == "-" or is_uri(path) or is_glob(path):
        return None
    if strip_compression(path)[1] is not None:
        return None
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > SMALL:
            return None
        with open(path, "rb") as f:
            data = f.read(SMALL + 1)
    except OSError:
        return None  # the pyarrow path says why
    table = _parse(data, "\t" if fmt == "tsv" else ",")
    if table is None:
        return None
    src = SmallCsvSource(path, fmt, opts, *table)
    return src if src.start(want_target, need_target, aux_elsewhere) else None


def _plain_options(opts: ReadOptions) -> bool:
    if opts.no_header or opts.scalar_preds or opts.class_axis != 1:
        return False
    return all(getattr(opts, name) is None for name in _UNSET)


def _parse(data: bytes, sep: str) -> tuple[list[str], list[list[str]]] | None:
    """The header's names and the columns' cells, or None (module docstring)."""
    if len(data) > SMALL or not data.isascii() or b"\r" in data or b"\0" in data:
        return None
    lines = data.decode("ascii").split("\n")
    if lines[-1] == "":
        lines.pop()  # the last line's end
    if len(lines) < 2 or "" in lines:
        return None
    names = [_name(field, sep) for field in lines[0].split(sep)]
    if len(names) < 2 or len(set(names)) != len(names):
        return None
    if any(n is None or _NUMBER.match(n) for n in names):
        return None
    rows = [line.split(sep) for line in lines[1:]]
    if any(len(row) != len(names) for row in rows):
        return None
    columns = [list(cells) for cells in zip(*rows, strict=True)]
    for cells in columns:
        if not all(_INT.fullmatch(c) or _FLOAT.fullmatch(c) for c in cells):
            return None
    return [n or "" for n in names], columns


def _name(field: str, sep: str) -> str | None:
    """A header field's name: bare, or wholly quoted with no quote inside (None: neither)."""
    if len(field) >= 2 and field[0] == field[-1] == '"':
        field = field[1:-1]
    if '"' in field or sep in field or not field.isprintable():
        return None
    return field


class SmallCsvSource(TableSource):
    """A small CSV / TSV of plain numbers, parsed; :meth:`start` decides the roles."""

    def __init__(
        self, path: str, fmt: str, opts: ReadOptions, names: list[str], columns: list[list[str]]
    ) -> None:
        self.label = "PREDS"
        self.opts = opts
        self.info = SourceInfo(path=path, format=fmt, rows=None)
        self._cells = dict(zip(names, columns, strict=True))
        self._ints = {n for n, cells in self._cells.items() if all(_INT.fullmatch(c) for c in cells)}
        self._names = names
        self._rows = len(columns[0])

    def _int_values(self, name: str) -> np.ndarray[Any, Any] | None:
        """An integer column's values (the evidence of a row index), as pyarrow's int64."""
        if name not in self._ints:
            return None
        return np.array([int(c) for c in self._cells[name]], dtype=np.int64)

    def start(self, want_target: bool, need_target: bool, aux_elsewhere: bool) -> bool:
        """Decide the roles as the pyarrow path does; False when they are not logits and one
        integer target (that path reads those)."""
        names = self._names
        kinds = {n: "int" if n in self._ints else "float" for n in names}
        types = {n: "int64" if n in self._ints else "double" for n in names}
        roles = self._decide(
            names,
            kinds,
            self.info.path,
            want_target=want_target,
            need_target=need_target,
            aux_elsewhere=aux_elsewhere,
            evidence=Evidence(values=self._int_values, types=types),
        )
        simple = (
            not roles.multi_target
            and roles.list_col is None
            and (roles.id, roles.weight, roles.group, roles.bytes) == (None, None, None, None)
            and len(roles.target) == 1
            and roles.target[0] in self._ints
            and bool(roles.logits)
        )
        if not simple:
            return False
        self._preds = np.array(
            [[float(c) for c in self._cells[n]] for n in roles.logits], dtype=np.float64
        ).T.copy()  # row-major, as pyarrow's to_tensor gives it
        target = self._int_values(roles.target[0])
        assert target is not None
        self._target = target
        self._setup(
            self.info.path,
            classes=None,
            dtype=text_dtype(self._preds),
            class_names=None,
            label_sample=target.tolist,
        )
        return True

    def parts(self, chunk_rows: int) -> Iterator[Part]:
        preds, dtype = self._preds, self.dtype
        if dtype == np.float32 and not float32_text(preds).all():
            dtype = np.dtype(np.float64)  # as BatchConverter: keep values float32 cannot hold
        n = self._rows
        part = Part(n, {"preds": preds.astype(dtype), "target": self._target})
        for lo in range(0, n, chunk_rows):
            yield part.slice(lo, min(n, lo + chunk_rows))
        self.info.rows = n

