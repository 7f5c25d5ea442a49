-- Ingestion functions with fixture bodies shaped as the vendors' OpenAPI
-- files define them; expected values worked out by hand in the comments.
CREATE EXTENSION syncopt;
CREATE EXTENSION pgcrypto;   -- an independent HMAC for the webhook tests
SET client_min_messages = warning;
SET timezone = 'UTC';

INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (101, 'fivetran', 'ingest ft', 'https://api.fivetran.com'),
       (102, 'airbyte', 'ingest ab', 'https://api.airbyte.com/v1');

-- A fingerprint of everything ingestion may write, to show "nothing changed".
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT md5(coalesce((SELECT string_agg(c::text, '|' ORDER BY connector_id) FROM syncopt.connector c
                          WHERE account_id IN (101, 102)), '')
            || coalesce((SELECT string_agg(r::text, '|' ORDER BY run_id) FROM syncopt.sync_run r), '')
            || coalesce((SELECT string_agg(s::text, '|' ORDER BY connector_id) FROM
                          (SELECT connector_id, runs, successes, failures, ewma_duration_s FROM syncopt.connector_stats) s), ''))
$$;

-- Fivetran: a page of GET /v1/groups/{id}/connections (two connections).
\set ft_page '{"code": "Success", "data": {"items": [{"id": "decent_dropsy", "group_id": "projected_sickle", "service": "postgres", "service_version": 1, "schema": "pg_main", "connected_by": "user_1", "created_at": "2024-01-01T00:00:00.000Z", "succeeded_at": "2024-03-01T06:00:00.000Z", "failed_at": "2024-02-28T06:00:00.000Z", "paused": false, "pause_after_trial": false, "sync_frequency": 360, "schedule_type": "auto", "status": {"setup_state": "connected", "sync_state": "scheduled", "update_state": "on_schedule", "is_historical_sync": false, "tasks": [], "warnings": []}, "config": {}}, {"id": "sheet_one", "group_id": "projected_sickle", "service": "google_sheets", "schema": "sheets.budget", "connected_by": "user_1", "created_at": "2024-01-01T00:00:00.000Z", "succeeded_at": null, "failed_at": null, "paused": true, "pause_after_trial": false, "sync_frequency": 1440, "daily_sync_time": "03:00", "schedule_type": "manual", "status": {"setup_state": "incomplete", "sync_state": "paused", "update_state": "delayed", "is_historical_sync": false}}], "next_cursor": "eyJza2lwIjoyfQ"}}'
-- 2 connectors + 2 runs (decent_dropsy's succeeded_at and failed_at).
SELECT syncopt.ingest_fivetran_connections(101, :'ft_page');
SELECT external_id, name, group_id, service, schedule_minutes, schedule_type, daily_sync_time, paused,
       sync_state, setup_state, last_success_at, last_failure_at
  FROM syncopt.connector WHERE account_id = 101 ORDER BY external_id;
SELECT c.external_id, r.external_run_id, r.status, r.finished_at, r.duration_known, r.source
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) ORDER BY r.finished_at;
-- Failure then success, in finish order: 2 runs, 1 success, 1 failure, streak 0.
SELECT s.runs, s.successes, s.failures, s.consecutive_failures, s.ewma_duration_s
  FROM syncopt.connector_stats s JOIN syncopt.connector c USING (connector_id) WHERE c.external_id = 'decent_dropsy';

-- Re-ingesting the same page changes nothing.
SELECT pg_temp.fingerprint() AS before \gset
SELECT syncopt.ingest_fivetran_connections(101, :'ft_page');
SELECT pg_temp.fingerprint() = :'before' AS unchanged;

