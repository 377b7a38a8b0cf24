"""``--grad-output`` in a second pass: the gradient of the reduced loss w.r.t. the predictions.

The ``mean`` gradient is scaled by the mean's denominator (cross-entropy: the weight sum; bce:
the element count when the input does not tell its rows), known only after the first pass, so
the gradient is written in a second pass over the inputs (stdin cannot be read twice). The
writer belongs to the run's :class:`~._outputs.Outputs`, committed with ``-o``.
"""

from __future__ import annotations

import numpy as np

from ..accumulate import BinaryAccumulator, CrossEntropyAccumulator
from ..core import work_dtype
from ..errors import CecliError, UsageError
from ..readers import open_inputs
from ._engine import Plan
from ._kernels import BCEKernel, CEKernel
from ._outputs import Outputs

__all__ = ["gradient_pass"]


def gradient_pass(
    plan: Plan,
    kernel: CEKernel | BCEKernel,
    acc: CrossEntropyAccumulator | BinaryAccumulator,
    outputs: Outputs,
    names: list[str],
) -> tuple[int, ...] | None:
    """Write the gradient of every chunk into ``outputs.grad``; returns the NPY shape to commit
    it with (None: ``(rows, *row shape)``)."""
    if plan.preds == "-" or plan.targets == "-":
        if isinstance(kernel, CEKernel):
            raise UsageError("--grad-output reads the input twice, so it needs a file, not stdin")
        raise UsageError(
            "--grad-output with --reduction mean reads a CSV input twice, so it needs a file, "
            "not stdin",
            fix="save the input to a file, or use --reduction sum",
        )
    table = outputs.grad_table
    with open_inputs(plan.preds, plan.targets, plan.read) as inputs:
        shape = tuple(inputs.sample_shape)
        if isinstance(acc, CrossEntropyAccumulator):
            assert isinstance(kernel, CEKernel)
            if acc.opts is None:  # no rows: nothing to differentiate; an empty array
                outputs.open_grad(shape, inputs.dtype)
                return None
            wd = work_dtype(np.dtype(inputs.dtype), acc.loss.float64)
            scale = 1.0
            if acc.loss.reduction == "mean":
                denom = acc.denom_sum.scalar()
                scale = 1.0 / denom if denom else float("inf")
            names = inputs.class_names or [str(c) for c in range(acc.opts.num_classes)]
            outputs.open_grad(shape, wd)
            try:
                for batch in inputs.batches(plan.chunk_rows):
                    outputs.write_grad(kernel.gradient(acc, batch, scale, shape, names, table))
            except CecliError as exc:
                raise exc.with_file(inputs.preds_info.path) from None
            return shape if inputs.unbatched else None
        assert isinstance(kernel, BCEKernel)
        wd = work_dtype(np.dtype(inputs.dtype), acc.loss.float64)
        outputs.open_grad(shape, wd)
        part = acc.spawn()
        try:
            for batch in inputs.batches(plan.chunk_rows):
                rows = kernel.gradient(part, batch, float(acc.elements), shape, names, table)
                outputs.write_grad(rows)
        except CecliError as exc:
            raise exc.with_file(inputs.preds_info.path) from None
    return None
