"""Streamed per-sample files: ``.npy`` arrays and CSV / TSV / Parquet tables."""

from __future__ import annotations

import abc
import contextlib
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import OutputError
from ._paths import check_report, output_format
from ._place import AtomicFile, SpooledStdout, write_text

_NPY_HEADER = 256  # bytes reserved for the NPY header, rewritten with the final shape



def _conform(table: Any, schema: Any) -> Any:
    """``table`` cast to the file's ``schema``: an id column empty in this batch (null type),
    or integer ids where the first batch had text, becomes the file's type; a change that
    cannot be cast is an error naming the column."""
    import pyarrow as pa

    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for f, g in zip(table.schema, schema, strict=True):
            if f.type != g.type:
                raise OutputError(
                    f"column {f.name!r} holds {f.type} values here, {g.type} in the rows before",
                    fix="write -o as .csv, or give the column one type throughout",
                ) from None
        raise

class _Output(abc.ABC):
    """What the writers share: OS errors turned into an aborted output and one
    :class:`OutputError`, and ``commit`` = prepare, publish, finalize."""

    @abc.abstractmethod
    def _atomic(self) -> AtomicFile | SpooledStdout: ...

    @abc.abstractmethod
    def prepare(self, shape: tuple[int, ...] | None = None) -> None: ...

    @abc.abstractmethod
    def publish(self) -> None: ...

    @abc.abstractmethod
    def finalize(self) -> None: ...

    @abc.abstractmethod
    def abort(self) -> None: ...

    def _guarded(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``; an OS error (disk full, file too large) aborts the output and becomes an
        :class:`OutputError` naming it."""
        try:
            return fn(*args)
        except OutputError:
            raise
        except OSError as exc:
            self.abort()
            raise self._atomic().failed(exc) from None

    def commit(self, shape: tuple[int, ...] | None = None) -> None:
        self.prepare(shape)
        self.publish()
        self.finalize()


class ArrayWriter(_Output):
    """An ``.npy`` array of rows ``(N, *row_shape)`` streamed without knowing N up front."""

    def __init__(
        self, path: str, row_shape: tuple[int, ...], dtype: Any, force: bool = False
    ) -> None:
        self.atomic = AtomicFile(path, force)
        self.row_shape = row_shape
        self.dtype = np.dtype(dtype)
        self.rows = 0
        try:
            self.fh = open(self.atomic.tmp, "r+b")  # noqa: SIM115 - closed in commit/abort
        except OSError as exc:
            raise self.atomic.failed(exc) from None
        self._guarded(self.fh.write, b"\0" * _NPY_HEADER)

    def _atomic(self) -> AtomicFile:
        return self.atomic

    def write(self, rows: np.ndarray) -> None:
        a = np.ascontiguousarray(rows, dtype=self.dtype)
        self._guarded(self.fh.write, a.tobytes())  # tobytes: one copy of a chunk, not the file
        self.rows += a.shape[0]

    def prepare(self, shape: tuple[int, ...] | None = None) -> None:
        """Write the header (``shape``: the array's, default ``(rows, *row_shape)``) and close
        the file: every write error happens here, before anything is published."""
        if self.fh.closed:
            return
        shape = shape if shape is not None else (self.rows, *self.row_shape)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": shape}
        text = repr(header).encode("latin1")
        pad = _NPY_HEADER - 10 - len(text) - 1
        if pad < 0:  # pragma: no cover - only for absurd shapes
            self.abort()
            raise OutputError("shape too long for the NPY header", file=self.atomic.path)

        def finish() -> None:
            self.fh.seek(0)
            self.fh.write(b"\x93NUMPY\x01\x00" + (_NPY_HEADER - 10).to_bytes(2, "little"))
            self.fh.write(text + b" " * pad + b"\n")
            self.fh.close()

        self._guarded(finish)

    def publish(self) -> None:
        self.prepare()
        self.atomic.publish()

    def finalize(self) -> None:
        self.atomic.finalize()

    def abort(self) -> None:
        with contextlib.suppress(OSError):  # flushing the buffer may fail again (disk full)
            self.fh.close()
        self.atomic.abort()


_NEEDS_QUOTES = {",": re.compile('[,"\r\n]'), "\t": re.compile('[\t"\r\n]')}


def _quoted(fields: list[str], sep: str) -> list[str]:
    """RFC 4180: a field holding ``sep``, a double quote, CR or LF goes in double quotes, with
    its quotes doubled (what Python's csv writer does in its default dialect)."""
    needs = _NEEDS_QUOTES[sep].search
    return ['"' + f.replace('"', '""') + '"' if needs(f) else f for f in fields]


class TableWriter(_Output):
    """Rows of named columns to CSV, TSV, JSON Lines or Parquet (or, for ``.npy``, the ``loss``
    column in the targets' shape); ``path`` ``-`` is stdout, in the text format ``fmt``."""

    def __init__(
        self,
        path: str,
        row_shape: tuple[int, ...] = (),
        dtype: Any = np.float64,
        force: bool = False,
        fmt: str | None = None,
    ) -> None:
        self.path = path
        self.fmt = output_format(path, fmt)
        self.row_shape = row_shape
        self.arrays: ArrayWriter | None = None
        self.atomic: AtomicFile | SpooledStdout | None = None
        self._pq: Any = None
        self._fh: Any = None
        self._header_done = False
        if path == "-":
            self.atomic = SpooledStdout()
        elif self.fmt == "npy":
            self.arrays = ArrayWriter(path, row_shape, dtype, force)
        else:
            self.atomic = AtomicFile(path, force)

    @property
    def revocable(self) -> bool:
        """Whether a publish can be taken back (not for rows printed on stdout)."""
        return self._atomic().revocable

    def write(self, columns: dict[str, np.ndarray]) -> None:
        """Append rows; ``columns`` maps names to equal-length 1-D arrays (``loss`` required)."""
        if self.arrays is not None:
            loss = columns["loss"]
            self.arrays.write(loss.reshape((-1, *self.row_shape)))
            return
        self.write_columns(columns)

    def write_columns(self, columns: dict[str, np.ndarray]) -> None:
        """Append rows of arbitrary named columns (CSV, TSV, JSON Lines or Parquet only)."""
        if self.fmt == "parquet":
            self._guarded(self._write_parquet, columns)
        elif self.fmt == "jsonl":
            self._guarded(self._write_jsonl, columns)
        else:
            self._guarded(self._write_text, columns, "," if self.fmt == "csv" else "\t")

    def _write_text(self, columns: dict[str, np.ndarray], sep: str) -> None:
        assert self.atomic is not None
        if self._fh is None:
            self._fh = open(self.atomic.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        if not self._header_done:
            names = _quoted([str(k) for k in columns], sep)
            self._fh.write((sep.join(names) if names != [""] else '""') + "\n")
            self._header_done = True
        cols = [_text_column(v, sep) for v in columns.values()]
        if cols and len(cols[0]):
            if len(cols) == 1:  # a lone empty field is written "", so the row is not blank
                cols[0] = [f or '""' for f in cols[0]]
            self._fh.write("\n".join(sep.join(row) for row in zip(*cols, strict=True)) + "\n")

    def _write_jsonl(self, columns: dict[str, np.ndarray]) -> None:
        import json  # only for JSON Lines (~2 ms of every run's start-up otherwise)

        assert self.atomic is not None
        if self._fh is None:
            self._fh = open(self.atomic.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        keys = [json.dumps(str(k)) + ": " for k in columns]
        cols = [_json_column(v) for v in columns.values()]
        if cols and len(cols[0]):
            rows = ("{" + ", ".join(k + f for k, f in zip(keys, row, strict=True)) + "}"
                    for row in zip(*cols, strict=True))
            self._fh.write("\n".join(rows) + "\n")

    def _write_parquet(self, columns: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.atomic is not None
        table = pa.table({k: pa.array(v) for k, v in columns.items()})
        if self._pq is None:
            # a column of nothing but missing values (ids empty in the first batch) is text,
            # not pyarrow's null type, which no later batch holding values would match
            schema = pa.schema(
                [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            )
            self._pq = pq.ParquetWriter(self.atomic.tmp, schema)
        schema = self._pq.schema
        if not table.schema.equals(schema):
            table = _conform(table, schema)
        self._pq.write_table(table)

    def prepare(self, shape: tuple[int, ...] | None = None) -> None:
        """Finish and close the file (``shape``: an ``.npy``'s final shape): every write error
        happens here, before anything is published."""
        if self.arrays is not None:
            self.arrays.prepare(shape)
            return

        def close() -> None:
            if self._pq is not None:
                self._pq.close()
            if self._fh is not None:
                self._fh.close()

        self._guarded(close)

    def publish(self) -> None:
        """Move the prepared file into place (see :meth:`AtomicFile.publish`)."""
        self.prepare()
        self._atomic().publish()

    def finalize(self) -> None:
        self._atomic().finalize()

    def _atomic(self) -> AtomicFile | SpooledStdout:
        if self.arrays is not None:
            return self.arrays.atomic
        assert self.atomic is not None
        return self.atomic

    def abort(self) -> None:
        if self.arrays is not None:
            self.arrays.abort()
            return
        assert self.atomic is not None
        for handle in (self._pq, self._fh):  # closing may fail again (disk full): no matter
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
        self.atomic.abort()


def _text_column(v: np.ndarray, sep: str) -> list[str]:
    # repr() of a Python float is the shortest text that reads back exactly (nan, inf, -inf too).
    if v.dtype.kind == "f":
        return [repr(x) for x in v.tolist()]
    if v.dtype.kind in "biu":  # digits and a sign: never quoted
        return [str(x) for x in v.tolist()]
    return _quoted(["" if x is None else str(x) for x in v.tolist()], sep)


def write_report(path: str, text: str, inputs: Sequence[str] = ()) -> None:
    """A report file (``--junit``), written whole to a temporary beside ``path`` and renamed
    over it: a reader never sees half a report, and a report of an earlier run is replaced (as
    pytest's ``--junitxml`` does). The path is checked (:func:`check_report`) first; check it
    before a run too, so a long run does not end on a bad path."""
    check_report(path, inputs)
    write_text(path, text, force=True)


def _json_column(v: np.ndarray) -> list[str]:
    # JSON values: floats at full precision (NaN / inf as null, as in every JSON cecli writes),
    # integers as they are, anything else a string (a null as null).
    import json

    if v.dtype.kind == "f":
        return [repr(x) if math.isfinite(x) else "null" for x in v.tolist()]
    if v.dtype.kind in "biu":
        return [str(x) for x in v.tolist()]
    return ["null" if x is None else json.dumps(str(x), ensure_ascii=False) for x in v.tolist()]


def commit_together(outputs: Sequence[ArrayWriter | TableWriter]) -> None:
    """Commit the outputs of one run together: all of them appear, or none does. Each is
    prepared (closed; a write error, e.g. a full disk, happens here), then each is published;
    if one fails, those published before it are taken back (a file one replaced with ``force``
    is put back) and the rest aborted. Prepare an ``.npy`` with its shape first if it needs
    one."""
    # what cannot be taken back (rows printed on stdout) is published last
    outputs = sorted(outputs, key=lambda w: not getattr(w, "revocable", True))
    try:
        for w in outputs:
            w.prepare()
        for w in outputs:
            w.publish()
    except BaseException:
        for w in outputs:
            w.abort()
        raise
    for w in outputs:
        w.finalize()
