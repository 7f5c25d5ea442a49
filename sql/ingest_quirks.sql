-- Vendor data as vendors and their users really produce it (issue 29):
-- each quirk in a body written here, the expected values worked out by
-- hand in the comments.
CREATE EXTENSION syncopt;
CREATE EXTENSION pgcrypto;   -- an independent HMAC for the webhook bodies
SET client_min_messages = warning;
SET timezone = 'UTC';
\set VERBOSITY terse

INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (201, 'fivetran', 'quirks ft', 'https://api.fivetran.com'),
       (202, 'airbyte', 'quirks ab', 'https://api.airbyte.com/v1');
SELECT syncopt.set_credentials(201, 'k', 's'), syncopt.set_credentials(202, 'k', 's');

------------------------------------------------------------------------
-- 1. Pages: one item without "paused" (an older docs shape) is left out
-- with its reason; the other item is stored.  ok_conn: 1 connector + 1 run
-- (its succeeded_at) = 2.
------------------------------------------------------------------------
\set good '{"id": "ok_conn", "group_id": "g1", "service": "postgres", "schema": "pg", "paused": false, "sync_frequency": 360, "schedule_type": "auto", "succeeded_at": "2026-01-10T06:00:00Z", "failed_at": null, "status": {"setup_state": "connected", "sync_state": "scheduled"}}'
\set odd '{"id": "old_conn", "group_id": "g1", "service": "mysql", "schema": "my", "sync_frequency": 360, "schedule_type": "auto", "succeeded_at": null, "failed_at": null, "status": {"setup_state": "connected", "sync_state": "scheduled"}}'
SELECT syncopt.ingest_fivetran_connections(201, jsonb_build_object('code', 'Success', 'data',
       jsonb_build_object('items', jsonb_build_array(:'good'::jsonb, :'odd'::jsonb))));
SELECT external_id FROM syncopt.connector WHERE account_id = 201 ORDER BY 1;
SELECT kind, external_id, problem FROM syncopt.ingest_quarantine;
SELECT quarantined_items, last_warning FROM syncopt.collector_status WHERE account_id = 201;
-- The item reads again (paused added): stored (1 connector), the quarantine row goes.
SELECT syncopt.ingest_fivetran_connections(201, jsonb_build_object('code', 'Success', 'data',
       jsonb_build_object('items', jsonb_build_array(:'good'::jsonb, :'odd'::jsonb || '{"paused": true}'))));
SELECT count(*) AS quarantined FROM syncopt.ingest_quarantine;
-- A page none of whose items reads is refused whole, naming the first, and stores nothing.
SELECT syncopt.ingest_fivetran_connections(201, jsonb_build_object('code', 'Success', 'data',
       jsonb_build_object('items', jsonb_build_array(:'odd'::jsonb - 'schedule_type' || '{"id": "a"}',
                                                     :'odd'::jsonb || '{"id": "b"}'))));
-- An item with no id is not an item: the whole page is refused.
SELECT syncopt.ingest_fivetran_connections(201, jsonb_build_object('code', 'Success', 'data',
       jsonb_build_object('items', jsonb_build_array(:'good'::jsonb, :'odd'::jsonb - 'id'))));
SELECT count(*) AS connectors, count(*) FILTER (WHERE external_id IN ('a', 'b')) AS from_refused
  FROM syncopt.connector WHERE account_id = 201;

-- Airbyte: "Every 24 hours" in lower case is 1440 minutes; an item with
-- schedule_type (snake case) instead of scheduleType is left out.
SELECT syncopt.ingest_airbyte_connections(202, '{"data": [
  {"connectionId": "ab-lower", "name": "lower", "sourceId": "s1", "destinationId": "d1", "workspaceId": "w1",
   "status": "inactive", "schedule": {"scheduleType": "basic", "basicTiming": "Every 24 hours"}},
  {"connectionId": "ab-snake", "name": "snake", "sourceId": "s1", "destinationId": "d1", "workspaceId": "w1",
   "status": "active", "schedule": {"schedule_type": "cron"}}]}');
SELECT external_id, schedule_type, schedule_minutes, paused FROM syncopt.connector WHERE account_id = 202;
SELECT external_id, problem FROM syncopt.ingest_quarantine WHERE kind = 'airbyte connection';

