-- Prediction models, batch advice, anomalies, failure classification and
-- schema drift on fixtures whose answers are worked out by hand.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com'), (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');

------------------------------------------------------------------------
-- 1. Log-linear prediction.  12 daily runs at 00:00 UTC whose duration is
-- exactly 2 x sqrt(1 + rows) seconds (rows 99, 399, 899, 1599 -> 20, 40,
-- 60, 80 s): the fit gives b = 0.5 and zero residuals, so
-- P50 = 2 x sqrt(1 + predicted rows), with predicted rows the EWMA of rows
-- (alpha 0.3) that connector_stats keeps (958.24).  P90 comes from the
-- forecast errors as if each run's rows had been the expected ones:
-- 0.5 (log(1 + rows) - log(959.24)), three each of -1.1305, -0.4373,
-- -0.0319, +0.2558 (centre -0.3360, sd 0.5438 over 11 degrees of freedom);
-- fewer than 20 runs, so a normal quantile, 1.2816 sd, widened by
-- sqrt(12 / (12 - 4.3) x (1 + 0.3 / 1.7)) = 1.3541, where 4.3 = 1 (mean)
-- + the shrunk weekday effects 2 x 1/4 + 5 x 2/5 + the one hour bucket
-- 12/15: P90 / P50 = e^(-0.3360 + 1.3541 x 1.2816 x 0.5438) = e^0.6076
-- = 1.8361.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (1, 1, 'fit', 'Fit');
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
    SELECT 1, 'f' || k, s, s + make_interval(secs => 2 * sqrt(1 + r)), 'succeeded', r, 'api'
      FROM generate_series(1, 12) k,
           LATERAL (SELECT (ARRAY[99, 399, 899, 1599])[1 + (k - 1) % 4] AS r,
                           timestamptz '2026-11-10 00:00+00' + make_interval(days => k) AS s) x
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id), true) FROM ins;
-- The EWMA by its definition, independently: level_k = 0.3 x_k + 0.7 level_(k-1).
WITH RECURSIVE xs AS (
    SELECT k, (ARRAY[99, 399, 899, 1599])[1 + (k - 1) % 4]::float8 AS x FROM generate_series(1, 12) k),
ewma(k, v) AS (SELECT 1, x FROM xs WHERE k = 1
               UNION ALL SELECT xs.k, 0.3 * xs.x + 0.7 * ewma.v FROM ewma JOIN xs ON xs.k = ewma.k + 1)
SELECT round(v::numeric, 6) = round(s.ewma_rows::numeric, 6) AS ewma_matches,
       round(2 * sqrt(1 + v)::numeric, 3) AS expected_p50_s
  FROM ewma, syncopt.connector_stats s WHERE ewma.k = 12 AND s.connector_id = 1;
SELECT method, samples, round(extract(epoch FROM p50)::numeric, 3) AS p50_s,
       round((extract(epoch FROM p90) / extract(epoch FROM p50))::numeric, 4) AS p90_ratio,
       predicted_rows, reason LIKE 'log-linear fit on 12 runs: duration grows as rows^0.50%' AS says_fit
  FROM syncopt.predict_duration('2026-11-23 01:00+00');
-- Full re-syncs are learned separately: two full runs taking 10x as long
-- (residual log 10 = 2.303, shrunk by 2/(2+3)) leave the incremental P50
-- where it was and report the full-sync duration, e^(0.4 x 2.303) = 2.51x.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, full_sync, source)
    SELECT 1, 'full' || k, s, s + make_interval(secs => 20 * sqrt(1 + 899)), 'succeeded', 899, true, 'api'
      FROM generate_series(1, 2) k,
           LATERAL (SELECT timestamptz '2026-11-22 12:00+00' + make_interval(hours => k) AS s) x
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id), true) FROM ins;
SELECT method, samples, reason LIKE '%a full re-sync takes about%' AS knows_full
  FROM syncopt.predict_duration('2026-11-23 01:00+00');
DELETE FROM syncopt.connector;

