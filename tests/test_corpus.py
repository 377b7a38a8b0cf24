"""The real-world corpus: files as pandas, polars, numpy, scikit-learn and R write them.

``tests/fixtures/corpus/cases.json`` (written with the files by ``scripts/make_corpus.py``, which
says how every expected value was computed: scikit-learn's ``log_loss`` or plain NumPy on the
arrays the files were written from, never cecli) lists each case's ``cecli`` command line and
its acceptable outcomes: a loss (with its tolerance, class count and sample count, and maybe a
warning that must be printed) or an error (exit codes, and words the one ``error:`` line must
contain). Every case runs through the installed ``cecli`` (a subprocess, ``-f json``, cwd = the
corpus folder, the case's ``stdin`` file piped in where it has one); the runs happen once, a
few at a time, in a module fixture.

A case with ``known_bad`` in the manifest is one cecli gets wrong today: it runs as
``xfail(strict=True)``, so the suite stays green and a fix that lands makes it fail loudly
(XPASS) until the fixer deletes the ``known_bad`` line. ``groups`` name cases holding the same
predictions written in different ways: each must give the group's first case's loss bit for
bit (``known_bad_group`` on a case marks its group check the same way).

The NPY / NPZ cases also run through the library (``cecli.cross_entropy`` / ``nll_loss`` /
``binary_cross_entropy_with_logits`` on the arrays as ``numpy.load`` reads them).
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, run_cecli

CORPUS = ROOT / "tests" / "fixtures" / "corpus"
MANIFEST: dict[str, Any] = json.loads((CORPUS / "cases.json").read_text())
CASES: dict[str, dict[str, Any]] = {c["id"]: c for c in MANIFEST["cases"]}


def _params(ids: list[str], mark_key: str = "known_bad") -> list[Any]:
    out = []
    for cid in ids:
        c = CASES[cid]
        reasons = [c[k] for k in ("known_bad", mark_key) if k in c]
        marks = [pytest.mark.xfail(strict=True, reason=reasons[0])] if reasons else []
        out.append(pytest.param(cid, id=cid, marks=marks))
    return out


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[bytes]]:
    """Every case through the installed command, once, a few processes at a time."""

    def one(c: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
        piped = (CORPUS / c["stdin"]).read_bytes() if "stdin" in c else b""
        return run_cecli([*c["args"], "-f", "json"], cwd=CORPUS, input=piped)

    with ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(zip(CASES, pool.map(one, CASES.values()), strict=True))
    return done


def _describe(res: subprocess.CompletedProcess[bytes]) -> str:
    err = res.stderr.decode(errors="replace").strip()
    out = res.stdout.decode(errors="replace").strip()
    if res.returncode == 0:
        try:
            doc = json.loads(out)
        except ValueError:
            return f"exit 0, stdout not JSON: {out[:200]!r}; stderr {err[:300]!r}"
        shown = {k: doc.get(k) for k in ("loss", "delta", "classes", "labels", "samples")}
        return f"exit 0, {shown}, stderr {err[:300]!r}"
    return f"exit {res.returncode}, stderr {err[-400:]!r}"


def _mismatch(outcome: dict[str, Any], res: subprocess.CompletedProcess[bytes]) -> str | None:
    """Why ``res`` is not ``outcome`` (None when it is)."""
    stderr = res.stderr.decode(errors="replace")
    if "Traceback" in stderr:
        return "a traceback on stderr"
    if "exit" in outcome:
        if res.returncode not in outcome["exit"]:
            return f"exit {res.returncode}, want one of {outcome['exit']}"
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error: ")]
        if len(errors) != 1:
            return f"want one 'error: ' line on stderr, got {lines!r}"
        missing = [w for w in outcome["error_words"] if w not in errors[0]]
        if missing:
            return f"the error line lacks {missing}: {errors[0]!r}"
        if res.stdout.strip():
            return f"an error run printed a result on stdout: {res.stdout[:200]!r}"
        return None
    if res.returncode != 0:
        return f"exit {res.returncode}, want 0"
    doc = json.loads(res.stdout)
    if "delta" in outcome:  # compare
        if doc["delta"] != outcome["delta"]:
            return f"delta {doc['delta']!r}, want exactly {outcome['delta']!r}"
        for side in ("a", "b"):
            got, want = doc[side]["loss"], outcome[f"{side}_loss"]
            if not math.isclose(got, want, rel_tol=outcome["rtol"], abs_tol=0.0):
                return f"{side}.loss {got!r}, want {want!r} (rtol {outcome['rtol']})"
        return None
    got = doc["loss"]
    if got is None or not math.isclose(got, outcome["loss"], rel_tol=outcome["rtol"], abs_tol=0.0):
        return f"loss {got!r}, want {outcome['loss']!r} (rtol {outcome['rtol']})"
    for key, want in outcome.get("json", {}).items():
        if doc.get(key) != want:
            return f"JSON {key} = {doc.get(key)!r}, want {want!r}"
    missing = [w for w in outcome.get("stderr_words", []) if w not in stderr]
    if missing:
        return f"stderr lacks the warning words {missing}: {stderr!r}"
    return None


@pytest.mark.parametrize("cid", _params(list(CASES)))
def test_case(cid: str, runs: dict[str, subprocess.CompletedProcess[bytes]]) -> None:
    c = CASES[cid]
    res = runs[cid]
    why = [_mismatch(o, res) for o in c["expect"]]
    assert None in why, (
        f"cecli {shlex.join(c['args'])}: {_describe(res)}\n  not as expected: {why}\n"
        f"  expected because: {c['why']}"
    )


def _group_members() -> list[Any]:
    pairs = []
    for name, ids in MANIFEST["groups"].items():
        for cid in ids[1:]:
            c = CASES[cid]
            reasons = [c[k] for k in ("known_bad", "known_bad_group") if k in c]
            marks = [pytest.mark.xfail(strict=True, reason=reasons[0])] if reasons else []
            pairs.append(pytest.param(name, cid, id=f"{name}-{cid}", marks=marks))
    return pairs


@pytest.mark.parametrize(("group", "cid"), _group_members())
def test_same_predictions_same_loss(
    group: str, cid: str, runs: dict[str, subprocess.CompletedProcess[bytes]]
) -> None:
    """The same predictions written by another tool give the group's first case's loss, to the
    last bit (the per-case tolerance allows a few ulps; this does not)."""
    anchor = MANIFEST["groups"][group][0]
    base, res = runs[anchor], runs[cid]
    if res.returncode != 0 and any("exit" in o for o in CASES[cid]["expect"]):
        pytest.skip(f"{cid} ends in one of its acceptable errors (test_case checks which)")
    assert base.returncode == 0, (anchor, _describe(base))
    assert res.returncode == 0, (cid, _describe(res))
    want, got = json.loads(base.stdout)["loss"], json.loads(res.stdout)["loss"]
    assert got == want, f"{cid}: {got!r} != {anchor}: {want!r} ({got - want:+.3g})"


def test_manifest_is_complete() -> None:
    """Every corpus file is used by a case, every case's files exist, every case explains
    itself, and the tools the issue names are all represented."""
    used = {f for c in CASES.values() for f in c["files"]}
    present = {p.name for p in CORPUS.iterdir()} - {"cases.json"}
    assert used == present
    for c in CASES.values():
        assert c["why"] and c["tool"] and c["expect"], c["id"]
        for o in c["expect"]:
            assert ("loss" in o) != ("exit" in o) or "delta" in o, c["id"]
            if "loss" in o:
                assert o["rtol"] in (1e-12, 1e-5), c["id"]
                assert c["reference"] != "-", c["id"]
    tools = " ".join(c["tool"] for c in CASES.values())
    for tool in ("to_csv", "to_parquet", "polars", "savetxt", "numpy.save", "numpy.savez",
                 "predict_proba", "decision_function", "R write.csv", "sep=';'"):
        assert tool in tools, tool
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 1_000_000


Spec = tuple[str, list[str], dict[str, str]]


def _library_spec(c: dict[str, Any]) -> Spec | None:
    """(command, files, options) for a loss case the library functions take as they are: NPY /
    NPZ files only, with no option but these four (None for the others)."""
    if not any("loss" in o for o in c["expect"]):
        return None
    cmd, rest = c["args"][0], list(c["args"][1:])
    files: list[str] = []
    opts: dict[str, str] = {}
    while rest:
        tok = rest.pop(0)
        if tok in ("--class-axis", "--pos-weight", "--preds-key", "--target-key"):
            opts[tok] = rest.pop(0)
        elif tok.startswith("-") or not tok.endswith((".npy", ".npz")):
            return None
        else:
            files.append(tok)
    return cmd, files, opts


def _library_loss(spec: Spec) -> float:
    import cecli

    cmd, files, opts = spec
    if files[0].endswith(".npz"):
        with np.load(CORPUS / files[0]) as z:
            x = z[opts.get("--preds-key", "logits")]
            y = z[opts.get("--target-key") or next(k for k in ("labels", "y") if k in z)]
    else:
        x, y = np.load(CORPUS / files[0]), np.load(CORPUS / files[1])
    axis = int(opts.get("--class-axis", 1))
    if cmd == "ce":
        return float(cecli.cross_entropy(x, y, axis=axis))
    if cmd == "nll":
        return float(cecli.nll_loss(x, y, axis=axis))
    assert cmd == "bce", cmd
    pw = opts.get("--pos-weight")
    pos = None if pw is None else np.array([float(v) for v in pw.split(",")])
    return float(cecli.binary_cross_entropy_with_logits(x, y.astype(x.dtype), pos_weight=pos))


LIBRARY = [cid for cid, c in CASES.items() if _library_spec(c) is not None]


@pytest.mark.parametrize("cid", LIBRARY)
def test_case_through_the_library(cid: str) -> None:
    """The library's functions on the arrays give the same expected loss (these cases are not
    marked: the library takes the arrays as they are, so reader fixes cannot change them)."""
    c = CASES[cid]
    spec = _library_spec(c)
    assert spec is not None
    got = _library_loss(spec)
    (o,) = [o for o in c["expect"] if "loss" in o]
    assert math.isclose(got, o["loss"], rel_tol=o["rtol"], abs_tol=0.0), (got, o["loss"])


def test_corpus_folder_untouched() -> None:
    """No case writes into the corpus (no -o among them)."""
    assert not any("-o" in c["args"] or "--output" in c["args"] for c in CASES.values())
    assert not list(Path(CORPUS).glob("*.tmp"))
