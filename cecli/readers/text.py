"""``.txt`` TARGETS: one label per line -- integers, floats or class names.

The first lines decide the kind: labels that are all class names (``--classes`` or the logit
column names) are mapped to indices; else integers are parsed as class indices, else floats are
passed on (the api decides what they mean), else the labels are names and an unknown one is an
error. CRLF line ends and a UTF-8 BOM are fine, so are blank lines at the very end; a blank line
between labels is an error naming its row. ``.gz`` files are read through :mod:`gzip`.
"""

from __future__ import annotations

import gzip
import io
import itertools
from collections.abc import Generator, Iterator
from typing import IO, Any

import numpy as np

from cecli.errors import DataError, InputError
from cecli.readers.base import Part, ReadOptions, Source, SourceInfo, check_local_file
from cecli.readers.labels import SAMPLE, LabelMap, candidate_names

__all__ = ["TxtSource"]

NOTE = "rows are 1-based line numbers"
LINE_LIMIT = 1 << 20
"""Characters read at most for one line: a label is short, and a file of one 1 GiB line must
not be read whole (2.2 GB of RSS, then a crash)."""


def _floats(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    try:
        return np.asarray(values, dtype=str).astype(np.float64)
    except (ValueError, TypeError):
        return None


class TxtSource(Source):
    """A text file of labels, one per line (the ``target`` field)."""

    def __init__(
        self,
        path: str,
        opts: ReadOptions,
        *,
        label: str = "TARGETS",
        class_names: list[str] | None = None,
        stdin: IO[bytes] | None = None,
    ) -> None:
        self.label = label
        self.info = SourceInfo(path=path, format="txt", rows=None)
        self.fields = frozenset({"target"})
        self._stdin = stdin
        if stdin is None:
            check_local_file(path)
        self._gen: Generator[str, None, None] = self._iter_lines()
        sample = list(itertools.islice(self._gen, SAMPLE))
        self._sample = sample
        if stdin is None:
            self._gen.close()
        values = np.asarray([s for s in sample if s], dtype=object)
        if not len(values):
            raise InputError("empty file", file=path, fix="write one label per line")
        self.labels: LabelMap | None = LabelMap(
            candidate_names(opts.classes, class_names), path, None, note=NOTE
        )
        self.floats = False
        assert self.labels is not None
        if (
            not any(set(values.tolist()) <= set(c) for c in self.labels.candidates)
            and _floats(values) is not None
        ):
            self.labels.decide(values)
            if not self.labels.as_ints:
                self.floats, self.labels = True, None
        else:
            self.labels.decide(values)
        if self.labels is not None and self.labels.names is not None:
            self.class_names = self.labels.names
        self._used = False

    def _open(self) -> IO[str]:
        if self._stdin is not None:
            return io.TextIOWrapper(self._stdin, encoding="utf-8-sig", newline=None)
        path = self.info.path
        try:
            if path.lower().endswith(".gz"):
                return gzip.open(path, "rt", encoding="utf-8-sig", newline=None)
            return open(path, encoding="utf-8-sig", newline=None)
        except OSError as exc:
            raise InputError(f"cannot read ({exc})", file=path) from None

    def _iter_lines(self) -> Generator[str, None, None]:
        fh = self._open()
        try:
            row = 0
            while line := fh.readline(LINE_LIMIT):  # a bounded read, whatever the file holds
                row += 1
                if len(line) >= LINE_LIMIT and not line.endswith(("\n", "\r")):
                    raise DataError(
                        f"a line longer than {LINE_LIMIT >> 20} MiB is not a label ({NOTE})",
                        file=self.info.path,
                        row=row,
                        fix="write one label per line",
                    )
                yield line.strip()
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise InputError(
                f"cannot read as UTF-8 text ({exc})",
                file=self.info.path,
                fix="labels must be UTF-8 text, one per line",
            ) from None
        finally:
            if self._stdin is None:
                fh.close()

    def parts(self, chunk_rows: int) -> Iterator[Part]:
        if self._stdin is not None:
            if self._used:
                raise InputError(
                    "stdin can only be read once", file="-", fix="save the data to a file first"
                )
            self._used = True
            lines: Iterator[str] = itertools.chain(self._sample, self._gen)
        else:
            lines = self._iter_lines()
        start = 0
        while True:
            chunk = list(itertools.islice(lines, chunk_rows))
            if not chunk:
                break
            blank = next((i for i, s in enumerate(chunk) if not s), None)
            if blank is not None:  # fine only if nothing but blanks follows
                if any(chunk[blank:]) or any(s for s in lines):
                    raise DataError(
                        f"empty line ({NOTE})",
                        file=self.info.path,
                        row=start + blank + 1,
                        fix="write one label on every line",
                    )
                chunk = chunk[:blank]
                if chunk:
                    yield Part(len(chunk), {"target": self._convert(chunk, start)})
                    start += len(chunk)
                break
            yield Part(len(chunk), {"target": self._convert(chunk, start)})
            start += len(chunk)
        self.info.rows = start

    def _convert(self, chunk: list[str], start: int) -> np.ndarray[Any, Any]:
        values = np.asarray(chunk, dtype=object)
        if self.labels is not None:
            return self.labels.map(values, start)
        out = _floats(values)
        if out is None:
            bad = next(i for i, v in enumerate(chunk) if _floats(np.asarray([v])) is None)
            raise DataError(
                f"not a number ({NOTE})",
                file=self.info.path,
                row=start + bad + 1,
                value=chunk[bad],
                fix="earlier labels were numbers; make the file consistent",
            )
        return out

    def close(self) -> None:
        pass
