#!/usr/bin/env python3
"""make bench, scale part (issue 34): a planning run, plan() and sla_risk()
at several fleet sizes, before and after the planning run shares its work,
with peak memory and growth exponents.

The fleet is bench_analytics.py's generator (3,000 assets, 500 dashboards
with deadlines, 2 lineage edges per connector, sync_order every 20th pair)
at each size in SCALE_SIZES (default 1000,10000,50000), with SCALE_RUNS runs
per connector (default 20: the analytics read connector_stats, not the
history, so more runs only lengthen the load).

Two builds can be measured in one invocation, on the same generated fleets:
the one found by PG_CONFIG (after), and the one whose pg_config is
SCALE_BEFORE_PG_CONFIG (before; leave it unset to measure one build only).
Each build has its own throwaway cluster, both running at once; each is
loaded, its history moved into weekly partitions as the collector's
maintenance leaves it, and VACUUMed and ANALYZEd (as autovacuum leaves
tables loaded in bulk), then SCALE_REPEATS trials (default 3) alternate the
builds, each trial on a fresh copy of the loaded database: a day's first
planning run, the later runs, plan() and sla_risk(), each one call in a
fresh backend after a warm-up statement that loads the library.  Each figure is the trial
with the least CPU of the backend (this machine's noise is mostly other
work on the host, which only adds); peak memory is the highest VmHWM
(resident high-water mark, shared buffers it touched included) of the
trials.  The planning run is given an hour (syncopt.planner_time_limit) so
that a slow build is measured to its end.

Writes the "Planning run at scale (issue 34)" section of docs/benchmarks.md.
SCALE_KEEP=FILE keeps the figures as JSON, with the sizes, runs, trials,
before label and run note they were measured under; `bench_scale.py
--from-json FILE` rewrites the section from them.
"""

import json
import math
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [int(s) for s in os.environ.get("SCALE_SIZES", "1000,10000,50000").split(",")]
RUNS = int(os.environ.get("SCALE_RUNS", "20"))
# Each call is cancelled after this many seconds and reported as not finished.
CALL_LIMIT = int(os.environ.get("SCALE_CALL_LIMIT", "900"))
SECTION = "Planning run at scale (issue 34)"
# Trials per size and build (each on a fresh copy of the loaded fleet); the
# figures are the least CPU of them.
REPEATS = int(os.environ.get("SCALE_REPEATS", "3"))
# Functions not measured (a slow build's, to save time).
SKIP = os.environ.get("SCALE_SKIP", "").split(",")
# What the section calls the before build, and a paragraph on the run's
# conditions (kept with the figures: conditions()).
BEFORE_LABEL = os.environ.get("SCALE_BEFORE_LABEL", "the build named by SCALE_BEFORE_PG_CONFIG")
RUN_NOTE = os.environ.get("SCALE_RUN_NOTE")
# The planning runs of a trial, in order (measure() says what each is).
PLANNING_RUNS = ("run_planner", "run_planner again", "run_planner 15 min later", "run_planner 30 min later",
                 "run_planner 45 min later, after a purge", "run_planner 60 min later, after the weekly drop")
# Moves the loaded history into sync_run's weekly partitions (the weeks from
# the one of the first run through four ahead of now()).
PARTITION = ("SELECT syncopt.maintain_run_partitions(now() - min(started_at))"
             " FROM syncopt.sync_run")
# The retention purge of an hour, as the collector runs it: purge_history()
# with the retention reaching back to 2026-10-26 04:00 UTC, which the
# first run of every connector of the fleet (bench_analytics.py's, from
# 03:00) started before.  A retention measured from now(), so one batch
# (as many runs as connectors) takes them whatever day this runs.
PURGE = ("SELECT syncopt.purge_history(now() - timestamptz '2026-10-26 04:00+00', "
         "(SELECT count(*)::integer FROM syncopt.connector))")
# The retention's weekly drop, as the collector's maintenance makes it: the
# week of 2026-10-26 (the fleet's first, its runs but the purged ones) goes
# whole, the retention reaching back to its end.
WEEK_DROP = "SELECT syncopt.maintain_run_partitions(now() - timestamptz '2026-11-02 00:00+00')"
# What the planning runs wrote: the same at both builds (the outputs are pinned by the tests).
WRITTEN = (
    "SELECT (SELECT count(*) FROM syncopt.planned_sync) || '/' || "
    "(SELECT count(*) FROM syncopt.sla_forecast) || '/' || "
    "(SELECT count(*) FROM syncopt.fivetran_sync_ai_logs)")
