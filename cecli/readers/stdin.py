"""Stdin: its format sniffed from its first bytes, read through a reader that can be stopped.

``-`` as PREDS or TARGETS is sniffed (unless ``--format-in`` / ``--targets-format`` says):
NPY (``\\x93NUMPY``), Parquet (``PAR1``), NPZ (a zip, ``PK\\x03\\x04``), Arrow IPC (``ARROW1``, or
a stream's ``\\xff\\xff\\xff\\xff``), gzip (``\\x1f\\x8b``, decompressed, then sniffed again) or
text. Text whose first line opens a JSON object (``{``) is JSON Lines. Text is CSV -- TSV when its first line has tabs and
no commas -- and, for TARGETS, one label per line (``.txt``) when its first line has no
delimiter and is not a target column's name (``label``, ``--target-col``...).

Every read of stdin goes through :class:`Feed`: it waits for data with ``select`` in short
slices, so a read blocked on a stalled producer can be stopped. pyarrow reads CSV stdin from
its own I/O thread, through Python; a process ending (an error, Ctrl-C, SIGTERM) while that
thread sat in a blocking ``read`` aborted in the interpreter's shutdown (``Fatal Python error:
PyGILState_Release``). :func:`stop_all` -- registered with :mod:`atexit` -- ends such reads
first. On a terminal or a real file descriptor the reads are ``os.read`` on the descriptor;
an in-memory stdin (typer's test runner) is read as it is.
"""

from __future__ import annotations

import atexit
import gzip
import io
import os
import select
import sys
import threading
import time
import zlib
from typing import IO, Any

from cecli.errors import InputError
from cecli.readers.base import TARGET_NAMES, ReadOptions

__all__ = ["Feed", "read_all", "sniff_stdin", "stdin_stream", "stop_all"]

MAGIC = (
    (b"\x93NUMPY", "npy"),
    (b"PAR1", "parquet"),
    (b"PK\x03\x04", "npz"),
    (b"PK\x05\x06", "npz"),  # an empty zip
    (b"ARROW1", "arrow"),  # the Arrow IPC file format (Feather v2)
    (b"\xff\xff\xff\xff", "arrow"),  # the Arrow IPC stream format's first message
)
GZIP = b"\x1f\x8b"
LINE_LIMIT = 1 << 20
"""Bytes read at most to find the first line of text (beyond it the text is taken as CSV)."""
POLL = 0.05
"""Seconds a read waits for data before looking whether it was stopped."""
GRACE = 0.05
"""Seconds given at exit to a foreign thread that was reading stdin, to return to pyarrow."""

_feeds: list[Feed] = []
_current: tuple[Any, str | None, IO[bytes]] | None = None
"""``(stdin's buffer, sniffed format, stream)``: stdin is sniffed once (per stdin object)."""