------------------------------------------------------------------------
-- 2. Airbyte cron expressions carry their zone.  12:00 in
-- America/Los_Angeles is 20:00 UTC in January (PST, -8) and 19:00 UTC in
-- July (PDT, -7); "UTC" is 12:00 UTC; a zone PostgreSQL does not know is
-- not modelled (infinity), never read as a Quartz year.
------------------------------------------------------------------------
SELECT syncopt.ingest_airbyte_connections(202, '{"data": [
  {"connectionId": "cron-la", "name": "la", "sourceId": "s2", "destinationId": "d1", "workspaceId": "w1",
   "status": "active", "schedule": {"scheduleType": "cron", "cronExpression": "0 0 12 * * ? America/Los_Angeles"}},
  {"connectionId": "cron-utc", "name": "utc", "sourceId": "s3", "destinationId": "d1", "workspaceId": "w1",
   "status": "active", "schedule": {"scheduleType": "cron", "cronExpression": "0 0 12 * * ? UTC"}},
  {"connectionId": "cron-mars", "name": "mars", "sourceId": "s4", "destinationId": "d1", "workspaceId": "w1",
   "status": "active", "schedule": {"scheduleType": "cron", "cronExpression": "0 0 12 * * ? Mars/Olympus"}}]}');
SELECT external_id, cron_expression, schedule_timezone,
       syncopt.vendor_next_start(c, NULL, '2026-01-15 00:00Z') AS january,
       syncopt.vendor_next_start(c, NULL, '2026-07-15 00:00Z') AS july
  FROM syncopt.connector c WHERE external_id LIKE 'cron-%' ORDER BY 1;
