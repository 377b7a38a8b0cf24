"""Per-sample outputs, chunk by chunk, to a temporary file moved into place on success.

A failed or interrupted run never leaves a partial file and never clobbers an existing one: the
data goes to ``.NAME.cecli-XXXX.tmp`` in the output's folder and is moved to ``NAME`` only by
:meth:`TableWriter.commit`. Without ``force`` that move never replaces a file: it is a
``renameat2(RENAME_NOREPLACE)`` (or a hard link, or a name reserved with ``O_EXCL``), so an
output someone else created while cecli ran is kept and the run fails with :class:`OutputError`;
with ``force`` it is an atomic replace. A write that fails (disk full, file too large) is an
:class:`OutputError` naming the file and the reason, and leaves no temporary file behind.

Outputs and inputs are compared by identity (device and inode, symlinks followed, so hard links
and other spellings of a path count), not by their text. CSV / TSV fields holding the delimiter,
a double quote, a carriage return or a newline are quoted RFC 4180 style (in double quotes, a
quote doubled), as Python's :mod:`csv` writer does in its default dialect (with
``delimiter="\t"`` for TSV); lines end with ``\n``. pyarrow is imported only for Parquet.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote

import numpy as np

from .errors import OutputError, UsageError

OUTPUT_FORMATS = {".npy": "npy", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_NPY_HEADER = 256  # bytes reserved for the NPY header, rewritten with the final shape


def output_format(path: str) -> str:
    low = path.lower()
    for ext, fmt in OUTPUT_FORMATS.items():
        if low.endswith(ext):
            return fmt
    raise UsageError(
        f"cannot tell the output format of {path!r}",
        fix="name the output .npy, .csv, .tsv or .parquet",
    )


def _local_candidates(src: str) -> list[str]:
    """The local paths an input argument may name: itself, or a ``file://`` URI's path (as the
    readers take it, and %-decoded); nothing for stdin or a remote URI."""
    if not src or src == "-":
        return []
    if src.startswith("file://"):
        rest = src[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        return list(dict.fromkeys([rest, unquote(rest)]))
    if "://" in src:
        return []
    return [src]


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file: the same device and inode when both exist (symlinks
    followed, hard links included), else the same resolved path."""
    ia, ib = _identity(a), _identity(b)
    if ia is not None and ib is not None:
        return ia == ib
    return os.path.realpath(a) == os.path.realpath(b)


def _is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _reads_into(cand: str, path: str) -> bool:
    """Whether input ``cand`` (a local folder or glob) would read a file written at ``path``."""
    if os.path.isdir(cand):
        return os.path.realpath(path).startswith(os.path.realpath(cand).rstrip(os.sep) + os.sep)
    if _is_glob(cand) and not os.path.exists(cand):
        return PurePath(os.path.realpath(path)).match(os.path.realpath(cand)) or PurePath(
            os.path.abspath(path)
        ).match(os.path.abspath(cand))
    return False


def _input_holding(path: str, inputs: Sequence[str]) -> str | None:
    """The input argument that is ``path`` (in any spelling), or whose folder or glob would read
    a Parquet file written at ``path``; None if there is none."""
    parquet = path.lower().endswith((".parquet", ".pq"))
    for src in inputs:
        for cand in _local_candidates(src):
            if same_file(cand, path) or (parquet and _reads_into(cand, path)):
                return src
    return None


def check_output(path: str, inputs: Sequence[str], force: bool) -> None:
    """Refuse an output that is one of the inputs (however spelled: another relative path, a
    ``file://`` URI, a symlink, a hard link; or a Parquet file inside an input folder or glob),
    exists without ``force``, or has no folder."""
    if _input_holding(path, inputs) is not None:
        raise OutputError(
            "the output is one of the inputs", file=path, fix="write to another file"
        )
    if os.path.isdir(path):
        raise OutputError("the output is a directory", file=path, fix="name a file")
    if os.path.lexists(path) and not force:
        raise OutputError("the output exists", file=path, fix="pass --force to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"the output's folder {folder} does not exist", file=path)


def check_distinct(outputs: Sequence[tuple[str, str | None]]) -> None:
    """Refuse two outputs of one run that name the same file (``-o x.npy --grad-output
    ./x.npy``): one would silently replace the other. ``outputs`` are ``(option, path)``."""
    given = [(opt, p) for opt, p in outputs if p]
    for i, (opt_a, a) in enumerate(given):
        for opt_b, b in given[i + 1 :]:
            if same_file(a, b):
                raise UsageError(
                    f"{opt_b} and {opt_a} name the same file", value=b, fix="name two files"
                )


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; set back at once
    os.umask(mask)
    return mask


def _reason(exc: BaseException) -> str:
    """The OS's words for a failed write (``No space left on device``), pyarrow's otherwise."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code:
        return os.strerror(code)
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- moving a finished temporary into place without replacing what is there --------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_renameat2_fn: Any = None
_renameat2_looked = False


def _renameat2_func() -> Any:
    global _renameat2_fn, _renameat2_looked
    if not _renameat2_looked:
        _renameat2_looked = True
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                fn = ctypes.CDLL(None, use_errno=True).renameat2
            except (AttributeError, OSError):  # glibc < 2.28, or another libc
                fn = None
            if fn is not None:
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                               ctypes.c_uint]
                fn.restype = ctypes.c_int
            _renameat2_fn = fn
    return _renameat2_fn


_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


def _renameat2(src: str, dst: str, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where the system or filesystem lacks it, an
    ``OSError`` (``FileExistsError`` for an existing ``dst`` with NOREPLACE) if it fails."""
    fn = _renameat2_func()
    if fn is None:
        return False
    import ctypes

    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), dst)


