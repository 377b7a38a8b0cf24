"""The front door: files in, results out (readers -> core -> accumulate -> writers).

Specs in, results out: :func:`evaluate` (ce, nll, bce), :func:`compare` and
:func:`write_softmax` take a :class:`~cecli.readers.ReadOptions`, a
:class:`~cecli.core.LossSpec`, :class:`~cecli.accumulate.Measures`, a :class:`RunSpec` and an
:class:`OutputSpec` (``spec``), each validated once when built.

The seams: a chunk kernel (``_kernels``: one batch -> a partial accumulator and the chunk's
rows) is mapped by an engine (``_engine.LocalEngine`` on threads, ``_dask.DaskEngine`` on a
cluster: plan chunks -> map the kernel -> fold partials in chunk order); one ``_outputs.Outputs``
commits or aborts every file of a run together. ``signature`` (the reproducibility
signature) and ``gates`` (fail-above, baseline, fail-if-worse) are library objects too.

Names are loaded on first use (PEP 562): the command line imports the ``spec`` module at
start-up without loading NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .spec import (
    Engine,
    ExplainSpec,
    OutputSpec,
    RunSpec,
    default_workers,
)

if TYPE_CHECKING:
    from ._compare import Comparison, compare
    from ._engine import ordered_map
    from ._evaluate import Evaluation, evaluate
    from ._explain import Explanation, explain
    from ._softmax import SoftmaxResult, SoftmaxSpec, write_softmax
    from ._steps import Derivation, Step
    from ._vectors import parse_vector
    from .signature import Signature, weight_tag

_LAZY = {
    "Comparison": "_compare",
    "Evaluation": "_evaluate",
    "Signature": "signature",
    "SoftmaxResult": "_softmax",
    "SoftmaxSpec": "_softmax",
    "compare": "_compare",
    "evaluate": "_evaluate",
    "Explanation": "_explain",
    "Derivation": "_steps",
    "Step": "_steps",
    "explain": "_explain",
    "ordered_map": "_engine",
    "parse_vector": "_vectors",
    "weight_tag": "signature",
    "write_softmax": "_softmax",
}

__all__ = [
    "Comparison",
    "Derivation",
    "Engine",
    "Evaluation",
    "ExplainSpec",
    "Explanation",
    "OutputSpec",
    "RunSpec",
    "Signature",
    "SoftmaxResult",
    "SoftmaxSpec",
    "Step",
    "compare",
    "default_workers",
    "evaluate",
    "explain",
    "ordered_map",
    "parse_vector",
    "weight_tag",
    "write_softmax",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
