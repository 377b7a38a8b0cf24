"""Tables (CSV, TSV, Parquet): which column plays which role -- the one place that decides.

:func:`resolve_roles` reads names, types and the first values of a table (:class:`Evidence`),
so it runs before the stream starts, and CSV and Parquet sources both call it (they cannot
disagree). Defaults: the target is the first of ``target targets label labels y``; the id the
first of ``id ids sample_id example_id uid``; the logits the single list column if there is
one, else the numeric columns that are evidently classes:

* never the target, id, sample-weight or group column, nor a hive partition key;
* never an index, excluded silently when the file says so: the pandas schema metadata
  (``index_columns``, a named index too), a header that names no class (``""``, ``Unnamed:
  N``, ``index``, ``level_0``, ``__index_level_N__``) -- pandas' ``to_csv`` and R's
  ``write.csv`` write those;
* an integer column with a negative value among float logits is a class (integer-valued
  logits written without ``.0``): indices, ids, folds, groups and counts are never negative;
* never a column of row numbers (integers ``0..n-1`` or ``1..n`` in the first rows) beside
  float logits: excluded with a warning (a guess from values, so it is said); a table whose
  numeric columns are all integers (hand-made logits) has no such guess made;
* an integer column among float logits that is not row numbers (``fold``, ``grp``,
  ``epoch``), or a bool / decimal / timestamp / nested column among them, cannot be placed:
  an error naming it and ``--logit-cols`` (or ``--id-col`` / ``--group-col``);
* beside classes named as one numbered family (``logit_0 .. logit_4``), a numeric column named
  otherwise (``confidence``) is not evidently a class: the same error.

``--logit-cols`` always wins over these defaults; naming the target, id, weight or group column
in it is a usage error (exit 2).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cecli.errors import InputError, UsageError
from cecli.readers._arrow import arrow
from cecli.readers.base import ID_NAMES, TARGET_NAMES, WEIGHT_NAMES, missing_target, not_found

__all__ = [
    "ROW_NOTE",
    "Evidence",
    "Roles",
    "RolesError",
    "check_duplicates",
    "column_kind",
    "resolve_roles",
    "select_logits",
]

ROW_NOTE = "rows are 1-based data rows, the header not counted"
_INDEX_NAME = re.compile(r"^(|index|level_\d+|Unnamed: \d+(_level_\d+)?|__index_level_\d+__)$")
"""Headers that name an index, not a class: pandas' unnamed index (``""`` in ``to_csv``,
``Unnamed: 0`` once read back and written again, ``index`` / ``level_0`` from
``reset_index``, ``__index_level_0__`` in Parquet) and R's ``write.csv`` row names (``""``)."""


class RolesError(InputError):
    """A column whose role cannot be decided from the evidence; the fix names the option."""


@dataclass(frozen=True)
class Evidence:
    """What a table says about its columns beyond names and kinds.

    ``index_columns``: the columns its writer recorded as the index (pandas metadata);
    ``values``: the first values of a column (a few thousand rows are plenty), or None;
    ``types``: each column's type as text, for messages.
    """

    index_columns: frozenset[str] = frozenset()
    values: Callable[[str], np.ndarray[Any, Any] | None] | None = None
    types: dict[str, str] = field(default_factory=dict)


def _row_numbers(values: np.ndarray[Any, Any] | None) -> bool:
    """Whether integer ``values`` are ``0..n-1`` or ``1..n`` (a written-out row index)."""
    if values is None or values.size == 0 or values.dtype.kind not in "iu":
        return False
    first = int(values[0])
    if first not in (0, 1):
        return False
    return bool(np.array_equal(values, np.arange(first, first + values.size)))


def pandas_index_columns(metadata: dict[bytes, bytes] | None) -> frozenset[str]:
    """The stored index columns a pandas ``to_parquet`` recorded (a ``RangeIndex`` is not
    stored, so it names none)."""
    import json

    raw = (metadata or {}).get(b"pandas")
    if not raw:
        return frozenset()
    try:
        cols = json.loads(raw).get("index_columns", [])
    except (ValueError, AttributeError):
        return frozenset()
    return frozenset(c for c in cols if isinstance(c, str))


