"""Options shared by several commands, declared once (typer reads ``Annotated`` metadata).

A command writes ``weight: opt.Weight = None``; its default stays in its own signature, so
``nll`` can default ``--input`` to ``logprobs`` with the same declaration as ``ce``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from . import ExitCode, emit, emit_json, stderr_console, stdout_console

# -- inputs -------------------------------------------------------------------------------------
Preds = Annotated[
    str,
    typer.Argument(
        help="Predictions: .npy .npz .csv .tsv .parquet, a directory or glob of Parquet, "
        "or - for stdin."
    ),
]
Targets = Annotated[
    str | None,
    typer.Argument(help="Targets, when not a column / key of PREDS: .npy .csv .parquet .txt."),
]
TargetCol = Annotated[
    str | None,
    typer.Option("--target-col", help="Target column (default: target, targets, label, labels or y)."),
]
LogitCols = Annotated[
    str | None,
    typer.Option("--logit-cols", help="Prediction columns: a comma list or a glob like 'logit_*'."),
]
NoHeader = Annotated[
    bool,
    typer.Option(
        "--no-header",
        help="CSV/TSV without a header row (np.savetxt): columns are positions 0, 1, ...; every "
        "column is a logit unless --target-col N (0-based) names the labels, or give TARGETS.",
    ),
]
IdCol = Annotated[str | None, typer.Option("--id-col", help="An id column carried into -o output.")]
SampleWeightCol = Annotated[
    str | None, typer.Option("--sample-weight-col", help="A per-sample weight column.")
]
GroupCol = Annotated[
    str | None,
    typer.Option("--group-col", help="Resample whole groups (sequences, documents) in --ci."),
]
Classes = Annotated[
    str | None,
    typer.Option("--classes", help="Class names for string labels: a,b,c or a file, one per line."),
]
ClassAxis = Annotated[
    int,
    typer.Option(
        "--class-axis", help="The class axis of NPY/NPZ arrays: 1 (torch) or -1 (batch, seq, vocab)."
    ),
]
FormatIn = Annotated[
    str | None,
    typer.Option(
        "--format-in",
        help="PREDS's format when the extension does not tell: npy, npz, csv, tsv, parquet "
        "(stdin '-' is sniffed from its first bytes: NPY, Parquet, NPZ, gzip, else text).",
    ),
]
TargetsFormat = Annotated[
    str | None,
    typer.Option(
        "--targets-format",
        help="TARGETS's format when the extension does not tell: npy, npz, csv, tsv, parquet, "
        "txt (one label per line); stdin '-' is sniffed, e.g. cat labels.txt | cecli ce preds.csv -.",
    ),
]
PredsKey = Annotated[
    str | None,
    typer.Option("--preds-key", help="NPZ key of the predictions (default: logits, else the only array)."),
]
TargetKey = Annotated[str | None, typer.Option("--target-key", help="NPZ key of the targets.")]

# -- the loss -----------------------------------------------------------------------------------
Weight = Annotated[
    str | None,
    typer.Option("--weight", "-w", help="Class weights: a comma list (1,2,0.5) or a file of C values."),
]
IgnoreIndex = Annotated[
    int,
    typer.Option("--ignore-index", help="Targets equal to this contribute nothing (torch's ignore_index)."),
]
LabelSmoothing = Annotated[
    float, typer.Option("--label-smoothing", help="Label smoothing in [0, 1].")
]
InputKind = Annotated[
    str,
    typer.Option(
        "--input", help="What PREDS hold: logits, probs (as sklearn's log_loss) or logprobs."
    ),
]
TargetKind = Annotated[
    str,
    typer.Option(
        "--targets", help="auto, index or probs (auto: the predictions' shape means probabilities)."
    ),
]
Float64 = Annotated[bool, typer.Option("--float64", help="Compute everything in float64.")]
Nonfinite = Annotated[
    str,
    typer.Option("--nonfinite", help="error (default) or propagate (NaN flows through, as torch)."),
]

# -- measures -----------------------------------------------------------------------------------
TopK = Annotated[
    int,
    typer.Option(
        "--top-k",
        help="Also report top-k accuracy (ties favour the target: it counts when fewer than K "
        "classes score strictly higher).",
    ),
]
Ece = Annotated[bool, typer.Option("--ece", help="Expected calibration error (15 bins).")]
EceBins = Annotated[int, typer.Option("--ece-bins", help="Expected calibration error with N bins.")]
Bootstrap = Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates for --ci.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap (in the signature).")]

# -- output and gates ---------------------------------------------------------------------------
Format = Annotated[
    str,
    typer.Option(
        "--format", "-f", help="auto (table on a terminal, else json), table, json, tsv or value."
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Replace existing output files.")]
GradOutput = Annotated[
    str | None,
    typer.Option(
        "--grad-output",
        help="Write d(loss)/d(predictions), as loss.backward() gives it (except: an ignored "
        "row whose logits hold NaN/inf gets 0 here, NaN in torch).",
    ),
]
FailAbove = Annotated[
    float | None, typer.Option("--fail-above", help="Exit 1 when the loss is above this (or NaN).")
]
Baseline = Annotated[
    str | None,
    typer.Option("--baseline", help="A JSON result to compare against (same settings)."),
]
MaxIncrease = Annotated[
    float | None,
    typer.Option(
        "--max-increase", help="With --baseline: exit 1 when the loss exceeds it by more than this."
    ),
]
Relative = Annotated[
    bool, typer.Option("--relative", help="--max-increase is a fraction of the baseline.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No warnings or verdicts on stderr.")]

# -- running ------------------------------------------------------------------------------------
ChunkRows = Annotated[
    int | None,
    typer.Option("--chunk-rows", help="Rows per chunk (default: about 16 MiB of predictions)."),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Threads over chunks (default: the number of cores); with --engine dask, the "
        "local cluster's worker processes (default 2).",
    ),
]
Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        envvar="CECLI_ENGINE",
        help="local (threads) or dask (a Dask cluster; pip install 'cecli[dask]').",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="With --engine dask: the scheduler's address (default: DASK_SCHEDULER_ADDRESS, "
        "else a local cluster).",
    ),
]


def finish(
    command: str,
    out_fmt: str,
    *,
    to_json: Callable[[], dict[str, Any]],
    value: Callable[[], list[str]],
    tsv: Callable[[], list[str]],
    table: Callable[[], Any],
    warnings: list[str],
    checks: list[dict[str, Any]],
    quiet: bool,
) -> None:
    """Print a result in ``out_fmt`` on stdout, warnings and verdicts on stderr, and exit 1 when
    a check failed. The same for every command that computes a loss."""
    from ..report import check_verdict

    if out_fmt == "json":
        emit_json(to_json())
    elif out_fmt == "value":
        emit(value())
    elif out_fmt == "tsv":
        emit(tsv())
    else:
        stdout_console().print(table())
    shown = warnings if out_fmt != "table" else []  # the table shows its warnings itself
    if shown or checks:  # rich is imported only when there is something to say
        err = stderr_console(quiet)
        for w in shown:
            err.print(f"warning: {w}", markup=False)
        for check in checks:
            err.print(check_verdict(command, check), markup=False)
    if any(not c["passed"] for c in checks):
        raise typer.Exit(int(ExitCode.CHECK_FAILED))


class ProgressBar:
    """Rows, throughput and ETA on stderr, shown only once a run has taken ``delay`` seconds
    (a quick run prints nothing) and removed when done. Build it with :func:`progress_bar`."""

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
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            class RowsPerSecond(TextColumn):
                def __init__(self) -> None:
                    super().__init__("")

                def render(self, task: Any) -> Any:
                    from rich.text import Text

                    speed = task.finished_speed or task.speed
                    return Text(f"{speed:,.0f} rows/s" if speed else "", style="dim")

            self.bar = Progress(
                TextColumn("rows"),
                BarColumn(),
                TaskProgressColumn(),
                MofNCompleteColumn(),
                RowsPerSecond(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("rows", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def progress_bar(quiet: bool) -> ProgressBar | None:
    """A progress bar when stderr is a terminal (never in a pipe, never with --quiet)."""
    import sys

    if quiet or not sys.stderr.isatty():
        return None
    return ProgressBar(stderr_console())
