"""``cecli inspect FILE``: what a file holds and how cecli would read it, as a dict."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from typing import Any

from cecli.errors import CecliError, InputError
from cecli.readers.base import TARGET_NAMES, ReadOptions, detect_format, is_uri, local_path
from cecli.readers.labels import strip_common_prefix

__all__ = ["inspect_file"]


def _size(path: str) -> int | None:
    if path == "-" or is_uri(path):
        return None
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files
        )
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _classes(shape: tuple[int, ...], opts: ReadOptions, unbatched: bool) -> int | None:
    if unbatched:
        return shape[0] if shape else None
    if len(shape) < 2:
        return None
    return shape[1] if opts.class_axis == 1 else shape[-1]


def _cmd(path: str, *args: str, command: str = "ce") -> str:
    return " ".join(["cecli", command, shlex.quote(path), *args])


def _array_reading(
    shape: tuple[int, ...], kind: str, opts: ReadOptions
) -> tuple[str, list[str], int | None, int | None, str | None]:
    """How an array of predictions is best read: ``(command, extra args, rows, classes,
    note)``. A 1-D float array is a column of binary scores (``bce``; ``ce`` would read it as
    one sample); a 3-D array whose last axis is longer than its second is ``(batch, seq,
    vocab)``, read with ``--class-axis -1``."""
    if len(shape) == 1:
        return "bce", [], shape[0], None, (
            "a 1-D array: read by bce as one score per row; cecli ce reads it as one sample "
            f"of {shape[0]} classes"
        )
    axis = opts.class_axis
    args: list[str] = []
    note = None
    if len(shape) == 3 and axis == 1 and shape[2] > shape[1]:
        axis = -1
        note = (
            "(batch, seq, vocab): the last axis is the classes (--class-axis -1); "
            "pass --class-axis 1 for (N, C, d)"
        )
    if axis != 1:
        args = ["--class-axis", "-1"]
    rows = shape[0] if shape else None
    classes = shape[1] if axis == 1 else shape[-1]
    return "ce", args, rows, classes, note


def _fix_paths(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, str):
        return obj.replace(shlex.quote(old), new).replace(old, new)
    if isinstance(obj, list):
        return [_fix_paths(v, old, new) for v in obj]
    if isinstance(obj, dict):
        return {k: _fix_paths(v, old, new) for k, v in obj.items()}
    return obj


def inspect_file(path: str, opts: ReadOptions) -> dict[str, Any]:
    """Describe ``path`` (NPY, NPZ, CSV/TSV, Parquet file / directory / glob / URI, txt).

    Keys: ``path format size_bytes rows`` and, by format, ``shape dtype`` (NPY / NPZ, plus
    ``keys``: each array's ``name shape dtype compressed``), ``columns`` (``name dtype role``,
    role one of logits / target / id / weight / group / other) and ``dtype`` (of the
    predictions delivered), ``row_groups`` and ``files`` (Parquet), ``labels`` (txt: int /
    float / labels), ``classes``
    (count), ``class_names``, ``target`` (column or key), ``suggestion`` (a command that reads
    it) and, when the file cannot be read as predictions as it is, ``problem``.
    """
    path = local_path(path)
    fmt = detect_format(path, opts.format_in)
    if path == "-":
        return _stdin(opts, fmt if opts.format_in else None)
    out: dict[str, Any] = {"path": path, "format": fmt, "size_bytes": _size(path), "rows": None}
    if fmt == "npy":
        return _npy(path, opts, out)
    if fmt == "npz":
        return _npz(path, opts, out)
    if fmt == "txt":
        return _txt(path, opts, out)
    return _table(path, fmt, opts, out)


def _stdin(opts: ReadOptions, asked: str | None) -> dict[str, Any]:
    """Stdin, sniffed, copied to a temporary file (bounded memory) and described as ``-``."""
    import shutil
    import tempfile

    from cecli.readers.stdin import sniff_stdin, stdin_stream

    fmt = sniff_stdin("target", opts, asked)
    with tempfile.TemporaryDirectory(prefix="cecli-inspect-") as tmp:
        spool = os.path.join(tmp, f"stdin.{fmt}")
        with open(spool, "wb") as fh:
            shutil.copyfileobj(stdin_stream(), fh, 1 << 20)
        if os.path.getsize(spool) == 0:
            raise InputError("stdin is empty", file="-", fix="pipe a file in")
        try:
            out = inspect_file(spool, opts)
        except CecliError as exc:
            if exc.file == spool:
                exc.file = "-"
                exc.args = (exc.message(),)
            raise
    out = dict(_fix_paths(out, spool, "-"))
    out.update(path="-", size_bytes=None)
    return out


def _npy(path: str, opts: ReadOptions, out: dict[str, Any]) -> dict[str, Any]:
    from cecli.readers.npy import NpySource

    src = NpySource(path, opts)
    try:
        shape = tuple(src.array.shape)
        out.update(
            rows=src.info.rows,
            shape=list(shape),
            dtype=str(src.dtype),
            unbatched=src.unbatched,
            classes=_classes(shape, opts, src.unbatched),
            class_names=src.class_names,
            target=None,
            columns=None,
        )
        if src.dtype.kind in "iub" or (src.dtype.kind == "U"):
            # labels, not predictions: one per row, no classes of their own
            out.update(rows=shape[0] if shape else None, unbatched=False, classes=None)
            out["suggestion"] = f"cecli ce PREDS.npy {shlex.quote(path)}"
        else:
            command, args, rows, classes, note = _array_reading(shape, src.dtype.kind, opts)
            out.update(rows=rows, classes=classes, unbatched=False)
            if note:
                out["note"] = note
            out["suggestion"] = _cmd(path, "TARGETS.npy", *args, command=command)
    finally:
        src.close()
    return out


def _npz(path: str, opts: ReadOptions, out: dict[str, Any]) -> dict[str, Any]:
    import zipfile

    from cecli.readers.npz import choose_key, member_header, npz_keys

    infos = npz_keys(path)
    keys: list[dict[str, Any]] = []
    shapes: dict[str, tuple[int, ...]] = {}
    for name, info in infos.items():
        try:
            shape, _, dtype, _ = member_header(path, info, name)
            shapes[name] = shape
            keys.append(
                {
                    "name": name,
                    "shape": list(shape),
                    "dtype": str(dtype),
                    "compressed": info.compress_type != zipfile.ZIP_STORED,
                }
            )
        except CecliError as exc:
            keys.append({"name": name, "shape": None, "dtype": None, "problem": exc.message()})
    out["keys"] = keys
    names = list(infos)
    preds = choose_key(names, opts.preds_key, ("logits",), path, "--preds-key", "preds")
    target = choose_key(names, opts.target_key, TARGET_NAMES, path, "--target-key", "target")
    out.update(
        target=target, preds_key=preds, class_names=list(opts.classes) if opts.classes else None
    )
    args = []
    pkey = preds
    command, axis_args = "ce", list[str]()
    if preds is None:
        out.update(
            shape=None,
            dtype=None,
            classes=None,
            problem="several arrays and none is 'logits': pass --preds-key",
        )
        pkey = _guess_preds(keys)
        args += ["--preds-key", shlex.quote(pkey) if pkey else "KEY"]
        if pkey is not None:
            command, axis_args, rows, classes, _ = _array_reading(shapes[pkey], "f", opts)
            out.update(rows=rows, classes=classes)
    else:
        if preds not in shapes:  # its member is broken: say so, suggest nothing
            out.update(shape=None, dtype=None, classes=None, suggestion=None)
            out["problem"] = next(k.get("problem") for k in keys if k["name"] == preds)
            return out
        shape = shapes[preds]
        preds_dtype = next((k["dtype"] for k in keys if k["name"] == preds), None)
        command, axis_args, rows, classes, note = _array_reading(shape, "f", opts)
        out.update(shape=list(shape), dtype=preds_dtype, rows=rows, classes=classes)
        if note:
            out["note"] = note
        if preds != "logits":
            args += ["--preds-key", shlex.quote(preds)]
    if target is not None:
        if target != "target":
            args += ["--target-key", shlex.quote(target)]
    elif len(names) > 1:
        pshape = shapes.get(pkey) if pkey is not None else None
        guess = _guess_target(keys, pshape) if pshape is not None else None
        args += ["--target-key", shlex.quote(guess) if guess else "KEY"]
    else:
        args.append("TARGETS.npy")
    out["suggestion"] = _cmd(path, *args, *axis_args, command=command)
    return out


def _guess_preds(keys: list[dict[str, Any]]) -> str | None:
    """The array that looks like predictions: the float array with the most dimensions."""
    floats = [k for k in keys if k.get("shape") and str(k.get("dtype", "")).startswith("float")]
    if not floats:
        return None
    return str(max(floats, key=lambda k: len(k["shape"]))["name"])


def _guess_target(keys: list[dict[str, Any]], pshape: tuple[int, ...]) -> str | None:
    """The array that looks like the targets of ``pshape`` predictions: integer or string
    labels with one value per row (the first such array)."""
    for k in keys:
        shape, dtype = k.get("shape"), str(k.get("dtype") or "")
        if shape is None or not pshape or list(shape) == list(pshape):
            continue
        if shape[:1] == list(pshape[:1]) and dtype.lstrip("<>|=").startswith(("int", "uint", "U")):
            return str(k["name"])
    return None


def _txt(path: str, opts: ReadOptions, out: dict[str, Any]) -> dict[str, Any]:
    from cecli.readers.text import TxtSource

    src = TxtSource(path, opts, class_names=list(opts.classes) if opts.classes else None)
    rows = sum(p.n for p in src.parts(1 << 16))
    kind = "float" if src.floats else "int" if src.labels and src.labels.as_ints else "labels"
    out.update(
        rows=rows,
        labels=kind,
        class_names=src.class_names,
        target=None,
        suggestion=f"cecli ce PREDS {shlex.quote(path)}",
    )
    return out


def _table(path: str, fmt: str, opts: ReadOptions, out: dict[str, Any]) -> dict[str, Any]:
    from cecli.readers.parquet import ParquetSource
    from cecli.readers.roles import Roles, RolesError
    from cecli.readers.tabular import CsvSource

    src: Any
    try:
        if fmt == "parquet":
            src = ParquetSource(path, opts, need_target=False)
        elif fmt in ("jsonl", "arrow"):
            from cecli.readers.stream import IpcSource, JsonlSource

            src = (JsonlSource if fmt == "jsonl" else IpcSource)(path, opts, need_target=False)
        else:
            src = CsvSource(path, fmt, opts, need_target=False)
    except RolesError as exc:  # the table is readable; its roles need an option
        out["problem"] = exc.message()
        dtypes = _schema_only(path, fmt)
        names = [n for n, _ in dtypes]
        guess = Roles(target=[n for n in TARGET_NAMES if n in names][:1])
        out["columns"] = [{"name": n, "dtype": t, "role": guess.role_of(n)} for n, t in dtypes]
        out["target"] = guess.target[0] if guess.target else None
        out["suggestion"] = None
        return out
    roles: Roles = src.roles
    if fmt == "parquet":
        schema = src._schema(0)
        types = {f.name: str(f.type) for f in schema}
        out["rows"] = src.info.rows
        out["row_groups"] = src.row_groups
        out["files"] = len(src.files)
        if out["size_bytes"] is None and src.fs is not None:
            out["size_bytes"] = sum(src.fs.get_file_info(f).size or 0 for f in src.files)
    elif fmt in ("jsonl", "arrow"):
        types = {f.name: str(f.type) for f in src.schema}
        if path != "-":
            out["rows"] = sum(p.n for p in src.parts(1 << 16))
    else:
        types = {f.name: str(f.type) for f in src.schema}
        for n in src.types:
            types[n] = str(src.types[n])
        if path != "-":
            out["rows"] = sum(p.n for p in src.parts(1 << 16))
    out["columns"] = [{"name": n, "dtype": t, "role": roles.role_of(n)} for n, t in types.items()]
    out["classes"] = (src.sample_shape[0] if src.sample_shape else 1) if roles.logits else None
    out["dtype"] = str(src.dtype) if roles.logits else None  # of the predictions delivered
    out["class_names"] = src.class_names
    out["target"] = roles.target[0] if len(roles.target) == 1 else (roles.target or None)
    out["suggestion"] = _suggest(path, src, roles, opts)
    src.close()
    return out


def _suggest(path: str, src: Any, roles: Any, opts: ReadOptions) -> str:
    args: list[str] = ["--no-header"] if getattr(src, "headerless", False) and opts.no_header else []
    if roles.target:
        args += ["--target-col", shlex.quote(roles.target[0])]
    else:
        args.append("TARGETS.txt")
    if roles.list_col is not None:
        args += ["--logit-cols", shlex.quote(roles.list_col)]
    elif (glob := _prefix_glob(roles.logits, getattr(src, "names", roles.logits))) is not None:
        args += ["--logit-cols", shlex.quote(glob)]
    else:
        args += ["--logit-cols", shlex.quote(",".join(roles.logits))]
    if roles.id is not None:
        args += ["--id-col", shlex.quote(roles.id)]
    # one score column (sklearn's decision_function / predict_proba[:, 1]) is binary: bce
    binary = roles.list_col is None and len(roles.logits) == 1
    if roles.weight is not None and not binary:  # bce has no per-sample weights
        args += ["--sample-weight-col", shlex.quote(roles.weight)]
    if roles.group is not None and not binary:
        args += ["--group-col", shlex.quote(roles.group)]
    return _cmd(path, *args, command="bce" if binary else "ce")


def _prefix_glob(logits: list[str], names: Sequence[str]) -> str | None:
    """``prefix*`` for logit columns sharing a prefix (``logit_*``), if that glob selects
    exactly them (no other column; no ``[`` or ``?`` in the names changing its meaning)."""
    import fnmatch

    stripped = strip_common_prefix(logits) if len(logits) > 1 else None
    if not stripped:
        return None
    glob = logits[0][: len(logits[0]) - len(stripped[0])] + "*"
    if [n for n in names if fnmatch.fnmatchcase(n, glob)] != list(logits):
        return None
    return glob


def _schema_only(path: str, fmt: str) -> list[tuple[str, str]]:
    """Column names and types when the table cannot be read as predictions."""
    from cecli.readers._arrow import arrow

    if fmt == "parquet":
        from cecli.readers.dataset import list_parquet

        pq = arrow("pyarrow.parquet")
        fs, files, _ = list_parquet(path)
        schema = pq.read_schema(files[0], filesystem=fs)
    elif fmt in ("jsonl", "arrow"):
        from cecli.readers.stream import first_schema

        schema = first_schema(path, fmt)
    else:
        csv = arrow("pyarrow.csv")
        reader = csv.open_csv(
            path,
            read_options=csv.ReadOptions(block_size=1 << 20),
            parse_options=csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","),
        )
        schema = reader.schema
    return [(f.name, str(f.type)) for f in schema]
