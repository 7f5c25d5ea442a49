-- Structured vendor failure signals (issue 30), read before any text:
-- Fivetran connection status.tasks / warnings (REST), the Platform
-- Connector's sync_end status and taskType, a webhook's sync_end
-- data.status and taskType.  Each is recorded where it arrives, decides
-- the classification as a vendor code, and stops the planner's retry.
-- The expected values are worked out by hand in the comments.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
-- an independent HMAC for the webhook bodies (no file leaves it behind:
-- creating it fails if one did)
CREATE EXTENSION pgcrypto;
SET timezone = 'UTC';
\set VERBOSITY terse

INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'signals', 'https://api.fivetran.com');
SELECT syncopt.set_credentials(1, 'k', 's');
SELECT syncopt.set_webhook_secret(1, 'whsec');
CREATE FUNCTION pg_temp.hook(body text) RETURNS bigint LANGUAGE sql AS $$
    SELECT syncopt.ingest_fivetran_webhook(1, body, encode(hmac(body, 'whsec', 'sha256'), 'hex'))
$$;

------------------------------------------------------------------------
-- 1. The vendor codes themselves: a task decides whatever the message
-- says (a retryable-sounding one here), and is never retryable.
------------------------------------------------------------------------
SELECT v.code, f.category, f.retryable, f.source, f.confidence, f.explanation
  FROM (VALUES ('task:reconnect'), ('task:reconnect_warehouse'), ('task:some_new_task'), ('failure_with_task'),
               ('broken'), ('TASK:Reconnect')) AS v(code)
 CROSS JOIN LATERAL syncopt.classify_failure('Connection reset by peer', v.code, 'fivetran') f;
-- 'task:' with nothing after it is no task: the text decides (not the vendor code).
SELECT source <> 'vendor_code' AS text_decides FROM syncopt.classify_failure('Connection reset by peer', 'task:', 'fivetran');
-- fivetran_end_code: the task, else what the status says beyond "failed".
SELECT s, t, syncopt.fivetran_end_code(s, t)
  FROM (VALUES ('FAILURE_WITH_TASK', 'reconnect'), ('FAILURE_WITH_TASK', NULL), ('FAILURE_WITH_TASK', ' '),
               ('FAILURE', NULL), ('SUCCESSFUL', NULL), ('RESCHEDULED', NULL), ('CANCELED', NULL),
               ('FAILURE', 'reconnect')) AS v(s, t);

------------------------------------------------------------------------
-- 2. REST: a connection's tasks and warnings are facts about the
-- connector (connector_task), replaced by every read of the connection.
-- The failed run the REST API shows (failed_at) carries the first task
-- as its code: no message at all, classified by the code.
------------------------------------------------------------------------
\set conn '{"id": "erp", "group_id": "g1", "service": "postgres", "schema": "erp", "paused": false, "sync_frequency": 1440, "schedule_type": "auto", "daily_sync_time": "05:00", "succeeded_at": "2054-11-22T00:40:00Z", "failed_at": null, "status": {"setup_state": "connected", "sync_state": "scheduled", "update_state": "on_schedule", "is_historical_sync": false, "tasks": [], "warnings": [{"code": "resync_table_warning", "message": "Resync Table Warning", "details": "orders"}]}}'
-- 1 connector + 1 run (its succeeded_at) = 2; the warning is kept.
SELECT syncopt.ingest_fivetran_connection(1, jsonb_build_object('code', 'Success', 'data', :'conn'::jsonb));
SELECT kind, code, message, details FROM syncopt.connector_task ORDER BY kind, code;
-- It fails at 04:16 with a task (listed twice: stored once) and the warning gone:
-- 1 connector + 1 run = 2.
SELECT syncopt.ingest_fivetran_connection(1, jsonb_build_object('code', 'Success', 'data',
       jsonb_set(jsonb_set(:'conn'::jsonb, '{failed_at}', '"2054-11-23T04:16:00Z"'),
                 '{status}', :'conn'::jsonb -> 'status'
                     || '{"setup_state": "broken", "tasks": [{"code": "reconnect", "message": "Reconnect", "details": "OAuth token revoked"}, {"code": "reconnect", "message": "Reconnect"}], "warnings": []}')));
SELECT kind, code, message, details FROM syncopt.connector_task ORDER BY kind, code;
-- The run: no message, code task:reconnect (the task beats the broken setup).
SELECT external_run_id, status, error_message, error_code FROM syncopt.sync_run WHERE status = 'failed';
SELECT r.category, r.retryable, r.source FROM syncopt.classify_runs('2054-11-23') r;
-- Read again with no tasks listed: the task is gone; a body without
-- tasks or warnings arrays (older shapes) leaves the stored lists alone.
SELECT syncopt.ingest_fivetran_connection(1, jsonb_build_object('code', 'Success', 'data',
       jsonb_set(:'conn'::jsonb, '{failed_at}', '"2054-11-23T04:16:00Z"')));
