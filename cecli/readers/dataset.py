"""Where Parquet files are: a path, a directory, a glob or a URI -> files sorted by path.

URIs go through ``pyarrow.fs``; for ``s3://`` the endpoint can be overridden with
``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (as the AWS CLI does), the region comes from
``AWS_REGION`` / ``AWS_DEFAULT_REGION``. Directories are walked recursively, skipping names that
start with ``.`` or ``_`` (``_SUCCESS``, ``.crc``) and files without a Parquet extension. Hive
partition keys (``.../split=test/doc=3/part-0.parquet``) are parsed by ``pyarrow.dataset``.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any
from urllib.parse import urlparse

from cecli.errors import InputError, first_line
from cecli.readers._arrow import arrow
from cecli.readers.base import check_local_file, expand_glob, is_glob, is_uri

__all__ = ["PARQUET_EXT", "filesystem", "hive_keys", "list_parquet", "list_parquet_sized"]

PARQUET_EXT = (".parquet", ".pq", ".parq")


S3_CONNECT_TIMEOUT = 3.0
S3_REQUEST_TIMEOUT = 10.0
S3_ATTEMPTS = 2
"""An ``s3://`` endpoint gets a few seconds to connect, and two attempts per request."""


def filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow FileSystem, path)`` for a URI; S3 honours the endpoint env vars."""
    pafs = arrow("pyarrow.fs")
    try:
        if uri.startswith("s3://"):
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if endpoint:
                _check_endpoint(endpoint, uri)
                parsed = urlparse(endpoint)
                region = (
                    os.environ.get("AWS_REGION")
                    or os.environ.get("AWS_DEFAULT_REGION")
                    or "us-east-1"
                )
                fs = pafs.S3FileSystem(
                    endpoint_override=parsed.netloc or parsed.path,
                    scheme=parsed.scheme or "https",
                    region=region,
                    # an endpoint that refuses or never answers: fail in seconds, not minutes
                    connect_timeout=S3_CONNECT_TIMEOUT,
                    request_timeout=S3_REQUEST_TIMEOUT,
                    retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=S3_ATTEMPTS),
                )
                return fs, uri[len("s3://") :].rstrip("/")
        fs, path = pafs.FileSystem.from_uri(uri)
        return fs, str(path).rstrip("/")
    except InputError:
        raise
    except (arrow().ArrowException, OSError, ValueError) as exc:
        raise InputError(
            f"cannot open the URI ({exc})", file=uri, fix="check the scheme, bucket and credentials"
        ) from None


def _wanted(name: str) -> bool:
    base = os.path.basename(name)
    return not base.startswith((".", "_")) and base.lower().endswith(PARQUET_EXT)


def list_parquet(path: str) -> tuple[Any, list[str], str | None]:
    """``(filesystem or None, files sorted by path, dataset root or None)`` for ``path``."""
    fs, files, root, _ = list_parquet_sized(path)
    return fs, files, root


def list_parquet_sized(path: str) -> tuple[Any, list[str], str | None, list[int] | None]:
    """:func:`list_parquet` and, for a URI, each file's size as the listing gave it (opening
    a file of known size costs an object store no HEAD request); None for local paths."""
    if is_uri(path):
        try:
            return _list_uri(path)
        except (arrow().ArrowException, OSError) as exc:  # network, endpoint, credentials
            raise InputError(
                f"cannot list the URI ({first_line(exc)})",
                file=path,
                fix="check the endpoint (AWS_ENDPOINT_URL), the network and the credentials",
            ) from None
    return (*_list_local(path), None)


def _list_uri(path: str) -> tuple[Any, list[str], str | None, list[int]]:
    pafs = arrow("pyarrow.fs")
    fs, p = filesystem(path)
    if is_glob(p):
        root = p[: min(p.index(c) for c in "*?[" if c in p)].rsplit("/", 1)[0]
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        found = sorted(
            (i.path, i.size)
            for i in infos
            if i.type == pafs.FileType.File and fnmatch.fnmatchcase(i.path, p)
        )
        return fs, [f for f, _ in found], root, [n for _, n in found]
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.NotFound:
        raise InputError("no such file or prefix", file=path, fix="check the URI")
    if info.type == pafs.FileType.Directory:
        infos = fs.get_file_info(pafs.FileSelector(p, recursive=True))
        found = sorted(
            (i.path, i.size) for i in infos if i.type == pafs.FileType.File and _wanted(i.path)
        )
        return fs, [f for f, _ in found], p, [n for _, n in found]
    return fs, [p], None, [info.size]


def _check_endpoint(endpoint: str, uri: str) -> None:
    """InputError unless the S3 endpoint override accepts a connection and answers a request
    within :data:`S3_CONNECT_TIMEOUT` seconds: pyarrow's client retries a refused or silent
    endpoint for tens of seconds (and a refused one escaped as a bug, exit 4)."""
    import socket

    parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    fix = "check AWS_ENDPOINT_URL and the network"
    try:
        with socket.create_connection((parsed.hostname or "", port), S3_CONNECT_TIMEOUT) as s:
            s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")  # any reply will do, even a TLS alert
            s.recv(1)
    except TimeoutError:
        raise InputError(
            f"the S3 endpoint {endpoint} accepts connections but does not answer",
            file=uri,
            fix=fix,
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot reach the S3 endpoint {endpoint} ({exc.strerror or exc})", file=uri, fix=fix
        ) from None


def _list_local(path: str) -> tuple[Any, list[str], str | None]:
    if path.startswith("file://"):
        path = path[len("file://") :]
    if os.path.isdir(path):
        files: list[str] = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
            files.extend(os.path.join(dirpath, f) for f in filenames if _wanted(f))
        return None, sorted(files), path
    if is_glob(path) and not os.path.exists(path):
        root = path[: min(path.index(c) for c in "*?[" if c in path)]
        return None, expand_glob(path), os.path.dirname(root) or "."
    check_local_file(path)
    return None, [path], None


def hive_keys(fs: Any, files: list[str], root: str) -> tuple[list[dict[str, Any]], Any]:
    """Partition values per file and their schema (``pyarrow.dataset``'s hive parsing)."""
    rel = [os.path.relpath(f, root) if fs is None else f[len(root) :].lstrip("/") for f in files]
    if not any("=" in seg for r in rel for seg in r.split("/")[:-1]):
        return [{} for _ in files], None
    ds = arrow("pyarrow.dataset")
    pafs = arrow("pyarrow.fs")
    full = [os.path.abspath(f) for f in files] if fs is None else files
    base = os.path.abspath(root) if fs is None else root
    dataset = ds.dataset(
        full,
        filesystem=fs or pafs.LocalFileSystem(),
        format="parquet",
        partitioning="hive",
        partition_base_dir=base,
    )
    by_path = {
        frag.path: ds.get_partition_keys(frag.partition_expression)
        for frag in dataset.get_fragments()
    }
    keys = [by_path.get(f, {}) for f in full]
    names = {k for d in keys for k in d}
    schema = arrow().schema([f for f in dataset.schema if f.name in names])
    return keys, schema
