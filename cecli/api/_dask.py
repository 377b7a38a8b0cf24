"""The Dask engine: the local engine's chunk kernel, scheduled on a Dask cluster.

The driver (this process) opens the inputs only for their metadata, plans the canonical chunk
grid (:func:`cecli.readers.plan.plan_chunks`: each PREDS file cut into ranges of ``chunk_rows``
rows, exactly the local engine's chunks) and maps a task over it with ``client.map`` (explicit
keys, retries). Each task reads its own slice from the files -- the data never travels from the
driver -- runs the same kernel as the local engine (:func:`~cecli.api._ce.ce_chunk`,
:func:`~cecli.api._bce.bce_chunk`) and returns the chunk's partial accumulator. The driver
merges the partials strictly in chunk order, as the local engine does, so the loss, every
measure, the per-class table and the bootstrap interval are the local engine's, bit for bit.

Inputs that cannot be read by row range (CSV, TSV, txt TARGETS, stdin, compressed NPZ members)
are streamed instead: the driver reads the batches and ships them to the workers
(``client.scatter`` + ``submit``, at most two per worker thread in flight).

Per-sample output (``-o``) is a Parquet dataset: each task writes ``part-NNNNN.parquet`` (one
per chunk, a deterministic name, so a retried task replaces its part) into a temporary folder
beside the target; the driver writes ``_SUCCESS`` last and renames the folder into place.

dask is imported only here, and only when this engine runs (``pip install 'cecli[dask]'``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from .._version import __version__
from ..accumulate import BinaryAccumulator, CrossEntropyAccumulator
from ..errors import CecliError, EngineError, InputError, OutputError, UsageError
from ..readers import Batch, Inputs, ReadOptions
from ..readers.base import local_path
from ..readers.plan import ChunkTask, InputSpec, group_chunks, plan_chunks, read_chunks
from ..writers import DatasetWriter, part_name, write_part
from ._where import locate
from .spec import require_dask

__all__ = ["LOCAL_WORKERS", "RETRIES", "connect", "run_bce", "run_ce", "worker_versions"]

#: Worker processes of the LocalCluster started when no scheduler is given (1 thread each).
LOCAL_WORKERS = 2
#: How often a task is retried on another worker when its worker dies.
RETRIES = 2
#: Seconds to reach a scheduler, and to wait for its first worker.
CONNECT_TIMEOUT = 10
WORKERS_TIMEOUT = 30
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"

A = TypeVar("A", CrossEntropyAccumulator, BinaryAccumulator)


def _version_here() -> str:
    """Run on each worker: the cecli version it imports."""
    import cecli

    return str(cecli.__version__)


def worker_versions(client: Any) -> dict[str, str]:
    """The cecli version of every worker, by worker address."""
    return {str(k): str(v) for k, v in client.run(_version_here).items()}


def check_versions(client: Any) -> None:
    """EngineError (exit 3) unless every worker runs this cecli version."""
    try:
        versions = worker_versions(client)
    except Exception as exc:  # whatever a worker raised importing or running cecli
        raise EngineError(
            f"the Dask workers cannot run cecli ({type(exc).__name__}: {exc})",
            fix=f"install cecli {__version__} on every worker (pip install 'cecli[dask]')",
        ) from None
    other = {w: v for w, v in sorted(versions.items()) if v != __version__}
    if other:
        worker, version = next(iter(other.items()))
        raise EngineError(
            f"{len(other)} of {len(versions)} Dask workers run cecli {version} (first: "
            f"{worker}), but this is cecli {__version__}",
            fix=f"install cecli {__version__} on every worker, so they compute the same thing",
        )


@contextlib.contextmanager
def connect(address: str | None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client: to ``address`` (else ``DASK_SCHEDULER_ADDRESS``), or to a LocalCluster
    of ``workers`` processes (default :data:`LOCAL_WORKERS`, one thread each) started for the
    run and closed after it. The workers' cecli version is checked first."""
    require_dask()
    dist: Any = importlib.import_module("distributed")  # untyped: kept as Any

    address = address or os.environ.get(SCHEDULER_ENV) or None
    if address and workers is not None:
        raise UsageError(
            "--workers sizes the local Dask cluster; with a scheduler, start its workers "
            "yourself (dask worker ADDRESS)"
        )
    cluster: Any = None
    client: Any = None
    try:
        if address:
            try:
                client = dist.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise EngineError(
                    f"cannot reach the Dask scheduler ({exc})",
                    value=address,
                    fix="start one with `dask scheduler`, or leave out --scheduler and "
                    f"{SCHEDULER_ENV} for a local cluster",
                ) from None
        else:
            cluster = dist.LocalCluster(
                n_workers=workers or LOCAL_WORKERS,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = dist.Client(cluster, set_as_default=False)
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise EngineError(
                f"the Dask scheduler has had no worker for {WORKERS_TIMEOUT} s",
                value=address,
                fix="start workers with `dask worker ADDRESS`",
            ) from None
        check_versions(client)
        yield client
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


# -- the tasks -----------------------------------------------------------------------------


@dataclass
class ChunkOut(Generic[A]):
    """What a task sends back for one chunk: its partial statistics (or the error it hit)."""

    index: int
    part: A | None = None
    losses: np.ndarray | None = None
    error: CecliError | None = None


@dataclass
class _Work(Generic[A]):
    """The kernel a task runs on one batch, with what it needs to write ``-o`` parts."""

    fname: str
    keep_losses: bool
    out: str | None = field(default=None, init=False)  # the dataset's temporary folder
    width: int = field(default=5, init=False)

    def part_path(self, index: int) -> str:
        assert self.out is not None
        return os.path.join(self.out, part_name(index, self.width))

    def __call__(self, batch: Batch, index: int) -> ChunkOut[A]:
        raise NotImplementedError


@dataclass
class CEWork(_Work[CrossEntropyAccumulator]):
    template: CrossEntropyAccumulator | None = None
    per_row: int = 1
    with_probs: bool = False

    def __call__(self, batch: Batch, index: int) -> ChunkOut[CrossEntropyAccumulator]:
        from ._ce import _columns, ce_chunk

        assert self.template is not None
        part, pos = ce_chunk(self.template, batch, self.fname)
        if self.out is not None:
            write_part(self.part_path(index), _columns(pos, batch, self.per_row, self.with_probs))
        return ChunkOut(index, part, pos.loss if self.keep_losses else None)


@dataclass
class BCEWork(_Work[BinaryAccumulator]):
    template: BinaryAccumulator | None = None
    labels: int = 1
    names: list[str] = field(default_factory=list)

    def __call__(self, batch: Batch, index: int) -> ChunkOut[BinaryAccumulator]:
        from ._bce import bce_chunk, loss_columns

        assert self.template is not None
        keep = self.keep_losses or self.out is not None
        part, loss, (_, t, _, _) = bce_chunk(self.template, batch, self.fname, keep)
        if self.out is not None:
            assert loss is not None
            write_part(self.part_path(index), loss_columns(loss, t, batch, self.labels, self.names))
        return ChunkOut(index, part, loss if self.keep_losses else None)


def _run_planned(tasks: list[ChunkTask], work: _Work[A]) -> list[ChunkOut[A]]:
    """A task: read a run of planned chunks from the files and run the kernel on each. A
    data error ends the run and travels back as a value (retrying cannot help)."""
    out: list[ChunkOut[A]] = []
    try:
        for task, batch in zip(tasks, read_chunks(tasks), strict=True):
            out.append(work(batch, task.index))
    except CecliError as exc:
        out.append(ChunkOut(tasks[len(out)].index, error=exc))
    return out


def _run_shipped(batch: Batch, index: int, work: _Work[A]) -> list[ChunkOut[A]]:
    """A task: the kernel on a batch the driver read and shipped (unplannable inputs)."""
    try:
        return [work(batch, index)]
    except CecliError as exc:
        return [ChunkOut(index, error=exc)]


# -- the driver ----------------------------------------------------------------------------


def _cluster_failure(exc: BaseException) -> bool:
    mod = type(exc).__module__ or ""
    return mod.startswith("distributed") or isinstance(
        exc, (OSError, TimeoutError, CancelledError)
    )


def _gather(future: Any) -> list[Any]:
    try:
        result: list[Any] = future.result()
    except CecliError:
        raise
    except Exception as exc:
        if _cluster_failure(exc):
            raise EngineError(
                f"the Dask cluster could not run a chunk ({type(exc).__name__}: {exc})",
                fix="check the workers (memory, logs); tasks are retried "
                f"{RETRIES} times on another worker",
            ) from None
        raise
    return result


def _results(
    client: Any,
    work: _Work[A],
    tasks: list[ChunkTask] | None,
    inputs: Inputs,
    chunk_rows: int,
    token: str,
) -> Iterator[ChunkOut[A]]:
    """Every chunk's output, in chunk order."""
    shared = client.scatter(work, broadcast=True, hash=False)
    pending: deque[Any] = deque()
    try:
        if tasks is not None:
            groups = group_chunks(tasks)
            pending.extend(
                client.map(
                    _run_planned,
                    groups,
                    work=shared,
                    key=[f"cecli-chunks-{token}-{i}" for i in range(len(groups))],
                    retries=RETRIES,
                )
            )
            while pending:
                yield from _gather(pending.popleft())
            return
        window = 2 * max(1, sum(client.nthreads().values()))
        for k, batch in enumerate(inputs.batches(chunk_rows)):
            data = client.scatter(batch, hash=False)
            pending.append(
                client.submit(
                    _run_shipped, data, k, work=shared, key=f"cecli-batch-{token}-{k}",
                    retries=RETRIES,
                )
            )
            while len(pending) >= window:
                yield from _gather(pending.popleft())
        while pending:
            yield from _gather(pending.popleft())
    finally:
        if pending:
            with contextlib.suppress(Exception):
                client.cancel(list(pending))


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


def _drive(
    work: _Work[A],
    fold: Callable[[ChunkOut[A]], None],
    finish: Callable[[], None],
    preds: str,
    targets: str | None,
    read: ReadOptions,
    inputs: Inputs,
    chunk_rows: int,
    *,
    command: str,
    output: str | None,
    force: bool,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Plan (or stream), run every chunk on the cluster, fold the outputs in chunk order, then
    ``finish`` (raise recorded data errors) and commit the ``-o`` dataset."""
    token = uuid.uuid4().hex[:16]
    spec = InputSpec.of(preds, targets, read, token=token)
    given = {"preds": local_path(preds), "targets": local_path(targets) if targets else ""}
    tasks = plan_chunks(spec, inputs, chunk_rows)
    dataset = DatasetWriter(output, force) if output else None
    if dataset is not None:
        work.out = dataset.tmp
        work.width = max(5, len(str(len(tasks) - 1))) if tasks else 5
    count = 0
    try:
        with connect(scheduler, workers) as client:
            for out in _results(client, work, tasks, inputs, chunk_rows, token):
                if out.error is not None:
                    raise _as_given(out.error, spec, given)
                fold(out)
                count += 1
        finish()
        if dataset is not None:
            width = _widen(dataset, count, work.width)
            dataset.commit(
                count,
                width,
                {"command": command, "parts": count, "rows": inputs.rows, "version": __version__},
            )
    except (EngineError, UsageError):  # about the cluster or the options, not the inputs
        if dataset is not None:
            dataset.abort()
        raise
    except CecliError as exc:
        if dataset is not None:
            dataset.abort()
        raise locate(exc, inputs) from None
    except BaseException:
        if dataset is not None:
            dataset.abort()
        raise


def _widen(dataset: DatasetWriter, count: int, width: int) -> int:
    """Streamed runs name parts before their number is known: past 10**width parts, pad them
    all wider so that path order stays chunk order."""
    need = max(width, len(str(max(count - 1, 0))))
    if need > width:
        for i in range(count):
            os.replace(dataset.part_path(i, width), dataset.part_path(i, need))
    return need


def run_ce(
    preds: str,
    targets: str | None,
    read: ReadOptions,
    cfg: Any,
    acc: CrossEntropyAccumulator,
    inputs: Inputs,
    chunk_rows: int,
    per_row: int,
) -> list[np.ndarray]:
    """``evaluate`` on the Dask engine: merges every chunk into ``acc`` in order, writes the
    ``-o`` dataset, returns the kept per-position losses (``--reduction none``)."""
    kept: list[np.ndarray] = []
    work = CEWork(
        inputs.preds_info.path,
        cfg.keep_losses,
        template=acc.spawn(),
        per_row=per_row,
        with_probs=cfg.with_probs,
    )

    def fold(out: ChunkOut[CrossEntropyAccumulator]) -> None:
        assert out.part is not None
        acc.merge(out.part)
        if out.losses is not None:
            kept.append(out.losses)

    _drive(
        work, fold, acc.check, preds, targets, read, inputs, chunk_rows,
        command=cfg.command, output=cfg.output, force=cfg.force,
        scheduler=cfg.scheduler, workers=cfg.workers,
    )
    return kept


def run_bce(
    preds: str,
    targets: str | None,
    read: ReadOptions,
    cfg: Any,
    acc: BinaryAccumulator,
    inputs: Inputs,
    chunk_rows: int,
    labels: int,
    names: list[str],
) -> list[np.ndarray]:
    """``evaluate_bce`` on the Dask engine (see :func:`run_ce`)."""
    kept: list[np.ndarray] = []
    work = BCEWork(
        inputs.preds_info.path, cfg.keep_losses, template=acc.spawn(), labels=labels, names=names
    )

    def fold(out: ChunkOut[BinaryAccumulator]) -> None:
        assert out.part is not None
        acc.merge(out.part)
        if out.losses is not None:
            kept.append(out.losses)

    _drive(
        work, fold, acc.check, preds, targets, read, inputs, chunk_rows,
        command=cfg.command, output=cfg.output, force=cfg.force,
        scheduler=cfg.scheduler, workers=cfg.workers,
    )
    return kept
