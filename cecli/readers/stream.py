"""Tables read as a stream of Arrow record batches: JSON Lines and Arrow IPC / Feather.

Both decide the roles of their columns like CSV and Parquet (:class:`TableSource`, from the
schema and the first batch) and convert batches with the same
:class:`~cecli.readers.convert.BatchConverter`; they differ only in where batches come from.

* **JSON Lines** (``.jsonl``, ``.ndjson``, ``.gz`` of them, stdin): read in blocks of whole
  lines (:data:`BLOCK` bytes), each parsed by ``pyarrow.json`` with the schema the first block
  showed (logit, weight and byte columns as float64), so memory stays near one block. A block
  that does not parse is scanned line by line with Python's ``json`` (on the error path only) to
  name the line and the field.
* **Arrow IPC** (``.arrow``, ``.feather``, ``.ipc``): the file format memory-mapped (batches are
  views of the map), or the stream format read batch by batch; stdin is read into memory.

A list column of lists (one document a row, a list of logits per token) or, with
``--input target-logprobs``, a list column of floats (one log-probability per token) is
*ragged*: each row becomes as many positions as it has tokens (:mod:`cecli.readers.ragged`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from cecli.errors import DataError, InputError, first_line
from cecli.readers._arrow import arrow
from cecli.readers.base import Part, ReadOptions, SourceInfo, check_local_file
from cecli.readers.convert import widest_float
from cecli.readers.ragged import ragged_kind, token_counts
from cecli.readers.roles import Evidence, column_kind
from cecli.readers.table import TableSource

__all__ = ["IpcSource", "JsonlSource"]

BLOCK = 1 << 20
"""Bytes of JSON Lines parsed at a time (rounded to whole lines)."""
ROW_NOTE = "rows are 1-based records (lines)"


class StreamTableSource(TableSource):
    """Base of :class:`JsonlSource` and :class:`IpcSource`: roles from the schema and the first
    batch, then batches re-cut to ``chunk_rows`` rows (or positions, for ragged rows)."""

    def _begin(self, path: str, opts: ReadOptions, fmt: str, label: str, local: bool) -> None:
        self.label = label
        self.opts = opts
        self.info = SourceInfo(path=path, format=fmt, rows=None)
        if local:
            check_local_file(path)

    def _start(
        self,
        schema: Any,
        first: Any,
        path: str,
        *,
        class_names: list[str] | None = None,
        want_target: bool = True,
        need_target: bool = True,
        aux_elsewhere: bool = False,
    ) -> None:
        """Roles from ``schema`` and the ``first`` batch (None for no rows); the flags as
        :meth:`_decide` takes them, defaulted as :class:`ParquetSource` defaults them (a
        predictions file whose target may be a column)."""
        self.schema = schema
        types = {f.name: str(f.type) for f in schema}
        evidence = Evidence(values=lambda n: _int_values(first, n), types=types)
        kinds = {f.name: column_kind(f.type) for f in schema}
        roles = self._decide(
            list(schema.names), kinds, path, evidence=evidence, want_target=want_target,
            need_target=need_target, aux_elsewhere=aux_elsewhere,
        )
        self.ragged = None
        classes: int | None = None
        dtype = np.dtype(np.float64)
        if roles.list_col is not None:
            typ = schema.field(roles.list_col).type
            self.ragged = ragged_kind(typ, self.opts.target_logprobs)
            inner = typ.value_type.value_type if self.ragged == "logits" else typ.value_type
            if column_kind(inner) != "float" and column_kind(inner) != "int":
                raise InputError(
                    f"list column of {typ.value_type}, not numbers",
                    file=path,
                    column=roles.list_col,
                    fix="store logits (or log-probabilities) as numbers",
                )
            dtype = widest_float([inner])
            classes = self._width(typ, first)
        elif roles.logits:
            dtype = widest_float([schema.field(n).type for n in roles.logits])
        target = roles.target[0] if roles.target else None
        self._setup(
            path,
            classes=classes,
            dtype=dtype,
            class_names=class_names,
            label_sample=lambda: [] if first is None else _labels(first, target),
            row_note=ROW_NOTE,
        )
        if self.ragged is not None:
            self.info.positions = True
            self.converter.ragged = self.ragged
            self.sample_shape = () if self.ragged == "logprobs" else (classes or 0,)
            if self.ragged == "logprobs":
                self.converter.classes = None

    def _width(self, typ: Any, first: Any) -> int | None:
        """The class count of a list column: fixed, or the first row's (first token's)."""
        pa = arrow()
        if pa.types.is_fixed_size_list(typ):
            return int(typ.list_size)
        if self.ragged == "logprobs":
            return 1
        if first is None or first.num_rows == 0:
            return 0
        col = first.column(self.roles.list_col)
        if self.ragged == "logits":
            col = col.flatten()
            if pa.types.is_fixed_size_list(col.type):
                return int(col.type.list_size)
        valid = col.drop_null()
        return len(valid[0].values) if len(valid) else 0

    # -- streaming -----------------------------------------------------------------------
    def _batches(self) -> Iterator[Any]:
        raise NotImplementedError

    def parts(self, chunk_rows: int) -> Iterator[Part]:
        rows = 0
        for batch in self._cut(self._batches(), chunk_rows):
            part = self.converter.convert(batch, rows)
            rows += batch.num_rows
            if part.n:
                yield part
        self.info.rows = rows if self.ragged is None else self.info.rows

    def _cut(self, batches: Iterator[Any], chunk_rows: int) -> Iterator[Any]:
        """Record batches of ``chunk_rows`` rows (ragged: rows of up to ``chunk_rows``
        positions, at least one row), the last one shorter."""
        pa = arrow()
        pending: list[Any] = []
        have = 0
        for batch in batches:
            while batch.num_rows:
                room = self._room(batch, chunk_rows - have)
                if room == 0:  # ragged: the next row alone fills the chunk
                    if pending:
                        yield _combine(pa, pending)
                        pending, have = [], 0
                        continue
                    room = 1
                if room >= batch.num_rows:
                    pending.append(batch)
                    have += self._size(batch)
                    break
                pending.append(batch.slice(0, room))
                batch = batch.slice(room)
                yield _combine(pa, pending)
                pending, have = [], 0
            if have >= chunk_rows:
                yield _combine(pa, pending)
                pending, have = [], 0
        if pending:
            yield _combine(pa, pending)

    def _size(self, batch: Any) -> int:
        if self.ragged is None:
            return int(batch.num_rows)
        return int(token_counts(batch.column(self.roles.list_col)).sum())

    def _room(self, batch: Any, room: int) -> int:
        """How many rows of ``batch`` fit in ``room`` rows or positions."""
        if self.ragged is None:
            return max(room, 0)
        sizes = np.cumsum(token_counts(batch.column(self.roles.list_col)))
        fit = int(np.searchsorted(sizes, room, side="right"))
        return fit

    def close(self) -> None:
        pass


def first_schema(path: str, fmt: str) -> Any:
    """The columns of a JSON Lines file's first block, or of an Arrow IPC file."""
    pa = arrow()
    if fmt == "arrow":
        with pa.memory_map(path, "r") as src:
            try:
                return arrow("pyarrow.ipc").open_file(src).schema
            except pa.ArrowInvalid:
                src.seek(0)
                return arrow("pyarrow.ipc").open_stream(src).schema
    pj = arrow("pyarrow.json")
    with pa.input_stream(path) as src:
        head = src.read(BLOCK)
    cut = head.rfind(b"\n")
    return pj.read_json(pa.BufferReader(head[: cut + 1] if cut >= 0 else head)).schema


