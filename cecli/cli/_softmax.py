"""``cecli softmax``: (log-)softmax of a file of logits, streamed into OUT's format."""

from __future__ import annotations

import typer

from ._app import app, guard
from ._ce import check_choice
from ._console import emit_json, resolve_format, stderr_console, stdout_console

SOFTMAX_HELP = """Write the softmax (or --log log-softmax) of logits to OUT, streamed, rows in input order.

OUT's extension picks the format: .npy (the input's shape), .parquet (a list column 'probs' or
'logprobs', or with --wide one column per class), .csv / .tsv (one column per class, named
after the classes). Ids (--id-col or a column named id) and a target column are carried.

Examples:

\b
  cecli softmax logits.npy -o probs.npy
  cecli softmax preds.parquet -o logprobs.parquet --log --temperature 2 --id-col doc
  cecli softmax logits.csv -o probs.csv && cecli ce probs.csv --input probs -f value
"""


@app.command("softmax", help=SOFTMAX_HELP, no_args_is_help=True)
def softmax(
    preds: str = typer.Argument(..., help="Logits: .npy .npz .csv .tsv .parquet, a directory or glob of Parquet, or - for stdin."),
    output: str = typer.Option(..., "--output", "-o", help="Where to write (.npy .parquet .csv .tsv)."),
    log: bool = typer.Option(False, "--log", help="Write log-softmax instead of softmax."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Divide the logits by T first (T > 0)."),
    wide: bool = typer.Option(False, "--wide", help="Parquet: one column per class instead of a list column."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    class_axis: int = typer.Option(1, "--class-axis", help="The class axis of NPY/NPZ arrays: 1 (torch) or -1 (batch, seq, vocab)."),
    logit_cols: str | None = typer.Option(None, "--logit-cols", help="Logit columns: a comma list or a glob like 'logit_*'."),
    id_col: str | None = typer.Option(None, "--id-col", help="An id column carried into OUT."),
    target_col: str | None = typer.Option(None, "--target-col", help="A target column carried into OUT (default: target, label, ... when present)."),
    classes: str | None = typer.Option(None, "--classes", help="Class names (OUT's column names): a,b,c or a file, one per line."),
    format_in: str | None = typer.Option(None, "--format-in", help="Input format when the extension does not tell (or for stdin)."),
    preds_key: str | None = typer.Option(None, "--preds-key", help="NPZ key of the logits."),
    float64: bool = typer.Option(False, "--float64", help="Compute and write float64."),
    chunk_rows: int | None = typer.Option(None, "--chunk-rows", help="Rows per chunk (default: about 16 MiB of logits)."),
    workers: int | None = typer.Option(None, "--workers", help="Threads over chunks (default: the number of cores)."),
    fmt: str = typer.Option("auto", "--format", "-f", help="What to print about OUT: auto (table on a terminal, else json), table or json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Nothing on stderr."),
) -> None:
    from ..api import SoftmaxConfig, write_softmax
    from ..readers import ReadOptions, read_class_names
    from ..report import softmax_table, softmax_to_dict

    with guard():
        check_choice("--format", fmt, ("auto", "table", "json"))
        out_fmt = resolve_format(fmt)
        read = ReadOptions(
            format_in=format_in,
            preds_key=preds_key,
            target_col=target_col,
            logit_cols=logit_cols,
            id_col=id_col,
            classes=read_class_names(classes),
            class_axis=class_axis,
        )
        cfg = SoftmaxConfig(
            output=output,
            log=log,
            temperature=temperature,
            force=force,
            wide=wide,
            float64=float64,
            chunk_rows=chunk_rows,
            workers=workers,
        )
        res = write_softmax(preds, read, cfg)
        info = softmax_to_dict(res, log, temperature)
        if out_fmt == "json":
            emit_json(info)
        else:
            stdout_console().print(softmax_table(info))
        what = "log-softmax" if log else "softmax"
        stderr_console(quiet).print(
            f"wrote {what} of {res.rows:,} row(s) x {res.classes} classes to {res.output}",
            markup=False,
        )

