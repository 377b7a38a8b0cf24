"""Options shared by several commands, declared once (typer reads ``Annotated`` metadata).

A command writes ``weight: opt.Weight = None``; its default stays in its own signature, so
``nll`` can default ``--input`` to ``logprobs`` with the same declaration as ``ce``.
"""

from __future__ import annotations

from typing import Annotated

import typer

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
        help="Input format when the extension does not tell (or for stdin): "
        "npy, npz, csv, tsv, parquet.",
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
    str, typer.Option("--input", help="What PREDS hold: logits, probs or logprobs.")
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
TopK = Annotated[int, typer.Option("--top-k", help="Also report top-k accuracy.")]
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
    typer.Option("--grad-output", help="Write d(loss)/d(predictions), as loss.backward() gives it."),
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
