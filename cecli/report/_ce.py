"""Reports of ``ce`` / ``nll``: the JSON object, TSV and value lines, the rich summary."""

from __future__ import annotations

from typing import Any

from ..accumulate import HIST_RESOLUTION, CEResult
from ..api import Evaluation
from ._common import BAR_WIDTH, DASH, share_bar, sparkline
from ._numbers import NumberColumn, add_aligned_rows, percent, value_column
from ._parts import (
    QUANTILES,
    add_measures,
    bootstrap_note,
    ce_options,
    evaluation_heading,
    finish_dict,
    heading,
    headline,
    interval,
    loss_label,
    loss_tsv_lines,
    loss_value_lines,
    measure_table,
    run_fields,
    threshold_rows,
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
    q = r.quantiles
    ci = r.ci or {}
    col = value_column(
        r.loss,
        [r.perplexity, r.accuracy, r.top_k_accuracy, r.ece, r.weight_sum, ci.get("low"),
         r.bits_per_token, r.bits_per_byte,
         ci.get("high"), *(q.get(k) for k in QUANTILES), *(c["value"] for c in checks or [])],
    )  # fmt: skip
    label, note = loss_label(r.reduction)
    rows: list[tuple[Any, ...]] = [(label, Text(col.real(r.loss), style="bold cyan"), note)]
    if r.ci is not None:
        rows.append((*interval(col, r.ci), bootstrap_note(r.ci)))
    if r.perplexity is not None:
        rows.append(("perplexity", col.real(r.perplexity), "exp(loss)"))
    if r.tokens:
        if r.bits_per_token is not None:
            rows.append(("bits per token", col.real(r.bits_per_token), "loss / ln 2"))
        if r.bits_per_byte is not None:
            rows.append(("bits per byte", col.real(r.bits_per_byte), f"sum(-lp) / ln 2 / {r.bytes:,.0f} bytes"))
    else:
        rows.append(("accuracy", col.real(r.accuracy), "argmax == target"))
    if r.top_k:
        rows.append((f"top-{r.top_k} accuracy", col.real(r.top_k_accuracy), ""))
    if r.ece is not None:
        rows.append(("ECE", col.real(r.ece), f"{r.ece_bins} bins"))
    rows += [
        ("samples", col.count(r.samples), f"{r.counted:,} counted, {r.ignored:,} ignored"),
        ("weight sum", col.number(r.weight_sum), "mean denominator"),
        ("classes", col.count(r.classes), f"targets: {ev.target_kind}"),
    ]
    for k in QUANTILES if q else ():
        note = f"approximate: within {HIST_NOTE}" if k == QUANTILES[0] else ""
        rows.append((f"loss {k}", col.real(q.get(k)), note))
    if q:
        rows.append(("loss max", col.real(q.get("max")), "exact"))
    spark = sparkline(r.histogram[1])
    if spark:
        top = col.real(r.histogram[0][-1])
        rows.append(("distribution", Text(spark, style="green"), f"0 {DASH} {top}"))
    rows += threshold_rows(checks, col)
    t = measure_table()
    add_aligned_rows(t, rows, [1])
    parts: list[Any] = [evaluation_heading(ev), t]
    if r.per_class is not None:
        parts.extend(per_class_table(r.per_class))
    if r.per_group is not None:
        parts.extend(per_group_table(r.per_group, ev.group_col))
    return with_warnings(parts, ev.warnings)


def per_group_table(rows: list[dict[str, Any]], name: str | None, limit: int = 30) -> list[Any]:
    """The table per group (``--group-col`` with target log-probabilities), each column in one
    number format."""
    from rich.markup import escape
    from rich.table import Table

    shown = rows[:limit]
    keys = ["loss", "perplexity", "bits_per_token", *(["bits_per_byte"] if shown and "bits_per_byte" in shown[0] else [])]
    cols = {k: NumberColumn.fit([r[k] for r in shown]) for k in keys}
    t = Table()
    heads = [name or "group", "tokens", "loss", "perplexity", "bits/token", "bits/byte"]
    for head in heads[: len(keys) + 2]:
        t.add_column(head, no_wrap=head != heads[0])
    cells = [(escape(str(r["group"])), f"{r['tokens']:,}", *(cols[k].real(r[k]) for k in keys)) for r in shown]
    add_aligned_rows(t, cells, range(1, len(keys) + 2))
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit:,} more in -f json"
    return [heading(f"per {name or 'group'}"), t]


#: The quantiles come from a histogram of log-spaced bins: within one bin's relative width
#: of an order statistic next to the true quantile.
HIST_NOTE = f"{HIST_RESOLUTION:.2%}"


def per_class_table(rows: list[dict[str, Any]], limit: int = 30) -> list[Any]:
    """The per-class breakdown, largest share of the total loss first: a heading and a table,
    each column in one number format."""
    from rich.markup import escape
    from rich.table import Table

    ordered = sorted(rows, key=lambda r: -(r["share"] if r["share"] == r["share"] else -1))
    shown = ordered[:limit]
    weights = NumberColumn.fit([r["weight_sum"] for r in shown])
    losses = NumberColumn.fit([r["loss"] for r in shown])
    accuracy = NumberColumn.fit([r["accuracy"] for r in shown], least=2)
    t = Table()
    for name in ("class", "count", "weight sum", "mean loss", "share of loss", "accuracy"):
        t.add_column(name, no_wrap=name != "class")
    cells = []
    for row in shown:
        share = row["share"]
        cells.append((
            escape(str(row["class"])),
            f"{row['count']:,}",
            weights.number(row["weight_sum"]),
            losses.real(row["loss"]),
            f"{percent(share):>6} {share_bar(share):<{BAR_WIDTH}}",
            accuracy.real(row["accuracy"]),
        ))
    add_aligned_rows(t, cells, [1, 2, 3, 5])
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit:,} more classes in -f json"
    return [heading("per class (by share of the total loss)"), t]
