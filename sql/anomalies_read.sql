-- How anomalies() reads its training window: from the history's
-- (connector_id, started_at DESC) index, across weekly partitions, every
-- connector's window, skipping those that did not run since `since`, with
-- the duration taken from the two times.  The output below was made by
-- the build before the read changed (0.2.0 development at bde7e03, which
-- read the window by a semi-join on the runs since `since` and took the
-- duration through extract(epoch ...)), and the file gives the same
-- output there.  Edge's rows, added when the window came to be read
-- connector by connector with its start as an index condition (0.2.0
-- development after 09c5ba2), are computed by hand below, and the build
-- before that change gives them too.
--
-- `since` is Thursday 12:00 UTC of the current week and every run is
-- placed relative to it, so that the weekdays, the weeks the runs fall in
-- and so the output do not depend on the day the test runs.  One
-- transaction, so that now() is one instant for every step.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
BEGIN;
SELECT date_trunc('week', now()) + interval '3 days 12 hours' AS since \gset
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (1, 1, 'spike', 'Spike'), (2, 1, 'idle', 'Idle'), (3, 1, 'running', 'Running'),
    (4, 1, 'credits', 'Credits'), (5, 1, 'unknown', 'Unknown duration'), (6, 1, 'edge', 'Edge');
-- Every connector: a succeeded run a day for the 16 days before `since`,
-- the 2 oldest outside the 14-day training window (durations 100 times
-- the others', which would move the median if they were read), durations
-- of 600 s plus 0, 10 or 20 s and a fraction of a second whose decimal
-- form is long (so that a duration computed another way than through
-- numeric would show), 1000 rows plus 0, 10 or 20, 1.5 credits.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                              credits, source)
SELECT c, 'h' || k, s, s + make_interval(secs => d), 'succeeded', 1000 + 10 * (k % 3), 1.5, 'api'
  FROM generate_series(1, 5) c, generate_series(1, 16) k,
       LATERAL (SELECT :'since'::timestamptz - make_interval(days => k) AS s,
                       (600 + 10 * (k % 3) + 0.123457 * (c + k % 5)) * CASE WHEN k > 14 THEN 100 ELSE 1 END AS d) x;
-- Idle's last run, the day before `since`, is 10 times as long: it is
-- training, not judged, and Idle did not run since `since`.
UPDATE syncopt.sync_run SET finished_at = started_at + interval '6000.654321 s'
 WHERE connector_id = 2 AND external_run_id = 'h1';
-- What each connector did since `since`: Spike 8 runs an hour apart about
-- 5 times as long as usual, each with its own fraction of a second;
-- Running only a run still running (started 2 hours after `since`, 10
-- times as long so far); Credits a failed run that cost 20 times as much;
-- Unknown a succeeded run whose start is not known (duration_known
-- false) and that would be 10 times as long.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                              credits, source)
SELECT 1, 'now' || k, s, s + make_interval(secs => 3000 + k * 0.987654321), 'succeeded', 1010, 1.5, 'api'
  FROM generate_series(1, 8) k,
       LATERAL (SELECT :'since'::timestamptz + make_interval(hours => k) AS s) x;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                              credits, duration_known, source)
VALUES (3, 'now', :'since'::timestamptz + interval '2 hours', NULL, 'running', NULL, NULL, true, 'api'),
       (4, 'now', :'since'::timestamptz + interval '6 hours',
        :'since'::timestamptz + interval '6 hours 60 s', 'failed', NULL, 30, true, 'api'),
       (5, 'now', :'since'::timestamptz + interval '6 hours',
        :'since'::timestamptz + interval '6 hours 6000 s', 'succeeded', 1010, 1.5, false, 'api');
-- Edge, at the training window's start: a run exactly 14 days before
-- `since` (inside: the window is [since - 14 days, since)), one a second
-- earlier (outside), six a day apart in the last six days, all 600 s,
-- 1000 rows and 1 credit; then a run an hour after `since` that cost 20
-- credits.  By hand: only one training run is a Thursday, so the credits
-- are judged against all 7 in the window (anomaly_min_training is 7: the
-- edge run is needed, and the run a second older must not be counted,
-- which would make them 8).  The 7 agree, so the MAD is 0 and the spread
-- its floor, 0.2 on the log scale: z = (ln 21 - ln 2) / 0.2 = 11.757,
-- expected expm1(ln 2) = 1 credit, 20.00x.  Its rows and duration equal
-- the training's; its lag (25 h) is not judged (6 training lags: the
-- edge run's has no earlier success in the window).
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                              credits, source)
SELECT 6, e, s, s + interval '600 s', 'succeeded', 1000, cr, 'api'
  FROM (VALUES ('edge', :'since'::timestamptz - interval '14 days', 1),
               ('outside', :'since'::timestamptz - interval '14 days 1 second', 1),
               ('now', :'since'::timestamptz + interval '1 hour', 20)) v(e, s, cr)
UNION ALL
SELECT 6, 'd' || k, s, s + interval '600 s', 'succeeded', 1000, 1, 'api'
  FROM generate_series(1, 6) k, LATERAL (SELECT :'since'::timestamptz - make_interval(days => k) AS s) x;
-- Weeks around now: the window spans three weekly partitions.
SELECT syncopt.maintain_run_partitions('28 days') IS NOT NULL AS maintained;
SELECT count(DISTINCT tableoid) AS window_partitions FROM syncopt.sync_run
 WHERE started_at >= :'since'::timestamptz - interval '14 days';
-- Spike's durations (about 5x), Credits' and Edge's credits (20x) are
-- flagged; Idle, Running and Unknown have nothing: Unknown's lag is about
-- its usual day and its duration is not judged.
SELECT a.connector_id, r.external_run_id, a.metric, a.observed, round(a.expected::numeric, 3) AS expected,
       round(a.score::numeric, 1) AS score, a.direction, a.reason
  FROM syncopt.anomalies(:'since') a JOIN syncopt.sync_run r USING (run_id)
 ORDER BY a.connector_id, r.started_at, a.metric;
-- Edge's score to the third decimal: 11.757 by hand.
SELECT round(a.score::numeric, 3) AS edge_score FROM syncopt.anomalies(:'since') a WHERE a.connector_id = 6;
-- Each observed duration is the one extract(epoch ...) gives, to the
-- last bit.
SELECT count(*) AS durations,
       count(*) FILTER (WHERE a.observed = extract(epoch FROM r.finished_at - r.started_at)::float8) AS as_extract
  FROM syncopt.anomalies(:'since') a JOIN syncopt.sync_run r USING (run_id)
 WHERE a.metric = 'duration';
ROLLBACK;
DROP EXTENSION syncopt;
