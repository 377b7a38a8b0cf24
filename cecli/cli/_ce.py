"""``cecli ce`` and ``cecli nll``: the main job, and the CI gates on its result."""

from __future__ import annotations

import typer

from ..accumulate.spec import DEFAULT_BOOTSTRAP, DEFAULT_SEED
from ..api.spec import Engine
from ..core.spec import DEFAULT_IGNORE_INDEX, Nonfinite, Reduction, TargetKind
from ..report.formats import Format
from ..report.terminal import CE_HELP, NLL_HELP
from . import _options as opt
from ._app import app
from ._run import run_loss


def ce(  # registered twice, as `ce` and as `nll`: the command's name is ctx.info_name
    ctx: typer.Context,
    preds: opt.Preds,
    targets: opt.Targets = None,
    weight: opt.Weight = None,
    ignore_index: opt.IgnoreIndex = DEFAULT_IGNORE_INDEX,
    reduction: opt.Reduction = Reduction.MEAN,
    label_smoothing: opt.LabelSmoothing = 0.0,
    input_kind: opt.LossInputKind = None,
    target_kind: opt.TargetKind = TargetKind.AUTO,
    target_col: opt.TargetCol = None,
    logit_cols: opt.LogitCols = None,
    no_header: opt.NoHeader = False,
    id_col: opt.IdCol = None,
    sample_weight_col: opt.SampleWeightCol = None,
    group_col: opt.GroupCol = None,
    bytes_col: opt.BytesCol = None,
    classes: opt.Classes = None,
    class_axis: opt.ClassAxis = 1,
    format_in: opt.FormatIn = None,
    targets_format: opt.TargetsFormat = None,
    preds_key: opt.PredsKey = None,
    target_key: opt.TargetKey = None,
    fmt: opt.Format = Format.AUTO,
    output: opt.Output = None,
    force: opt.Force = False,
    with_probs: opt.WithProbs = False,
    top_k: opt.TopK = 0,
    per_class: opt.PerClass = False,
    ece: opt.Ece = False,
    ece_bins: opt.EceBins = None,
    ci: opt.Ci = None,
    bootstrap: opt.Bootstrap = DEFAULT_BOOTSTRAP,
    seed: opt.Seed = DEFAULT_SEED,
    grad_output: opt.GradOutput = None,
    plot: opt.Plot = None,
    fail_above: opt.FailAbove = None,
    baseline: opt.Baseline = None,
    max_increase: opt.MaxIncrease = None,
    relative: opt.Relative = False,
    junit: opt.Junit = None,
    chunk_rows: opt.ChunkRows = None,
    workers: opt.Workers = None,
    engine: opt.Engine = Engine.LOCAL,
    scheduler: opt.Scheduler = None,
    float64: opt.Float64 = False,
    nonfinite: opt.Nonfinite = Nonfinite.ERROR,
    quiet: opt.Quiet = False,
) -> None:
    run_loss("nll" if ctx.info_name == "nll" else "ce", locals())


app.command("ce", help=CE_HELP, no_args_is_help=True)(ce)
app.command("nll", help=NLL_HELP, no_args_is_help=True)(ce)
