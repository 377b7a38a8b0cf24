"""NPY inputs, memory-mapped and streamed along the first axis.

NPY files are mapped whole (``mmap``, read-only) and served as row-slice views: no copy, any
dtype except objects -- the header is read first and pickled object arrays are refused without
ever being unpickled. Touched pages of a map count as resident memory, so whenever the stream
resumes after a batch, the pages of every row before the next batch are released
(``madvise(MADV_DONTNEED)``; the data stays valid and is simply read again from the page cache
by a thread still working on an earlier batch).
A row slice of a Fortran-ordered array touches every column (and the kernel maps whole
folios), so Fortran arrays are instead read chunk by chunk with one ``readinto`` per column.
"""

from __future__ import annotations

import contextlib
import io
import math
import mmap
import os
import tokenize
import warnings
from collections.abc import Iterator, Sequence
from typing import IO, Any, Literal

import numpy as np

from cecli.errors import InputError
from cecli.readers.base import (
    Part,
    ReadOptions,
    Source,
    SourceInfo,
    check_local_file,
)

__all__ = [
    "ArraySource",
    "MappedArray",
    "MemorySource",
    "NpySource",
    "byte_stream",
    "load_npy_bytes",
    "read_npy_header",
    "row_slices",
    "row_spans",
]

_NUMERIC_KINDS = "biuf"


