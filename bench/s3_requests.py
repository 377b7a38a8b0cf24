"""Requests an ``s3://`` run makes, counted at a local moto server (issue 16 item 5).

Uploads FILES small Parquet files (20 rows x 5 logits + a label) and runs ``cecli ce`` on the
prefix with each engine given, counting every request the driver and the workers make::

    python bench/s3_requests.py 1000 local dask           # this checkout
    python bench/s3_requests.py 1000 /work/main:local     # another checkout (PYTHONPATH)

Needs moto[server] and boto3 (the test extra).
"""

from __future__ import annotations

import collections
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def serve() -> tuple[str, collections.Counter[tuple[str, str]], Any]:
    """moto's S3 behind a WSGI layer counting (method, listing or not)."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    seen: collections.Counter[tuple[str, str]] = collections.Counter()
    lock = threading.Lock()
    app = DomainDispatcherApplication(create_backend_app)

    def counting(environ: dict[str, Any], start: Any) -> Any:
        with lock:
            seen[(environ["REQUEST_METHOD"], "list" if environ.get("QUERY_STRING") else "")] += 1
        return app(environ, start)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, counting, True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", seen, server


def main() -> None:
    import boto3

    files, runs = int(sys.argv[1]), sys.argv[2:]
    endpoint, seen, server = serve()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="t", aws_secret_access_key="t")
    s3.create_bucket(Bucket="preds")
    rng = np.random.default_rng(0)
    for i in range(files):
        table = pa.table({f"c{j}": rng.standard_normal(20) for j in range(5)}
                         | {"label": rng.integers(0, 5, 20)})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        s3.put_object(Bucket="preds", Key=f"small/f{i:05d}.parquet", Body=buf.getvalue())
    for run in runs:
        checkout, _, engine = run.rpartition(":")
        seen.clear()
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "cecli", "ce", "s3://preds/small/", "--logit-cols",
             "c0,c1,c2,c3,c4", "--target-col", "label", "-f", "value", "--engine", engine],
            env=dict(env, PYTHONPATH=checkout) if checkout else env,
            capture_output=True, text=True, check=False,
            cwd=tempfile.gettempdir(),  # `python -m` imports from the working directory first
        )
        took = time.perf_counter() - t
        print(f"{run}: exit {proc.returncode}, {proc.stdout.strip()}, {took:.1f} s, "
              f"{sum(seen.values())} requests {dict(seen)}", flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
