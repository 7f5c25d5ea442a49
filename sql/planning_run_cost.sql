-- What a planning run skips and how it writes JSON, for its cost at scale
-- (issue 34, h-rp): the same rows as before, less work.
-- Planned at 2054-11-23 04:10 UTC (ahead of the clock).
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/add_runs.sql

------------------------------------------------------------------------
-- A small fleet: C1 (Fivetran, hourly) and C2 (Airbyte, no connection
-- read yet: no sourceId) feed a dashboard due 05:00 that their P90 of 75
-- minutes no longer meets.  The run's SLA alert lists both as blocking
-- connectors in its details, as to_jsonb() of the forecast's alert list
-- (alert_blocking: at most 20 ids, here the whole list), with their count.
------------------------------------------------------------------------
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com'), (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.policy (mode) VALUES ('copilot');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes, schedule_type, batch_size, parallelism)
VALUES (1, 1, 'c1', 'C1', 60, 'auto', NULL, NULL),
       (2, 2, '9924bcd0-0002', 'C2', 60, 'basic', 5000, 4);
SELECT count(pg_temp.add_runs(i, '{2400,3600,3000,3300,2700,3900}')) AS with_runs FROM generate_series(1, 2) i;
INSERT INTO syncopt.asset (asset_id, name, kind, deadline) VALUES (1, 'dash', 'dashboard', '05:00');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (1, 1), (2, 1);

\o /dev/null
SELECT * FROM syncopt.run_planner('2054-11-23 04:10+00');
\o
SELECT f.blocking_connectors, f.alert_blocking, a.details -> 'blocking_connectors' AS alert_lists,
       a.details -> 'blocking_connectors' = to_jsonb(f.alert_blocking) AS as_to_jsonb,
       a.details -> 'blocking_count' AS alert_count
  FROM syncopt.sla_forecast f
  JOIN syncopt.alert a ON a.kind = 'sla_risk' AND a.asset_id = f.asset_id;

------------------------------------------------------------------------
-- The latest run's plan, forecast and anomaly snapshot have no foreign key
-- to planner_run (a lookup per row written): the run writes them right
-- after its own planner_run row, and deleting a run still deletes them.
-- A second run at 04:20 replaces the first's rows; an anomaly row is
-- added to its snapshot by hand (this fleet has none).
------------------------------------------------------------------------
\o /dev/null
SELECT * FROM syncopt.run_planner('2054-11-23 04:20+00');
\o
INSERT INTO syncopt.anomaly_snapshot (planner_run_id, run_id, connector_id, metric, reason)
VALUES (2, 1, 1, 'duration', 'by hand');
CREATE FUNCTION pg_temp.snapshot() RETURNS TABLE (tbl text, run bigint, n bigint) LANGUAGE sql AS $$
    SELECT 'planned_sync', planner_run_id, count(*) FROM syncopt.planned_sync GROUP BY 2
    UNION ALL SELECT 'sla_forecast', planner_run_id, count(*) FROM syncopt.sla_forecast GROUP BY 2
    UNION ALL SELECT 'anomaly_snapshot', planner_run_id, count(*) FROM syncopt.anomaly_snapshot GROUP BY 2
    ORDER BY 1
$$;
SELECT * FROM pg_temp.snapshot();
-- Without rows of its own, run 1's delete leaves run 2's.
DELETE FROM syncopt.planner_run WHERE planner_run_id = 1;
SELECT * FROM pg_temp.snapshot();
-- Run 2's delete takes them all, as a truncation of planner_run does.
BEGIN;
TRUNCATE syncopt.planner_run;
SELECT count(*) AS left_after_truncate FROM pg_temp.snapshot();
ROLLBACK;
DELETE FROM syncopt.planner_run WHERE planner_run_id = 2;
SELECT count(*) AS left_after_delete FROM pg_temp.snapshot();

------------------------------------------------------------------------
-- The candidates' schedule-move branch predicts the fleet's durations
-- only when a daily or cron sync could move (none here: both hourly), and
-- the batch-size branch reads the Airbyte recommendations only when an
-- Airbyte connector can take the proposal (its connection read, with a
-- sourceId).  Counted with the function statistics of this transaction.
------------------------------------------------------------------------
-- This transaction's calls so far (its counts are not flushed before it
-- ends, so a difference within it counts only the statement between).
CREATE FUNCTION pg_temp.calls(OUT predict_duration bigint, OUT batch bigint, OUT scores bigint) LANGUAGE sql AS $$
    SELECT coalesce(pg_stat_get_xact_function_calls('syncopt.predict_duration(timestamptz)'::regprocedure), 0),
           coalesce(pg_stat_get_xact_function_calls('syncopt.airbyte_batch_recommendations(timestamptz)'::regprocedure), 0),
           coalesce(pg_stat_get_xact_function_calls('syncopt.priority_scores(timestamptz)'::regprocedure), 0)
$$;
SET track_functions = 'all';
BEGIN;
SELECT * FROM pg_temp.calls() \gset before_
\o /dev/null
SELECT * FROM syncopt.planner_candidates('2054-11-23 04:10+00');
\o
SELECT c.predict_duration - :before_predict_duration AS predict_duration, c.batch - :before_batch AS batch,
       c.scores - :before_scores AS scores
  FROM pg_temp.calls() c;
