"""String labels -> class indices.

The class names come from ``--classes``, else from the logit column names of a wide table. When
the labels are not the column names but match them once a prefix shared by every column is
stripped (``logit_cat`` -> ``cat``), the stripped names are used. The choice is made once, from
the first labels seen (:meth:`LabelMap.decide`), and then applied to every chunk; a label
outside the chosen names is a :class:`DataError` naming its row and value. Labels that all look
like integers (``"3"``) when no class names match are parsed as integers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from cecli.errors import DataError

__all__ = ["LabelMap", "candidate_names", "strip_common_prefix"]

SAMPLE = 65536
"""How many leading labels decide which names (or integer parsing) apply."""


def strip_common_prefix(names: Sequence[str]) -> list[str] | None:
    """``names`` without the prefix all of them share, cut after a separator (``logit_``).

    None when there is no such prefix or stripping would leave an empty or duplicate name.
    """
    if len(names) < 1:
        return None
    first = names[0]
    n = len(first)
    for name in names[1:]:
        n = min(n, len(name))
        for i in range(n):
            if name[i] != first[i]:
                n = i
                break
    prefix = first[:n]
    m = re.match(r"^(.*[^0-9A-Za-z])", prefix)
    if m is None:
        return None
    cut = len(m.group(1))
    stripped = [name[cut:] for name in names]
    if any(not s for s in stripped) or len(set(stripped)) != len(stripped):
        return None
    return stripped


def prefix_cuts(names: Sequence[str]) -> list[list[str]]:
    """``names`` without each prefix all of them share that ends at a separator, the shortest
    cut first: ``logit_class_0 ..`` gives ``class_0 ..`` and then ``0 ..`` (class names may
    share a prefix of their own, which labels keep)."""
    longest = strip_common_prefix(names)
    if longest is None:
        return []
    cut_at = len(names[0]) - len(longest[0])
    out = []
    for m in re.finditer(r"[^0-9A-Za-z]", names[0][:cut_at]):
        stripped = [name[m.end() :] for name in names]
        if all(stripped) and len(set(stripped)) == len(stripped):
            out.append(stripped)
    return out


def candidate_names(
    classes: Sequence[str] | None, logit_names: Sequence[str] | None
) -> list[list[str]]:
    """The name lists string labels may refer to, in order of preference."""
    if classes:
        return [list(classes)]
    if not logit_names:
        return []
    return [list(logit_names), *prefix_cuts(logit_names)]


def _int_like(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    try:
        return np.asarray(values).astype(np.int64)
    except (ValueError, OverflowError, TypeError):
        return None


class LabelMap:
    """Maps string labels of one input (``file``, ``column``) to int64 class indices."""

    def __init__(
        self,
        candidates: list[list[str]],
        file: str,
        column: str | None = None,
        note: str = "",
    ) -> None:
        self.candidates = candidates
        self.note = f" ({note})" if note else ""
        self.file = file
        self.column = column
        self.names: list[str] | None = None
        self.as_ints = False
        self.decided = False
        self._sorted: np.ndarray[Any, Any] | None = None
        self._order: np.ndarray[Any, Any] | None = None

    def decide(self, sample: np.ndarray[Any, Any]) -> None:
        """Choose the names (or integer parsing) from the first labels of the input."""
        if self.decided or len(sample) == 0:
            return
        self.decided = True
        uniq = set(np.unique(np.asarray(sample, dtype=object)).tolist())
        best: list[str] | None = None
        best_hits = -1
        for names in self.candidates:
            hits = len(uniq & set(names))
            if hits == len(uniq):
                self._use(names)
                return
            if hits > best_hits:
                best, best_hits = names, hits
        if _int_like(np.asarray(list(uniq), dtype=str)) is not None:
            ints = len(uniq)
        else:
            ints = sum(_int_like(np.asarray([u], dtype=str)) is not None for u in uniq)
        if ints == len(uniq) or (ints and best_hits <= 0):
            self.as_ints = True  # a stray non-integer is then reported as such
            return
        if best is not None:
            self._use(best)

    def _use(self, names: list[str]) -> None:
        self.names = names
        arr = np.asarray(names, dtype=object)
        self._order = np.argsort(arr, kind="stable")
        self._sorted = arr[self._order]

    def map(self, labels: np.ndarray[Any, Any], start: int) -> np.ndarray[Any, Any]:
        """Indices of ``labels`` (rows ``start + 1 ..``, 1-based in errors)."""
        if not self.decided:
            self.decide(labels[:SAMPLE])
        labels = np.asarray(labels, dtype=object)
        if self.as_ints or self._sorted is None:
            out = _int_like(labels.astype(str))
            if out is not None:
                return out
            bad = next(i for i, v in enumerate(labels) if _int_like(np.asarray([v])) is None)
            if not self.as_ints:
                raise DataError(
                    "a string label but no class names to map it to" + self.note,
                    file=self.file,
                    row=start + bad + 1,
                    column=self.column,
                    value=labels[bad],
                    fix="pass --classes a,b,c (or a file of class names)",
                )
            raise DataError(
                "not an integer label" + self.note,
                file=self.file,
                row=start + bad + 1,
                column=self.column,
                value=labels[bad],
                fix="the other labels are integer class indices; fix this one",
            )
        assert self._order is not None
        pos = np.searchsorted(self._sorted, labels)
        pos = np.minimum(pos, len(self._sorted) - 1)
        found = self._sorted[pos] == labels
        if not np.all(found):
            bad = int(np.argmin(found))
            names = self.names or []
            known = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise DataError(
                "unknown label" + self.note,
                file=self.file,
                row=start + bad + 1,
                column=self.column,
                value=labels[bad],
                fix=f"known classes: {known}",
            )
        return np.asarray(self._order[pos], dtype=np.int64)


def integer_names(names: Sequence[str] | None) -> list[int] | None:
    """The classes' names as integers when every name is one (``1 2 3``, as ``str(int)``
    writes it), else None. Such names make an integer label ambiguous: a name or a position."""
    if not names:
        return None
    out = []
    for name in names:
        try:
            value = int(name)
        except ValueError:
            return None
        if str(value) != name:
            return None
        out.append(value)
    return out


class IntNameMap:
    """Integer labels matched by *name* to classes whose names are integers (DESIGN: labels
    that can be read both as names and as positions are names; sklearn reads them so).

    ``names`` ``[1, 2, 3]``: label 1 is class 0. A negative label that names no class passes
    through unchanged (it is ``--ignore-index``, or out of range there); any other label that
    names no class is a :class:`DataError` naming its row and value.
    """

    def __init__(self, names: Sequence[int], file: str, column: str | None, note: str) -> None:
        arr = np.asarray(names, dtype=np.int64)
        self.order = np.argsort(arr, kind="stable")
        self.sorted = arr[self.order]
        self.names = list(names)
        self.file = file
        self.column = column
        self.note = note

    def map(self, target: np.ndarray[Any, Any], first_row: int) -> np.ndarray[Any, Any]:
        """``target`` ``(n,)`` integer (or integer-valued float) labels -> class indices;
        ``first_row``: the row number (as errors show it) of ``target[0]``."""
        t = np.asarray(target)
        if t.ndim != 1 or t.dtype.kind not in "iuf" or t.size == 0:
            return t
        if t.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                whole = np.isfinite(t) & (np.floor(t) == t) & (np.abs(t) < 2.0**62)
            if not whole.all():
                return t  # not labels: the index check reports the value
        elif t.dtype.kind == "u" and int(t.max()) > np.iinfo(np.int64).max:
            return t  # too large for any class: the index check reports the value
        v = t.astype(np.int64)
        pos = np.minimum(np.searchsorted(self.sorted, v), len(self.sorted) - 1)
        found = self.sorted[pos] == v
        if not found.all():
            bad = ~found & (v >= 0)
            if bad.any():
                i = int(np.argmax(bad))
                shown = ", ".join(map(str, self.names[:8])) + (", ..." if len(self.names) > 8 else "")
                raise DataError(
                    "unknown label: the classes are named by integers and labels are matched "
                    f"to those names, not positions{self.note}",
                    file=self.file,
                    row=first_row + i,
                    column=self.column,
                    value=int(v[i]),
                    fix=f"known classes: {shown}",
                )
        return np.where(found, self.order[pos], v)
