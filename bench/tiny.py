"""The tiny-CSV row of issue 15 alone, in seconds: ``cecli ce tiny.csv -f value`` against the
torch + pandas script a user would write, with ``python -c pass`` and ``python -c "import
numpy"`` for scale, interleaved round by round, best of ``--reps`` wall time, and best CPU time
(user + system: less moved by other load on the cores than the wall clock).

::

    python bench/tiny.py                      # the installed cecli (compiled first, as an install is)
    python bench/tiny.py --baseline /tmp/old  # also a checkout's cecli/ (e.g. `git archive main`)

The CSV is 20 rows x 3 float32 classes + a target column, as pandas writes it (``to_csv``, with
its index column) unless ``--csv`` names another. ``--baseline DIR`` runs ``python -m cecli``
with ``PYTHONPATH=DIR`` beside the installed one; both are compiled to bytecode first
(:func:`bench.compile_cecli` says why). Needs torch and pandas for the script's side.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

USER = """
import sys
import numpy as np, pandas as pd, torch, torch.nn.functional as F
df = pd.read_csv(sys.argv[1]); y = torch.tensor(df.pop("target").to_numpy())
x = torch.tensor(df.drop(columns=[c for c in df if c.startswith("Unnamed")]).to_numpy(np.float32))
print(F.cross_entropy(x, y).item())
"""


def tiny_csv(path: Path) -> None:
    import pandas as pd

    rng = np.random.default_rng(7)
    x = rng.standard_normal((20, 3), dtype=np.float32) * np.float32(3)
    frame = pd.DataFrame({f"c{i}": x[:, i] for i in range(3)})
    frame["target"] = rng.integers(0, 3, 20)
    frame.to_csv(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, help="the file (default: a pandas-written 20 x 3)")
    ap.add_argument("--baseline", type=Path, help="a directory holding another cecli/ package")
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        csv = args.csv or Path(tmp) / "tiny.csv"
        if args.csv is None:
            tiny_csv(csv)
        import cecli

        compileall.compile_dir(str(Path(cecli.__file__).parent), quiet=1)
        runs: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "python -c pass": ([py, "-c", "pass"], None),
            "import numpy": ([py, "-c", "import numpy"], None),
            "cecli": ([py, "-m", "cecli", "ce", str(csv), "-f", "value"], None),
            "torch + pandas": ([py, "-c", USER, str(csv)], None),
        }
        if args.baseline is not None:
            compileall.compile_dir(str(args.baseline / "cecli"), quiet=1)
            env = {**os.environ, "PYTHONPATH": str(args.baseline)}
            runs["baseline cecli"] = ([py, "-m", "cecli", "ce", str(csv), "-f", "value"], env)
        best = {k: float("inf") for k in runs}
        cpu = {k: float("inf") for k in runs}
        values: dict[str, str] = {}
        for _ in range(args.reps):
            for name, (cmd, env) in runs.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                done = subprocess.run(  # not in a checkout: `-m` puts the cwd on sys.path
                    cmd, capture_output=True, text=True, env=env, check=True, cwd=tmp
                )
                best[name] = min(best[name], time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                cpu[name] = min(cpu[name], used)
                values[name] = done.stdout.strip()
    print("wall: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in best.items()))
    print("CPU (user + system): " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in cpu.items()))
    for name in ("cecli", "baseline cecli"):
        if name in best:
            ratio = best["torch + pandas"] / best[name]
            by_cpu = cpu["torch + pandas"] / cpu[name]
            print(f"{name}: {ratio:.2f}x faster than torch + pandas ({by_cpu:.2f}x by CPU time; "
                  f"value {values[name]})")
    print(f"load average {os.getloadavg()[0]:.1f}; torch + pandas printed {values['torch + pandas']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
