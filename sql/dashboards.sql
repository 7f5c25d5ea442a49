-- The dashboard views on a small fleet whose rows are worked out by hand,
-- read as a syncopt_reader login.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, paused, setup_state) VALUES
    (1, 1, 'ok', 'ok', false, 'connected'), (2, 1, 'flaky', 'flaky', false, 'connected'),
    (3, 1, 'down', 'down', false, 'connected'), (4, 1, 'creds', 'creds', false, 'broken'),
    (5, 1, 'held', 'held', true, 'connected'), (6, 1, 'new', 'new', false, 'connected');
-- ok: 14 daily 10-minute runs, then one of 100 minutes started two hours
-- ago (an anomaly); flaky: a success then 1 failure, a reset connection (a
-- retry is safe, so the planner may start it again); down: a success then 3
-- failures.  ok's runs all start at the same time of day, so the duration
-- model's time-of-day effect is the same whatever hour the test runs at.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT 1, 'd' || k, now() - make_interval(days => k, hours => 2),
       now() - make_interval(days => k, hours => 2) + interval '10 minutes', 'succeeded', 1000, 'api'
  FROM generate_series(1, 14) k;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, error_message, source) VALUES
    (1, 'spike', now() - interval '2 hours', now() - interval '20 minutes', 'succeeded', 1000, NULL, 'api'),
    (2, 's', now() - interval '5 hours', now() - interval '4 hours 30 minutes', 'succeeded', 10, NULL, 'api'),
    (2, 'f', now() - interval '3 hours', now() - interval '2 hours 50 minutes', 'failed', 0, 'Connection reset by peer', 'api'),
    (3, 's', now() - interval '9 hours', now() - interval '8 hours', 'succeeded', 10, NULL, 'api'),
    (3, 'f1', now() - interval '7 hours', now() - interval '6 hours 45 minutes', 'failed', 0, NULL, 'api'),
    (3, 'f2', now() - interval '5 hours', now() - interval '4 hours 45 minutes', 'failed', 0, NULL, 'api'),
    (3, 'f3', now() - interval '3 hours', now() - interval '2 hours 45 minutes', 'failed', 0, NULL, 'api');
SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id)) IS NOT NULL AS absorbed FROM syncopt.sync_run;
CREATE ROLE dash_reader LOGIN IN ROLE syncopt_reader;

SET SESSION AUTHORIZATION dash_reader;
SELECT connector_id, name, health, consecutive_failures, runs, success_rate_pct, reason
  FROM syncopt.connector_health ORDER BY connector_id;
-- Last 7 days: ok has 6 daily runs (days 1-6; day 7 started 7 days and 2
-- hours ago) of 10 min plus the 100-minute spike: 160 min = 2.67 h;
-- flaky 30 + 10 min = 0.67 h, down 60 + 3 x 15 min = 1.75 h.  Total
-- 305 min: shares 52.46, 13.11, 34.43 percent.
SELECT connector_id, syncs, failed_syncs, sync_hours, share_of_sync_time_pct
  FROM syncopt.cost_by_connector ORDER BY connector_id;
RESET SESSION AUTHORIZATION;
-- Credits where runs reported them: down's success 1.5 and first failure
-- 0.25 (its other failures none) sum to 1.75; flaky's success reported 0,
-- which is 0, not unknown; ok reported none, so its credits are NULL.
BEGIN;
UPDATE syncopt.sync_run SET credits = 1.5 WHERE connector_id = 3 AND external_run_id = 's';
UPDATE syncopt.sync_run SET credits = 0.25 WHERE connector_id = 3 AND external_run_id = 'f1';
UPDATE syncopt.sync_run SET credits = 0 WHERE connector_id = 2 AND external_run_id = 's';
SELECT connector_id, reported_credits, reported_credits IS NULL AS unknown
  FROM syncopt.cost_by_connector ORDER BY connector_id;
ROLLBACK;

