"""Sufficient statistics of cross-entropy chunks, merged exactly, finished once.

Each chunk contributes sums (loss, weight, counts, correct predictions, per-class sums, ECE bins,
a loss histogram, bootstrap replicate sums); :meth:`CrossEntropyAccumulator.compute` turns them
into the reported figures once, at the end.

What chunking can change, and what it cannot:

* the loss and weight totals and the bootstrap replicate sums are :class:`TreeSum` sums over the
  positions' global indices: identical to the last bit for any chunk size, worker count or
  engine (so are the loss, the interval and everything computed from them);
* counts (samples, accuracy, top-k, the loss histogram and so its quantiles) are integers: exact;
* per-class and ECE float sums are per-chunk ``bincount`` totals folded with :class:`DDSum`:
  equal across chunkings to float64 rounding (~1e-16 relative).

The bootstrap weights depend only on the seed and each position's global index (or its group's
label), so the interval is a property of the data and the seed alone.
"""

from ._binary import BCEResult, BinaryAccumulator
from ._ce import (
    CEResult,
    CrossEntropyAccumulator,
    bootstrap_keys,
    ece_boundaries,
    ece_bucket,
    percentile_interval,
    replicate_values,
)
from ._sums import (
    HIST_RESOLUTION,
    BootstrapSums,
    DDSum,
    LossHistogram,
    TreeSum,
    group_keys,
    poisson_weights,
)
from .spec import (
    CI_METHOD,
    DEFAULT_BOOTSTRAP,
    DEFAULT_ECE_BINS,
    DEFAULT_SEED,
    MAX_ECE_BINS,
    MAX_REPLICATES,
    QUANTILES,
    Measures,
)

__all__ = [
    "CI_METHOD",
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_ECE_BINS",
    "DEFAULT_SEED",
    "HIST_RESOLUTION",
    "MAX_ECE_BINS",
    "MAX_REPLICATES",
    "QUANTILES",
    "BCEResult",
    "BinaryAccumulator",
    "BootstrapSums",
    "CEResult",
    "CrossEntropyAccumulator",
    "DDSum",
    "LossHistogram",
    "Measures",
    "TreeSum",
    "bootstrap_keys",
    "ece_boundaries",
    "ece_bucket",
    "group_keys",
    "percentile_interval",
    "poisson_weights",
    "replicate_values",
]

