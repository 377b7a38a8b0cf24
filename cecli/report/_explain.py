"""Report of ``explain``: each chosen row's derivation, then the reduction with its numbers.

:func:`explain_to_dict` is the JSON object (full precision; the per-class steps hold the shown
classes, named in ``shown``); :func:`explain_view` the rich view: per row, the per-class steps
as a table with one column per shown class, the scalar steps as a derivation, each stage's
formula named once.
"""

from __future__ import annotations

from typing import Any

from .._version import __version__
from ..accumulate import CEResult
from ..api import Derivation, Explanation
from ._common import clean
from ._parts import ce_options, input_rows


def _name(ex: Explanation, c: int) -> str:
    names = ex.class_names
    return str(names[c]) if names and c < len(names) else str(c)


def row_dict(ex: Explanation, d: Derivation) -> dict[str, Any]:
    """One row's derivation as JSON: the steps by name, in order."""
    out: dict[str, Any] = {"row": d.row}
    if d.id is not None:
        out["id"] = d.id
    if d.target is not None:
        out["target"] = d.target
        out["target_name"] = _name(ex, d.target) if 0 <= d.target < d.classes else None
    out["counted"] = d.counted
    if d.why_ignored:
        out["ignored_because"] = d.why_ignored
    out["classes"] = d.classes
    out["shown"] = d.shown.tolist()
    out["shown_names"] = [_name(ex, int(c)) for c in d.shown] if not ex.loss.binary else None
    out["elided"] = d.elided
    out["stages"] = dict(d.stages)
    out["steps"] = {
        s.name: {"stage": s.stage, "formula": s.formula, ("values" if s.per_class else "value"): s.value}
        for s in d.steps
    }
    out["loss"] = d.loss
    if d.sample_weight is not None:
        out["sample_weight"] = d.sample_weight
        out["weighted_loss"] = d.loss * d.sample_weight
    return out


def reduction_dict(ex: Explanation) -> dict[str, Any]:
    """The reduction: the sum, what the mean divides by (and why), the mean, ignored rows."""
    r = ex.result
    if isinstance(r, CEResult):
        if ex.target_kind == "probs":
            denom = "the number of positions (probability targets)"
        elif ex.loss.weight is None:
            denom = "sum of w[y] over counted rows (no --weight: the counted rows)"
        else:
            denom = "sum of w[y] over counted rows"
        if ex.sample_weight_col:
            denom += f", each times its sample weight ({ex.sample_weight_col})"
        out = {
            "reduction": r.reduction,
            "sum": r.loss_sum,
            "sum_formula": "sum_i l_i",
            "denominator": r.weight_sum,
            "denominator_formula": denom,
            "mean": _mean(r.loss_sum, r.weight_sum),
            "loss": r.loss,
            "samples": r.samples,
            "counted": r.counted,
            "ignored": r.ignored,
        }
        if r.ignored:
            out["ignored_rows"] = list(ex.ignored_rows)
            out["ignored_because"] = f"target equals ignore_index ({ex.loss.ignore_index})"
        return out
    return {
        "reduction": r.reduction,
        "sum": r.loss_sum,
        "sum_formula": "sum over every element (rows x labels)",
        "denominator": float(r.elements),
        "denominator_formula": "rows x labels (every element)",
        "mean": _mean(r.loss_sum, float(r.elements)),
        "loss": r.loss,
        "samples": r.rows,
        "elements": r.elements,
    }


def _mean(total: float, denom: float) -> float:
    return total / denom if denom else float("nan")


def explain_to_dict(ex: Explanation) -> dict[str, Any]:
    """The JSON object of ``explain``."""
    pick: dict[str, Any] = {"worst": ex.pick.worst} if ex.pick.worst else {"picked_rows": list(ex.pick.rows)}
    options: dict[str, Any]
    if ex.loss.binary:
        options = {
            "input": str(ex.loss.input),
            "weight": None if ex.loss.weight is None else ex.loss.weight.tolist(),
            "pos_weight": None if ex.loss.pos_weight is None else ex.loss.pos_weight.tolist(),
        }
    else:
        options = ce_options(ex.loss, ex.target_kind)
    out = {
        "command": "explain",
        "loss_kind": ex.command,
        **pick,
        "options": options,
        "rows": [row_dict(ex, d) for d in ex.rows],
        "reduction": reduction_dict(ex),
        "inputs": input_rows(ex.inputs),
        "signature": ex.signature,
        "warnings": list(ex.warnings),
        "version": __version__,
    }
    cleaned: dict[str, Any] = clean(out)
    return cleaned


