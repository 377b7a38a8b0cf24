"""The command line: argv -> specs -> api -> report -> stdout.

:mod:`._app` holds the typer app, the exit codes and the error -> exit mapping; :mod:`._options`
declares each shared option once; :mod:`._console` owns stdout / stderr and progress; each
command is a plain function in a module of its own (``_ce``: ce and nll, ``_bce``, ``_compare``,
``_softmax``, ``_inspect``, ``_explain``, ``_report``), registered on import.
"""

from __future__ import annotations

from . import _bce as _bce
from . import _ce as _ce
from . import _compare as _compare
from . import _explain as _explain
from . import _inspect as _inspect
from . import _report as _report
from . import _softmax as _softmax
from ._app import ExitCode, app, main

__all__ = ["ExitCode", "app", "main"]
