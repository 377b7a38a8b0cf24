"""Tables (CSV, TSV, Parquet): which column plays which role.

:func:`resolve_roles` reads only names and types, so it runs before any row is read. Defaults:
the target is the first of ``target targets label labels y``; the id the first of ``id ids
sample_id example_id uid``; the logits the single list column if there is one, else every
numeric column that is not target / id / weight / group / a hive partition key / a pandas
index (``__index_level_0__``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cecli.errors import InputError
from cecli.readers._arrow import arrow
from cecli.readers.base import ID_NAMES, TARGET_NAMES, missing_target, not_found

__all__ = ["ROW_NOTE", "Roles", "check_duplicates", "column_kind", "resolve_roles", "select_logits"]

ROW_NOTE = "rows are 1-based data rows, the header not counted"
INDEX_COLUMNS = ("__index_level_0__",)


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

    def columns(self) -> list[str]:
        """Every column to read, each once, in a stable order."""
        out: list[str] = []
        for name in [*self.logits, *self.target, self.id, self.weight, self.group]:
            if name is not None and name not in out:
                out.append(name)
        return out

    def fields(self) -> frozenset[str]:
        """The :class:`Part` fields a table with these roles delivers."""
        named = {
            "preds": bool(self.logits),
            "target": bool(self.target),
            "ids": self.id is not None,
            "sample_weight": self.weight is not None,
            "group": self.group is not None,
        }
        return frozenset(f for f, present in named.items() if present)

    @property
    def target_name(self) -> str | None:
        """The target column when there is exactly one."""
        return self.target[0] if len(self.target) == 1 else None

    def role_of(self, name: str) -> str:
        if name in self.logits:
            return "logits"
        if name in self.target:
            return "target"
        return {self.id: "id", self.weight: "weight", self.group: "group"}.get(name, "other")


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
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part not in names and any(ch in part for ch in "*?["):  # a name is taken as is
            found = [n for n in names if fnmatch.fnmatchcase(n, part)]
            if not found:
                raise InputError(
                    f"--logit-cols {part!r} matches no column",
                    file=file,
                    fix=f"columns are: {', '.join(names[:20])}",
                )
        else:
            found = [_find(part, names, file, "--logit-cols", True) or part]
        out.extend(n for n in found if n not in out)
    return out


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
) -> Roles:
    """Decide the roles of a table's columns from names and kinds only.

    ``want_target``: the target should come from this table (no separate TARGETS, or this *is*
    TARGETS); ``need_target``: its absence is an error; ``aux_elsewhere``: a missing id /
    weight / group column may be found in the other input; ``exclude``: partition columns.
    """
    names = list(names)
    check_duplicates(names, file)
    roles = Roles()
    need_aux = not aux_elsewhere
    roles.id = _find(opts.id_col, names, file, "--id-col", need_aux)
    roles.weight = _find(opts.sample_weight_col, names, file, "--sample-weight-col", need_aux)
    roles.group = _find(opts.group_col, names, file, "--group-col", need_aux)
    if opts.id_col is None and not is_targets_file:
        roles.id = next((n for n in ID_NAMES if n in names), None)
    if want_target:
        if opts.target_cols:
            roles.target = [
                _find(n, names, file, "--target-cols", True) or n for n in opts.target_cols
            ]
            roles.multi_target = True
        elif opts.target_col is not None:
            roles.target = [_find(opts.target_col, names, file, "--target-col", True) or ""]
        else:
            found = next((n for n in TARGET_NAMES if n in names), None)
            if found is None and is_targets_file:
                rest = [n for n in names if n not in (roles.id, roles.weight, roles.group)]
                found = rest[0] if len(rest) == 1 else None
            if found is not None:
                roles.target = [found]
            elif need_target:
                raise missing_target("column", names, file, "--target-col")
    if is_targets_file:
        return roles
    taken = {
        roles.id,
        roles.weight,
        roles.group,
        *roles.target,
        *(opts.target_cols or ()),
        *exclude,
        *INDEX_COLUMNS,
        *TARGET_NAMES,
        *ID_NAMES,
    }
    if opts.target_col is not None:
        taken.add(opts.target_col)
    if opts.logit_cols:
        roles.logits = select_logits(opts.logit_cols, names, file)
        lists = [n for n in roles.logits if kinds.get(n) == "list"]
        if lists and len(roles.logits) > 1:
            raise InputError(
                "--logit-cols mixes a list column with others",
                file=file,
                column=lists[0],
                fix="name the list column alone",
            )
        if lists:
            roles.list_col = lists[0]
    else:
        lists = [n for n in names if kinds.get(n) == "list" and n not in taken]
        if len(lists) > 1:
            raise InputError(
                f"several list columns ({', '.join(lists)})",
                file=file,
                fix="pick one with --logit-cols NAME",
            )
        if lists:
            roles.list_col = lists[0]
            roles.logits = [lists[0]]
        else:
            roles.logits = [
                n for n in names if n not in taken and kinds.get(n) in ("float", "int", "null")
            ]
    if not roles.logits:
        raise InputError(
            "no numeric logit columns",
            file=file,
            fix=f"columns are: {', '.join(names[:20])}; pass --logit-cols",
        )
    for name in roles.logits:
        if name != roles.list_col and kinds.get(name) not in ("float", "int", "null", "bool"):
            raise InputError(
                f"logit column is not numeric ({kinds.get(name)})",
                file=file,
                column=name,
                fix="choose numeric columns with --logit-cols",
            )
    return roles
