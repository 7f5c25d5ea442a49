-- The fleet loader (src/fleet.c) streams its queries through a cursor,
-- 1,000 rows a fetch, and sorts the connectors by id itself (the query
-- has no ORDER BY).  2,500 connectors, inserted in descending id order so
-- that no plan returns them sorted, cross two fetch boundaries; each
-- feeds one asset, and lookups by id (lineage) must find every one.
-- Expected values are worked out by hand below.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
SELECT i, 1, 'c' || i, 'c' || i FROM generate_series(2500, 1, -1) i;
INSERT INTO syncopt.asset (asset_id, name, weight)
VALUES (1, 'w1', 1), (2, 'w10', 10), (3, 'w100', 100);
-- Connector i feeds asset 1 + i % 3 (weight 1, 10 or 100).
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id)
SELECT i, 1 + i % 3 FROM generate_series(1, 2500) i;

-- i % 3 = 0: 833 connectors (3..2499), weight 1; = 1: 834 (1..2500),
-- weight 10; = 2: 833 (2..2498), weight 100.  Total 833 + 8,340 +
-- 83,300 = 92,473, and no connector's weight differs from its asset's.
SELECT count(*) AS connectors,
       sum(downstream_weight) AS total_weight,
       count(*) FILTER (WHERE downstream_assets <> 1
                           OR downstream_weight <> (ARRAY[1, 10, 100])[1 + connector_id % 3]) AS wrong
  FROM syncopt.priority_scores('2026-11-20 03:00+00');

-- Recent-run arrays are read element by element: an element counts only
-- with both its duration and its start; a shorter rows or full array
-- leaves the rest unknown.  Connector 10's valid runs are the first (100
-- s) and the last (500 s): 2 samples, P50 the mean of the last two, 300
-- s, P90 the larger of 1.5 x 300 = 450 s and the longest run, 500 s.
-- Every other connector has no history: the fleet's median P50 (300 s,
-- connector 10's), P90 twice that.
INSERT INTO syncopt.connector_stats (connector_id, runs, successes, recent_duration_s, recent_rows,
                                     recent_started_at, recent_full)
VALUES (10, 4, 4, '{100, NULL, 300, 500}', '{1, 2}',
        '{2026-11-19 01:00+00, 2026-11-19 07:00+00, NULL, 2026-11-19 19:00+00}', '{false}');
SELECT connector_id, p50, p90, samples, method
  FROM syncopt.predict_duration('2026-11-20 03:00+00')
 WHERE connector_id IN (1, 10, 2500) ORDER BY connector_id;
SELECT count(*) FILTER (WHERE p50 = interval '300 s' AND p90 = interval '600 s'
                          AND method = 'fleet_median') AS fleet_median
  FROM syncopt.predict_duration('2026-11-20 03:00+00');

-- The loader predicts from connector_stats.duration_model, which every
-- write of the row computes again from the window: connector 10's model is
-- its 2 runs, P50 300 s and P90 500 s (worked out above).  A run of 700 s
-- appended to its window makes it 3 runs (100, 500 and 700 s): P50 the
-- mean of the last two, 600 s, P90 the larger of 1.5 x 600 = 900 s and the
-- longest run, 700 s.
SELECT duration_model FROM syncopt.connector_stats WHERE connector_id = 10;
UPDATE syncopt.connector_stats
   SET recent_duration_s = recent_duration_s || 700::float8,
       recent_started_at = recent_started_at || timestamptz '2026-11-19 23:00+00'
 WHERE connector_id = 10;
SELECT s.duration_model, p.p50, p.p90, p.samples
  FROM syncopt.connector_stats s JOIN syncopt.predict_duration('2026-11-20 03:00+00') p USING (connector_id)
 WHERE connector_id = 10;

-- The analytics that predict at the instant they load (FLEET_PREDICT)
-- have each connector predicted as its row is read, from buffers that live
-- for that row only, and keep no duration models.  Connector i's two
-- runs took i s and then i + 2 s: P50 the mean of the last two, i + 1 s;
-- P90 the larger of 1.5 x (i + 1) s and the longest run, i + 2 s, so 1.5 x
-- (i + 1) s for every i >= 1.  The 2,500 rows cross two fetch boundaries:
-- a prediction made from another row's buffers, or from freed ones, shows
-- as a wrong count, in predict_duration() and in priority_scores() (which
-- scores after the load).
DELETE FROM syncopt.connector_stats;
INSERT INTO syncopt.connector_stats (connector_id, runs, successes, recent_duration_s, recent_started_at)
SELECT i, 2, 2, ARRAY[i, i + 2]::float8[],
       ARRAY[timestamptz '2026-11-19 01:00+00', timestamptz '2026-11-19 07:00+00']
  FROM generate_series(1, 2500) i;
SELECT count(*) AS predictions,
       count(*) FILTER (WHERE p50 = make_interval(secs => connector_id + 1)
                          AND p90 = make_interval(secs => 1.5 * (connector_id + 1))
                          AND samples = 2 AND method = 'last_two_mean') AS correct
  FROM syncopt.predict_duration('2026-11-20 03:00+00');
SELECT count(*) AS scores,
       count(*) FILTER (WHERE p90 = make_interval(secs => 1.5 * (connector_id + 1))) AS correct
  FROM syncopt.priority_scores('2026-11-20 03:00+00');

DROP EXTENSION syncopt;