# The md5 of what the planning runs wrote: the decisions without their
# wall-clock times, planned_sync, sla_forecast, the alerts by content (the
# order of alert ids is not deterministic), the forecast scorecard's
# outcomes, forecast log and duration forecasts, the anomaly snapshot and
# the runs' counts.  Comparable with builds before an SLA alert listed at
# most 20 blocking connectors (session 28): the alerts without their list
# and count, the forecasts without the alert's list and count.
MD5 = (
    "SELECT md5(concat_ws('/',"
    " (SELECT string_agg(concat_ws('|', decision_id, planner_run_id, connector_id, action, params,"
    "   priority_score, score_components, reason, mode, status, act_by), E'\\n' ORDER BY decision_id)"
    "    FROM syncopt.fivetran_sync_ai_logs),"
    " (SELECT string_agg(p::text, E'\\n' ORDER BY planner_run_id, connector_id) FROM syncopt.planned_sync p),"
    " (SELECT string_agg((f.planner_run_id, f.asset_id, f.deadline, f.predicted_ready, f.at_risk, f.risk,"
    "   f.blocking_connectors, f.reason)::text, E'\\n' ORDER BY planner_run_id, asset_id) FROM syncopt.sla_forecast f)))"
    " || ' ' || md5(concat_ws('/',"
    " (SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT concat_ws('|', kind, asset_id, connector_id,"
    "   severity, message, details - 'blocking_connectors' - 'blocking_count') AS x FROM syncopt.alert) a),"
    " (SELECT string_agg(concat_ws('|', asset_id, deadline, opens_at, first_forecast_at, connector_ids,"
    "   build_times, ready_at, met, intervened, settled), E'\\n' ORDER BY asset_id, deadline)"
    "    FROM syncopt.sla_outcome),"
    " (SELECT string_agg(f::text, E'\\n' ORDER BY asset_id, deadline, planner_run_id) FROM syncopt.sla_forecast_log f),"
    " (SELECT string_agg(f::text, E'\\n' ORDER BY connector_id, first_at) FROM syncopt.duration_forecast f),"
    " (SELECT string_agg(a::text, E'\\n' ORDER BY planner_run_id, run_id, metric) FROM syncopt.anomaly_snapshot a),"
    " (SELECT string_agg(concat_ws('|', planner_run_id, at, candidates, written, auto_approved, refused,"
    "   unchanged, not_allowed, superseded, alerts, not_reached), E'\\n' ORDER BY planner_run_id)"
    "    FROM syncopt.planner_run)))")


# What the latest work changed in a planning run (its own measurements: the
# next section).
SESSION_CHANGES = """
What session 29 changed (each change measured on its own in the section
"session 29" below):
- A run writes its decisions in chunks through `write_decisions()` (the
  most urgent alone, then up to 100 a statement, and before each auto-mode
  guardrail so that the hourly caps count the run's own approvals), the
  inserted decisions audited once per statement, not one call, two
  statements and an audit trigger per decision.
- `anomalies()` reads each connector's training window by an index scan
  of its own bounded by the window's start, instead of one scan of the
  whole index checking the time on every entry; the candidates' check of a
  trigger's latest run reads the history's index alone.  With 90 days of
  history a first run at 10,000 connectors costs 1.12x the run on 15 days
  (it was 1.51x).
- `run_planner()` makes the run in a subtransaction and plans once more
  when a connector it read was deleted before it wrote (it failed, or
  deadlocked with the delete); the previous run's plan, forecast and
  anomaly rows are deleted after the new ones are written.
- The forecast scorecard extends each connector's standing duration
  forecast by a join on the connector to its latest forecast, not on the
  forecast's float8 prediction: the planner expected a handful of equal
  predictions where there are as many as connectors, and a later run in a
  fresh backend at 100,000 connectors joined them by a nested loop (the
  before build's "not finished" at 100,000).
"""

