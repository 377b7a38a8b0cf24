"""``cecli compare``: two prediction files on the same targets, with a paired bootstrap."""

from __future__ import annotations

import math
from typing import Any

import typer

from ..errors import UsageError
from . import ExitCode, app, emit, emit_json, guard, resolve_format, stderr_console, stdout_console
from ._ce import FORMATS, check_choice, parse_classes, verdicts

COMPARE_HELP = """Paired comparison of two prediction files on the same targets.

Reports both losses, delta = loss(B) - loss(A) (positive: B is worse), a paired bootstrap
interval of delta (the same Poisson weights for A and B) and the two-sided bootstrap p-value of
"no difference". Rows are aligned by position; with --id-col the ids must match row for row.
--fail-if-worse exits 1 when B is significantly worse than A: the one-sided bootstrap p-value
of "delta <= margin" is below --alpha.

Examples:

  cecli compare old.parquet new.parquet --target-col label

  cecli compare a.npy b.npy labels.npy --fail-if-worse --alpha 0.05 --margin 0.01 -f json | jq .delta
"""


@app.command("compare", help=COMPARE_HELP, no_args_is_help=True)
def compare(
    preds_a: str = typer.Argument(..., help="Predictions of model A (the reference)."),
    preds_b: str = typer.Argument(..., help="Predictions of model B (the candidate)."),
    targets: str | None = typer.Argument(None, help="Targets, when not a column / key of PREDS_A."),
    weight: str | None = typer.Option(None, "--weight", "-w", help="Class weights: a comma list (1,2,0.5) or a file of C values."),
    ignore_index: int = typer.Option(-100, "--ignore-index", help="Targets equal to this contribute nothing (torch's ignore_index)."),
    reduction: str = typer.Option("mean", "--reduction", "-r", help="mean or sum."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="Label smoothing in [0, 1]."),
    input_kind: str = typer.Option("logits", "--input", help="What both files hold: logits, probs or logprobs."),
    target_kind: str = typer.Option("auto", "--targets", help="auto, index or probs."),
    target_col: str | None = typer.Option(None, "--target-col", help="Target column (default: target, targets, label, labels or y)."),
    logit_cols: str | None = typer.Option(None, "--logit-cols", help="Logit columns: a comma list or a glob like 'logit_*'."),
    id_col: str | None = typer.Option(None, "--id-col", help="An id column in both files: rows must carry the same ids in the same order."),
    sample_weight_col: str | None = typer.Option(None, "--sample-weight-col", help="A per-sample weight column."),
    group_col: str | None = typer.Option(None, "--group-col", help="Resample whole groups (sequences, documents) in the bootstrap."),
    classes: str | None = typer.Option(None, "--classes", help="Class names for string labels: a,b,c or a file, one per line."),
    class_axis: int = typer.Option(1, "--class-axis", help="The class axis of NPY/NPZ arrays: 1 (torch) or -1."),
    format_in: str | None = typer.Option(None, "--format-in", help="Input format when the extension does not tell."),
    preds_key: str | None = typer.Option(None, "--preds-key", help="NPZ key of the predictions."),
    target_key: str | None = typer.Option(None, "--target-key", help="NPZ key of the targets."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto (table on a terminal, else json), table, json, tsv or value (the delta)."),
    top_k: int = typer.Option(0, "--top-k", help="Also report top-k accuracy of both."),
    ece: bool = typer.Option(False, "--ece", help="Also report both expected calibration errors (15 bins)."),
    ece_bins: int = typer.Option(0, "--ece-bins", help="ECE with N bins."),
    ci: float = typer.Option(0.95, "--ci", help="Level of the interval of delta."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap replicates."),
    seed: int = typer.Option(12345, "--seed", help="Seed of the bootstrap (in the signature)."),
    fail_if_worse: bool = typer.Option(False, "--fail-if-worse", help="Exit 1 when B is significantly worse than A."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of --fail-if-worse."),
    margin: float = typer.Option(0.0, "--margin", help="--fail-if-worse tolerates delta up to this."),
    chunk_rows: int | None = typer.Option(None, "--chunk-rows", help="Rows per chunk."),
    workers: int | None = typer.Option(None, "--workers", help="Threads over chunks (default: the number of cores)."),
    float64: bool = typer.Option(False, "--float64", help="Compute everything in float64."),
    nonfinite: str = typer.Option("error", "--nonfinite", help="error (default) or propagate."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No warnings or verdicts on stderr."),
) -> None:
    from ..api import CEConfig, parse_weight
    from ..api import compare as run_compare
    from ..readers import ReadOptions
    from ..report import (
        checks_failed,
        compare_table,
        compare_to_dict,
        compare_tsv_lines,
        compare_value_lines,
    )

    with guard():
        check_choice("--format", fmt, FORMATS)
        check_choice("--reduction", reduction, ("mean", "sum"))
        check_choice("--input", input_kind, ("logits", "probs", "logprobs"))
        check_choice("--targets", target_kind, ("auto", "index", "probs"))
        check_choice("--nonfinite", nonfinite, ("error", "propagate"))
        if not 0.0 <= label_smoothing <= 1.0:
            raise UsageError("--label-smoothing must be in [0, 1]", value=label_smoothing)
        if ece_bins < 0 or top_k < 0:
            raise UsageError("--ece-bins and --top-k must not be negative")
        if not 0.0 < alpha < 1.0:
            raise UsageError("--alpha must be between 0 and 1, e.g. 0.05", value=alpha)
        if not math.isfinite(margin):
            raise UsageError("--margin must be a finite number", value=margin)
        if (alpha != 0.05 or margin != 0.0) and not fail_if_worse:
            raise UsageError("--alpha and --margin are for --fail-if-worse")
        out_fmt = resolve_format(fmt)
        read = ReadOptions(
            format_in=format_in,
            preds_key=preds_key,
            target_key=target_key,
            target_col=target_col,
            logit_cols=logit_cols,
            id_col=id_col,
            sample_weight_col=sample_weight_col,
            group_col=group_col,
            classes=parse_classes(classes),
            class_axis=class_axis,
        )
        cfg = CEConfig(
            command="compare",
            input_kind=input_kind,
            targets=target_kind,
            weight=parse_weight(weight),
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
            float64=float64,
            nonfinite=nonfinite,
            top_k=top_k,
            ece_bins=ece_bins or (15 if ece else 0),
            ci_level=ci,
            bootstrap=bootstrap,
            seed=seed,
            chunk_rows=chunk_rows,
            workers=workers,
        )
        cmp = run_compare(preds_a, preds_b, targets, read, cfg)
        checks: list[dict[str, Any]] = []
        if fail_if_worse:
            p_worse = cmp.p_worse(margin)
            checks.append(
                {
                    "name": "fail_if_worse",
                    "alpha": alpha,
                    "margin": margin,
                    "threshold": margin,
                    "value": cmp.delta,
                    "p_worse": p_worse,
                    # NaN delta or p: not shown to be worse, so the check passes
                    "passed": not (p_worse < alpha and cmp.delta > margin),
                }
            )
        err = stderr_console(quiet)
        if out_fmt == "json":
            emit_json(compare_to_dict(cmp, checks))
        elif out_fmt == "value":
            emit(compare_value_lines(cmp))
        elif out_fmt == "tsv":
            emit(compare_tsv_lines(cmp))
        else:
            stdout_console().print(compare_table(cmp, checks))
        if out_fmt != "table":
            for w in cmp.warnings:
                err.print(f"warning: {w}", markup=False)
        for line in verdicts("compare", checks):
            err.print(line, markup=False)
        if checks_failed(checks):
            raise typer.Exit(int(ExitCode.CHECK_FAILED))
