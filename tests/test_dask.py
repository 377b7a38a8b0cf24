"""``--engine dask``: the same answer as the local engine, bit for bit, on real clusters.

Two clusters: a ``LocalCluster`` of processes that cecli starts itself (no ``--scheduler``), and
a ``dask scheduler`` with two ``dask worker`` processes started here on 127.0.0.1 and reached by
address. Results are compared with ``==`` on the JSON numbers: the Dask engine reads the same
chunks (planned from the files, or streamed for CSV) and merges the partial statistics in the
same order, so nothing may differ, not even in the last bit.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import invoke, invoke_json, run_cecli

HAVE_DASK = importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(
    not HAVE_DASK, reason="needs the dask extra (pip install 'cecli[dask]'); CI installs it"
)
pytestmark = pytest.mark.dask

N, C = 600, 5
CLASSES = ["cat", "dog", "eel", "fox", "gnu"]
# the tables also hold an integer "doc" column (a group): not evidently a class, so it is named
LOGITS = ["--logit-cols", ",".join(CLASSES)]
CHUNK = "100"  # Parquet row groups of 128 rows: chunks straddle row groups
MEASURES = ["--per-class", "--ci", "0.95", "--bootstrap", "200", "--top-k", "2", "--ece"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    d = tmp_path_factory.mktemp("dask-data")
    rng = np.random.default_rng(8)
    x = rng.normal(size=(N, C)).astype(np.float32) * 3
    y = rng.integers(0, C, N)
    y[rng.random(N) < 0.05] = -100  # some ignored positions
    np.save(d / "x.npy", x)
    np.save(d / "y.npy", y)
    keep = y >= 0
    labels = np.array(CLASSES, dtype=object)[np.where(keep, y, 0)]
    table = pa.table(
        {
            "id": np.arange(N) * 10,
            **{name: x[:, i] for i, name in enumerate(CLASSES)},
            "label": labels.tolist(),
            "doc": np.arange(N) // 7,
        }
    )
    pq.write_table(table, d / "p.parquet", row_group_size=128)
    (d / "ds").mkdir()
    pq.write_table(table.slice(0, 250), d / "ds" / "a.parquet", row_group_size=64)
    pq.write_table(table.slice(250), d / "ds" / "b.parquet", row_group_size=200)
    pcsv.write_csv(table, d / "p.csv")
    pq.write_table(pa.table({"label": y}), d / "y.parquet", row_group_size=90)
    # multi-label bce: (N, 3) logits and 0/1 targets
    np.save(d / "bx.npy", x[:, :3].astype(np.float64))
    np.save(d / "bt.npy", (rng.random((N, 3)) < 0.3).astype(np.float32))
    return d


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1; yields the address."""
    if not HAVE_DASK:
        pytest.skip("needs the dask extra (pip install 'cecli[dask]')")
    d = tmp_path_factory.mktemp("dask-cluster")
    info = d / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    env = dict(os.environ)
    procs: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(args: list[str], name: str) -> None:
        log = open(d / f"{name}.log", "wb")  # noqa: SIM115 - closed in the finalizer
        logs.append(log)
        procs.append(subprocess.Popen([*dask, *args], stdout=log, stderr=log, env=env))

    try:
        start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(info)],
            "scheduler",
        )
        address = _wait_for_address(info, procs[0])
        for i in range(2):
            start(
                ["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--name", f"w{i}"],
                f"worker{i}",
            )
        _wait_for_workers(address, 2)
        yield address
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for log in logs:
            log.close()


def _wait_for_address(info: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("dask scheduler exited at start")
        with contextlib.suppress(OSError, ValueError, KeyError):
            return str(json.loads(info.read_text())["address"])
        time.sleep(0.1)
    raise TimeoutError("dask scheduler did not start")


def _wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout=timeout, set_as_default=False) as client:
        client.wait_for_workers(n, timeout=timeout)


def _both(args: list[str], address: str) -> tuple[dict[str, Any], dict[str, Any]]:
    local = invoke_json(args)
    dask = invoke_json([*args, "--engine", "dask", "--scheduler", address])
    return local, dask


# -- the planner (no cluster needed) ---------------------------------------------------------


