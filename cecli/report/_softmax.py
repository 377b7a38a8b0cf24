"""Report of ``softmax``: what was written, as JSON or a table."""

from __future__ import annotations

from typing import Any

from .._version import __version__
from ..api import SoftmaxResult
from ._common import clean
from ._parts import heading


def softmax_to_dict(res: SoftmaxResult, log: bool, temperature: float) -> dict[str, Any]:
    """What ``cecli softmax -f json`` prints about the file it wrote."""
    out: dict[str, Any] = {
        "command": "softmax",
        "output": res.output,
        "format": res.format,
        "layout": res.layout,
        "log": log,
        "temperature": temperature,
        "rows": res.rows,
        "classes": res.classes,
        "shape": list(res.shape),
        "dtype": res.dtype,
        "columns": list(res.columns),
        "inputs": [{"path": i.path, "format": i.format, "rows": i.rows} for i in res.inputs],
        "version": __version__,
    }
    result: dict[str, Any] = clean(out)
    return result


def softmax_table(info: dict[str, Any]) -> Any:
    """A rich renderable of :func:`softmax_to_dict`'s figures."""
    from rich.console import Group
    from rich.table import Table

    t = Table()
    t.add_column("what", style="bold")
    t.add_column("value")
    for key in ("format", "layout", "log", "temperature", "rows", "classes", "shape", "dtype"):
        v = info[key]
        t.add_row(key, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    return Group(heading(f"cecli softmax · {info['output']}"), t)
