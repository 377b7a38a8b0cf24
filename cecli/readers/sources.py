"""Which :class:`Source` reads which input: format, role (PREDS / TARGETS) and stdin.

Binary formats on stdin (NPY, NPZ, Parquet) are read into memory first; CSV / TSV / txt stdin
is streamed. NPY / NPZ arrays of strings (``<U``) as targets are mapped to class indices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np

from cecli.errors import DataError, InputError
from cecli.readers.base import TARGET_NAMES, Part, ReadOptions, Source, missing_target
from cecli.readers.labels import LabelMap, candidate_names

__all__ = ["npz_target", "open_preds", "open_targets"]


def _stdin() -> IO[bytes]:
    from cecli.readers.stdin import stdin_stream

    return stdin_stream()


def _read_all_stdin(fmt: str) -> bytes | bytearray:
    from cecli.readers.stdin import read_all

    return read_all(fmt)


def open_preds(
    path: str, fmt: str, opts: ReadOptions, *, separate: bool, need: bool, aux_elsewhere: bool
) -> Source:
    if fmt == "txt":
        raise InputError(
            "a .txt file holds labels, not predictions",
            file=path,
            fix="pass predictions as NPY / NPZ / CSV / TSV / Parquet",
        )
    roles: dict[str, Any] = {
        "want_target": not separate,
        "need_target": need and not separate,
        "aux_elsewhere": aux_elsewhere,
    }
    if fmt in ("csv", "tsv"):
        from cecli.readers.small import open_small

        small = open_small(path, fmt, opts, **roles)  # pyarrow not imported: issue 15
        if small is not None:
            return small
        from cecli.readers.tabular import CsvSource

        return CsvSource(path, fmt, opts, stdin=_stdin() if path == "-" else None, **roles)
    if fmt in ("jsonl", "arrow"):
        return _stream_source(path, fmt, opts, **roles)
    if fmt == "parquet":
        from cecli.readers.parquet import ParquetSource

        return ParquetSource(
            path,
            opts,
            want_target=not separate,
            need_target=need and not separate,
            aux_elsewhere=aux_elsewhere,
            data=_read_all_stdin(fmt) if path == "-" else None,
        )
    # NPY / NPZ (their modules, and stdin's, are imported when read: a CSV run needs none)
    from cecli.readers.npy import MemorySource, NpySource, load_npy_bytes
    from cecli.readers.npz import NpzSource, choose_key, load_npz_bytes

    if path == "-":
        data = _read_all_stdin(fmt)
        if fmt == "npy":
            return MemorySource(load_npy_bytes(data, path), path, fmt, opts)
        arrays = load_npz_bytes(data, path)
        key = choose_key(list(arrays), opts.preds_key, ("logits",), path, "--preds-key", "preds")
        if key is None:
            raise InputError(
                f"several arrays and none is 'logits' (keys: {', '.join(arrays)})",
                file=path,
                fix="pass --preds-key NAME",
            )
        src = MemorySource(arrays[key], path, fmt, opts)
        src.npz_arrays = arrays
        return src
    if fmt == "npy":
        return NpySource(path, opts)
    return NpzSource(path, opts, key=opts.preds_key)


def npz_target(preds: Source, path: str, opts: ReadOptions, need: bool) -> Source | None:
    from cecli.readers.npy import MemorySource
    from cecli.readers.npz import NpzSource, choose_key, npz_keys

    arrays: dict[str, np.ndarray[Any, Any]] | None = getattr(preds, "npz_arrays", None)
    keys = list(arrays) if arrays is not None else list(npz_keys(path))
    key = choose_key(keys, opts.target_key, TARGET_NAMES, path, "--target-key", "target")
    if key is None:
        if need:
            raise missing_target("key", keys, path, "--target-key")
        return None
    src: Source
    if arrays is not None:
        src = MemorySource(
            arrays[key],
            path,
            "npz",
            opts,
            label="PREDS",
            field="target",
            unbatched=preds.unbatched,
            key=key,
        )
    else:
        src = NpzSource(
            path, opts, label="PREDS", field="target", key=key, unbatched=preds.unbatched
        )
    return _map_string_array(src, opts, preds.class_names)


def open_targets(path: str, fmt: str, opts: ReadOptions, preds: Source) -> Source:
    names = preds.class_names
    stdin = _stdin() if path == "-" else None
    if fmt == "txt":
        from cecli.readers.text import TxtSource

        return TxtSource(path, opts, class_names=names, stdin=stdin)
    if fmt in ("csv", "tsv"):
        from cecli.readers.tabular import CsvSource

        return CsvSource(
            path, fmt, opts, label="TARGETS", aux_elsewhere=True, class_names=names, stdin=stdin
        )
    if fmt in ("jsonl", "arrow"):
        return _stream_source(
            path, fmt, opts, label="TARGETS", aux_elsewhere=True, class_names=names
        )
    if fmt == "parquet":
        from cecli.readers.parquet import ParquetSource

        return ParquetSource(
            path,
            opts,
            label="TARGETS",
            aux_elsewhere=True,
            class_names=names,
            data=_read_all_stdin(fmt) if stdin is not None else None,
        )
    from cecli.readers.npy import MemorySource, NpySource, load_npy_bytes
    from cecli.readers.npz import NpzSource, choose_key, load_npz_bytes

    if stdin is not None:
        data = _read_all_stdin(fmt)
        if fmt == "npy":
            arr = load_npy_bytes(data, path)
        else:
            arrays = load_npz_bytes(data, path)
            key = choose_key(
                list(arrays), opts.target_key, TARGET_NAMES, path, "--target-key", "target"
            ) or (next(iter(arrays)) if len(arrays) == 1 else None)
            if key is None:
                raise missing_target("key", list(arrays), path, "--target-key")
            arr = arrays[key]
        return _map_string_array(
            MemorySource(
                arr, path, fmt, opts, label="TARGETS", field="target", unbatched=preds.unbatched
            ),
            opts,
            names,
        )
    if fmt == "npy":
        src: Source = NpySource(
            path, opts, label="TARGETS", field="target", unbatched=preds.unbatched
        )
    else:
        src = NpzSource(
            path,
            opts,
            label="TARGETS",
            field="target",
            key=opts.target_key,
            unbatched=preds.unbatched,
        )
    return _map_string_array(src, opts, names)


def _stream_source(path: str, fmt: str, opts: ReadOptions, **kw: Any) -> Source:
    """JSON Lines (streamed, also from stdin) or Arrow IPC (stdin read into memory)."""
    from cecli.readers.stream import IpcSource, JsonlSource

    if fmt == "jsonl":
        return JsonlSource(path, opts, stdin=_stdin() if path == "-" else None, **kw)
    return IpcSource(path, opts, data=_read_all_stdin(fmt) if path == "-" else None, **kw)


class _LabelSource(Source):
    """A source of string labels (an NPY of ``<U`` strings) mapped to indices."""

    def __init__(self, inner: Source, labels: Any) -> None:
        self.inner = inner
        self.info = inner.info
        self.label = inner.label
        self.fields = inner.fields
        self.sample_shape = inner.sample_shape
        self.target_name = inner.target_name
        self.labels = labels
        self.seekable = inner.seekable

    def parts(self, chunk_rows: int) -> Iterator[Part]:
        start = 0
        for part in self.inner.parts(chunk_rows):
            yield self._mapped(part, start)
            start += part.n

    def read(self, spans: Sequence[tuple[int, int]]) -> Iterator[Part]:
        for (lo, _), part in zip(spans, self.inner.read(spans), strict=True):
            yield self._mapped(part, lo)

    def _mapped(self, part: Part, start: int) -> Part:
        t = part.arrays["target"]
        per_row = max(1, t.size // max(1, part.n))
        try:
            idx = self.labels.map(t.reshape(-1), 0).reshape(t.shape) if t.size else t
        except DataError as exc:  # a flat position -> its row
            flat = (exc.row or 1) - 1
            raise DataError(
                exc.what,
                file=exc.file,
                row=start + flat // per_row + 1,
                value=exc.value,
                fix=exc.fix,
            ) from None
        return Part(part.n, {**part.arrays, "target": idx})

    def close(self) -> None:
        self.inner.close()


def _map_string_array(src: Source, opts: ReadOptions, names: list[str] | None) -> Source:
    if src.dtype.kind != "U":
        return src
    labels = LabelMap(candidate_names(opts.classes, names), src.info.path)
    gen = src.parts(1 << 16)
    first = next(gen, None)
    close = getattr(gen, "close", None)  # a generator: release its file now
    if close is not None:
        close()
    if first is not None:
        labels.decide(first.arrays["target"].reshape(-1))
    return _LabelSource(src, labels)
