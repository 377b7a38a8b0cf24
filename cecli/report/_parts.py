"""The pieces the loss reports (``ce``, ``bce``, ``compare``) share: JSON fields, value / TSV
lines and the parts of their rich tables. rich is imported inside the functions that use it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._version import __version__
from ..api import Evaluation
from ._common import DASH, clean, exact, short
from ._text import summary_lines

LOSS_LABEL = {"mean": "loss (mean)", "sum": "loss (sum)", "none": "loss (mean of none)"}


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


def measure_table(title: str | None = None) -> Any:
    """A rich table of three columns, measure / value / note, without a header."""
    from rich.table import Table

    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column("measure", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    return t


def evaluation_table(ev: Evaluation[Any]) -> Any:
    """The measure table of an evaluation, titled with its command and inputs."""
    names = ", ".join(i.path for i in ev.inputs)
    return measure_table(f"cecli {ev.command} · {names}")


def add_interval(t: Any, ci: dict[str, Any]) -> None:
    """The row of a bootstrap interval of the loss."""
    t.add_row(
        f"{ci['level']:.0%} interval",
        f"{short(ci['low'])} {DASH} {short(ci['high'])}",
        f"{ci['method']}, B={ci['replicates']}, seed {ci['seed']}"
        + (f", groups: {ci['group']}" if ci.get("group") else ""),
    )


def add_threshold_checks(t: Any, checks: list[dict[str, Any]] | None) -> None:
    """A pass / FAIL row per threshold check."""
    from rich.text import Text

    for c in checks or []:
        ok = c["passed"]
        t.add_row(
            c["name"],
            Text("pass" if ok else "FAIL", style="green" if ok else "bold red"),
            f"threshold {short(c['threshold'])}",
        )


def with_warnings(parts: list[Any], warnings: Iterable[str]) -> Any:
    """The renderables, then a line per warning, as one rich group."""
    from rich.console import Group
    from rich.text import Text

    for w in warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)