SELECT count(*) AS tasks_left FROM syncopt.connector_task WHERE kind = 'task';
SELECT syncopt.ingest_fivetran_connection(1, jsonb_build_object('code', 'Success', 'data',
       jsonb_set(:'conn'::jsonb, '{status}', (:'conn'::jsonb -> 'status') - 'tasks' - 'warnings')));
SELECT kind, code FROM syncopt.connector_task ORDER BY kind, code;
-- Bad tasks: a task without a code (or not an object) quarantines its
-- item, naming the field, and changes nothing; tasks that are not an array too.
SELECT syncopt.ingest_fivetran_connections(1, jsonb_build_object('code', 'Success', 'data', jsonb_build_object('items',
       jsonb_build_array(:'conn'::jsonb || '{"id": "ok2"}',
                         jsonb_set(:'conn'::jsonb || '{"id": "bad1"}', '{status,tasks}', '[{"code": "reconnect"}, {"message": "no code"}]'),
                         jsonb_set(:'conn'::jsonb || '{"id": "bad2"}', '{status,tasks}', '["reconnect"]'),
                         jsonb_set(:'conn'::jsonb || '{"id": "bad3"}', '{status,warnings}', '{"code": "x"}')))));
SELECT external_id, problem FROM syncopt.ingest_quarantine ORDER BY external_id;
SELECT count(*) AS tasks_of_bad_items FROM syncopt.connector_task t JOIN syncopt.connector c USING (connector_id)
 WHERE c.external_id LIKE 'bad%';
-- A broken setup and no task: the failed run's code is 'broken'.
SELECT syncopt.ingest_fivetran_connection(1, jsonb_build_object('code', 'Success', 'data',
       jsonb_set(jsonb_set(:'conn'::jsonb || '{"id": "desk"}', '{failed_at}', '"2054-11-23T03:00:00Z"'),
                 '{status,setup_state}', '"broken"')));
SELECT r.error_code, f.category, f.retryable, f.source
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
 CROSS JOIN LATERAL syncopt.classify_failure(r.error_message, r.error_code, 'fivetran') f
 WHERE c.external_id = 'desk' AND r.status = 'failed';

------------------------------------------------------------------------
-- 3. Webhooks: sync_end data.status and taskType are the run's code,
-- data.reason its message.
------------------------------------------------------------------------
-- A message-less FAILURE_WITH_TASK with a taskType: code task:reconnect.
SELECT pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T05:00:00.000Z", "connector_id": "shop", "connector_type": "shopify", "sync_id": "w1", "data": {"status": "FAILURE_WITH_TASK", "taskType": "reconnect"}}');
-- The conformance corpus' real shape (pretty-printed, reason and taskType).
SELECT pg_temp.hook('{
  "event" : "sync_end",
  "data" : {
    "status" : "FAILURE_WITH_TASK",
    "reason" : "java.lang.RuntimeException: The innodb_buffer_pool_size for your database is: 384 MB, which is very low. Please make sure its at least 1024 MB.",
    "taskType" : "reconnect_warehouse"
  },
  "created" : "2054-11-23T05:01:00.000Z",
  "connector_type" : "google_sheets",
  "connector_id" : "shop",
  "sync_id" : "w2"
}');
-- FAILURE_WITH_TASK without a taskType, and a plain FAILURE (text decides).
SELECT pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T05:02:00.000Z", "connector_id": "shop", "sync_id": "w3", "data": {"status": "FAILURE_WITH_TASK"}}'),
       pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T05:03:00.000Z", "connector_id": "shop", "sync_id": "w4", "data": {"status": "FAILURE", "reason": "Connection reset by peer"}}');
-- A start then an end with a task: the running run closes with the code.
SELECT pg_temp.hook('{"event": "sync_start", "created": "2054-11-23T05:10:00.000Z", "connector_id": "shop", "sync_id": "w5", "data": {}}'),
       pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T05:11:00.000Z", "connector_id": "shop", "sync_id": "w5", "data": {"status": "FAILURE_WITH_TASK", "reason": "timeout", "taskType": "reconnect"}}');
SELECT r.external_run_id, r.status, r.error_code, left(r.error_message, 40) AS message,
       f.category, f.retryable, f.source
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
 CROSS JOIN LATERAL syncopt.classify_failure(r.error_message, r.error_code, 'fivetran') f
 WHERE c.external_id = 'shop' ORDER BY r.external_run_id;
