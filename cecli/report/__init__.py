"""Results -> JSON-able dicts, TSV lines and rich renderables. Returns, never prints.

rich is imported inside the functions that build renderables, so JSON and value output never
pay for it.
"""

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
from ._family import (
    bce_summary_table,
    bce_to_dict,
    bce_tsv_lines,
    bce_value_lines,
    softmax_to_dict,
)

__all__ = [
    "DASH",
    "SPARK",
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
    "format_pair",
    "per_class_table",
    "share_bar",
    "softmax_to_dict",
    "sparkline",
    "summary_table",
    "to_dict",
    "tsv_lines",
    "value_lines",
]
