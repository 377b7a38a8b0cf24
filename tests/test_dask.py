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


class Cluster:
    """A real ``dask scheduler`` on 127.0.0.1 and ``dask worker`` processes (with or without a
    nanny, in any environment), each logging to a file in ``folder``."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []
        info = folder / "scheduler.json"
        self.scheduler = self._start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(info)],
            "scheduler", env,
        )
        self.address = _wait_for_address(info, self.scheduler)

    def _start(self, args: list[str], name: str, env: dict[str, str] | None = None
               ) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed in close()
        self.logs.append(log)
        # started in their folder: `python -m` puts the working directory first on the path
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=log,
                                env=env or dict(os.environ), cwd=self.folder)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, *, nanny: bool = False, env: dict[str, str] | None = None
               ) -> subprocess.Popen[bytes]:
        return self._start(
            ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
             "--no-dashboard", "--name", name, *([] if nanny else ["--no-nanny"])],
            name, env,
        )

    def wait_for_workers(self, n: int) -> None:
        _wait_for_workers(self.address, n)

    def close(self) -> None:
        for p in self.procs[::-1]:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for log in self.logs:
            log.close()


@contextlib.contextmanager
def cluster(folder: Path, workers: int = 2, *, nanny: bool = False) -> Iterator[Cluster]:
    if not HAVE_DASK:
        pytest.skip("needs the dask extra (pip install 'cecli[dask]')")
    c = Cluster(folder)
    try:
        for i in range(workers):
            c.worker(f"w{i}", nanny=nanny)
        if workers:
            c.wait_for_workers(workers)
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1; yields the address."""
    with cluster(tmp_path_factory.mktemp("dask-cluster")) as c:
        yield c.address


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
    from cecli.readers.plan import (
        InputSpec,
        Shipped,
        group_chunks,
        plan_chunks,
        read_chunks,
        read_spans,
    )

    spec = InputSpec.of(str(data / preds), str(data / targets) if targets else None,
                        ReadOptions(target_col="label" if targets is None else None,
                                    logit_cols=None if targets else ",".join(CLASSES)))
    with spec.open() as inputs:
        local = list(inputs.batches(100))
        tasks = plan_chunks(spec, inputs, 100)
        shipped = pickle.loads(pickle.dumps(Shipped(inputs, f"run-{preds}-{targets}")))
    assert tasks is not None
    assert [(t.lo, t.hi) for t in tasks] == [(b.start, b.start + len(b.preds)) for b in local]
    tasks = pickle.loads(pickle.dumps(tasks))  # small descriptions that travel
    assert len(pickle.dumps(tasks[0])) < 2000
    if preds.endswith(".npy"):  # the map travels, not the data (N * C float32 = 12,000 bytes)
        assert len(shipped.data) < 3000
    read = [b for g in group_chunks(tasks) for b in read_chunks(g)]
    read[3] = tasks[3].load()  # one chunk on its own
    by_span = [b for g in group_chunks(tasks) for b in read_spans([t.span for t in g], shipped)]
    for a, b, c in zip(local, read, by_span, strict=True):
        assert a.start == b.start == c.start
        assert np.array_equal(a.preds, b.preds) and np.array_equal(a.target, b.target)
        assert np.array_equal(a.preds, c.preds) and np.array_equal(a.target, c.target)
        assert (a.ids is None) == (b.ids is None) == (c.ids is None)


