"""One entry point for every result: :func:`render` in the format asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .formats import Format

Checks = list[dict[str, Any]]


def render(result: Any, fmt: Format, checks: Checks) -> list[str] | Any:
    """``result`` (an evaluation of ``ce`` / ``nll`` / ``bce``, or a comparison) in ``fmt``:
    the lines for stdout (JSON / JSON Lines: one line; ``value``: the bare number(s); ``tsv``
    / ``csv``; ``markdown``), or for a table a rich renderable; nothing when the per-row table
    went to stdout (``-o -``). ``fmt`` is concrete (``auto`` resolved by the caller)."""
    from . import _text

    if getattr(result, "output", None) == "-":
        return []
    to_json, value, lines, table = _views(result)
    if fmt in (Format.JSON, Format.JSONL):
        import json  # only here: ~2 ms of a run's start-up

        return [json.dumps(to_json(result, checks), allow_nan=False)]
    if fmt is Format.VALUE:
        return value(result)
    if fmt in (Format.TSV, Format.CSV):
        return lines(result, "\t" if fmt is Format.TSV else ",")
    if fmt is Format.MARKDOWN:
        d = to_json(result, checks)
        if d["command"] == "compare":
            return _text.compare_markdown_lines(d)
        return _text.markdown_lines(d)
    return table(result, checks)


def _views(result: Any) -> tuple[Callable[..., Any], ...]:
    from ..api import Evaluation  # loaded by any run that has one (api._compare is not)

    if not isinstance(result, Evaluation):  # a Comparison
        from . import _compare as c

        return c.compare_to_dict, c.compare_value_lines, c.compare_tsv_lines, c.compare_table
    if result.loss.binary:  # an Evaluation of bce
        from . import _bce as b

        return b.bce_to_dict, b.bce_value_lines, b.bce_tsv_lines, b.bce_summary_table
    from . import _ce as e

    return e.to_dict, e.value_lines, e.tsv_lines, e.summary_table


def junit_xml(result: Any, checks: Checks, command: str) -> str:
    """``--junit FILE``: the gates of ``result`` as JUnit XML (see :func:`._text.junit_xml`)."""
    from . import _text
    from ._common import check_verdict

    d = _views(result)[0](result, checks)
    return _text.junit_xml(d, checks, [check_verdict(command, c) for c in checks])
