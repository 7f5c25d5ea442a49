-- cost_by_connector reads the per-connector daily rollup sync_run_daily
-- (kept by sync_run's triggers) plus the raw runs of the cutoff's partial
-- UTC day (issue 34).  At every step below its rows are compared, as text
-- (so a numeric's scale counts), with the definition it replaced computed
-- inline over the raw runs, and every rollup day with the day summed again
-- from sync_run.  Times are placed relative to the cutoff now() - 7 days
-- and to the first UTC midnight after it, so nothing depends on the hour
-- or weekday the test runs at.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';

-- The view as main (69f0907) defined it: the week's raw runs.
CREATE VIEW public.cost_old AS
SELECT r.connector_id, coalesce(c.name, c.external_id) AS connector, c.destination_id,
       r.syncs, r.failed_syncs, round((r.secs / 3600)::numeric, 2) AS sync_hours, r.reported_credits,
       round((100 * r.secs / nullif(sum(r.secs) OVER (), 0))::numeric, 2) AS share_of_sync_time_pct,
       r.rows
  FROM (SELECT r.connector_id, count(*) AS syncs, count(*) FILTER (WHERE r.status = 'failed') AS failed_syncs,
               sum(date_part('epoch', r.finished_at - r.started_at)) AS secs,
               sum(r.credits) FILTER (WHERE r.credits IS NOT NULL) AS reported_credits, sum(r.rows) AS rows
          FROM syncopt.sync_run r
         WHERE r.started_at >= (SELECT now() - interval '7 days') AND r.finished_at IS NOT NULL AND r.duration_known
         GROUP BY r.connector_id) r
  JOIN syncopt.connector c ON c.connector_id = r.connector_id;
-- Every day summed afresh from sync_run (the interval's epoch here, the
-- trigger subtracts the two epochs).
CREATE VIEW public.daily_fresh AS
SELECT (r.started_at AT TIME ZONE 'UTC')::date AS day, r.connector_id, count(*) AS syncs,
       count(*) FILTER (WHERE r.status = 'failed') AS failed_syncs,
       sum(extract(epoch FROM r.finished_at - r.started_at)) AS seconds, sum(r.credits) AS credits, sum(r.rows) AS rows
  FROM syncopt.sync_run r
 WHERE r.finished_at IS NOT NULL AND r.duration_known
 GROUP BY 1, 2;
-- connectors: rows of the view; same_as_old: the same rows as text as the
-- old definition; days: rows of the rollup; days_exact: each as summed afresh.
CREATE FUNCTION public.cost_check(OUT connectors bigint, OUT same_as_old boolean, OUT days bigint,
                                  OUT days_exact boolean)
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM syncopt.cost_by_connector),
           NOT EXISTS (SELECT v::text FROM public.cost_old v EXCEPT ALL SELECT v::text FROM syncopt.cost_by_connector v)
       AND NOT EXISTS (SELECT v::text FROM syncopt.cost_by_connector v EXCEPT ALL SELECT v::text FROM public.cost_old v),
           (SELECT count(*) FROM syncopt.sync_run_daily),
           NOT EXISTS (SELECT d::text FROM syncopt.sync_run_daily d EXCEPT ALL SELECT f::text FROM public.daily_fresh f)
       AND NOT EXISTS (SELECT f::text FROM public.daily_fresh f EXCEPT ALL SELECT d::text FROM syncopt.sync_run_daily d)
$$;

-- The columns and types dashboards read are the old definition's.
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       (SELECT format_type(o.atttypid, o.atttypmod) FROM pg_attribute o
         WHERE o.attrelid = 'public.cost_old'::regclass AND o.attnum = a.attnum AND o.attname = a.attname)
           = format_type(a.atttypid, a.atttypmod) AS as_before
  FROM pg_attribute a WHERE a.attrelid = 'syncopt.cost_by_connector'::regclass AND a.attnum > 0 ORDER BY a.attnum;

INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com'), (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (1, 1, 'steady', 'steady'), (2, 1, 'edges', 'edges'), (3, 1, 'late', 'late'), (4, 1, 'moving', 'moving'),
    (5, 1, 'bare', 'bare'), (6, 1, 'failing', 'failing'), (7, 1, 'old', 'old');
SELECT setval(pg_get_serial_sequence('syncopt.connector', 'connector_id'), 100) AS next_connectors_after;

-- One transaction, so that now() (and the cutoff) is one instant for every step.
BEGIN;
SELECT now() - interval '7 days' AS cut,
       (((now() - interval '7 days') AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC' AS edge
\gset
-- steady: three runs on whole days after the cutoff's: 10 + 20 + 30 min,
-- one failed, credits 1.5 and 0.25 (one run none), rows 100 and 50.
-- edges: a run 1 us before the cutoff (out), one at the cutoff, one 1 us
-- before the first midnight after it and running past it, one at that
-- midnight, one starting tomorrow: 6 + 12 + 18 + 24 min, rows 10..40.
-- late: a run still running and one seen only by its end (not counted).
-- moving: a run two days before the cutoff (out).  bare: no credits, no
-- rows, 30 + 30 min.  failing: two failures of 15 min.  old: before the
-- cutoff only.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, credits,
                              duration_known, source)
SELECT x.c, x.id, x.s, x.s + x.d, x.st, x.rows, x.credits, x.known, 'api'
  FROM (VALUES
    (1, 's1', :'edge'::timestamptz + interval '1 day 1 hour', interval '10 minutes', 'succeeded', 100, 1.5, true),
    (1, 's2', :'edge'::timestamptz + interval '2 days', interval '20 minutes', 'failed', NULL, 0.25, true),
    (1, 's3', :'edge'::timestamptz + interval '3 days', interval '30 minutes', 'succeeded', 50, NULL, true),
    (2, 'before', :'cut'::timestamptz - interval '1 microsecond', interval '60 minutes', 'succeeded', 1, NULL, true),
    (2, 'at_cut', :'cut'::timestamptz, interval '6 minutes', 'succeeded', 10, NULL, true),
    (2, 'over_midnight', :'edge'::timestamptz - interval '1 microsecond', interval '12 minutes', 'succeeded', 20, NULL, true),
    (2, 'at_midnight', :'edge'::timestamptz, interval '18 minutes', 'succeeded', 30, NULL, true),
    (2, 'tomorrow', now() + interval '1 day', interval '24 minutes', 'succeeded', 40, NULL, true),
    (4, 'm', :'cut'::timestamptz - interval '2 days', interval '36 minutes', 'succeeded', 5, NULL, true),
    (5, 'b1', :'edge'::timestamptz + interval '4 days', interval '30 minutes', 'succeeded', NULL, NULL, true),
    (5, 'b2', :'edge'::timestamptz + interval '5 days', interval '30 minutes', 'succeeded', NULL, NULL, true),
    (6, 'f1', :'edge'::timestamptz + interval '1 day', interval '15 minutes', 'failed', 0, NULL, true),
    (6, 'f2', :'edge'::timestamptz + interval '1 day 1 hour', interval '15 minutes', 'failed', 0, NULL, true),
    (7, 'o1', :'cut'::timestamptz - interval '3 days', interval '5 minutes', 'succeeded', 1, 9, true),
    (3, 'ended', :'edge'::timestamptz + interval '4 days 2 hours', interval '0', 'succeeded', 7, NULL, false)
  ) AS x(c, id, s, d, st, rows, credits, known);
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, status, source)
VALUES (3, 'running', :'edge'::timestamptz + interval '4 days', 'running', 'api');
SELECT * FROM public.cost_check();
-- steady 3 syncs, 1 failed, 1.00 h, credits 1.75, rows 150; edges 4 syncs,
-- 1.00 h (6 + 12 + 18 + 24 min), rows 100; bare 1.00 h, no credits, no
-- rows; failing 2 failed, 0.50 h.  Total 3.5 h: shares 28.57 (1/3.5) and
-- 14.29 (0.5/3.5).
SELECT connector, syncs, failed_syncs, sync_hours, reported_credits, share_of_sync_time_pct, rows
  FROM syncopt.cost_by_connector ORDER BY connector_id;

-- Runs finish later, and one seen by its end gets its start (as the
-- Airbyte pages and the webhooks do): late now has 45 + 30 min = 1.25 h
-- of 4.75 h (26.32%; the 1.00 h ones 21.05%, failing 10.53%).
UPDATE syncopt.sync_run SET status = 'succeeded', finished_at = started_at + interval '45 minutes'
 WHERE connector_id = 3 AND external_run_id = 'running';
SELECT * FROM public.cost_check();
UPDATE syncopt.sync_run SET started_at = finished_at - interval '30 minutes', duration_known = true
 WHERE connector_id = 3 AND external_run_id = 'ended';
SELECT * FROM public.cost_check();
SELECT connector, syncs, failed_syncs, sync_hours, share_of_sync_time_pct
  FROM syncopt.cost_by_connector ORDER BY connector_id;

-- Credits change after the run is counted.  steady's 1.5 becomes 1.125
-- (1.375 in all), then unknown: 0.25 is left, with the scale of the runs
-- reported, not 0.250 (taking 1.125 back out of a kept sum would leave it).
UPDATE syncopt.sync_run SET credits = 1.125 WHERE connector_id = 1 AND external_run_id = 's1';
SELECT * FROM public.cost_check();
SELECT reported_credits FROM syncopt.cost_by_connector WHERE connector = 'steady';
UPDATE syncopt.sync_run SET credits = NULL WHERE connector_id = 1 AND external_run_id = 's1';
SELECT * FROM public.cost_check();
SELECT reported_credits FROM syncopt.cost_by_connector WHERE connector = 'steady';
-- A success turns out failed, and its rows are corrected.
UPDATE syncopt.sync_run SET status = 'failed', rows = 0 WHERE connector_id = 1 AND external_run_id = 's3';
SELECT * FROM public.cost_check();

-- moving's run moves into the window (two days after the first midnight),
-- then to the cutoff's own day; then a run is deleted.
UPDATE syncopt.sync_run SET started_at = :'edge'::timestamptz + interval '2 days 3 hours',
                            finished_at = :'edge'::timestamptz + interval '2 days 3 hours 36 minutes'
 WHERE connector_id = 4;
SELECT * FROM public.cost_check();
UPDATE syncopt.sync_run SET started_at = :'cut'::timestamptz + interval '1 microsecond',
                            finished_at = :'cut'::timestamptz + interval '36 minutes'
 WHERE connector_id = 4;
SELECT * FROM public.cost_check();
DELETE FROM syncopt.sync_run WHERE connector_id = 2 AND external_run_id = 'at_midnight';
SELECT * FROM public.cost_check();

-- The session's time zone changes nothing: days are UTC days, whatever the
-- zone of the session that wrote or reads them (India is 5:30 ahead,
-- Chatham 13:45, Honolulu 10:00 behind).
SET LOCAL timezone = 'Asia/Kolkata';
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (5, 'kolkata', :'edge'::timestamptz + interval '2 days' - interval '1 microsecond',
        :'edge'::timestamptz + interval '2 days 40 minutes', 'succeeded', 'api');
SELECT * FROM public.cost_check();
SET LOCAL timezone = 'Pacific/Chatham';
UPDATE syncopt.sync_run SET finished_at = finished_at + interval '1 minute' WHERE external_run_id = 'kolkata';
SELECT * FROM public.cost_check();
SET LOCAL timezone = 'Pacific/Honolulu';
SELECT * FROM public.cost_check();
SELECT min(day) = (:'cut'::timestamptz AT TIME ZONE 'UTC')::date - 3 AS first_day_utc FROM syncopt.sync_run_daily;
RESET timezone;

-- An Airbyte jobs page whose fold waits in stats_backlog (the collector's
-- crawl folds at its end): the view has the run at once.  The job runs,
-- then ends 50 minutes after it started.
SELECT syncopt.ingest_airbyte_connections(2, '{"data": [{"connectionId": "ab1", "name": "ab1", "sourceId": "s", "destinationId": "d", "workspaceId": "w", "status": "active", "schedule": {"scheduleType": "manual"}}]}') AS connections;
SELECT to_char((:'edge'::timestamptz + interval '3 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS job_start,
       to_char((:'edge'::timestamptz + interval '3 days 50 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS job_end
\gset
SELECT syncopt.ingest_airbyte_jobs(2, format('{"data": [{"jobId": 77, "status": "running", "jobType": "sync", "startTime": "%s", "connectionId": "ab1"}]}', :'job_start')::jsonb, false) AS runs;
SELECT * FROM public.cost_check();
SELECT syncopt.ingest_airbyte_jobs(2, format('{"data": [{"jobId": 77, "status": "succeeded", "jobType": "sync", "startTime": "%s", "connectionId": "ab1", "lastUpdatedAt": "%s", "duration": "PT50M", "rowsSynced": 500}]}', :'job_start', :'job_end')::jsonb, false) AS runs;
SELECT count(*) > 0 AS fold_waiting FROM syncopt.stats_backlog;
SELECT * FROM public.cost_check();
SELECT syncopt.fold_stats_backlog() > 0 AS folded;
SELECT c.connector, c.syncs, c.sync_hours, c.rows FROM syncopt.cost_by_connector c WHERE c.connector = 'ab1';

-- Weeks made: the runs move out of the default partition without a
-- trigger (the rollup keeps them); a run then moves between weeks.
SELECT syncopt.maintain_run_partitions('20 days') AS dropped;
SELECT count(*) > 2 AS weeks FROM pg_inherits WHERE inhparent = 'syncopt.sync_run'::regclass;
SELECT * FROM public.cost_check();
UPDATE syncopt.sync_run SET started_at = started_at + interval '8 days', finished_at = finished_at + interval '8 days'
 WHERE connector_id = 7;
SELECT * FROM public.cost_check();

-- The purge.  old gets runs 200, 30, 26 and 12 days back.  The weeks of
-- the last 30 days are made (the week holding the day 30 days back ends
-- at least 23 days back, the one of 26 days at least 19):
-- purge_history('15 days') drops both with their days, and deletes the
-- 200-day-old run, in the default partition, in its batch.  No day before
-- the retention's UTC day is left, and the others are exact.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, credits, source)
SELECT 7, 'p' || d, now() - make_interval(days => d), now() - make_interval(days => d) + interval '7 minutes',
       'succeeded', 0.5, 'api'
  FROM unnest(ARRAY[200, 30, 26, 12]) d;
SELECT syncopt.maintain_run_partitions('30 days') AS dropped;
SELECT count(*) AS runs_in_default FROM syncopt.sync_run_default WHERE connector_id = 7;
SELECT count(*) AS days_before_retention FROM syncopt.sync_run_daily
 WHERE day < ((now() - interval '15 days') AT TIME ZONE 'UTC')::date;
-- 3 runs go: two with their weeks, one in the batch.
SELECT syncopt.purge_history('15 days', 100000) AS purged;
SELECT count(*) AS runs_before_retention FROM syncopt.sync_run WHERE started_at < now() - interval '15 days';
SELECT count(*) AS days_before_retention FROM syncopt.sync_run_daily
 WHERE day < ((now() - interval '15 days') AT TIME ZONE 'UTC')::date;
SELECT * FROM public.cost_check();

-- A connector deleted takes its runs and days; a TRUNCATE empties the rollup.
DELETE FROM syncopt.connector WHERE connector_id = 6;
SELECT * FROM public.cost_check();
SELECT count(*) AS failing_days FROM syncopt.sync_run_daily WHERE connector_id = 6;
TRUNCATE syncopt.sync_run;
SELECT * FROM public.cost_check();
ROLLBACK;

-- Floating point.  The old view summed each run's double precision seconds
-- in scan order, so the same runs could give two roundings; the rollup
-- sums exactly and rounds once.  17 runs, 16 of 2116.588285 s and one of
-- 2116.587440 s, are exactly 35982 s, 9.995 h: summed first to last the
-- doubles give 35981.999999999985 (10.00 h), last to first
-- 35981.99999999998 (9.99 h); the view gives the exact sum's 10.00.
BEGIN;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
SELECT 1, 'fp' || k, now() - make_interval(hours => 2 * k),
       now() - make_interval(hours => 2 * k) + make_interval(secs => CASE WHEN k = 17 THEN 2116.587440 ELSE 2116.588285 END),
       'succeeded', 'api'
  FROM generate_series(1, 17) k;
SELECT round((sum(date_part('epoch', finished_at - started_at) ORDER BY (external_run_id = 'fp17')) / 3600)::numeric, 2)
           AS old_sum_one_order,
       round((sum(date_part('epoch', finished_at - started_at) ORDER BY (external_run_id = 'fp17') DESC) / 3600)::numeric, 2)
           AS old_sum_other_order,
       sum(extract(epoch FROM finished_at - started_at)) AS exact_seconds
  FROM syncopt.sync_run WHERE connector_id = 1;
SELECT syncs, sync_hours FROM syncopt.cost_by_connector WHERE connector_id = 1;
ROLLBACK;

-- Readers read the view, so they read the rollup; they do not write it.
CREATE ROLE cost_reader LOGIN IN ROLE syncopt_reader;
SET SESSION AUTHORIZATION cost_reader;
SELECT count(*) AS readable FROM syncopt.cost_by_connector;
INSERT INTO syncopt.sync_run_daily (day, connector_id, syncs, failed_syncs, seconds) VALUES ('2026-01-01', 1, 1, 0, 1);
RESET SESSION AUTHORIZATION;
DROP ROLE cost_reader;

DROP FUNCTION public.cost_check();
DROP VIEW public.cost_old, public.daily_fresh;
DROP EXTENSION syncopt;
