"""The Dask engine: the local engine's chunk kernel, scheduled on a Dask cluster.

The driver (this process) opens the inputs only for their metadata, plans the canonical chunk
grid (:func:`cecli.readers.plan.plan_chunks`: each PREDS file cut into ranges of ``chunk_rows``
rows, exactly the local engine's chunks) and maps a task over it with ``client.map`` (explicit
keys, retries; small chunks batched, :data:`TASK_BYTES`). The opened inputs travel once, with
the run's task description (:class:`~cecli.readers.plan.Shipped`: every Parquet footer
included), so no worker lists a folder or reads a footer again. Each task reads its own slices
from the files -- the data never travels from the driver -- runs the same chunk kernel as the
local engine (:mod:`._kernels`) and returns the chunks' partial accumulators. The driver
merges the partials strictly in chunk order, as the local engine does, so the loss, every
measure, the per-class table and the bootstrap interval are the local engine's, bit for bit.

Inputs that cannot be read by row range (CSV, TSV, txt TARGETS, stdin, compressed NPZ members)
are streamed instead: the driver reads the batches and ships them to the workers
(``client.scatter`` + ``submit``, at most two per worker thread in flight).

Per-sample output (``-o``) is a Parquet dataset: each task writes ``part-NNNNN.parquet`` (one
per task -- all its chunks' rows, in chunk order -- under a deterministic name, so a retried
task replaces its part) into a temporary folder beside the target; the driver writes
``_SUCCESS`` last and renames the folder into place.

Reaching the cluster (addresses, timeouts, version checks) is :mod:`._cluster`'s. dask is
imported only when this engine runs (``pip install 'cecli[dask]'``).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import CecliError, EngineError, InputError, OutputError, UsageError
from ..readers import Batch, Inputs
from ..readers.base import local_path
from ..readers.plan import (
    ChunkTask,
    InputSpec,
    Shipped,
    Span,
    group_chunks,
    plan_chunks,
    read_spans,
)
from ..writers import DatasetWriter, part_name, write_part
from ._cluster import LOST_ENV, LOST_TIMEOUT, connect, seconds
from ._engine import Engine, Job, Plan
from ._kernels import ChunkKernel, ChunkOut
from ._where import located
from .spec import RunSpec

__all__ = ["RETRIES", "DaskEngine", "DaskTask", "Done"]

#: How often a task is retried on another worker when its worker dies.
RETRIES = 2
#: Seconds a failed run waits for the tasks still running to stop, before removing -o.
SETTLE_TIMEOUT = 60.0
#: Seconds between looks at the cluster while a task runs.
POLL = 0.5
#: Bytes of predictions a planned task reads at least (small chunks batched, up to
#: :data:`~cecli.readers.plan.BATCH` of them): a task costs the scheduler milliseconds.
TASK_BYTES = 16 << 20


# -- the tasks -----------------------------------------------------------------------------


@dataclass
class DaskTask:
    """A chunk kernel as a Dask task runs it: the ``-o`` rows go to the chunk's part file in
    the dataset's temporary folder, not back to the driver. ``version`` is the driver's: a
    worker that imports another cecli refuses to run it."""

    kernel: ChunkKernel
    out: str | None = None  # the dataset's temporary folder
    width: int = 5
    version: str = __version__
    opened: Shipped | None = None  # the driver's opened inputs (planned runs)

    def part_path(self, index: int) -> str:
        assert self.out is not None
        return os.path.join(self.out, part_name(index, self.width))

    def __call__(self, batch: Batch, index: int) -> ChunkOut:
        out = self.kernel(batch, index)
        self.write([out], index)
        return out

    def write(self, outs: list[ChunkOut], part: int) -> None:
        """The ``-o`` rows of consecutive chunks as one part (rows for stdout, ``-o -``,
        travel back to the driver instead)."""
        rows = [o.loss_rows for o in outs if o.loss_rows is not None]
        if self.out is None or not rows:
            return
        columns = rows[0] if len(rows) == 1 else {
            k: np.concatenate([r[k] for r in rows]) for k in rows[0]
        }
        write_part(self.part_path(part), columns)
        for o in outs:
            o.loss_rows = None


@dataclass
class Done:
    """What a task gives back: the cecli version that ran it (the driver takes no other), and
    the chunks' outputs -- none when the worker refused (``worker`` says which)."""

    version: str
    outs: list[ChunkOut]
    worker: str = ""


