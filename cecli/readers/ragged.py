"""Rows that hold many positions: one document a row, one value (or list of logits) a token.

A *ragged* list column has one entry per token of its row's document, the lengths varying
from row to row: a list of lists of logits (``list<list<float>>``, each inner list one value a
class), or, with ``--input target-logprobs``, a list of the realised tokens' log-probabilities
(``list<float>``). Each row becomes as many positions as its list has entries; a target column
is then a list of the same length (token ids or labels, one a token), and the other columns
(id, group, sample weight) are repeated for every position of their row. A byte count
(``--bytes-col``) is a list (one a token) or a number (the document's bytes, given to its
first position); bits per byte divide by the column's sum, whichever tokens are ignored. A null log-probability (the first token, which no model predicts) is no
position of the loss: it is *missing*, ignored like a target equal to ``ignore_index``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cecli.errors import DataError, InputError
from cecli.readers._arrow import arrow
from cecli.readers.base import Part
from cecli.readers.roles import column_kind

__all__ = ["lp_column", "ragged_kind", "ragged_part", "token_counts"]


def _is_list(typ: Any) -> bool:
    t = arrow().types
    return bool(t.is_list(typ) or t.is_large_list(typ) or t.is_fixed_size_list(typ))


def ragged_kind(typ: Any, target_logprobs: bool) -> str | None:
    """``"logits"`` for a list of lists, ``"logprobs"`` for a list of numbers read with
    ``--input target-logprobs``, None for a plain list column (one row, one position)."""
    if not _is_list(typ):
        return None
    if _is_list(typ.value_type):
        return "logits"
    return "logprobs" if target_logprobs else None


def token_counts(col: Any) -> np.ndarray[Any, Any]:
    """The length of each row's list (0 for a null row)."""
    pa = arrow()
    if pa.types.is_fixed_size_list(col.type):
        return np.full(len(col), col.type.list_size, dtype=np.int64)
    offsets = np.asarray(col.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.diff(offsets)


def _values(col: Any) -> Any:
    """The flattened values of a list array (respecting its offset)."""
    return col.flatten()


def lp_column(conv: Any, col: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
    """A column of log-probabilities: values as floats, nulls (no prediction) as a *missing*
    mask (None when there are none)."""
    pa = arrow()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if column_kind(col.type) not in ("float", "int", "null"):
        raise InputError(
            f"log-probability column of {col.type}, not numbers",
            file=conv.file,
            column=conv.roles.logits[0],
            fix="name the column of log-probabilities with --logit-cols",
        )
    dtype = conv.dtype or np.dtype(np.float64)
    missing = None
    if col.null_count:
        missing = np.asarray(col.is_null().to_numpy(zero_copy_only=False))
        col = col.fill_null(0)
    values = np.asarray(col.to_numpy(zero_copy_only=False))
    return values.astype(dtype, copy=False), missing


def ragged_part(conv: Any, batch: Any, start: int) -> Part:
    """One batch of ragged rows (see the module docstring) as positions; ``conv`` is the
    table's :class:`~cecli.readers.convert.BatchConverter`, ``start`` the batch's first row."""
    roles = conv.roles
    name = roles.list_col
    col = batch.column(name)
    if col.null_count:
        i = int(np.argmax(np.asarray(col.is_null().to_numpy(zero_copy_only=False))))
        raise conv._err("null list of tokens", start, i, name, fix="give [] for an empty row")
    lengths = token_counts(col)
    values = _values(col)
    part = Part(int(lengths.sum()))
    if conv.ragged == "logits":
        part.arrays["preds"] = _token_logits(conv, values, lengths, start, name)
    else:
        preds, missing = lp_column(conv, values)
        part.arrays["preds"] = preds
        if missing is not None:
            part.arrays["missing"] = missing
    if roles.target:
        tname = roles.target[0]
        tcol = batch.column(tname)
        if not _is_list(tcol.type):
            raise InputError(
                "a row of many tokens needs a list of targets (one a token), not one value",
                file=conv.file,
                column=tname,
                fix="store the target tokens as a list beside the list of predictions",
            )
        _same_lengths(conv, tcol, lengths, start, tname)
        part.arrays["target"] = conv.target(_values(tcol), 0, tname)
    for field, cname in (("ids", roles.id), ("group", roles.group)):
        if cname is not None:
            part.arrays[field] = np.repeat(conv._plain(batch.column(cname)), lengths)
    if roles.weight is not None:
        w = conv._numeric(batch.column(roles.weight), start, roles.weight, np.float64)
        part.arrays["sample_weight"] = np.repeat(w, lengths)
    if roles.bytes is not None:
        part.arrays["bytes"] = _bytes(conv, batch.column(roles.bytes), lengths, start)
    return part


def _token_logits(
    conv: Any, values: Any, lengths: np.ndarray[Any, Any], start: int, name: str
) -> np.ndarray[Any, Any]:
    """The tokens' logit lists as ``(positions, C)``; an inner list of another length than the
    class count is an error naming the row and the token."""
    if values.null_count:
        k = int(np.argmax(np.asarray(values.is_null().to_numpy(zero_copy_only=False))))
        row, tok = _where(lengths, k)
        raise conv._err(
            f"token {tok}: null list of logits", start, row, name, fix="fill or drop the token"
        )
    width = conv.classes
    inner = token_counts(values)
    bad = np.flatnonzero(inner != width)
    if bad.size:
        k = int(bad[0])
        row, tok = _where(lengths, k)
        raise conv._err(
            f"token {tok} has {int(inner[k])} logits, but there are {width} classes (the first "
            "token's count)",
            start,
            row,
            name,
            fix="every token needs one logit per class",
        )
    out: np.ndarray[Any, Any] = conv._list(values, start, name)
    return out


def _where(lengths: np.ndarray[Any, Any], k: int) -> tuple[int, int]:
    """Row (0-based within the batch) and token (1-based within the row) of position ``k``."""
    ends = np.cumsum(lengths)
    row = int(np.searchsorted(ends, k, side="right"))
    first = int(ends[row - 1]) if row else 0
    return row, k - first + 1


def _same_lengths(
    conv: Any, col: Any, lengths: np.ndarray[Any, Any], start: int, cname: str
) -> None:
    if col.null_count:
        i = int(np.argmax(np.asarray(col.is_null().to_numpy(zero_copy_only=False))))
        raise conv._err("null list", start, i, cname, fix="give one value a token")
    got = token_counts(col)
    bad = np.flatnonzero(got != lengths)
    if bad.size:
        i = int(bad[0])
        raise conv._err(
            f"{int(got[i])} values, but the row has {int(lengths[i])} tokens",
            start,
            i,
            cname,
            fix="give one value per token",
        )


def _bytes(conv: Any, col: Any, lengths: np.ndarray[Any, Any], start: int) -> np.ndarray[Any, Any]:
    """Bytes per position: a list as it is, a row's number on its first position."""
    name = conv.roles.bytes
    if _is_list(col.type):
        _same_lengths(conv, col, lengths, start, name)
        return np.asarray(
            conv._numeric(_values(col), start, name, np.float64), dtype=np.float64
        )
    per_row = conv._numeric(col, start, name, np.float64)
    total = int(lengths.sum())
    out = np.zeros(total, dtype=np.float64)
    firsts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    has = lengths > 0
    out[firsts[has]] = per_row[has]
    if (~has & (per_row != 0)).any():
        i = int(np.flatnonzero(~has & (per_row != 0))[0])
        raise DataError(
            "a row without tokens has bytes: no position can carry them",
            file=conv.file,
            row=start + i + 1,
            column=name,
            fix="give 0 bytes to an empty row, or drop it",
        )
    return out
