#!/usr/bin/env bash
# One model per task trained on lengths drawn from [50, 201), from /work/fig7 (commit 1b6ff5d). Re-run to resume.
set -u
M=/work/fig7/.venv/bin/minigrad
export OPENBLAS_NUM_THREADS=1
G="--length 50 --max-length 201 --target-error 0 --max-updates 200000 --dtype float32 --quiet"
run() { # task out extra...
  local t=$1 o=/work/runs/gen/$2; shift 2
  if [ -f $o/checkpoint.npz ]; then $M train $t $G "$@" --out $o --resume; else $M train $t $G "$@" --out $o; fi
  local rc=$?; [ $rc = 130 -o $rc = 143 ] && exit $rc; return 0
}
run temporal-order-3bit to3
run multiplication mul
run permutation perm
