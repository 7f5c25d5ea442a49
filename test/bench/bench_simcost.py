#!/usr/bin/env python3
"""make bench, simulation cost at scale (issue 31): simulate()'s CPU by fleet
size, two builds side by side.

One tight fleet per size (the decision bench's generator, seed 1), 8 slots,
a week: simulate('edf') and simulate('syncopt'), the backend's CPU seconds
(/proc/self/schedstat: the machine's cores are shared, so wall time says
little) and the md5 of each call's row.  The build found by PG_CONFIG
("after") and the one whose pg_config is SIMCOST_BEFORE_PG_CONFIG ("before";
unset: the after build only) take turns, round by round
(SIMCOST_ROUNDS, default 3), each in a throwaway cluster of its own; the
section reports the median of the rounds and whether the two builds' rows
are the same.  SIMCOST_SIZES (default 60,240,480,960,1920) picks the sizes.

Writes the "Simulation cost at scale (issue 31)" section of
docs/benchmarks.md.  `bench_simcost.py --worker SIZES` is one build's turn
(the build on PATH), printing one line per call.
"""

import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "test"))
sys.path.insert(0, HERE)

SECTION = "Simulation cost at scale (issue 31)"
SIZES = [int(s) for s in os.environ.get("SIMCOST_SIZES", "60,240,480,960,1920").split(",")]
ROUNDS = int(os.environ.get("SIMCOST_ROUNDS", "3"))
SLOTS = 8
TARGET_N, TARGET_S = 480, 2.0
# What the section says besides the figures (kept by a re-run).
NOTES = """
This run (session 25, at the end): before = main at d32b76e, after = main
with this work and the retry back-off (issue 30) merged, on a machine at
rest (load average below 1).  The rows differ because of the back-off, not
this work: it changes which syncopt retries the replay starts after two
failures in a row.  With `syncopt.retry_backoff = 0` the after build's
rows equal the before build's (md5 of simulate()'s rows, checked apart on
the tight fleet of 480 connectors on 8 slots and the failure-heavy fleets
of 60 on 8 and 240 on 3 slots), as this work's own branch did on every
call (below).  Single calls at 480 connectors vary by a fifth or more on
this machine; the target is met on the median of three, at rest.

What made the replay cheaper (issue 31, session 25), found with perf on the
480-connector replay (3.65 s of CPU at the start; each step kept simulate()'s
rows identical):

- The slots' gap treap (src/plan_slots.c) was 48% of the replay: each
  placement deleted and re-inserted about four gaps, each by splits and merges
  from the root.  A placement now changes the gap it lands in where it is
  (the gap before keeps its start, so only its end and its ancestors' maxima
  change, and those only up to the first ancestor whose maxima stay), removes
  the gaps between the spans it merges, and inserts the one after it by one
  descent.
- A plan's triages made the same pass more than once (7.4 passes a plan):
  the last five are remembered by their inputs (src/plan_recall.c) and put
  back (6.1 passes made).
- The jobs are sorted by due time once per plan; each later order merges in
  the few jobs a give-up moved.  The replay predicts once per 4-hour period
  (the model's hour bucket) instead of once per hour.
- Tried and taken out: a per-plan index of each connector's deadlines for
  the give-ups (one walk of every deadline's upstream graph per plan instead
  of one per give-up, where redirect_dues() is 12-17% of the replay).  It
  saved about a tenth of the replay, but plan() at 10,000 connectors at
  12:00 went from 0.8 to 1.2 s (lists built for 10,000 connectors where the
  old code walks two or three times), so the figures above are without it.

plan() shares these structures: its rows and sla_risk()'s are identical
before and after on bench_analytics_scale's 10,000-connector fleet (03:00,
12:00 and 18:00; default slots, 200 and 50 slots: up to 7,490 syncs given
up), and it costs no more (12:00: 0.76-0.78 s before, 0.67-0.70 s after,
two rounds each).  simulate()'s rows were compared on 64 calls (tight,
loose and failure-heavy fleets of 60 to 960 connectors, 3, 8 and 16 slots,
noise 0 and 1; simulate_trace() too up to 240): identical.

What is left at 480 connectors: the passes (about 40%: placing in the
treap half of it), deadline triage and its walks up the graph (15-20%),
graph_compute() and the scores at each planning instant (18%); at 1,920,
graph_compute() alone is 15% (it grows faster than the rest, hence more
than 2.2x for the last doubling).  Before this session: 60/240/480/960
connectors took 0.23/1.26/2.79/7.37 s without the local search and
0.33/1.91/4.24/9.37 s with two flips a pass (session 24, load average
8-10), and 3.51-4.82 s at 480 at rest; the session-23 search had made it
14.53 s.
"""
CPU_NS = "split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint"


