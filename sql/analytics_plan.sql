-- Graph, deadlines, priority scores, plan and SLA risk on small fleets whose
-- right answers are worked out by hand in the comments.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
-- 2026-11-23 is a Monday.
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');

-- Successful daily runs starting at 00:00 UTC (the last on 2026-11-22),
-- durations in seconds, folded into connector_stats by the function
-- ingestion uses.
CREATE FUNCTION pg_temp.add_runs(cid bigint, secs float8[], rows_ bigint[] DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE ids bigint[];
BEGIN
    WITH ins AS (
        INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
        SELECT cid, 'r' || cid || '-' || k, s, s + make_interval(secs => d), 'succeeded', rows_[k], 'api'
          FROM unnest(secs) WITH ORDINALITY AS u(d, k),
               LATERAL (SELECT timestamptz '2026-11-22 00:00+00'
                               - make_interval(days => cardinality(secs) - k::int) AS s) t
        RETURNING run_id)
    SELECT array_agg(run_id) INTO ids FROM ins;
    PERFORM syncopt.absorb_runs(ids, true);
END $$;

-- Empty fleet: every function answers with no rows and no error.
SELECT (SELECT count(*) FROM syncopt.predict_duration()) AS predictions,
       (SELECT count(*) FROM syncopt.priority_scores()) AS scores,
       (SELECT count(*) FROM syncopt.plan()) AS planned,
       (SELECT count(*) FROM syncopt.sla_risk()) AS risks,
       (SELECT count(*) FROM syncopt.batch_recommendations()) AS batches;

------------------------------------------------------------------------
-- 1. The seeds' example: ERP must land before CRM for a 6 AM executive
-- dashboard (weight 10).  ERP ran 40 and 60 min: P50 = mean of the last
-- two = 50 min, P90 = max(1.5 x 50, 60) = 75 min.  CRM ran 20 and 20:
-- P50 20, P90 30.  Deadlines: CRM due 06:00, ERP due 06:00 - P90(CRM) =
-- 05:30, latest starts 05:30 and 04:15.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (11, 1, 'erp', 'ERP'), (12, 1, 'crm', 'CRM');
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight)
VALUES (21, 'exec_dashboard', 'dashboard', '06:00', 10);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (11, 21), (12, 21);
INSERT INTO syncopt.sync_order VALUES (11, 12);
SELECT pg_temp.add_runs(11, '{2400,3600}');
SELECT pg_temp.add_runs(12, '{1200,1200}');

SELECT connector_id, p50, p90, samples, method FROM syncopt.predict_duration('2026-11-23 03:00+00');

