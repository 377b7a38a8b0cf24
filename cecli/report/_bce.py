"""Reports of ``bce``: the JSON object, TSV and value lines, the rich summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._version import __version__
from ..accumulate import BCEResult
from ..api import Evaluation
from ._common import cell, clean, exact, short


def bce_to_dict(ev: Evaluation[BCEResult], checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON object of ``cecli bce``: like ``ce``'s, where ``samples`` counts elements
    (rows x labels, the ``mean`` denominator)."""
    r = ev.result
    cfg = ev.loss
    out: dict[str, Any] = {
        "command": ev.command,
        "loss": r.loss,
        "reduction": r.reduction,
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
        "inputs": [{"path": i.path, "format": i.format, "rows": i.rows} for i in ev.inputs],
        "signature": ev.signature,
        "warnings": list(ev.warnings),
    }
    if ev.class_names is not None:
        out["label_names"] = list(ev.class_names)
    if checks:
        out["checks"] = checks
    if ev.losses is not None:
        out["losses"] = ev.losses
    if ev.output:
        out["output"] = ev.output
    if ev.grad_output:
        out["grad_output"] = ev.grad_output
    out["version"] = __version__
    result: dict[str, Any] = clean(out)
    return result


def bce_value_lines(ev: Evaluation[BCEResult]) -> list[str]:
    """``-f value``: the bare loss, or one loss per element (row-major) for ``none``."""
    if ev.losses is not None:
        return [exact(v) for v in np.asarray(ev.losses).reshape(-1).tolist()]
    return [exact(ev.result.loss)]


def bce_tsv_lines(ev: Evaluation[BCEResult]) -> list[str]:
    """``-f tsv``: a header line and a value line (or one loss per line for ``none``)."""
    if ev.losses is not None:
        return bce_value_lines(ev)
    d = bce_to_dict(ev)
    keys = [k for k, v in d.items() if not isinstance(v, (dict, list))]
    return ["\t".join(keys), "\t".join(cell(d[k]) for k in keys)]


def bce_summary_table(ev: Evaluation[BCEResult], checks: list[dict[str, Any]] | None = None) -> Any:
    """A rich renderable of the headline figures."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    r = ev.result
    cfg = ev.loss
    names = ", ".join(i.path for i in ev.inputs)
    t = Table(title=f"cecli {ev.command} · {names}", show_header=False, title_justify="left")
    t.add_column("measure", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    label = {"mean": "loss (mean)", "sum": "loss (sum)", "none": "loss (mean of none)"}
    kind = "BCELoss" if cfg.input == "probs" else "BCEWithLogitsLoss"
    t.add_row(label.get(r.reduction, "loss"), Text(short(r.loss, 8), style="bold cyan"), kind)
    threshold = "p > 0.5" if cfg.input == "probs" else "logit > 0"
    t.add_row("accuracy", short(r.accuracy), f"({threshold}) == (target > 0.5)")
    t.add_row("samples", f"{r.elements:,}", f"elements: {r.rows:,} rows x {r.labels} label(s)")
    t.add_row("positives", short(r.positives), "sum of the targets")
    if cfg.weight is not None:
        t.add_row("weight", _short(cfg.weight), "per label")
    if cfg.pos_weight is not None:
        t.add_row("pos_weight", _short(cfg.pos_weight), "per label")
    for c in checks or []:
        ok = c["passed"]
        t.add_row(
            c["name"],
            Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
            f"threshold {short(c['threshold'])}",
        )
    parts: list[Any] = [t]
    for w in ev.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)


def _short(v: np.ndarray) -> str:
    vals = [short(float(x), 4) for x in v[:6]]
    return ", ".join(vals) + (" …" if v.size > 6 else "")
