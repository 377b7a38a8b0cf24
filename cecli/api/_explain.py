"""``explain``: the derivation of chosen rows' losses, and the reduction with its numbers.

One streaming pass, as ``evaluate`` makes it: the same chunk kernel (``ce_job`` / ``bce_job``)
computes every row's loss and the run's sums; :class:`PickKernel` wraps it and keeps, per
chunk, the rows asked for (``--rows``) or the chunk's K largest losses (``--worst K``), with a
copy of their predictions and targets; :class:`PickJob` folds them in chunk order into the K
largest overall (ties: the earlier row). Memory stays bounded by the chunk plus K rows, and
stdin works as well as a file (the chosen rows are kept, not re-read). The derivations
(:mod:`._steps`) are computed from the kept rows once the pass is done.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..accumulate import BCEResult, BinaryAccumulator, CEResult, CrossEntropyAccumulator, Measures
from ..core import LossSpec
from ..errors import DataError, UsageError
from ..readers import Batch, ReadOptions, SourceInfo, open_inputs
from ._engine import Job, LocalEngine, Plan
from ._evaluate import bce_job, ce_job, chunk_rows_of
from ._kernels import ChunkKernel, ChunkOut
from ._outputs import Outputs
from ._steps import Derivation, bce_steps, ce_steps
from .signature import Signature
from .spec import ExplainSpec, OutputSpec, RunSpec

__all__ = ["Explanation", "Kept", "explain"]

#: Ignored rows listed by number (the count covers them all).
IGNORED_LISTED = 10


@dataclass
class Kept:
    """A chosen row, copied out of its chunk: its loss (the kernel's; bce: per label), the
    predictions and target as stored, its sample weight and id."""

    row: int
    key: float  # what --worst ranks: the row's loss (bce: summed over labels), NaN first
    loss: Any
    preds: np.ndarray
    target: Any
    counted: bool
    sample_weight: float | None = None
    id: Any = None


@dataclass
class PickOut(ChunkOut):
    kept: list[Kept] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)  # the chunk's first ignored rows


@dataclass
class PickKernel(ChunkKernel):
    """The run's kernel (keeping its chunk's losses), plus the rows ``explain`` keeps."""

    inner: ChunkKernel = field(default_factory=lambda: ChunkKernel(""))
    pick: ExplainSpec = field(default_factory=lambda: ExplainSpec(worst=1))
    ignore_index: int | None = None  # index targets: the ignored value

    def __call__(self, batch: Batch, index: int = -1) -> ChunkOut:
        out = self.inner(batch, index)
        losses = out.losses
        assert losses is not None
        n = len(batch.preds)
        loss = np.asarray(losses, dtype=np.float64).reshape(n, -1)
        key = loss.sum(axis=1)
        counted = np.ones(n, dtype=bool)
        target = np.asarray(self.target(batch))
        if self.ignore_index is not None and target.ndim == 1:
            counted = target != self.ignore_index
        if self.pick.worst:
            ranked = np.where(np.isnan(key), np.inf, key)
            cand = np.flatnonzero(counted)
            order = np.lexsort((cand, -ranked[cand]))[: self.pick.worst]
            rows = cand[order]
        else:
            lo = batch.start
            rows = np.array([r - lo for r in self.pick.rows if lo <= r < lo + n], dtype=np.int64)
        kept = [self._keep(batch, int(i), loss[i], float(key[i]), bool(counted[i])) for i in rows]
        ignored = (np.flatnonzero(~counted)[:IGNORED_LISTED] + batch.start).tolist()
        return PickOut(out.index, out.part, out.done, kept=kept, ignored=ignored)

    def _keep(self, batch: Batch, i: int, loss: np.ndarray, key: float, counted: bool) -> Kept:
        sw = None if batch.sample_weight is None else float(batch.sample_weight[i])
        ident = None if batch.ids is None else np.asarray(batch.ids)[i]
        ident = ident.item() if isinstance(ident, np.generic) else ident
        target = np.array(self.target(batch)[i])  # a copy: the chunk goes away
        one = loss[0] if loss.size == 1 else loss.copy()
        return Kept(batch.start + i, key, one, np.array(batch.preds[i]), target, counted, sw, ident)


@dataclass
class PickJob(Job):
    """The run's job, folding the kept rows in chunk order too."""

    pick: ExplainSpec = field(default_factory=lambda: ExplainSpec(worst=1))
    chosen: list[Kept] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)

    def fold(self, out: ChunkOut) -> None:
        super().fold(out)
        assert isinstance(out, PickOut)
        self.chosen.extend(out.kept)
        if self.pick.worst:
            self.chosen.sort(key=lambda k: (-(np.inf if np.isnan(k.key) else k.key), k.row))
            del self.chosen[self.pick.worst :]
        if len(self.ignored) < IGNORED_LISTED:
            self.ignored.extend(out.ignored[: IGNORED_LISTED - len(self.ignored)])