-- At 03:00, mean P90 = 52.5 min, k = 2: urgency = exp(-slack' / 105 min),
-- slack' = slack - risk x P50 with risk = 0.1/4 = 0.025.
--   CRM: slack 150 min, slack' 149.5 -> urgency 0.2408; W/P90h = 10/0.5 = 20;
--        score 4.816.
--   ERP: slack 75 min, slack' 73.75 -> urgency 0.4954; 10/1.25 x 0.4954 =
--        3.963, lifted to CRM's 4.816 because CRM waits for it; EDF breaks
--        the tie, so ERP comes first.
SELECT connector_id, round(score::numeric, 3) AS score, round(urgency::numeric, 4) AS urgency,
       downstream_weight, downstream_assets, deadline, latest_start, slack,
       reason LIKE '%takes the score of CRM%' AS lifted
  FROM syncopt.priority_scores('2026-11-23 03:00+00');

-- Capacity allows: ERP 03:00-04:15 at P90, nothing missed.  A planned
-- sync holds its slot for its P50 (its P90 is the forecast) and CRM waits
-- for ERP to land at its P50, 03:50: CRM 03:50-04:20.
SELECT connector_id, planned_start, predicted_end, deadline, will_miss, action, priority
  FROM syncopt.plan('2026-11-23 03:00+00');
SELECT asset_id, predicted_ready, at_risk, risk, blocking_connectors FROM syncopt.sla_risk('2026-11-23 03:00+00');

-- At 04:30 there is little time left: ERP 04:30-05:45 at P90 misses its
-- 05:30 due, and its row names the dashboard; CRM, after ERP's P50
-- (05:20), 05:20-05:50, meets 06:00.  sla_risk: ready 05:50, 10 minutes
-- to spare, under the margin (max(15 min, a quarter of the 80 minutes to
-- ready) = 20 min): medium, ERP blocking (its end passes its due).
SELECT connector_id, planned_start, predicted_end, slack, will_miss, action,
       reason LIKE '%misses exec_dashboard by 15 min%' AS names_miss
  FROM syncopt.plan('2026-11-23 04:30+00');
SELECT asset_id, deadline, predicted_ready, at_risk, risk, blocking_connectors,
       reason LIKE '%10 min to spare%' AS says_spare
  FROM syncopt.sla_risk('2026-11-23 04:30+00');

-- Capacity does not allow: one slot, and a billing sync for a heavier
-- report due 04:30 (weight 50, runs 60 and 60 min: P90 90 min, latest
-- start 03:00, urgency 1, score 50/1.5 = 33.3) takes it first, 03:00-04:30
-- at P90; its slot frees at its P50, 04:00.  ERP then runs 04:00-05:15
-- and CRM, after ERP's P50, 04:50-05:20: nothing missed.
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (13, 1, 'bill', 'Billing');
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight) VALUES (22, 'finance_close', 'report', '04:30', 50);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (13, 22);
SELECT pg_temp.add_runs(13, '{3600,3600}');
SET syncopt.max_concurrent_syncs = 1;
SELECT connector_id, planned_start, predicted_end, deadline, will_miss, action,
       substring(reason from 'misses \w+') AS miss
  FROM syncopt.plan('2026-11-23 03:00+00');
RESET syncopt.max_concurrent_syncs;
-- With the default four slots everything fits again.
SELECT connector_id, planned_start, predicted_end, will_miss FROM syncopt.plan('2026-11-23 03:00+00');
DELETE FROM syncopt.connector WHERE connector_id IN (11, 12, 13);
DELETE FROM syncopt.asset;

------------------------------------------------------------------------
-- 2. A three-level DAG with two deadlines, one slot, at 03:00.
--   A -> stg_a (10 min) -> mart (20 min) -> dash (05:30)
--   B -> stg_b (10 min) -> mart
--   C -> ops_report (04:00)
-- A and B: P90 30 min (runs 20, 20); C: P90 60 min (runs 40, 40).
-- Due times: mart 05:30, stg_a/stg_b 05:10, A and B 05:00; C 04:00.
-- A and B feed three assets each (weight 3) and outscore C (weight 1):
--   A: 3/0.5 x exp(-(90 - 0.5)/80) = 1.96; C: 1/1 x exp(0) = 1.0.
-- The priority list A, B, C would end C at 05:00, an hour late.  The right
-- order is C first (03:00-04:00 at P90, its slot free at its P50, 03:40),
-- then A (03:40-04:10) and B (04:00-04:30): all on time.  Moore-Hodgson
-- triage finds it; nothing has to be given up.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (31, 1, 'a', 'A'), (32, 1, 'b', 'B'), (33, 1, 'c', 'C');
INSERT INTO syncopt.asset (asset_id, name, deadline, duration) VALUES
    (41, 'stg_a', NULL, '10 min'), (42, 'stg_b', NULL, '10 min'), (43, 'mart', NULL, '20 min'),
    (44, 'dash', '05:30', '0'), (45, 'ops_report', '04:00', '0');
INSERT INTO syncopt.lineage (upstream_connector_id, upstream_asset_id, asset_id) VALUES
    (31, NULL, 41), (32, NULL, 42), (NULL, 41, 43), (NULL, 42, 43), (NULL, 43, 44), (33, NULL, 45);
