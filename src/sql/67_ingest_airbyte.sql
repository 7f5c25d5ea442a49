-- Airbyte public API bodies to rows: connection pages (GET /connections)
-- and job pages (GET /jobs), as api.yaml's ConnectionsResponse and
-- JobsResponse define them.

-- Check the {"data": [...], "next": ..., "previous": ...} page shape.
CREATE FUNCTION syncopt.airbyte_page_problem(page jsonb) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(page) IS DISTINCT FROM 'object' THEN 'the body must be a JSON object'
        ELSE coalesce(
            syncopt.json_field_problem(page -> 'data', 'array', false, 'data'),
            syncopt.json_field_problem(page -> 'next', 'string', true, 'next'),
            syncopt.json_field_problem(page -> 'previous', 'string', true, 'previous'))
    END
$$;

-- Minutes of an Airbyte basicTiming such as "Every 24 HOURS"; NULL otherwise.
CREATE FUNCTION syncopt.airbyte_basic_minutes(timing text) RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$
    SELECT (m[1]::bigint * CASE m[2] WHEN 'MINUTES' THEN 1 WHEN 'HOURS' THEN 60 WHEN 'DAYS' THEN 1440
                                     WHEN 'WEEKS' THEN 10080 WHEN 'MONTHS' THEN 43200 END)::integer
      FROM regexp_match(timing, '^Every ([0-9]{1,6}) (MINUTES|HOURS|DAYS|WEEKS|MONTHS)$') AS m
     WHERE m[1]::bigint > 0
$$;

CREATE FUNCTION syncopt.airbyte_connection_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN jsonb_typeof(item) IS DISTINCT FROM 'object' THEN format('"%s" must be a JSON object', at)
    ELSE coalesce(
        syncopt.json_field_problem(item -> 'connectionId', 'string', false, at || '.connectionId'),
        CASE WHEN btrim(item ->> 'connectionId') = '' THEN format('field "%s.connectionId" is empty', at) END,
        syncopt.json_field_problem(item -> 'name', 'string', false, at || '.name'),
        syncopt.json_field_problem(item -> 'sourceId', 'string', false, at || '.sourceId'),
        syncopt.json_field_problem(item -> 'destinationId', 'string', false, at || '.destinationId'),
        syncopt.json_field_problem(item -> 'workspaceId', 'string', false, at || '.workspaceId'),
        syncopt.json_enum_problem(item -> 'status', '{active,inactive,deprecated,locked}', false, at || '.status'),
        syncopt.json_field_problem(item -> 'schedule', 'object', false, at || '.schedule'),
        syncopt.json_enum_problem(item #> '{schedule,scheduleType}', '{manual,cron,basic}', false,
                                  at || '.schedule.scheduleType'),
        syncopt.json_field_problem(item #> '{schedule,cronExpression}', 'string', true,
                                   at || '.schedule.cronExpression'),
        syncopt.json_field_problem(item #> '{schedule,basicTiming}', 'string', true,
                                   at || '.schedule.basicTiming'),
        syncopt.json_field_problem(item -> 'createdAt', 'integer', true, at || '.createdAt'),
        syncopt.json_field_problem(item -> 'tags', 'array', true, at || '.tags'),
        syncopt.json_field_problem(item -> 'configurations', 'object', true, at || '.configurations'))
    END
$$;

