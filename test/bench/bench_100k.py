#!/usr/bin/env python3
"""make bench with BENCH_100K=1 (issue 34): a fleet of 100,000 connectors
with 90 days of history loaded, planned and purged.

Not part of the default `make bench` (it loads tens of millions of runs:
about an hour on this 2-core machine); `BENCH_100K=1 make bench` or this
script alone runs it.

The fleet is the analytics bench's graph (bench_analytics.py) repeated per
unit of 10,000 connectors: each unit has its own 3,000 assets (500
dashboards with deadlines in four time zones), two lineage edges per
connector, four per asset, a sync_order pair every 20 connectors, so the
graph grows with the fleet (100,000 connectors: 30,000 assets, 5,000
dashboards) and each dashboard reaches the connectors of its unit, as at
10,000.  Schedules mix 1 h (2% of connectors), 3 h (18%), 6 h (35%) and
24 h (45%); the runs go back BIG_DAYS days (default 90) from the hour the
fleet was generated, each statement one day of the whole fleet, in bulk
(INSERT ... SELECT generate_series), with each run's key written to
sync_run_key by the same statement (the per-row key trigger is disabled
during the bulk load only; the trigger's own cost is measured on the day
ingested afterwards).  connector_stats is built by the product's fold,
syncopt.absorb_runs(), over each connector's whole history, a block of
connectors per call (what a collector's first poll of an account does).

Measured, each call in a fresh backend after a warm-up statement: the
backend's CPU seconds (/proc/self/schedstat), wall seconds, peak memory
(VmHWM): plan(), sla_risk(), priority_scores(), batch_recommendations(),
predict_duration(), anomalies() over the last day, cost_by_connector, the
first and the next run_planner() with an hour's time limit; then the
ingest of one more day (the product's INSERT through the key trigger, then
absorb_runs() in pages) and a planning run at its end with the default
time limit (2 minutes: what it wrote, what it did not reach); last the
purge of the oldest month by partition, with the runs left checked.

BIG_CONNECTORS (default 100000), BIG_DAYS (90), BIG_DIR (the cluster's
directory; default /work/tmp-big/<connectors>; kept, and reused when it
holds a loaded fleet), BIG_AT (the hour the history ends; default the
hour the run starts), BIG_KEEP=FILE keeps the figures as JSON, with the
machine's load averages at each progress line, and
`bench_100k.py --from-json FILE [SMALLER ...]` writes the section from
them, with a growth table when the JSON of smaller fleets (the same script
with BIG_CONNECTORS=10000, 50000: those runs print their text but do not
write the section) follows.  The state records the build (git describe of
this checkout, or BIG_BUILD when the extension installed was built from
another commit, as for a growth point measured on an earlier build);
a "note" added to the JSON by hand, saying what changed since that build,
is printed after it; a "reconstructed" key marks a state re-entered by
hand from a section whose JSON was lost (the growth table says so).  A
smaller fleet measured on another build than the section's gets a growth
table of its own.
Writes the "100,000 connectors, 90 days of history (issue 34)" section of
docs/benchmarks.md.
"""

import json
import math
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TOP, "test"))
sys.path.insert(0, HERE)

from harness.cluster import PG_BIN, Cluster  # noqa: E402
from report import replace_section  # noqa: E402