def _combine(pa: Any, batches: list[Any]) -> Any:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _int_values(first: Any, name: str) -> np.ndarray[Any, Any] | None:
    if first is None or name not in first.schema.names:
        return None
    col = first.column(name)
    if col.null_count or column_kind(col.type) != "int":
        return None
    return np.asarray(col.to_numpy(zero_copy_only=False))


def _labels(first: Any, name: str | None) -> list[Any]:
    if name is None or name not in first.schema.names:
        return []
    col = first.column(name)
    if arrow().types.is_dictionary(col.type):
        col = col.dictionary_decode()
    out: list[Any] = col.drop_null().to_pylist()
    return out


# -- JSON Lines ------------------------------------------------------------------------------


class JsonlSource(StreamTableSource):
    """A JSON Lines file (one object a line), also gzip-compressed or on stdin; ``roles``:
    ``label``, ``class_names``, ``want_target``, ``need_target``, ``aux_elsewhere`` as for
    every table."""

    def __init__(
        self, path: str, opts: ReadOptions, *, stdin: IO[bytes] | None = None, **roles: Any
    ) -> None:
        self._begin(path, opts, "jsonl", roles.pop("label", "PREDS"), stdin is None)
        self._stdin = stdin
        self._used = False
        self._schema: Any = None
        blocks = self._blocks()
        head = next(blocks, None)
        first = self._parse(*head) if head is not None else None
        self._head = head
        self._rest = blocks
        if first is None:
            raise InputError("holds no JSON records", file=path, fix="one JSON object a line")
        self._start(first.schema, first, path, **roles)
        self._schema = self._fixed_schema(first.schema)

    def _fixed_schema(self, schema: Any) -> Any:
        """The first block's schema with numbers fixed to float64 where a later integer must
        not change the type (logits, log-probabilities, weights, bytes)."""
        pa = arrow()
        roles = self.roles
        fields = []
        for f in schema:
            typ = f.type
            if f.name == roles.list_col:
                item: Any = pa.float64()
                if self.ragged == "logits":
                    item = pa.list_(pa.float64())
                typ = pa.list_(item)
            elif f.name == roles.bytes and pa.types.is_list(typ):
                typ = pa.list_(pa.float64())  # one number per token (ragged rows)
            elif f.name in roles.logits or f.name in (roles.weight, roles.bytes):
                typ = pa.float64()
            elif column_kind(typ) == "null":
                continue  # no value in the first block: let pyarrow infer it per block
            fields.append(pa.field(f.name, typ))
            continue
        return pa.schema(fields)

    def _stream(self) -> Any:
        if self._stdin is not None:
            if self._used:
                raise InputError("stdin can be read once", file="-", fix="save it to a file")
            self._used = True
            return self._stdin
        pa = arrow()
        try:
            return pa.input_stream(self.info.path)  # gzip & co. detected from the extension
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot open ({exc})", file=self.info.path) from None

    def _blocks(self) -> Iterator[tuple[int, bytes]]:
        """``(first record's 1-based line, block of whole lines)``."""
        stream = self._stream()
        line, rest = 1, b""
        try:
            while True:
                try:
                    data = stream.read(BLOCK)
                except (OSError, EOFError, ValueError) as exc:
                    raise InputError(
                        f"cannot be read ({exc})", file=self.info.path, fix="check the file"
                    ) from None
                if not data:
                    if rest.strip():
                        yield line, rest + b"\n"
                    return
                buf = rest + data
                cut = buf.rfind(b"\n")
                if cut < 0:
                    rest = buf
                    continue
                block, rest = buf[: cut + 1], buf[cut + 1 :]
                if block.strip():
                    yield line, block
                line += block.count(b"\n")
        finally:
            if self._stdin is None:
                stream.close()

    def _parse(self, line: int, block: bytes) -> Any:
        pa = arrow()
        pj = arrow("pyarrow.json")
        parse = pj.ParseOptions(
            explicit_schema=self._schema,
            unexpected_field_behavior="ignore" if self._schema is not None else "infer",
        )
        try:
            table = pj.read_json(
                pa.BufferReader(block),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(block) + 1),
                parse_options=parse,
            )
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            raise self._locate(line, block, exc) from None
        return table.combine_chunks().to_batches()[0] if table.num_rows else None

    def _locate(self, line: int, block: bytes, exc: BaseException) -> Exception:
        """The first line of ``block`` that is not JSON, or whose field has the wrong type."""
        file = self.info.path
        want = self._schema
        seen: dict[str, str] = {}
        for k, raw in enumerate(block.split(b"\n")):
            if not raw.strip():
                continue
            row = line + k
            try:
                rec = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as err:
                text = getattr(err, "msg", None) or str(err)
                return InputError(
                    f"line {row}: malformed JSON ({text})",
                    file=file,
                    fix="each line must hold one JSON object",
                )
            if not isinstance(rec, dict):
                return InputError(
                    f"line {row}: a JSON {type(rec).__name__}, not an object",
                    file=file,
                    fix="each line must hold one JSON object",
                )
            if want is None:
                odd = _changed(seen, rec)
                if odd is not None:
                    name, before = odd
                    return DataError(
                        f"line {row}: field {name!r} holds {_json_type(rec[name])}, but the "
                        f"earlier lines have {before}",
                        file=file,
                        column=name,
                        value=_short(rec[name]),
                        fix="give the field one type on every line",
                    )
                continue
            for f in want:
                value = rec.get(f.name)
                if value is not None and not _fits(value, f.type):
                    return DataError(
                        f"line {row}: field {f.name!r} holds {_json_type(value)}, but the "
                        f"earlier lines have {_arrow_type(f.type)}",
                        file=file,
                        column=f.name,
                        value=_short(value),
                        fix="give the field one type on every line",
                    )
        text = first_line(exc)
        last = line + max(0, block.count(b"\n") - block.endswith(b"\n"))  # the block's last line
        return InputError(
            f"lines {line}..{last}: not readable as JSON Lines ({text})",
            file=file,
            fix="each line must hold one JSON object, each field one type on every line "
            "(e.g. 1 everywhere, not 1 in early lines and 1.0 later)",
        )

    def _batches(self) -> Iterator[Any]:
        head, rest = self._head, self._rest
        if head is None:
            blocks = self._blocks()
        else:
            self._head = None
            blocks = _chain(head, rest)
        for line, block in blocks:
            batch = self._parse(line, block)
            if batch is not None:
                yield batch


