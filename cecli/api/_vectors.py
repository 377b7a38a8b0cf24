"""Class and label weights given on the command line: a comma list or a file of numbers.

Reading a file is not the specs' job: these turn ``--weight`` / ``--pos-weight`` into the
arrays a :class:`~cecli.core.LossSpec` takes; the reading itself is
:func:`cecli.readers.vectors.read_vector` (one reader for both options).
"""

from __future__ import annotations

from ..readers.vectors import read_vector as parse_vector

__all__ = ["parse_vector"]
