"""``evaluate``: files in, a :class:`Evaluation` out (readers -> core -> accumulate -> writers)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._version import __version__
from ..accumulate import DEFAULT_SEED, CEResult, CrossEntropyAccumulator
from ..core import Positions, class_axis_of
from ..errors import CecliError, DataError, InputError, UsageError
from ..readers import Batch, Inputs, ReadOptions, SourceInfo, open_inputs
from ..writers import TableWriter, check_dataset_output, check_output
from ._engine import check_engine, default_chunk_rows, ordered_map
from ._where import locate, shown_row
from .spec import default_workers


@dataclass
class CEConfig:
    """Everything ``cecli ce`` / ``cecli nll`` can be asked (the command-line options)."""

    command: str = "ce"
    input_kind: str = "logits"
    targets: str = "auto"
    weight: np.ndarray | None = None
    ignore_index: int = -100
    reduction: str = "mean"
    label_smoothing: float = 0.0
    float64: bool = False
    nonfinite: str = "error"
    top_k: int = 0
    per_class: bool = False
    ece_bins: int = 0
    ci_level: float | None = None
    bootstrap: int = 1000
    seed: int = DEFAULT_SEED
    chunk_rows: int | None = None
    workers: int | None = None
    output: str | None = None
    force: bool = False
    with_probs: bool = False
    keep_losses: bool = False
    grad_output: str | None = None
    engine: str = "local"
    """``local`` (threads) or ``dask`` (a Dask cluster, :mod:`cecli.api._dask`)."""
    scheduler: str | None = None
    """The Dask scheduler's address (else ``DASK_SCHEDULER_ADDRESS``, else a LocalCluster)."""
    progress: Callable[[int, int | None], None] | None = None
    """Called after each merged chunk with (rows done, total rows or None)."""


@dataclass
class Evaluation:
    """The outcome of one evaluation, ready for a report."""

    command: str
    config: CEConfig
    result: CEResult
    inputs: list[SourceInfo]
    class_names: list[str] | None
    target_kind: str
    signature: str
    warnings: list[str] = field(default_factory=list)
    losses: np.ndarray | None = None
    output: str | None = None
    group_col: str | None = None
    sample_weight_col: str | None = None


def weight_tag(weight: np.ndarray | None) -> str:
    """The weights as the signature shows them: the values, or a hash when there are many."""
    if weight is None:
        return "none"
    vals = [repr(float(v)) for v in weight]
    if len(vals) <= 8:
        return ",".join(vals)
    return "sha1-" + hashlib.sha1(",".join(vals).encode()).hexdigest()[:12]


def signature(cfg: CEConfig, target_kind: str, read: ReadOptions) -> str:
    """A reproducibility signature: every setting that changes the number, then the version."""
    parts = [
        cfg.command,
        f"in:{cfg.input_kind}",
        f"tgt:{target_kind}",
        f"red:{cfg.reduction}",
        f"w:{weight_tag(cfg.weight)}",
        f"ii:{cfg.ignore_index}",
        f"ls:{cfg.label_smoothing:g}",
    ]
    if read.sample_weight_col:
        parts.append(f"sw:{read.sample_weight_col}")
    if cfg.float64:
        parts.append("f64")
    if cfg.ci_level is not None:
        parts.append(
            f"ci:{cfg.ci_level:g},poisson-bootstrap,B:{cfg.bootstrap},seed:{cfg.seed},"
            f"grp:{read.group_col or 'none'}"
        )
    parts.append(f"v:{__version__}")
    return "|".join(parts)


def _validate(cfg: CEConfig) -> None:
    if cfg.chunk_rows is not None and cfg.chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1", value=cfg.chunk_rows)
    if cfg.workers is not None and cfg.workers < 1:
        raise UsageError("--workers must be at least 1", value=cfg.workers)
    if cfg.ci_level is not None and not 0.0 < cfg.ci_level < 1.0:
        raise UsageError("--ci must be a level between 0 and 1, e.g. 0.95", value=cfg.ci_level)
    if cfg.ci_level is not None and cfg.bootstrap < 2:
        raise UsageError("--bootstrap needs at least 2 replicates", value=cfg.bootstrap)
    check_engine(cfg.engine, cfg.scheduler, cfg.grad_output)