-- A webhook for a failure the REST API already showed: the REST run
-- (no message, code task:reconnect from erp's task above) takes the
-- webhook's reason and code.
SELECT pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T04:16:30.000Z", "connector_id": "erp", "sync_id": "w6", "data": {"status": "FAILURE_WITH_TASK", "reason": "Database password expired", "taskType": "reconnect_warehouse"}}');
SELECT r.external_run_id, r.source, r.error_code, r.error_message
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
 WHERE c.external_id = 'erp' AND r.status = 'failed';

------------------------------------------------------------------------
-- 4. Platform Connector log: the sync_end status and taskType are the
-- run's code; reason the message.  log-datahub-single's real shape (no
-- sync_start/sync_end pairing quirks here), and a task without a reason.
------------------------------------------------------------------------
CREATE SCHEMA fivetran_metadata;
CREATE TABLE fivetran_metadata.connection (
    connection_id text, connection_name text, connector_type text, destination_id text,
    paused boolean, _fivetran_synced timestamp, _fivetran_deleted boolean);
CREATE TABLE fivetran_metadata.log (
    id text, time_stamp timestamp, connection_id text, event text, message_event text,
    message_data text, transformation_id text, sync_id text, _fivetran_synced timestamp);
INSERT INTO fivetran_metadata.connection VALUES ('pg', 'postgres', 'postgres', 'd1', false, '2054-11-23', false);
INSERT INTO fivetran_metadata.log VALUES
    ('1', '2054-11-23 01:00', 'pg', 'INFO', 'sync_start', NULL, NULL, 'l1', '2054-11-23 06:00'),
    ('2', '2054-11-23 01:01', 'pg', 'INFO', 'sync_end', '{"reason":"java.lang.RuntimeException: FATAL: too many connections for role \"hxwraqld\"","taskType":"reconnect","status":"FAILURE_WITH_TASK"}', NULL, 'l1', '2054-11-23 06:00'),
    ('3', '2054-11-23 02:00', 'pg', 'INFO', 'sync_start', NULL, NULL, 'l2', '2054-11-23 06:00'),
    ('4', '2054-11-23 02:01', 'pg', 'INFO', 'sync_end', '{"status":"FAILURE_WITH_TASK","taskType":"reconnect_warehouse"}', NULL, 'l2', '2054-11-23 06:00'),
    ('5', '2054-11-23 03:00', 'pg', 'INFO', 'sync_start', NULL, NULL, 'l3', '2054-11-23 06:00'),
    ('6', '2054-11-23 03:01', 'pg', 'INFO', 'sync_end', '{"status":"FAILURE","reason":"Connection reset by peer"}', NULL, 'l3', '2054-11-23 06:00'),
    ('7', '2054-11-23 04:00', 'pg', 'INFO', 'sync_start', NULL, NULL, 'l4', '2054-11-23 06:00'),
    ('8', '2054-11-23 04:01', 'pg', 'INFO', 'sync_end', '{"status":"SUCCESSFUL"}', NULL, 'l4', '2054-11-23 06:00');
SELECT syncopt.ingest_fivetran_log(1, 'fivetran_metadata');
-- l1: task:reconnect with the reason (and the task) as message; l2:
-- task:reconnect_warehouse with no reason (the task alone is its message);
-- l3: no code, the reason; l4: succeeded, nothing.
SELECT r.external_run_id, r.status, r.error_code, left(r.error_message, 50) AS message,
       f.category, f.retryable, f.source
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
  LEFT JOIN LATERAL syncopt.classify_failure(r.error_message, r.error_code, 'fivetran') f ON r.status = 'failed'
 WHERE c.external_id = 'pg' ORDER BY r.external_run_id;
-- classify_runs names the vendor code as the source for every coded run:
-- erp's (1), shop's w1, w2, w3, w5 (4), desk's (1), pg's l1, l2 (2) = 8.
SELECT r.source, count(*) FROM syncopt.classify_runs('2054-11-22') r GROUP BY 1 ORDER BY 1;

------------------------------------------------------------------------
-- 5. The planner's retry rule reads the code first.  The scenario of
-- regress decide: ERP (P90 60 min, daily at 05:00) feeds a 06:00
-- dashboard, so at 04:20 it is late and the planner triggers it, unless
-- its latest run failed in a way a retry cannot fix.  Each ingest path
-- brings a failure at 04:16 with no message but a task, and the trigger
-- is not proposed; the controls: no failure, and a plain FAILURE whose
-- reason a retry fixes.  Each case is rolled back.
------------------------------------------------------------------------
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/add_runs.sql
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes, schedule_type, daily_sync_time)
VALUES (100, 1, 'erp2', 'ERP', 1440, 'auto', '05:00');
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight) VALUES (21, 'exec_dashboard', 'dashboard', '06:00', 10);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (100, 21);
SELECT pg_temp.add_runs(100, '{2400,3600}');
CREATE FUNCTION pg_temp.retries() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM syncopt.planner_candidates('2054-11-23 04:20+00') c
     WHERE c.connector_id = 100 AND c.action = 'trigger_sync'
