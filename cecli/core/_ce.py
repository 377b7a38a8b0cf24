"""The cross-entropy kernel: a block of rows in, per-position statistics out.

The kernel is shared by the one-shot functions (:mod:`cecli.core._oneshot`) and the streaming
accumulator (:mod:`cecli.accumulate`), so chunked and one-shot results are computed by the same
arithmetic. For each position it shifts by the maximum, exponentiates in a reused, cache-sized
buffer and sums (the log-sum-exp in the input's precision, float16 upcast to float32); nothing of
size N x C is ever allocated. Per-position losses are float64. The tile arithmetic is in
:mod:`._kernel`.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from . import _blocks as blocks
from ._blocks import parallel_map, resolve_threads, split_even, tiles, work_dtype
from ._kernel import TileKernel
from ._positions import Positions
from .spec import CEOptions

#: From this many classes on, the kernel works on tiles of positions x classes ("rows": reduce
#: along contiguous rows); below it, on tiles transposed to classes x positions ("columns": every
#: pass a SIMD loop over positions). Chosen by measurement (``bench/bench.py --only layout``,
#: one thread, 8M float32 values): rows / columns time was 3.7 at C = 8, 2.1 at 32, 1.3 at 64,
#: 1.11 at 96, 0.92 at 128, 0.5 at 1024 (the rows layout pays NumPy's per-row loop overhead).
WIDE_MIN_CLASSES = 112

#: How top-k accuracy treats ties (JSON ``top_k_ties``): a target counts when fewer than k
#: classes score strictly higher than it, so classes tied with the target never push it out.
#: ``torch.topk`` breaks ties arbitrarily, so on ties the two can differ.
TOP_K_TIES = "favour-target"

def index_targets(
    target: np.ndarray, num_classes: int, ignore_index: int, *, row_div: int = 1, first_row: int = 0
) -> np.ndarray:
    """Class-index targets as int64, validated: integer-valued and in ``[0, C)`` or ignored."""
    t = np.asarray(target)
    if t.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            frac = ~np.isfinite(t) | (np.floor(t) != t)
        if frac.any():
            bad = int(np.flatnonzero(frac.reshape(-1))[0])
            raise DataError(
                "class-index targets must be whole numbers",
                row=first_row + bad // row_div,
                value=t.reshape(-1)[bad].item(),
                fix="use --targets probs for probability targets",
            )
        _fits_int64(t, num_classes, ignore_index, row_div, first_row)
        t = t.astype(np.int64)
    elif t.dtype.kind == "b":
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise DataError(f"class-index targets must be integers, not {t.dtype}")
    else:
        if t.dtype == np.uint64:
            _fits_int64(t, num_classes, ignore_index, row_div, first_row)
        t = t.astype(np.int64, copy=False)
    if t.size == 0 or (int(t.min()) >= 0 and int(t.max()) < num_classes):
        return t  # the common case, in two quick passes
    bad_mask = (t != ignore_index) & ((t < 0) | (t >= num_classes))
    if bad_mask.any():
        flat = np.flatnonzero(bad_mask.reshape(-1))
        bad = int(flat[0])
        raise DataError(
            f"target out of range: {flat.size} label(s) outside [0, {num_classes})",
            row=first_row + bad // row_div,
            value=int(t.reshape(-1)[bad]),
            fix=f"labels must be in [0, {num_classes}) or equal --ignore-index ({ignore_index})",
        )
    return t


def _fits_int64(
    t: np.ndarray, num_classes: int, ignore_index: int, row_div: int, first_row: int
) -> None:
    """Labels beyond int64 (uint64 >= 2**63, floats like ``1e20``) are out of range: say so with
    their true value, before a cast wraps them (onto ``ignore_index``, even)."""
    if t.size == 0:
        return
    big = t > np.iinfo(np.int64).max if t.dtype.kind == "u" else np.abs(t) >= 2.0**63
    if big.any():
        flat = np.flatnonzero(big.reshape(-1))
        bad = int(flat[0])
        value = t.reshape(-1)[bad].item()
        raise DataError(
            f"target out of range: {flat.size} label(s) outside [0, {num_classes})",
            row=first_row + bad // row_div,
            value=value,
            fix=f"labels must be in [0, {num_classes}) or equal --ignore-index ({ignore_index})",
        )


def ce_positions(
    x3: np.ndarray,
    t: np.ndarray,
    opts: CEOptions,
    *,
    threads: int | None = 1,
    light: bool = False,
) -> Positions:
    """Cross-entropy statistics of every position of ``x3`` ``(R, C, D)``.

    ``t`` is ``(R, D)`` validated int64 class indices (:func:`index_targets`) or, with
    ``opts.soft``, ``(R, C, D)`` probabilities. Row indices in ``nonfinite_rows`` are block-local.
    ``threads`` splits the tiles over that many threads (``None``: every core, for large
    inputs); the streaming engine keeps the default of 1 and runs chunks on threads instead.
    ``light=True`` computes only what a loss needs (``loss``, ``denom``, ``counted``,
    ``target`` and the non-finite findings): no argmax, ``pred`` is empty and ``conf``,
    ``target_prob`` and ``topk`` are unavailable (the one-shot functions use it).
    """
    R, C, D = x3.shape
    P = R * D
    wd = work_dtype(x3.dtype, opts.float64)
    full = 0 if light else P
    out = Positions(
        loss=np.empty(P),
        denom=np.empty(P),
        counted=np.empty(P, dtype=bool),
        target=np.empty(P, dtype=np.int64) if opts.soft else t.reshape(-1),
        pred=np.empty(full, dtype=np.int64),
        topk=np.empty(P, dtype=bool) if opts.top_k and not light else None,
        _norm=None if light or opts.input_kind != "logits" else np.empty(P, dtype=wd),
        _top=None if light else np.empty(P, dtype=wd),
        _tgt=None if light else np.empty(P, dtype=wd),
    )
    if P == 0:
        return out
    tl = tiles(R, C, D)
    nt = resolve_threads(threads, R * C * D, len(tl))
    if nt > 1:
        # Threads contend for the GIL in the Python part of each tile (~25-50 us): twice
        # larger tiles halve it (1M x 10 on 2 threads: 15.9 -> 14.6 ms; on one thread they
        # cost ~5%, as the working set leaves L2).
        tl = tiles(R, C, D, 2 * blocks.BLOCK_ELEMENTS)
        nt = min(nt, len(tl))
    most = max((r1 - r0) * (d1 - d0) for r0, r1, d0, d1 in tl)
    kernel = TileKernel(
        x3, t, opts, out, wd, rows=C >= WIDE_MIN_CLASSES, tile_positions=most, light=light
    )
    parts = parallel_map(kernel.run, split_even(tl, nt), nt)
    flags = parts[0]
    for other in parts[1:]:
        flags.merge(other)
    if flags.bad_count:
        out.nonfinite_rows.append(flags.bad_first)
        out.nonfinite_count = flags.bad_count
    out.unnormalised_rows = flags.unnorm_count
    out.first_unnormalised = flags.unnorm_first
    out.probs_like = flags.probs_like
    out.not_logprob_rows = flags.notlp_count
    out.first_not_logprob = flags.notlp_first
    return out
