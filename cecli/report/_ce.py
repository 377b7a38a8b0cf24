"""Reports of ``ce`` / ``nll``: the JSON object, TSV and value lines, the rich summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._version import __version__
from ..accumulate import CEResult
from ..api import Evaluation
from ._common import BAR_WIDTH, DASH, cell, clean, exact, share_bar, short, sparkline


def to_dict(ev: Evaluation[CEResult], checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON object of the contract (floats at full precision, NaN/inf as null)."""
    r = ev.result
    cfg = ev.loss
    out: dict[str, Any] = {
        "command": ev.command,
        "loss": r.loss,
        "reduction": r.reduction,
        "samples": r.samples,
        "counted": r.counted,
        "ignored": r.ignored,
        "weight_sum": r.weight_sum,
        "classes": r.classes,
        "accuracy": r.accuracy,
        "perplexity": r.perplexity,
        "options": {
            "input": str(cfg.input),
            "targets": ev.target_kind,
            "weight": None if cfg.weight is None else cfg.weight.tolist(),
            "ignore_index": cfg.ignore_index,
            "label_smoothing": cfg.label_smoothing,
        },
        "inputs": [{"path": i.path, "format": i.format, "rows": i.rows} for i in ev.inputs],
        "signature": ev.signature,
        "warnings": list(ev.warnings),
    }
    if ev.sample_weight_col:
        out["options"]["sample_weight_col"] = ev.sample_weight_col
    if r.top_k:
        out["top_k"] = r.top_k
        out["top_k_accuracy"] = r.top_k_accuracy
        out["top_k_ties"] = r.top_k_ties
    if r.ece is not None:
        out["ece"] = r.ece
        out["ece_bins"] = r.ece_bins
    if r.ci is not None:
        out["ci"] = dict(r.ci)
    if r.per_class is not None:
        out["per_class"] = [
            {k: row[k] for k in ("class", "index", "count", "weight_sum", "loss", "share", "accuracy")}
            for row in r.per_class
        ]
    out["quantiles"] = dict(r.quantiles)
    if checks:
        out["checks"] = checks
    if ev.losses is not None:
        out["losses"] = ev.losses
    if ev.output:
        out["output"] = ev.output
    out["version"] = __version__
    cleaned: dict[str, Any] = clean(out)
    return cleaned


def value_lines(ev: Evaluation[CEResult]) -> list[str]:
    """``-f value``: the bare loss, or one loss per line for ``--reduction none``."""
    if ev.losses is not None:
        return [exact(v) for v in np.asarray(ev.losses).reshape(-1).tolist()]
    return [exact(ev.result.loss)]


def tsv_lines(ev: Evaluation[CEResult]) -> list[str]:
    """``-f tsv``: a header line and a value line (or one loss per line for ``none``)."""
    if ev.losses is not None:
        return value_lines(ev)
    d = to_dict(ev)
    keys = [k for k, v in d.items() if not isinstance(v, (dict, list))]
    return ["\t".join(keys), "\t".join(cell(d[k]) for k in keys)]


def summary_table(ev: Evaluation[CEResult], checks: list[dict[str, Any]] | None = None) -> Any:
    """A rich renderable: the headline figures, the loss distribution and the per-class table."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    r = ev.result
    names = ", ".join(i.path for i in ev.inputs)
    t = Table(title=f"cecli {ev.command} · {names}", show_header=False, title_justify="left")
    t.add_column("measure", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    label = {"mean": "loss (mean)", "sum": "loss (sum)", "none": "loss (mean of none)"}
    t.add_row(label.get(r.reduction, "loss"), Text(short(r.loss, 8), style="bold cyan"), "")
    if r.ci is not None:
        t.add_row(
            f"{r.ci['level']:.0%} interval",
            f"{short(r.ci['low'])} {DASH} {short(r.ci['high'])}",
            f"{r.ci['method']}, B={r.ci['replicates']}, seed {r.ci['seed']}"
            + (f", groups: {r.ci['group']}" if r.ci.get("group") else ""),
        )
    if r.perplexity is not None:
        t.add_row("perplexity", short(r.perplexity), "exp(loss)")
    t.add_row("accuracy", short(r.accuracy), "argmax == target")
    if r.top_k:
        t.add_row(f"top-{r.top_k} accuracy", short(r.top_k_accuracy), "")
    if r.ece is not None:
        t.add_row("ECE", short(r.ece), f"{r.ece_bins} bins")
    t.add_row("samples", f"{r.samples:,}", f"{r.counted:,} counted, {r.ignored:,} ignored")
    t.add_row("weight sum", short(r.weight_sum), "mean denominator")
    t.add_row("classes", str(r.classes), f"targets: {ev.target_kind}")
    q = r.quantiles
    if q:
        t.add_row(
            "loss p50 / p90 / p99",
            " / ".join(short(q.get(k), 4) for k in ("p50", "p90", "p99")),
            f"max {short(q.get('max'), 4)}",
        )
    spark = sparkline(r.histogram[1])
    if spark:
        t.add_row("distribution", Text(spark, style="green"), f"0 … {short(r.histogram[0][-1], 3)}")
    for c in checks or []:
        ok = c["passed"]
        t.add_row(
            c["name"],
            Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
            f"threshold {short(c['threshold'])}",
        )
    parts: list[Any] = [t]
    if r.per_class is not None:
        parts.append(per_class_table(r.per_class))
    for w in ev.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)


def per_class_table(rows: list[dict[str, Any]], limit: int = 30) -> Any:
    from rich.table import Table

    t = Table(title="per class (by share of the total loss)", title_justify="left")
    for name, justify in (
        ("class", "left"),
        ("count", "right"),
        ("weight sum", "right"),
        ("mean loss", "right"),
        ("share", "right"),
        ("", "left"),
        ("accuracy", "right"),
    ):
        t.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=True,
            min_width=BAR_WIDTH if name == "" else None,
        )
    ordered = sorted(rows, key=lambda r: -(r["share"] if r["share"] == r["share"] else -1))
    for row in ordered[:limit]:
        share = row["share"]
        bar = share_bar(share)
        t.add_row(
            str(row["class"]),
            f"{row['count']:,}",
            short(row["weight_sum"]),
            short(row["loss"]),
            f"{share:.1%}" if share == share else DASH,
            bar,
            short(row["accuracy"], 4),
        )
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit} more classes in -f json"
    return t