def _chain(head: tuple[int, bytes], rest: Iterator[tuple[int, bytes]]) -> Iterator[Any]:
    yield head
    yield from rest


def _fits(value: Any, typ: Any) -> bool:
    pa = arrow()
    t = pa.types
    if t.is_floating(typ) or t.is_integer(typ):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok and (t.is_floating(typ) or isinstance(value, int) or float(value).is_integer())
    if t.is_boolean(typ):
        return isinstance(value, bool)
    if t.is_string(typ) or t.is_large_string(typ):
        return isinstance(value, str)
    if t.is_list(typ) or t.is_large_list(typ) or t.is_fixed_size_list(typ):
        return isinstance(value, list) and all(v is None or _fits(v, typ.value_type) for v in value)
    return True


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        inner = next((v for v in value if v is not None and not _is_num(v)), None)
        return "a list" if inner is None else f"a list holding {_json_type(inner)}"
    return "an object"


def _changed(seen: dict[str, str], rec: dict[str, Any]) -> tuple[str, str] | None:
    """The first field of ``rec`` whose JSON type differs from the earlier lines' (``seen``
    is updated), with the type it had."""
    for name, value in rec.items():
        if value is None:
            continue
        kind = _json_type(value)
        if kind == "a list" or kind.startswith("a list holding"):
            kind = "a list"
        before = seen.setdefault(name, kind)
        if before != kind:
            return name, before.replace("a ", "", 1) + "s"
    return None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _arrow_type(typ: Any) -> str:
    pa = arrow()
    t = pa.types
    if t.is_floating(typ) or t.is_integer(typ):
        return "numbers"
    if t.is_list(typ) or t.is_large_list(typ) or t.is_fixed_size_list(typ):
        return f"lists of {_arrow_type(typ.value_type)}"
    if t.is_string(typ):
        return "strings"
    return str(typ)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- Arrow IPC / Feather -----------------------------------------------------------------------


