"""The accumulator protocol: ``update`` chunk by chunk, ``merge`` partials, ``compute`` once.

An accumulator declares its state once, in :attr:`Accumulator.STATE`: each field's name and its
merge rule. :meth:`Accumulator.merge` folds another accumulator's state field by field:

* ``"add"``: integers, added (counts: exact);
* ``"merge"``: a mergeable sum (:class:`~._sums.TreeSum`, :class:`~._sums.DDSum`,
  :class:`~._sums.LossHistogram`, :class:`~._sums.BootstrapSums`, :class:`FirstRow`, or a dict
  of them), folded by its own ``merge``; None (a measure not asked for) is skipped;
* ``"max"``: the largest (the next row of a sequential update).

Partials are merged in chunk order (the engines promise it), which is what keeps every sum
deterministic. An implementation adds :meth:`update` and :meth:`result`, and says how to
:meth:`_bind_like` another accumulator (its classes or labels, known from the first chunk).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from ..core import raise_nonfinite

__all__ = ["Accumulator", "FirstRow", "MergeRule"]

MergeRule = Literal["add", "merge", "max"]
Self = TypeVar("Self", bound="Accumulator")


class FirstRow:
    """Rows with a finding (non-finite predictions, unnormalised probabilities): how many, and
    the first one's global index (-1: none). Merging keeps the smallest first row."""

    __slots__ = ("count", "first")

    def __init__(self) -> None:
        self.first = -1
        self.count = 0

    def add(self, first: int, count: int) -> None:
        """``count`` more rows, the first of them at global row ``first``."""
        if count:
            if self.first < 0:
                self.first = first
            self.count += count

    def merge(self, other: FirstRow) -> None:
        if other.count:
            if self.first < 0 or 0 <= other.first < self.first:
                self.first = other.first
            self.count += other.count


class Accumulator:
    """Streaming sufficient statistics of one loss (see the module docstring)."""

    #: The state, declared once: field name -> merge rule.
    STATE: ClassVar[dict[str, MergeRule]] = {}

    next_row: int
    nonfinite: FirstRow

    def spawn(self: Self) -> Self:
        """An empty accumulator with the same configuration (a worker's partial)."""
        raise NotImplementedError

    @property
    def started(self) -> bool:
        """Whether a chunk has told the shape of the data (classes, labels)."""
        raise NotImplementedError

    def _bind_like(self, other: Any) -> None:
        """Take ``other``'s data shape (classes, labels), or raise when it differs from ours."""
        raise NotImplementedError

    def merge(self: Self, other: Self) -> Self:
        """Add another accumulator's statistics (the chunks it saw come after this one's)."""
        if not other.started:
            return self
        self._bind_like(other)
        for name, rule in self.STATE.items():
            mine, theirs = getattr(self, name), getattr(other, name)
            if rule == "add":
                setattr(self, name, mine + theirs)
            elif rule == "max":
                setattr(self, name, max(mine, theirs))
            elif mine is not None and theirs is not None:
                if isinstance(mine, dict):
                    for key, value in mine.items():
                        value.merge(theirs[key])
                else:
                    mine.merge(theirs)
        return self

    def check(self, file: str | None = None) -> None:
        """Raise the data errors recorded while streaming (non-finite predictions)."""
        if self.nonfinite.count:
            raise_nonfinite(self.nonfinite.first, self.nonfinite.count, file)
