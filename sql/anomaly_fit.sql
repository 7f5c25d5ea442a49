-- anomalies()' duration line on rows (a Theil-Sen fit) against the same
-- fit computed in plain SQL: the median of the pairwise slopes of
-- log(1 + duration) on log(1 + rows) (percentile_cont, the same
-- interpolation), kept at or above 0, and the median residual as the
-- level.  Two connectors with 72 and 70 training runs (2,556 and 2,415
-- pairs, one count even and one odd: the median interpolated or not),
-- rows all distinct, every run on a weekday (so the level is not split by
-- day type).  Each has one run since `since` about 6 times its expected
-- duration.  Fixed instants: `since` is Thursday 2026-03-05 12:00 UTC.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id) VALUES (1, 1, 'even'), (2, 1, 'odd');
-- Training: every 3 hours on the weekdays of the 14 days before `since`,
-- the latest 72 (connector 1) or 70 (connector 2); rows 1,000 to about
-- 350,000, no two alike; durations 30 s plus rows / 400 with a wobble.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT c, 't' || k, s, s + make_interval(secs => 30 + r / 400.0 * (1 + 0.3 * sin(k * 1.7 + c))), 'succeeded', r, 'api'
  FROM (SELECT c, k, s, 1000 + ((k * 7919 + c * 104729) % 349) * 1000 + k AS r,
               row_number() OVER (PARTITION BY c ORDER BY s DESC) AS latest
          FROM generate_series(1, 2) c, generate_series(1, 112) k,
               LATERAL (SELECT timestamptz '2026-03-05 12:00+00' - make_interval(hours => 3 * k) AS s) x
         WHERE extract(isodow FROM s) < 6) t
 WHERE latest <= CASE c WHEN 1 THEN 72 ELSE 70 END;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
VALUES (1, 'now', '2026-03-05 13:00+00', '2026-03-05 13:00+00'::timestamptz + interval '1900 s', 'succeeded', 200000, 'api'),
       (2, 'now', '2026-03-05 13:00+00', '2026-03-05 13:00+00'::timestamptz + interval '1900 s', 'succeeded', 200000, 'api');
SELECT connector_id, count(*) AS training, count(DISTINCT rows) AS distinct_rows,
       count(*) FILTER (WHERE extract(isodow FROM started_at) >= 6) AS weekend
  FROM syncopt.sync_run WHERE started_at < '2026-03-05 12:00+00' GROUP BY 1 ORDER BY 1;
WITH training AS (
    SELECT connector_id, ln(1 + rows) AS x, ln(1 + extract(epoch FROM finished_at - started_at)::float8) AS y
      FROM syncopt.sync_run WHERE started_at < '2026-03-05 12:00+00'
), slope AS (
    SELECT a.connector_id,
           greatest(percentile_cont(0.5) WITHIN GROUP (ORDER BY (b.y - a.y) / (b.x - a.x)), 0) AS b,
           count(*) AS pairs
      FROM training a JOIN training b ON b.connector_id = a.connector_id AND b.x > a.x
     GROUP BY a.connector_id
), level AS (
    SELECT t.connector_id, s.b, s.pairs, percentile_cont(0.5) WITHIN GROUP (ORDER BY t.y - s.b * t.x) AS a
      FROM training t JOIN slope s USING (connector_id)
     GROUP BY t.connector_id, s.b, s.pairs
)
SELECT l.connector_id, l.pairs, round(l.b::numeric, 4) AS b, an.metric,
       abs(an.expected - (exp(l.a + l.b * ln(1 + 200000)) - 1)) / an.expected < 1e-9 AS expected_as_sql,
       round((an.observed / an.expected)::numeric, 2) AS times
  FROM level l
  JOIN syncopt.anomalies('2026-03-05 12:00+00') an ON an.connector_id = l.connector_id AND an.metric = 'duration'
 ORDER BY 1;
DROP EXTENSION syncopt;