@dataclass
class Explanation:
    """What ``explain`` shows: the derivations of the chosen rows (worst first for
    ``--worst``), the run's result (its sums: the reduction) and the first ignored rows."""

    command: str
    loss: LossSpec
    pick: ExplainSpec
    rows: list[Derivation]
    result: CEResult | BCEResult
    inputs: list[SourceInfo]
    class_names: list[str] | None
    target_kind: str
    signature: str
    ignored_rows: list[int] = field(default_factory=list)
    sample_weight_col: str | None = None
    warnings: list[str] = field(default_factory=list)


def explain(
    preds: str,
    targets: str | None,
    read: ReadOptions,
    loss: LossSpec,
    pick: ExplainSpec,
    run: RunSpec = RunSpec(),  # noqa: B008 - frozen, validated once
) -> Explanation:
    """Derive the loss of the rows ``pick`` chooses, in one pass over PREDS (and TARGETS)."""
    if loss.input == "target-logprobs":
        raise UsageError(
            "explain derives a loss from every class's prediction; with --input "
            "target-logprobs each position's loss is its -log-probability",
            fix="cecli ce --input target-logprobs --reduction none -f tsv lists them",
        )
    if loss.binary:
        read = dataclasses.replace(read, binary=True)
    out = OutputSpec(keep_losses=True)  # the kernel hands each chunk's losses to the picker
    with Outputs(out, run, []) as outputs, open_inputs(preds, targets, read) as inputs:
        _check_rows(inputs.sample_shape, loss, inputs.unbatched, inputs.preds_info.path)
        if loss.binary:
            job, _ = bce_job(loss, Measures(), inputs, out, outputs)
        else:
            job, _ = ce_job(loss, Measures(), read, inputs, out, outputs)
        ignore = None if loss.binary else loss.ignore_index
        kernel = PickKernel(inputs.preds_info.path, inner=job.kernel, pick=pick, ignore_index=ignore)
        pj = PickJob(kernel, job.acc, outputs, command=loss.kind, pick=pick)
        plan = Plan(preds, targets, read, inputs, chunk_rows_of(run, inputs, loss))
        LocalEngine(run).run(plan, pj)
        infos, names = inputs.sources, inputs.class_names
    acc = pj.acc
    assert isinstance(acc, (CrossEntropyAccumulator, BinaryAccumulator))
    result = acc.result()
    _check_found(pick, pj.chosen, result, infos[0].path)
    opts = acc.opts if isinstance(acc, CrossEntropyAccumulator) else None
    soft = bool(opts is not None and opts.soft)
    derivations = []
    for k in pj.chosen:
        if loss.binary:
            d = bce_steps(k.row, k.preds, k.target, loss, np.asarray(k.loss), pick.shown)
        else:
            assert opts is not None
            d = ce_steps(k.row, k.preds, k.target, opts, float(k.loss), k.counted, pick.shown)
        d.sample_weight, d.id = k.sample_weight, k.id
        derivations.append(d)
    target_kind = "probs" if soft or loss.binary else "index"
    sig = Signature.build(loss.kind, loss, target_kind=target_kind, read=read)
    return Explanation(
        command=loss.kind,
        loss=loss,
        pick=pick,
        rows=derivations,
        result=result,
        inputs=infos,
        class_names=names,
        target_kind=target_kind,
        signature=str(sig),
        ignored_rows=pj.ignored,
        sample_weight_col=read.sample_weight_col,
        warnings=[w for i in infos for w in i.warnings],
    )


def _check_rows(shape: tuple[int, ...], loss: LossSpec, unbatched: bool, path: str) -> None:
    """``explain`` derives rows of ``(rows, classes)`` (bce: ``(rows,)`` or ``(rows, labels)``)."""
    if unbatched or len(shape) <= 1:
        return
    raise DataError(
        f"explain derives rows of (rows, classes) predictions, but each row here is {shape}",
        file=path,
        fix="reshape to (positions, classes) first, e.g. (batch * seq, vocab)",
    )


def _check_found(pick: ExplainSpec, chosen: list[Kept], result: Any, path: str) -> None:
    """A ``--rows`` number beyond the last row is a data error naming it."""
    found = {k.row for k in chosen}
    missing = [r for r in pick.rows if r not in found]
    if missing:
        n = getattr(result, "rows", None)
        n = result.samples if n is None else n
        raise DataError(
            f"row {missing[0]} is beyond the last row (the input has {n} rows, numbered from 0)",
            file=path,
            value=missing[0],
        )