------------------------------------------------------------------------
-- 2. Batch advice.
-- Airbyte "curve": five clean runs of 600,000 rows at batch sizes 1000,
-- 2000, 8000, 2000, 4000 with throughput 1000 x exp(-ln(b/4000)^2) rows/s
-- (146.3, 618.5, 618.5, 618.5, 1000): a parabola in log space peaking at
-- 4000.  AIMD would add a step (median batch 2000 / 10 = 200) to 4200,
-- the curve caps it at 4000; five clean runs add a stream (2 -> 3).
-- Airbyte "throttled": last run failed with HTTP 429 at batch 5000 x 4
-- streams: 0.9x -> 4500 and 3, then its policy caps the batch at 4000.
-- Fivetran "ft": no knob; asked to start a tenth of P90 before its latest
-- start, on a quarter hour: due 06:00, P90 30 min -> 05:30 - 3 min ->
-- 05:15.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, batch_size, parallelism) VALUES
    (2, 2, 'curve', 'Curve', 4000, 2), (3, 2, 'throttled', 'Throttled', 5000, 4), (4, 1, 'ft', 'FT', NULL, NULL);
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                              batch_size, parallelism, error_message, source)
SELECT 2, 'c' || k, s, s + make_interval(secs => 600000 / (1000 * exp(-(ln(b / 4000.0) ^ 2)))),
       'succeeded', 600000, b, 2, NULL, 'api'
  FROM unnest(ARRAY[1000, 2000, 8000, 2000, 4000]) WITH ORDINALITY AS u(b, k),
       LATERAL (SELECT timestamptz '2026-11-15 00:00+00' + make_interval(days => k::int) AS s) x
UNION ALL
SELECT 3, 't' || k, s, s + interval '10 min', CASE WHEN k = 3 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN k = 3 THEN NULL ELSE 100000 END, 5000, 4,
       CASE WHEN k = 3 THEN 'HTTP 429 Too Many Requests from source API' END, 'api'
  FROM generate_series(1, 3) k,
       LATERAL (SELECT timestamptz '2026-11-18 00:00+00' + make_interval(days => k) AS s) x
UNION ALL
SELECT 4, 'ft' || k, s, s + interval '20 min', 'succeeded', 1000, NULL, NULL, NULL, 'api'
  FROM generate_series(1, 2) k,
       LATERAL (SELECT timestamptz '2026-11-20 00:00+00' + make_interval(days => k) AS s) x;
SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id), true) FROM syncopt.sync_run;
INSERT INTO syncopt.policy (connector_id, mode, max_batch_size) VALUES (3, 'copilot', 4000);
INSERT INTO syncopt.asset (asset_id, name, deadline) VALUES (1, 'ft_dash', '06:00');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (4, 1);
SELECT connector_id, current_batch_size, recommended_batch_size, current_parallelism, recommended_parallelism,
       round(expected_rows_per_s) AS rows_per_s, recommended_schedule, confidence > 0 AS confident
  FROM syncopt.batch_recommendations('2026-11-23 03:00+00') ORDER BY connector_id;
SELECT connector_id, reason FROM syncopt.batch_recommendations('2026-11-23 03:00+00') ORDER BY connector_id;
-- airbyte_batch_recommendations() (what a planning run reads): the same
-- rows, whole, for the Airbyte connectors (2 and 3), none for the Fivetran
-- one (4).
SELECT a.connector_id, a IS NOT DISTINCT FROM b AS same
  FROM syncopt.airbyte_batch_recommendations('2026-11-23 03:00+00') a
  LEFT JOIN syncopt.batch_recommendations('2026-11-23 03:00+00') b USING (connector_id)
 ORDER BY a.connector_id;
-- A busy source during the next run caps parallelism: load 0.5 halves 3 -> 1.
UPDATE syncopt.connector SET source_key = 'pg' WHERE connector_id = 2;
INSERT INTO syncopt.load_window (name, target, source_key, start_time, end_time, load_factor)
VALUES ('pg nightly vacuum', 'source', 'pg', '02:00', '05:00', 0.5);
SELECT connector_id, recommended_parallelism FROM syncopt.batch_recommendations('2026-11-23 03:00+00')
 WHERE connector_id = 2;
