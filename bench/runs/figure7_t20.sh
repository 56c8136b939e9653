#!/usr/bin/env bash
# Figure 7 at T = 20 again, on this machine (session 9): the first T = 20 cells (session 5's
# machine) were lost and their per-seed counts do not regenerate here (float32 trajectories depend
# on the BLAS kernel and thread count). Same frozen code as the rest of Figure 7 (/work/fig7).
set -u
M=/work/fig7/.venv/bin/minigrad
S="--task temporal-order --lengths 20 --seeds 0 1 2 3 4 --methods msgd msgd-c msgd-cr msgd-r --max-updates 200000 --dtype float32 --workers 1 --quiet --out /work/runs/figure7_t20"
export OPENBLAS_NUM_THREADS=1
$M sweep $S --inits smart-tanh basic-tanh || exit $?
$M sweep $S --inits sigmoid
