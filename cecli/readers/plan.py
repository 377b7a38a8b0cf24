"""Chunk plans: the canonical chunk grid of an input as small tasks another process can read.

The chunks an engine works on are the ones :meth:`Inputs.batches` yields: each PREDS file
(Parquet files in path order) cut into ranges of ``chunk_rows`` rows from its first row. For
inputs that can be read by row range (NPY files, stored NPZ members, Parquet files, directories,
globs and URIs of them; TARGETS of those kinds too) the driver describes each chunk as a
:class:`ChunkTask` -- how to open the inputs (:class:`InputSpec`: paths, options) and a row range
-- and whoever runs the task reads that slice itself: the data never travels with the task::

    spec = InputSpec.of("preds.parquet", None, ReadOptions())
    with spec.open() as inputs:
        tasks = plan_chunks(spec, inputs, 65536)    # None: CSV / txt / stdin, stream instead
        opened = Shipped(inputs, "run-1")           # the opened inputs, as they travel
    for group in group_chunks(tasks):               # one Parquet row group's chunks together
        for task, batch in zip(group, read_chunks(group, opened)):
            ...                                     # batch == the local engine's batch

The driver's opened inputs travel with the plan (:class:`Shipped`: pickled once, footers and
all), so a process reading tasks lists no folder and reads no footer again; it unpickles them
once per thread and run. Without them, it opens the spec itself (once per thread and run).
"""

from __future__ import annotations

import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cecli.readers.base import Batch, ReadOptions, is_uri, local_path
from cecli.readers.inputs import Inputs, open_inputs

__all__ = [
    "ChunkTask",
    "InputSpec",
    "Shipped",
    "Span",
    "group_chunks",
    "plan_chunks",
    "read_chunks",
    "read_spans",
]

Span = tuple[int, int, int]
"""A chunk as few bytes: ``(index, lo, hi)`` (with :class:`Shipped` inputs, all a task needs)."""

#: Opened inputs a thread keeps (specs of recent runs).
CACHED = 2


def _portable(path: str | None) -> str | None:
    """A path that means the same file from another working directory."""
    if path is None or path == "-" or is_uri(path):
        return path
    return os.path.abspath(local_path(path))


@dataclass(frozen=True)
class InputSpec:
    """How to open PREDS (and TARGETS) again, in any process that sees the same files."""

    preds: str
    targets: str | None
    opts: ReadOptions
    need_target: bool = True
    token: str = ""
    """Distinguishes runs: a process reopens the files of a new run (they may have changed)."""

    @classmethod
    def of(
        cls,
        preds: str,
        targets: str | None,
        opts: ReadOptions,
        *,
        need_target: bool = True,
        token: str = "",
    ) -> InputSpec:
        """A spec with absolute paths (a worker's working directory is not the driver's)."""
        p = _portable(preds)
        assert p is not None
        return cls(p, _portable(targets), opts, need_target, token)

    def open(self) -> Inputs:
        """Open the inputs (the caller closes them)."""
        return open_inputs(self.preds, self.targets, self.opts, need_target=self.need_target)

    def shared(self) -> Inputs:
        """The inputs opened by this thread for this spec (kept for the next tasks)."""
        return _kept(self, self.open)


class Shipped:
    """Opened inputs as they travel with a plan: pickled once where they were opened, with
    every Parquet footer (local names are opened from that process's folder), and unpickled
    once per thread where chunks are read. ``token`` names the run (a thread keeps its copy
    under it: one token, one run)."""

    def __init__(self, inputs: Inputs, token: str) -> None:
        self.token = token
        # footers compress ~10x (5,000 small files: 6.7 MB, 0.7 MB compressed in 22 ms)
        import zlib  # only for Dask runs (~4 ms of every run's start-up otherwise)

        self.data = zlib.compress(pickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL), 1)

    def inputs(self) -> Inputs:
        """This thread's copy (kept for the next tasks of the run)."""
        import zlib

        return _kept(self.token, lambda: pickle.loads(zlib.decompress(self.data)))


