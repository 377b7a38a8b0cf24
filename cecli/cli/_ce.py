"""``cecli ce`` and ``cecli nll``: the main job, and the CI gates on its result."""

from __future__ import annotations

import json
import math
from typing import Any

import typer

from ..errors import InputError, UsageError
from . import _options as opt
from . import app, guard, resolve_format

FORMATS = ("auto", "table", "json", "tsv", "value")

CE_EXAMPLE = """
Examples:

\b
  cecli ce preds.csv -f value      # one logit column per class, labels in 'label'
  cecli ce logits.npy labels.npy --label-smoothing 0.1 -f json | jq .loss
  cecli ce preds.parquet --per-class --ci 0.95 --fail-above 0.5
"""


def check_ce_choices(
    fmt: str,
    reduction: str,
    reductions: tuple[str, ...],
    input_kind: str,
    target_kind: str,
    nonfinite: str,
    label_smoothing: float,
    ece_bins: int,
    top_k: int,
) -> None:
    """The option checks ``ce``, ``nll`` and ``compare`` share (exit 2 on a bad value)."""
    check_choice("--format", fmt, FORMATS)
    check_choice("--reduction", reduction, reductions)
    check_choice("--input", input_kind, ("logits", "probs", "logprobs"))
    check_choice("--targets", target_kind, ("auto", "index", "probs"))
    check_choice("--nonfinite", nonfinite, ("error", "propagate"))
    if not 0.0 <= label_smoothing <= 1.0:
        raise UsageError("--label-smoothing must be in [0, 1]", value=label_smoothing)
    if ece_bins < 0 or top_k < 0:
        raise UsageError("--ece-bins and --top-k must not be negative")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}", value=value)


def run_checks(
    command: str,
    loss: float,
    signature: str,
    fail_above: float | None,
    baseline: str | None,
    max_increase: float | None,
    relative: bool,
) -> list[dict[str, Any]]:
    """The CI gates: ``--fail-above X`` and ``--baseline FILE.json --max-increase D
    [--relative]``, as the JSON ``checks`` list. A NaN loss fails every gate; a baseline computed
    with other settings (its signature differs in anything but the version) is an InputError
    (exit 3), not a failed check."""
    check_gates(fail_above, baseline, max_increase, relative)
    checks: list[dict[str, Any]] = []
    if fail_above is not None:
        checks.append(
            {
                "name": "fail_above",
                "threshold": fail_above,
                "value": loss,
                "passed": bool(loss <= fail_above),  # False for NaN
            }
        )
    if baseline is not None:
        base = load_baseline(baseline, signature)
        d = 0.0 if max_increase is None else max_increase
        threshold = base * (1.0 + d) if relative else base + d
        checks.append(
            {
                "name": "baseline",
                "file": baseline,
                "baseline": base,
                "max_increase": d,
                "relative": relative,
                "threshold": threshold,
                "value": loss,
                "passed": bool(loss <= threshold),  # False for NaN
            }
        )
    return checks


def check_gates(
    fail_above: float | None, baseline: str | None, max_increase: float | None, relative: bool
) -> None:
    """The gate options' own mistakes (called before the data is read, so that a run that is
    bound to fail writes no output)."""
    if (max_increase is not None or relative) and baseline is None:
        raise UsageError("--max-increase and --relative need --baseline FILE.json")
    for flag, v in (("--fail-above", fail_above), ("--max-increase", max_increase)):
        if v is not None and not math.isfinite(v):
            raise UsageError(f"{flag} must be a finite number", value=v)


def precheck_baseline(path: str, signature: str, unknown: tuple[str, ...] = ()) -> None:
    """Before the data is read: the baseline is readable and was computed with this run's
    settings, except the parts of the signature only the data decides (``unknown``, e.g. the
    target kind); :func:`load_baseline` checks them all afterwards."""
    _, theirs = read_baseline(path)
    check_signature(path, signature, theirs, unknown)


def _sig_parts(sig: str) -> dict[str, str]:
    """``a|in:logits|red:mean|v:0.1.0`` -> ``{"#0": "a", "in": "logits", ...}`` (no version)."""
    parts: dict[str, str] = {}
    for i, p in enumerate(sig.split("|")):
        key, sep, val = p.partition(":")
        if sep and key == "v":
            continue
        parts[key if sep else f"#{i}"] = val if sep else p
    return parts


def load_baseline(path: str, signature: str) -> float:
    """The loss of a baseline JSON saved from ``cecli ... -f json``, after checking that it was
    computed with this run's settings (its signature, the version aside)."""
    loss, theirs = read_baseline(path)
    check_signature(path, signature, theirs)
    return loss


def check_signature(path: str, signature: str, theirs: str, ignore: tuple[str, ...] = ()) -> None:
    """InputError when the baseline's signature ``theirs`` differs from ``signature`` in
    anything but the version (and the ``ignore`` keys)."""
    mine, base = _sig_parts(signature), _sig_parts(theirs)
    for key in ignore:
        mine.pop(key, None)
        base.pop(key, None)
    if mine != base:
        diffs = [
            f"{k}:{base.get(k, '-')} in the baseline but {k}:{mine.get(k, '-')} here"
            if not k.startswith("#")
            else f"{base.get(k, '-')} in the baseline but {mine.get(k, '-')} here"
            for k in [*base, *(k for k in mine if k not in base)]
            if mine.get(k) != base.get(k)
        ]
        raise InputError(
            f"the baseline was computed with other settings ({'; '.join(diffs)})",
            file=path,
            fix=f"recompute it with this run's settings ({signature})",
        )


