"""``write_softmax``: the (log-)softmax of a file of logits, streamed into OUT's format.

Rows keep their input order (chunks are folded in order whatever thread finishes first), ids
(and a target column, when PREDS has one) are carried, and OUT is written to a temporary file
renamed into place only when everything succeeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import as_3d, as_float, class_axis_of, softmax_into, work_dtype
from ..errors import CecliError, DataError, UsageError
from ..readers import Batch, ReadOptions, SourceInfo, open_inputs
from ..writers import ArrayWriter, TableWriter, check_output, output_format
from ._engine import ordered_map
from .spec import OutputSpec, RunSpec

__all__ = ["SoftmaxResult", "SoftmaxSpec", "softmax_chunk", "write_softmax"]


@dataclass(frozen=True)
class SoftmaxSpec:
    """What ``cecli softmax`` computes: (log-)softmax of ``x / temperature``, in float64 or
    the working precision, written wide (a column per class) or not."""

    log: bool = False
    temperature: float = 1.0
    wide: bool = False
    float64: bool = False

    def __post_init__(self) -> None:
        t = self.temperature
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise UsageError("--temperature must be a positive number", value=t)


@dataclass
class SoftmaxResult:
    """What was written."""

    output: str
    format: str
    layout: str  # "array" (NPY), "wide" (a column per class) or "list" (a Parquet list column)
    rows: int
    classes: int
    shape: tuple[int, ...]
    dtype: str
    inputs: list[SourceInfo]
    columns: list[str] = field(default_factory=list)


def softmax_chunk(
    x: Any, axis: int, *, log: bool, temperature: float = 1.0, float64: bool = False
) -> np.ndarray:
    """(Log-)softmax of ``x / temperature`` along ``axis`` of a batched chunk ``(n, ...)``, in
    the working precision (float16 computed and returned as float32)."""
    a = as_float(x)
    ax = class_axis_of(a.ndim, axis)
    if ax == 0:
        raise UsageError("the class axis cannot be the row axis", fix="use --class-axis 1 or -1")
    if ax not in (1, a.ndim - 1):
        moved = softmax_chunk(
            np.moveaxis(a, ax, -1), -1, log=log, temperature=temperature, float64=float64
        )
        return np.moveaxis(moved, -1, ax)
    x3, _ = as_3d(a, ax)
    out = np.empty(x3.shape, dtype=work_dtype(a.dtype, float64))
    softmax_into(x3, out, log=log, temperature=temperature)
    return out.reshape(a.shape)


def _validate(cfg: SoftmaxSpec, out: OutputSpec, preds: str) -> tuple[str, str]:
    if out.path is None:
        raise UsageError("softmax needs an output file", fix="pass -o OUT")
    fmt = output_format(out.path)
    if cfg.wide and fmt == "npy":
        raise UsageError("--wide is for Parquet output (CSV / TSV are always wide)")
    check_output(out.path, [preds], out.force)
    return out.path, fmt


class _ListWriter:
    """Parquet with a list column of each row's values (plus id / target columns)."""

    def __init__(self, path: str, column: str, force: bool) -> None:
        self.table = TableWriter(path, force=force)
        self.column = column

    def write(self, cols: dict[str, np.ndarray], values: np.ndarray) -> None:
        import pyarrow as pa

        n, c = values.shape
        flat = pa.array(np.ascontiguousarray(values).reshape(-1))
        offsets = pa.array(np.arange(0, n * c + 1, c, dtype=np.int32))  # a chunk is < 2**31
        self.table.write_columns({**cols, self.column: pa.ListArray.from_arrays(offsets, flat)})

    def commit(self) -> None:
        self.table.commit()

    def abort(self) -> None:
        self.table.abort()


