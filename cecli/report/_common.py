"""Formatting shared by every report: JSON-safe values, numbers, bars, verdicts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._numbers import DASH as DASH

SPARK = " ▁▂▃▄▅▆▇█"


def clean(value: Any) -> Any:
    """JSON-safe: NaN / inf become ``None``; NumPy scalars and arrays become Python values."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def exact(v: float) -> str:
    """A number at full precision (``repr``): what ``-f value`` prints."""
    return repr(float(v))


def cell(v: Any) -> str:
    """A TSV cell: floats at full precision, ``None`` (a NaN in JSON) as ``nan``."""
    if v is None:
        return "nan"
    return repr(v) if isinstance(v, float) else str(v)


def short(v: float | None, digits: int = 6) -> str:
    """A number for a table: ``digits`` significant digits, a dash for no value or NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    return f"{v:.{digits}g}"


def sparkline(counts: list[int]) -> str:
    if not counts or max(counts) == 0:
        return ""
    top = max(counts)
    return "".join(SPARK[0 if c == 0 else max(1, round(c / top * 8))] for c in counts)


BAR_WIDTH = 10


_EIGHTHS = " ▏▎▍▌▋▊▉"


def share_bar(share: float, width: int = BAR_WIDTH) -> str:
    """A bar of ``share * width`` cells, in eighths of a cell (empty for NaN or <= 0)."""
    if math.isnan(share) or share <= 0:
        return ""
    eighths = round(min(share, 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[part] if part else "")) or "▏"


def format_pair(value: float, threshold: float) -> tuple[str, str]:
    """Two numbers with as few digits as tell them apart (at least 3): ``0.532`` / ``0.500``."""

    def fmt(x: float, d: int) -> str:
        if not math.isfinite(x):
            return str(x)
        if x == 0 or 1e-3 <= abs(x) < 1e6:
            return f"{x:.{d}f}"
        return f"{x:.{d}g}"

    for d in range(3, 18):
        a, b = fmt(value, d), fmt(threshold, d)
        if a != b or value == threshold or not (math.isfinite(value) and math.isfinite(threshold)):
            return a, b
    return repr(value), repr(threshold)


def check_verdict(command: str, check: dict[str, Any]) -> str:
    """The one-line verdict of a check, for stderr.

    ``FAIL ce loss 0.532 > 0.500``; ``ok ce loss 0.498 <= 0.510 (baseline 0.500 + 0.010)``;
    ``FAIL compare delta 0.031 > 0.000: B is worse than A (one-sided p 0.001 < alpha 0.05)``.
    """
    value, threshold = float(check["value"]), float(check["threshold"])
    v, t = format_pair(value, threshold)
    ok = bool(check["passed"])
    word = "ok" if ok else "FAIL"
    if check["name"] == "fail_if_worse":
        p, alpha = check["p_worse"], check["alpha"]
        if ok:
            return (
                f"ok {command} delta {v}: B is not significantly worse than A "
                f"(margin {t}, one-sided p {p:.3g} >= alpha {alpha:g})"
            )
        return (
            f"FAIL {command} delta {v} > {t}: B is worse than A "
            f"(one-sided p {p:.3g} < alpha {alpha:g})"
        )
    what = f"{command} loss"
    if math.isnan(value):
        line = f"{word} {what} nan (not a number) vs {t}"
    else:
        line = f"{word} {what} {v} {'<=' if ok else '>'} {t}"
    if check["name"] == "baseline":
        b, d = check["baseline"], check["max_increase"]
        inc = f"{d * 100:g}%" if check.get("relative") else format_pair(d, d)[0]
        line += f" (baseline {format_pair(b, threshold)[0]} + {inc})"
    return line


def checks_failed(checks: list[dict[str, Any]]) -> bool:
    return any(not c["passed"] for c in checks)

