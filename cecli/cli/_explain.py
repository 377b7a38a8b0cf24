"""``cecli explain``: the derivation of chosen rows' losses, step by step."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..core.spec import LossKind
from ..report.formats import InfoFormat
from ..report.terminal import EXPLAIN_HELP
from . import _options as opt
from ._app import app
from ._bce import bce
from ._ce import ce
from ._console import emit_json, on_terminal, stderr_console, stdout_console
from ._run import loss_spec, read_options, run_spec

Rows = Annotated[str | None, typer.Option("--rows", help="Rows to derive: 0-based numbers, a comma list (0,17).")]
Worst = Annotated[int | None, typer.Option("--worst", help="Derive the K rows of largest loss (one streaming pass).")]
Shown = Annotated[int, typer.Option("--shown", help="Long rows show the target, this many top classes and the first three.")]
Loss = Annotated[LossKind, typer.Option("--loss", help="Which loss: ce, nll (log-probabilities in) or bce.")]
OPTIONS = ("preds targets weight pos_weight ignore_index reduction label_smoothing input_kind target_kind "
           "target_col target_cols logit_cols no_header id_col sample_weight_col classes class_axis "
           "format_in targets_format preds_key target_key chunk_rows workers float64 nonfinite quiet")  # fmt: skip


@app.command("explain", help=EXPLAIN_HELP, no_args_is_help=True)
@opt.reuse([ce, bce], OPTIONS, rows=(Rows, None), worst=(Worst, None), shown=(Shown, 5),
           loss=(Loss, LossKind.CE), fmt=(opt.InfoFormat, InfoFormat.AUTO))  # fmt: skip
def explain(**o: Any) -> None:
    from ..api import ExplainSpec
    from ..api import explain as derive
    from ..errors import UsageError
    from ..report import explain_to_dict, explain_view

    loss = o["loss"].value
    if loss != "bce" and o["target_cols"]:
        raise UsageError("--target-cols is for --loss bce", fix="use --target-col")
    pick = ExplainSpec.parse(o["rows"], o["worst"], o["shown"])
    read = read_options(o, binary=loss == "bce")
    ex = derive(o["preds"], o["targets"], read, loss_spec(loss, o), pick, run_spec(o))
    if o["fmt"].resolve(on_terminal()) is InfoFormat.JSON:
        emit_json(explain_to_dict(ex))
        err = stderr_console(o["quiet"])
        for w in ex.warnings:
            err.print(f"warning: {w}", markup=False)
        return
    stdout_console().print(explain_view(ex))