def move_noreplace(src: str, dst: str) -> None:
    """Move ``src`` (a file or a folder) to ``dst`` atomically, never replacing an existing
    ``dst``: raises ``FileExistsError`` if there is one (``src`` is then left where it is)."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    if os.path.isdir(src) and not os.path.islink(src):
        os.mkdir(dst)  # reserve the name (EEXIST if taken); a rename replaces an empty folder
        try:
            os.rename(src, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rmdir(dst)
            raise
        return
    try:
        os.link(src, dst, follow_symlinks=False)  # EEXIST if taken: a link never replaces
    except FileExistsError:
        raise
    except OSError as exc:  # no hard links here (some network / FUSE / FAT filesystems)
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV,
                             errno.EMLINK, errno.ENOSYS):
            raise
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # reserve the name
        os.close(fd)
        try:
            os.replace(src, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(dst)
            raise
        return
    os.unlink(src)


def _appeared(path: str) -> OutputError:
    return OutputError(
        "the output was created by someone else while cecli ran; it was left as it is",
        file=path,
        fix="pass --force to replace it, or write to another file",
    )


class AtomicFile:
    """A temporary file beside ``path``, moved into place in two steps so that several outputs
    of one run appear together or not at all: :meth:`publish` moves it to ``path`` (replacing
    an existing file only with ``force``, and keeping the replaced one aside), :meth:`finalize`
    drops what was kept; :meth:`abort` before :meth:`finalize` undoes a publish. :meth:`commit`
    is both steps at once."""

    def __init__(self, path: str, force: bool = False) -> None:
        self.path = path
        self.force = force
        folder = os.path.dirname(os.path.abspath(path)) or "."
        base = os.path.basename(path)
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.cecli-", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise OutputError(f"cannot write there ({exc.strerror})", file=path) from None
        try:  # mkstemp makes the file private (0600); the output gets the usual umask'd mode
            os.fchmod(fd, 0o666 & ~_umask())
        finally:
            os.close(fd)
        self.done = False
        self.published = False
        self._placed: tuple[int, ...] | None = None  # the published file's identity
        self._kept: str | None = None  # the replaced output, until finalize
        self._swapped = False  # _kept holds it by a RENAME_EXCHANGE (else a hard link)

    def publish(self) -> None:
        """Move the temporary file to ``path``; an :class:`OutputError` (the temporary removed)
        if ``path`` appeared meanwhile without ``force``, or the move fails."""
        try:
            if not self.force:
                move_noreplace(self.tmp, self.path)
            elif _is_file_or_link(self.path) and _renameat2(
                self.tmp, self.path, _RENAME_EXCHANGE
            ):  # never a folder: it would be swapped out, then have to be deleted
                self._kept, self._swapped = self.tmp, True
            else:
                if os.path.lexists(self.path):
                    keep = self.tmp[: -len(".tmp")] + ".old"
                    try:
                        os.link(self.path, keep, follow_symlinks=False)
                        self._kept = keep
                    except OSError:  # no hard links here: replaced without a way back
                        self._kept = None
                try:
                    os.replace(self.tmp, self.path)
                except BaseException:
                    self._drop_kept()
                    raise
        except OSError as exc:
            self.abort()
            if isinstance(exc, FileExistsError) and not self.force:
                raise _appeared(self.path) from None
            raise OutputError(f"cannot write the output ({_reason(exc)})", file=self.path) from None
        self.published = True
        self._placed = _identity_nofollow(self.path)

    def finalize(self) -> None:
        """Forget the replaced output: the publish stands."""
        self._drop_kept()
        self.done = True

    def commit(self) -> None:
        self.publish()
        self.finalize()

    def abort(self) -> None:
        """Remove the temporary file; after :meth:`publish` (and before :meth:`finalize`), take
        the published file back and put a replaced output back in place."""
        if self.done:
            return
        self.done = True
        if not self.published:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            return
        with contextlib.suppress(OSError):
            if self._kept is not None and self._swapped:
                _renameat2(self._kept, self.path, _RENAME_EXCHANGE)
                os.unlink(self._kept)
            elif self._kept is not None:
                os.replace(self._kept, self.path)
            elif _identity_nofollow(self.path) == self._placed:  # still ours: take it back
                os.unlink(self.path)
        self._kept = None

    def _drop_kept(self) -> None:
        if self._kept is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._kept)
            self._kept = None

    def failed(self, exc: BaseException) -> OutputError:
        """A write to the temporary failed (disk full, file too large): remove it, and the error
        to raise, naming the output and the OS's reason."""
        self.abort()
        return OutputError(f"cannot write the output ({_reason(exc)})", file=self.path)


