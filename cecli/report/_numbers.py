"""One number format for every table: digits chosen per column, separators, aligned decimals.

A table column holds numbers of one kind, formatted alike: every real with the same number of
decimals (enough for the column's smallest value to keep its significant digits), thousands
separators on every number (counts and weight sums alike), and integers (counts) padded on
the right so their last digit sits where the reals' decimal point is. A column whose values
cannot share fixed decimals (a value below ``10**-MAX_DECIMALS`` next to large ones) is all
scientific. JSON and ``-f value`` never come here: they print full precision.

>>> NumberColumn.fit([0.0949286, 2.97179]).cells([0.0949286, 2.97179])
['0.09493', '2.97179']
>>> NumberColumn.fit([0.9307, 1.0], sig=4).cells([1.0, 0.9307])
['1.0000', '0.9307']
>>> NumberColumn(decimals=4).number(30358.0), NumberColumn(decimals=0).number(1500000.0)
('30,358', '1,500,000')
>>> aligned(["0.1970", "300", "0.1318 / 12.5000"])
['          0.1970', '        300', '0.1318 / 12.5000']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

DASH = "\u2013"  # an en dash: "no value", and ranges "low DASH high"

#: Beyond this many decimals a column is printed in scientific notation instead.
MAX_DECIMALS = 8


def decimals_for(v: float, sig: int) -> int:
    """The decimals that show ``sig`` significant digits of ``v`` in fixed notation."""
    if v == 0 or not math.isfinite(v):
        return 0
    return max(0, sig - 1 - math.floor(math.log10(abs(v))))


@dataclass(frozen=True)
class NumberColumn:
    """How the numbers of one column are printed: ``decimals`` in fixed notation (or
    ``scientific`` with ``sig`` digits), separators always. Build it with :meth:`fit`."""

    decimals: int
    scientific: bool = False
    sig: int = 4

    @classmethod
    def fit(cls, values: Iterable[float | None], sig: int = 4, least: int = 0) -> NumberColumn:
        """The format that shows each real of ``values`` with ``sig`` significant digits (at
        least ``least`` decimals); integers and NaN do not count."""
        reals = [v for v in (_finite(x) for x in values) if v is not None and not v.is_integer()]
        d = max([least, *(decimals_for(v, sig) for v in reals)])
        if d > MAX_DECIMALS:
            return cls(decimals=0, scientific=True, sig=sig)
        return cls(decimals=d, sig=sig)

    def real(self, v: float | None, sign: bool = False) -> str:
        """A real of the column (a dash for no value or NaN, aligned like a count)."""
        if v is None or math.isnan(v):
            return self.count(None)
        if math.isinf(v):
            return self.count(None).replace(DASH, "inf" if v > 0 else "-inf", 1)
        plus = "+" if sign else ""
        if self.scientific:
            return f"{v:{plus}.{self.sig - 1}e}"
        return f"{v:{plus},.{self.decimals}f}"

    def count(self, n: int | None) -> str:
        """An integer (or a dash): :func:`aligned` puts its last digit where the reals'
        decimal point is."""
        return DASH if n is None else f"{n:,}"

    def number(self, v: float | None) -> str:
        """A weight sum and the like: a count when the value is a whole number, else a real."""
        if v is not None and math.isfinite(v) and float(v).is_integer() and abs(v) < 2**53:
            return self.count(int(v))
        return self.real(v)

    def cells(self, values: Iterable[float | None]) -> list[str]:
        return [self.real(v) for v in values]


def value_column(
    loss: float | None, others: Iterable[float | None], loss_digits: int = 6
) -> NumberColumn:
    """The format of a measure table's value column: the loss with ``loss_digits`` significant
    digits, every other real with at least four, all with the same decimals."""
    return NumberColumn.fit(others, sig=4, least=NumberColumn.fit([loss], sig=loss_digits).decimals)


def _finite(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def percent(share: float | None) -> str:
    """A share as a percentage with one decimal (a dash for NaN)."""
    if share is None or math.isnan(share):
        return DASH
    return f"{share:.1%}"


#: A number as a table prints it (or the dash of a missing one).
NUMBER = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d+)?(?:e[-+]\d+)?|inf)|\u2013")


def _anchor(text: str) -> int | None:
    """Where the decimal point of the cell's last number is (or would be: after an integer)."""
    found = list(NUMBER.finditer(text))
    if not found:
        return None
    m = found[-1]
    dot = m.group().find(".")
    return m.start() + dot if dot >= 0 else m.end()


def aligned(cells: Sequence[str]) -> list[str]:
    """The cells of a left-justified column, padded on the left so the decimal points of their
    last numbers line up (counts line up their last digit there). Text without a number
    (a sparkline, a word) is left as it is. rich drops trailing spaces, so alignment is done
    here rather than by padding counts on the right."""
    anchors = [_anchor(c) for c in cells]
    at = max((a for a in anchors if a is not None), default=0)
    return [c if a is None else " " * (at - a) + c for c, a in zip(cells, anchors, strict=True)]


def add_aligned_rows(table: Any, rows: Sequence[Sequence[Any]], columns: Sequence[int]) -> None:
    """Add ``rows`` to a rich ``table``, the cells of ``columns`` :func:`aligned` (a cell may
    be a rich ``Text``: its style is kept)."""
    from rich.text import Text

    cells = [list(r) for r in rows]
    for j in columns:
        plain = [c.plain if isinstance(c, Text) else str(c) for c in (r[j] for r in cells)]
        for r, text in zip(cells, aligned(plain), strict=True):
            r[j] = Text(text, style=r[j].style) if isinstance(r[j], Text) else text
    for r in cells:
        table.add_row(*r)
