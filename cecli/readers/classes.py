"""``--classes``: class names given on the command line (``a,b,c``) or in a file, one per line."""

from __future__ import annotations

import os

from ..errors import InputError, UsageError


def read_class_names(spec: str | None) -> tuple[str, ...] | None:
    """The class names ``spec`` gives: a comma list ``a,b,c``, or the path of a UTF-8 file with
    one name per line (blank lines skipped); ``None`` for no spec.

    A directory or an unreadable file is an :class:`~cecli.errors.InputError`; a list that names
    no class, or a class twice, is a :class:`~cecli.errors.UsageError`.

    >>> read_class_names("cat, dog,bird")
    ('cat', 'dog', 'bird')
    """
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