def _is_file_or_link(path: str) -> bool:
    try:
        return not stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _identity_nofollow(path: str) -> tuple[int, ...] | None:
    """What tells the published file from one put there since (an inode number can be reused
    at once, so its size and times too)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def commit_together(outputs: Sequence[ArrayWriter | TableWriter]) -> None:
    """Commit the outputs of one run together: all of them appear, or none does. Each is
    prepared (closed; a write error, e.g. a full disk, happens here), then each is published;
    if one fails, those published before it are taken back (a file one replaced with ``force``
    is put back) and the rest aborted. Prepare an ``.npy`` with its shape first if it needs
    one."""
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


class ArrayWriter:
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

    def _guarded(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``; an OS error (disk full, file too large) aborts the output and becomes an
        :class:`OutputError` naming it."""
        try:
            return fn(*args)
        except OutputError:
            raise
        except OSError as exc:
            self.abort()
            raise self.atomic.failed(exc) from None

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

    def commit(self, shape: tuple[int, ...] | None = None) -> None:
        self.prepare(shape)
        self.publish()
        self.finalize()

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


class TableWriter:
    """Rows of named columns to CSV, TSV or Parquet (or, for ``.npy``, the ``loss`` column in
    the targets' shape)."""

    def __init__(
        self,
        path: str,
        row_shape: tuple[int, ...] = (),
        dtype: Any = np.float64,
        force: bool = False,
    ) -> None:
        self.path = path
        self.fmt = output_format(path)
        self.row_shape = row_shape
        self.arrays: ArrayWriter | None = None
        self.atomic: AtomicFile | None = None
        self._pq: Any = None
        self._fh: Any = None
        self._header_done = False
        if self.fmt == "npy":
            self.arrays = ArrayWriter(path, row_shape, dtype, force)
        else:
            self.atomic = AtomicFile(path, force)

    def _guarded(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``; an OS error (disk full, file too large) aborts the output and becomes an
        :class:`OutputError` naming it."""
        assert self.atomic is not None
        try:
            return fn(*args)
        except OutputError:
            raise
        except OSError as exc:
            self.abort()
            raise self.atomic.failed(exc) from None

    def write(self, columns: dict[str, np.ndarray]) -> None:
        """Append rows; ``columns`` maps names to equal-length 1-D arrays (``loss`` required)."""
        if self.arrays is not None:
            loss = columns["loss"]
            self.arrays.write(loss.reshape((-1, *self.row_shape)))
            return
        self.write_columns(columns)

    def write_columns(self, columns: dict[str, np.ndarray]) -> None:
        """Append rows of arbitrary named columns (CSV, TSV or Parquet only)."""
        if self.fmt == "parquet":
            self._guarded(self._write_parquet, columns)
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

    def _write_parquet(self, columns: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.atomic is not None
        table = pa.table({k: pa.array(v) for k, v in columns.items()})
        if self._pq is None:
            self._pq = pq.ParquetWriter(self.atomic.tmp, table.schema)
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

    def commit(self, shape: tuple[int, ...] | None = None) -> None:
        self.prepare(shape)
        self.publish()
        self.finalize()

    def _atomic(self) -> AtomicFile:
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
    return _quoted([str(x) for x in v.tolist()], sep)


# ---------------------------------------------------------------------------------------------
# Parquet datasets of parts, written by many processes (the Dask engine's per-sample output).

MARKER = "_SUCCESS"
"""The completion marker of a dataset: written last, so its presence means every part is there."""


def part_name(index: int, width: int = 5) -> str:
    """``part-00000.parquet``: zero-padded so that path order is chunk order."""
    return f"part-{index:0{width}d}.parquet"


def write_part(path: str, columns: dict[str, np.ndarray]) -> None:
    """One Parquet part, written to a temporary file beside ``path`` and renamed over it: a
    retried task replaces its part (never adds a second one), and no reader sees half a part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    atomic = AtomicFile(path, force=True)
    try:
        pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), atomic.tmp)
    except OSError as exc:
        atomic.abort()
        raise OutputError(f"cannot write a part ({_reason(exc)})", file=path) from None
    except BaseException:
        atomic.abort()
        raise
    atomic.commit()


