"""Class and label weights given on the command line: a comma list or a file of numbers.

Reading a file is not the specs' job: these turn ``--weight`` / ``--pos-weight`` into the
arrays a :class:`~cecli.core.LossSpec` takes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import CecliError, DataError, InputError, UsageError

__all__ = ["parse_vector"]


def parse_vector(spec: str | None, option: str) -> np.ndarray | None:
    """``--weight`` (ce, nll, bce) or ``--pos-weight`` (bce): one number, a comma list
    (``1,2,0.5``) or a file (.npy, .csv/.tsv/.txt) of one value per class or label."""
    if spec is None or spec == "":
        return None
    if os.path.exists(spec):
        try:
            if spec.endswith(".npy"):
                v: Any = np.load(spec, allow_pickle=False)
            else:
                with open(spec, encoding="utf-8") as fh:
                    v = _numbers(_tokens(fh.read()), option, spec)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            if isinstance(exc, CecliError):
                raise
            raise InputError(f"cannot read {option} ({exc})", file=spec) from None
    else:
        if not any(ch.isdigit() for ch in spec):
            raise UsageError(f"{option} {spec!r}: no such file, and not a comma list of numbers")
        v = _numbers(_tokens(spec), option, None)
    try:
        a = np.asarray(v, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{option} must hold numbers", file=spec) from None
    if a.size == 0:
        raise UsageError(f"{option} holds no value", value=spec)
    if not np.all(np.isfinite(a)):
        raise UsageError(f"{option} values must be finite numbers", value=spec)
    if np.any(a < 0):
        raise UsageError(f"{option} values must not be negative", value=spec)
    return a


def _tokens(text: str) -> Iterator[str]:
    for tok in text.replace("\t", ",").replace("\n", ",").split(","):
        if tok.strip():
            yield tok.strip()


def _numbers(tokens: Iterator[str], option: str, file: str | None) -> list[float]:
    vals = []
    for i, tok in enumerate(tokens):
        try:
            vals.append(float(tok))
        except ValueError:
            raise (UsageError if file is None else DataError)(
                f"{option} value {i + 1} is not a number", file=file, value=tok
            ) from None
    return vals
