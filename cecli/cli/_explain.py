"""``cecli explain``: the derivation of chosen rows' losses, step by step."""

from __future__ import annotations

from typing import Annotated

import typer

from ..core.spec import DEFAULT_IGNORE_INDEX, Nonfinite, Reduction, TargetKind
from ..report.formats import InfoFormat
from . import _options as opt
from ._app import app
from ._console import emit_json, on_terminal, stderr_console, stdout_console
from ._run import loss_spec, read_options, run_spec

EXPLAIN_HELP = """The loss of chosen rows derived step by step, as a textbook does: logits, the maximum
of the shift, shifted values, exp, their sum, log-sum-exp, log-softmax, the target's
log-probability, its weight, the smoothing term, the row's loss; then the reduction (sum,
denominator, mean) and the ignored rows. The same for nll, probability targets and bce. The
row's loss is the one `ce --reduction none` gives; the steps are computed in float64.

Examples:

\b
  cecli explain examples/iris_logits.csv --rows 0,17
  cecli explain logits.npy labels.npy --worst 5 --label-smoothing 0.1 -f json | jq '.rows[0].steps'
  cecli explain scores.csv --loss bce --target-cols a,b --rows 3
"""

Rows = Annotated[str | None, typer.Option("--rows", help="Rows to derive: 0-based numbers, a comma list (0,17).")]
Worst = Annotated[int | None, typer.Option("--worst", help="Derive the K rows of largest loss (one streaming pass).")]
Shown = Annotated[int, typer.Option("--shown", help="Long rows show the target, this many top classes and the first three.")]
Loss = Annotated[str, typer.Option("--loss", help="Which loss: ce, nll (log-probabilities in) or bce.")]


@app.command("explain", help=EXPLAIN_HELP, no_args_is_help=True)
def explain(
    preds: opt.Preds,
    targets: opt.Targets = None,
    rows: Rows = None,
    worst: Worst = None,
    shown: Shown = 5,
    loss: Loss = "ce",
    weight: opt.Weight = None,
    pos_weight: opt.PosWeight = None,
    ignore_index: opt.IgnoreIndex = DEFAULT_IGNORE_INDEX,
    reduction: opt.Reduction = Reduction.MEAN,
    label_smoothing: opt.LabelSmoothing = 0.0,
    input_kind: opt.LossInputKind = None,
    target_kind: opt.TargetKind = TargetKind.AUTO,
    target_col: opt.TargetCol = None,
    target_cols: opt.TargetCols = None,
    logit_cols: opt.LogitCols = None,
    no_header: opt.NoHeader = False,
    id_col: opt.IdCol = None,
    sample_weight_col: opt.SampleWeightCol = None,
    classes: opt.Classes = None,
    class_axis: opt.ClassAxis = 1,
    format_in: opt.FormatIn = None,
    targets_format: opt.TargetsFormat = None,
    preds_key: opt.PredsKey = None,
    target_key: opt.TargetKey = None,
    fmt: opt.InfoFormat = InfoFormat.AUTO,
    chunk_rows: opt.ChunkRows = None,
    workers: opt.Workers = None,
    float64: opt.Float64 = False,
    nonfinite: opt.Nonfinite = Nonfinite.ERROR,
    quiet: opt.Quiet = False,
) -> None:
    o = dict(locals())
    from ..api import ExplainSpec
    from ..api import explain as derive
    from ..errors import UsageError
    from ..report import explain_to_dict, explain_view

    if loss not in ("ce", "nll", "bce"):
        raise UsageError("--loss must be one of ce, nll, bce", value=loss)
    if loss != "bce" and target_cols:
        raise UsageError("--target-cols is for --loss bce", fix="use --target-col")
    pick = ExplainSpec.parse(rows, worst, shown)
    read = read_options(o, binary=loss == "bce")
    ex = derive(preds, targets, read, loss_spec(loss, o), pick, run_spec(o))  # type: ignore[arg-type]
    if fmt.resolve(on_terminal()) is InfoFormat.JSON:
        emit_json(explain_to_dict(ex))
        err = stderr_console(quiet)
        for w in ex.warnings:
            err.print(f"warning: {w}", markup=False)
        return
    stdout_console().print(explain_view(ex))
