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

from .._version import __version__
from ..accumulate import CEResult
from ..api import Evaluation
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


def _reliability(plt: Any, r: CEResult) -> str | None:
    rel = r.reliability
    if not rel:
        return None
    bins = r.ece_bins
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    count = rel["count"]
    mids, acc, conf = [], [], []
    for b in range(len(count)):
        if count[b]:
            mids.append(min(b, bins - 1) / bins + 0.5 / bins)
            acc.append(rel["acc"][b] / count[b])
            conf.append(rel["conf"][b] / count[b])
    ax.bar(mids, acc, width=1 / bins, edgecolor="#333", color="#6a9fd8", label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="#999", label="perfect calibration")
    ax.plot(conf, acc, "o", color="#c44", markersize=3, label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {r.ece:.4f}, {bins} bins)")
    ax.legend(loc="upper left", fontsize=8)
    return _svg(fig)


def _histogram(plt: Any, r: CEResult) -> str | None:
    edges, counts = r.histogram
    if not counts:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    widths = [b - a for a, b in itertools.pairwise(edges)]
    ax.bar(edges[: len(counts)], counts, width=widths, align="edge", color="#7bb77b", edgecolor="#333")
    ax.set_xlabel("per-row loss")
    ax.set_ylabel("rows")
    ax.set_title(f"loss histogram ({r.counted} counted rows)")
    return _svg(fig)


def _per_class(plt: Any, r: CEResult) -> str | None:
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
    fig.suptitle(f"per class ({r.classes} classes{more})")
    return _svg(fig)


def _confusions(plt: Any, r: CEResult) -> str | None:
    pairs = r.confusions or []
    if not pairs:
        return None
    labels = [f"{p['target_class']} → {p['pred_class']}" for p in pairs][::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.8 + 0.22 * len(pairs)))
    ax.barh(labels, [p["count"] for p in pairs][::-1], color="#b07bd8")
    ax.set_xlabel("rows (true → predicted)" + ("" if r.confusions_exact else ", at least"))
    ax.set_title(f"top {len(pairs)} confusions")
    return _svg(fig)


def _finite(v: Any) -> float:
    return float(v) if v is not None and math.isfinite(v) else 0.0


def _headline(ev: Evaluation[CEResult]) -> str:
    r = ev.result
    cells = [
        ("loss (" + r.reduction + ")", f"{r.loss:.6g}"),
        ("interval", f"{r.ci['low']:.6g} {DASH} {r.ci['high']:.6g} ({r.ci['level']:g}, "
                     f"{r.ci['method']}, {r.ci['replicates']} replicates)" if r.ci else DASH),
        ("accuracy", f"{r.accuracy:.4f}"),
        ("perplexity", f"{r.perplexity:.6g}" if r.perplexity is not None else DASH),
        ("ECE", f"{r.ece:.4f}" if r.ece is not None else DASH),
        ("rows", f"{r.samples} ({r.counted} counted, {r.ignored} ignored)"),
        ("classes", str(r.classes)),
    ]  # fmt: skip
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in cells)
    return f"<table>{body}</table>"


def html_report(ev: Evaluation[CEResult]) -> str:
    """The HTML page of a ``ce`` / ``nll`` evaluation (with per-class, ECE and an interval)."""
    plt = _pyplot()
    r = ev.result
    drawn = (_reliability(plt, r), _histogram(plt, r), _per_class(plt, r), _confusions(plt, r))
    figs = [f for f in drawn if f]
    plt.close("all")
    inputs = ", ".join(html.escape(i.path) for i in ev.inputs)
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in ev.warnings)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>cecli {ev.command} report</title><style>{_STYLE}</style></head><body>",
        f"<h1>cecli {ev.command} · {inputs}</h1>",
        _headline(ev),
        f"<p class='note'>signature <code>{html.escape(ev.signature)}</code> · cecli {__version__}</p>",
        f"<ul class='note'>{warnings}</ul>" if warnings else "",
        "<h2>figures</h2>",
        *(f"<div class='fig'>{f}</div>" for f in figs),
        _MARK,
        "</body></html>",
    ]
    return "\n".join(parts)