SELECT pg_temp.add_runs(31, '{1200,1200}');
SELECT pg_temp.add_runs(32, '{1200,1200}');
SELECT pg_temp.add_runs(33, '{2400,2400}');
SET syncopt.max_concurrent_syncs = 1;
SELECT connector_id, round(score::numeric, 2) AS score, downstream_assets, deadline
  FROM syncopt.priority_scores('2026-11-23 03:00+00');
SELECT connector_id, planned_start, predicted_end, deadline, will_miss, action,
       reason LIKE 'deadline order%' AS triaged
  FROM syncopt.plan('2026-11-23 03:00+00');
-- mart is ready after A and B (04:30) plus stg (10) and mart (20): 05:00,
-- 30 minutes before dash's deadline, not under the margin (max(15 min, a
-- quarter of the 2 hours to ready) = 30 min): low risk.
SELECT asset_id, deadline, predicted_ready, risk FROM syncopt.sla_risk('2026-11-23 03:00+00');
RESET syncopt.max_concurrent_syncs;

-- Shared ancestors count once: a connector feeding mart through both stg
-- models reaches stg_a, stg_b, mart and dash: weight 4, not 5.
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (34, 1, 'd', 'D');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (34, 41), (34, 42);
SELECT connector_id, downstream_weight, downstream_assets
  FROM syncopt.priority_scores('2026-11-23 03:00+00') WHERE connector_id = 34;
DELETE FROM syncopt.connector WHERE connector_id IN (31, 32, 33, 34);
DELETE FROM syncopt.asset;

------------------------------------------------------------------------
-- Late either way: then less late.  Two slots at 03:00.  L (runs 100 and
-- 100 min: P50 100, P90 max(1.5 x 100, 100) = 150 min) feeds late_report
-- due 04:30: slack -60 min, urgency 1, score 1/2.5 h = 0.4.  S1 and S2
-- (runs 800 s: P50 13.3 min, P90 20 min) feed ops_dash due 04:40: slack
-- 80 min, slack' 80 - 0.025 x 13.33 = 79.67, mean P90 (150 + 20 + 20)/3 =
-- 63.33 min, urgency exp(-79.67 / 126.67) = 0.53315, score 3 x 0.53315 =
-- 1.5995.  Slots are held for the P50.  The priority list S1, S2, L runs
-- S1 and S2 from 03:00 (slots free at 03:13:20) and L 03:13:20-04:53:20
-- at its P50: late_report 23 min late.  Moore-Hodgson (load / 2 slots:
-- 50, 56.7, 63.3 min by 04:30, 04:40, 04:40) drops nothing; its deadline
-- order L, S1, S2 runs L from 03:00 (04:40 at P50, 10 min late; 05:30 at
-- P90, 60 min late), S1 03:00-03:20 and S2 03:13:20-03:33:20.  The same
-- weight is missed either way, so the plan keeps the one that is less
-- late, and says so.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (35, 1, 'l', 'L'), (36, 1, 's1', 'S1'), (37, 1, 's2', 'S2');
INSERT INTO syncopt.asset (asset_id, name, deadline) VALUES (46, 'late_report', '04:30'), (47, 'ops_dash', '04:40');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (35, 46), (36, 47), (37, 47);
SELECT pg_temp.add_runs(35, '{6000,6000}');
SELECT pg_temp.add_runs(36, '{800,800}');
SELECT pg_temp.add_runs(37, '{800,800}');
SET syncopt.max_concurrent_syncs = 2;
SELECT connector_id, round(score::numeric, 3) AS score, round(urgency::numeric, 4) AS urgency, deadline
  FROM syncopt.priority_scores('2026-11-23 03:00+00') ORDER BY connector_id;
