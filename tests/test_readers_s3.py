"""Parquet (and CSV) over ``s3://`` through pyarrow.fs, against moto's local S3 server."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("moto.server")
pytest.importorskip("boto3")

pytestmark = pytest.mark.s3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="preds")
    return s3


def _parquet_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    table = pa.table(
        {"logits": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 3), "label": y}
    )
    pq.write_table(table, buf, row_group_size=4)
    return buf.getvalue()


def test_parquet_file_and_prefix_over_s3(bucket: Any) -> None:
    from cecli.errors import DataError
    from cecli.readers import ReadOptions, inspect_file, open_inputs

    rng = np.random.default_rng(3)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    bucket.put_object(Bucket="preds", Key="run/a.parquet", Body=_parquet_bytes(x[:6], y[:6]))
    bucket.put_object(Bucket="preds", Key="run/b.parquet", Body=_parquet_bytes(x[6:], y[6:]))
    bucket.put_object(
        Bucket="preds", Key="run/t.csv", Body=("label\n" + "\n".join(map(str, y)) + "\n").encode()
    )

    for uri, want in (
        ("s3://preds/run/a.parquet", 6),
        ("s3://preds/run", 10),
        ("s3://preds/run/*.parquet", 10),
    ):
        with open_inputs(uri, None, ReadOptions()) as inputs:
            assert inputs.rows == want
            batches = list(inputs.batches(3))
        np.testing.assert_array_equal(np.concatenate([b.preds for b in batches]), x[:want])
        np.testing.assert_array_equal(np.concatenate([b.target for b in batches]), y[:want])

    with (
        open_inputs("s3://preds/run/a.parquet", "s3://preds/run/t.csv", ReadOptions()) as inputs,
        pytest.raises(DataError, match=r"PREDS has 6 rows, TARGETS s3://preds/run/t.csv has 10"),
    ):
        list(inputs.batches(4))

    info = inspect_file("s3://preds/run", ReadOptions())
    assert info["rows"] == 10 and info["files"] == 2 and info["classes"] == 3


def test_missing_s3_key_is_an_input_error(bucket: Any) -> None:
    from cecli.errors import InputError
    from cecli.readers import ReadOptions, open_inputs

    with pytest.raises(InputError) as exc:
        open_inputs("s3://preds/nope.parquet", None, ReadOptions())
    assert "s3://preds/nope.parquet" in str(exc.value)
