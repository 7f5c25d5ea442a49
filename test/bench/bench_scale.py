#!/usr/bin/env python3
"""make bench, scale part (issue 34): a planning run, plan() and sla_risk()
at several fleet sizes, before and after the planning run shares its work,
with peak memory and growth exponents.

The fleet is bench_analytics.py's generator (3,000 assets, 500 dashboards
with deadlines, 2 lineage edges per connector, sync_order every 20th pair)
at each size in SCALE_SIZES (default 1000,10000,50000), with SCALE_RUNS runs
per connector (default 20: the analytics read connector_stats, not the
history, so more runs only lengthen the load).

Two builds are measured in one invocation, one after the other on the same
generated fleets: the one found by PG_CONFIG (after), and the one whose
pg_config is SCALE_BEFORE_PG_CONFIG (before; leave it unset to measure one
build only).  Each build runs in its own throwaway cluster (a child
process with that build's bin directory first on PATH).  Each figure is
one call in a fresh backend after a warm-up statement that loads the
library; peak memory is that backend's VmHWM (resident high-water mark,
shared buffers it touched included).  The planning run is given an hour
(syncopt.planner_time_limit) so that the before build, which stops with
nothing written at the limit, is measured to its end.

Writes the "Planning run at scale (issue 34)" section of docs/benchmarks.md.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [int(s) for s in os.environ.get("SCALE_SIZES", "1000,10000,50000").split(",")]
RUNS = int(os.environ.get("SCALE_RUNS", "20"))
# Each call is cancelled after this many seconds and reported as not finished.
CALL_LIMIT = int(os.environ.get("SCALE_CALL_LIMIT", "900"))
SECTION = "Planning run at scale (issue 34)"


def measure_leg(out_path):
    """In a child process (this build's PATH): the figures of every size, as JSON."""
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
        "plan": f"SELECT count(*) FROM syncopt.plan('{at}', '24 hours')",
        "sla_risk": f"SELECT count(*) FROM syncopt.sla_risk('{at}')",
    }

    def fleet_sql(n):
        return (ba.FLEET.replace(f"generate_series(1, {ba.CONNECTORS})", f"generate_series(1, {n})")
                .replace(f"{ba.CONNECTORS} - 1", f"{n} - 1")
                .replace("CREATE EXTENSION syncopt;", "DROP EXTENSION IF EXISTS syncopt CASCADE; CREATE EXTENSION syncopt;"))

    def runs_sql(n):
        return ba.runs_sql(1, RUNS).replace(f"generate_series(1, {ba.CONNECTORS})", f"generate_series(1, {n})")

    def call(cluster, query):
        """(seconds in the server, peak backend memory in MB, the backend's CPU seconds) of
        one call in a fresh backend."""
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
        # psql directly: the harness bounds a statement to 5 minutes, which the
        # before build's planning run at 50,000 connectors can pass.
        proc = subprocess.run([f"{bindir}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
                              + cluster.conninfo(ba.DB), input=sql, capture_output=True, text=True,
                              timeout=CALL_LIMIT + 600)
        if "canceling statement due to statement timeout" in proc.stderr:
            return None
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr + "\n-- server log:\n" + cluster.log_tail())
        seconds = float(proc.stdout.split("seconds=")[-1].split()[0])
        cpu = float(proc.stdout.split("cpu=")[-1].split()[0])
        hwm_kb = int(proc.stdout.strip().splitlines()[-1])
        return seconds, hwm_kb / 1024, cpu

    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
    results = {}
    cluster = Cluster(ba.SETTINGS, databases=[ba.DB])
    try:
        cluster.start()
        for n in SIZES:
            t0 = time.time()
            cluster.psql(fleet_sql(n) + runs_sql(n) + ba.STATS, ba.DB)
            results[n] = {"load": time.time() - t0}
            for name, q in functions.items():
                if name in os.environ.get("SCALE_SKIP", "").split(","):
                    results[n][name] = None
                    continue
                results[n][name] = call(cluster, q)
                print(f"{n} {name} {results[n][name]}", file=sys.stderr, flush=True)
            # What the run wrote: the same at both builds (the outputs are pinned by the tests).
            results[n]["written"] = cluster.value(
                "SELECT (SELECT count(*) FROM syncopt.planned_sync) || '/' || "
                "(SELECT count(*) FROM syncopt.sla_forecast) || '/' || "
                "(SELECT count(*) FROM syncopt.fivetran_sync_ai_logs)", ba.DB)
            print(f"{n} written {results[n]['written']}", file=sys.stderr, flush=True)
            # The md5 of what the planning runs wrote: the decisions without
            # their wall-clock times, planned_sync, sla_forecast, the alerts
            # by content (the order of alert ids is not deterministic), the
            # forecast scorecard's outcomes, forecast log and duration
            # forecasts, the anomaly snapshot and the runs' counts.
            results[n]["md5"] = cluster.value(
                "SELECT md5(concat_ws('/',"
                " (SELECT string_agg(concat_ws('|', decision_id, planner_run_id, connector_id, action, params,"
                "   priority_score, score_components, reason, mode, status, act_by), E'\\n' ORDER BY decision_id)"
                "    FROM syncopt.fivetran_sync_ai_logs),"
                " (SELECT string_agg(p::text, E'\\n' ORDER BY planner_run_id, connector_id) FROM syncopt.planned_sync p),"
                " (SELECT string_agg(f::text, E'\\n' ORDER BY planner_run_id, asset_id) FROM syncopt.sla_forecast f)))"
                " || ' ' || md5(concat_ws('/',"
                " (SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT concat_ws('|', kind, asset_id, connector_id,"
                "   severity, message, details) AS x FROM syncopt.alert) a),"
                " (SELECT string_agg(concat_ws('|', asset_id, deadline, opens_at, first_forecast_at, connector_ids,"
                "   build_times, ready_at, met, intervened, settled), E'\\n' ORDER BY asset_id, deadline)"
                "    FROM syncopt.sla_outcome),"
                " (SELECT string_agg(f::text, E'\\n' ORDER BY asset_id, deadline, planner_run_id) FROM syncopt.sla_forecast_log f),"
                " (SELECT string_agg(f::text, E'\\n' ORDER BY connector_id, first_at) FROM syncopt.duration_forecast f),"
                " (SELECT string_agg(a::text, E'\\n' ORDER BY planner_run_id, run_id, metric) FROM syncopt.anomaly_snapshot a),"
                " (SELECT string_agg(concat_ws('|', planner_run_id, at, candidates, written, auto_approved, refused,"
                "   unchanged, not_allowed, superseded, alerts, not_reached), E'\\n' ORDER BY planner_run_id)"
                "    FROM syncopt.planner_run)))",
                ba.DB)
            print(f"{n} md5 {results[n]['md5']}", file=sys.stderr, flush=True)
    finally:
        cluster.destroy()
    with open(out_path, "w") as f:
        json.dump(results, f)


