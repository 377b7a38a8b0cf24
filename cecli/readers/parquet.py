"""Parquet inputs: a file, a directory, a glob, a hive-partitioned dataset, an ``s3://`` URI.

The files of a directory or glob are read in a fixed documented order: **sorted by path**.
Every footer is read when the source opens, :data:`FOOTER_THREADS` at a time (row counts,
schemas: each file must have the columns the first one has, with the same logit columns); an
object store's footer costs one GET (the listing gave the size). A source pickles with its
footers, so another process of a plan reads none again. Then the files are streamed one at a
time with ``ParquetFile(pre_buffer=False, buffer_size=256 KiB).iter_batches``: buffered page
reads keep memory near one batch plus arrow's per-column page buffers, even for a huge row
group (measured: a 160 MB single-row-group list column streams at ~85 MB over baseline). Wide
tables pay those buffers per column (~2-3 MB each for 64 float64 columns), so for many classes
a ``list`` / ``fixed_size_list`` column is the economical layout. An object store's file whose
row groups are small (:data:`PRE_BUFFER_BYTES`) is pre-buffered instead: a row group's columns
in one request, not one request per column and page. Hive partition keys are
ordinary columns (e.g. ``--group-col doc``), never logits. Errors name the file of the dataset
and the 1-based row inside it.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from cecli.errors import DataError, InputError, first_line
from cecli.readers._arrow import arrow
from cecli.readers._rows import RowCursor, row_group_starts
from cecli.readers.base import (
    Part,
    ReadOptions,
    SourceInfo,
)
from cecli.readers.convert import widest_float
from cecli.readers.dataset import hive_keys, list_parquet_sized
from cecli.readers.labels import SAMPLE
from cecli.readers.roles import Evidence, column_kind, pandas_index_columns, resolve_roles
from cecli.readers.table import TableSource

__all__ = ["ParquetSource"]

BUFFER = 1 << 18
ROW_NOTE = "rows are 1-based within the file"
FOOTER_THREADS = 16
"""Footers read at once when a source opens (an object store answers each in milliseconds)."""
PRE_BUFFER_BYTES = 64 << 20
"""An object store's file whose row groups are all at most this big is read a row group's
columns per request (``pre_buffer``), not one request per column and page."""
LIST_READ_BYTES = 1 << 20
"""At most this many bytes of a list column's logits per pyarrow batch (a chunk is combined
from several). pyarrow's nested-column reader keeps its repetition and definition levels (two
int16 per value) and values buffers between batches, ~3x the batch, and the allocator keeps
more: with a 16 MiB chunk read in one batch a 4 GB list column peaked at 316 MB in ``cecli
ce``, read 1 MiB at a time at 248 MB (2 workers). Wide tables keep whole chunks: their
per-batch cost is per column, and small batches only make them slower."""


class ParquetSource(TableSource):
    """One Parquet file or a dataset of them, streamed file by file in path order."""

    def __init__(
        self,
        path: str,
        opts: ReadOptions,
        *,
        label: str = "PREDS",
        want_target: bool = True,
        need_target: bool = True,
        aux_elsewhere: bool = False,
        class_names: list[str] | None = None,
        data: bytes | bytearray | None = None,
    ) -> None:
        pa = arrow()
        self.label = label
        self.opts = opts
        self.info = SourceInfo(path=path, format="parquet", rows=None)
        self.width_from: str | None = None
        """The file whose first row gave a list column's class count."""
        self.sizes: list[int] | None = None
        """Each file's size, when the listing gave it (an object store's)."""
        self.cwd = ""
        """The folder relative local names are opened from, in another process of a plan."""
        if data is not None:
            self.fs, self.files, root = None, ["-"], None
            self._data: Any = pa.py_buffer(data)
        else:
            self.fs, self.files, root, self.sizes = list_parquet_sized(path)
            self._data = None
        self.seekable = data is None  # stdin cannot be read again elsewhere
        if not self.files:
            raise InputError(
                "no Parquet files found",
                file=path,
                fix="check the directory or glob (files end in .parquet/.pq)",
            )
        self.part_schema: Any
        self.part_keys, self.part_schema = (
            hive_keys(self.fs, self.files, root)
            if root is not None and data is None
            else ([{} for _ in self.files], None)
        )
        self.metas = self._footers()
        schemas = [self._schema(i) for i in range(len(self.files))]
        first = schemas[0]
        kinds = {f.name: column_kind(f.type) for f in first}
        part_names = list(self.part_schema.names) if self.part_schema is not None else []
        roles = self._decide(
            list(first.names),
            kinds,
            self.files[0] if len(self.files) > 1 else path,
            want_target=want_target,
            need_target=need_target,
            aux_elsewhere=aux_elsewhere,
            exclude=part_names,
            evidence=Evidence(
                index_columns=pandas_index_columns(first.metadata),
                values=self._int_values,
                types={f.name: str(f.type) for f in first},
            ),
        )
        self._check_files(schemas, kinds, part_names)
        self.info.rows = sum(m.num_rows for m in self.metas)
        self.row_groups = sum(m.num_row_groups for m in self.metas)
        classes: int | None = None
        dtype = np.dtype(np.float64)
        if roles.logits:
            if roles.list_col is not None:
                types = [s.field(roles.list_col).type for s in schemas]
                self._check_list_types(types)
                dtype = widest_float([t.value_type for t in types])
                if pa.types.is_fixed_size_list(types[0]):
                    classes = types[0].list_size
                else:
                    classes = self._peek_width()
            else:
                dtype = widest_float([s.field(n).type for s in schemas for n in roles.logits])
        self._setup(
            path,
            classes=classes,
            dtype=dtype,
            class_names=class_names,
            label_sample=self._label_sample,
            row_note=ROW_NOTE,
        )
        self.converter.classes_from = self.width_from

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its footers (another process of a plan reads no footer again), and
        the folder its relative local names mean."""
        state = self.__dict__.copy()
        state["cwd"] = os.getcwd()
        return state

    # -- opening -------------------------------------------------------------------------
    def _open(self, i: int) -> Any:
        pq = arrow("pyarrow.parquet")
        pa = arrow()
        name = self.files[i]
        try:
            if self._data is not None:
                return pq.ParquetFile(pa.BufferReader(self._data), pre_buffer=False)
            meta = self.metas[i] if hasattr(self, "metas") else None
            return pq.ParquetFile(
                os.path.join(self.cwd, name) if self.fs is None else name,
                filesystem=self.fs,
                metadata=meta,
                pre_buffer=self.fs is not None and meta is not None and _small_groups(meta),
                buffer_size=BUFFER,
            )
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise _bad_file(self._display(i), exc) from None

    def _footers(self) -> list[Any]:
        """Every file's footer, read :data:`FOOTER_THREADS` at a time (the first unreadable
        file in path order is the error)."""
        n = len(self.files)
        if n == 1:
            return [self._meta(0)]
        arrow("pyarrow.parquet")  # imported once, before threads race to import them
        if self.sizes is not None:
            arrow("pyarrow.dataset")
        pool = ThreadPoolExecutor(min(FOOTER_THREADS, n), thread_name_prefix="cecli-footer")
        try:
            return list(pool.map(self._meta, range(n)))
        finally:
            pool.shutdown(cancel_futures=True)

    def _display(self, i: int) -> str:
        name = self.files[i]
        if self._data is not None:
            return self.info.path
        if self.fs is not None and "://" in self.info.path:
            return self.info.path.split("://", 1)[0] + "://" + name
        return name

    def _meta(self, i: int) -> Any:
        if self.sizes is not None:  # an object store's file of known size: one GET, no HEAD
            ds = arrow("pyarrow.dataset")
            pa = arrow()
            try:
                fragment = ds.ParquetFileFormat().make_fragment(
                    self.files[i], filesystem=self.fs, file_size=self.sizes[i]
                )
                return fragment.metadata
            except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
                raise _bad_file(self._display(i), exc) from None
        pf = self._open(i)
        try:
            return pf.metadata
        finally:
            pf.close()

    def _schema(self, i: int) -> Any:
        try:
            schema = self.metas[i].schema.to_arrow_schema()
        except (arrow().ArrowException, UnicodeDecodeError) as exc:
            raise _bad_file(self._display(i), exc) from None
        for name, value in self.part_keys[i].items():
            if name not in schema.names:
                schema = schema.append(self.part_schema.field(name))
            del value
        return schema

    @staticmethod
    def _field(schema: Any, name: str) -> Any:
        return schema.field(name)

    def _check_files(
        self, schemas: list[Any], kinds: dict[str, str], part_names: list[str]
    ) -> None:
        need = self.roles.columns()
        first = self._display(0)
        for i, schema in enumerate(schemas[1:], 1):
            name = self._display(i)
            if self.roles.list_col is None and not self.opts.logit_cols:
                # first, so a file with fewer classes is named as such (not a missing column)
                other = resolve_roles(
                    schema.names,
                    {f.name: column_kind(f.type) for f in schema},
                    self.opts,
                    name,
                    is_targets_file=self.label == "TARGETS",
                    want_target=False,
                    need_target=False,
                    aux_elsewhere=True,
                    exclude=part_names,
                    evidence=Evidence(  # the first file's index is every file's
                        index_columns=frozenset(self.roles.excluded)
                        | pandas_index_columns(schema.metadata),
                        types={f.name: str(f.type) for f in schema},
                    ),
                )
                mine, theirs = self.roles.logits, other.logits
                if theirs != mine:
                    if len(theirs) != len(mine):
                        what = (
                            f"class-count mismatch: {len(theirs)} logit columns, but {first} "
                            f"has {len(mine)}"
                        )
                    else:
                        odd = next(n for n, m in zip(theirs, mine, strict=True) if n != m)
                        what = f"logit column {odd!r} is not among those of {first}"
                    raise DataError(
                        what,
                        file=name,
                        fix="all files need the same logit columns (or pass --logit-cols)",
                    )
            missing = [c for c in need if c not in schema.names]
            if missing:
                raise InputError(
                    f"lacks column {missing[0]!r} that {first} has",
                    file=name,
                    column=missing[0],
                    fix="all files of a dataset need the same columns",
                )

    def _check_list_types(self, types: list[Any]) -> None:
        pa = arrow()
        col = self.roles.list_col
        for i, typ in enumerate(types):
            if column_kind(typ.value_type) != "float":
                raise InputError(
                    f"list column of {typ.value_type}, not floats",
                    file=self._display(i),
                    column=col,
                    fix="store logits as float16/32/64",
                )
            fixed = pa.types.is_fixed_size_list(typ) and pa.types.is_fixed_size_list(types[0])
            if fixed and typ.list_size != types[0].list_size:
                raise DataError(
                    f"class-count mismatch: {typ.list_size} values per row, but "
                    f"{self._display(0)} has {types[0].list_size}",
                    file=self._display(i),
                    column=col,
                    fix="all files need the same classes",
                )

    def _peek_width(self) -> int:
        col = self.roles.list_col or ""
        for i, meta in enumerate(self.metas):
            if meta.num_rows:
                arr = self._first(i, col, 1)
                if arr.null_count:
                    return 0
                self.width_from = self._display(i)
                return len(arr[0].values)
        return 0

    def _first(self, i: int, column: str, rows: int) -> Any:
        """The first ``rows`` values of ``column`` in file ``i`` (which has rows)."""
        pf = self._open(i)
        try:
            batch = next(pf.iter_batches(batch_size=rows, columns=[column]), None)
        except (arrow().ArrowException, OSError, UnicodeDecodeError) as exc:
            raise _bad_file(self._display(i), exc) from None
        finally:
            pf.close()
        if batch is None:  # the footer promises rows the row groups do not hold
            raise _bad_file(self._display(i), ValueError("the footer's row count is wrong"))
        return batch.column(0)

    def _label_sample(self) -> list[Any]:
        """The first labels of the (text) target column."""
        col = self.roles.target[0]
        for i, meta in enumerate(self.metas):
            if not meta.num_rows:
                continue
            if col in self.part_keys[i]:
                return [self.part_keys[i][col]]
            values = self._first(i, col, SAMPLE)
            if arrow().types.is_dictionary(values.type):
                values = values.dictionary_decode()
            out: list[Any] = values.drop_null().to_pylist()
            return out
        return []

    def _int_values(self, name: str) -> np.ndarray[Any, Any] | None:
        """The first values of an integer column of the first file with rows (the evidence of
        a row index)."""
        for i, meta in enumerate(self.metas):
            if not meta.num_rows or name in self.part_keys[i]:
                continue
            values = self._first(i, name, min(SAMPLE, meta.num_rows))
            if values.null_count or column_kind(values.type) != "int":
                return None
            return np.asarray(values.to_numpy(zero_copy_only=False))
        return None

    # -- streaming -----------------------------------------------------------------------
    # The chunk grid: each file in path order, cut into ranges of ``chunk_rows`` rows from its
    # first row (a chunk never spans two files, whatever the row groups). ``parts`` streams it;
    # ``read`` serves any of its chunks on its own (another process's share of a plan).
    def parts(self, chunk_rows: int) -> Iterator[Part]:
        for i, meta in enumerate(self.metas):
            n = meta.num_rows
            if not n:
                continue
            cursor = self._cursor(i, chunk_rows)
            try:
                for lo in range(0, n, chunk_rows):
                    yield self._piece(i, cursor, lo, min(n, lo + chunk_rows))
            finally:
                cursor.close()

    def grid(self, chunk_rows: int) -> list[tuple[int, int, Any]]:
        out: list[tuple[int, int, Any]] = []
        off = 0
        for i, meta in enumerate(self.metas):
            n = meta.num_rows
            starts = row_group_starts(meta)
            for lo in range(0, n, chunk_rows):
                unit = (i, bisect.bisect_right(starts, lo) - 1)  # the row group lo is in
                out.append((off + lo, off + min(n, lo + chunk_rows), unit))
            off += n
        return out

    def read(self, spans: Sequence[tuple[int, int]]) -> Iterator[Part]:
        starts = [0]
        for meta in self.metas:
            starts.append(starts[-1] + meta.num_rows)
        cursors: dict[int, RowCursor] = {}
        try:
            for lo, hi in spans:
                pieces, row = [], lo
                while row < hi:  # a span of TARGETS may cover the end of one file and the next
                    i = bisect.bisect_right(starts, row) - 1
                    if i >= len(self.metas):
                        raise InputError(
                            f"has {starts[-1]} rows, fewer than planned ({hi})",
                            file=self.info.path,
                            fix="give every process the same files",
                        )
                    for j in [j for j in cursors if j < i]:
                        cursors.pop(j).close()
                    if i not in cursors:
                        cursors[i] = self._cursor(i, hi - lo)
                    end = min(hi, starts[i + 1])
                    pieces.append(self._piece(i, cursors[i], row - starts[i], end - starts[i]))
                    row = end
                if len(pieces) == 1:
                    yield pieces[0]
                else:
                    keys = pieces[0].arrays.keys()
                    yield Part(
                        hi - lo, {k: np.concatenate([p.arrays[k] for p in pieces]) for k in keys}
                    )
        finally:
            for cursor in cursors.values():
                cursor.close()

    def _cursor(self, i: int, batch_rows: int) -> RowCursor:
        keys = self.part_keys[i]
        columns = [c for c in self.roles.columns() if c not in keys]
        if self.roles.list_col is not None:  # see LIST_READ_BYTES
            row_bytes = max(1, math.prod(self.sample_shape)) * self.dtype.itemsize
            batch_rows = min(batch_rows, max(1, LIST_READ_BYTES // row_bytes))
        return RowCursor(
            lambda: self._open(i), self.metas[i], columns, batch_rows, self._display(i)
        )

    def _piece(self, i: int, cursor: RowCursor, lo: int, hi: int) -> Part:
        """Rows ``lo:hi`` of file ``i`` converted (errors name that file and its row)."""
        pa = arrow()
        self.converter.file = self._display(i)
        if self.labels is not None:
            self.labels.file = self.converter.file
        try:
            batch = cursor.take(lo, hi)
            keys = self.part_keys[i]
            if keys:
                batch = self._with_keys(batch, keys)
            return self.converter.convert(batch, lo)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise _bad_file(self._display(i), exc) from None

    def _with_keys(self, batch: Any, keys: dict[str, Any]) -> Any:
        pa = arrow()
        arrays = list(batch.columns)
        names = list(batch.schema.names)
        for key, value in keys.items():
            typ = self.part_schema.field(key).type
            arrays.append(pa.repeat(pa.scalar(value, type=typ), batch.num_rows))
            names.append(key)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def close(self) -> None:
        pass


def _small_groups(meta: Any) -> bool:
    return all(
        meta.row_group(g).total_byte_size <= PRE_BUFFER_BYTES for g in range(meta.num_row_groups)
    )


def _bad_file(name: str, exc: BaseException) -> InputError:
    text = first_line(exc)
    return InputError(
        f"not a readable Parquet file ({text})",
        file=name,
        fix="the file is truncated or corrupt; re-create it",
    )
