"""The measures spec: what an evaluation reports besides the loss, declared and validated once.

:class:`Measures` is built at the edge and read by the accumulators; its limits (replicates,
ECE bins) exist because memory grows with them, and its errors name the command-line option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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

    ``top_k`` (0: none), ``per_class`` (bce: per label), ``ece_bins`` (0: no ECE; ``ece=True``
    without a count means :data:`DEFAULT_ECE_BINS`), ``ci`` (the level of a Poisson bootstrap
    interval of the loss, or None), with ``bootstrap`` replicates drawn from ``seed`` (both
    ignored without ``ci``); ``threshold``: bce's decision threshold for accuracy (None: 0 on
    logits, 0.5 on probabilities).

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
    ece: bool = False
    """``--ece``: calibration error at the default bins unless ``ece_bins`` gives a count
    (after construction: whether ECE is reported)."""
    threshold: float | None = None
    confusions: int = 0
    """The most frequent (target, prediction) confusions to report (0: none)."""

    def __post_init__(self) -> None:
        if self.ece and not self.ece_bins:
            object.__setattr__(self, "ece_bins", DEFAULT_ECE_BINS)
        if self.threshold is not None:
            t = self.threshold
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
                raise UsageError("--threshold must be a finite number", value=t)
            object.__setattr__(self, "threshold", float(t))
        for name in ("top_k", "ece_bins", "bootstrap", "seed", "confusions"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise UsageError(f"--{name.replace('_', '-')} must be an integer", value=v)
        if self.ece_bins < 0 or self.top_k < 0:
            raise UsageError("--ece-bins and --top-k must not be negative")
        if self.confusions < 0:
            raise UsageError("confusions must not be negative", value=self.confusions)
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
        object.__setattr__(self, "ece", self.ece_bins > 0)

    @property
    def replicates(self) -> int:
        """Bootstrap replicates to keep: ``bootstrap`` with ``ci``, else 0."""
        return self.bootstrap if self.ci is not None else 0

    @property
    def level(self) -> float:
        """The interval's level (``ci``; NaN without one)."""
        return self.ci if self.ci is not None else math.nan


#: torch's keyword names of the loss options, and the :class:`~cecli.core.LossSpec` field each
#: one sets (the accumulators take either a spec or these keywords).
LOSS_KEYWORDS = {
    "weight": "weight",
    "pos_weight": "pos_weight",
    "ignore_index": "ignore_index",
    "reduction": "reduction",
    "label_smoothing": "label_smoothing",
    "input_kind": "input",
    "targets": "targets",
    "nonfinite": "nonfinite",
    "float64": "float64",
}
MEASURE_KEYWORDS = ("top_k", "per_class", "ece_bins", "bootstrap", "seed", "ci_level")


def loss_keywords(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` (torch's keyword names) as :class:`~cecli.core.LossSpec` fields; a TypeError
    names a keyword that is neither."""
    unknown = sorted(set(options) - set(LOSS_KEYWORDS))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    return {LOSS_KEYWORDS[k]: v for k, v in options.items()}


def measures_keywords(options: dict[str, Any]) -> tuple[dict[str, Any], Measures]:
    """Split keyword options into the loss's (returned as they are) and the :class:`Measures`
    they ask for: ``bootstrap=B`` > 0 asks for an interval at ``ci_level`` (default 0.95)."""
    rest = {k: v for k, v in options.items() if k not in MEASURE_KEYWORDS}
    m = {k: v for k, v in options.items() if k in MEASURE_KEYWORDS}
    level = m.pop("ci_level", 0.95)
    bootstrap = m.pop("bootstrap", 0)
    if bootstrap < 0 or m.get("ece_bins", 0) < 0:
        raise UsageError("bins and replicates must be positive")
    if bootstrap:
        m.update(ci=level, bootstrap=bootstrap)
    return rest, Measures(**m)
