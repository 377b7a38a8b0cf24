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


class ProgressBar:
    """Rows, throughput and ETA on ``console``, shown only once a run has taken ``delay``
    seconds (a quick run prints nothing) and removed when done; a run's ``progress`` callback.
    The command line builds one when stderr is a terminal."""

    def __init__(self, console: Any, delay: float = 0.5) -> None:
        import time

        self.console = console
        self.delay = delay
        self.clock = time.monotonic
        self.started = self.clock()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            if self.clock() - self.started < self.delay:
                return
            self.bar = progress_display(self.console)
            self.bar.start()
            self.task = self.bar.add_task("rows", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