class IpcSource(StreamTableSource):
    """An Arrow IPC file (Feather v2) memory-mapped, or an IPC stream read batch by batch
    (``data``: stdin's bytes); ``roles`` as for :class:`JsonlSource`."""

    def __init__(
        self, path: str, opts: ReadOptions, *, data: bytes | bytearray | None = None, **roles: Any
    ) -> None:
        self._begin(path, opts, "arrow", roles.pop("label", "PREDS"), data is None)
        self._data = data
        self._map: Any = None
        reader = self._reader()
        schema = reader.schema
        first = None
        if hasattr(reader, "num_record_batches"):
            self.info.rows = sum(
                reader.get_batch(i).num_rows for i in range(reader.num_record_batches)
            )
            first = next(
                (
                    reader.get_batch(i)
                    for i in range(reader.num_record_batches)
                    if reader.get_batch(i).num_rows
                ),
                None,
            )
        else:
            first = next(self._read(reader), None)
        self._start(schema, first, path, **roles)
        if self.ragged is not None:
            self.info.rows = None  # positions, counted while streaming

    def _reader(self) -> Any:
        pa = arrow()
        ipc = arrow("pyarrow.ipc")
        try:
            if self._data is not None:
                src: Any = pa.BufferReader(self._data)
            else:
                if self._map is None:
                    self._map = pa.memory_map(self.info.path, "r")
                src = self._map
                src.seek(0)
            try:
                return ipc.open_file(src)
            except pa.ArrowInvalid:
                src.seek(0) if self._data is None else None
                if self._data is not None:
                    src = pa.BufferReader(self._data)
                return ipc.open_stream(src)
        except (pa.ArrowException, OSError) as exc:
            raise _bad_ipc(self.info.path, exc) from None

    def _read(self, reader: Any) -> Iterator[Any]:
        pa = arrow()
        try:
            if hasattr(reader, "num_record_batches"):
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i)
                return
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                yield batch
        except (pa.ArrowException, OSError) as exc:
            raise _bad_ipc(self.info.path, exc) from None

    def _batches(self) -> Iterator[Any]:
        yield from self._read(self._reader())

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def _bad_ipc(path: str, exc: BaseException) -> InputError:
    text = first_line(exc)
    return InputError(
        f"not a readable Arrow IPC / Feather file ({text})",
        file=path,
        fix="the file is truncated or corrupt, or not Arrow IPC (Feather v1 is not read)",
    )

