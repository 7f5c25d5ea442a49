-- The start of the data a connector holds at an instant (the fleet
-- loader's fresh_since: its last success ended by then and started within
-- 8 days) comes from connector_stats' latest success when that run had
-- ended by the instant, and from sync_run otherwise (src/fleet.c, issue
-- 34).  A deadline opens 24 hours before it falls; a connector whose data
-- started after the opening serves it, and plan() times its sync for the
-- next deadline instead.  Each connector feeds its own dashboard due
-- 06:00 UTC daily.  Expected plans are worked out by hand below.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
SELECT i, 1, 'c' || i, 'c' || i FROM generate_series(1, 3) i;
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight)
SELECT 10 + i, 'dash' || i, 'dashboard', '06:00', 1 FROM generate_series(1, 3) i;
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) SELECT i, 10 + i FROM generate_series(1, 3) i;

-- Connector 1: a 30-minute success at 2026-11-20 05:00 (before the
-- opening of the 2026-11-21 06:00 deadline, 11-20 06:00) and a later one
-- started 11-21 04:00 that ended 05:30.  Connector 2: one success at
-- 11-20 05:00 only.  Both folded as ingestion folds them.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source) VALUES
        (1, 'a', '2026-11-20 05:00+00', '2026-11-20 05:30+00', 'succeeded', 'api'),
        (1, 'b', '2026-11-21 04:00+00', '2026-11-21 05:30+00', 'succeeded', 'api'),
        (2, 'c', '2026-11-20 05:00+00', '2026-11-20 05:30+00', 'succeeded', 'api')
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id)) IS NOT NULL AS absorbed FROM ins;
SELECT connector_id, latest_success_started_at, latest_success_finished_at
  FROM syncopt.connector_stats ORDER BY connector_id;

-- Connector 3's success of 11-20 12:00 is stored but waits in
-- stats_backlog (as a collector poll leaves it until its end): its stats
-- row still has only the success of 11-19 05:00.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
    VALUES (3, 'd', '2026-11-19 05:00+00', '2026-11-19 05:30+00', 'succeeded', 'api')
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id)) IS NOT NULL AS absorbed FROM ins;
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
    VALUES (3, 'e', '2026-11-20 12:00+00', '2026-11-20 12:30+00', 'succeeded', 'api')
    RETURNING run_id, connector_id, status, started_at, finished_at, rows, full_sync, duration_known)
INSERT INTO syncopt.stats_backlog (run_id, connector_id, status, started_at, finished_at, rows, full_sync,
                                   duration_known)
SELECT array_agg(run_id), array_agg(connector_id), array_agg(status), array_agg(started_at),
       array_agg(finished_at), array_agg(rows), array_agg(full_sync), array_agg(duration_known) FROM ins;

-- At 11-21 05:00 each connector's next deadline is 11-21 06:00 (opening
-- 11-20 06:00).  Connector 1's latest success (started 04:00) had not
-- ended: its data is from the success of 11-20 05:00, before the opening,
-- so the deadline is still to serve and its sync is planned now.  Taking
-- the latest success whatever its end would call the deadline served and
-- plan nothing for it.  Connector 2 is the same without the later run:
-- planned now.  Connector 3's waiting success of 11-20 12:00 serves the
-- deadline, and the asset has no later one within the day: nothing
-- planned (its stats alone would say 11-19 05:00 and plan it now).
SELECT connector_id, planned_start, deadline FROM syncopt.plan('2026-11-21 05:00+00', '48 hours')
 ORDER BY connector_id;

-- At 11-21 06:00 the next deadline is 11-22 06:00 (opening 11-21 06:00),
-- and no connector's data started after 06:00 (connector 1's latest
-- success, now ended, at 04:00): all three are planned now.
SELECT connector_id, planned_start, deadline FROM syncopt.plan('2026-11-21 06:00+00', '48 hours')
 ORDER BY connector_id;

-- Once folded, connector 3's stats hold the success of 11-20 12:00.
SELECT syncopt.fold_stats_backlog() AS folded;
SELECT connector_id, latest_success_started_at, latest_success_finished_at
  FROM syncopt.connector_stats WHERE connector_id = 3;

-- A start learned later moves the latest success back: connector 2's run
-- is known to have started at 04:00 instead (an end-only run whose start a
-- log line gave), folded as ingestion folds it (count_outcomes false).
UPDATE syncopt.sync_run SET started_at = '2026-11-20 04:00+00' WHERE external_run_id = 'c';
SELECT syncopt.absorb_runs(array_agg(run_id), false) IS NOT NULL AS absorbed
  FROM syncopt.sync_run WHERE external_run_id = 'c';
SELECT connector_id, latest_success_started_at, latest_success_finished_at
  FROM syncopt.connector_stats WHERE connector_id = 2;

-- The purge takes the latest success again from the runs left when it
-- removed it: with a retention reaching back to 11-21 00:00, connector 1
-- keeps run b (started 11-21 04:00), connector 2 has no success left, and
-- connector 3's runs (11-19, 11-20) are gone too.
SELECT syncopt.purge_history(now() - timestamptz '2026-11-21 00:00+00') > 0 AS purged;
SELECT connector_id, latest_success_started_at, latest_success_finished_at
  FROM syncopt.connector_stats ORDER BY connector_id;

DROP EXTENSION syncopt;
