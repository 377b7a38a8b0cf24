"""``cecli bce``: binary and multi-label cross-entropy (torch's BCEWithLogitsLoss / BCELoss)."""

from __future__ import annotations

from ..accumulate.spec import DEFAULT_BOOTSTRAP, DEFAULT_SEED
from ..api.spec import Engine
from ..core.spec import InputKind, Nonfinite, Reduction
from ..report.formats import Format
from ..report.terminal import BCE_HELP
from . import _options as opt
from ._app import app
from ._run import run_loss


@app.command("bce", help=BCE_HELP, no_args_is_help=True)
def bce(
    preds: opt.Preds,
    targets: opt.Targets = None,
    weight: opt.Weight = None,
    pos_weight: opt.PosWeight = None,
    reduction: opt.Reduction = Reduction.MEAN,
    input_kind: opt.InputKind = InputKind.LOGITS,
    target_col: opt.TargetCol = None,
    target_cols: opt.TargetCols = None,
    logit_cols: opt.LogitCols = None,
    no_header: opt.NoHeader = False,
    id_col: opt.IdCol = None,
    classes: opt.Classes = None,
    format_in: opt.FormatIn = None,
    targets_format: opt.TargetsFormat = None,
    preds_key: opt.PredsKey = None,
    target_key: opt.TargetKey = None,
    fmt: opt.Format = Format.AUTO,
    output: opt.Output = None,
    force: opt.Force = False,
    per_class: opt.PerClass = False,
    ece: opt.Ece = False,
    ece_bins: opt.EceBins = 0,
    threshold: opt.Threshold = None,
    ci: opt.Ci = None,
    bootstrap: opt.Bootstrap = DEFAULT_BOOTSTRAP,
    seed: opt.Seed = DEFAULT_SEED,
    grad_output: opt.GradOutput = None,
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
    run_loss("bce", locals())
