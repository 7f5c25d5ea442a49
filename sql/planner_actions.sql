-- The planner's actions besides triggers and the pause of a broken
-- connector (decide.sql): each on a connector set up for it, with the
-- right answer worked out by hand in the comments, and what must not
-- propose it.  Planned at 2054-11-23 04:00 UTC (a Monday, ahead of the
-- clock, so proposals' expiry never depends on today's date).
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com'),
    (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.policy (mode) VALUES ('copilot');
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/add_runs.sql

------------------------------------------------------------------------
-- 1. set_schedule: a daily sync inside a priced warehouse window.  Ads
-- (daily at 09:00 UTC, two 30-minute runs, no deadline) runs inside peak
-- (08:00-18:00, price x2).  At 18:00, the first hour after the window, it
-- saves 30 min x (2 - 1) = 30 min of priced time (over the 5-minute
-- minimum).  Approved after 09:00, today's run has gone at the peak
-- price: act_by 09:00.  Ads6h (every 6 hours) is not a daily sync: left.
-- AdsDash, like Ads but feeding a dashboard due 18:30, would land at
-- 18:00 + its P90 (1.5 x 30 = 45 min while cold) = 18:45: the SLA comes
-- before the cost, so it stays at 09:00.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes, schedule_type, daily_sync_time) VALUES
    (1, 1, 'ads', 'Ads', 1440, 'auto', '09:00'), (2, 1, 'ads6h', 'Ads6h', 360, 'auto', NULL),
    (9, 1, 'adsdash', 'AdsDash', 1440, 'auto', '09:00');
SELECT pg_temp.add_runs(1, '{1800,1800}'), pg_temp.add_runs(2, '{1800,1800}'), pg_temp.add_runs(9, '{1800,1800}');
INSERT INTO syncopt.asset (asset_id, name, kind, deadline) VALUES (3, 'ads_dash', 'dashboard', '18:30');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (9, 3);
INSERT INTO syncopt.load_window (name, target, start_time, end_time, price_multiplier)
VALUES ('peak', 'warehouse', '08:00', '18:00', 2);
SELECT connector_id, action, params, benefit, act_by, reason
  FROM syncopt.planner_candidates('2054-11-23 04:00+00') ORDER BY connector_id, action;
SELECT connector_id, action, status, act_by FROM syncopt.run_planner('2054-11-23 04:00+00');
DELETE FROM syncopt.load_window;

------------------------------------------------------------------------
-- 2. set_batch_size: Loader (Airbyte, batch 5000 x 4 streams) ran six
-- clean 10-minute syncs of 100,000 rows (167 rows/s each: no spread, so
-- confidence 6 / (6 + 5) = 0.55, over the 0.5 the planner asks), then
-- one throttled by HTTP 429.  AIMD backs off to 0.9 x 5000 = 4500, which
-- differs from 5000 by 10%: proposed.  Steady (same runs, last one clean)
-- would grow by a tenth of its median batch (+500 = 10%) and one stream,
-- with the policy capping the batch at 5000: no change, nothing proposed.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, batch_size, parallelism, raw) VALUES
    (3, 2, '9924bcd0-99be-453d-ba47-000000000003', 'Loader', 5000, 4, '{"sourceId": "95e66a59-0003"}'),
    (4, 2, '9924bcd0-99be-453d-ba47-000000000004', 'Steady', 5000, 4, '{"sourceId": "95e66a59-0004"}');
INSERT INTO syncopt.policy (connector_id, mode, max_batch_size) VALUES (4, 'copilot', 5000);
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                              batch_size, parallelism, error_message, source)
SELECT cid, 'b' || k, s, s + interval '10 min', CASE WHEN cid = 3 AND k = 7 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN cid = 3 AND k = 7 THEN NULL ELSE 100000 END, 5000, 4,
       CASE WHEN cid = 3 AND k = 7 THEN 'HTTP 429 Too Many Requests from source API' END, 'api'
  FROM (VALUES (3), (4)) AS v(cid), generate_series(1, 7) k,
       LATERAL (SELECT timestamptz '2054-11-15 00:00+00' + make_interval(days => k) AS s) x;
SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id), true) FROM syncopt.sync_run WHERE connector_id IN (3, 4);
SELECT connector_id, round(confidence::numeric, 2) AS confidence, recommended_batch_size
  FROM syncopt.batch_recommendations('2054-11-23 04:00+00') WHERE connector_id IN (3, 4) ORDER BY connector_id;
SELECT connector_id, action, params, act_by, reason
  FROM syncopt.planner_candidates('2054-11-23 04:00+00') WHERE action = 'set_batch_size';
