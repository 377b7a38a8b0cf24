"""Sufficient statistics of loss chunks, merged exactly, finished once.

One protocol (``_protocol.Accumulator``): ``update`` a chunk, ``merge`` partials in chunk order,
``compute`` / ``result`` once; each accumulator declares its state once (``STATE``: field ->
merge rule) and is merged generically. :class:`CrossEntropyAccumulator` (ce, nll) and
:class:`BinaryAccumulator` (bce) implement it, configured by a :class:`~cecli.core.LossSpec`
and :class:`Measures` (``spec``).

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

Names are loaded on first use (PEP 562): the command line imports the ``spec`` module at
start-up without loading NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
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

if TYPE_CHECKING:
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
    from ._protocol import Accumulator, FirstRow
    from ._sums import (
        BUCKETS,
        HIST_RESOLUTION,
        BootstrapSums,
        DDSum,
        LossHistogram,
        TreeSum,
        bootstrap_weights,
        bucket_of,
        group_keys,
        poisson_weights,
    )

_LAZY = {
    "Accumulator": "_protocol",
    "BCEResult": "_binary",
    "BinaryAccumulator": "_binary",
    "BUCKETS": "_sums",
    "BootstrapSums": "_sums",
    "CEResult": "_ce",
    "CrossEntropyAccumulator": "_ce",
    "DDSum": "_sums",
    "FirstRow": "_protocol",
    "HIST_RESOLUTION": "_sums",
    "LossHistogram": "_sums",
    "TreeSum": "_sums",
    "bootstrap_keys": "_ce",
    "bootstrap_weights": "_sums",
    "bucket_of": "_sums",
    "ece_boundaries": "_ce",
    "ece_bucket": "_ce",
    "group_keys": "_sums",
    "percentile_interval": "_ce",
    "poisson_weights": "_sums",
    "replicate_values": "_ce",
}

__all__ = [
    "BUCKETS",
    "CI_METHOD",
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_ECE_BINS",
    "DEFAULT_SEED",
    "HIST_RESOLUTION",
    "MAX_ECE_BINS",
    "MAX_REPLICATES",
    "QUANTILES",
    "Accumulator",
    "BCEResult",
    "BinaryAccumulator",
    "BootstrapSums",
    "CEResult",
    "CrossEntropyAccumulator",
    "DDSum",
    "FirstRow",
    "LossHistogram",
    "Measures",
    "TreeSum",
    "bootstrap_keys",
    "bootstrap_weights",
    "bucket_of",
    "ece_boundaries",
    "ece_bucket",
    "group_keys",
    "percentile_interval",
    "poisson_weights",
    "replicate_values",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
