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

RESET syncopt.max_concurrent_syncs;
DROP EXTENSION syncopt CASCADE;