COMMIT;
-- C2's connection read, C1 daily at 15:00 inside a priced warehouse
-- window: each branch reads its analytics once.
UPDATE syncopt.connector SET raw = '{"sourceId": "95e66a59-0002"}' WHERE connector_id = 2;
UPDATE syncopt.connector SET schedule_minutes = 1440, daily_sync_time = '15:00' WHERE connector_id = 1;
INSERT INTO syncopt.load_window (name, target, start_time, end_time, price_multiplier)
VALUES ('warehouse peak', 'warehouse', '13:00', '17:00', 2);
BEGIN;
SELECT * FROM pg_temp.calls() \gset before_
\o /dev/null
SELECT * FROM syncopt.planner_candidates('2054-11-23 04:10+00');
\o
SELECT c.predict_duration - :before_predict_duration AS predict_duration, c.batch - :before_batch AS batch,
       c.scores - :before_scores AS scores
  FROM pg_temp.calls() c;
COMMIT;
RESET track_functions;

------------------------------------------------------------------------
-- A forecast's blocking connectors are stored as the table's own insert
-- would store them: plan_and_forecast() compresses an array past the
-- toaster's target itself, with the column's method, so that its rows are
-- half the size on their way to the table.  A dashboard due five minutes
-- after the run, fed by 400 connectors that have never synced: every one
-- of them lands too late, 400 ids (3,200 bytes).  The arrays written by
-- the run have the compression, size and ids of the same arrays rebuilt
-- from their text and inserted into a table like sla_forecast (the
-- toaster's own choice); the two-connector forecast's stays uncompressed.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes, schedule_type)
SELECT 100 + i, 1, 'w' || i, 'W' || i, 60, 'auto' FROM generate_series(1, 400) i;
INSERT INTO syncopt.asset (asset_id, name, kind, deadline) VALUES (2, 'wide', 'dashboard', '04:15');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) SELECT 100 + i, 2 FROM generate_series(1, 400) i;
\o /dev/null
SELECT * FROM syncopt.run_planner('2054-11-23 04:10+00');
\o
CREATE TEMP TABLE fresh (LIKE syncopt.sla_forecast INCLUDING COMPRESSION);
INSERT INTO fresh
SELECT planner_run_id, asset_id, deadline, predicted_ready, at_risk, risk, blocking_connectors::text::bigint[], reason,
       alert_blocking, blocking_count
  FROM syncopt.sla_forecast;
-- The wide asset's alert lists 20 of its 400 blocking connectors, each one
-- of them, and counts 400.
SELECT jsonb_array_length(a.details -> 'blocking_connectors') AS listed,
       a.details -> 'blocking_count' AS counted,
       a.details -> 'blocking_connectors' = to_jsonb(f.alert_blocking) AS as_to_jsonb,
       f.alert_blocking <@ f.blocking_connectors AS all_blocking
  FROM syncopt.sla_forecast f
  JOIN syncopt.alert a ON a.kind = 'sla_risk' AND a.asset_id = f.asset_id
 WHERE f.asset_id = 2;
SELECT f.asset_id, cardinality(f.blocking_connectors) AS blocking,
       pg_column_compression(f.blocking_connectors) IS NOT NULL AS compressed,
       pg_column_compression(f.blocking_connectors) IS NOT DISTINCT FROM pg_column_compression(n.blocking_connectors)
           AS same_method,
       pg_column_size(f.blocking_connectors) = pg_column_size(n.blocking_connectors) AS same_size,
       f.blocking_connectors = n.blocking_connectors AS same_ids
  FROM syncopt.sla_forecast f
  JOIN fresh n USING (asset_id)
 ORDER BY f.asset_id;

------------------------------------------------------------------------
-- plan_and_forecast() returns its rows one call at a time from copies of
-- the statement's shared fleet, which point into it.  Read by a PL/pgSQL
-- loop (a cursor fetching in batches) whose body rolls back a
-- subtransaction at every row (which drops the shared picture), and twice
-- in one select list (the second call loads the picture again while the
-- first is still reading): each reader still gets every row, the same as
-- a loop that rolls nothing back (the rows in order, by md5).
------------------------------------------------------------------------
CREATE FUNCTION pg_temp.read_rows(roll_back boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer := 0;
    h text := '';
BEGIN
    FOR r IN SELECT syncopt.plan_and_forecast(9, '2054-11-23 04:10+00') AS x LOOP
        IF roll_back THEN
            BEGIN
                PERFORM 1 / 0;
            EXCEPTION WHEN division_by_zero THEN
                NULL;
            END;
        END IF;
        n := n + 1;
        h := md5(h || r.x::text);
    END LOOP;
    RETURN n || ' rows ' || h;
END
$$;
SELECT pg_temp.read_rows(true) = pg_temp.read_rows(false) AS rolled_back_reads_all,
       split_part(pg_temp.read_rows(false), ' ', 1) AS rows;
SELECT count(*) AS rows, bool_and(a::text = b::text) AS both_read_all
  FROM (SELECT syncopt.plan_and_forecast(9, '2054-11-23 04:10+00') AS a,
               syncopt.plan_and_forecast(9, '2054-11-23 04:10+00') AS b) x;
DROP EXTENSION syncopt CASCADE;