DELETE FROM syncopt.connector;
DELETE FROM syncopt.asset;
DELETE FROM syncopt.load_window;
DELETE FROM syncopt.policy;

------------------------------------------------------------------------
-- 3. Anomalies.  Robust z-scores on the log scale, log(1 + x).  Six
-- connectors, 20 daily runs from 2026-11-03 (k = 1..20), then one run on
-- Monday the 23rd; the 14-day training window holds k = 7..20 (too few of
-- one weekday, so all 14; k = 12, 13, 19, 20 fall on a weekend):
-- durations by k % 3 are 0 -> 4 runs, 1 -> 5, 2 -> 5.  The MAD is
-- corrected for the sample: x 14 / 13.2 x sqrt(14 / (14 - p)) with p the
-- parameters fitted (1: the median; 2 or 3: the rows line, with one level
-- or a weekday and a weekend level); durations are judged with a spread of
-- at least 0.2, a MAD of 0.6745 x 0.2 = 0.13490.
--   steady 5: durations 590/600/610 s (k % 3 = 0/1/2), rows always 1000,
--           then 600 s: nothing.  Rows never varied, so the duration is
--           judged alone: median log(601), MAD log(611) - log(601) =
--           0.016502 (5 zero deviations, then 0.016502 x 5), corrected
--           0.016502 x 1.100642 = 0.018163, below the floor.
--   spiky 6: same history, then 1800 s: z = 0.6745 x (log 1801 - log 601)
--           / 0.13490 = 1.09750 / 0.2 = 5.49, 3.00x the median.  (Without
--           the floor 0.6745 x 1.09750 / 0.018163 = 40.8 for a run three
--           times as long as usual, the same as a 1.6x run would score
--           against a history that happened to agree more closely.)
--   drop 7: durations always 600 s, rows 990/1000/1010, then 400 rows:
--           median log(1001), MAD log(1011) - log(1001) = 0.009940,
--           corrected 0.010940 (no floor for row counts), z = 0.6745 x
--           (log 401 - log 1001) / 0.010940 = -56.40.  Its duration is
--           not judged against rows below any seen (600 s as always).
--   busy 8 and slow 9: rows 1000 x 4^(k % 2) - 1, durations 600 x
--           2^(k % 2) x exp(0.1 (k % 3 - 1)) - 1, so log(1 + duration) =
--           log 600 + 0.5 log(1 + rows / 1000) + 0.1 (k % 3 - 1).  Theil-Sen:
--           of the 49 pairs across the two row counts, slopes 0.5 +
--           0.1 d / log 4 with d = -2 (6), -1 (13), 0 (16), 1 (10), 2 (4):
--           the 25th is d = 0, slope 0.5; residuals 0.1 (k % 3 - 1).
--           Weekend levels: k % 3 = 0, 1, 1, 2 -> median 0; weekday: three
--           -0.1, three 0, four 0.1 -> median 0; MAD 0.1, corrected
--           0.1 x 1.060606 x sqrt(14 / 11) = 0.11965, below the floor.
--           busy: 16,000 rows in 2399 s, 4x its median duration but what
--           4^2 times the rows predicts (600 x 4 - 1): nothing.
--           slow: 4,000 rows in 3599 s where 1199 s is expected: residual
--           log 3, z = 1.0986 / 0.2 = 5.49, 3.00x.
--   weekend 10: rows as busy's, durations (300 on weekends, else 600) x
--           exp(0.1 (k % 3 - 1)) - 1, and one more run on Saturday the
--           28th: 3,999 rows in 1199 s.  Slopes: of the 49, 22 below 0,
--           8 exactly 0 (pairs of one day type with equal k % 3), 19 above:
--           the 25th is 0, so the line is flat.  Weekday level log 600,
--           weekend level log 300 (the same k % 3 as above), MAD 0.1
--           corrected with p = 3 to 0.11965, below the floor.  Monday's
--           run (1000 rows, 600 s) is as expected; Saturday's is 4.01x the
--           299 s expected on a weekend, z = log(1200 / 300) / 0.2 = 6.93.
--           With one level for all days it would be 1199 s against the
--           median of the 14 residuals, (log 542.9 + log 600) / 2 ->
--           569.7 s, 2.1x, and not flagged.  Saturday's freshness lag, 5
--           days since Monday's run where it was always 1 day, has no
--           spread to compare with: the capped score.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (5, 1, 'steady', 'Steady'), (6, 1, 'spiky', 'Spiky'), (7, 1, 'drop', 'Drop'),
    (8, 1, 'busy', 'Busy'), (9, 1, 'slow', 'Slow'), (10, 1, 'weekend', 'Weekend');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT c, 'h' || k, s, s + make_interval(secs => d), 'succeeded', n, 'api'
  FROM generate_series(5, 10) c, generate_series(1, 20) k,
       LATERAL (SELECT timestamptz '2026-11-02 00:00+00' + make_interval(days => k) AS s,
                       CASE WHEN c = 7 THEN 600
                            WHEN c < 7 THEN 590 + 10 * (k % 3)
                            WHEN c = 10 THEN CASE WHEN k IN (12, 13, 19, 20) THEN 300 ELSE 600 END
                                             * exp(0.1 * (k % 3 - 1)) - 1
                            ELSE 600 * 2 ^ (k % 2) * exp(0.1 * (k % 3 - 1)) - 1 END AS d,
                       CASE WHEN c = 7 THEN 990 + 10 * (k % 3)
                            WHEN c < 7 THEN 1000
                            ELSE 1000 * 4 ^ (k % 2) - 1 END AS n) x