# The earlier work on the planning run, in brief (the measurements of each
# are in git history of docs/benchmarks.md).
EARLIER_WORK = """Earlier work on the planning run (sessions 21-28; each measured side by
side when made, figures in git history or the sections below):
- One fleet load per run, shared by the analytics the run calls
  (src/fleet_share.c); `plan()` and `sla_risk()` from one plan
  (`plan_and_forecast()`); the deadline triage without its quadratic scan;
  reachability as bitsets over the deadlines only.
- The analytics the candidates' query joins are declared `ROWS 100000`:
  with the default estimate of 1,000 rows the planner joined them by nested
  loops over a fleet-sized CTE (a later run at 50,000 connectors: 46 s of
  CPU with the default, 18 s with it).
- The history probes of the candidates made only for the connectors that
  pass the plan's and the scores' tests (about 1,400 instead of 10,000);
  `vendor_next_start()` splits only cron schedules; the schedule-move and
  batch-size branches check once that a connector could take the proposal
  before joining a fleet-sized function.
- `anomalies()` streams its training window through a cursor in the
  order of the history's `(connector_id, started_at DESC)` index, read from
  that index alone, with the median and spread once per connector and
  weekday.
- The forecast scorecard: each new deadline's input arrays go straight to
  the insert (`asset_inputs_of()` in a select list, not a spilling
  tuplestore), compressed with lz4 (pglz took 5.3 s against 0.64 s for the
  500 rows of a 10,000 fleet; no compression 0.24 s but 115 MB a day);
  `outcome_ready_times()` reads the landed runs and the executed decisions
  once, searching an outcome's ascending inputs by galloping.
- The decisions' loop reads each candidate's policy and no-churn check in
  the candidates' query (per candidate, its plan cached while the control
  table was empty stayed a sequential scan: 1.8 million rows read at
  10,000 connectors); the audit's foreign key to the decisions is checked
  at commit.
- `planned_sync`, `sla_forecast` and `anomaly_snapshot` have no foreign
  key to `planner_run` (a statement trigger deletes a deleted run's rows);
  their foreign keys to `connector` stay: dropping them was tried and
  rejected (orphans under REPEATABLE READ, a deadlock with
  `purge_history()`, rights a connector's deleter would need).
- A connector's duration model is a stored generated column of
  `connector_stats` (`syncopt.duration_model()`), read by the loader.
- Session 28 ("what session 28 changed", below): new SLA outcomes
  resolved while their inputs are in memory (`new_outcomes()`); one walk
  of the lineage graph shared by the run's copies of the fleet;
  `plan_and_forecast()` a row at a time into the run's one CTE, its
  blocking lists compressed as stored; SLA alerts list at most 20 blocking
  connectors with their count; `connector_settings()` inlined.
"""


