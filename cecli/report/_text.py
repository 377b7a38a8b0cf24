"""Delimited text reports (``-f tsv`` / ``-f csv``) and GitHub-flavoured Markdown (``-f
markdown``), both built from a result's JSON object, so they never show another number.

TSV / CSV: a header and a line of the object's scalar fields; a breakdown (``per_class``,
``per_label``) follows as a second section after a blank line, with a header of its own, so it
is never dropped. Fields are quoted as Python's :mod:`csv` writer quotes them.

JUnit XML (``--junit FILE``): each gate a test case, a failed one with its values.

Markdown: a ``### cecli COMMAND`` heading, a table of the headline figures, the breakdown (the
largest shares first, at most :data:`MARKDOWN_ROWS` rows), the gates with their values and
thresholds, and the warnings, for ``$GITHUB_STEP_SUMMARY`` and pull-request comments.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from ._common import DASH, cell, clean, short
from ._numbers import NumberColumn, percent, value_column

#: The keys of a JSON object's breakdown, in the order they are looked for.
BREAKDOWNS = ("per_class", "per_label", "per_group")
#: Breakdown rows a Markdown report shows (the rest are in -f json).
MARKDOWN_ROWS = 30


def delimited(rows: Iterable[Sequence[Any]], sep: str) -> list[str]:
    """Rows of cells as lines, quoted as Python's csv writer quotes them (``None``: ``nan``)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\n")
    for row in rows:
        w.writerow([cell(v) for v in row])
    return buf.getvalue().splitlines()


def summary_lines(d: dict[str, Any], sep: str, keys: Sequence[str] | None = None) -> list[str]:
    """``-f tsv`` / ``-f csv`` of a JSON object: its scalar fields (or ``keys``), then each
    breakdown as a second section after a blank line."""
    if keys is None:
        keys = [k for k, v in d.items() if not isinstance(v, (dict, list))]
    lines = delimited([keys, [d.get(k) for k in keys]], sep)
    for key in BREAKDOWNS:
        rows = d.get(key)
        if rows:
            cols = list(rows[0])
            lines += ["", *delimited([cols, *([r.get(c) for c in cols] for r in rows)], sep)]
    return lines


# -- Markdown -------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    """A table cell: pipes escaped, never a line break."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> list[str]:
    """A GitHub-flavoured table; ``align`` has an ``l`` or ``r`` a column (default: the first
    left, the others right, as numbers are)."""
    marks = ["---:" if a == "r" else "---" for a in align or "l" + "r" * (len(header) - 1)]
    out = ["| " + " | ".join(map(_md, header)) + " |", "| " + " | ".join(marks) + " |"]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return out


def num(v: Any, digits: int = 6) -> str:
    """A number in a Markdown table (``-`` for none), counts with thousands separators."""
    if v is None:
        return DASH
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    return short(float(v), digits)


def interval(ci: dict[str, Any] | None, col: NumberColumn) -> list[tuple[str, str]]:
    """The rows of a bootstrap interval (``1,000 bootstrap replicates``, never ``B=1000``)."""
    if not ci:
        return []
    how = f"{ci['replicates']:,} bootstrap replicates, seed {ci['seed']}"
    if ci.get("group"):
        how += f", groups: {ci['group']}"
    return [(f"{ci['level']:.0%} interval", f"{col.real(ci['low'])} {DASH} {col.real(ci['high'])} ({how})")]


def check_rows(checks: Sequence[dict[str, Any]]) -> list[str]:
    """The gates as a table: each one's result, value and threshold."""
    if not checks:
        return []
    col = NumberColumn.fit([v for c in checks for v in (c["value"], c["threshold"])], sig=6)
    rows = [
        (c["name"], "pass" if c["passed"] else "**FAIL**", col.real(c["value"]),
         col.real(c["threshold"]), _check_note(c))
        for c in checks
    ]  # fmt: skip
    return ["", *md_table(("check", "result", "value", "threshold", "note"), rows, "llrrl")]


