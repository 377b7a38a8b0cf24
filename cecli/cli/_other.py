"""``cecli inspect``: what a file holds and how cecli would read it."""

from __future__ import annotations

from typing import Any

import typer

from . import app, emit_json, guard, resolve_format, stdout_console
from ._ce import check_choice


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
            from ..report import clean

            emit_json(clean(info))
        else:
            console = stdout_console()
            console.print(_table(info))
            if info.get("suggestion"):
                # one unwrapped, unstyled line: it is meant to be copied into a shell
                console.print(f"suggestion: {info['suggestion']}", soft_wrap=True, markup=False)


def _table(info: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table

    # paths, column names and keys are data, not markup: "logits[0]" must show as written
    t = Table(
        title=escape(f"cecli inspect · {info.get('path')}"), show_header=False, title_justify="left"
    )
    t.add_column("what", style="bold")
    t.add_column("value")
    for key in ("format", "size_bytes", "rows", "shape", "dtype", "classes", "target", "row_groups"):
        if info.get(key) is not None:
            t.add_row(key.replace("_", " "), escape(str(info[key])))
    names = info.get("class_names")
    if names:
        shown = ", ".join(map(str, names[:12])) + (" …" if len(names) > 12 else "")
        t.add_row("class names", escape(shown))
    parts: list[Any] = [t]
    cols = info.get("columns")
    if cols:
        ct = Table(title="columns", title_justify="left")
        for h in ("name", "dtype", "role"):
            ct.add_column(h)
        for c in cols[:60]:
            ct.add_row(escape(str(c.get("name"))), escape(str(c.get("dtype"))), str(c.get("role")))
        if len(cols) > 60:
            ct.caption = f"{len(cols) - 60} more columns in -f json"
        parts.append(ct)
    keys = info.get("keys")
    if keys:
        kt = Table(title="arrays", title_justify="left")
        for h in ("key", "shape", "dtype"):
            kt.add_column(h)
        for k in keys:
            name = escape(str(k.get("name", k.get("key"))))
            kt.add_row(name, str(k.get("shape")), str(k.get("dtype")))
        parts.append(kt)
    return Group(*parts)
