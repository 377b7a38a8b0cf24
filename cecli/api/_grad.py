"""``--grad-output``: the gradient of the reduced loss w.r.t. the predictions, in a second pass.

The ``mean`` gradient is scaled by ``1 / weight_sum``, known only after the first pass, so the
gradient is written in a second pass over the inputs (stdin cannot be read twice).
"""

from __future__ import annotations

import numpy as np

from ..accumulate import CrossEntropyAccumulator
from ..core import ce_grad_positions, work_dtype
from ..errors import CecliError, UsageError
from ..readers import ReadOptions, open_inputs
from ..writers import TableWriter
from ._ce import CEConfig


def write_gradient(
    preds: str,
    targets: str | None,
    read: ReadOptions,
    cfg: CEConfig,
    acc: CrossEntropyAccumulator,
    chunk_rows: int,
) -> TableWriter:
    """Write the gradient to a prepared (complete, closed) but unpublished writer: the caller
    commits it together with ``-o`` (:func:`~cecli.writers.commit_together`)."""
    assert cfg.grad_output is not None
    if preds == "-" or targets == "-":
        raise UsageError("--grad-output reads the input twice, so it needs a file, not stdin")
    opts = acc.opts
    if opts is None:  # no rows: nothing to differentiate; an empty array of the right shape
        with open_inputs(preds, targets, read) as inputs:
            empty = TableWriter(
                cfg.grad_output, tuple(inputs.sample_shape), inputs.dtype, force=cfg.force
            )
            try:
                empty.prepare()
            except BaseException:
                empty.abort()
                raise
        return empty
    scale = 1.0
    if cfg.reduction == "mean":
        denom = acc.denom_sum.scalar()
        scale = 1.0 / denom if denom else float("inf")
    with open_inputs(preds, targets, read) as inputs:
        shape = tuple(inputs.sample_shape)
        wd = work_dtype(np.dtype(inputs.dtype), cfg.float64)
        writer = TableWriter(cfg.grad_output, shape, wd, force=cfg.force)
        names = inputs.class_names or [str(c) for c in range(opts.num_classes)]
        try:
            for batch in inputs.batches(chunk_rows):
                assert batch.target is not None
                x3, t3, n, per_pos, _ = acc.prepare(batch.preds, batch.target, batch.start)
                g = ce_grad_positions(x3, t3, opts, scale).astype(wd, copy=False)
                if batch.sample_weight is not None:
                    sw = np.repeat(np.asarray(batch.sample_weight, dtype=wd), per_pos)
                    g = g * sw.reshape(x3.shape[0], 1, x3.shape[2])
                g = g.reshape((n, *shape))
                if writer.arrays is not None:
                    writer.arrays.write(g)
                else:
                    flat = g.reshape(n, -1)
                    cols = {}
                    if batch.ids is not None:
                        cols["id"] = np.asarray(batch.ids)
                    if flat.shape[1] == len(names):
                        cols.update({f"grad_{nm}": flat[:, i] for i, nm in enumerate(names)})
                    else:
                        cols.update({f"grad_{i}": flat[:, i] for i in range(flat.shape[1])})
                    writer.write_columns(cols)
            writer.prepare(shape if inputs.unbatched else None)
        except CecliError as exc:
            writer.abort()
            raise exc.with_file(inputs.preds_info.path) from None
        except BaseException:
            writer.abort()
            raise
    return writer