SELECT connector_id, planned_start, predicted_end, deadline, will_miss, action,
       reason LIKE 'deadline order (Moore-Hodgson triage misses no more than the priority order and is less late)%' AS less_late,
       substring(reason from 'misses late_report by [^;]*') AS miss
  FROM syncopt.plan('2026-11-23 03:00+00') ORDER BY connector_id;
RESET syncopt.max_concurrent_syncs;
DELETE FROM syncopt.connector WHERE connector_id IN (35, 36, 37);
DELETE FROM syncopt.asset;

------------------------------------------------------------------------
-- Deadline triage: a deadline is met only when all its syncs are, so
-- when capacity is short the planner gives up whole deadlines, and times
-- the syncs of one given up for its connectors' next deadline.  One slot
-- at 03:00.  Z (runs 60 min: P50 60, P90 90) feeds board (04:30, weight
-- 10); X and Y (runs 30 min: P50 30, P90 45) feed early_report (04:45,
-- weight 1), and X also late_report (09:00, weight 1, fresh within 2 h:
-- a sync from 07:00 serves it).  Slots are held for the P50.
--   Priority order Z, X, Y: Z 03:00-04:00, X 04:00-04:30, Y 04:30-05:00
--   misses early_report by 15 min.  Moore-Hodgson over syncs (60, 90,
--   120 min by 04:30, 04:45, 04:45) drops Y (most P50 per weight: 30/1
--   against X's 30/2 and Z's 60/10), which leaves the same plan, as late.
--   Deadline triage: board (60 min by 04:30) fits; early_report's 60 min
--   more end at 05:00, after 04:45, so the deadline with the most run
--   time per weight goes: early_report (60/1 against board's 60/10).  X
--   is then due for late_report and planned from 07:00; Y has nothing
--   left and is given up.  early_report is missed either way (weight 1),
--   nothing is late for what is still pursued, so this plan is kept.
-- Rows: Z 03:00-04:30 (P90); X 07:00-07:45, reported against the deadline
-- it was due for (early_report, 04:45): will miss; Y given up, placed
-- last (04:00-04:45, after Z's P50) and not triggered.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (73, 1, 'z', 'Z'), (74, 1, 'x', 'X'), (75, 1, 'y', 'Y');
INSERT INTO syncopt.asset (asset_id, name, deadline, weight, freshness_sla) VALUES
    (83, 'board', '04:30', 10, NULL), (84, 'early_report', '04:45', 1, NULL),
    (85, 'late_report', '09:00', 1, '2 hours');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (73, 83), (74, 84), (75, 84), (74, 85);
SELECT pg_temp.add_runs(73, '{3600,3600}');
SELECT pg_temp.add_runs(74, '{1800,1800}');
SELECT pg_temp.add_runs(75, '{1800,1800}');
SET syncopt.max_concurrent_syncs = 1;
SELECT connector_id, planned_start, predicted_end, deadline, will_miss, action,
       reason LIKE 'deadline triage: capacity cannot meet every deadline, so early_report is given up%' AS gives_up,
       reason LIKE '%this sync is timed for the next deadline, late_report%' AS retimed,
       reason LIKE 'deadline order (deadline triage misses no more than the priority order and is less late)%' AS kept
  FROM syncopt.plan('2026-11-23 03:00+00') ORDER BY connector_id;
-- Each reason ends with the timing against the deadline the sync is
-- planned for: Z ends at its due time, 04:30, with nothing to spare; X,
-- timed for late_report (09:00), ends 07:45, 1 h 15 min before; Y's only
-- deadline is given up, so it has no due time and no margin to state (it
-- said "due never (106742168.0 days to spare)", the distance from 04:45
-- to the end of PostgreSQL's time).
SELECT connector_id, substring(reason from 'P90 .*$') AS timing
  FROM syncopt.plan('2026-11-23 03:00+00') ORDER BY connector_id;
-- run_planner() triggers only what starts before the next run: Z.
SELECT connector_id FROM syncopt.planner_candidates('2026-11-23 03:00+00') WHERE action = 'trigger_sync';
RESET syncopt.max_concurrent_syncs;
DELETE FROM syncopt.connector WHERE connector_id IN (73, 74, 75);
DELETE FROM syncopt.asset;

------------------------------------------------------------------------
-- Local search over the deadlines given up: both triages judge on a
-- relaxation and keep a deadline whose syncs do not fit, which makes a
-- heavier one miss too.  Two slots at 03:00.  A1, A2, A3 (runs 40 min:
-- P50 40, P90 60) feed ops_board (04:05, weight 1), upstream of
-- ops_archive (no deadline, weight 10), so they score first; B1, B2 (the
-- same runs) feed exec_board (04:45, weight 3).  Slots held for the P50.
--   Priority order A1, A2, A3, B1, B2: A1, A2 03:00-03:40, A3 and B1
--   03:40-04:20, B2 04:20-05:00: ops_board (A3, 04:20 > 04:05) and
--   exec_board (B2, 05:00 > 04:45) missed, weight 4.  Moore-Hodgson over
--   syncs (20, 40, 60, 80, 100 min by 04:05, 04:05, 04:05, 04:45, 04:45)
--   and over deadlines (ops_board max(120 / 2, 40) = 60 min by 04:05,
--   exec_board 40 more by 04:45) give up nothing: the same plan.
--   The local search gives up ops_board (most run time per weight:
--   120 min / 1 against 80 min / 3): B1, B2 03:00-03:40 meet exec_board,
--   and the A syncs, with no deadline left, are placed last and not
--   triggered: A1, A2 03:40 (end at P90 04:40), A3 04:20 (05:20).
--   Weight missed 1 instead of 4.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (76, 1, 'a1', 'A1'), (77, 1, 'a2', 'A2'), (78, 1, 'a3', 'A3'), (79, 1, 'b1', 'B1'), (80, 1, 'b2', 'B2');
INSERT INTO syncopt.asset (asset_id, name, deadline, weight) VALUES
    (86, 'ops_board', '04:05', 1), (87, 'ops_archive', NULL, 10), (88, 'exec_board', '04:45', 3);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (76, 86), (77, 86), (78, 86), (79, 88), (80, 88);
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (86, 87);
SELECT pg_temp.add_runs(76, '{2400,2400}');
SELECT pg_temp.add_runs(77, '{2400,2400}');
SELECT pg_temp.add_runs(78, '{2400,2400}');
SELECT pg_temp.add_runs(79, '{2400,2400}');
SELECT pg_temp.add_runs(80, '{2400,2400}');
SET syncopt.max_concurrent_syncs = 2;
SELECT connector_id, planned_start, predicted_end, deadline, will_miss, action,
       reason LIKE 'deadline triage: capacity cannot meet every deadline, so ops_board is given up%' AS gives_up,
       reason LIKE 'deadline order (a local search over the deadlines given up misses less than the priority order)%' AS searched
  FROM syncopt.plan('2026-11-23 03:00+00') ORDER BY connector_id;
SELECT connector_id FROM syncopt.planner_candidates('2026-11-23 03:00+00') WHERE action = 'trigger_sync'
 ORDER BY connector_id;
RESET syncopt.max_concurrent_syncs;
DELETE FROM syncopt.connector WHERE connector_id IN (76, 77, 78, 79, 80);
DELETE FROM syncopt.asset;

------------------------------------------------------------------------
-- 3. The calendar changes the order.  X feeds sales_dash (weight 2), Y
-- feeds close_dash (weight 1), both due 08:00 with the same history, so X
-- scores twice Y.  Month-end close multiplies close_dash by 3: Y's weight
-- becomes 3 and it goes first.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (51, 1, 'x', 'X'), (52, 1, 'y', 'Y');
INSERT INTO syncopt.asset (asset_id, name, deadline, weight) VALUES
    (61, 'sales_dash', '08:00', 2), (62, 'close_dash', '08:00', 1);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (51, 61), (52, 62);
SELECT pg_temp.add_runs(51, '{1200,1200}');
SELECT pg_temp.add_runs(52, '{1200,1200}');
SELECT connector_id, downstream_weight, calendar_multiplier
  FROM syncopt.priority_scores('2026-11-23 03:00+00');
INSERT INTO syncopt.calendar_event (name, during, weight_multiplier, asset_id)
VALUES ('month-end close', '[2026-11-23 00:00+00, 2026-11-24 00:00+00)', 3, 62);
SELECT connector_id, downstream_weight, calendar_multiplier, reason LIKE '%x3 for month-end close%' AS says_why
  FROM syncopt.priority_scores('2026-11-23 03:00+00');
-- A tag-scoped event applies to connectors carrying the tag.
UPDATE syncopt.connector SET tags = '{finance}' WHERE connector_id = 51;
INSERT INTO syncopt.calendar_event (name, during, weight_multiplier, tag)
VALUES ('audit week', '[2026-11-23 00:00+00, 2026-11-30 00:00+00)', 2, 'finance');
SELECT connector_id, downstream_weight, calendar_multiplier
  FROM syncopt.priority_scores('2026-11-23 03:00+00');
DELETE FROM syncopt.connector WHERE connector_id IN (51, 52);
DELETE FROM syncopt.asset;
DELETE FROM syncopt.calendar_event;

------------------------------------------------------------------------
-- 4. A load window delays a low-priority heavy sync.  The ERP database is
-- busy 08:00-12:00 UTC on weekdays (load 0.8).  At 09:00:
--   Heavy: P90 120 min (runs 80, 80), due 18:00: waiting until 12:00 still
--          ends at 14:00, so it waits the window out.
--   Urgent: P90 60 min (runs 40, 40), due 10:30: it cannot wait, so it
--          starts now despite the window.
-- A window with load 1 forbids syncing whatever the deadline.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, source_key) VALUES
    (71, 1, 'heavy', 'Heavy', 'erp_db'), (72, 1, 'urgent', 'Urgent', 'erp_db');
INSERT INTO syncopt.asset (asset_id, name, deadline) VALUES (81, 'weekly_extract', '18:00'), (82, 'ops_live', '10:30');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (71, 81), (72, 82);
SELECT pg_temp.add_runs(71, '{4800,4800}');
SELECT pg_temp.add_runs(72, '{2400,2400}');
INSERT INTO syncopt.load_window (name, target, source_key, dow, start_time, end_time, load_factor)
VALUES ('erp business hours', 'source', 'erp_db', '1-5', '08:00', '12:00', 0.8);
SELECT connector_id, planned_start, predicted_end, will_miss, action,
       reason LIKE '%waits out erp business hours%' AS waited
  FROM syncopt.plan('2026-11-23 09:00+00');
SELECT connector_id, load_penalty, round(score::numeric, 4) AS score
  FROM syncopt.priority_scores('2026-11-23 09:00+00');
UPDATE syncopt.load_window SET load_factor = 1;
-- Urgent now starts at 12:00 (ends 13:00, misses 10:30).
SELECT connector_id, planned_start, will_miss, action FROM syncopt.plan('2026-11-23 09:00+00');
-- Before the window, a sync that must end before it has that much less
-- slack.  At 06:00: Urgent's latest start would be 10:30 - 60 min = 09:30,
-- but 09:30-10:30 runs into the window, so it must end by 08:00: start by
-- 07:00, slack 60 min (not 3 h 30).  Urgency: risk (0 + 0.1) / (2 + 2) =
-- 0.025, slack' = 3600 - 0.025 x 2400 = 3540 s, k x mean P90 = 2 x (7200
-- + 3600) / 2 = 10800 s: exp(-3540 / 10800) = 0.7205 (0.3131 without
-- the window).  Heavy (16:00-18:00) clears it: start by 16:00, 10 h.
SELECT connector_id, latest_start, slack, round(urgency::numeric, 4) AS urgency,
       substring(reason FROM 'start by [^(]*') AS start_by
  FROM syncopt.priority_scores('2026-11-23 06:00+00') ORDER BY connector_id;
-- On a Saturday the weekday window does not apply.
SELECT connector_id, planned_start, action FROM syncopt.plan('2026-11-28 09:00+00');
DELETE FROM syncopt.load_window;
-- A warehouse cost window (price x2, 09:00-11:00): Heavy can wait it out
-- (ends 13:00 < 18:00) and its score drops by half; Urgent cannot, no penalty.
INSERT INTO syncopt.load_window (name, target, start_time, end_time, price_multiplier)
VALUES ('peak pricing', 'warehouse', '09:00', '11:00', 2);
SELECT connector_id, cost_penalty FROM syncopt.priority_scores('2026-11-23 09:30+00');
SELECT connector_id, planned_start, action FROM syncopt.plan('2026-11-23 09:30+00');
DELETE FROM syncopt.load_window;

------------------------------------------------------------------------
-- 5. Edge cases: a connector with no history (the fleet's median P50, P90
-- twice that), one run, all runs failed, a paused connector, a deadline
-- across midnight, and a DST gap.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, paused) VALUES
    (91, 1, 'new', 'New', false), (92, 1, 'once', 'Once', false),
    (93, 1, 'broken', 'Broken', false), (94, 1, 'paused', 'Paused', true);