@pytest.mark.parametrize(
    "preds,targets",
    [("x.npy", "y.npy"), ("p.parquet", None), ("ds", None), ("x.npy", "y.parquet")],
)
def test_plan_reads_exactly_the_local_chunks(data: Path, preds: str, targets: str | None) -> None:
    from cecli.readers import ReadOptions
    from cecli.readers.plan import InputSpec, group_chunks, plan_chunks, read_chunks

    spec = InputSpec.of(str(data / preds), str(data / targets) if targets else None,
                        ReadOptions(target_col="label" if targets is None else None,
                                    logit_cols=None if targets else ",".join(CLASSES)))
    with spec.open() as inputs:
        local = list(inputs.batches(100))
        tasks = plan_chunks(spec, inputs, 100)
    assert tasks is not None
    assert [(t.lo, t.hi) for t in tasks] == [(b.start, b.start + len(b.preds)) for b in local]
    tasks = pickle.loads(pickle.dumps(tasks))  # small descriptions that travel
    assert len(pickle.dumps(tasks[0])) < 2000
    read = [b for g in group_chunks(tasks) for b in read_chunks(g)]
    read[3] = tasks[3].load()  # one chunk on its own
    for a, b in zip(local, read, strict=True):
        assert a.start == b.start
        assert np.array_equal(a.preds, b.preds) and np.array_equal(a.target, b.target)
        assert (a.ids is None) == (b.ids is None)


def test_partials_travel_and_a_retried_part_replaces_itself(data: Path, tmp_path: Path) -> None:
    from cecli.accumulate import CrossEntropyAccumulator
    from cecli.api._dask import DaskTask
    from cecli.api._kernels import CEKernel
    from cecli.readers import ReadOptions
    from cecli.readers.plan import InputSpec, plan_chunks

    spec = InputSpec.of(str(data / "x.npy"), str(data / "y.npy"), ReadOptions())
    with spec.open() as inputs:
        tasks = plan_chunks(spec, inputs, 100)
    assert tasks is not None
    acc = CrossEntropyAccumulator(per_class=True, ece_bins=15, bootstrap=50, top_k=2)
    kernel = CEKernel(str(data / "x.npy"), loss_rows=True, template=acc.spawn())
    work = DaskTask(kernel, out=str(tmp_path))
    work = pickle.loads(pickle.dumps(work))  # as a worker receives it
    outs = [pickle.loads(pickle.dumps(work(t.load(), t.index))) for t in tasks]
    work(tasks[2].load(), 2)  # a retried task: its part is replaced, not added
    assert sorted(os.listdir(tmp_path)) == [f"part-{i:05d}.parquet" for i in range(6)]
    merged = acc.spawn()
    for out in outs:
        assert out.part is not None
        merged.merge(out.part)
    whole = acc.spawn()
    whole.update(np.load(data / "x.npy"), np.load(data / "y.npy"))
    a, b = merged.result(), whole.result()
    # tree sums over global positions: the partials' loss and interval are the one-shot ones
    assert (a.loss, a.ci, a.counted, a.top_k_accuracy) == (b.loss, b.ci, b.counted, b.top_k_accuracy)


def test_csv_and_stdin_are_not_planned(data: Path) -> None:
    from cecli.readers import ReadOptions
    from cecli.readers.plan import InputSpec, plan_chunks

    spec = InputSpec.of(str(data / "p.csv"), None, ReadOptions(logit_cols=",".join(CLASSES)))
    with spec.open() as inputs:
        assert plan_chunks(spec, inputs, 100) is None


