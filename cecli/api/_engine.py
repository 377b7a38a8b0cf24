"""The engine seam: plan chunks -> map a chunk kernel -> fold partials in chunk order -> commit.

An :class:`Engine` runs a :class:`Job` (a chunk kernel, a fold and a finish) over a
:class:`Plan` (the inputs and the rows per chunk). :class:`LocalEngine` maps the kernel over
threads (NumPy releases the GIL inside its loops, so threads scale the kernel across cores);
the Dask engine (:mod:`._dask`, imported only when chosen) maps the same kernel over a cluster.
:func:`~._evaluate.engine_for` picks one.
Either way results are folded strictly in chunk order (a finished chunk waits for its
predecessors), which keeps every sum, the per-sample output and the first error deterministic
whatever order chunks finish in. At most ``2 * workers`` chunks are in flight, so memory stays
bounded.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..accumulate import Accumulator
from ..core import class_axis_of
from ..readers import Inputs, ReadOptions
from ._kernels import ChunkKernel, ChunkOut
from ._outputs import Outputs
from ._where import located
from .spec import Progress, RunSpec

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["Engine", "Job", "LocalEngine", "Plan", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Plan:
    """The inputs of a run, as the engines read them: the paths and options (for engines that
    read chunks themselves, where they run), the opened :class:`~cecli.readers.Inputs` and the
    rows per chunk."""

    preds: str
    targets: str | None
    read: ReadOptions
    inputs: Inputs
    chunk_rows: int


@dataclass
class Job:
    """What a run asks of an engine: the kernel to map, the accumulator its partials merge
    into, and what to do with each chunk's rows (in chunk order)."""

    kernel: ChunkKernel
    acc: Accumulator
    outputs: Outputs
    command: str = ""
    progress: Progress | None = None
    total: int | None = None
    kept: list[np.ndarray] = field(default_factory=list)
    #: The ``-o`` dataset's ``(parts, width, marker)`` once an engine wrote one (Dask).
    parts: tuple[int, int, dict[str, Any]] | None = None

    def fold(self, out: ChunkOut) -> None:
        """Merge one chunk's partial and write its rows (called in chunk order)."""
        self.acc.merge(out.part)
        if self.progress is not None:
            self.progress(out.done, self.total)
        self.outputs.write_loss(out.loss_rows)
        self.outputs.write_grad(out.grad_rows)
        if out.losses is not None:
            self.kept.append(out.losses)

    def finish(self) -> None:
        """Raise the data errors recorded while streaming."""
        self.acc.check()


class Engine:
    """Runs a job over a plan; the outputs stay uncommitted (the caller commits them)."""

    def run(self, plan: Plan, job: Job) -> None:
        raise NotImplementedError


class LocalEngine(Engine):
    """Chunks on ``run.threads()`` threads in this process."""

    def __init__(self, run: RunSpec) -> None:
        self.workers = run.threads()

    def run(self, plan: Plan, job: Job) -> None:
        job.outputs.open_loss(plan_row_shape(plan))
        with located(plan.inputs):
            for out in ordered_map(job.kernel, plan.inputs.batches(plan.chunk_rows), self.workers):
                job.fold(out)
            job.finish()


def plan_row_shape(plan: Plan) -> tuple[int, ...]:
    """The shape of one row of ``-o`` NPY output: the positions of a row (the sample shape
    without its class axis; for bce, the labels)."""
    shape = tuple(plan.inputs.sample_shape)
    if plan.read.scalar_preds:  # one value a position: no class axis
        return shape
    ax = class_axis_of(len(shape) + 1, plan.read.class_axis)
    return shape[: ax - 1] + shape[ax:]




def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, yielding results in input order; on this
    thread when there is one item (a small file: no pool to import and start)."""
    rest = iter(items)
    head = list(itertools.islice(rest, 2 if workers > 1 else 0))
    if workers <= 1 or len(head) < 2:
        for item in itertools.chain(head, rest):
            yield fn(item)
        return
    from concurrent.futures import ThreadPoolExecutor

    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cecli") as pool:
        try:
            for item in itertools.chain(head, rest):
                pending.append(pool.submit(fn, item))
                while len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
