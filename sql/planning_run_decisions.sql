-- A planning run writes its decisions together (write_decisions()), in
-- the candidates' order, and still decides each as if the earlier ones
-- were written: auto mode's hourly caps count the run's own approvals, a
-- refused automatic action is recorded as a proposal saying why, and each
-- mode (shadow, co-pilot, auto) gives its own status in one run.  Planned
-- at 2054-11-23 04:10 UTC (a Monday, ahead of the clock, so proposals'
-- expiry never depends on today's date).
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
SET syncopt.max_concurrent_syncs = 10;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/add_runs.sql

-- The fleet of planning_run: C1..C4 sync daily at 05:00, each feeding a
-- dashboard due 06:00 with weight 1..4; a P90 of 75 min means each must
-- start by 04:45: four trigger_sync candidates, C4 the most urgent, then
-- C3, C2, C1.
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes, schedule_type, daily_sync_time)
SELECT i, 1, 'c' || i, 'C' || i, 1440, 'auto', '05:00' FROM generate_series(1, 4) i;
SELECT count(pg_temp.add_runs(i, '{2400,3600}')) AS with_runs FROM generate_series(1, 4) i;
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight)
SELECT i, 'dash' || i, 'dashboard', '06:00', i FROM generate_series(1, 4) i;
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) SELECT i, i FROM generate_series(1, 4) i;

-- C4 in shadow mode, C3 in co-pilot, C1 and C2 in auto (the default row).
-- Fleet-wide, 19 automatic actions were approved within the hour (on C5,
-- which plans nothing), one short of syncopt.max_auto_actions_per_hour's
-- 20.  An open manual proposal to trigger C3 with force: the run's
-- co-pilot proposal (force false) differs, so it is written and
-- supersedes it.
INSERT INTO syncopt.policy (mode, max_actions_per_hour) VALUES ('auto', 4);
INSERT INTO syncopt.policy (connector_id, mode) VALUES (4, 'shadow'), (3, 'copilot');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (5, 1, 'c5', 'C5');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status, approved_by, expires_at)
SELECT 5, 'trigger_sync', 'earlier', 'auto', 'approved', 'syncopt:auto', now() + interval '1 hour'
  FROM generate_series(1, 19);
SELECT decision_id AS manual_c3 FROM syncopt.propose(3, 'trigger_sync', '{"force": true}', 'by hand') \gset

-- In the run's order: C4 logged in shadow; C3 proposed for a human; C2
-- approved by syncopt:auto (the 20th automatic action this hour); C1
-- refused by the global cap, which counts C2's approval of this same run
-- (without it, 19 would be under the cap and C1 approved too): it waits
-- for a human as a proposal whose guardrail says why.  The ids follow
-- the order; each decision's `previous` is its connector's settings.
SELECT row_number() OVER (ORDER BY decision_id) AS nth, connector_id, action, params, mode, status,
       approved_by, guardrail, previous->>'daily_sync_time' AS previous_time,
       decision_id > :manual_c3 AS after_manual
  FROM syncopt.run_planner('2054-11-23 04:10+00');
SELECT candidates, written, auto_approved, refused, superseded, alerts > 0 AS alerted
  FROM syncopt.planner_run;
-- The manual proposal is superseded by the run's C3 proposal.
SELECT m.status, n.connector_id AS superseded_by_connector, n.mode AS superseded_by_mode
  FROM syncopt.fivetran_sync_ai_logs m JOIN syncopt.fivetran_sync_ai_logs n ON n.decision_id = m.superseded_by
 WHERE m.decision_id = :manual_c3;
-- The two proposals of the run (C3's and the refused C1) await approval
-- in one alert, most urgent first.
SELECT regexp_replace(message, '#[0-9]+', '#N', 'g') AS message
  FROM syncopt.alert WHERE kind = 'approval_needed';
-- One audit event for each decision the run wrote, as it was inserted,
-- in the run's order, and the manual proposal's change to superseded,
-- written with the proposal that supersedes it (C4 was written alone,
-- first: the most urgent).
SELECT l.connector_id, l.mode, e.old_status, e.new_status
  FROM syncopt.decision_event e JOIN syncopt.fivetran_sync_ai_logs l USING (decision_id)
 WHERE l.connector_id <> 5
 ORDER BY e.event_id;

DROP EXTENSION syncopt CASCADE;
