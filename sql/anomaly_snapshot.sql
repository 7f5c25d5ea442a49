-- The planning run's anomaly snapshot (take_anomaly_snapshot()): judged
-- again only for the connectors whose answer may have moved, the others'
-- rows carried over, and after every kind of change it equals
-- anomalies(since) computed afresh (differences: 0).  A row marked by hand
-- shows which connectors were carried over (the mark stays) and which
-- were judged again (it goes).  Fixed instants: Thursday 2026-03-05 12:00
-- UTC is the first snapshot's `since` (its planning run's `at` is a day
-- later).
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
-- Rows in one and not the other, both ways.
CREATE FUNCTION pg_temp.differences(since timestamptz) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM (
        (SELECT run_id, connector_id, metric, observed, expected, score, direction, reason
           FROM syncopt.anomaly_snapshot
         EXCEPT ALL
         SELECT * FROM syncopt.anomalies(since))
        UNION ALL
        (SELECT * FROM syncopt.anomalies(since)
         EXCEPT ALL
         SELECT run_id, connector_id, metric, observed, expected, score, direction, reason
           FROM syncopt.anomaly_snapshot)) d
$$;
-- A planning run at `at`, then its snapshot: rows, how many still carry
-- a mark (carried over), then, their reasons put back from
-- anomalies(since), how many rows differ from anomalies(since).
CREATE FUNCTION pg_temp.plan_at(at timestamptz)
RETURNS TABLE (rows bigint, marked bigint, differences bigint, basis_since timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM syncopt.run_planner(at);
    rows := (SELECT count(*) FROM syncopt.anomaly_snapshot
              WHERE planner_run_id = (SELECT max(planner_run_id) FROM syncopt.planner_run));
    marked := (SELECT count(*) FROM syncopt.anomaly_snapshot WHERE reason = 'marked');
    UPDATE syncopt.anomaly_snapshot a SET reason = x.reason
      FROM syncopt.anomalies(at - interval '24 hours') x
     WHERE a.reason = 'marked' AND x.run_id = a.run_id AND x.metric = a.metric;
    differences := pg_temp.differences(at - interval '24 hours');
    basis_since := (SELECT b.since FROM syncopt.anomaly_basis b);
    RETURN NEXT;
END
$$;
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
SELECT c, 1, 'c' || c, 'Connector ' || c FROM generate_series(1, 4) c;
-- Sixteen days of history, a run a day at c hours past noon, 600-620 s
-- and 1000-1020 rows; then since `since`: connector 1 a run 5 times as
-- long (c hours after `since`), 2 and 3 a usual run, 4 a run 5 times as
-- long 20 minutes after `since`.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT c, 'h' || k, s, s + make_interval(secs => 600 + 10 * (k % 3)), 'succeeded', 1000 + 10 * (k % 3), 'api'
  FROM generate_series(1, 4) c, generate_series(1, 16) k,
       LATERAL (SELECT timestamptz '2026-03-05 12:00+00' - make_interval(days => k, hours => -c) AS s) x;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT c, 'now', s, s + make_interval(secs => d), 'succeeded', 1010, 'api'
  FROM (VALUES (1, timestamptz '2026-03-05 13:00+00', 3050), (2, '2026-03-05 14:00+00', 610),
               (3, '2026-03-05 15:00+00', 610), (4, '2026-03-05 12:20+00', 3050)) v(c, s, d);

-- A first run judges every connector: connectors 1 and 4 are flagged.
SELECT * FROM pg_temp.plan_at('2026-03-06 12:00+00');
SELECT connector_id, metric, direction FROM syncopt.anomaly_snapshot ORDER BY connector_id, metric;
-- Each connector is stamped with the transaction that wrote its runs, and
-- the snapshot the first run read them after saw it.
SELECT count(*) AS stamped, count(*) FILTER (WHERE pg_visible_in_snapshot(c.xid, b.seen)) AS seen
  FROM syncopt.sync_run_change c, syncopt.anomaly_basis b;
-- Fifteen minutes later nothing moved: every row is carried over (the
-- marks stay).
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
SELECT * FROM pg_temp.plan_at('2026-03-06 12:15+00');

-- Connector 4's run (12:20) leaves the judged period when `since` passes
-- it, and enters the training: judged again, its row goes; connector 1's
-- is carried over.
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
SELECT * FROM pg_temp.plan_at('2026-03-06 12:30+00');
SELECT connector_id, metric FROM syncopt.anomaly_snapshot ORDER BY connector_id, metric;

-- A run's update (connector 3's run since `since` found 6 times as long)
-- stamps its connector with a transaction the snapshot did not see:
-- judged again, and now flagged;
-- connector 1's mark stays.
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
UPDATE syncopt.sync_run SET finished_at = started_at + interval '3660 s'
 WHERE connector_id = 3 AND external_run_id = 'now';
