"""CSV / TSV on stdin: the sniffed head replayed in front of the rest, and error rows found.

pyarrow's conversion and parse errors carry no row. For a file the row is found by reading the
file again; stdin cannot be read again, so :class:`Replay` keeps the last :data:`WINDOW` bytes
it handed to pyarrow, with the count of line ends before them, and :meth:`Replay.find_row`
searches that window (pyarrow reads ahead by a few blocks only, so the failing block is there).
Rows count data lines from 1 after the header (a quoted field spanning lines would shift them).
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Callable
from typing import IO, Any

__all__ = ["WINDOW", "Replay"]

WINDOW = 16 << 20


class Replay(io.RawIOBase):
    """``head`` then the rest of ``stream``, remembering the last :data:`WINDOW` bytes."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head = memoryview(head)
        self.stream = stream
        self.window: deque[bytes] = deque()
        self.window_bytes = 0
        self.lines_before = 0  # line ends in the bytes that left the window
        self.dropped = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self.head.nbytes:
            data = bytes(self.head[: len(buf)])
            self.head = self.head[len(data) :]
        else:
            data = self.stream.read(len(buf))
        buf[: len(data)] = data
        self._remember(data)
        return len(data)

    def _remember(self, data: bytes) -> None:
        if not data:
            return
        self.window.append(data)
        self.window_bytes += len(data)
        while self.window_bytes - len(self.window[0]) >= WINDOW:
            old = self.window.popleft()
            self.window_bytes -= len(old)
            self.lines_before += old.count(b"\n")
            self.dropped = True

    def find_row(
        self, delimiter: str, header: bool, after: int, bad: Callable[[list[str]], bool]
    ) -> int | None:
        """The first data row after row ``after`` whose fields satisfy ``bad``, if in the window."""
        text = b"".join(self.window)
        line = self.lines_before + 1  # 1-based physical line at the window's start
        if self.dropped:  # the window starts inside a line: skip to the next one
            cut = text.find(b"\n")
            if cut < 0:
                return None
            text, line = text[cut + 1 :], line + 1
        first_data_line = 2 if header else 1
        for raw in text.split(b"\n"):
            row = line - first_data_line + 1
            line += 1
            if row <= after:
                continue
            try:
                fields = next(
                    csv.reader([raw.decode("utf-8-sig").rstrip("\r")], delimiter=delimiter)
                )
            except (StopIteration, UnicodeDecodeError, csv.Error):
                continue
            if bad(fields):
                return row
        return None