def run_leg(pg_config, skip=""):
    """Run measure_leg in a child with pg_config's bin directory first on PATH,
    leaving out the functions named in skip."""
    bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], SCALE_SKIP=skip)
    subprocess.run([sys.executable, os.path.abspath(__file__), "--leg", path], env=env, check=True)
    with open(path) as f:
        data = json.load(f)
    os.unlink(path)
    return {int(k): v for k, v in data.items()}


def exponent(sizes, values):
    """Growth exponent between two sizes."""
    if values[0] <= 0:
        return float("nan")
    return math.log(values[1] / values[0]) / math.log(sizes[1] / sizes[0])


def main():
    if len(SIZES) < 2:
        # Checked before measuring: the section's growth exponent compares
        # the last two sizes, and a one-size run failed only after its legs.
        sys.exit("SCALE_SIZES needs at least two sizes (the growth exponent compares the last two)")
    if len(sys.argv) == 3 and sys.argv[1] == "--from-json":
        # Rewrite the section from the figures a run kept (SCALE_KEEP).
        with open(sys.argv[2]) as f:
            kept = json.load(f)
        write_section(*({int(k): v for k, v in kept[leg].items()} if kept.get(leg) else None
                         for leg in ("before", "after", "middle")), note=kept.get("note"),
                      run_note=kept.get("run_note", os.environ.get("SCALE_RUN_NOTE")))
        return
    # The legs run one after the other, so a change in the machine's load
    # between them shows as a difference: SCALE_BEFORE_FIRST=1 measures the
    # before build first, for a second invocation in the other order.
    before_pg = os.environ.get("SCALE_BEFORE_PG_CONFIG")
    before = run_leg(before_pg) if before_pg and os.environ.get("SCALE_BEFORE_FIRST") == "1" else None
    after = run_leg(os.environ.get("PG_CONFIG", "pg_config"))
    if before_pg and before is None:
        before = run_leg(before_pg)
    if os.environ.get("SCALE_KEEP"):
        with open(os.environ["SCALE_KEEP"], "w") as f:
            json.dump({"before": before, "after": after}, f)
    write_section(before, after, run_note=os.environ.get("SCALE_RUN_NOTE"))


