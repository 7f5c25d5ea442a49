-- Approving: who may change what, stamping, expiry, the audit trail, and
-- the rows that can never be deleted.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;
CREATE ROLE regress_alice LOGIN IN ROLE syncopt_approver;
CREATE ROLE regress_reader IN ROLE syncopt_reader;
CREATE ROLE regress_broad IN ROLE syncopt_approver;   -- granted more than syncopt grants

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (account_id, external_id, name) VALUES (1, 'decent_dropsy', 'salesforce');
INSERT INTO syncopt.connector (account_id, external_id, name) VALUES (1, 'ember_thaw', 'stripe');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, params, reason, mode, status, expires_at)
VALUES (1, 'trigger_sync', '{"force": false}', 'dashboard exec_kpis is due at 06:00', 'copilot', 'proposed', now() + interval '1 hour'),
       (2, 'pause', '{}', 'credentials expired', 'copilot', 'proposed', now() + interval '1 hour');

-- Vendor and account come from the connector.
SELECT decision_id, account_id, vendor, status, proposed_by, approved_by IS NULL AS unapproved
  FROM syncopt.fivetran_sync_ai_logs ORDER BY decision_id;

-- An approval is stamped with the session user, whoever it runs as.
SET SESSION AUTHORIZATION regress_alice;
BEGIN;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved', review_note = 'go'
 WHERE decision_id = 1;
SELECT decision_id, status, approved_by, approved_at = now() AS approved_now, review_note
  FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = 1;
COMMIT;

-- Approvers change status and review_note only.
UPDATE syncopt.fivetran_sync_ai_logs SET params = '{"force": true}' WHERE decision_id = 2;
UPDATE syncopt.fivetran_sync_ai_logs SET approved_by = 'someone_else' WHERE decision_id = 2;
DELETE FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = 2;
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (1, 'pause', 'x', 'copilot', 'proposed');
SELECT count(*) FROM syncopt.account_secret;
RESET SESSION AUTHORIZATION;

-- Even a role granted UPDATE on every column cannot edit a decision's content.
GRANT UPDATE ON syncopt.fivetran_sync_ai_logs TO regress_broad;
SET ROLE regress_broad;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected', params = '{"force": true}', reason = 'edited'
 WHERE decision_id = 2;
RESET ROLE;

-- Nor can syncopt itself rewrite what was decided.
UPDATE syncopt.fivetran_sync_ai_logs SET action = 'resume' WHERE decision_id = 2;
UPDATE syncopt.fivetran_sync_ai_logs SET expires_at = now() + interval '1 year' WHERE decision_id = 2;

-- Readers cannot approve.
SET ROLE regress_reader;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected' WHERE decision_id = 2;
RESET ROLE;

-- Expiry: an expired proposal cannot be approved, and the expiry pass marks it.
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status, created_at, expires_at)
VALUES (1, 'pause', 'too late', 'copilot', 'proposed', '2026-01-01 00:00Z', '2026-01-01 04:00Z');
SET SESSION AUTHORIZATION regress_alice;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = 3;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected' WHERE decision_id = 3;
RESET SESSION AUTHORIZATION;
SELECT status FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = 3;
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status, created_at, expires_at)
VALUES (2, 'resume', 'too late too', 'copilot', 'proposed', '2026-01-01 00:00Z', '2026-01-01 04:00Z');
SELECT syncopt.expire_decisions() AS expired;
SELECT decision_id, status FROM syncopt.fivetran_sync_ai_logs WHERE decision_id IN (2, 4) ORDER BY 1;
SELECT syncopt.expire_decisions() AS expired_again;

-- How a decision may start.  (Terse: the failing rows hold now().)
\set VERBOSITY terse
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (1, 'trigger_sync', 'x', 'copilot', 'executing');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (1, 'trigger_sync', 'x', 'copilot', 'approved');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (1, 'trigger_sync', 'x', 'auto', 'approved');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (1, 'trigger_sync', 'x', 'shadow', 'proposed');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, vendor, action, reason, mode, status)
VALUES (1, 'airbyte', 'trigger_sync', 'x', 'copilot', 'proposed');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (1, 'trigger_sync', ' ', 'copilot', 'proposed');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, params, reason, mode, status)
VALUES (1, 'trigger_sync', '[1]', 'x', 'copilot', 'proposed');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (1, 'drop_table', 'x', 'copilot', 'proposed');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status, approved_by)
VALUES (1, 'trigger_sync', 'inside guardrails', 'auto', 'approved', 'syncopt:auto');
SELECT decision_id, status, approved_by, approved_at IS NOT NULL AS stamped
  FROM syncopt.fivetran_sync_ai_logs WHERE mode = 'auto';
-- One open proposal per connector and action.
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (2, 'pause', 'again', 'copilot', 'proposed');
\set VERBOSITY default

-- Open and in-flight decisions can never be deleted; finished ones can.
DELETE FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = 1;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'executing' WHERE decision_id = 1;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'unknown', error = 'worker restarted mid-call' WHERE decision_id = 1;
DELETE FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = 1;
DELETE FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = 3;

-- The audit trail of decision 1: who, as which role, what changed.
SELECT old_status, new_status, actor, via_role, note,
       (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(changes) k) AS changed
  FROM syncopt.decision_event WHERE decision_id = 1 ORDER BY event_id;
SELECT changes->'error' AS error_change FROM syncopt.decision_event
 WHERE decision_id = 1 AND new_status = 'unknown';
-- Decision 3 went, and its events with it.
SELECT count(*) AS events_of_deleted FROM syncopt.decision_event WHERE decision_id = 3;

-- The audit trail is append-only, even for the owner.
UPDATE syncopt.decision_event SET note = 'rewritten' WHERE decision_id = 1;
DELETE FROM syncopt.decision_event WHERE decision_id = 1;
TRUNCATE syncopt.decision_event;

DROP EXTENSION syncopt;
DROP ROLE regress_alice;
DROP ROLE regress_reader;
DROP ROLE regress_broad;
