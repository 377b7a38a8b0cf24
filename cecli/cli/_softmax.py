"""``cecli softmax``: (log-)softmax of a file of logits, streamed into OUT's format."""

from ..report.formats import InfoFormat
from ..report.terminal import SOFTMAX_HELP
from . import _options as opt
from ._app import app
from ._console import emit_json, on_terminal, stderr_console, stdout_console
from ._run import output_spec, read_options, run_spec


@app.command("softmax", help=SOFTMAX_HELP, no_args_is_help=True)
def softmax(
    preds: opt.Logits,
    output: opt.SoftmaxOutput,
    log: opt.Log = False,
    temperature: opt.Temperature = 1.0,
    wide: opt.Wide = False,
    force: opt.Force = False,
    class_axis: opt.ClassAxis = 1,
    logit_cols: opt.LogitCols = None,
    no_header: opt.NoHeader = False,
    id_col: opt.IdCol = None,
    target_col: opt.TargetCol = None,
    classes: opt.Classes = None,
    format_in: opt.FormatIn = None,
    preds_key: opt.PredsKey = None,
    float64: opt.Float64 = False,
    chunk_rows: opt.ChunkRows = None,
    workers: opt.Workers = None,
    fmt: opt.InfoFormat = InfoFormat.AUTO,
    quiet: opt.Quiet = False,
) -> None:
    o = dict(locals())
    from ..api import SoftmaxSpec, write_softmax
    from ..report import softmax_table, softmax_to_dict

    out_fmt = fmt.resolve(on_terminal())
    spec = SoftmaxSpec(log=log, temperature=temperature, wide=wide, float64=float64)
    res = write_softmax(preds, read_options(o), spec, output_spec(o), run_spec(o))
    info = softmax_to_dict(res, log, temperature)
    if out_fmt is InfoFormat.JSON:
        emit_json(info)
    else:
        stdout_console().print(softmax_table(info))
    what = "log-softmax" if log else "softmax"
    stderr_console(quiet).print(
        f"wrote {what} of {res.rows:,} row(s) x {res.classes} classes to {res.output}",
        markup=False,
    )
