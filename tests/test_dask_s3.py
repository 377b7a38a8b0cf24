"""The Dask engine over ``s3://``: requests counted at a moto server that every process (the
driver, a real ``dask scheduler`` and its workers) talks to."""

from __future__ import annotations

import collections
import io
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_dask import HAVE_DASK, Cluster

pytest.importorskip("moto.server")
pytest.importorskip("boto3")

pytestmark = [pytest.mark.s3, pytest.mark.dask]

FILES, ROWS, C = 40, 20, 5
CLASSES = [f"c{j}" for j in range(C)]


class Counting:
    """moto's S3 server behind a WSGI layer that notes every request: its method, whether it
    lists, which object and which byte range."""

    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        app = DomainDispatcherApplication(create_backend_app)
        self.requests: list[tuple[str, str, str, str]] = []
        self.lock = threading.Lock()

        def counting(environ: dict[str, Any], start: Any) -> Any:
            with self.lock:
                self.requests.append((environ["REQUEST_METHOD"], environ.get("QUERY_STRING", ""),
                                      environ["PATH_INFO"], environ.get("HTTP_RANGE", "")))
            return app(environ, start)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.server = make_server("127.0.0.1", port, counting, True, request_handler=Quiet)
        self.endpoint = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self) -> list[tuple[str, str, str, str]]:
        with self.lock:
            out, self.requests = self.requests, []
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Counting, dict[str, str],
                                                                        dict[str, int]]]:
    """The server, the environment that reaches it, and the size of each file uploaded."""
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    server = Counting()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": server.endpoint,
    }
    env.pop("AWS_ENDPOINT_URL_S3", None)
    env.pop("AWS_PROFILE", None)
    s3 = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="preds")
    rng = np.random.default_rng(16)
    sizes = {}
    for i in range(FILES):
        x = rng.normal(size=(ROWS, C))
        table = pa.table({**{c: x[:, j] for j, c in enumerate(CLASSES)},
                          "label": rng.integers(0, C, ROWS)})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        key = f"small/f{i:03d}.parquet"
        s3.put_object(Bucket="preds", Key=key, Body=buf.getvalue())
        sizes[f"/preds/{key}"] = len(buf.getvalue())
    server.take()
    try:
        yield server, env, sizes
    finally:
        server.close()


def _run(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(["cecli", *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _planning(requests: list[tuple[str, str, str, str]], sizes: dict[str, int]) -> int:
    """Listings, and reads of a footer (a range that ends where the file ends)."""
    return sum(
        1
        for method, query, path, rng in requests
        if query or (method == "GET" and rng.endswith(f"-{sizes.get(path, 0) - 1}"))
    )


def test_s3_planning_reads_each_footer_once(
    store: tuple[Counting, dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    """The driver lists the prefix and reads each footer once; the workers list nothing and
    read no footer: a run on two workers makes the local engine's requests, and at most 2
    requests per file plan it (issue 16: 1,000 files took 5,005 requests locally, 9,015 on
    two workers)."""
    if not HAVE_DASK:
        pytest.skip("needs the dask extra (pip install 'cecli[dask]')")
    server, env, sizes = store
    args = ["ce", "s3://preds/small/", "--target-col", "label", "--logit-cols",
            ",".join(CLASSES), "--per-class", "-f", "json"]
    local = _run(args, env)
    alone = server.take()
    c = Cluster(tmp_path / "cluster", env)
    try:
        for i in range(2):
            c.worker(f"w{i}", env=env)
        c.wait_for_workers(2)
        server.take()
        dask = _run([*args, "--engine", "dask", "--scheduler", c.address], env)
        spread = server.take()
    finally:
        c.close()
    assert dask == local  # the same answer, bit for bit
    kinds = collections.Counter(m for m, *_ in spread)
    assert sorted(spread) == sorted(alone), kinds  # workers add no request
    assert _planning(spread, sizes) <= 2 * FILES, kinds
    # one footer GET a file; reading: one HEAD and one GET a file (row groups pre-buffered)
    assert len(spread) <= 3 * FILES + 4, kinds