-- Malformed input names the field and stores nothing.
SELECT syncopt.ingest_fivetran_connections(101, '{"code": "Success", "data": {"items": [{"id": "x", "group_id": "g", "service": "s", "schema": "s", "paused": "no", "sync_frequency": 60, "schedule_type": "auto", "status": {"setup_state": "connected", "sync_state": "scheduled"}}]}}');
SELECT syncopt.ingest_fivetran_connections(101, '{"code": "Success", "data": {"items": [{"id": "x", "group_id": "g", "service": "s", "schema": "s", "paused": false, "sync_frequency": 60, "schedule_type": "auto", "status": {"setup_state": "connected", "sync_state": "waiting"}}]}}');
SELECT syncopt.ingest_fivetran_connections(101, '{"code": "Success", "data": {"items": [{"id": "x", "group_id": "g", "service": "s", "schema": "s", "paused": false, "sync_frequency": 60, "schedule_type": "auto", "succeeded_at": "yesterday", "status": {"setup_state": "connected", "sync_state": "scheduled"}}]}}');
SELECT syncopt.ingest_fivetran_connections(101, '{"code": "NotFound", "message": "Group not found"}');
SELECT syncopt.ingest_fivetran_connections(101, '[1, 2]');
SELECT syncopt.ingest_fivetran_connections(102, :'ft_page');
SELECT pg_temp.fingerprint() = :'before' AS unchanged;