def test_small_files_are_batched_several_per_task(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cecli.readers import ReadOptions
    from cecli.readers.plan import BATCH, InputSpec, group_chunks, plan_chunks, read_chunks

    rng = np.random.default_rng(5)
    (tmp_path / "ds").mkdir()
    for i in range(40):  # 40 files of 7 rows: 40 chunks of 7 rows
        x = rng.normal(size=(7, C)).astype(np.float32)
        table = pa.table({**{c: x[:, j] for j, c in enumerate(CLASSES)},
                          "label": rng.integers(0, C, 7)})
        pq.write_table(table, tmp_path / "ds" / f"f{i:02d}.parquet")
    spec = InputSpec.of(str(tmp_path / "ds"), None,
                        ReadOptions(target_col="label", logit_cols=",".join(CLASSES)))
    with spec.open() as inputs:
        local = list(inputs.batches(30))
        tasks = plan_chunks(spec, inputs, 30)
    assert tasks is not None and len(tasks) == 40
    groups = group_chunks(tasks, 30)
    assert [len(g) for g in groups] == [4] * 10  # 28 rows a task, not 7
    assert len(group_chunks(tasks, 10_000)) == -(-40 // BATCH)
    assert [t.index for g in groups for t in g] == list(range(40))
    read = [b for g in groups for b in read_chunks(g)]
    for a, b in zip(local, read, strict=True):
        assert a.start == b.start
        assert np.array_equal(a.preds, b.preds) and np.array_equal(a.target, b.target)


def test_shipped_inputs_list_nothing_and_read_no_footer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker reads its chunks with the driver's opened inputs: it lists no folder and reads
    no footer (every footer is broken and a file is added after planning), and relative names
    mean the driver's folder (the worker runs elsewhere)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cecli.readers import ReadOptions, open_inputs
    from cecli.readers.plan import InputSpec, Shipped, plan_chunks

    rng = np.random.default_rng(8)
    (tmp_path / "ds").mkdir()
    for i in range(3):
        x = rng.normal(size=(9, C)).astype(np.float32)
        table = pa.table({**{c: x[:, j] for j, c in enumerate(CLASSES)},
                          "label": rng.integers(0, C, 9)})
        pq.write_table(table, tmp_path / "ds" / f"f{i}.parquet")
    np.save(tmp_path / "x.npy", rng.normal(size=(27, C)).astype(np.float32))
    monkeypatch.chdir(tmp_path)
    opts = ReadOptions(target_col="label", logit_cols=",".join(CLASSES))
    for preds, targets in (("ds", None), ("x.npy", "ds")):
        spec = InputSpec.of(preds, targets, opts)
        with open_inputs(preds, targets, opts) as inputs:  # relative, as the user gave them
            expect = np.concatenate(
                [np.concatenate([b.preds, b.target[:, None]], 1) for b in inputs.batches(4)]
            )
            tasks = plan_chunks(spec, inputs, 4)
            shipped = Shipped(inputs, f"run-{preds}")
        (tmp_path / f"plan-{preds}.pkl").write_bytes(pickle.dumps((tasks, shipped)))
        np.save(tmp_path / f"expect-{preds}.npy", expect)
    for f in (tmp_path / "ds").iterdir():  # "PAR1" ends a footer: a reader would refuse it
        f.write_bytes(f.read_bytes()[:-4] + b"XXXX")
    (tmp_path / "ds" / "f9.parquet").write_bytes(b"not listed")
    (tmp_path / "elsewhere").mkdir()
    script = (
        "import pickle, sys, numpy as np\n"
        "from cecli.readers.plan import group_chunks, read_chunks\n"
        "tasks, shipped = pickle.load(open(sys.argv[1], 'rb'))\n"
        "got = [np.concatenate([b.preds, b.target[:, None]], 1)\n"
        "       for g in group_chunks(tasks) for b in read_chunks(g, shipped)]\n"
        "np.save(sys.argv[2], np.concatenate(got))\n"
    )
    for preds in ("ds", "x.npy"):
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / f"plan-{preds}.pkl"),
             str(tmp_path / f"got-{preds}.npy")],
            cwd=tmp_path / "elsewhere", check=True,
        )
        got, expect = np.load(tmp_path / f"got-{preds}.npy"), np.load(tmp_path / f"expect-{preds}.npy")
        assert got.shape == (27, C + 1) and np.array_equal(got, expect)


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
    # 7 chunks of at most 97 rows, one task: one part
    assert sorted(os.listdir(tmp_path / "out")) == ["_SUCCESS", "part-00000.parquet"]


