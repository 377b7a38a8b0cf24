"""``evaluate_bce``: binary / multi-label cross-entropy of files (``cecli bce``).

Readers (with ``binary=True``: a 1-D array is N rows) -> :class:`BinaryAccumulator` ->
writers. Per-element losses (``-o``) and the gradient (``--grad-output``) are written in the
same pass when the ``mean`` denominator (rows x labels) is known up front, else the gradient
takes a second pass over the inputs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._version import __version__
from ..accumulate import BCEResult, BinaryAccumulator
from ..core import work_dtype
from ..errors import CecliError, DataError, InputError, UsageError
from ..readers import Batch, Inputs, ReadOptions, SourceInfo, open_inputs
from ..writers import ArrayWriter, TableWriter, check_dataset_output, check_output, output_format
from ._ce import weight_tag
from ._engine import check_engine, default_chunk_rows, ordered_map
from ._where import locate
from .spec import default_workers

__all__ = ["BCEConfig", "BCEEvaluation", "bce_chunk", "evaluate_bce", "loss_columns", "parse_vector"]


@dataclass
class BCEConfig:
    """Everything ``cecli bce`` can be asked (the command-line options)."""

    command: str = "bce"
    input_kind: str = "logits"
    weight: np.ndarray | None = None
    pos_weight: np.ndarray | None = None
    reduction: str = "mean"
    float64: bool = False
    nonfinite: str = "error"
    chunk_rows: int | None = None
    workers: int | None = None
    output: str | None = None
    force: bool = False
    keep_losses: bool = False
    grad_output: str | None = None
    engine: str = "local"
    scheduler: str | None = None
    progress: Callable[[int, int | None], None] | None = None
    """Called after each merged chunk with (rows done, total rows or None)."""


@dataclass
class BCEEvaluation:
    """The outcome of one ``bce`` evaluation, ready for a report."""

    command: str
    config: BCEConfig
    result: BCEResult
    inputs: list[SourceInfo]
    label_names: list[str] | None
    signature: str
    warnings: list[str] = field(default_factory=list)
    losses: np.ndarray | None = None
    output: str | None = None
    grad_output: str | None = None


def bce_signature(cfg: BCEConfig) -> str:
    """Every setting that changes the number, then the version."""
    parts = [
        cfg.command,
        f"in:{cfg.input_kind}",
        f"red:{cfg.reduction}",
        f"w:{weight_tag(cfg.weight)}",
        f"pw:{weight_tag(cfg.pos_weight)}",
    ]
    if cfg.float64:
        parts.append("f64")
    parts.append(f"v:{__version__}")
    return "|".join(parts)


def _validate(cfg: BCEConfig, paths: list[str]) -> None:
    if cfg.chunk_rows is not None and cfg.chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1", value=cfg.chunk_rows)
    if cfg.workers is not None and cfg.workers < 1:
        raise UsageError("--workers must be at least 1", value=cfg.workers)
    check_engine(cfg.engine, cfg.scheduler, cfg.grad_output)
    if cfg.output and cfg.engine == "dask":
        check_dataset_output(cfg.output, paths, cfg.force)
    for out in (cfg.output if cfg.engine == "local" else None, cfg.grad_output):
        if out:
            output_format(out)
            check_output(out, paths, cfg.force)
    if cfg.grad_output and cfg.grad_output == cfg.output:
        raise UsageError("--grad-output and --output name the same file")


def loss_columns(
    loss: np.ndarray, t: np.ndarray, batch: Batch, labels: int, names: list[str]
) -> dict[str, np.ndarray]:
    """The table ``-o`` writes for a batch: id, (row, label,) target, loss."""
    n = loss.shape[0]
    cols: dict[str, np.ndarray] = {}
    if batch.ids is not None:
        cols["id"] = np.repeat(np.asarray(batch.ids), labels)
    if loss.ndim == 2:
        cols["row"] = np.repeat(np.arange(batch.start, batch.start + n), labels)
        cols["label"] = np.tile(np.asarray(names, dtype=object), n)
    cols["target"] = t.reshape(-1).astype(np.float64)
    cols["loss"] = loss.reshape(-1)
    return cols


class _Outputs:
    """The ``-o`` and ``--grad-output`` writers of one pass (either may be absent)."""

    def __init__(
        self,
        loss_path: str | None,
        grad_path: str | None,
        sample_shape: tuple[int, ...],
        grad_dtype: np.dtype,
        names: list[str],
    ) -> None:
        self.names = names
        self.labels = sample_shape[0] if sample_shape else 1
        self.loss: ArrayWriter | TableWriter | None = None
        self.grad: ArrayWriter | TableWriter | None = None
        self.opened: list[ArrayWriter | TableWriter] = []
        if loss_path:
            self.loss = self._open(loss_path, sample_shape, np.dtype(np.float64))
        if grad_path:
            self.grad = self._open(grad_path, sample_shape, grad_dtype)

    def _open(
        self, path: str, shape: tuple[int, ...], dtype: np.dtype
    ) -> ArrayWriter | TableWriter:
        w: ArrayWriter | TableWriter
        w = ArrayWriter(path, shape, dtype) if output_format(path) == "npy" else TableWriter(path)
        self.opened.append(w)
        return w

    def write_loss(self, loss: np.ndarray, t: np.ndarray, batch: Batch) -> None:
        if isinstance(self.loss, ArrayWriter):
            self.loss.write(loss)
        elif self.loss is not None:
            self.loss.write_columns(loss_columns(loss, t, batch, self.labels, self.names))

    def write_grad(self, g: np.ndarray, batch: Batch) -> None:
        if isinstance(self.grad, ArrayWriter):
            self.grad.write(g)
        elif self.grad is not None:
            cols: dict[str, np.ndarray] = {}
            if batch.ids is not None:
                cols["id"] = np.asarray(batch.ids)
            if g.ndim == 1:
                cols["grad"] = g
            else:
                cols.update({f"grad_{nm}": g[:, i] for i, nm in enumerate(self.names)})
            self.grad.write_columns(cols)

    def commit(self) -> None:
        for w in self.opened:
            w.commit()

    def abort(self) -> None:
        for w in self.opened:
            w.abort()


def _label_names(names: list[str] | None, labels: int) -> list[str]:
    if names and len(names) == labels:
        return [str(n) for n in names]
    return [str(i) for i in range(labels)]


def evaluate_bce(
    preds: str, targets: str | None, read: ReadOptions, cfg: BCEConfig
) -> BCEEvaluation:
    """Stream PREDS (and TARGETS) through binary cross-entropy; optionally write per-element
    losses to ``cfg.output`` and the gradient of the reduced loss to ``cfg.grad_output``."""
    _validate(cfg, [p for p in (preds, targets) if p])
    read = dataclasses.replace(read, binary=True)
    acc = BinaryAccumulator(
        cfg.weight,
        cfg.pos_weight,
        cfg.reduction,
        cfg.input_kind,
        nonfinite=cfg.nonfinite,
        float64=cfg.float64,
    )
    second_pass = False
    with open_inputs(preds, targets, read) as inputs:
        shape = _sample_shape(inputs.sample_shape, inputs.preds_info.path)
        labels = shape[0] if shape else 1
        names = _label_names(inputs.class_names, labels)
        wd = work_dtype(np.dtype(inputs.dtype), cfg.float64)
        rows = inputs.preds_info.rows
        scale: float | None = 1.0
        if cfg.reduction == "mean":
            scale = float(rows * labels) if rows is not None else None
        second_pass = bool(cfg.grad_output) and scale is None
        chunk_rows = cfg.chunk_rows or default_chunk_rows(labels, max(2, wd.itemsize))
        if cfg.engine == "dask":
            from ._dask import run_bce

            kept = run_bce(preds, targets, read, cfg, acc, inputs, chunk_rows, labels, names)
            pending = None
        else:
            grad_path = None if second_pass else cfg.grad_output
            kept, pending = _local_pass(
                acc, inputs, cfg, shape, wd, names, scale, grad_path, chunk_rows, second_pass
            )
        infos = inputs.sources
        label_names = names if shape else None

    if second_pass:
        assert cfg.grad_output is not None
        try:
            _grad_pass(preds, targets, read, cfg, acc, chunk_rows)
        except BaseException:
            if pending is not None:  # -o and --grad-output are written together, or neither
                pending.abort()
            raise
    if pending is not None:
        pending.commit()
    result = acc.result()
    losses = None
    if cfg.keep_losses:
        losses = np.concatenate(kept) if kept else np.zeros((0, *shape))
    ev = BCEEvaluation(
        command=cfg.command,
        config=cfg,
        result=result,
        inputs=infos,
        label_names=label_names,
        signature=bce_signature(cfg),
        losses=losses,
        output=cfg.output,
        grad_output=cfg.grad_output,
    )
    ev.warnings = [*(w for i in infos for w in i.warnings), *_warnings(result)]
    return ev


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def bce_chunk(
    acc: BinaryAccumulator, batch: Batch, path: str, keep: bool
) -> tuple[BinaryAccumulator, np.ndarray | None, Arrays]:
    """The chunk kernel of every engine: one batch -> a partial accumulator (spawned from
    ``acc``, merged by the caller in chunk order), the per-element losses when ``keep``, and
    the validated ``(x, t, weight, pos_weight)`` (for the gradient)."""
    part = acc.spawn()
    target = _target_of(batch, path)
    x, t, w, pw = part.arrays(batch.preds, target, batch.start)
    loss = part.add(x, t, w, pw, batch.start, keep=keep)
    return part, loss, (x, t, w, pw)


def _local_pass(
    acc: BinaryAccumulator,
    inputs: Inputs,
    cfg: BCEConfig,
    shape: tuple[int, ...],
    wd: np.dtype,
    names: list[str],
    scale: float | None,
    grad_path: str | None,
    chunk_rows: int,
    defer: bool = False,
) -> tuple[list[np.ndarray], _Outputs | None]:
    """The local engine: chunks on threads, merged into ``acc`` in order, outputs written.

    ``defer``: the outputs are returned uncommitted (the gradient takes a second pass; the
    caller commits them together with it)."""
    out = _Outputs(cfg.output, grad_path, shape, wd, names)
    kept: list[np.ndarray] = []

    def work(
        batch: Batch,
    ) -> tuple[BinaryAccumulator, np.ndarray | None, np.ndarray, np.ndarray | None, Batch]:
        keep = out.loss is not None or cfg.keep_losses
        part, loss, (x, t, w, pw) = bce_chunk(acc, batch, inputs.preds_info.path, keep)
        g = None
        if out.grad is not None:
            g = part.grad_of(x, t, w, pw)
            if cfg.reduction == "mean":
                g = _divide(g, scale)
        return part, loss, t, g, batch

    try:
        for part, loss, t, g, batch in ordered_map(
            work, inputs.batches(chunk_rows), cfg.workers or default_workers()
        ):
            acc.merge(part)
            if cfg.progress is not None:
                cfg.progress(batch.start + len(batch.preds), inputs.rows)
            if loss is not None:
                out.write_loss(loss, t, batch)
                if cfg.keep_losses:
                    kept.append(loss)
            if g is not None:
                out.write_grad(g, batch)
        acc.check()
        if not defer:
            out.commit()
    except CecliError as exc:
        out.abort()
        raise locate(exc, inputs) from None
    except BaseException:
        out.abort()
        raise
    return kept, out if defer else None


def _grad_pass(
    preds: str,
    targets: str | None,
    read: ReadOptions,
    cfg: BCEConfig,
    acc: BinaryAccumulator,
    chunk_rows: int,
) -> None:
    """The ``mean`` gradient when the element count was unknown until the first pass ended."""
    if preds == "-" or targets == "-":
        raise UsageError(
            "--grad-output with --reduction mean reads a CSV input twice, so it needs a file, "
            "not stdin",
            fix="save the input to a file, or use --reduction sum",
        )
    with open_inputs(preds, targets, read) as inputs:
        shape = _sample_shape(inputs.sample_shape, inputs.preds_info.path)
        wd = work_dtype(np.dtype(inputs.dtype), cfg.float64)
        names = _label_names(inputs.class_names, shape[0] if shape else 1)
        out = _Outputs(None, cfg.grad_output, shape, wd, names)
        part = acc.spawn()
        try:
            for batch in inputs.batches(chunk_rows):
                target = _target_of(batch, inputs.preds_info.path)
                x, t, w, pw = part.arrays(batch.preds, target, batch.start)
                out.write_grad(_divide(part.grad_of(x, t, w, pw), float(acc.elements)), batch)
            out.commit()
        except CecliError as exc:
            out.abort()
            raise exc.with_file(inputs.preds_info.path) from None
        except BaseException:
            out.abort()
            raise


def _divide(g: np.ndarray, denom: float | None) -> np.ndarray:
    # torch divides the gradient by numel in the input's precision; 0 elements give 0/0 (NaN).
    assert denom is not None
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = g / g.dtype.type(denom)
    return out


def _sample_shape(shape: tuple[int, ...], path: str) -> tuple[int, ...]:
    if len(shape) > 1:
        raise DataError(
            f"binary predictions must be (rows,) or (rows, labels), but each row is {shape}",
            file=path,
            fix="flatten extra axes first",
        )
    return tuple(shape)


def _target_of(batch: Batch, path: str) -> np.ndarray:
    if batch.target is None:
        raise InputError(
            "no targets", file=path, fix="give TARGETS, --target-col or --target-cols a,b,c"
        )
    return batch.target


def _warnings(r: BCEResult) -> list[str]:
    out = []
    if r.elements == 0:
        out.append("the input has no rows: the mean is NaN and the sum 0")
    elif math.isnan(r.loss):
        out.append("the loss is NaN")
    elif math.isinf(r.loss):
        out.append("the loss is infinite")
    return out


def parse_vector(spec: str | None, option: str) -> np.ndarray | None:
    """``--weight`` / ``--pos-weight`` of ``bce``: one number, a comma list (``1,2,0.5``) or a
    file (.npy, .csv/.tsv/.txt) of one value per label."""
    if spec is None or spec == "":
        return None
    if os.path.exists(spec):
        try:
            if spec.endswith(".npy"):
                v: Any = np.load(spec, allow_pickle=False)
            else:
                with open(spec, encoding="utf-8") as fh:
                    v = _numbers(_tokens(fh.read()), option, spec)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            if isinstance(exc, CecliError):
                raise
            raise InputError(f"cannot read {option} ({exc})", file=spec) from None
    else:
        if not any(ch.isdigit() for ch in spec):
            raise UsageError(f"{option} {spec!r}: no such file, and not a comma list of numbers")
        v = _numbers(_tokens(spec), option, None)
    try:
        a = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{option} must hold numbers", file=spec) from None
    if a.size == 0:
        raise UsageError(f"{option} holds no value", value=spec)
    if not np.all(np.isfinite(a)):
        raise UsageError(f"{option} values must be finite numbers", value=spec)
    if np.any(a < 0):
        raise UsageError(f"{option} values must not be negative", value=spec)
    return a


def _tokens(text: str) -> Iterator[str]:
    for tok in text.replace("\t", ",").replace("\n", ",").split(","):
        if tok.strip():
            yield tok.strip()


def _numbers(tokens: Iterator[str], option: str, file: str | None) -> list[float]:
    vals = []
    for i, tok in enumerate(tokens):
        try:
            vals.append(float(tok))
        except ValueError:
            raise (UsageError if file is None else DataError)(
                f"{option} value {i + 1} is not a number", file=file, value=tok
            ) from None
    return vals
