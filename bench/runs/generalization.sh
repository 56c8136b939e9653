#!/usr/bin/env bash
# One model per task trained on lengths drawn from [50, 201). Re-run to resume.
# to3 ran from /work/fig7 (commit 1b6ff5d) and mul to update 113,187; from session 8 from /work/gen8
# (commit cc2476b): the same training (mul's 600 updates from its 109,500 checkpoint: bit-identical
# weights under both), and a test that draws a length per sequence (1b6ff5d: one per batch of 1,000).
# mul stays on cc2476b to its end; perm runs from /work/gen9 (commit 143b033: the final test of
# session 8, lengths drawn for the whole test from their own generator; training bit-identical to
# cc2476b's over 600 updates from mul's 174,500 checkpoint).
set -u
M=/work/gen8/.venv/bin/minigrad
M9=/work/gen9/.venv/bin/minigrad
export OPENBLAS_NUM_THREADS=1
G="--length 50 --max-length 201 --target-error 0 --max-updates 200000 --dtype float32 --quiet"
run() { # minigrad task out extra...
  local m=$1 t=$2 o=/work/runs/gen/$3; shift 3
  if [ -f $o/checkpoint.npz ]; then $m train $t $G "$@" --out $o --resume; else $m train $t $G "$@" --out $o; fi
  local rc=$?; [ $rc = 130 -o $rc = 143 ] && exit $rc; return 0
}
run $M temporal-order-3bit to3
run $M multiplication mul
run $M9 permutation perm
