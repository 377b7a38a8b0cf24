"""Reports of ``compare``: two models, their difference, its interval and p-value."""

from __future__ import annotations

import math
from typing import Any

from .._version import __version__
from ..api import Comparison
from ._common import DASH, clean, exact, short
from ._parts import add_measures, ce_options, input_rows, measure_table, with_warnings
from ._text import delimited


def _side(r: Any, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": path,
        "loss": r.loss,
        "accuracy": r.accuracy,
        "perplexity": r.perplexity,
        "loss_sum": r.loss_sum,
    }
    add_measures(out, r)
    out["quantiles"] = dict(r.quantiles)
    return out


def compare_to_dict(cmp: Comparison, checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON object of ``cecli compare`` (floats at full precision, NaN/inf as null)."""
    cfg = cmp.loss
    a, b = cmp.a, cmp.b
    inputs = [cmp.a_info, cmp.b_info] + ([cmp.target_info] if cmp.target_info else [])
    out: dict[str, Any] = {
        "command": "compare",
        "a": _side(a, cmp.a_info.path),
        "b": _side(b, cmp.b_info.path),
        "delta": cmp.delta,
        "reduction": a.reduction,
        "ci": dict(cmp.ci),
        "p_value": cmp.p_value,
        "p_value_method": "two-sided paired bootstrap (percentile inversion)",
        "samples": a.samples,
        "counted": a.counted,
        "ignored": a.ignored,
        "weight_sum": a.weight_sum,
        "classes": a.classes,
        "options": ce_options(cfg, cmp.target_kind),
        "inputs": input_rows(inputs),
        "signature": cmp.signature,
        "warnings": list(cmp.warnings),
    }
    out["checks"] = list(checks or [])
    out["version"] = __version__
    cleaned: dict[str, Any] = clean(out)
    return cleaned


def compare_value_lines(cmp: Comparison) -> list[str]:
    """``-f value``: the bare delta (B - A)."""
    return [exact(cmp.delta)]


def compare_tsv_lines(cmp: Comparison, sep: str = "\t") -> list[str]:
    """``-f tsv`` (``sep``: ``,`` for ``-f csv``): a header line and a value line."""
    keys = ["loss_a", "loss_b", "delta", "ci_low", "ci_high", "p_value", "samples", "counted"]
    vals = [cmp.a.loss, cmp.b.loss, cmp.delta, cmp.ci["low"], cmp.ci["high"], cmp.p_value,
            cmp.a.samples, cmp.a.counted]
    return delimited([keys, clean(vals)], sep)


def compare_table(cmp: Comparison, checks: list[dict[str, Any]] | None = None) -> Any:
    """A rich renderable: both models side by side, the difference, its interval and p-value."""
    from rich.table import Table
    from rich.text import Text

    a, b = cmp.a, cmp.b
    t = Table(
        title=f"cecli compare · A = {cmp.a_info.path} · B = {cmp.b_info.path}",
        title_justify="left",
    )
    t.add_column("measure", style="bold")
    t.add_column("A", justify="right")
    t.add_column("B", justify="right")
    t.add_column("B - A", justify="right")

    def diff(x: float | None, y: float | None) -> str:
        if x is None or y is None:
            return ""
        return f"{y - x:+.4g}" if math.isfinite(y - x) else DASH

    label = {"mean": "loss (mean)", "sum": "loss (sum)"}.get(a.reduction, "loss")
    d_style = "bold red" if cmp.delta > 0 else "bold green" if cmp.delta < 0 else "bold"
    t.add_row(label, short(a.loss, 8), short(b.loss, 8), Text(f"{cmp.delta:+.6g}", style=d_style))
    if a.perplexity is not None and b.perplexity is not None:
        t.add_row("perplexity", short(a.perplexity), short(b.perplexity),
                  diff(a.perplexity, b.perplexity))
    t.add_row("accuracy", short(a.accuracy), short(b.accuracy), diff(a.accuracy, b.accuracy))
    if a.top_k:
        t.add_row(f"top-{a.top_k} accuracy", short(a.top_k_accuracy), short(b.top_k_accuracy),
                  diff(a.top_k_accuracy, b.top_k_accuracy))
    if a.ece is not None:
        t.add_row("ECE", short(a.ece), short(b.ece), diff(a.ece, b.ece))
    qa, qb = a.quantiles, b.quantiles
    for k in ("p50", "p90", "p99"):
        if k in qa:
            t.add_row(f"loss {k}", short(qa.get(k), 4), short(qb.get(k), 4), "")
    ci = cmp.ci
    s = measure_table()
    s.add_row(
        f"{ci['level']:.0%} interval of B - A",
        f"{short(ci['low'])} {DASH} {short(ci['high'])}",
        f"paired Poisson bootstrap, B={ci['replicates']}, seed {ci['seed']}"
        + (f", groups: {ci['group']}" if ci.get("group") else ""),
    )
    s.add_row("p-value", short(cmp.p_value, 4), "two-sided, no difference")
    s.add_row("samples", f"{a.samples:,}", f"{a.counted:,} counted, {a.ignored:,} ignored")
    for c in checks or []:
        ok = c["passed"]
        s.add_row(
            c["name"],
            Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
            f"one-sided p {c['p_worse']:.3g}, alpha {c['alpha']:g}, margin {c['margin']:g}"
            if c["name"] == "fail_if_worse"
            else f"threshold {short(c['threshold'])}",
        )
    return with_warnings([t, s], cmp.warnings)
