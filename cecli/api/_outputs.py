"""Every file a run writes, committed together or not at all.

An :class:`Outputs` is opened before the first chunk and used as a context: on success the run
calls :meth:`Outputs.commit`; on any exception (a data error, Ctrl-C, a dying cluster) every
writer it opened is aborted, so ``-o`` and ``--grad-output`` are both written or neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import numpy as np

from ..errors import UsageError
from ..writers import (
    DatasetWriter,
    TableWriter,
    check_dataset_output,
    check_output,
    check_report,
    commit_together,
    output_format,
)
from .spec import OutputSpec, RunSpec

__all__ = ["Outputs", "Rows"]

#: What a chunk gives a writer: named columns, or (NPY output) an array of rows.
Rows = dict[str, np.ndarray] | np.ndarray


class Outputs:
    """The writers of one run: ``loss`` (``-o``; a Parquet dataset on the Dask engine) and
    ``grad`` (``--grad-output``), each None until opened (or when not asked for)."""

    def __init__(self, spec: OutputSpec, run: RunSpec, inputs: Sequence[str]) -> None:
        """Check the paths before anything is read (the inputs are never overwritten)."""
        spec.check_engine(run)
        self.spec = spec
        # the Dask engine writes -o as a Parquet dataset, but rows for stdout come back to the
        # driver like on the local engine
        self.dask = run.dask and not spec.to_stdout
        if spec.path and self.dask:
            check_dataset_output(spec.path, inputs, spec.force)
        check_report(spec.report, inputs)
        for path in (spec.path if not self.dask else None, spec.grad_path):
            if path and path != "-":
                check_output(path, inputs, spec.force)
                output_format(path)
        self.loss: TableWriter | None = None
        self.grad: TableWriter | None = None
        self.dataset: DatasetWriter | None = None
        self._opened: list[TableWriter | DatasetWriter] = []

    @property
    def loss_table(self) -> bool:
        """Whether ``-o`` gets named columns (else an NPY array of losses)."""
        path = self.spec.path
        return self.dask or bool(path and output_format(path, self.spec.stdout_format) != "npy")

    @property
    def grad_table(self) -> bool:
        return bool(self.spec.grad_path and output_format(self.spec.grad_path) != "npy")

    def open_loss(self, row_shape: tuple[int, ...]) -> None:
        """Open ``-o`` (rows of ``row_shape`` in NPY output)."""
        if self.spec.path is None:
            return
        if self.dask:
            self.dataset = DatasetWriter(self.spec.path, self.spec.force)
            self._opened.append(self.dataset)
        else:
            self.loss = TableWriter(
                self.spec.path, row_shape, force=self.spec.force, fmt=self.spec.stdout_format
            )
            self._opened.append(self.loss)

    def open_grad(self, row_shape: tuple[int, ...], dtype: Any) -> None:
        """Open ``--grad-output`` (rows of ``row_shape`` and ``dtype`` in NPY output)."""
        if self.spec.grad_path is None:
            return
        self.grad = TableWriter(self.spec.grad_path, row_shape, dtype, force=self.spec.force)
        self._opened.append(self.grad)

    def write_loss(self, rows: dict[str, np.ndarray] | None) -> None:
        if self.loss is not None and rows is not None:
            self.loss.write(rows)

    def write_grad(self, rows: Rows | None) -> None:
        if self.grad is None or rows is None:
            return
        if isinstance(rows, dict):
            self.grad.write_columns(rows)
        else:
            assert self.grad.arrays is not None
            self.grad.arrays.write(rows)

    def commit(
        self,
        loss_shape: tuple[int, ...] | None = None,
        grad_shape: tuple[int, ...] | None = None,
        dataset: tuple[int, int, dict[str, Any]] | None = None,
    ) -> None:
        """Commit every opened writer (an NPY's ``shape`` when it is not ``(rows, *row_shape)``;
        the dataset's ``(parts, width, marker)``): the files are finished first, then moved into
        place together -- if one cannot be (a full disk, an output created meanwhile), none is
        left (:func:`~cecli.writers.commit_together`)."""
        files = []
        for w, shape in ((self.loss, loss_shape), (self.grad, grad_shape)):
            if w is not None:
                w.prepare(shape)
                files.append(w)
        commit_together(files)
        if self.dataset is not None:
            if dataset is None:
                raise UsageError("the dataset output was opened but no part was planned")
            self.dataset.commit(*dataset)
        self._opened.clear()

    def abort(self) -> None:
        for w in self._opened:
            w.abort()
        self._opened.clear()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.abort()
