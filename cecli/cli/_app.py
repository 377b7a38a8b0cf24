"""The typer app, the exit codes and the one place errors become exit codes (:func:`guard`).

Every user mistake is a :class:`~cecli.errors.CecliError`, printed once as ``error: ...`` on
stderr and mapped to its exit code here, in :func:`guard`; anything else is a bug (exit 4, with
a traceback). stdout carries only the result.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import typer
import typer.core

from .._version import __version__
from ..errors import CecliError, DataError, EngineError, InputError, OutputError, UsageError
from ._options import PANELS


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
    """The command group: every command runs inside :func:`guard`, and a value typer itself
    rejects (a choice not offered, a number that is not one) is one ``error:`` line, exit 2,
    like every other usage error. Each command's help lists its options panel by panel, in
    the order of :data:`~._options.PANELS`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            _restore_argument_help(command)
            command.params.sort(key=panel_rank)

    def invoke(self, ctx: Any) -> Any:
        with guard():
            return super().invoke(ctx)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """click's ``main``, but a usage error of the option parser (an unknown option or
        command, a missing argument or value, a choice not offered, a number that is not one)
        is one ``error:`` line naming the option, with the ``--help`` to read, exit 2."""
        piped = _stdout_id()
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except SystemExit as exc:
            # rich, printing help or a table into a pipe the reader closed (`| head -1`), points
            # stdout at /dev/null and exits 1; a closed pipe ends quietly with 0 here
            if exc.code != 1 or _stdout_id() == piped or _stdout_id() != _devnull_id():
                raise
            code = ExitCode.OK
        except _ClickError as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # its help is already printed
                argv = sys.argv[1:] if args is None else list(args)
                name = next((a for a in argv if a in self.commands), None)
                error_line(usage_message(exc, f"cecli {name}" if name else "cecli"))
            code = ExitCode.USAGE
        except typer.Abort:  # end of input at a prompt: nothing to run
            code = ExitCode.INTERRUPTED
        if not standalone_mode:
            return code
        sys.exit(int(code or 0))


#: click's base exception (typer re-exports only its subclasses: BadParameter is a UsageError)
_ClickError: type[Exception] = typer.BadParameter.__mro__[2]


def usage_message(exc: Any, command: str) -> str:
    """``no such option '--bogus'; see 'cecli ce --help'``: click's message, lower-cased as
    cecli's own errors are, its suggestion in parentheses, then the help of the command
    (``command``, when click does not say which: it gives some errors no context)."""
    message = str(exc.format_message()).strip().rstrip(".")
    message = re.sub(r"\.? \(?(Did you mean .*\?)\)?$", lambda m: f" (d{m.group(1)[1:]})", message)
    if message[:2].istitle():
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    return f"{message}; see '{ctx.command_path if ctx is not None else command} --help'"


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


def help_text(text: str) -> str:
    """A command's help for rich's panels: each prose paragraph on one line (rich wraps it to
    the terminal), a paragraph that starts with ``\\b`` (examples) kept line by line."""
    out = []
    for para in text.strip().split("\n\n"):
        if para.startswith("\b"):
            out.append(para[1:].strip("\n"))
        else:
            out.append(" ".join(line.strip() for line in para.splitlines()))
    return "\n\n".join(out)


def panel_rank(param: Any) -> int:
    """Where an option's help panel comes in a command's help (the arguments first)."""
    panel = getattr(param, "rich_help_panel", None)
    return PANELS.index(panel) if panel in PANELS else -1 if panel is None else len(PANELS)


def _restore_argument_help(command: Any) -> None:
    # click >= 8.5 resets the help text typer gives an argument; it is read back from the
    # command's declaration (typer's own parameter info), so PREDS and TARGETS keep theirs
    from typer.utils import get_params_from_function

    callback = getattr(command.callback, "__wrapped__", None)
    if callback is None:
        return
    declared = get_params_from_function(callback)
    for param in command.params:
        info = declared.get(param.name)
        if isinstance(param, typer.core.TyperArgument) and param.help is None and info:
            param.help = getattr(info.default, "help", None)


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


def error_line(message: str) -> None:
    """The one line every error prints on stderr."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def fail(message: str, code: ExitCode) -> NoReturn:
    error_line(message)
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


def _stdout_id() -> tuple[int, int] | None:
    with contextlib.suppress(OSError):
        st = os.fstat(sys.stdout.fileno())
        return st.st_dev, st.st_ino
    return None


def _devnull_id() -> tuple[int, int]:
    st = os.stat(os.devnull)
    return st.st_dev, st.st_ino


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
