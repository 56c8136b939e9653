"""The ledger of the paper's long runs: every planned cell's state, read from the saved run folders
(bench/runs), written into bench/RESULTS.md between two markers.  Nothing in it is typed by hand,
so it cannot drift from the data; tests/test_ledger.py fails when the committed ledger is not what
this script makes of the committed bench/runs.

    python bench/ledger.py            # rewrite the ledger in bench/RESULTS.md from bench/runs
    python bench/ledger.py --check    # exit 1 (one line) when RESULTS.md's ledger is stale
    python bench/ledger.py --print    # the ledger on stdout
    python bench/ledger.py --project  # the time left to every planned pack's budget, at the logged rates
    python bench/ledger.py --margin   # which of 1b6ff5d's successes its 1% check rule could have made late
    python bench/ledger.py --figure docs/img/figure7_ledger.png   # and Figure 7's cells as a picture

What counts as a result: a sweep cell's result.json only when the sweep itself would trust it
(``tasks.sweep._result_damage``: its config and code hash to the cell's key, its outcome is one a
run ends with and agrees with its update count and errors); a cell with a log and no result is
"running" (stopped with the session, resumed by bench/resume_runs.sh) and is never counted.  A
`minigrad train` run (the one-model runs in bench/runs/gen) has no result.json at the commits that
ran them: it has ended when its last logged evaluation met its target (success) or reached its
budget, and is running otherwise.  Cells of settings other than the plan's (another budget,
dtype, ...) are listed apart, never counted.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tasks.sweep import _result_damage  # noqa: E402  (the sweep's own test of a stored result)

START = "<!-- ledger: made by `python bench/ledger.py` from bench/runs; do not edit by hand -->"
END = "<!-- ledger: end -->"
METHODS = ("msgd", "msgd-c", "msgd-cr", "msgd-r")
INITS = ("sigmoid", "basic_tanh", "smart_tanh")
SEEDS = (0, 1, 2, 3, 4)
# (title, folder under bench/runs, inits, methods, lengths, the settings every counted cell must have)
PROTOCOL = {"max_updates": 200_000, "dtype": "float32", "batch_size": 20, "halve_lr": False, "target_error": 0.01,
            "alpha_schedule": "constant", "eval_every": 500, "eval_size": 10_000, "eval_batch": 1000,
            "check_every": 50, "check_size": 1000, "cell": "rnn", "max_length": None}
FIGURE7 = {**PROTOCOL, "task": "temporal_order", "hidden": 50, "lr": 0.01, "clip": 1.0, "alpha": 4.0}
MEMORIZATION = {**PROTOCOL, "hidden": 100, "lr": 0.01, "clip": 1.0, "alpha": 1.0}
# (title, folder under bench/runs, inits, methods, lengths, the settings every counted cell must have;
#  the script in bench/runs that ran the folder, the command that regenerates or resumes it)
PLANS = [
    ("Figure 7, T = 20 (re-run in session 9)", "figure7_t20", INITS, METHODS, (20,), FIGURE7),
    ("Figure 7, T = 50, 100, 150", "figure7", INITS, METHODS, (50, 100, 150), FIGURE7),
    ("Memorization, original (2 symbols, 5 positions)", "memorization", ("smart_tanh",), ("msgd-cr",),
     (50, 100, 150, 200), {**MEMORIZATION, "task": "memorization"}),
    ("Memorization, extended", "memorization-extended", ("smart_tanh",), ("msgd-cr",),
     (50, 100, 150, 200), {**MEMORIZATION, "task": "memorization_extended"}),
]
SCRIPTS = {"figure7_t20": "figure7_t20.sh", "figure7": "figure7.sh", "memorization": "memorization.sh",
           "memorization-extended": "memorization.sh", "gen": "generalization.sh and memorization.sh"}
SETTING_NAMES = ("task", "hidden", "lr", "clip", "alpha", "alpha_schedule", "batch_size", "dtype", "halve_lr",
                 "target_error", "max_updates", "eval_every", "eval_size", "eval_batch", "check_every", "check_size")
# Provenance, the one hand-kept part (copied from the run scripts' comments, checked by
# tests/test_ledger.py against the commits' sources): the commit whose code hashes to a cell's code
# version, and the rule by which that code's 1,000-sequence check (every check_every updates) calls
# the full 10,000-sequence test, which alone decides success.
CODE_COMMITS = {
    "10ca46076810381c": ("1b6ff5d", "the full test called when the check is below 1% (the target): an update "
                                    "count may be later than the current rule (below 2%) would give with the "
                                    "same arithmetic, never earlier"),
    "d6871b4ab75b9497": ("143b033", "the full test called when the check is below 2% (twice the target), the "
                                    "current rule"),
}
# The one-model runs (minigrad train folders carry no code version): the commits that ran them and
# the test that decided their last evaluation.
GEN_PROVENANCE = {
    "to3": "1b6ff5d; its test drew one length per batch of 1,000 (10 of the 151 lengths), under which it "
           "stopped; the per-sequence test (cc2476b on) finds it 1.37% wrong there: not a success under "
           "the current test",
    "mul": "1b6ff5d to update 113,187, then cc2476b (per-sequence test)",
    "perm": "143b033 (per-sequence test)",
    "to_s1": "143b033 (per-sequence test)",
    "to_s2": "143b033 (per-sequence test)",
}


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def last_row(path: Path) -> dict | None:
    """The last complete row of a log.jsonl (a torn last line is skipped), or None."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "update" in row:
            return row
    return None


