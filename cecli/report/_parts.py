"""The pieces the loss reports (``ce``, ``bce``, ``compare``) share: JSON fields, value / TSV
lines and the parts of their rich tables. rich is imported inside the functions that use it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._version import __version__
from ..api import Evaluation
from ._common import clean, exact, format_pair
from ._numbers import DASH, NumberColumn
from ._text import summary_lines


def headline(ev: Evaluation[Any]) -> dict[str, Any]:
    """The fields that open an evaluation's JSON object: command, loss, reduction."""
    r = ev.result
    return {"command": ev.command, "loss": r.loss, "reduction": r.reduction}


def run_fields(ev: Evaluation[Any]) -> dict[str, Any]:
    """The fields that say what was read: inputs, the settings' signature, the warnings."""
    return {
        "inputs": input_rows(ev.inputs),
        "signature": ev.signature,
        "warnings": list(ev.warnings),
    }


def input_rows(infos: Iterable[Any]) -> list[dict[str, Any]]:
    """The ``inputs`` field: path, format and rows of each file read."""
    return [{"path": i.path, "format": i.format, "rows": i.rows} for i in infos]


def ce_options(cfg: Any, target_kind: str) -> dict[str, Any]:
    """The ``options`` field of ``ce`` / ``nll`` and ``compare``: the torch options of the loss."""
    return {
        "input": str(cfg.input),
        "targets": target_kind,
        "weight": None if cfg.weight is None else cfg.weight.tolist(),
        "ignore_index": cfg.ignore_index,
        "label_smoothing": cfg.label_smoothing,
    }


def add_measures(out: dict[str, Any], r: Any) -> None:
    """Top-k accuracy and ECE, where they were asked for."""
    if r.top_k:
        out["top_k"] = r.top_k
        out["top_k_accuracy"] = r.top_k_accuracy
        out["top_k_ties"] = r.top_k_ties
    if r.ece is not None:
        out["ece"] = r.ece
        out["ece_bins"] = r.ece_bins


def finish_dict(
    out: dict[str, Any],
    ev: Evaluation[Any],
    checks: list[dict[str, Any]] | None,
    *,
    grad_output: bool = False,
) -> dict[str, Any]:
    """The fields that end every evaluation's JSON object (checks, per-sample losses, the
    files written, the version), made JSON-safe."""
    if checks:
        out["checks"] = checks
    if ev.losses is not None:
        out["losses"] = ev.losses
    if ev.output:
        out["output"] = ev.output
    if grad_output and ev.grad_output:
        out["grad_output"] = ev.grad_output
    out["version"] = __version__
    cleaned: dict[str, Any] = clean(out)
    return cleaned


def loss_value_lines(ev: Evaluation[Any]) -> list[str]:
    """``-f value``: the bare loss, or one loss per line (row-major) for ``--reduction none``."""
    if ev.losses is not None:
        return [exact(v) for v in np.asarray(ev.losses).reshape(-1).tolist()]
    return [exact(ev.result.loss)]


def loss_tsv_lines(
    ev: Evaluation[Any], to_dict: Callable[[Any], dict[str, Any]], sep: str = "\t"
) -> list[str]:
    """``-f tsv`` (``sep``: ``,`` for ``-f csv``): a header line and a value line of the JSON
    object's scalar fields, and the per-class / per-label table as a second section (or one
    loss per line for ``none`` kept in memory)."""
    if ev.losses is not None:
        return loss_value_lines(ev)
    return summary_lines(to_dict(ev), sep)


#: The quantiles of the per-position losses a table shows.
QUANTILES = ("p50", "p90", "p99")


def loss_label(reduction: str) -> tuple[str, str]:
    """The measure name of the reduced loss and its note: ``none`` has no reduced loss, so
    the table shows the mean of the per-position losses and says where they are."""
    if reduction == "none":
        return "mean loss", "--reduction none: each position's loss with -f value or -o FILE"
    return f"loss ({reduction})", ""


def interval(col: NumberColumn, ci: dict[str, Any]) -> tuple[str, str]:
    """The measure and value cells of a bootstrap interval."""
    return f"{ci['level']:.0%} interval", f"{col.real(ci['low'])} {DASH} {col.real(ci['high'])}"


def bootstrap_note(ci: dict[str, Any], paired: bool = False) -> str:
    """How an interval was computed: ``1,000 bootstrap replicates`` (never ``B=1000``, which
    reads as model B)."""
    paired_ = "paired, " if paired else ""
    group = f", groups: {ci['group']}" if ci.get("group") else ""
    return f"{paired_}{ci['replicates']:,} bootstrap replicates, seed {ci['seed']}{group}"


def heading(text: str) -> Any:
    """A report's first line, above its tables: the full width of the terminal, never wrapped
    to a table's width (a long path folds at the terminal's edge)."""
    from rich.text import Text

    return Text(text, style="bold", overflow="fold")


def evaluation_heading(ev: Evaluation[Any]) -> Any:
    """``cecli ce · preds.csv``: the command and its inputs."""
    return heading(f"cecli {ev.command} · {', '.join(i.path for i in ev.inputs)}")


def measure_table() -> Any:
    """A rich table of three columns, measure / value / note, with headers."""
    from rich.table import Table

    t = Table()
    t.add_column("measure", style="bold")
    t.add_column("value", no_wrap=True)  # left-justified: the cells come aligned
    t.add_column("note", style="dim")
    return t


def threshold_rows(checks: list[dict[str, Any]] | None, col: NumberColumn) -> list[tuple[Any, ...]]:
    """A row per threshold check: its name, the checked value, pass / FAIL and the threshold."""
    from rich.text import Text

    rows: list[tuple[Any, ...]] = []
    for c in checks or []:
        ok = c["passed"]
        rows.append((
            c["name"],
            Text(col.real(c["value"]), style="green" if ok else "bold red"),
            f"{'pass' if ok else 'FAIL'}: threshold {format_pair(c['value'], c['threshold'])[1]}",
        ))  # fmt: skip
    return rows


def with_warnings(parts: list[Any], warnings: Iterable[str]) -> Any:
    """The renderables, then a line per warning, as one rich group."""
    from rich.console import Group
    from rich.text import Text

    for w in warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)
