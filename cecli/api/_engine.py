"""The local engine: map a chunk kernel over batches on threads, fold results in chunk order.

NumPy releases the GIL inside its loops, so threads scale the kernel across cores. Results are
folded strictly in chunk order (a finished chunk waits for its predecessors), which keeps every
sum, the per-sample output and the first error deterministic whatever order chunks finish in.
At most ``2 * workers`` chunks are in flight, so memory stays bounded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from ..errors import UsageError
from .spec import RunSpec, require_dask

T = TypeVar("T")
R = TypeVar("R")

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
        require_dask()  # before any input is read


def default_chunk_rows(row_elements: int, itemsize: int) -> int:
    """Rows per chunk so that a chunk holds about :data:`~.spec.CHUNK_BYTES` of predictions."""
    return RunSpec().rows_per_chunk(row_elements, itemsize)


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
