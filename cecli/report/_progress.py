"""The progress display of a run: rows, a bar, percent, rows done, throughput and ETA."""

from __future__ import annotations

from typing import Any


def progress_display(console: Any) -> Any:
    """A transient rich ``Progress`` on ``console`` (the caller starts, updates, stops it)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RowsPerSecond(TextColumn):
        def __init__(self) -> None:
            super().__init__("")

        def render(self, task: Any) -> Any:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "", style="dim")

    columns = (TextColumn("rows"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn())
    return Progress(*columns, RowsPerSecond(), TimeRemainingColumn(), console=console, transient=True)
