"""The chunk kernels: one batch in, one chunk's partial results out. Both engines run them.

A kernel holds a template accumulator (configured, bound to the data's classes or labels) and
what the outputs need; called on a :class:`~cecli.readers.Batch` it spawns a partial
accumulator, updates it and returns a :class:`ChunkOut`: the partial (merged by the engine in
chunk order), the per-sample rows for ``-o`` and ``--grad-output``, and the losses kept for
``--reduction none``. Kernels are plain dataclasses, so the Dask engine ships them to its
workers as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..accumulate import BinaryAccumulator, CrossEntropyAccumulator
from ..core import Positions, binary_grad, ce_grad_positions, work_dtype
from ..errors import CecliError, InputError
from ..readers import Batch

__all__ = ["BCEKernel", "CEKernel", "ChunkKernel", "ChunkOut", "grad_columns"]

Rows = dict[str, np.ndarray] | np.ndarray


@dataclass
class ChunkOut:
    """What a kernel gives back for one chunk (or, from a Dask task, the error it hit)."""

    index: int
    part: Any = None  # the partial accumulator
    done: int = 0  # rows read once this chunk is merged (for progress)
    losses: np.ndarray | None = None  # kept per-sample losses
    loss_rows: dict[str, np.ndarray] | None = None  # -o
    grad_rows: Rows | None = None  # --grad-output, when written in the same pass
    error: CecliError | None = None


@dataclass
class ChunkKernel:
    """The seam both engines call: ``kernel(batch, index) -> ChunkOut``."""

    fname: str  # PREDS, for an error that no chunk row explains
    keep_losses: bool = False
    loss_rows: bool = False  # compute -o rows
    loss_table: bool = True  # -o gets named columns (else an NPY of losses)
    row_ids: bool = False  # -o rows without an id column get the global row index as id

    def __call__(self, batch: Batch, index: int = -1) -> ChunkOut:
        raise NotImplementedError

    def target(self, batch: Batch) -> np.ndarray:
        if batch.target is None:
            raise InputError(self.no_target[0], file=self.fname, fix=self.no_target[1])
        return batch.target

    no_target: tuple[str, str | None] = ("no targets", None)

    def id_column(self, batch: Batch, rows: int, repeat: int) -> np.ndarray | None:
        """The ``id`` column of ``rows`` rows of ``repeat`` values each: the input's ids, or
        with ``row_ids`` the global row index (None: no id column; with several values a row,
        the ``row`` column is that index)."""
        if batch.ids is not None:
            return np.repeat(np.asarray(batch.ids), repeat)
        if self.row_ids and repeat == 1:
            return np.repeat(np.arange(batch.start, batch.start + rows), repeat)
        return None


@dataclass
class CEKernel(ChunkKernel):
    """Cross-entropy (ce, nll) of a chunk: :meth:`CrossEntropyAccumulator.update`."""

    template: CrossEntropyAccumulator = field(default_factory=CrossEntropyAccumulator)
    pos_tail: tuple[int, ...] = ()  # the positions of a row (the sample shape without classes)
    with_probs: bool = False
    per_row: int = field(init=False, default=1)  # positions per row
    no_target: tuple[str, str | None] = ("no targets: give TARGETS or a target column", None)

    def __post_init__(self) -> None:
        self.per_row = int(np.prod(self.pos_tail)) if self.pos_tail else 1

    def __call__(self, batch: Batch, index: int = -1) -> ChunkOut:
        # target log-probabilities need no target (one may mark ignored positions)
        target = batch.target if self.template.tokens else self.target(batch)
        part = self.template.spawn()
        pos = part.update(
            batch.preds,
            target,
            sample_weight=batch.sample_weight,
            group=batch.group,
            start=batch.start,
            missing=batch.missing,
            nbytes=batch.bytes,
        )
        return ChunkOut(
            index,
            part,
            batch.start + len(batch.preds),
            losses=pos.loss if self.keep_losses else None,
            loss_rows=self.columns(pos, batch) if self.loss_rows else None,
        )

    def columns(self, pos: Positions, batch: Batch) -> dict[str, np.ndarray]:
        """The ``-o`` rows of a chunk: id, (row, position,) target, loss (, target_prob,
        pred)."""
        per_row = self.per_row
        n = pos.loss.size // per_row
        cols: dict[str, np.ndarray] = {}
        ids = self.id_column(batch, n, per_row)
        if ids is not None:
            cols["id"] = ids
        if per_row > 1:
            cols["row"] = np.repeat(np.arange(batch.start, batch.start + n), per_row)
            cols["position"] = np.tile(np.arange(per_row), n)
        if not self.template.tokens:
            cols["target"] = batch.spelled(pos.target)  # a class name stays a name
        elif batch.target is not None:  # the token ids as given (the kernel's are 0 / -1)
            cols["target"] = np.asarray(batch.target).reshape(-1)
        cols["loss"] = pos.loss
        if self.with_probs:
            cols["target_prob"] = pos.target_prob
            cols["pred"] = batch.spelled(pos.pred)
        return cols

    def gradient(
        self, acc: CrossEntropyAccumulator, batch: Batch, scale: float, shape: tuple[int, ...],
        names: list[str], table: bool,
    ) -> Rows:
        """The gradient rows of a chunk, scaled by ``scale`` (``1 / weight sum`` for mean)."""
        opts = acc.opts
        assert opts is not None
        x3, t3, n, per_pos, _ = acc.kernel_views(batch.preds, self.target(batch), batch.start)
        wd = work_dtype(x3.dtype, opts.float64)
        g = ce_grad_positions(x3, t3, opts, scale).astype(wd, copy=False)
        if acc.binary_form:  # one column of probabilities, read as [1 - p, p]
            g = binary_grad(g)
        if batch.sample_weight is not None:
            sw = np.repeat(np.asarray(batch.sample_weight, dtype=wd), per_pos)
            g = g * sw.reshape(x3.shape[0], 1, x3.shape[2])
        g = g.reshape((n, *shape))
        return grad_columns(g, batch, names) if table else g


@dataclass
class BCEKernel(ChunkKernel):
    """Binary cross-entropy of a chunk, and its gradient when ``grad_scale`` is known up front
    (``mean`` divides by the element count)."""

    template: BinaryAccumulator = field(default_factory=BinaryAccumulator)
    names: list[str] = field(default_factory=list)  # label names
    grad_rows: bool = False
    grad_table: bool = False
    grad_count: float | None = None  # the mean's element count (None: sum)
    no_target: tuple[str, str | None] = (
        "no targets",
        "give TARGETS, --target-col or --target-cols a,b,c",
    )

    def __call__(self, batch: Batch, index: int = -1) -> ChunkOut:
        part = self.template.spawn()
        x, t, w, pw = part.arrays(batch.preds, self.target(batch), batch.start)
        keep = self.loss_rows or self.keep_losses
        loss = part.add(x, t, w, pw, batch.start, keep=keep)
        out = ChunkOut(index, part, batch.start + len(batch.preds))
        if self.keep_losses:
            out.losses = loss
        if self.loss_rows:
            assert loss is not None
            out.loss_rows = self.columns(loss, t, batch)
        if self.grad_rows:
            g = divide(part.grad_of(x, t, w, pw), self.grad_count)
            out.grad_rows = grad_columns(g, batch, self.names) if self.grad_table else g
        return out

    def columns(self, loss: np.ndarray, t: np.ndarray, batch: Batch) -> dict[str, np.ndarray]:
        """The ``-o`` rows of a chunk: id, (row, label,) target, loss (the loss only for an
        NPY output)."""
        if not self.loss_table:
            return {"loss": loss.reshape(-1)}
        labels = len(self.names)
        n = loss.shape[0]
        cols: dict[str, np.ndarray] = {}
        ids = self.id_column(batch, n, labels)
        if ids is not None:
            cols["id"] = ids
        if loss.ndim == 2:
            cols["row"] = np.repeat(np.arange(batch.start, batch.start + n), labels)
            cols["label"] = np.tile(np.asarray(self.names, dtype=object), n)
        cols["target"] = t.reshape(-1).astype(np.float64)
        cols["loss"] = loss.reshape(-1)
        return cols

    def gradient(
        self, acc: BinaryAccumulator, batch: Batch, count: float | None, shape: tuple[int, ...],
        names: list[str], table: bool,
    ) -> Rows:
        """The gradient rows of a chunk (divided by ``count`` for mean)."""
        x, t, w, pw = acc.arrays(batch.preds, self.target(batch), batch.start)
        g = divide(acc.grad_of(x, t, w, pw), count)
        return grad_columns(g, batch, names) if table else g


def divide(g: np.ndarray, count: float | None) -> np.ndarray:
    """``g / count`` in the gradient's precision (as torch divides by numel); None: ``g``."""
    if count is None:
        return g
    # 0 elements give 0/0 (NaN), as in torch
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = g / g.dtype.type(count)
    return out


def grad_columns(g: np.ndarray, batch: Batch, names: list[str]) -> dict[str, np.ndarray]:
    """Gradient rows as named columns: id, then ``grad`` (one value a row) or ``grad_NAME``
    per class or label (``grad_I`` when the names do not cover a row)."""
    cols: dict[str, np.ndarray] = {}
    if batch.ids is not None:
        cols["id"] = np.asarray(batch.ids)
    if g.ndim == 1:
        cols["grad"] = g
        return cols
    flat = g.reshape(g.shape[0], -1)
    if flat.shape[1] == len(names):
        cols.update({f"grad_{nm}": flat[:, i] for i, nm in enumerate(names)})
    else:
        cols.update({f"grad_{i}": flat[:, i] for i in range(flat.shape[1])})
    return cols

