"""The figures of an evaluation, drawn with matplotlib (the optional extra ``cecli[plot]``).

Each function draws one panel on axes it is given, from aggregates only (never per row): the
reliability diagram (the ECE bins), the per-row loss histogram (the accumulator's bins), the
per-class loss share and accuracy (the :data:`MAX_CLASSES` classes of largest share), the top
confusions, and a comparison's paired difference. ``report`` puts each in a figure of its own
(inline SVG, :func:`svg`); ``ce --plot FILE`` puts the ones a run computed in one figure
(:func:`save_panels`).
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..accumulate import CEResult
from ..api import Comparison
from ..errors import UsageError

__all__ = ["MAX_CLASSES", "Models", "confusions", "histogram", "paired", "per_class",
           "plot_format", "pyplot", "reliability", "save_panels", "svg"]  # fmt: skip

#: ``--plot`` files: extension -> matplotlib format.
PLOT_FORMATS = {".png": "png", ".svg": "svg"}


def plot_format(path: str) -> str:
    """The format of a ``--plot`` file from its extension, or a usage error."""
    for ext, fmt in PLOT_FORMATS.items():
        if path.lower().endswith(ext):
            return fmt
    raise UsageError("--plot writes .png or .svg", value=path, fix="name the file FILE.png or FILE.svg")

#: The most classes the per-class chart shows (those of largest loss share).
MAX_CLASSES = 40

Models = list[tuple[str, CEResult]]  # (label, result): one model, or A and B of a comparison
_COLOURS = ("#4a7fc0", "#d0703c")


def pyplot(what: str = "cecli report") -> Any:
    """matplotlib's pyplot without a display, or the error that says what to install."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            f"{what} draws its figures with matplotlib, which is not installed",
            fix="pip install 'cecli[plot]'",
        ) from None
    matplotlib.use("Agg", force=True)  # no display, no GUI toolkit
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, and no font to embed
    plt.rcParams["svg.hashsalt"] = "cecli"  # the same input gives the same file
    return plt


def svg(fig: Any) -> str:
    """A figure as inline SVG (no XML prologue), closed."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    fig.clf()
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _finite(v: Any) -> float:
    return float(v) if v is not None and math.isfinite(v) else 0.0


def _who(label: str) -> str:
    return f"{label}: " if label else ""


def reliability(ax: Any, models: Models) -> None:
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
        ax.plot(conf, acc, "o-", color=colour, markersize=3, label=f"{_who(label)}accuracy vs confidence")
        title.append(f"{label} {r.ece:.4f}" if label else f"{r.ece:.4f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {', '.join(title)}; {models[0][1].ece_bins} bins)", fontsize=10)
    ax.legend(loc="upper left", fontsize=7)


def histogram(ax: Any, models: Models) -> None:
    for (label, r), colour in zip(models, _COLOURS, strict=False):
        edges, counts = r.histogram
        if not counts:
            continue
        widths = [b - a for a, b in itertools.pairwise(edges)]
        ax.bar(edges[: len(counts)], counts, width=widths, align="edge", alpha=0.6,
               color=colour, edgecolor="#333", label=label or None)  # fmt: skip
    ax.set_xlabel("per-row loss")
    ax.set_ylabel("rows")
    ax.set_title(f"loss histogram ({models[0][1].counted} counted rows)")
    if len(models) > 1:
        ax.legend(fontsize=8)


def _top_classes(r: CEResult) -> list[dict[str, Any]]:
    return sorted(r.per_class or [], key=lambda c: -(c["share"] or 0.0))[:MAX_CLASSES]


def per_class(axes: Any, label: str, r: CEResult) -> str:
    """Loss share and accuracy on two axes sharing the classes; returns the panel's title."""
    rows = _top_classes(r)
    names = [str(c["class"]) for c in rows][::-1]
    a1, a2 = axes
    a1.barh(names, [c["share"] or 0.0 for c in rows][::-1], color="#d8956a")
    a1.set_xlabel("share of the total loss")
    a2.barh(names, [_finite(c["accuracy"]) for c in rows][::-1], color="#6a9fd8")
    a2.set_xlim(0, 1)
    a2.set_xlabel("accuracy")
    a2.tick_params(labelleft=False)
    more = f", the {len(rows)} of largest share" if len(r.per_class or []) > len(rows) else ""
    return f"{_who(label)}per class ({r.classes} classes{more})"


def confusions(ax: Any, label: str, r: CEResult) -> None:
    pairs = r.confusions or []
    labels = [f"{p['target_class']} → {p['pred_class']}" for p in pairs][::-1]
    ax.barh(labels, [p["count"] for p in pairs][::-1], color="#b07bd8")
    ax.set_xlabel("rows (true → predicted)" + ("" if r.confusions_exact else ", at least"))
    ax.set_title(f"{_who(label)}top {len(pairs)} confusions")


def paired(ax: Any, cmp: Comparison) -> None:
    """The bootstrap distribution of ``delta = loss(B) - loss(A)``, its interval and 0."""
    d = cmp.replicate_deltas[np.isfinite(cmp.replicate_deltas)]
    ax.hist(d, bins=40, color="#999", edgecolor="#333")
    ax.axvline(0.0, color="#222", linewidth=1)
    ax.axvline(cmp.delta, color="#c44", linewidth=2, label=f"delta {cmp.delta:.4g}")
    for v in (cmp.ci["low"], cmp.ci["high"]):
        ax.axvline(v, color="#c44", linestyle="--", linewidth=1)
    ax.set_xlabel("loss(B) - loss(A), paired bootstrap replicates")
    ax.set_title(f"paired difference ({cmp.ci['level']:g} interval, p = {cmp.p_value:.3g})", fontsize=10)
    ax.legend(fontsize=8)


def panels(r: CEResult, label: str = "") -> list[tuple[str, Callable[[Any], Any]]]:
    """The panels a result can show (those its run computed): ``(kind, draw(axes))``; the kind
    ``per_class`` takes two axes."""
    out: list[tuple[str, Callable[[Any], Any]]] = []
    if r.reliability:
        out.append(("one", lambda ax: reliability(ax, [(label, r)])))
    if r.histogram[1]:
        out.append(("one", lambda ax: histogram(ax, [(label, r)])))
    if r.per_class:
        out.append(("per_class", lambda axes: axes[0].set_title(per_class(axes, label, r), loc="left")))
    if r.confusions:
        out.append(("one", lambda ax: confusions(ax, label, r)))
    return out


def save_panels(r: CEResult, path: str) -> Callable[[str], None]:
    """A writer of every panel of ``r`` in one figure, one panel a row, in the format of
    ``path`` (png, svg)."""
    fmt = plot_format(path)
    plt = pyplot("--plot")
    todo = panels(r)

    def write(tmp: str) -> None:
        fig = plt.figure(figsize=(8.5, 4.0 * max(1, len(todo))))
        grid = fig.add_gridspec(max(1, len(todo)), 2)
        for i, (kind, draw) in enumerate(todo):
            if kind == "per_class":
                a1 = fig.add_subplot(grid[i, 0])
                draw((a1, fig.add_subplot(grid[i, 1], sharey=a1)))
            else:
                draw(fig.add_subplot(grid[i, :]))
        fig.tight_layout()
        fig.savefig(tmp, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        plt.close(fig)

    return write
