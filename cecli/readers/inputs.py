"""PREDS + optional TARGETS -> one stream of aligned :class:`Batch` objects.

The PREDS source drives the chunking: each of its parts (at most ``chunk_rows`` rows) becomes
one batch, and the TARGETS source is re-buffered to deliver exactly as many rows (only the small
target arrays are ever concatenated; predictions are passed on as the views their reader made).
Row counts are compared before streaming when both are known, else when one stream ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from cecli.errors import DataError, InputError, UsageError
from cecli.readers.base import (
    Batch,
    Part,
    ReadOptions,
    Source,
    SourceInfo,
    detect_format,
    local_path,
    not_found,
)
from cecli.readers.labels import IntNameMap, integer_names
from cecli.readers.sources import npz_target, open_preds, open_targets

__all__ = ["Inputs", "open_inputs"]

_TABLES = ("csv", "tsv", "parquet", "jsonl", "arrow")


class _Rebuffer:
    """Re-cuts a stream of parts into parts of requested sizes."""

    def __init__(self, parts: Iterator[Part]) -> None:
        self.parts = parts
        self.buf: list[Part] = []
        self.have = 0

    def take(self, n: int) -> Part | None:
        """The next ``n`` rows, or None when fewer are left."""
        while self.have < n:
            part = next(self.parts, None)
            if part is None:
                return None
            self.buf.append(part)
            self.have += part.n
        pieces: list[Part] = []
        need = n
        while need:
            head = self.buf[0]
            if head.n <= need:
                pieces.append(self.buf.pop(0))
                need -= head.n
            else:
                pieces.append(head.slice(0, need))
                self.buf[0] = head.slice(need, head.n)
                need = 0
        self.have -= n
        if len(pieces) == 1:
            return pieces[0]
        keys = pieces[0].arrays.keys()
        return Part(n, {k: np.concatenate([p.arrays[k] for p in pieces]) for k in keys})

    def rest(self) -> int:
        """Count (and drain) the rows not taken yet."""
        return self.have + sum(p.n for p in self.parts)


def _binary_form(preds: Source, target: Source | None, separate: bool) -> bool:
    """A 1-D array of N predictions with a TARGETS file of N integer labels: never one sample
    (torch's unbatched ``(C,)`` input takes one label), but N rows of one score each, as
    sklearn's ``log_loss`` reads ``predict_proba[:, 1]``."""
    return (
        preds.unbatched
        and len(preds.sample_shape) == 1
        and target is not None
        and separate
        and target.unbatched
        and target.sample_shape == preds.sample_shape
        and np.dtype(target.dtype).kind in "iub"
        and hasattr(preds, "as_rows")
        and hasattr(target, "as_rows")
    )


class Inputs:
    """Opened PREDS (and TARGETS): metadata up front, aligned batches on demand."""

    def __init__(self, preds: Source, target: Source | None, *, separate: bool = True) -> None:
        if _binary_form(preds, target, separate):
            preds.as_rows()  # type: ignore[attr-defined]
            target.as_rows()  # type: ignore[union-attr]
        self._preds = preds
        self._target = target
        self.preds_info: SourceInfo = preds.info
        self.target_info: SourceInfo | None = (
            target.info if target is not None and separate else None
        )
        """The TARGETS file; None when there is none or the target is an NPZ key of PREDS."""
        self.sample_shape: tuple[int, ...] = preds.sample_shape
        self.dtype: np.dtype[Any] = preds.dtype
        self.unbatched: bool = preds.unbatched
        self.class_names: list[str] | None = preds.class_names
        labels = getattr(target, "labels", None)
        if labels is not None and labels.names is not None:
            self.class_names = list(labels.names)
        tsrc = target if target is not None else preds
        self.has_target: bool = "target" in tsrc.fields
        """Whether batches carry a target (False only with ``need_target=False``)."""
        self.target_name: str | None = tsrc.target_name
        """The target column / NPZ key, None for a separate NPY / txt TARGETS."""
        self.id_name: str | None = preds.id_name or (target.id_name if target else None)
        """The id column batches carry in ``ids`` (``--id-col`` or a column named ``id``)."""
        self._by_name = _by_name(preds, tsrc)

    @property
    def rows(self) -> int | None:
        """PREDS rows (None for CSV / stdin until streamed)."""
        return self.preds_info.rows

    @property
    def sources(self) -> list[SourceInfo]:
        """PREDS then TARGETS, as the JSON ``inputs`` list shows them."""
        return [self.preds_info] + ([self.target_info] if self.target_info else [])

    def _mismatch(self, n_preds: int, n_target: int) -> DataError:
        assert self._target is not None
        if self.target_info is None:  # two arrays of one NPZ
            what = (
                f"row-count mismatch: the predictions have {n_preds} rows, the target "
                f"array {self._target.target_name!r} has {n_target}"
            )
        else:
            what = (
                f"row-count mismatch: PREDS has {n_preds} rows, TARGETS "
                f"{self.target_info.path} has {n_target}"
            )
        return DataError(
            what, file=self.preds_info.path, fix="both need one row per sample, in the same order"
        )

    def check_rows(self) -> None:
        """DataError when both row counts are known and differ."""
        if self._target is None:
            return
        t = self._target.info.rows
        if t is not None and self.rows is not None and t != self.rows:
            raise self._mismatch(self.rows, t)

    def batches(self, chunk_rows: int) -> Iterator[Batch]:
        """Aligned batches of 1 .. ``chunk_rows`` rows each, in order (``start`` increasing)."""
        if chunk_rows < 1:
            raise UsageError("chunk_rows must be at least 1", value=chunk_rows)
        self.check_rows()
        preds = self._preds.parts(chunk_rows)
        tgt = _Rebuffer(self._target.parts(chunk_rows)) if self._target is not None else None
        start = 0
        for part in preds:
            arrays = part.arrays
            if tgt is not None:
                extra = tgt.take(part.n)
                if extra is None:
                    n_target = start + tgt.rest()
                    raise self._mismatch(start + part.n + sum(p.n for p in preds), n_target)
                arrays = {**extra.arrays, **arrays}
            yield self._batch(arrays, start)
            start += part.n
        if tgt is not None:
            left = tgt.rest()
            if left:
                raise self._mismatch(start, start + left)
            if self.target_info is not None:
                self.target_info.rows = start
        self.preds_info.rows = start

    @property
    def seekable(self) -> bool:
        """Whether any chunk can be read on its own (:meth:`read`): PREDS and TARGETS are NPY,
        stored NPZ or Parquet files (not CSV, txt or stdin)."""
        return self._preds.seekable and (self._target is None or self._target.seekable)

    def grid(self, chunk_rows: int) -> list[tuple[int, int, Any]]:
        """The chunks :meth:`batches` yields, as ``(lo, hi, unit)`` row ranges (seekable
        inputs only); chunks of one ``unit`` (a Parquet row group) are cheapest read together."""
        if chunk_rows < 1:
            raise UsageError("chunk_rows must be at least 1", value=chunk_rows)
        return self._preds.grid(chunk_rows)

    def read(self, spans: Sequence[tuple[int, int]]) -> Iterator[Batch]:
        """The batches of rows ``lo:hi`` of each span (increasing), as :meth:`batches` gives
        them for the same rows; seekable inputs only."""
        preds = self._preds.read(spans)
        tgt = self._target.read(spans) if self._target is not None else None
        for (lo, _), part in zip(spans, preds, strict=True):
            arrays = part.arrays
            if tgt is not None:
                arrays = {**next(tgt).arrays, **arrays}
            yield self._batch(arrays, lo)

    def _batch(self, arrays: dict[str, np.ndarray[Any, Any]], start: int) -> Batch:
        target = arrays.get("target")
        if target is not None and self._by_name is not None:
            by_name, first = self._by_name
            target = by_name.map(target, start + first)
        return Batch(
            preds=arrays["preds"],
            target=target,
            ids=arrays.get("ids"),
            sample_weight=arrays.get("sample_weight"),
            group=arrays.get("group"),
            start=start,
            missing=arrays.get("missing"),
            bytes=arrays.get("bytes"),
            label_names=self.label_names(),
        )

    def label_names(self) -> list[str] | None:
        """The class names the targets' labels were spelled as (text labels mapped to names,
        or integers matched to classes named by integers); None for class indices. Known once
        a batch was read."""
        if self._by_name is not None:
            return [str(n) for n in self._by_name[0].names]
        labels = getattr(self._target if self._target is not None else self._preds, "labels", None)
        if labels is None or labels.names is None or labels.as_ints:
            return None
        names: list[str] = labels.names
        return names

    def close(self) -> None:
        self._preds.close()
        if self._target is not None:
            self._target.close()

    def __enter__(self) -> Inputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _by_name(preds: Source, target: Source) -> tuple[IntNameMap, int] | None:
    """Integer labels against a header whose class columns are named by integers (``1,2,3``)
    are matched by name (with the first row's number as errors show it), unless they were
    text labels already mapped to those names, or the names are the positions themselves."""
    roles = getattr(preds, "roles", None)
    if roles is None or roles.list_col is not None or getattr(preds, "headerless", False):
        return None
    if preds.sample_shape == () or getattr(getattr(target, "labels", None), "names", None):
        return None
    ints = integer_names(preds.class_names)
    if ints is None or ints == list(range(len(ints))):
        return None
    first = 0 if target.info.format in ("npy", "npz") else 1
    note = " (rows are 0-based)" if first == 0 else " (rows are 1-based data rows)"
    return IntNameMap(ints, target.info.path, target.target_name, note), first


def _check_aux(preds: Source, target: Source | None, opts: ReadOptions, path: str) -> None:
    have = set(preds.fields) | (set(target.fields) if target is not None else set())
    for field, name, option in (
        ("ids", opts.id_col, "--id-col"),
        ("sample_weight", opts.sample_weight_col, "--sample-weight-col"),
        ("group", opts.group_col, "--group-col"),
        ("bytes", opts.bytes_col, "--bytes-col"),
    ):
        if name is not None and field not in have:
            cols: list[str] = list(
                getattr(preds, "names", None)
                or getattr(getattr(preds, "roles", None), "logits", [])
                or []
            )
            raise not_found("column", name, cols, path, option)


def open_inputs(
    preds: str, targets: str | None, opts: ReadOptions, *, need_target: bool = True
) -> Inputs:
    """Open PREDS (and TARGETS) as the options say; see :mod:`cecli.readers`.

    Raises :class:`InputError` for unreadable / malformed inputs and missing columns or keys,
    :class:`DataError` for known row counts that differ, :class:`UsageError` for a bad
    ``--format-in`` or two inputs on stdin.
    """
    preds = local_path(preds)
    targets = None if targets is None else local_path(targets)
    if preds == "-" and targets == "-":
        raise UsageError(
            "PREDS and TARGETS cannot both be stdin ('-')", fix="save one of them to a file"
        )
    pfmt = detect_format(preds, opts.format_in)
    if preds == "-":
        from cecli.readers.stdin import sniff_stdin  # stdin's module only when read

        pfmt = sniff_stdin("preds", opts, opts.format_in and pfmt)
    tfmt = None
    if targets is not None:
        tfmt = detect_format(targets, opts.targets_format, "--targets-format")
        if targets == "-":
            from cecli.readers.stdin import sniff_stdin

            tfmt = sniff_stdin("target", opts, opts.targets_format and tfmt)
    separate = targets is not None
    aux_elsewhere = tfmt in _TABLES
    psrc = open_preds(
        preds, pfmt, opts, separate=separate, need=need_target, aux_elsewhere=aux_elsewhere
    )
    tsrc: Source | None = None
    try:
        if targets is not None and tfmt is not None:
            tsrc = open_targets(targets, tfmt, opts, psrc)
        elif pfmt == "npz":
            tsrc = npz_target(psrc, preds, opts, need_target)
        elif pfmt == "npy" and need_target:
            raise InputError(
                "an NPY file holds no targets",
                file=preds,
                fix="pass a TARGETS file (cecli ce PREDS.npy TARGETS.npy)",
            )
        _check_aux(psrc, tsrc, opts, preds)
        _check_classes(psrc, opts)
        inputs = Inputs(psrc, tsrc, separate=targets is not None)
        inputs.check_rows()
    except BaseException:
        psrc.close()
        if tsrc is not None:
            tsrc.close()
        raise
    return inputs


def _check_classes(src: Source, opts: ReadOptions) -> None:
    if not opts.classes or not src.sample_shape or opts.scalar_preds:
        return
    c = src.sample_shape[0 if opts.class_axis == 1 else -1]
    if c != len(opts.classes):
        raise DataError(
            f"--classes names {len(opts.classes)} classes but PREDS has {c}",
            file=src.info.path,
            fix="give one name per class, in order",
        )
