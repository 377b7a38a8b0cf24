"""Per-sample outputs, chunk by chunk, to a temporary file moved into place on success.

A failed or interrupted run never leaves a partial file and never clobbers an existing one: the
data goes to ``.NAME.cecli-XXXX.tmp`` in the output's folder and is moved to ``NAME`` only by
:meth:`TableWriter.commit`. Without ``force`` that move never replaces a file: it is a
``renameat2(RENAME_NOREPLACE)`` (or a hard link, or a name reserved with ``O_EXCL``), so an
output someone else created while cecli ran is kept and the run fails with :class:`OutputError`;
with ``force`` it is an atomic replace. A write that fails (disk full, file too large) is an
:class:`OutputError` naming the file and the reason, and leaves no temporary file behind.
Several outputs of one run (``-o`` and ``--grad-output``) are committed by
:func:`commit_together`: all of them appear, or none does.

Outputs and inputs are compared by identity (device and inode, symlinks followed, so hard links
and other spellings of a path count), not by their text. CSV / TSV fields holding the delimiter,
a double quote, a carriage return or a newline are quoted RFC 4180 style (in double quotes, a
quote doubled), as Python's :mod:`csv` writer does in its default dialect (with
``delimiter="\t"`` for TSV); lines end with ``\n``. JSON Lines hold one object a row (NaN and inf
as null). ``-o -`` spools the rows to a temporary file and copies them to stdout once the run
succeeded (:class:`SpooledStdout`). pyarrow is imported only for Parquet.
"""

from __future__ import annotations

from ._dataset import MARKER, DatasetWriter, part_name, write_part
from ._files import ArrayWriter, TableWriter, commit_together, write_report
from ._paths import (
    OUTPUT_FORMATS,
    STDOUT_FORMATS,
    check_dataset_output,
    check_distinct,
    check_output,
    check_report,
    output_format,
    same_file,
)
from ._place import AtomicFile, SpooledStdout, move_noreplace, write_atomic, write_text

__all__ = [
    "MARKER",
    "OUTPUT_FORMATS",
    "STDOUT_FORMATS",
    "ArrayWriter",
    "AtomicFile",
    "DatasetWriter",
    "SpooledStdout",
    "TableWriter",
    "check_dataset_output",
    "check_distinct",
    "check_output",
    "check_report",
    "commit_together",
    "move_noreplace",
    "output_format",
    "part_name",
    "same_file",
    "write_atomic",
    "write_part",
    "write_report",
    "write_text",
]