SELECT connector_id, action, status, params FROM syncopt.run_planner('2054-11-23 04:00+00');
-- The executor would send it to the source, as Airbyte's API defines.
SELECT r.method, r.path, r.body
  FROM syncopt.fivetran_sync_ai_logs l, LATERAL syncopt.render_request(l.decision_id) r
 WHERE l.connector_id = 3 AND l.action = 'set_batch_size';

------------------------------------------------------------------------
-- 3. notify: an SLA at high risk.  Slow (two 2-hour runs: P90 1.5 x 2 h
-- = 3 h while cold) feeds board_pack, due 05:00; started at 04:00 it
-- lands at 07:00, two hours late.  One critical notice names the report, its due time and the
-- connector that blocks it, by name.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (5, 1, 'slow', 'Slow');
SELECT pg_temp.add_runs(5, '{7200,7200}');
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight) VALUES (1, 'board_pack', 'report', '05:00', 3);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (5, 1);
SELECT asset_id, deadline, predicted_ready, risk, blocking_connectors FROM syncopt.sla_risk('2054-11-23 04:00+00');
SELECT connector_id, action, params, act_by, reason
  FROM syncopt.planner_candidates('2054-11-23 04:00+00') WHERE action = 'notify';

------------------------------------------------------------------------
-- 4. resync_tables: a column retyped against the data contract.  Shop
-- (Fivetran) delivers public.orders.amount as text where the contract
-- says numeric; orders_model reads it.  A text column added to
-- customers is not a retype: that table is left out.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (6, 1, 'shop', 'Shop');
INSERT INTO syncopt.asset (asset_id, name) VALUES (2, 'orders_model');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (6, 2);
INSERT INTO syncopt.data_contract (connector_id, schema_name, table_name, column_name, data_type) VALUES
    (6, 'public', 'orders', 'id', 'integer'), (6, 'public', 'orders', 'amount', 'numeric'),
    (6, 'public', 'customers', 'id', 'bigint');
INSERT INTO syncopt.schema_snapshot (connector_id, captured_at, schema_hash, tables) VALUES
    (6, '2054-11-22', 'h2', '{"public": {"orders": {"id": "int4", "amount": "text"},
                                         "customers": {"id": "bigint", "email": "text"}}}');
SELECT connector_id, action, params, act_by, reason
  FROM syncopt.planner_candidates('2054-11-23 04:00+00') WHERE action = 'resync_tables';

------------------------------------------------------------------------
-- 5. resume: Hub failed three times on its credentials, so the planner
-- proposed a pause, an approver approved it and the vendor paused it.
-- While its setup is broken, nothing; once the vendor reports it
-- connected again (details read after the pause), resume.  Desk, paused
-- by a person (a manual proposal), is never resumed by the planner.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, setup_state) VALUES
    (7, 1, 'hub', 'Hub', 'broken'), (8, 1, 'desk', 'Desk', 'connected');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, error_message, source)
SELECT 7, 'f' || k, timestamptz '2054-11-22 00:00+00' + k * interval '1 hour',
       timestamptz '2054-11-22 00:01+00' + k * interval '1 hour', 'failed',
       'Invalid credentials: 401 Unauthorized', 'api'
  FROM generate_series(1, 3) k;
SELECT syncopt.absorb_runs(array_agg(run_id), true) FROM syncopt.sync_run WHERE connector_id = 7;
SELECT connector_id, action, status FROM syncopt.run_planner('2054-11-23 04:00+00') WHERE connector_id = 7;
SELECT (syncopt.propose(8, 'pause', '{}', 'holiday freeze')).decision_id AS desk_pause \gset
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE action = 'pause' AND status = 'proposed';
SELECT count(*) AS claimed FROM syncopt.executor_claim(10);
SELECT syncopt.executor_record(decision_id, 200, '{"code": "Success", "data": {"paused": true}}', NULL, 1, false, -1)
  FROM syncopt.fivetran_sync_ai_logs WHERE action = 'pause' AND status = 'executing' ORDER BY decision_id;
SELECT connector_id, paused, setup_state FROM syncopt.connector WHERE connector_id IN (7, 8) ORDER BY connector_id;
SELECT count(*) AS resumes_while_broken
  FROM syncopt.planner_candidates('2054-11-23 04:00+00') WHERE action = 'resume';
UPDATE syncopt.connector SET setup_state = 'connected', details_at = clock_timestamp() WHERE connector_id = 7;
SELECT connector_id, action, act_by,
       reason ~ '^Resume: syncopt paused it with decision \d+ at \d{4}-\d\d-\d\d \d\d:\d\d UTC; Fivetran now reports its setup as connected \(details read \d{4}-\d\d-\d\d \d\d:\d\d UTC\), so the cause looks fixed\.$' AS explains
  FROM syncopt.planner_candidates('2054-11-23 04:00+00') WHERE action = 'resume';

DROP EXTENSION syncopt CASCADE;