def column_kind(typ: Any) -> str:
    """``float int bool string list null other`` for an Arrow type."""
    pa = arrow()
    t = pa.types
    if t.is_dictionary(typ):
        return column_kind(typ.value_type)
    if t.is_floating(typ):
        return "float"
    if t.is_integer(typ):
        return "int"
    if t.is_boolean(typ):
        return "bool"
    if t.is_string(typ) or t.is_large_string(typ) or getattr(t, "is_string_view", bool)(typ):
        return "string"
    if t.is_list(typ) or t.is_large_list(typ) or t.is_fixed_size_list(typ):
        return "list"
    if t.is_null(typ):
        return "null"
    return "other"


@dataclass
class Roles:
    """What each column of one table is used for."""

    logits: list[str] = field(default_factory=list)
    list_col: str | None = None
    target: list[str] = field(default_factory=list)
    multi_target: bool = False
    id: str | None = None
    weight: str | None = None
    group: str | None = None
    bytes: str | None = None
    excluded: dict[str, str] = field(default_factory=dict)
    """Numeric columns that are not logits, and why (``index``, ``row numbers``, ...)."""
    warnings: list[str] = field(default_factory=list)
    """What was decided from values rather than names (stderr warnings, JSON ``warnings``)."""

    def columns(self) -> list[str]:
        """Every column to read, each once, in a stable order."""
        out = dict.fromkeys(self.logits)  # a dict: 100k columns, linear
        for name in [*self.target, self.id, self.weight, self.group, self.bytes]:
            if name is not None:
                out.setdefault(name)
        return list(out)

    def fields(self) -> frozenset[str]:
        """The :class:`Part` fields a table with these roles delivers."""
        named = {
            "preds": bool(self.logits),
            "target": bool(self.target),
            "ids": self.id is not None,
            "sample_weight": self.weight is not None,
            "group": self.group is not None,
            "bytes": self.bytes is not None,
        }
        return frozenset(f for f, present in named.items() if present)

    @property
    def target_name(self) -> str | None:
        """The target column when there is exactly one."""
        return self.target[0] if len(self.target) == 1 else None

    def role_of(self, name: str) -> str:
        """``logits target id weight group index other`` (``index``: an excluded index or
        row-number column)."""
        if name in self.target:
            return "target"
        role = {self.id: "id", self.weight: "weight", self.group: "group", self.bytes: "bytes"}.get(
            name
        )
        if role is not None:
            return role
        if name in self.excluded:
            return "index"
        if self.list_col == name or name in self._logit_set():
            return "logits"
        return "other"

    def _logit_set(self) -> frozenset[str]:
        if getattr(self, "_set_for", None) is not self.logits:
            self._set = frozenset(self.logits)
            self._set_for = self.logits
        return self._set


