#!/usr/bin/env python3
"""make bench, history part (issue 34): sync_run partitioned by week.

1. The purge of a month of history, side by side on the same generated
   runs: 0.1.0's batched DELETE (10,000 runs per statement, each committed,
   on an unpartitioned copy with 0.1.0's indexes, unique constraint and the
   anomaly snapshot's foreign key ON DELETE CASCADE) against
   purge_history() on the weekly partitions (whole weeks dropped with one
   join for their keys, the rest in batches), each committed per call.
2. cost_by_connector at 10,000 connectors from a fresh backend (the first
   query of a new connection, which pays for loading the catalog of every
   relation it plans), before (0.1.0's view over the unpartitioned table),
   main 69f0907's view over the raw runs (unpartitioned, and partitioned)
   and after (the view over the daily rollup, h-rollup), and the second
   call of the same backend.
3. The insert of 100,000 runs: unpartitioned, partitioned without the
   rollup's trigger (69f0907), partitioned with it.

Every loop is bounded in count (MAX_CALLS) and time (MAX_SECONDS).
Writes the "History partitioned by week" section of docs/benchmarks.md.
"""

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_analytics as ba  # noqa: E402
from harness.cluster import PG_BIN, Cluster  # noqa: E402
from report import replace_section  # noqa: E402

DB = ba.DB
SETTINGS = ba.SETTINGS
PURGE_CONNECTORS = int(os.environ.get("HISTORY_PURGE_CONNECTORS", "4000"))
COST_CONNECTORS = 10000
COST_RUNS = 100                 # every 6 hours back from now: 25 days
FRESH_ROUNDS = 5
MAX_CALLS = 10000
MAX_SECONDS = 1800

# 60 days of runs every 6 hours, the newest first; the anomaly snapshot of a
# planning run names 1% of the last day's runs.
PURGE_DATA = """
DROP EXTENSION IF EXISTS syncopt CASCADE; CREATE EXTENSION syncopt;
DROP TABLE IF EXISTS public.flat_ref, public.flat_run;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'p', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id) SELECT i, 1, 'c' || i FROM generate_series(1, {n}) i;
SELECT syncopt.maintain_run_partitions('70 days');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT c, 'p' || k, now() - make_interval(hours => 6 * k), now() - make_interval(hours => 6 * k) + interval '5 minutes',
       'succeeded', 1000, 'api'
  FROM generate_series(1, {n}) c, generate_series(1, 240) k;
INSERT INTO syncopt.planner_run (at) VALUES (now());
INSERT INTO syncopt.anomaly_snapshot (planner_run_id, run_id, connector_id, metric, reason)
SELECT 1, r.run_id, r.connector_id, 'duration', 'bench' FROM syncopt.sync_run r
 WHERE r.started_at > now() - interval '1 day' AND r.connector_id % 25 = 0;
-- The same rows in an unpartitioned table as 0.1.0 made it, and the
-- snapshot referencing it as 0.1.0's anomaly_snapshot did.
CREATE TABLE public.flat_run (LIKE syncopt.sync_run INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO public.flat_run SELECT * FROM syncopt.sync_run;
ALTER TABLE public.flat_run ADD PRIMARY KEY (run_id), ADD UNIQUE (connector_id, external_run_id),
    ADD FOREIGN KEY (connector_id) REFERENCES syncopt.connector ON DELETE CASCADE;
CREATE INDEX ON public.flat_run (connector_id, started_at DESC);
CREATE INDEX ON public.flat_run (started_at);
CREATE INDEX ON public.flat_run (connector_id) WHERE status = 'running';
CREATE TABLE public.flat_ref (LIKE syncopt.anomaly_snapshot INCLUDING ALL);
INSERT INTO public.flat_ref SELECT * FROM syncopt.anomaly_snapshot;
ALTER TABLE public.flat_ref ADD FOREIGN KEY (run_id) REFERENCES public.flat_run ON DELETE CASCADE;
VACUUM ANALYZE;
"""

