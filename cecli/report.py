"""Results -> JSON-able dicts, TSV lines and rich renderables. Returns, never prints."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._version import __version__
from .api import BCEEvaluation, Comparison, Evaluation, SoftmaxResult

SPARK = " ▁▂▃▄▅▆▇█"
DASH = "\u2013"  # an en dash: "no value", and ranges "low DASH high"


def clean(value: Any) -> Any:
    """JSON-safe: NaN / inf become ``None``; NumPy scalars and arrays become Python values."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def to_dict(ev: Evaluation, checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON object of the contract (floats at full precision, NaN/inf as null)."""
    r = ev.result
    cfg = ev.config
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
            "input": cfg.input_kind,
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


def value_lines(ev: Evaluation) -> list[str]:
    """``-f value``: the bare loss, or one loss per line for ``--reduction none``."""
    if ev.losses is not None:
        return [_num(v) for v in np.asarray(ev.losses).reshape(-1).tolist()]
    return [_num(ev.result.loss)]


def tsv_lines(ev: Evaluation) -> list[str]:
    """``-f tsv``: a header line and a value line (or one loss per line for ``none``)."""
    if ev.losses is not None:
        return value_lines(ev)
    d = to_dict(ev)
    keys = [k for k, v in d.items() if not isinstance(v, (dict, list))]
    return ["\t".join(keys), "\t".join(_cell(d[k]) for k in keys)]


def _num(v: float) -> str:
    return repr(float(v))


def _cell(v: Any) -> str:
    if v is None:
        return "nan"
    return repr(v) if isinstance(v, float) else str(v)


def _fmt(v: float | None, digits: int = 6) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    return f"{v:.{digits}g}"


def sparkline(counts: list[int]) -> str:
    if not counts or max(counts) == 0:
        return ""
    top = max(counts)
    return "".join(SPARK[0 if c == 0 else max(1, round(c / top * 8))] for c in counts)


def summary_table(ev: Evaluation, checks: list[dict[str, Any]] | None = None) -> Any:
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
    t.add_row(label.get(r.reduction, "loss"), Text(_fmt(r.loss, 8), style="bold cyan"), "")
    if r.ci is not None:
        t.add_row(
            f"{r.ci['level']:.0%} interval",
            f"{_fmt(r.ci['low'])} {DASH} {_fmt(r.ci['high'])}",
            f"{r.ci['method']}, B={r.ci['replicates']}, seed {r.ci['seed']}"
            + (f", groups: {r.ci['group']}" if r.ci.get("group") else ""),
        )
    if r.perplexity is not None:
        t.add_row("perplexity", _fmt(r.perplexity), "exp(loss)")
    t.add_row("accuracy", _fmt(r.accuracy), "argmax == target")
    if r.top_k:
        t.add_row(f"top-{r.top_k} accuracy", _fmt(r.top_k_accuracy), "")
    if r.ece is not None:
        t.add_row("ECE", _fmt(r.ece), f"{r.ece_bins} bins")
    t.add_row("samples", f"{r.samples:,}", f"{r.counted:,} counted, {r.ignored:,} ignored")
    t.add_row("weight sum", _fmt(r.weight_sum), "mean denominator")
    t.add_row("classes", str(r.classes), f"targets: {ev.target_kind}")
    q = r.quantiles
    if q:
        t.add_row(
            "loss p50 / p90 / p99",
            " / ".join(_fmt(q.get(k), 4) for k in ("p50", "p90", "p99")),
            f"max {_fmt(q.get('max'), 4)}",
        )
    spark = sparkline(r.histogram[1])
    if spark:
        t.add_row("distribution", Text(spark, style="green"), f"0 … {_fmt(r.histogram[0][-1], 3)}")
    for c in checks or []:
        ok = c["passed"]
        t.add_row(
            c["name"],
            Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
            f"threshold {_fmt(c['threshold'])}",
        )
    parts: list[Any] = [t]
    if r.per_class is not None:
        parts.append(per_class_table(r.per_class))
    for w in ev.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)


BAR_WIDTH = 10
_EIGHTHS = " ▏▎▍▌▋▊▉"


