"""The front door: files in, results out (readers -> core -> accumulate -> writers).

Engines live beside it: :mod:`._engine` maps the chunk kernel over threads and folds the
partial statistics in chunk order.
"""

from ._bce import BCEConfig as BCEConfig
from ._bce import BCEEvaluation as BCEEvaluation
from ._bce import evaluate_bce as evaluate_bce
from ._bce import parse_vector as parse_vector
from ._ce import CEConfig, Evaluation, evaluate, parse_weight, signature, weight_tag
from ._compare import Comparison as Comparison
from ._compare import compare as compare
from ._engine import default_chunk_rows, ordered_map
from ._softmax import SoftmaxConfig as SoftmaxConfig
from ._softmax import SoftmaxResult as SoftmaxResult
from ._softmax import write_softmax as write_softmax
from .spec import Engine, OutputSpec, RunSpec, default_workers

__all__ = [
    "CEConfig",
    "Engine",
    "Evaluation",
    "OutputSpec",
    "RunSpec",
    "default_chunk_rows",
    "default_workers",
    "evaluate",
    "ordered_map",
    "parse_weight",
    "signature",
    "weight_tag",
]