# One purge call per transaction, as the collector commits between calls.
FLAT_PURGE = f"""
DO $$ DECLARE n bigint; total bigint := 0; calls int := 0; t0 timestamptz := clock_timestamp(); BEGIN
  LOOP
    DELETE FROM public.flat_run WHERE run_id IN (
        SELECT run_id FROM public.flat_run WHERE started_at < now() - interval '30 days'
         ORDER BY started_at LIMIT 10000);
    GET DIAGNOSTICS n = ROW_COUNT; total := total + n; calls := calls + 1;
    COMMIT;
    EXIT WHEN n = 0 OR calls >= {MAX_CALLS} OR clock_timestamp() - t0 > interval '{MAX_SECONDS} seconds';
  END LOOP;
  RAISE NOTICE 'rows=% calls=% seconds=%', total, calls, extract(epoch FROM clock_timestamp() - t0);
END $$;"""
PART_PURGE = f"""
DO $$ DECLARE n bigint; total bigint := 0; calls int := 0; t0 timestamptz := clock_timestamp(); BEGIN
  LOOP
    n := syncopt.purge_history('30 days', 10000); total := total + n; calls := calls + 1;
    COMMIT;
    EXIT WHEN n = 0 OR calls >= {MAX_CALLS} OR clock_timestamp() - t0 > interval '{MAX_SECONDS} seconds';
  END LOOP;
  RAISE NOTICE 'rows=% calls=% seconds=%', total, calls, extract(epoch FROM clock_timestamp() - t0);
END $$;"""

# cost_by_connector as 0.1.0 and 0.2.0 before issue 34 defined it, over the
# unpartitioned copy.
OLD_COST_VIEW = """
CREATE VIEW public.flat_cost WITH (security_invoker = true) AS
SELECT r.connector_id, coalesce(c.name, c.external_id) AS connector, c.destination_id,
       count(*) AS syncs,
       count(*) FILTER (WHERE r.status = 'failed') AS failed_syncs,
       round((sum(extract(epoch FROM r.finished_at - r.started_at)) / 3600)::numeric, 2) AS sync_hours,
       sum(r.credits) AS reported_credits,
       round((100 * sum(extract(epoch FROM r.finished_at - r.started_at))
              / nullif(sum(sum(extract(epoch FROM r.finished_at - r.started_at))) OVER (), 0))::numeric, 2)
           AS share_of_sync_time_pct,
       sum(r.rows) AS rows
  FROM public.flat_run r
  JOIN syncopt.connector c ON c.connector_id = r.connector_id
 WHERE r.started_at >= now() - interval '7 days' AND r.finished_at IS NOT NULL AND r.duration_known
 GROUP BY r.connector_id, c.name, c.external_id, c.destination_id;
"""


# cost_by_connector as main (69f0907) defined it, over the week's raw runs
# (the cutoff computed once, credits only where reported), before it read
# the daily rollup (h-rollup): over the unpartitioned copy and over the
# weekly partitions, to tell the rewrite's effect from the partitioning's
# and from the rollup's.
RAW_COST_VIEW = """
CREATE VIEW public.{name} WITH (security_invoker = true) AS
SELECT r.connector_id, coalesce(c.name, c.external_id) AS connector, c.destination_id,
       r.syncs, r.failed_syncs, round((r.secs / 3600)::numeric, 2) AS sync_hours, r.reported_credits,
       round((100 * r.secs / nullif(sum(r.secs) OVER (), 0))::numeric, 2) AS share_of_sync_time_pct,
       r.rows
  FROM (SELECT r.connector_id, count(*) AS syncs, count(*) FILTER (WHERE r.status = 'failed') AS failed_syncs,
               sum(date_part('epoch', r.finished_at - r.started_at)) AS secs,
               sum(r.credits) FILTER (WHERE r.credits IS NOT NULL) AS reported_credits, sum(r.rows) AS rows
          FROM {runs} r
         WHERE r.started_at >= (SELECT now() - interval '7 days') AND r.finished_at IS NOT NULL AND r.duration_known
         GROUP BY r.connector_id) r
  JOIN syncopt.connector c ON c.connector_id = r.connector_id;
"""


