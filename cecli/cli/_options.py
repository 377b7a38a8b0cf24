"""Every option of the command line, declared once (typer reads ``Annotated`` metadata).

One line per option, here and in a command's signature (``weight: opt.Weight = None``). Choice
options are typed with the library's enums (typer validates and completes their values) and
commands take their defaults from the library's constants, so neither is written twice. A
default stays in the command's signature: ``nll`` defaults ``--input`` to ``logprobs`` with the
same declaration as ``ce``. A help text that differs by command says so in parentheses.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import typer

from .._formats import DataFormat
from ..api import spec as run_spec
from ..core import spec as loss_spec
from ..report import formats, terminal

F = TypeVar("F", bound=Callable[..., Any])

# Each option is shown in the help panel of its section
_inputs, _loss, _measures, _gates, _output, _engine = (
    functools.partial(typer.Option, rich_help_panel=panel) for panel in terminal.HELP_PANELS
)

# -- inputs -------------------------------------------------------------------------------------
_FILES = ".npy .npz .csv .tsv .parquet, a directory or glob of Parquet, or - for stdin"
Preds = Annotated[str, typer.Argument(help=f"Predictions (logits, probabilities or log-probabilities; with the targets as a column or NPZ key, or give TARGETS): {_FILES}.", show_default=False)]
PredsA = Annotated[str, typer.Argument(help="Predictions of model A (the reference).")]
PredsB = Annotated[str, typer.Argument(help="Predictions of model B (the candidate).")]
Logits = Annotated[str, typer.Argument(help=f"Logits: {_FILES}.")]
Targets = Annotated[str | None, typer.Argument(help="Targets, when not a column / key of PREDS: .npy .csv .parquet .txt.")]
InspectPath = Annotated[str, typer.Argument(help="A file (.npy .npz .csv .tsv .parquet .txt), directory or glob.")]
TargetCol = Annotated[str | None, _inputs("--target-col", help="Target column (default: target, targets, label, labels or y).")]
TargetCols = Annotated[str | None, _inputs("--target-cols", help="Several target columns, one per label: a,b,c (multi-label).")]
LogitCols = Annotated[str | None, _inputs("--logit-cols", help="Prediction columns: a comma list or a glob like 'logit_*'.")]
NoHeader = Annotated[bool, _inputs("--no-header", help="CSV/TSV without a header row (np.savetxt): columns are positions 0, 1, ...; every column is a logit unless --target-col N (0-based) names the labels, or give TARGETS.")]
IdCol = Annotated[str | None, _inputs("--id-col", help="An id column, carried into -o output (compare: both files must carry the same ids in the same order).")]
SampleWeightCol = Annotated[str | None, _inputs("--sample-weight-col", help="A per-sample weight column.")]
GroupCol = Annotated[str | None, _inputs("--group-col", help="Resample whole groups (sequences, documents) in --ci; with --input target-logprobs, a table per group.")]
BytesCol = Annotated[str | None, _inputs("--bytes-col", help="With --input target-logprobs: the bytes of each token (or document) column; adds bits per byte.")]
Classes = Annotated[str | None, _inputs("--classes", help="Class (or label) names: a,b,c or a file, one per line.")]
ClassAxis = Annotated[int, _inputs("--class-axis", help="The class axis of NPY/NPZ arrays: 1 (torch) or -1 (batch, seq, vocab).")]
_DATA_FORMATS = ", ".join(f.value for f in DataFormat)
FormatIn = Annotated[DataFormat | None, _inputs("--format-in", case_sensitive=False, metavar="FORMAT", help=f"PREDS's format when the extension does not tell: {_DATA_FORMATS} (stdin '-' is sniffed from its first bytes: NPY, Parquet, NPZ, gzip, else text).")]
TargetsFormat = Annotated[DataFormat | None, _inputs("--targets-format", case_sensitive=False, metavar="FORMAT", help=f"TARGETS's format when the extension does not tell: {_DATA_FORMATS} (txt: one label per line); stdin '-' is sniffed, e.g. cat labels.txt | cecli COMMAND preds.csv -.")]
PredsKey = Annotated[str | None, _inputs("--preds-key", help="NPZ key of the predictions (default: logits, else the only array).")]
TargetKey = Annotated[str | None, _inputs("--target-key", help="NPZ key of the targets.")]

# -- the loss -----------------------------------------------------------------------------------
Weight = Annotated[str | None, _loss("--weight", "-w", help="Class weights (bce: per label, broadcast): a comma list (1,2,0.5) or a file of C values.")]
PosWeight = Annotated[str | None, _loss("--pos-weight", help="Weight of positives: one value, or one per label (comma list or file).")]
IgnoreIndex = Annotated[int, _loss("--ignore-index", help="Targets equal to this contribute nothing (torch's ignore_index).")]
Reduction = Annotated[loss_spec.Reduction, _loss("--reduction", "-r", help="mean, sum or none (bce: over all elements).")]
LabelSmoothing = Annotated[float, _loss("--label-smoothing", help="Label smoothing in [0, 1].")]
_INPUT = "What PREDS hold: logits, probs (as sklearn's log_loss), logprobs, or target-logprobs (each token's log-probability only; bce: logits or probs)."
InputKind = Annotated[loss_spec.InputKind, _loss("--input", metavar="KIND", help=_INPUT)]
LossInputKind = Annotated[loss_spec.InputKind | None, _loss("--input", metavar="KIND", help=_INPUT, show_default="logits; nll: logprobs")]
TargetKind = Annotated[loss_spec.TargetKind, _loss("--targets", help="auto, index or probs (auto: the predictions' shape means probabilities).")]
Float64 = Annotated[bool, _loss("--float64", help="Compute everything in float64.")]
Nonfinite = Annotated[loss_spec.Nonfinite, _loss("--nonfinite", help="error (default) or propagate (NaN / inf flow through, as torch).")]

# -- measures -----------------------------------------------------------------------------------
TopK = Annotated[int, _measures("--top-k", help="Also report top-k accuracy (ties favour the target: it counts when fewer than K classes score strictly higher).")]
PerClass = Annotated[bool, _measures("--per-class", help="A per-class breakdown (bce: per label).")]
Ece = Annotated[bool, _measures("--ece", help="Expected calibration error (15 bins; bce: per label and pooled).")]
Threshold = Annotated[float | None, _measures("--threshold", help="Decision threshold of accuracy (default: 0 on logits, 0.5 on probabilities).", show_default=False)]
EceBins = Annotated[int | None, _measures("--ece-bins", min=1, help="Expected calibration error with N bins (at least 1).", show_default=False)]
Ci = Annotated[float | None, _measures("--ci", help="Bootstrap confidence interval (compare: of the delta) at this level, e.g. 0.95.")]
Bootstrap = Annotated[int, _measures("--bootstrap", help="Bootstrap replicates for --ci.")]
Seed = Annotated[int, _measures("--seed", help="Seed of the bootstrap (in the signature).")]

# -- output -------------------------------------------------------------------------------------
Format = Annotated[formats.Format, _output("--format", "-f", metavar="FORMAT", help="auto (table on a terminal, else json), table, json, jsonl, tsv, csv, markdown (for $GITHUB_STEP_SUMMARY) or value (the bare loss; compare: the delta). With --reduction none, tsv / csv / jsonl print one row per position (id, target, loss).")]
InfoFormat = Annotated[formats.InfoFormat, _output("--format", "-f", help="auto (table on a terminal, else json), table or json.")]
Output = Annotated[str | None, _output("--output", "-o", help="Write per-position (bce: per-element) losses: .npy .csv .tsv .jsonl .parquet, or - for stdout (in -f's format, tsv by default); with --engine dask, a folder of Parquet parts.")]
WithProbs = Annotated[bool, _output("--with-probs", help="Add the target's probability and the argmax to -o output.")]
Force = Annotated[bool, _output("--force", help="Replace existing output files.")]
GradOutput = Annotated[str | None, _output("--grad-output", help="Write d(loss)/d(predictions), as loss.backward() gives it (except: an ignored row whose logits hold NaN/inf gets 0 here, NaN in torch).")]
Plot = Annotated[str | None, _output("--plot", help="Also draw the run's figures to FILE.png or FILE.svg: the loss histogram, with --ece the reliability diagram, with --per-class the per-class bars (pip install 'cecli[plot]').")]
Quiet = Annotated[bool, _output("--quiet", "-q", help="No warnings or verdicts on stderr.")]

# -- gates --------------------------------------------------------------------------------------
FailAbove = Annotated[float | None, _gates("--fail-above", help="Exit 1 when the loss is above this (or NaN).")]
Baseline = Annotated[str | None, _gates("--baseline", help="A JSON result to compare against (same settings).")]
MaxIncrease = Annotated[float | None, _gates("--max-increase", help="With --baseline: exit 1 when the loss exceeds it by more than this.")]
Relative = Annotated[bool, _gates("--relative", help="--max-increase is a fraction of the baseline.")]
FailIfWorse = Annotated[bool, _gates("--fail-if-worse", help="Exit 1 when B is significantly worse than A.")]
Alpha = Annotated[float, _gates("--alpha", help="Significance level of --fail-if-worse.")]
Junit = Annotated[str | None, _gates("--junit", help="Write the gates as JUnit XML to FILE (each gate a test case; a failed one with its value and threshold), for CI test reports.")]
Margin = Annotated[float, _gates("--margin", help="--fail-if-worse tolerates delta up to this.")]

# -- running ------------------------------------------------------------------------------------
ChunkRows = Annotated[int | None, _engine("--chunk-rows", help="Rows per chunk (default: about 16 MiB of predictions).")]
Workers = Annotated[int | None, _engine("--workers", help="Threads over chunks (default: the number of cores); with --engine dask, the local cluster's worker processes (default 2).")]
Engine = Annotated[run_spec.Engine, _engine("--engine", envvar="CECLI_ENGINE", help="local (threads) or dask (a Dask cluster; pip install 'cecli[dask]').")]
Scheduler = Annotated[str | None, _engine("--scheduler", help="With --engine dask: the scheduler's address (default: DASK_SCHEDULER_ADDRESS, else a local cluster).")]

# -- softmax ------------------------------------------------------------------------------------
SoftmaxOutput = Annotated[str, _output("--output", "-o", help="Where to write (.npy .parquet .csv .tsv).")]
Log = Annotated[bool, _loss("--log", help="Write log-softmax instead of softmax.")]
Temperature = Annotated[float, _loss("--temperature", "-t", help="Divide the logits by T first (T > 0).")]
Wide = Annotated[bool, _output("--wide", help="Parquet: one column per class instead of a list column.")]


# -- commands built from others' options -----------------------------------------------------
def reuse(sources: Sequence[Callable[..., Any]], names: str, **own: tuple[Any, Any]) -> Callable[[F], F]:
    """Give a command the options ``names`` (space-separated, in order) exactly as the
    ``sources`` commands declare them (typer reads ``__signature__``), where ``own`` (name ->
    (declaration, default)) declares what the command has of its own or defaults otherwise; an
    ``own`` name not in ``names`` comes last. A shared option is declared once, in one place,
    and the command takes them as keyword arguments (``def bce(**o)``)."""
    given: dict[str, inspect.Parameter] = {}
    for src in sources:
        for p in inspect.signature(src, eval_str=True).parameters.values():
            given.setdefault(p.name, p)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    for n, (a, d) in own.items():
        given[n] = inspect.Parameter(n, kind, default=d, annotation=a)
    order = names.split() + [n for n in own if n not in names.split()]
    params = [given[n].replace(kind=kind) for n in order]

    def wrap(command: F) -> F:
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return command

    return wrap
