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
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator
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

__all__ = [
    "LOCAL_WORKERS",
    "RETRIES",
    "DaskEngine",
    "DaskTask",
    "Done",
    "connect",
    "seconds",
    "worker_versions",
]

#: Worker processes of the LocalCluster started when no scheduler is given (1 thread each).
LOCAL_WORKERS = 2
#: How often a task is retried on another worker when its worker dies.
RETRIES = 2
#: Seconds (default; ``CECLI_DASK_TIMEOUT``) to reach a scheduler, complete Dask's handshake
#: and see a first worker: a refused port, a port that is no scheduler's, a scheduler without
#: workers fail within them. Of that, at most PROBE_TIMEOUT for the port to answer.
TIMEOUT_ENV = "CECLI_DASK_TIMEOUT"
TIMEOUT = 3.0
PROBE_TIMEOUT = 1.5
#: Seconds (default; ``CECLI_DASK_LOST_TIMEOUT``) a run waits while its cluster has no worker
#: at all (nannies restarting them, an autoscaler) before it fails.
LOST_ENV = "CECLI_DASK_LOST_TIMEOUT"
LOST_TIMEOUT = 60.0
#: Seconds for the LocalCluster cecli starts itself to start a worker.
WORKERS_TIMEOUT = 30
#: Seconds a failed run waits for the tasks still running to stop, before removing -o.
SETTLE_TIMEOUT = 60.0
#: Seconds between looks at the cluster while a task runs.
POLL = 0.5
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


def seconds(name: str, default: float) -> float:
    """The seconds the environment variable ``name`` gives (else ``default``); a UsageError
    naming it unless it is a number above 0."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UsageError(f"{name} must be a number of seconds above 0", value=text)
    return value


def _version_here() -> str:
    """Run on each worker: the cecli version it imports."""
    import cecli

    return str(cecli.__version__)


def worker_versions(client: Any) -> dict[str, str]:
    """The cecli version of every worker, by worker address."""
    return {str(k): str(v) for k, v in client.run(_version_here).items()}


def check_versions(client: Any) -> None:
    """EngineError (exit 3) unless the scheduler (it unpacks the tasks) and every worker run
    this cecli version."""
    try:
        version = str(client.run_on_scheduler(_version_here))
    except Exception as exc:  # whatever the scheduler raised importing or running cecli
        version = f"nothing ({type(exc).__name__}: {exc})"
    if version != __version__:
        raise EngineError(
            f"the Dask scheduler runs cecli {version}, but this is cecli {__version__}",
            fix=f"install cecli {__version__} beside the scheduler too: it unpacks the tasks",
        )
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
    run and closed after it. The workers' cecli version is checked first; a remote cluster
    answers within ``CECLI_DASK_TIMEOUT`` seconds or the run fails."""
    option = "--scheduler" if address else SCHEDULER_ENV
    address = address or os.environ.get(SCHEDULER_ENV) or None
    if address and workers is not None:
        raise UsageError(
            "--workers sizes the local Dask cluster; with a scheduler, start its workers "
            "yourself (dask worker ADDRESS)"
        )
    if address:
        address = check_address(address, option)
    budget = seconds(TIMEOUT_ENV, TIMEOUT)
    seconds(LOST_ENV, LOST_TIMEOUT)  # a bad value is exit 2 before anything starts
    require_dask()
    dist: Any = importlib.import_module("distributed")  # untyped: kept as Any
    cluster: Any = None
    client: Any = None
    end = time.monotonic() + budget
    try:
        with _quiet_dask():
            if address:
                client = _client(dist, address, end)
            else:
                cluster = _local_cluster(dist, workers or LOCAL_WORKERS)
                client = dist.Client(cluster, set_as_default=False)
                end = time.monotonic() + WORKERS_TIMEOUT
            _quiet_loop(client)
            wait = max(end - time.monotonic(), 0.5)
            try:
                client.wait_for_workers(1, timeout=wait)
            except (TimeoutError, OSError):
                raise EngineError(
                    f"the Dask scheduler has had no worker for {budget if address else wait:g} s",
                    value=address,
                    fix=f"start workers with `dask worker ADDRESS` ({TIMEOUT_ENV} sets the wait)",
                ) from None
            check_versions(client)
            yield client
    finally:
        with _quiet_dask():
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()