def cell_state(folder: Path) -> dict:
    """{"config", "code", "status": "success" | "budget" | "diverged" | "running" | "pending" | "damaged",
    "updates", "error"} of one sweep cell folder (None when it holds no cell.json)."""
    ident = read_json(folder / "cell.json")
    if not isinstance(ident, dict) or "config" not in ident:
        return None
    state = {"config": ident["config"], "code": ident.get("code"), "name": ident.get("name", folder.name)}
    result = read_json(folder / "result.json")
    if result is not None:
        damage = _result_damage(result, ident.get("key")) if isinstance(result, dict) else "not a JSON object"
        if damage:
            return {**state, "status": "damaged", "why": damage}
        outcome = result["outcome"]
        status = "success" if outcome == "success" else "budget" if outcome == "budget" else "diverged"
        return {**state, "status": status, "updates": result["updates"], "error": result.get("last_error")}
    row = last_row(folder / "log.jsonl")
    error = row.get("error") if row else None
    target = state["config"].get("target_error")
    # a run of a pack that met its target stops there, but its result.json is written when the
    # whole pack ends: shown as such, and not counted until then
    met = isinstance(error, (int, float)) and isinstance(target, (int, float)) \
        and (error < target or (target == 0 and error == 0))
    return {**state, "status": "pending" if met else "running", "updates": row["update"] if row else 0,
            "error": error}


def matches(config: dict, settings: dict) -> bool:
    return all(config.get(k) == v for k, v in settings.items())


def percent(error) -> str:
    return "?" if error is None else f"{100 * error:.2f}%"


def count(n) -> str:
    return f"{n:,}"


def describe(state) -> str:
    s = state["status"]
    if s == "success":
        return count(state["updates"])
    if s == "budget":
        return f"budget ({percent(state['error'])})"
    if s == "diverged":
        return f"diverged at {count(state['updates'])}"
    if s == "running":
        return f"running: {count(state['updates'])} ({percent(state['error'])})"
    if s == "pending":
        return f"met the target at {count(state['updates'])} ({percent(state['error'])}; result pending)"
    return "not started"


def median_text(states) -> str:
    """The median of updates to success, a cell at the budget counted as more than any success;
    only when every seed has ended (else "-")."""
    if any(s["status"] not in ("success", "budget", "diverged") for s in states):
        return "-"
    values = sorted(s["updates"] if s["status"] == "success" else float("inf") for s in states)
    m = statistics.median(values)
    if m == float("inf"):
        return "> budget"
    return count(int(m)) if m == int(m) else f"{m:,.1f}"


