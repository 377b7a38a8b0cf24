"""One exception tree for everything a user can get wrong.

Every error carries where it happened (``file``, ``row``, ``column``, ``value``) and, where there
is one, a ``fix``. :meth:`CecliError.message` renders them as the single line the command line
prints after ``error: ``. The command line maps each class to an exit code in one place
(``cecli.cli``); the library raises them and prints nothing.

``DataError`` is also a ``ValueError`` and ``InputError`` an ``OSError``-free ``ValueError`` too,
so library users can keep catching the builtins they already catch (as pyarrow's
``ArrowInvalid(ValueError, ArrowException)`` does).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CecliError",
    "DataError",
    "EngineError",
    "InputError",
    "OutputError",
    "UsageError",
    "first_line",
]


def first_line(exc: BaseException) -> str:
    """What a library's exception says, on one line (its type when it says nothing), for an
    error message that quotes it."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class CecliError(Exception):
    """Base of every error cecli reports to a user (never a bug)."""

    def __init__(
        self,
        what: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
        fix: str | None = None,
        about: str | None = None,
    ) -> None:
        self.what = what
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        self.fix = fix
        self.about = about
        """``"preds"`` or ``"target"``: which input an error raised without a file concerns
        (the array layers know no files; the api attaches the right one)."""
        super().__init__(self.message())

    def message(self) -> str:
        """The one-line description: ``FILE: row R, column 'C': WHAT (value V); FIX``."""
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        head = self.file or ""
        if where:
            head = f"{head}: {', '.join(where)}" if head else ", ".join(where)
        text = f"{head}: {self.what}" if head else self.what
        if self.value is not None:
            text += f" (value {_show(self.value)})"
        if self.fix:
            text += f"; {self.fix}"
        return text

    def with_file(self, file: str) -> CecliError:
        """Attach a file name when the layer that raised did not know it."""
        if self.file is None:
            self.file = file
            self.args = (self.message(),)
        return self


class UsageError(CecliError, ValueError):
    """A bad option or combination of options (exit 2)."""


class InputError(CecliError, ValueError):
    """A file that cannot be read as asked: missing, unreadable, malformed, wrong format or
    missing column (exit 3)."""


class DataError(CecliError, ValueError):
    """Readable input whose values are wrong: shapes, row counts, labels out of range, unknown
    labels, non-finite predictions (exit 3)."""


class OutputError(CecliError, OSError):
    """An output that cannot or must not be written (exit 3)."""


class EngineError(CecliError):
    """A cluster that cannot run the work: the scheduler is unreachable or has no workers,
    the workers run another cecli version, a worker died (exit 3)."""
