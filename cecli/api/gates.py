"""CI gates: checks on a result that decide a run's verdict (the CLI maps a failed one to exit 1).

Each gate spec is validated in its constructor (a :class:`~cecli.errors.UsageError` naming the
option), can be checked before the data is read (:meth:`LossGates.precheck`: a run bound to fail
on its baseline writes no output) and turns a result into the JSON ``checks`` list, one dict per
gate::

    {"name": "fail_above", "threshold": 0.5, "value": 0.41, "passed": True}

A NaN loss fails ``fail_above`` and ``baseline``; a NaN delta passes ``fail_if_worse`` (B is not
shown to be worse). A baseline computed with other settings is an
:class:`~cecli.errors.InputError` (exit 3), not a failed check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, UsageError
from .signature import Signature

__all__ = ["DEFAULT_ALPHA", "Baseline", "Check", "LossGates", "WorseGate"]

#: A JSON ``checks`` entry.
Check = dict[str, Any]

#: Significance level of ``compare --fail-if-worse``.
DEFAULT_ALPHA = 0.05
#: How much worse B may be before ``compare --fail-if-worse`` fails.
DEFAULT_MARGIN = 0.0

_SAVE_FIX = "save one with `cecli ce ... -f json > baseline.json`"


@dataclass(frozen=True)
class Baseline:
    """A result saved with ``cecli ... -f json``: its path, loss and signature."""

    path: str
    loss: float
    signature: Signature

    @classmethod
    def read(cls, path: str) -> Baseline:
        """Read and check a baseline file: JSON with a finite ``loss`` and a ``signature``."""
        import json  # only with --baseline (~2 ms of a run's start-up)

        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise InputError(
                "no such baseline file", file=path, fix="save one with `cecli ce ... -f json > FILE`"
            ) from None
        except IsADirectoryError:
            raise InputError("the baseline is a directory, not a JSON file", file=path) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the baseline as JSON ({exc})", file=path) from None
        if not isinstance(data, dict) or "loss" not in data:
            raise InputError("the baseline has no 'loss'", file=path, fix=_SAVE_FIX)
        loss = data["loss"]
        if isinstance(loss, bool) or not isinstance(loss, (int, float)) or not math.isfinite(loss):
            raise InputError(
                "the baseline's loss is not a finite number",
                file=path,
                value=loss,
                fix="recompute the baseline on data whose loss is defined",
            )
        theirs = data.get("signature")
        if not isinstance(theirs, str):
            raise InputError(
                "the baseline has no 'signature'",
                file=path,
                fix="save it with `cecli ce ... -f json > baseline.json`",
            )
        return cls(path, float(loss), Signature.parse(theirs))

    def require_settings(self, signature: Signature, ignore: tuple[str, ...] = ()) -> None:
        """InputError when the baseline was computed with other settings than ``signature``
        (the version and the ``ignore`` keys aside), naming each setting that differs."""
        diffs = signature.diff(self.signature, ignore)
        if diffs:
            said = "; ".join(f"{d.theirs} in the baseline but {d.mine} here" for d in diffs)
            raise InputError(
                f"the baseline was computed with other settings ({said})",
                file=self.path,
                fix=f"recompute it with this run's settings ({signature})",
            )


@dataclass(frozen=True)
class LossGates:
    """``--fail-above X`` and ``--baseline FILE.json [--max-increase D] [--relative]``."""

    fail_above: float | None = None
    baseline: str | None = None
    max_increase: float | None = None
    relative: bool = False

    def __post_init__(self) -> None:
        if (self.max_increase is not None or self.relative) and self.baseline is None:
            raise UsageError("--max-increase and --relative need --baseline FILE.json")
        for flag, v in (("--fail-above", self.fail_above), ("--max-increase", self.max_increase)):
            if v is not None and not math.isfinite(v):
                raise UsageError(f"{flag} must be a finite number", value=v)

    def precheck(self, signature: Signature, unknown: tuple[str, ...] = ()) -> None:
        """Before the data is read: the baseline (if any) is readable and was computed with
        these settings, except the keys only the data decides (``unknown``, e.g. ``tgt``)."""
        if self.baseline is not None:
            Baseline.read(self.baseline).require_settings(signature, unknown)

    def check(self, loss: float, signature: Signature) -> list[Check]:
        """The ``checks`` of a run whose loss is ``loss`` and whose settings are ``signature``
        (the baseline is read again and its settings checked in full)."""
        checks: list[Check] = []
        if self.fail_above is not None:
            checks.append(
                {
                    "name": "fail_above",
                    "threshold": self.fail_above,
                    "value": loss,
                    "passed": bool(loss <= self.fail_above),  # False for NaN
                }
            )
        if self.baseline is not None:
            base = Baseline.read(self.baseline)
            base.require_settings(signature)
            d = 0.0 if self.max_increase is None else self.max_increase
            threshold = base.loss * (1.0 + d) if self.relative else base.loss + d
            checks.append(
                {
                    "name": "baseline",
                    "file": self.baseline,
                    "baseline": base.loss,
                    "max_increase": d,
                    "relative": self.relative,
                    "threshold": threshold,
                    "value": loss,
                    "passed": bool(loss <= threshold),  # False for NaN
                }
            )
        return checks


@dataclass(frozen=True)
class WorseGate:
    """``compare --fail-if-worse [--alpha A] [--margin M]``: fails when B is significantly
    worse than A, i.e. the one-sided p-value of "delta <= margin" is below ``alpha`` and the
    delta exceeds the margin."""

    enabled: bool = False
    alpha: float = DEFAULT_ALPHA
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise UsageError("--alpha must be between 0 and 1, e.g. 0.05", value=self.alpha)
        if not math.isfinite(self.margin):
            raise UsageError("--margin must be a finite number", value=self.margin)
        if (self.alpha != DEFAULT_ALPHA or self.margin != DEFAULT_MARGIN) and not self.enabled:
            raise UsageError("--alpha and --margin are for --fail-if-worse")

    def check(self, delta: float, p_worse: Callable[[float], float]) -> list[Check]:
        """The ``checks`` of a comparison whose delta (B - A) is ``delta``; ``p_worse(margin)``
        is its one-sided p-value of "delta <= margin"."""
        if not self.enabled:
            return []
        p = p_worse(self.margin)
        return [
            {
                "name": "fail_if_worse",
                "alpha": self.alpha,
                "margin": self.margin,
                "threshold": self.margin,
                "value": delta,
                "p_worse": p,
                # NaN delta or p: not shown to be worse, so the check passes
                "passed": not (p < self.alpha and delta > self.margin),
            }
        ]
