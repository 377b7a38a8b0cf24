"""``cecli report``: one self-contained HTML file of an evaluation."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..report.terminal import REPORT_HELP
from . import _options as opt
from ._app import app
from ._ce import ce
from ._console import stderr_console
from ._run import loss_spec, read_options, run_spec

CompareWith = Annotated[str | None, typer.Option("--compare", help="A second model's predictions (B): both models and the paired difference.")]
HtmlOutput = Annotated[str, typer.Option("--output", "-o", help="The HTML file to write.")]
ReportCi = Annotated[float, typer.Option("--ci", help="Level of the loss's bootstrap interval.")]


OPTIONS = ("preds targets force weight ignore_index label_smoothing input_kind target_kind target_col "
           "logit_cols no_header id_col classes class_axis format_in targets_format preds_key target_key "
           "bootstrap seed chunk_rows workers float64 nonfinite quiet")  # fmt: skip


@app.command("report", help=REPORT_HELP, no_args_is_help=True)
@opt.reuse([ce], OPTIONS, output=(HtmlOutput, "report.html"), compare=(CompareWith, None),
           ci=(ReportCi, 0.95))  # fmt: skip
def report(**o: Any) -> None:
    o["reduction"] = "mean"
    preds, targets, output, force, compare = (o[k] for k in ("preds", "targets", "output", "force", "compare"))
    from ..accumulate.spec import DEFAULT_ECE_BINS, Measures
    from ..api import compare as paired
    from ..api import evaluate
    from ..errors import UsageError
    from ..report import CONFUSIONS, html_report
    from ..writers import check_output, write_text

    if str(o["input_kind"]) == "target-logprobs":  # every figure is per class
        raise UsageError("report's figures need every class's prediction, and --input target-logprobs has only each token's log-probability", fix="use cecli ce --input target-logprobs -f markdown for a table to share")  # fmt: skip

    inputs = [p for p in (preds, compare, targets) if p]
    check_output(output, inputs, force)  # before the data is read
    wanted = Measures(per_class=True, ece_bins=DEFAULT_ECE_BINS, ci=o["ci"], bootstrap=o["bootstrap"],
                      seed=o["seed"], confusions=CONFUSIONS)  # fmt: skip
    read, loss, run = read_options(o), loss_spec("ce", o), run_spec(o)
    if compare is not None:
        ev: Any = paired(preds, compare, targets, read, loss, wanted, run)
    else:
        ev = evaluate(preds, targets, read, loss, wanted, run)
    write_text(output, html_report(ev), force)
    err = stderr_console(o["quiet"])
    for w in ev.warnings:
        err.print(f"warning: {w}", markup=False)
    err.print(f"wrote {output}", markup=False)