_opened = threading.local()


def _kept(key: Any, make: Callable[[], Inputs]) -> Inputs:
    """This thread's inputs for ``key``, made once; the last :data:`CACHED` are kept."""
    cache: OrderedDict[Any, Inputs] | None = getattr(_opened, "cache", None)
    if cache is None:
        cache = _opened.cache = OrderedDict()
    inputs = cache.get(key)
    if inputs is not None:
        cache.move_to_end(key)
        return inputs
    inputs = make()
    cache[key] = inputs
    while len(cache) > CACHED:
        _, old = cache.popitem(last=False)
        old.close()
    return inputs


@dataclass(frozen=True)
class ChunkTask:
    """One chunk of a plan: rows ``lo:hi`` of the inputs ``spec`` names."""

    spec: InputSpec
    index: int
    """The chunk's place in the grid: partial results are combined in this order."""
    lo: int
    hi: int
    unit: Any = None
    """Chunks of one unit (a Parquet file's row group) are cheapest read together."""

    @property
    def rows(self) -> int:
        return self.hi - self.lo

    @property
    def span(self) -> Span:
        return (self.index, self.lo, self.hi)

    def load(self) -> Batch:
        """Read this chunk (in this process, from the files)."""
        return next(read_chunks([self]))


def plan_chunks(spec: InputSpec, inputs: Inputs, chunk_rows: int) -> list[ChunkTask] | None:
    """The chunk grid of ``inputs`` (opened from ``spec``) as tasks, or None when the inputs
    cannot be read by row range (CSV, TSV, txt, stdin, compressed NPZ members): those are
    streamed instead."""
    if not inputs.seekable or spec.preds == "-" or spec.targets == "-":
        return None
    return [
        ChunkTask(spec, k, lo, hi, unit)
        for k, (lo, hi, unit) in enumerate(inputs.grid(chunk_rows))
    ]


#: Most chunks one task reads (small files batched together).
BATCH = 64


def group_chunks(tasks: Sequence[ChunkTask], chunk_rows: int = 0) -> list[list[ChunkTask]]:
    """Consecutive tasks of one unit together (a row group larger than a chunk is then read
    once, not once per chunk); then consecutive small groups (small files: a chunk each)
    batched while their rows stay within ``chunk_rows`` (default: the largest chunk's), at
    most :data:`BATCH` chunks a group -- a task costs the scheduler milliseconds, so thousands
    of tiny ones cost more than the work. Every chunk keeps its index: the answer does not
    depend on the grouping."""
    units: list[list[ChunkTask]] = []
    for task in tasks:
        if units and task.unit is not None and units[-1][-1].unit == task.unit:
            units[-1].append(task)
        else:
            units.append([task])
    full = chunk_rows or max((t.rows for t in tasks), default=0)
    groups: list[list[ChunkTask]] = []
    rows = 0
    for unit in units:
        size = sum(t.rows for t in unit)
        if groups and rows + size <= full and len(groups[-1]) + len(unit) <= BATCH:
            groups[-1].extend(unit)
            rows += size
        else:
            groups.append(list(unit))
            rows = size
    return groups


def read_chunks(tasks: Sequence[ChunkTask], opened: Shipped | None = None) -> Iterator[Batch]:
    """The batches of ``tasks`` (increasing rows, one spec), read with this thread's copy of
    the ``opened`` inputs (or, without them, the inputs this thread opened from the spec)."""
    if not tasks:
        return
    inputs = opened.inputs() if opened is not None else tasks[0].spec.shared()
    yield from inputs.read([(t.lo, t.hi) for t in tasks])


def read_spans(spans: Sequence[Span], opened: Shipped) -> Iterator[Batch]:
    """The batches of ``spans`` (increasing rows), read with this thread's copy of ``opened``."""
    if spans:
        yield from opened.inputs().read([(lo, hi) for _, lo, hi in spans])
