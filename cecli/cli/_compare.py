"""``cecli compare``: two prediction files on the same targets, with a paired bootstrap."""

from __future__ import annotations

from ..accumulate.spec import DEFAULT_BOOTSTRAP, DEFAULT_SEED
from ..api.gates import DEFAULT_ALPHA, DEFAULT_MARGIN
from ..core.spec import DEFAULT_IGNORE_INDEX, InputKind, Nonfinite, Reduction, TargetKind
from ..report.formats import Format
from ..report.terminal import COMPARE_HELP
from . import _options as opt
from ._app import app
from ._console import finish, on_terminal
from ._run import loss_spec, measures, read_options, run_spec


@app.command("compare", help=COMPARE_HELP, no_args_is_help=True)
def compare(
    preds_a: opt.PredsA,
    preds_b: opt.PredsB,
    targets: opt.Targets = None,
    weight: opt.Weight = None,
    ignore_index: opt.IgnoreIndex = DEFAULT_IGNORE_INDEX,
    reduction: opt.Reduction = Reduction.MEAN,
    label_smoothing: opt.LabelSmoothing = 0.0,
    input_kind: opt.InputKind = InputKind.LOGITS,
    target_kind: opt.TargetKind = TargetKind.AUTO,
    target_col: opt.TargetCol = None,
    logit_cols: opt.LogitCols = None,
    no_header: opt.NoHeader = False,
    id_col: opt.IdCol = None,
    sample_weight_col: opt.SampleWeightCol = None,
    group_col: opt.GroupCol = None,
    classes: opt.Classes = None,
    class_axis: opt.ClassAxis = 1,
    format_in: opt.FormatIn = None,
    targets_format: opt.TargetsFormat = None,
    preds_key: opt.PredsKey = None,
    target_key: opt.TargetKey = None,
    fmt: opt.Format = Format.AUTO,
    top_k: opt.TopK = 0,
    ece: opt.Ece = False,
    ece_bins: opt.EceBins = 0,
    ci: opt.Ci = 0.95,
    bootstrap: opt.Bootstrap = DEFAULT_BOOTSTRAP,
    seed: opt.Seed = DEFAULT_SEED,
    fail_if_worse: opt.FailIfWorse = False,
    alpha: opt.Alpha = DEFAULT_ALPHA,
    margin: opt.Margin = DEFAULT_MARGIN,
    junit: opt.Junit = None,
    chunk_rows: opt.ChunkRows = None,
    workers: opt.Workers = None,
    float64: opt.Float64 = False,
    nonfinite: opt.Nonfinite = Nonfinite.ERROR,
    quiet: opt.Quiet = False,
) -> None:
    o = dict(locals())
    from ..api import compare as run_compare
    from ..api.gates import WorseGate

    fmt = o["fmt"].resolve(on_terminal())
    gate = WorseGate(o["fail_if_worse"], o["alpha"], o["margin"])
    read = read_options(o)
    loss, wanted, run = loss_spec("ce", o), measures(o), run_spec(o)
    cmp = run_compare(o["preds_a"], o["preds_b"], o["targets"], read, loss, wanted, run)
    finish("compare", fmt, cmp, gate.check(cmp.delta, cmp.p_worse), o["quiet"], o["junit"])
