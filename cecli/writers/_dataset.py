"""Parquet datasets of parts, written by many processes (the Dask engine's per-sample output)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np

from ..errors import OutputError
from ._place import RENAME_EXCHANGE, appeared, move_noreplace, reason, renameat2, write_atomic

MARKER = "_SUCCESS"
"""The completion marker of a dataset: written last, so its presence means every part is there."""


def part_name(index: int, width: int = 5) -> str:
    """``part-00000.parquet``: zero-padded so that path order is chunk order."""
    return f"part-{index:0{width}d}.parquet"


def write_part(path: str, columns: dict[str, np.ndarray]) -> None:
    """One Parquet part, written to a temporary file beside ``path`` and renamed over it: a
    retried task replaces its part (never adds a second one), and no reader sees half a part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def write(tmp: str) -> None:
        pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), tmp)

    write_atomic(path, write, True, "a part")


class DatasetWriter:
    """A Parquet dataset folder built in a temporary folder beside ``path``.

    Parts are written into :attr:`tmp` by whoever computes them (:func:`write_part`, under
    :meth:`part_path`); :meth:`commit` checks they are all there, writes the :data:`MARKER` last
    and renames the folder into place (an existing output is replaced only with ``force``), so a
    failed or interrupted run leaves nothing behind.
    """

    def __init__(self, path: str, force: bool = False) -> None:
        self.path = os.path.abspath(path.rstrip("/") or "/")
        self.force = force
        folder, base = os.path.split(self.path)
        # os.mkdir (not mkdtemp, whose folder is private) so the umask applies, as for mkdir
        self.tmp = os.path.join(folder, f".{base}.cecli-{os.urandom(6).hex()}.tmp")
        try:
            os.mkdir(self.tmp)
        except OSError as exc:
            raise OutputError(f"cannot write there ({exc.strerror})", file=path) from None
        self.done = False

    def part_path(self, index: int, width: int = 5) -> str:
        return os.path.join(self.tmp, part_name(index, width))

    def commit(self, parts: int, width: int, marker: dict[str, Any]) -> None:
        """Check that parts ``0 .. parts-1`` exist, write the marker, rename into place."""
        import json
        import shutil

        have = set(os.listdir(self.tmp))
        for stale in [n for n in have if n.startswith(".")]:  # a killed writer's temporary
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.tmp, stale))
        missing = [i for i in range(parts) if part_name(i, width) not in have]
        if missing:
            self.abort()
            raise OutputError(
                f"{len(missing)} of {parts} parts never arrived (first: "
                f"{part_name(missing[0], width)})",
                file=self.path,
                fix="the workers write -o themselves: give them a folder they share with "
                "this machine",
            )
        try:
            with open(os.path.join(self.tmp, MARKER), "w", encoding="utf-8") as fh:
                json.dump(marker, fh)
                fh.write("\n")
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write the output ({reason(exc)})", file=self.path) from None
        old = None
        try:
            if not self.force:
                move_noreplace(self.tmp, self.path)
            elif os.path.lexists(self.path) and renameat2(
                self.tmp, self.path, RENAME_EXCHANGE
            ):
                old = self.tmp  # the swap left the replaced output where the new one was
            else:
                if os.path.lexists(self.path):
                    old = self.tmp[: -len(".tmp")] + ".old"
                    os.rename(self.path, old)
                os.rename(self.tmp, self.path)
        except OSError as exc:
            if old is not None and not os.path.lexists(self.path):
                with contextlib.suppress(OSError):
                    os.rename(old, self.path)
                old = None
            self.abort()
            if isinstance(exc, FileExistsError) and not self.force:
                raise appeared(self.path) from None
            raise OutputError(f"cannot write the output ({reason(exc)})", file=self.path) from None
        except BaseException:
            self.abort()
            raise
        self.done = True
        if old is not None:
            if os.path.isdir(old) and not os.path.islink(old):
                shutil.rmtree(old, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(old)

    def abort(self) -> None:
        import shutil

        if not self.done:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.done = True