def write_softmax(
    preds: str,
    read: ReadOptions,
    cfg: SoftmaxSpec,
    out: OutputSpec,
    run: RunSpec = RunSpec(),  # noqa: B008 - frozen, validated once
) -> SoftmaxResult:
    """Stream PREDS through (log-)softmax into ``out.path``."""
    output, fmt = _validate(cfg, out, preds)
    column = "logprobs" if cfg.log else "probs"
    with open_inputs(preds, None, read, need_target=False) as inputs:
        path = inputs.preds_info.path
        shape = tuple(inputs.sample_shape)
        full = (1, *shape)  # a batch: unbatched (C,) input comes as one row (1, C)
        ax = class_axis_of(len(full), read.class_axis)
        classes = full[ax] if len(full) > 1 else 0
        wd = work_dtype(np.dtype(inputs.dtype), cfg.float64)
        names = [str(i) for i in range(classes)]
        if inputs.class_names and len(inputs.class_names) == classes:
            names = [str(n) for n in inputs.class_names]
        layout = "array" if fmt == "npy" else ("list" if fmt == "parquet" and not cfg.wide else "wide")
        if layout != "array" and len(shape) != 1:
            raise UsageError(
                f"each row of {path} is {shape}: only .npy output can hold that",
                fix="name the output .npy",
            )
        carried = [
            c
            for c, present in (("id", inputs.id_name is not None), ("target", inputs.has_target))
            if present and layout == "wide" and c in names
        ]
        if carried:
            raise DataError(
                f"a class is named {carried[0]!r}, like a carried column", file=path,
                fix="rename the class",
            )
        writer: ArrayWriter | TableWriter | _ListWriter
        if layout == "array":
            writer = ArrayWriter(output, shape, wd, out.force)
        elif layout == "list":
            writer = _ListWriter(output, column, out.force)
        else:
            writer = TableWriter(output, force=out.force)
        itemsize = max(2, np.dtype(inputs.dtype).itemsize)
        chunk_rows = run.rows_per_chunk(int(np.prod(shape)), itemsize)
        rows = 0
        columns: list[str] = []

        def work(batch: Batch) -> tuple[np.ndarray, Batch]:
            axis = read.class_axis
            return softmax_chunk(
                batch.preds, axis, log=cfg.log, temperature=cfg.temperature, float64=cfg.float64
            ), batch

        try:
            for probs, batch in ordered_map(work, inputs.batches(chunk_rows), run.threads()):
                rows += probs.shape[0]
                if isinstance(writer, ArrayWriter):
                    writer.write(probs)
                    continue
                cols: dict[str, np.ndarray] = {}
                if batch.ids is not None:
                    cols["id"] = np.asarray(batch.ids)
                if batch.target is not None:
                    # a label stays as the input spelled it where the classes are named
                    # columns; a list column names none, so it keeps the index
                    t = np.asarray(batch.target)
                    cols["target"] = t if isinstance(writer, _ListWriter) else batch.spelled(t)
                if isinstance(writer, _ListWriter):
                    writer.write(cols, probs)
                    columns = [*cols, column]
                else:
                    cols.update({nm: probs[:, i] for i, nm in enumerate(names)})
                    writer.write_columns(cols)
                    columns = list(cols)
            if isinstance(writer, ArrayWriter):
                writer.commit(shape if inputs.unbatched else None)
            else:
                if rows == 0:  # still write a header / schema
                    _write_empty(writer, names, column, classes, wd)
                writer.commit()
        except CecliError as exc:
            writer.abort()
            raise exc.with_file(path) from None
        except BaseException:
            writer.abort()
            raise
        infos = inputs.sources
    return SoftmaxResult(
        output=output,
        format=fmt,
        layout=layout,
        rows=1 if inputs.unbatched else rows,
        classes=classes,
        shape=shape if inputs.unbatched else (rows, *shape),
        dtype=str(wd),
        inputs=infos,
        columns=columns,
    )


def _write_empty(
    writer: TableWriter | _ListWriter, names: list[str], column: str, classes: int, wd: np.dtype
) -> None:
    if isinstance(writer, _ListWriter):
        writer.write({}, np.zeros((0, classes), dtype=wd))
    else:
        writer.write_columns({nm: np.zeros(0, dtype=wd) for nm in names})
