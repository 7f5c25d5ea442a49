-- Platform Connector log ingestion (new and legacy column names, quirky
-- rows, incremental reads) and signed webhooks.
CREATE EXTENSION syncopt;
CREATE EXTENSION pgcrypto;
SET client_min_messages = notice;
SET timezone = 'UTC';

INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (201, 'fivetran', 'log new', 'https://api.fivetran.com'),
       (202, 'fivetran', 'log legacy', 'https://api.fivetran.com');

-- Current names: connection / connection_id; message_data as text.
CREATE SCHEMA fivetran_metadata;
CREATE TABLE fivetran_metadata.connection (
    connection_id text, connection_name text, connector_type text, destination_id text,
    paused boolean, _fivetran_synced timestamp, _fivetran_deleted boolean);
CREATE TABLE fivetran_metadata.log (
    id text, time_stamp timestamp, connection_id text, event text, message_event text,
    message_data text, transformation_id text, sync_id text, _fivetran_synced timestamp);
INSERT INTO fivetran_metadata.connection VALUES
    ('crm', 'salesforce_main', 'salesforce', 'dest_1', false, '2024-01-02', false),
    ('old', 'retired', 'mysql', 'dest_1', true, '2024-01-02', true);
INSERT INTO fivetran_metadata.log VALUES
    ('1', '2024-01-01 05:00:00', 'crm', 'INFO', 'sync_start', NULL, NULL, 's1', '2024-01-02'),
    ('2', '2024-01-01 05:10:00', 'crm', 'INFO', 'records_modified', '{"schema":"sf","table":"account","operationType":"UPDATED","count":7}', NULL, 's1', '2024-01-02'),
    ('3', '2024-01-01 05:11:00', 'crm', 'INFO', 'records_modified', '{"schema":"sf","table":"lead","operationType":"REPLACED_OR_INSERTED","count":5}', NULL, 's1', '2024-01-02'),
    ('4', '2024-01-01 05:20:00', 'crm', 'INFO', 'sync_end', '{"status":"SUCCESSFUL"}', NULL, 's1', '2024-01-02'),
    ('5', '2024-01-01 05:20:01', 'crm', 'INFO', 'sync_stats', '{"extract_time_s":600,"extract_volume_mb":4,"process_time_s":300,"process_volume_mb":3,"load_time_s":300,"load_volume_mb":2,"total_time_s":1200}', NULL, 's1', '2024-01-02'),
    ('6', '2024-01-01 06:00:00', 'crm', 'INFO', 'sync_start', NULL, NULL, 's2', '2024-01-02'),
    ('7', '2024-01-01 06:01:00', 'crm', 'SEVERE', 'sync_failure', '{"type":"error","message":"OAuth token expired for user api@corp"}', NULL, 's2', '2024-01-02'),
    ('8', '2024-01-01 06:02:00', 'crm', 'INFO', 'sync_end', '{"status":"FAILURE_WITH_TASK","reason":"reconnect"}', NULL, 's2', '2024-01-02'),
    ('9', '2024-01-01 07:00:00', 'crm', 'INFO', 'sync_start', NULL, NULL, 's3', '2024-01-02'),
    -- quirky: a repeated id, message_data that is not JSON, a transformation row
    ('9', '2024-01-01 07:00:00', 'crm', 'INFO', 'sync_start', NULL, NULL, 's3', '2024-01-02'),
    ('10', '2024-01-01 07:05:00', 'crm', 'INFO', 'records_modified', 'count=3', NULL, 's3', '2024-01-02'),
    ('11', '2024-01-01 07:06:00', 'crm', 'INFO', 'sync_end', '{"status":"SUCCESSFUL"}', 'tr_1', 'tx', '2024-01-02'),
    ('12', '2024-01-01 07:07:00', 'crm', 'INFO', 'write_to_table_start', '{"table":"account"}', NULL, 's3', '2024-01-02');