def measure(builds):
    """The figures of every size for each build ({label: bindir}), as
    {label: {size: {...}}}: each build's cluster loaded with the same fleet,
    then REPEATS trials that alternate the builds, each on a fresh copy of
    the loaded database, the fastest (least CPU) of each call kept."""
    sys.path.insert(0, os.path.join(TOP, "test"))
    sys.path.insert(0, HERE)
    import bench_analytics as ba
    from harness.cluster import Cluster

    at = ba.AT
    functions = {
        "run_planner": f"SELECT count(*) FROM syncopt.run_planner('{at}')",
        # The same instant again: the deadlines are forecast already, so the
        # scorecard only resolves them (a run of the day after its first).
        "run_planner again": f"SELECT count(*) FROM syncopt.run_planner('{at}')",
        # Fifteen minutes on, after the syncs of those minutes landed (LANDED):
        # the run pg_cron makes every 15 minutes.
        "run_planner 15 min later": f"SELECT count(*) FROM syncopt.run_planner(timestamptz '{at}' + interval '15 minutes')",
        # And 15 minutes on again: 15 minutes later is the run that takes
        # in the runs every connector started at `at` (this fleet's syncs
        # start together, every 6 hours); this one only what landed.
        "run_planner 30 min later": f"SELECT count(*) FROM syncopt.run_planner(timestamptz '{at}' + interval '30 minutes')",
        # And again, after the retention purge deleted every connector's
        # oldest run (PURGE) besides what landed: the run after the
        # collector's hourly purge.
        "run_planner 45 min later, after a purge":
            f"SELECT count(*) FROM syncopt.run_planner(timestamptz '{at}' + interval '45 minutes')",
        # And again, after the weekly drop of the oldest week (WEEK_DROP)
        # besides what landed: the run after the drop the collector's
        # maintenance makes once a week.
        "run_planner 60 min later, after the weekly drop":
            f"SELECT count(*) FROM syncopt.run_planner(timestamptz '{at}' + interval '60 minutes')",
        "plan": f"SELECT count(*) FROM syncopt.plan('{at}', '24 hours')",
        "sla_risk": f"SELECT count(*) FROM syncopt.sla_risk('{at}')",
    }

    def landed(minute, residue):
        """A 10-minute sync started `minute` minutes after `at` by one connector
        in 24 (those whose id is `residue` modulo 24): as many as start in 15
        minutes when each syncs 4 times a day."""
        return ("INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, "
                f"rows, source) SELECT c.connector_id, 'landed', timestamptz '{at}' + interval '{minute} minutes', "
                f"timestamptz '{at}' + interval '{minute + 10} minutes', 'succeeded', 1000, 'api' "
                f"FROM syncopt.connector c WHERE c.connector_id % 24 = {residue}")

    # What lands between two planning runs 15 minutes apart, before the
    # later one (not timed).
    prep = {"run_planner 15 min later": landed(1, 0), "run_planner 30 min later": landed(16, 1),
            "run_planner 45 min later, after a purge": landed(31, 2) + ";\n" + PURGE,
            "run_planner 60 min later, after the weekly drop": landed(46, 3) + ";\n" + WEEK_DROP}

    def fleet_sql(n):
        return (ba.FLEET.replace(f"generate_series(1, {ba.CONNECTORS})", f"generate_series(1, {n})")
                .replace(f"{ba.CONNECTORS} - 1", f"{n} - 1")
                .replace("CREATE EXTENSION syncopt;", "DROP EXTENSION IF EXISTS syncopt CASCADE; CREATE EXTENSION syncopt;"))

    def call(cluster, db, query):
        """(seconds in the server, peak backend memory in MB, the backend's CPU seconds) of
        one call in a fresh backend; None when cancelled at CALL_LIMIT."""
        # The call is a statement of its own, between two that read the
        # clock and the backend's CPU time: its commit is measured too (work
        # a deferred constraint leaves to the commit counts).
        cpu_ns = "split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint"
        sql = ("SET syncopt.planner_time_limit = '1h';\n"
               f"SET statement_timeout = '{CALL_LIMIT}s';\n"
               "SELECT count(*) FROM syncopt.connector;\n"
               f"SELECT clock_timestamp() AS t0, {cpu_ns} AS c0 \\gset\n"
               f"SELECT count(*) FROM ({query}) q;\n"
               "SELECT 'seconds=' || extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) "
               f"|| ' cpu=' || ({cpu_ns} - :c0) / 1e9;\n"
               "SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\\s+(\\d+)');")
        # psql directly: the harness bounds a statement to 5 minutes, which a
        # slow build's planning run at 50,000 connectors can pass.
        proc = subprocess.run([f"{cluster.bin}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
                              + cluster.conninfo(db), input=sql, capture_output=True, text=True,
                              timeout=CALL_LIMIT + 600)
        if "canceling statement due to statement timeout" in proc.stderr:
            return None
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr + "\n-- server log:\n" + cluster.log_tail())
        seconds = float(proc.stdout.split("seconds=")[-1].split()[0])
        cpu = float(proc.stdout.split("cpu=")[-1].split()[0])
        hwm_kb = int(proc.stdout.strip().splitlines()[-1])
        return seconds, hwm_kb / 1024, cpu

    def trial(label, cluster, n, res, last):
        """One trial on a fresh copy of the loaded fleet: each function in a fresh
        backend, in order; with last, what the runs wrote too."""
        cluster.psql("DROP DATABASE IF EXISTS trial; CREATE DATABASE trial TEMPLATE " + ba.DB)
        for name, q in functions.items():
            if name in SKIP:
                res[name] = None
                continue
            if name in prep:
                cluster.psql(prep[name], "trial")
            v = call(cluster, "trial", q)
            res.setdefault("trials " + name, []).append(v)
            finished = [t for t in res["trials " + name] if t is not None]
            # The least CPU of the trials; peak memory the highest seen.
            best = min(finished, key=lambda t: t[2], default=None)
            res[name] = best and [best[0], max(t[1] for t in finished), best[2]]
            print(f"{label} {n} {name} {v}", file=sys.stderr, flush=True)
        if last:
            res["written"] = cluster.value(WRITTEN, "trial")
            res["md5"] = cluster.value(MD5, "trial")
            print(f"{label} {n} written {res['written']} md5 {res['md5']}", file=sys.stderr, flush=True)
        cluster.psql("DROP DATABASE trial")

    results = {label: {} for label in builds}
    for n in SIZES:
        clusters = {}
        try:
            for label, bindir in builds.items():
                clusters[label] = Cluster(ba.SETTINGS, databases=[ba.DB], bindir=bindir)
                clusters[label].start()
                t0 = time.time()
                clusters[label].psql(fleet_sql(n), ba.DB)
                # The analytics bench's loader: the runs a block of connectors
                # a statement (one statement passed the harness's bound at
                # 50,000 connectors x 100 runs; the run_ids may be numbered in
                # another order than that statement's plan wrote them), then
                # connector_stats by the product's fold.
                ba.load_runs(clusters[label], n, 1, RUNS)
                # The history in weekly partitions, as the collector's
                # maintenance leaves it (a retention reaching back to the
                # first run's week: nothing dropped), not all in the default
                # one.
                clusters[label].psql(PARTITION, ba.DB)
                # VACUUM ANALYZE after the load, as autovacuum leaves tables
                # loaded in bulk: the visibility map set (the anomalies'
                # window is an index-only read), the hint bits written, not
                # left to the first reader, and every week's statistics
                # (which the default partition's, taken before the move,
                # are not; a build whose maintain_run_partitions() analyzes
                # what it moved would otherwise be measured against one
                # planned on default estimates).
                clusters[label].psql("VACUUM ANALYZE;", ba.DB)
                results[label][n] = {"load": time.time() - t0}
            labels = list(builds)
            for r in range(REPEATS):
                # Alternate which build goes first: the first of two
                # back-to-back trials was often the faster on this machine.
                for label in (labels if r % 2 == 0 else labels[::-1]):
                    trial(label, clusters[label], n, results[label][n], last=r == REPEATS - 1)
        finally:
            for c in clusters.values():
                c.destroy()
    return results