UNION ALL
SELECT c, 'today', '2026-11-23 00:00+00',
       timestamptz '2026-11-23 00:00+00' + make_interval(secs => CASE c WHEN 6 THEN 1800 WHEN 8 THEN 2399
                                                                        WHEN 9 THEN 3599 ELSE 600 END),
       'succeeded', CASE c WHEN 7 THEN 400 WHEN 8 THEN 15999 WHEN 9 THEN 3999 ELSE 1000 END, 'api'
  FROM generate_series(5, 10) c
UNION ALL
SELECT 10, 'saturday', '2026-11-28 00:00+00', '2026-11-28 00:19:59+00', 'succeeded', 3999, 'api';
SELECT r.connector_id, a.metric, a.observed, round(a.expected::numeric, 3) AS expected,
       round(a.score::numeric, 1) AS score, a.direction
  FROM syncopt.anomalies('2026-11-23 00:00+00') a JOIN syncopt.sync_run r USING (run_id)
 ORDER BY r.connector_id, a.metric;
SELECT reason FROM syncopt.anomalies('2026-11-23 00:00+00') WHERE metric = 'duration' ORDER BY connector_id;
-- Fewer training runs than syncopt.anomaly_min_training: no judgement.
SET syncopt.anomaly_min_training = 21;
SELECT count(*) AS judged FROM syncopt.anomalies('2026-11-23 00:00+00');
RESET syncopt.anomaly_min_training;
-- The small-change guard: Drop's 1,200 rows, 20% more than usual, are not
-- reported even though their z-score (0.6745 x (log 1201 - log 1001) /
-- 0.010940 = 11.23) is high.
UPDATE syncopt.sync_run SET rows = 1200 WHERE connector_id = 7 AND external_run_id = 'today';
SELECT count(*) AS drop_flags FROM syncopt.anomalies('2026-11-23 00:00+00') WHERE connector_id = 7;
SET syncopt.anomaly_min_change = 0.1;
SELECT metric, round(score::numeric, 1) AS score, direction
  FROM syncopt.anomalies('2026-11-23 00:00+00') WHERE connector_id = 7;