-- GET /v1/connections/{id}: a newer success; one more run (a new succeeded_at).
SELECT syncopt.ingest_fivetran_connection(101, '{"code": "Success", "data": []}');
SELECT syncopt.ingest_fivetran_connection(101, jsonb_build_object('code', 'Success', 'data',
       jsonb_set(jsonb_set(:'ft_page'::jsonb #> '{data,items,0}', '{succeeded_at}', '"2024-03-01T12:00:00.000Z"'),
                 '{status,sync_state}', '"syncing"')));
SELECT sync_state, last_success_at FROM syncopt.connector WHERE external_id = 'decent_dropsy';

-- GET /v1/connections/{id}/schemas: enabled tables and columns by destination name.
\set schema_body '{"code": "Success", "data": {"enable_new_by_default": true, "schema_change_handling": "ALLOW_COLUMNS", "schemas": {"public": {"name_in_destination": "pg_main", "enabled": true, "tables": {"orders": {"name_in_destination": "orders", "enabled": true, "sync_mode": "SOFT_DELETE", "supports_columns_config": true, "supports_history_mode": true, "enabled_patch_settings": {"allowed": true}, "columns": {"id": {"name_in_destination": "id", "enabled": true, "hashed": false, "is_primary_key": true, "enabled_patch_settings": {"allowed": true}}, "secret": {"name_in_destination": "secret", "enabled": false, "hashed": false, "enabled_patch_settings": {"allowed": true}}}}, "audit": {"name_in_destination": "audit", "enabled": false, "supports_columns_config": true, "supports_history_mode": false, "enabled_patch_settings": {"allowed": true}, "columns": {}}}}}}}'
SELECT syncopt.ingest_fivetran_schema(101, 'decent_dropsy', :'schema_body');
SELECT syncopt.ingest_fivetran_schema(101, 'decent_dropsy', :'schema_body');   -- same schema: 0
SELECT tables FROM syncopt.schema_snapshot;
SELECT syncopt.ingest_fivetran_schema(101, 'decent_dropsy',
       jsonb_set(:'schema_body'::jsonb, '{data,schemas,public,tables,audit,enabled}', 'true'));
SELECT count(*) AS snapshots FROM syncopt.schema_snapshot;
SELECT syncopt.ingest_fivetran_schema(101, 'nobody', :'schema_body');
SELECT syncopt.ingest_fivetran_schema(101, 'decent_dropsy',
       jsonb_set(:'schema_body'::jsonb, '{data,schemas,public,tables,orders,enabled}', '"yes"'));

-- Airbyte: GET /connections (ConnectionsResponse).
\set ab_conns '{"data": [{"connectionId": "9924bcd0-99be-453d-ba47-c2c9766f7da5", "name": "Postgres-to-Bigquery", "sourceId": "95e66a59-8045-4307-9678-63bc3c9b8c93", "destinationId": "e478de0d-a3a0-475c-b019-25f7dd29e281", "workspaceId": "bd9e0ec2-0000-0000-0000-000000000001", "status": "active", "schedule": {"scheduleType": "cron", "cronExpression": "0 0 */6 * * ? UTC"}, "configurations": {"streams": []}, "createdAt": 1700000000, "tags": []}, {"connectionId": "c2", "name": "Stripe", "sourceId": "s2", "destinationId": "e478de0d-a3a0-475c-b019-25f7dd29e281", "workspaceId": "w1", "status": "inactive", "schedule": {"scheduleType": "basic", "basicTiming": "Every 6 HOURS"}, "configurations": {"streams": []}, "createdAt": 1700000000, "tags": []}], "next": "https://api.airbyte.com/v1/connections?limit=20&offset=20"}'
SELECT syncopt.ingest_airbyte_connections(102, :'ab_conns');
SELECT syncopt.ingest_airbyte_connections(102, :'ab_conns');                 -- again: 0
SELECT external_id, name, workspace_id, destination_id, source_key, schedule_type, schedule_minutes,
       cron_expression, paused FROM syncopt.connector WHERE account_id = 102 ORDER BY external_id;
SELECT syncopt.ingest_airbyte_connections(102, '{"data": [{"connectionId": "c3", "name": "x", "sourceId": "s", "destinationId": "d", "workspaceId": "w", "status": "paused", "schedule": {"scheduleType": "manual"}}]}');
SELECT syncopt.ingest_airbyte_connections(102, '{"data": {"connectionId": "c3"}}');

-- Airbyte: GET /jobs (JobsResponse).  Job 1 is the spec's example: started
-- 01:30:50, duration PT8H6M12S, no lastUpdatedAt: it ended 09:37:02.
\set ab_jobs '{"data": [{"jobId": 1, "status": "succeeded", "jobType": "sync", "startTime": "2023-03-25T01:30:50Z", "connectionId": "c2", "duration": "PT8H6M12S", "rowsSynced": 1000, "bytesSynced": 50000}, {"jobId": 2, "status": "failed", "jobType": "sync", "startTime": "2023-03-26T00:00:00Z", "connectionId": "c2", "lastUpdatedAt": "2023-03-26T00:10:00Z", "duration": "PT10M", "rowsSynced": 0, "bytesSynced": 0}, {"jobId": 3, "status": "succeeded", "jobType": "refresh", "startTime": "2023-03-27T00:00:00Z", "connectionId": "c2", "lastUpdatedAt": "2023-03-27T01:00:00Z", "duration": "PT1H", "rowsSynced": 9000, "bytesSynced": 1}, {"jobId": 4, "status": "incomplete", "jobType": "sync", "startTime": "2023-03-28T00:00:00Z", "connectionId": "c2", "lastUpdatedAt": null, "duration": "PT5M"}, {"jobId": 5, "status": "succeeded", "jobType": "reset", "startTime": "2023-03-28T00:00:00Z", "connectionId": "c2", "lastUpdatedAt": "2023-03-28T00:01:00Z", "duration": "PT1M"}, {"jobId": 6, "status": "pending", "jobType": "sync", "startTime": "2023-03-29T00:00:00Z", "connectionId": "not-listed-yet"}]}'
SELECT syncopt.ingest_airbyte_jobs(102, :'ab_jobs');       -- 5 runs (the reset job is skipped)
SELECT c.external_id, r.external_run_id, r.status, r.started_at, r.finished_at, r.rows, r.bytes, r.full_sync
  FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
 WHERE c.account_id = 102 ORDER BY r.external_run_id;
-- c2: 3 finished runs (2 succeeded, 1 failed); timed successes 29172 s then
-- 3600 s: EWMA 0.7 * 29172 + 0.3 * 3600 = 21500.4; rows 0.7 * 1000 + 0.3 * 9000 = 3400.
SELECT s.runs, s.successes, s.failures, s.consecutive_failures, s.ewma_duration_s, s.ewma_rows,
       s.recent_duration_s, s.fit_n
  FROM syncopt.connector_stats s JOIN syncopt.connector c USING (connector_id) WHERE c.external_id = 'c2';
SELECT pg_temp.fingerprint() AS before \gset
SELECT syncopt.ingest_airbyte_jobs(102, :'ab_jobs');       -- again: 0
SELECT pg_temp.fingerprint() = :'before' AS unchanged;
-- Job 1 seen again with other figures: the run is updated (1), but it was
-- finished before, so connector_stats still counts 3 runs, 2 successes.
SELECT syncopt.ingest_airbyte_jobs(102, '{"data": [{"jobId": 1, "status": "succeeded", "jobType": "sync", "startTime": "2023-03-25T01:30:50Z", "connectionId": "c2", "duration": "PT8H6M12S", "rowsSynced": 1000, "bytesSynced": 50001}]}');
SELECT s.runs, s.successes FROM syncopt.connector_stats s JOIN syncopt.connector c USING (connector_id)
 WHERE c.external_id = 'c2';
-- Job 4 ends (600 s); an older page showing it running does not undo that.
SELECT syncopt.ingest_airbyte_jobs(102, '{"data": [{"jobId": 4, "status": "succeeded", "jobType": "sync", "startTime": "2023-03-28T00:00:00Z", "connectionId": "c2", "lastUpdatedAt": "2023-03-28T00:10:00Z", "duration": "PT10M", "rowsSynced": 10}]}');
SELECT syncopt.ingest_airbyte_jobs(102, '{"data": [{"jobId": 4, "status": "running", "jobType": "sync", "startTime": "2023-03-28T00:00:00Z", "connectionId": "c2"}]}');
SELECT r.status, r.finished_at FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id)
 WHERE c.external_id = 'c2' AND r.external_run_id = '4';