def exponent(sizes, values):
    """Growth exponent between two sizes."""
    if values[0] <= 0:
        return float("nan")
    return math.log(values[1] / values[0]) / math.log(sizes[1] / sizes[0])


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--from-json":
        # Rewrite the section from the figures a run kept (SCALE_KEEP), under
        # the conditions it kept with them (the environment's for a file
        # kept before they were).
        with open(sys.argv[2]) as f:
            kept = json.load(f)
        apply_conditions(kept.get("conditions", {}))
        write_section(*({int(k): v for k, v in kept[leg].items()} if kept.get(leg) else None
                         for leg in ("before", "after")))
        return
    if len(SIZES) < 2:
        # Checked before measuring: the section's growth exponent compares
        # the last two sizes, and a one-size run failed only after its legs.
        sys.exit("SCALE_SIZES needs at least two sizes (the growth exponent compares the last two)")
    # Both builds' clusters run side by side and their trials alternate
    # (SCALE_BEFORE_FIRST=1: the before build's first), so that a change in
    # the machine's load falls on both.
    def bindir(pg_config):
        return subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()

    builds = {"after": bindir(os.environ.get("PG_CONFIG", "pg_config"))}
    if os.environ.get("SCALE_BEFORE_PG_CONFIG"):
        builds["before"] = bindir(os.environ["SCALE_BEFORE_PG_CONFIG"])
        if os.environ.get("SCALE_BEFORE_FIRST") == "1":
            builds = {"before": builds["before"], "after": builds["after"]}
    results = measure(builds)
    before, after = results.get("before"), results["after"]
    if os.environ.get("SCALE_KEEP"):
        with open(os.environ["SCALE_KEEP"], "w") as f:
            json.dump({"before": before, "after": after, "conditions": conditions()}, f)
    write_section(before, after)


def conditions():
    """What the section says of a run besides its figures, kept with them."""
    return {"sizes": SIZES, "runs": RUNS, "repeats": REPEATS, "before_label": BEFORE_LABEL, "run_note": RUN_NOTE}


def apply_conditions(kept):
    """The conditions a kept run recorded (conditions()), in place of the
    environment's."""
    global SIZES, RUNS, REPEATS, BEFORE_LABEL, RUN_NOTE
    SIZES = kept.get("sizes", SIZES)
    RUNS = kept.get("runs", RUNS)
    REPEATS = kept.get("repeats", REPEATS)
    BEFORE_LABEL = kept.get("before_label", BEFORE_LABEL)
    RUN_NOTE = kept.get("run_note", RUN_NOTE)