SELECT (syncopt.airbyte_cron_parts('0 0 12 * * ? 2026')).*;           -- a year, not a zone
SELECT (syncopt.airbyte_cron_parts('0 0 12 * * ? 2026 Europe/Paris')).*;
-- A proposal may not carry a zone (Airbyte's API would read it as the year).
SELECT syncopt.propose(c.connector_id, 'set_schedule',
                       '{"schedule_type": "cron", "cron_expression": "0 0 6 * * ? America/Los_Angeles"}', 'zone')
  FROM syncopt.connector c WHERE external_id = 'cron-la';
-- Rolling back a schedule change: the UTC schedule goes back without its
-- zone; the Los Angeles one cannot go back through the API, and says so.
CREATE FUNCTION pg_temp.executed_schedule_change(ext text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE id bigint := (syncopt.propose((SELECT connector_id FROM syncopt.connector WHERE external_id = ext), 'set_schedule',
                                      '{"schedule_type": "cron", "cron_expression": "0 0 6 * * ?"}', 'test')).decision_id;
BEGIN
    UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = id;
    PERFORM syncopt.executor_claim(10);
    PERFORM syncopt.executor_record(id, 200, '{"connectionId": "x"}', NULL, 1, false, -1);
    RETURN id;
END $$;
SELECT action, params FROM syncopt.rollback(pg_temp.executed_schedule_change('cron-utc'));
SELECT syncopt.rollback(pg_temp.executed_schedule_change('cron-la'));
-- The executed change set a UTC schedule: the zone is gone from the connector.
SELECT cron_expression, schedule_timezone FROM syncopt.connector WHERE external_id = 'cron-utc';

------------------------------------------------------------------------
-- 3. Schema configs: a schema name with dots, a table with no columns
-- object, and a never-synced connection.
------------------------------------------------------------------------
\set sheets '{"code": "Success", "data": {"schema_change_handling": "ALLOW_ALL", "schemas": {"google_sheets.budget_2026": {"name_in_destination": "google_sheets.budget_2026", "enabled": true, "tables": {"sheet_1": {"name_in_destination": "sheet_1", "enabled": true, "supports_columns_config": true}, "sheet_2": {"name_in_destination": "sheet_2", "enabled": true, "columns": {"amount": {"name_in_destination": "amount", "enabled": true}, "notes": {"name_in_destination": "notes", "enabled": false}}}}}}}}'
SELECT syncopt.ingest_fivetran_schema(201, 'ok_conn', :'sheets');
SELECT tables FROM syncopt.schema_snapshot s JOIN syncopt.connector c USING (connector_id) WHERE c.external_id = 'ok_conn';
INSERT INTO syncopt.data_contract (connector_id, schema_name, table_name, column_name, required)
SELECT connector_id, 'google_sheets.budget_2026', t, col, true FROM syncopt.connector,
       (VALUES ('sheet_1', 'month'), ('sheet_2', 'amount'), ('sheet_2', 'notes')) v(t, col)
 WHERE external_id = 'ok_conn';
-- Nothing is known gone: month and notes are unlisted or only disabled in
-- the config (notes left out of the snapshot), amount is listed.
SELECT schema_name, table_name, column_name, change, breaking FROM syncopt.schema_drift();
-- The full column lists (GET .../tables/{table}/columns, source names in the
-- path): sheet_1 has no "month" -> removed, breaking, and delivers "day",
-- which the contract does not list -> added; sheet_2 has notes disabled ->
-- removed, breaking; amount delivered -> nothing.
SELECT syncopt.ingest_fivetran_columns(201, 'ok_conn', 'google_sheets.budget_2026', 'sheet_1',
       '{"code": "Success", "data": {"columns": {"day": {"name_in_destination": "day", "enabled": true}}}}');
SELECT syncopt.ingest_fivetran_columns(201, 'ok_conn', 'google_sheets.budget_2026', 'sheet_2',
       '{"code": "Success", "data": {"columns": {"amount": {"name_in_destination": "amount", "enabled": true}, "notes": {"name_in_destination": "notes", "enabled": false}}}}');
SELECT syncopt.ingest_fivetran_columns(201, 'ok_conn', 'google_sheets.budget_2026', 'sheet_2',
       '{"code": "Success", "data": {"columns": {"amount": {"name_in_destination": "amount", "enabled": true}, "notes": {"name_in_destination": "notes", "enabled": false}}}}');   -- same: 0
SELECT schema_name, table_name, column_name, change, breaking FROM syncopt.schema_drift()
 ORDER BY table_name, column_name;
SELECT syncopt.ingest_fivetran_columns(201, 'ok_conn', 'google_sheets.budget_2026', 'sheet_1', '{"code": "Success", "data": {"columns": []}}');
-- The collector reads the columns of contracted tables with a contracted
-- column the config does not list, after each schema read: none now (both
-- lists read, the schema never read by the collector), both once the
-- collector reads the schema again, oldest read first up to the limit.
SELECT * FROM syncopt.collect_fivetran_column_targets(201, 10);
UPDATE syncopt.connector SET schema_at = now() + interval '1 second' WHERE external_id = 'ok_conn';
SELECT * FROM syncopt.collect_fivetran_column_targets(201, 10) ORDER BY 3;
SELECT * FROM syncopt.collect_fivetran_column_targets(201, 1);
-- "schemas": {} (never synced) stores nothing: still one snapshot, and no table_removed.
SELECT syncopt.ingest_fivetran_schema(201, 'ok_conn',
       '{"code": "Success", "data": {"schema_change_handling": "ALLOW_ALL", "schemas": {}}}');
SELECT count(*) AS snapshots FROM syncopt.schema_snapshot;
SELECT count(*) AS tables_removed FROM syncopt.schema_drift() WHERE change = 'table_removed';

------------------------------------------------------------------------
-- 4. Webhooks without sync_id (older payloads): the run is known by
-- connector and time.  The secret is 'whsec'; pgcrypto signs independently.
------------------------------------------------------------------------
SELECT syncopt.set_webhook_secret(201, 'whsec');
CREATE FUNCTION pg_temp.hook(body text) RETURNS bigint LANGUAGE sql AS $$
    SELECT syncopt.ingest_fivetran_webhook(201, body, encode(hmac(body, 'whsec', 'sha256'), 'hex'))
$$;
-- An end alone: a failed run ending (and, as far as is known, starting) at
-- 10:00:05, reason as its error; the same body again changes nothing.
\set end_only '{"event": "sync_end", "created": "2026-02-01T10:00:05.000Z", "connector_type": "shopify", "connector_id": "shop_hook", "destination_group_id": "g2", "data": {"status": "FAILURE_WITH_TASK", "reason": "token expired"}}'
SELECT pg_temp.hook(:'end_only'), pg_temp.hook(:'end_only');
-- A start then an end, both without sync_id: one run of 90 s, succeeded.
SELECT pg_temp.hook('{"event": "sync_start", "created": "2026-02-01T11:00:00.000Z", "connector_id": "shop_hook", "data": {}}'),
       pg_temp.hook('{"event": "sync_end", "created": "2026-02-01T11:01:30.000Z", "connector_id": "shop_hook", "data": {"status": "SUCCESSFUL"}}');
SELECT external_run_id, status, started_at, finished_at, duration_known, error_message
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) WHERE c.external_id = 'shop_hook'
 ORDER BY started_at;
-- Only event "test_event" is a test: it stores nothing.
SELECT pg_temp.hook('{"event": "test_event", "created": "timestamp", "connector_id": "shop_hook", "data": {}}');
-- A sync_end without a connector is refused, naming the field.
SELECT pg_temp.hook('{"event": "sync_end", "created": "2026-02-01T12:00:00Z", "data": {"status": "SUCCESSFUL"}}');
SELECT count(*) AS shop_hook_runs FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
 WHERE c.external_id = 'shop_hook';

DROP EXTENSION syncopt CASCADE;
DROP EXTENSION pgcrypto;