CREATE FUNCTION syncopt.ingest_airbyte_connections(account_id bigint, page jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- Plans per call: a generic plan cached while the tables were small turns
-- the run lookups into scans as history grows (cost grew with every page).
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    problem text;
    touched integer;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'airbyte');
    problem := coalesce(
        syncopt.airbyte_page_problem(page),
        (SELECT p FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i),
                LATERAL syncopt.airbyte_connection_problem(e.item, format('data[%s]', e.i - 1)) AS p
          WHERE p IS NOT NULL LIMIT 1));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Airbyte connections page', problem);
    END IF;

    -- status: active runs on schedule; inactive is paused; locked (by
    -- Airbyte) cannot run either; deprecated is Airbyte's deleted.
    WITH src AS (
        SELECT DISTINCT ON (e.item ->> 'connectionId') e.item
          FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i)
         ORDER BY e.item ->> 'connectionId', e.i DESC
    ), up AS (
        INSERT INTO syncopt.connector AS c (
            account_id, external_id, name, workspace_id, destination_id, source_key, service,
            schedule_minutes, schedule_type, cron_expression, paused, raw, deleted_at, updated_at)
        SELECT ingest_airbyte_connections.account_id, s.item ->> 'connectionId', s.item ->> 'name',
               s.item ->> 'workspaceId', s.item ->> 'destinationId', s.item ->> 'sourceId', NULL,
               syncopt.airbyte_basic_minutes(s.item #>> '{schedule,basicTiming}'),
               s.item #>> '{schedule,scheduleType}', s.item #>> '{schedule,cronExpression}',
               s.item ->> 'status' <> 'active', s.item,
               CASE WHEN s.item ->> 'status' = 'deprecated' THEN now() END, now()
          FROM src s
        ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
            name = excluded.name, workspace_id = excluded.workspace_id,
            destination_id = excluded.destination_id,
            -- source_key is the admins' to set; the vendor's sourceId only seeds it
            source_key = coalesce(c.source_key, excluded.source_key),
            schedule_minutes = excluded.schedule_minutes, schedule_type = excluded.schedule_type,
            cron_expression = excluded.cron_expression, paused = excluded.paused, raw = excluded.raw,
            deleted_at = CASE WHEN excluded.deleted_at IS NULL THEN NULL ELSE coalesce(c.deleted_at, excluded.deleted_at) END,
            updated_at = now()
        WHERE c.raw IS DISTINCT FROM excluded.raw
           OR (c.deleted_at IS NULL) <> (excluded.deleted_at IS NULL)
        RETURNING 1)
    SELECT count(*) INTO touched FROM up;
    RETURN touched;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_airbyte_connections(bigint, jsonb) IS
    'Ingests one page of GET /connections; returns connectors changed.';

CREATE FUNCTION syncopt.airbyte_job_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN jsonb_typeof(item) IS DISTINCT FROM 'object' THEN format('"%s" must be a JSON object', at)
    ELSE coalesce(
        syncopt.json_field_problem(item -> 'jobId', 'integer', false, at || '.jobId'),
        syncopt.json_enum_problem(item -> 'status',
                                  '{pending,queued,running,incomplete,failed,succeeded,cancelled}', false,
                                  at || '.status'),
        syncopt.json_enum_problem(item -> 'jobType', '{sync,reset,refresh,clear}', false, at || '.jobType'),
        syncopt.json_field_problem(item -> 'startTime', 'timestamp', false, at || '.startTime'),
        syncopt.json_field_problem(item -> 'connectionId', 'string', false, at || '.connectionId'),
        CASE WHEN btrim(item ->> 'connectionId') = '' THEN format('field "%s.connectionId" is empty', at) END,
        syncopt.json_field_problem(item -> 'lastUpdatedAt', 'timestamp', true, at || '.lastUpdatedAt'),
        syncopt.json_field_problem(item -> 'duration', 'string', true, at || '.duration'),
        CASE WHEN (item ->> 'duration')
                  !~ '^P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$'
             THEN format('field "%s.duration" must be an ISO-8601 duration such as PT8H6M12S, not %s',
                         at, item -> 'duration') END,
        syncopt.json_field_problem(item -> 'rowsSynced', 'integer', true, at || '.rowsSynced'),
        syncopt.json_field_problem(item -> 'bytesSynced', 'integer', true, at || '.bytesSynced'),
        CASE WHEN (item ->> 'rowsSynced')::bigint < 0 OR (item ->> 'bytesSynced')::bigint < 0
             THEN format('fields "%s.rowsSynced" and "%s.bytesSynced" must not be negative', at, at) END)
    END
$$;

-- Jobs to runs.  pending, queued, running and incomplete (an attempt failed,
-- Airbyte retries) are one running run; succeeded, failed and cancelled
-- end it at lastUpdatedAt (else startTime + duration).  sync jobs are
-- incremental syncs, refresh jobs full ones; reset and clear jobs move no
-- data and are skipped.  A job of a connection not seen yet creates a
-- bare connector row so that no run is lost.  A finished run never goes
-- back to running when an older page is ingested again.
CREATE FUNCTION syncopt.ingest_airbyte_jobs(account_id bigint, page jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- Plans per call: a generic plan cached while the tables were small turns
-- the run lookups into scans as history grows (cost grew with every page).
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    problem  text;
    touched  integer;
    finished bigint[];
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'airbyte');
    problem := coalesce(
        syncopt.airbyte_page_problem(page),
        (SELECT p FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i),
                LATERAL syncopt.airbyte_job_problem(e.item, format('data[%s]', e.i - 1)) AS p
          WHERE p IS NOT NULL LIMIT 1));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Airbyte jobs page', problem);
    END IF;

    INSERT INTO syncopt.connector (account_id, external_id)
    SELECT DISTINCT ingest_airbyte_jobs.account_id, e.item ->> 'connectionId'
      FROM jsonb_array_elements(page -> 'data') AS e(item)
     WHERE e.item ->> 'jobType' IN ('sync', 'refresh')
    ON CONFLICT ON CONSTRAINT connector_external_id_unique DO NOTHING;

    WITH j AS (
        SELECT DISTINCT ON (c.connector_id, e.item ->> 'jobId')
               c.connector_id, e.item ->> 'jobId' AS ext,
               (e.item ->> 'startTime')::timestamptz AS started_at,
               CASE WHEN e.item ->> 'status' IN ('succeeded', 'failed', 'cancelled') THEN
                   greatest((e.item ->> 'startTime')::timestamptz,
                            coalesce((e.item ->> 'lastUpdatedAt')::timestamptz,
                                     (e.item ->> 'startTime')::timestamptz + (e.item ->> 'duration')::interval,
                                     (e.item ->> 'startTime')::timestamptz))
               END AS finished_at,
               CASE WHEN e.item ->> 'status' IN ('succeeded', 'failed', 'cancelled') THEN e.item ->> 'status'
                    ELSE 'running' END AS status,
               (e.item ->> 'rowsSynced')::bigint AS rows,
               (e.item ->> 'bytesSynced')::bigint AS bytes,
               e.item ->> 'jobType' = 'refresh' AS full_sync,
               e.item ->> 'status' NOT IN ('succeeded', 'failed', 'cancelled')
                   OR e.item ->> 'lastUpdatedAt' IS NOT NULL OR e.item ->> 'duration' IS NOT NULL AS duration_known,
               old.run_id AS old_run_id, old.status AS old_status
          FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i)
          JOIN syncopt.connector c
            ON c.account_id = ingest_airbyte_jobs.account_id AND c.external_id = e.item ->> 'connectionId'
          LEFT JOIN syncopt.sync_run old
            ON old.connector_id = c.connector_id AND old.external_run_id = e.item ->> 'jobId'
         WHERE e.item ->> 'jobType' IN ('sync', 'refresh')
         ORDER BY c.connector_id, e.item ->> 'jobId', (e.item ->> 'status' IN ('succeeded', 'failed', 'cancelled')) DESC, e.i DESC
    ), up AS (
        INSERT INTO syncopt.sync_run AS r (connector_id, external_run_id, started_at, finished_at, status,
                                           rows, bytes, full_sync, duration_known, source)
        SELECT j.connector_id, j.ext, j.started_at, j.finished_at, j.status, j.rows, j.bytes, j.full_sync,
               j.duration_known, 'api'
          FROM j
        ON CONFLICT ON CONSTRAINT sync_run_external_id_unique DO UPDATE SET
            started_at = excluded.started_at, finished_at = excluded.finished_at, status = excluded.status,
            rows = excluded.rows, bytes = excluded.bytes, full_sync = excluded.full_sync,
            duration_known = excluded.duration_known, ingested_at = now()
        WHERE (r.status = 'running' OR excluded.status <> 'running')
          AND (r.started_at, r.finished_at, r.status, r.rows, r.bytes, r.full_sync, r.duration_known)
              IS DISTINCT FROM (excluded.started_at, excluded.finished_at, excluded.status, excluded.rows,
                                excluded.bytes, excluded.full_sync, excluded.duration_known)
        RETURNING r.run_id, r.status)
    -- Newly finished: finished now and not already finished before (a
    -- hashed NOT IN, so the cost stays linear in the page).
    SELECT (SELECT count(*) FROM up),
           (SELECT array_agg(up.run_id) FROM up
             WHERE up.status <> 'running'
               AND up.run_id NOT IN (SELECT j.old_run_id FROM j WHERE j.old_status <> 'running'))
      INTO touched, finished;

    PERFORM syncopt.absorb_runs(finished);
    RETURN touched;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_airbyte_jobs(bigint, jsonb) IS
    'Ingests one page of GET /jobs as sync runs; returns runs changed. Re-ingesting a page changes nothing.';
