"""The local engine: map a chunk kernel over batches on threads, fold results in chunk order.

NumPy releases the GIL inside its loops, so threads scale the kernel across cores. Results are
folded strictly in chunk order (a finished chunk waits for its predecessors), which keeps every
sum, the per-sample output and the first error deterministic whatever order chunks finish in.
At most ``2 * workers`` chunks are in flight, so memory stays bounded.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from ..errors import UsageError

T = TypeVar("T")
R = TypeVar("R")

#: Bytes of predictions in one chunk when ``--chunk-rows`` is not given: large enough that
#: per-chunk overheads (pyarrow batches, Python bookkeeping) vanish, small enough for memory.
CHUNK_BYTES = 16 << 20


ENGINES = ("local", "dask")


def check_engine(engine: str, scheduler: str | None, grad_output: str | None) -> None:
    """The ``--engine`` / ``--scheduler`` choices (the Dask engine itself is
    :mod:`cecli.api._dask`, imported only when chosen)."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}", value=engine)
    if scheduler and engine != "dask":
        raise UsageError("--scheduler is for --engine dask", value=scheduler)
    if grad_output and engine == "dask":
        raise UsageError(
            "--grad-output is computed by the local engine only",
            fix="leave out --engine dask (or --grad-output)",
        )
    if engine == "dask":
        from ._dask import require_dask

        require_dask()  # before any input is read


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_chunk_rows(row_elements: int, itemsize: int) -> int:
    """Rows per chunk so that a chunk holds about :data:`CHUNK_BYTES` of predictions."""
    return int(max(1, min(1 << 20, CHUNK_BYTES // max(1, row_elements * itemsize))))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, yielding results in input order."""
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cecli") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                while len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
