"""Reports of ``bce``: the JSON object, TSV and value lines, the rich summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..accumulate import BCEResult
from ..api import Evaluation
from . import _parts
from ._numbers import NumberColumn, add_aligned_rows, percent, value_column


def bce_to_dict(ev: Evaluation[BCEResult], checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON object of ``cecli bce``: like ``ce``'s, where ``samples`` counts elements
    (rows x labels, the ``mean`` denominator)."""
    r = ev.result
    cfg = ev.loss
    out: dict[str, Any] = {
        **_parts.headline(ev),
        "samples": r.elements,
        "samples_unit": "elements",
        "rows": r.rows,
        "labels": r.labels,
        "accuracy": r.accuracy,
        "threshold": r.threshold,
        "positives": r.positives,
        "options": {
            "input": str(cfg.input),
            "weight": None if cfg.weight is None else cfg.weight.tolist(),
            "pos_weight": None if cfg.pos_weight is None else cfg.pos_weight.tolist(),
        },
        **_parts.run_fields(ev),
    }
    if ev.class_names is not None:
        out["label_names"] = list(ev.class_names)
    if r.ece is not None:
        out["ece"] = r.ece
        out["ece_bins"] = r.ece_bins
        out["ece_per_label"] = r.ece_per_label
    if r.ci is not None:
        out["ci"] = dict(r.ci)
    if r.per_label is not None:
        keys = ("label", "index", "count", "positives", "loss", "share", "accuracy", "ece")
        out["per_label"] = [{k: row[k] for k in keys if k in row} for row in r.per_label]
    return _parts.finish_dict(out, ev, checks, grad_output=True)


bce_value_lines = _parts.loss_value_lines  # ``-f value``


def bce_tsv_lines(ev: Evaluation[BCEResult], sep: str = "\t") -> list[str]:
    """``-f tsv`` / ``-f csv``: a header and a value line, then the breakdown (if any)."""
    return _parts.loss_tsv_lines(ev, bce_to_dict, sep)


def bce_summary_table(ev: Evaluation[BCEResult], checks: list[dict[str, Any]] | None = None) -> Any:
    """A rich renderable of the headline figures."""
    from rich.text import Text

    r = ev.result
    cfg = ev.loss
    ci = r.ci or {}
    col = value_column(r.loss, [r.accuracy, r.positives, r.ece, ci.get("low"), ci.get("high"),
                                       *(c["value"] for c in checks or [])])  # fmt: skip
    kind = "BCELoss" if cfg.input == "probs" else "BCEWithLogitsLoss"
    label, note = _parts.loss_label(r.reduction)
    threshold = f"{'p' if cfg.input == 'probs' else 'logit'} > {r.threshold:g}"
    rows: list[tuple[Any, ...]] = [(label, Text(col.real(r.loss), style="bold cyan"), note or kind)]
    if r.ci is not None:
        rows.append((*_parts.interval(col, r.ci), _parts.bootstrap_note(r.ci)))
    rows.append(("accuracy", col.real(r.accuracy), f"({threshold}) == (target > 0.5)"))
    if r.ece is not None:
        rows.append(("ECE", col.real(r.ece), f"{r.ece_bins} bins, pooled over the labels"))
    rows += [
        ("samples", col.count(r.elements), f"elements: {r.rows:,} rows x {r.labels:,} label(s)"),
        ("positives", col.number(r.positives), "sum of the targets"),
    ]
    for name, v in (("weight", cfg.weight), ("pos_weight", cfg.pos_weight)):
        if v is not None:
            rows.append((name, "", f"per label: {_listed(v)}"))
    rows += _parts.threshold_rows(checks, col)
    t = _parts.measure_table()
    add_aligned_rows(t, rows, [1])
    parts: list[Any] = [_parts.evaluation_heading(ev), t]
    if r.per_label is not None:
        parts.extend(per_label_table(r.per_label))
    return _parts.with_warnings(parts, ev.warnings)


def per_label_table(rows: list[dict[str, Any]], limit: int = 30) -> list[Any]:
    """The per-label breakdown, the largest share of the loss first: a heading and a table,
    each column in one number format."""
    from rich.markup import escape
    from rich.table import Table

    ordered = sorted(rows, key=lambda r: -(r["share"] if r["share"] == r["share"] else -1))
    shown = ordered[:limit]
    keys = ["positives", "loss", "accuracy", *(["ece"] if "ece" in rows[0] else [])]
    cols = {k: NumberColumn.fit([r[k] for r in shown], least=2 if k == "accuracy" else 0)
            for k in keys}  # fmt: skip
    t = Table()
    names = ["label", "rows", "positives", "mean loss", "share", "accuracy", "ECE"]
    width = max([5, *(len(str(r["label"])) for r in shown)])
    for name in names[: len(keys) + 3]:  # labels whole, and no bar (ce's has one): 80 columns
        t.add_column(name, no_wrap=True, min_width=min(width, 24) if name == "label" else None)
    cells = []
    for row in shown:
        share = row["share"]
        values = [cols[k].number(row[k]) if k == "positives" else cols[k].real(row[k]) for k in keys]
        cells.append((escape(str(row["label"])), f"{row['count']:,}", *values[:2], percent(share), *values[2:]))
    add_aligned_rows(t, cells, [1, 2, 3, 4, *range(5, len(keys) + 3)])
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit:,} more labels in -f json"
    return [_parts.heading("per label (by share of the total loss)"), t]


def _listed(v: np.ndarray) -> str:
    vals = [f"{float(x):g}" for x in v[:6]]
    return ", ".join(vals) + (" …" if v.size > 6 else "")
