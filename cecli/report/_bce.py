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
    threshold = "p > 0.5" if cfg.input == "probs" else "logit > 0"
    t.add_row("accuracy", short(r.accuracy), f"({threshold}) == (target > 0.5)")
    t.add_row("samples", f"{r.elements:,}", f"elements: {r.rows:,} rows x {r.labels} label(s)")
    t.add_row("positives", short(r.positives), "sum of the targets")
    if cfg.weight is not None:
        t.add_row("weight", _short(cfg.weight), "per label")
    if cfg.pos_weight is not None:
        t.add_row("pos_weight", _short(cfg.pos_weight), "per label")
    _parts.add_threshold_checks(t, checks)
    return _parts.with_warnings([t], ev.warnings)


def _short(v: np.ndarray) -> str:
    vals = [short(float(x), 4) for x in v[:6]]
    return ", ".join(vals) + (" …" if v.size > 6 else "")
