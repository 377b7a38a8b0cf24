"""The layering of the house style, enforced: imports flow one way, and `import cecli` is light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "cecli"

# layer -> the cecli layers it may import (besides itself)
ALLOWED = {
    "errors": set(),
    "_version": set(),
    "_lazy": set(),  # PEP 562 exports of a package: stdlib only
    "core": {"errors", "_lazy"},
    "accumulate": {"core", "errors", "_lazy"},
    "readers": {"errors"},
    "writers": {"errors"},
    "api": {"readers", "writers", "accumulate", "core", "errors", "_version", "_lazy"},
    "report": {"api", "accumulate", "core", "errors", "_version"},
    "cli": {"report", "api", "readers", "writers", "accumulate", "core", "errors", "_version"},
    "__init__": {"core", "accumulate", "errors", "_version", "_lazy"},
    "__main__": {"cli"},
}


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """The cecli layers a module imports (absolute `cecli.x` or relative `..x` / `.x`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _layer(path)
    in_package = path.parent != PKG
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "cecli" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 0:
                parts = mod.split(".")
                if parts[0] == "cecli":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
            else:
                # level 1 inside a subpackage is the subpackage itself; level 2 (or level 1 in a
                # top-level module) is the cecli package.
                top = node.level == 1 and not in_package
                if node.level >= 2 or top:
                    if mod:
                        found.add(mod.split(".")[0])
                    else:
                        found.update(a.name for a in node.names)
    found.discard(own)
    return found


MODULES = sorted(p for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_flow_one_way(path: Path) -> None:
    layer = _layer(path)
    assert layer in ALLOWED, f"{layer} is not a known layer: add it to ALLOWED deliberately"
    bad = _imports(path) - ALLOWED[layer]
    assert not bad, f"{path.relative_to(PKG)} ({layer}) imports {sorted(bad)} (upward or across)"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # The check must be able to fail: a core module importing the cli is caught.
    fake = PKG / "core" / "_probe_violation.py"
    fake.write_text("from ..cli import app\n", encoding="utf-8")
    try:
        assert "cli" in _imports(fake)
    finally:
        fake.unlink()


def test_import_cecli_is_light() -> None:
    code = (
        "import sys, cecli; heavy = [m for m in ('typer', 'rich', 'pyarrow', 'pandas', 'click')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import cecli pulled in: {out.stdout.strip()}"


def test_library_api_is_exported() -> None:
    import cecli

    for name in (
        "cross_entropy",
        "nll_loss",
        "log_softmax",
        "softmax",
        "binary_cross_entropy_with_logits",
        "binary_cross_entropy",
        "CrossEntropyAccumulator",
        "CecliError",
        "DataError",
    ):
        assert name in cecli.__all__ and callable(getattr(cecli, name))
    assert issubclass(cecli.DataError, ValueError)
