"""Capture what cecli shows in a terminal, as text, into docs/screens/ (run from the repo root).

Each command runs as the installed ``cecli`` in a pseudo-terminal (the standard library's
``pty``) of 80 and of 160 columns, so it sees a terminal as a user's shell gives it: tables,
colour, the terminal's width. stdout and stderr both land on the terminal, as on a screen; the
colour codes are stripped and each capture is written to ``docs/screens/NAME-COLUMNS.txt``,
its first line the command. tests/test_screens.py checks the committed captures (and fresh
renderings) for one number format per column.

    python scripts/capture_screens.py            # all screens
    python scripts/capture_screens.py ce compare # some of them
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shlex
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screens"
WIDTHS = (80, 160)

SCREENS = {
    "ce": "ce examples/iris_logits.csv",
    "ce-measures": "ce examples/iris_logits.csv --per-class --top-k 5 --ece --ci 0.95",
    "bce-per-label": (
        "bce examples/tags.csv --logit-cols 'logit_*' --target-cols cat,dog,outdoor,person"
        " --per-class"
    ),
    "compare": "compare examples/iris_logits.csv examples/ci-gate/candidate.csv",
    "error-usage": "ce examples/iris_logits.csv --reduction avg",
    "error-input": "ce examples/iris_logits.csv --target-col species",
}

# CSI sequences (colour, cursor), OSC sequences (titles, links), other two-byte escapes
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def cecli() -> list[str]:
    """The installed console script beside this interpreter (else on PATH)."""
    exe = shutil.which("cecli", path=os.path.dirname(sys.executable)) or shutil.which("cecli")
    return [exe] if exe else [sys.executable, "-m", "cecli"]


def run_in_terminal(args: list[str], columns: int, rows: int = 60) -> tuple[str, int]:
    """``args`` on a pseudo-terminal of ``columns`` x ``rows``: the text it showed (colour
    stripped, ``\\n`` line ends, trailing spaces removed) and its exit code."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update(TERM="xterm-256color", FORCE_COLOR="1")
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            raise TimeoutError(" ".join(args))
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=60)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    lines = text.replace("\r\n", "\n").replace("\r", "").split("\n")
    # the progress bar (stderr, after half a second on a busy machine) is erased on a real
    # terminal; stripped of its cursor codes it would stay, so it is dropped here
    kept = [ln.rstrip() for ln in lines if not (ln.startswith("rows ") and "━" in ln)]
    return "\n".join(kept).strip("\n") + "\n", code


def capture(name: str, columns: int) -> Path:
    command = SCREENS[name]
    text, code = run_in_terminal([*cecli(), *shlex.split(command)], columns)
    path = OUT / f"{name}-{columns}.txt"
    path.write_text(f"$ cecli {command}   # exit {code}\n{text}", encoding="utf-8")
    return path


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(SCREENS))
    if unknown:
        sys.exit(f"unknown screen(s) {', '.join(unknown)}; known: {', '.join(SCREENS)}")
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or list(SCREENS):
        for columns in WIDTHS:
            print(capture(name, columns).relative_to(ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
