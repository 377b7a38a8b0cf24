"""``compare``: a paired comparison of two prediction files on the same targets.

Both files stream through their own :class:`~cecli.accumulate.CrossEntropyAccumulator`, in
lockstep, row for row; one :class:`~cecli.accumulate.BootstrapSums` draws each position's Poisson
weights once and applies them to A's losses, B's losses and the shared denominator, so every
replicate resamples the same rows for both models (a paired bootstrap). The difference is
``delta = loss(B) - loss(A)``: positive means B is worse.

p-values (both from the bootstrap distribution of ``delta``, by inverting percentile intervals):

* ``p_value``: two-sided, for "no difference":
  ``min(1, 2 * min(1 + #{d* <= 0}, 1 + #{d* >= 0}) / (1 + B))`` over the finite replicates
  ``d*``; it is below ``1 - level`` exactly when the percentile interval excludes 0 (up to the
  ``+1`` that keeps it from being 0).
* ``p_worse`` (``--fail-if-worse``): one-sided, for "B is worse than A by more than the margin":
  ``(1 + #{d* <= margin}) / (1 + B)``; B is *significantly worse* when it is below alpha and
  ``delta > margin``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..accumulate import (
    BootstrapSums,
    CEResult,
    CrossEntropyAccumulator,
    Measures,
    bootstrap_keys,
    percentile_interval,
)
from ..core import LossSpec, Positions, class_axis_of
from ..errors import CecliError, DataError, InputError, UsageError
from ..readers import Batch, ReadOptions, SourceInfo, open_inputs
from ..readers.labels import strip_common_prefix
from ._engine import ordered_map
from ._evaluate import check_one_column, likely_mistakes, name_classes
from ._where import locate, shown_row
from .signature import Signature
from .spec import RunSpec

__all__ = ["Comparison", "compare", "paired_p_values"]


@dataclass
class Comparison:
    """The outcome of ``cecli compare``, ready for a report."""

    loss: LossSpec
    measures: Measures
    a: CEResult
    b: CEResult
    a_info: SourceInfo
    b_info: SourceInfo
    target_info: SourceInfo | None
    delta: float
    ci: dict[str, Any]
    p_value: float
    replicate_deltas: np.ndarray
    target_kind: str
    signature: str
    group_col: str | None = None
    warnings: list[str] = field(default_factory=list)

    def p_worse(self, margin: float = 0.0) -> float:
        """One-sided bootstrap p-value of "B is worse than A by more than ``margin``"."""
        d = self.replicate_deltas[np.isfinite(self.replicate_deltas)]
        return float((1 + np.count_nonzero(d <= margin)) / (1 + d.size))


def paired_p_values(deltas: np.ndarray) -> float:
    """The two-sided bootstrap p-value of "no difference" (see the module docstring)."""
    d = deltas[np.isfinite(deltas)]
    if d.size == 0:
        return math.nan
    le = 1 + int(np.count_nonzero(d <= 0.0))
    ge = 1 + int(np.count_nonzero(d >= 0.0))
    return float(min(1.0, 2.0 * min(le, ge) / (1 + d.size)))


def _slice(b: Batch, lo: int, hi: int) -> Batch:
    def cut(x: np.ndarray[Any, Any] | None) -> np.ndarray[Any, Any] | None:
        return None if x is None else x[lo:hi]

    return Batch(
        preds=b.preds[lo:hi],
        target=cut(b.target),
        ids=cut(b.ids),
        sample_weight=cut(b.sample_weight),
        group=cut(b.group),
        start=b.start + lo,
    )


def aligned(
    first: Iterator[Batch], second: Iterator[Batch], names: tuple[str, str]
) -> Iterator[tuple[Batch, Batch]]:
    """Pairs of batches covering the same rows: the two streams re-cut at every boundary of
    either. A stream that ends first is a row-count mismatch (:class:`DataError`)."""
    a: Batch | None = None
    b: Batch | None = None
    while True:
        if a is None:
            a = next(first, None)
        if b is None:
            b = next(second, None)
        if a is None or b is None:
            if a is None and b is None:
                return
            done, other, rest = (names[0], names[1], b) if a is None else (names[1], names[0], a)
            assert rest is not None
            raise DataError(
                f"row-count mismatch: {done} ends after {rest.start} rows but {other} goes on",
                fix="compare two prediction files with one row per sample, in the same order",
            )
        n = min(len(a.preds), len(b.preds))
        yield _slice(a, 0, n), _slice(b, 0, n)
        a = _slice(a, n, len(a.preds)) if n < len(a.preds) else None
        b = _slice(b, n, len(b.preds)) if n < len(b.preds) else None


def _check_same(
    name: str, x: np.ndarray[Any, Any] | None, y: np.ndarray[Any, Any] | None, start: int,
    fix: str,
) -> None:
    if x is None or y is None:
        return
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.shape != ya.shape:
        raise DataError(f"the two files' {name} have different shapes ({xa.shape} vs {ya.shape})")
    same = (xa == ya) | ((xa != xa) & (ya != ya)) if xa.dtype.kind == "f" else xa == ya
    if not np.all(same):
        bad = int(np.flatnonzero(~same.reshape(len(xa), -1).all(axis=1))[0])
        raise DataError(
            f"the two files' {name} differ: {xa[bad]!r} in PREDS_A but {ya[bad]!r} in PREDS_B",
            row=start + bad,
            fix=fix,
        )


def class_order(
    names_a: list[str] | None, names_b: list[str] | None, files: tuple[str, str]
) -> np.ndarray | None:
    """The column indices that put PREDS_B's classes in PREDS_A's order (None: already so).

    Classes are lined up by name (a prefix both spell differently, ``logit_``, aside); two
    files without names line up by position. Anything else cannot be lined up without a guess:
    a file with names and one without, or different names, is a :class:`DataError`.
    """
    if names_a is None and names_b is None:
        return None
    if names_a is None or names_b is None:
        named, unnamed = (files[0], files[1]) if names_b is None else (files[1], files[0])
        raise DataError(
            f"{named} names its classes but {unnamed} does not, so they cannot be lined up "
            "by name",
            file=unnamed,
            fix=f"pass --classes with the class names in {unnamed}'s column order",
        )
    if list(names_a) == list(names_b):
        return None
    spell_a = [list(names_a), strip_common_prefix(names_a)]
    spell_b = [list(names_b), strip_common_prefix(names_b)]
    for a in spell_a:
        for b in spell_b:
            if a is None or b is None or len(set(b)) != len(b) or set(a) != set(b):
                continue
            where = {name: i for i, name in enumerate(b)}
            order = np.array([where[name] for name in a], dtype=np.intp)
            return None if np.array_equal(order, np.arange(order.size)) else order
    only_a = [n for n in names_a if n not in set(names_b)]
    only_b = [n for n in names_b if n not in set(names_a)]
    raise DataError(
        f"PREDS_A and PREDS_B name different classes ({', '.join(only_a[:5]) or '-'} only in "
        f"PREDS_A; {', '.join(only_b[:5]) or '-'} only in PREDS_B)",
        file=files[1],
        fix="compare predictions over the same classes (columns are matched by name)",
    )


def _validate(
    loss: LossSpec, measures: Measures, preds_a: str, preds_b: str, targets: str | None
) -> float:
    """compare's own rules (the specs checked the rest); returns the interval's level."""
    if loss.binary or loss.reduction not in ("mean", "sum"):
        raise UsageError("compare reduces each file's losses: --reduction must be mean or sum")
    if loss.input == "target-logprobs":
        raise UsageError(
            "compare pairs rows of class predictions; --input target-logprobs has only each "
            "token's log-probability",
            fix="run cecli ce --input target-logprobs on each file and compare their losses",
        )
    if measures.ci is None:
        raise UsageError("--ci must be a level between 0 and 1, e.g. 0.95", value=None)
    if targets == "-" or (preds_a == "-" and preds_b == "-"):
        raise UsageError(
            "compare reads at most one of PREDS_A / PREDS_B from stdin, and TARGETS from a file",
            fix="save the others to files",
        )
    return measures.ci


def compare(
    preds_a: str,
    preds_b: str,
    targets: str | None,
    read: ReadOptions,
    loss: LossSpec,
    measures: Measures,
    run: RunSpec = RunSpec(),  # noqa: B008 - frozen, validated once
) -> Comparison:
    """Evaluate PREDS_A and PREDS_B on the same targets, row for row, and bootstrap the
    difference of their losses (paired: the same weights for both). ``measures.ci`` is the
    interval's level (required)."""
    level = _validate(loss, measures, preds_a, preds_b, targets)
    own = dataclasses.replace(measures, ci=None)  # the paired replicates are kept here
    acc_a = CrossEntropyAccumulator(loss, own, axis=read.class_axis)
    acc_b = CrossEntropyAccumulator(loss, own, axis=read.class_axis)
    # loss A, loss B, denominator; a sum's interval needs a draw per position
    boot = BootstrapSums(3, measures.bootstrap, measures.seed, loss.reduction == "sum")
    names = ("PREDS_A", "PREDS_B")
    with open_inputs(preds_a, targets, read) as in_a, open_inputs(
        preds_b, None, read, need_target=False
    ) as in_b:
        if in_a.rows is not None and in_b.rows is not None and in_a.rows != in_b.rows:
            raise DataError(
                f"row-count mismatch: PREDS_A has {in_a.rows} rows, PREDS_B has {in_b.rows}",
                file=preds_b,
                fix="compare two prediction files with one row per sample, in the same order",
            )
        if tuple(in_a.sample_shape) != tuple(in_b.sample_shape):
            raise DataError(
                f"PREDS_A rows have shape {tuple(in_a.sample_shape)} but PREDS_B rows "
                f"{tuple(in_b.sample_shape)}",
                file=preds_b,
                fix="both files need the same classes (and positions) per row",
            )
        order = class_order(in_a.class_names, in_b.class_names, (preds_a, preds_b))
        sample_shape = tuple(in_a.sample_shape)
        if sample_shape and not in_a.unbatched:
            C = sample_shape[class_axis_of(len(sample_shape) + 1, read.class_axis) - 1]
            check_one_column(C, str(loss.input), preds_a)
        itemsize = max(2, np.dtype(in_a.dtype).itemsize, np.dtype(in_b.dtype).itemsize)
        chunk_rows = run.rows_per_chunk(int(np.prod(sample_shape)), itemsize)
        workers = run.threads()
        check_ids = read.id_col is not None

        def work(
            pair: tuple[Batch, Batch],
        ) -> tuple[CrossEntropyAccumulator, CrossEntropyAccumulator, BootstrapSums]:
            ba, bb = pair
            if ba.target is None:
                raise InputError("no targets: give TARGETS or a target column", file=preds_a)
            start = ba.start
            try:  # a row where the files disagree, numbered as PREDS_B numbers its rows
                if check_ids:
                    _check_same(
                        "ids", ba.ids, bb.ids, start,
                        "sort both files the same way (by --id-col) so that rows line up",
                    )
                _check_same(
                    "targets", ba.target, bb.target, start,
                    "compare predictions of the same samples, or pass TARGETS",
                )
                _check_same("sample weights", ba.sample_weight, bb.sample_weight, start, "")
            except DataError as exc:
                raise locate(exc, in_b) from None
            part_a, part_b = acc_a.spawn(), acc_b.spawn()
            try:
                pa = part_a.update(ba.preds, ba.target, sample_weight=ba.sample_weight, start=start)
            except CecliError as exc:
                raise locate(exc, in_a) from None
            b_preds = bb.preds if order is None else np.take(bb.preds, order, axis=1)
            try:
                pb = part_b.update(b_preds, ba.target, sample_weight=ba.sample_weight, start=start)
            except CecliError as exc:
                raise locate(exc, in_b) from None
            part_boot = boot.spawn()
            n = len(ba.preds)
            per_pos = pa.loss.size // n if n else 1
            keys = bootstrap_keys(start, n, per_pos, ba.group)
            part_boot.add(start * per_pos, keys, _series(pa, pb, ba.sample_weight, per_pos))
            return part_a, part_b, part_boot

        pairs = aligned(in_a.batches(chunk_rows), in_b.batches(chunk_rows), names)
        try:
            for part_a, part_b, part_boot in ordered_map(work, pairs, workers):
                acc_a.merge(part_a)
                acc_b.merge(part_b)
                boot.merge(part_boot)
            for acc, inputs in ((acc_a, in_a), (acc_b, in_b)):
                try:
                    acc.check()
                except CecliError as exc:
                    raise locate(exc, inputs) from None
        except CecliError as exc:
            raise exc.with_file(preds_a) from None
        a_info, b_info, t_info = in_a.preds_info, in_b.preds_info, in_a.target_info
        class_names = in_a.class_names

    ra, rb = acc_a.result(), acc_b.result()
    name_classes(ra, class_names)
    name_classes(rb, class_names)
    sums = boot.value()
    if loss.reduction == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            deltas = sums[1] / sums[2] - sums[0] / sums[2]
    else:
        deltas = sums[1] - sums[0]
    finite = math.isfinite(ra.loss) and math.isfinite(rb.loss)  # else no interval (see ce's)
    lo, hi = percentile_interval(deltas, level) if finite else (math.nan, math.nan)
    soft = bool(acc_a.opts and acc_a.opts.soft)
    target_kind = "probs" if soft else "index"
    cmp = Comparison(
        loss=loss,
        measures=measures,
        a=ra,
        b=rb,
        a_info=a_info,
        b_info=b_info,
        target_info=t_info,
        delta=rb.loss - ra.loss,
        ci={
            "level": level,
            "low": lo,
            "high": hi,
            "method": "paired-poisson-bootstrap",
            "replicates": measures.bootstrap,
            "seed": measures.seed,
            "group": read.group_col,
        },
        p_value=paired_p_values(deltas),
        replicate_deltas=deltas,
        target_kind=target_kind,
        signature=str(
            Signature.build("compare", loss, target_kind=target_kind, measures=measures, read=read)
        ),
        group_col=read.group_col,
    )
    infos = [a_info, b_info, *([t_info] if t_info is not None else [])]
    cmp.warnings = [*dict.fromkeys(w for i in infos for w in i.warnings), *_warnings(cmp)]
    return cmp