def check_dataset_output(path: str, inputs: Sequence[str], force: bool) -> None:
    """Refuse a dataset folder that is (or holds) an input, exists without ``force``, or whose
    parent folder is missing; a file name of another format is a usage error."""
    low = path.lower().rstrip("/")
    if any(low.endswith(ext) for ext in (".npy", ".csv", ".tsv")):
        raise UsageError(
            f"-o {path!r}: the Dask engine writes a Parquet dataset (a folder of parts)",
            fix="name a folder, e.g. -o losses/ or -o losses.parquet",
        )
    real = os.path.realpath(path)
    for src in inputs:
        for cand in _local_candidates(src):
            holds = os.path.realpath(cand).startswith(real.rstrip(os.sep) + os.sep)
            if same_file(cand, path) or holds or _reads_into(cand, path):
                raise OutputError(
                    "the output is (or holds, or is inside) one of the inputs",
                    file=path,
                    fix="write to another folder",
                )
    if os.path.lexists(path) and not force:
        raise OutputError("the output exists", file=path, fix="pass --force to replace it")
    folder = os.path.dirname(os.path.abspath(path.rstrip("/") or "/"))
    if not os.path.isdir(folder):
        raise OutputError(f"the output's folder {folder} does not exist", file=path)


class DatasetWriter:
    """A Parquet dataset folder built in a temporary folder beside ``path``.

    Parts are written into :attr:`tmp` by whoever computes them (:func:`write_part`, under
    :meth:`part_path`); :meth:`commit` checks they are all there, writes the :data:`MARKER` last
    and renames the folder into place (an existing output is replaced only with ``force``), so a
    failed or interrupted run leaves nothing behind.
    """

    def __init__(self, path: str, force: bool = False) -> None:
        self.path = os.path.abspath(path.rstrip("/") or "/")
        self.force = force
        folder, base = os.path.split(self.path)
        # os.mkdir (not mkdtemp, whose folder is private) so the umask applies, as for mkdir
        self.tmp = os.path.join(folder, f".{base}.cecli-{os.urandom(6).hex()}.tmp")
        try:
            os.mkdir(self.tmp)
        except OSError as exc:
            raise OutputError(f"cannot write there ({exc.strerror})", file=path) from None
        self.done = False

    def part_path(self, index: int, width: int = 5) -> str:
        return os.path.join(self.tmp, part_name(index, width))

    def commit(self, parts: int, width: int, marker: dict[str, Any]) -> None:
        """Check that parts ``0 .. parts-1`` exist, write the marker, rename into place."""
        import json
        import shutil

        have = set(os.listdir(self.tmp))
        for stale in [n for n in have if n.startswith(".")]:  # a killed writer's temporary
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.tmp, stale))
        missing = [i for i in range(parts) if part_name(i, width) not in have]
        if missing:
            self.abort()
            raise OutputError(
                f"{len(missing)} of {parts} parts never arrived (first: "
                f"{part_name(missing[0], width)})",
                file=self.path,
                fix="the workers write -o themselves: give them a folder they share with "
                "this machine",
            )
        try:
            with open(os.path.join(self.tmp, MARKER), "w", encoding="utf-8") as fh:
                json.dump(marker, fh)
                fh.write("\n")
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write the output ({_reason(exc)})", file=self.path) from None
        old = None
        try:
            if not self.force:
                move_noreplace(self.tmp, self.path)
            elif os.path.lexists(self.path) and _renameat2(
                self.tmp, self.path, _RENAME_EXCHANGE
            ):
                old = self.tmp  # the swap left the replaced output where the new one was
            else:
                if os.path.lexists(self.path):
                    old = self.tmp[: -len(".tmp")] + ".old"
                    os.rename(self.path, old)
                os.rename(self.tmp, self.path)
        except OSError as exc:
            if old is not None and not os.path.lexists(self.path):
                with contextlib.suppress(OSError):
                    os.rename(old, self.path)
                old = None
            self.abort()
            if isinstance(exc, FileExistsError) and not self.force:
                raise _appeared(self.path) from None
            raise OutputError(f"cannot write the output ({_reason(exc)})", file=self.path) from None
        except BaseException:
            self.abort()
            raise
        self.done = True
        if old is not None:
            if os.path.isdir(old) and not os.path.islink(old):
                shutil.rmtree(old, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(old)

    def abort(self) -> None:
        import shutil

        if not self.done:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.done = True