$$;
SELECT pg_temp.retries() AS no_failure;
-- REST: failed_at 04:16 with a task listed.
BEGIN;
SELECT syncopt.ingest_fivetran_connection(1, jsonb_build_object('code', 'Success', 'data',
       jsonb_set(jsonb_set(:'conn'::jsonb || '{"id": "erp2", "succeeded_at": "2054-11-22T01:00:00Z"}',
                           '{failed_at}', '"2054-11-23T04:16:00Z"'),
                 '{status,tasks}', '[{"code": "reconnect", "message": "Reconnect"}]'))) > 0 AS ingested;
SELECT error_code, error_message FROM syncopt.sync_run WHERE connector_id = 100 AND status = 'failed';
SELECT pg_temp.retries() AS rest_task;
ROLLBACK;
-- Webhook: a message-less FAILURE_WITH_TASK.
BEGIN;
SELECT pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T04:16:00.000Z", "connector_id": "erp2", "sync_id": "e1", "data": {"status": "FAILURE_WITH_TASK", "taskType": "reconnect"}}');
SELECT pg_temp.retries() AS webhook_task;
ROLLBACK;
-- Webhook: FAILURE_WITH_TASK, no taskType, no reason.
BEGIN;
SELECT pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T04:16:00.000Z", "connector_id": "erp2", "sync_id": "e1", "data": {"status": "FAILURE_WITH_TASK"}}');
SELECT pg_temp.retries() AS webhook_failure_with_task;
ROLLBACK;
-- Platform Connector log: a message-less task.
BEGIN;
INSERT INTO fivetran_metadata.connection VALUES ('erp2', 'ERP', 'postgres', 'd1', false, '2054-11-23', false);
INSERT INTO fivetran_metadata.log VALUES
    ('e1', '2054-11-23 04:10', 'erp2', 'INFO', 'sync_start', NULL, NULL, 'e1', '2054-11-23 07:00'),
    ('e2', '2054-11-23 04:16', 'erp2', 'INFO', 'sync_end', '{"status":"FAILURE_WITH_TASK","taskType":"reconnect"}', NULL, 'e1', '2054-11-23 07:00');
SELECT syncopt.ingest_fivetran_log(1, 'fivetran_metadata');
SELECT pg_temp.retries() AS log_task;
ROLLBACK;
-- A task with a reason that alone reads as retryable: the task decides
-- (webhook and log), so no retry.
BEGIN;
SELECT pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T04:16:00.000Z", "connector_id": "erp2", "sync_id": "e1", "data": {"status": "FAILURE_WITH_TASK", "reason": "Connection reset by peer", "taskType": "reconnect"}}');
SELECT pg_temp.retries() AS webhook_task_retryable_reason;
ROLLBACK;
BEGIN;
INSERT INTO fivetran_metadata.connection VALUES ('erp2', 'ERP', 'postgres', 'd1', false, '2054-11-23', false);
INSERT INTO fivetran_metadata.log VALUES
    ('e1', '2054-11-23 04:10', 'erp2', 'INFO', 'sync_start', NULL, NULL, 'e1', '2054-11-23 07:00'),
    ('e2', '2054-11-23 04:16', 'erp2', 'INFO', 'sync_end', '{"status":"FAILURE_WITH_TASK","reason":"Connection reset by peer","taskType":"reconnect"}', NULL, 'e1', '2054-11-23 07:00');
SELECT syncopt.ingest_fivetran_log(1, 'fivetran_metadata');
SELECT pg_temp.retries() AS log_task_retryable_reason;
ROLLBACK;
-- Control: a plain FAILURE that a retry fixes is retried.
BEGIN;
SELECT pg_temp.hook('{"event": "sync_end", "created": "2054-11-23T04:16:00.000Z", "connector_id": "erp2", "sync_id": "e1", "data": {"status": "FAILURE", "reason": "Connection reset by peer"}}');
SELECT pg_temp.retries() AS webhook_plain_failure;
ROLLBACK;

DROP SCHEMA fivetran_metadata CASCADE;
DROP EXTENSION syncopt CASCADE;
DROP EXTENSION pgcrypto;
