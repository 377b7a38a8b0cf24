#!/bin/bash
# Issue 16 item 5, side by side: the local engine, the LocalCluster cecli starts, and two workers
# by address, on 5,000 small Parquet files, 2,500 of them with -o, and 2,500 NPY chunks with -o.
# Usage: bench/dask_side.sh WORKDIR [OTHER_CHECKOUT]   (OTHER_CHECKOUT: a build to compare, run
# through PYTHONPATH). Needs cecli[dask] installed; starts and stops its own scheduler + workers.
set -e
W=${1:?WORKDIR}; OTHER=${2:-}
mkdir -p "$W" && cd "$W"
python - <<'PY'
import os
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
rng = np.random.default_rng(0)
for name, n in (("small5k", 5000), ("small2500", 2500)):
    if not os.path.isdir(name):
        os.makedirs(name)
        for i in range(n):
            t = pa.table({f"c{j}": rng.standard_normal(20) for j in range(5)}
                         | {"label": rng.integers(0, 5, 20)})
            pq.write_table(t, f"{name}/f{i:05d}.parquet")
if not os.path.exists("ox.npy"):
    np.save("ox.npy", rng.standard_normal((250000, 10)).astype("f4"))
    np.save("oy.npy", rng.integers(0, 10, 250000))
PY
mkdir -p cl && rm -f cl/sched.json
(cd cl && exec python -m dask scheduler --host 127.0.0.1 --port 0 --no-dashboard --scheduler-file sched.json >sched.log 2>&1) &
S=$!
until [ -s cl/sched.json ]; do sleep 0.2; done
A=$(python -c "import json; print(json.load(open('cl/sched.json'))['address'])")
(cd cl && exec python -m dask worker "$A" --host 127.0.0.1 --nthreads 1 --no-dashboard >w0.log 2>&1) &
W0=$!
(cd cl && exec python -m dask worker "$A" --host 127.0.0.1 --nthreads 1 --no-dashboard >w1.log 2>&1) &
W1=$!
trap 'kill $W0 $W1 $S' EXIT
python -c "from distributed import Client; Client('$A', timeout=60).wait_for_workers(2, timeout=60)"
run() { # label pythonpath args...
  local label=$1 pp=$2; shift 2
  rm -rf o-run.parquet
  PYTHONPATH=$pp /usr/bin/time -f "$label${pp:+ ($pp)} %e s wall %U user %S sys" python -m cecli "$@" >/dev/null
}
uptime
for pp in $OTHER ""; do
  for eng in local dask; do
    run "5000 files, $eng" "$pp" ce small5k --logit-cols c0,c1,c2,c3,c4 --target-col label -f value --engine $eng
    run "2500 files -o, $eng" "$pp" ce small2500 --logit-cols c0,c1,c2,c3,c4 --target-col label -o o-run.parquet -f value --engine $eng
    run "NPY 2500 chunks -o, $eng" "$pp" ce ox.npy oy.npy --chunk-rows 100 -o o-run.parquet -f value --engine $eng
  done
done
run "5000 files, by address" "" ce small5k --logit-cols c0,c1,c2,c3,c4 --target-col label -f value --engine dask --scheduler "$A"
run "2500 files -o, by address" "" ce small2500 --logit-cols c0,c1,c2,c3,c4 --target-col label -o o-run.parquet -f value --engine dask --scheduler "$A"
run "NPY 2500 chunks -o, by address" "" ce ox.npy oy.npy --chunk-rows 100 -o o-run.parquet -f value --engine dask --scheduler "$A"
uptime