-- 0.7 * 21500.4 + 0.3 * 600 = 15230.28
SELECT s.runs, s.successes, round(s.ewma_duration_s::numeric, 2) AS ewma
  FROM syncopt.connector_stats s JOIN syncopt.connector c USING (connector_id) WHERE c.external_id = 'c2';
SELECT syncopt.ingest_airbyte_jobs(102, '{"data": [{"jobId": 7, "status": "succeeded", "jobType": "sync", "startTime": "2023-03-25T01:30:50Z", "connectionId": "c2", "duration": "8 hours"}]}');
SELECT syncopt.ingest_airbyte_jobs(102, '{"data": [{"jobId": "7", "status": "succeeded", "jobType": "sync", "startTime": "2023-03-25T01:30:50Z", "connectionId": "c2"}]}');
SELECT syncopt.ingest_airbyte_jobs(102, '{"data": [{"jobId": 7, "status": "done", "jobType": "sync", "startTime": "2023-03-25T01:30:50Z", "connectionId": "c2"}]}');
SELECT syncopt.ingest_airbyte_jobs(102, '{"data": [{"jobId": 7, "status": "succeeded", "jobType": "sync", "startTime": "2023-03-25T01:30:50Z", "connectionId": "c2", "rowsSynced": -1}]}');
-- fold_stats => false (the collector's way): the same jobs for connection
-- c9 leave their 3 finished runs in stats_backlog (one row for the page)
-- and connector_stats untouched until fold_stats_backlog(), which folds
-- them exactly as above (EWMA 21500.4, rows 3400).
SELECT syncopt.ingest_airbyte_jobs(102, replace(:'ab_jobs', '"c2"', '"c9"')::jsonb, fold_stats => false);
SELECT count(*) AS c9_stats_rows FROM syncopt.connector_stats s JOIN syncopt.connector c USING (connector_id)
 WHERE c.external_id = 'c9';
SELECT count(*) AS pages_waiting, sum(cardinality(run_id)) AS runs_waiting FROM syncopt.stats_backlog;
SELECT syncopt.fold_stats_backlog() AS folded;
SELECT s.runs, s.successes, s.failures, s.consecutive_failures, s.ewma_duration_s, s.ewma_rows,
       s.recent_duration_s, s.fit_n
  FROM syncopt.connector_stats s JOIN syncopt.connector c USING (connector_id) WHERE c.external_id = 'c9';
SELECT count(*) AS pages_waiting, syncopt.fold_stats_backlog() AS folded_again FROM syncopt.stats_backlog;
-- Folding later gives the stats folding every page gives: 600 one-job pages
-- (more than one fold batch of 500 pages), varied durations, rows and
-- outcomes, ingested for connection i1 folding each page and for d1
-- folding once at the end; their stats rows must be equal.
CREATE TEMP TABLE one_job_pages AS
SELECT j, jsonb_build_object('data', jsonb_build_array(jsonb_build_object(
           'jobId', j, 'status', CASE WHEN j % 7 = 0 THEN 'failed' ELSE 'succeeded' END,
           'jobType', CASE WHEN j % 50 = 0 THEN 'refresh' ELSE 'sync' END,
           'startTime', to_char(timestamp '2026-01-01' + j * interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'connectionId', 'CONN', 'duration', 'PT' || (60 + (j * 37) % 900) || 'S',
           'rowsSynced', (j * 101) % 5000))) AS page
  FROM generate_series(1, 600) j;
SELECT sum(syncopt.ingest_airbyte_jobs(102, replace(page::text, 'CONN', 'i1')::jsonb) ORDER BY j) AS i1_runs,
       sum(syncopt.ingest_airbyte_jobs(102, replace(page::text, 'CONN', 'd1')::jsonb, fold_stats => false) ORDER BY j)
           AS d1_runs
  FROM one_job_pages;
SELECT count(*) AS pages_waiting, syncopt.fold_stats_backlog() AS folded FROM syncopt.stats_backlog;
SELECT count(DISTINCT (s.runs, s.successes, s.failures, s.consecutive_failures, s.last_run_at,
                       s.last_success_at, s.last_failure_at, round(s.ewma_duration_s::numeric, 6),
                       round(s.ewma_rows::numeric, 6), s.fit_n, round(s.fit_sum_x::numeric, 6),
                       round(s.fit_sum_y::numeric, 6), round(s.fit_sum_xy::numeric, 6), s.recent_duration_s,
                       s.recent_rows, s.recent_started_at, s.recent_full)) AS distinct_stats,
       count(*) AS stats_rows, min(s.runs) AS runs, min(s.failures) AS failures,
       min(cardinality(s.recent_duration_s)) AS window
  FROM syncopt.connector_stats s JOIN syncopt.connector c USING (connector_id)
 WHERE c.account_id = 102 AND c.external_id IN ('i1', 'd1');
-- The C checks of GET /jobs timestamps and durations accept exactly what
-- the documented patterns accept, PostgreSQL's regular expressions being
-- the judge: valid strings and every one-character deletion, insertion and
-- replacement of them, as a reset job's startTime or duration (checked,
-- then skipped: nothing is stored either way).
CREATE TEMP TABLE shape_seeds (kind text, s text);
INSERT INTO shape_seeds VALUES
    ('startTime', '2023-03-25T01:30:50Z'), ('startTime', '2023-03-25 01:30Z'),
    ('startTime', '2023-03-25T01:30:50.123+05:30'), ('startTime', '2023-03-25T01:30:50-0800'),
    ('startTime', '2023-03-25T01:30+01'),
    ('duration', 'PT8H6M12S'), ('duration', 'P1Y2M3W4D'), ('duration', 'P1DT2H'), ('duration', 'PT0.5S'),
    ('duration', 'P2W'), ('duration', 'PT1M30.25S'), ('duration', 'P1MT1M');
CREATE TEMP TABLE shape_cases AS
WITH chars(c) AS (SELECT unnest(ARRAY['0', '9', 'T', ' ', ':', '.', 'Z', '+', '-', 'P', 'Y', 'M', 'W', 'D', 'H', 'S']))
SELECT DISTINCT kind, s FROM (
    SELECT kind, s FROM shape_seeds
    UNION ALL SELECT kind, overlay(s PLACING '' FROM i FOR 1) FROM shape_seeds, generate_series(1, length(s)) i
    UNION ALL SELECT kind, overlay(s PLACING c FROM i FOR 0) FROM shape_seeds, generate_series(1, length(s) + 1) i, chars
    UNION ALL SELECT kind, overlay(s PLACING c FROM i FOR 1) FROM shape_seeds, generate_series(1, length(s)) i, chars
) x;
CREATE FUNCTION pg_temp.c_accepts(kind text, s text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM syncopt.ingest_airbyte_jobs(102, jsonb_build_object('data', jsonb_build_array(
        jsonb_build_object('jobId', 1, 'status', 'succeeded', 'jobType', 'reset', 'connectionId', 'c2',
                           'startTime', CASE WHEN kind = 'startTime' THEN s ELSE '2023-03-25T01:30:50Z' END,
                           'duration', CASE WHEN kind = 'duration' THEN s END))));
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END $$;
SELECT count(*) AS cases, count(*) FILTER (WHERE ok) AS accepted,
       count(*) FILTER (WHERE ok IS DISTINCT FROM judged) AS disagreements
  FROM (SELECT pg_temp.c_accepts(kind, s) AS ok,
               CASE kind WHEN 'startTime'
                   THEN s ~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)$'
                   ELSE s ~ '^P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$'
               END AS judged
          FROM shape_cases) t;
DROP EXTENSION syncopt;
DROP EXTENSION pgcrypto;