def _quiet_loop(client: Any) -> None:
    """A wait for a result that timed out leaves a task in the client's event loop that fails
    once the run is over (distributed's ``AllExit``): asyncio would log it at exit."""
    loop = client.loop.asyncio_loop

    def handle(loop: Any, context: dict[str, Any]) -> None:
        if type(context.get("exception")).__name__ != "AllExit":
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def _local_cluster(dist: Any, workers: int) -> Any:
    """A LocalCluster of ``workers`` processes on 127.0.0.1, every port chosen by the system
    (two runs at once print no "port already in use" warning)."""
    return dist.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )


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
    """Dask logs connection failures (and their tracebacks), lost workers and rescheduled
    keys on stderr; cecli says what matters once."""
    names = ["distributed"] + [
        n for n in logging.Logger.manager.loggerDict if n.startswith("distributed.")
    ]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _client(dist: Any, address: str, end: float) -> Any:
    """A client of the scheduler at ``address``, or an EngineError by the time ``end``
    (``time.monotonic()``): the port is probed first (a refused or unanswered port fails at
    once), then the Dask handshake has the time left (a port that is not a Dask scheduler)."""
    import socket

    fix = (
        f"start one with `dask scheduler`, or leave out --scheduler and {SCHEDULER_ENV} "
        "for a local cluster"
    )
    rest = address.split("://", 1)[1]
    host, _, port = rest.rpartition(":")
    not_dask = "check the port: the scheduler's (8786 by default), not the dashboard's"
    probe = max(min(PROBE_TIMEOUT, (end - time.monotonic()) / 2), 0.1)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=probe) as s:
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
        what = f"nothing within {probe:.1f} s" if not greeting else repr(greeting[:16])
        raise EngineError(
            f"no Dask scheduler answers there (it said {what})",
            value=address,
            fix=not_dask,
        )
    try:
        wait = max(end - time.monotonic(), 1.0)
        return dist.Client(address, timeout=wait, set_as_default=False)
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
    the dataset's temporary folder, not back to the driver. ``version`` is the driver's: a
    worker that imports another cecli refuses to run it."""

    kernel: ChunkKernel
    out: str | None = None  # the dataset's temporary folder
    width: int = 5
    version: str = __version__

    def part_path(self, index: int) -> str:
        assert self.out is not None
        return os.path.join(self.out, part_name(index, self.width))

    def __call__(self, batch: Batch, index: int) -> ChunkOut:
        out = self.kernel(batch, index)
        if self.out is not None and out.loss_rows is not None:
            write_part(self.part_path(index), out.loss_rows)
        out.loss_rows = None
        return out


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


def _run_planned(tasks: list[ChunkTask], work: DaskTask) -> Done:
    """A task: read a run of planned chunks from the files and run the kernel on each. A
    data error ends the run and travels back as a value (retrying cannot help)."""
    refused = _refused(work)
    if refused is not None:
        return refused
    out: list[ChunkOut] = []
    try:
        for task, batch in zip(tasks, read_chunks(tasks), strict=True):
            out.append(work(batch, task.index))
    except CecliError as exc:
        out.append(ChunkOut(tasks[len(out)].index, error=exc))
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
        futures = self.client.map(
            _run_planned, groups, work=self.work, key=keys, retries=RETRIES
        )
        self.pending.extend((f, None) for f in futures)

    def ship(self, batch: Batch, k: int) -> None:
        """Submit a batch the driver read; scattered data dies with its worker, so the batch
        is kept here until its chunk is done and shipped again if it is lost."""

        def submit(attempt: int) -> Any:
            try:
                data = self.client.scatter(batch, hash=False, timeout=self.lost)
            except TimeoutError:  # no worker to take it
                raise self._no_worker() from None
            return self.client.submit(
                _run_shipped, data, k, work=self.work,
                key=f"cecli-batch-{self.token}-{k}-{attempt}", retries=RETRIES,
            )

        self.pending.append((submit(0), submit))

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
    tasks: list[ChunkTask] | None,
    inputs: Inputs,
    chunk_rows: int,
    token: str,
) -> Generator[ChunkOut, None, None]:
    """Every chunk's output, in chunk order; when the run ends early (an error, Ctrl-C), the
    tasks still running are cancelled and waited for."""
    flight = _Flight(client, work, token)
    finished = False
    try:
        if tasks is not None:
            flight.map_planned(group_chunks(tasks, chunk_rows))
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
        job.outputs.open_loss(())
        dataset = job.outputs.dataset
        work = DaskTask(job.kernel)
        if dataset is not None:
            work.out = dataset.tmp
            work.width = max(5, len(str(len(tasks) - 1))) if tasks else 5
        count = 0
        # errors about the cluster or the options are raised as they are, not as the inputs'
        with located(inputs, keep=(EngineError, UsageError)):
            with (
                connect(self.scheduler, self.workers) as client,
                contextlib.closing(
                    _results(client, work, tasks, inputs, plan.chunk_rows, token)
                ) as outs,
            ):
                for out in outs:
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