RESET syncopt.anomaly_min_change;
-- The floor on a steady duration: Drop's durations were always 600 s (MAD
-- and mean deviation 0), so the spread is the floor 0.2: 1200 s (2.00x)
-- scores log(1201 / 601) / 0.2 = 3.46 and is not flagged; 1500 s (2.50x)
-- scores log(1501 / 601) / 0.2 = 4.58 and is.
UPDATE syncopt.sync_run SET finished_at = started_at + interval '1200 s'
 WHERE connector_id = 7 AND external_run_id = 'today';
SELECT count(*) AS twice_flags FROM syncopt.anomalies('2026-11-23 00:00+00')
 WHERE connector_id = 7 AND metric = 'duration';
UPDATE syncopt.sync_run SET finished_at = started_at + interval '1500 s'
 WHERE connector_id = 7 AND external_run_id = 'today';
SELECT metric, round(score::numeric, 2) AS score, direction FROM syncopt.anomalies('2026-11-23 00:00+00')
 WHERE connector_id = 7 AND metric = 'duration';
-- A history with no spread in a metric without the floor: Steady's rows
-- were always 1000, so 3,000 rows are infinitely unusual; the score is the
-- cap, and the reason says why.
UPDATE syncopt.sync_run SET rows = 3000 WHERE connector_id = 5 AND external_run_id = 'today';
SELECT metric, score, direction, reason FROM syncopt.anomalies('2026-11-23 00:00+00')
 WHERE connector_id = 5;
-- The freshness lag is the time since the previous successful start in
-- time order, whatever order the runs were written (and read) in: Lag's
-- runs are inserted latest first, so their run ids run against time, and
-- the history is read newest first by its (connector_id, started_at DESC)
-- index.  Daily successes from 3 to 19 November, failures on the 20th to
-- the 22nd (no lag), and the success of the 23rd 4 days = 345,600 s after
-- the 19th's.  The training window (14 days) starts on the 9th, whose
-- previous run is not read: 10 training lags (10th to 19th), all 1 day =
-- 86,400 s (too few Mondays, so all days), no spread, so the capped score
-- 1000 for 4x.  Its rows and duration are what they always were: not
-- flagged.
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (11, 1, 'lag', 'Lag');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT 11, 'l' || k, s, s + interval '600 s', CASE WHEN k BETWEEN 18 AND 20 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN k BETWEEN 18 AND 20 THEN NULL ELSE 1000 END, 'api'
  FROM generate_series(21, 1, -1) k,
       LATERAL (SELECT timestamptz '2026-11-02 00:00+00' + make_interval(days => k) AS s) x;
SELECT metric, observed, round(expected::numeric, 3) AS expected, score, direction
  FROM syncopt.anomalies('2026-11-23 00:00+00') WHERE connector_id = 11;
DELETE FROM syncopt.connector;

------------------------------------------------------------------------
-- 4. Failure classification: real vendor messages, vendor codes first.
-- A retry needs two signals (a built-in rule and the nearest labelled
-- example both finding a retryable cause) or a vendor code: Salesforce's
-- 24-hour quota has the rule only, so a person decides before any retry.
-- A suspended Snowflake warehouse reads as the labelled warehouse
-- suspensions (a trial ended, a resource monitor's quota: configuration
-- since the third round), not as the rule's destination outage.
------------------------------------------------------------------------
SELECT m.message, m.code, c.category, c.retryable
  FROM (VALUES
    ('OAuth token has expired. Please re-authenticate the connection.', NULL),
    ('invalid_grant: Token has been expired or revoked.', NULL),
    ('FATAL: password authentication failed for user "fivetran"', NULL),
    ('ERROR: permission denied for table orders', NULL),
    ('Rate limit exceeded: 429 Too Many Requests', NULL),
    ('Salesforce API quota exceeded for this 24-hour period', NULL),
    ('ERROR: column "discount" does not exist', NULL),
    ('could not connect to server: Connection refused', NULL),
    ('Snowflake warehouse FIVETRAN_WH is suspended', NULL),
    ('Read timed out after 300 seconds', NULL),
    ('Internal Server Error, please try again', NULL),
    ('Something odd happened', NULL),
    ('Sync failed', 'config_error'),
    ('Sync failed', 'transient_error'),
    (NULL, 'rescheduled'),
    (NULL, '503'),
    (NULL, NULL)) AS m(message, code),
       LATERAL syncopt.classify_failure(m.message, m.code) c;
