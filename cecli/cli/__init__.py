"""The command line: argv -> specs -> api -> report -> stdout.

:mod:`._app` holds the typer app, the exit codes and the error -> exit mapping; :mod:`._options`
declares each shared option once; :mod:`._console` owns stdout / stderr and progress; each
command is a plain function in a module of its own (``_ce``: ce and nll, ``_bce``, ``_compare``,
``_softmax``, ``_inspect``, ``_explain``, ``_report``), registered on import.

The console script registers only the command it runs (typer builds the parser of every
registered command, ~50 options each, before it parses argv: ~10 ms a command); ``app`` taken
from this package has every command.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from . import _app
from ._app import ExitCode

if TYPE_CHECKING:
    from ._app import app

COMMANDS = {"ce": "_ce", "nll": "_ce", "bce": "_bce", "compare": "_compare", "explain": "_explain", "inspect": "_inspect", "report": "_report", "softmax": "_softmax"}  # fmt: skip
_ORDER = ("_bce", "_ce", "_compare", "_explain", "_inspect", "_report", "_softmax")  # --help's

__all__ = ["COMMANDS", "ExitCode", "app", "main", "register"]


def register(name: str = "") -> Any:
    """Import command ``name``'s module, or every command's when it names none (help,
    ``--version``, a misspelt command, shell completion); the app."""
    for module in (COMMANDS[name],) if name in COMMANDS else _ORDER:
        importlib.import_module(f".{module}", __name__)
    return _app.app


def main() -> None:
    """Console-script entry point: :func:`._app.main` with only the command it runs (``nll``,
    which shares ``ce``'s module, set aside for a ``ce`` run, and the reverse)."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    app = register(name)
    every = list(app.registered_commands)
    if name in COMMANDS:
        app.registered_commands[:] = [c for c in every if c.name == name]
    try:
        _app.main()
    finally:
        app.registered_commands[:] = every


def __getattr__(name: str) -> Any:
    if name == "app":  # for the library and tests: the app with every command
        return register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
