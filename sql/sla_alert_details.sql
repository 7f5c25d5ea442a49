-- What a planning run's alerts carry and read (issue 34, h-alerts).  An
-- SLA alert's details: at most 20 of the deadline's blocking connectors
-- (blocking_connectors: the first of the forecast's list, which the notify
-- proposal names, then those that land latest, latest first, never before
-- any time, equal times in connector order) and how many block it
-- (blocking_count); the forecast keeps the whole list.  Failure alerts:
-- only the failures no alert names yet are classified.  Planned at
-- 2054-11-23 04:10 UTC (ahead of the clock).
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
SET syncopt.max_concurrent_syncs = 4;
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/add_runs.sql

------------------------------------------------------------------------
-- 24 hourly connectors with the same history, four of them paused (7,
-- 12, 18, 23: their data never lands).  The plan runs the other 20 four
-- at a time in connector order (four slots), waves 55 minutes apart:
--   04:10-05:32  1  2  3  4
--   05:05-06:27  5  6  8  9
--   06:00-07:22 10 11 13 14
--   06:55-08:17 15 16 17 19
--   07:50-09:12 20 21 22 24
-- (the plan's own predicted ends are listed below).  "big", due 05:00
-- (no build time), reads all 24: every one lands after 05:00 or never,
-- so all 24 block it.  Its alert keeps 20: 1 (the first blocking
-- connector), the four that never land (7 12 18 23), the last wave (20 21
-- 22 24), then 15 16 17 19, 10 11 13 14, and of the 05:05 wave the first
-- three in connector order (5 6 8); 9 and the first wave's 2 3 4 are
-- left out.  blocking_count 24.
-- "small", due 05:00, reads 2, 3, 4 and 7: four block it, none is cut;
-- the alert lists 2 (first), 7 (never), then 3 and 4 (05:32, connector
-- order), blocking_count 4.
------------------------------------------------------------------------
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.policy (mode) VALUES ('copilot');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes, schedule_type, paused)
SELECT i, 1, 'c' || i, 'C' || i, 60, 'auto', i IN (7, 12, 18, 23) FROM generate_series(1, 24) i;
SELECT count(pg_temp.add_runs(i, '{2400,3600,3000,3300,2700,3900}')) AS with_runs FROM generate_series(1, 24) i;
INSERT INTO syncopt.asset (asset_id, name, kind, deadline)
VALUES (1, 'big', 'dashboard', '05:00'), (2, 'small', 'dashboard', '05:00');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id)
SELECT i, 1 FROM generate_series(1, 24) i
UNION ALL SELECT i, 2 FROM unnest('{2,3,4,7}'::int[]) i;

-- The plan the forecast reads (NULL: paused, never lands).
SELECT predicted_end, string_agg(connector_id::text, ' ' ORDER BY connector_id) AS connectors
  FROM syncopt.plan('2054-11-23 04:10+00', '8 days')
 GROUP BY 1 ORDER BY 1 DESC NULLS FIRST;

\o /dev/null
SELECT * FROM syncopt.run_planner('2054-11-23 04:10+00');
\o
SELECT a.name, x.details -> 'blocking_connectors' AS alert_lists, x.details -> 'blocking_count' AS blocking_count,
       f.blocking_connectors AS forecast_lists
  FROM syncopt.alert x
  JOIN syncopt.asset a USING (asset_id)
  JOIN syncopt.sla_forecast f USING (asset_id)
 WHERE x.kind = 'sla_risk'
 ORDER BY a.name;
-- Both deadlines are at high risk, and the notify proposal of each names
-- the connector its alert lists first.
SELECT l.connector_id AS notified, a.name AS alert_lists_first
  FROM syncopt.fivetran_sync_ai_logs l
  JOIN syncopt.alert x ON x.kind = 'sla_risk' AND (x.details -> 'blocking_connectors' ->> 0)::bigint = l.connector_id
  JOIN syncopt.asset a ON a.asset_id = x.asset_id
 WHERE l.action = 'notify'
 ORDER BY 1;
-- sla_risk() itself is unchanged: the whole list, no alert columns.
SELECT blocking_connectors FROM syncopt.sla_risk('2054-11-23 04:10+00') WHERE asset_id = 1;

------------------------------------------------------------------------
-- A planning run alerts each failure of the last two days once, and
-- classifies only those no sync_failure alert names yet
-- (classify_unalerted_runs()).  Two failures of C1; an alert naming the
-- first is written by hand: only the second is left to classify, and the
-- next run alerts it alone.  After that run, nothing is left.
------------------------------------------------------------------------
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (1, 'f1', '2054-11-23 02:00+00', '2054-11-23 02:05+00', 'failed', 'HTTP 401 Unauthorized', 'api'),
       (1, 'f2', '2054-11-23 03:00+00', '2054-11-23 03:05+00', 'failed', 'HTTP 401 Unauthorized', 'api');
INSERT INTO syncopt.alert (kind, connector_id, severity, message, details)
SELECT 'sync_failure', 1, 'warning', 'by hand', jsonb_build_object('run_id', run_id)
  FROM syncopt.sync_run WHERE external_run_id = 'f1';
SELECT r.external_run_id, f.category
  FROM syncopt.classify_unalerted_runs('2054-11-21 04:20+00') f JOIN syncopt.sync_run r USING (run_id);
SELECT count(*) AS classify_runs_all FROM syncopt.classify_runs('2054-11-21 04:20+00');
\o /dev/null
SELECT * FROM syncopt.run_planner('2054-11-23 04:20+00');
\o
SELECT r.external_run_id, a.message = 'by hand' AS by_hand, count(*)
  FROM syncopt.alert a JOIN syncopt.sync_run r ON r.run_id = (a.details->>'run_id')::bigint
 WHERE a.kind = 'sync_failure'
 GROUP BY 1, 2 ORDER BY 1;
SELECT count(*) AS left_to_classify FROM syncopt.classify_unalerted_runs('2054-11-21 04:20+00');
DROP EXTENSION syncopt CASCADE;
