#!/usr/bin/env bash
# Memorization, original (2 symbols, 5 positions) and extended (5 symbols, 10 positions), one model
# per gap T and seed (the seeds of a gap packed), the paper's settings (presets: 100 units, smart
# tanh, MSGD-CR, lr 0.01, alpha 1, mu 1), float32, 200,000 updates, success < 1% of 10,000 wrong.
# From the frozen checkout /work/gen9 (commit 143b033). Re-run to resume.
set -u
M=/work/gen9/.venv/bin/minigrad
export OPENBLAS_NUM_THREADS=1
S="--seeds 0 1 2 3 4 --methods msgd-cr --max-updates 200000 --dtype float32 --workers 1 --quiet"
$M sweep --task memorization --lengths 50 100 150 200 $S --out /work/runs/memorization || exit $?
$M sweep --task memorization-extended --lengths 50 100 150 200 $S --out /work/runs/memorization-extended