def notice(out, key):
    """A value from 'key=value' in the NOTICE of a DO block."""
    for line in out[2].splitlines():
        if key + "=" in line:
            return float(line.split(key + "=")[1].split()[0])
    raise RuntimeError(out)


def purge(cluster):
    n = PURGE_CONNECTORS
    cluster.psql(PURGE_DATA.format(n=n), DB)
    old = int(cluster.value("SELECT count(*) FROM public.flat_run WHERE started_at < now() - interval '30 days'", DB))
    results = {}
    for name, sql in (("batched DELETE (0.1.0, unpartitioned)", FLAT_PURGE),
                      ("purge_history() on weekly partitions", PART_PURGE)):
        out = cluster.psql(sql, DB)
        results[name] = (notice(out, "seconds"), int(notice(out, "rows")), int(notice(out, "calls")))
    left = cluster.value(
        "SELECT (SELECT count(*) FROM public.flat_run WHERE started_at < now() - interval '30 days') || ' / ' || "
        "(SELECT count(*) FROM syncopt.sync_run WHERE started_at < now() - interval '30 days')", DB)
    same = cluster.value("SELECT (SELECT count(*) FROM public.flat_run) = (SELECT count(*) FROM syncopt.sync_run) "
                         "AND (SELECT count(*) FROM syncopt.sync_run) = (SELECT count(*) FROM syncopt.sync_run_key)",
                         DB)
    return n, old, results, left, same


def fresh_seconds(cluster, query):
    """(first, second) seconds of query in one new connection, measured in
    the server (plpgsql loaded before, so only the query's own cost counts)."""
    timed = ("DO $$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN "
             f"PERFORM count(*) FROM ({query}) q; "
             "RAISE NOTICE 'seconds=%', extract(epoch FROM clock_timestamp() - t0); END $$;\n")
    proc = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + cluster.conninfo(DB),
                          input="DO $$ BEGIN END $$;\n" + timed + timed, capture_output=True, text=True,
                          timeout=600, check=True)
    values = [float(line.split("seconds=")[1]) for line in proc.stderr.splitlines() if "seconds=" in line]
    return values[0], values[1]


def cost_view(cluster):
    n = COST_CONNECTORS
    cluster.psql("DROP EXTENSION IF EXISTS syncopt CASCADE; DROP TABLE IF EXISTS public.flat_ref, public.flat_run;",
                 DB)
    cluster.psql(ba.FLEET.replace(f"generate_series(1, {ba.CONNECTORS})", f"generate_series(1, {n})"), DB)
    cluster.psql("SELECT syncopt.maintain_run_partitions('30 days');", DB)  # weeks for all 25 days
    # bench_analytics's history, ending at the current hour.
    at = time.strftime("%Y-%m-%d %H:00+00", time.gmtime())
    cluster.psql(ba.runs_sql(1, COST_RUNS).replace(ba.AT, at), DB)
    cluster.psql("CREATE TABLE public.flat_run (LIKE syncopt.sync_run INCLUDING DEFAULTS INCLUDING CONSTRAINTS);"
                 "INSERT INTO public.flat_run SELECT * FROM syncopt.sync_run;"
                 "ALTER TABLE public.flat_run ADD PRIMARY KEY (run_id), ADD UNIQUE (connector_id, external_run_id);"
                 "CREATE INDEX ON public.flat_run (connector_id, started_at DESC);"
                 "CREATE INDEX ON public.flat_run (started_at);"
                 "CREATE INDEX ON public.flat_run (connector_id) WHERE status = 'running';"
                 + OLD_COST_VIEW + RAW_COST_VIEW.format(name="flat_cost_new", runs="public.flat_run")
                 + RAW_COST_VIEW.format(name="raw_cost", runs="syncopt.sync_run") + "VACUUM ANALYZE;", DB)
    partitions = int(cluster.value("SELECT count(*) FROM pg_inherits WHERE inhparent = 'syncopt.sync_run'::regclass",
                                   DB))
    runs = int(cluster.value("SELECT count(*) FROM syncopt.sync_run", DB))
    same = cluster.value("SELECT NOT EXISTS (SELECT * FROM public.flat_cost EXCEPT SELECT * FROM syncopt.cost_by_connector)"
                         " AND NOT EXISTS (SELECT * FROM syncopt.cost_by_connector EXCEPT SELECT * FROM public.flat_cost)",
                         DB)
    views = {"before": "public.flat_cost", "rewritten": "public.flat_cost_new", "partitioned": "public.raw_cost",
             "after": "syncopt.cost_by_connector"}
    times = {k: [] for k in views}
    for _ in range(FRESH_ROUNDS):
        for k, v in views.items():
            times[k].append(fresh_seconds(cluster, f"SELECT * FROM {v}"))
    med = {k: (statistics.median(x[0] for x in t), statistics.median(x[1] for x in t)) for k, t in times.items()}
    return n, runs, partitions, same, med