def _refused(work: DaskTask) -> Done | None:
    """A worker importing another cecli than the driver computes nothing (checked in every
    task, so a worker that joins during the run is checked too)."""
    if work.version == __version__:
        return None
    from distributed import get_worker

    with contextlib.suppress(ValueError):
        return Done(__version__, [], str(get_worker().address))
    return Done(__version__, [])


def _run_planned(spans: list[Span], part: int, work: DaskTask) -> Done:
    """A task: read a run of planned chunks from the files, run the kernel on each and write
    their ``-o`` rows as part ``part``. A data error ends the run and travels back as a value
    (retrying cannot help)."""
    refused = _refused(work)
    if refused is not None:
        return refused
    assert work.opened is not None  # planned runs ship their opened inputs
    out: list[ChunkOut] = []
    try:
        for (index, _, _), batch in zip(spans, read_spans(spans, work.opened), strict=True):
            out.append(work.kernel(batch, index))
    except CecliError as exc:
        return Done(__version__, [*out, ChunkOut(spans[len(out)][0], error=exc)])
    try:
        work.write(out, part)
    except CecliError as exc:  # the part cannot be written: the run's error, at its first chunk
        return Done(__version__, [ChunkOut(spans[0][0], error=exc)])
    return Done(__version__, out)


def _run_shipped(batch: Batch, index: int, work: DaskTask) -> Done:
    """A task: the kernel on a batch the driver read and shipped (unplannable inputs)."""
    refused = _refused(work)
    if refused is not None:
        return refused
    try:
        return Done(__version__, [work(batch, index)])
    except CecliError as exc:
        return Done(__version__, [ChunkOut(index, error=exc)])


def _identity(work: DaskTask) -> DaskTask:
    """The run's task description as a computed key: unlike scattered data, the scheduler
    computes it again when every worker that held it is gone."""
    return work


def _live(token: str, dask_worker: Any = None) -> int:
    """On a worker: how many tasks of the run ``token`` it has not let go of yet (running,
    cancelled while running, about to run)."""
    idle = ("memory", "error", "released", "forgotten")
    tasks = dask_worker.state.tasks.items() if dask_worker is not None else ()
    return sum(1 for key, ts in tasks if token in str(key) and ts.state not in idle)


# -- the driver ----------------------------------------------------------------------------


def _cluster_failure(exc: BaseException) -> bool:
    mod = type(exc).__module__ or ""
    return mod.startswith("distributed") or isinstance(
        exc, (OSError, TimeoutError, CancelledError)
    )


