"""The math: arrays in, arrays out, with torch's semantics. No I/O, no files, no terminals.

The seams: a :class:`LossSpec` (``spec``) holds torch's options of one loss, validated once;
:meth:`LossSpec.bind` gives the kernel its :class:`CEOptions` once the data tells the classes.
Kernels walk their input in row blocks of about 4 MiB with reused buffers (``_blocks``): the
cross-entropy kernel (``_ce``) and the binary one (``_bce.bce_blocks``) are shared by the
one-shot functions (``_oneshot``, ``_bce``) and the streaming accumulators (``cecli.accumulate``).

Names are loaded on first use (PEP 562): the command line imports the ``spec`` module at
start-up without loading NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
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

if TYPE_CHECKING:
    from ._bce import (
        BCEBlock,
        bce_arrays,
        bce_blocks,
        bce_elements,
        bce_grad,
        bce_grad_elements,
        bce_losses,
        bce_probs,
        bce_with_logits_elements,
        bce_with_logits_grad_elements,
        binary_cross_entropy,
        binary_cross_entropy_grad,
        binary_cross_entropy_with_logits,
        binary_cross_entropy_with_logits_grad,
        default_threshold,
        log_sigmoid,
    )
    from ._blocks import (
        as_3d,
        class_axis_of,
        work_dtype,
    )
    from ._ce import (
        TOP_K_TIES,
        ce_positions,
        index_targets,
    )
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
    from ._positions import (
        Positions,
    )

_LAZY = {
    "BCEBlock": "_bce",
    "DIST_TOL": "_checks",
    "Positions": "_positions",
    "TOP_K_TIES": "_ce",
    "as_3d": "_blocks",
    "as_float": "_oneshot",
    "bce_arrays": "_bce",
    "bce_blocks": "_bce",
    "bce_elements": "_bce",
    "bce_grad": "_bce",
    "bce_grad_elements": "_bce",
    "bce_losses": "_bce",
    "bce_probs": "_bce",
    "default_threshold": "_bce",
    "bce_with_logits_elements": "_bce",
    "bce_with_logits_grad_elements": "_bce",
    "binary_cross_entropy": "_bce",
    "binary_cross_entropy_grad": "_bce",
    "binary_cross_entropy_with_logits": "_bce",
    "binary_cross_entropy_with_logits_grad": "_bce",
    "binary_grad": "_grad",
    "binary_probs": "_checks",
    "ce_denominator": "_grad",
    "ce_grad_positions": "_grad",
    "ce_positions": "_ce",
    "check_reduction": "_oneshot",
    "class_axis_of": "_blocks",
    "cross_entropy": "_oneshot",
    "cross_entropy_grad": "_grad",
    "index_targets": "_ce",
    "is_soft": "_oneshot",
    "log_sigmoid": "_bce",
    "log_softmax": "_oneshot",
    "looks_like_probs": "_checks",
    "nll_loss": "_oneshot",
    "nll_loss_grad": "_grad",
    "not_logprobs": "_checks",
    "probs_clip": "_checks",
    "raise_nonfinite": "_oneshot",
    "reduce": "_oneshot",
    "sample_weight_findings": "_checks",
    "softmax": "_oneshot",
    "softmax_into": "_oneshot",
    "split_input": "_oneshot",
    "work_dtype": "_blocks",
}

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
    "bce_probs",
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
    "default_threshold",
    "index_targets",
    "is_soft",
    "log_sigmoid",
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

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
