"""Reports of ``bce``: the JSON object, TSV and value lines, the rich summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..accumulate import BCEResult
from ..api import Evaluation
from . import _parts
from ._common import short


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
    t = _parts.evaluation_table(ev)
    kind = "BCELoss" if cfg.input == "probs" else "BCEWithLogitsLoss"
    label = _parts.LOSS_LABEL.get(r.reduction, "loss")
    t.add_row(label, Text(short(r.loss, 8), style="bold cyan"), kind)
    if r.ci is not None:
        _parts.add_interval(t, r.ci)
    threshold = f"{'p' if cfg.input == 'probs' else 'logit'} > {r.threshold:g}"
    t.add_row("accuracy", short(r.accuracy), f"({threshold}) == (target > 0.5)")
    if r.ece is not None:
        t.add_row("ECE", short(r.ece), f"{r.ece_bins} bins, pooled over the labels")
    t.add_row("samples", f"{r.elements:,}", f"elements: {r.rows:,} rows x {r.labels} label(s)")
    t.add_row("positives", short(r.positives), "sum of the targets")
    if cfg.weight is not None:
        t.add_row("weight", _short(cfg.weight), "per label")
    if cfg.pos_weight is not None:
        t.add_row("pos_weight", _short(cfg.pos_weight), "per label")
    _parts.add_threshold_checks(t, checks)
    parts: list[Any] = [t]
    if r.per_label is not None:
        parts.append(per_label_table(r.per_label))
    return _parts.with_warnings(parts, ev.warnings)


def per_label_table(rows: list[dict[str, Any]], limit: int = 30) -> Any:
    """The per-label table, the largest share of the loss first."""
    from rich.table import Table

    t = Table(title="per label (by share of the total loss)", title_justify="left")
    names = ["label", "rows", "positives", "mean loss", "share", "accuracy"]
    if "ece" in rows[0]:
        names.append("ECE")
    for name in names:
        t.add_column(name, justify="left" if name == "label" else "right", no_wrap=True)
    ordered = sorted(rows, key=lambda r: -(r["share"] if r["share"] == r["share"] else -1))
    for row in ordered[:limit]:
        cells = [str(row["label"]), f"{row['count']:,}", short(row["positives"]),
                 short(row["loss"]), f"{row['share']:.1%}" if row["share"] == row["share"] else "",
                 short(row["accuracy"], 4)]
        if "ece" in row:
            cells.append(short(row["ece"], 4))
        t.add_row(*cells)
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit} more labels in -f json"
    return t


def _short(v: np.ndarray) -> str:
    vals = [short(float(x), 4) for x in v[:6]]
    return ", ".join(vals) + (" …" if v.size > 6 else "")
