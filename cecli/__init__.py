"""cecli: cross-entropy losses of saved predictions, with exactly PyTorch's semantics.

The library is NumPy functions with torch's names (``cross_entropy``, ``nll_loss``,
``log_softmax``, ``softmax``, ``binary_cross_entropy_with_logits``, ``binary_cross_entropy`` and
their ``*_grad`` gradients) and streaming accumulators (:class:`CrossEntropyAccumulator`,
:class:`BinaryAccumulator`). Importing it loads NumPy and nothing heavier, and only when a
function is first used (PEP 562), so the command line starts without it; the command line
lives in :mod:`cecli.cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__
from .errors import CecliError, DataError, InputError, OutputError, UsageError

if TYPE_CHECKING:
    from .accumulate import BinaryAccumulator, CEResult, CrossEntropyAccumulator
    from .core import (
        binary_cross_entropy,
        binary_cross_entropy_grad,
        binary_cross_entropy_with_logits,
        binary_cross_entropy_with_logits_grad,
        cross_entropy,
        cross_entropy_grad,
        log_softmax,
        nll_loss,
        nll_loss_grad,
        softmax,
    )

_LAZY = {
    "BinaryAccumulator": "accumulate",
    "CEResult": "accumulate",
    "CrossEntropyAccumulator": "accumulate",
    "binary_cross_entropy": "core",
    "binary_cross_entropy_grad": "core",
    "binary_cross_entropy_with_logits": "core",
    "binary_cross_entropy_with_logits_grad": "core",
    "cross_entropy": "core",
    "cross_entropy_grad": "core",
    "log_softmax": "core",
    "nll_loss": "core",
    "nll_loss_grad": "core",
    "softmax": "core",
}

__all__ = [
    "BinaryAccumulator",
    "CEResult",
    "CecliError",
    "CrossEntropyAccumulator",
    "DataError",
    "InputError",
    "OutputError",
    "UsageError",
    "__version__",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "cross_entropy",
    "cross_entropy_grad",
    "log_softmax",
    "nll_loss",
    "nll_loss_grad",
    "softmax",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
