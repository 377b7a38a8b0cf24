"""Report of ``inspect``: what a file holds, as a table (its JSON is the info dict, cleaned)."""

from __future__ import annotations

from typing import Any

from ._parts import heading


def inspect_table(info: dict[str, Any]) -> Any:
    """A rich renderable of what :func:`cecli.readers.inspect_file` found."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table

    # paths, column names and keys are data, not markup: "logits[0]" must show as written
    t = Table()
    t.add_column("what", style="bold")
    t.add_column("value")
    for key in ("format", "size_bytes", "rows", "shape", "dtype", "classes", "target", "row_groups"):
        v = info.get(key)
        if v is not None:
            t.add_row(key.replace("_", " "), escape(f"{v:,}" if isinstance(v, int) else str(v)))
    names = info.get("class_names")
    if names:
        shown = ", ".join(map(str, names[:12])) + (" …" if len(names) > 12 else "")
        t.add_row("class names", escape(shown))
    parts: list[Any] = [heading(f"cecli inspect · {info.get('path')}"), t]
    cols = info.get("columns")
    if cols:
        parts.append(heading("columns"))
        ct = Table()
        for h in ("name", "dtype", "role"):
            ct.add_column(h)
        for c in cols[:60]:
            ct.add_row(escape(str(c.get("name"))), escape(str(c.get("dtype"))), str(c.get("role")))
        if len(cols) > 60:
            ct.caption = f"{len(cols) - 60} more columns in -f json"
        parts.append(ct)
    keys = info.get("keys")
    if keys:
        parts.append(heading("arrays"))
        kt = Table()
        for h in ("key", "shape", "dtype"):
            kt.add_column(h)
        for k in keys:
            name = escape(str(k.get("name", k.get("key"))))
            kt.add_row(name, str(k.get("shape")), str(k.get("dtype")))
        parts.append(kt)
    return Group(*parts)
