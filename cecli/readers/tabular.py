"""CSV / TSV inputs (also ``.gz`` / ``.bz2`` / ``.zst``, stdin, ``s3://`` URIs), streamed.

Two passes over the head of the file, one over the rest: a *sniff* reads the first block
(~1 MiB) with type inference to learn the columns and decide their roles; the *stream* reads
the whole file again with the types fixed (logit and weight columns float64), so a value that
does not parse is an error, never a silently string-typed column. A file (local or remote,
compressed or not) is streamed in blocks of whole rows parsed on several threads
(:mod:`cecli.readers._blocks`, 2-4 MiB); a wide file of a few rows that fits in one block is
sniffed whole and not read again when the sniff's types are the stream's. Stdin, and a file
whose header line does not end in LF, go through pyarrow's streaming reader (``BLOCK``-sized
blocks, one thread). Stdin is read once: its head is kept in memory and replayed in front of
the rest (:mod:`cecli.readers._stdin`).

pyarrow's errors carry a column and a value but no row; the row is found by re-reading the
file from the failing block (only on the error path; for stdin, in a window of the last bytes
read). Rows in errors are 1-based data rows.
Logits are parsed as float64 and delivered as float32 only when the first block shows the
text was written from float32 values (see :func:`_text_dtype`) and each block's values are
all exactly float32; otherwise as float64.
"""

from __future__ import annotations

import csv as pycsv
import io
import os
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from cecli.errors import DataError, InputError
from cecli.readers._arrow import arrow
from cecli.readers._blocks import WIDE_BLOCK, Tail, block_size, line_blocks, parsed_in_order
from cecli.readers._stdin import Replay
from cecli.readers.base import (
    COMPRESSIONS,
    Part,
    ReadOptions,
    SourceInfo,
    check_local_file,
    is_glob,
    is_uri,
)
from cecli.readers.convert import text_dtype
from cecli.readers.roles import ROW_NOTE, Evidence, check_duplicates, column_kind
from cecli.readers.table import TableSource

__all__ = ["CsvSource"]

SNIFF = 1 << 20
BLOCK = 1 << 20
HEADER_LIMIT = 256 << 20
PARSE_THREADS = 4
"""Threads parsing a file's blocks (at most the CPU count): each holds about one block."""
PARALLEL_COLUMNS = 10_000
"""Up to this many columns, blocks are parsed on several threads; above it pyarrow's streaming
reader parses one block at a time (pyarrow holds ~9 KB a column per block in flight: 100k
columns in three blocks at once peaked at 3.1 GB, against 1.4 GB streamed)."""
WIDE_SNIFF = 2000
"""From this many columns on, :meth:`CsvSource._plain_numbers` types the plain numeric
columns of the first block before pyarrow reads it."""
"""The longest header line read (~2.5M columns): a longer first line is an error, so a file
without newlines is never read whole."""
_NUMBER = r"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|infinity|nan)\s*$"
_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+): "
    r"invalid value '(.*)'",
    re.S,
)
_PARSE = re.compile(r"Expected (\d+) columns?, got (\d+)")
NULLS = ["", "#N/A", "#N/A N/A", "#NA", "N/A", "NA", "NULL", "n/a", "null"]
"""Cells read as missing: pyarrow's defaults without its NaN spellings (``nan``, ``NaN``,
``-nan``, ``1.#QNAN``, ...), so a NaN logit is a number -- reported as non-finite, or let
through by ``--nonfinite propagate`` -- and never an "empty" cell."""


