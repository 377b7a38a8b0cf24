"""Readers: a file (or stdin, directory, glob, URI) -> aligned chunks of predictions and targets.

::

    with open_inputs("preds.parquet", None, ReadOptions(target_col="label")) as inputs:
        for batch in inputs.batches(65536):
            ...  # batch.preds (n, C), batch.target (n,), batch.start

Formats: NPY (memory-mapped), NPZ (stored members mapped, compressed ones streamed), CSV / TSV
(also ``.gz``, stdin; streamed by pyarrow), Parquet (a file, a directory or glob of files
sorted by path, a hive-partitioned dataset, ``s3://`` URIs; wide or list columns), JSON Lines
(also ``.gz`` and stdin, streamed in blocks) and Arrow IPC / Feather (memory-mapped), with
ragged list columns (one document a row: :mod:`cecli.readers.ragged`) and, for
TARGETS, ``.txt`` with one label per line. Every batch has between 1 and ``chunk_rows`` rows;
predictions are delivered as stored (float16 stays float16) and without a copy where the format
allows (NPY / stored NPZ views, zero-copy Parquet list columns).

pyarrow is imported lazily, on the first table read, with pandas kept out
(:mod:`cecli.readers._arrow`). Problems become :class:`~cecli.errors.InputError` (unreadable,
malformed, missing column) or :class:`~cecli.errors.DataError` (bad values, row counts), naming
the file and, where they apply, the 1-based data row, the column and the value.
"""

from __future__ import annotations

from cecli.readers.base import FORMATS, Batch, ReadOptions, SourceInfo, detect_format
from cecli.readers.classes import read_class_names
from cecli.readers.inputs import Inputs, open_inputs
from cecli.readers.inspect import inspect_file

__all__ = [
    "FORMATS",
    "Batch",
    "Inputs",
    "ReadOptions",
    "SourceInfo",
    "detect_format",
    "inspect_file",
    "open_inputs",
    "read_class_names",
]