-- Every verdict names what decided it: here a built-in rule, backed by
-- the nearest labelled example of its category (the confidence).
SELECT category, retryable, remediation, explanation, source, source_id, round(confidence::numeric, 2) AS confidence
  FROM syncopt.classify_failure('OAuth token has expired');
-- Wordings where the order of the rules decides (labels by hand): MySQL's
-- wrong password says "access denied" (credentials, while access denied to
-- a database is a permission); Google answers a rate limit with 403; a
-- destination's rate limit is a rate limit before it is a destination
-- outage; a replica's recovery conflict is retried; Snowflake's missing
-- warehouse is a configuration error before it is a destination outage.
-- Airbyte's failure origin puts a refused connection on the destination's
-- side (the source's when the origin is the source; without it, and
-- without a word naming a side, on neither: transient, session 24), and
-- leaves the other categories alone.
SELECT m.message, c.category, c.explanation
  FROM (VALUES
    ('Access denied for user ''etl''@''10.1.2.3'' (using password: YES)'),
    ('Access denied for user ''etl''@''%'' to database ''billing'''),
    ('403 Forbidden: userRateLimitExceeded: User Rate Limit Exceeded'),
    ('Failure Origin: destination, Message: Exceeded rate limits: too many api requests per user'),
    ('SQL compilation error: cannot change column ID from type FLOAT to NUMBER(38,0)'),
    ('State code: 08S01; Message: Communications link failure'),
    ('FATAL: terminating connection due to conflict with recovery'),
    ('No active warehouse selected in the current session.'),
    ('Failure Origin: destination, Message: Error setting/closing connection: Connection refused.'),
    ('Failure Origin: source, Message: Connection refused'),
    ('  failure origin:Destination, Message: Table RAW.ORDERS: Bad int64 value: abc')) AS m(message),
       LATERAL syncopt.classify_failure(m.message) c;
-- The destination's outage comes with the destination's remediation.
SELECT category, retryable, remediation
  FROM syncopt.classify_failure('Failure Origin: destination, Message: Connection refused');
-- Nothing matched: the remediation says whether there was a message to read.
-- ('Something odd happened' above is no longer such a message: it shares
-- "something" with a labelled Airbyte platform failure.)
SELECT coalesce(m, '(none)') AS message, c.category, c.remediation, c.explanation
  FROM (VALUES ('Flux capacitor misaligned'), (NULL)) AS v(m), LATERAL syncopt.classify_failure(m) c;
-- Users override built-ins with a lower priority number.
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation, priority)
VALUES ('warehouse .* is suspended', 'transient', true, 'The warehouse auto-resumes; retry.', 5);
SELECT category, retryable, explanation LIKE 'message matches failure pattern%' AS by_pattern
  FROM syncopt.classify_failure('Snowflake warehouse FIVETRAN_WH is suspended');
-- A vendor-scoped pattern applies to that vendor's failures only.
INSERT INTO syncopt.failure_pattern (pattern, vendor, category, retryable, remediation, priority)
VALUES ('sync failed', 'airbyte', 'source_outage', true, 'Airbyte source unavailable.', 1);
-- For Fivetran no rule applies: the nearest labelled wording answers, at a
-- similarity too low for an example alone to start a retry.
SELECT (SELECT category FROM syncopt.classify_failure('Sync failed', NULL, 'airbyte')) AS airbyte,
       (SELECT format('%s (%s %s, similarity %s, retryable %s)', category, source, source_id,
                      round(confidence::numeric, 2), retryable)
          FROM syncopt.classify_failure('Sync failed', NULL, 'fivetran')) AS fivetran;
