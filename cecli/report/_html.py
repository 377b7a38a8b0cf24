"""``cecli report``: one self-contained HTML file of an evaluation (figures as inline SVG).

The figures (:mod:`._plots`, matplotlib: the optional extra ``cecli[plot]``) are drawn from
the evaluation's aggregates only, never per row, so the file's size does not grow with the
rows: one figure each, as inline SVG. The page needs no network: no script, style or font is fetched; a small
inline script marks the figures it finds drawn (``data-figures`` on ``<body>``), which the
browser test reads.
"""

from __future__ import annotations

import html
from typing import Any

from .._version import __version__
from ..accumulate import CEResult
from ..api import Comparison, Evaluation
from ._common import DASH
from ._plots import (
    MAX_CLASSES,
    Models,
    confusions,
    histogram,
    paired,
    per_class,
    pyplot,
    reliability,
    svg,
)

#: The most frequent confusions the report shows.
CONFUSIONS = 15

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse} td,th{padding:.2em .8em;text-align:right;border-bottom:1px solid #ddd}
th:first-child,td:first-child{text-align:left}
.fig{display:inline-block;vertical-align:top;margin:0 1em 1em 0}
.note{color:#666;font-size:.9em}
"""

_MARK = """
<script>
window.addEventListener("load", function () {
  var drawn = 0;
  document.querySelectorAll(".fig svg").forEach(function (s) {
    var b = s.getBoundingClientRect();
    if (b.width > 0 && b.height > 0) { drawn += 1; }
  });
  document.body.setAttribute("data-figures", String(drawn));
});
</script>
"""


def _interval(ci: dict[str, Any] | None) -> str:
    if not ci:
        return DASH
    return (f"{ci['low']:.6g} {DASH} {ci['high']:.6g} ({ci['level']:g}, {ci['method']}, "
            f"{ci['replicates']} replicates)")  # fmt: skip


def _headline(models: Models, cmp: Comparison | None) -> str:
    def opt(v: float | None, spec: str) -> str:
        return format(v, spec) if v is not None else DASH

    rows: list[tuple[str, list[str]]] = [
        ("loss (mean)", [f"{r.loss:.6g}" for _, r in models]),
        ("interval", [_interval(r.ci) for _, r in models]),
        ("accuracy", [f"{r.accuracy:.4f}" for _, r in models]),
        ("perplexity", [opt(r.perplexity, ".6g") for _, r in models]),
        ("ECE", [opt(r.ece, ".4f") for _, r in models]),
        ("rows", [f"{r.samples} ({r.counted} counted, {r.ignored} ignored)" for _, r in models]),
        ("classes", [str(r.classes) for _, r in models]),
    ]
    if cmp is not None:
        rows += [("delta (B - A)", [f"{cmp.delta:.6g}", ""]), ("its interval", [_interval(cmp.ci), ""]),
                 ("p-value (no difference)", [f"{cmp.p_value:.4g}", ""])]  # fmt: skip
    head = "" if cmp is None else "<tr><th></th>" + "".join(f"<th>{html.escape(k)}</th>" for k, _ in models) + "</tr>"
    body = "".join(
        f"<tr><th>{html.escape(k)}</th>" + "".join(f"<td>{html.escape(v)}</td>" for v in vs) + "</tr>"
        for k, vs in rows
    )
    return f"<table>{head}{body}</table>"


def _one(plt: Any, draw: Any, size: tuple[float, float] = (4.6, 4.0)) -> str:
    fig, ax = plt.subplots(figsize=size)
    draw(ax)
    return svg(fig)


def _figures(plt: Any, models: Models, cmp: Comparison | None) -> list[str]:
    figs = []
    if cmp is not None:
        figs.append(_one(plt, lambda ax: paired(ax, cmp), (5.0, 3.6)))
    if any(r.reliability for _, r in models):
        figs.append(_one(plt, lambda ax: reliability(ax, models), (4.2, 4.0)))
    if any(r.histogram[1] for _, r in models):
        figs.append(_one(plt, lambda ax: histogram(ax, models)))
    for label, r in models:
        if r.per_class:
            fig, axes = plt.subplots(1, 2, figsize=(8.5, 0.8 + 0.22 * min(len(r.per_class), MAX_CLASSES)), sharey=True)
            fig.suptitle(per_class(axes, label, r))
            figs.append(svg(fig))
        if r.confusions:
            figs.append(_one(plt, lambda ax, label=label, r=r: confusions(ax, label, r),
                             (5.5, 0.8 + 0.22 * len(r.confusions))))  # fmt: skip
    return figs


def html_report(result: Evaluation[CEResult] | Comparison) -> str:
    """The HTML page of a ``ce`` / ``nll`` evaluation (with per-class, ECE, confusions and an
    interval), or of a comparison (both models, and the paired difference)."""
    plt = pyplot()
    if isinstance(result, Comparison):
        models: Models = [(f"A ({result.a_info.path})", result.a), (f"B ({result.b_info.path})", result.b)]
        title = f"cecli compare · {result.a_info.path} vs {result.b_info.path}"
        cmp: Comparison | None = result
    else:
        models, cmp = [("", result.result)], None
        title = f"cecli {result.command} · {', '.join(i.path for i in result.inputs)}"
    short: Models = [("A", r) for _, r in models[:1]] + [("B", r) for _, r in models[1:]] if cmp else models
    figs = _figures(plt, short, cmp)
    plt.close("all")
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _headline(models, cmp),
        f"<p class='note'>signature <code>{html.escape(result.signature)}</code> · cecli {__version__}</p>",
        f"<ul class='note'>{warnings}</ul>" if warnings else "",
        "<h2>figures</h2>",
        *(f"<div class='fig'>{f}</div>" for f in figs),
        _MARK,
        "</body></html>",
    ]
    return "\n".join(parts)
