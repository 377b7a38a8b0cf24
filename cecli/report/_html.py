"""``cecli report``: one self-contained HTML file of an evaluation (figures as inline SVG).

The figures come from matplotlib (the optional extra ``cecli[plot]``), drawn from the
evaluation's aggregates only, never per row, so the file's size does not grow with the rows:
the reliability diagram (the ECE bins), the per-row loss histogram (the accumulator's bins),
the per-class loss share and accuracy (the classes of largest share, at most
:data:`MAX_CLASSES`). The page needs no network: no script, style or font is fetched; a small
inline script marks the figures it finds drawn (``data-figures`` on ``<body>``), which the
browser test reads.
"""

from __future__ import annotations

import html
import io
import itertools
import math
from typing import Any

import numpy as np

from .._version import __version__
from ..accumulate import CEResult
from ..api import Comparison, Evaluation
from ..errors import UsageError
from ._common import DASH

#: The most classes the per-class chart shows (those of largest loss share).
MAX_CLASSES = 40
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


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "cecli report draws its figures with matplotlib, which is not installed",
            fix="pip install 'cecli[plot]'",
        ) from None
    matplotlib.use("svg", force=True)  # no display, no GUI toolkit
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, and no font to embed
    plt.rcParams["svg.hashsalt"] = "cecli"  # the same input gives the same file
    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    fig.clf()
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue and doctype: inline SVG


Models = list[tuple[str, CEResult]]  # (label, result): one model, or A and B of a comparison
_COLOURS = ("#4a7fc0", "#d0703c")


def _reliability(plt: Any, models: Models) -> str | None:
    if not any(r.reliability for _, r in models):
        return None
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], "--", color="#999", label="perfect calibration")
    title = []
    for (label, r), colour in zip(models, _COLOURS, strict=False):
        rel, bins = r.reliability or {}, r.ece_bins
        count = rel.get("count", [])
        seen = [b for b in range(len(count)) if count[b]]
        conf = [rel["conf"][b] / count[b] for b in seen]
        acc = [rel["acc"][b] / count[b] for b in seen]
        if len(models) == 1:  # one model: the classic bars of accuracy per bin
            mids = [min(b, bins - 1) / bins + 0.5 / bins for b in seen]
            ax.bar(mids, acc, width=1 / bins, edgecolor="#333", color="#6a9fd8", label="accuracy")
        who = f"{label}: " if label else ""
        ax.plot(conf, acc, "o-", color=colour, markersize=3, label=f"{who}accuracy vs confidence")
        title.append(f"{label} {r.ece:.4f}" if len(models) > 1 else f"{r.ece:.4f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {', '.join(title)}; {models[0][1].ece_bins} bins)", fontsize=10)
    ax.legend(loc="upper left", fontsize=7)
    return _svg(fig)


def _histogram(plt: Any, models: Models) -> str | None:
    if not any(r.histogram[1] for _, r in models):
        return None
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    for (label, r), colour in zip(models, _COLOURS, strict=False):
        edges, counts = r.histogram
        if not counts:
            continue
        widths = [b - a for a, b in itertools.pairwise(edges)]
        ax.bar(edges[: len(counts)], counts, width=widths, align="edge", alpha=0.6,
               color=colour, edgecolor="#333", label=label)  # fmt: skip
    ax.set_xlabel("per-row loss")
    ax.set_ylabel("rows")
    ax.set_title(f"loss histogram ({models[0][1].counted} counted rows)")
    if len(models) > 1:
        ax.legend(fontsize=8)
    return _svg(fig)


def _per_class(plt: Any, label: str, r: CEResult) -> str | None:
    rows = sorted(r.per_class or [], key=lambda c: -(c["share"] or 0.0))[:MAX_CLASSES]
    if not rows:
        return None
    names = [str(c["class"]) for c in rows][::-1]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.5, 0.8 + 0.22 * len(rows)), sharey=True)
    a1.barh(names, [c["share"] or 0.0 for c in rows][::-1], color="#d8956a")
    a1.set_xlabel("share of the total loss")
    a2.barh(names, [_finite(c["accuracy"]) for c in rows][::-1], color="#6a9fd8")
    a2.set_xlim(0, 1)
    a2.set_xlabel("accuracy")
    more = f", the {len(rows)} of largest share" if len(r.per_class or []) > len(rows) else ""
    fig.suptitle(f"{label + ': ' if label else ''}per class ({r.classes} classes{more})")
    return _svg(fig)


def _confusions(plt: Any, label: str, r: CEResult) -> str | None:
    pairs = r.confusions or []
    if not pairs:
        return None
    labels = [f"{p['target_class']} → {p['pred_class']}" for p in pairs][::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.8 + 0.22 * len(pairs)))
    ax.barh(labels, [p["count"] for p in pairs][::-1], color="#b07bd8")
    ax.set_xlabel("rows (true → predicted)" + ("" if r.confusions_exact else ", at least"))
    ax.set_title(f"{label + ': ' if label else ''}top {len(pairs)} confusions")
    return _svg(fig)


def _paired(plt: Any, cmp: Comparison) -> str:
    """The bootstrap distribution of ``delta = loss(B) - loss(A)``, its interval and 0."""
    d = cmp.replicate_deltas[np.isfinite(cmp.replicate_deltas)]
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    ax.hist(d, bins=40, color="#999", edgecolor="#333")
    ax.axvline(0.0, color="#222", linewidth=1)
    ax.axvline(cmp.delta, color="#c44", linewidth=2, label=f"delta {cmp.delta:.4g}")
    for v in (cmp.ci["low"], cmp.ci["high"]):
        ax.axvline(v, color="#c44", linestyle="--", linewidth=1)
    ax.set_xlabel("loss(B) - loss(A), paired bootstrap replicates")
    ax.set_title(f"paired difference ({cmp.ci['level']:g} interval, p = {cmp.p_value:.3g})", fontsize=10)
    ax.legend(fontsize=8)
    return _svg(fig)


def _finite(v: Any) -> float:
    return float(v) if v is not None and math.isfinite(v) else 0.0


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


def html_report(result: Evaluation[CEResult] | Comparison) -> str:
    """The HTML page of a ``ce`` / ``nll`` evaluation (with per-class, ECE, confusions and an
    interval), or of a comparison (both models, and the paired difference)."""
    plt = _pyplot()
    if isinstance(result, Comparison):
        models: Models = [(f"A ({result.a_info.path})", result.a), (f"B ({result.b_info.path})", result.b)]
        title = f"cecli compare · {result.a_info.path} vs {result.b_info.path}"
        cmp: Comparison | None = result
    else:
        models, cmp = [("", result.result)], None
        title = f"cecli {result.command} · {', '.join(i.path for i in result.inputs)}"
    short = [("A", r) for _, r in models[:1]] + [("B", r) for _, r in models[1:]] if cmp else models
    drawn: list[str | None] = [_paired(plt, cmp)] if cmp is not None else []
    drawn += [_reliability(plt, short), _histogram(plt, short)]
    for label, r in short:
        drawn += [_per_class(plt, label, r), _confusions(plt, label, r)]
    figs = [f for f in drawn if f]
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
