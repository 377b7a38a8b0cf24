"""``cecli inspect``: what a file holds and how cecli would read it."""

from __future__ import annotations

import typer

from ._app import app, guard
from ._ce import check_choice
from ._console import emit_json, resolve_format, stdout_console


@app.command(
    "inspect",
    no_args_is_help=True,
    help=(
        "What a file holds and how cecli would read it: format, rows, columns and dtypes, which "
        "columns are logits / target / ids, class names, row groups, and the command to run.\n\n"
        "Example:\n\n  cecli inspect preds.parquet -f json | jq .suggestion"
    ),
)
def inspect(
    path: str = typer.Argument(..., help="A file (.npy .npz .csv .tsv .parquet .txt), directory or glob."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, table or json."),
    format_in: str | None = typer.Option(None, "--format-in", help="Input format when the extension does not tell."),
    target_col: str | None = typer.Option(None, "--target-col", help="Target column."),
    logit_cols: str | None = typer.Option(None, "--logit-cols", help="Logit columns: a comma list or a glob."),
    id_col: str | None = typer.Option(None, "--id-col", help="Id column."),
    sample_weight_col: str | None = typer.Option(None, "--sample-weight-col", help="A per-sample weight column."),
    classes: str | None = typer.Option(None, "--classes", help="Class names: a,b,c or a file."),
    class_axis: int = typer.Option(1, "--class-axis", help="Class axis of arrays: 1 or -1."),
) -> None:
    from ..readers import ReadOptions, inspect_file, read_class_names
    from ..report import clean, inspect_table

    with guard():
        check_choice("--format", fmt, ("auto", "table", "json"))
        read = ReadOptions(
            format_in=format_in,
            target_col=target_col,
            logit_cols=logit_cols,
            id_col=id_col,
            sample_weight_col=sample_weight_col,
            classes=read_class_names(classes),
            class_axis=class_axis,
        )
        info = inspect_file(path, read)
        if resolve_format(fmt) == "json":
            emit_json(clean(info))
        else:
            console = stdout_console()
            console.print(inspect_table(info))
            if info.get("suggestion"):
                # one unwrapped, unstyled line: it is meant to be copied into a shell
                console.print(f"suggestion: {info['suggestion']}", soft_wrap=True, markup=False)

