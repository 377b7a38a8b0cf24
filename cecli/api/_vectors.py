"""Class and label weights given on the command line: a comma list or a file of numbers.

Reading a file is not the specs' job: these turn ``--weight`` / ``--pos-weight`` into the
arrays a :class:`~cecli.core.LossSpec` takes; the reading itself is
:func:`cecli.readers.vectors.read_vector` (one reader for both options).
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..readers.vectors import read_vector as parse_vector

__all__ = ["parse_vector", "parse_weight", "weight_tag"]


def weight_tag(weight: np.ndarray | None) -> str:
    """The weights as the signature shows them: the values, or a hash when there are many."""
    if weight is None:
        return "none"
    vals = [repr(float(v)) for v in weight]
    if len(vals) <= 8:
        return ",".join(vals)
    return "sha1-" + hashlib.sha1(",".join(vals).encode()).hexdigest()[:12]


def parse_weight(spec: str | None) -> np.ndarray | None:
    """``--weight``: a comma list (``1,2,0.5``) or a file (.npy, .csv/.tsv/.txt) of C values."""
    return parse_vector(spec, "--weight")