def worker(sizes):
    """One build's turn: each size's fleet loaded, both policies simulated, one line per call."""
    from bench_decisions import ACCOUNTS, NOW, DB, SETTINGS
    from fleet.generator import GeneratedFleet
    from harness.cluster import Cluster

    cluster = Cluster(SETTINGS, databases=[DB])
    cluster.start()
    try:
        for n in sizes:
            fleet = GeneratedFleet(seed=1, connectors=n, scenario="tight", now=NOW)
            cluster.psql(ACCOUNTS + fleet.sql(), DB)
            for policy in ("edf", "syncopt"):
                line = cluster.value(f"""SET syncopt.max_concurrent_syncs = {SLOTS};
CREATE TEMP TABLE t0 AS SELECT {CPU_NS} AS ns;
CREATE TEMP TABLE r AS SELECT md5(s::text) AS h
  FROM syncopt.simulate('{policy}', '7 days', 1, '{NOW.isoformat()}') s;
SELECT ({CPU_NS} - ns) / 1e9 || ' ' || (SELECT h FROM r) FROM t0;""", DB)
                print(n, policy, line, flush=True)
    finally:
        cluster.destroy()


def turn(pg_config):
    """{(n, policy): (cpu seconds, md5)} of one build's turn."""
    bin_dir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                             check=True).stdout.strip()
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", ",".join(map(str, SIZES))],
                         env=env, capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        n, policy, cpu, h = line.split()
        res[(int(n), policy)] = (float(cpu), h)
    return res


def medians(turns):
    """Per call: the median CPU over the turns, and the md5s seen."""
    return {k: (statistics.median(t[k][0] for t in turns), {t[k][1] for t in turns}) for k in turns[0]}


def report(after, before, rounds):
    """The section's text."""
    out = [f"## {SECTION}", "",
           f"Written by `test/bench/bench_simcost.py`: one tight fleet per size (seed 1), {SLOTS} slots, one "
           "week, CPU seconds of the backend (the median of "
           f"{rounds} rounds; the builds take turns, each in its own throwaway cluster, so both see the same "
           "load on this shared machine).", ""]
    head = "| connectors | edf |"
    rule = "| --- | --- |"
    if before:
        head += " syncopt, before | syncopt, after | after / before |"
        rule += " --- | --- | --- |"
    else:
        head += " syncopt |"
        rule += " --- |"
    out += [head, rule]
    for n in SIZES:
        row = f"| {n:,} | {after[(n, 'edf')][0]:.2f} s |"
        if before:
            b, a = before[(n, "syncopt")][0], after[(n, "syncopt")][0]
            row += f" {b:.2f} s | {a:.2f} s | {a / b:.2f} |"
        else:
            row += f" {after[(n, 'syncopt')][0]:.2f} s |"
        out.append(row)
    growth = [after[(hi, "syncopt")][0] / after[(lo, "syncopt")][0]
              for lo, hi in zip(SIZES, SIZES[1:]) if hi == 2 * lo]
    out.append("")
    if growth:
        out.append("The after build grows " + ", ".join(f"{g:.1f}x" for g in growth) +
                   " per doubling (n log n is about 2.2x).")
    if (TARGET_N, "syncopt") in after:
        cpu = after[(TARGET_N, "syncopt")][0]
        out.append(f"**The {TARGET_S:g} s target at {TARGET_N} connectors: "
                   f"{'met' if cpu < TARGET_S else 'not met'}** ({cpu:.2f} s).")
    if before:
        same = all(before[k][1] == after[k][1] and len(after[k][1]) == 1 for k in after)
        out.append("simulate()'s rows (md5 of each row) are " +
                   ("the same in both builds and every round." if same else "NOT the same in both builds."))
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker([int(s) for s in sys.argv[2].split(",")])
        return
    from report import replace_section

    after_pg = os.environ.get("PG_CONFIG", "pg_config")
    before_pg = os.environ.get("SIMCOST_BEFORE_PG_CONFIG")
    afters, befores = [], []
    for _ in range(ROUNDS):
        if before_pg:
            befores.append(turn(before_pg))
        afters.append(turn(after_pg))
    text = report(medians(afters), medians(befores) if befores else None, ROUNDS)
    print(text)
    replace_section(SECTION, text + NOTES)


if __name__ == "__main__":
    main()