def read_npy_header(fp: IO[bytes], file: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """``(shape, fortran_order, dtype)`` from an NPY header; objects refused."""
    try:
        version = np.lib.format.read_magic(fp)
        # NumPy warns when a header needs Python 2 era repairs ("3L"); such files are valid,
        # and the header is checked below, so the warning would only be noise on stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"NPY format version {version} is not supported")
    except (
        ValueError,
        OSError,
        EOFError,
        SyntaxError,
        tokenize.TokenError,  # numpy tokenizes the header's dict before evaluating it
    ) as exc:
        raise InputError(
            f"not a valid NPY file ({exc})", file=file, fix="write it with numpy.save"
        ) from None
    if any(s < 0 for s in shape):
        raise InputError(
            "not a valid NPY file (a negative dimension in the header)",
            file=file,
            value=f"shape {tuple(shape)}",
            fix="write it with numpy.save",
        )
    if dtype.hasobject:
        raise InputError(
            "holds Python objects (a pickle); cecli never unpickles files",
            file=file,
            value=str(dtype),
            fix="save a numeric array (e.g. arr.astype('float32'))",
        )
    if dtype.kind not in _NUMERIC_KINDS + "U":
        raise InputError(
            "holds a non-numeric array",
            file=file,
            value=str(dtype),
            fix="save float logits and integer (or string) labels",
        )
    return tuple(int(s) for s in shape), bool(fortran), dtype


class MappedArray:
    """A read-only map of a whole file and one array inside it, with page release."""

    def __init__(
        self,
        path: str,
        offset: int,
        shape: tuple[int, ...],
        fortran: bool,
        dtype: np.dtype[Any],
        label: str,
    ) -> None:
        self.path = path
        self._args = (os.path.abspath(path), offset, shape, fortran, dtype, label)
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: a forged shape cannot wrap
        size = os.path.getsize(path)
        if offset + nbytes > size:
            raise InputError(
                f"truncated: the header promises {nbytes} data bytes but only "
                f"{max(size - offset, 0)} follow",
                file=path,
                value=f"shape {shape}",
                fix=f"re-create {label}; the file was cut short",
            )
        self.mm: mmap.mmap | None = None
        self.offset, self.row_bytes, self.strided = offset, 0, False
        order: Literal["C", "F"] = "F" if fortran else "C"
        try:
            if nbytes == 0:
                self.array: np.ndarray[Any, Any] = np.empty(shape, dtype, order=order)
                return
            with open(path, "rb") as fh:
                self.mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            self.array = np.ndarray(shape, dtype, buffer=self.mm, offset=offset, order=order)
        except (ValueError, OverflowError) as exc:  # a forged shape numpy cannot represent
            self.close()
            raise InputError(
                f"not a valid NPY file ({exc})", file=path, value=f"shape {shape}"
            ) from None
        self.offset = offset
        self.row_bytes = nbytes // shape[0] if shape and shape[0] else 0
        self.strided = not self.array.flags.c_contiguous

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as how to map it (a map cannot travel): another process of a plan maps
        the same file again, by its absolute path."""
        return (MappedArray, self._args)

    def rows(self, lo: int, hi: int) -> np.ndarray[Any, Any]:
        """Rows ``lo:hi``: a view of the map, or for Fortran order a fresh copy read with
        one ``readinto`` per column, so no page of the map becomes resident (a row slice of
        a Fortran array touches every column, and the kernel maps whole folios)."""
        if not self.strided:
            return self.array[lo:hi]
        shape, n = self.array.shape, hi - lo
        cols = int(np.prod(shape[1:], dtype=np.int64))
        item = self.array.dtype.itemsize
        out = np.empty(n * cols, self.array.dtype)
        with open(self.path, "rb", buffering=0) as fh:
            for k in range(cols):
                fh.seek(self.offset + (k * shape[0] + lo) * item)
                view = out[k * n : (k + 1) * n].data.cast("B")
                if fh.readinto(view) != view.nbytes:
                    raise InputError("truncated while reading", file=self.path)
        return out.reshape((n, *shape[1:]), order="F")

    def release(self, hi: int) -> None:
        """Drop every resident page of rows ``0:hi`` -- not only the last batch's: a consumer
        that works on batches in threads may touch a batch after the stream moved on (its
        pages are then faulted in again), so the whole prefix is released each time. The call
        is cheap (~4 us over an 8 GB map with few resident pages)."""
        mm = self.mm
        if mm is None or self.strided or not hasattr(mm, "madvise"):
            return
        end = self.offset + hi * self.row_bytes
        end = min(len(mm), -(-end // mmap.PAGESIZE) * mmap.PAGESIZE)
        if end > 0:
            with contextlib.suppress(OSError, ValueError):  # best effort
                mm.madvise(mmap.MADV_DONTNEED, 0, end)

    def close(self) -> None:
        if self.mm is not None:
            with contextlib.suppress(BufferError):  # batches still use it: the GC closes it
                self.mm.close()
            self.mm = None


class ArraySource(Source):
    """An array (mapped, streamed or in memory) served in row slices as one field."""

    _map: MappedArray | None = None
    _base: MappedArray | None = None

    def _start(self, path: str, fmt: str, label: str) -> None:
        self.label = label
        self.info = SourceInfo(path=path, format=fmt, rows=None)

    def as_rows(self) -> bool:
        """Read a 1-D array as N rows instead of one unbatched sample: predictions become one
        column each (sklearn's binary form: one positive-class score per row), targets one
        label each. False where the source cannot (an NPZ member streamed from its archive)."""
        array = getattr(self, "array", None)
        if array is None or array.ndim != 1 or not self.unbatched:
            return False
        preds = self.field == "preds"
        self.array = array.reshape(-1, 1) if preds else array
        self._base = self._map  # what the view maps (for pickling)
        self._map = None  # rows come from the view of the mapped array
        self.unbatched = False
        self.sample_shape = (1,) if preds else ()
        self.info.rows = int(array.shape[0])
        return True

    def _setup(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        opts: ReadOptions,
        field: str,
        unbatched: bool | None,
    ) -> None:
        """Checks the shape and sets the fields; ``unbatched=None``: a 1-D array of preds
        (not binary) is one sample."""
        if unbatched is None:
            unbatched = len(shape) == 1 and field == "preds" and not opts.scalar_preds
        self.field = field
        self.fields = frozenset({field})
        self.dtype = dtype
        self.unbatched = unbatched
        if field == "preds":
            if not shape:
                raise InputError(
                    "holds a scalar, not predictions",
                    file=self.info.path,
                    value=str(dtype),
                    fix="save an array of shape (N, C)",
                )
            if dtype.kind == "U":
                raise InputError(
                    "holds strings, not predictions",
                    file=self.info.path,
                    value=str(dtype),
                    fix="save float logits",
                )
        if unbatched:
            self.sample_shape = shape
            self.info.rows = 1
        else:
            if not shape:
                raise InputError(
                    "holds a scalar",
                    file=self.info.path,
                    fix="save one value per row, shape (N, ...)",
                )
            self.sample_shape = shape[1:]
            self.info.rows = shape[0]
        if field == "preds" and opts.classes and self.sample_shape:
            c = self.sample_shape[0 if opts.class_axis == 1 else -1]
            if c == len(opts.classes):
                self.class_names = list(opts.classes)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its data: a view of a mapped file travels as the map (which maps
        the file again where it is unpickled) and the view's shape."""
        state = self.__dict__.copy()
        base = state.get("_base") or state.get("_map")
        if base is not None and state.get("array") is not None:
            state["array"] = None
            state["_view_shape"] = self.array.shape
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        base = state.get("_base") or state.get("_map")
        if base is not None and "_view_shape" in state:
            self.array = base.array.reshape(state["_view_shape"])


class NpySource(ArraySource):
    """An NPY file, memory-mapped."""

    def __init__(
        self,
        path: str,
        opts: ReadOptions,
        *,
        label: str = "PREDS",
        field: str = "preds",
        unbatched: bool | None = None,
    ) -> None:
        self._start(path, "npy", label)
        check_local_file(path)
        with open(path, "rb") as fh:
            shape, fortran, dtype = read_npy_header(fh, path)
            offset = fh.tell()
        self._map = MappedArray(path, offset, shape, fortran, dtype, label)
        self.array = self._map.array
        self._setup(shape, dtype, opts, field, unbatched)

    seekable = True

    def parts(self, chunk_rows: int) -> Iterator[Part]:
        yield from row_slices(self.array, self.field, self.unbatched, chunk_rows, self._map)

    def read(self, spans: Sequence[tuple[int, int]]) -> Iterator[Part]:
        yield from row_spans(self.array, self.field, self.unbatched, spans, self._map)


def row_slices(
    array: np.ndarray[Any, Any],
    field: str,
    unbatched: bool,
    chunk_rows: int,
    mapped: MappedArray | None,
) -> Iterator[Part]:
    if unbatched:
        yield Part(1, {field: array[np.newaxis]})
        return
    n = array.shape[0]
    for lo in range(0, n, chunk_rows):
        hi = min(n, lo + chunk_rows)
        yield Part(hi - lo, {field: array[lo:hi] if mapped is None else mapped.rows(lo, hi)})
        if mapped is not None:
            mapped.release(hi)


def row_spans(
    array: np.ndarray[Any, Any],
    field: str,
    unbatched: bool,
    spans: Sequence[tuple[int, int]],
    mapped: MappedArray | None,
) -> Iterator[Part]:
    """Rows ``lo:hi`` of each span, as :func:`row_slices` serves them (a chunk read elsewhere)."""
    n = 1 if unbatched else array.shape[0]
    for lo, hi in spans:
        if hi > n:
            raise InputError(
                f"has {n} rows, fewer than planned ({hi}): it changed while being read, or "
                "this process sees another file under the same path",
                file=mapped.path if mapped is not None else None,
                fix="give every process the same files",
            )
        if unbatched:
            yield Part(1, {field: array[np.newaxis]})
            continue
        yield Part(hi - lo, {field: array[lo:hi] if mapped is None else mapped.rows(lo, hi)})
        if mapped is not None:
            mapped.release(hi)


class MemorySource(ArraySource):
    """An array already in memory (NPY / NPZ read from stdin)."""

    def __init__(
        self,
        array: np.ndarray[Any, Any],
        path: str,
        fmt: str,
        opts: ReadOptions,
        *,
        label: str = "PREDS",
        field: str = "preds",
        unbatched: bool | None = None,
        key: str | None = None,
    ) -> None:
        self._start(path, fmt, label)
        self.npz_arrays: dict[str, np.ndarray[Any, Any]] | None = None
        """All arrays of an NPZ read from stdin (the target key is looked up here)."""
        if array.dtype.hasobject or array.dtype.kind not in _NUMERIC_KINDS + "U":
            raise InputError(
                "holds a non-numeric array",
                file=path,
                value=str(array.dtype),
                fix="save float logits and integer (or string) labels",
            )
        self.array = array
        self.target_name = key if field == "target" else None
        self._setup(tuple(array.shape), array.dtype, opts, field, unbatched)

    def parts(self, chunk_rows: int) -> Iterator[Part]:
        yield from row_slices(self.array, self.field, self.unbatched, chunk_rows, None)


class _View(io.RawIOBase):
    """A seekable file over a buffer, without the copy ``io.BytesIO(bytearray)`` makes."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.view = memoryview(data).cast("B")
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        out = memoryview(buf).cast("B")
        n = max(0, min(len(out), len(self.view) - self.pos))
        out[:n] = self.view[self.pos : self.pos + n]
        self.pos += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self.pos, len(self.view))[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos


def byte_stream(data: bytes | bytearray) -> IO[bytes]:
    """A read-only, seekable file over ``data`` that shares its memory."""
    if isinstance(data, bytes):
        return io.BytesIO(data)  # shares a bytes object already
    return io.BufferedReader(_View(data), 1 << 16)


def load_npy_bytes(data: bytes | bytearray, path: str) -> np.ndarray[Any, Any]:
    """An NPY held in memory (stdin), as a view of ``data`` (no second copy: a 4 GB NPY
    piped in peaked at 7.9 GB through ``np.load``); pickles refused."""
    fp = byte_stream(data)
    shape, fortran, dtype = read_npy_header(fp, path)
    offset = fp.tell()
    nbytes = math.prod(shape) * dtype.itemsize
    if offset + nbytes > len(data):  # checked before numpy allocates what the header says
        raise InputError(
            f"truncated: the header promises {nbytes} data bytes but only "
            f"{len(data) - offset} follow",
            file=path,
            value=f"shape {shape}",
        )
    order: Literal["C", "F"] = "F" if fortran else "C"
    try:
        arr: np.ndarray[Any, Any] = np.ndarray(
            shape, dtype, buffer=data, offset=offset, order=order
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(f"truncated or malformed NPY data ({exc})", file=path) from None
    arr.flags.writeable = False  # a view of the input, as a mapped file is
    return arr