def sweep_states(folder: Path, inits, methods, lengths, settings):
    """The plan's cells in ``folder``: ({(init, method, length, seed): state}, names of cells of
    other settings, names of damaged results)."""
    states, others, damaged = {}, [], []
    for cell in sorted((folder / "cells").glob("*")) if folder.is_dir() else []:
        st = cell_state(cell)
        if st is None:
            continue
        c = st["config"]
        point = (c.get("init"), c.get("method"), c.get("length"), c.get("seed"))
        if st["status"] == "damaged":
            damaged.append(f"{st['name']} ({st['why']})")
        elif not matches(c, settings) or point[0] not in inits or point[1] not in methods \
                or point[2] not in lengths or point[3] not in SEEDS:
            others.append(st["name"])
        elif point in states:
            others.append(st["name"] + " (a second cell of this grid point: another code version)")
        else:
            states[point] = st
    return states, others, damaged


def sweep_section(title, folder: Path, inits, methods, lengths, settings) -> list:
    states, others, damaged = sweep_states(folder, inits, methods, lengths, settings)
    codes = sorted({st["code"] for st in states.values() if st.get("code")})
    versions = "".join(f"; code version {c}" + (f" = commit {CODE_COMMITS[c][0]}, {CODE_COMMITS[c][1]}"
                                                 if c in CODE_COMMITS else " (commit not recorded)") for c in codes)
    script = f"; command `bash bench/runs/{SCRIPTS[folder.name]}`" if folder.name in SCRIPTS else ""
    lines = [f"**{title}** (bench/runs/{folder.name}; settings: "
             + ", ".join(f"{k} {settings[k]}" for k in SETTING_NAMES if k in settings) + versions + script + ")", ""]
    lines += ["| init | method | T | ended | success | updates to success or state, seeds "
              + "; ".join(str(s) for s in SEEDS) + " | median |", "|---|---|---|---|---|---|---|"]
    for length in lengths:
        for init in inits:
            for method in methods:
                cells = [states.get((init, method, length, seed), {"status": "not started"}) for seed in SEEDS]
                ended = sum(s["status"] in ("success", "budget", "diverged") for s in cells)
                success = sum(s["status"] == "success" for s in cells)
                lines.append(f"| {init.replace('_', ' ')} | {method.upper()} | {length} | {ended}/{len(SEEDS)} | "
                             f"{f'{success}/{ended}' if ended else '-'} | {'; '.join(describe(s) for s in cells)} | {median_text(cells)} |")
    if others:
        lines += ["", "Not counted (other settings): " + ", ".join(others) + "."]
    if damaged:
        lines += ["", "Not counted (a result.json the sweep would not trust): " + ", ".join(damaged) + "."]
    return lines + [""]


