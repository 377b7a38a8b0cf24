"""``cecli inspect``: what a file holds and how cecli would read it."""

from ..report.formats import InfoFormat
from ..report.terminal import INSPECT_HELP
from . import _options as opt
from ._app import app
from ._console import emit_json, on_terminal, stdout_console
from ._run import read_options


@app.command("inspect", help=INSPECT_HELP, no_args_is_help=True)
def inspect(
    path: opt.InspectPath,
    fmt: opt.InfoFormat = InfoFormat.AUTO,
    format_in: opt.FormatIn = None,
    target_col: opt.TargetCol = None,
    logit_cols: opt.LogitCols = None,
    no_header: opt.NoHeader = False,
    id_col: opt.IdCol = None,
    sample_weight_col: opt.SampleWeightCol = None,
    classes: opt.Classes = None,
    class_axis: opt.ClassAxis = 1,
) -> None:
    o = dict(locals())
    from ..readers import inspect_file
    from ..report import clean, inspect_table

    info = inspect_file(path, read_options(o))
    if fmt.resolve(on_terminal()) is InfoFormat.JSON:
        emit_json(clean(info))
        return
    console = stdout_console()
    console.print(inspect_table(info))
    if info.get("suggestion"):
        # one unwrapped, unstyled line: it is meant to be copied into a shell
        console.print(f"suggestion: {info['suggestion']}", soft_wrap=True, markup=False)
