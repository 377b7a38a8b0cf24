"""Reports of ``ce`` / ``nll``: the JSON object, TSV and value lines, the rich summary."""

from __future__ import annotations

from typing import Any

from ..accumulate import CEResult
from ..api import Evaluation
from ._common import BAR_WIDTH, DASH, share_bar, short, sparkline
from ._parts import (
    LOSS_LABEL,
    add_interval,
    add_measures,
    add_threshold_checks,
    ce_options,
    evaluation_table,
    finish_dict,
    headline,
    loss_tsv_lines,
    loss_value_lines,
    run_fields,
    with_warnings,
)


def to_dict(ev: Evaluation[CEResult], checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON object of the contract (floats at full precision, NaN/inf as null)."""
    r = ev.result
    cfg = ev.loss
    out: dict[str, Any] = {
        **headline(ev),
        "samples": r.samples,
        "counted": r.counted,
        "ignored": r.ignored,
        "weight_sum": r.weight_sum,
        "classes": r.classes,
        "accuracy": r.accuracy,
        "perplexity": r.perplexity,
        "options": ce_options(cfg, ev.target_kind),
        **run_fields(ev),
    }
    if ev.sample_weight_col:
        out["options"]["sample_weight_col"] = ev.sample_weight_col
    add_measures(out, r)
    if r.tokens:
        add_token_measures(out, r)
    if r.ci is not None:
        out["ci"] = dict(r.ci)
    if r.per_class is not None:
        out["per_class"] = [
            {k: row[k] for k in ("class", "index", "count", "weight_sum", "loss", "share", "accuracy")}
            for row in r.per_class
        ]
    out["quantiles"] = dict(r.quantiles)
    return finish_dict(out, ev, checks)


def add_token_measures(out: dict[str, Any], r: CEResult) -> None:
    """Target log-probabilities: no accuracy (no vocabulary); bits per token and per byte,
    the per-group (document) table."""
    del out["accuracy"]
    if r.bits_per_token is not None:
        out["bits_per_token"] = r.bits_per_token
    if r.bytes is not None:
        out["bytes"] = r.bytes
        out["bits_per_byte"] = r.bits_per_byte
    if r.per_group is not None:
        out["per_group"] = [dict(row) for row in r.per_group]


value_lines = loss_value_lines  # ``-f value``


def tsv_lines(ev: Evaluation[CEResult], sep: str = "\t") -> list[str]:
    """``-f tsv`` / ``-f csv``: a header and a value line, then the breakdown (if any)."""
    return loss_tsv_lines(ev, to_dict, sep)


def summary_table(ev: Evaluation[CEResult], checks: list[dict[str, Any]] | None = None) -> Any:
    """A rich renderable: the headline figures, the loss distribution and the per-class table."""
    from rich.text import Text

    r = ev.result
    t = evaluation_table(ev)
    t.add_row(LOSS_LABEL.get(r.reduction, "loss"), Text(short(r.loss, 8), style="bold cyan"), "")
    if r.ci is not None:
        add_interval(t, r.ci)
    if r.perplexity is not None:
        t.add_row("perplexity", short(r.perplexity), "exp(loss)")
    if r.tokens:
        if r.bits_per_token is not None:
            t.add_row("bits per token", short(r.bits_per_token), "loss / ln 2")
        if r.bits_per_byte is not None:
            t.add_row("bits per byte", short(r.bits_per_byte), f"sum(-lp) / ln 2 / {r.bytes:,.0f} bytes")
    else:
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
    add_threshold_checks(t, checks)
    parts: list[Any] = [t]
    if r.per_class is not None:
        parts.append(per_class_table(r.per_class))
    if r.per_group is not None:
        parts.append(per_group_table(r.per_group, ev.group_col))
    return with_warnings(parts, ev.warnings)


def per_group_table(rows: list[dict[str, Any]], name: str | None, limit: int = 30) -> Any:
    from rich.table import Table

    t = Table(title=f"per {name or 'group'}", title_justify="left")
    bpb = bool(rows) and "bits_per_byte" in rows[0]
    heads = [name or "group", "tokens", "loss", "perplexity", "bits/token"]
    for head in heads + (["bits/byte"] if bpb else []):
        t.add_column(head, justify="left" if head == heads[0] else "right", no_wrap=True)
    for row in rows[:limit]:
        cells = [str(row["group"]), f"{row['tokens']:,}"]
        cells += [short(row[k]) for k in ("loss", "perplexity", "bits_per_token")]
        t.add_row(*cells, *([short(row["bits_per_byte"])] if bpb else []))
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit} more in -f json"
    return t


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