SELECT pg_temp.add_runs(92, '{600}');
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, error_message, source)
    SELECT 93, 'f' || k, timestamptz '2026-11-20 00:00+00' + make_interval(days => k),
           timestamptz '2026-11-20 00:05+00' + make_interval(days => k), 'failed', 'OAuth token expired', 'api'
      FROM generate_series(0, 2) k
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id), true) FROM ins;
INSERT INTO syncopt.asset (asset_id, name, deadline) VALUES (95, 'midnight_report', '00:30');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (91, 95), (92, 95), (93, 95), (94, 95);
-- Fleet median P50 over connectors with history: Heavy 80, Urgent 40,
-- Once 10 min -> 40 min for New.  Once: P50 10 min, P90 15 min.
SELECT connector_id, p50, p90, samples, method FROM syncopt.predict_duration('2026-11-23 23:50+00')
 WHERE connector_id >= 91 ORDER BY connector_id;
-- 23:50 -> next 00:30 is 40 minutes away, tomorrow.  Broken: three
-- failures in a row, risk 1 - 0.5^3 = 0.875.  Paused scores 0.
SELECT connector_id, deadline, round(failure_risk::numeric, 3) AS risk, score = 0 AS zero,
       score = 'NaN' OR urgency = 'NaN' AS nan
  FROM syncopt.priority_scores('2026-11-23 23:50+00') WHERE connector_id >= 91 ORDER BY connector_id;
