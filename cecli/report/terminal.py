"""The text of the command line's own surfaces: help panels and paragraphs, usage-error lines.

Plain strings in, plain strings out (no rich, no NumPy, no typer): the command line imports
this at start-up to lay out ``--help`` and to word the errors of its option parser.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "BCE_HELP",
    "CE_HELP",
    "COMPARE_HELP",
    "HELP_PANELS",
    "INSPECT_HELP",
    "NLL_HELP",
    "SOFTMAX_HELP",
    "argument_help",
    "help_text",
    "literal",
    "panel_rank",
    "usage_line",
]

#: The help panels of a command, in the order its ``--help`` shows them.
HELP_PANELS = ("Inputs", "Loss options", "Measures", "Gates (exit 1 when a check fails)",
               "Output", "Engine")  # fmt: skip


def help_text(text: str) -> str:
    """A command's help for rich's panels: each prose paragraph on one line (rich wraps it to
    the terminal), a paragraph that starts with ``\\b`` (examples) kept line by line."""
    out = []
    for para in text.strip().split("\n\n"):
        if para.startswith("\b"):
            out.append(para[1:].strip("\n"))
        else:
            out.append(" ".join(line.strip() for line in para.splitlines()))
    return "\n\n".join(out)


def literal(text: str | None) -> str | None:
    """Help text shown as written by rich's markup: ``'cecli[plot]'`` is not a style tag."""
    return None if text is None else re.sub(r"\[(?=[A-Za-z/#@])", r"\\[", text)


def panel_rank(param: Any) -> int:
    """Where a parameter's help panel comes in a command's help: arguments (no panel) first,
    then :data:`HELP_PANELS` in order, then any other."""
    panel = getattr(param, "rich_help_panel", None)
    if panel is None:
        return -1
    return HELP_PANELS.index(panel) if panel in HELP_PANELS else len(HELP_PANELS)


def argument_help(function: Callable[..., Any]) -> dict[str, str]:
    """The help texts a command function declares for its parameters (``Annotated`` metadata
    with a ``help``, in its signature, ``__signature__`` included), by parameter name."""
    found = {}
    for name, param in inspect.signature(function, eval_str=True).parameters.items():
        for meta in getattr(param.annotation, "__metadata__", ()):
            if isinstance(getattr(meta, "help", None), str):
                found[name] = meta.help
    return found


def usage_line(message: str, command: str) -> str:
    """An option parser's message as cecli words its errors: lower-cased, a suggestion in
    parentheses, then the help to read: ``no such option '--boots' (did you mean
    '--bootstrap'?); see 'cecli ce --help'``."""
    message = message.strip().rstrip(".")
    message = re.sub(r"\.? \(?Did you (mean .*\?)\)?$", r" (did you \1)", message)
    if message[:2].istitle():
        message = message[0].lower() + message[1:]
    return f"{message}; see '{command} --help'"


# -- each command's help: what it computes, then examples of its own (a \b paragraph) ----------

CE_HELP = """Cross-entropy of predictions against targets (torch's CrossEntropyLoss).

Examples:

\b
  cecli ce preds.csv -f value      # one logit column per class, labels in 'label'
  cecli ce logits.npy labels.npy --label-smoothing 0.1 -f json | jq .loss
  cecli ce preds.parquet --per-class --ci 0.95 --fail-above 0.5
"""

NLL_HELP = """Negative log-likelihood of log-probabilities (torch's NLLLoss): ce with --input logprobs.

No softmax is applied: PREDS hold log-probabilities (a warning says when rows look like logits).

Examples:

\b
  cecli nll logprobs.npy labels.npy -f value
  cecli nll lm.npy tokens.npy --class-axis -1 --reduction sum -f json | jq .loss
  cecli nll logprobs.parquet --target-col label --per-class --ci 0.95
"""

BCE_HELP = """Binary / multi-label cross-entropy (torch's BCEWithLogitsLoss; --input probs is BCELoss).

Predictions are (N,) or (N, C) logits (or probabilities with --input probs); targets have the
same shape, with values in [0, 1]: a TARGETS file, the target column, or one column per label
with --target-cols. mean = sum / elements (rows x labels); "samples" in the output counts
elements.

Examples:

\b
  cecli bce scores.csv --target-col clicked -f value
  cecli bce logits.npy labels.npy --pos-weight 3 --reduction sum -f json | jq .loss
  cecli bce tags.parquet --target-cols is_cat,is_dog --weight 1,2 --fail-above 0.4
  cecli bce tags.parquet --target-cols is_cat,is_dog --per-class --ece --ci 0.95 --threshold 0.5
"""

COMPARE_HELP = """Paired comparison of two prediction files on the same targets.

Reports both losses, delta = loss(B) - loss(A) (positive: B is worse), a paired bootstrap
interval of delta (the same Poisson weights for A and B) and the two-sided bootstrap p-value of
"no difference". Rows are aligned by position; with --id-col the ids must match row for row.
--fail-if-worse exits 1 when B is significantly worse than A: the one-sided bootstrap p-value
of "delta <= margin" is below --alpha.

Examples:

\b
  cecli compare old.parquet new.parquet --target-col label
  cecli compare a.npy b.npy labels.npy --fail-if-worse --alpha 0.05 --margin 0.01 -f json | jq .delta
"""

SOFTMAX_HELP = """Write the softmax (or --log log-softmax) of logits to OUT, streamed, rows in input order.

OUT's extension picks the format: .npy (the input's shape), .parquet (a list column 'probs' or
'logprobs', or with --wide one column per class), .csv / .tsv (one column per class, named
after the classes). Ids (--id-col or a column named id) and a target column are carried.

Examples:

\b
  cecli softmax logits.npy -o probs.npy
  cecli softmax preds.parquet -o logprobs.parquet --log --temperature 2 --id-col doc
  cecli softmax logits.csv -o probs.csv && cecli ce probs.csv --input probs -f value
"""

INSPECT_HELP = """What a file holds and how cecli would read it: format, rows, columns and dtypes, which columns are logits / target / ids, class names, row groups, and the command to run.

Example:

\b
  cecli inspect preds.parquet -f json | jq .suggestion
"""

EXPLAIN_HELP = """The loss of chosen rows derived step by step, as a textbook does: logits, the maximum
of the shift, shifted values, exp, their sum, log-sum-exp, log-softmax, the target's
log-probability, its weight, the smoothing term, the row's loss; then the reduction (sum,
denominator, mean) and the ignored rows. The same for nll, probability targets and bce. The
row's loss is the one `ce --reduction none` gives; the steps are computed in float64.

Examples:

\b
  cecli explain examples/iris_logits.csv --rows 0,17
  cecli explain logits.npy labels.npy --worst 5 --label-smoothing 0.1 -f json | jq '.rows[0].steps'
  cecli explain scores.csv --loss bce --target-cols a,b --rows 3
"""

REPORT_HELP = """One self-contained HTML file (no network needed to open it): the loss with its
bootstrap interval, accuracy, ECE, a reliability diagram, the per-row loss histogram and the
per-class loss share and accuracy. The figures need matplotlib: pip install 'cecli[plot]'.

With --compare B, both models side by side and the paired difference (compare's bootstrap).

Examples:

\b
  cecli report preds.parquet -o report.html --ci 0.99
  cecli report model_a.npy labels.npy --compare model_b.npy -o ab.html
"""