class CsvSource(TableSource):
    """A delimited text table; ``fmt`` is ``csv`` or ``tsv``."""

    def __init__(
        self,
        path: str,
        fmt: str,
        opts: ReadOptions,
        *,
        class_names: list[str] | None = None,
        label: str = "PREDS",
        want_target: bool = True,
        need_target: bool = True,
        aux_elsewhere: bool = False,
        stdin: IO[bytes] | None = None,
    ) -> None:
        self.label = label
        self.opts = opts
        self.info = SourceInfo(path=path, format=fmt, rows=None)
        self.delimiter = "\t" if fmt == "tsv" else ","
        self._stdin = stdin
        self._replay: Replay | None = None
        self._used = False
        self._fs: Any = None
        self._fs_path = path
        self.headerless = opts.no_header
        self._column_names: list[str] | None = None
        self._row_names = False
        """R's ``write.table`` layout: a header without a cell over the rows' first field."""
        if stdin is None:
            if is_uri(path):
                from cecli.readers.dataset import filesystem

                self._fs, self._fs_path = filesystem(path)
            else:
                if is_glob(path) and not os.path.exists(path):
                    raise InputError(
                        "globs of files are read for Parquet only",
                        file=path,
                        fix="concatenate the files (keeping one header) or convert them to Parquet",
                    )
                check_local_file(path)
        else:
            self._head = stdin.read(SNIFF)
        self._peek = b""  # the first bytes (the header, and a data row when short)
        self._lf_header = False
        """A file whose header line ends in LF (or CR LF): its blocks are cut at LFs."""
        self._rows_done = 0
        self._whole: Any = None
        """The sniffed block, when it is the whole file (:meth:`_sniffed`)."""
        self._block = self._block_size()
        schema, first = self._sniff()
        # unnamed, empty columns (trailing commas, as spreadsheets export ranges) hold nothing
        every = schema.names
        blank = {
            i for i, n in enumerate(every) if n == "" and first.column(i).null_count == first.num_rows
        }
        names = [n for i, n in enumerate(every) if i not in blank]
        check_duplicates(names, path)
        _check_utf8(schema, first, path)
        # per distinct type, not per column (100k columns hold a handful of types)
        types = schema.types
        kind_of = {t: column_kind(t) for t in set(types)}
        kinds = {
            n: kind_of[t] for i, (n, t) in enumerate(zip(every, types, strict=True)) if i not in blank
        }
        text_of = {t: str(t) for t in kind_of}
        for n, kind in kinds.items():  # a numeric column with a typo in the first block is
            if kind == "string" and _mostly_numeric(first.column(n)):  # still numeric
                kinds[n] = "float"
        self.schema = schema
        roles = self._decide(
            names,
            kinds,
            path,
            want_target=want_target,
            need_target=need_target,
            aux_elsewhere=aux_elsewhere,
            evidence=Evidence(
                values=lambda n: _first_values(first, n),
                types={n: text_of[t] for n, t in zip(every, types, strict=True)},
            ),
        )
        pa = arrow()
        self.types: dict[str, Any] = {n: pa.float64() for n in roles.logits}
        if roles.weight:
            self.types[roles.weight] = pa.float64()
        for n in roles.target:
            if roles.multi_target:
                self.types[n] = pa.float64()
            elif kinds[n] == "null":
                self.types[n] = pa.string()
        self._setup(
            path,
            classes=None,
            dtype=_text_dtype(first, roles.logits) if roles.logits else np.dtype(np.float64),
            class_names=class_names,
            label_sample=lambda: first.column(roles.target[0]).drop_null().to_pylist(),
        )

    # -- opening -------------------------------------------------------------------------
    def _open(
        self,
        sniff: bool,
        *,
        include: list[str] | None = None,
        types: dict[str, Any] | None = None,
        skip: int = 0,
        threads: bool = True,
        all_strings: bool = False,
    ) -> Any:
        pa = arrow()
        csv = arrow("pyarrow.csv")
        if self._stdin is not None:
            if sniff:
                head = self._head
                cut = head.rfind(b"\n")
                src: Any = io.BytesIO(head[: cut + 1] if cut >= 0 else head)
            else:
                if self._used:
                    raise InputError(
                        "stdin can only be read once", file="-", fix="save the data to a file first"
                    )
                self._used = True
                self._replay = Replay(self._head, self._stdin)
                src = io.BufferedReader(self._replay, 1 << 16)
        elif self._fs is not None:
            src = self._fs.open_input_stream(self._fs_path, compression="detect")
        else:
            src = self.info.path
        ropts = csv.ReadOptions(
            block_size=self._block,
            use_threads=threads,
            skip_rows=1 if self._row_names else 0,
            skip_rows_after_names=skip,
            autogenerate_column_names=self.headerless and self._column_names is None,
        )
        if (self.headerless or self._row_names) and self._column_names is not None:
            ropts.column_names = self._column_names
        popts = csv.ParseOptions(delimiter=self.delimiter)
        copts = _convert_options(include, types)
        if all_strings:
            copts.column_types = {n: pa.string() for n in (include or [])}
        return csv.open_csv(src, read_options=ropts, parse_options=popts, convert_options=copts)

    def _check_one_column(self, names: list[str]) -> None:
        """A one-column header holding another delimiter: the wrong delimiter, said before a
        data row is parsed (with decimal commas the rows would look ragged first)."""
        path = self.info.path
        if len(names) != 1 or self.label != "PREDS":
            return
        name = names[0]
        lines = self._peek.split(b"\n", 2)
        data = lines[1] if len(lines) > 1 else b""
        for sep, how in (("\t", "tab"), (";", "semicolon"), ("|", "pipe"), (",", "comma")):
            if sep != self.delimiter and sep in name:
                if sep == "\t":
                    fix = "rename it .tsv or pass --format-in tsv"
                elif sep == ",":
                    fix = "pass --format-in csv"
                elif b"," in data:  # European: decimal commas, so tr would break the numbers
                    fix = (
                        f"its numbers use decimal commas: convert it to comma-separated with "
                        f"decimal points (e.g. pandas.read_csv(f, sep='{sep}', decimal=',')"
                        ".to_csv(out, index=False))"
                    )
                else:
                    fix = f"convert it to comma-separated (e.g. tr '{sep}' ',')"
                raise InputError(
                    f"only one column: the header looks {how}-separated, not "
                    f"{'tab' if self.delimiter == chr(9) else 'comma'}-separated",
                    file=path,
                    value=name[:40],
                    fix=fix,
                )

    def _block_size(self) -> int:
        """pyarrow's block must hold the header and a few rows: 1 MiB, or four header lengths
        for a wide table (a 100k-column header is ~1 MB). Stdin's head is read that far."""
        limit = HEADER_LIMIT
        if self._stdin is not None:
            while b"\n" not in self._head[-SNIFF:] and len(self._head) < limit:
                more = self._stdin.read(SNIFF)
                if not more:
                    break
                self._head += more
            end = self._head.find(b"\n")
            header = end if end >= 0 else len(self._head)
            self._peek = self._head[: header + 4096]
            want = max(SNIFF, 4 * (header + 1))
            while len(self._head) < want:
                more = self._stdin.read(want - len(self._head))
                if not more:
                    break
                self._head += more
            return max(BLOCK, 4 * (header + 1))
        pa = arrow()
        header = 0
        try:
            with self._open_stream() as stream:
                while header < limit:
                    piece = stream.read(SNIFF)
                    if not self._peek:
                        self._peek = piece[: (1 << 16)]
                    if not piece:
                        break
                    end = piece.find(b"\n")
                    line = piece[: end if end >= 0 else len(piece)]
                    if b"\r" in line.rstrip(b"\r"):
                        break  # CR line ends: pyarrow's own reader cuts those
                    if end >= 0:
                        header += end
                        self._lf_header = _one_line_header(line, self.delimiter)
                        break
                    header += len(piece)
        except (pa.ArrowException, OSError):
            return BLOCK  # the sniff reports it
        if header >= limit:
            raise InputError(
                f"the first line is longer than {limit >> 20} MiB",
                file=self.info.path,
                fix="is it a CSV? (one header line, then one line per row)",
            )
        block = max(BLOCK, 4 * (header + 1))
        if block > BLOCK and self._one_block(WIDE_BLOCK):
            # a wide file of a few rows: sniffed whole, and the sniff is its stream (pyarrow
            # costs ~10 us a column a block: 1 s a pass at 100k columns)
            block = WIDE_BLOCK
        return block

    def _plain_numbers(self) -> dict[str, Any] | None:
        """The types pyarrow would infer for the columns of a wide file's first block that
        hold nothing but plain numbers, found in one vectorised pass instead of pyarrow's
        ~40 us of inference per column (seconds at 100k columns).

        Only certain cases are typed: unquoted rows (the header may be quoted) of as many fields
        as the header has unique names, and columns whose non-null cells are all ``-12``-style integers (int64)
        or all integers and ``-1.25`` / ``1.5e-05``-style decimals with at least one decimal
        (double). Everything else is left to pyarrow's inference, and a block that does not
        convert as typed is sniffed again by inference (:meth:`_sniff`)."""
        if self.headerless or self._row_names or self._stdin is not None:
            return None
        end = self._peek.find(b"\n")  # a narrow header, complete in the peek: nothing to do
        if end >= 0 and self._peek.count(self.delimiter.encode(), 0, end) + 1 < WIDE_SNIFF:
            return None
        pa, pc = arrow(), arrow("pyarrow.compute")
        try:
            with self._open_stream() as stream:
                data = stream.read(self._block)
            text = data[: data.rfind(b"\n") + 1].decode("utf-8")
        except (pa.ArrowException, OSError, UnicodeDecodeError):
            return None
        header, _, body = text.partition("\n")
        try:
            names = next(pycsv.reader([header.rstrip("\r").lstrip("\ufeff")], delimiter=self.delimiter))
        except (pycsv.Error, StopIteration):
            return None
        if len(names) < WIDE_SNIFF or len(set(names)) != len(names) or '"' in body:
            return None
        rows = [r for r in (line.rstrip("\r") for line in body.split("\n")) if r]
        cells = [row.split(self.delimiter) for row in rows]
        if not cells or any(len(c) != len(names) for c in cells):
            return None
        flat = pa.array([v for row in cells for v in row], pa.string())
        shape = (len(cells), len(names))

        def where(pattern: str) -> np.ndarray[Any, Any]:
            hit = pc.match_substring_regex(flat, pattern)
            return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool).reshape(shape)

        null = np.asarray(pc.is_in(flat, value_set=pa.array(NULLS)).to_numpy(zero_copy_only=False))
        null = null.astype(bool).reshape(shape)
        small = where(r"^-?(0|[1-9][0-9]{0,17})$")
        decimal = where(r"^-?(0|[1-9][0-9]*)\.[0-9]+([eE][-+]?[0-9]{1,3})?$")
        ints = (null | small).all(axis=0) & small.any(axis=0)
        doubles = (null | small | decimal).all(axis=0) & decimal.any(axis=0)
        types = {n: pa.int64() for n, ok in zip(names, ints.tolist(), strict=True) if ok}
        types.update({n: pa.float64() for n, ok in zip(names, doubles.tolist(), strict=True) if ok})
        return types

    def _sniff(self) -> tuple[Any, Any]:
        path = self.info.path
        pa = arrow()
        first_line: list[str] = []
        if not self.headerless:
            line = self._peek.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
            try:
                first_line = next(pycsv.reader([line.rstrip("\r")], delimiter=self.delimiter), [])
            except pycsv.Error:  # a stray CR or NUL: pyarrow's sniff below names the problem
                first_line = []
            self._check_one_column(first_line)
            self._row_names = _r_row_names(self._peek, first_line, self.delimiter)
            if self._row_names:  # the row names are an index named "" (as R's col.names=NA)
                self._column_names = ["", *first_line]
        types = self._plain_numbers()
        try:
            try:
                schema, first = self._first_batch(types)
            except pa.ArrowInvalid:
                if not types:
                    raise
                schema, first = self._first_batch(None)  # a cell the typing missed: infer
            names = schema.names  # decodes the header
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._translate(exc, 0) from None
        except UnicodeDecodeError as exc:
            raise InputError(
                "the header is not UTF-8 text",
                file=path,
                value=bytes(exc.object),
                fix="re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            ) from None
        if first is None:
            if not names:
                raise InputError("empty file", file=path, fix="write a header and rows")
            raise InputError(
                "header only, no data rows", file=path, fix="the file has a header row but no data"
            )
        return schema, first

    def _first_batch(self, types: dict[str, Any] | None) -> tuple[Any, Any]:
        """The schema and the first block (None when there are no rows), types inferred but
        for ``types``."""
        reader = self._open(True, types=types)
        schema = reader.schema
        if self.label == "TARGETS" and len(schema.names) == 1 and re.match(_NUMBER, schema.names[0]):
            self.headerless = True  # a bare column of labels: its first line is data
        elif not self.headerless:
            _check_header(schema.names, self.info.path)
        if self.headerless:  # columns named by position: --target-col 3 is the 4th
            self._column_names = [str(i) for i in range(len(schema.names))]
            reader = self._open(True)
            schema = reader.schema
        try:
            first = reader.read_next_batch()
        except StopIteration:
            return schema, None
        if self._one_block(self._block):
            try:
                reader.read_next_batch()
            except StopIteration:
                self._whole = first  # the stream would read this block again
            except (arrow().ArrowInvalid, OSError):
                pass  # the stream reports it
        return schema, first

    def _one_block(self, block: int) -> bool:
        """A local, uncompressed file that fits in one block of ``block`` bytes."""
        path = self.info.path
        if self._stdin is not None or self._fs is not None or path.lower().endswith(COMPRESSIONS):
            return False
        try:
            return os.path.getsize(path) <= block
        except OSError:
            return False

    def _sniffed(self) -> list[Any] | None:
        """The sniffed block when it is the whole file and holds every column the stream reads
        in the type the stream would give it (a typo in a logit column is not: the stream
        reports it)."""
        whole = self._whole
        if whole is None:
            return None
        schema = whole.schema
        types = dict(zip(schema.names, schema.types, strict=True))
        if any(types.get(name) != typ for name, typ in self.types.items()):
            return None
        return [whole]

    # -- streaming -----------------------------------------------------------------------
    def parts(self, chunk_rows: int) -> Iterator[Part]:
        start = 0
        parallel = self._lf_header and len(self.schema.names) <= PARALLEL_COLUMNS
        batches = self._sniffed() or (self._batches() if parallel else self._streamed())
        self._whole = None
        for batch in batches:
            n = batch.num_rows
            if not n:
                continue
            part = self.converter.convert(batch, start)
            for lo in range(0, n, chunk_rows):
                yield part.slice(lo, min(n, lo + chunk_rows))
            start += n
            self._rows_done = start
        self.info.rows = start

    def _include(self) -> list[str] | None:
        """The columns the stream reads; None for every column (pyarrow matches an included
        column by name in ~15 us a column)."""
        cols = self.roles.columns()
        every = len(cols) == len(self.schema.names) and set(cols) == set(self.schema.names)
        return None if every else cols

    def _streamed(self) -> Iterator[Any]:
        """The record batches of pyarrow's streaming reader (stdin, odd line ends)."""
        pa = arrow()
        try:
            reader = self._open(False, include=self._include(), types=self.types)
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._translate(exc, 0) from None
        while True:
            try:
                yield reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                raise self._translate(exc, self._rows_done) from None

    def _batches(self) -> Iterator[Any]:
        """The record batches of a file's blocks parsed on several threads
        (:mod:`cecli.readers._blocks`), in file order, with the same options as the stream;
        from the first line holding a quote on, pyarrow's streaming reader reads the rest.

        Every column read gets the type the first block showed (the logits and weight
        float64): a block parsed on its own would infer its own, and ids written ``s1`` then
        ``000123``, or targets ``1`` then ``1.0``, would change type (or lose their zeros)
        from one block to the next."""
        pa = arrow()
        csv = arrow("pyarrow.csv")
        names = list(self.schema.names)
        include = self._include()
        types = {
            n: pa.string() if pa.types.is_null(t) else t
            for n, t in zip(self.schema.names, self.schema.types, strict=True)
            if include is None or n in include
        }
        types.update(self.types)
        popts = csv.ParseOptions(delimiter=self.delimiter)
        copts = _convert_options(include, types)

        def parse(block: memoryview) -> list[Any]:
            ropts = csv.ReadOptions(
                column_names=names, use_threads=False, block_size=len(block) + 1
            )
            table = csv.read_csv(
                pa.py_buffer(block), read_options=ropts, parse_options=popts, convert_options=copts
            )
            return list(table.to_batches())

        tail: list[Tail] = []

        def quote_free(blocks: Iterator[memoryview | Tail]) -> Iterator[memoryview]:
            for block in blocks:
                if isinstance(block, Tail):
                    tail.append(block)
                    return
                yield block

        threads = max(1, min(PARSE_THREADS, os.cpu_count() or 1))
        try:
            with self._open_stream() as stream:
                size = max(block_size(len(names)), self._block)
                blocks = line_blocks(stream, size, skip_line=not self.headerless)
                for parsed in parsed_in_order(parse, quote_free(blocks), threads):
                    yield from parsed.result()
                if tail:
                    ropts = csv.ReadOptions(column_names=names, block_size=self._block)
                    rest = io.BufferedReader(_Joined(tail[0].head, stream), 1 << 16)
                    quoted = csv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True)
                    reader = csv.open_csv(
                        rest, read_options=ropts, parse_options=quoted, convert_options=copts
                    )
                    yield from reader
        except (pa.ArrowInvalid, OSError) as exc:
            raise self._translate(exc, self._rows_done) from None

    # -- errors --------------------------------------------------------------------------
    def _translate(self, exc: BaseException, rows_done: int) -> Exception:
        path = self.info.path
        text = str(exc)
        if "Empty CSV file" in text:
            return InputError("empty file", file=path, fix="write a header and rows")
        m = _CONVERSION.search(text)
        if m:
            index, typ, value = int(m.group(1)), m.group(2), m.group(3)
            column = self.names[index] if index < len(self.names) else f"#{index}"
            row = self._locate_value(column, index, value, rows_done)
            where = "" if row is not None else f" somewhere after data row {rows_done}"
            return DataError(
                f"not a number ({typ} expected{where}; {ROW_NOTE})",
                file=path,
                row=row,
                column=column,
                value=value,
                fix="fix or remove the value",
            )
        m = _PARSE.search(text)
        if m:
            expected, got = int(m.group(1)), int(m.group(2))
            row = self._locate_ragged(expected)
            return DataError(
                f"ragged row: {got} fields, the header has {expected} ({ROW_NOTE})",
                file=path,
                row=row,
                value=text.split(": ")[-1][:60],
                fix="quote fields that contain the delimiter, or fix the row",
            )
        if isinstance(exc, OSError) and not isinstance(exc, arrow().ArrowException):
            return InputError(f"cannot read ({exc})", file=path, fix="check the file")
        return InputError(
            f"malformed {self.info.format.upper()} ({text.splitlines()[0]})",
            file=path,
            fix="check the delimiter, quoting and encoding",
        )

    def _locate_value(self, column: str, index: int, value: str, rows_done: int) -> int | None:
        if self._replay is not None:
            return self._replay.find_row(
                self.delimiter,
                not self.headerless,
                rows_done,
                lambda fields: len(fields) > index and fields[index] == value,
            )
        if self._stdin is not None:
            return None
        pc = arrow("pyarrow.compute")
        try:
            reader = self._open(
                False, include=[column], skip=rows_done, threads=False, all_strings=True
            )
            row = rows_done
            for batch in reader:
                hit = pc.equal(batch.column(0), value).fill_null(False)
                mask = np.asarray(hit.to_numpy(zero_copy_only=False))
                if mask.any():
                    return row + int(np.argmax(mask)) + 1
                row += batch.num_rows
        except (arrow().ArrowInvalid, OSError):
            return None
        return None

    def _open_stream(self) -> Any:
        """The file (local or remote) as a byte stream, decompressed by its extension."""
        if self._fs is not None:
            return self._fs.open_input_stream(self._fs_path, compression="detect")
        return arrow().input_stream(self.info.path, compression="detect")

    def _locate_ragged(self, expected: int) -> int | None:
        if self._replay is not None:
            return self._replay.find_row(
                self.delimiter, not self.headerless, 0, lambda fields: len(fields) != expected
            )
        if self._stdin is not None:
            return None
        # Python's csv module, not pyarrow's invalid-row handler: pyarrow decodes the row for
        # the handler and a row with non-UTF-8 bytes would raise inside it (printed to stderr).
        pa = arrow()
        try:
            with self._open_stream() as stream:
                text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
                rows = (r for r in pycsv.reader(text, delimiter=self.delimiter) if r)
                if not self.headerless:
                    next(rows, None)
                for row, fields in enumerate(rows, 1):
                    if len(fields) != expected:
                        return row
        except (pa.ArrowException, OSError, pycsv.Error):
            return None
        return None

    def close(self) -> None:
        pass


