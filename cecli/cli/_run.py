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
_READ = ("format_in", "targets_format", "preds_key", "target_key", "target_col", "target_cols", "logit_cols", "no_header", "id_col", "sample_weight_col", "group_col", "bytes_col", "class_axis")  # fmt: skip
_LOSS = {"input_kind": "input", "target_kind": "targets", "ignore_index": "ignore_index", "reduction": "reduction", "label_smoothing": "label_smoothing", "float64": "float64", "nonfinite": "nonfinite"}  # fmt: skip
_MEASURES = ("top_k", "per_class", "ece", "ece_bins", "ci", "bootstrap", "seed", "threshold")
_RUN = ("chunk_rows", "workers", "engine", "scheduler")
_OUTPUT = {"output": "path", "grad_output": "grad_path", "force": "force", "with_probs": "with_probs", "fmt": "format", "junit": "report"}  # fmt: skip


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
    from ..core.spec import LossSpec

    weight = parse_vector(o["weight"], "--weight")
    pos_weight = parse_vector(o.get("pos_weight"), "--pos-weight")
    return LossSpec(kind=kind, weight=weight, pos_weight=pos_weight, **_given(o, _LOSS))


def measures(o: Params) -> Any:
    """What to report besides the loss."""
    from ..accumulate.spec import Measures

    given = _given(o, _MEASURES)
    if given.get("ece_bins") is None:  # not given (an explicit 0 is refused by the option)
        given.pop("ece_bins", None)
    return Measures(**given)


def run_spec(o: Params, progress: Any = None) -> Any:
    from ..api.spec import RunSpec

    return RunSpec(progress=progress, **_given(o, _RUN))


def output_spec(o: Params) -> Any:
    from ..api.spec import OutputSpec

    return OutputSpec(**_given(o, _OUTPUT))


def check_plot(path: str, inputs: list[str], force: bool) -> None:
    """``--plot``: a .png / .svg name, not an input, not an existing file without --force, and
    matplotlib installed."""
    from ..report import plot_format, pyplot
    from ..writers import check_output

    plot_format(path)
    check_output(path, inputs, force)
    pyplot("--plot")


def run_loss(command: LossKind, o: Params) -> None:
    """``ce``, ``nll`` and ``bce``: evaluate, check the gates, print the report."""
    from ..api import evaluate
    from ..api.gates import LossGates
    from ..api.signature import Signature

    fmt = o["fmt"].resolve(on_terminal())
    binary = command == "bce"
    read = read_options(o, binary=binary)
    loss = loss_spec(command, o)
    wanted = measures(o)
    run, out = run_spec(o), output_spec(o)
    gates = LossGates(o["fail_above"], o["baseline"], o["max_increase"], o["relative"])
    # before the data is read, so a run bound to fail writes nothing; the target kind is
    # known only once the data is read
    mine = Signature.build(command, loss, measures=wanted, read=read)
    gates.precheck(mine, unknown=() if binary else ("tgt",))
    plot = o.get("plot")
    if plot:  # before the data is read: a bad name or an existing file is known now
        check_plot(plot, [p for p in (o["preds"], o["targets"]) if p], o["force"])
    bar = progress_bar(o["quiet"])
    try:
        run = dataclasses.replace(run, progress=bar)
        ev = evaluate(o["preds"], o["targets"], read, loss, wanted, run, out)
    finally:
        if bar is not None:
            bar.close()
    if plot:
        from ..report import save_panels
        from ..writers import write_atomic

        write_atomic(plot, save_panels(ev.result, plot), o["force"], "the plot")
    checks = gates.check(ev.result.loss, Signature.parse(ev.signature))
    finish(command, fmt, ev, checks, o["quiet"], o["junit"])


