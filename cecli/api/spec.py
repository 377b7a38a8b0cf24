"""The run and output specs: how a run is executed and what it writes, validated once.

:class:`RunSpec` (chunking, workers, engine, scheduler, progress) and :class:`OutputSpec`
(``-o``, ``--grad-output``, ``--force``, ...) are built at the edge and passed to the api's
front door whole. ``chunk_rows`` is declared, validated and defaulted here only
(:meth:`RunSpec.rows_per_chunk`). Checking that an output path is writable needs the input
paths, so it happens when a run starts, not here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass

from ..core.spec import Choice
from ..errors import UsageError

__all__ = [
    "CHUNK_BYTES",
    "ROW_FORMATS",
    "Engine",
    "ExplainSpec",
    "OutputSpec",
    "Progress",
    "RunSpec",
    "require_dask",
]

#: Bytes of predictions in one chunk when ``--chunk-rows`` is not given: large enough that
#: per-chunk overheads (pyarrow batches, Python bookkeeping) vanish, small enough for memory.
CHUNK_BYTES = 16 << 20
#: The most rows a chunk gets by default, however narrow the rows.
MAX_DEFAULT_CHUNK_ROWS = 1 << 20

#: Called after each merged chunk with (rows done, total rows or None).
Progress = Callable[[int, int | None], None]


class Engine(Choice):
    """Where chunks run: ``local`` threads, or a ``dask`` cluster (``pip install 'cecli[dask]'``)."""

    LOCAL = "local"
    DASK = "dask"


def require_dask() -> None:
    """UsageError (exit 2) when the optional Dask extra is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(
            "--engine dask needs Dask, which is not installed",
            fix="pip install 'cecli[dask]'",
        ) from None


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RunSpec:
    """How to run: ``chunk_rows`` (None: about :data:`CHUNK_BYTES` of predictions a chunk),
    ``workers`` (None: every core; with Dask, the local cluster's processes), ``engine``,
    ``scheduler`` (Dask only) and an optional ``progress`` callback."""

    chunk_rows: int | None = None
    workers: int | None = None
    engine: Engine = Engine.LOCAL
    scheduler: str | None = None
    progress: Progress | None = None

    def __post_init__(self) -> None:
        if self.chunk_rows is not None and not _positive(self.chunk_rows):
            raise UsageError("--chunk-rows must be at least 1", value=self.chunk_rows)
        if self.workers is not None and not _positive(self.workers):
            raise UsageError("--workers must be at least 1", value=self.workers)
        object.__setattr__(self, "engine", Engine.parse(self.engine, "--engine"))
        if self.scheduler and self.engine is not Engine.DASK:
            raise UsageError("--scheduler is for --engine dask", value=self.scheduler)
        if self.engine is Engine.DASK:
            require_dask()  # before any input is read

    @property
    def dask(self) -> bool:
        return self.engine is Engine.DASK

    def rows_per_chunk(self, row_elements: int, itemsize: int) -> int:
        """``chunk_rows``, or the rows that hold about :data:`CHUNK_BYTES` of predictions of
        ``row_elements`` values of ``itemsize`` bytes each."""
        if self.chunk_rows is not None:
            return self.chunk_rows
        per_row = max(1, row_elements * itemsize)
        return int(max(1, min(MAX_DEFAULT_CHUNK_ROWS, CHUNK_BYTES // per_row)))

    def threads(self) -> int:
        """Local threads over chunks."""
        return self.workers or default_workers()


#: The ``--format`` values that print a per-row table (``-o -``) for ``--reduction none``.
ROW_FORMATS = ("csv", "tsv", "jsonl")


@dataclass(frozen=True)
class OutputSpec:
    """What a run writes: per-sample results to ``path`` (``-o``; with ``with_probs`` the
    target's probability and the argmax too; ``-`` is stdout, in ``stdout_format``: csv, tsv
    or jsonl), the gradient to ``grad_path``; ``force`` replaces existing files;
    ``keep_losses`` keeps the per-sample losses in memory (for ``--reduction none`` without
    ``-o``)."""

    path: str | None = None
    grad_path: str | None = None
    force: bool = False
    with_probs: bool = False
    keep_losses: bool = False
    report: str | None = None
    """``--junit FILE``: written after the run (by the command line), its path checked with
    the other outputs' before anything is read."""
    format: str | None = None
    """The report's ``--format`` as given (``auto`` unresolved): the format of ``-o -`` (TSV
    for ``auto``), and with ``--reduction none`` and no ``-o``, csv / tsv / jsonl print the
    per-row table as ``-o -`` does (:meth:`for_reduction`)."""

    @property
    def to_stdout(self) -> bool:
        """Whether the per-row table goes to stdout (``-o -``): no report is printed there."""
        return self.path == "-"

    @property
    def stdout_format(self) -> str | None:
        """The text format of ``-o -`` (None when ``-o`` is a file or not given)."""
        if not self.to_stdout:
            return None
        return "tsv" if self.format in (None, "auto") else self.format

    def for_reduction(self, reduction: str) -> OutputSpec:
        """The outputs under ``reduction``: ``none`` without ``-o`` prints the per-row table in
        a row format (csv, tsv, jsonl), and keeps the losses for the report in any other."""
        if str(reduction) != "none" or self.path is not None:
            return self
        if self.format in ROW_FORMATS:
            return dataclasses.replace(self, path="-")
        return dataclasses.replace(self, keep_losses=True)

    def __post_init__(self) -> None:
        if self.format is not None:
            object.__setattr__(self, "format", str(self.format))
        if self.grad_path == "-":
            raise UsageError(
                "--grad-output writes a file; stdout (-) is for the per-row table of -o",
                fix="name a file, e.g. --grad-output grad.npy",
            )
        if self.path == "-" and self.stdout_format not in ROW_FORMATS:
            raise UsageError(
                "-o - writes the per-row table to stdout as CSV, TSV or JSON Lines",
                value=self.stdout_format,
                fix="use -f tsv (or -f csv, -f jsonl) with -o -",
            )
        if self.path and self.path != "-" and self.grad_path:
            # the same file however spelled (./x.npy, a hard link): one would replace the other;
            # imported here, as cecli --help must not load numpy
            from ..writers import check_distinct

            check_distinct([("--output", self.path), ("--grad-output", self.grad_path)])

    def check_engine(self, run: RunSpec) -> None:
        """The outputs an engine cannot write."""
        if self.grad_path and run.dask:
            raise UsageError(
                "--grad-output is computed by the local engine only",
                fix="leave out --engine dask (or --grad-output)",
            )


@dataclass(frozen=True)
class ExplainSpec:
    """Which rows ``explain`` derives: ``rows`` (0-based stream rows, ``--rows 0,17``) or the
    ``worst`` K per-row losses (``--worst K``), and how many classes a long row shows around
    the target and the top classes (``shown``)."""

    rows: tuple[int, ...] = ()
    worst: int = 0
    shown: int = 5

    def __post_init__(self) -> None:
        if bool(self.rows) == bool(self.worst):
            raise UsageError("give --rows 0,17 or --worst K (one of them)")
        if self.worst and not _positive(self.worst):
            raise UsageError("--worst must be at least 1", value=self.worst)
        if any(not isinstance(r, int) or r < 0 for r in self.rows):
            raise UsageError("--rows are 0-based row numbers (0, 1, ...)", value=list(self.rows))
        if len(self.rows) > MAX_EXPLAINED or self.worst > MAX_EXPLAINED:
            raise UsageError(f"explain shows at most {MAX_EXPLAINED} rows at a time")
        if not _positive(self.shown):
            raise UsageError("--shown must be at least 1", value=self.shown)
        object.__setattr__(self, "rows", tuple(sorted(set(self.rows))))

    @classmethod
    def parse(cls, rows: str | None, worst: int | None, shown: int = 5) -> ExplainSpec:
        """The spec of ``--rows 0,17`` / ``--worst K``."""
        picked: tuple[int, ...] = ()
        if worst is not None and worst < 1:
            raise UsageError("--worst must be at least 1", value=worst)
        if rows is not None:
            try:
                picked = tuple(int(r) for r in rows.split(",") if r.strip())
            except ValueError:
                raise UsageError(
                    "--rows must be a comma list of 0-based row numbers, like 0,17", value=rows
                ) from None
            if not picked:
                raise UsageError("--rows names no row", value=rows)
        return cls(rows=picked, worst=worst or 0, shown=shown)


#: The most rows one ``explain`` shows (each row's derivation is a screenful).
MAX_EXPLAINED = 1000


def _positive(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1
