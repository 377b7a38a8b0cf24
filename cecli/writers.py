"""Per-sample outputs, chunk by chunk, to a temporary file renamed into place on success.

A failed or interrupted run never leaves a partial file and never clobbers an existing one: the
data goes to ``.NAME.cecli-XXXX.tmp`` in the output's folder and is renamed over ``NAME`` only by
:meth:`TableWriter.commit`. pyarrow is imported only for Parquet.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from typing import Any

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


def check_output(path: str, inputs: Sequence[str], force: bool) -> None:
    """Refuse an output that is one of the inputs, exists without ``force``, or has no folder."""
    real = os.path.realpath(path)
    for src in inputs:
        if src and src != "-" and "://" not in src and os.path.realpath(src) == real:
            raise OutputError(
                "the output is one of the inputs", file=path, fix="write to another file"
            )
    if os.path.isdir(path):
        raise OutputError("the output is a directory", file=path, fix="name a file")
    if os.path.exists(path) and not force:
        raise OutputError("the output exists", file=path, fix="pass --force to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"the output's folder {folder} does not exist", file=path)


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it; set back at once
    os.umask(mask)
    return mask


class AtomicFile:
    """A temporary file beside ``path``; :meth:`commit` renames it into place."""

    def __init__(self, path: str) -> None:
        self.path = path
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

    def commit(self) -> None:
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write the output ({exc.strerror})", file=self.path) from None
        self.done = True

    def abort(self) -> None:
        if not self.done:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self.done = True


class ArrayWriter:
    """An ``.npy`` array of rows ``(N, *row_shape)`` streamed without knowing N up front."""

    def __init__(self, path: str, row_shape: tuple[int, ...], dtype: Any) -> None:
        self.atomic = AtomicFile(path)
        self.row_shape = row_shape
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.fh = open(self.atomic.tmp, "r+b")  # noqa: SIM115 - closed in commit/abort
        self.fh.write(b"\0" * _NPY_HEADER)

    def write(self, rows: np.ndarray) -> None:
        a = np.ascontiguousarray(rows, dtype=self.dtype)
        self.fh.write(a.tobytes())  # tobytes is one copy of a chunk, not of the file
        self.rows += a.shape[0]

    def commit(self, shape: tuple[int, ...] | None = None) -> None:
        shape = shape if shape is not None else (self.rows, *self.row_shape)
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": shape}
        text = repr(header).encode("latin1")
        pad = _NPY_HEADER - 10 - len(text) - 1
        if pad < 0:  # pragma: no cover - only for absurd shapes
            raise OutputError("shape too long for the NPY header", file=self.atomic.path)
        self.fh.seek(0)
        self.fh.write(b"\x93NUMPY\x01\x00" + (_NPY_HEADER - 10).to_bytes(2, "little"))
        self.fh.write(text + b" " * pad + b"\n")
        self.fh.close()
        self.atomic.commit()

    def abort(self) -> None:
        self.fh.close()
        self.atomic.abort()


class TableWriter:
    """Rows of named columns to CSV, TSV or Parquet (or, for ``.npy``, the ``loss`` column in
    the targets' shape)."""

    def __init__(
        self, path: str, row_shape: tuple[int, ...] = (), dtype: Any = np.float64
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
            self.arrays = ArrayWriter(path, row_shape, dtype)
        else:
            self.atomic = AtomicFile(path)

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
            self._write_parquet(columns)
        else:
            self._write_text(columns, "," if self.fmt == "csv" else "\t")

    def _write_text(self, columns: dict[str, np.ndarray], sep: str) -> None:
        assert self.atomic is not None
        if self._fh is None:
            self._fh = open(self.atomic.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        if not self._header_done:
            self._fh.write(sep.join(columns) + "\n")
            self._header_done = True
        cols = [_text_column(v) for v in columns.values()]
        if cols and len(cols[0]):
            self._fh.write("\n".join(sep.join(row) for row in zip(*cols, strict=True)) + "\n")

    def _write_parquet(self, columns: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.atomic is not None
        table = pa.table({k: pa.array(v) for k, v in columns.items()})
        if self._pq is None:
            self._pq = pq.ParquetWriter(self.atomic.tmp, table.schema)
        self._pq.write_table(table)

    def commit(self, shape: tuple[int, ...] | None = None) -> None:
        if self.arrays is not None:
            self.arrays.commit(shape)
            return
        assert self.atomic is not None
        if self._pq is not None:
            self._pq.close()
        if self._fh is not None:
            self._fh.close()
        self.atomic.commit()

    def abort(self) -> None:
        if self.arrays is not None:
            self.arrays.abort()
            return
        assert self.atomic is not None
        with contextlib.suppress(Exception):
            if self._pq is not None:
                self._pq.close()
            if self._fh is not None:
                self._fh.close()
        self.atomic.abort()


def _text_column(v: np.ndarray) -> list[str]:
    # repr() of a Python float is the shortest text that reads back exactly (nan, inf, -inf too).
    return [repr(x) for x in v.tolist()] if v.dtype.kind == "f" else [str(x) for x in v.tolist()]


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

    atomic = AtomicFile(path)
    try:
        pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), atomic.tmp)
    except OSError as exc:
        atomic.abort()
        raise OutputError(f"cannot write a part ({exc})", file=path) from None
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
        if src and src != "-" and "://" not in src:
            other = os.path.realpath(src)
            if other == real or other.startswith(real + os.sep):
                raise OutputError(
                    "the output is (or holds) one of the inputs",
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
        with open(os.path.join(self.tmp, MARKER), "w", encoding="utf-8") as fh:
            json.dump(marker, fh)
            fh.write("\n")
        old = None
        try:
            if os.path.lexists(self.path):
                if not self.force:
                    raise OutputError(
                        "the output exists", file=self.path, fix="pass --force to replace it"
                    )
                old = self.tmp[: -len(".tmp")] + ".old"
                os.rename(self.path, old)
            os.rename(self.tmp, self.path)
        except OSError as exc:
            if old is not None and not os.path.lexists(self.path):
                with contextlib.suppress(OSError):
                    os.rename(old, self.path)
                old = None
            self.abort()
            raise OutputError(f"cannot write the output ({exc.strerror})", file=self.path) from None
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