def test_import_cecli_does_not_import_dask() -> None:
    code = (
        "import sys, cecli, cecli.api, cecli.cli; "
        "print(','.join(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_without_the_extra_engine_dask_is_a_usage_error(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    res = invoke(["ce", data / "x.npy", data / "y.npy", "--engine", "dask"])
    assert res.exit_code == 2, res.output
    assert res.stderr == (
        "error: --engine dask needs Dask, which is not installed; pip install 'cecli[dask]'\n"
    )


def test_engine_options_are_checked(data: Path) -> None:
    res = invoke(["ce", data / "x.npy", data / "y.npy", "--engine", "spark"])
    assert res.exit_code == 2 and "--engine" in res.stderr
    res = invoke(["ce", data / "x.npy", data / "y.npy", "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "--scheduler is for --engine dask" in res.stderr


# -- a LocalCluster that cecli starts (a real process, as a user runs it) ---------------------


@needs_dask
def test_local_cluster_equals_local_engine(data: Path, tmp_path: Path) -> None:
    args = ["ce", data / "x.npy", data / "y.npy", *MEASURES, "--chunk-rows", "97", "-f", "json"]
    local = run_cecli(args)
    env = {**os.environ, "CECLI_ENGINE": "dask"}
    env.pop(
        "DASK_SCHEDULER_ADDRESS", None
    )  # no scheduler: a LocalCluster of 2 processes for the run
    dask = subprocess.run(
        [*_cecli(), *map(str, args), "-o", str(tmp_path / "out")],
        capture_output=True,
        timeout=120,
        env=env,
    )
    assert local.returncode == 0 and dask.returncode == 0, dask.stderr.decode()
    result = json.loads(dask.stdout)
    assert result.pop("output") == str(tmp_path / "out")
    assert result == json.loads(local.stdout)
    assert sorted(os.listdir(tmp_path / "out")) == [
        "_SUCCESS", *(f"part-{i:05d}.parquet" for i in range(7))
    ]


def _cecli() -> list[str]:
    from conftest import cecli_command

    return cecli_command()


# -- an external cluster reached by address ----------------------------------------------------


@needs_dask
@pytest.mark.parametrize(
    "inputs",
    [
        ["x.npy", "y.npy"],
        ["p.parquet", "--id-col", "id", *LOGITS],
        ["ds", *LOGITS],
        ["x.npy", "y.parquet"],
        ["p.csv", *LOGITS],  # not plannable: batches are streamed to the workers
    ],
    ids=["npy", "parquet", "dataset", "npy+parquet-targets", "csv-streamed"],
)
def test_ce_equals_local_engine(data: Path, scheduler: str, inputs: list[str]) -> None:
    args = ["ce", *(str(data / a) if "." in a or a == "ds" else a for a in inputs)]
    local, dask = _both([*args, *MEASURES, "--chunk-rows", CHUNK], scheduler)
    assert dask == local
    assert local["per_class"] and local["ci"]["low"] < local["loss"] < local["ci"]["high"]


@needs_dask
def test_group_bootstrap_nll_and_options_equal_local(data: Path, scheduler: str) -> None:
    args = ["ce", data / "p.parquet", "--ci", "0.9", "--bootstrap", "100", "--group-col", "doc",
            "--weight", "1,2,0.5,1,3", "--label-smoothing", "0.1", "--chunk-rows", "64"]
    local, dask = _both(args, scheduler)
    assert dask == local and dask["ci"]["group"] == "doc"
    args = ["nll", data / "x.npy", data / "y.npy", "--reduction", "sum", "--chunk-rows", "50"]
    local, dask = _both(args, scheduler)
    assert dask == local


@needs_dask
def test_bce_equals_local_engine(data: Path, scheduler: str) -> None:
    args = ["bce", data / "bx.npy", data / "bt.npy", "--pos-weight", "3", "--chunk-rows", "64"]
    local, dask = _both(args, scheduler)
    assert dask == local
    # the measures bce shares with ce: per label, ECE, the bootstrap interval, a threshold
    measures = ["--per-class", "--ece", "--ci", "0.95", "--bootstrap", "200", "--threshold", "0.2"]
    local, dask = _both([*args, *measures], scheduler)
    assert dask == local
    assert len(local["per_label"]) == 3 and local["ci"]["low"] < local["loss"] < local["ci"]["high"]
    args = ["bce", data / "p.parquet", "--logit-cols", "cat", "--target-col", "doc",
            "--reduction", "sum", "--chunk-rows", "100"]
    # doc is not in [0, 1]: the same data error, from the workers, as locally
    res_l = invoke(args)
    res_d = invoke([*args, "--engine", "dask", "--scheduler", scheduler])
    assert res_l.exit_code == res_d.exit_code == 3
    assert res_d.stderr == res_l.stderr


@needs_dask
def test_reduction_none_losses_equal_local(data: Path, scheduler: str) -> None:
    args = ["ce", data / "x.npy", data / "y.npy", "--reduction", "none", "--chunk-rows", CHUNK]
    local, dask = _both(args, scheduler)
    assert dask == local and len(dask["losses"]) == N


@needs_dask
def test_rows_on_stdout_equal_local(data: Path, scheduler: str) -> None:
    """``-o -`` / ``--reduction none -f tsv`` on the Dask engine: the rows come back to the
    driver and are printed in order, as locally."""
    args = ["ce", data / "p.parquet", *LOGITS, "--id-col", "id", "--reduction", "none",
            "-f", "tsv", "--chunk-rows", CHUNK]
    local = invoke(args)
    dask = invoke([*args, "--engine", "dask", "--scheduler", scheduler])
    assert local.exit_code == dask.exit_code == 0, dask.stderr
    assert dask.stdout == local.stdout
    lines = local.stdout.splitlines()
    assert lines[0] == "id\ttarget\tloss" and len(lines) == N + 1
    assert [ln.split("\t")[0] for ln in lines[1:4]] == ["0", "10", "20"]  # the id column
    assert {ln.split("\t")[1] for ln in lines[1:]} <= set(CLASSES)  # labels as spelled


@needs_dask
def test_output_dataset_parts_and_marker(data: Path, scheduler: str, tmp_path: Path) -> None:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    out = tmp_path / "losses.parquet"
    base = ["ce", data / "p.parquet", "--id-col", "id", *LOGITS, "--with-probs", "--chunk-rows",
            CHUNK]
    res = invoke([*base, "-o", out, "--engine", "dask", "--scheduler", scheduler, "-f", "json"])
    assert res.exit_code == 0, res.stderr
    parts = [f"part-{i:05d}.parquet" for i in range(6)]
    assert sorted(os.listdir(out)) == ["_SUCCESS", *parts]
    marker = json.loads((out / "_SUCCESS").read_text())
    assert marker["parts"] == 6 and marker["rows"] == N
    assert [pq.read_metadata(out / p).num_rows for p in parts] == [100] * 6
    invoke_json([*base, "-o", tmp_path / "local.parquet"])
    expected = pq.read_table(tmp_path / "local.parquet")
    got = ds.dataset(out, format="parquet").to_table()  # _SUCCESS is skipped by readers
    assert got.equals(expected)
    # an existing output is kept without --force, replaced with it; no temp folder is left
    again = [*base, "-o", out, "--engine", "dask", "--scheduler", scheduler, "--chunk-rows", "300"]
    res = invoke(again)
    assert res.exit_code == 3 and "exists" in res.stderr
    assert len(os.listdir(out)) == 7
    res = invoke([*again, "--force"])
    assert res.exit_code == 0, res.stderr
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000.parquet", "part-00001.parquet"]
    assert sorted(os.listdir(tmp_path)) == ["local.parquet", "losses.parquet"]


@needs_dask
def test_a_failed_run_leaves_no_output(data: Path, scheduler: str, tmp_path: Path) -> None:
    y = np.load(data / "y.npy")
    y[450] = 7  # out of range, in the fifth chunk
    np.save(tmp_path / "bad.npy", y)
    out = tmp_path / "out"
    args = ["ce", data / "x.npy", tmp_path / "bad.npy", "--chunk-rows", CHUNK]
    local = invoke(args)
    dask = invoke([*args, "-o", out, "--engine", "dask", "--scheduler", scheduler])
    assert local.exit_code == dask.exit_code == 3
    assert dask.stderr == local.stderr and "row 450" in dask.stderr  # NPY rows are 0-based
    assert sorted(os.listdir(tmp_path)) == ["bad.npy"]


@needs_dask
def test_workers_of_another_version_are_refused(
    data: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client

    import cecli

    args = ["ce", data / "x.npy", data / "y.npy", "--engine", "dask", "--scheduler", scheduler]
    # on the workers themselves: they report the version they import
    mine = cecli.__version__
    with Client(scheduler, set_as_default=False) as client:
        # a lambda travels by value (this test module is not importable on the workers)
        client.run(lambda: setattr(importlib.import_module("cecli"), "__version__", "0.0.1"))
        try:
            res = invoke(args)
        finally:
            client.run(lambda: setattr(importlib.import_module("cecli"), "__version__", mine))
    assert res.exit_code == 3, res.output
    assert "2 of 2 Dask workers run cecli 0.0.1" in res.stderr
    assert f"this is cecli {cecli.__version__}" in res.stderr
    assert invoke(args).exit_code == 0  # restored
    # the check itself, with the fetch replaced
    from cecli.api import _dask

    monkeypatch.setattr(_dask, "worker_versions", lambda client: {"tcp://w:1": "9.9"})
    res = invoke(args)
    assert res.exit_code == 3 and "run cecli 9.9" in res.stderr


@needs_dask
def test_an_unreachable_scheduler_is_a_clear_error(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cecli.api import _dask

    monkeypatch.setattr(_dask, "CONNECT_TIMEOUT", 1)
    res = invoke(["ce", data / "x.npy", data / "y.npy", "--engine", "dask",
                  "--scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 3
    assert res.stderr.startswith("error: cannot reach the Dask scheduler")
