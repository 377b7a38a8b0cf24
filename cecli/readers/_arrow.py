"""Lazy pyarrow imports that keep pandas out of the process.

pyarrow imports pandas (~220 ms) the first time (a) its Cython shim is asked
``pyarrow.lib._pandas_api.have_pandas`` -- e.g. by ``pa.scalar`` while ``pyarrow.dataset`` is
imported -- and (b) its C++ converter of Python objects (``pa.scalar``, ``pa.array(list)``)
initialises its pandas symbols (pd.NA, pd.NaT). cecli never needs pandas, so the first import
of pyarrow here runs with a finder first on ``sys.meta_path`` that refuses ``pandas`` (a
``sys.modules["pandas"] = None`` entry would not do: Cython's import returns the None), and
triggers both one-time checks while pandas is hidden; the finder is removed right after, so a
later ``import pandas`` by anyone works normally.

Measured side effect, deliberately accepted: in this process pyarrow then treats pandas as
absent for its *implicit* checks -- ``pa.array([pd.NA, "x"])`` no longer recognises ``pd.NA``
as null (``Table.from_pandas`` / ``to_pandas`` and ``pa.array(series)`` keep working, they
import pandas on demand). Nothing is hidden when pandas is already imported (there is nothing
to save then) or when ``CECLI_PYARROW_PANDAS=1`` is set. The finder is installed under a lock
for the few milliseconds of the import; another thread importing pandas at that very moment
would get an ImportError.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_settled = False


class _NoPandas:
    """A finder that refuses ``pandas`` (first on ``sys.meta_path`` while installed). Not an
    ``importlib.abc.MetaPathFinder`` subclass: ``find_spec`` is the whole protocol, and
    ``importlib.abc`` imports ``importlib.resources`` (~3 ms of a tiny run)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError("hidden from pyarrow by cecli", name=fullname)
        return None


@contextmanager
def _pandas_hidden() -> Iterator[None]:
    if "pandas" in sys.modules or os.environ.get("CECLI_PYARROW_PANDAS") == "1":
        yield
        return
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def arrow(name: str = "pyarrow") -> Any:
    """Import and return a pyarrow module (``"pyarrow"``, ``"pyarrow.csv"``, ...)."""
    global _settled
    mod = sys.modules.get(name)
    if mod is not None and _settled:
        return mod
    with _lock, _pandas_hidden():
        mod = importlib.import_module(name)
        if not _settled:
            lib: ModuleType = importlib.import_module("pyarrow.lib")
            shim = getattr(lib, "_pandas_api", None)
            if shim is not None:
                _ = shim.have_pandas  # the shim tries `import pandas` once, now, and fails
            # the C++ converter of Python objects has its own one-time `import pandas`
            # (for pd.NA / pd.NaT); run it once too, while pandas is hidden
            lib.scalar(True)
            _settled = True
    return mod