def _check_note(c: dict[str, Any]) -> str:
    if c["name"] == "baseline":
        inc = f"{c['max_increase']:.4g}" + (" relative" if c.get("relative") else "")
        return f"baseline {num(c['baseline'], 8)} + {inc} ({c['file']})"
    if c["name"] == "fail_if_worse":
        return f"one-sided p {num(c['p_worse'], 3)}, alpha {c['alpha']:g}, margin {c['margin']:g}"
    return "loss <= threshold"


def breakdown_rows(d: dict[str, Any], limit: int = MARKDOWN_ROWS) -> list[str]:
    """The per-class (ce), per-label (bce) or per-group (target log-probabilities) table, the
    largest share of the loss first (groups, which have no share, in their order)."""
    for key in BREAKDOWNS:
        rows = d.get(key)
        if not rows:
            continue
        name = {"per_class": "class", "per_label": "label", "per_group": "group"}[key]
        ordered = sorted(rows, key=lambda r: -(r["share"] if r.get("share") is not None else -1))
        cols = [c for c in rows[0] if c not in (name, "index", "loss_sum")]
        shown = ordered[:limit]
        fmts = {c: NumberColumn.fit([r[c] for r in shown], sig=6) for c in cols}  # CI reports: 6 digits
        body = [[r[name], *(_breakdown_cell(fmts[c], c, r[c]) for c in cols)] for r in shown]
        how = " (by share of the total loss)" if "share" in rows[0] else ""
        out = ["", f"**{key.replace('_', ' ')}**{how}", "",
               *md_table([name, *cols], body)]
        if len(rows) > limit:
            out += ["", f"{len(rows) - limit} more in `-f json`."]
        return out
    return []


def _breakdown_cell(fmt: NumberColumn, key: str, v: Any) -> str:
    """A cell of a breakdown: a count, a share in percent, a sum (whole or not), a real."""
    if isinstance(v, int):
        return f"{v:,}"
    if key == "share":
        return percent(v)
    return fmt.number(v) if key in ("weight_sum", "positives") else fmt.real(v)


def warning_lines(warnings: Sequence[str]) -> list[str]:
    return ["", *(f"> warning: {_md(w)}" for w in warnings)] if warnings else []


def markdown_lines(d: dict[str, Any]) -> list[str]:
    """``-f markdown`` of an evaluation's JSON object (ce, nll, bce)."""
    names = ", ".join(f"`{i['path']}`" for i in d.get("inputs", []))
    ci = d.get("ci") or {}
    col = value_column(d["loss"], [d.get(k) for k in ("perplexity", "accuracy", "top_k_accuracy",
                                                       "ece", "positives")]
                       + [ci.get("low"), ci.get("high")], loss_digits=8)  # fmt: skip
    head = "mean loss" if d["reduction"] == "none" else f"loss ({d['reduction']})"
    rows: list[tuple[str, str]] = [(head, col.real(d["loss"]))]
    rows += interval(d.get("ci"), col)
    if d.get("perplexity") is not None:
        rows.append(("perplexity", col.real(d["perplexity"])))
    if "bits_per_token" in d:  # target log-probabilities: no vocabulary, so no accuracy
        rows.append(("bits per token", col.real(d["bits_per_token"])))
        if d.get("bytes") is not None:
            rows += [("bytes", col.number(d["bytes"])), ("bits per byte", col.real(d["bits_per_byte"]))]
        out = [*rows, ("samples", num(d["samples"])), ("counted", num(d["counted"]))]
        return _markdown_page(d, names, out)
    label = "accuracy"
    if d.get("threshold") is not None:
        label = f"accuracy (threshold {d['threshold']:g})"
    rows.append((label, col.real(d.get("accuracy"))))
    if d.get("top_k"):
        rows.append((f"top-{d['top_k']} accuracy", col.real(d.get("top_k_accuracy"))))
    if "ece" in d:
        rows.append((f"ECE ({d['ece_bins']} bins)", col.real(d["ece"])))
    rows.append(("samples", num(d["samples"])))
    for key in ("counted", "ignored", "rows", "labels", "classes", "positives"):
        if key in d:
            rows.append((key, num(d[key]) if isinstance(d[key], int) else col.number(d[key])))
    return _markdown_page(d, names, rows)