SECTION = "100,000 connectors, 90 days of history (issue 34)"
DB = "syncopt_bench"
N = int(os.environ.get("BIG_CONNECTORS", "100000"))
DAYS = int(os.environ.get("BIG_DAYS", "90"))
ROOT = os.environ.get("BIG_DIR", f"/work/tmp-big/{N}")
# The hour the history ends and the calls plan at: the run's start, or
# BIG_AT (a smaller fleet measured for the growth table at the big one's
# instant plans the same hours of the deadlines).
AT = f"timestamptz '{os.environ['BIG_AT']}'" if os.environ.get("BIG_AT") else "date_trunc('hour', now())"
UNIT = 10000            # connectors per copy of the analytics bench's graph
UNIT_ASSETS = 3000
UNIT_DASHBOARDS = 500
FOLD_BLOCK = 1000       # connectors folded per absorb_runs() call
PAGE = 1000             # runs folded per absorb_runs() call in the day's ingest
PURGE_DAYS = min(30, DAYS // 3)   # the oldest days purged: a month of 90
CALL_LIMIT = 3600       # seconds before a call is cancelled
SETTINGS = {"shared_preload_libraries": "'syncopt'", "syncopt.database_name": f"'{DB}'",
            "syncopt.enable_workers": "off", "shared_buffers": "'1GB'", "max_wal_size": "'8GB'",
            "checkpoint_timeout": "'30min'", "maintenance_work_mem": "'512MB'", "work_mem": "'64MB'",
            "wal_level": "minimal", "max_wal_senders": "0", "synchronous_commit": "off",
            "syncopt.max_concurrent_syncs": "1000"}
CPU_NS = "split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint"

# The interval between runs of connector c, in hours.
HOURS = "CASE WHEN c % 100 < 2 THEN 1 WHEN c % 100 < 20 THEN 3 WHEN c % 100 < 55 THEN 6 ELSE 24 END"


def fleet_sql(n):
    """Connectors, assets, lineage, sync_order and load windows: one copy of
    the analytics bench's graph per unit of UNIT connectors."""
    units = (n + UNIT - 1) // UNIT
    models = UNIT_ASSETS - UNIT_DASHBOARDS
    return f"""
DROP EXTENSION IF EXISTS syncopt CASCADE;
CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'bench ft', 'https://api.fivetran.com'), (2, 'airbyte', 'bench ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, destination_id, source_key,
                               batch_size, parallelism)
SELECT i, 1 + i % 2, 'c' || i, 'connector ' || i, 'dest' || (i % 20), 'src' || (i % 200),
       CASE WHEN i % 2 = 1 THEN 1000 + (i % 10) * 500 END, CASE WHEN i % 2 = 1 THEN 1 + i % 4 END
  FROM generate_series(1, {n}) i;
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, timezone, weight, duration)
SELECT u * {UNIT_ASSETS} + a, 'asset ' || u || '.' || a,
       CASE WHEN a > {models} THEN 'dashboard' ELSE 'dbt_model' END,
       CASE WHEN a > {models} THEN make_time(4 + a % 6, (a * 7) % 60, 0) END,
       (ARRAY['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo'])[1 + a % 4],
       1 + (a % 3) * 4, make_interval(mins => a % 15)
  FROM generate_series(0, {units - 1}) u, generate_series(1, {UNIT_ASSETS}) a;
-- Acyclic by construction (edges go from lower to higher asset ids), so the
-- per-row cycle check is skipped for the bulk load.
ALTER TABLE syncopt.lineage DISABLE TRIGGER lineage_reject_cycle_insert;
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id)
SELECT c, ((c - 1) / {UNIT}) * {UNIT_ASSETS} + 1 + (((c - 1) % {UNIT} + 1) * 7 + k * 13) % {models}
  FROM generate_series(1, {n}) c, generate_series(0, 1) k
ON CONFLICT DO NOTHING;
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id)
SELECT u * {UNIT_ASSETS} + a - 1 - (a * 17 + k * 29) % least(a - 1, 300), u * {UNIT_ASSETS} + a
  FROM generate_series(0, {units - 1}) u, generate_series(2, {UNIT_ASSETS}) a, generate_series(0, 3) k
ON CONFLICT DO NOTHING;
ALTER TABLE syncopt.lineage ENABLE TRIGGER lineage_reject_cycle_insert;
INSERT INTO syncopt.sync_order
SELECT i, i + 1 FROM generate_series(1, {n} - 1, 20) i;
INSERT INTO syncopt.load_window (name, target, source_key, start_time, end_time, load_factor)
SELECT 'busy ' || s, 'source', 'src' || s, make_time(8 + s % 4, 0, 0), make_time(12 + s % 4, 0, 0), 0.5 + (s % 5) / 10.0
  FROM generate_series(0, 199, 4) s;
INSERT INTO syncopt.load_window (name, target, start_time, end_time, price_multiplier)
VALUES ('warehouse peak', 'warehouse', '13:00', '17:00', 2);
"""


def runs_select(n, at, day):
    """The runs of every connector that start in day `day` before `at` (day 0
    the last 24 hours; negative: after at), run k of connector c starting
    k x its interval (plus c % 60 minutes) before at."""
    return f"""
SELECT c, 'r' || k, s, s + make_interval(secs => d),
       CASE WHEN (c + m) % 25 = 0 THEN 'failed' ELSE 'succeeded' END, r,
       CASE WHEN c % 2 = 1 THEN 1000 + ((c + m) % 10) * 500 END, CASE WHEN c % 2 = 1 THEN 1 + (c + m) % 4 END,
       m % 50 = 0, 'api'
  FROM generate_series(1, {n}) c
       CROSS JOIN LATERAL (SELECT {HOURS} AS h) sch
       CROSS JOIN LATERAL generate_series({day} * 24 / sch.h + 1, ({day} + 1) * 24 / sch.h) k
       -- m: k made positive for the modular formulas (k <= 0 after at)
       CROSS JOIN LATERAL (SELECT timestamptz '{at}' - make_interval(hours => sch.h * k, mins => c % 60) AS s,
                                  k + 100000 AS m) x
       CROSS JOIN LATERAL (SELECT 1000 * (1 + (c * 31 + m * 17) % 200) AS r) z
       CROSS JOIN LATERAL (SELECT 60 + sqrt(r) * (1 + c % 7) * (1 + ((c + m) % 10) / 20.0) AS d) y
"""


RUN_COLUMNS = ("connector_id, external_run_id, started_at, finished_at, status, rows, batch_size, parallelism, "
               "full_sync, source")


class Server:
    """The bench's cluster: psql without the harness's 5-minute bound."""

    def __init__(self, root):
        self.root = root
        if os.path.exists(os.path.join(root, "data")):
            self.cluster = Cluster.existing(root)
        else:
            os.makedirs(os.path.dirname(root), exist_ok=True)
            self.cluster = Cluster(SETTINGS, databases=[DB], root=root)

    def psql(self, sql, timeout=CALL_LIMIT + 600):
        """(stdout, stderr) of sql in a new session."""
        proc = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
                              + self.cluster.conninfo(DB), input=sql, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr + "\n-- server log:\n" + self.cluster.log_tail())
        return proc.stdout, proc.stderr

    def value(self, sql):
        """The one value sql returns."""
        return self.psql(sql)[0].strip()

    def timed(self, sql):
        """Wall seconds of sql (one session)."""
        t0 = time.time()
        self.psql(sql)
        return time.time() - t0