SELECT * FROM syncopt.classify_failure('x', NULL, 'stitch');
-- Failed and rescheduled runs, classified in bulk.  The same message from
-- a Fivetran connector first (f1) and an Airbyte one (x2) gets two verdicts:
-- the vendor-scoped rule above applies to Airbyte's only, so the verdict
-- cache must not hand Fivetran's verdict to the Airbyte run.
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
VALUES (7, 1, 'ft', 'FT'), (8, 2, 'ab', 'AB');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, error_message, error_code, source)
VALUES (7, 'f1', '2026-11-22 00:20+00', '2026-11-22 00:30+00', 'failed', 'Sync failed', NULL, 'api'),
       (8, 'x1', '2026-11-22 00:00+00', '2026-11-22 00:10+00', 'failed', 'OAuth token has expired', NULL, 'api'),
       (8, 'x2', '2026-11-22 01:00+00', '2026-11-22 01:10+00', 'failed', 'Sync failed', NULL, 'api'),
       (8, 'x3', '2026-11-22 02:00+00', '2026-11-22 02:10+00', 'rescheduled', NULL, NULL, 'api'),
       (8, 'x4', '2026-11-22 03:00+00', '2026-11-22 03:10+00', 'succeeded', NULL, NULL, 'api');
SELECT r.external_run_id, c.category, c.retryable
  FROM syncopt.classify_runs('2026-11-22 00:00+00') c JOIN syncopt.sync_run r USING (run_id)
 ORDER BY 1;
DELETE FROM syncopt.connector;

------------------------------------------------------------------------
-- 5. Schema drift.  The contract for public.orders: id integer, amount
-- numeric, status text (required) and note text (optional); for
-- public.customers: id.  The previous snapshot matched; the latest has
-- id as int4 and status as varchar (synonyms: no drift), amount as text
-- (retyped: breaking, cast back), no note (removed, optional: not
-- breaking), a new discount column, a new refunds table, and no customers
-- table (removed: breaking).  Affected: orders_model and revenue_dash.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (9, 1, 'shop', 'Shop');
INSERT INTO syncopt.asset (asset_id, name) VALUES (2, 'orders_model'), (3, 'revenue_dash'), (4, 'unrelated');
INSERT INTO syncopt.lineage (upstream_connector_id, upstream_asset_id, asset_id) VALUES (9, NULL, 2), (NULL, 2, 3);
INSERT INTO syncopt.data_contract (connector_id, schema_name, table_name, column_name, data_type, required) VALUES
    (9, 'public', 'orders', 'id', 'integer', true), (9, 'public', 'orders', 'amount', 'numeric', true),
    (9, 'public', 'orders', 'status', 'text', true), (9, 'public', 'orders', 'note', 'text', false),
    (9, 'public', 'customers', 'id', 'bigint', true), (9, 'public', 'customers', 'email', 'text', true);
SELECT count(*) AS no_snapshot_yet FROM syncopt.schema_drift();
INSERT INTO syncopt.schema_snapshot (connector_id, captured_at, schema_hash, tables) VALUES
    (9, '2026-11-20', 'h1', '{"public": {"orders": {"id": "integer", "amount": "numeric", "status": "text", "note": "text"},
                                         "customers": {"id": "bigint", "email": "text"}}}'),
    (9, '2026-11-22', 'h2', '{"public": {"orders": {"id": "int4", "amount": "text", "status": "varchar(40)", "discount": "numeric"},
                                         "refunds": {"id": "integer"}}}');
-- A snapshot lists only some columns; the table's full list says note is gone.
INSERT INTO syncopt.source_columns (connector_id, schema_name, table_name, columns) VALUES
    (9, 'public', 'orders', '{"id": true, "amount": true, "status": true, "discount": true}');
SELECT schema_name, table_name, column_name, change, expected_type, observed_type, breaking, affected_assets
  FROM syncopt.schema_drift() ORDER BY table_name, column_name NULLS FIRST;
SELECT suggested_fix FROM syncopt.schema_drift() WHERE change = 'column_retyped';

DROP EXTENSION syncopt CASCADE;
