-- sync_run is partitioned by week of started_at (Monday 00:00 UTC);
-- sync_run_key keeps each run unique across the partitions; retention drops
-- whole weeks.  Ages are chosen so that what happens does not depend on the
-- weekday the test runs: a run d days old is in a week that ends between
-- d - 7 and d days ago.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;
-- One transaction, so that now() is one instant for every step: a run of
-- this file across Monday 00:00 UTC would otherwise see the weeks move.
-- Refused statements roll back to their own savepoint.
\set ON_ERROR_ROLLBACK on
BEGIN;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (account_id, external_id) VALUES (1, 'a'), (1, 'b');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
SELECT 1, x.id, now() - x.age, now() - x.age + interval '5 minutes', 'succeeded', 'api'
  FROM (VALUES ('recent', interval '1 day'), ('middle', interval '10 days'), ('old', interval '20 days'),
               ('older', interval '35 days'), ('ancient', interval '200 days'),
               ('future', interval '-400 days')) x(id, age);
-- No week exists yet: every run is in the default partition, none lost.
SELECT count(*) AS runs, count(*) FILTER (WHERE tableoid = 'syncopt.sync_run_default'::regclass) AS in_default
  FROM syncopt.sync_run;

-- Four weeks back (28 days is 4 weeks exactly), this week and four ahead:
-- 9 weeks and the default.
SELECT syncopt.maintain_run_partitions('28 days') AS dropped;
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'syncopt.sync_run'::regclass;
-- The runs of the last 28 days moved into their weeks; older (35 days:
-- the week before the first), ancient and future (400 days ahead) are in
-- no week and stay in the default partition.
SELECT external_run_id, tableoid = 'syncopt.sync_run_default'::regclass AS in_default
  FROM syncopt.sync_run ORDER BY started_at;
-- The weeks that took runs over were analyzed (recent, middle and old are
-- 1, 10 and 20 days old: three weeks, one run each); the empty ones were
-- not (reltuples -1: never analyzed).
SELECT c.reltuples, count(*) AS weeks
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'syncopt.sync_run'::regclass AND c.relname <> 'sync_run_default'
 GROUP BY 1 ORDER BY 1;
-- A second call has nothing to create.
SELECT syncopt.maintain_run_partitions('28 days') AS dropped;
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'syncopt.sync_run'::regclass;
-- A run outside every week lands in the default partition.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
    VALUES (2, 'far', now() + interval '3 years', now() + interval '3 years', 'succeeded', 'api')
    RETURNING tableoid::regclass AS part)
SELECT part FROM ins;
DELETE FROM syncopt.sync_run WHERE external_run_id = 'far';

-- The same run again, at another start (another week's partition), is not
-- inserted: re-ingesting changes nothing.  Another connector may use the id.
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
    VALUES (1, 'recent', now() - interval '10 days', now() - interval '10 days', 'succeeded', 'api'),
           (2, 'recent', now() - interval '2 days', now() - interval '2 days', 'succeeded', 'api')
    RETURNING connector_id, external_run_id)
SELECT * FROM ins;
SELECT connector_id, external_run_id, count(*) FROM syncopt.sync_run
 WHERE external_run_id = 'recent' GROUP BY 1, 2 ORDER BY 1;

-- A start that moves a run to another week keeps it and its key (the
-- key trigger lets the moving row in); a new external id follows to the key.
UPDATE syncopt.sync_run SET started_at = started_at - interval '7 days', finished_at = finished_at - interval '7 days',
                            external_run_id = 'middle moved'
 WHERE external_run_id = 'middle';
SELECT r.external_run_id, k.external_run_id AS key, r.started_at < now() - interval '16 days' AS moved
  FROM syncopt.sync_run r JOIN syncopt.sync_run_key k USING (run_id) WHERE r.external_run_id LIKE 'middle%';
SELECT (SELECT count(*) FROM syncopt.sync_run) AS runs, (SELECT count(*) FROM syncopt.sync_run_key) AS keys;
-- run_id is the run's identity: it cannot change, nor be given twice.
UPDATE syncopt.sync_run SET run_id = 999 WHERE external_run_id = 'ancient';
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, source)
SELECT run_id, 2, 'other', now(), now(), 'succeeded', 'api' FROM syncopt.sync_run WHERE external_run_id = 'ancient';
-- An external id taken by another run cannot be moved onto it.
UPDATE syncopt.sync_run SET external_run_id = 'old' WHERE external_run_id = 'older';

-- The anomaly snapshot names runs without a foreign key; a purged run's
-- rows go with it.
INSERT INTO syncopt.planner_run (at) VALUES (now());
INSERT INTO syncopt.anomaly_snapshot (planner_run_id, run_id, connector_id, metric, reason)
SELECT 1, run_id, connector_id, 'duration', 'test' FROM syncopt.sync_run
 WHERE connector_id = 1 AND external_run_id IN ('recent', 'old', 'ancient');

-- Retention 14 days: the two oldest weeks end at least 14 days ago and go
-- whole (partitions 10 -> 8); the runs older than 14 days (middle moved
-- at 17 days, old at 20, older at 35, ancient at 200) go, whether with
-- their week or in the batch: 4, and their keys.
SELECT syncopt.purge_history('14 days', 100) AS purged;
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'syncopt.sync_run'::regclass;
SELECT connector_id, external_run_id FROM syncopt.sync_run ORDER BY 1, 2;
SELECT connector_id, external_run_id FROM syncopt.sync_run_key ORDER BY 1, 2;
SELECT r.external_run_id FROM syncopt.anomaly_snapshot a JOIN syncopt.sync_run r USING (run_id);
SELECT count(*) AS snapshot_rows FROM syncopt.anomaly_snapshot;
-- Nothing left to purge.
SELECT syncopt.purge_history('14 days', 100) AS purged;

-- Retention 0 keeps everything (the weeks ahead are made all the same).
SELECT syncopt.purge_history('0', 100) AS purged;
SELECT count(*) AS runs FROM syncopt.sync_run;

-- TRUNCATE takes the keys too.
TRUNCATE syncopt.sync_run;
SELECT count(*) AS keys FROM syncopt.sync_run_key;

-- Bad arguments are refused and change nothing.
SELECT syncopt.maintain_run_partitions('-1 day');
SELECT syncopt.maintain_run_partitions('1 day', 0);
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'syncopt.sync_run'::regclass;

-- Weeks made under a caller's time zone and date style whose printed zone
-- abbreviation reads back as another zone (IST: India's to print,
-- Israel's to read, 3.5 hours apart): the weeks from ten weeks back are
-- made (eight of them new; 15 in all), and every week still starts on a
-- Monday 00:00 UTC and lasts 7 days (read back under UTC and ISO).
SET LOCAL timezone = 'Asia/Kolkata';
SET LOCAL datestyle = 'Postgres, MDY';
SELECT syncopt.maintain_run_partitions('70 days') AS dropped;
SET LOCAL timezone = 'UTC';
SET LOCAL datestyle = 'ISO, YMD';
SELECT count(*) AS weeks,
       count(*) FILTER (WHERE date_trunc('week', b.lower AT TIME ZONE 'UTC') = b.lower AT TIME ZONE 'UTC'
                          AND b.upper - b.lower = interval '7 days') AS on_mondays
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 CROSS JOIN LATERAL (SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$FROM \('([^']+)'\)$re$))[1]::timestamptz AS lower,
                            (regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$TO \('([^']+)'\)$re$))[1]::timestamptz AS upper) b
 WHERE i.inhparent = 'syncopt.sync_run'::regclass AND c.relname <> 'sync_run_default';
COMMIT;

DROP EXTENSION syncopt;
