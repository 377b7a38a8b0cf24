"""The reader types every format shares: options, batches, sources, format detection, names.

A *source* is one input (a file, stdin, a directory / glob / URI of Parquet files) opened for
reading. It knows its columns or keys up front and streams :class:`Part` objects: aligned
arrays of at most ``chunk_rows`` rows. :mod:`cecli.readers.inputs` pairs a PREDS source with an
optional TARGETS source and turns their parts into :class:`Batch` objects.
"""

from __future__ import annotations

import difflib
import glob as _glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cecli._formats import DataFormat
from cecli.errors import InputError, UsageError

__all__ = [
    "FORMATS",
    "TARGET_NAMES",
    "Batch",
    "Part",
    "ReadOptions",
    "Source",
    "SourceInfo",
    "closest_fix",
    "detect_format",
    "is_glob",
    "is_uri",
    "not_found",
]

FORMATS = tuple(f.value for f in DataFormat)
TARGET_NAMES = ("target", "targets", "label", "labels", "y")
ID_NAMES = ("id", "ids", "sample_id", "example_id", "uid")
"""Columns with these names are ids, never logits, unless ``--logit-cols`` names them."""
WEIGHT_NAMES = ("sample_weight", "sample_weights", "weight", "weights")
"""Numeric columns with these names are per-sample weights by every evidence but a flag: never
read as a class by default (an error names ``--sample-weight-col``)."""

