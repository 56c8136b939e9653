#!/usr/bin/env bash
# Issue 17 (the suite and the benchmarks on CuPy) in as few device calls as possible.
#
#   bash bench/gpu_session.sh prepare     # here, before asking for the GPU (no device time):
#                                         # the wheels its image lacks, for its Python 3.12, in .whl/
#   bash bench/gpu_session.sh device      # on the lent machine (the device tool's `run`, carry
#                                         # [".whl"], timeout_s 600): writes everything under $OUT
#
# The GPU image has numpy, cupy, torch, jax, pytest(-xdist), hypothesis, matplotlib, tqdm and
# threadpoolctl, but not graphviz (the Python package), dask/distributed or pdoc, and it cannot
# download: `prepare` fetches those (2.7 MB; .whl/ is git-ignored, so name it in `carry`).
# `device` records the GPU, runs the suite's cuda cases (the cpu and strict ones ran in CI),
# then bench/large_update.py and bench/packed.py on cuda, each under its own time limit so one
# hang cannot take the others' output with it. Record every figure with the GPU's name in
# bench/RESULTS.md.
set -u
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl graphviz dask distributed partd locket zict tblib pdoc
  ls .whl ;;
device)
  OUT=${OUT:?set OUT to the folder the results go to}
  export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PWD:/tmp/site
  python3 -c "import minigrad as mg, numpy, cupy; print('cuda', mg.cuda_is_available(), 'numpy', numpy.__version__,
'cupy', cupy.__version__)" > "$OUT/env.txt" 2>&1
  timeout 330 python3 -m pytest -q -p no:cacheprovider -n 8 -k cuda -rfE > "$OUT/pytest_cuda.txt" 2>&1
  timeout 120 python3 bench/large_update.py --device cuda --json "$OUT/large_update.json" > "$OUT/large_update.txt" 2>&1
  timeout 100 python3 bench/packed.py --device cuda --dtypes float32 --lengths 100 --sizes 1 10 100 \
    --methods msgd-cr --updates 5 --repeats 3 --json "$OUT/packed_cuda.json" > "$OUT/packed_cuda.txt" 2>&1
  tail -n 3 "$OUT"/*.txt ;;
*)
  echo "usage: bash bench/gpu_session.sh prepare|device" >&2; exit 2 ;;
esac
