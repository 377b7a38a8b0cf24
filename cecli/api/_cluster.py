"""Reaching a Dask cluster for the Dask engine (:mod:`._dask`): the scheduler's address checked
before anything connects, a client within ``CECLI_DASK_TIMEOUT`` seconds (or a LocalCluster
started for the run), the scheduler's and the workers' cecli version checked, Dask's own logging
kept quiet (cecli says what went wrong, once).

dask is imported only when this runs (``pip install 'cecli[dask]'``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from .._version import __version__
from ..errors import EngineError, UsageError, first_line
from .spec import require_dask

__all__ = [
    "LOCAL_WORKERS",
    "LOST_ENV",
    "LOST_TIMEOUT",
    "SCHEDULER_ENV",
    "TIMEOUT_ENV",
    "check_address",
    "check_versions",
    "connect",
    "seconds",
    "worker_versions",
]

#: Worker processes of the LocalCluster started when no scheduler is given (1 thread each).
LOCAL_WORKERS = 2
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
    fix = f"install cecli {__version__} beside the scheduler too: it unpacks the tasks"
    try:
        version = str(client.run_on_scheduler(_version_here))
    except Exception as exc:  # no cecli there, or one without this module
        raise EngineError(
            f"the Dask scheduler cannot load this cecli's code ({type(exc).__name__}: {exc})",
            fix=fix,
        ) from None
    if version != __version__:
        raise EngineError(
            f"the Dask scheduler runs cecli {version}, but this is cecli {__version__}", fix=fix
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
    (two runs at once print no "port already in use" warning). The worker processes log only
    what is critical: on a loaded machine a worker's heartbeat can race the scheduler's
    shutdown at the end of a run that succeeded, which distributed logs as an ERROR with a
    traceback on the run's stderr; a task's own failure reaches cecli as its exception."""
    import dask

    # The nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which hands freed memory back
    # at once, so every large temporary of every chunk costs a page fault per 4 KiB: the
    # kernel and the bootstrap ran 1.5x to 4x slower per chunk than on the local engine. This
    # cluster lives for one run and holds nothing between chunks; a value the user set in the
    # environment still reaches the workers.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return _start_local_cluster(dist, workers)


def _start_local_cluster(dist: Any, workers: int) -> Any:
    return dist.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
        silence_logs=logging.CRITICAL,
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
        first = first_line(exc)
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
