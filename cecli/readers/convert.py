"""Arrow record batches of a table -> :class:`Part` arrays.

The wide logit columns are stacked into one fresh ``(n, C)`` array in the widest float type
(a fresh array per batch: batches may be processed by several threads at once); a list column
is viewed without a copy as ``(n, C)``. Nulls, ragged lists and unknown labels are
:class:`DataError` naming the row (1-based), the column and the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cecli.errors import DataError, InputError
from cecli.readers._arrow import arrow
from cecli.readers.base import Part
from cecli.readers.labels import SAMPLE, LabelMap
from cecli.readers.ragged import lp_column, ragged_part
from cecli.readers.roles import ROW_NOTE, Roles, column_kind

__all__ = ["BatchConverter", "first_null", "text_dtype", "widest_float"]


def first_null(arr: Any) -> int:
    """Index of the first null of an Arrow array (which has nulls)."""
    mask = arr.is_null().to_numpy(zero_copy_only=False)
    return int(np.argmax(mask))


def widest_float(types: Sequence[Any]) -> np.dtype[Any]:
    """The float dtype the logit columns are stacked in: the widest float, float64 for ints."""
    pa = arrow()
    width = 2
    for typ in types:
        if pa.types.is_dictionary(typ):
            typ = typ.value_type
        width = max(width, typ.bit_width // 8) if pa.types.is_floating(typ) else 8
    return np.dtype(f"f{width}")


def _exact32(values: np.ndarray[Any, Any]) -> bool:
    """Whether float64 ``values`` parsed from text lose nothing as float32: each is exactly a
    float32, or short enough (at most 9 significant digits) to be float32's shortest text
    (``0.6286511``), whose nearest float32 is the value it was printed from. Double-precision
    text (``0.62865112345678901``, 16-17 digits) fails, and the block stays float64."""
    if values.dtype != np.float64:
        return True
    return bool(float32_text(values).all())


def float32_text(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per value: exactly a float32, non-finite, or at most 9 significant digits (a cheap test:
    the value scaled to a 10-digit integer is one, within float64's rounding)."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ok: np.ndarray[Any, Any] = (v.astype(np.float32) == v) | ~np.isfinite(v)
        if ok.all():
            return ok
        a = np.abs(v)
        scale = 10.0 ** (9 - np.floor(np.log10(np.where(ok, 1.0, a))))
        m = a * scale
        ok |= np.abs(m - np.rint(m)) <= m * 1e-14
    return ok


def _digits(value: float) -> int:
    """Significant digits of the shortest repr of a float64 (``0.5`` -> 1)."""
    mantissa = repr(value).lstrip("-").split("e")[0].replace(".", "")
    return len(mantissa.strip("0"))


def text_dtype(values: np.ndarray[Any, Any]) -> np.dtype[Any]:
    """float32 when ``values`` (a text table's first block of logits, ``(rows, columns)``
    float64) show the text was written from float32 values, which then read back as float32
    are the very numbers of the NPY / Parquet they came from:

    * every logit is float32 text: exactly a float32 printed at double precision
      (``4.591261863708496``, ``np.savetxt`` of a float32 array), or float32's own shortest
      text (``0.6286511``: ``str`` / ``repr`` of a numpy float32, pandas ``to_csv`` of a
      float32 frame) -- checked exactly on the first values of each column;
    * and some value has 7 or more significant digits: short decimals (``0.5``, ``0.25``,
      ``1.5``) are no evidence either way and stay float64 (exact).

    Each later block is checked again (:func:`float32_text`); one
    with double-precision text stays float64."""
    if not float32_text(values).all():
        return np.dtype(np.float64)
    finite = np.isfinite(values)
    if values.shape[0] > 256:  # each column's first 256 finite values
        finite &= np.cumsum(finite, axis=0) <= 256
    evidence = False
    seen = np.sort(values[finite])  # each distinct value once (np.unique imports numpy.ma)
    for v in seen[np.flatnonzero(np.diff(seen, prepend=-np.inf))].tolist():
        digits = _digits(v)
        if digits > 9:
            evidence = True  # exactly float32 (float32_text), printed at double precision
        elif float(str(np.float32(v))) != v:
            return np.dtype(np.float64)  # short, but not float32's shortest text
        elif digits >= 7:
            evidence = True
    return np.dtype(np.float32 if evidence else np.float64)


class BatchConverter:
    """Turns the Arrow record batches of one table into :class:`Part` objects."""

    def __init__(
        self,
        roles: Roles,
        file: str,
        *,
        dtype: np.dtype[Any] | None = None,
        classes: int | None = None,
        labels: LabelMap | None = None,
        binary: bool = False,
        row_note: str = ROW_NOTE,
    ) -> None:
        self.roles = roles
        self.file = file
        self.dtype = dtype
        self.classes = classes
        self.labels = labels
        self.binary = binary
        self.note = row_note
        self._index: list[int] = []
        self._index_for: list[str] | None = None
        self._float64_for: Any = None
        """The last schema whose logit columns were all float64."""
        self.ragged: str | None = None
        """``logits`` / ``logprobs``: rows of many tokens (:mod:`cecli.readers.ragged`)."""
        self.lp = False
        """Target log-probabilities: a null value is a missing position, not an error."""
        self.classes_from: str | None = None
        """The file whose first row set ``classes`` (a dataset's first file), if another."""

    def _err(
        self,
        what: str,
        start: int,
        i: int,
        column: str | None,
        value: Any = None,
        fix: str | None = None,
    ) -> DataError:
        return DataError(
            f"{what} ({self.note})",
            file=self.file,
            row=start + i + 1,
            column=column,
            value=value,
            fix=fix,
        )

    def convert(self, batch: Any, start: int) -> Part:
        """``start``: global index of the batch's first row (for error rows)."""
        if self.ragged is not None:
            return ragged_part(self, batch, start)
        n = batch.num_rows
        part = Part(n)
        roles = self.roles
        if roles.logits and self.lp and roles.list_col is None:
            preds, missing = lp_column(self, batch.column(roles.logits[0]))
            part.arrays["preds"] = preds
            if missing is not None:
                part.arrays["missing"] = missing
        elif roles.logits:
            part.arrays["preds"] = self._preds(batch, start)
        if roles.target:
            if roles.multi_target:
                part.arrays["target"] = np.column_stack(
                    [self._numeric(batch.column(c), start, c, np.float64) for c in roles.target]
                )
            else:
                part.arrays["target"] = self.target(
                    batch.column(roles.target[0]), start, roles.target[0]
                )
        if roles.id is not None:
            part.arrays["ids"] = self._plain(batch.column(roles.id))
        if roles.weight is not None:
            part.arrays["sample_weight"] = self._numeric(
                batch.column(roles.weight), start, roles.weight, np.float64
            )
        if roles.group is not None:
            part.arrays["group"] = self._plain(batch.column(roles.group))
        if roles.bytes is not None:
            part.arrays["bytes"] = self._numeric(
                batch.column(roles.bytes), start, roles.bytes, np.float64
            )
        return part

    def _plain(self, col: Any) -> np.ndarray[Any, Any]:
        pa = arrow()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if col.null_count and pa.types.is_integer(col.type):
            # Python ints and None: to_numpy would make float64 with NaN, which rounds ids
            # above 2**53 (distinct ids, or groups, became one)
            return np.array(col.to_pylist(), dtype=object)
        return np.asarray(col.to_numpy(zero_copy_only=False))

    def _numeric(self, col: Any, start: int, name: str, dtype: Any = None) -> np.ndarray[Any, Any]:
        pa = arrow()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if col.null_count:
            raise self._err(
                "empty (null) value", start, first_null(col), name, fix="fill or drop the row"
            )
        kind = column_kind(col.type)
        if kind not in ("float", "int", "bool", "null"):
            raise InputError(
                f"column is not numeric ({col.type})",
                file=self.file,
                column=name,
                fix="choose a numeric column",
            )
        out = np.asarray(col.to_numpy(zero_copy_only=False))
        if dtype is not None and out.dtype != dtype:
            out = out.astype(dtype)
        return out

    def _preds(self, batch: Any, start: int) -> np.ndarray[Any, Any]:
        roles = self.roles
        if roles.list_col is not None:
            return self._list(batch.column(roles.list_col), start, roles.list_col)
        n = batch.num_rows
        index = self._logit_index(batch)
        stacked = self._stack(batch, index)
        if stacked is not None:
            dtype = self.dtype or np.dtype(np.float64)
            if dtype == np.float32 and not _exact32(stacked):
                dtype = np.dtype(np.float64)  # see below: keep values float32 cannot hold
            return stacked if stacked.dtype == dtype else stacked.astype(dtype)
        every = batch.columns  # by position: looking 1000 columns up by name costs ~2 ms a batch
        cols = [every[i] for i in index]
        dtype = self.dtype or widest_float([c.type for c in cols])
        if self.binary and len(cols) == 1:
            return self._numeric(cols[0], start, roles.logits[0], dtype)
        values = [self._numeric(c, start, nm) for nm, c in zip(roles.logits, cols, strict=True)]
        if dtype == np.float32 and not all(_exact32(v) for v in values):
            # The text was judged float32 output from its first block, but this block holds
            # values float32 cannot represent: keep them exact rather than round silently.
            dtype = np.dtype(np.float64)
        out = np.empty((n, len(cols)), dtype=dtype)
        for j, v in enumerate(values):
            out[:, j] = v
        return out

    def _logit_index(self, batch: Any) -> list[int]:
        names = batch.schema.names
        if self._index_for != names:
            where = {n: i for i, n in enumerate(names)}
            self._index = [where[c] for c in self.roles.logits]
            self._index_for = names
        return self._index

    def _stack(self, batch: Any, index: list[int]) -> np.ndarray[Any, Any] | None:
        """All logit columns at once, row-major, in one pyarrow call (``to_tensor``), when they
        are all float64 without nulls: the usual CSV block. For 1000 columns this replaces a
        thousand conversions per block. ``None`` leaves the column-by-column path (which also
        produces the precise errors). The types are looked at once per schema (in Python,
        1000 columns cost ~5 ms a batch)."""
        pa = arrow()
        if len(index) < 2:
            return None
        schema = batch.schema
        if self._float64_for is None or not schema.equals(self._float64_for):
            types = schema.types
            if any(types[i] != pa.float64() for i in index):
                return None
            self._float64_for = schema
        sub = batch.select(index)
        try:  # a null is a TypeError (ArrowTypeError): the column path names its row
            return np.asarray(sub.to_tensor(row_major=True))
        except (AttributeError, TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # older pyarrow without RecordBatch.to_tensor

    def _list(self, col: Any, start: int, name: str, *, preds: bool = True) -> np.ndarray[Any, Any]:
        """A list column viewed as ``(n, C)`` (no copy); ``preds=False`` for soft targets."""
        pa = arrow()
        n = len(col)
        what = "logits" if preds else "target probabilities"
        if col.null_count:
            raise self._err(
                f"null list of {what}", start, first_null(col), name, fix="fill or drop the row"
            )
        if pa.types.is_fixed_size_list(col.type):
            width = col.type.list_size
            values = col.flatten()
        else:
            offsets = np.asarray(col.offsets.to_numpy(zero_copy_only=False))
            lengths = np.diff(offsets)
            width = self.classes if self.classes is not None else (int(lengths[0]) if n else 0)
            bad = np.flatnonzero(lengths != width)
            if bad.size:
                i = int(bad[0])
                if start + i == 0 and self.classes_from not in (None, self.file):
                    raise self._err(
                        f"class-count mismatch: {int(lengths[0])} values per row, but "
                        f"{self.classes_from} has {width}",
                        start,
                        0,
                        name,
                        fix="all files need the same classes",
                    )
                raise self._err(
                    f"ragged list: {int(lengths[i])} values, expected {width} like the rows before",
                    start,
                    i,
                    name,
                    fix=(
                        "ragged rows (one document a row) are read from JSON Lines and Arrow "
                        "IPC / Feather files, not yet from this format: convert it with "
                        "pyarrow.feather.write_feather"
                        if self.lp
                        else "every row needs one value per class (a list of each token's "
                        "log-probability, one document a row, is read with --input "
                        "target-logprobs)"
                    ),
                )
            values = col.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        if self.classes is not None and width != self.classes:
            raise self._err(
                f"class-count mismatch: {width} values per row, expected {self.classes}",
                start,
                0,
                name,
                fix="all files and row groups need the same classes",
            )
        if column_kind(values.type) != "float":
            raise InputError(
                f"list column of {values.type}, not floats",
                file=self.file,
                column=name,
                fix=f"store {what} as float16/32/64",
            )
        if values.null_count:
            k = first_null(values)
            raise self._err(
                "null value inside a list",
                start,
                k // max(width, 1),
                name,
                fix="fill the missing values",
            )
        flat = np.asarray(values.to_numpy(zero_copy_only=True))
        if preds and self.dtype is not None and flat.dtype != self.dtype:
            flat = flat.astype(self.dtype)
        if preds and self.binary and width == 1:
            return flat.reshape(n)
        return flat.reshape(n, width)

    def target(self, col: Any, start: int, name: str | None) -> np.ndarray[Any, Any]:
        """Target column -> int / float array; strings mapped through :attr:`labels`."""
        pa = arrow()
        if col.null_count:
            raise self._err(
                "null target", start, first_null(col), name, fix="fill the label or drop the row"
            )
        kind = column_kind(col.type)
        if kind == "string":
            return self._labels(col, start, name)
        if kind == "bool":
            return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)
        if kind == "list":  # soft targets: one probability per class
            return self._list(col, start, name or "target", preds=False)
        if kind not in ("float", "int"):
            raise InputError(
                f"target column of type {col.type}",
                file=self.file,
                column=name,
                fix="store integer class indices, probabilities or labels",
            )
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        return np.asarray(col.to_numpy(zero_copy_only=False))

    def _labels(self, col: Any, start: int, name: str | None) -> np.ndarray[Any, Any]:
        pa = arrow()
        pc = arrow("pyarrow.compute")
        labels = self.labels or LabelMap([], self.file, name, note=self.note)
        self.labels = labels
        if pa.types.is_dictionary(col.type):
            dic = col.dictionary
            codes = np.asarray(col.indices.to_numpy(zero_copy_only=False))
            if not labels.decided:
                labels.decide(np.asarray(dic.take(codes[:SAMPLE]).to_pylist(), dtype=object))
            if labels.names is not None and not labels.as_ints:
                mapped = pc.index_in(dic, value_set=pa.array(labels.names, type=dic.type))
                table = np.asarray(mapped.fill_null(-1).to_numpy(zero_copy_only=False))
                idx: np.ndarray[Any, Any] = table[codes]
                if (idx < 0).any():
                    i = int(np.argmax(idx < 0))
                    labels.map(np.asarray([dic[int(codes[i])].as_py()], dtype=object), start + i)
                return idx.astype(np.int64)
            col = col.dictionary_decode()
        if not labels.decided:
            labels.decide(np.asarray(col.slice(0, SAMPLE).to_pylist(), dtype=object))
        if labels.names is not None and not labels.as_ints:
            mapped = pc.index_in(col, value_set=pa.array(labels.names, type=col.type))
            if mapped.null_count:
                i = first_null(mapped)
                labels.map(np.asarray([col[i].as_py()], dtype=object), start + i)
            return np.asarray(mapped.to_numpy(zero_copy_only=False), dtype=np.int64)
        out: np.ndarray[Any, Any] = labels.map(
            np.asarray(col.to_numpy(zero_copy_only=False), dtype=object), start
        )
        return out