def _markdown_page(d: dict[str, Any], names: str, rows: list[tuple[str, str]]) -> list[str]:
    out = [f"### cecli {d['command']} · {names}", "", *md_table(("measure", "value"), rows, "lr")]
    out += breakdown_rows(d) + check_rows(d.get("checks", []))
    out += warning_lines(d.get("warnings", []))
    return [*out, "", f"<sub>signature `{d['signature']}`</sub>"]


def compare_markdown_lines(d: dict[str, Any]) -> list[str]:
    """``-f markdown`` of ``compare``'s JSON object: A and B side by side, the difference."""
    a, b = d["a"], d["b"]

    keys = [k for k in ("perplexity", "accuracy", "top_k_accuracy", "ece")
            if a.get(k) is not None or b.get(k) is not None]  # fmt: skip
    deltas = {k: None if a.get(k) is None or b.get(k) is None else b[k] - a[k] for k in keys}
    ci = d.get("ci") or {}
    col = value_column(a["loss"], [b["loss"], d["delta"], d["p_value"], ci.get("low"), ci.get("high"),
                                   *(a.get(k) for k in keys), *(b.get(k) for k in keys),
                                   *deltas.values()], loss_digits=8)  # fmt: skip
    labels = {"top_k_accuracy": f"top-{a.get('top_k')} accuracy", "ece": "ECE"}
    rows = [(f"loss ({d['reduction']})", col.real(a["loss"]), col.real(b["loss"]),
             col.real(d["delta"], sign=True))]  # fmt: skip
    for key in keys:
        rows.append((labels.get(key, key), col.real(a.get(key)), col.real(b.get(key)),
                     col.real(deltas[key], sign=True)))  # fmt: skip
    out = [f"### cecli compare · A = `{a['path']}` · B = `{b['path']}`", "",
           *md_table(("measure", "A", "B", "B - A"), rows)]
    stats = [*interval(d.get("ci"), col), ("p-value", f"{col.real(d['p_value'])} (two-sided, no difference)"),
             ("samples", num(d["samples"])), ("counted", num(d["counted"]))]
    out += ["", *md_table(("B - A", "value"), stats, "ll")]
    out += check_rows(d.get("checks", [])) + warning_lines(d.get("warnings", []))
    return [*out, "", f"<sub>signature `{d['signature']}`</sub>"]


# -- JUnit XML ------------------------------------------------------------------------------------


def junit_xml(d: dict[str, Any], checks: Sequence[dict[str, Any]], verdicts: Sequence[str]) -> str:
    """``--junit FILE``: the gates of a result's JSON object as JUnit XML, one ``testcase`` a
    gate (``verdicts``: each gate's one-line verdict, in order), a failed gate with a
    ``failure`` holding its value and threshold, in one ``testsuite`` named after the command
    and its inputs. The result's headline figures are the suite's properties."""
    import xml.etree.ElementTree as ET

    failed = sum(not c["passed"] for c in checks)
    counts = {"tests": str(len(checks)), "failures": str(failed), "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", {"name": "cecli", **counts, "time": "0"})
    command = d["command"]
    inputs = ", ".join(i["path"] for i in d.get("inputs", [])) or ", ".join(
        d[k]["path"] for k in ("a", "b") if k in d
    )
    suite = ET.SubElement(root, "testsuite", {"name": f"cecli {command} {inputs}".strip(),
                                              **counts, "time": "0"})
    props = ET.SubElement(suite, "properties")
    for key in ("loss", "delta", "p_value", "reduction", "signature", "version"):
        if key in d:
            ET.SubElement(props, "property", {"name": key, "value": cell(d[key])})
    for c, verdict in zip(clean(list(checks)), verdicts, strict=True):
        case = ET.SubElement(suite, "testcase", {"classname": f"cecli.{command}",
                                                 "name": c["name"], "time": "0"})
        if not c["passed"]:
            failure = ET.SubElement(case, "failure", {"message": verdict, "type": c["name"]})
            failure.text = "\n".join(
                f"{k}: {cell(v)}" for k, v in c.items() if k not in ("name", "passed")
            )
        else:
            ET.SubElement(case, "system-out").text = verdict
    ET.indent(root)
    body: str = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
