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
    -- quirky: a repeated id, message_data that is not JSON; a sync_end
    -- carrying a transformation_id is still a sync event (run tx, seen
    -- only by its end); write_to_table_start is not a sync event.
    ('9', '2024-01-01 07:00:00', 'crm', 'INFO', 'sync_start', NULL, NULL, 's3', '2024-01-02'),
    ('10', '2024-01-01 07:05:00', 'crm', 'INFO', 'records_modified', 'count=3', NULL, 's3', '2024-01-02'),
    ('11', '2024-01-01 07:06:00', 'crm', 'INFO', 'sync_end', '{"status":"SUCCESSFUL"}', 'tr_1', 'tx', '2024-01-02'),
    ('12', '2024-01-01 07:07:00', 'crm', 'INFO', 'write_to_table_start', '{"table":"account"}', NULL, 's3', '2024-01-02');
-- Runs s1 (succeeded 05:00-05:20, 12 rows, 2 MB), s2 (failed, SEVERE message),
-- s3 (running), tx (succeeded at 07:06): 4.  13 rows read, 2 skipped (the
-- repeated id 9, the malformed count of 10).
SELECT syncopt.ingest_fivetran_log(201, 'fivetran_metadata');
SELECT c.external_id, c.name, c.service, c.destination_id, c.paused, c.deleted_at IS NOT NULL AS deleted
  FROM syncopt.connector c WHERE c.account_id = 201 ORDER BY 1;
SELECT r.external_run_id, r.status, r.started_at, r.finished_at, r.rows, r.bytes, r.error_message, r.source,
       r.duration_known
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = 201
 ORDER BY r.started_at;
SELECT rows_read, rows_skipped, runs_touched FROM syncopt.log_ingest_state WHERE account_id = 201;
SELECT reason, rows FROM syncopt.log_ingest_skipped WHERE account_id = 201 ORDER BY reason;
-- Nothing new: nothing read, nothing changed.
SELECT syncopt.ingest_fivetran_log(201, 'fivetran_metadata');
-- s3 ends in the next batch the connector lands.
INSERT INTO fivetran_metadata.log VALUES
    ('13', '2024-01-01 07:30:00', 'crm', 'INFO', 'sync_end', '{"status":"RESCHEDULED","reason":"quota"}', NULL, 's3', '2024-01-03');
SELECT syncopt.ingest_fivetran_log(201, 'fivetran_metadata');
SELECT r.external_run_id, r.status, r.finished_at FROM syncopt.sync_run r WHERE r.external_run_id = 's3';
-- crm: s1 succeeded (05:20), s2 failed (06:02), tx succeeded (07:06), s3
-- rescheduled (07:30): 4 runs, 2 successes, 1 failure, streak 0 (tx ended
-- it; a reschedule neither breaks nor extends it), EWMA = the one timed
-- success (1200 s; tx has no start, so no duration).
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
    -- a JSON string holding the JSON, as some destinations store it
    ('e', '2024-02-01 02:45:00+00', 'erp', 'INFO', 'sync_end', '"{\"status\":\"CANCELED\"}"'),
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

-- The log as it really looks (issue 29): a legacy layout whose connector
-- table gives the service only as connector_type_id; transformation_id on
-- every row of a run; message_data empty, NULL, or a JSON string holding
-- JSON; sync_end reasons; one sync_id reused for several syncs; rows
-- without message_event.
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (203, 'fivetran', 'log quirks', 'https://api.fivetran.com');
CREATE SCHEMA quirks;
CREATE TABLE quirks.connector (connector_id text, connector_name text, connector_type_id text, destination_id text,
                               paused boolean, _fivetran_synced timestamp, _fivetran_deleted boolean);
-- pg1 is listed twice: the row with the newest _fivetran_synced wins.
INSERT INTO quirks.connector VALUES
    ('pg1', 'orders_db', 'postgres', 'dest_q', false, '2024-05-01', false),
    ('pg1', 'orders_db_old', 'mysql', 'dest_old', true, '2024-04-01', true);
CREATE TABLE quirks.log (id text, time_stamp timestamp, connector_id text, event text, message_event text,
                         message_data text, transformation_id text, sync_id text, _fivetran_synced timestamp);
