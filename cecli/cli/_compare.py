"""``cecli compare``: two prediction files on the same targets, with a paired bootstrap."""

from __future__ import annotations

import inspect
from typing import Any

from ..api.gates import DEFAULT_ALPHA, DEFAULT_MARGIN
from ..core.spec import InputKind
from ..report.terminal import COMPARE_HELP
from . import _options as opt
from ._app import app
from ._ce import ce
from ._console import finish, on_terminal
from ._run import loss_spec, measures, read_options, run_spec

# ce's declarations, except what only compare has (or defaults otherwise)
OPTIONS = ("preds_a preds_b targets weight ignore_index reduction label_smoothing input_kind target_kind "
           "target_col logit_cols no_header id_col sample_weight_col group_col classes class_axis "
           "format_in targets_format preds_key target_key fmt top_k ece ece_bins ci bootstrap seed "
           "fail_if_worse alpha margin junit chunk_rows workers float64 nonfinite quiet")  # fmt: skip


@app.command("compare", help=COMPARE_HELP, no_args_is_help=True)
@opt.reuse([ce], OPTIONS, preds_a=(opt.PredsA, inspect.Parameter.empty), preds_b=(opt.PredsB, inspect.Parameter.empty),
           input_kind=(opt.InputKind, InputKind.LOGITS), ci=(opt.Ci, 0.95), fail_if_worse=(opt.FailIfWorse, False),
           alpha=(opt.Alpha, DEFAULT_ALPHA), margin=(opt.Margin, DEFAULT_MARGIN))  # fmt: skip
def compare(**o: Any) -> None:
    from ..api import compare as run_compare
    from ..api.gates import WorseGate

    fmt = o["fmt"].resolve(on_terminal())
    gate = WorseGate(o["fail_if_worse"], o["alpha"], o["margin"])
    read = read_options(o)
    loss, wanted, run = loss_spec("ce", o), measures(o), run_spec(o)
    cmp = run_compare(o["preds_a"], o["preds_b"], o["targets"], read, loss, wanted, run)
    finish("compare", fmt, cmp, gate.check(cmp.delta, cmp.p_worse), o["quiet"], o["junit"])