# -- the rich view -------------------------------------------------------------------------------


def _num(v: Any) -> str:
    return f"{float(v):.5g}"  # the view's digits; -f json has every one


#: Column heads of the per-class steps in the rich view (the legend under it names them).
_HEAD = {"logits": "x", "shifted": "x - m", "exp": "exp(x - m)", "log_softmax": "lp", "log_probs": "lp",
         "target": "t", "smoothed_target": "q", "weight": "w", "term": "-w q lp", "probs": "p",
         "log_p": "log p", "log_1mp": "log(1-p)", "log_sigmoid": "log sig(x)",
         "log_1m_sigmoid": "log(1-sig(x))", "pos_weight": "pw", "log_weight": "1+(pw-1)t",
         "loss": "l", "kernel_loss": "l (kernel)"}  # fmt: skip


def _class_table(ex: Explanation, d: Derivation) -> Any:
    """The per-class steps: a row per shown class, a column per step; then their formulas."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    steps = [s for s in d.steps if s.per_class]
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("label" if ex.loss.binary else "class")
    for s in steps:
        t.add_column(escape(_HEAD.get(s.name, s.name)), justify="right")
    for i, c in enumerate(d.shown.tolist()):
        name = _name(ex, c)
        name = str(c) if name == str(c) else f"{c} {escape(name)}"
        t.add_row(name + (" (y)" if c == d.target else ""), *(_num(s.value[i]) for s in steps))
    if d.elided:
        t.add_row(f"[dim]… {d.elided} more[/dim]", *([""] * len(steps)))
    legend = Text("; ".join(f"{_HEAD.get(s.name, s.name)}: {s.name}, {s.formula}" for s in steps), style="dim")
    return Group(t, legend)


def _scalar_table(d: Derivation) -> Any:
    """The steps that give one number, in order."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column("step", style="bold")
    t.add_column("formula", style="dim")
    t.add_column("value", justify="right")
    for s in d.steps:
        if not s.per_class:
            t.add_row(s.name, escape(s.formula), _num(s.value))
    return t


def _row_panel(ex: Explanation, d: Derivation) -> Any:
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.text import Text

    title = f"row {d.row}" + (f" · id {d.id}" if d.id is not None else "")
    if d.target is not None:
        name = _name(ex, d.target) if 0 <= d.target < d.classes else str(d.target)
        title += f" · target {d.target}" + (f" ({name})" if name != str(d.target) else "")
    parts: list[Any] = [Text(f"{stage}: {f}", style="cyan") for stage, f in d.stages.items()]
    if d.steps:
        parts += [_class_table(ex, d), Text(""), _scalar_table(d)]
    if d.why_ignored:
        parts.append(Text(f"ignored: {d.why_ignored}", style="yellow"))
    line = f"row loss (as `{ex.command} --reduction none` gives it): {d.loss!r}"
    if d.sample_weight is not None:
        line += f"; sample weight {d.sample_weight:g}, weighted {d.loss * d.sample_weight!r}"
    parts.append(Text(line, style="bold"))
    return Panel(Group(*parts), title=escape(title), title_align="left")


def explain_view(ex: Explanation) -> Any:
    """The rich view: a panel per row, then the reduction."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    head = f"cecli explain ({ex.command}) · {', '.join(i.path for i in ex.inputs)}"
    parts: list[Any] = [Text(head, style="bold")]
    parts += [_row_panel(ex, d) for d in ex.rows]
    red = reduction_dict(ex)
    t = Table(title="reduction", show_header=False, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value", justify="right")
    t.add_column("", style="dim")
    t.add_row("sum", repr(red["sum"]), escape(red["sum_formula"]))
    t.add_row("denominator", repr(red["denominator"]), escape(red["denominator_formula"]))
    t.add_row("mean", repr(red["mean"]), "sum / denominator")
    t.add_row(f"loss ({red['reduction']})", repr(red["loss"]), "what the loss command reports")
    if red.get("ignored"):
        rows = ", ".join(map(str, red["ignored_rows"])) + (" …" if red["ignored"] > len(red["ignored_rows"]) else "")
        t.add_row("ignored", str(red["ignored"]), escape(f"{red['ignored_because']}: rows {rows}"))
    parts.append(t)
    parts += [Text(f"warning: {w}", style="yellow") for w in ex.warnings]
    return Group(*parts)