class _Flight:
    """The tasks of one run on a cluster: submitted, awaited in chunk order while the cluster
    has workers (for at most ``CECLI_DASK_LOST_TIMEOUT`` seconds without any), and, when the
    run ends early, cancelled and waited for -- no task still writes ``-o`` parts when the
    driver removes their folder."""

    def __init__(self, client: Any, work: DaskTask, token: str) -> None:
        self.client = client
        self.token = token
        self.lost = seconds(LOST_ENV, LOST_TIMEOUT)
        self.work = client.submit(_identity, work, key=f"cecli-work-{token}", pure=False)
        self.pending: deque[tuple[Any, Callable[[int], Any] | None]] = deque()
        self.current: Any = None

    def map_planned(self, groups: list[list[ChunkTask]]) -> None:
        keys = [f"cecli-chunks-{self.token}-{i}" for i in range(len(groups))]
        spans = [[t.span for t in group] for group in groups]  # cheap to tokenize and ship
        futures = self.client.map(
            _run_planned, spans, range(len(groups)), work=self.work, key=keys, retries=RETRIES
        )
        self.pending.extend((f, None) for f in futures)

    def ship(self, batch: Batch, k: int) -> None:
        """Submit a batch the driver read; scattered data dies with its worker, so the batch
        is kept here until its chunk is done and shipped again if it is lost."""

        def submit(attempt: int) -> Any:
            return self.client.submit(
                _run_shipped, self._scatter(batch), k, work=self.work,
                key=f"cecli-batch-{self.token}-{k}-{attempt}", retries=RETRIES,
            )

        self.pending.append((submit(0), submit))

    def _scatter(self, batch: Batch) -> Any:
        """``batch`` on a worker; a worker that dies while receiving it (the connection
        closes) is not the run's failure while another worker can take it."""
        deadline = time.monotonic() + self.lost
        while True:
            try:
                return self.client.scatter(batch, hash=False, timeout=self.lost)
            except TimeoutError:  # no worker to take it
                raise self._no_worker() from None
            except Exception as exc:
                if not _cluster_failure(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(POLL)

    def next(self) -> list[ChunkOut]:
        """The outputs of the oldest pending task (in chunk order)."""
        future, again = self.pending.popleft()
        for attempt in range(1, RETRIES + 2):
            self.current = future
            try:
                done = self._result(future)
            except CecliError:
                raise
            except Exception as exc:
                if not _cluster_failure(exc):
                    raise
                if again is None or attempt > RETRIES:
                    raise EngineError(
                        f"the Dask cluster could not run a chunk ({type(exc).__name__}: {exc})",
                        fix="check the workers (memory, logs); tasks are retried "
                        f"{RETRIES} times on another worker",
                    ) from None
                future = again(attempt)
                continue
            self.current = None
            return _checked(done)
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, future: Any) -> Any:
        """The future's result, waiting as long as the cluster has a worker (the data of a
        finished task may be lost with its worker and computed again)."""
        since: float | None = None
        while True:
            try:
                return future.result(timeout=POLL)
            except TimeoutError:
                if future.status == "error":  # the task's own error, not the wait's
                    raise
            if self.client.nthreads():
                since = None
                continue
            since = since or time.monotonic()
            if time.monotonic() - since >= self.lost:
                raise self._no_worker()

    def _no_worker(self) -> EngineError:
        return EngineError(
            f"the Dask cluster has had no worker for {self.lost:g} s",
            fix=f"restart the workers ({LOST_ENV} sets how long a run waits)",
        )

    def settle(self) -> None:
        """Cancel what is left and wait (up to :data:`SETTLE_TIMEOUT` s) until no worker runs
        a task of this run any more."""
        futures = [f for f, _ in self.pending] + [self.current, self.work]
        self.pending.clear()
        with contextlib.suppress(Exception):
            self.client.cancel([f for f in futures if f is not None], force=True)
        end = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < end:
            try:
                busy = self.client.run(_live, self.token, on_error="return")
            except Exception:  # the scheduler is gone: nothing runs tasks for it
                return
            if not any(isinstance(n, int) and n for n in busy.values()):
                return
            time.sleep(0.1)


def _checked(done: Any) -> list[ChunkOut]:
    """A task's outputs, if a worker of this cecli version computed them."""
    if not isinstance(done, Done):
        raise EngineError(
            "a Dask worker runs another cecli version (it answered a task with "
            f"{type(done).__name__}), but this is cecli {__version__}",
            fix=f"install cecli {__version__} on every worker, so they compute the same thing",
        )
    if done.version != __version__ or not done.outs:
        raise EngineError(
            f"a Dask worker{f' ({done.worker})' if done.worker else ''} runs cecli "
            f"{done.version if done.version != __version__ else 'of another version'}, but "
            f"this is cecli {__version__}",
            fix=f"install cecli {__version__} on every worker, so they compute the same thing",
        )
    return done.outs


