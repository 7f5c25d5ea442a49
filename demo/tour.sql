-- The syncopt tour: run by `make demo` with psql -e, so each statement is
-- printed before its result.
\pset footer off
\set VERBOSITY default
\set SHOW_CONTEXT never

\echo
\echo '== 1. Install. syncopt runs two background workers in this database.'
CREATE EXTENSION syncopt;
CREATE ROLE alice LOGIN IN ROLE syncopt_approver;
-- Wait (at most 10 s) for the workers to notice the extension.
DO $$ BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT bool_and(state = 'idle') FROM syncopt.worker_status());
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT worker, pid, database, state FROM syncopt.worker_status();

\echo
\echo '== 2. Configure: an account (its secret is write-only), connectors, what depends on them.'
INSERT INTO syncopt.account (vendor, name, base_url) VALUES
    ('fivetran', 'fivetran-prod', 'https://api.fivetran.com'),
    ('airbyte', 'airbyte-cloud', 'https://api.airbyte.com/v1');
SELECT syncopt.set_credentials(1, 'demo-key', 'demo-secret');
SELECT account_id, name, has_credentials FROM syncopt.credential_status;
INSERT INTO syncopt.connector (account_id, external_id, name, service, schedule_minutes, tags) VALUES
    (1, 'decent_dropsy', 'salesforce', 'salesforce', 360, '{finance}'),
    (2, '9e3b6a0c-5f1d-4c2e-9a77-0b8c2d4e6f10', 'postgres_orders', 'postgres', 1440, '{}');
INSERT INTO syncopt.asset (name, kind, deadline, timezone, days, weight) VALUES
    ('stg_accounts', 'dbt_model', NULL, 'UTC', '*', 1),
    ('exec_revenue', 'dashboard', '06:00', 'America/New_York', '1-5', 5);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (1, 1), (2, 1);
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (1, 2);
\echo 'Lineage is a DAG; a cycle is refused with its path:'
\set ON_ERROR_STOP off
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (2, 1);
\set ON_ERROR_STOP on

\echo
\echo '== 3. Propose. (The planner will write these; here an admin does.)'
SELECT decision_id, vendor, action, params, status, expires_at
  FROM syncopt.propose(1, 'trigger_sync', '{"force": false}',
                       'exec_revenue is due at 06:00 New York time');
\echo 'A Fivetran frequency that does not exist is refused when proposed, not when executed:'
\set ON_ERROR_STOP off
SELECT syncopt.propose(1, 'set_schedule', '{"sync_frequency": 45}', 'every 45 minutes');
\set ON_ERROR_STOP on

\echo
\echo '== 4. Approve with one UPDATE, as alice. The executor wakes when it commits.'
SELECT wake_requests, wakes_handled FROM syncopt.worker_status() WHERE worker = 'executor' \gset before_
SET SESSION AUTHORIZATION alice;
\echo 'A rolled-back approval changes nothing and wakes nobody:'
BEGIN;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = 1;
ROLLBACK;
SELECT wake_requests = :before_wake_requests AS no_wake_requested
  FROM syncopt.worker_status() WHERE worker = 'executor';
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved', review_note = 'go ahead'
 WHERE decision_id = 1;
RESET SESSION AUTHORIZATION;
DO $$ BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT wakes_handled = wake_requests FROM syncopt.worker_status() WHERE worker = 'executor');
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT worker, wake_requests - :before_wake_requests AS new_wakes, wakes_handled = wake_requests AS handled,
       last_wake_at
  FROM syncopt.worker_status() WHERE worker = 'executor';
SELECT decision_id, status, approved_by, approved_at, review_note FROM syncopt.fivetran_sync_ai_logs;

\echo
\echo '== 5. The state machine holds for everyone. Only syncopt itself moves a decision on:'
SET SESSION AUTHORIZATION alice;
\set ON_ERROR_STOP off
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'succeeded' WHERE decision_id = 1;
UPDATE syncopt.fivetran_sync_ai_logs SET params = '{"force": true}' WHERE decision_id = 1;
\set ON_ERROR_STOP on
RESET SESSION AUTHORIZATION;

\echo
\echo '== 6. Every step is audited: who, as which role, what changed.'
SELECT event_id, old_status, new_status, actor, via_role, note,
       (SELECT string_agg(k, ', ') FROM jsonb_object_keys(changes) k) AS changed
  FROM syncopt.decision_event ORDER BY event_id;
\echo
\echo 'The legal moves (syncopt.decision_transition):'
SELECT from_status, to_status, actor, meaning FROM syncopt.decision_transition ORDER BY 1, 2;