@needs_dask
def test_local_cluster_workers_keep_the_default_malloc_trimming() -> None:
    """The nanny would start cecli's own workers with MALLOC_TRIM_THRESHOLD_=65536 (every large
    temporary a page fault per 4 KiB: chunks 1.5x-4x slower than on the local engine); a value
    from the user's environment still reaches them."""
    from cecli.api._cluster import connect

    def trim() -> str | None:
        return os.environ.get("MALLOC_TRIM_THRESHOLD_")

    saved = os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    try:
        with connect(None, workers=1) as client:
            assert set(client.run(trim).values()) == {None}
        os.environ["MALLOC_TRIM_THRESHOLD_"] = "131072"
        with connect(None, workers=1) as client:
            assert set(client.run(trim).values()) == {"131072"}
    finally:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        if saved is not None:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = saved


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
    # a task's chunks make one part: these 6 chunks of 100 rows, one task
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000.parquet"]
    assert json.loads((out / "_SUCCESS").read_text())["parts"] == 1
    # 120 chunks of 5 rows: tasks of at most 64 chunks (whole row groups), one part each
    many = tmp_path / "many.parquet"
    res = invoke([*base, "--chunk-rows", "5", "-o", many, "--engine", "dask", "--scheduler",
                  scheduler])
    assert res.exit_code == 0, res.stderr
    marker = json.loads((many / "_SUCCESS").read_text())
    parts = [f"part-{i:05d}.parquet" for i in range(marker["parts"])]
    assert sorted(os.listdir(many)) == ["_SUCCESS", *parts] and len(parts) > 1
    sizes = [pq.read_metadata(many / p).num_rows for p in parts]
    assert sum(sizes) == marker["rows"] == N and all(n % 5 == 0 and n <= 64 * 5 for n in sizes)
    invoke_json([*base, "-o", tmp_path / "local.parquet"])
    expected = pq.read_table(tmp_path / "local.parquet")
    for folder in (out, many):
        got = ds.dataset(folder, format="parquet").to_table()  # _SUCCESS is skipped by readers
        assert got.equals(expected)
    # an existing output is kept without --force, replaced with it; no temp folder is left
    again = [*base, "-o", out, "--engine", "dask", "--scheduler", scheduler, "--chunk-rows", "5"]
    res = invoke(again)
    assert res.exit_code == 3 and "exists" in res.stderr
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000.parquet"]
    res = invoke([*again, "--force"])
    assert res.exit_code == 0, res.stderr
    assert sorted(os.listdir(out)) == sorted(os.listdir(many))
    assert ds.dataset(out, format="parquet").to_table().equals(expected)
    assert sorted(os.listdir(tmp_path)) == ["local.parquet", "losses.parquet", "many.parquet"]


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
def test_workers_of_another_version_are_refused_at_connect(
    data: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the check itself, with the fetch replaced (a worker of another install: see below)
    from cecli.api import _cluster

    monkeypatch.setattr(_cluster, "worker_versions", lambda client: {"tcp://w:1": "9.9"})
    res = invoke(["ce", data / "x.npy", data / "y.npy", "--engine", "dask", "--scheduler",
                  scheduler])
    assert res.exit_code == 3 and "run cecli 9.9" in res.stderr


# -- prompt, clean failures --------------------------------------------------------------------


def _one_error(stderr: str | bytes) -> str:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert text.startswith("error: ") and text.count("\n") == 1, text
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize(
    "address,words",
    [
        ("127.0.0.1", "--scheduler has no port"),
        ("http://127.0.0.1:8787", "--scheduler is a web address"),
        ("garbage%%", "--scheduler has no port"),
        ("tcp://127.0.0.1:99999", "--scheduler has a bad port"),
        ("udp://127.0.0.1:8786", "--scheduler has the protocol 'udp'"),
    ],
)
def test_a_malformed_scheduler_is_a_usage_error(data: Path, address: str, words: str) -> None:
    res = invoke(["ce", data / "x.npy", data / "y.npy", "--engine", "dask", "--scheduler",
                  address])
    assert res.exit_code == 2, res.output
    assert _one_error(res.stderr).startswith(f"error: {words}")


@needs_dask
def test_malformed_environment_is_a_usage_error(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["ce", data / "x.npy", data / "y.npy", "--engine", "dask"]
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "127.0.0.1")
    res = invoke(args)
    assert res.exit_code == 2 and "DASK_SCHEDULER_ADDRESS has no port" in _one_error(res.stderr)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")
    for name in ("CECLI_DASK_TIMEOUT", "CECLI_DASK_LOST_TIMEOUT"):
        for bad in ("soon", "0", "-1", "inf"):
            with monkeypatch.context() as m:
                m.setenv(name, bad)
                res = invoke(args)
            assert res.exit_code == 2, (name, bad, res.output)
            assert f"{name} must be a number of seconds above 0" in _one_error(res.stderr)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _http_server() -> Iterator[int]:
    """A real HTTP server (what a dashboard port answers) on 127.0.0.1."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _silent_port() -> Iterator[int]:
    """A port that accepts connections and never says anything."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


@needs_dask
def test_no_scheduler_there_is_exit_3_with_one_line(data: Path, tmp_path: Path) -> None:
    args = ["ce", data / "x.npy", data / "y.npy", "--engine", "dask", "--scheduler"]
    res = invoke([*args, f"127.0.0.1:{_free_port()}"])
    assert res.exit_code == 3
    assert "the connection was refused" in _one_error(res.stderr)
    with _http_server() as port:  # the dashboard's port, say: a real process, as users run it
        proc = run_cecli([*args, f"127.0.0.1:{port}"], timeout=30)
    assert proc.returncode == 3
    assert "no Dask scheduler answers there" in _one_error(proc.stderr)
    with _silent_port() as port:
        res = invoke([*args, f"127.0.0.1:{port}"])
    assert res.exit_code == 3
    assert "no Dask scheduler answers there (it said nothing within" in _one_error(res.stderr)


@needs_dask
def test_a_scheduler_without_workers_is_exit_3(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CECLI_DASK_TIMEOUT", "1.5")
    with cluster(tmp_path, workers=0) as c:
        res = invoke(["ce", data / "x.npy", data / "y.npy", "--engine", "dask", "--scheduler",
                      c.address])
    assert res.exit_code == 3
    assert "the Dask scheduler has had no worker for 1.5 s" in _one_error(res.stderr)


def test_an_object_store_output_is_refused(data: Path) -> None:
    for engine in ("local", "dask"):
        res = invoke(["ce", data / "x.npy", data / "y.npy", "-o", "s3://bucket/prefix/",
                      "--engine", engine])
        assert res.exit_code == 2, res.output
        assert _one_error(res.stderr).startswith(
            "error: s3://bucket/prefix/: outputs are written to local or shared folders, not "
            "to s3://"
        )


@needs_dask
def test_two_local_clusters_at_once_print_nothing_with_q(data: Path) -> None:
    args = [*_cecli(), "ce", str(data / "x.npy"), str(data / "y.npy"), "--engine", "dask", "-q"]
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [err for _, err in outs] == [b"", b""]


# -- lost workers, late workers, failed runs ----------------------------------------------------


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12,000 rows: 120 chunks of 100, a run of a few seconds on two workers."""
    d = tmp_path_factory.mktemp("dask-many")
    rng = np.random.default_rng(16)
    np.save(d / "x.npy", rng.normal(size=(12_000, C)).astype(np.float32))
    np.save(d / "y.npy", rng.integers(0, C, 12_000))
    return d


MANY = ["--chunk-rows", "100", "--per-class"]


def _when_computing(address: str, proc: subprocess.Popen[bytes], prefix: str = "cecli-chunks",
                    timeout: float = 60) -> None:
    """Return once the run ``proc`` has a first chunk done on the cluster and (planned runs,
    all of whose tasks the scheduler knows from the start) at least half still to compute."""
    from distributed import Client

    def states(dask_scheduler: Any) -> list[str]:
        return [ts.state for k, ts in dask_scheduler.tasks.items() if str(k).startswith(prefix)]

    end = time.monotonic() + timeout
    with Client(address, set_as_default=False) as client:
        while time.monotonic() < end:
            assert proc.poll() is None, proc.communicate()
            now = client.run_on_scheduler(states)
            if "memory" in now:
                todo = sum(1 for s in now if s != "memory")
                planned = prefix == "cecli-chunks"
                assert not planned or 2 * todo >= len(now), "the run went too fast to catch"
                return
            time.sleep(0.02)
    raise TimeoutError("the run never started")


def _worker_pids(address: str) -> dict[str, int]:
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        return dict(client.run(os.getpid))


def _start(args: list[Any], **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*_cecli(), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1", **env})


def _leftovers(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".cecli-" in n)


def _kill_every_worker_mid_run(
    c: Cluster, args: list[Any], prefix: str = "cecli-chunks"
) -> tuple[int, bytes, bytes]:
    import signal

    before = _worker_pids(c.address)
    proc = _start([*args, "--engine", "dask", "--scheduler", c.address])
    _when_computing(c.address, proc, prefix)
    for pid in before.values():  # every worker at once; the nannies start new ones
        os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    assert not set(before.values()) & set(_worker_pids(c.address).values())
    return proc.returncode, stdout, stderr


@needs_dask
def test_a_run_survives_losing_every_worker(many: Path, tmp_path: Path) -> None:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    args = ["ce", many / "x.npy", many / "y.npy", *MANY, "-f", "json"]
    local = invoke_json([*args[:-2], "-o", tmp_path / "local.parquet"])
    local.pop("output")
    out = tmp_path / "out"
    with cluster(tmp_path / "cluster", nanny=True) as c:
        code, stdout, stderr = _kill_every_worker_mid_run(c, [*args, "-o", out])
    assert code == 0, stderr.decode()
    result = json.loads(stdout)
    assert result.pop("output") == str(out)
    assert result == local
    got = ds.dataset(out, format="parquet").to_table()
    assert got.equals(pq.read_table(tmp_path / "local.parquet"))
    assert _leftovers(tmp_path) == []


@needs_dask
@pytest.mark.slow  # a minute on a loaded 2-core machine
def test_a_streamed_run_survives_losing_every_worker(many: Path, tmp_path: Path) -> None:
    csv = tmp_path / "p.csv"  # streamed: the batches the driver scattered die with the workers
    x, y = np.load(many / "x.npy"), np.load(many / "y.npy")
    head = ",".join(CLASSES) + ",label\n"
    csv.write_text(head + "".join(",".join(map(repr, r.tolist())) + f",{int(t)}\n"
                                  for r, t in zip(x, y, strict=True)))
    args = ["ce", csv, "--logit-cols", ",".join(CLASSES), "--target-col", "label",
            "--chunk-rows", "100", "-f", "json"]
    with cluster(tmp_path / "cluster", nanny=True) as c:
        code, stdout, stderr = _kill_every_worker_mid_run(c, args, "cecli-batch")
    assert code == 0, stderr.decode()
    assert json.loads(stdout) == invoke_json(args[:-2])


@needs_dask
def test_a_run_without_any_worker_fails_after_the_stated_time(many: Path, tmp_path: Path) -> None:
    import signal

    out = tmp_path / "out"
    with cluster(tmp_path / "cluster", workers=1) as c:
        (pid,) = _worker_pids(c.address).values()
        proc = _start(["ce", many / "x.npy", many / "y.npy", *MANY, "-o", out, "--engine",
                       "dask", "--scheduler", c.address], CECLI_DASK_LOST_TIMEOUT="1")
        _when_computing(c.address, proc)
        os.kill(pid, signal.SIGKILL)  # no nanny: nothing comes back
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert _one_error(stderr) == (
        "error: the Dask cluster has had no worker for 1 s; restart the workers "
        "(CECLI_DASK_LOST_TIMEOUT sets how long a run waits)\n"
    )
    assert _leftovers(tmp_path) == [] and not out.exists()


def _other_install(folder: Path, version: str) -> dict[str, str]:
    """The environment of a second cecli install whose version is ``version``: a copy of this
    package with its _version.py changed, first on the path."""
    import shutil

    import cecli

    site = folder / "site"
    shutil.copytree(Path(cecli.__file__).parent, site / "cecli",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (site / "cecli" / "_version.py").write_text(f'__version__ = "{version}"\n')
    return {**os.environ, "PYTHONPATH": str(site)}


@needs_dask
def test_a_worker_of_another_version_joining_late_is_refused(
    many: Path, tmp_path: Path
) -> None:
    import signal

    import cecli

    other = _other_install(tmp_path, "0.0.0+other")
    out = tmp_path / "out"
    with cluster(tmp_path / "cluster", workers=1) as c:
        (pid,) = _worker_pids(c.address).values()
        proc = _start(["ce", many / "x.npy", many / "y.npy", *MANY, "-o", out, "--engine",
                       "dask", "--scheduler", c.address])
        _when_computing(c.address, proc)  # checked at connect: one worker, of this version
        os.kill(pid, signal.SIGKILL)
        c.worker("late", env=other)  # the rest of the run can only go there
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3
    line = _one_error(stderr)
    assert "runs cecli 0.0.0+other, but this is cecli " + cecli.__version__ in line
    assert _leftovers(tmp_path) == [] and not out.exists()


@needs_dask
def test_a_scheduler_of_another_version_is_refused(data: Path, tmp_path: Path) -> None:
    c = Cluster(tmp_path / "cluster", env=_other_install(tmp_path, "0.0.0+other"))
    try:
        c.worker("w0")
        c.wait_for_workers(1)
        res = invoke(["ce", data / "x.npy", data / "y.npy", "--engine", "dask", "--scheduler",
                      c.address])
    finally:
        c.close()
    assert res.exit_code == 3
    assert "the Dask scheduler runs cecli 0.0.0+other, but this is cecli" in _one_error(res.stderr)


def _failed_runs(folder: Path, scheduler: str, runs: int) -> None:
    """``runs`` runs writing -o that fail on a bad label in their second chunk while the
    workers are busy writing later parts: none may leave its temporary folder (before the fix,
    1 run in 4 left one, with a part written while the driver was removing it)."""
    rng = np.random.default_rng(3)
    np.save(folder / "x.npy", rng.normal(size=(120_000, C)).astype(np.float32))
    y = rng.integers(0, C, 120_000)
    y[1500] = 9
    np.save(folder / "bad.npy", y)
    for i in range(runs):
        proc = run_cecli(["ce", folder / "x.npy", folder / "bad.npy", "--chunk-rows", "1000",
                          "--with-probs", "-o", folder / f"out{i}", "--engine", "dask",
                          "--scheduler", scheduler])
        assert proc.returncode == 3
        assert "row 1500" in _one_error(proc.stderr)
        assert sorted(os.listdir(folder)) == ["bad.npy", "x.npy"], i


@needs_dask
def test_failed_output_runs_leave_nothing(scheduler: str, tmp_path: Path) -> None:
    _failed_runs(tmp_path, scheduler, 2)


@needs_dask
@pytest.mark.slow
def test_failed_output_runs_leave_nothing_20_times(scheduler: str, tmp_path: Path) -> None:
    _failed_runs(tmp_path, scheduler, 20)


@needs_dask
def test_an_unreachable_scheduler_is_a_clear_error(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CECLI_DASK_TIMEOUT", "1")
    res = invoke(["ce", data / "x.npy", data / "y.npy", "--engine", "dask",
                  "--scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 3
    assert res.stderr.startswith("error: cannot reach the Dask scheduler")
