"""The loss spec: torch's options of one loss, declared once, validated once, carried whole.

A :class:`LossSpec` is built at the edge (the command line, or a library call) and passed down
unchanged; the accumulators and the one-shot functions read it, and :meth:`LossSpec.bind` turns
it into the kernel's options once the data has told the number of classes and the target kind.
Its errors name the command-line option (``--label-smoothing must be in [0, 1]``), so the CLI
needs no checks of its own. The choice enums are ``str``-valued: typer takes them as choice
types, and ``Reduction.MEAN == "mean"``.
"""

from __future__ import annotations

import enum
import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..errors import UsageError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_IGNORE_INDEX",
    "LOSS_KINDS",
    "CEOptions",
    "Choice",
    "InputKind",
    "LossKind",
    "LossSpec",
    "Nonfinite",
    "Reduction",
    "TargetKind",
]

#: torch's ``ignore_index`` default: targets equal to it contribute nothing.
DEFAULT_IGNORE_INDEX = -100


C = TypeVar("C", bound="Choice")


class Choice(str, enum.Enum):
    """A ``str``-valued choice that prints as its value (also in f-strings, on every Python)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)

    @classmethod
    def parse(cls: type[C], value: object, option: str, allowed: tuple[C, ...] | None = None) -> C:
        """``value`` as a member, or a UsageError naming ``option`` and the choices."""
        members = allowed if allowed is not None else tuple(cls)
        for m in members:
            if value is m or value == m.value:
                return m
        raise UsageError(
            f"{option} must be one of {', '.join(m.value for m in members)}", value=value
        )


class LossKind(Choice):
    """Which loss: CrossEntropyLoss, NLLLoss (log-probabilities in) or BCEWithLogitsLoss."""

    CE = "ce"
    NLL = "nll"
    BCE = "bce"


#: The losses a spec describes: ``nll`` is ``ce`` on log-probabilities.
LOSS_KINDS = tuple(k.value for k in LossKind)


class Reduction(Choice):
    MEAN = "mean"
    SUM = "sum"
    NONE = "none"


class InputKind(Choice):
    LOGITS = "logits"
    PROBS = "probs"
    LOGPROBS = "logprobs"
    TARGET_LOGPROBS = "target-logprobs"
    """Each position holds only the log-probability of its realised token (no vocabulary)."""


class TargetKind(Choice):
    AUTO = "auto"
    INDEX = "index"
    PROBS = "probs"


class Nonfinite(Choice):
    ERROR = "error"
    PROPAGATE = "propagate"


@dataclass(frozen=True)
class LossSpec:
    """torch's options of one loss (``CrossEntropyLoss``, ``NLLLoss``, ``BCE(WithLogits)Loss``).

    Strings are accepted for the choices and stored as their enum members; ``weight`` and
    ``pos_weight`` are stored as float64 vectors. ``nonfinite`` defaults to torch's behaviour
    (NaN flows through); the command line asks for ``error``.

    Examples
    --------
    >>> from cecli.core import LossSpec
    >>> LossSpec(label_smoothing=0.1).reduction
    <Reduction.MEAN: 'mean'>
    """

    kind: Literal["ce", "nll", "bce"] = "ce"
    input: InputKind | None = None
    """What the predictions hold (None: ``logprobs`` for ``nll``, else ``logits``)."""
    targets: TargetKind = TargetKind.AUTO
    weight: np.ndarray | None = field(default=None, compare=False)
    pos_weight: np.ndarray | None = field(default=None, compare=False)
    ignore_index: int = DEFAULT_IGNORE_INDEX
    reduction: Reduction = Reduction.MEAN
    label_smoothing: float = 0.0
    float64: bool = False
    nonfinite: Nonfinite = Nonfinite.PROPAGATE

    def __post_init__(self) -> None:
        if self.kind not in LOSS_KINDS:
            raise UsageError(f"unknown loss {self.kind!r}", fix="use ce, nll or bce")
        self._set("kind", str(self.kind))  # a LossKind member is its plain name here
        binary = self.kind == "bce"
        inputs = (InputKind.LOGITS, InputKind.PROBS) if binary else None
        given = self.input
        if given is None:  # nll is NLLLoss: log-probabilities in
            given = InputKind.LOGPROBS if self.kind == "nll" else InputKind.LOGITS
        self._set("input", InputKind.parse(given, "--input", inputs))
        self._set("targets", TargetKind.parse(self.targets, "--targets"))
        self._set("reduction", Reduction.parse(self.reduction, "--reduction"))
        self._set("nonfinite", Nonfinite.parse(self.nonfinite, "--nonfinite"))
        ls = self.label_smoothing
        if isinstance(ls, bool) or not isinstance(ls, numbers.Real):
            raise UsageError("--label-smoothing must be a number", value=ls)
        if not 0.0 <= float(ls) <= 1.0:  # False for NaN
            raise UsageError("--label-smoothing must be in [0, 1]", value=ls)
        self._set("label_smoothing", float(ls))
        self._set("ignore_index", _integer(self.ignore_index, "--ignore-index"))
        self._set("float64", bool(self.float64))
        self._set("weight", _weights(self.weight, "--weight", binary))
        self._set("pos_weight", _weights(self.pos_weight, "--pos-weight", True))
        if binary and self.label_smoothing:
            raise UsageError("--label-smoothing is for ce, not bce", value=self.label_smoothing)
        if self.input is InputKind.TARGET_LOGPROBS:
            _token_options(self)
        if self.pos_weight is not None:
            if not binary:
                raise UsageError("--pos-weight is for bce", fix="use --weight for class weights")
            if self.input is not InputKind.LOGITS:
                raise UsageError(
                    "--pos-weight applies to logits (BCEWithLogitsLoss), not --input probs",
                    fix="drop --pos-weight, or give logits",
                )

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def binary(self) -> bool:
        return self.kind == "bce"

    def bind(self, num_classes: int, soft: bool, top_k: int = 0) -> CEOptions:
        """The kernel's options once the data has told ``num_classes`` and whether the targets
        are probabilities (``soft``); ``top_k`` is the one measure the kernel computes."""
        if self.binary:
            raise UsageError("a bce spec has no cross-entropy kernel options")
        if soft and self.ignore_index >= 0:
            raise UsageError(
                "ignore_index >= 0 is not supported with probability targets (as in torch)",
                value=self.ignore_index,
                fix="drop --ignore-index or give class-index targets",
            )
        if self.weight is not None and self.weight.shape != (num_classes,):
            raise UsageError(
                f"class weights have {self.weight.size} values but the predictions have "
                f"{num_classes} classes",
                fix=f"give exactly {num_classes} weights",
            )
        if top_k < 0:
            raise UsageError("--top-k must not be negative", value=top_k)
        return CEOptions(
            num_classes=num_classes,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            input_kind=str(self.input),
            soft=soft,
            nonfinite=str(self.nonfinite),
            float64=self.float64,
            top_k=int(top_k),
        )


@dataclass(frozen=True)
class CEOptions:
    """A cross-entropy :class:`LossSpec` bound to the data (:meth:`LossSpec.bind`): what the
    kernel reads."""

    num_classes: int
    weight: np.ndarray | None = None  # float64 (C,)
    ignore_index: int = DEFAULT_IGNORE_INDEX
    label_smoothing: float = 0.0
    input_kind: str = "logits"
    soft: bool = False  # probability targets
    nonfinite: str = "propagate"  # "error" records offending rows; "propagate" lets NaN through
    float64: bool = False
    top_k: int = 0

    @property
    def weight_total(self) -> float:
        return float(self.num_classes) if self.weight is None else float(self.weight.sum())


def _token_options(spec: LossSpec) -> None:
    """The options that need a vocabulary mean nothing for target log-probabilities."""
    if spec.weight is not None:
        raise UsageError(
            "--weight weighs classes, and --input target-logprobs has none",
            fix="weigh positions with --sample-weight-col",
        )
    if spec.label_smoothing:
        raise UsageError(
            "--label-smoothing needs every class's log-probability, and --input "
            "target-logprobs has only the target's",
            value=spec.label_smoothing,
        )
    if spec.targets == TargetKind.PROBS:
        raise UsageError("--targets probs needs a vocabulary; --input target-logprobs has none")


def _integer(v: Any, option: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise UsageError(f"{option} must be an integer", value=v)
    return int(v)


def _weights(v: Any, option: str, binary: bool) -> np.ndarray | None:
    """Class (or label) weights as a float64 vector: finite, not negative."""
    if v is None:
        return None
    import numpy as np  # here, not at import: the command line loads this module at start-up

    try:
        a = np.array(v, dtype=np.float64)  # a copy: frozen below, the caller's array is not
    except (TypeError, ValueError):
        raise UsageError(f"{option} must hold numbers", value=v) from None
    if binary and a.ndim > 1:
        raise UsageError(f"{option} must be one value or one per label, not shape {a.shape}")
    a = a.reshape(-1)
    if not np.all(np.isfinite(a)):
        raise UsageError(f"{option} values must be finite numbers", value=a.tolist())
    if np.any(a < 0):
        raise UsageError(f"{option} values must not be negative", value=a.tolist())
    a.setflags(write=False)
    return a
