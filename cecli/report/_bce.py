"""Reports of ``bce``: the JSON object, TSV and value lines, the rich summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..accumulate import BCEResult
from ..api import Evaluation
from . import _parts
from ._numbers import add_aligned_rows


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
    return _parts.finish_dict(out, ev, checks, grad_output=True)


bce_value_lines = _parts.loss_value_lines  # ``-f value``


def bce_tsv_lines(ev: Evaluation[BCEResult]) -> list[str]:
    """``-f tsv``: a header line and a value line (or one loss per line for ``none``)."""
    return _parts.loss_tsv_lines(ev, bce_to_dict)


def bce_summary_table(ev: Evaluation[BCEResult], checks: list[dict[str, Any]] | None = None) -> Any:
    """A rich renderable of the headline figures."""
    from rich.text import Text

    r = ev.result
    cfg = ev.loss
    col = _parts.value_column(r.loss, [r.accuracy, r.positives, *(c["value"] for c in checks or [])])
    kind = "BCELoss" if cfg.input == "probs" else "BCEWithLogitsLoss"
    label, note = _parts.loss_label(r.reduction)
    threshold = "p > 0.5" if cfg.input == "probs" else "logit > 0"
    rows: list[tuple[Any, ...]] = [
        (label, Text(col.real(r.loss), style="bold cyan"), note or kind),
        ("accuracy", col.real(r.accuracy), f"({threshold}) == (target > 0.5)"),
        ("samples", col.count(r.elements), f"elements: {r.rows:,} rows x {r.labels:,} label(s)"),
        ("positives", col.number(r.positives), "sum of the targets"),
    ]
    for name, v in (("weight", cfg.weight), ("pos_weight", cfg.pos_weight)):
        if v is not None:
            rows.append((name, "", f"per label: {_listed(v)}"))
    rows += _parts.threshold_rows(checks, col)
    t = _parts.measure_table()
    add_aligned_rows(t, rows, [1])
    return _parts.with_warnings([_parts.evaluation_heading(ev), t], ev.warnings)


def _listed(v: np.ndarray) -> str:
    vals = [f"{float(x):g}" for x in v[:6]]
    return ", ".join(vals) + (" …" if v.size > 6 else "")