INSERT INTO quirks.log VALUES
    -- q1: every row has a transformation_id; the sync_end has no data;
    -- records_modified and sync_stats are JSON strings holding JSON.
    ('q1s', '2024-05-01 01:00:00', 'pg1', 'INFO', 'sync_start', NULL, 'tr9', 'q1', '2024-05-02'),
    ('q1r', '2024-05-01 01:05:00', 'pg1', 'INFO', 'records_modified',
     '"{\"schema\":\"s\",\"table\":\"t\",\"operationType\":\"UPDATED\",\"count\":4}"', 'tr9', 'q1', '2024-05-02'),
    ('q1e', '2024-05-01 01:10:00', 'pg1', 'INFO', 'sync_end', NULL, 'tr9', 'q1', '2024-05-02'),
    ('q1t', '2024-05-01 01:10:01', 'pg1', 'INFO', 'sync_stats', '"{\"total_time_s\":600,\"load_volume_mb\":1}"', 'tr9', 'q1', '2024-05-02'),
    -- q2: a SEVERE event (a JSON string holding JSON), then an empty sync_end.
    ('q2s', '2024-05-01 02:00:00', 'pg1', 'INFO', 'sync_start', NULL, NULL, 'q2', '2024-05-02'),
    ('q2x', '2024-05-01 02:03:00', 'pg1', 'SEVERE', 'sync_failure',
     '"{\"type\":\"error\",\"message\":\"permission denied for table orders\"}"', NULL, 'q2', '2024-05-02'),
    ('q2e', '2024-05-01 02:05:00', 'pg1', 'INFO', 'sync_end', '', NULL, 'q2', '2024-05-02'),
    -- q3: the end (a JSON string holding JSON) has the reason and taskType.
    ('q3s', '2024-05-01 03:00:00', 'pg1', 'INFO', 'sync_start', NULL, NULL, 'q3', '2024-05-02'),
    ('q3e', '2024-05-01 03:01:00', 'pg1', 'INFO', 'sync_end',
     '"{\"status\":\"FAILURE_WITH_TASK\",\"reason\":\"Invalid credentials\",\"taskType\":\"reconnect\"}"', NULL, 'q3', '2024-05-02'),
    -- q4: cancelled, with a reason.  q5: a SEVERE message wins over the reason.
    ('q4s', '2024-05-01 04:00:00', 'pg1', 'INFO', 'sync_start', NULL, NULL, 'q4', '2024-05-02'),
    ('q4e', '2024-05-01 04:00:30', 'pg1', 'INFO', 'sync_end', '{"status":"CANCELED","reason":"cancelled by user"}', NULL, 'q4', '2024-05-02'),
    ('q5s', '2024-05-01 05:00:00', 'pg1', 'INFO', 'sync_start', NULL, NULL, 'q5', '2024-05-02'),
    ('q5x', '2024-05-01 05:01:00', 'pg1', 'SEVERE', 'sync_failure', '{"message":"disk full"}', NULL, 'q5', '2024-05-02'),
    ('q5e', '2024-05-01 05:02:00', 'pg1', 'INFO', 'sync_end', '{"status":"FAILURE","reason":"see log"}', NULL, 'q5', '2024-05-02'),
    -- One sync_id, two syncs a day apart; the first one's sync_stats comes
    -- after its sync_end and stays with it.
    ('d1s', '2024-05-01 06:00:00', 'pg1', 'INFO', 'sync_start', NULL, NULL, 'day', '2024-05-02'),
    ('d1e', '2024-05-01 06:10:00', 'pg1', 'INFO', 'sync_end', '{"status":"SUCCESSFUL"}', NULL, 'day', '2024-05-02'),
    ('d1t', '2024-05-01 06:10:01', 'pg1', 'INFO', 'sync_stats', '{"total_time_s":600,"load_volume_mb":3}', NULL, 'day', '2024-05-02'),
    ('d2s', '2024-05-02 06:00:00', 'pg1', 'INFO', 'sync_start', NULL, NULL, 'day', '2024-05-02'),
    ('d2e', '2024-05-02 06:20:00', 'pg1', 'INFO', 'sync_end', NULL, NULL, 'day', '2024-05-02'),
    -- Skipped, each for its reason: no message_event (twice; ghost must not
    -- become a connector), a repeated id, a count that is not a number,
    -- sync_end data that is not JSON, no id, no run to belong to.
    ('n1', '2024-05-01 07:00:00', 'ghost', 'SEVERE', NULL, 'boom', NULL, NULL, '2024-05-02'),
    ('n2', '2024-05-01 07:01:00', 'ghost', 'INFO', NULL, NULL, NULL, NULL, '2024-05-02'),
    ('q4e', '2024-05-01 04:00:30', 'pg1', 'INFO', 'sync_end', '{"status":"CANCELED","reason":"cancelled by user"}', NULL, 'q4', '2024-05-02'),
    ('b1', '2024-05-01 07:02:00', 'pg1', 'INFO', 'records_modified', '{"count":"many"}', NULL, 'q4', '2024-05-02'),
    ('b2', '2024-05-01 07:03:00', 'pg1', 'INFO', 'sync_end', 'not json', NULL, 'q9', '2024-05-02'),
    ('', '2024-05-01 07:04:00', 'pg1', 'INFO', 'sync_start', NULL, NULL, 'q10', '2024-05-02'),
    ('o1', '2024-05-01 07:05:00', 'pg1', 'INFO', 'records_modified', '{"count":1}', NULL, NULL, '2024-05-02'),
    -- Not a sync event: read, neither used nor skipped.
    ('w1', '2024-05-01 07:06:00', 'pg1', 'INFO', 'write_to_table_start', '{"table":"t"}', NULL, 'q1', '2024-05-02');