SELECT connector_id, will_miss, action FROM syncopt.plan('2026-11-23 23:50+00')
 WHERE connector_id >= 91 ORDER BY connector_id;
SELECT risk, blocking_connectors, predicted_ready IS NULL AS never
  FROM syncopt.sla_risk('2026-11-23 23:50+00') WHERE asset_id = 95;
-- A success of Broken the vendor's listing reports (connector.last_success_at,
-- no run folded into its stats): before its last failure (2026-11-22 00:05)
-- the streak stands, risk 0.875; after it the streak is over, as
-- simulate()'s replay counts it, and the risk is the counts'
-- (3 + 0.1) / (3 + 2) = 0.62.
UPDATE syncopt.connector SET last_success_at = '2026-11-21 12:00+00' WHERE connector_id = 93;
SELECT connector_id, round(failure_risk::numeric, 3) AS risk
  FROM syncopt.priority_scores('2026-11-23 23:50+00') WHERE connector_id = 93;
UPDATE syncopt.connector SET last_success_at = '2026-11-23 00:10+00' WHERE connector_id = 93;
SELECT connector_id, round(failure_risk::numeric, 3) AS risk
  FROM syncopt.priority_scores('2026-11-23 23:50+00') WHERE connector_id = 93;
UPDATE syncopt.connector SET last_success_at = NULL WHERE connector_id = 93;
-- 02:30 does not exist in Berlin on 2026-03-29 (clocks jump 02:00 -> 03:00):
-- PostgreSQL reads it with the offset before the jump, 01:30 UTC.  On
-- 2026-10-25, 02:30 happens twice; PostgreSQL takes the standard-time
-- reading, the later one (01:30 UTC).
SELECT syncopt.next_local_time('02:30', '*', 'Europe/Berlin', '2026-03-28 23:00+00') AS spring,
       syncopt.next_local_time('02:30', '*', 'Europe/Berlin', '2026-10-24 23:00+00') AS autumn,
       syncopt.next_local_time('06:00', '1-5', 'America/New_York', '2026-11-27 12:00+00') AS next_weekday,
       syncopt.next_local_time(NULL, '*', 'UTC', '2026-11-27 12:00+00') AS no_deadline;