# The machine's load averages (1, 5, 15 min) at each progress line, kept
# in the state by save(): the report says how loaded the machine was.
LOADS = []


def log(msg):
    """Progress on stderr, with the time of day and the load averages."""
    load = os.getloadavg()
    LOADS.append([time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())] + [round(x, 2) for x in load])
    print(time.strftime("%H:%M:%S ") + msg + " (load %.2f %.2f %.2f)" % load, file=sys.stderr, flush=True)


def load(server, state):
    """Generate the fleet and its history, fold it; the phases' seconds into state."""
    at = state["at"]
    if "insert_s" not in state:
        t0 = time.time()
        server.psql(fleet_sql(N))
        # Weeks back to the oldest run (and four ahead), as the collector's
        # maintenance makes them.
        server.psql(f"SELECT syncopt.maintain_run_partitions('{DAYS + 8} days');")
        state["fleet_s"] = time.time() - t0
        log(f"fleet {state['fleet_s']:.0f} s")
        server.psql("ALTER TABLE syncopt.sync_run DISABLE TRIGGER sync_run_claim_key;")
        t0 = time.time()
        for day in range(DAYS - 1, -1, -1):   # oldest first: run ids ascend with time
            server.psql(f"""
WITH ins AS (INSERT INTO syncopt.sync_run ({RUN_COLUMNS}) {runs_select(N, at, day)}
             RETURNING run_id, connector_id, external_run_id)
INSERT INTO syncopt.sync_run_key (run_id, connector_id, external_run_id) SELECT * FROM ins;""")
            if day % 5 == 0:
                log(f"day {day} loaded, {time.time() - t0:.0f} s")
        server.psql("ALTER TABLE syncopt.sync_run ENABLE TRIGGER sync_run_claim_key;")
        state["insert_s"] = time.time() - t0
        t0 = time.time()
        server.psql("VACUUM (ANALYZE) syncopt.sync_run, syncopt.sync_run_key;")
        state["vacuum_s"] = time.time() - t0
        log(f"runs inserted {state['insert_s']:.0f} s, vacuum {state['vacuum_s']:.0f} s")
        save(state)
    # connector_stats by the product's fold, each connector's whole history
    # in one call, oldest first (absorb_runs orders by finish itself).
    # A block is folded whole or not at all: an interrupted fold resumes
    # after the last connector folded.
    first = int(server.value("SELECT coalesce(max(connector_id), 0) + 1 FROM syncopt.connector_stats"))
    state["fold_from"] = first
    t0 = time.time()
    for lo in range(first, N + 1, FOLD_BLOCK):
        hi = min(lo + FOLD_BLOCK - 1, N)
        server.psql(f"SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id)) FROM syncopt.sync_run "
                    f"WHERE connector_id BETWEEN {lo} AND {hi};")
        if (lo - 1) % (FOLD_BLOCK * 20) == 0:
            log(f"folded to {hi}, {time.time() - t0:.0f} s")
    state["fold_s"] = time.time() - t0
    t0 = time.time()
    server.psql("VACUUM (ANALYZE);")
    state["vacuum2_s"] = time.time() - t0
    log(f"fold {state['fold_s']:.0f} s")
    state["runs"] = int(server.value("SELECT count(*) FROM syncopt.sync_run"))
    state["keys"] = int(server.value("SELECT count(*) FROM syncopt.sync_run_key"))
    state["stats"] = server.value(
        "SELECT count(*) || '/' || sum(runs) || '/' || sum(successes) || '/' || sum(failures) "
        "FROM syncopt.connector_stats")
    state["expected_stats"] = server.value(
        "SELECT count(DISTINCT connector_id) || '/' || count(*) || '/' || count(*) FILTER (WHERE status = 'succeeded') "
        "|| '/' || count(*) FILTER (WHERE status = 'failed') FROM syncopt.sync_run")
    state["sizes"] = sizes(server)
    state["loaded"] = True


def sizes(server):
    """Table sizes (heap, indexes, TOAST) in MB, and the weekly partitions."""
    rows = server.psql("""
SELECT 'sync_run (all partitions)', round(sum(pg_table_size(c.oid)) / 1048576.0), round(sum(pg_indexes_size(c.oid)) / 1048576.0),
       count(*) FILTER (WHERE c.relname <> 'sync_run_default')
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'syncopt.sync_run'::regclass
UNION ALL
SELECT c.relname, round(pg_table_size(c.oid) / 1048576.0), round(pg_indexes_size(c.oid) / 1048576.0), NULL
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'syncopt' AND c.relname IN ('sync_run_key', 'connector_stats')
UNION ALL
SELECT 'largest week', round(max(pg_table_size(c.oid)) / 1048576.0), round(max(pg_indexes_size(c.oid)) / 1048576.0), NULL
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'syncopt.sync_run'::regclass
UNION ALL
SELECT 'database', round(pg_database_size(current_database()) / 1048576.0), NULL, NULL;""")[0]
    return [line.split("|") for line in rows.strip().splitlines()]


