"""Reproducibility signatures: every setting that changes a number, then the version.

``ce|in:logits|tgt:index|red:mean|w:none|ii:-100|ls:0|v:0.1.0`` is a run's :class:`Signature`
(sacrebleu's is the model): built from the run's specs, printed in the JSON, parsed back from a
saved result, and compared setting by setting (:meth:`Signature.diff`) so that a baseline
computed with other settings is named for what differs.

A signature means "the same number": the settings that change the loss are compared; the
version and the bootstrap interval's settings (``ci:...``: ``--ci``, ``--bootstrap``,
``--seed``, ``--group-col``, which change the interval but never the loss the gates check) are
recorded, never compared (:data:`RECORDED`), so a baseline saved with ``--ci`` accepts a run
without it. Formats, the engine and the chunk size change no number and are not in it at all.

Tokens are ``key:value`` settings (``in:logits``), bare flags (``f64``) and the command first;
a bare token is keyed by its position (``#0`` for the command).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .._version import __version__

if TYPE_CHECKING:
    from ..accumulate.spec import Measures
    from ..core.spec import LossSpec
    from ..readers import ReadOptions

__all__ = ["RECORDED", "Difference", "Signature", "weight_tag"]

#: The key of the version token, which :meth:`Signature.settings` leaves out.
VERSION_KEY = "v"
#: The key of the bootstrap interval's token.
CI_KEY = "ci"
#: Keys recorded in a signature but not compared by :meth:`Signature.diff`: they change no
#: loss a gate checks (the version; the interval's level, replicates, seed and groups).
RECORDED = (CI_KEY,)


def weight_tag(weight: Iterable[float] | None) -> str:
    """Weights as a signature shows them: the values, or a hash when there are more than 8."""
    if weight is None:
        return "none"
    vals = [repr(float(v)) for v in weight]
    if len(vals) <= 8:
        return ",".join(vals)
    import hashlib  # only when a signature names class weights (~3 ms of start-up otherwise)

    return "sha1-" + hashlib.sha1(",".join(vals).encode()).hexdigest()[:12]


class Difference(NamedTuple):
    """One setting two signatures disagree on: its key and each side's token (``-`` where a
    side lacks it), e.g. ``Difference("red", "red:sum", "red:mean")``."""

    key: str
    theirs: str
    mine: str


@dataclass(frozen=True)
class Signature:
    """A run's settings as ``|``-separated tokens, the version last.

    >>> sig = Signature.parse("ce|in:logits|red:sum|v:0.1.0")
    >>> Signature.parse("ce|in:logits|red:mean|v:0.2.0").diff(sig)
    [Difference(key='red', theirs='red:sum', mine='red:mean')]
    """

    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Signature:
        """A signature as :meth:`__str__` wrote it (any ``|``-separated string is accepted)."""
        return cls(tuple(text.split("|")))

    @classmethod
    def of(cls, command: str, settings: Iterable[str], version: str = __version__) -> Signature:
        """The command, its settings in order (``key:value`` or a bare flag), the version."""
        return cls((command, *settings, f"{VERSION_KEY}:{version}"))

    @classmethod
    def build(
        cls,
        command: str,
        loss: LossSpec,
        *,
        target_kind: str = "index",
        measures: Measures | None = None,
        read: ReadOptions | None = None,
        version: str = __version__,
    ) -> Signature:
        """The signature of a run of ``command`` (``ce``, ``nll``, ``bce``, ``compare``) with
        these specs; ``target_kind`` is what the data turned out to hold (``index`` / ``probs``).

        Cross-entropy: input, target kind, reduction, weights, ignore_index, smoothing, then
        the sample-weight column, ``f64`` and the bootstrap when they apply; binary
        cross-entropy: input, reduction, weights, pos_weight, ``f64``, the bootstrap.
        """
        red, w = f"red:{_value(loss.reduction)}", f"w:{weight_tag(loss.weight)}"
        if loss.kind == "bce":
            settings = [f"in:{_value(loss.input)}", red, w, f"pw:{weight_tag(loss.pos_weight)}"]
            settings += ["f64"] if loss.float64 else []
            return cls.of(command, [*settings, *_interval(measures, None)], version)
        settings = [
            f"in:{_value(loss.input)}",
            f"tgt:{target_kind}",
            red,
            w,
            f"ii:{loss.ignore_index}",
            f"ls:{loss.label_smoothing:g}",
        ]
        if read is not None and read.sample_weight_col:
            settings.append(f"sw:{read.sample_weight_col}")
        if loss.float64:
            settings.append("f64")
        group = read.group_col if read is not None else None
        return cls.of(command, [*settings, *_interval(measures, group)], version)

    def __str__(self) -> str:
        return "|".join(self.tokens)

    @property
    def command(self) -> str:
        return self.tokens[0]

    def settings(self) -> dict[str, str]:
        """``{key: value}`` of every token but the version; bare tokens keyed ``#position``."""
        parts: dict[str, str] = {}
        for i, token in enumerate(self.tokens):
            key, sep, val = token.partition(":")
            if sep and key == VERSION_KEY:
                continue
            parts[key if sep else f"#{i}"] = val if sep else token
        return parts

    def diff(self, other: Signature, ignore: Iterable[str] = ()) -> list[Difference]:
        """The settings in which this signature differs from ``other`` (the version, the
        :data:`RECORDED` keys and the ``ignore`` keys aside): ``other``'s keys in its order,
        then the ones only this has."""
        mine, theirs = self.settings(), other.settings()
        for key in (*RECORDED, *ignore):
            mine.pop(key, None)
            theirs.pop(key, None)
        keys = [*theirs, *(k for k in mine if k not in theirs)]
        return [
            Difference(k, _shown(k, theirs.get(k)), _shown(k, mine.get(k)))
            for k in keys
            if mine.get(k) != theirs.get(k)
        ]


def _interval(measures: Measures | None, group: str | None) -> list[str]:
    """The bootstrap interval's token (recorded, not compared), when one is asked for."""
    if measures is None or measures.ci is None:
        return []
    return [
        f"{CI_KEY}:{measures.ci:g},poisson-bootstrap,B:{measures.bootstrap},"
        f"seed:{measures.seed},grp:{group or 'none'}"
    ]


def _value(choice: Any) -> str:
    """An enum member's value (``Reduction.MEAN`` -> ``mean``); a string as it is."""
    return str(getattr(choice, "value", choice))


def _shown(key: str, value: str | None) -> str:
    shown = "-" if value is None else value
    return shown if key.startswith("#") else f"{key}:{shown}"
