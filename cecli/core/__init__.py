"""The math: arrays in, arrays out, with torch's semantics. No I/O, no files, no terminals.

Kernels walk their input in row blocks of about 4 MiB with reused buffers (``_blocks``); the
cross-entropy kernel (``_ce``) is shared by the one-shot functions (``_api``) and the streaming
accumulator (``cecli.accumulate``).
"""

from ._api import (
    REDUCTIONS,
    TARGET_KINDS,
    as_float,
    check_reduction,
    cross_entropy,
    is_soft,
    log_softmax,
    nll_loss,
    raise_nonfinite,
    reduce,
    softmax,
    softmax_into,
    split_input,
)
from ._bce import (
    bce_arrays,
    bce_elements,
    bce_grad_elements,
    bce_with_logits_elements,
    bce_with_logits_grad_elements,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
)
from ._blocks import as_3d, class_axis_of, work_dtype
from ._ce import INPUT_KINDS, Positions, ce_options, ce_positions, index_targets
from ._grad import ce_denominator, ce_grad_positions, cross_entropy_grad, nll_loss_grad
from .spec import (
    DEFAULT_IGNORE_INDEX,
    CEOptions,
    Choice,
    InputKind,
    LossSpec,
    Nonfinite,
    Reduction,
    TargetKind,
)

__all__ = [
    "DEFAULT_IGNORE_INDEX",
    "INPUT_KINDS",
    "REDUCTIONS",
    "TARGET_KINDS",
    "CEOptions",
    "Choice",
    "InputKind",
    "LossSpec",
    "Nonfinite",
    "Positions",
    "Reduction",
    "TargetKind",
    "as_3d",
    "as_float",
    "bce_arrays",
    "bce_elements",
    "bce_grad_elements",
    "bce_with_logits_elements",
    "bce_with_logits_grad_elements",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "ce_denominator",
    "ce_grad_positions",
    "ce_options",
    "ce_positions",
    "check_reduction",
    "class_axis_of",
    "cross_entropy",
    "cross_entropy_grad",
    "index_targets",
    "is_soft",
    "log_softmax",
    "nll_loss",
    "nll_loss_grad",
    "raise_nonfinite",
    "reduce",
    "softmax",
    "softmax_into",
    "split_input",
    "work_dtype",
]