def call(server, query, settings=""):
    """(CPU s, wall s, peak MB, notices) of one call in a fresh backend."""
    out, err = server.psql(
        settings + f"SET statement_timeout = '{CALL_LIMIT}s';\n"
        "SELECT count(*) FROM syncopt.connector;\n"
        f"DO $$ DECLARE t0 timestamptz := clock_timestamp(); c0 bigint := {CPU_NS}; BEGIN "
        f"PERFORM count(*) FROM ({query}) q; "
        f"RAISE NOTICE 'seconds=% cpu=%', extract(epoch FROM clock_timestamp() - t0), ({CPU_NS} - c0) / 1e9; END $$;\n"
        "SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\\s+(\\d+)');")
    line = [x for x in err.splitlines() if "cpu=" in x][-1]
    wall = float(line.split("seconds=")[1].split()[0])
    cpu = float(line.split("cpu=")[1])
    warnings = [x for x in err.splitlines() if "WARNING" in x or "DETAIL" in x]
    return cpu, wall, int(out.strip().splitlines()[-1]) / 1024, warnings


def measure(server, state):
    """The calls on the loaded fleet, in state["calls"] (name -> figures)."""
    at = state["at"]
    calls = state.setdefault("calls", {})
    hour = "SET syncopt.planner_time_limit = '1h';\n"
    todo = [
        ("run_planner (first)", f"SELECT * FROM syncopt.run_planner('{at}')", hour),
        ("run_planner (next)", f"SELECT * FROM syncopt.run_planner('{at}')", hour),
        ("plan", f"SELECT * FROM syncopt.plan('{at}', '24 hours')", ""),
        ("sla_risk", f"SELECT * FROM syncopt.sla_risk('{at}')", ""),
        ("priority_scores", f"SELECT * FROM syncopt.priority_scores('{at}')", ""),
        ("batch_recommendations", f"SELECT * FROM syncopt.batch_recommendations('{at}')", ""),
        ("predict_duration", f"SELECT * FROM syncopt.predict_duration('{at}')", ""),
        ("anomalies (last day)", f"SELECT * FROM syncopt.anomalies(timestamptz '{at}' - interval '1 day')", ""),
        ("cost_by_connector", "SELECT * FROM syncopt.cost_by_connector", ""),
    ]
    for name, query, settings in todo:
        if name in calls:
            continue
        calls[name] = call(server, query, settings)
        if name.startswith("run_planner"):
            calls[name] = list(calls[name]) + [planner_row(server)]
        log(f"{name}: {calls[name]}")
        save(state)
    state["shape"] = server.value(
        "SELECT count(*) || '/' || count(*) FILTER (WHERE will_miss) || '/' || "
        f"count(*) FILTER (WHERE action = 'give_up') FROM syncopt.plan('{at}', '24 hours');")


def planner_row(server):
    """The latest planning run's counts and what it left in the tables."""
    return server.value(
        "SELECT concat_ws('/', candidates, written, not_reached, round(extract(epoch FROM finished_at - started_at)::numeric, 1),"
        " (SELECT count(*) FROM syncopt.planned_sync), (SELECT count(*) FROM syncopt.sla_forecast),"
        " (SELECT count(*) FROM syncopt.fivetran_sync_ai_logs WHERE planner_run_id = r.planner_run_id))"
        " FROM syncopt.planner_run r ORDER BY planner_run_id DESC LIMIT 1")


def ingest_day(server, state):
    """One more day of runs through the product's insert (the key trigger),
    folded by absorb_runs() a page at a time; then a planning run at the
    day's end with the default time limit."""
    if "ingest" in state:
        return
    at = state["at"]
    before = int(server.value("SELECT coalesce(max(run_id), 0) FROM syncopt.sync_run"))
    # connector_stats counts every run folded, purged ones too.
    counted = int(server.value("SELECT sum(runs) FROM syncopt.connector_stats"))
    t0 = time.time()
    server.psql(f"INSERT INTO syncopt.sync_run ({RUN_COLUMNS}) {runs_select(N, at, -1)};")
    insert_s = time.time() - t0
    added = int(server.value(f"SELECT count(*) FROM syncopt.sync_run WHERE run_id > {before}"))
    # Pages of PAGE runs in finish order, as the collector folds each call's runs.
    t0 = time.time()
    out, _ = server.psql(f"""
DO $$ DECLARE ids bigint[]; pages int := 0; BEGIN
  FOR ids IN SELECT array_agg(run_id ORDER BY run_id) FROM syncopt.sync_run WHERE run_id > {before}
              GROUP BY (run_id - {before} - 1) / {PAGE} ORDER BY 1 LOOP
    PERFORM syncopt.absorb_runs(ids); pages := pages + 1;
  END LOOP;
  RAISE NOTICE 'pages=%', pages;
END $$;""")
    fold_s = time.time() - t0
    consistent = server.value(
        f"SELECT (SELECT sum(runs) FROM syncopt.connector_stats) = {counted + added}"
        " AND (SELECT count(*) FROM syncopt.sync_run_key) = (SELECT count(*) FROM syncopt.sync_run)")
    state["ingest"] = {"runs": added, "insert_s": insert_s, "fold_s": fold_s, "consistent": consistent}
    log(f"ingest {state['ingest']}")
    save(state)
    nxt = server.value(f"SELECT timestamptz '{at}' + interval '1 day'")
    state["calls"]["run_planner (next day, default limit)"] = list(
        call(server, f"SELECT * FROM syncopt.run_planner('{nxt}')")) + [planner_row(server)]
    log(f"planner next day: {state['calls']['run_planner (next day, default limit)']}")
    save(state)


