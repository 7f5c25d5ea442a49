-- batch_recommendations() reads each Airbyte connector's last 12 finished
-- runs from connector_last_runs, which the fold keeps (src/absorb.c), and
-- reads sync_run only when the kept runs do not answer for the instant:
-- the newest of 12 kept started after it, runs wait in stats_backlog, or
-- the purge took one of them (src/batch.c, issue 34).  Expected values are
-- worked out by hand below.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
SELECT i, 1, 'c' || i, 'c' || i FROM generate_series(1, 4) i;

-- Connector 1: 14 runs an hour apart from 2026-11-20 00:00, 10 minutes
-- each, batch 1000, 2 streams, 60,000 rows (100 rows/s); run 13 (12:00)
-- was rescheduled, run 3 (02:00) failed with a rate limit; a 15th run
-- (14:00) is still running.  Folded as ingestion folds them.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                                  batch_size, parallelism, error_message, source)
    SELECT 1, 'r' || n, '2026-11-20 00:00+00'::timestamptz + (n - 1) * interval '1 hour',
           CASE WHEN n < 15 THEN '2026-11-20 00:10+00'::timestamptz + (n - 1) * interval '1 hour' END,
           CASE n WHEN 13 THEN 'rescheduled' WHEN 3 THEN 'failed' WHEN 15 THEN 'running' ELSE 'succeeded' END,
           60000, 1000, 2, CASE WHEN n = 3 THEN 'HTTP 429: rate limit exceeded' END, 'api'
      FROM generate_series(1, 15) n
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id)) IS NOT NULL AS absorbed FROM ins;

-- Kept: runs 3 to 14 (the newest 12 finished ones; the running one is
-- not), oldest first; run 3 failed and throttled, run 13 throttled; rows/s
-- 60000 / 600 = 100 for the successes, none for the other two.
SELECT array_length(started_at, 1) AS n, started_at[1] AS oldest, started_at[12] AS newest,
       ok, throttled, batch_size[1] AS batch, parallelism[12] AS streams, rows_per_s
  FROM syncopt.connector_last_runs WHERE connector_id = 1;

-- At 14:30 the kept runs answer (the newest, 13:00, started by then).  The
-- last run (13:00) was clean: batch 1000 + one step (a tenth of the
-- median batch, 100) = 1100; one clean run since the throttled one, so no
-- stream added.  Throughput: the 10 successes among the 12 (runs 4 to 12
-- and 14), all 100 rows/s; no curve (one batch size); confidence
-- 10 / (10 + 5) = 0.667.
SELECT connector_id, recommended_batch_size, recommended_parallelism, expected_rows_per_s,
       confidence, reason
  FROM syncopt.batch_recommendations('2026-11-20 14:30+00') WHERE connector_id = 1;

-- At 12:30 the newest kept run (13:00) had not started and 12 are kept:
-- runs 2 to 13 are read from sync_run.  The last (12:00) was throttled:
-- batch floor(1000 x 0.9) = 900, streams floor(2 x 0.9) = 1; throughput
-- from the 10 successes among them (runs 2 and 4 to 12): 10 / 15.
SELECT connector_id, recommended_batch_size, recommended_parallelism, confidence, reason
  FROM syncopt.batch_recommendations('2026-11-20 12:30+00') WHERE connector_id = 1;

-- Connector 1 as 0.2.0's update leaves it (h-tidy): no kept row, and
-- queued in stats_backlog as an element without a status.  Meanwhile
-- batch_recommendations() reads its runs from sync_run: at 14:30 runs 3
-- to 14 again, the same answer as above (1100, 2 streams, 10 / 15).  The
-- fold then folds no run (0 counted, connector_stats' 14 runs unchanged)
-- and keeps runs 3 to 14 as the first fold did.
CREATE TEMP TABLE kept_before AS SELECT * FROM syncopt.connector_last_runs WHERE connector_id = 1;
DELETE FROM syncopt.connector_last_runs WHERE connector_id = 1;
INSERT INTO syncopt.stats_backlog (run_id, connector_id, status, started_at, finished_at, rows, full_sync,
                                   duration_known)
VALUES ('{NULL}', '{1}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}');
SELECT connector_id, recommended_batch_size, recommended_parallelism, confidence
  FROM syncopt.batch_recommendations('2026-11-20 14:30+00') WHERE connector_id = 1;
SELECT syncopt.fold_stats_backlog() AS runs_folded;
SELECT (SELECT runs FROM syncopt.connector_stats WHERE connector_id = 1) AS runs,
       (SELECT count(*) FROM syncopt.stats_backlog) AS waiting;
SELECT (SELECT k FROM kept_before k) IS NOT DISTINCT FROM (SELECT k FROM syncopt.connector_last_runs k WHERE connector_id = 1)
       AS kept_as_before,
       (SELECT array_length(started_at, 1) FROM syncopt.connector_last_runs WHERE connector_id = 1) AS n;
SELECT connector_id, recommended_batch_size, recommended_parallelism, confidence
  FROM syncopt.batch_recommendations('2026-11-20 14:30+00') WHERE connector_id = 1;

-- Connector 2: fewer than 12 runs, folded out of order (the run of 10:00
-- first, then the one of 09:00, found late): kept oldest first.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                                  batch_size, parallelism, source)
    VALUES (2, 'b', '2026-11-20 10:00+00', '2026-11-20 10:10+00', 'failed', NULL, 500, 1, 'api')
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id)) IS NOT NULL AS absorbed FROM ins;
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                                  batch_size, parallelism, source)
    VALUES (2, 'a', '2026-11-20 09:00+00', '2026-11-20 09:10+00', 'succeeded', 30000, 500, 1, 'api')
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id)) IS NOT NULL AS absorbed FROM ins;
SELECT started_at, ok, batch_size, rows_per_s FROM syncopt.connector_last_runs WHERE connector_id = 2;
-- Fewer than 12 kept: they answer for any instant, those started after it
-- left out.  At 09:30 only the clean run of 09:00 counts: batch 500 + 50.
-- At 10:30 the last run (10:00) failed for a reason load does not
-- explain: batch held at 500.
SELECT connector_id, recommended_batch_size, reason
  FROM syncopt.batch_recommendations('2026-11-20 09:30+00') WHERE connector_id = 2;
