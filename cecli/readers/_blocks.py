"""A CSV file cut into blocks of whole rows, parsed on several threads, in file order.

pyarrow's streaming CSV reader parses one block at a time on one thread (``use_threads``
gives it no parallel parse), and ``read_csv`` parses in parallel but holds the whole table.
Here the file is read sequentially and cut at line ends into :data:`BLOCK`-sized blocks;
each block is parsed by ``pyarrow.csv.read_csv`` on its own (the header's names given, the
types declared) on a small thread pool, and the results come back in file order with at most
a few blocks in flight, so memory stays bounded by the block size, not the file size.

A cut is made only in text without a ``"``: where a quote appears (a quoted value may hold a
line end or a delimiter, and pyarrow reads a quote inside an unquoted field literally), the
blocks stop at the line before it and the rest of the file goes to pyarrow's streaming reader
(:class:`Tail`), which reads quoting as it always has.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["BLOCK", "WIDE_BLOCK", "Tail", "block_size", "line_blocks", "parsed_in_order"]

BLOCK = 2 << 20
"""Bytes a block, at least. A block costs pyarrow a setup per column, so a wide table gets
larger blocks (:func:`block_size`); each block in flight holds about three times its size (the
text, the parsed columns, the stacked logits)."""
WIDE_BLOCK = 4 << 20
"""Bytes a block of 1000 or more columns: ~10% less CPU than 2 MiB at 1000 columns; 8 or 16
MiB measured slower again (cache)."""
BOM = b"\xef\xbb\xbf"

R = TypeVar("R")


def block_size(columns: int) -> int:
    """The block size for a table of ``columns`` columns: about 4 KiB a column, within
    [:data:`BLOCK`, :data:`WIDE_BLOCK`]."""
    return min(WIDE_BLOCK, max(BLOCK, columns << 12))


class Tail:
    """The rest of the file from a line start on (``head``, then what the stream still holds),
    for pyarrow's streaming reader: it holds a quote."""

    __slots__ = ("head",)

    def __init__(self, head: bytes) -> None:
        self.head = head


def line_blocks(stream: Any, size: int, *, skip_line: bool) -> Iterator[memoryview | Tail]:
    """The bytes of ``stream`` in blocks of about ``size`` bytes, each ending at a line end
    (the last one as the file ends), then a :class:`Tail` if a ``"`` appears; ``skip_line``:
    drop the header line (and blank lines before it: the caller has checked the header holds
    no quote). A UTF-8 BOM is dropped. Each block is read into its own buffer (no copy but the
    few bytes of a line carried over)."""
    rest = stream.read(size)
    if rest.startswith(BOM):
        rest = rest[len(BOM) :]
    while skip_line:  # a header may be longer than a block
        end = _header_end(rest)
        if end is not None:
            rest = rest[end:]
            break
        more = stream.read(size)
        if not more:
            return
        rest += more
    while True:
        buf = bytearray(len(rest) + size)
        buf[: len(rest)] = rest
        got = stream.readinto(memoryview(buf)[len(rest) :])
        have = len(rest) + got
        quote = buf.find(b'"', 0, have)  # memchr
        if quote >= 0:
            cut = buf.rfind(b"\n", 0, quote) + 1
            if cut:
                yield memoryview(buf)[:cut]
            yield Tail(bytes(buf[cut:have]))
            return
        if not got:
            if rest:
                yield memoryview(buf)[: len(rest)]
            return
        cut = buf.rfind(b"\n", 0, have) + 1
        if cut:
            yield memoryview(buf)[:cut]
        rest = bytes(buf[cut:have])


def _header_end(data: bytes) -> int | None:
    """Where the data rows begin: past the blank lines and the header line; None when ``data``
    does not hold them all."""
    end = 0
    while True:
        start = end
        end = data.find(b"\n", end) + 1
        if not end:
            return None
        if data[start:end] in (b"\n", b"\r\n"):
            continue
        return end


def parsed_in_order(
    parse: Callable[[memoryview], R], blocks: Iterator[memoryview], threads: int
) -> Iterator[Future[R]]:
    """``parse`` of each block on ``threads`` threads, as futures in block order, with at most
    ``threads + 1`` blocks in flight (the caller takes each result before asking for the
    next). Leaving early cancels the blocks not started."""
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cecli-csv") as pool:
        try:
            for block in blocks:
                pending.append(pool.submit(parse, block))
                if len(pending) > threads:
                    yield pending.popleft()
            while pending:
                yield pending.popleft()
        finally:
            for f in pending:
                f.cancel()