def make_accumulator(
    cfg: CEConfig, read: ReadOptions, *, bootstrap: bool
) -> CrossEntropyAccumulator:
    """The accumulator a run's options ask for (``bootstrap``: with the Poisson replicates;
    ``compare`` keeps its own paired ones)."""
    return CrossEntropyAccumulator(
        cfg.weight,
        cfg.ignore_index,
        cfg.reduction,
        cfg.label_smoothing,
        axis=read.class_axis,
        input_kind=cfg.input_kind,
        targets=cfg.targets,
        nonfinite=cfg.nonfinite,
        float64=cfg.float64,
        top_k=cfg.top_k,
        per_class=cfg.per_class,
        ece_bins=cfg.ece_bins,
        bootstrap=cfg.bootstrap if bootstrap else 0,
        seed=cfg.seed,
        ci_level=cfg.ci_level if cfg.ci_level is not None else 0.95,
    )

def evaluate(
    preds: str, targets: str | None, read: ReadOptions, cfg: CEConfig
) -> Evaluation:
    """Stream PREDS (and TARGETS) through the cross-entropy kernel; optionally write
    per-position losses to ``cfg.output``."""
    _validate(cfg)
    paths = [p for p in (preds, targets) if p]
    if cfg.output and cfg.engine == "dask":
        check_dataset_output(cfg.output, paths, cfg.force)
    elif cfg.output:
        check_output(cfg.output, paths, cfg.force)
    if cfg.grad_output:
        check_output(cfg.grad_output, paths, cfg.force)
        if cfg.grad_output == cfg.output:
            raise UsageError("--grad-output and --output name the same file")
    acc = make_accumulator(cfg, read, bootstrap=cfg.ci_level is not None)
    with open_inputs(preds, targets, read) as inputs:
        sample_shape = tuple(inputs.sample_shape)
        ndim = len(sample_shape) + 1
        ax = class_axis_of(ndim, read.class_axis)
        pos_tail = sample_shape[: ax - 1] + sample_shape[ax:]
        itemsize = max(2, np.dtype(inputs.dtype).itemsize)
        chunk_rows = cfg.chunk_rows or default_chunk_rows(int(np.prod(sample_shape)), itemsize)
        per_row = int(np.prod(pos_tail)) if pos_tail else 1
        if cfg.engine == "dask":
            from ._dask import run_ce

            kept = run_ce(preds, targets, read, cfg, acc, inputs, chunk_rows, per_row)
            pending = None
        else:
            kept, pending = _local_pass(acc, inputs, cfg, chunk_rows, pos_tail, per_row)
        infos = [inputs.preds_info] + ([inputs.target_info] if inputs.target_info else [])
        class_names = inputs.class_names
        unbatched = inputs.unbatched

    if cfg.grad_output:
        from ._grad import write_gradient

        try:
            write_gradient(preds, targets, read, cfg, acc, chunk_rows)
        except BaseException:
            if pending is not None:  # -o and --grad-output are written together, or neither
                pending.abort()
            raise
    if pending is not None:
        pending.commit(() if unbatched else None)
    result = acc.result()
    soft = bool(acc.opts and acc.opts.soft)
    target_kind = "probs" if soft else "index"
    if result.per_class is not None and class_names:
        for row in result.per_class:
            i = row["index"]
            row["class"] = class_names[i] if i < len(class_names) else str(i)
    elif result.per_class is not None:
        for row in result.per_class:
            row["class"] = str(row["index"])
    losses = None
    if cfg.keep_losses:
        flat = np.concatenate(kept) if kept else np.zeros(0)
        losses = flat.reshape(()) if unbatched and flat.size == 1 else flat.reshape((-1, *pos_tail))
    ev = Evaluation(
        command=cfg.command,
        config=cfg,
        result=result,
        inputs=infos,
        class_names=class_names,
        target_kind=target_kind,
        signature=signature(cfg, target_kind, read),
        losses=losses,
        output=cfg.output,
        group_col=read.group_col,
        sample_weight_col=read.sample_weight_col,
    )
    if cfg.ci_level is not None and ev.result.ci is not None:
        ev.result.ci["group"] = read.group_col
    ev.warnings = [*(w for i in infos for w in i.warnings), *_warnings(ev)]
    return ev


