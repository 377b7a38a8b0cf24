"""The measures spec: what an evaluation reports besides the loss, declared and validated once.

:class:`Measures` is built at the edge and read by the accumulators; its limits (replicates,
ECE bins) exist because memory grows with them, and its errors name the command-line option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError

__all__ = [
    "CI_METHOD",
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_ECE_BINS",
    "DEFAULT_SEED",
    "MAX_ECE_BINS",
    "MAX_REPLICATES",
    "QUANTILES",
    "Measures",
]

#: Seed of the bootstrap (part of the signature).
DEFAULT_SEED = 12345
#: Bootstrap replicates of ``--ci``.
DEFAULT_BOOTSTRAP = 1000
#: Bins of ``--ece`` (torchmetrics' default).
DEFAULT_ECE_BINS = 15
#: Memory is O(replicates) per accumulator (and a block of weights per chunk) and O(bins) for
#: ECE: sizes beyond these could only exhaust memory.
MAX_REPLICATES = 100_000
MAX_ECE_BINS = 100_000
#: The loss quantiles every cross-entropy result reports.
QUANTILES = (0.5, 0.9, 0.99)
CI_METHOD = "poisson-bootstrap"


@dataclass(frozen=True)
class Measures:
    """The figures to compute beside the loss.

    ``top_k`` (0: none), ``per_class``, ``ece_bins`` (0: no ECE), ``ci`` (the level of a Poisson
    bootstrap interval of the loss, or None), with ``bootstrap`` replicates drawn from ``seed``
    (both ignored without ``ci``).

    Examples
    --------
    >>> from cecli.accumulate import Measures
    >>> Measures(ci=0.95).replicates
    1000
    """

    top_k: int = 0
    per_class: bool = False
    ece_bins: int = 0
    ci: float | None = None
    bootstrap: int = DEFAULT_BOOTSTRAP
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        for name in ("top_k", "ece_bins", "bootstrap", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise UsageError(f"--{name.replace('_', '-')} must be an integer", value=v)
        if self.ece_bins < 0 or self.top_k < 0:
            raise UsageError("--ece-bins and --top-k must not be negative")
        if self.ece_bins > MAX_ECE_BINS:
            raise UsageError(
                f"--ece-bins {self.ece_bins} is more bins than cecli allows ({MAX_ECE_BINS})",
                fix="15 bins is the usual choice",
            )
        if self.ci is not None:
            if not (isinstance(self.ci, (int, float)) and 0.0 < self.ci < 1.0):  # False for NaN
                raise UsageError("--ci must be a level between 0 and 1, e.g. 0.95", value=self.ci)
            object.__setattr__(self, "ci", float(self.ci))
            if self.bootstrap < 2:
                raise UsageError("--bootstrap needs at least 2 replicates", value=self.bootstrap)
            if self.bootstrap > MAX_REPLICATES:
                raise UsageError(
                    f"--bootstrap {self.bootstrap} is more replicates than cecli allows "
                    f"({MAX_REPLICATES})",
                    fix="1000 to 10000 replicates give a stable 95% interval",
                )
        object.__setattr__(self, "per_class", bool(self.per_class))

    @property
    def replicates(self) -> int:
        """Bootstrap replicates to keep: ``bootstrap`` with ``ci``, else 0."""
        return self.bootstrap if self.ci is not None else 0

    @property
    def level(self) -> float:
        """The interval's level (``ci``; NaN without one)."""
        return self.ci if self.ci is not None else math.nan
