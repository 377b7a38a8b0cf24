"""stdout and stderr: the result on stdout, warnings, verdicts and progress on stderr."""

from __future__ import annotations

import sys
from typing import Any

import typer

from ._app import ExitCode


def stderr_console(quiet: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=True, quiet=quiet, highlight=False, soft_wrap=True)


def stdout_console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def emit(lines: list[str]) -> None:
    """Write result lines to stdout (and flush, so a closed pipe is noticed here)."""
    out = sys.stdout
    for i in range(0, len(lines), 4096):
        out.write("\n".join(lines[i : i + 4096]) + "\n")
    out.flush()


def emit_json(obj: dict[str, Any]) -> None:
    import json  # only for -f json (~2 ms of a run's start-up)

    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
    sys.stdout.flush()


def on_terminal() -> bool:
    """Whether stdout is a terminal (``--format auto`` then means a table)."""
    return sys.stdout.isatty()


def show(out: list[str] | Any) -> None:
    """Lines as they are; a rich renderable through a console (a table)."""
    if isinstance(out, list):
        emit(out)
    else:
        stdout_console().print(out)


def finish(
    command: str, fmt: Any, result: Any, checks: list[dict[str, Any]], quiet: bool, junit: str | None = None
) -> None:
    """Write ``--junit``, print a result in ``fmt`` on stdout, its warnings and the gates' verdicts
    on stderr, and exit 1 when a check failed. The same for every command that computes a loss."""
    from ..report import check_verdict, checks_failed, junit_xml, render

    if junit is not None:
        from ..writers import write_report  # checks the path again: compare's first check
        write_report(junit, junit_xml(result, checks, command))
    show(render(result, fmt, checks))
    shown = result.warnings if fmt != "table" else []  # the table shows its warnings itself
    if shown or checks:  # rich is imported only when there is something to say
        err = stderr_console(quiet)
        for w in shown:
            err.print(f"warning: {w}", markup=False)
        for check in checks:
            err.print(check_verdict(command, check), markup=False)
    if checks_failed(checks):
        raise typer.Exit(int(ExitCode.CHECK_FAILED))


def progress_bar(quiet: bool) -> Any:
    """A progress bar when stderr is a terminal (never in a pipe, never with --quiet)."""
    if quiet or not sys.stderr.isatty():
        return None
    from ..report import ProgressBar

    return ProgressBar(stderr_console())