def _one_line_header(line: bytes, delimiter: str) -> bool:
    """Whether the header is this one line, as pyarrow reads it: no quote, or quoted fields
    that close on the line (``"c0","c1"`` as pyarrow and R write them; a quote inside an
    unquoted name, ``12" pizza``, is a character). A quote left open (a name holding a line
    end) leaves the file to pyarrow's streaming reader."""
    if b'"' not in line:
        return True
    text = line.rstrip(b"\r").decode("utf-8", "replace")
    try:
        next(pycsv.reader([text], delimiter=delimiter, strict=True))
    except (pycsv.Error, StopIteration):
        return False
    return True


class _Joined(io.RawIOBase):
    """``head``, then what ``stream`` still holds, as one readable raw stream."""

    def __init__(self, head: bytes, stream: Any) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)


def _convert_options(include: list[str] | None, types: dict[str, Any] | None) -> Any:
    return arrow("pyarrow.csv").ConvertOptions(
        include_columns=include or [],
        column_types=types or {},
        strings_can_be_null=True,
        null_values=NULLS,
    )


def _r_row_names(peek: bytes, header: list[str], sep: str) -> bool:
    """Whether the first data row (complete in ``peek``) has one field more than the header:
    R's ``write.table`` with row names, which writes no header cell over them."""
    lines = peek.split(b"\n", 2)
    if not header or len(lines) < 3:
        return False
    line = lines[1].decode("utf-8", "replace").rstrip("\r")
    try:
        row = next(pycsv.reader([line], delimiter=sep), [])
    except pycsv.Error:
        return False
    # a row ending in an empty field is a trailing delimiter, not a row name before the fields
    return len(row) == len(header) + 1 and row[0] != "" and row[-1] != ""


