"""The math: arrays in, arrays out, with torch's semantics. No I/O, no files, no terminals.

The seams: a :class:`LossSpec` (``spec``) holds torch's options of one loss, validated once;
:meth:`LossSpec.bind` gives the kernel its :class:`CEOptions` once the data tells the classes.
Kernels walk their input in row blocks of about 4 MiB with reused buffers (``_blocks``): the
cross-entropy kernel (``_ce``) and the binary one (``_bce.bce_blocks``) are shared by the
one-shot functions (``_oneshot``, ``_bce``) and the streaming accumulators (``cecli.accumulate``).
"""

from ._bce import (
    BCEBlock,
    bce_arrays,
    bce_blocks,
    bce_elements,
    bce_grad,
    bce_grad_elements,
    bce_losses,
    bce_with_logits_elements,
    bce_with_logits_grad_elements,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
)
from ._blocks import as_3d, class_axis_of, work_dtype
from ._ce import TOP_K_TIES, ce_positions, index_targets
from ._checks import (
    DIST_TOL,
    binary_probs,
    looks_like_probs,
    not_logprobs,
    probs_clip,
    sample_weight_findings,
)
from ._grad import (
    binary_grad,
    ce_denominator,
    ce_grad_positions,
    cross_entropy_grad,
    nll_loss_grad,
)
from ._oneshot import (
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
from ._positions import Positions
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
    "DIST_TOL",
    "TOP_K_TIES",
    "BCEBlock",
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
    "bce_blocks",
    "bce_elements",
    "bce_grad",
    "bce_grad_elements",
    "bce_losses",
    "bce_with_logits_elements",
    "bce_with_logits_grad_elements",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "binary_grad",
    "binary_probs",
    "ce_denominator",
    "ce_grad_positions",
    "ce_positions",
    "check_reduction",
    "class_axis_of",
    "cross_entropy",
    "cross_entropy_grad",
    "index_targets",
    "is_soft",
    "log_softmax",
    "looks_like_probs",
    "nll_loss",
    "nll_loss_grad",
    "not_logprobs",
    "probs_clip",
    "raise_nonfinite",
    "reduce",
    "sample_weight_findings",
    "softmax",
    "softmax_into",
    "split_input",
    "work_dtype",
]
