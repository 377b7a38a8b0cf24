"""Exact row ranges of one Parquet file, streamed: the reading half of a chunk plan.

A :class:`RowCursor` serves increasing ranges ``lo:hi`` of a file as single Arrow record batches
of exactly those rows, whatever the row groups and whatever batch sizes pyarrow delivers. It
starts reading at the row group that holds the first row asked for (rows before it are never
read), streams ``iter_batches`` from there and keeps at most one chunk plus one batch. A range
that one batch delivers exactly is passed on as is (no copy); otherwise the covering batches are
sliced and combined.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from cecli.errors import InputError
from cecli.readers._arrow import arrow

__all__ = ["RowCursor", "row_group_starts"]


def row_group_starts(meta: Any) -> list[int]:
    """The first row of each row group of a file's metadata, then the file's row count."""
    starts = [0]
    for g in range(meta.num_row_groups):
        starts.append(starts[-1] + meta.row_group(g).num_rows)
    return starts


class RowCursor:
    """Serves increasing row ranges of one Parquet file (see the module docstring)."""

    def __init__(
        self,
        open_file: Callable[[], Any],
        meta: Any,
        columns: list[str],
        batch_rows: int,
        name: str,
    ) -> None:
        self._open_file = open_file
        self.starts = row_group_starts(meta)
        self.columns = columns
        self.batch_rows = max(1, batch_rows)
        self.name = name
        self.pf: Any = None
        self.it: Any = None
        self.pos = 0  # the row of the first buffered batch
        self.buf: list[Any] = []

    def _seek(self, row: int) -> None:
        self.close()
        groups = len(self.starts) - 1
        g = max(0, min(groups - 1, bisect.bisect_right(self.starts, row) - 1))
        self.pf = self._open_file()
        self.it = self.pf.iter_batches(
            batch_size=self.batch_rows,
            row_groups=list(range(g, groups)),
            columns=self.columns,
            use_threads=True,
        )
        self.pos = self.starts[g]
        self.buf = []

    def _drop_before(self, lo: int) -> None:
        while self.buf and self.pos + self.buf[0].num_rows <= lo:
            self.pos += self.buf.pop(0).num_rows

    def take(self, lo: int, hi: int) -> Any:
        """Rows ``lo:hi`` (``hi > lo``) as one record batch; ranges asked in increasing order
        stream on, an earlier one re-opens the file at its row group."""
        if self.it is None or lo < self.pos:
            self._seek(lo)
        self._drop_before(lo)
        have = sum(b.num_rows for b in self.buf)
        while self.pos + have < hi:
            batch = next(self.it, None)
            if batch is None:
                raise InputError(
                    f"has {self.pos + have} rows, fewer than its footer says ({hi} or more)",
                    file=self.name,
                    fix="the file is truncated or changed while being read; re-create it",
                )
            if batch.num_rows:
                self.buf.append(batch)
                have += batch.num_rows
            self._drop_before(lo)
            have = sum(b.num_rows for b in self.buf)
        off = lo - self.pos
        first = self.buf[0]
        if off == 0 and first.num_rows == hi - lo:
            self.buf.pop(0)
            self.pos = hi
            return first
        table = arrow().Table.from_batches(self.buf)
        piece = table.slice(off, hi - lo).combine_chunks()
        self.buf = [b for b in table.slice(hi - self.pos).to_batches() if b.num_rows]
        self.pos = hi
        return piece.to_batches()[0]

    def close(self) -> None:
        if self.pf is not None:
            self.pf.close()
        self.pf = self.it = None
        self.buf = []