INSERT_RUNS = 100000


def insert_cost(cluster):
    """(unpartitioned, partitioned) seconds to insert the same INSERT_RUNS runs."""
    cluster.psql(f"""
DROP TABLE IF EXISTS public.src_run;
CREATE TABLE public.src_run AS SELECT * FROM syncopt.sync_run ORDER BY run_id LIMIT {INSERT_RUNS};
ALTER TABLE public.flat_run ADD FOREIGN KEY (connector_id) REFERENCES syncopt.connector ON DELETE CASCADE;
DELETE FROM public.flat_run WHERE run_id IN (SELECT run_id FROM public.src_run);
DELETE FROM syncopt.sync_run WHERE run_id IN (SELECT run_id FROM public.src_run);
VACUUM ANALYZE;""", DB)
    flat = cluster.psql("DO $$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN "
                        "INSERT INTO public.flat_run SELECT * FROM public.src_run; "
                        "RAISE NOTICE 'seconds=%', extract(epoch FROM clock_timestamp() - t0); END $$;", DB)
    part = cluster.psql("DO $$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN "
                        "INSERT INTO syncopt.sync_run SELECT * FROM public.src_run; "
                        "RAISE NOTICE 'seconds=%', extract(epoch FROM clock_timestamp() - t0); END $$;", DB)
    # The same without the daily rollup's triggers (h-rollup), as main had
    # none: the runs deleted again with them disabled too.
    cluster.psql("ALTER TABLE syncopt.sync_run DISABLE TRIGGER sync_run_roll_up_insert;"
                 "ALTER TABLE syncopt.sync_run DISABLE TRIGGER sync_run_roll_up_delete;"
                 "DELETE FROM syncopt.sync_run WHERE run_id IN (SELECT run_id FROM public.src_run); VACUUM ANALYZE;", DB)
    bare = cluster.psql("DO $$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN "
                        "INSERT INTO syncopt.sync_run SELECT * FROM public.src_run; "
                        "RAISE NOTICE 'seconds=%', extract(epoch FROM clock_timestamp() - t0); END $$;"
                        "ALTER TABLE syncopt.sync_run ENABLE TRIGGER sync_run_roll_up_insert;"
                        "ALTER TABLE syncopt.sync_run ENABLE TRIGGER sync_run_roll_up_delete;", DB)
    return notice(flat, "seconds"), notice(part, "seconds"), notice(bare, "seconds")