def share_bar(share: float, width: int = BAR_WIDTH) -> str:
    """A bar of ``share * width`` cells, in eighths of a cell (empty for NaN or <= 0)."""
    if math.isnan(share) or share <= 0:
        return ""
    eighths = round(min(share, 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")) or "▏"


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
            _fmt(row["weight_sum"]),
            _fmt(row["loss"]),
            f"{share:.1%}" if share == share else DASH,
            bar,
            _fmt(row["accuracy"], 4),
        )
    if len(rows) > limit:
        t.caption = f"{len(rows) - limit} more classes in -f json"
    return t


# -- bce and softmax ---------------------------------------------------------------------


def bce_to_dict(ev: BCEEvaluation, checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON object of ``cecli bce``: like ``ce``'s, where ``samples`` counts elements
    (rows x labels, the ``mean`` denominator)."""
    r = ev.result
    cfg = ev.config
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
            "input": cfg.input_kind,
            "weight": None if cfg.weight is None else cfg.weight.tolist(),
            "pos_weight": None if cfg.pos_weight is None else cfg.pos_weight.tolist(),
        },
        "inputs": [{"path": i.path, "format": i.format, "rows": i.rows} for i in ev.inputs],
        "signature": ev.signature,
        "warnings": list(ev.warnings),
    }
    if ev.label_names is not None:
        out["label_names"] = list(ev.label_names)
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


def bce_value_lines(ev: BCEEvaluation) -> list[str]:
    """``-f value``: the bare loss, or one loss per element (row-major) for ``none``."""
    if ev.losses is not None:
        return [_num(v) for v in np.asarray(ev.losses).reshape(-1).tolist()]
    return [_num(ev.result.loss)]


def bce_tsv_lines(ev: BCEEvaluation) -> list[str]:
    """``-f tsv``: a header line and a value line (or one loss per line for ``none``)."""
    if ev.losses is not None:
        return bce_value_lines(ev)
    d = bce_to_dict(ev)
    keys = [k for k, v in d.items() if not isinstance(v, (dict, list))]
    return ["\t".join(keys), "\t".join(_cell(d[k]) for k in keys)]


def bce_summary_table(ev: BCEEvaluation, checks: list[dict[str, Any]] | None = None) -> Any:
    """A rich renderable of the headline figures."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    r = ev.result
    cfg = ev.config
    names = ", ".join(i.path for i in ev.inputs)
    t = Table(title=f"cecli {ev.command} · {names}", show_header=False, title_justify="left")
    t.add_column("measure", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    label = {"mean": "loss (mean)", "sum": "loss (sum)", "none": "loss (mean of none)"}
    kind = "BCELoss" if cfg.input_kind == "probs" else "BCEWithLogitsLoss"
    t.add_row(label.get(r.reduction, "loss"), Text(_fmt(r.loss, 8), style="bold cyan"), kind)
    threshold = "p > 0.5" if cfg.input_kind == "probs" else "logit > 0"
    t.add_row("accuracy", _fmt(r.accuracy), f"({threshold}) == (target > 0.5)")
    t.add_row("samples", f"{r.elements:,}", f"elements: {r.rows:,} rows x {r.labels} label(s)")
    t.add_row("positives", _fmt(r.positives), "sum of the targets")
    if cfg.weight is not None:
        t.add_row("weight", _short(cfg.weight), "per label")
    if cfg.pos_weight is not None:
        t.add_row("pos_weight", _short(cfg.pos_weight), "per label")
    for c in checks or []:
        ok = c["passed"]
        t.add_row(
            c["name"],
            Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
            f"threshold {_fmt(c['threshold'])}",
        )
    parts: list[Any] = [t]
    for w in ev.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)


def _short(v: np.ndarray) -> str:
    vals = [_fmt(float(x), 4) for x in v[:6]]
    return ", ".join(vals) + (" …" if v.size > 6 else "")


def softmax_to_dict(res: SoftmaxResult, log: bool, temperature: float) -> dict[str, Any]:
    """What ``cecli softmax -f json`` prints about the file it wrote."""
    out: dict[str, Any] = {
        "command": "softmax",
        "output": res.output,
        "format": res.format,
        "layout": res.layout,
        "log": log,
        "temperature": temperature,
        "rows": res.rows,
        "classes": res.classes,
        "shape": list(res.shape),
        "dtype": res.dtype,
        "columns": list(res.columns),
        "inputs": [{"path": i.path, "format": i.format, "rows": i.rows} for i in res.inputs],
        "version": __version__,
    }
    result: dict[str, Any] = clean(out)
    return result


# -- checks and verdicts -------------------------------------------------------------------


def format_pair(value: float, threshold: float) -> tuple[str, str]:
    """Two numbers with as few digits as tell them apart (at least 3): ``0.532`` / ``0.500``."""

    def fmt(x: float, d: int) -> str:
        if not math.isfinite(x):
            return str(x)
        if x == 0 or 1e-3 <= abs(x) < 1e6:
            return f"{x:.{d}f}"
        return f"{x:.{d}g}"

    for d in range(3, 18):
        a, b = fmt(value, d), fmt(threshold, d)
        if a != b or value == threshold or not (math.isfinite(value) and math.isfinite(threshold)):
            return a, b
    return repr(value), repr(threshold)


def check_verdict(command: str, check: dict[str, Any]) -> str:
    """The one-line verdict of a check, for stderr.

    ``FAIL ce loss 0.532 > 0.500``; ``ok ce loss 0.498 <= 0.510 (baseline 0.500 + 0.010)``;
    ``FAIL compare delta 0.031 > 0.000: B is worse than A (one-sided p 0.001 < alpha 0.05)``.
    """
    value, threshold = float(check["value"]), float(check["threshold"])
    v, t = format_pair(value, threshold)
    ok = bool(check["passed"])
    word = "ok" if ok else "FAIL"
    if check["name"] == "fail_if_worse":
        p, alpha = check["p_worse"], check["alpha"]
        if ok:
            return (
                f"ok {command} delta {v}: B is not significantly worse than A "
                f"(margin {t}, one-sided p {p:.3g} >= alpha {alpha:g})"
            )
        return (
            f"FAIL {command} delta {v} > {t}: B is worse than A "
            f"(one-sided p {p:.3g} < alpha {alpha:g})"
        )
    what = f"{command} loss"
    if math.isnan(value):
        line = f"{word} {what} nan (not a number) vs {t}"
    else:
        line = f"{word} {what} {v} {'<=' if ok else '>'} {t}"
    if check["name"] == "baseline":
        b, d = check["baseline"], check["max_increase"]
        inc = f"{d * 100:g}%" if check.get("relative") else format_pair(d, d)[0]
        line += f" (baseline {format_pair(b, threshold)[0]} + {inc})"
    return line


def checks_failed(checks: list[dict[str, Any]]) -> bool:
    return any(not c["passed"] for c in checks)


# -- compare -------------------------------------------------------------------------------


def _side(r: Any, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": path,
        "loss": r.loss,
        "accuracy": r.accuracy,
        "perplexity": r.perplexity,
        "loss_sum": r.loss_sum,
    }
    if r.top_k:
        out["top_k"] = r.top_k
        out["top_k_accuracy"] = r.top_k_accuracy
    if r.ece is not None:
        out["ece"] = r.ece
        out["ece_bins"] = r.ece_bins
    out["quantiles"] = dict(r.quantiles)
    return out


def compare_to_dict(cmp: Comparison, checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON object of ``cecli compare`` (floats at full precision, NaN/inf as null)."""
    cfg = cmp.config
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
        "options": {
            "input": cfg.input_kind,
            "targets": cmp.target_kind,
            "weight": None if cfg.weight is None else cfg.weight.tolist(),
            "ignore_index": cfg.ignore_index,
            "label_smoothing": cfg.label_smoothing,
        },
        "inputs": [{"path": i.path, "format": i.format, "rows": i.rows} for i in inputs],
        "signature": cmp.signature,
        "warnings": list(cmp.warnings),
    }
    out["checks"] = list(checks or [])
    out["version"] = __version__
    cleaned: dict[str, Any] = clean(out)
    return cleaned


def compare_value_lines(cmp: Comparison) -> list[str]:
    """``-f value``: the bare delta (B - A)."""
    return [_num(cmp.delta)]


def compare_tsv_lines(cmp: Comparison) -> list[str]:
    keys = ["loss_a", "loss_b", "delta", "ci_low", "ci_high", "p_value", "samples", "counted"]
    vals = [cmp.a.loss, cmp.b.loss, cmp.delta, cmp.ci["low"], cmp.ci["high"], cmp.p_value,
            cmp.a.samples, cmp.a.counted]
    return ["\t".join(keys), "\t".join(_cell(clean(v)) for v in vals)]


def compare_table(cmp: Comparison, checks: list[dict[str, Any]] | None = None) -> Any:
    """A rich renderable: both models side by side, the difference, its interval and p-value."""
    from rich.console import Group
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
    t.add_row(label, _fmt(a.loss, 8), _fmt(b.loss, 8), Text(f"{cmp.delta:+.6g}", style=d_style))
    if a.perplexity is not None and b.perplexity is not None:
        t.add_row("perplexity", _fmt(a.perplexity), _fmt(b.perplexity),
                  diff(a.perplexity, b.perplexity))
    t.add_row("accuracy", _fmt(a.accuracy), _fmt(b.accuracy), diff(a.accuracy, b.accuracy))
    if a.top_k:
        t.add_row(f"top-{a.top_k} accuracy", _fmt(a.top_k_accuracy), _fmt(b.top_k_accuracy),
                  diff(a.top_k_accuracy, b.top_k_accuracy))
    if a.ece is not None:
        t.add_row("ECE", _fmt(a.ece), _fmt(b.ece), diff(a.ece, b.ece))
    qa, qb = a.quantiles, b.quantiles
    for k in ("p50", "p90", "p99"):
        if k in qa:
            t.add_row(f"loss {k}", _fmt(qa.get(k), 4), _fmt(qb.get(k), 4), "")
    ci = cmp.ci
    s = Table(show_header=False, title_justify="left")
    s.add_column("measure", style="bold")
    s.add_column("value", justify="right")
    s.add_column("", style="dim")
    s.add_row(
        f"{ci['level']:.0%} interval of B - A",
        f"{_fmt(ci['low'])} {DASH} {_fmt(ci['high'])}",
        f"paired Poisson bootstrap, B={ci['replicates']}, seed {ci['seed']}"
        + (f", groups: {ci['group']}" if ci.get("group") else ""),
    )
    s.add_row("p-value", _fmt(cmp.p_value, 4), "two-sided, no difference")
    s.add_row("samples", f"{a.samples:,}", f"{a.counted:,} counted, {a.ignored:,} ignored")
    for c in checks or []:
        ok = c["passed"]
        s.add_row(
            c["name"],
            Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
            f"one-sided p {c['p_worse']:.3g}, alpha {c['alpha']:g}, margin {c['margin']:g}"
            if c["name"] == "fail_if_worse"
            else f"threshold {_fmt(c['threshold'])}",
        )
    parts: list[Any] = [t, s]
    for w in cmp.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)

