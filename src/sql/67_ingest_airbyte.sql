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

-- Minutes of an Airbyte basicTiming such as "Every 24 HOURS" (the server
-- writes the unit in capitals; hand-written bodies use any case); NULL
-- otherwise.
CREATE FUNCTION syncopt.airbyte_basic_minutes(timing text) RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$
    SELECT (m[1]::bigint * CASE upper(m[2]) WHEN 'MINUTES' THEN 1 WHEN 'HOURS' THEN 60 WHEN 'DAYS' THEN 1440
                                            WHEN 'WEEKS' THEN 10080 WHEN 'MONTHS' THEN 43200 END)::integer
      FROM regexp_match(timing, '^Every ([0-9]{1,6}) (MINUTES|HOURS|DAYS|WEEKS|MONTHS)$', 'i') AS m
     WHERE m[1]::bigint > 0
$$;

-- An Airbyte cron expression split into its Quartz fields and the time
-- zone the server appends to it ("0 0 12 * * ? America/Los_Angeles"): a
-- last field with a letter in it, after at least six, is a zone, since no
-- Quartz year field has one.  zone is NULL when there is none.
CREATE FUNCTION syncopt.airbyte_cron_parts(expression text, OUT quartz text, OUT zone text)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN has_zone THEN array_to_string(f[1:cardinality(f) - 1], ' ') ELSE array_to_string(f, ' ') END,
           CASE WHEN has_zone THEN f[cardinality(f)] END
      FROM (SELECT f, cardinality(f) >= 7 AND f[cardinality(f)] ~ '[A-Za-z]' AS has_zone
              FROM (SELECT regexp_split_to_array(btrim(expression), '\s+') AS f) a) b
     WHERE expression IS NOT NULL
$$;
COMMENT ON FUNCTION syncopt.airbyte_cron_parts(text) IS
    'An Airbyte cronExpression as its Quartz fields and the time zone appended to them (NULL: none).';

-- What makes one connection object unusable as an item at all (NULL when
-- nothing): not an object, or no connectionId.  Such a page is refused whole.
CREATE FUNCTION syncopt.airbyte_item_shape_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN jsonb_typeof(item) IS DISTINCT FROM 'object' THEN format('"%s" must be a JSON object', at)
    ELSE coalesce(
        syncopt.json_field_problem(item -> 'connectionId', 'string', false, at || '.connectionId'),
        CASE WHEN btrim(item ->> 'connectionId') = '' THEN format('field "%s.connectionId" is empty', at) END)
    END
$$;

-- What is wrong with the fields of one connection object (NULL when nothing).
CREATE FUNCTION syncopt.airbyte_connection_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        syncopt.airbyte_item_shape_problem(item, at),
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
    items   jsonb;
    bad     jsonb;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'airbyte');
    problem := coalesce(
        syncopt.airbyte_page_problem(page),
        (SELECT p FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i),
                LATERAL syncopt.airbyte_item_shape_problem(e.item, format('data[%s]', e.i - 1)) AS p
          WHERE p IS NOT NULL LIMIT 1));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Airbyte connections page', problem);
    END IF;
    -- One unreadable item is quarantined and the rest stored; a page none
    -- of whose items reads is not the shape syncopt reads and is refused.
    SELECT coalesce(jsonb_object_agg(q.id, q.p), '{}') INTO bad
      FROM (SELECT DISTINCT ON (e.item ->> 'connectionId') e.item ->> 'connectionId' AS id, p
              FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i),
                   LATERAL syncopt.airbyte_connection_problem(e.item, format('data[%s]', e.i - 1)) AS p
             WHERE p IS NOT NULL
             ORDER BY e.item ->> 'connectionId', e.i) q;
    IF bad <> '{}' AND NOT EXISTS (SELECT FROM jsonb_array_elements(page -> 'data') e(item)
                                    WHERE NOT bad ? (e.item ->> 'connectionId')) THEN
        SELECT p INTO problem
          FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i),
               LATERAL syncopt.airbyte_connection_problem(e.item, format('data[%s]', e.i - 1)) AS p
         WHERE p IS NOT NULL
         ORDER BY e.i LIMIT 1;
        PERFORM syncopt.ingest_reject('Airbyte connections page', problem);
    END IF;
    PERFORM syncopt.quarantine_items(account_id, 'airbyte connection', page -> 'data', 'connectionId', bad);
    items := (SELECT coalesce(jsonb_agg(e.item ORDER BY e.i), '[]')
                FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i)
               WHERE NOT bad ? (e.item ->> 'connectionId'));

    -- status: active runs on schedule; inactive is paused; locked (by
    -- Airbyte) cannot run either; deprecated is Airbyte's deleted.
    WITH src AS (
        SELECT DISTINCT ON (e.item ->> 'connectionId') e.item
          FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i)
         ORDER BY e.item ->> 'connectionId', e.i DESC
    ), up AS (
        INSERT INTO syncopt.connector AS c (
            account_id, external_id, name, workspace_id, destination_id, source_key, service,
            schedule_minutes, schedule_type, cron_expression, schedule_timezone, paused, raw, deleted_at,
            updated_at)
        SELECT ingest_airbyte_connections.account_id, s.item ->> 'connectionId', s.item ->> 'name',
               s.item ->> 'workspaceId', s.item ->> 'destinationId', s.item ->> 'sourceId', NULL,
               syncopt.airbyte_basic_minutes(s.item #>> '{schedule,basicTiming}'),
               s.item #>> '{schedule,scheduleType}', s.item #>> '{schedule,cronExpression}',
               -- a zone PostgreSQL does not know stays NULL: vendor_next_start
               -- then leaves the schedule unmodelled
               CASE WHEN syncopt.is_valid_timezone(z.zone) THEN z.zone END,
               s.item ->> 'status' <> 'active', s.item,
               CASE WHEN s.item ->> 'status' = 'deprecated' THEN now() END, now()
          FROM src s, syncopt.airbyte_cron_parts(coalesce(s.item #>> '{schedule,cronExpression}', '')) z
        ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
            name = excluded.name, workspace_id = excluded.workspace_id,
            destination_id = excluded.destination_id,
            -- source_key is the admins' to set; the vendor's sourceId only seeds it
            source_key = coalesce(c.source_key, excluded.source_key),
            schedule_minutes = excluded.schedule_minutes, schedule_type = excluded.schedule_type,
            cron_expression = excluded.cron_expression, schedule_timezone = excluded.schedule_timezone,
            paused = excluded.paused, raw = excluded.raw,
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

-- Jobs to runs, in C (src/ingest_airbyte_jobs.c: the checks, the status
-- mapping and the writes, by statements kept across calls): GET /jobs
-- pages are the bulk of a fleet's history.  fold_stats = false leaves the
-- runs it finishes in stats_backlog for fold_stats_backlog() (the
-- collector, once per poll).
CREATE FUNCTION syncopt.ingest_airbyte_jobs(account_id bigint, page jsonb, fold_stats boolean DEFAULT true)
RETURNS integer
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_ingest_airbyte_jobs';
COMMENT ON FUNCTION syncopt.ingest_airbyte_jobs(bigint, jsonb, boolean) IS
    'Ingests one page of GET /jobs as sync runs; returns runs changed. Re-ingesting a page changes nothing. fold_stats = false defers connector_stats to fold_stats_backlog().';