def ce_chunk(
    acc: CrossEntropyAccumulator, batch: Batch, fname: str
) -> tuple[CrossEntropyAccumulator, Positions]:
    """The chunk kernel of every engine: one batch -> a partial accumulator (spawned from
    ``acc``, merged by the caller in chunk order) and the batch's per-position results."""
    if batch.target is None:
        raise InputError("no targets: give TARGETS or a target column", file=fname)
    part = acc.spawn()
    pos = part.update(
        batch.preds,
        batch.target,
        sample_weight=batch.sample_weight,
        group=batch.group,
        start=batch.start,
    )
    return part, pos


def _local_pass(
    acc: CrossEntropyAccumulator,
    inputs: Inputs,
    cfg: CEConfig,
    chunk_rows: int,
    pos_tail: tuple[int, ...],
    per_row: int,
) -> tuple[list[np.ndarray], TableWriter | None]:
    """The local engine: chunks on threads, merged into ``acc`` in order, ``-o`` written.

    With ``--grad-output`` the ``-o`` writer is returned uncommitted (the caller commits it once
    the gradient is written too, so an interrupted second pass leaves neither file)."""
    workers = cfg.workers or default_workers()
    writer = TableWriter(cfg.output, pos_tail) if cfg.output else None
    kept: list[np.ndarray] = []
    fname = inputs.preds_info.path

    def work(batch: Batch) -> tuple[CrossEntropyAccumulator, Positions, Batch]:
        part, pos = ce_chunk(acc, batch, fname)
        return part, pos, batch

    try:
        for part, pos, batch in ordered_map(work, inputs.batches(chunk_rows), workers):
            acc.merge(part)
            if cfg.progress is not None:
                cfg.progress(batch.start + len(batch.preds), inputs.rows)
            if writer is not None:
                writer.write(_columns(pos, batch, per_row, cfg.with_probs))
            if cfg.keep_losses:
                kept.append(pos.loss)
        acc.check()
        if writer is not None and not cfg.grad_output:
            writer.commit(() if inputs.unbatched else None)
    except CecliError as exc:
        if writer is not None:
            writer.abort()
        raise locate(exc, inputs) from None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return kept, writer if cfg.grad_output else None


def _columns(pos: Positions, batch: Batch, per_row: int, with_probs: bool) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    if batch.ids is not None:
        cols["id"] = np.repeat(np.asarray(batch.ids), per_row)
    if per_row > 1:
        n = pos.loss.size // per_row
        cols["row"] = np.repeat(np.arange(batch.start, batch.start + n), per_row)
        cols["position"] = np.tile(np.arange(per_row), n)
    cols["target"] = pos.target
    cols["loss"] = pos.loss
    if with_probs:
        cols["target_prob"] = pos.target_prob
        cols["pred"] = pos.pred
    return cols


def _warnings(ev: Evaluation) -> list[str]:
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
    return out


def parse_weight(spec: str | None) -> np.ndarray | None:
    """``--weight``: a comma list (``1,2,0.5``) or a file (.npy, .csv/.tsv/.txt) of C values."""
    if spec is None or spec == "":
        return None
    import os

    if os.path.exists(spec):
        try:
            if spec.endswith(".npy"):
                w = np.load(spec, allow_pickle=False)
            else:
                with open(spec, encoding="utf-8") as fh:
                    text = fh.read().replace("\t", ",").replace("\n", ",")
                w = _parse_list(text, spec)
        except CecliError:
            raise
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the class weights ({exc})", file=spec) from None
    else:
        if not any(ch.isdigit() for ch in spec):
            raise UsageError(f"--weight {spec!r}: no such file, and not a comma list of numbers")
        w = _parse_list(spec, None)
    try:  # an NPY of strings, or an NPZ archive named .npy
        w = np.asarray(w, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError("the class weights must be numbers", file=spec) from None
    if not np.all(np.isfinite(w)):
        raise UsageError("--weight values must be finite numbers", value=spec)
    if np.any(w < 0):
        raise UsageError("--weight values must not be negative", value=spec)
    return w


def _parse_list(text: str, file: str | None) -> np.ndarray:
    vals = []
    for i, tok in enumerate(t.strip() for t in text.split(",")):
        if not tok:
            continue
        try:
            vals.append(float(tok))
        except ValueError:
            raise (UsageError if file is None else DataError)(
                f"--weight value {i + 1} is not a number", file=file, value=tok
            ) from None
    return np.array(vals, dtype=np.float64)
