"""``cecli ce`` and ``cecli nll``: the main job, and the CI gates on its result."""

from __future__ import annotations

import typer

from ..errors import UsageError
from . import _options as opt
from ._app import app, guard
from ._console import finish, progress_bar, resolve_format

FORMATS = ("auto", "table", "json", "tsv", "value")

CE_EXAMPLE = """
Examples:

\b
  cecli ce preds.csv -f value      # one logit column per class, labels in 'label'
  cecli ce logits.npy labels.npy --label-smoothing 0.1 -f json | jq .loss
  cecli ce preds.parquet --per-class --ci 0.95 --fail-above 0.5
"""


def check_ce_choices(
    fmt: str,
    reduction: str,
    reductions: tuple[str, ...],
    input_kind: str,
    target_kind: str,
    nonfinite: str,
    label_smoothing: float,
    ece_bins: int,
    top_k: int,
) -> None:
    """The option checks ``ce``, ``nll`` and ``compare`` share (exit 2 on a bad value)."""
    check_choice("--format", fmt, FORMATS)
    check_choice("--reduction", reduction, reductions)
    check_choice("--input", input_kind, ("logits", "probs", "logprobs"))
    check_choice("--targets", target_kind, ("auto", "index", "probs"))
    check_choice("--nonfinite", nonfinite, ("error", "propagate"))
    if not 0.0 <= label_smoothing <= 1.0:
        raise UsageError("--label-smoothing must be in [0, 1]", value=label_smoothing)
    if ece_bins < 0 or top_k < 0:
        raise UsageError("--ece-bins and --top-k must not be negative")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}", value=value)


def make_ce(name: str, default_input: str, summary: str) -> None:
    @app.command(name, help=f"{summary}\n{CE_EXAMPLE}", no_args_is_help=True)
    def command(
        preds: opt.Preds,
        targets: opt.Targets = None,
        weight: opt.Weight = None,
        ignore_index: opt.IgnoreIndex = -100,
        reduction: str = typer.Option("mean", "--reduction", "-r", help="mean, sum or none."),
        label_smoothing: opt.LabelSmoothing = 0.0,
        input_kind: opt.InputKind = default_input,
        target_kind: opt.TargetKind = "auto",
        target_col: opt.TargetCol = None,
        logit_cols: opt.LogitCols = None,
        id_col: opt.IdCol = None,
        sample_weight_col: opt.SampleWeightCol = None,
        group_col: opt.GroupCol = None,
        classes: opt.Classes = None,
        class_axis: opt.ClassAxis = 1,
        format_in: opt.FormatIn = None,
        preds_key: opt.PredsKey = None,
        target_key: opt.TargetKey = None,
        fmt: opt.Format = "auto",
        output: str | None = typer.Option(None, "--output", "-o", help="Write per-position losses (.npy .csv .tsv .parquet; with --engine dask, a folder of Parquet parts)."),
        force: opt.Force = False,
        with_probs: bool = typer.Option(False, "--with-probs", help="Add the target's probability and the argmax to -o output."),
        top_k: opt.TopK = 0,
        per_class: bool = typer.Option(False, "--per-class", help="A per-class breakdown."),
        ece: opt.Ece = False,
        ece_bins: opt.EceBins = 0,
        ci: float | None = typer.Option(None, "--ci", help="Bootstrap confidence interval of the mean at this level (e.g. 0.95)."),
        bootstrap: opt.Bootstrap = 1000,
        seed: opt.Seed = 12345,
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
        nonfinite: opt.Nonfinite = "error",
        quiet: opt.Quiet = False,
    ) -> None:
        from ..api import CEConfig, evaluate, parse_weight
        from ..api._ce import signature  # the name api.signature is the module now
        from ..api.gates import LossGates
        from ..api.signature import Signature
        from ..readers import ReadOptions, read_class_names
        from ..report import summary_table, to_dict, tsv_lines, value_lines

        with guard():
            check_ce_choices(
                fmt, reduction, ("mean", "sum", "none"), input_kind, target_kind, nonfinite,
                label_smoothing, ece_bins, top_k,
            )
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
            if group_col and ci is None:
                raise UsageError("--group-col is for --ci (resampling whole groups)")
            cfg = CEConfig(
                command=name,
                input_kind=input_kind,
                targets=target_kind,
                weight=parse_weight(weight),
                ignore_index=ignore_index,
                reduction=reduction,
                label_smoothing=label_smoothing,
                float64=float64,
                nonfinite=nonfinite,
                top_k=top_k,
                per_class=per_class,
                ece_bins=ece_bins or (15 if ece else 0),
                ci_level=ci,
                bootstrap=bootstrap,
                seed=seed,
                chunk_rows=chunk_rows,
                workers=workers,
                output=output,
                force=force,
                with_probs=with_probs,
                keep_losses=reduction == "none" and output is None,
                grad_output=grad_output,
                engine=engine,
                scheduler=scheduler,
            )
            gates = LossGates(fail_above, baseline, max_increase, relative)
            # before the data is read; the target kind (tgt:) is known once it is read
            gates.precheck(Signature.parse(signature(cfg, "index", read)), unknown=("tgt",))
            bar = progress_bar(quiet)
            cfg.progress = bar
            try:
                ev = evaluate(preds, targets, read, cfg)
            finally:
                if bar is not None:
                    bar.close()
            checks = gates.check(ev.result.loss, Signature.parse(ev.signature))
            finish(
                name,
                out_fmt,
                to_json=lambda: to_dict(ev, checks),
                value=lambda: value_lines(ev),
                tsv=lambda: tsv_lines(ev),
                table=lambda: summary_table(ev, checks),
                warnings=ev.warnings,
                checks=checks,
                quiet=quiet,
            )


make_ce(
    "ce",
    "logits",
    "Cross-entropy of predictions against targets (torch's CrossEntropyLoss).",
)
make_ce(
    "nll",
    "logprobs",
    "Negative log-likelihood of log-probabilities (torch's NLLLoss): ce with --input logprobs.",
)
