"""``evaluate``: files in, an :class:`Evaluation` out, for ce, nll and bce.

One pipeline: the loss spec's ``kind`` chooses the accumulator and the chunk kernel; the run
spec chooses the engine; :class:`~._outputs.Outputs` commits ``-o`` and ``--grad-output``
together. readers -> engine (kernel -> accumulate) -> writers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from ..accumulate import BCEResult, BinaryAccumulator, CEResult, CrossEntropyAccumulator, Measures
from ..core import LossSpec, class_axis_of, work_dtype
from ..errors import DataError, UsageError
from ..readers import Inputs, ReadOptions, SourceInfo, open_inputs
from ._engine import Engine, Job, LocalEngine, Plan
from ._grad import gradient_pass
from ._kernels import BCEKernel, CEKernel
from ._outputs import Outputs
from ._where import shown_row
from .signature import Signature
from .spec import OutputSpec, RunSpec

__all__ = [
    "Evaluation",
    "bce_job",
    "ce_job",
    "chunk_rows_of",
    "engine_for",
    "evaluate",
    "name_classes",
]

R = TypeVar("R", CEResult, BCEResult)


@dataclass
class Evaluation(Generic[R]):
    """The outcome of one evaluation, ready for a report (``result`` is a
    :class:`~cecli.accumulate.CEResult` for ce / nll, a :class:`~cecli.accumulate.BCEResult`
    for bce)."""

    command: str
    loss: LossSpec
    measures: Measures
    result: R
    inputs: list[SourceInfo]
    class_names: list[str] | None  # bce: the label names of (N, C) predictions
    target_kind: str
    signature: str
    warnings: list[str] = field(default_factory=list)
    losses: np.ndarray | None = None
    output: str | None = None
    grad_output: str | None = None
    group_col: str | None = None
    sample_weight_col: str | None = None


def evaluate(
    preds: str,
    targets: str | None,
    read: ReadOptions,
    loss: LossSpec,
    measures: Measures = Measures(),  # noqa: B008 - frozen, validated once
    run: RunSpec = RunSpec(),  # noqa: B008
    out: OutputSpec = OutputSpec(),  # noqa: B008
) -> Evaluation[Any]:
    """Stream PREDS (and TARGETS) through the loss ``loss`` asks for; write per-sample losses
    (``out.path``) and the gradient (``out.grad_path``) when asked. With ``reduction='none'``
    and no ``out.path`` the per-sample losses are printed as a table (``out.format`` csv, tsv
    or jsonl) or kept in :attr:`Evaluation.losses` (:meth:`OutputSpec.for_reduction`)."""
    tokens = loss.input == "target-logprobs"
    if read.group_col and measures.ci is None and not tokens:
        raise UsageError(
            "--group-col is for --ci (resampling whole groups), or with --input "
            "target-logprobs for a per-group table"
        )
    out = out.for_reduction(loss.reduction)
    paths = [p for p in (preds, targets) if p]
    if loss.binary:
        read = dataclasses.replace(read, binary=True)
    if tokens:
        check_token_measures(measures, out)
        read = dataclasses.replace(read, target_logprobs=True)
    elif read.bytes_col is not None:
        raise UsageError("--bytes-col is for --input target-logprobs (bits per byte)")
    with Outputs(out, run, paths) as outputs:
        with open_inputs(preds, targets, read, need_target=not tokens) as inputs:
            if loss.binary:
                job, second = bce_job(loss, measures, inputs, out, outputs)
            else:
                job, second = ce_job(loss, measures, read, inputs, out, outputs)
            job.command = loss.kind
            job.progress = run.progress
            job.total = inputs.rows
            plan = Plan(preds, targets, read, inputs, chunk_rows_of(run, inputs, loss))
            engine_for(run).run(plan, job)
            infos = inputs.sources if loss.binary else _infos(inputs)
            class_names = inputs.class_names
            unbatched = inputs.unbatched
            sample_shape = tuple(inputs.sample_shape)
        grad_shape = None
        if second:
            assert isinstance(job.kernel, (CEKernel, BCEKernel))
            names = job.kernel.names if isinstance(job.kernel, BCEKernel) else []
            grad_shape = gradient_pass(plan, job.kernel, job.acc, outputs, names)  # type: ignore[arg-type]
        outputs.commit(() if unbatched and not loss.binary else None, grad_shape, job.parts)
    if loss.binary:
        assert isinstance(job.acc, BinaryAccumulator) and isinstance(job.kernel, BCEKernel)
        return _bce_evaluation(loss, measures, job.acc, job.kernel, job.kept, infos, out,
                               sample_shape, read)
    assert isinstance(job.acc, CrossEntropyAccumulator) and isinstance(job.kernel, CEKernel)
    return _ce_evaluation(loss, measures, job.acc, job.kernel, job.kept, infos, out, read,
                          class_names, unbatched)


def chunk_rows_of(run: RunSpec, inputs: Inputs, loss: LossSpec) -> int:
    """The rows of a chunk: ``--chunk-rows``, or about 16 MiB of predictions (bce: in its
    working precision)."""
    itemsize = max(2, np.dtype(inputs.dtype).itemsize)
    if loss.binary:
        itemsize = max(2, work_dtype(np.dtype(inputs.dtype), loss.float64).itemsize)
    row_elements = int(np.prod(inputs.sample_shape)) if inputs.sample_shape else 1
    return run.rows_per_chunk(row_elements, itemsize)


def check_token_measures(measures: Measures, out: OutputSpec) -> None:
    """Target log-probabilities have no vocabulary: nothing to rank, bin or differentiate."""
    asked = [
        (measures.top_k, "--top-k"),
        (measures.per_class, "--per-class"),
        (measures.ece_bins, "--ece"),
        (out.grad_path, "--grad-output"),
        (out.with_probs, "--with-probs"),
    ]
    for value, option in asked:
        if value:
            raise UsageError(
                f"{option} needs every class's prediction, and --input target-logprobs has "
                "only the realised token's log-probability",
                fix=f"drop {option}",
            )


def engine_for(run: RunSpec) -> Engine:
    """The engine a run asks for (the Dask one is imported only then)."""
    if run.dask:
        from ._dask import DaskEngine

        return DaskEngine(run)
    return LocalEngine(run)


# -- cross-entropy (ce, nll) ---------------------------------------------------------------------


def ce_job(
    loss: LossSpec,
    measures: Measures,
    read: ReadOptions,
    inputs: Inputs,
    out: OutputSpec,
    outputs: Outputs,
) -> tuple[Job, bool]:
    acc = CrossEntropyAccumulator(loss, measures, axis=read.class_axis)
    shape = tuple(inputs.sample_shape)
    if loss.input == "target-logprobs":
        ax = 1  # no class axis: every value is a position (the kernel adds one class)
        shape = (1, *shape)
    else:
        ax = class_axis_of(len(shape) + 1, read.class_axis)
    if shape and not inputs.unbatched and loss.input != "target-logprobs":
        check_one_column(shape[ax - 1], str(loss.input), inputs.preds_info.path)
    kernel = CEKernel(
        inputs.preds_info.path,
        keep_losses=out.keep_losses,
        loss_rows=out.path is not None,
        template=acc.spawn(),
        pos_tail=shape[: ax - 1] + shape[ax:],
        with_probs=out.with_probs,
        row_ids=out.to_stdout,
    )
    return Job(kernel, acc, outputs), out.grad_path is not None


def _infos(inputs: Inputs) -> list[SourceInfo]:
    return [inputs.preds_info] + ([inputs.target_info] if inputs.target_info else [])


def _ce_evaluation(
    loss: LossSpec,
    measures: Measures,
    acc: CrossEntropyAccumulator,
    kernel: CEKernel,
    kept: list[np.ndarray],
    infos: list[SourceInfo],
    out: OutputSpec,
    read: ReadOptions,
    class_names: list[str] | None,
    unbatched: bool,
) -> Evaluation[CEResult]:
    result = acc.result()
    soft = bool(acc.opts and acc.opts.soft)
    target_kind = "probs" if soft else "index"
    if loss.input == "target-logprobs":
        target_kind = "tokens"
    name_classes(result, class_names)
    losses = None
    if out.keep_losses:
        pos_tail = kernel.pos_tail
        flat = np.concatenate(kept) if kept else np.zeros(0)
        losses = flat.reshape(()) if unbatched and flat.size == 1 else flat.reshape((-1, *pos_tail))
    ev: Evaluation[CEResult] = Evaluation(
        command=loss.kind,
        loss=loss,
        measures=measures,
        result=result,
        inputs=infos,
        class_names=class_names,
        target_kind=target_kind,
        signature=str(Signature.build(loss.kind, loss, target_kind=target_kind, measures=measures, read=read)),
        losses=losses,
        output=out.path,
        group_col=read.group_col,
        sample_weight_col=read.sample_weight_col,
    )
    if measures.ci is not None and ev.result.ci is not None:
        ev.result.ci["group"] = read.group_col
    ev.warnings = [*(w for i in infos for w in i.warnings), *_ce_warnings(ev)]
    return ev


def _ce_warnings(ev: Evaluation[CEResult]) -> list[str]:
    r = ev.result
    out = []
    if r.samples == 0:
        out.append("the input has no rows: the mean is NaN and the sum 0")
    elif r.counted == 0:
        out.append("every target is ignored: the mean is NaN and the sum 0")
    elif math.isnan(r.loss):
        out.append("the loss is NaN")
    elif math.isinf(r.loss):
        out.append("the loss is infinite (a target's logit is -inf, or a weight sum of 0)")
    if r.unnormalised_rows:
        row, note = shown_row(r.first_unnormalised, ev.inputs[0])
        out.append(
            f"{r.unnormalised_rows} row(s) of probabilities do not sum to 1 within 1e-4 "
            f"(first: row {row}; {note}); they were not renormalised"
        )
    out += likely_mistakes(r, str(ev.loss.input), ev.inputs[0])
    return out


def name_classes(result: CEResult, class_names: list[str] | None) -> None:
    """Name the classes of the per-class rows and the confusions (their index without names)."""

    def name(i: int) -> str:
        return class_names[i] if class_names and i < len(class_names) else str(i)

    for row in result.per_class or []:
        row["class"] = name(row["index"])
    for pair in result.confusions or []:
        pair["target_class"], pair["pred_class"] = name(pair["target"]), name(pair["pred"])


def check_one_column(classes: int, input_kind: str, file: str) -> None:
    """One column of scores given as logits is an error, not a loss: a softmax over a single
    class is 1 whatever the score, so the loss would be 0 for every row (or every label 1 out
    of range). It is a data error (exit 3), like any shape that does not fit: the command line
    is right for a file of two or more class columns, and only the file shows it."""
    if classes == 1 and input_kind == "logits":
        raise DataError(
            "one column of scores: a softmax over a single class is always 1, so the "
            "cross-entropy would be 0 whatever the scores",
            file=file,
            fix="for a binary classifier's scores (logits) with 0/1 labels use `cecli bce`; for "
            "the positive class's probability use `--input probs` (sklearn's binary log_loss)",
        )


def likely_mistakes(r: CEResult, input_kind: str, info: SourceInfo, name: str = "") -> list[str]:
    """Warnings for inputs that are almost certainly not what the options say (the counts come
    from the kernel's per-row checks, :mod:`cecli.core._checks`)."""
    who = f"{name}: " if name else ""
    out = []
    if r.probs_like and input_kind == "logits":
        out.append(
            f"{who}every row holds probabilities (values in [0, 1] summing to 1) but they were "
            "read as logits, whose softmax flattens them: if they are probabilities, pass "
            "--input probs"
        )
    if r.not_logprob_rows:
        row, note = shown_row(r.first_not_logprob, info)
        out.append(
            f"{who}{r.not_logprob_rows} row(s) cannot be log-probabilities (a value above 0, or "
            f"all too low to sum to 1; first: row {row}; {note}): if they are logits, use "
            "`cecli ce` (or --input logits)"
        )
    if r.top_k and r.classes and r.top_k >= r.classes:
        out.append(
            f"{who}--top-k {r.top_k} is not below the number of classes ({r.classes}): every "
            "counted target is in the top k, so top-k accuracy is 1"
        )
    if r.negative_weight_rows:
        row, note = shown_row(r.first_negative_weight, info)
        out.append(
            f"{who}{r.negative_weight_rows} row(s) have a negative sample weight (first: row "
            f"{row}; {note}); they were used as given (sklearn does the same)"
        )
    return out


# -- binary cross-entropy ------------------------------------------------------------------------


def bce_job(
    loss: LossSpec, measures: Measures, inputs: Inputs, out: OutputSpec, outputs: Outputs
) -> tuple[Job, bool]:
    shape = tuple(inputs.sample_shape)
    if len(shape) > 1:
        raise DataError(
            f"binary predictions must be (rows,) or (rows, labels), but each row is {shape}",
            file=inputs.preds_info.path,
            fix="flatten extra axes first",
        )
    labels = shape[0] if shape else 1
    names = inputs.class_names
    if not (names and len(names) == labels):
        names = [str(i) for i in range(labels)]
    acc = BinaryAccumulator(loss, measures)
    rows = inputs.preds_info.rows
    count: float | None = None  # the mean's element count, when the input tells its rows
    if loss.reduction == "mean":
        count = float(rows * labels) if rows is not None else None
    second = out.grad_path is not None and loss.reduction == "mean" and count is None
    same_pass = out.grad_path is not None and not second
    if same_pass:
        wd = work_dtype(np.dtype(inputs.dtype), loss.float64)
        outputs.open_grad(shape, wd)
    kernel = BCEKernel(
        inputs.preds_info.path,
        keep_losses=out.keep_losses,
        loss_rows=out.path is not None,
        loss_table=outputs.loss_table,
        template=acc.spawn(),
        names=[str(n) for n in names],
        grad_rows=same_pass,
        grad_table=outputs.grad_table,
        grad_count=count,
        row_ids=out.to_stdout,
    )
    return Job(kernel, acc, outputs), second


def _bce_evaluation(
    loss: LossSpec,
    measures: Measures,
    acc: BinaryAccumulator,
    kernel: BCEKernel,
    kept: list[np.ndarray],
    infos: list[SourceInfo],
    out: OutputSpec,
    shape: tuple[int, ...],
    read: ReadOptions,
) -> Evaluation[BCEResult]:
    result = acc.result()
    for row in result.per_label or []:
        i = row["index"]
        row["label"] = kernel.names[i] if i < len(kernel.names) else str(i)
    losses = None
    if out.keep_losses:
        losses = np.concatenate(kept) if kept else np.zeros((0, *shape))
    ev: Evaluation[BCEResult] = Evaluation(
        command=loss.kind,
        loss=loss,
        measures=measures,
        result=result,
        inputs=infos,
        class_names=kernel.names if shape else None,
        target_kind="probs",
        signature=str(Signature.build(loss.kind, loss, measures=measures, read=read)),
        losses=losses,
        output=out.path,
        grad_output=out.grad_path,
    )
    ev.warnings = [*(w for i in infos for w in i.warnings), *_bce_warnings(result)]
    return ev


def _bce_warnings(r: BCEResult) -> list[str]:
    out = []
    if r.elements == 0:
        out.append("the input has no rows: the mean is NaN and the sum 0")
    elif math.isnan(r.loss):
        out.append("the loss is NaN")
    elif math.isinf(r.loss):
        out.append("the loss is infinite")
    return out
