"""NPZ inputs: one array of a zip archive of NPY members, by key.

A *stored* (uncompressed, ``np.savez``) member is memory-mapped like an NPY file at its offset
inside the archive. A *compressed* member (``np.savez_compressed``) cannot be mapped: a
C-ordered one is decompressed as a stream, one chunk of rows at a time (bounded memory); a
Fortran-ordered compressed member is loaded whole (its rows are not contiguous in the stream).
Keys: ``--preds-key`` (default ``logits``, else the only array), ``--target-key`` (default the
first of ``target targets label labels y``).
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from cecli.errors import InputError
from cecli.readers.base import (
    TARGET_NAMES,
    Part,
    ReadOptions,
    check_local_file,
    closest_fix,
    missing_target,
)
from cecli.readers.npy import (
    ArraySource,
    MappedArray,
    byte_stream,
    load_npy_bytes,
    read_npy_header,
    row_slices,
    row_spans,
)

__all__ = [
    "NpzSource",
    "check_member_size",
    "choose_key",
    "load_npz_bytes",
    "member_header",
    "npz_keys",
]

ZIP_ERRORS = (
    zipfile.BadZipFile,  # bad local header, bad CRC-32, truncated member
    zlib.error,  # a corrupt deflate stream
    NotImplementedError,  # a compression method zipfile does not know
    RuntimeError,  # an encrypted member (zipfile asks for a password)
    EOFError,
    OSError,
)
"""What :mod:`zipfile` raises on a corrupt or truncated archive (all become InputError)."""


def npz_keys(path: str) -> dict[str, zipfile.ZipInfo]:
    """The NPY members of an NPZ archive by key (``name.npy`` -> ``name``)."""
    check_local_file(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (*ZIP_ERRORS, ValueError) as exc:
        raise InputError(
            f"not a valid NPZ (zip) file ({exc})", file=path, fix="write it with numpy.savez"
        ) from None
    return {i.filename[:-4]: i for i in infos if i.filename.endswith(".npy")}


def member_header(
    path: str, info: zipfile.ZipInfo, key: str
) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """``(shape, fortran_order, dtype, header length)`` of one NPY member; objects refused."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as member:
            shape, fortran, dtype = read_npy_header(member, f"{path}[{key}]")
            header_len = member.tell()
    except ZIP_ERRORS as exc:
        raise InputError(
            f"array {key!r} is corrupt or truncated ({exc})",
            file=path,
            fix="re-create the archive",
        ) from None
    check_member_size(info, shape, dtype, header_len, path, key)
    return shape, fortran, dtype, header_len


def check_member_size(
    info: zipfile.ZipInfo,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    header_len: int,
    path: str,
    key: str,
) -> None:
    """The member's size in the zip directory must be its NPY header's promise exactly:
    checked before any data is read, so a small archive that inflates far beyond what its
    header declares (a zip bomb) is refused at once instead of read whole, and one with too
    little data is not read at all."""
    nbytes = math.prod(shape) * dtype.itemsize
    held = int(info.file_size) - header_len
    if held != nbytes:
        raise InputError(
            f"array {key!r}: the NPY header promises {nbytes} data bytes (shape {shape}, "
            f"{dtype}) but the member holds {held}"
            + (" (truncated)" if held < nbytes else " (more data than the header declares)"),
            file=path,
            fix="re-create the archive with numpy.savez",
        )


def choose_key(
    keys: list[str], asked: str | None, defaults: tuple[str, ...], path: str, option: str, what: str
) -> str | None:
    """The NPZ key to read: ``asked``, else the first default present, else the only key."""
    if asked is not None:
        if asked not in keys:
            raise InputError(f"no array {asked!r}", file=path, fix=closest_fix(asked, keys, option))
        return asked
    for name in defaults:
        if name in keys:
            return name
    if what == "preds" and len(keys) == 1:
        return keys[0]
    return None