def _check_header(names: list[str], path: str) -> None:
    """A first line of numbers, some not integers (``np.savetxt`` output), is data, not a
    header: reading it as one would lose a row and name classes by numbers. Integer names
    (``0,1,2``: pandas' default column names) are a header."""
    numbers = [n for n in names if re.match(_NUMBER, n)]
    if len(numbers) == len(names) and any(not n.strip().lstrip("+-").isdigit() for n in names):
        raise InputError(
            "the first line is numbers, not column names: the file seems to have no header",
            file=path,
            value=",".join(names[:3])[:40],
            fix="pass --no-header (every column is then a logit; --target-col N picks the "
            "label column by 0-based position, or give the labels as TARGETS)",
        )


def _first_values(first: Any, name: str) -> np.ndarray[Any, Any] | None:
    """The sniffed values of an integer column (the evidence of a row index)."""
    col = first.column(name)
    if col.null_count or column_kind(col.type) != "int":
        return None
    return np.asarray(col.to_numpy(zero_copy_only=False))


def _text_dtype(first: Any, logits: list[str]) -> np.dtype[Any]:
    """float32 when the first block shows the text was written from float32 values
    (:func:`~cecli.readers.convert.text_dtype`)."""
    values = _first_block_values(first, logits)
    if values is None:
        return np.dtype(np.float64)  # a typo: the stream reports it
    return text_dtype(values)