def _results(
    client: Any,
    work: DaskTask,
    groups: list[list[ChunkTask]] | None,
    inputs: Inputs,
    chunk_rows: int,
    token: str,
) -> Generator[ChunkOut, None, None]:
    """Every chunk's output, in chunk order; when the run ends early (an error, Ctrl-C), the
    tasks still running are cancelled and waited for."""
    flight = _Flight(client, work, token)
    finished = False
    try:
        if groups is not None:
            flight.map_planned(groups)
        else:
            window = 2 * max(1, sum(client.nthreads().values()))
            for k, batch in enumerate(inputs.batches(chunk_rows)):
                flight.ship(batch, k)
                while len(flight.pending) >= window:
                    yield from flight.next()
        while flight.pending:
            yield from flight.next()
        finished = True
    finally:
        if not finished:
            flight.settle()


def _as_given(exc: CecliError, spec: InputSpec, given: dict[str, str]) -> CecliError:
    """A worker's error names the absolute path it opened: show the path the user gave."""
    name = exc.file
    if name is None:
        return exc
    for absolute, original in ((spec.preds, given.get("preds")), (spec.targets, given.get("targets"))):
        if absolute and original and (name == absolute or name.startswith(absolute + os.sep)):
            exc.file = original + name[len(absolute) :]
            break
    if isinstance(exc, InputError) and exc.what.startswith("no such file"):
        exc.fix = (
            "the Dask workers read the inputs themselves: give them the same paths (a shared "
            "filesystem, or s3://)"
        )
    elif isinstance(exc, OutputError):
        exc.fix = "the Dask workers write -o themselves: give them a folder they share with this one"
    exc.args = (exc.message(),)
    return exc


class DaskEngine(Engine):
    """The engine seam on a Dask cluster: plan (or stream) the chunks, run the kernel as tasks,
    fold their partials in chunk order, then commit the ``-o`` dataset."""

    def __init__(self, run: RunSpec) -> None:
        self.scheduler = run.scheduler
        self.workers = run.workers

    def run(self, plan: Plan, job: Job) -> None:
        token = uuid.uuid4().hex[:16]
        spec = InputSpec.of(plan.preds, plan.targets, plan.read, token=token)
        given = {
            "preds": local_path(plan.preds),
            "targets": local_path(plan.targets) if plan.targets else "",
        }
        inputs = plan.inputs
        tasks = plan_chunks(spec, inputs, plan.chunk_rows)
        groups = None
        if tasks is not None:
            row_bytes = max(1, math.prod(inputs.sample_shape)) * inputs.dtype.itemsize
            groups = group_chunks(tasks, max(plan.chunk_rows, TASK_BYTES // row_bytes))
        job.outputs.open_loss(())
        dataset = job.outputs.dataset
        work = DaskTask(job.kernel, opened=Shipped(inputs, token) if tasks else None)
        if dataset is not None:
            work.out = dataset.tmp
            work.width = max(5, len(str(len(groups) - 1))) if groups else 5
        count = 0
        # errors about the cluster or the options are raised as they are, not as the inputs'
        with located(inputs, keep=(EngineError, UsageError)):
            with (
                connect(self.scheduler, self.workers) as client,
                contextlib.closing(
                    _results(client, work, groups, inputs, plan.chunk_rows, token)
                ) as outs,
            ):
                for out in outs:
                    if out.error is not None:
                        raise _as_given(out.error, spec, given)
                    job.fold(out)
                    count += 1
            job.finish()
            if dataset is not None:
                parts = len(groups) if groups is not None else count  # streamed: one a chunk
                width = _widen(dataset, parts, work.width)
                marker = {
                    "command": job.command,
                    "parts": parts,
                    "rows": inputs.rows,
                    "version": __version__,
                }
                job.parts = (parts, width, marker)


def _widen(dataset: DatasetWriter, count: int, width: int) -> int:
    """Streamed runs name parts before their number is known: past 10**width parts, pad them
    all wider so that path order stays chunk order."""
    need = max(width, len(str(max(count - 1, 0))))
    if need > width:
        for i in range(count):
            os.replace(dataset.part_path(i, width), dataset.part_path(i, need))
    return need
