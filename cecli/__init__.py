"""cecli: cross-entropy losses of saved predictions, with exactly PyTorch's semantics.

The library is NumPy functions with torch's names (``cross_entropy``, ``nll_loss``,
``log_softmax``, ``softmax``, ``binary_cross_entropy_with_logits``, ``binary_cross_entropy`` and
their ``*_grad`` gradients) and a streaming :class:`CrossEntropyAccumulator`. Importing it loads
NumPy and nothing heavier; the command line (``cecli``) lives in :mod:`cecli.cli`.
"""

from ._version import __version__
from .accumulate import CEResult, CrossEntropyAccumulator
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
from .errors import CecliError, DataError, InputError, OutputError, UsageError

__all__ = [
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