def purge(server, state):
    """The oldest weeks purged by purge_history(), one call per transaction."""
    if "purge" in state:
        return
    # The retention reaches back to the Monday (a week's start) on or before
    # the day PURGE_DAYS after the history's start, so that the purge drops
    # whole weeks; the cutoff moves with now() while it runs, and the runs
    # it passes meanwhile go in batches.
    week = server.value(f"SELECT (date_trunc('week', (timestamptz '{state['at']}' - interval '{DAYS - PURGE_DAYS} days')"
                        " AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')::text")
    keep = server.value(f"SELECT (now() - timestamptz '{week}')::text")
    expect = server.value(f"SELECT count(*) || '/' || count(*) FILTER (WHERE started_at < '{week}') FROM syncopt.sync_run")
    out, err = server.psql(f"""
DO $$ DECLARE n bigint; total bigint := 0; calls int := 0; t0 timestamptz := clock_timestamp(); BEGIN
  LOOP
    n := syncopt.purge_history('{keep}', 10000); total := total + n; calls := calls + 1;
    COMMIT;
    EXIT WHEN n = 0 OR calls >= 100000 OR clock_timestamp() - t0 > interval '1 hour';
  END LOOP;
  RAISE NOTICE 'rows=% calls=% seconds=%', total, calls, extract(epoch FROM clock_timestamp() - t0);
END $$;""")
    line = [x for x in err.splitlines() if "seconds=" in x][-1]
    total, calls, secs = int(line.split("rows=")[1].split()[0]), int(line.split("calls=")[1].split()[0]), \
        float(line.split("seconds=")[1].split()[0])
    # Runs left, left before the week's start, keys, partitions.
    after = server.value(
        f"SELECT (SELECT count(*) FROM syncopt.sync_run) || '/' || (SELECT count(*) FROM syncopt.sync_run"
        f" WHERE started_at < '{week}') || '/' || (SELECT count(*) FROM syncopt.sync_run_key)"
        " || '/' || (SELECT count(*) FROM pg_inherits WHERE inhparent = 'syncopt.sync_run'::regclass)")
    state["purge"] = {"week": week, "keep": keep, "before": expect, "rows": total, "calls": calls, "seconds": secs,
                      "after": after}
    log(f"purge {state['purge']}")
    save(state)


def built(state):
    """The sentences naming the build measured and what changed since (the
    state's "build" and "note"), where the state records them."""
    text = f" The build measured is commit {state['build']}." if state.get("build") else ""
    return text + (f" {state['note']}" if state.get("note") else "")


