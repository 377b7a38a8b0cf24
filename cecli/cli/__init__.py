"""The command line: argv -> api -> report -> stdout. Owns the consoles and the exit codes.

Every user mistake is a :class:`~cecli.errors.CecliError`, printed once as ``error: ...`` on
stderr and mapped to its exit code here, in :func:`guard`; anything else is a bug (exit 4, with
a traceback). stdout carries only the result.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import typer

from .._version import __version__
from ..errors import CecliError, DataError, EngineError, InputError, OutputError, UsageError


class ExitCode(enum.IntEnum):
    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    INPUT = 3
    INTERNAL = 4
    INTERRUPTED = 130
    TERMINATED = 143


EXIT_FOR: dict[type[CecliError], ExitCode] = {
    UsageError: ExitCode.USAGE,
    InputError: ExitCode.INPUT,
    DataError: ExitCode.INPUT,
    OutputError: ExitCode.INPUT,
    EngineError: ExitCode.INPUT,
}

app = typer.Typer(
    name="cecli",
    pretty_exceptions_enable=False,
    help=(
        "Cross-entropy losses of saved predictions, with exactly PyTorch's semantics.\n\n"
        "Example: cecli ce preds.csv -f value"
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Terminated(BaseException):
    """SIGTERM, turned into an exception so outputs are cleaned up like on Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> NoReturn:
    raise Terminated()


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"cecli {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Cross-entropy losses of saved predictions, with exactly PyTorch's semantics."""


def stderr_console(quiet: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=True, quiet=quiet, highlight=False, soft_wrap=True)


def stdout_console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def fail(message: str, code: ExitCode) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise typer.Exit(int(code))


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Map errors to exit codes: the single place where that happens."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except CecliError as exc:
        fail(exc.message(), EXIT_FOR.get(type(exc), _code_of(exc)))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except Terminated:
        raise typer.Exit(int(ExitCode.TERMINATED)) from None
    except BrokenPipeError:
        _quiet_pipe()
        raise typer.Exit(int(ExitCode.OK)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _code_of(exc: CecliError) -> ExitCode:
    for cls, code in EXIT_FOR.items():
        if isinstance(exc, cls):
            return code
    return ExitCode.INPUT


def _quiet_pipe() -> None:
    # The reader went away (`cecli ... | head -1`): point stdout at /dev/null so the interpreter's
    # final flush does not complain, and end quietly.
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def emit(lines: list[str]) -> None:
    """Write result lines to stdout (and flush, so a closed pipe is noticed here)."""
    out = sys.stdout
    for i in range(0, len(lines), 4096):
        out.write("\n".join(lines[i : i + 4096]) + "\n")
    out.flush()


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
    sys.stdout.flush()


def resolve_format(fmt: str) -> str:
    if fmt == "auto":
        return "table" if sys.stdout.isatty() else "json"
    return fmt


def main() -> None:
    """Console-script entry point.

    User mistakes were mapped to their codes in :func:`guard`; what reaches here is a bug, which
    exits 4 after its traceback (the only case that shows one).
    """
    signal.signal(signal.SIGTERM, _on_sigterm)  # 143, not -15, from the start (issue 12)
    try:
        app()
    except Terminated:  # SIGTERM outside a command body
        sys.exit(int(ExitCode.TERMINATED))
    except BrokenPipeError:  # a pipe closed during typer's own output (e.g. --help | head -1)
        _quiet_pipe()
        sys.exit(int(ExitCode.OK))
    except KeyboardInterrupt:  # Ctrl-C outside a command body (argument parsing, imports)
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception:  # not an error mapper: whatever reaches here is a bug (exit 4)
        import traceback

        traceback.print_exc()
        sys.stderr.write(
            "error: internal error (a bug in cecli); please report it with the traceback above\n"
        )
        sys.exit(int(ExitCode.INTERNAL))


# Commands register themselves on import (kept in modules of their own).
from . import _bce as _bce  # noqa: E402
from . import _ce as _ce  # noqa: E402
from . import _compare as _compare  # noqa: E402
from . import _other as _other  # noqa: E402
from . import _softmax as _softmax  # noqa: E402
