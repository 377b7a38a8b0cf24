"""``cecli bce``: binary and multi-label cross-entropy (torch's BCEWithLogitsLoss / BCELoss)."""

from __future__ import annotations

import typer

from ..errors import UsageError
from . import _options as opt
from ._app import app, guard
from ._ce import FORMATS, check_choice
from ._console import finish, progress_bar, resolve_format

BCE_HELP = """Binary / multi-label cross-entropy (torch's BCEWithLogitsLoss; --input probs is BCELoss).

Predictions are (N,) or (N, C) logits (or probabilities with --input probs); targets have the
same shape, with values in [0, 1]: a TARGETS file, the target column, or one column per label
with --target-cols. mean = sum / elements (rows x labels); "samples" in the output counts
elements.

Examples:

\b
  cecli bce scores.csv --target-col clicked -f value
  cecli bce logits.npy labels.npy --pos-weight 3 --reduction sum -f json | jq .loss
  cecli bce tags.parquet --target-cols is_cat,is_dog --weight 1,2 --fail-above 0.4
"""


@app.command("bce", help=BCE_HELP, no_args_is_help=True)
def bce(
    preds: str = typer.Argument(..., help="Predictions (N,) or (N, C): .npy .npz .csv .tsv .parquet, or - for stdin."),
    targets: str | None = typer.Argument(None, help="Targets of the predictions' shape, when not columns / a key of PREDS."),
    weight: str | None = typer.Option(None, "--weight", "-w", help="A weight per label (broadcast): one value, a comma list or a file."),
    pos_weight: str | None = typer.Option(None, "--pos-weight", help="Weight of positives: one value, or one per label (comma list or file)."),
    reduction: str = typer.Option("mean", "--reduction", "-r", help="mean (over all elements), sum or none."),
    input_kind: str = typer.Option("logits", "--input", help="What PREDS hold: logits (BCEWithLogitsLoss) or probs (BCELoss)."),
    target_col: opt.TargetCol = None,
    target_cols: str | None = typer.Option(None, "--target-cols", help="Several target columns, one per label: a,b,c (multi-label)."),
    logit_cols: opt.LogitCols = None,
    id_col: opt.IdCol = None,
    classes: str | None = typer.Option(None, "--classes", help="Label names of (N, C) arrays: a,b,c or a file, one per line."),
    format_in: opt.FormatIn = None,
    preds_key: opt.PredsKey = None,
    target_key: opt.TargetKey = None,
    fmt: opt.Format = "auto",
    output: str | None = typer.Option(None, "--output", "-o", help="Write per-element losses (.npy .csv .tsv .parquet; with --engine dask, a folder of Parquet parts)."),
    force: opt.Force = False,
    grad_output: opt.GradOutput = None,
    fail_above: opt.FailAbove = None,
    baseline: opt.Baseline = None,
    max_increase: opt.MaxIncrease = None,
    relative: opt.Relative = False,
    chunk_rows: opt.ChunkRows = None,
    workers: opt.Workers = None,
    engine: opt.Engine = "local",
    scheduler: opt.Scheduler = None,
    float64: opt.Float64 = False,
    nonfinite: str = typer.Option("error", "--nonfinite", help="error (default) or propagate (NaN / inf logits flow through, as torch)."),
    quiet: opt.Quiet = False,
) -> None:
    from ..api import BCEConfig, evaluate_bce, parse_vector
    from ..api._bce import bce_signature
    from ..api.gates import LossGates
    from ..api.signature import Signature
    from ..readers import ReadOptions, read_class_names
    from ..report import bce_summary_table, bce_to_dict, bce_tsv_lines, bce_value_lines

    with guard():
        check_choice("--format", fmt, FORMATS)
        check_choice("--reduction", reduction, ("mean", "sum", "none"))
        check_choice("--input", input_kind, ("logits", "probs"))
        check_choice("--nonfinite", nonfinite, ("error", "propagate"))
        if target_col and target_cols:
            raise UsageError("give --target-col or --target-cols, not both")
        if pos_weight is not None and input_kind == "probs":
            raise UsageError(
                "--pos-weight applies to logits (BCEWithLogitsLoss), not --input probs"
            )
        cols = None
        if target_cols is not None:
            cols = tuple(c.strip() for c in target_cols.split(",") if c.strip())
            if not cols:
                raise UsageError("--target-cols names no column", value=target_cols)
        out_fmt = resolve_format(fmt)
        read = ReadOptions(
            format_in=format_in,
            preds_key=preds_key,
            target_key=target_key,
            target_col=target_col,
            target_cols=cols,
            logit_cols=logit_cols,
            id_col=id_col,
            classes=read_class_names(classes),
            binary=True,
        )
        cfg = BCEConfig(
            input_kind=input_kind,
            weight=parse_vector(weight, "--weight"),
            pos_weight=parse_vector(pos_weight, "--pos-weight"),
            reduction=reduction,
            float64=float64,
            nonfinite=nonfinite,
            chunk_rows=chunk_rows,
            workers=workers,
            output=output,
            force=force,
            keep_losses=reduction == "none" and output is None,
            grad_output=grad_output,
            engine=engine,
            scheduler=scheduler,
        )
        gates = LossGates(fail_above, baseline, max_increase, relative)
        gates.precheck(Signature.parse(bce_signature(cfg)))  # a mismatch writes no output
        bar = progress_bar(quiet)
        cfg.progress = bar
        try:
            ev = evaluate_bce(preds, targets, read, cfg)
        finally:
            if bar is not None:
                bar.close()
        checks = gates.check(ev.result.loss, Signature.parse(ev.signature))
        finish(
            "bce",
            out_fmt,
            to_json=lambda: bce_to_dict(ev, checks),
            value=lambda: bce_value_lines(ev),
            tsv=lambda: bce_tsv_lines(ev),
            table=lambda: bce_summary_table(ev, checks),
            warnings=ev.warnings,
            checks=checks,
            quiet=quiet,
        )