-- 27 rows read; runs q1..q5, day, day@2024-05-02: 7; skipped 7.
SELECT syncopt.ingest_fivetran_log(203, 'quirks');
SELECT c.external_id, c.name, c.service, c.destination_id, c.paused, c.deleted_at IS NOT NULL AS deleted
  FROM syncopt.connector c WHERE c.account_id = 203 ORDER BY 1;
-- q1 succeeded 01:00-01:10, 4 rows, 1 MB; q2 failed with the SEVERE
-- message; q3 failed with reason and task; q4 cancelled with its reason;
-- q5 failed with the SEVERE message; day succeeded 06:00-06:10, 3 MB; its
-- second sync succeeded 06:00-06:20 the next day.
SELECT r.external_run_id, r.status, r.started_at, r.finished_at, r.rows, r.bytes, r.error_message
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = 203
 ORDER BY r.started_at;
SELECT rows_read, rows_skipped, runs_touched FROM syncopt.log_ingest_state WHERE account_id = 203;
SELECT reason, rows FROM syncopt.log_ingest_skipped WHERE account_id = 203 ORDER BY reason;
-- The next batch: the second sync's late sync_stats joins it (2 MB), and a
-- third sync under the same id is a third run (3 rows): 2 runs changed.
INSERT INTO quirks.log VALUES
    ('d2t', '2024-05-02 06:20:01', 'pg1', 'INFO', 'sync_stats', '{"total_time_s":1200,"load_volume_mb":2}', NULL, 'day', '2024-05-03'),
    ('d3s', '2024-05-03 06:00:00', 'pg1', 'INFO', 'sync_start', NULL, NULL, 'day', '2024-05-03'),
    ('d3r', '2024-05-03 06:05:00', 'pg1', 'INFO', 'records_modified', '{"count":3}', NULL, 'day', '2024-05-03'),
    ('d3e', '2024-05-03 06:15:00', 'pg1', 'INFO', 'sync_end', '{"status":"SUCCESSFUL"}', NULL, 'day', '2024-05-03');
SELECT syncopt.ingest_fivetran_log(203, 'quirks');
SELECT r.external_run_id, r.status, r.started_at, r.finished_at, r.rows, r.bytes
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
 WHERE c.account_id = 203 AND r.external_run_id LIKE 'day%' ORDER BY r.started_at;
-- Again: nothing new, nothing changed.
SELECT syncopt.ingest_fivetran_log(203, 'quirks');
SELECT rows_read, rows_skipped, runs_touched FROM syncopt.log_ingest_state WHERE account_id = 203;

-- A log longer than one batch (10000 sync events): a lead sync of 3
-- events, then 1500 syncs with a sync_id and 1500 without, their events
-- alternating half a second apart, 4 each: 12003 events.  Event 10000 is
-- the sync_end of by_id1250, so by_id1250's sync_stats and the end and
-- stats of by_time's 1250th sync are in the second batch.  Each sync is
-- still one run, succeeded, 2 rows, 2 s long: 3001 runs, of which the two
-- cut by the batch boundary are changed by both batches (3003).
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (204, 'fivetran', 'long log', 'https://api.fivetran.com');
CREATE SCHEMA long_log;
CREATE TABLE long_log.log (id text, time_stamp timestamp, connection_id text, event text, message_event text,
                           message_data text, sync_id text, _fivetran_synced timestamp);
INSERT INTO long_log.log
SELECT format('%s-%s-%s', c.conn, n, e.ord), t0 + e.offs, c.conn, 'INFO', e.me, e.data,
       CASE WHEN c.conn <> 'by_time' THEN c.conn || n END, t0 + e.offs + interval '1 minute'
  FROM (VALUES ('lead', 0, 0, 0.0), ('by_id', 1, 1500, 0.0), ('by_time', 1, 1500, 0.5)) c(conn, first, last, shift)
 CROSS JOIN LATERAL generate_series(c.first, c.last) n
 CROSS JOIN LATERAL (SELECT timestamp '2024-06-01' + (n * 60 + c.shift) * interval '1 second' AS t0) t
 CROSS JOIN (VALUES (1, interval '0 s', 'sync_start', NULL),
                    (2, interval '1 s', 'records_modified', '{"count":2}'),
                    (3, interval '2 s', 'sync_end', '{"status":"SUCCESSFUL"}'),
                    (4, interval '3 s', 'sync_stats', '{"total_time_s":2}')) e(ord, offs, me, data)
 WHERE c.conn <> 'lead' OR e.ord < 4;
