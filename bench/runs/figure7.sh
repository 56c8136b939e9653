#!/usr/bin/env bash
# Figure 7 from the frozen checkout /work/fig7 (commit 1b6ff5d); T = 20 is recorded in bench/RESULTS.md
# from this commit. Re-run to resume (finished cells are reused, stopped ones resume).
set -u
M=/work/fig7/.venv/bin/minigrad
S="--task temporal-order --seeds 0 1 2 3 4 --max-updates 200000 --dtype float32 --workers 1 --quiet --out /work/runs/figure7"
export OPENBLAS_NUM_THREADS=1
for L in 50 100 150; do
  $M sweep $S --lengths $L --inits basic-tanh smart-tanh --methods msgd msgd-c msgd-cr msgd-r || exit $?
  $M sweep $S --lengths $L --inits sigmoid --methods msgd-r msgd-cr || exit $?
  if [ $L != 50 ]; then $M sweep $S --lengths $L --inits sigmoid --methods msgd msgd-c || exit $?; fi
done
# sigmoid MSGD / MSGD-C at T = 50: 0/5 in session 5's run from this commit (recorded); re-run last
$M sweep $S --lengths 50 --inits sigmoid --methods msgd msgd-c
