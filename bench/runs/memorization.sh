#!/usr/bin/env bash
# (After the temporal-order 50-200 models below:) memorization, original (2 symbols, 5 positions) and extended (5 symbols, 10 positions), one model
# per gap T and seed (the seeds of a gap packed), the paper's settings (presets: 100 units, smart
# tanh, MSGD-CR, lr 0.01, alpha 1, mu 1), float32, 200,000 updates, success < 1% of 10,000 wrong.
# From the frozen checkout /work/gen9 (commit 143b033). Re-run to resume.
set -u
M=/work/gen9/.venv/bin/minigrad
export OPENBLAS_NUM_THREADS=1
S="--seeds 0 1 2 3 4 --methods msgd-cr --max-updates 200000 --dtype float32 --workers 1 --quiet"
# First (session 8): the 50-200 temporal-order model again, seeds 1 and 2 (session 5's seed 0 ended at
# 55.7% wrong), for the paper's test at lengths up to 5000, which needs a model that succeeded.
G="--init basic-tanh --alpha 2 --length 50 --max-length 201 --target-error 0 --max-updates 200000 --dtype float32 --quiet"
for seed in 1 2; do
  o=/work/runs/gen/to_s$seed
  if [ -f $o/checkpoint.npz ]; then $M train temporal-order $G --seed $seed --out $o --resume; else $M train temporal-order $G --seed $seed --out $o; fi
  rc=$?; [ $rc = 130 -o $rc = 143 ] && exit $rc
  if tail -n 1 $o/log.jsonl | grep -q '"error": 0.0,'; then        # succeeded: 0 errors of 10,000
    [ -f /work/runs/gen/to_s${seed}_evaluate.txt ] || $M evaluate $o/checkpoint.npz --lengths 50 100 150 200 250 500 1000 2000 3000 5000 > /work/runs/gen/to_s${seed}_evaluate.txt
  fi
done
$M sweep --task memorization --lengths 50 100 150 200 $S --out /work/runs/memorization || exit $?
$M sweep --task memorization-extended --lengths 50 100 150 200 $S --out /work/runs/memorization-extended
