"""Checks of a run's output paths before anything is read: the output is none of the inputs
(compared by identity, however spelled), two outputs are not one file, the folder exists."""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Sequence
from pathlib import PurePath

from ..errors import OutputError, UsageError

OUTPUT_FORMATS = {".npy": "npy", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
                  ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip
#: The formats of a per-row table on stdout (``-o -``).
STDOUT_FORMATS = ("csv", "tsv", "jsonl")


def output_format(path: str, fmt: str | None = None) -> str:
    """The format of output ``path`` (from its extension; ``-``, stdout, is in ``fmt``)."""
    if path == "-":
        if fmt not in STDOUT_FORMATS:
            raise UsageError(
                "-o - writes the per-row table to stdout as CSV, TSV or JSON Lines",
                value=fmt,
                fix="add -f tsv (or -f csv, -f jsonl)",
            )
        return fmt
    low = path.lower()
    for ext, fmt in OUTPUT_FORMATS.items():
        if low.endswith(ext):
            return fmt
    raise UsageError(
        f"cannot tell the output format of {path!r}",
        fix="name the output .npy, .csv, .tsv, .jsonl or .parquet (or - for stdout)",
    )


def local_candidates(src: str) -> list[str]:
    """The local paths an input argument may name: itself, or a ``file://`` URI's path (as the
    readers take it, and %-decoded); nothing for stdin or a remote URI."""
    if not src or src == "-":
        return []
    if src.startswith("file://"):
        rest = src[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        from urllib.parse import unquote  # only for URIs (~6 ms of start-up otherwise)

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


def is_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _glob_takes(cand: str, path: str) -> bool:
    """Whether glob ``cand`` matches ``path`` (an existing file among its matches, or a new one
    that the next run would read)."""
    if not is_glob(cand) or os.path.exists(cand):
        return False
    if os.path.lexists(path) and any(
        same_file(m, path) for m in _glob.glob(cand, recursive=True)
    ):
        return True
    return PurePath(os.path.realpath(path)).match(os.path.realpath(cand)) or PurePath(
        os.path.abspath(path)
    ).match(os.path.abspath(cand))


def reads_into(cand: str, path: str) -> bool:
    """Whether input ``cand`` (a local folder, which is read for its Parquet files, or a glob)
    would read a file written at ``path``."""
    if os.path.isdir(cand):
        return os.path.realpath(path).startswith(os.path.realpath(cand).rstrip(os.sep) + os.sep)
    return _glob_takes(cand, path)


def _input_holding(path: str, inputs: Sequence[str]) -> str | None:
    """The input argument that is ``path`` (in any spelling), a glob that matches it, or a
    folder that would read a Parquet file written at ``path``; None if there is none."""
    parquet = path.lower().endswith((".parquet", ".pq"))
    for src in inputs:
        for cand in local_candidates(src):
            if same_file(cand, path) or _glob_takes(cand, path):
                return src
            if parquet and reads_into(cand, path):
                return src
    return None


def check_output(path: str, inputs: Sequence[str], force: bool) -> None:
    """Refuse an output that is one of the inputs (however spelled: another relative path, a
    ``file://`` URI, a symlink, a hard link; a file an input glob matches; a Parquet file inside
    an input folder), exists without ``force``, or has no folder."""
    refuse_uri(path)
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


def refuse_uri(path: str) -> None:
    """An output named by a URI (``s3://bucket/prefix/``) is a usage error: outputs are
    written to local (or shared) folders only, never to a local path spelled ``s3:/...``."""
    scheme, sep, _ = path.partition("://")
    if sep and scheme.isidentifier() and scheme.lower() != "file":
        raise UsageError(
            f"{path}: outputs are written to local or shared folders, not to {scheme}:// "
            "(object stores are read, never written)",
            fix="write to a local or shared folder, then copy it there",
        )


def check_report(path: str | None, inputs: Sequence[str], option: str = "--junit") -> None:
    """Before a run: a report file (``--junit``) is a file of an existing folder and none of the
    inputs; an existing report is replaced (it is the previous run's)."""
    if path is None:
        return
    if path == "-":
        raise UsageError(f"{option} writes a file; stdout carries the result", fix=f"{option} report.xml")
    check_output(path, inputs, force=True)


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


def check_dataset_output(path: str, inputs: Sequence[str], force: bool) -> None:
    """Refuse a dataset folder that is (or holds) an input, exists without ``force``, or whose
    parent folder is missing; a file name of another format is a usage error."""
    refuse_uri(path)
    low = path.lower().rstrip("/")
    if any(low.endswith(ext) for ext in (".npy", ".csv", ".tsv")):
        raise UsageError(
            f"-o {path!r}: the Dask engine writes a Parquet dataset (a folder of parts)",
            fix="name a folder, e.g. -o losses/ or -o losses.parquet",
        )
    real = os.path.realpath(path)
    for src in inputs:
        for cand in local_candidates(src):
            holds = os.path.realpath(cand).startswith(real.rstrip(os.sep) + os.sep)
            if same_file(cand, path) or holds or reads_into(cand, path):
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