SELECT syncopt.dow_matches('1-5', 0) AS sun, syncopt.dow_matches('5-7', 0) AS sun_as_7,
       syncopt.dow_matches('0,6', 6) AS sat, syncopt.dow_matches('*', 3) AS any;
------------------------------------------------------------------------
-- A served deadline asks nothing: Shop (source shop_db) feeds stg_shop,
-- which feeds morning_kpi (12:00, freshness 14 h: served by a sync
-- started after 22:00 the day before) and evening_kpi (20:00, freshness
-- 12 h: after 08:00).  Its last sync started on 22 Nov at 00:00 (runs of
-- 600 s: P90 max(1.5 x 600, 600) = 900 s), so at 09:00 it serves
-- morning_kpi but not evening_kpi, and shop_db may not be synced from
-- 10:00 to 20:00.  Its next need is evening_kpi (due 20:00, opening
-- 08:00): a sync now, 09:00-09:15, meets it before the window.  (Taking
-- the served 12:00 deadline as its due, the planner left Shop alone until
-- 12:00, when the window held its sync back to 20:00 and it missed.)
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, source_key)
VALUES (96, 1, 'shop', 'Shop', 'shop_db');
INSERT INTO syncopt.asset (asset_id, name, deadline, freshness_sla) VALUES
    (97, 'stg_shop', NULL, NULL), (98, 'morning_kpi', '12:00', '14 hours'), (99, 'evening_kpi', '20:00', '12 hours');
INSERT INTO syncopt.lineage (upstream_connector_id, upstream_asset_id, asset_id) VALUES
    (96, NULL, 97), (NULL, 97, 98), (NULL, 97, 99);
SELECT pg_temp.add_runs(96, '{600,600}');
INSERT INTO syncopt.load_window (name, target, source_key, start_time, end_time, load_factor)
VALUES ('shop busy', 'source', 'shop_db', '10:00', '20:00', 1);
SELECT connector_id, deadline, deadline_asset_id, latest_start
  FROM syncopt.priority_scores('2026-11-22 09:00+00') WHERE connector_id = 96;
SELECT connector_id, planned_start, predicted_end, deadline, will_miss, action
  FROM syncopt.plan('2026-11-22 09:00+00') WHERE connector_id = 96;
DELETE FROM syncopt.load_window;
-- A horizon beyond a month is refused.
SELECT * FROM syncopt.plan(now(), '40 days');
SELECT * FROM syncopt.plan(now(), '-1 hour');

DROP EXTENSION syncopt CASCADE;