class NpzSource(ArraySource):
    """One array of an NPZ archive (``--preds-key`` / ``--target-key``)."""

    def __init__(
        self,
        path: str,
        opts: ReadOptions,
        *,
        key: str | None = None,
        label: str = "PREDS",
        field: str = "preds",
        unbatched: bool | None = None,
    ) -> None:
        self._start(path, "npz", label)
        self.keys = npz_keys(path)
        names = list(self.keys)
        if field == "preds":
            found = choose_key(names, key, ("logits",), path, "--preds-key", "preds")
            if found is None:
                raise InputError(
                    f"several arrays and none is 'logits' (keys: {', '.join(names) or 'none'})",
                    file=path,
                    fix="pass --preds-key NAME",
                )
        else:
            found = choose_key(names, key, TARGET_NAMES, path, "--target-key", "target")
            if found is None and label == "TARGETS" and len(names) == 1:
                found = names[0]
            if found is None:
                raise _missing_key(path, names)
        self.key = found
        self.target_name = found if field == "target" else None
        self._info = self.keys[found]
        self._loaded: np.ndarray[Any, Any] | None = None
        shape, fortran, dtype, header_len = member_header(path, self._info, found)
        self.shape, self.fortran = shape, fortran
        if self._info.compress_type == zipfile.ZIP_STORED and not self._info.flag_bits & 1:
            self._map = MappedArray(
                path, _data_offset(path, self._info) + header_len, shape, fortran, dtype, label
            )
        elif fortran and len(shape) > 1:  # rows are not contiguous in the stream: load it
            self._loaded = self._load_whole()
        self.header_len = header_len
        self.seekable = self._map is not None  # a compressed member is read from its start
        self._setup(shape, dtype, opts, field, unbatched)

    def _load_whole(self) -> np.ndarray[Any, Any]:
        try:
            with zipfile.ZipFile(self.info.path) as zf, zf.open(self._info) as member:
                data = member.read(int(self._info.file_size))  # checked against the header
        except ZIP_ERRORS as exc:
            raise InputError(
                f"array {self.key!r} is corrupt or truncated ({exc})", file=self.info.path
            ) from None
        return load_npy_bytes(data, f"{self.info.path}[{self.key}]")

    def parts(self, chunk_rows: int) -> Iterator[Part]:
        if self._map is not None:
            yield from row_slices(
                self._map.array, self.field, self.unbatched, chunk_rows, self._map
            )
            return
        if self._loaded is not None or self.unbatched or not self.shape:
            arr = self._loaded if self._loaded is not None else self._load_whole()
            yield from row_slices(arr, self.field, self.unbatched, chunk_rows, None)
            return
        yield from self._stream(chunk_rows)

    def read(self, spans: Sequence[tuple[int, int]]) -> Iterator[Part]:
        if self._map is None:
            raise NotImplementedError("a compressed NPZ member cannot be read by row range")
        yield from row_spans(self._map.array, self.field, self.unbatched, spans, self._map)

    def _stream(self, chunk_rows: int) -> Iterator[Part]:
        n, rest = self.shape[0], self.shape[1:]
        row_bytes = int(np.prod(rest, dtype=np.int64)) * self.dtype.itemsize
        path = self.info.path
        try:
            with zipfile.ZipFile(path) as zf, zf.open(self._info) as member:
                member.read(self.header_len)
                for lo in range(0, n, chunk_rows):
                    hi = min(n, lo + chunk_rows)
                    want = (hi - lo) * row_bytes
                    buf = member.read(want)
                    if len(buf) != want:
                        raise InputError(
                            f"array {self.key!r} is truncated at row {lo + len(buf) // max(row_bytes, 1) + 1}",
                            file=path,
                            fix="re-create the archive",
                        )
                    arr = np.frombuffer(buf, dtype=self.dtype).reshape((hi - lo, *rest))
                    yield Part(hi - lo, {self.field: arr})
        except ZIP_ERRORS as exc:
            raise InputError(
                f"array {self.key!r} is corrupt ({exc})", file=path, fix="re-create the archive"
            ) from None


def _missing_key(path: str, names: list[str]) -> InputError:
    return missing_target("key", names, path, "--target-key")


def _data_offset(path: str, info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes start: after its local header (whose extra field may
    differ from the central directory's)."""
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        head = fh.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise InputError("corrupt zip local header", file=path, fix="re-create the archive")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    return int(info.header_offset) + 30 + int(name_len) + int(extra_len)


def load_npz_bytes(data: bytes | bytearray, path: str) -> dict[str, np.ndarray[Any, Any]]:
    """Every array of an NPZ held in memory (stdin); pickles refused."""
    try:
        with zipfile.ZipFile(byte_stream(data)) as zf:
            out = {}
            for i in zf.infolist():
                if not i.filename.endswith(".npy"):
                    continue
                key = i.filename[:-4]
                with zf.open(i) as member:  # the header first: the size is checked by it
                    shape, _, dtype = read_npy_header(member, f"{path}[{key}]")
                    check_member_size(i, shape, dtype, member.tell(), path, key)
                out[key] = load_npy_bytes(zf.read(i), f"{path}[{key}]")
            return out
    except InputError:
        raise
    except (*ZIP_ERRORS, ValueError) as exc:
        raise InputError(
            f"not a valid NPZ without pickles ({exc})",
            file=path,
            fix="write it with numpy.savez from numeric arrays",
        ) from None
