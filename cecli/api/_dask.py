"""The Dask engine: the local engine's chunk kernel, scheduled on a Dask cluster.

The driver (this process) opens the inputs only for their metadata, plans the canonical chunk
grid (:func:`cecli.readers.plan.plan_chunks`: each PREDS file cut into ranges of ``chunk_rows``
rows, exactly the local engine's chunks) and maps a task over it with ``client.map`` (explicit
keys, retries). Each task reads its own slice from the files -- the data never travels from the
driver -- runs the same chunk kernel as the local engine (:mod:`._kernels`) and returns the chunk's
partial accumulator. The driver
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
from collections.abc import Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..errors import CecliError, EngineError, InputError, OutputError, UsageError
from ..readers import Batch, Inputs
from ..readers.base import local_path
from ..readers.plan import ChunkTask, InputSpec, group_chunks, plan_chunks, read_chunks
from ..writers import DatasetWriter, part_name, write_part
from ._engine import Engine, Job, Plan
from ._kernels import ChunkKernel, ChunkOut
from ._where import located
from .spec import RunSpec, require_dask

__all__ = ["LOCAL_WORKERS", "RETRIES", "DaskEngine", "DaskTask", "connect", "worker_versions"]

#: Worker processes of the LocalCluster started when no scheduler is given (1 thread each).
LOCAL_WORKERS = 2
#: How often a task is retried on another worker when its worker dies.
RETRIES = 2
#: Seconds to reach a scheduler's port, to complete Dask's handshake there, and to wait for a
#: first worker (of a remote scheduler; of the LocalCluster cecli starts itself).
PROBE_TIMEOUT = 1.5
CONNECT_TIMEOUT = 3
REMOTE_WORKERS_TIMEOUT = 2
WORKERS_TIMEOUT = 30
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"

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
    option = "--scheduler" if address else SCHEDULER_ENV
    address = address or os.environ.get(SCHEDULER_ENV) or None
    if address and workers is not None:
        raise UsageError(
            "--workers sizes the local Dask cluster; with a scheduler, start its workers "
            "yourself (dask worker ADDRESS)"
        )
    if address:
        address = check_address(address, option)
    require_dask()
    dist: Any = importlib.import_module("distributed")  # untyped: kept as Any
    cluster: Any = None
    client: Any = None
    try:
        if address:
            client = _client(dist, address)
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
        wait = REMOTE_WORKERS_TIMEOUT if address else WORKERS_TIMEOUT
        try:
            with _quiet_dask():
                client.wait_for_workers(1, timeout=wait)
        except (TimeoutError, OSError):
            raise EngineError(
                f"the Dask scheduler has had no worker for {wait} s",
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


_SCHEMES = ("tcp", "tls", "ws", "wss")


def check_address(address: str, option: str) -> str:
    """A scheduler address as Dask takes it (``[tcp://]HOST:PORT``), or a UsageError naming
    ``option`` (``--scheduler`` / ``DASK_SCHEDULER_ADDRESS``) -- before anything connects: a
    dashboard URL or an address without a port made Dask retry for 20 s, then a traceback."""
    text = address.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    scheme = scheme.lower()
    example = "e.g. tcp://10.0.0.5:8786, the address `dask scheduler` prints"
    if scheme in ("http", "https"):
        raise UsageError(
            f"{option} is a web address (the dashboard's?), not a Dask scheduler's",
            value=address,
            fix=f"give the scheduler's address, {example}",
        )
    if scheme not in _SCHEMES:
        raise UsageError(
            f"{option} has the protocol {scheme!r}; Dask schedulers speak "
            + ", ".join(_SCHEMES),
            value=address,
            fix=example,
        )
    rest = rest.rstrip("/")
    if rest.startswith("["):  # [IPv6]:port
        host, _, port = rest[1:].partition("]")
        port = port[1:] if port.startswith(":") else ""
    else:
        host, _, port = rest.rpartition(":")
    if ":" not in rest.rsplit("]", 1)[-1]:
        raise UsageError(f"{option} has no port", value=address, fix=example)
    if not host or "/" in rest:
        raise UsageError(f"{option} is not HOST:PORT", value=address, fix=example)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"{option} has no port" if not port else f"{option} has a bad port",
            value=address,
            fix=example,
        )
    return f"{scheme}://{rest}"


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask logs connection failures (and their tracebacks) on stderr; cecli says it once."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _client(dist: Any, address: str) -> Any:
    """A client of the scheduler at ``address``, or an EngineError within a few seconds: the
    port is probed first (a refused or unanswered port fails at once), then the Dask
    handshake has :data:`CONNECT_TIMEOUT` seconds (a port that is not a Dask scheduler)."""
    import socket

    fix = (
        f"start one with `dask scheduler`, or leave out --scheduler and {SCHEDULER_ENV} "
        "for a local cluster"
    )
    rest = address.split("://", 1)[1]
    host, _, port = rest.rpartition(":")
    not_dask = "check the port: the scheduler's (8786 by default), not the dashboard's"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT) as s:
            greeting = _greeting(s) if address.startswith("tcp://") else b"-" * 8
    except ConnectionRefusedError:
        raise EngineError(
            "cannot reach the Dask scheduler: the connection was refused (nothing listens "
            "on that port)",
            value=address,
            fix=fix,
        ) from None
    except socket.gaierror as exc:
        raise EngineError(
            f"cannot reach the Dask scheduler: unknown host {host!r} ({exc.strerror})",
            value=address,
            fix=fix,
        ) from None
    except OSError as exc:  # timeouts, unreachable networks
        raise EngineError(
            f"cannot reach the Dask scheduler ({exc.strerror or exc or 'no answer'})",
            value=address,
            fix=fix,
        ) from None
    if len(greeting) < 8 or not 0 < int.from_bytes(greeting[:8], "little") < 1 << 26:
        # a Dask scheduler greets first with a small frame (an 8-byte length, then msgpack);
        # read as Dask would, an HTTP server's reply is a length of exabytes (a MemoryError)
        what = "nothing within {PROBE_TIMEOUT} s" if not greeting else repr(greeting[:16])
        raise EngineError(
            f"no Dask scheduler answers there (it said {what.format(PROBE_TIMEOUT=PROBE_TIMEOUT)})",
            value=address,
            fix=not_dask,
        )
    try:
        with _quiet_dask():
            return dist.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, MemoryError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EngineError(
            f"no Dask scheduler answers there ({first})", value=address, fix=not_dask
        ) from None


def _greeting(sock: Any) -> bytes:
    """The first 8 bytes a server sends on connect (fewer: it closed, or said nothing)."""
    got = b""
    try:
        while len(got) < 8:
            chunk = sock.recv(8 - len(got))
            if not chunk:
                break
            got += chunk
    except OSError:  # a timeout too
        pass
    return got


# -- the tasks -----------------------------------------------------------------------------


@dataclass
class DaskTask:
    """A chunk kernel as a Dask task runs it: the ``-o`` rows go to the chunk's part file in
    the dataset's temporary folder, not back to the driver."""

    kernel: ChunkKernel
    out: str | None = None  # the dataset's temporary folder
    width: int = 5

    def part_path(self, index: int) -> str:
        assert self.out is not None
        return os.path.join(self.out, part_name(index, self.width))

    def __call__(self, batch: Batch, index: int) -> ChunkOut:
        out = self.kernel(batch, index)
        if self.out is not None and out.loss_rows is not None:
            write_part(self.part_path(index), out.loss_rows)
            out.loss_rows = None  # rows for stdout (-o -) travel back to the driver
        return out


def _run_planned(tasks: list[ChunkTask], work: DaskTask) -> list[ChunkOut]:
    """A task: read a run of planned chunks from the files and run the kernel on each. A
    data error ends the run and travels back as a value (retrying cannot help)."""
    out: list[ChunkOut] = []
    try:
        for task, batch in zip(tasks, read_chunks(tasks), strict=True):
            out.append(work(batch, task.index))
    except CecliError as exc:
        out.append(ChunkOut(tasks[len(out)].index, error=exc))
    return out


def _run_shipped(batch: Batch, index: int, work: DaskTask) -> list[ChunkOut]:
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
    work: DaskTask,
    tasks: list[ChunkTask] | None,
    inputs: Inputs,
    chunk_rows: int,
    token: str,
) -> Iterator[ChunkOut]:
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
        job.outputs.open_loss(())
        dataset = job.outputs.dataset
        work = DaskTask(job.kernel)
        if dataset is not None:
            work.out = dataset.tmp
            work.width = max(5, len(str(len(tasks) - 1))) if tasks else 5
        count = 0
        # errors about the cluster or the options are raised as they are, not as the inputs'
        with located(inputs, keep=(EngineError, UsageError)):
            with connect(self.scheduler, self.workers) as client:
                for out in _results(client, work, tasks, inputs, plan.chunk_rows, token):
                    if out.error is not None:
                        raise _as_given(out.error, spec, given)
                    job.fold(out)
                    count += 1
            job.finish()
            if dataset is not None:
                width = _widen(dataset, count, work.width)
                marker = {
                    "command": job.command,
                    "parts": count,
                    "rows": inputs.rows,
                    "version": __version__,
                }
                job.parts = (count, width, marker)


def _widen(dataset: DatasetWriter, count: int, width: int) -> int:
    """Streamed runs name parts before their number is known: past 10**width parts, pad them
    all wider so that path order stays chunk order."""
    need = max(width, len(str(max(count - 1, 0))))
    if need > width:
        for i in range(count):
            os.replace(dataset.part_path(i, width), dataset.part_path(i, need))
    return need
