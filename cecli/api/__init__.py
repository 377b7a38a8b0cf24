"""The front door: files in, results out (readers -> core -> accumulate -> writers).

Engines live beside it: :mod:`._engine` maps the chunk kernel over threads and folds the
partial statistics in chunk order.
"""

from ._ce import CEConfig, Evaluation, evaluate, parse_weight, signature, weight_tag
from ._engine import default_chunk_rows, default_workers, ordered_map

__all__ = [
    "CEConfig",
    "Evaluation",
    "default_chunk_rows",
    "default_workers",
    "evaluate",
    "ordered_map",
    "parse_weight",
    "signature",
    "weight_tag",
]
