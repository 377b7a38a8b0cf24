"""``cecli compare``: two prediction files on the same targets, with a paired bootstrap."""

from __future__ import annotations

import typer

from . import _options as opt
from ._app import app, guard
from ._ce import check_ce_choices
from ._console import finish, resolve_format

COMPARE_HELP = """Paired comparison of two prediction files on the same targets.

Reports both losses, delta = loss(B) - loss(A) (positive: B is worse), a paired bootstrap
interval of delta (the same Poisson weights for A and B) and the two-sided bootstrap p-value of
"no difference". Rows are aligned by position; with --id-col the ids must match row for row.
--fail-if-worse exits 1 when B is significantly worse than A: the one-sided bootstrap p-value
of "delta <= margin" is below --alpha.

Examples:

\b
  cecli compare old.parquet new.parquet --target-col label
  cecli compare a.npy b.npy labels.npy --fail-if-worse --alpha 0.05 --margin 0.01 -f json | jq .delta
"""


@app.command("compare", help=COMPARE_HELP, no_args_is_help=True)
def compare(
    preds_a: str = typer.Argument(..., help="Predictions of model A (the reference)."),
    preds_b: str = typer.Argument(..., help="Predictions of model B (the candidate)."),
    targets: str | None = typer.Argument(None, help="Targets, when not a column / key of PREDS_A."),
    weight: opt.Weight = None,
    ignore_index: opt.IgnoreIndex = -100,
    reduction: str = typer.Option("mean", "--reduction", "-r", help="mean or sum."),
    label_smoothing: opt.LabelSmoothing = 0.0,
    input_kind: str = typer.Option("logits", "--input", help="What both files hold: logits, probs or logprobs."),
    target_kind: str = typer.Option("auto", "--targets", help="auto, index or probs."),
    target_col: opt.TargetCol = None,
    logit_cols: opt.LogitCols = None,
    id_col: str | None = typer.Option(None, "--id-col", help="An id column in both files: rows must carry the same ids in the same order."),
    sample_weight_col: opt.SampleWeightCol = None,
    group_col: str | None = typer.Option(None, "--group-col", help="Resample whole groups (sequences, documents) in the bootstrap."),
    classes: opt.Classes = None,
    class_axis: opt.ClassAxis = 1,
    format_in: opt.FormatIn = None,
    preds_key: opt.PredsKey = None,
    target_key: opt.TargetKey = None,
    fmt: str = typer.Option("auto", "--format", "-f", help="auto (table on a terminal, else json), table, json, tsv or value (the delta)."),
    top_k: int = typer.Option(0, "--top-k", help="Also report top-k accuracy of both."),
    ece: bool = typer.Option(False, "--ece", help="Also report both expected calibration errors (15 bins)."),
    ece_bins: opt.EceBins = 0,
    ci: float = typer.Option(0.95, "--ci", help="Level of the interval of delta."),
    bootstrap: opt.Bootstrap = 1000,
    seed: opt.Seed = 12345,
    fail_if_worse: bool = typer.Option(False, "--fail-if-worse", help="Exit 1 when B is significantly worse than A."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of --fail-if-worse."),
    margin: float = typer.Option(0.0, "--margin", help="--fail-if-worse tolerates delta up to this."),
    chunk_rows: int | None = typer.Option(None, "--chunk-rows", help="Rows per chunk."),
    workers: int | None = typer.Option(None, "--workers", help="Threads over chunks (default: the number of cores)."),
    float64: opt.Float64 = False,
    nonfinite: str = typer.Option("error", "--nonfinite", help="error (default) or propagate."),
    quiet: opt.Quiet = False,
) -> None:
    from ..api import CEConfig, parse_weight
    from ..api import compare as run_compare
    from ..api.gates import WorseGate
    from ..readers import ReadOptions, read_class_names
    from ..report import (
        compare_table,
        compare_to_dict,
        compare_tsv_lines,
        compare_value_lines,
    )

    with guard():
        check_ce_choices(
            fmt, reduction, ("mean", "sum"), input_kind, target_kind, nonfinite,
            label_smoothing, ece_bins, top_k,
        )
        gate = WorseGate(fail_if_worse, alpha, margin)
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
            classes=read_class_names(classes),
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
        checks = gate.check(cmp.delta, cmp.p_worse)
        finish(
            "compare",
            out_fmt,
            to_json=lambda: compare_to_dict(cmp, checks),
            value=lambda: compare_value_lines(cmp),
            tsv=lambda: compare_tsv_lines(cmp),
            table=lambda: compare_table(cmp, checks),
            warnings=cmp.warnings,
            checks=checks,
            quiet=quiet,
        )