SELECT * FROM pg_temp.plan_at('2026-03-06 12:45+00');
SELECT connector_id, metric FROM syncopt.anomaly_snapshot ORDER BY connector_id, metric;

-- A run added late into the training window (connector 2, ten days back,
-- 20 times as long: not judged, but it is training) and a new run of
-- connector 2 since `since`, 3 times as long: flagged against the
-- training as it now is.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
VALUES (2, 'late', '2026-02-23 18:00+00', '2026-02-23 21:20+00', 'succeeded', 1010, 'api'),
       (2, 'again', '2026-03-05 20:00+00', '2026-03-05 20:30+00', 'succeeded', 1010, 'api');
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 13:00+00');
SELECT connector_id, metric FROM syncopt.anomaly_snapshot ORDER BY connector_id, metric;

-- A deleted run takes its rows with it and its connector is judged again.
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
DELETE FROM syncopt.sync_run WHERE connector_id = 1 AND external_run_id = 'now';
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 13:15+00');

-- The retention purge's kind of delete: connector 2's two oldest runs
-- (2026-02-17 and 02-18 14:00) start before both snapshots' training
-- windows (from 2026-02-19 13:15, then 13:30).  The delete stamps
-- connector 2, but changes no answer: carried over, the marks stay.
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
DELETE FROM syncopt.sync_run WHERE connector_id = 2 AND started_at < '2026-02-19';
SELECT connector_id, pg_visible_in_snapshot(c.xid, b.seen) AS seen, newest_run
  FROM syncopt.sync_run_change c, syncopt.anomaly_basis b WHERE connector_id = 2;
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 13:30+00');
-- A run since `since` the snapshot has not judged (connector 3's, 5 times
-- as long), then, in another transaction, a delete of its oldest run: the
-- later writer keeps the first one's start, so connector 3 is judged again
-- (its new run flagged) though only the stamp says so.
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
VALUES (3, 'unjudged', '2026-03-05 21:30+00', '2026-03-05 22:20+00', 'succeeded', 1010, 'api');
DELETE FROM syncopt.sync_run WHERE connector_id = 3 AND started_at < '2026-02-18';
SELECT connector_id, newest_run FROM syncopt.sync_run_change WHERE connector_id = 3;
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 13:45+00');
SELECT connector_id, metric, run_id = (SELECT run_id FROM syncopt.sync_run WHERE external_run_id = 'unjudged') AS unjudged
  FROM syncopt.anomaly_snapshot ORDER BY connector_id, metric, unjudged;
-- An update counts with the run's new start too: connector 3's oldest
-- run moved from before the windows (2026-02-18 15:00) into them (02-26)
-- is training again, and connector 3 is judged again (its marks go, its
-- answer the same).
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
UPDATE syncopt.sync_run SET started_at = started_at + interval '8 days', finished_at = finished_at + interval '8 days'
 WHERE connector_id = 3 AND started_at < '2026-02-19';
SELECT connector_id, newest_run FROM syncopt.sync_run_change WHERE connector_id = 3;
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 14:00+00');

