-- syncopt.propose(): manual proposals, their checks, and superseding.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.connector (account_id, external_id, name, paused, schedule_minutes, schedule_type, tags)
VALUES (1, 'decent_dropsy', 'salesforce', false, 360, 'auto', '{finance}'),
       (2, '9e3b6a0c-0000-4000-8000-000000000001', 'postgres_to_snowflake', false, 1440, 'cron', '{}');
INSERT INTO syncopt.connector (account_id, external_id, name, deleted_at)
VALUES (1, 'gone_connector', 'deleted at vendor', '2026-01-01 00:00Z');

-- A proposal: manual mode, proposed, expires after the (built-in) 4 hour TTL,
-- remembers the connector's state for rollback.
BEGIN;
SELECT decision_id, vendor, action, params, mode, status, expires_at - now() AS ttl, previous
  FROM syncopt.propose(1, 'set_schedule', '{"sync_frequency": 720}', 'move out of the 08:00-18:00 peak');
COMMIT;

-- A newer proposal of the same action supersedes the older one.
SELECT decision_id FROM syncopt.propose(1, 'set_schedule', '{"sync_frequency": 1440, "daily_sync_time": "02:00"}', 'nightly is enough');
SELECT decision_id, status, superseded_by FROM syncopt.fivetran_sync_ai_logs ORDER BY decision_id;
-- A different action does not.
SELECT decision_id FROM syncopt.propose(1, 'trigger_sync', '{}', 'exec dashboard due at 06:00');
SELECT decision_id, action, status FROM syncopt.fivetran_sync_ai_logs WHERE status = 'proposed' ORDER BY 1;

-- Bad input: clear errors, nothing written.
SELECT count(*) AS decisions_before FROM syncopt.fivetran_sync_ai_logs;
SELECT syncopt.propose(99, 'pause', '{}', 'x');
SELECT syncopt.propose(3, 'pause', '{}', 'x');
SELECT syncopt.propose(1, 'pause', '{}', '');
SELECT syncopt.propose(1, 'pause', '{}', NULL);
SELECT syncopt.propose(1, 'explode', '{}', 'x');
SELECT syncopt.propose(1, 'pause', '{"paused": true}', 'x');
SELECT syncopt.propose(1, 'pause', '"yes"', 'x');
SELECT syncopt.propose(1, 'trigger_sync', '{"force": "yes"}', 'x');
SELECT syncopt.propose(1, 'set_schedule', '{}', 'x');
SELECT syncopt.propose(1, 'set_schedule', '{"sync_frequency": 45}', 'x');
SELECT syncopt.propose(1, 'set_schedule', '{"sync_frequency": "60"}', 'x');
SELECT syncopt.propose(1, 'set_schedule', '{"schedule_type": "hourly"}', 'x');
SELECT syncopt.propose(1, 'set_schedule', '{"sync_frequency": 1440, "daily_sync_time": "02:30"}', 'x');
SELECT syncopt.propose(1, 'set_schedule', '{"sync_frequency": 60, "daily_sync_time": "02:00"}', 'x');
SELECT syncopt.propose(1, 'set_schedule', '{"cron_expression": "0 0 * * * ?"}', 'x');
SELECT syncopt.propose(2, 'set_schedule', '{"schedule_type": "basic"}', 'x');
SELECT syncopt.propose(2, 'set_schedule', '{"schedule_type": "cron", "cron_expression": "0 * * * *"}', 'x');
SELECT syncopt.propose(2, 'set_schedule', '{"schedule_type": "manual", "cron_expression": "0 0 * * * ?"}', 'x');
SELECT syncopt.propose(2, 'resync_tables', '{"tables": {"public": ["orders"]}}', 'x');
SELECT syncopt.propose(1, 'resync_tables', '{}', 'x');
SELECT syncopt.propose(1, 'resync_tables', '{"tables": {"public": []}}', 'x');
SELECT syncopt.propose(1, 'resync_tables', '{"tables": {"public": "orders"}}', 'x');
SELECT syncopt.propose(1, 'resync_connector', '{"scope": {}}', 'x');
SELECT syncopt.propose(1, 'set_batch_size', '{"batch_size": 5000}', 'x');
SELECT syncopt.propose(2, 'set_batch_size', '{"batch_size": 0}', 'x');
SELECT syncopt.propose(2, 'set_batch_size', '{"batch_size": 5000, "parallelism": -2}', 'x');
SELECT syncopt.propose(2, 'notify', '{"severity": "panic"}', 'x');
SELECT count(*) AS decisions_after FROM syncopt.fivetran_sync_ai_logs;

-- Every accepted shape goes through.
SELECT (d).action, (d).params, (d).status FROM (VALUES
    (syncopt.propose(1, 'pause', NULL, 'credentials expired')),
    (syncopt.propose(1, 'resume', '{}', 'credentials fixed')),
    (syncopt.propose(1, 'resync_tables', '{"tables": {"public": ["orders", "customers"]}}', 'schema change')),
    (syncopt.propose(1, 'resync_connector', '{"scope": {"public": ["orders"]}}', 'historical re-sync')),
    (syncopt.propose(2, 'set_schedule', '{"schedule_type": "cron", "cron_expression": "0 0 */6 * * ?"}', 'every 6 hours')),
    (syncopt.propose(2, 'set_schedule', '{"schedule_type": "manual"}', 'planner triggers it')),
    (syncopt.propose(2, 'set_batch_size', '{"batch_size": 5000, "parallelism": 2}', 'AIMD step')),
    (syncopt.propose(2, 'notify', '{"message": "SLA at risk", "severity": "warning"}', 'tell the owner'))
) v(d) ORDER BY (d).decision_id;

-- Policy: actions outside allowed_actions and pausing a protected connector are refused.
INSERT INTO syncopt.policy (tag, mode, allowed_actions, protect)
VALUES ('finance', 'copilot', '{trigger_sync,pause}', true);
SELECT syncopt.propose(1, 'set_schedule', '{"sync_frequency": 60}', 'x');
SELECT syncopt.propose(1, 'pause', '{}', 'x');
SELECT status FROM syncopt.propose(1, 'trigger_sync', '{}', 'allowed by the finance policy');
UPDATE syncopt.policy SET proposal_ttl = '30 minutes' WHERE tag = 'finance';
BEGIN;
SELECT expires_at - now() AS ttl FROM syncopt.propose(1, 'trigger_sync', '{}', 'ttl from the policy');
COMMIT;

DROP EXTENSION syncopt;