def _first_block_values(first: Any, logits: list[str]) -> np.ndarray[Any, Any] | None:
    """The logit columns of the first block as one ``(rows, columns)`` float64 array (nulls as
    NaN), or None when one is not numeric. One ``to_tensor`` call for the usual numeric block
    (a 100k-column block column by column costs seconds), else column by column."""
    pa = arrow()
    sub = first.select(logits)
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in sub.schema.types):
        try:
            return np.asarray(sub.to_tensor(null_to_nan=True, row_major=True), dtype=np.float64)
        except (AttributeError, TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # older pyarrow without RecordBatch.to_tensor
    pc = arrow("pyarrow.compute")
    out = np.empty((first.num_rows, len(logits)))
    for j, col in enumerate(sub.columns):
        try:
            out[:, j] = np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return out


def _check_utf8(schema: Any, first: Any, path: str) -> None:
    """pyarrow types a column with bytes that are not UTF-8 as ``binary``; such a column would
    otherwise be dropped from the logits (not numeric) without a word."""
    pa = arrow()
    if not any(pa.types.is_binary(t) for t in set(schema.types)):
        return
    for f in schema:
        if not pa.types.is_binary(f.type):
            continue
        row, value = None, None
        for i, v in enumerate(first.column(f.name).to_pylist()):
            if v is None:
                continue
            try:
                v.decode("utf-8")
            except UnicodeDecodeError:
                row, value = i + 1, v
                break
        raise InputError(
            f"not UTF-8 text ({ROW_NOTE})",
            file=path,
            row=row,
            column=f.name,
            value=value,
            fix="re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        )


def _mostly_numeric(col: Any) -> bool:
    """At least half of the non-empty values of a string column look like numbers."""
    pc = arrow("pyarrow.compute")
    values = col.drop_null()
    if len(values) == 0:
        return False
    hits = pc.sum(pc.match_substring_regex(values, _NUMBER, ignore_case=True)).as_py() or 0
    return bool(hits * 2 >= len(values))


def read_stdin() -> IO[bytes]:
    """The binary stdin."""
    return sys.stdin.buffer
