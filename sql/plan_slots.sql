-- The free time on plan()'s slots (plan_slots.c): a sync goes into a gap
-- before a later one when it fits, past it when it does not, and a gap
-- exactly as long as the run takes it, touching the syncs on both sides.
-- Worked out by hand in the comments.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');

-- Two successful daily runs starting at 00:00 UTC (the last on 2026-11-22),
-- folded into connector_stats as ingestion does: P50 = their mean, P90 =
-- max(1.5 x P50, the longest).
CREATE FUNCTION pg_temp.add_runs(cid bigint, secs float8[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE ids bigint[];
BEGIN
    WITH ins AS (
        INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
        SELECT cid, 'r' || cid || '-' || k, s, s + make_interval(secs => d), 'succeeded', 'api'
          FROM unnest(secs) WITH ORDINALITY AS u(d, k),
               LATERAL (SELECT timestamptz '2026-11-22 00:00+00'
                               - make_interval(days => cardinality(secs) - k::int) AS s) t
        RETURNING run_id)
    SELECT array_agg(run_id) INTO ids FROM ins;
    PERFORM syncopt.absorb_runs(ids, true);
END $$;

-- One slot, at 03:00 on Monday 2026-11-23.  W, X and Z have P50 20 min and
-- P90 30 min (runs of 20 min), Y P50 30 and P90 45 min (runs of 30 min).
-- A sync holds the slot for its P50; its predicted end is at its P90.
-- Each feeds a dashboard due 09:00 (weights 100, 10, 5, 1).  W's has a
-- freshness SLA of 5 hours: a sync of W serves it only from 04:00, and W's
-- data (27 hours old) is past that SLA, so W comes first; then X, Y, Z (the
-- weight over P90 decides, the urgencies differ by at most a quarter).
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, source_key) VALUES
    (31, 1, 'w', 'W', 'src_w'), (32, 1, 'x', 'X', 'src_x'), (33, 1, 'y', 'Y', 'src_y'), (34, 1, 'z', 'Z', 'src_z');
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight, freshness_sla) VALUES
    (41, 'dash_w', 'dashboard', '09:00', 100, '5 hours'), (42, 'dash_x', 'dashboard', '09:00', 10, NULL),
    (43, 'dash_y', 'dashboard', '09:00', 5, NULL), (44, 'dash_z', 'dashboard', '09:00', 1, NULL);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (31, 41), (32, 42), (33, 43), (34, 44);
SELECT pg_temp.add_runs(31, '{1200,1200}');
SELECT pg_temp.add_runs(32, '{1200,1200}');
SELECT pg_temp.add_runs(33, '{1800,1800}');
SELECT pg_temp.add_runs(34, '{1200,1200}');
SET syncopt.max_concurrent_syncs = 1;

-- W waits for 04:00: holds 04:00-04:20 (predicted end 04:30).  X fits the
-- gap before it: 03:00-03:20 (end 03:30).  Y (30 min) fits what is left
-- (03:20-04:00): 03:20-03:50, touching X (end 04:05).  Z (20 min) does not
-- fit the 10 min left before W, so it goes after W, 04:20-04:40, touching
-- it (end 04:50).  Nothing misses 09:00.
SELECT connector_id, planned_start, predicted_end, will_miss, action, priority
  FROM syncopt.plan('2026-11-23 03:00+00');

-- At 03:40 the gap left before W is 20 min: X (20 min) takes it exactly,
-- 03:40-04:00, touching W (end 04:10); Y and Z queue behind W (04:00-04:20):
-- Y 04:20-04:50 (end 05:05), Z 04:50-05:10 (end 05:20).
SELECT connector_id, planned_start, predicted_end, action, priority
  FROM syncopt.plan('2026-11-23 03:40+00');

-- Triage that does not beat the priority order (src/plan_triage.c): with
-- deadlines missed, plan() tries both triages' orders and keeps the
-- priority order's plan, its first pass, put back after the tries rather
-- than made again.  Two slots and three connectors: A and B (runs of 40
-- min: P50 40, P90 60 min) feed dashboards of weight 10 due 03:45, Q (runs
-- of 10 min: P50 10, P90 15 min) one of weight 1 due 03:30.  A and B score
-- higher (weight over P90: 10 per hour against 4), so they take both slots
-- 03:00-03:40 (predicted ends 04:00, past 03:45 at P90 but not at the P50
-- the triages judge by) and Q follows, 03:40-03:50 (end 03:55), missing
-- 03:30: weight 1 missed.  Moore-Hodgson's order by due time (Q first)
-- would have B hold a slot 03:10-03:50 and miss 03:45: weight 10; deadline
-- triage gives nothing up (on one machine twice as fast all three fit: Q
-- by 03:05, A 03:25, B 03:45).  The rows are the priority order's, with
-- its reasons and no triage note.
UPDATE syncopt.connector SET deleted_at = '2026-11-22 00:00+00' WHERE connector_id BETWEEN 31 AND 34;
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, source_key) VALUES
    (35, 1, 'a', 'A', 'src_a'), (36, 1, 'q', 'Q', 'src_q'), (37, 1, 'b', 'B', 'src_b');
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight, freshness_sla) VALUES
    (45, 'dash_a', 'dashboard', '03:45', 10, NULL), (46, 'dash_q', 'dashboard', '03:30', 1, NULL),
    (47, 'dash_b', 'dashboard', '03:45', 10, NULL);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (35, 45), (36, 46), (37, 47);
SELECT pg_temp.add_runs(35, '{2400,2400}');
SELECT pg_temp.add_runs(36, '{600,600}');
SELECT pg_temp.add_runs(37, '{2400,2400}');
SET syncopt.max_concurrent_syncs = 2;
SELECT connector_id, planned_start, predicted_end, will_miss, action, priority, reason
  FROM syncopt.plan('2026-11-23 03:00+00');

RESET syncopt.max_concurrent_syncs;
DROP EXTENSION syncopt CASCADE;
