"""What a command can print: the ``--format`` choices (typer takes these enums as choice types).

Importing this module is cheap (no NumPy, no rich), so the command line can declare its options
with it at start-up.
"""

from __future__ import annotations

import enum

__all__ = ["Format", "InfoFormat"]


class _Choice(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)


class Format(_Choice):
    """How a result is printed: ``auto`` is a table on a terminal and JSON otherwise; ``value``
    is the bare number (one per line for ``--reduction none``); ``tsv`` / ``csv`` a header
    and a line of values (a second section for the per-class table), or with ``--reduction
    none`` the per-row table (``jsonl`` too); ``markdown`` a GitHub-flavoured table for
    ``$GITHUB_STEP_SUMMARY`` and PR comments."""

    AUTO = "auto"
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    TSV = "tsv"
    CSV = "csv"
    MARKDOWN = "markdown"
    VALUE = "value"

    def resolve(self, terminal: bool) -> Format:
        """``auto`` made concrete for an output that is (or is not) a terminal."""
        if self is Format.AUTO:
            return Format.TABLE if terminal else Format.JSON
        return self


class InfoFormat(_Choice):
    """How ``inspect`` and ``softmax`` describe a file: a table or JSON (``auto`` as above)."""

    AUTO = "auto"
    TABLE = "table"
    JSON = "json"

    def resolve(self, terminal: bool) -> InfoFormat:
        if self is InfoFormat.AUTO:
            return InfoFormat.TABLE if terminal else InfoFormat.JSON
        return self