-- Runs s1 (succeeded 05:00-05:20, 12 rows, 2 MB), s2 (failed, SEVERE message), s3 (running): 3.
SELECT syncopt.ingest_fivetran_log(201, 'fivetran_metadata');
SELECT c.external_id, c.name, c.service, c.destination_id, c.paused, c.deleted_at IS NOT NULL AS deleted
  FROM syncopt.connector c WHERE c.account_id = 201 ORDER BY 1;
SELECT r.external_run_id, r.status, r.started_at, r.finished_at, r.rows, r.bytes, r.error_message, r.source
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = 201
 ORDER BY r.started_at;
SELECT rows_read, rows_skipped, runs_touched FROM syncopt.log_ingest_state WHERE account_id = 201;
-- Nothing new: nothing read, nothing changed.
SELECT syncopt.ingest_fivetran_log(201, 'fivetran_metadata');
-- s3 ends in the next batch the connector lands.
INSERT INTO fivetran_metadata.log VALUES
    ('13', '2024-01-01 07:30:00', 'crm', 'INFO', 'sync_end', '{"status":"RESCHEDULED","reason":"quota"}', NULL, 's3', '2024-01-03');
SELECT syncopt.ingest_fivetran_log(201, 'fivetran_metadata');
SELECT r.external_run_id, r.status, r.finished_at FROM syncopt.sync_run r WHERE r.external_run_id = 's3';
-- crm: s1 succeeded, s2 failed, s3 rescheduled: 3 runs, streak of failures 1
-- (a reschedule neither breaks nor extends it), EWMA = the one timed success (1200 s).
SELECT s.runs, s.successes, s.failures, s.consecutive_failures, s.ewma_duration_s
  FROM syncopt.connector_stats s JOIN syncopt.connector c USING (connector_id) WHERE c.external_id = 'crm';

-- Legacy names: connector / connector_id; message_data as json; no sync_id
-- column, so runs are the time order of sync_start and sync_end.
CREATE SCHEMA fivetran_log;
CREATE TABLE fivetran_log.connector (connector_id text, connector_name text, connector_type text,
                                     destination_id text, paused boolean);
CREATE TABLE fivetran_log.log (id text, time_stamp timestamptz, connector_id text, event text,
                               message_event text, message_data json);
INSERT INTO fivetran_log.connector VALUES ('erp', 'netsuite', 'netsuite', 'dest_2', false);
INSERT INTO fivetran_log.log VALUES
    ('a', '2024-02-01 01:00:00+00', 'erp', 'INFO', 'sync_start', NULL),
    ('b', '2024-02-01 01:30:00+00', 'erp', 'INFO', 'sync_end', '{"status":"SUCCESSFUL"}'),
    ('c', '2024-02-01 02:00:00+00', 'erp', 'INFO', 'sync_start', NULL),
    ('d', '2024-02-01 02:05:00+00', 'erp', 'INFO', 'records_modified', '{"schema":"ns","table":"t","operationType":"UPDATED","count":40}'),
    ('e', '2024-02-01 02:45:00+00', 'erp', 'INFO', 'sync_end', '{"status":"CANCELED"}'),
    ('f', '2024-02-01 03:00:00+00', 'erp', 'INFO', 'sync_start', NULL),
    ('g', '2024-02-01 03:10:00+00', 'erp', 'INFO', 'sync_end', '{"status":"BOGUS"}');
SELECT syncopt.ingest_fivetran_log(202);
SELECT r.external_run_id, r.status, r.started_at, r.finished_at, r.rows
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = 202
 ORDER BY r.started_at;
-- The run left open ends later: its end is matched to the open run.
INSERT INTO fivetran_log.log VALUES ('h', '2024-02-01 03:20:00+00', 'erp', 'INFO', 'sync_end', '{"status":"SUCCESSFUL"}');
SELECT syncopt.ingest_fivetran_log(202);
SELECT r.external_run_id, r.status, r.finished_at FROM syncopt.sync_run r
  JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = 202 AND r.started_at = '2024-02-01 03:00:00+00';

