"""``cecli bce``: binary and multi-label cross-entropy (torch's BCEWithLogitsLoss / BCELoss)."""

from __future__ import annotations

from typing import Any

from ..core.spec import InputKind
from ..report.terminal import BCE_HELP
from . import _options as opt
from ._app import app
from ._ce import ce
from ._run import run_loss

# ce's declarations, except what only bce has (or defaults otherwise)
OPTIONS = ("preds targets weight pos_weight reduction input_kind target_col target_cols logit_cols "
           "no_header id_col classes format_in targets_format preds_key target_key fmt output force "
           "per_class ece ece_bins threshold ci bootstrap seed grad_output fail_above baseline "
           "max_increase relative junit chunk_rows workers engine scheduler float64 nonfinite quiet")  # fmt: skip


@app.command("bce", help=BCE_HELP, no_args_is_help=True)
@opt.reuse([ce], OPTIONS, pos_weight=(opt.PosWeight, None), input_kind=(opt.InputKind, InputKind.LOGITS),
           target_cols=(opt.TargetCols, None), threshold=(opt.Threshold, None))  # fmt: skip
def bce(**o: Any) -> None:
    run_loss("bce", o)