SELECT connector_id, recommended_batch_size, reason
  FROM syncopt.batch_recommendations('2026-11-20 10:30+00') WHERE connector_id = 2;

-- Connector 5, of a Fivetran account: its runs are folded, none kept
-- (batch_recommendations() reads no Fivetran runs).
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (2, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (5, 2, 'f5', 'f5');
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
    VALUES (5, 'a', '2026-11-20 09:00+00', '2026-11-20 09:10+00', 'succeeded', 30000, 'api')
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id)) IS NOT NULL AS absorbed FROM ins;
SELECT (SELECT runs FROM syncopt.connector_stats WHERE connector_id = 5) AS folded,
       (SELECT count(*) FROM syncopt.connector_last_runs WHERE connector_id = 5) AS kept;

-- Connector 3: a clean run folded, then a throttled one left waiting in
-- stats_backlog (as a collector poll leaves it until its end).  Its kept
-- runs are not read: sync_run has the throttled one, and batch backs off
-- to floor(800 x 0.9) = 720.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                                  batch_size, parallelism, source)
    VALUES (3, 'a', '2026-11-20 09:00+00', '2026-11-20 09:10+00', 'succeeded', 30000, 800, 1, 'api')
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id)) IS NOT NULL AS absorbed FROM ins;
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                                  batch_size, parallelism, source)
    VALUES (3, 'b', '2026-11-20 10:00+00', '2026-11-20 10:10+00', 'rescheduled', NULL, 800, 1, 'api')
    RETURNING run_id, connector_id, status, started_at, finished_at, rows, full_sync, duration_known)
INSERT INTO syncopt.stats_backlog (run_id, connector_id, status, started_at, finished_at, rows, full_sync,
                                   duration_known)
SELECT array_agg(run_id), array_agg(connector_id), array_agg(status), array_agg(started_at),
       array_agg(finished_at), array_agg(rows), array_agg(full_sync), array_agg(duration_known) FROM ins;
SELECT connector_id, recommended_batch_size, reason
  FROM syncopt.batch_recommendations('2026-11-20 10:30+00') WHERE connector_id = 3;

-- Which copy answers: connector 1's kept newest run marked throttled by
-- hand.  At 14:30 the kept runs answer, so batch backs off to 900; at
-- 12:30 sync_run answers, as before (900, 1 stream, from run 13).
UPDATE syncopt.connector_last_runs SET throttled[12] = true WHERE connector_id = 1;
SELECT connector_id, recommended_batch_size, recommended_parallelism
  FROM syncopt.batch_recommendations('2026-11-20 14:30+00') WHERE connector_id = 1;
SELECT connector_id, recommended_batch_size, recommended_parallelism
  FROM syncopt.batch_recommendations('2026-11-20 12:30+00') WHERE connector_id = 1;

-- Kept arrays of different lengths are refused with a clear error.
UPDATE syncopt.connector_last_runs SET ok = ok[1:11] WHERE connector_id = 1;
SELECT count(*) FROM syncopt.batch_recommendations('2026-11-20 14:30+00');

-- Connector 4: runs of 2020, before any retention cutoff.  The purge
-- takes them and the kept copy with them: no finished run is left.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                                  batch_size, parallelism, source)
    VALUES (4, 'a', '2020-01-01 09:00+00', '2020-01-01 09:10+00', 'succeeded', 30000, 800, 1, 'api')
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id)) IS NOT NULL AS absorbed FROM ins;
SELECT count(*) AS kept_before FROM syncopt.connector_last_runs WHERE connector_id = 4;
SELECT syncopt.purge_history('1 day') > 0 AS purged;
SELECT count(*) AS kept_after FROM syncopt.connector_last_runs WHERE connector_id = 4;
SELECT connector_id, recommended_batch_size, reason
  FROM syncopt.batch_recommendations('2020-01-02 00:00+00') WHERE connector_id = 4;

DROP EXTENSION syncopt;
