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
    "_formats": set(),  # the names of the file formats read: stdlib only, cheap for the CLI
    "core": {"errors", "_lazy"},
    "accumulate": {"core", "errors", "_lazy"},
    "readers": {"errors", "_formats"},
    "writers": {"errors"},
    "api": {"readers", "writers", "accumulate", "core", "errors", "_version", "_lazy"},
    "report": {"api", "accumulate", "core", "errors", "_version", "_lazy"},
    "cli": {"report", "api", "readers", "writers", "accumulate", "core", "errors", "_version",
            "_formats"},
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


# -- inside a package: no import cycle, no other module's private name ---------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _edges(path: Path, modules: set[str]) -> list[tuple[str, str | None]]:
    """What a module imports from cecli: ``(module, None)`` for a module, ``(module, name)`` for
    a name taken from a module. Every import counts, also one inside a function."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] == "cecli"]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join([*base, *([mod] if mod else [])])
            if mod.split(".")[0] != "cecli":
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                found.append((sub, None) if sub in modules else (mod, a.name))
    return found


def _package_of(module: str) -> str:
    """``cecli.api._evaluate`` -> ``cecli.api``; a top-level module (``cecli.writers``) is its own."""
    return ".".join(module.split(".")[:2])


def _graph(paths: list[Path]) -> dict[str, set[str]]:
    """module -> the modules of its own package it imports."""
    names = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {n: set() for n in names}
    for n, p in names.items():
        for target, _ in _edges(p, set(names)):
            if target in names and target != n and _package_of(target) == _package_of(n):
                graph[n].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


PACKAGES = sorted(p.parent for p in PKG.glob("*/__init__.py"))

# Known violations, owned by work in progress (issue 11): remove an entry when it is fixed.
KNOWN_CYCLES: dict[str, str] = {}
KNOWN_PRIVATE: dict[str, str] = {}


def _known(table: dict[str, str], key: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.xfail(reason=f"known: {table[key]}")] if key in table else []


@pytest.mark.parametrize(
    "package",
    [pytest.param(p, id=p.name, marks=_known(KNOWN_CYCLES, p.name)) for p in PACKAGES],
)
def test_no_import_cycle_inside_a_package(package: Path) -> None:
    cycles = _cycles(_graph(sorted(package.rglob("*.py"))))
    assert not cycles, f"import cycles inside cecli.{package.name}: {cycles}"


def test_the_cycle_check_sees_a_cycle(tmp_path: Path) -> None:
    # Two planted modules of one package importing each other (one lazily) make a cycle.
    a, b = PKG / "core" / "_probe_a.py", PKG / "core" / "_probe_b.py"
    a.write_text("from . import _probe_b\n", encoding="utf-8")
    b.write_text("def f() -> None:\n    from ._probe_a import g\n", encoding="utf-8")
    try:
        cycles = _cycles(_graph([a, b, PKG / "core" / "__init__.py"]))
        assert ["cecli.core._probe_a", "cecli.core._probe_b"] in cycles
    finally:
        a.unlink()
        b.unlink()


def _private_imports(path: Path) -> list[str]:
    """Private names (``_x``, not dunders) a module takes from another cecli module; importing
    a private *module* (``from . import _ce``) is the package's own business and allowed."""
    own = _module_name(path)
    return [
        f"{mod}.{name}"
        for mod, name in _edges(path, {_module_name(p) for p in MODULES})
        if name and name.startswith("_") and not name.startswith("__") and mod != own
    ]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            p,
            id=str(p.relative_to(PKG)),
            marks=_known(KNOWN_PRIVATE, p.relative_to(PKG).as_posix()),
        )
        for p in MODULES
    ],
)
def test_no_private_name_of_another_module(path: Path) -> None:
    bad = _private_imports(path)
    assert not bad, f"{path.relative_to(PKG)} imports private names {bad}: make them public"


def test_the_private_check_sees_a_private_import() -> None:
    fake = PKG / "report" / "_probe_private.py"
    fake.write_text(
        "from ._common import _fmt\nfrom . import _ce\nfrom .._version import __version__\n",
        encoding="utf-8",
    )
    try:
        assert _private_imports(fake) == ["cecli.report._common._fmt"]
    finally:
        fake.unlink()


# -- the command line holds declarations and wiring: no NumPy -----------------------------------


def _numpy_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "numpy"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy":
            found.append(node.module or "")
    return found


@pytest.mark.parametrize(
    "path", sorted((PKG / "cli").glob("*.py")), ids=lambda p: str(p.relative_to(PKG))
)
def test_the_cli_imports_no_numpy(path: Path) -> None:
    assert not _numpy_imports(path), f"{path.relative_to(PKG)} imports NumPy: move it below"


def test_the_numpy_check_sees_numpy() -> None:
    fake = PKG / "cli" / "_probe_numpy.py"
    fake.write_text("def f() -> None:\n    from numpy import asarray\n", encoding="utf-8")
    try:
        assert _numpy_imports(fake) == ["numpy"]
    finally:
        fake.unlink()


def test_import_cecli_is_light() -> None:
    code = (
        "import sys, cecli; heavy = [m for m in ('typer', 'rich', 'pyarrow', 'pandas', 'click')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import cecli pulled in: {out.stdout.strip()}"


def test_the_command_line_starts_light() -> None:
    # `cecli --help` builds every command, so every option's type is imported: the specs' enums
    # must come without NumPy, rich or pyarrow (start-up stays ~0.1 s).
    code = (
        "import sys, typer.main, cecli.cli; typer.main.get_command(cecli.cli.app); "
        "heavy = [m for m in ('numpy', 'rich', 'pyarrow', 'pandas') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"cecli --help pulled in: {out.stdout.strip()}"


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