def train_section(folder: Path) -> list:
    """The one-model runs of bench/runs/gen (``minigrad train`` folders)."""
    runs = sorted(p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else []
    configs = [c for c in (read_json(r / "config.json") for r in runs) if isinstance(c, dict)]
    shared = [k for k in ("batch_size", "halve_lr", "alpha_schedule", "eval_every", "eval_size", "eval_batch",
                          "check_every", "check_size", "max_updates")
              if configs and all(k in c and c[k] == configs[0][k] for c in configs)]
    lines = [f"**One model on lengths 50-200** (bench/runs/gen; `minigrad train` folders; command `bash "
             f"bench/runs/{SCRIPTS['gen']}`; settings as in each row"
             + (", and " + ", ".join(f"{k} {configs[0][k]}" for k in shared) + " in all" if shared else "")
             + "; \"success\": its last evaluation met the run's target_error)", "",
             "| run | task | init | method | hidden | lr | clip | alpha | lengths | dtype | seed | target_error | "
             "state | code and test | test at other lengths |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        c = read_json(run / "config.json")
        row = last_row(run / "log.jsonl")
        if not isinstance(c, dict) or row is None:
            continue
        target, budget, error, update = c.get("target_error"), c.get("max_updates"), row.get("error"), row["update"]
        met = error is not None and (error < target or (target == 0 and error == 0))
        if met:
            state = f"success at {count(update)} ({percent(error)})"
        elif update >= budget:
            state = f"budget {count(budget)} ({percent(error)})"
        else:
            state = f"running: {count(update)} ({percent(error)})"
        test = folder / f"{run.name}_evaluate.txt"             # what `minigrad evaluate` printed, if run
        lengths = f"{c.get('length')}-{c.get('max_length') - 1}" if c.get("max_length") else str(c.get("length"))
        lines.append(f"| {run.name} | {c.get('task')} | {c.get('init')} | {c.get('method')} | {c.get('hidden')} | "
                     f"{c.get('lr')} | {c.get('clip')} | {c.get('alpha')} | {lengths} | {c.get('dtype')} | {c.get('seed')} | "
                     f"{target} | {state} | {GEN_PROVENANCE.get(run.name, 'not recorded')} | "
                     f"{f'bench/runs/{folder.name}/{test.name}' if test.exists() else '-'} |")
    return lines + ["", "Session 5's one-model runs (temporal order seed 0, addition) were lost with its machine; "
                    "RESULTS keeps what it measured.", ""]


def ledger(runs: Path) -> str:
    lines = [START, "### The ledger: every planned run's state in bench/runs", "",
             "Made by `python bench/ledger.py` from the run folders saved in bench/runs (see its docstring for "
             "what counts as a result); rewritten whenever the runs are saved. \"budget (x%)\": ended at the "
             "200,000-update budget, x% of 10,000 fresh sequences wrong at the last evaluation; \"running: u "
             "(x%)\": stopped with its session at update u, resumed by `bash bench/resume_runs.sh`, not a "
             "result; \"met the target at u (x%; result pending)\": a run of a pack that stopped below its "
             "target, whose result.json is written when the whole pack ends, not counted until then; medians "
             "count a run at the budget as slower than any success, and need every seed ended.",
             ""]
    for title, name, inits, methods, lengths, settings in PLANS:
        lines += sweep_section(title, runs / name, inits, methods, lengths, settings)
    lines += train_section(runs / "gen")
    return "\n".join(lines + [END])


def margin_exposure(runs: Path, code: str = "10ca46076810381c") -> tuple:
    """How much the check rule of ``code`` (1b6ff5d: the full test called only when the
    1,000-sequence check is below 1%) could have delayed its successes: (successes, [(cell,
    updates to success, [(update, error)] of the logged 10,000-sequence evaluations before the
    success that were below 2%)]).  Where no logged evaluation fell below 2% before the success,
    the run's error sat above the current rule's threshold at every evaluation until the last
    500 updates before it."""
    successes, exposed = 0, []
    for folder in sorted(runs.glob("*/cells/*")):
        state = cell_state(folder)
        if state is None or state.get("code") != code or state["status"] != "success":
            continue
        successes += 1
        rows = []
        for line in (folder / "log.jsonl").read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("update", 10**12) < state["updates"] \
                    and isinstance(row.get("error"), (int, float)) and row["error"] < 0.02:
                rows.append((row["update"], row["error"]))
        if rows:
            exposed.append((state["name"], state["updates"], rows))
    return successes, exposed


MIN_INTERVALS = 100            # logged intervals a length needs before its rate is taken as measured


def seconds_per_update(folder: Path) -> dict:
    """{length: the median wall seconds of one update of a pack, over the logged evaluation
    intervals of every cell of ``folder`` at that length} (the rows' wall_time restarts when a
    run resumes: such intervals are skipped), for the lengths with at least MIN_INTERVALS of
    them (a pack's first few rows are no rate: the length is then scaled from another).  Measured on the machine and under the load the
    runs had (nice 19, beside other work): a rate, not a benchmark."""
    per_length = {}
    for cell in sorted((folder / "cells").glob("*")) if folder.is_dir() else []:
        ident = read_json(cell / "cell.json")
        if not isinstance(ident, dict) or "config" not in ident:
            continue
        rows = []
        for line in (cell / "log.jsonl").read_text().splitlines() if (cell / "log.jsonl").exists() else []:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("wall_time"), (int, float)) and "update" in row:
                rows.append(row)
        per_length.setdefault(ident["config"].get("length"), []).extend(
            (b["wall_time"] - a["wall_time"]) / (b["update"] - a["update"]) for a, b in zip(rows, rows[1:])
            if b["update"] > a["update"] and b["wall_time"] > a["wall_time"])
    return {length: statistics.median(v) for length, v in per_length.items() if len(v) >= MIN_INTERVALS}


def projection(runs: Path) -> list:
    """[(title, packs left, pack-updates left, hours)] for each plan: every grid point whose
    seeds have not all ended needs its pack run to the budget, from the furthest update its
    running seeds reached (an upper bound: successes stop early, and a pack of fewer seeds is
    cheaper); a length with no logged rate takes the rate of the longest measured one, scaled
    in proportion to T (the plan of the extended memorization, with none of its own, the
    original's)."""
    out = []
    measured = {name: seconds_per_update(runs / name) for _, name, *_ in PLANS}
    for title, name, inits, methods, lengths, settings in PLANS:
        states, _, _ = sweep_states(runs / name, inits, methods, lengths, settings)
        rates = measured[name] or measured.get(name.replace("-extended", ""), {})
        packs = updates = seconds = 0
        for init in inits:
            for method in methods:
                for length in lengths:
                    seeds = [states.get((init, method, length, s), {"status": "not started"}) for s in SEEDS]
                    if all(s["status"] in ("success", "budget", "diverged") for s in seeds):
                        continue
                    done = max((s.get("updates") or 0) for s in seeds if s["status"] in ("running", "pending",
                                                                                         "not started"))
                    left = settings["max_updates"] - done
                    if not rates:
                        continue
                    base = max(rates) if length not in rates else length
                    rate = rates[base] * length / base
                    packs, updates, seconds = packs + 1, updates + left, seconds + left * rate
        out.append((title, packs, updates, seconds / 3600 if rates else None))
    return out


def figure7_cells(runs: Path) -> dict:
    """{(init, method, length): {"rate", "text"}} for every planned Figure 7 cell: once every seed
    has ended, the rate of success among the 5 seeds and "k/5" (with the median updates to
    success when most succeeded); else rate None and "running" with how many seeds have ended
    and won so far and how many met the target with their result pending, or "not started"."""
    cells = {}
    for title, name, inits, methods, lengths, settings in PLANS:
        if settings.get("task") != "temporal_order":
            continue
        states, _, _ = sweep_states(runs / name, inits, methods, lengths, settings)
        for init in inits:
            for method in methods:
                for length in lengths:
                    seeds = [states.get((init, method, length, s), {"status": "not started"}) for s in SEEDS]
                    ended = [s for s in seeds if s["status"] in ("success", "budget", "diverged")]
                    wins = sum(s["status"] == "success" for s in ended)
                    met = sum(s["status"] == "pending" for s in seeds)
                    if len(ended) == len(SEEDS):
                        median = f"\nmedian {median_text(seeds)}" if wins > len(SEEDS) // 2 else ""
                        text, rate = f"{wins}/{len(SEEDS)}{median}", wins / len(SEEDS)
                    elif all(s["status"] == "not started" for s in seeds):
                        text, rate = "not started", None
                    else:
                        so_far = [f"{wins}/{len(ended)} ended won"] if ended else []
                        so_far += [f"{met} met the target"] if met else []
                        text, rate = "\n".join(["running"] + so_far), None
                    cells[init, method, length] = {"rate": rate, "text": text}
    return cells


def draw_figure7(runs: Path, path: Path) -> dict:
    """The Figure 7 part of the ledger as a picture (one panel per initialization, methods down,
    lengths across; the colour is the success rate of 5 seeds within the budget, grey where the
    cell has not ended) written to ``path``; returns :func:`figure7_cells`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    cells = figure7_cells(runs)
    lengths = sorted({k[2] for k in cells})
    fig, axes = plt.subplots(1, len(INITS), figsize=(4.2 * len(INITS), 3.6), sharey=True)
    for ax, init in zip(axes, INITS):
        rate = np.array([[np.nan if cells[init, m, t]["rate"] is None else cells[init, m, t]["rate"]
                          for t in lengths] for m in METHODS])
        cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#e6e6e6")
        ax.imshow(np.ma.masked_invalid(rate), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for i, m in enumerate(METHODS):
            for j, t in enumerate(lengths):
                ax.text(j, i, cells[init, m, t]["text"], ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(lengths)), [str(t) for t in lengths])
        ax.set_yticks(range(len(METHODS)), [m.upper() for m in METHODS])
        ax.set_xlabel("sequence length T")
        ax.set_title(init.replace("_", " "))
    fig.suptitle("Figure 7 at full strength: seeds (of 5) that reached < 1% wrong within 200,000 updates "
                 "(grey: not ended)", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return cells


def splice(text: str, block: str) -> str:
    """``text`` with the ledger between the markers replaced by ``block`` (inserted after the
    section title of the paper's runs when there is none yet)."""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        return head + block + rest.split(END, 1)[1]
    anchor = "## The paper's runs at full strength"
    at = text.index(anchor)
    at = text.index("\n", at) + 1
    return text[:at] + "\n" + block + "\n" + text[at:]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=REPO / "bench" / "runs")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when the ledger in --results is stale")
    mode.add_argument("--print", action="store_true", help="print the ledger, change nothing")
    mode.add_argument("--project", action="store_true", help="print the time left to every planned pack's "
                      "budget at the rates the runs logged, change nothing")
    mode.add_argument("--margin", action="store_true", help="print how many of 1b6ff5d's successes had an "
                      "evaluation below 2%% before them (its check rule could have made them late), change nothing")
    p.add_argument("--figure", type=Path, default=None,
                   help="also draw Figure 7's cells into this picture (keep_runs.py save: docs/img/figure7_ledger.png)")
    args = p.parse_args(argv)
    if args.project:
        total = 0.0
        for title, packs, updates, hours in projection(args.runs):
            said = "no logged rate" if hours is None else f"about {hours:.1f} h of one core"
            total += hours or 0.0
            print(f"{title}: {packs} packs, {updates:,} pack-updates left to their budgets: {said}")
        print(f"in all: about {total:.0f} core-hours at the logged rates (an upper bound: successes stop early); "
              f"the paper's 5M-update budget is 25 times the 200,000 here for every run that does not succeed")
        return 0
    if args.margin:
        successes, exposed = margin_exposure(args.runs)
        print(f"{successes} successes of code 10ca46076810381c (commit 1b6ff5d); {len(exposed)} had a logged "
              "evaluation below 2% before the success:")
        for name, updates, rows in exposed:
            print(f"  {name}: success at {updates:,}; " + ", ".join(f"{e:.2%} at {u:,}" for u, e in rows))
        return 0
    block = ledger(args.runs)
    if args.figure is not None:
        draw_figure7(args.runs, args.figure)
        print(f"ledger.py: drew {args.figure}")
    if args.print:
        print(block)
        return 0
    text = args.results.read_text()
    new = splice(text, block)
    if args.check:
        if new != text:
            print(f"ledger.py: the ledger in {args.results} is not what {args.runs} holds: "
                  "run `python bench/ledger.py` and commit", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.results.write_text(new)
        print(f"ledger.py: rewrote the ledger in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
