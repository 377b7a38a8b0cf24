"""The front door: files in, results out (readers -> core -> accumulate -> writers).

Specs in, results out: :func:`evaluate` (ce, nll, bce), :func:`compare` and
:func:`write_softmax` take a :class:`~cecli.readers.ReadOptions`, a
:class:`~cecli.core.LossSpec`, :class:`~cecli.accumulate.Measures`, a :class:`RunSpec` and an
:class:`OutputSpec` (``spec``), each validated once when built.

The seams: a chunk kernel (``_kernels``: one batch -> a partial accumulator and the chunk's
rows) is mapped by an engine (``_engine.LocalEngine`` on threads, ``_dask.DaskEngine`` on a
cluster: plan chunks -> map the kernel -> fold partials in chunk order); one ``_outputs.Outputs``
commits or aborts every file of a run together.
"""

from ._compare import Comparison, compare
from ._engine import ordered_map
from ._evaluate import Evaluation, evaluate, signature
from ._softmax import SoftmaxResult, SoftmaxSpec, write_softmax
from ._vectors import parse_vector, parse_weight, weight_tag
from .spec import Engine, OutputSpec, RunSpec, default_workers

__all__ = [
    "Comparison",
    "Engine",
    "Evaluation",
    "OutputSpec",
    "RunSpec",
    "SoftmaxResult",
    "SoftmaxSpec",
    "compare",
    "default_workers",
    "evaluate",
    "ordered_map",
    "parse_vector",
    "parse_weight",
    "signature",
    "weight_tag",
    "write_softmax",
]