class Feed(io.RawIOBase):
    """``head`` then the rest of ``source`` (a file descriptor, or a file object), stoppable."""

    def __init__(self, head: bytes, fd: int | None, source: Any = None) -> None:
        self.head = memoryview(head)
        self.fd = fd
        self.source = source
        self.stopped = False
        self.foreign = False
        """Read by a thread Python did not start (pyarrow's I/O thread)."""
        self._inside = 0
        self._cond = threading.Condition()
        if fd is not None:
            _feeds.append(self)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        if self.head.nbytes:
            n = min(len(view), self.head.nbytes)
            view[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        if self.fd is None:
            read = getattr(self.source, "read1", None) or self.source.read
            try:
                data = read(len(view))
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # a gzip stream, undone
                raise InputError(
                    f"stdin is a truncated or corrupt gzip stream ({exc})",
                    file="-",
                    fix="check how it was compressed (gzip -t)",
                ) from None
            view[: len(data)] = data
            return len(data)
        with self._cond:
            self._inside += 1
            self.foreign = self.foreign or threading.current_thread() is not threading.main_thread()
        try:
            while not self.stopped:
                ready, _, _ = select.select([self.fd], [], [], POLL)
                if ready:
                    return os.readv(self.fd, [view])
            return 0
        finally:
            with self._cond:
                self._inside -= 1
                self._cond.notify_all()

    def read_rest(self) -> bytes | bytearray:
        """Everything left, in one buffer grown in place (held once: a 4 GB NPY piped in
        must not need 8 GB)."""
        if self.fd is None:
            rest: bytes = self.source.read()
            return bytes(self.head) + rest if self.head.nbytes else rest
        out = bytearray(self.head)
        self.head = memoryview(b"")
        while True:
            chunk = self.read(1 << 20)
            if not chunk:
                return out
            out += chunk

    def stop(self, wait: float = 1.0) -> None:
        """End every read now and later (they return end-of-file); wait for the ones under
        way to leave (a thread that is not Python's own must not be inside Python at exit)."""
        self.stopped = True
        with self._cond:
            self._cond.wait_for(lambda: self._inside == 0, timeout=wait)


def stop_all() -> None:
    """Stop every stdin read still waiting (at exit)."""
    for feed in _feeds:
        feed.stop()
    if any(feed.foreign for feed in _feeds):
        # the foreign thread has left Python code but must still take the GIL once to return
        # to pyarrow and wind down; give it the GIL for a moment before the interpreter ends
        time.sleep(GRACE)


atexit.register(stop_all)


def _key() -> Any:
    """What identifies this stdin (a test may swap ``sys.stdin`` or its ``buffer``)."""
    return getattr(sys.stdin, "buffer", sys.stdin)


def _raw_stdin() -> tuple[int | None, Any]:
    """The descriptor of stdin when it has one, else the file object (a test runner's)."""
    if sys.stdin is None:
        raise InputError("stdin is closed", file="-", fix="pipe a file in")
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    if os.name == "nt":  # select() takes sockets only there: plain blocking reads
        return None, stream
    try:
        return stream.fileno(), None
    except (AttributeError, OSError, ValueError):
        return None, stream


def _take(feed: Feed, want: int, until: bytes | None = None) -> bytes:
    """Read from ``feed`` until ``want`` bytes, end of file or (if given) ``until`` is seen."""
    got = bytearray()
    while len(got) < want:
        chunk = feed.read(min(1 << 16, want - len(got)))
        if not chunk:
            break
        got += chunk
        if until is not None and until in chunk:
            break
    return bytes(got)


def _open_raw() -> Feed:
    fd, source = _raw_stdin()
    return Feed(b"", fd, None) if fd is not None else Feed(b"", None, source)


def _text_format(first_line: bytes, role: str, opts: ReadOptions) -> str:
    line = first_line.split(b"\n", 1)[0].rstrip(b"\r").lstrip(b"\xef\xbb\xbf")
    if line.lstrip().startswith(b"{"):
        return "jsonl"
    if b"\t" in line and b"," not in line:
        return "tsv"
    if role != "target" or b"," in line or not line:
        return "csv"
    name = line.decode("utf-8", "replace").strip().strip('"')
    if name in TARGET_NAMES or name == opts.target_col:
        return "csv"  # a single column with its header
    return "txt"


def sniff_stdin(role: str, opts: ReadOptions, asked: str | None = None) -> str:
    """The format of stdin for ``role`` (``"preds"`` or ``"target"``): ``asked`` if given,
    else sniffed; the stream stays readable from its first byte (:func:`stdin_stream`)."""
    global _current
    if _current is not None and _current[0] is _key():
        return asked or _current[1] or "csv"
    feed = _open_raw()
    head = _take(feed, 8)
    fmt: str | None = None
    if head.startswith(GZIP):
        inner = gzip.GzipFile(fileobj=io.BufferedReader(Feed(head, feed.fd, feed.source)))
        feed = Feed(b"", None, inner)
        head = _take(feed, 8)
    for magic, name in MAGIC:
        if head.startswith(magic):
            fmt = name
    if fmt is None:
        if b"\n" not in head:
            head += _take(feed, LINE_LIMIT, b"\n")
        fmt = _text_format(head, role, opts)
    rest = Feed(head, feed.fd, feed.source)
    stream: Any = rest if fmt in ("npy", "npz", "parquet", "arrow") else io.BufferedReader(rest, 1 << 16)
    _current = (_key(), fmt, stream)
    return asked or fmt


def stdin_stream() -> IO[bytes]:
    """Stdin from its first byte (after :func:`sniff_stdin`), gzip already undone."""
    global _current
    if _current is None or _current[0] is not _key():
        feed = _open_raw()
        _current = (_key(), None, io.BufferedReader(feed, 1 << 16))
    return _current[2]


def read_all(fmt: str) -> bytes | bytearray:
    """All of stdin, for the binary formats (read into memory first, once)."""
    stream = stdin_stream()
    data = stream.read_rest() if isinstance(stream, Feed) else stream.read()
    if not data:
        raise InputError("stdin is empty", file="-", fix=f"pipe a {fmt.upper()} file in")
    return data