def main():
    cluster = Cluster(SETTINGS, databases=[DB])
    try:
        cluster.start()
        purge_n, purge_old, purge_t, purge_left, purge_same = purge(cluster)
        cost_n, cost_runs, cost_parts, cost_same, cost = cost_view(cluster)
        insert_t = insert_cost(cluster)
        load = os.getloadavg()[1]
    finally:
        cluster.destroy()

    (flat_s, flat_rows, flat_calls), (part_s, part_rows, part_calls) = purge_t.values()
    rows = "\n".join(f"| {name} | {s:.2f} s | {r:,} | {c} |" for name, (s, r, c) in purge_t.items())
    text = f"""## History partitioned by week

Written by `make bench` ({os.path.relpath(__file__, ba.TOP)}), issue 34.
Load average over the last 5 minutes of the run: {load:.1f} ({os.cpu_count()} CPUs);
the ratios are side by side in one run, the absolute times grow with it.

**Purge of a month.** {purge_n:,} connectors with a run every 6 hours for
60 days; the {purge_old:,} runs older than 30 days purged, side by side on
the same rows: 0.1.0's batched DELETE (10,000 runs per statement) on an
unpartitioned copy with 0.1.0's indexes, unique constraint and the anomaly
snapshot's foreign key ON DELETE CASCADE, against `purge_history('30 days')`
on the weekly partitions (whole weeks dropped, their keys deleted with one
join, the rest of the cutoff's week in batches). One call per transaction,
as the collector runs them; the anomaly snapshot names 1% of the last day's
runs in both.

| purge | time | runs | calls |
| --- | --- | --- | --- |
{rows}

Partitioned purge: **{flat_s / max(part_s, 1e-9):.1f}x** faster than the batched
DELETE. Runs older than 30 days left (unpartitioned / partitioned):
{purge_left}; both tables then hold the same number of runs, and every run
its key: {purge_same == 't'}.

**cost_by_connector** at {cost_n:,} connectors ({cost_runs:,} runs, every 6
hours back from the current hour; {cost_parts} partitions of sync_run), the
first query of a new connection (median of {FRESH_ROUNDS} connections), and
its second call; same rows both ways: {cost_same == 't'}. Target 200 ms.

| cost_by_connector | fresh backend | second call |
| --- | --- | --- |
| before: 0.1.0's view, unpartitioned | {cost['before'][0] * 1000:,.0f} ms | {cost['before'][1] * 1000:,.0f} ms |
| the rewritten view, unpartitioned | {cost['rewritten'][0] * 1000:,.0f} ms | {cost['rewritten'][1] * 1000:,.0f} ms |
| the rewritten view, weekly partitions (69f0907) | {cost['partitioned'][0] * 1000:,.0f} ms | {cost['partitioned'][1] * 1000:,.0f} ms |
| after: the daily rollup and the cutoff's day (h-rollup) | {cost['after'][0] * 1000:,.0f} ms | {cost['after'][1] * 1000:,.0f} ms |

**What a run's insert costs.** {INSERT_RUNS:,} runs inserted in one
statement, side by side, the same rows (deleted first) back into the
{cost_runs:,}-run history: into the unpartitioned copy with 0.1.0's
indexes, unique constraint and foreign key; into the weekly
partitions, where the key trigger claims each run's key in `sync_run_key`
and the rollup's statement trigger adds the runs to `sync_run_daily`
(measured without it too, as main 69f0907 had none).

| insert | time |
| --- | --- |
| unpartitioned (0.1.0) | {insert_t[0]:.2f} s |
| weekly partitions with the key trigger, without the rollup's (69f0907) | {insert_t[2]:.2f} s ({insert_t[2] / max(insert_t[0], 1e-9):.1f}x) |
| weekly partitions with the key trigger and the rollup's (h-rollup) | {insert_t[1]:.2f} s ({insert_t[1] / max(insert_t[0], 1e-9):.1f}x) |
"""
    replace_section("History partitioned by week", text)
    print(text)


if __name__ == "__main__":
    main()