-- Plan and SLA views show the latest planning run.  A dashboard due in
-- 3 hours fed by ok and flaky, wanting data from the last 4 hours: ok's
-- last sync (started 2 hours ago) and flaky's (5 hours ago) are too old
-- for it, so the planner syncs both now.
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, timezone, weight, freshness_sla)
VALUES (1, 'exec', 'dashboard', (now() + interval '3 hours')::time, 'UTC', 5, '4 hours');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (1, 1), (2, 1);
SET SESSION AUTHORIZATION dash_reader;
SELECT count(*) AS before_any_run FROM syncopt.plan_timeline;
RESET SESSION AUTHORIZATION;
-- Co-pilot, so the run's proposals wait for a human: a trigger for each
-- of exec's inputs (no vendor schedule would start them) and a pause for
-- down (3 failures without a reason to retry on).
INSERT INTO syncopt.policy (mode) VALUES ('copilot');
SELECT connector_id, action, status FROM syncopt.run_planner() ORDER BY connector_id;
SET SESSION AUTHORIZATION dash_reader;
SELECT connector, action, will_miss, deadline = (SELECT min(deadline) FROM syncopt.sla_status) AS same_deadline
  FROM syncopt.plan_timeline ORDER BY connector;
SELECT asset, status, deadline > now() AS ahead FROM syncopt.sla_status;
-- The planning run found the anomalies of the last 24 hours: the spike is
-- the only anomalous duration (100 min against a steady 10).
SELECT connector, metric, direction, observed, expected FROM syncopt.anomaly_feed WHERE metric = 'duration';
SELECT (SELECT count(*) FROM syncopt.plan_timeline) = (SELECT count(*) FROM syncopt.plan(now(), '24 hours'))
       AS timeline_is_the_plan;
RESET SESSION AUTHORIZATION;
-- What to decide first.  flaky (P90 45 min) scores higher than ok (P90
-- 65 min, the 100-minute spike in its window), but ok must start first:
-- exec is due in 3 h, so ok by 1 h 55 min from now and flaky by 2 h 15
-- min (act_by).  The pause has nothing at stake in time: last.
SET SESSION AUTHORIZATION dash_reader;
SELECT connector, action, act_by = (SELECT deadline FROM syncopt.sla_status) - interval '45 minutes' AS by_deadline_less_45_min,
       act_by > now() AS ahead,
       rank() OVER (ORDER BY act_by NULLS LAST, priority_score DESC NULLS LAST) AS decide_order,
       rank() OVER (ORDER BY priority_score DESC NULLS LAST) AS score_order
  FROM syncopt.pending_approvals ORDER BY decide_order;
-- The digest and the approval_needed alert list them in that order.
SELECT k AS line, substring(line FROM '^  #\d+ (\w+ on \w+) \(') AS proposal, line LIKE '%(act by %' AS says_act_by
  FROM regexp_split_to_table(syncopt.digest(), E'\n') WITH ORDINALITY AS d(line, k)
 WHERE line ~ '^  #' ORDER BY k;
RESET SESSION AUTHORIZATION;
SELECT message ~ '^3 new proposal\(s\) await approval: #\d+ trigger_sync on ok, #\d+ trigger_sync on flaky, #\d+ pause on down$' AS alert_in_order
  FROM syncopt.alert WHERE kind = 'approval_needed';
-- A second run replaces the snapshot instead of adding to it, and
-- proposes nothing new while those are open.
SELECT count(*) AS written_again FROM syncopt.run_planner();
SELECT count(DISTINCT planner_run_id) AS runs_shown, count(*) AS rows FROM syncopt.plan_timeline;

-- Approvals and audit: a manual proposal waits; once approved it leaves
-- the queue (the planner's proposals rejected first).
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected' WHERE status = 'proposed';
SELECT decision_id FROM syncopt.propose(2, 'trigger_sync', '{}', 'flaky feeds exec') \gset
SET SESSION AUTHORIZATION dash_reader;
SELECT decision_id = :decision_id AS mine, connector, action, reason FROM syncopt.pending_approvals;
RESET SESSION AUTHORIZATION;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved', review_note = 'ok' WHERE decision_id = :decision_id;
SET SESSION AUTHORIZATION dash_reader;
SELECT count(*) AS pending FROM syncopt.pending_approvals;
SELECT connector, action, old_status, new_status, actor = current_user AS by_reader
  FROM syncopt.decision_audit WHERE decision_id = :decision_id ORDER BY event_id;
RESET SESSION AUTHORIZATION;

-- Views never widen access: a login without syncopt_reader sees nothing.
CREATE ROLE dash_nobody LOGIN;
SET SESSION AUTHORIZATION dash_nobody;
\set VERBOSITY terse
SELECT count(*) FROM syncopt.connector_health;
RESET SESSION AUTHORIZATION;
DROP ROLE dash_reader;
DROP ROLE dash_nobody;

DROP EXTENSION syncopt CASCADE;
