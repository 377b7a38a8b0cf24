"""``cecli ce`` and ``cecli nll``: the main job, and the CI gates on its result."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import typer

from ..errors import InputError, UsageError
from . import (
    ExitCode,
    app,
    emit,
    emit_json,
    guard,
    resolve_format,
    stderr_console,
    stdout_console,
)

FORMATS = ("auto", "table", "json", "tsv", "value")

CE_EXAMPLE = """
Examples:

  cecli ce preds.csv -f value            # labels in the 'label' column, one logit column per class

  cecli ce logits.npy labels.npy --label-smoothing 0.1 --ignore-index -100 -f json | jq .loss

  cecli ce preds.parquet --per-class --ci 0.95 --fail-above 0.5
"""


def parse_classes(spec: str | None) -> tuple[str, ...] | None:
    """``--classes a,b,c`` or a file with one class name per line."""
    if not spec:
        return None
    if os.path.isdir(spec):
        raise InputError("--classes names a directory", file=spec, fix="pass a,b,c or a file")
    if os.path.isfile(spec):
        try:
            with open(spec, encoding="utf-8") as fh:
                names = [ln.strip() for ln in fh if ln.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the class names ({exc})", file=spec) from None
    else:
        names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise UsageError("--classes names no class", value=spec)
    if len(set(names)) != len(names):
        raise UsageError("--classes names a class twice", value=spec)
    return tuple(names)


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
    for opt, v in (("--fail-above", fail_above), ("--max-increase", max_increase)):
        if v is not None and not math.isfinite(v):
            raise UsageError(f"{opt} must be a finite number", value=v)


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
        preds: str = typer.Argument(..., help="Predictions: .npy .npz .csv .tsv .parquet, a directory or glob of Parquet, or - for stdin."),
        targets: str | None = typer.Argument(None, help="Targets, when not a column / key of PREDS: .npy .csv .parquet .txt."),
        weight: str | None = typer.Option(None, "--weight", "-w", help="Class weights: a comma list (1,2,0.5) or a file of C values."),
        ignore_index: int = typer.Option(-100, "--ignore-index", help="Targets equal to this contribute nothing (torch's ignore_index)."),
        reduction: str = typer.Option("mean", "--reduction", "-r", help="mean, sum or none."),
        label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="Label smoothing in [0, 1]."),
        input_kind: str = typer.Option(default_input, "--input", help="What PREDS hold: logits, probs or logprobs."),
        target_kind: str = typer.Option("auto", "--targets", help="auto, index or probs (auto: the predictions' shape means probabilities)."),
        target_col: str | None = typer.Option(None, "--target-col", help="Target column (default: target, targets, label, labels or y)."),
        logit_cols: str | None = typer.Option(None, "--logit-cols", help="Logit columns: a comma list or a glob like 'logit_*'."),
        id_col: str | None = typer.Option(None, "--id-col", help="An id column carried into per-sample output."),
        sample_weight_col: str | None = typer.Option(None, "--sample-weight-col", help="A per-sample weight column."),
        group_col: str | None = typer.Option(None, "--group-col", help="Resample whole groups (sequences, documents) in --ci."),
        classes: str | None = typer.Option(None, "--classes", help="Class names for string labels: a,b,c or a file, one per line."),
        class_axis: int = typer.Option(1, "--class-axis", help="The class axis of NPY/NPZ arrays: 1 (torch) or -1 (batch, seq, vocab)."),
        format_in: str | None = typer.Option(None, "--format-in", help="Input format when the extension does not tell (or for stdin): npy, npz, csv, tsv, parquet."),
        preds_key: str | None = typer.Option(None, "--preds-key", help="NPZ key of the predictions (default: logits, else the only array)."),
        target_key: str | None = typer.Option(None, "--target-key", help="NPZ key of the targets."),
        fmt: str = typer.Option("auto", "--format", "-f", help="auto (table on a terminal, else json), table, json, tsv or value."),
        output: str | None = typer.Option(None, "--output", "-o", help="Write per-position losses (.npy .csv .tsv .parquet; with --engine dask, a folder of Parquet parts)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
        with_probs: bool = typer.Option(False, "--with-probs", help="Add the target's probability and the argmax to -o output."),
        top_k: int = typer.Option(0, "--top-k", help="Also report top-k accuracy."),
        per_class: bool = typer.Option(False, "--per-class", help="A per-class breakdown."),
        ece: bool = typer.Option(False, "--ece", help="Expected calibration error (15 bins)."),
        ece_bins: int = typer.Option(0, "--ece-bins", help="Expected calibration error with N bins."),
        ci: float | None = typer.Option(None, "--ci", help="Bootstrap confidence interval of the mean at this level (e.g. 0.95)."),
        bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap replicates for --ci."),
        seed: int = typer.Option(12345, "--seed", help="Seed of the bootstrap (in the signature)."),
        grad_output: str | None = typer.Option(None, "--grad-output", help="Write d(loss)/d(predictions), as loss.backward() gives it."),
        fail_above: float | None = typer.Option(None, "--fail-above", help="Exit 1 when the loss is above this (or NaN)."),
        baseline: str | None = typer.Option(None, "--baseline", help="A JSON result to compare against (same settings)."),
        max_increase: float | None = typer.Option(None, "--max-increase", help="With --baseline: exit 1 when the loss exceeds it by more than this."),
        relative: bool = typer.Option(False, "--relative", help="--max-increase is a fraction of the baseline."),
        chunk_rows: int | None = typer.Option(None, "--chunk-rows", help="Rows per chunk (default: about 16 MiB of predictions)."),
        workers: int | None = typer.Option(None, "--workers", help="Threads over chunks (default: the number of cores); with --engine dask, the local cluster's worker processes (default 2)."),
        engine: str = typer.Option("local", "--engine", envvar="CECLI_ENGINE", help="local (threads) or dask (a Dask cluster; pip install 'cecli[dask]')."),
        scheduler: str | None = typer.Option(None, "--scheduler", help="With --engine dask: the scheduler's address (default: DASK_SCHEDULER_ADDRESS, else a local cluster)."),
        float64: bool = typer.Option(False, "--float64", help="Compute everything in float64."),
        nonfinite: str = typer.Option("error", "--nonfinite", help="error (default) or propagate (NaN flows through, as torch)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No warnings or verdicts on stderr."),
    ) -> None:
        from ..api import CEConfig, evaluate, parse_weight, signature
        from ..readers import ReadOptions
        from ..report import summary_table, to_dict, tsv_lines, value_lines

        with guard():
            check_choice("--format", fmt, FORMATS)
            check_choice("--reduction", reduction, ("mean", "sum", "none"))
            check_choice("--input", input_kind, ("logits", "probs", "logprobs"))
            check_choice("--targets", target_kind, ("auto", "index", "probs"))
            check_choice("--nonfinite", nonfinite, ("error", "propagate"))
            if not 0.0 <= label_smoothing <= 1.0:
                raise UsageError("--label-smoothing must be in [0, 1]", value=label_smoothing)
            if ece_bins < 0 or top_k < 0:
                raise UsageError("--ece-bins and --top-k must not be negative")
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
                classes=parse_classes(classes),
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
            ev = evaluate(preds, targets, read, cfg)
            checks = run_checks(
                name, ev.result.loss, ev.signature, fail_above, baseline, max_increase, relative
            )
            err = stderr_console(quiet)
            if out_fmt == "json":
                emit_json(to_dict(ev, checks))
            elif out_fmt == "value":
                emit(value_lines(ev))
            elif out_fmt == "tsv":
                emit(tsv_lines(ev))
            else:
                stdout_console().print(summary_table(ev, checks))
            if out_fmt != "table":
                for w in ev.warnings:
                    err.print(f"warning: {w}", markup=False)
            for line in verdicts(name, checks):
                err.print(line, markup=False)
            if any(not c["passed"] for c in checks):
                raise typer.Exit(int(ExitCode.CHECK_FAILED))


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
