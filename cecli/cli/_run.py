"""argv -> specs -> api -> report, shared by the commands that compute a loss.

A command hands over its parameters (``locals()``: the names of its option declarations);
the builders here turn the ones a command has into the library's specs, each validated in its
own constructor, and :func:`run_loss` runs the front door and prints the report. A spec's
defaults apply to what a command does not offer; nothing here decides a number.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ._console import finish, on_terminal, progress_bar

Params = dict[str, Any]
LossKind = Literal["ce", "nll", "bce"]

# command-line parameter -> spec field, for each spec
_READ = ("format_in", "targets_format", "preds_key", "target_key", "target_col", "logit_cols", "no_header", "id_col",
         "sample_weight_col", "group_col", "bytes_col", "class_axis")  # fmt: skip
_LOSS = {"input_kind": "input", "target_kind": "targets", "ignore_index": "ignore_index",
         "reduction": "reduction", "label_smoothing": "label_smoothing", "float64": "float64",
         "nonfinite": "nonfinite"}  # fmt: skip
_MEASURES = ("top_k", "per_class", "ci", "bootstrap", "seed")
_RUN = ("chunk_rows", "workers", "engine", "scheduler")


def _given(o: Params, names: Any) -> dict[str, Any]:
    fields = names if isinstance(names, dict) else {n: n for n in names}
    return {field: o[name] for name, field in fields.items() if name in o}


def read_options(o: Params, **implied: Any) -> Any:
    """The readers' spec (``implied``: what the command itself implies, e.g. ``binary``)."""
    from ..readers import ReadOptions, read_class_names

    return ReadOptions(**_given(o, _READ), classes=read_class_names(o.get("classes")), **implied)


def loss_spec(kind: LossKind, o: Params) -> Any:
    """torch's options of a ``ce`` / ``nll`` / ``bce`` loss (``compare``: of both sides)."""
    from ..api import parse_vector
    from ..core.spec import InputKind, LossSpec

    weight = parse_vector(o["weight"], "--weight")
    pos_weight = parse_vector(o.get("pos_weight"), "--pos-weight")
    given = _given(o, _LOSS)
    if given["input"] is None:  # ce / nll: the command's name picks the default
        given["input"] = InputKind.LOGPROBS if kind == "nll" else InputKind.LOGITS
    return LossSpec(kind=kind, weight=weight, pos_weight=pos_weight, **given)


def measures(o: Params) -> Any:
    """What to report besides the loss; ``--ece`` is ``--ece-bins`` at its default."""
    from ..accumulate.spec import DEFAULT_ECE_BINS, Measures
    from ..errors import UsageError

    tokens = o.get("input_kind") == "target-logprobs"  # a per-group (document) table
    if o.get("group_col") and o.get("ci") is None and not tokens:
        raise UsageError(
            "--group-col is for --ci (resampling whole groups) or --input target-logprobs"
        )
    bins = o.get("ece_bins") or (DEFAULT_ECE_BINS if o.get("ece") else 0)
    return Measures(ece_bins=bins, **_given(o, _MEASURES))


def run_spec(o: Params, progress: Any = None) -> Any:
    from ..api.spec import RunSpec

    return RunSpec(progress=progress, **_given(o, _RUN))


def output_spec(o: Params, loss: Any) -> Any:
    from ..api.spec import OutputSpec

    keep = str(loss.reduction) == "none" and o["output"] is None  # `none` printed, not written
    return OutputSpec(
        path=o["output"],
        grad_path=o["grad_output"],
        force=o["force"],
        with_probs=o.get("with_probs", False),
        keep_losses=keep,
    )


def target_columns(o: Params) -> tuple[str, ...] | None:
    """``bce --target-cols a,b,c``: one target column per label."""
    from ..errors import UsageError

    if o["target_col"] and o["target_cols"]:
        raise UsageError("give --target-col or --target-cols, not both")
    if o["target_cols"] is None:
        return None
    cols = tuple(c.strip() for c in o["target_cols"].split(",") if c.strip())
    if not cols:
        raise UsageError("--target-cols names no column", value=o["target_cols"])
    return cols


def run_loss(command: LossKind, o: Params) -> None:
    """``ce``, ``nll`` and ``bce``: evaluate, check the gates, print the report."""
    from ..accumulate.spec import Measures
    from ..api import evaluate
    from ..api.gates import LossGates
    from ..api.signature import Signature

    fmt = o["fmt"].resolve(on_terminal())
    binary = command == "bce"
    if binary:
        read = read_options(o, target_cols=target_columns(o), binary=True)
    else:
        read = read_options(o)
    loss = loss_spec(command, o)
    wanted = None if binary else measures(o)
    run, out = run_spec(o), output_spec(o, loss)
    gates = LossGates(o["fail_above"], o["baseline"], o["max_increase"], o["relative"])
    # before the data is read, so a run bound to fail writes nothing; the target kind is
    # known only once the data is read
    mine = Signature.build(command, loss, measures=wanted, read=read)
    gates.precheck(mine, unknown=() if binary else ("tgt",))
    bar = progress_bar(o["quiet"])
    try:
        run = dataclasses.replace(run, progress=bar)
        ev = evaluate(o["preds"], o["targets"], read, loss, wanted or Measures(), run, out)
    finally:
        if bar is not None:
            bar.close()
    checks = gates.check(ev.result.loss, Signature.parse(ev.signature))
    finish(command, fmt, ev, checks, o["quiet"])


