"""``cecli bce``: binary and multi-label cross-entropy (torch's BCEWithLogitsLoss / BCELoss)."""

from __future__ import annotations

import typer

from ..errors import UsageError
from . import ExitCode, app, emit, emit_json, guard, resolve_format, stderr_console, stdout_console
from ._ce import (
    FORMATS,
    check_choice,
    check_gates,
    parse_classes,
    precheck_baseline,
    run_checks,
    verdicts,
)

BCE_HELP = """Binary / multi-label cross-entropy (torch's BCEWithLogitsLoss; --input probs is BCELoss).

Predictions are (N,) or (N, C) logits (or probabilities with --input probs); targets have the
same shape, with values in [0, 1]: a TARGETS file, the target column, or one column per label
with --target-cols. mean = sum / elements (rows x labels); "samples" in the output counts
elements.

Examples:

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
    target_col: str | None = typer.Option(None, "--target-col", help="The target column (default: target, targets, label, labels or y)."),
    target_cols: str | None = typer.Option(None, "--target-cols", help="Several target columns, one per label: a,b,c (multi-label)."),
    logit_cols: str | None = typer.Option(None, "--logit-cols", help="Prediction columns: a comma list or a glob like 'logit_*'."),
    id_col: str | None = typer.Option(None, "--id-col", help="An id column carried into -o output."),
    classes: str | None = typer.Option(None, "--classes", help="Label names of (N, C) arrays: a,b,c or a file, one per line."),
    format_in: str | None = typer.Option(None, "--format-in", help="Input format when the extension does not tell (or for stdin)."),
    preds_key: str | None = typer.Option(None, "--preds-key", help="NPZ key of the predictions."),
    target_key: str | None = typer.Option(None, "--target-key", help="NPZ key of the targets."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto (table on a terminal, else json), table, json, tsv or value."),
    output: str | None = typer.Option(None, "--output", "-o", help="Write per-element losses (.npy .csv .tsv .parquet; with --engine dask, a folder of Parquet parts)."),
    force: bool = typer.Option(False, "--force", help="Replace existing output files."),
    grad_output: str | None = typer.Option(None, "--grad-output", help="Write d(loss)/d(predictions), as loss.backward() gives it."),
    fail_above: float | None = typer.Option(None, "--fail-above", help="Exit 1 when the loss is above this (or NaN)."),
    baseline: str | None = typer.Option(None, "--baseline", help="A JSON result to compare against (same settings)."),
    max_increase: float | None = typer.Option(None, "--max-increase", help="With --baseline: exit 1 when the loss exceeds it by more than this."),
    relative: bool = typer.Option(False, "--relative", help="--max-increase is a fraction of the baseline."),
    chunk_rows: int | None = typer.Option(None, "--chunk-rows", help="Rows per chunk (default: about 16 MiB of predictions)."),
    workers: int | None = typer.Option(None, "--workers", help="Threads over chunks (default: the number of cores); with --engine dask, the local cluster's worker processes (default 2)."),
    engine: str = typer.Option("local", "--engine", envvar="CECLI_ENGINE", help="local (threads) or dask (a Dask cluster; pip install 'cecli[dask]')."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="With --engine dask: the scheduler's address (default: DASK_SCHEDULER_ADDRESS, else a local cluster)."),
    float64: bool = typer.Option(False, "--float64", help="Compute everything in float64."),
    nonfinite: str = typer.Option("error", "--nonfinite", help="error (default) or propagate (NaN / inf logits flow through, as torch)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No warnings or verdicts on stderr."),
) -> None:
    from ..api import BCEConfig, evaluate_bce, parse_vector
    from ..api._bce import bce_signature
    from ..readers import ReadOptions
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
            classes=parse_classes(classes),
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
        check_gates(fail_above, baseline, max_increase, relative)
        if baseline is not None:  # before the data is read: a mismatch writes no output
            precheck_baseline(baseline, bce_signature(cfg))
        ev = evaluate_bce(preds, targets, read, cfg)
        checks = run_checks(
            "bce", ev.result.loss, ev.signature, fail_above, baseline, max_increase, relative
        )
        err = stderr_console(quiet)
        if out_fmt == "json":
            emit_json(bce_to_dict(ev, checks))
        elif out_fmt == "value":
            emit(bce_value_lines(ev))
        elif out_fmt == "tsv":
            emit(bce_tsv_lines(ev))
        else:
            stdout_console().print(bce_summary_table(ev, checks))
        if out_fmt != "table":
            for w in ev.warnings:
                err.print(f"warning: {w}", markup=False)
        for line in verdicts("bce", checks):
            err.print(line, markup=False)
        if any(not c["passed"] for c in checks):
            raise typer.Exit(int(ExitCode.CHECK_FAILED))