def save(state):
    """Keep the figures so far (the run resumes from them), and in BIG_KEEP."""
    state.setdefault("load", []).extend(LOADS)
    state.setdefault("cpus", os.cpu_count())
    LOADS.clear()
    with open(os.path.join(ROOT, "state.json"), "w") as f:
        json.dump(state, f, indent=1)
    if os.environ.get("BIG_KEEP"):
        with open(os.environ["BIG_KEEP"], "w") as f:
            json.dump(state, f, indent=1)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--from-json":
        states = []
        for name in sys.argv[2:]:
            with open(name) as f:
                states.append(json.load(f))
        text = report(states[0], states[1:])
        replace_section(SECTION, text)
        print(text)
        return
    server = Server(ROOT)
    path = os.path.join(ROOT, "state.json")
    state = json.load(open(path)) if os.path.exists(path) else {"connectors": N, "days": DAYS}
    server.cluster.start()
    try:
        if "at" not in state:
            state["at"] = server.value(f"SELECT {AT}::text")
            # The script's checkout names the build unless the extension
            # installed came from another commit (BIG_BUILD).
            state["build"] = os.environ.get("BIG_BUILD") or subprocess.run(
                ["git", "-C", TOP, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
            save(state)
        if not state.get("loaded"):
            load(server, state)
            save(state)
        # The purge first: it removes the oldest weeks, which no call below
        # reads (the analytics read connector_stats, anomalies the last day,
        # cost_by_connector the last week, batch_recommendations the last 12
        # runs).
        purge(server, state)
        measure(server, state)
        save(state)
        ingest_day(server, state)
    finally:
        server.cluster.stop()
    text = report(state)
    # A smaller fleet is one point of the 100,000-connector section's
    # growth table (--from-json), not the section itself.
    if N == 100000:
        replace_section(SECTION, text)
    print(text)


def growth(state, smaller):
    """The calls' CPU seconds at each fleet size measured with the same
    history, and the growth exponent between neighbouring sizes (1 is
    linear): one table for the section's build, one for each other build
    among the smaller fleets; "" when no smaller fleet was given."""
    runs = sorted([state] + list(smaller), key=lambda st: st["connectors"])
    if len(runs) < 2:
        return ""
    # A size measured on another build gets a table of its own: an exponent
    # never mixes builds.
    mine = [st for st in runs if build_of(st) == build_of(state)]
    others = sorted({build_of(st) for st in runs} - {build_of(state)})
    days = sorted({st["days"] for st in runs})
    history = (f"{days[0]} days of history each" if len(days) == 1
               else "histories of " + ", ".join(f"{st['days']} days ({st['connectors']:,})" for st in runs))
    sizes = [st["connectors"] for st in mine]
    missing = [f"{x:,}" for x in (10000, 50000) if x not in sizes]
    text = f"""**Growth with the fleet.** The same script on smaller fleets of this generator ({history},
{', '.join(f"{st['runs']:,}" for st in mine)} runs; {provenance(mine, runs)}{'; ' + ' and '.join(missing) + ' connectors not measured' if missing else ''}),
each call's CPU seconds in a fresh backend and the
growth exponent between neighbouring sizes (log of the CPU ratio over log of the size ratio: 1 is
linear, 2 quadratic). The graph grows with the fleet (a unit of 3,000 assets and 500 deadlines per
10,000 connectors), so these are not the fixed-graph exponents of the other sections.

{growth_table(state["calls"], mine)}
"""
    for build in others:
        same = [st for st in runs if build_of(st) == build]
        text += f"""
**The same calls on build {build}** ({provenance(same, runs)}): CPU seconds and exponents as above. These
runs were not side by side with the ones above: compare the builds by their exponents, not by a ratio of seconds.

{growth_table(state["calls"], same)}
"""
    return text + "\n"


def growth_table(names, runs):
    """The markdown table of the calls' CPU seconds over runs (ascending
    sizes) and the exponents between neighbours."""
    sizes = [st["connectors"] for st in runs]
    steps = [f"{a:,} to {b:,}" for a, b in zip(sizes, sizes[1:])]
    head = "| call | " + " | ".join([f"{n:,}" for n in sizes] + [f"exponent {x}" for x in steps]) + " |"
    rule = "| --- " * (1 + len(sizes) + len(steps)) + "|"
    rows = []
    for name in names:
        cpu = [st.get("calls", {}).get(name, [None])[0] for st in runs]
        exps = [f"{math.log(b / a) / math.log(m / n):.2f}" if a and b else "-"
                for a, b, n, m in zip(cpu, cpu[1:], sizes, sizes[1:])]
        rows.append(f"| `{name}` | " + " | ".join([f"{c:.2f} s" if c is not None else "-" for c in cpu] + exps)
                    + " |")
    return "\n".join([head, rule] + rows)


def build_of(state):
    """The build a state was measured on, as the report names it."""
    return state.get("build") or "not recorded"


def provenance(group, runs):
    """Where the figures of group (runs of one build) come from: the build,
    when each was measured and how loaded the machine was, which of all the
    runs overlapped one of them (sharing the machine with its load), which
    were re-entered by hand."""
    text = "build " + build_of(group[0])
    timed = [st for st in group if st.get("load")]
    if timed:
        text += f"; measured on {', '.join(sorted({st['load'][0][0][:10] for st in timed}))}: " + ", ".join(
            f"{st['connectors']:,} from {st['load'][0][0][11:16]} to {st['load'][-1][0][11:16]} UTC"
            # Re-entered states keep the times only, not the load averages.
            + (f" (1-minute load average median {sorted(x[1] for x in st['load'])[len(st['load']) // 2]:.1f})"
               if len(st["load"][0]) > 1 else "")
            for st in timed)
    # The progress times are "YYYY-MM-DD HH:MM:SS" strings: they compare as times.
    spans = [st for st in runs if st.get("load")]
    overlaps = [f"{a['connectors']:,} ({build_of(a)}) with {b['connectors']:,} ({build_of(b)})"
                for i, a in enumerate(spans) for b in spans[i + 1:]
                if (a in group or b in group)
                and a["load"][0][0] < b["load"][-1][0] and b["load"][0][0] < a["load"][-1][0]]
    if overlaps:
        text += "; runs that overlapped, each sharing the machine with the other's load: " + ", ".join(overlaps)
    by_hand = [f"{st['connectors']:,}" for st in group if st.get("reconstructed")]
    if by_hand:
        text += ("; the figures of " + " and ".join(by_hand) + " re-entered by hand from the section written "
                 "by their runs (their JSON was lost), CPU seconds rounded to 0.01 s")
    return text


def machine(state):
    """How loaded the machine was while the run measured, from the load
    averages kept at its progress lines."""
    loads = state.get("load", [])
    if not loads:
        return "The machine's load was not recorded."
    one = sorted(x[1] for x in loads)
    cpus = f" on its {state['cpus']} cores" if state.get("cpus") else ""
    return (f"The machine was shared with other sessions' builds, tests and benches: from {loads[0][0][11:16]} to "
            f"{loads[-1][0][11:16]} UTC ({loads[0][0][:10]}) its 1-minute load average at the run's "
            f"{len(one)} progress lines was {one[0]:.1f} to {one[-1]:.1f}, median {one[len(one) // 2]:.1f}{cpus}, "
            f"so the wall seconds below are those of a loaded machine; the calls' CPU seconds are the backend's own.")


def report(state, smaller=()):
    """The section of docs/benchmarks.md; smaller: the states of smaller
    fleets measured by this script, for the growth table."""
    n, days = state["connectors"], state["days"]
    runs = state["runs"]
    units = (n + UNIT - 1) // UNIT
    calls = state["calls"]
    load_s = state["fleet_s"] + state["insert_s"] + state["vacuum_s"] + state["fold_s"] + state["vacuum2_s"]
    size_rows = "\n".join(f"| {r[0]} | {r[1]} MB | {r[2] or '-'} MB |" + (f" {r[3]} weeks |" if r[3] else " |")
                          for r in state["sizes"])
    call_rows = []
    for name, fig in calls.items():
        note = ""
        if len(fig) > 4:
            cand, written, not_reached, secs, planned, forecast, decisions = fig[4].split("/")
            note = (f"{int(cand):,} candidates, {int(written):,} written, {int(not_reached):,} not reached; "
                    f"{int(planned):,} planned syncs, {int(forecast):,} forecasts")
        if fig[3]:
            note += (" " if note else "") + "; ".join(w.split("WARNING:")[-1].strip() for w in fig[3] if "WARNING" in w)
        call_rows.append(f"| `{name}` | {fig[0]:.2f} s | {fig[1]:.2f} s | {fig[2]:,.0f} MB | {note} |")
    ing = state.get("ingest")
    ingest = (f"{ing['runs']:,} runs (one more day of the whole fleet) inserted in one statement through the key "
              f"trigger in {ing['insert_s']:.1f} s ({ing['runs'] / ing['insert_s']:,.0f} runs/s), folded by "
              f"`absorb_runs()` in pages of {PAGE:,} runs in {ing['fold_s']:.1f} s "
              f"({ing['runs'] / ing['fold_s']:,.0f} runs/s); every run counted once in `connector_stats` and "
              f"every run its key afterwards: {ing['consistent'] == 't'}. A restore of a dump of this history "
              f"does not pay the key trigger: the keys are dumped with the runs and restored with triggers off "
              f"(docs/operations.md, Backups).") if ing else "not measured."
    pg = state.get("purge")
    if pg:
        total_before, old_before = (int(x) for x in pg["before"].split("/"))
        left, left_old, keys, parts = (int(x) for x in pg["after"].split("/"))
        purge = (f"`purge_history('{pg['keep'].split('.')[0]}')`: the retention reaching back to "
                 f"{pg['week'][:10]}, the Monday on or before the day {days - PURGE_DAYS} days before `at`, so "
                 f"that the history's oldest weeks go whole; one call per "
                 f"transaction as the collector runs it: {pg['rows']:,} rows in {pg['calls']} calls, "
                 f"{pg['seconds']:.1f} s. Before: {total_before:,} runs, {old_before:,} of them older than the "
                 f"cutoff; after: {left:,} runs ({total_before - left:,} gone: the cutoff moves with now() "
                 f"while the purge runs, and the runs that started in its first seconds went in a batch), "
                 f"{left_old} older than the cutoff, {keys:,} keys in `sync_run_key` (one per run: {keys == left}), "
                 f"{parts} partitions left (the default one included).")
    else:
        purge = "not measured."
    if days >= 90:
        history = f"{days} days of history, as issue 34 asks."
    else:
        history = (f"**{days} days of history, not 90**: every figure below is of {days} days, measured; none is "
                   f"extrapolated to 90.")
    return f"""## {SECTION}

Written by `BENCH_100K=1 make bench` ({os.path.relpath(__file__, TOP)}; not in the default `make bench`).
This run: {n:,} connectors, {history} {machine(state)}{built(state)}

**The fleet.** {n:,} connectors (half Fivetran, half Airbyte) on {units} copies of the analytics
bench's graph, one per 10,000 connectors: {units * UNIT_ASSETS:,} assets, {units * UNIT_DASHBOARDS:,}
dashboards with deadlines in four time zones, two lineage edges per connector and four per asset,
a sync_order pair every 20 connectors, 50 source load windows and a warehouse peak. Schedules: 1 h
(2% of connectors), 3 h (18%), 6 h (35%), 24 h (45%), 3.77 runs a day on average; {days} days of
history back from the hour it was generated ({state['at'][:16]} UTC): **{runs:,} runs**, 4% of them
failed.

**Loading it** (wall seconds on this shared machine): the fleet and the weeks
{state['fleet_s']:.0f} s; the runs, one `INSERT ... SELECT generate_series` per day of the whole
fleet, each also writing the runs' keys to `sync_run_key` (the per-row key trigger disabled for the
bulk load) {state['insert_s']:.0f} s ({runs / state['insert_s']:,.0f} runs/s); `VACUUM ANALYZE`
{state['vacuum_s']:.0f} s; `connector_stats` by the product's fold, `absorb_runs()` over each
connector's whole history, {FOLD_BLOCK:,} connectors a call, {state['fold_s']:.0f} s
({runs / state['fold_s']:,.0f} runs/s), and `VACUUM ANALYZE` again {state['vacuum2_s']:.0f} s:
{load_s / 60:.0f} minutes in all. The fold's totals match the history (connectors / runs / successes /
failures): {state['stats']} against {state['expected_stats']} counted in `sync_run`. Sizes
after the load, before the purge:

| table | heap and TOAST | indexes | partitions |
| --- | --- | --- | --- |
{size_rows}

**Each call** in a fresh backend after a warm-up statement, at {state['at'][:16]} UTC (where the
history ends), after the purge: the backend's CPU seconds, wall seconds and peak resident memory (VmHWM,
counting the shared buffers it touched: `shared_buffers` is 1 GB here). The planning runs marked
"first" and "next" had `syncopt.planner_time_limit = '1h'`; the one a day later the default 2
minutes, after the day's ingest below. `plan(at, '24 hours')` placed / predicted to miss / gave up:
{state.get('shape', 'not measured')} (this synthetic graph makes nearly every connector late: it
measures cost only).

| call | CPU | wall | peak memory | what it wrote |
| --- | --- | --- | --- | --- |
{chr(10).join(call_rows)}

{limit_note(calls)}

**A day's ingest at this history size.** {ingest}

**Purge.** {purge}

{growth(state, smaller)}{planning_note(state, smaller)}
"""


def limit_note(calls):
    """What the planning run with the default time limit did."""
    fig = calls.get("run_planner (next day, default limit)")
    if not fig:
        return "The planning run with the default time limit was not measured."
    cand, written, not_reached = (int(x) for x in fig[4].split("/")[:3])
    over = ("its analytics alone passed the limit (they always finish; docs/architecture.md), then it took "
            "its candidates most urgent first for at least a tenth of the limit and"
            if fig[1] > 120 else "it stayed within the limit and")
    if not_reached:
        reach = f"left {not_reached:,} of its {cand:,} candidates unreached (`planner_run.not_reached`)"
    else:
        reach = f"reached all {cand:,} of its candidates (`planner_run.not_reached` 0)"
    return (f"The time limit: the run a day later, with the default 2 minutes, took {fig[1]:.0f} s of wall "
            f"time ({fig[0]:.0f} s of CPU): {over} {reach}, writing {written:,} proposals (`planner_run.written`; "
            f"a candidate the same as an open or recent decision counts as `unchanged`). The regress test `planning_run` "
            f"covers a run that leaves candidates unreached.")


def planning_note(state, smaller):
    """What the figures say about where a planning run's time goes, and the
    sizes not measured."""
    calls = state["calls"]
    cpu = {name: fig[0] for name, fig in calls.items()}
    n, days, runs = state["connectors"], state["days"], state["runs"]
    units = (n + UNIT - 1) // UNIT
    parts = ["sla_risk", "anomalies (last day)", "priority_scores", "batch_recommendations", "predict_duration"]
    text = ""
    if all(p in cpu for p in parts) and "run_planner (next)" in cpu:
        alone = sum(cpu[p] for p in parts)
        text = (f"**Where the planning run's time goes.** Not profiled in this run. The calls a planning run "
                f"makes, measured alone (`sla_risk()`, which is `plan()` plus the forecast, "
                f"{cpu['sla_risk']:.0f} s of CPU; `anomalies()` {cpu['anomalies (last day)']:.0f} s; "
                f"`priority_scores()`, `batch_recommendations()` and `predict_duration()`, which the candidates' "
                f"query joins, {cpu['priority_scores'] + cpu['batch_recommendations'] + cpu['predict_duration']:.0f} s) "
                f"add up to {alone:.0f} s against the next run's {cpu['run_planner (next)']:.0f} s"
                + (", the rest the candidates' SQL and the writes" if alone < cpu["run_planner (next)"] else
                   (": more than the run, which loads the fleet once and shares it between them "
                    "(docs/architecture.md, How a planning run shares its work)"))
                + f". This graph has {units * UNIT_DASHBOARDS:,} deadlines, each "
                f"reaching its unit's {UNIT:,} connectors (the fixed graph of the other sections: "
                f"{UNIT_DASHBOARDS:,} deadlines). Peak memory counts up to 1 GB of shared buffers touched. `cost_by_connector` reads "
                f"the last 7 days (about {runs / days * 7 / 1e6:.1f} million runs) in "
                f"{cpu.get('cost_by_connector', 0):.1f} s of CPU from a fresh backend.\n\n")
    if not smaller:
        text += ("Smaller fleets of this generator (10,000 and 50,000 connectors) were not measured with this "
                 "run: the growth exponents of the other sections are on the fixed 3,000-asset graph, which "
                 "this one is not.\n\n")
    return text + HISTORY


# What an earlier run of this bench found, kept as history (its figures are not this run's).
HISTORY = """**Found by an earlier run of this bench** (45 days of history, an earlier session): the product's fold was the load's bottleneck. `absorb_runs()` reads its runs with
`run_id = ANY ($1)`, a statement kept per backend, and the plan cache planned its first five
calls per backend as custom plans, estimating every element of the array on every weekly
partition (1.9 s of planning against 2 ms for a generic plan). Kept statements now run with
`plan_cache_mode = force_generic_plan` (`src/spi_run.c`, guarded by the integration test
`test_kept_plans`)."""


if __name__ == "__main__":
    main()