def _series(
    pa: Positions, pb: Positions, sample_weight: np.ndarray[Any, Any] | None, per_pos: int
) -> list[np.ndarray]:
    """Per-position (loss A, loss B, denominator), sample-weighted as the accumulators weigh them."""
    if sample_weight is None:
        return [pa.loss, pb.loss, pa.denom]
    sw = np.repeat(np.asarray(sample_weight, dtype=np.float64).reshape(-1), per_pos)
    with np.errstate(invalid="ignore", over="ignore"):
        return [pa.loss * sw, pb.loss * sw, pa.denom * sw]


def _warnings(cmp: Comparison) -> list[str]:
    out = []
    if cmp.a.samples == 0:
        out.append("the inputs have no rows: both losses are NaN")
    elif cmp.a.counted == 0:
        out.append("every target is ignored: both losses are NaN")
    for name, r in (("PREDS_A", cmp.a), ("PREDS_B", cmp.b)):
        if r.counted and not math.isfinite(r.loss):
            out.append(f"the loss of {name} is {r.loss}")
        if r.unnormalised_rows:
            info = cmp.a_info if name == "PREDS_A" else cmp.b_info
            row, note = shown_row(r.first_unnormalised, info)
            out.append(
                f"{name}: {r.unnormalised_rows} row(s) of probabilities do not sum to 1 within "
                f"1e-4 (first: row {row}; {note}); they were not renormalised"
            )
        info = cmp.a_info if name == "PREDS_A" else cmp.b_info
        out += likely_mistakes(r, str(cmp.loss.input), info, name)
    d = cmp.replicate_deltas
    bad = int(np.count_nonzero(~np.isfinite(d)))
    if bad and cmp.a.counted:
        out.append(f"{bad} bootstrap replicate(s) had no counted position and were left out")
    return out