def write_section(before, after):
    """The section of docs/benchmarks.md from the builds' figures; RUN_NOTE
    (SCALE_RUN_NOTE), when given, is a paragraph on the conditions of the run."""

    def cpu(v):
        """The backend's CPU seconds of a figure."""
        return v[2] if v is not None else None

    def trial_cpu(res, name):
        """The CPU seconds of each finished trial of a function."""
        return [t[2] for t in res.get("trials " + name, []) if t is not None]

    # The planning runs these figures have (figures kept before a run was
    # added to PLANNING_RUNS lack it).
    runs = tuple(name for name in PLANNING_RUNS
                 if all(name in res[n] for res in (before, after) if res is not None for n in SIZES))
    cols = " | ".join(f"{n:,}" for n in SIZES)
    lines = [f"| function | build | {cols} | CPU growth {SIZES[-2]:,} to {SIZES[-1]:,} | peak memory at {SIZES[-1]:,} |",
             "| --- | --- |" + " --- |" * (len(SIZES) + 2)]

    def cell(res, n, name):
        v = res[n][name]
        if v is None:
            return "not finished"
        trials = trial_cpu(res[n], name)
        spread = f", trials {min(trials):,.2f}-{max(trials):,.2f}" if len(trials) > 1 else ""
        cut = cancelled(res, n, name)
        if cut:
            spread += f"; {cut} of {cut + len(trials)} trials not finished"
        return f"{cpu(v):,.2f} s CPU ({v[0]:,.2f} s wall{spread})"

    def cancelled(res, n, name):
        """How many trials of a function were cancelled at CALL_LIMIT."""
        return sum(1 for t in res[n].get("trials " + name, []) if t is None)

    for name in runs + ("plan", "sla_risk"):
        for label, res in (("before", before), ("after", after)):
            if res is None:
                continue
            last = [res[n][name] for n in SIZES[-2:]]
            # Not from the trials that finished when others were cancelled.
            whole = None not in last and not any(cancelled(res, n, name) for n in SIZES[-2:])
            growth = f"{exponent(SIZES[-2:], [cpu(v) for v in last]):.2f}" if whole else ""
            memory = f"{last[1][1]:,.0f} MB" if whole else ""
            lines.append(f"| `{name}` | {label} | " + " | ".join(cell(res, n, name) for n in SIZES)
                         + f" | {growth} | {memory} |")
        if before is not None:
            def ratio(n):
                b, a = before[n][name], after[n][name]
                # A build whose trials were cancelled has no least to compare.
                if b is None or a is None or cancelled(before, n, name) or cancelled(after, n, name):
                    return ""
                return f"{cpu(b) / cpu(a):.2f}x CPU"
            lines.append(f"| `{name}` | before / after | " + " | ".join(ratio(n) for n in SIZES) + " | | |")

    def written(n):
        text = f"{n:,}: {after[n]['written']}"
        if before is not None:
            text += f" (before: {before[n]['written']})"
            # A call cancelled in the last trial leaves that build's writes
            # short of the other's: nothing to compare.
            cut = [label for label, res in (("before", before), ("after", after))
                   if any(res[n]["trials " + name][-1] is None
                          for name in runs
                          if res[n].get("trials " + name))]
            text += (f", md5 not compared ({' and '.join(cut)} not finished in the last trial)" if cut
                     else ", md5 " + ("identical" if after[n]["md5"] == before[n]["md5"] else "DIFFERENT"))
        return text

    def status(name, n, limit):
        """Whether this build's figure meets the target of issue 34 (CPU seconds)."""
        if n not in after:
            return f"`{name}` at {n:,} connectors under {limit} s: not measured"
        v = after[n][name]
        if v is None:
            return f"`{name}` at {n:,} connectors under {limit} s: not met (not finished)"
        trials = trial_cpu(after[n], name)
        cut = cancelled(after, n, name)
        if cut:
            verdict = f"not met in {cut} of {cut + len(trials)} trials (not finished)"
        elif max(trials, default=cpu(v)) < limit:
            verdict = "met in every trial"
        elif cpu(v) < limit:
            verdict = f"met in the fastest of {len(trials)} trials"
        else:
            verdict = "not met"
        return (f"`{name}` at {n:,} connectors under {limit} s: {verdict} ({cpu(v):,.2f} s CPU"
                + (f"; trials {min(trials):,.2f}-{max(trials):,.2f}" if len(trials) > 1 else "") + ")")

    targets = "; ".join(status(name, n, limit) for name, n, limit in
                        [(name, 10000, 2) for name in runs] + [(name, 50000, 10) for name in runs]
                        + [("plan", 50000, 2), ("sla_risk", 50000, 2)])
    builds = (f"`before` is {BEFORE_LABEL}, `after` this build" if before is not None
              else "one build, this one")
    note_run = f"\n{RUN_NOTE}\n" if RUN_NOTE else ""
    text = f"""## {SECTION}

Written by `make bench` ({os.path.relpath(__file__, TOP)}; SCALE_SIZES,
SCALE_RUNS, SCALE_REPEATS, SCALE_CALL_LIMIT, SCALE_BEFORE_PG_CONFIG for a
build to compare, SCALE_BEFORE_FIRST=1 to start with it). The analytics
bench's generated graph (3,000 assets, 500 dashboards with deadlines, 2
lineage edges per connector, sync_order every 20th pair) at each size
(connectors), {RUNS} runs per connector, moved into weekly partitions by
`maintain_run_partitions()` as the collector leaves the history, VACUUMed
and ANALYZEd after the load as autovacuum leaves tables loaded in bulk,
planned at 2026-11-20 03:00 UTC.
{builds}. Each build has its own cluster, both running at once; {REPEATS}
trials alternate the builds (the first of two back-to-back trials was
often the faster), each on a fresh copy of the loaded database: a day's
first `run_planner`, the next run at the same instant (`run_planner
again`: the proposals open, the deadlines known), the runs 15 and 30
minutes later, each after a sync of one connector in 24 landed in between
(the landing not timed): `run_planner 15 min later` takes in the runs
every connector of this fleet started together at `at` minus a day (its
anomaly snapshot judges every connector again, as a run does whenever
`since` passes such an instant), `run_planner 30 min later` only what
landed (what pg_cron's run every 15 minutes costs the rest of the day),
`run_planner 45 min later, after a purge` what landed after the retention
purge (`purge_history()`, as the collector runs it hourly, not timed)
deleted every connector's oldest run, `run_planner 60 min later, after
the weekly drop` what landed after the oldest week was dropped whole
(`maintain_run_partitions()`, as the collector's maintenance does once a
week, not timed), `plan(at, '24 hours')` and
`sla_risk(at)`, each one call in a
fresh backend after a warm-up statement, its commit included, cancelled
after {CALL_LIMIT} s ("not finished"). The figure is the CPU seconds of
that backend (/proc/self/schedstat) in the trial with the least, with that
trial's wall seconds and the range of the trials; peak memory is the
highest VmHWM of the trials. This machine is a virtual machine shared with
other work: the same call on an idle machine varies by up to half again
(2.4-3.9 s of CPU for one first run at 10,000 connectors, session 28), so
the least of several trials, builds alternated, is the comparison that
holds.
{note_run}
{chr(10).join(lines)}

Rows the planning runs wrote (planned_sync / sla_forecast / decisions), and
whether the two builds wrote the same (after the two runs of the last
trial: md5 of the decisions without their wall-clock times, planned_sync,
sla_forecast without the alerts' lists, the alerts by content without
their lists of blocking connectors (an alert lists at most 20 since
session 28; the order of alert ids is not deterministic), sla_outcome with
its input arrays, the forecast log, the
duration forecasts, the anomaly snapshot and planner_run's counts):
{"; ".join(written(n) for n in SIZES)}.

Status of issue 34's targets for the planning run and the plans (CPU
seconds of the backend): {targets}.
{SESSION_CHANGES}
The time limit (`syncopt.planner_time_limit`, default 2 minutes): the
analytics always finish, then the candidates are taken most urgent first
until the limit, at least the first and a tenth of the limit after the
analytics; the rest are counted in `planner_run.not_reached` with a
WARNING saying how many were not reached, so no fleet size ends a run with
nothing written (regress `planning_run`: with a 1 ms limit the run writes
exactly the most urgent proposal, computed independently, counts the other
three as not reached, and the next run writes them). This bench gives the
runs an hour so that both builds are measured to their end.

{EARLIER_WORK}
"""
    from report import replace_section  # noqa: E402
    replace_section(SECTION, text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