-- Errors: no such schema, not a log table.
SELECT syncopt.ingest_fivetran_log(201, 'nowhere');
CREATE SCHEMA not_a_log;
CREATE TABLE not_a_log.log (x int);
SELECT syncopt.ingest_fivetran_log(201, 'not_a_log');

-- Webhooks.  HMAC-SHA256 itself: RFC 4231 test case 2.
SELECT syncopt.verify_signature('Jefe', 'what do ya want for nothing?',
       '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843') AS rfc4231,
       syncopt.verify_signature('Jefe', 'what do ya want for nothing?',
       '5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843') AS upper_case,
       syncopt.verify_signature('Jefe', 'what do ya want for nothing?',
       '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3844') AS last_digit_off,
       syncopt.verify_signature('Jefe', 'what do ya want for nothing?', '5bdcc146') AS too_short;

SELECT syncopt.set_credentials(201, 'key', 'secret');
SELECT syncopt.ingest_fivetran_webhook(201, '{}', '00');      -- no webhook secret yet
SELECT syncopt.set_webhook_secret(201, 'my_secret');
\set start '{"event":"sync_start","created":"2024-03-01T10:00:00.000Z","connector_type":"salesforce","connector_id":"crm","sync_id":"w1","destination_group_id":"dest_1","data":{}}'
\set end '{"event":"sync_end","created":"2024-03-01T10:25:00.000Z","connector_type":"salesforce","connector_id":"crm","sync_id":"w1","destination_group_id":"dest_1","data":{"status":"SUCCESSFUL"}}'
\set test '{"event":"test_event","created":"2024-03-01T10:00:00.000Z","connector_type":"_connector_type","connector_id":"_connector_1","group_id":"_destination_1"}'
SELECT syncopt.ingest_fivetran_webhook(201, :'start', encode(hmac(:'start', 'my_secret', 'sha256'), 'hex'));
SELECT syncopt.ingest_fivetran_webhook(201, :'end', upper(encode(hmac(:'end', 'my_secret', 'sha256'), 'hex')));
SELECT syncopt.ingest_fivetran_webhook(201, :'end', encode(hmac(:'end', 'my_secret', 'sha256'), 'hex'));  -- redelivery: 0
SELECT syncopt.ingest_fivetran_webhook(201, :'test', encode(hmac(:'test', 'my_secret', 'sha256'), 'hex'));
SELECT r.status, r.started_at, r.finished_at, r.duration_known, r.source FROM syncopt.sync_run r
 WHERE r.external_run_id = 'w1';
-- A wrong signature, or a body changed after signing: an error, nothing stored.
SELECT count(*) AS runs_before FROM syncopt.sync_run \gset
SELECT syncopt.ingest_fivetran_webhook(201, replace(:'start', 'w1', 'w2'), encode(hmac(:'start', 'my_secret', 'sha256'), 'hex'));
SELECT syncopt.ingest_fivetran_webhook(201, replace(:'start', 'w1', 'w2'), encode(hmac(replace(:'start', 'w1', 'w2'), 'other', 'sha256'), 'hex'));
SELECT count(*) = :runs_before AS nothing_stored FROM syncopt.sync_run;
-- Signed but malformed.
SELECT syncopt.ingest_fivetran_webhook(201, '{"event":"sync_end","sync_id":"w3","connector_id":"crm","created":"2024-03-01T10:00:00Z","data":{"status":"DONE"}}',
       encode(hmac('{"event":"sync_end","sync_id":"w3","connector_id":"crm","created":"2024-03-01T10:00:00Z","data":{"status":"DONE"}}', 'my_secret', 'sha256'), 'hex'));
SET client_min_messages = warning;
DROP SCHEMA fivetran_metadata, fivetran_log, not_a_log CASCADE;
DROP EXTENSION syncopt;
DROP EXTENSION pgcrypto;
