"""Reports of ``compare``: two models, their difference, its interval and p-value."""

from __future__ import annotations

from typing import Any

from .._version import __version__
from ..api import Comparison
from ._common import clean, exact
from ._numbers import add_aligned_rows, value_column
from ._parts import (
    QUANTILES,
    add_measures,
    bootstrap_note,
    ce_options,
    heading,
    input_rows,
    interval,
    loss_label,
    measure_table,
    with_warnings,
)
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
    """A rich renderable: both models side by side, the difference, its interval and p-value;
    every number in one format (the same decimals in every column)."""
    from rich.table import Table
    from rich.text import Text

    a, b, ci = cmp.a, cmp.b, cmp.ci
    pairs: list[tuple[str, float | None, float | None]] = [("perplexity", a.perplexity, b.perplexity)]
    pairs.append(("accuracy", a.accuracy, b.accuracy))
    if a.top_k:
        pairs.append((f"top-{a.top_k} accuracy", a.top_k_accuracy, b.top_k_accuracy))
    if a.ece is not None:
        pairs.append(("ECE", a.ece, b.ece))
    pairs += [(f"loss {k}", a.quantiles.get(k), b.quantiles.get(k)) for k in QUANTILES
              if k in a.quantiles]  # fmt: skip
    deltas = [_diff(x, y) for _, x, y in pairs]
    col = value_column(
        a.loss,
        [b.loss, cmp.delta, ci["low"], ci["high"], cmp.p_value, *deltas,
         *(v for _, x, y in pairs for v in (x, y))],
    )  # fmt: skip
    d_style = "bold red" if cmp.delta > 0 else "bold green" if cmp.delta < 0 else "bold"
    rows: list[tuple[Any, ...]] = [(
        loss_label(a.reduction)[0], col.real(a.loss), col.real(b.loss),
        Text(col.real(cmp.delta, sign=True), style=d_style),
    )]  # fmt: skip
    for (name, x, y), d in zip(pairs, deltas, strict=True):
        rows.append((name, col.real(x), col.real(y), "" if d is None else col.real(d, sign=True)))
    t = Table()
    t.add_column("measure", style="bold")
    for name in ("A", "B", "B - A"):
        t.add_column(name, no_wrap=True)
    add_aligned_rows(t, rows, [1, 2, 3])
    level, span = interval(col, ci)
    srows: list[tuple[Any, ...]] = [
        (f"{level} of B - A", span, bootstrap_note(ci, paired=True)),
        ("p-value", col.real(cmp.p_value), "two-sided, of no difference"),
        ("samples", col.count(a.samples), f"{a.counted:,} counted, {a.ignored:,} ignored"),
    ]
    for c in checks or []:
        ok = c["passed"]
        srows.append((
            c["name"],
            Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
            f"one-sided p {c['p_worse']:.3g}, alpha {c['alpha']:g}, margin {c['margin']:g}",
        ))  # fmt: skip
    s = measure_table()
    add_aligned_rows(s, srows, [1])
    # A and B on lines of their own: one line of both paths would wrap at 80 columns
    head = heading(f"cecli compare\n  A = {cmp.a_info.path}\n  B = {cmp.b_info.path}")
    return with_warnings([head, t, s], cmp.warnings)


def _diff(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else y - x