def write_section(before, after, middle=None, note=None, run_note=None):
    """The section of docs/benchmarks.md from the two legs' figures; middle, when
    given, is a third build's (an intermediate one), note says how legs kept
    from separate invocations were measured, and run_note (SCALE_RUN_NOTE), when
    given, is a paragraph on the conditions of this run."""

    def cpu(v):
        """The backend's CPU seconds of a figure (kept figures from before it was measured: None)."""
        return v[2] if v is not None and len(v) > 2 else None

    cols = " | ".join(f"{n:,}" for n in SIZES)
    lines = [f"| function | build | {cols} | CPU growth {SIZES[-2]:,} to {SIZES[-1]:,} | peak memory at {SIZES[-1]:,} |",
             "| --- | --- |" + " --- |" * (len(SIZES) + 2)]

    def cell(res, n, name):
        v = res[n][name]
        if v is None:
            return "not finished"
        return f"{v[0]:,.2f} s" + (f" ({cpu(v):,.2f} s CPU)" if cpu(v) is not None else "")

    for name in ("run_planner", "run_planner again", "plan", "sla_risk"):
        for label, res in (("before", before), ("after", after)):
            if res is None:
                continue
            last = [res[n][name] for n in SIZES[-2:]]
            growth = (f"{exponent(SIZES[-2:], [cpu(v) for v in last]):.2f}"
                      if None not in last and None not in [cpu(v) for v in last] else "")
            memory = f"{last[1][1]:,.0f} MB" if last[1] is not None else ""
            lines.append(f"| `{name}` | {label} | " + " | ".join(cell(res, n, name) for n in SIZES)
                         + f" | {growth} | {memory} |")
        if before is not None:
            def ratio(n):
                b, a = before[n][name], after[n][name]
                if b is None or a is None:
                    return ""
                wall = f"{b[0] / a[0]:.1f}x"
                return f"{cpu(b) / cpu(a):.1f}x CPU ({wall} wall)" if cpu(b) and cpu(a) else wall
            lines.append(f"| `{name}` | before / after | " + " | ".join(ratio(n) for n in SIZES) + " | | |")

    def written(n):
        text = f"{n:,}: {after[n]['written']}"
        if before is not None:
            text += f" (before: {before[n]['written']})"
            if after[n].get("md5") and before[n].get("md5"):
                text += ", md5 " + ("identical" if after[n]["md5"] == before[n]["md5"] else "DIFFERENT")
        return text

    def status(name, n, limit):
        """Whether this build's figure meets the target of issue 34."""
        if n not in after:
            return f"`{name}` at {n:,} connectors under {limit} s: not measured"
        v = after[n][name]
        if v is None:
            return f"`{name}` at {n:,} connectors under {limit} s: not met (not finished)"
        met = "met" if v[0] < limit else ("met in CPU time only" if cpu(v) is not None and cpu(v) < limit
                                          else "not met")
        return (f"`{name}` at {n:,} connectors under {limit} s: {met} ({v[0]:,.1f} s"
                + (f", {cpu(v):,.1f} s CPU" if cpu(v) is not None else "") + ")")

    def middle_text(res):
        """A paragraph with an intermediate build's planning-run figures."""
        if res is None:
            return ""
        figures = "; ".join(f"{n:,}: " + ", ".join(f"`{name}` {cell(res, n, name)}"
                                                 for name in ("run_planner", "run_planner again"))
                            for n in SIZES if n in res)
        return ("The same invocation's after leg was a build without the functions' row estimates\n"
                f"(`ROWS 100000`, below), otherwise this one: {figures}.\n\n")

    note_run = f"\n{run_note}\n\n" if run_note else ""
    targets = "; ".join(status(name, n, limit) for name, n, limit in
                        (("run_planner", 10000, 2), ("run_planner again", 10000, 2),
                         ("run_planner", 50000, 10), ("run_planner again", 50000, 10),
                         ("plan", 50000, 2), ("sla_risk", 50000, 2)))
    text = f"""## {SECTION}

Written by `make bench` ({os.path.relpath(__file__, TOP)}; SCALE_SIZES,
SCALE_RUNS, SCALE_CALL_LIMIT, SCALE_BEFORE_PG_CONFIG for the before
build, SCALE_BEFORE_FIRST=1 to measure it first). The analytics bench's generated graph (3,000 assets, 500
dashboards with deadlines, 2 lineage edges per connector, sync_order every
20th pair) at each size (connectors), {RUNS} runs per connector, planned
at 2026-11-20 03:00 UTC. Seconds in the server of one call in a fresh
backend (after a warm-up statement; the call a statement of its own, its
commit included), and in parentheses the CPU seconds of that backend
(/proc/self/schedstat), each call cancelled after
{CALL_LIMIT} s ("not finished"); peak memory is that backend's VmHWM.
`before` is main's build at the start of h-rp's work (69f0907, after
session 25's merges), `after` this build; {note or "both measured in one invocation, one after the other, on the same generated fleets"}. The machine is shared (2 cores, other
sessions' benches running, load average 5-10): the wall seconds count the
waits for a core and swing with the other sessions, so compare the CPU
seconds, and the ratios of CPU seconds. `plan` and `sla_risk` are
unchanged by this work: their ratios show the noise.

{chr(10).join(lines)}

{middle_text(middle)}Rows the planning runs wrote (planned_sync / sla_forecast / decisions), and
whether the two builds wrote the same (after the four calls: md5 of the
decisions without their wall-clock times, planned_sync, sla_forecast, the
alerts by content (the order of alert ids is not deterministic),
sla_outcome with its input arrays, the forecast log, the duration
forecasts, the anomaly snapshot and planner_run's counts): {"; ".join(written(n) for n in SIZES)}.
Session 25's comparison after five runs at four instants with co-pilot
and auto connectors (10,000 connectors) and session 23's over six runs
with executed decisions (2,000) were not repeated by h-rp.

`run_planner` is the first run at that instant: it forecasts the 500
deadlines for the first time (the forecast scorecard records each one's
upstream connectors, on this graph nearly all of them), writes one
proposal per trigger (1,342 at 10,000) and the alerts; `run_planner
again` is the next run at the same instant (the proposals open, the
deadlines known), what a run costs the rest of the day.

What this work changed (h-rp, session 26; perf and
`pg_stat_statements` on the backend at 10,000 and 50,000 connectors):
- The SLA alerts' `details` list each deadline's blocking connectors in
  JSON; `to_jsonb()` (inside `jsonb_build_object()`) prints every bigint
  and parses it back with `numeric_in`: 1.1 million ids for the 497
  alerts of a day's first run at 10,000 connectors (0.75 s of the run's
  10 s of wall time under `pg_stat_statements` on the loaded machine), more at
  50,000 (10.5% of its perf samples were `jsonb_build_object`). The
  alerts now take `ids_jsonb()` (src/json_ids.c), which makes the same
  jsonb from the integers (regress `planning_run_cost`: equal to
  `to_jsonb()` on 200 arrays and written out by hand on one).
- The candidates' schedule-move branch joined `predict_duration()` and
  the batch-size branch `airbyte_batch_recommendations()`, each one row
  per connector, and the hash join fetched the function's first row (the
  whole fleet's predictions) before finding no connector that could take
  the proposal: on the bench fleet none can (its syncs are hourly, its
  Airbyte connectors have no `sourceId`), 6.5% + 2% of a later run. Each
  branch now checks once, before it runs, that a connector could
  (regress `planning_run_cost` counts the calls: none without such a
  connector, one with; on a fleet with daily syncs and read Airbyte
  connections the cost stays).
- The `notify` branch read each high-risk forecast's blocking connectors
  whole twice (for their number and for the first): at 50,000 connectors
  1.67 s of the candidates' wall time, now read once, 0.68 s.
- `planned_sync`, `sla_forecast` and `anomaly_snapshot` (the latest run's
  rows) lose their foreign key to `planner_run`: its check was one SPI
  lookup per row written (13,700 per run at 10,000 connectors, 66,500 at
  50,000), for rows that `run_planner()`, their only writer, writes right
  after inserting that very run. A statement trigger,
  `planner_run_forget()`, deletes a deleted or truncated run's rows as
  the cascade did (regress `planning_run_cost`, which fails without it).
  The foreign keys to `connector` stay (a connector can be deleted
  concurrently).

What h-run10k's work changed (session 25; perf on the backend at 10,000
connectors):
- `anomalies()` read the training window (200,000 runs of the connectors
  that ran in the last day) sorted by connector, start and run id in its
  query: the sort was about two thirds of the read. The query now returns
  the runs in the order of the history's `(connector_id, started_at DESC)`
  index (a merge join, no sort) and the C puts each connector's runs in
  time order before computing the freshness lags and judging them:
  0.34 -> 0.24 s of CPU per call at 10,000 connectors (one cluster, six
  calls each, the two builds one after the other), output md5-identical at
  three instants; memory still one connector's runs.
- The foreign key from `decision_event` to the decisions is checked at
  commit (`DEFERRABLE INITIALLY DEFERRED`). Checked as each audit event
  was written, its lookup plan, made once per backend while the control
  table was empty, stayed a sequential scan: a new install's first run at
  10,000 connectors read 903,837 decision rows for its 1,342 events
  (pg_stat_user_tables); now none, one primary-key lookup each at commit.
  This bench measures each call with its commit (above), so that cost
  is in the figures.

What h-first's work changed (session 24; perf on the backend at
10,000 connectors, shares of a day's first run's samples):
- `asset_inputs_of()` returns one row per call and `record_forecasts()`
  calls it in a select list, so each new deadline's input arrays (500
  rows of two 10,000-element arrays) go straight to the insert; as a set
  in `FROM` they were copied into a tuplestore that spilled to a temporary
  file past `work_mem` and were read back: 14% of the first run, now 2-3%.
- The decisions' loop read each candidate's policy and no-churn check with
  a statement per candidate. Its plan, cached while the control table was
  nearly empty (the bench's `ANALYZE` records the empty table, and the
  day's first run fills it), stayed a sequential scan as the run wrote
  1,342 decisions: 1.8 million rows read, about 8% of the first run. Both
  are read in the candidates' query now (the loop's own writes cannot
  change another candidate's answer). The foreign key from
  `decision_event` to the decisions, checked per row by PostgreSQL with a
  plan made the same way, still reads about 900,000 rows (about 4%).
- `outcome_ready_times()` searched all the landed runs again for each of
  an outcome's inputs (5 million binary searches on the first run); the
  inputs are stored ascending, so each search now starts where the last
  ended and gallops forward: its share of the first run from 5% to 1%.
- The candidates' batch-size branch read `batch_recommendations()`, one row
  per connector, whose Fivetran rows (a start time) score the whole fleet
  again (the lineage pass and every connector's score) only to be dropped:
  12% of a later run. It reads `airbyte_batch_recommendations()` now, the
  same rows for the Airbyte connectors, with the duration predictions and
  without the scores: 7.5%.

Earlier work of this issue (h-runplan, session 23):
- The forecast scorecard's `intervened` check was an SQL `EXISTS` probing
  the decisions' index once per input of each unsettled outcome
  (`connector_id = ANY (connector_ids)`: 500 outcomes of 10,000 inputs on
  the first run, 125 on later ones). Now `outcome_ready_times()` reads
  the executed decisions once and looks an outcome's inputs up among them
  only when one ran in its window.
- `planner_candidates()` probed the history (latest run's failure class,
  a trigger still running) for every connector the plan starts before
  the next run, before the tests that drop most of them (a vendor
  schedule that would start in time): 10,000 probes, now about 1,400
  (a materialized step first). The index bitmap scans of these two were
  19% of the first run's perf samples and 8% of a later run's; now 0.2%
  and 0.3%. `vendor_next_start()` split every
  connector's cron expression, cron schedule or not (9% of a later run's
  wall time under `pg_stat_statements`); now only a cron schedule's.
- At 50,000 connectors the candidates' query itself was most of a run
  (its own executor time was 127 of the first run's 210 s of wall time
  under `pg_stat_statements`' function tracking): the functions it
  joins (`priority_scores()`, `predict_duration()`,
  `batch_recommendations()`, one row per connector) carried PostgreSQL's
  default estimate of 1,000 rows, so the planner joined them to the
  connectors and the scores by nested loops that rescan a fleet-sized CTE
  per row (the batch-size and schedule-move branches): quadratic. They are
  declared `ROWS 100000` now and those joins are hashes and merges; on one
  50,000-connector fleet, a later run 46 s of CPU with the default
  estimate, 18 s with it (the same cluster, one after the other).
- `anomalies()` held the training window's runs whole in an SPI result
  (200,000 rows at 10,000 connectors; 17% of its time in `spi_printtup`)
  and now streams them through a cursor, judging one connector at a time:
  about 20% less CPU, memory bounded by one connector's runs.

Why the first run costs more than the next: not cold caches (a VACUUM of
the freshly loaded history before it changed nothing measurable, session
23); the first run is the one that writes: 1,342 decisions through
`insert_decision()` at 10,000 connectors, each with its triggers, and the
500 new `sla_outcome` rows whose two input arrays (about 9,600 ids and
build times each at 10,000 connectors, 48,000 at 50,000) are computed
(`asset_inputs_of()`), compressed with lz4 and TOASTed: 24 MB at 10,000
connectors. Their storage was measured (h-rp, the 500 rows of a 10,000
fleet copied into tables of each kind, CPU of the backend): lz4 0.64 s
and 24 MB to write, 0.07 s to read back; pglz 5.3 s and 37 MB; no
compression (`STORAGE EXTERNAL`) 0.24 s but 115 MB, with as much WAL, a
day. lz4 stays. A later run writes no decisions (all unchanged) and no
outcome arrays.

The time limit (`syncopt.planner_time_limit`, default 2 minutes): the
analytics always finish, then the candidates are taken most urgent first
until the limit, at least the first and a tenth of the limit after the
analytics; the rest are counted in `planner_run.not_reached` with a
WARNING saying how many were not reached, so no fleet size ends a run with
nothing written (regress `planning_run`: with a 1 ms limit the run writes
exactly the most urgent proposal, computed independently, counts the other
three as not reached, and the next run writes them). This bench gives the
runs an hour so that both builds are measured to their end.

Status of issue 34's targets for the planning run and the plans: {targets}.
{note_run}Where a run's time goes now (perf on the backend, this build, h-rp;
shares of the samples, children included). A later run at 10,000
connectors: `plan_and_forecast` 32% (the one fleet load 10%, the scoring
and the two plans: src/fleet*.c, graph.c and plan*.c, h-sla's work),
`anomalies` 16% (the window's 200,000 runs read by index, 8 points of it
the heap fetches, and the judging), the candidates' SQL and the decisions'
loop about 22% (their sub-plans, the history probes of the 1,454 due
connectors and each candidate's no-churn check, 8%; `effective_policy()`
per candidate; `priority_scores` 6.4%; the scores' components in
`jsonb_build_object` 2.5%), the inserts of the 10,000 `planned_sync` rows
4% and their foreign-key checks to `connector` 3%, the `lz4`
decompression of the forecast's and outcomes' arrays 2%, the scorecard
(`record_forecasts`: the 10,000 duration forecasts extended, one row
update each, and `outcome_ready_times` 1.3%), `classify_runs` 1%. A day's
first run at 10,000: `plan_and_forecast` 23%, heap inserts 13% (of which
TOAST 9.6%: the outcomes' arrays, the forecast's and the alerts'
blocking connectors), `anomalies` 12%, the after-row triggers 6% (the
decisions' audit and the foreign keys to `connector`), `asset_inputs_of`
4.6%, `priority_scores` 4.4%, `lz4` 5.5% (3.4 decompressing, 2.1
compressing), `jsonb_build_object` 2.7%, `outcome_ready_times` 2%,
`ids_jsonb` 1.3%. A day's first run at 50,000: `plan_and_forecast` 24%,
`anomalies` 15% (1,000,000 runs read), heap inserts 10.4% (TOAST 8.7%;
writing the files 6.6%), the after-row triggers 5.4% (the foreign keys of
50,000 `planned_sync`, 50,000 `duration_forecast` and 16,000
`anomaly_snapshot` rows to `connector`), `ids_jsonb` 4.4% (5.5 million
ids in 500 alerts), `asset_inputs_of` 4.3%, `lz4` 6.4%,
`priority_scores` 3.3%. So the targets are not reached by the planning
run's own SQL and writes alone: besides the fleet's planning (a quarter
to a third, other helpers' files) and `anomalies()` (the training window
read from the heap), what a run spends is spread over many parts of a
few percent each, most of them writes whose volume is the design's (every
deadline keeps every upstream connector; every planned sync and every
duration forecast is a row). Earlier figures of this section (session 23 on an idle machine,
10,000 connectors: a first run 6.21 -> 4.09 s, a later one 3.36 -> 2.61 s;
sessions 21 and 22: 10,000 connectors 40.6 -> 25.2 s for a first run and
25.0 -> 11.6 s for a later one at load 5-7, then 7.1 and 4.1 s on a
quieter machine; 50,000 454 -> 171 s and 308 -> 187 s) are in git
history. 100,000 connectors were not measured (no time left in the session).
"""
    from report import replace_section  # noqa: E402
    replace_section(SECTION, text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    if len(sys.argv) == 3 and sys.argv[1] == "--leg":
        measure_leg(sys.argv[2])
    else:
        main()
