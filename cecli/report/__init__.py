"""Results -> JSON-able dicts, TSV and value lines, rich renderables. Returns, never prints.

One module per command's result (``_ce``: ce / nll, ``_bce``, ``_compare``, ``_softmax``,
``_inspect``) and the progress display (``_progress``); :func:`render` picks a result's view for
a ``--format``; ``_common`` holds the formatting they share (JSON-safe values, numbers, bars,
the one-line verdict of a gate) and :mod:`.formats` the ``--format`` choices. Names are loaded
on first use (PEP 562), and rich inside the functions that build renderables, so the command
line can import :mod:`.formats` at start-up and JSON or value output never pays for rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .formats import Format, InfoFormat

if TYPE_CHECKING:
    from ._bce import bce_summary_table, bce_to_dict, bce_tsv_lines, bce_value_lines
    from ._ce import per_class_table, summary_table, to_dict, tsv_lines, value_lines
    from ._common import (
        DASH,
        SPARK,
        check_verdict,
        checks_failed,
        clean,
        format_pair,
        share_bar,
        sparkline,
    )
    from ._compare import compare_table, compare_to_dict, compare_tsv_lines, compare_value_lines
    from ._explain import explain_to_dict, explain_view
    from ._html import CONFUSIONS, html_report
    from ._inspect import inspect_table
    from ._plots import plot_format, pyplot, save_panels
    from ._progress import ProgressBar, progress_display
    from ._render import junit_xml, render
    from ._softmax import softmax_table, softmax_to_dict

_LAZY = {
    "_bce": ("bce_summary_table", "bce_to_dict", "bce_tsv_lines", "bce_value_lines"),
    "_ce": ("per_class_table", "summary_table", "to_dict", "tsv_lines", "value_lines"),
    "_common": (
        "DASH",
        "SPARK",
        "check_verdict",
        "checks_failed",
        "clean",
        "format_pair",
        "share_bar",
        "sparkline",
    ),
    "_compare": ("compare_table", "compare_to_dict", "compare_tsv_lines", "compare_value_lines"),
    "_explain": ("explain_to_dict", "explain_view"),
    "_html": ("CONFUSIONS", "html_report"),
    "_inspect": ("inspect_table",),
    "_plots": ("plot_format", "pyplot", "save_panels"),
    "_progress": ("ProgressBar", "progress_display"),
    "_render": ("junit_xml", "render"),
    "_softmax": ("softmax_table", "softmax_to_dict"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "CONFUSIONS",
    "DASH",
    "SPARK",
    "Format",
    "InfoFormat",
    "ProgressBar",
    "bce_summary_table",
    "bce_to_dict",
    "bce_tsv_lines",
    "bce_value_lines",
    "check_verdict",
    "checks_failed",
    "clean",
    "compare_table",
    "compare_to_dict",
    "compare_tsv_lines",
    "compare_value_lines",
    "explain_to_dict",
    "explain_view",
    "format_pair",
    "html_report",
    "inspect_table",
    "junit_xml",
    "per_class_table",
    "plot_format",
    "progress_display",
    "pyplot",
    "render",
    "save_panels",
    "share_bar",
    "softmax_table",
    "softmax_to_dict",
    "sparkline",
    "summary_table",
    "to_dict",
    "tsv_lines",
    "value_lines",
]

__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, __all__)