def check_duplicates(names: Sequence[str], file: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(
                "duplicate column name",
                file=file,
                column=name,
                fix="give every column a distinct name",
            )
        seen.add(name)


def _find(
    name: str | None, names: Sequence[str], file: str, option: str, required: bool
) -> str | None:
    if name is None:
        return None
    if name in names:
        return name
    if required:
        raise not_found("column", name, names, file, option)
    return None


def select_logits(spec: str, names: Sequence[str], file: str) -> list[str]:
    """``--logit-cols``: a glob (``logit_*``) or a comma list of names, in file order."""
    out: dict[str, None] = {}  # ordered and linear for 100k columns
    known = frozenset(names)
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part not in known and any(ch in part for ch in "*?["):  # a name is taken as is
            found = [n for n in names if fnmatch.fnmatchcase(n, part)]
            if not found:
                raise InputError(
                    f"--logit-cols {part!r} matches no column",
                    file=file,
                    fix=f"columns are: {', '.join(names[:20])}",
                )
        elif part in known:
            found = [part]
        else:
            found = [_find(part, names, file, "--logit-cols", True) or part]
        out.update(dict.fromkeys(found))
    return list(out)


def resolve_roles(
    names: Sequence[str],
    kinds: dict[str, str],
    opts: Any,
    file: str,
    *,
    is_targets_file: bool,
    want_target: bool,
    need_target: bool,
    aux_elsewhere: bool = False,
    exclude: Sequence[str] = (),
    evidence: Evidence | None = None,
) -> Roles:
    """Decide the roles of a table's columns from names, kinds and ``evidence``.

    ``want_target``: the target should come from this table (no separate TARGETS, or this *is*
    TARGETS); ``need_target``: its absence is an error; ``aux_elsewhere``: a missing id /
    weight / group column may be found in the other input; ``exclude``: partition columns.
    The rules are the module docstring's.
    """
    names = list(names)
    check_duplicates(names, file)
    ev = evidence or Evidence()
    roles = Roles()
    need_aux = not aux_elsewhere
    roles.id = _find(opts.id_col, names, file, "--id-col", need_aux)
    roles.weight = _find(opts.sample_weight_col, names, file, "--sample-weight-col", need_aux)
    roles.group = _find(opts.group_col, names, file, "--group-col", need_aux)
    roles.bytes = _find(getattr(opts, "bytes_col", None), names, file, "--bytes-col", need_aux)
    if opts.id_col is None and not is_targets_file:
        roles.id = next((n for n in ID_NAMES if n in names), None)
    if want_target:
        _target(roles, names, opts, file, is_targets_file, need_target)
    if is_targets_file:
        return roles
    if opts.logit_cols:
        _explicit_logits(roles, names, kinds, opts, file)
    else:
        _default_logits(roles, names, kinds, opts, file, exclude, ev)
    if not roles.logits:
        raise RolesError(
            "no numeric logit columns",
            file=file,
            fix=f"columns are: {', '.join(names[:20])}; pass --logit-cols",
        )
    for name in roles.logits:
        if name != roles.list_col and kinds.get(name) not in ("float", "int", "null", "bool"):
            raise RolesError(
                f"logit column is not numeric ({kinds.get(name)})",
                file=file,
                column=name,
                fix="choose numeric columns with --logit-cols",
            )
    return roles


def _target(
    roles: Roles, names: list[str], opts: Any, file: str, is_targets: bool, need: bool
) -> None:
    if opts.target_cols:
        roles.target = [_find(n, names, file, "--target-cols", True) or n for n in opts.target_cols]
        roles.multi_target = True
    elif opts.target_col is not None:
        roles.target = [_find(opts.target_col, names, file, "--target-col", True) or ""]
    else:
        found = next((n for n in TARGET_NAMES if n in names), None)
        if found is None and is_targets:
            rest = [n for n in names if n not in (roles.id, roles.weight, roles.group)]
            found = rest[0] if len(rest) == 1 else None
        if found is not None:
            roles.target = [found]
        elif need:
            raise missing_target("column", names, file, "--target-col")


def _explicit_logits(
    roles: Roles, names: list[str], kinds: dict[str, str], opts: Any, file: str
) -> None:
    """``--logit-cols`` wins over every default; against another explicit role it is exit 2."""
    roles.logits = select_logits(opts.logit_cols, names, file)
    chosen = frozenset(roles.logits)
    if roles.id in chosen and opts.id_col is None:
        roles.id = None  # a column named ``id`` by default, but --logit-cols says otherwise
    for name, option in (
        *((t, "the target column") for t in roles.target),
        (roles.id, "--id-col"),
        (roles.weight, "--sample-weight-col"),
        (roles.group, "--group-col"),
        (roles.bytes, "--bytes-col"),
    ):
        if name is not None and name in chosen:
            raise UsageError(
                f"--logit-cols names {name!r}, which is {option}",
                column=name,
                fix=f"leave {name!r} out of --logit-cols (a column plays one role)",
            )
    lists = [n for n in roles.logits if kinds.get(n) == "list"]
    if lists and len(roles.logits) > 1:
        raise RolesError(
            "--logit-cols mixes a list column with others",
            file=file,
            column=lists[0],
            fix="name the list column alone",
        )
    if lists:
        roles.list_col = lists[0]


def _default_logits(
    roles: Roles,
    names: list[str],
    kinds: dict[str, str],
    opts: Any,
    file: str,
    exclude: Sequence[str],
    ev: Evidence,
) -> None:
    taken = {
        roles.id,
        roles.weight,
        roles.group,
        roles.bytes,
        *roles.target,
        *(opts.target_cols or ()),
        *exclude,
        *TARGET_NAMES,
        *ID_NAMES,
    }
    if opts.target_col is not None:
        taken.add(opts.target_col)
    free = [n for n in names if n not in taken]
    # a list of strings (the tokens' text) holds no predictions
    lists = [n for n in free if kinds.get(n) == "list" and "string" not in ev.types.get(n, "")]
    if len(lists) > 1:
        raise RolesError(
            f"several list columns ({', '.join(lists)})",
            file=file,
            fix="pick one with --logit-cols NAME",
        )
    if lists:
        roles.list_col = lists[0]
        roles.logits = [lists[0]]
        return
    numeric: list[str] = []
    odd: list[str] = []
    for n in free:
        if n in ev.index_columns:
            roles.excluded[n] = "index (pandas metadata)"
        elif _INDEX_NAME.match(n):
            roles.excluded[n] = "index (by its name)"
        elif kinds.get(n) in ("float", "int", "null"):
            numeric.append(n)
        elif kinds.get(n) in ("bool", "other"):
            odd.append(n)
    # float logits: typed so (a CSV column of numbers with a typo is typed string, and is no
    # evidence that the table holds floats)
    floats = [n for n in numeric if kinds.get(n) == "float" and "string" not in ev.types.get(n, "")]
    ints = [n for n in numeric if kinds.get(n) == "int"]
    if odd and numeric:
        n = odd[0]
        raise RolesError(
            f"a {ev.types.get(n, kinds.get(n))} column among the numeric logit columns: not "
            "evidently a class",
            file=file,
            column=n,
            fix="name the classes with --logit-cols (e.g. --logit-cols 'logit_*')",
        )
    weights = [n for n in numeric if n.lower() in WEIGHT_NAMES and n not in roles.excluded]
    if weights:
        n = weights[0]
        raise RolesError(
            "a column named like per-sample weights among the logit columns: not evidently a "
            "class",
            file=file,
            column=n,
            fix=f"pass --sample-weight-col {n} to weight the loss by it, or name the classes "
            "with --logit-cols",
        )
    values = ev.values or (lambda _n: None)
    if floats:
        for n in ints:
            v = values(n)
            if v is not None and v.size and v.min() < 0:
                continue  # negative: no index, id, fold or count; integer-valued logits
            if _row_numbers(v):
                _row_index(roles, n)
                continue
            raise RolesError(
                "an integer column among float logit columns: not evidently a class",
                file=file,
                column=n,
                fix=f"name the classes with --logit-cols, or give it a role (--id-col {n}, "
                f"--group-col {n})",
            )
    # All-integer tables (hand-made logits) are left as they are: no float logits to tell a
    # column of row numbers from a class.
    roles.logits = [n for n in numeric if n not in roles.excluded]
    _one_family(roles.logits, file)


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _one_family(logits: list[str], file: str) -> None:
    """Classes named as one numbered family (``logit_0 .. logit_4``) beside numeric columns
    named otherwise (``confidence``, ``epoch``): those are not evidently classes (they would
    silently have been), an error naming the first and the ``--logit-cols`` that settles it.
    No family (``cat, dog, bird``), or two of the same size, leaves the columns as they are."""
    families: dict[str, list[str]] = {}
    for n in logits:
        m = _NUMBERED.match(n)
        if m:
            families.setdefault(m.group(1), []).append(n)
    sizes = sorted((len(v) for v in families.values()), reverse=True)
    if not sizes or sizes[0] < 2 or (len(sizes) > 1 and sizes[1] == sizes[0]):
        return
    prefix = max(families, key=lambda k: len(families[k]))
    strangers = [n for n in logits if n not in families[prefix]]
    if strangers:
        raise RolesError(
            f"a column named unlike the classes ({prefix}0, {prefix}1, ...) among the logit "
            "columns: not evidently a class",
            file=file,
            column=strangers[0],
            fix=f"name the classes with --logit-cols '{prefix}*', or give it a role "
            f"(--id-col / --group-col / --sample-weight-col {strangers[0]})",
        )


def _row_index(roles: Roles, name: str) -> None:
    roles.excluded[name] = "row numbers"
    roles.warnings.append(
        f"column {name!r} holds the row numbers (0..n-1 or 1..n): read as an index, not a "
        "class; pass --logit-cols to choose the classes yourself"
    )
