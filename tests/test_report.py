"""``cecli report``: one self-contained HTML file, opened in a real headless Chromium.

- the page holds the numbers ``ce`` reports (loss, interval, ECE) and every figure as inline
  SVG, fetches nothing (no script, style, image or font from elsewhere);
- Chromium (Debian's ``chromium``, headless) renders it: an inline script counts the figures
  drawn with a non-empty box and marks ``<body data-figures>``, read back with ``--dump-dom``;
  no console message at all (``--enable-logging=stderr`` prints them as ``:CONSOLE`` lines); a
  screenshot is kept in the test's tmp folder; skipped with the reason when chromium is missing;
- the size stays under 2 MB for 1000 classes (figures are drawn from aggregates, never per row);
- ``--compare B``: the paired difference as ``compare`` computes it;
- without matplotlib, one ``error:`` line naming ``pip install 'cecli[plot]'``; outputs are
  never clobbered.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, run_cecli

pytest.importorskip("matplotlib", reason="cecli report needs the plot extra: pip install 'cecli[plot]'")

IRIS = str(EXAMPLES / "iris_logits.csv")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH: apt-get install -y chromium (Debian)"
)


def _report(tmp_path: Path, *args: str, name: str = "report.html") -> str:
    out = tmp_path / name
    res = run_cecli(["report", *args, "-o", str(out)])
    assert res.returncode == 0, res.stderr
    assert res.stdout == b""  # the page goes to the file; stdout stays clean
    return out.read_text(encoding="utf-8")


def test_the_page_holds_ce_numbers_and_fetches_nothing(tmp_path: Path) -> None:
    page = _report(tmp_path, IRIS)
    assert len(page.encode()) < 100_000  # the README says so
    ce = json.loads(run_cecli(["ce", IRIS, "--ci", "0.95", "--ece", "-f", "json"]).stdout)
    for v in (ce["loss"], ce["ci"]["low"], ce["ci"]["high"]):
        assert f"{v:.6g}" in page
    assert f"{ce['ece']:.4f}" in page
    assert page.count("<div class='fig'><svg") == 4  # reliability, histogram, per class, confusions
    assert "setosa" in page and "versicolor → virginica" in page
    # nothing from elsewhere: SVG namespaces are names, not fetches
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:|//)""", page)
    assert "@import" not in page and "url(http" not in page and "<link" not in page


def _chromium(page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
           "--v=0", "--virtual-time-budget=5000", *flags, page.as_uri()]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _console(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


@needs_chromium
def test_chromium_renders_every_figure_without_console_errors(tmp_path: Path) -> None:
    _report(tmp_path, IRIS)
    page = tmp_path / "report.html"
    dom = _chromium(page, "--dump-dom")
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stderr[-2000:]
    assert 'data-figures="4"' in body.group(0), body.group(0)
    assert _console(dom.stderr) == []
    shot = tmp_path / "report.png"  # the artefact
    res = _chromium(page, f"--screenshot={shot}", "--window-size=1200,1800")
    assert shot.exists() and shot.stat().st_size > 20_000, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_the_console_check_sees_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefined_fn();</script></body></html>")
    assert any("Uncaught" in ln for ln in _console(_chromium(bad, "--dump-dom").stderr))


def test_size_stays_small_for_a_thousand_classes(tmp_path: Path) -> None:
    """Figures come from aggregates (40 classes of largest share, 15 confusions, 24 histogram
    bins), so 1000 classes give a page far under 2 MB however many rows there are."""
    rng = np.random.default_rng(1)
    n, C = 4000, 1000
    np.save(tmp_path / "x.npy", rng.normal(size=(n, C)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, C, size=n))
    page = _report(tmp_path, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--bootstrap", "200")
    size = len(page.encode())
    assert size < 2 << 20, size
    assert size < 400_000, f"{size} bytes: the page should not grow with the classes"
    assert "the 40 of largest share" in page


def test_compare_shows_the_paired_difference(tmp_path: Path) -> None:
    x = np.load(EXAMPLES / "iris_logits.npy")
    np.save(tmp_path / "b.npy", x * np.float32(0.7))
    args = [str(EXAMPLES / "iris_logits.npy"), str(tmp_path / "b.npy"), str(EXAMPLES / "iris_labels.npy")]
    cmp = json.loads(run_cecli(["compare", *args, "-f", "json"]).stdout)
    page = _report(tmp_path, args[0], args[2], "--compare", args[1])
    assert "paired difference" in page
    for v in (cmp["delta"], cmp["ci"]["low"], cmp["ci"]["high"]):
        assert f"{v:.6g}" in page
    # the paired difference, reliability and histogram of both, per class and confusions of each
    assert page.count("<div class='fig'><svg") == 7


def test_without_matplotlib_one_error_names_the_extra(tmp_path: Path) -> None:
    # a real process in which `import matplotlib` fails, as in an install without the extra
    code = ("import sys; sys.modules['matplotlib'] = None; sys.argv[0] = 'cecli'; "
            "from cecli.cli import main; main()")  # fmt: skip
    out = tmp_path / "r.html"
    res = subprocess.run([sys.executable, "-c", code, "report", IRIS, "-o", str(out)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert "pip install 'cecli[plot]'" in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no partial file


def test_outputs_are_never_clobbered(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("keep me")
    res = run_cecli(["report", IRIS, "-o", str(out)])
    assert res.returncode == 3 and b"pass --force" in res.stderr
    assert out.read_text() == "keep me"
    res = run_cecli(["report", IRIS, "-o", IRIS, "--force"])
    assert res.returncode == 3 and b"one of the inputs" in res.stderr
    res = run_cecli(["report", IRIS, "-o", str(out), "--force"])
    assert res.returncode == 0 and out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("ext", ["png", "svg"])
def test_ce_plot_writes_the_figures_it_computed(tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"figs.{ext}"
    res = run_cecli(["ce", IRIS, "--ece", "--per-class", "--plot", str(out), "-f", "value"])
    assert res.returncode == 0, res.stderr
    expected = json.loads((EXAMPLES / "expected.json").read_text())["loss"]
    assert float(res.stdout) == pytest.approx(expected, rel=1e-6)  # the result is unchanged
    data = out.read_bytes()
    if ext == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    else:
        text = data.decode()
        for title in ("reliability (ECE", "loss histogram (300 counted rows)", "per class (3 classes)"):
            assert title in text, title
    again = run_cecli(["ce", IRIS, "--plot", str(out), "-f", "value"])
    assert again.returncode == 3 and b"pass --force" in again.stderr  # never clobbered
    bad = run_cecli(["ce", IRIS, "--plot", str(tmp_path / "f.pdf")])
    assert bad.returncode == 2 and b"--plot writes .png or .svg" in bad.stderr