-- From `since` 14:00 to 14:05: connector 2's run of 2026-02-19 14:00
-- leaves the training window (it starts 14 days before a moment between
-- the two) and its run of 2026-03-05 14:00 enters it: judged again;
-- connector 3 is carried over.
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 14:05+00');

-- Other settings: every connector is judged again (the marks go), under
-- the new threshold.
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
SET syncopt.anomaly_threshold = 2.0;
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 14:05+00');
RESET syncopt.anomaly_threshold;
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 14:05+00');

-- An earlier `at` (a replay): the runs between the two `since`s are
-- judged again, in either direction.
SELECT rows, differences FROM pg_temp.plan_at('2026-03-06 12:10+00');
SELECT rows, differences FROM pg_temp.plan_at('2026-03-06 14:05+00');

-- A deleted planning run takes the basis with it: the next run judges
-- every connector.
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
DELETE FROM syncopt.planner_run WHERE planner_run_id = (SELECT max(planner_run_id) FROM syncopt.planner_run);
SELECT count(*) AS basis FROM syncopt.anomaly_basis;
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 14:05+00');

-- TRUNCATE empties the stamps (and the snapshot's rows); the runs loaded
-- again are stamped anew, so nothing is carried over from before.
CREATE TEMP TABLE kept AS SELECT * FROM syncopt.sync_run;
TRUNCATE syncopt.sync_run;
SELECT count(*) AS changes FROM syncopt.sync_run_change;
INSERT INTO syncopt.sync_run SELECT * FROM kept;
SELECT rows, differences FROM pg_temp.plan_at('2026-03-06 14:20+00');

-- anomalies_of() is anomalies() of the connectors named.
SELECT (SELECT count(*) FROM syncopt.anomalies_of('2026-03-05 12:00+00', '{2,3}')) AS named,
       (SELECT count(*) FROM syncopt.anomalies('2026-03-05 12:00+00') WHERE connector_id IN (2, 3)) AS filtered,
       (SELECT count(*) FROM (SELECT * FROM syncopt.anomalies_of('2026-03-05 12:00+00', '{2,3}')
                              EXCEPT SELECT * FROM syncopt.anomalies('2026-03-05 12:00+00')) x) AS not_in_all;
-- Runs written in the planning runs' own transaction, before and between
-- them (connector 2's 3 times as long, then connector 4's 5 times): each
-- run's snapshot equals anomalies() afresh.  A snapshot can count its own
-- transaction's writes as seen, also later ones; the connectors that
-- transaction wrote are judged again by the next run
-- (test_anomaly_snapshot_race, which needs a second session to make it
-- happen).
BEGIN;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
VALUES (2, 'own1', '2026-03-05 21:00+00', '2026-03-05 21:30+00', 'succeeded', 1010, 'api');
SELECT rows, differences FROM pg_temp.plan_at('2026-03-06 14:20+00');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
VALUES (4, 'own2', '2026-03-05 22:00+00', '2026-03-05 22:50+00', 'succeeded', 1010, 'api');
SELECT rows, differences FROM pg_temp.plan_at('2026-03-06 14:20+00');
COMMIT;
SELECT rows, differences FROM pg_temp.plan_at('2026-03-06 14:20+00');

-- A connector deleted with its runs: its rows go, the others stay.
DELETE FROM syncopt.connector WHERE connector_id = 3;
SELECT count(*) AS change_rows_of_deleted FROM syncopt.sync_run_change WHERE connector_id = 3;
SELECT rows, differences FROM pg_temp.plan_at('2026-03-06 14:35+00');

-- A run deleted between the two snapshots' training windows' starts
-- (connector 2's, 2026-02-19 14:45; the windows start at 14:40 and 14:50):
-- in the window the previous snapshot judged, not in the next one's.  Its
-- connector is judged again (its two rows' marks go; connector 4's row is
-- carried over) on the stamp alone: no run of it is left between the two
-- starts.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
VALUES (2, 'between', '2026-02-19 14:45+00', '2026-02-19 14:55+00', 'succeeded', 1010, 'api');
SELECT rows, differences FROM pg_temp.plan_at('2026-03-06 14:40+00');
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
DELETE FROM syncopt.sync_run WHERE connector_id = 2 AND external_run_id = 'between';
SELECT rows, marked, differences FROM pg_temp.plan_at('2026-03-06 14:50+00');

-- The training window's start moves in seconds, whatever the session's
-- time zone: in Europe/Berlin 14 days before 2026-04-06 09:00 UTC (summer
-- time since 03-29) is 2026-03-23 09:00 UTC, not the 10:00 UTC that 14
-- calendar days there give.  Connector 5 has exactly
-- syncopt.anomaly_min_training (7) runs in the window, the first at 09:05
-- UTC on 03-23, and one run since `since` 5 times as long: flagged while
-- the window holds 7, not judged once the first has left it, which it does
-- when `since` moves from 09:00 to 09:15 UTC (and only there: no run of
-- it starts between the two `since`s).
SET timezone = 'Europe/Berlin';
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (5, 1, 'c5', 'Connector 5');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT 5, e, s, s + make_interval(secs => d), 'succeeded', 1000, 'api'
  FROM (VALUES ('edge', timestamptz '2026-03-23 09:05+00', 600), ('spike', '2026-04-06 12:00+00', 3000)) v(e, s, d)
UNION ALL
SELECT 5, 'd' || k, s, s + interval '600 s', 'succeeded', 1000, 'api'
  FROM generate_series(1, 6) k, LATERAL (SELECT timestamptz '2026-04-06 09:05+00' - make_interval(days => k) AS s) x;
SELECT rows, differences FROM pg_temp.plan_at('2026-04-07 09:00+00');
SELECT connector_id, metric, direction FROM syncopt.anomaly_snapshot ORDER BY connector_id, metric;
SELECT rows, differences FROM pg_temp.plan_at('2026-04-07 09:15+00');
SET timezone = 'UTC';

-- A basis whose snapshot is ahead of this cluster's (another cluster's)
-- is trusted by neither side.  Connector 5's run since `since` written,
-- then an old run of it deleted: the stamp keeps the later start (taking
-- that basis for seen, the delete would have replaced it, and the run
-- written would not be judged once a basis of this cluster's was back).
UPDATE syncopt.anomaly_basis SET seen = '4000000000:4000000000:';
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
VALUES (5, 'after', '2026-04-06 13:00+00', '2026-04-06 13:10+00', 'succeeded', 1000, 'api');
DELETE FROM syncopt.sync_run WHERE connector_id = 5 AND external_run_id = 'edge';
SELECT connector_id, newest_run FROM syncopt.sync_run_change WHERE connector_id = 5;
SELECT rows, differences FROM pg_temp.plan_at('2026-04-07 09:30+00');

-- Runs of a connector that does not exist, written with the foreign key
-- (and the triggers) off, as logical replication applies rows: eight
-- days of runs of "connector 99", the last 5 times as long.  anomalies()
-- judges them (it reads the runs alone); a planning run that judges every
-- connector (other settings) keeps no row of them (the snapshot's foreign
-- key would refuse it).
SET session_replication_role = replica;
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT 9900 + k, 99, 'orphan' || k, s, s + make_interval(secs => CASE WHEN k = 0 THEN 3000 ELSE 600 END),
       'succeeded', 1000, 'api'
  FROM generate_series(0, 7) k,
       LATERAL (SELECT timestamptz '2026-04-06 12:30+00' - make_interval(days => k) AS s) x;
RESET session_replication_role;
SET syncopt.anomaly_threshold = 3.4;
SELECT rows FROM pg_temp.plan_at('2026-04-07 09:45+00');
SELECT (SELECT count(*) FROM syncopt.anomalies('2026-04-06 09:45+00') WHERE connector_id = 99) AS judged,
       (SELECT count(*) FROM syncopt.anomaly_snapshot WHERE connector_id = 99) AS kept;
RESET syncopt.anomaly_threshold;

-- A week of history dropped by the retention (maintain_run_partitions())
-- is no statement on sync_run.  Placed relative to this week's Monday
-- 00:00 UTC (W, read once), so that what happens does not depend on the
-- day the test runs, and each call's retention counted so that now() -
-- retention is an instant relative to W.  Connector 6: a run a day at
-- 18:00 UTC on each of the 49 days before W, 600 s and 1,000 rows, the
-- last (Sunday's) 3,000 s.  Planned at W + 12 h: `since` is W - 12 h, the
-- basis reads from W - 14 days 12 h (the runs of W - 15 days 6 h to W - 2
-- days 6 h train; Sunday's is judged).
SELECT date_trunc('week', now()) AS w \gset
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (6, 1, 'c6', 'Connector 6');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT 6, 'w' || k, s, s + make_interval(secs => CASE WHEN k = 1 THEN 3000 ELSE 600 END), 'succeeded', 1000, 'api'
  FROM generate_series(1, 49) k,
       LATERAL (SELECT :'w'::timestamptz - make_interval(days => k, hours => -18) AS s) x;
SELECT rows, differences FROM pg_temp.plan_at(:'w'::timestamptz + interval '12 hours');
SELECT reads_from = :'w'::timestamptz - interval '14 days 12 hours' AS reads_from_w_less_14_days_12_h
  FROM syncopt.anomaly_basis;
-- The weeks from W - 7 weeks on are made and take their runs over.
SELECT syncopt.maintain_run_partitions(now() - (:'w'::timestamptz - interval '49 days')) AS dropped;
-- The weeks that ended by W - 28 days go (W - 7 to W - 5 weeks: the runs
-- of 29 to 49 days before W, 21).  None started from the basis's earliest
-- read on, so the basis stands and the next run judges no connector again
-- (the marks stay).
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
SELECT syncopt.maintain_run_partitions(now() - (:'w'::timestamptz - interval '28 days')) AS dropped;
SELECT count(*) AS basis FROM syncopt.anomaly_basis;
SELECT rows, marked, differences FROM pg_temp.plan_at(:'w'::timestamptz + interval '12 hours');
-- A replay whose window reaches into the dropped weeks (`since` W - 14
-- days 6 h, under a window before the basis's) starts from that basis
-- and equals anomalies() afresh; so does the run after it.
SELECT rows, differences FROM pg_temp.plan_at(:'w'::timestamptz - interval '13 days 6 hours');
SELECT rows, differences FROM pg_temp.plan_at(:'w'::timestamptz + interval '12 hours');
-- Under REPEATABLE READ the drop cannot see a basis committed while it
-- waited for its lock: it deletes the basis whatever it read.  The week
-- of W - 4 weeks (the runs of 22 to 28 days before W, 7) ended before
-- the basis's earliest read, and the basis goes all the same.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT syncopt.maintain_run_partitions(now() - (:'w'::timestamptz - interval '21 days')) AS dropped;
COMMIT;
SELECT count(*) AS basis FROM syncopt.anomaly_basis;
-- The week of W - 3 weeks holds runs the basis read (15 to 21 days
-- before W, 7; the run of W - 15 days 6 h trains): its drop takes the
-- basis, and every connector is judged again (the marks go).
SELECT rows, differences FROM pg_temp.plan_at(:'w'::timestamptz + interval '12 hours');
UPDATE syncopt.anomaly_snapshot SET reason = 'marked';
SELECT syncopt.maintain_run_partitions(now() - (:'w'::timestamptz - interval '14 days')) AS dropped;
SELECT count(*) AS basis FROM syncopt.anomaly_basis;
SELECT rows, marked, differences FROM pg_temp.plan_at(:'w'::timestamptz + interval '12 hours');
DROP EXTENSION syncopt;
