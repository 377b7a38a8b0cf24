"""Option values that are vectors: ``--weight`` and ``--pos-weight``.

One reader for both: a comma list on the command line (``1,2,0.5``), or a file -- an NPY
(recognised by its magic bytes, whatever its name) or text with one value per line or per
comma / tab. An empty position (``1,,2``) is an error naming it, never silently skipped: it
would shift every later class's weight by one. An NPY header is checked against the file's
size before anything is read, so a forged header promising 10^12 values is refused at once,
with memory bounded.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from cecli.errors import DataError, InputError, UsageError
from cecli.readers.npy import read_npy_header

__all__ = ["read_vector"]

_TEXT_LIMIT = 64 << 20
"""Bytes of a text vector file read at most: 64 MiB is millions of values, far more classes
than any model has; a larger file is refused rather than read whole."""


def read_vector(spec: str | None, option: str) -> np.ndarray[Any, Any] | None:
    """The float64 values of ``option`` (``"--weight"`` / ``"--pos-weight"``), or None.

    ``spec`` is a comma list of numbers or the path of a file holding them. Raises
    :class:`~cecli.errors.UsageError` for a bad list, negative or non-finite values,
    :class:`~cecli.errors.InputError` / :class:`~cecli.errors.DataError` for a bad file.
    """
    if spec is None or spec == "":
        return None
    if os.path.exists(spec):
        if os.path.isdir(spec):
            raise InputError(f"{option} is a directory, not a file of values", file=spec)
        values = _read_file(spec, option)
    else:
        if not any(ch.isdigit() for ch in spec):
            raise UsageError(f"{option} {spec!r}: no such file, and not a comma list of numbers")
        values = _numbers(spec.split(","), option, None, "value")
    if values.size == 0:
        raise UsageError(f"{option} holds no value", value=spec)
    if not np.all(np.isfinite(values)):
        raise UsageError(f"{option} values must be finite numbers", value=spec)
    if np.any(values < 0):
        raise UsageError(f"{option} values must not be negative", value=spec)
    return values


def _read_file(path: str, option: str) -> np.ndarray[Any, Any]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
            fh.seek(0)
            if head == b"\x93NUMPY":
                return _read_npy(fh, path, option)
            if path.endswith(".npy"):
                raise InputError(
                    f"{option}: not a valid NPY file (no NPY magic bytes)",
                    file=path,
                    fix="write it with numpy.save, or give a text file of numbers",
                )
            data = fh.read(_TEXT_LIMIT + 1)
    except OSError as exc:
        raise InputError(f"cannot read {option} ({exc.strerror or exc})", file=path) from None
    if len(data) > _TEXT_LIMIT:
        raise InputError(
            f"{option}: the file is larger than {_TEXT_LIMIT >> 20} MiB, far more values "
            "than there are classes",
            file=path,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{option}: the file is not UTF-8 text", file=path) from None
    # one value per line or per comma / tab; trailing blank lines are fine
    tokens = text.rstrip().replace("\t", ",").replace("\r\n", "\n").replace("\n", ",")
    return _numbers(tokens.split(","), option, path, "value")


def _read_npy(fh: Any, path: str, option: str) -> np.ndarray[Any, Any]:
    shape, fortran, dtype = read_npy_header(fh, path)
    offset = fh.tell()
    count = 1
    for s in shape:
        count *= s
    nbytes = count * dtype.itemsize
    available = os.fstat(fh.fileno()).st_size - offset
    if nbytes != available:  # checked before anything of that size is allocated
        raise InputError(
            f"{option}: the NPY header promises {count} values ({nbytes} bytes) but "
            f"{available} bytes follow ({'truncated' if nbytes > available else 'trailing data'})",
            file=path,
            value=f"shape {shape}",
        )
    if dtype.kind == "U":
        raise InputError(f"{option} must hold numbers", file=path, value=str(dtype))
    data = np.fromfile(fh, dtype=dtype, count=count).reshape(shape, order="F" if fortran else "C")
    return data.astype(np.float64).reshape(-1)


def _numbers(tokens: list[str], option: str, file: str | None, what: str) -> np.ndarray[Any, Any]:
    if len(tokens) == 1 and not tokens[0].strip():
        return np.empty(0, dtype=np.float64)
    vals = []
    for i, raw in enumerate(tokens):
        tok = raw.strip()
        if not tok:
            raise (UsageError if file is None else DataError)(
                f"{option} {what} {i + 1} is empty (between two commas or separators)",
                file=file,
                fix="give one number per class, e.g. 1,2,0.5",
            )
        try:
            vals.append(float(tok))
        except ValueError:
            raise (UsageError if file is None else DataError)(
                f"{option} {what} {i + 1} is not a number", file=file, value=tok
            ) from None
    return np.array(vals, dtype=np.float64)