_EXTENSIONS = {
    ".npy": "npy",
    ".npz": "npz",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".txt": "txt",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")


@dataclass(frozen=True)
class ReadOptions:
    """How to read PREDS / TARGETS (the ``--format-in``, ``--*-key``, ``--*-col`` options)."""

    format_in: str | None = None
    """PREDS's format (``--format-in``); TARGETS has its own (``--targets-format``)."""
    targets_format: str | None = None
    preds_key: str | None = None
    target_key: str | None = None
    target_col: str | None = None
    target_cols: tuple[str, ...] | None = None
    logit_cols: str | None = None
    id_col: str | None = None
    sample_weight_col: str | None = None
    group_col: str | None = None
    classes: tuple[str, ...] | None = None
    class_axis: int = 1
    no_header: bool = False
    """CSV / TSV without a header row: columns are named by position (``0``, ``1``, ...), every
    column is a logit unless ``--target-col N`` (0-based) or another option names it."""
    binary: bool = False
    """Predictions are per-element binary logits (``bce``): a 1-D NPY is ``N`` rows (not one
    unbatched ``(C,)`` sample) and a table with a single logit column gives preds ``(n,)``."""
    target_logprobs: bool = False
    """Predictions are the realised tokens' log-probabilities (``--input target-logprobs``):
    one value a position, read like ``binary`` ones; a list column of numbers is ragged (one
    row, one document of tokens), and a null value is a *missing* position."""
    bytes_col: str | None = None
    """``--bytes-col``: the bytes each position (or document) stands for (bits per byte)."""

    @property
    def scalar_preds(self) -> bool:
        """One prediction value a position (``bce`` logits, target log-probabilities)."""
        return self.binary or self.target_logprobs

    def __post_init__(self) -> None:
        # ``target_cols`` may come as the command line's comma list: a tuple from here on
        cols = self.target_cols
        if isinstance(cols, str):
            cols = tuple(c.strip() for c in cols.split(",") if c.strip())
            if not cols:
                raise UsageError("--target-cols names no column", value=self.target_cols)
            object.__setattr__(self, "target_cols", cols)
        if self.target_col and cols:
            raise UsageError("give --target-col or --target-cols, not both")


@dataclass
class Batch:
    """Aligned rows ``start .. start + len(preds)`` of PREDS and TARGETS."""

    preds: np.ndarray[Any, Any]
    target: np.ndarray[Any, Any] | None
    ids: np.ndarray[Any, Any] | None = None
    sample_weight: np.ndarray[Any, Any] | None = None
    group: np.ndarray[Any, Any] | None = None
    start: int = 0
    missing: np.ndarray[Any, Any] | None = None
    """Positions without a prediction (a null target log-probability): ignored."""
    bytes: np.ndarray[Any, Any] | None = None
    """``--bytes-col``: bytes per position."""
    label_names: list[str] | None = None
    """The labels as the input spelled them, by class index, when they were names (text
    labels, or integers naming classes): outputs show ``label_names[target]``."""

    def spelled(self, index: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Class indices (targets, argmaxes) as the input spelled its labels: the names when
        they were names (an index that is no class, e.g. an ignored target, gives None), else
        the indices as they are."""
        if self.label_names is None:
            return index
        idx = np.asarray(index)
        names = np.asarray(self.label_names, dtype=object)
        ok = (idx >= 0) & (idx < names.size)
        out = np.full(idx.shape, None, dtype=object)
        out[ok] = names[idx[ok]]
        return out


@dataclass
class SourceInfo:
    """One input as reports show it (the JSON ``inputs`` list)."""

    path: str
    format: str
    rows: int | None
    positions: bool = False
    """Rows of many tokens (ragged lists): the stream counts token positions, not rows."""
    warnings: list[str] = field(default_factory=list)
    """What reading it decided from evidence and the user should know (e.g. a column taken
    for an index); the commands add them to their warnings."""


FIELDS = ("preds", "target", "ids", "sample_weight", "group", "missing", "bytes")


@dataclass
class Part:
    """Up to ``chunk_rows`` aligned rows of whichever fields a source holds."""

    n: int
    arrays: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)

    def slice(self, lo: int, hi: int) -> Part:
        return Part(hi - lo, {k: v[lo:hi] for k, v in self.arrays.items()})


class Source:
    """Base of every opened input. Subclasses fill the attributes in ``__init__``."""

    info: SourceInfo
    label: str = "PREDS"
    """``PREDS`` or ``TARGETS``: how errors name this input's role."""
    fields: frozenset[str] = frozenset()
    """Which of :data:`FIELDS` the parts carry."""
    sample_shape: tuple[int, ...] = ()
    dtype: np.dtype[Any] = np.dtype(np.float64)
    class_names: list[str] | None = None
    unbatched: bool = False
    target_name: str | None = None
    id_name: str | None = None

    seekable: bool = False
    """Whether :meth:`read` serves any row range, so another process can read a chunk of it
    on its own (NPY files, stored NPZ members, Parquet files: not CSV, txt or stdin)."""

    def parts(self, chunk_rows: int) -> Iterator[Part]:
        """Stream the rows in order, at most ``chunk_rows`` at a time, none empty."""
        raise NotImplementedError

    def grid(self, chunk_rows: int) -> list[tuple[int, int, Any]]:
        """The chunks :meth:`parts` yields, as ``(lo, hi, unit)`` global row ranges (seekable
        sources only). Chunks of one ``unit`` (a Parquet row group) are cheapest read together."""
        n = self.info.rows or 0
        if self.unbatched:
            return [(0, 1, 0)]
        return [(lo, min(n, lo + chunk_rows), k) for k, lo in enumerate(range(0, n, chunk_rows))]

    def read(self, spans: Sequence[tuple[int, int]]) -> Iterator[Part]:
        """Rows ``lo:hi`` of each span, in order (spans increasing, not overlapping), as the
        parts :meth:`parts` would give for the same rows; seekable sources only."""
        raise NotImplementedError(f"{type(self).__name__} cannot read row ranges")

    def close(self) -> None:
        """Release files and maps (idempotent)."""


def is_uri(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    """``file:///x`` -> ``/x``; anything else unchanged."""
    return path[len("file://") :] if path.startswith("file://") else path


def is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def strip_compression(path: str) -> tuple[str, str | None]:
    low = path.lower()
    for ext in COMPRESSIONS:
        if low.endswith(ext):
            return path[: -len(ext)], ext[1:]
    return path, None


def detect_format(path: str, format_in: str | None, option: str = "--format-in") -> str:
    """The format of ``path``: ``format_in`` (the value of ``option``) if given, else its
    extension; ``-`` is CSV here (:func:`cecli.readers.stdin.sniff_stdin` looks closer)."""
    if format_in is not None:
        fmt = str(format_in).lower().lstrip(".")
        if fmt not in FORMATS:
            raise UsageError(
                f"unknown {option} {format_in!r}",
                fix=f"use one of {', '.join(FORMATS)}",
            )
        return fmt
    if path == "-":
        return "csv"
    local = local_path(path)
    if not is_uri(local) and os.path.isdir(local):
        return "parquet"
    base, _ = strip_compression(local.rstrip("/"))
    ext = os.path.splitext(base)[1].lower()
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if is_glob(local) or is_uri(local):
        return "parquet"  # a glob or a URI prefix names a Parquet dataset
    raise InputError(
        "cannot tell the format from the extension",
        file=path,
        fix=f"name it with one of {', '.join(sorted(_EXTENSIONS))} or pass --format-in",
    )


def check_local_file(path: str) -> None:
    """InputError unless ``path`` is a readable regular file."""
    if not os.path.exists(path):
        hint = None
        parent = os.path.dirname(path) or "."
        if os.path.isdir(parent):
            names = os.listdir(parent)
            near = difflib.get_close_matches(os.path.basename(path), names, n=1)
            if near:
                hint = f"did you mean {os.path.join(os.path.dirname(path), near[0])!r}?"
        raise InputError("no such file", file=path, fix=hint or "check the path")
    if os.path.isdir(path):
        raise InputError("is a directory", file=path, fix="pass a file, or a Parquet directory")
    if not os.access(path, os.R_OK):
        raise InputError("permission denied", file=path, fix="check the file's permissions")


def closest_fix(name: str, available: Sequence[str], what: str = "--target-col") -> str:
    """A fix naming the closest available name (difflib), else listing them."""
    near = [a for a in available if a.lower() == name.lower()][:1]  # ``ID`` -> ``id``
    near = near or difflib.get_close_matches(name, list(available), n=1, cutoff=0.5)
    if not near:  # ``Label_Col`` -> ``label_col``: compare case-blind, answer as written
        lower = {a.lower(): a for a in available}
        found = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.5)
        near = [lower[m] for m in found]
    listing = ", ".join(repr(a) for a in list(available)[:20])
    if len(available) > 20:
        listing += ", ..."
    if near:
        return f"did you mean {what} {near[0]}? (available: {listing})"
    return f"pass {what} with one of: {listing}" if available else "the file has none"


def not_found(kind: str, name: str, available: Sequence[str], file: str, option: str) -> InputError:
    """InputError for a missing column or key, with the closest name as the fix."""
    return InputError(
        f"no {kind} {name!r}",
        file=file,
        fix=closest_fix(name, available, option),
    )


def missing_target(kind: str, available: Sequence[str], file: str, option: str) -> InputError:
    """InputError when no target was named and none of the default names is present."""
    guess = difflib.get_close_matches(
        "target", list(available), n=1, cutoff=0.4
    ) or difflib.get_close_matches("label", list(available), n=1, cutoff=0.4)
    listing = ", ".join(repr(a) for a in list(available)[:20]) or "none"
    if len(available) > 20:
        listing += ", ..."
    fix = f"did you mean {option} {guess[0]}? " if guess else ""
    fix += f"pass {option} NAME or a TARGETS file (available {kind}s: {listing})"
    return InputError(
        f"no target {kind} (looked for {', '.join(TARGET_NAMES)})", file=file, fix=fix
    )


def expand_glob(pattern: str) -> list[str]:
    """Local files matching ``pattern``, sorted by path (the documented order)."""
    return sorted(p for p in _glob.glob(pattern, recursive=True) if os.path.isfile(p))
