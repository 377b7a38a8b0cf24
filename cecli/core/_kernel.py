"""The cross-entropy arithmetic on one tile, in a layout that suits NumPy's loops.

:func:`cecli.core._ce.ce_positions` cuts its input into tiles (``_blocks.tiles``) and runs
:meth:`TileKernel.run` on them, on one thread or several. Each tile is read from memory once:
copied (or viewed) into a scratch buffer the size of the L2 cache, then shifted by its maxima,
exponentiated and summed in place there.

Two layouts, chosen by the number of classes C (``WIDE_MIN_CLASSES``):

* **rows**: a tile is ``(P, C)``, one position per row, a view of the input when it already is
  one. Reductions run along contiguous rows: NumPy's SIMD argmax, a pairwise float sum.
* **columns**: a tile is transposed into ``(C, P)``. Every pass is then a SIMD loop over P
  contiguous positions instead of a loop of C values per position, whose per-row overhead
  dominates for small C (3-4x faster at C = 10); the argmax comes from one equality pass.

Per position the kernel keeps what the loss needs plus the row sums; ``conf`` and
``target_prob`` are derived on demand (:class:`cecli.core._ce.Positions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UsageError
from ._blocks import buffer, transpose_into
from ._checks import looks_like_probs, not_logprobs, probs_clip

if TYPE_CHECKING:
    from ._positions import Positions
    from .spec import CEOptions

# Scratch-buffer slots (see ``_blocks.buffer``).
_S_TILE, _S_SHIFT, _S_TARGET, _S_BOOL, _S_INT, _S_INDEX = 20, 21, 22, 23, 24, 25
_S_PRED, _S_MAX, _S_TARGET_X, _S_NORM = 26, 27, 28, 29  # light mode: per-position scratch
_S_PROB_Y = 30  # probabilities: the target's clipped log-probability


@dataclass
class Flags:
    """Row-level findings of a run of tiles, merged in tile order."""

    bad_first: int = -1  # first row with NaN / +inf in a counted position
    bad_last: int = -1
    bad_count: int = 0  # distinct such rows
    unnorm_first: int = -1  # first row of probabilities not summing to 1
    unnorm_count: int = 0  # such positions
    probs_like: bool = True  # logits: every counted position so far looks like probabilities
    notlp_first: int = -1  # log-probabilities: first row that cannot be log-probabilities
    notlp_count: int = 0  # such positions

    def add_bad(self, rows: np.ndarray) -> None:
        u = np.unique(rows)
        if self.bad_first < 0:
            self.bad_first = int(u[0])
        self.bad_count += u.size - int(u[0] == self.bad_last)  # a row split over two tiles
        self.bad_last = int(u[-1])

    def merge(self, other: Flags) -> None:
        if other.bad_count:
            if self.bad_first < 0:
                self.bad_first = other.bad_first
            self.bad_count += other.bad_count - int(other.bad_first == self.bad_last)
            self.bad_last = other.bad_last
        if other.unnorm_count:
            if self.unnorm_first < 0:
                self.unnorm_first = other.unnorm_first
            self.unnorm_count += other.unnorm_count
        self.probs_like = self.probs_like and other.probs_like
        if other.notlp_count:
            if self.notlp_first < 0:
                self.notlp_first = other.notlp_first
            self.notlp_count += other.notlp_count


class TileKernel:
    """Everything fixed for one ``ce_positions`` call; :meth:`run` handles a run of tiles,
    writing each tile's positions into ``out`` (disjoint slices, so runs can go in parallel)."""

    def __init__(
        self,
        x3: np.ndarray,
        t: np.ndarray,
        opts: CEOptions,
        out: Positions,
        wd: np.dtype,
        *,
        rows: bool,
        tile_positions: int,
        light: bool = False,
    ) -> None:
        _, C, D = x3.shape
        self.x3, self.t, self.opts, self.out, self.wd = x3, t, opts, out, wd
        self.C, self.D = C, D
        self.rows = rows
        self.light = light  # loss, denom, counted and target only: no argmax, nothing kept
        self.cax = 1 if rows else 0  # the class axis of a laid-out tile
        self.w = opts.weight
        w_wd = None if opts.weight is None else _weights_in(opts.weight, wd)
        self.w_wd = None if w_wd is None else (w_wd if rows else w_wd[:, None])
        # columns: argmax = C - max_c([x_c == max] * (C - c)), in the narrowest integer type.
        self.idt = np.dtype(np.int8 if C < 127 else np.int16 if C < 32767 else np.int32)
        self.rev = (C - np.arange(C)).astype(self.idt)[:, None]
        # rows: NumPy's buffered iterator makes a broadcast ``x - max[:, None]`` over rows
        # shorter than its buffer ~3x slower (it gathers rows into the buffer first); a buffer
        # of at most one row keeps it on the contiguous SIMD loop, row by row.
        self.bufsize = max(16, min(8192, C // 16 * 16))
        self.arange = np.arange(tile_positions)
        # float32 maxima for which sum(exp(x)) needs no shift (see ``unshifted``)
        self.no_shift = wd == np.float32
        self.max_hi = 87.0 - float(np.log(max(C, 1)))
        # --input probs: sklearn's clip to [eps, 1 - eps] of the input's dtype
        self.clip_lo, self.clip_hi = (wd.type(v) for v in probs_clip(x3.dtype))

    def shifts(self, m: np.ndarray) -> np.ndarray | None:
        """Per position, what to subtract before ``exp``: the maximum, or 0 where it is safe
        to skip the shift; ``None`` when every position of the tile skips it.

        ``log(sum(exp(x))) - x_y`` with the sum in float32 and the log and the difference in
        float64 is as accurate as the shifted form (more, in fact: ``x - max`` rounds in
        float32, ``x`` is exact) provided no term overflows and none that matters underflows:
        a maximum in ``[-50, 87 - log C]``. Then the sum stays below ``e^87`` and any term lost
        below float32's normal range is under ``1e-38 / e^-50 ~ 6e-17`` of the largest (so
        under 1e-11 even summed over 128k classes), far below float32 rounding. Positions
        outside that range (a NaN, an inf, huge logits) and float64 input (where
        ``log(1 + tiny)`` needs the shift to keep its relative precision) are shifted by their
        maximum. The choice is made per position, never per tile, so a position's result does
        not depend on its neighbours (or the chunking). Skipping the shift saves one pass over
        the tile: 7-18% measured (C = 10 to 50257).
        """
        if not self.no_shift:
            every: np.ndarray = m.copy()  # m is shifted in place afterwards
            return every
        if m.size and float(m.min()) >= -50.0 and float(m.max()) <= self.max_hi:
            return None  # NaN fails both tests
        safe = (m >= -50.0) & (m <= self.max_hi)
        shift: np.ndarray = np.where(safe, m.dtype.type(0), m)
        return shift

    def run(self, tl: Sequence[tuple[int, int, int, int]]) -> Flags:
        flags = Flags()
        # Over- and invalid operations are expected (inf - inf, exp of large values, log 0):
        # they produce the inf / NaN results torch gives, checked for explicitly below.
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            for r0, r1, d0, d1 in tl:
                self.tile(r0, r1, d0, d1, flags)
        return flags

    def layout(self, xb: np.ndarray, slot: int) -> np.ndarray:
        """A tile ``(n, C, dd)`` copied (cast to the working precision) into its layout."""
        n, C, dd = xb.shape
        if self.rows:
            X = buffer(n * dd * C, self.wd, slot).reshape(n, dd, C)
            if dd == 1:
                np.copyto(X[:, 0, :], xb[:, :, 0], casting="unsafe")
            else:
                for i in range(n):
                    transpose_into(X[i], xb[i])
            return X.reshape(n * dd, C)
        X = buffer(C * n * dd, self.wd, slot).reshape(C, n, dd)
        if dd == 1:
            transpose_into(X[:, :, 0], xb[:, :, 0])
        else:  # runs of dd contiguous positions: NumPy's copy is fast as it is
            np.copyto(X, xb.transpose(1, 0, 2), casting="unsafe")
        return X.reshape(C, n * dd)

    def pick(self, X: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
        """``X[p, idx[p]]`` (rows) or ``X[idx[p], p]`` (columns) for every position p."""
        P = idx.size
        ar = self.arange[:P]
        if self.rows:
            out[...] = X[ar, idx]
            return
        flat = buffer(P, np.intp, _S_INDEX)
        np.multiply(idx, P, out=flat)
        flat += ar
        np.take(X.reshape(-1), flat, out=out)

    def col_argmax(self, X: np.ndarray, m: np.ndarray, out: np.ndarray) -> None:
        """First index of the maximum down each column of ``X`` ``(C, P)``, into ``out``
        (NaN counts as the maximum, as in NumPy and torch)."""
        C, P = X.shape
        eq = buffer(C * P, np.bool_, _S_BOOL).reshape(C, P)
        np.equal(X, m, out=eq)
        hit = eq.view(np.int8)  # a bool is a 0/1 byte: no cast needed
        key = hit if self.idt == np.int8 else buffer(C * P, self.idt, _S_INT).reshape(C, P)
        np.multiply(hit, self.rev, out=key)
        r = np.maximum.reduce(key, axis=0)
        np.subtract(C, r, out=out, dtype=np.int64)
        nan = np.flatnonzero(r == 0)  # no class equals a NaN maximum
        if nan.size:
            out[nan] = np.argmax(X[:, nan], axis=0)

    def tile(self, r0: int, r1: int, d0: int, d1: int, flags: Flags) -> None:
        opts, out, C, wd, rows = self.opts, self.out, self.C, self.wd, self.rows
        xb = self.x3[r0:r1, :, d0:d1]
        n, _, dd = xb.shape
        P = n * dd
        p0 = r0 * self.D + d0
        sl = slice(p0, p0 + P)
        kind = opts.input_kind
        own = not (rows and dd == 1 and xb.dtype == wd and kind != "probs")
        X = self.layout(xb, _S_TILE) if own else xb[:, :, 0]

        if kind == "probs":  # rows not summing to 1: a warning (never renormalised)
            rowsum = self.class_sum(X, dtype=np.float64)
            off = ~(np.abs(rowsum - 1.0) <= 1e-4) & ~np.isnan(rowsum)
            if off.any():
                if flags.unnorm_first < 0:
                    flags.unnorm_first = r0 + int(np.flatnonzero(off)[0]) // dd
                flags.unnorm_count += int(np.count_nonzero(off))

        # Targets: class indices (ignored ones read as class 0, masked below) or probabilities.
        valid: np.ndarray | None = None  # None: every position counted
        tw = None
        ys = out.target[sl]
        if opts.soft:
            tb = self.t[r0:r1, :, d0:d1]
            ys[...] = np.argmax(tb, axis=1).reshape(-1)
            tw = self.layout(tb, _S_TARGET)  # t' = t (1 - e) + e / C, times w, in place
            if opts.label_smoothing:
                tw *= wd.type(1.0 - opts.label_smoothing)
                tw += wd.type(opts.label_smoothing / C)
            if self.w_wd is not None:
                tw *= self.w_wd
            out.counted[sl] = True
        else:
            counted = out.counted[sl]
            np.not_equal(ys, opts.ignore_index, out=counted)
            if not counted.all():
                valid = counted
                ys = np.where(valid, ys, 0)

        # The maximum and its first index; the target's value. Written straight into the
        # per-position outputs that keep them (conf and target_prob derive from them).
        light = self.light
        am = buffer(P, np.intp, _S_PRED) if light else out.pred[sl]
        m = buffer(P, wd, _S_MAX) if light else out._top[sl]  # type: ignore[index]
        if rows:
            np.argmax(X, axis=1, out=am)  # the quickest first pass over the tile
            m[...] = X[self.arange[:P], am]
        else:
            np.maximum.reduce(X, axis=0, out=m)
            if not light:
                self.col_argmax(X, m, am)
        xy = buffer(P, wd, _S_TARGET_X) if light else out._tgt[sl]  # type: ignore[index]
        self.pick(X, ys, xy)
        self.likely_mistakes(X, m, valid, r0, dd, flags)
        if kind == "probs":
            xy = self.probs_to_logprobs(X, m, xy)
            kind = "logprobs"

        loss = out.loss[sl]
        denom = out.denom[sl]
        if kind == "logits":
            # d = x - shift; the dot products that need d; then sum(exp(d)) in place. The
            # shift is each position's maximum, or 0 where that is safe (see ``shifts``).
            shift = self.shifts(m)
            if shift is None:  # no shift anywhere: one pass fewer
                d_in = X
            else:
                d_in = X if own else buffer(P * C, wd, _S_SHIFT).reshape(X.shape)
                if rows:
                    old = np.setbufsize(self.bufsize)
                    try:
                        np.subtract(X, shift[:, None], out=d_in)
                    finally:
                        np.setbufsize(old)
                else:
                    np.subtract(X, shift, out=d_in)
                m -= shift  # conf = exp(max - shift) / norm
                xy -= shift  # now x_y - shift
            smooth_dot, soft_dot, rank = self.dots(d_in, xy, tw)  # before d_in is overwritten
            d = d_in if own or shift is not None else buffer(P * C, wd, _S_SHIFT).reshape(X.shape)
            np.exp(d_in, out=d)
            norm = buffer(P, wd, _S_NORM) if light else out._norm[sl]  # type: ignore[index]
            self.class_sum(d, out=norm)
            ls = np.log(norm, dtype=np.float64)
            if not opts.soft:
                np.subtract(ls, xy, out=loss, dtype=np.float64)
        else:  # log-probabilities: nothing to normalise
            ls = None
            if not opts.soft:
                np.negative(xy, out=loss, dtype=np.float64)
            smooth_dot, soft_dot, rank = self.dots(X, xy, tw)

        # Non-finite predictions in counted positions: NaN or +inf among the position's values.
        # An all -inf position gives NaN too, as in torch, but is not an error.
        if opts.nonfinite == "error":
            bad = np.isnan(norm) if kind == "logits" else np.isnan(m) | (m == np.inf)
            cb = bad if valid is None else bad & valid
            if cb.any():
                i, j = np.divmod(np.flatnonzero(cb), dd)
                vals = xb[i, :, j]
                real = (np.isnan(vals) | (vals == np.inf)).any(axis=1)
                if real.any():
                    flags.add_bad(r0 + i[real])

        if opts.soft:
            assert tw is not None and soft_dot is not None
            if ls is None:
                np.negative(soft_dot, out=loss, dtype=np.float64)
            else:
                twsum = self.class_sum(tw, dtype=np.float64)
                np.multiply(ls, twsum, out=loss, dtype=np.float64)
                np.subtract(loss, soft_dot, out=loss, dtype=np.float64)
            denom.fill(1.0)
        else:
            wy = None if self.w is None else self.w[ys]
            if wy is not None:
                loss *= wy
            if opts.label_smoothing:
                assert smooth_dot is not None
                e = opts.label_smoothing
                if ls is None:
                    smooth = np.negative(smooth_dot, dtype=np.float64)
                else:
                    smooth = np.multiply(ls, opts.weight_total, dtype=np.float64)
                    smooth -= smooth_dot
                loss *= 1.0 - e
                loss += (e / C) * smooth
            if valid is None:
                denom[...] = 1.0 if wy is None else wy
            else:
                skip = ~valid
                loss[skip] = 0.0
                np.copyto(denom, valid if wy is None else wy)
                denom[skip] = 0.0
        if out.topk is not None:
            assert rank is not None
            np.less(rank, opts.top_k, out=out.topk[sl])

    def probs_to_logprobs(self, X: np.ndarray, m: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Probabilities -> log-probabilities, in place: ``X`` becomes ``log(clip(p, eps,
        1 - eps))`` (sklearn's ``log_loss``); the returned array is the target's term of the
        loss, clipped so. The maximum ``m`` and the target's value ``py`` -- what ``conf`` and
        ``target_prob`` derive from -- are the raw probabilities clipped to ``[tiny, 1]`` only,
        so a confidence of exactly 1 stays 1 (torchmetrics' last ECE bucket). A NaN survives
        every clip and stays visible to the non-finite check."""
        lo, hi = self.clip_lo, self.clip_hi
        ly = buffer(py.size, self.wd, _S_PROB_Y)
        np.clip(py, lo, hi, out=ly)
        np.log(ly, out=ly)
        tiny = np.finfo(self.wd).tiny
        for a in (m, py):
            np.clip(a, tiny, 1.0, out=a)
            np.log(a, out=a)
        np.clip(X, lo, hi, out=X)
        np.log(X, out=X)
        return ly

    def likely_mistakes(
        self, X: np.ndarray, m: np.ndarray, valid: np.ndarray | None, r0: int, dd: int,
        flags: Flags,
    ) -> None:
        """Record inputs that are probably of another kind than declared (``_checks``), from
        the tile's maxima ``m`` before anything is shifted: probabilities given as logits, and
        values that cannot be log-probabilities given as such."""
        kind = self.opts.input_kind
        if kind == "logits" and flags.probs_like:
            flags.probs_like = looks_like_probs(
                X, m, valid, self.cax, lambda: self.class_sum(X, dtype=np.float64)
            )
        elif kind == "logprobs":
            far = not_logprobs(m, self.C, valid)
            if far.any():
                idx = np.flatnonzero(far)
                if flags.notlp_first < 0:
                    flags.notlp_first = r0 + int(idx[0]) // dd
                flags.notlp_count += idx.size

    def class_sum(
        self, A: np.ndarray, out: np.ndarray | None = None, dtype: type | None = None
    ) -> np.ndarray:
        """Per-position sums over the class axis of a laid-out tile, in an order that does not
        depend on how many positions the tile has (so not on the chunking either).

        Rows: NumPy's pairwise sum along each row. Columns: the classes added one after the
        other, which is what ``np.add.reduce(axis=0)`` does for two or more positions; for a
        single position NumPy would sum the (C, 1) column pairwise instead, so that case is
        accumulated explicitly.
        """
        if self.rows:
            r: np.ndarray = np.add.reduce(A, axis=1, out=out, dtype=dtype)
            return r
        if A.shape[1] == 1:
            r = np.add.accumulate(A[:, 0], dtype=dtype)[-1:]
            if out is not None:
                out[...] = r
                return out
            return r
        r = np.add.reduce(A, axis=0, out=out, dtype=dtype)
        return r

    def dots(
        self, d: np.ndarray, dy: np.ndarray, tw: np.ndarray | None
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """Per-position sums over the classes of ``d`` (the shifted logits before the exp, or
        the log-probabilities): ``sum_c w_c d_c`` (label smoothing), ``sum_c tw_c d_c``
        (probability targets), and the target's rank (how many classes score above it).
        Products go through :meth:`class_sum` (not BLAS or einsum, whose summation order
        depends on the shapes) so that results do not depend on the tiling."""
        opts, w = self.opts, self.w_wd
        smooth_dot = soft_dot = rank = None
        if opts.label_smoothing and not opts.soft:
            smooth_dot = self.class_sum(d if w is None else d * w)
        if tw is not None:
            soft_dot = self.class_sum(d * tw)
        if opts.top_k:
            gt = buffer(d.size, np.bool_, _S_BOOL).reshape(d.shape)
            np.greater(d, dy[:, None] if self.rows else dy, out=gt)
            rank = np.count_nonzero(gt, axis=self.cax)
        return smooth_dot, soft_dot, rank


def _weights_in(weight: np.ndarray, wd: np.dtype) -> np.ndarray:
    """The class weights in the working precision; a weight that does not fit (1e308 with
    float32 predictions) is a usage error, not an inf that turns the loss into NaN."""
    with np.errstate(over="ignore"):  # checked just below
        out = weight.astype(wd)
    if not np.isfinite(out).all():
        raise UsageError(
            f"--weight values up to {float(np.max(weight)):g} do not fit in the predictions' "
            f"precision ({np.dtype(wd).name})",
            fix="scale the weights down (the mean does not change), or pass --float64",
        )
    return out
