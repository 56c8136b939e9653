#!/usr/bin/env bash
# Resume the paper's long runs (issue 13, item 4) on this machine, in one command:
#
#     bash bench/resume_runs.sh [RUNS]        # RUNS defaults to /work/runs
#
# 1. restores RUNS from bench/runs (bench/keep_runs.py: never overwrites a newer file, so on a
#    machine that still has its runs nothing is lost);
# 2. makes the frozen checkouts the scripts name, each with its own venv, where missing:
#    /work/fig7 (1b6ff5d: Figure 7), /work/gen8 (cc2476b: the multiplication run),
#    /work/gen9 (143b033: permutation, memorization);
# 3. starts each script that is not already running, at the lowest priority (nice 19, and
#    autogroup nice 19 for its processes, so that interactive work and tests keep the cores):
#    figure7.sh, figure7_t20.sh (T = 20 again, session 9), generalization.sh, and after_generalization.sh (memorization.sh once
#    generalization.sh has ended).
# At the end of a session: `python bench/keep_runs.py save RUNS bench/runs` (it rewrites the ledger in
# bench/RESULTS.md from the saved runs), then commit both.
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-/work/runs}
python3 "$REPO/bench/keep_runs.py" restore "$REPO/bench/runs" "$RUNS"
for spec in fig7:1b6ff5d gen8:cc2476b gen9:143b033; do
  dir=/work/${spec%%:*}
  rev=${spec##*:}
  if [ ! -x "$dir/.venv/bin/minigrad" ]; then
    [ -d "$dir" ] || git -C "$REPO" worktree add -f "$dir" "$rev"
    python3 -m venv "$dir/.venv"
    "$dir/.venv/bin/pip" install -q -e "$dir"
  fi
done
cd "$RUNS"
chmod +x ./*.sh
start() {  # script log
  if pgrep -f "[ /]$1" > /dev/null; then
    echo "resume_runs: $1 is already running"
  else
    (nohup setsid nice -n 19 "./$1" >> "$2" 2>&1 &)
    echo "resume_runs: started $1 (log $RUNS/$2)"
  fi
}
start figure7.sh figure7.log
start figure7_t20.sh figure7_t20.log
start generalization.sh generalization.log
start after_generalization.sh memorization.log
# An autogroup is a session's (setsid): setting it through the script's own process covers every
# process the script starts later too (a queued sweep that starts hours from now included).
sleep 2
for p in $(pgrep -f "[ /](figure7|figure7_t20|generalization|after_generalization|memorization)\.sh") \
         $(pgrep -f "/work/(fig7|gen8|gen9)/.venv/"); do
  echo 19 > "/proc/$p/autogroup" 2> /dev/null || true
done
