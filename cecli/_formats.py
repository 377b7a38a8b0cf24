"""The file formats cecli reads, by name: one declaration for the readers (which detect and
check them) and the command line (``--format-in`` / ``--targets-format`` are choices of it, so
click validates them and shell completion offers them). Importing this module is cheap."""

from __future__ import annotations

import enum

__all__ = ["DataFormat"]


class DataFormat(str, enum.Enum):
    """A format a PREDS or TARGETS file can be read as (``txt``: one label per line)."""

    NPY = "npy"
    NPZ = "npz"
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"
    JSONL = "jsonl"
    ARROW = "arrow"
    TXT = "txt"

    def __str__(self) -> str:
        return str(self.value)
