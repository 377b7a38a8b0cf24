"""The half of a CSV / TSV / Parquet source both formats share: from columns to a converter.

A :class:`TableSource` subclass opens its file and learns the column names, their kinds and
the first values (:class:`~cecli.readers.roles.Evidence`); :meth:`TableSource._decide` then
decides the roles (:func:`~cecli.readers.roles.resolve_roles`, the one place that does),
takes the logit columns in ``--classes`` order when the header names the classes, and sets
up the string-label map. :meth:`TableSource._finish` builds the converter from the dtype and
class count the format found. So the two formats cannot disagree about which column is what.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cecli.errors import DataError
from cecli.readers.base import ReadOptions, Source
from cecli.readers.convert import BatchConverter
from cecli.readers.labels import LabelMap, candidate_names, strip_common_prefix
from cecli.readers.roles import ROW_NOTE, Evidence, Roles, RolesError, resolve_roles

__all__ = ["TableSource"]


class TableSource(Source):
    """Base of :class:`~cecli.readers.tabular.CsvSource` and
    :class:`~cecli.readers.parquet.ParquetSource`."""

    opts: ReadOptions
    names: list[str]
    kinds: dict[str, str]
    roles: Roles
    labels: LabelMap | None = None
    converter: BatchConverter
    headerless: bool = False
    """A CSV read with ``--no-header``: columns are positions, named ``0, 1, ...``."""

    def _decide(
        self,
        names: list[str],
        kinds: dict[str, str],
        file: str,
        *,
        want_target: bool,
        need_target: bool,
        aux_elsewhere: bool,
        exclude: list[str] | None = None,
        evidence: Evidence | None = None,
    ) -> Roles:
        """Decide the roles (and take ``--classes`` order); warnings go to :attr:`info`."""
        self.names = names
        self.kinds = kinds
        roles = resolve_roles(
            names,
            kinds,
            self.opts,
            file,
            is_targets_file=self.label == "TARGETS",
            want_target=want_target,
            need_target=need_target,
            aux_elsewhere=aux_elsewhere,
            exclude=exclude or (),
            evidence=evidence,
        )
        self.roles = roles
        self.info.warnings.extend(f"{file}: {w}" for w in roles.warnings)
        return roles

    def _class_order(self, file: str, label_sample: Any) -> None:
        """``--classes`` on a header that names the classes: the same set, taken in
        ``--classes`` order; a header of positions (``0 1 2``, ``logit_0 ...``, no header) is
        named by position. Different names are an error (a rename would be a silent guess)."""
        roles, classes = self.roles, self.opts.classes
        if not classes or roles.list_col is not None or len(classes) != len(roles.logits):
            return  # a count mismatch is reported with the class count
        names = list(roles.logits)
        if self.headerless or names == list(classes):
            return
        stripped = strip_common_prefix(names) if len(names) > 1 else None
        for spelled in (names, stripped):
            if spelled is not None and set(spelled) == set(classes):
                where = dict(zip(spelled, names, strict=True))
                roles.logits = [where[c] for c in classes]
                return
        if all(n.isdigit() for n in stripped or names) and not self._labels_name(names, label_sample):
            return  # positions, not names: --classes names them
        odd = next(c for c in classes if c not in set(stripped or names))
        raise DataError(
            f"--classes names {odd!r}, but the header names the classes otherwise "
            f"({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})",
            file=file,
            fix="give --classes the header's class names (in any order: the columns are "
            "taken in --classes order), or leave --classes out",
        )

    def _labels_name(self, names: list[str], label_sample: Any) -> bool:
        """Whether the text labels use the header's names (``class_0``): then the header names
        the classes, even when its names end in positions."""
        roles = self.roles
        if not roles.target or roles.multi_target:
            return False
        if self.kinds.get(roles.target[0]) not in ("string", "null"):
            return False
        return bool(set(names) & set(label_sample()))

    def _labels(
        self, class_names: list[str] | None, file: str, sample: Any, row_note: str = ROW_NOTE
    ) -> None:
        """The string-label map of a text target column (None for numeric targets)."""
        roles = self.roles
        self.labels = None
        if not roles.target or roles.multi_target:
            return
        if self.kinds.get(roles.target[0]) not in ("string", "null"):
            return
        logit_names = class_names
        if logit_names is None and roles.list_col is None and not self.headerless:
            logit_names = roles.logits
        labels = LabelMap(
            candidate_names(self.opts.classes, logit_names), file, roles.target[0], note=row_note
        )
        labels.decide(np.asarray(sample(), dtype=object))
        if labels.names is not None and "preds" in self.fields:
            self.class_names = labels.names
        self.labels = labels

    def _setup(
        self,
        file: str,
        *,
        classes: int | None,
        dtype: np.dtype[Any],
        class_names: list[str] | None,
        label_sample: Any,
        row_note: str = ROW_NOTE,
    ) -> None:
        """Shape, class names, fields, labels and the converter, once the roles are final.

        ``classes``: the class count of a list column (None for wide columns);
        ``class_names``: those of PREDS when this is TARGETS; ``label_sample``: a callable
        giving the first labels of a text target column."""
        roles, opts = self.roles, self.opts
        self._class_order(file, label_sample)
        self.dtype = dtype
        if roles.logits:
            c = classes if roles.list_col is not None else len(roles.logits)
            if opts.target_logprobs and roles.list_col is None and c != 1:
                raise RolesError(
                    f"{c} numeric columns, but --input target-logprobs reads one: the "
                    "log-probability of each realised token",
                    file=file,
                    fix="name it with --logit-cols (and the others with --target-col, "
                    "--bytes-col, --group-col, --id-col)",
                )
            self.sample_shape = () if opts.scalar_preds and c == 1 else (c or 0,)
            if opts.classes:
                self.class_names = list(opts.classes)
            elif roles.list_col is None:
                self.class_names = (
                    [str(i) for i in range(len(roles.logits))]
                    if self.headerless
                    else list(roles.logits)
                )
            else:
                self.class_names = None
        self.fields = roles.fields()
        self.target_name = roles.target_name
        self.id_name = roles.id
        self._labels(class_names, file, label_sample, row_note)
        self.converter = BatchConverter(
            roles,
            file,
            dtype=dtype,
            classes=classes,
            labels=self.labels,
            binary=opts.scalar_preds,
            row_note=row_note,
        )
        self.converter.lp = opts.target_logprobs