SELECT syncopt.ingest_fivetran_log(204, 'long_log');
SELECT c.external_id, count(*) AS runs, count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       min(r.rows) AS min_rows, max(r.rows) AS max_rows,
       min(r.finished_at - r.started_at) AS shortest, max(r.finished_at - r.started_at) AS longest
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = 204
 GROUP BY 1 ORDER BY 1;
SELECT rows_read, rows_skipped, runs_touched FROM syncopt.log_ingest_state WHERE account_id = 204;

-- Time stamps loaded as text (a CSV load) are UTC whatever the session's
-- time zone: the run is 00:00-00:10 UTC, not Tokyo time.
CREATE SCHEMA text_log;
CREATE TABLE text_log.log (id text, time_stamp text, connection_id text, message_event text, message_data text);
INSERT INTO text_log.log VALUES ('1', '2024-07-01 00:00:00', 'csv', 'sync_start', NULL),
                                ('2', '2024-07-01 00:10:00', 'csv', 'sync_end', '{"status":"SUCCESSFUL"}');
SET timezone = 'Asia/Tokyo';
SELECT syncopt.ingest_fivetran_log(204, 'text_log');
SET timezone = 'UTC';
SELECT r.status, r.started_at, r.finished_at FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
 WHERE c.external_id = 'csv';

-- A SEVERE row without message_event (h-tidy).  Fivetran's own dbt
-- package counts every SEVERE row of a connection as an error of the sync
-- it falls in, whatever its message_event (docs/collection.md): so does
-- syncopt, for a connector it knows (one the batch's sync events or an
-- earlier read made), and such a row still never creates a connector
-- (conformance D8).  k1's end carries no status, so its SEVERE message
-- fails it; k2's message wins over its end's reason, as a SEVERE event's
-- does.  ghost's row and pg's row without a message are skipped
-- (no_message_event).  8 rows read, 2 skipped, 2 runs.
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (205, 'fivetran', 'log severe', 'https://api.fivetran.com');
CREATE SCHEMA severe_log;
CREATE TABLE severe_log.log (id text, time_stamp timestamp, connection_id text, event text, message_event text,
                             message_data text, sync_id text, _fivetran_synced timestamp);
INSERT INTO severe_log.log VALUES
    ('a1', '2024-08-01 05:00:00', 'pg', 'INFO', 'sync_start', NULL, 'k1', '2024-08-02'),
    ('a2', '2024-08-01 05:03:00', 'pg', 'SEVERE', NULL,
     '{"type":"error","message":"ERROR: permission denied for table orders"}', 'k1', '2024-08-02'),
    ('a3', '2024-08-01 05:04:00', 'pg', 'INFO', 'sync_end', NULL, 'k1', '2024-08-02'),
    ('b1', '2024-08-01 06:00:00', 'pg', 'INFO', 'sync_start', NULL, 'k2', '2024-08-02'),
    ('b2', '2024-08-01 06:01:00', 'pg', 'SEVERE', NULL, 'Connection refused: db.internal:5432', 'k2', '2024-08-02'),
    ('b3', '2024-08-01 06:02:00', 'pg', 'INFO', 'sync_end', '{"status":"FAILURE","reason":"source unreachable"}',
     'k2', '2024-08-02'),
    ('g1', '2024-08-01 05:30:00', 'ghost', 'SEVERE', NULL, '{"message":"who am I"}', 'g1', '2024-08-02'),
    ('e1', '2024-08-01 06:01:30', 'pg', 'SEVERE', NULL, '  ', 'k2', '2024-08-02');
SELECT syncopt.ingest_fivetran_log(205, 'severe_log');
SELECT c.external_id FROM syncopt.connector c WHERE c.account_id = 205 ORDER BY 1;
SELECT r.external_run_id, r.status, r.started_at, r.finished_at, r.error_message
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = 205
 ORDER BY r.started_at;
SELECT rows_read, rows_skipped, runs_touched FROM syncopt.log_ingest_state WHERE account_id = 205;
SELECT reason, rows FROM syncopt.log_ingest_skipped WHERE account_id = 205 ORDER BY reason;

-- Steps called out of turn: the batch step of a schema not being read.
SELECT syncopt.ingest_fivetran_log_batch(201, 'elsewhere', '{}');
-- No schema.
SELECT syncopt.ingest_fivetran_log(201, NULL);

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
DROP SCHEMA fivetran_metadata, fivetran_log, quirks, long_log, text_log, severe_log, not_a_log CASCADE;
DROP EXTENSION syncopt;
DROP EXTENSION pgcrypto;