def read_baseline(path: str) -> tuple[float, str]:
    """A baseline file's ``(loss, signature)``; checked before the data is read, so a missing
    or malformed baseline fails at once rather than after a long pass."""
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
        raise InputError(
            "the baseline has no 'loss'",
            file=path,
            fix="save one with `cecli ce ... -f json > baseline.json`",
        )
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
    return float(loss), theirs


def verdicts(command: str, checks: list[dict[str, Any]]) -> list[str]:
    """One line per check for stderr: ``FAIL ce loss 0.532 > 0.500`` or ``ok ce loss 0.412 <=
    0.500`` (numbers shown with as many digits as it takes to tell them apart)."""
    from ..report import check_verdict

    return [check_verdict(command, c) for c in checks]


def make_ce(name: str, default_input: str, summary: str) -> None:
    @app.command(name, help=f"{summary}\n{CE_EXAMPLE}", no_args_is_help=True)
    def command(
        preds: opt.Preds,
        targets: opt.Targets = None,
        weight: opt.Weight = None,
        ignore_index: opt.IgnoreIndex = -100,
        reduction: str = typer.Option("mean", "--reduction", "-r", help="mean, sum or none."),
        label_smoothing: opt.LabelSmoothing = 0.0,
        input_kind: opt.InputKind = default_input,
        target_kind: opt.TargetKind = "auto",
        target_col: opt.TargetCol = None,
        logit_cols: opt.LogitCols = None,
        id_col: opt.IdCol = None,
        sample_weight_col: opt.SampleWeightCol = None,
        group_col: opt.GroupCol = None,
        classes: opt.Classes = None,
        class_axis: opt.ClassAxis = 1,
        format_in: opt.FormatIn = None,
        preds_key: opt.PredsKey = None,
        target_key: opt.TargetKey = None,
        fmt: opt.Format = "auto",
        output: str | None = typer.Option(None, "--output", "-o", help="Write per-position losses (.npy .csv .tsv .parquet; with --engine dask, a folder of Parquet parts)."),
        force: opt.Force = False,
        with_probs: bool = typer.Option(False, "--with-probs", help="Add the target's probability and the argmax to -o output."),
        top_k: opt.TopK = 0,
        per_class: bool = typer.Option(False, "--per-class", help="A per-class breakdown."),
        ece: opt.Ece = False,
        ece_bins: opt.EceBins = 0,
        ci: float | None = typer.Option(None, "--ci", help="Bootstrap confidence interval of the mean at this level (e.g. 0.95)."),
        bootstrap: opt.Bootstrap = 1000,
        seed: opt.Seed = 12345,
        grad_output: opt.GradOutput = None,
        fail_above: opt.FailAbove = None,
        baseline: opt.Baseline = None,
        max_increase: opt.MaxIncrease = None,
        relative: opt.Relative = False,
        chunk_rows: opt.ChunkRows = None,
        workers: opt.Workers = None,
        engine: opt.Engine = "local",
        scheduler: opt.Scheduler = None,
        float64: opt.Float64 = False,
        nonfinite: opt.Nonfinite = "error",
        quiet: opt.Quiet = False,
    ) -> None:
        from ..api import CEConfig, evaluate, parse_weight, signature
        from ..readers import ReadOptions, read_class_names
        from ..report import summary_table, to_dict, tsv_lines, value_lines

        with guard():
            check_ce_choices(
                fmt, reduction, ("mean", "sum", "none"), input_kind, target_kind, nonfinite,
                label_smoothing, ece_bins, top_k,
            )
            out_fmt = resolve_format(fmt)
            read = ReadOptions(
                format_in=format_in,
                preds_key=preds_key,
                target_key=target_key,
                target_col=target_col,
                logit_cols=logit_cols,
                id_col=id_col,
                sample_weight_col=sample_weight_col,
                group_col=group_col,
                classes=read_class_names(classes),
                class_axis=class_axis,
            )
            if group_col and ci is None:
                raise UsageError("--group-col is for --ci (resampling whole groups)")
            cfg = CEConfig(
                command=name,
                input_kind=input_kind,
                targets=target_kind,
                weight=parse_weight(weight),
                ignore_index=ignore_index,
                reduction=reduction,
                label_smoothing=label_smoothing,
                float64=float64,
                nonfinite=nonfinite,
                top_k=top_k,
                per_class=per_class,
                ece_bins=ece_bins or (15 if ece else 0),
                ci_level=ci,
                bootstrap=bootstrap,
                seed=seed,
                chunk_rows=chunk_rows,
                workers=workers,
                output=output,
                force=force,
                with_probs=with_probs,
                keep_losses=reduction == "none" and output is None,
                grad_output=grad_output,
                engine=engine,
                scheduler=scheduler,
            )
            check_gates(fail_above, baseline, max_increase, relative)
            if baseline is not None:  # the target kind (tgt:) is known once the data is read
                precheck_baseline(baseline, signature(cfg, "index", read), unknown=("tgt",))
            bar = opt.progress_bar(quiet)
            cfg.progress = bar
            try:
                ev = evaluate(preds, targets, read, cfg)
            finally:
                if bar is not None:
                    bar.close()
            checks = run_checks(
                name, ev.result.loss, ev.signature, fail_above, baseline, max_increase, relative
            )
            opt.finish(
                name,
                out_fmt,
                to_json=lambda: to_dict(ev, checks),
                value=lambda: value_lines(ev),
                tsv=lambda: tsv_lines(ev),
                table=lambda: summary_table(ev, checks),
                warnings=ev.warnings,
                checks=checks,
                quiet=quiet,
            )


make_ce(
    "ce",
    "logits",
    "Cross-entropy of predictions against targets (torch's CrossEntropyLoss).",
)
make_ce(
    "nll",
    "logprobs",
    "Negative log-likelihood of log-probabilities (torch's NLLLoss): ce with --input logprobs.",
)
