"""The typer app, the exit codes and the one place errors become exit codes (:func:`guard`).

Every user mistake is a :class:`~cecli.errors.CecliError`, printed once as ``error: ...`` on
stderr and mapped to its exit code here, in :func:`guard`; anything else is a bug (exit 4, with
a traceback). stdout carries only the result.
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import typer
import typer.core

from .._version import __version__
from ..errors import CecliError, DataError, EngineError, InputError, OutputError, UsageError
from ..report.terminal import argument_help, help_text, literal, panel_rank, usage_line


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


class _Commands(typer.core.TyperGroup):
    """The command group: every command runs inside :func:`guard`; a usage error of the option
    parser (an unknown option or command, a missing argument or value, a choice not offered,
    a number that is not one) is one ``error:`` line naming it and the help to read, exit 2.
    Each command's help lists its options panel by panel (``HELP_PANELS``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            command.params.sort(key=panel_rank)
            command.help = literal(help_text(command.help or ""))
            # click >= 8.5 drops the help typer gives an argument: put the declared one back
            declared = argument_help(getattr(command.callback, "__wrapped__", lambda: None))
            for param in command.params:
                param.help = literal(getattr(param, "help", None) or declared.get(param.name or ""))

    def invoke(self, ctx: Any) -> Any:
        with guard():
            return super().invoke(ctx)

    def main(self, *args: Any, **extra: Any) -> Any:
        standalone = extra.pop("standalone_mode", True)
        try:
            code = super().main(*args, **{**extra, "standalone_mode": False})
        except SystemExit as exc:  # rich's exit on a closed pipe (`--help | head -1`): quiet, 0
            if exc.code != 1 or not _stdout_is_devnull():
                raise
            code = ExitCode.OK
        except _ClickError as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # its help is already printed
                argv = extra.get("args", args[0] if args else None) or sys.argv[1:]
                named = ["cecli", *(a for a in argv if a in self.commands)][:2]
                path = exc.ctx.command_path if exc.ctx else " ".join(named)  # some have no ctx
                sys.stderr.write(f"error: {usage_line(exc.format_message(), path)}\n")
            code = ExitCode.USAGE
        except typer.Abort:  # end of input at a prompt: nothing to run
            code = ExitCode.INTERRUPTED
        return code if not standalone else sys.exit(int(code or 0))


#: click's base exception (typer re-exports only its subclasses: BadParameter is a UsageError)
_ClickError: Any = typer.BadParameter.__mro__[2]


app = typer.Typer(
    name="cecli",
    cls=_Commands,
    pretty_exceptions_enable=False,
    help=(
        "Cross-entropy losses of saved predictions, with exactly PyTorch's semantics.\n\n"
        "Example: cecli ce preds.csv -f value"
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",  # help in rich panels, as wide as the terminal
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


def _stdout_is_devnull() -> bool:
    with contextlib.suppress(OSError, ValueError):
        return os.path.samestat(os.fstat(sys.stdout.fileno()), os.stat(os.devnull))
    return False


def _quiet_pipe() -> None:
    # The reader went away (`cecli ... | head -1`): point stdout at /dev/null so the interpreter's
    # final flush does not complain, and end quietly.
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


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
