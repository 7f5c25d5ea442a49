-- Fivetran REST API bodies to rows: connection lists and details
-- (connector state, and a run for each succeeded_at / failed_at seen) and
-- schema configs (schema_snapshot).  Field names and vocabularies follow
-- the OpenAPI definitions (list_all_connections_in_group, connection_details,
-- connection_schema_config).

-- What is wrong with one connection object (NULL when nothing), naming the
-- field by its path in the body, e.g. data.items[3].status.sync_state.
CREATE FUNCTION syncopt.fivetran_connection_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN jsonb_typeof(item) IS DISTINCT FROM 'object' THEN format('"%s" must be a JSON object', at)
    ELSE coalesce(
        syncopt.json_field_problem(item -> 'id', 'string', false, at || '.id'),
        syncopt.json_field_problem(item -> 'group_id', 'string', false, at || '.group_id'),
        syncopt.json_field_problem(item -> 'service', 'string', false, at || '.service'),
        syncopt.json_field_problem(item -> 'schema', 'string', false, at || '.schema'),
        syncopt.json_field_problem(item -> 'paused', 'boolean', false, at || '.paused'),
        syncopt.json_field_problem(item -> 'sync_frequency', 'integer', false, at || '.sync_frequency'),
        CASE WHEN (item ->> 'sync_frequency')::bigint <= 0
             THEN format('field "%s.sync_frequency" must be positive', at) END,
        syncopt.json_enum_problem(item -> 'schedule_type', '{auto,manual}', false, at || '.schedule_type'),
        syncopt.json_field_problem(item -> 'daily_sync_time', 'string', true, at || '.daily_sync_time'),
        CASE WHEN (item ->> 'daily_sync_time') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
             THEN format('field "%s.daily_sync_time" must be HH:MM, not %s', at, item -> 'daily_sync_time') END,
        syncopt.json_field_problem(item -> 'succeeded_at', 'timestamp', true, at || '.succeeded_at'),
        syncopt.json_field_problem(item -> 'failed_at', 'timestamp', true, at || '.failed_at'),
        syncopt.json_field_problem(item -> 'status', 'object', false, at || '.status'),
        syncopt.json_enum_problem(item #> '{status,setup_state}', '{incomplete,connected,broken}', false,
                                  at || '.status.setup_state'),
        syncopt.json_enum_problem(item #> '{status,sync_state}', '{scheduled,syncing,paused,rescheduled}', false,
                                  at || '.status.sync_state'),
        syncopt.json_enum_problem(item #> '{status,update_state}', '{on_schedule,delayed}', true,
                                  at || '.status.update_state'),
        syncopt.json_field_problem(item #> '{status,is_historical_sync}', 'boolean', true,
                                   at || '.status.is_historical_sync'))
    END
$$;

-- The shared body of the two connection ingesters: validate every item,
-- upsert the connectors, and record a run for each new succeeded_at and
-- failed_at.  The REST API has no sync history, so such a run is only its
-- end (duration_known = false); it is not recorded when the Platform
-- Connector log or a webhook already gave the same run (same status, end
-- within two minutes).  Returns the connectors and runs it changed.
CREATE FUNCTION syncopt.ingest_fivetran_items(account_id bigint, items jsonb, item_path text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- Plans per call: a generic plan cached while the tables were small turns
-- the run lookups into scans as history grows (cost grew with every page).
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    problem   text;
    touched   integer;
    new_runs  bigint[];
BEGIN
    SELECT p INTO problem
      FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i),
           LATERAL syncopt.fivetran_connection_problem(e.item, format(item_path, e.i - 1)) AS p
     WHERE p IS NOT NULL
     LIMIT 1;
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran connection', problem);
    END IF;

    WITH src AS (
        SELECT DISTINCT ON (e.item ->> 'id') e.item
          FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i)
         ORDER BY e.item ->> 'id', e.i DESC
    ), up AS (
        INSERT INTO syncopt.connector AS c (
            account_id, external_id, name, group_id, destination_id, service, schedule_minutes,
            schedule_type, daily_sync_time, paused, sync_state, setup_state, last_success_at,
            last_failure_at, raw, deleted_at, updated_at)
        SELECT ingest_fivetran_items.account_id, s.item ->> 'id', s.item ->> 'schema', s.item ->> 'group_id',
               s.item ->> 'group_id', s.item ->> 'service', (s.item ->> 'sync_frequency')::integer,
               s.item ->> 'schedule_type', (s.item ->> 'daily_sync_time')::time, (s.item ->> 'paused')::boolean,
               s.item #>> '{status,sync_state}', s.item #>> '{status,setup_state}',
               (s.item ->> 'succeeded_at')::timestamptz, (s.item ->> 'failed_at')::timestamptz,
               s.item, NULL, now()
          FROM src s
        ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
            name = excluded.name, group_id = excluded.group_id, destination_id = excluded.destination_id,
            service = excluded.service, schedule_minutes = excluded.schedule_minutes,
            schedule_type = excluded.schedule_type, daily_sync_time = excluded.daily_sync_time,
            paused = excluded.paused, sync_state = excluded.sync_state, setup_state = excluded.setup_state,
            last_success_at = excluded.last_success_at, last_failure_at = excluded.last_failure_at,
            raw = excluded.raw, deleted_at = NULL, updated_at = now()
        WHERE (c.raw, c.deleted_at) IS DISTINCT FROM (excluded.raw, NULL::timestamptz)
        RETURNING 1)
    SELECT count(*) INTO touched FROM up;

    WITH ends AS (
        SELECT DISTINCT c.connector_id, x.status, x.at
          FROM jsonb_array_elements(items) AS e(item)
          JOIN syncopt.connector c
            ON c.account_id = ingest_fivetran_items.account_id AND c.external_id = e.item ->> 'id'
         CROSS JOIN LATERAL (VALUES ('succeeded', (e.item ->> 'succeeded_at')::timestamptz),
                                    ('failed', (e.item ->> 'failed_at')::timestamptz)) AS x(status, at)
         WHERE x.at IS NOT NULL
    ), ins AS (
        INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status,
                                      source, duration_known)
        SELECT e.connector_id,
               'api:' || e.status || ':' || to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               e.at, e.at, e.status, 'api', false
          FROM ends e
         WHERE NOT EXISTS (
                SELECT FROM syncopt.sync_run r
                 WHERE r.connector_id = e.connector_id AND r.status = e.status
                   AND r.finished_at BETWEEN e.at - interval '2 minutes' AND e.at + interval '2 minutes')
        ON CONFLICT ON CONSTRAINT sync_run_external_id_unique DO NOTHING
        RETURNING run_id)
    SELECT array_agg(run_id) INTO new_runs FROM ins;

    PERFORM syncopt.absorb_runs(new_runs);
    RETURN touched + coalesce(cardinality(new_runs), 0);
END
$$;

-- Check the {"code": "Success", "data": {...}} envelope of a Fivetran body.
CREATE FUNCTION syncopt.fivetran_envelope_problem(body jsonb) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(body) IS DISTINCT FROM 'object' THEN 'the body must be a JSON object'
        ELSE coalesce(
            syncopt.json_field_problem(body -> 'code', 'string', false, 'code'),
            CASE WHEN body ->> 'code' <> 'Success'
                 THEN format('field "code" is %s, not "Success" (message: %s)', body -> 'code',
                             coalesce(body ->> 'message', 'none')) END,
            syncopt.json_field_problem(body -> 'data', 'object', false, 'data'))
    END
$$;

CREATE FUNCTION syncopt.ingest_fivetran_connections(account_id bigint, page jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    problem := coalesce(syncopt.fivetran_envelope_problem(page),
                        syncopt.json_field_problem(page #> '{data,items}', 'array', false, 'data.items'),
                        syncopt.json_field_problem(page #> '{data,next_cursor}', 'string', true, 'data.next_cursor'));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran connections page', problem);
    END IF;
    RETURN syncopt.ingest_fivetran_items(account_id, page #> '{data,items}', 'data.items[%s]');
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_connections(bigint, jsonb) IS
    'Ingests one page of GET /v1/groups/{id}/connections or /v1/connections; returns connectors and runs changed.';

CREATE FUNCTION syncopt.ingest_fivetran_connection(account_id bigint, details jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    problem := syncopt.fivetran_envelope_problem(details);
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran connection details', problem);
    END IF;
    RETURN syncopt.ingest_fivetran_items(account_id, jsonb_build_array(details -> 'data'), 'data');
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_connection(bigint, jsonb) IS
    'Ingests the body of GET /v1/connections/{id}; returns connectors and runs changed.';

-- What is wrong with a schema config body (NULL when nothing).
CREATE FUNCTION syncopt.fivetran_schema_problem(config jsonb) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        syncopt.fivetran_envelope_problem(config),
        syncopt.json_enum_problem(config #> '{data,schema_change_handling}', '{ALLOW_ALL,ALLOW_COLUMNS,BLOCK_ALL}',
                                  false, 'data.schema_change_handling'),
        syncopt.json_field_problem(config #> '{data,schemas}', 'object', false, 'data.schemas'),
        (SELECT p FROM jsonb_each(config #> '{data,schemas}') AS s(name, schema),
                LATERAL (SELECT coalesce(
                    syncopt.json_field_problem(s.schema, 'object', false, format('data.schemas.%s', s.name)),
                    syncopt.json_field_problem(s.schema -> 'enabled', 'boolean', false,
                                               format('data.schemas.%s.enabled', s.name)),
                    syncopt.json_field_problem(s.schema -> 'name_in_destination', 'string', true,
                                               format('data.schemas.%s.name_in_destination', s.name)),
                    syncopt.json_field_problem(s.schema -> 'tables', 'object', false,
                                               format('data.schemas.%s.tables', s.name)))) AS q(p)
          WHERE q.p IS NOT NULL LIMIT 1),
        (SELECT p FROM jsonb_each(config #> '{data,schemas}') AS s(name, schema),
                jsonb_each(s.schema -> 'tables') AS t(name, tab),
                LATERAL (SELECT coalesce(
                    syncopt.json_field_problem(t.tab, 'object', false, format('data.schemas.%s.tables.%s', s.name, t.name)),
                    syncopt.json_field_problem(t.tab -> 'enabled', 'boolean', false,
                                               format('data.schemas.%s.tables.%s.enabled', s.name, t.name)),
                    syncopt.json_field_problem(t.tab -> 'name_in_destination', 'string', true,
                                               format('data.schemas.%s.tables.%s.name_in_destination', s.name, t.name)),
                    syncopt.json_field_problem(t.tab -> 'columns', 'object', true,
                                               format('data.schemas.%s.tables.%s.columns', s.name, t.name)),
                    (SELECT coalesce(
                                syncopt.json_field_problem(c.col, 'object', false,
                                    format('data.schemas.%s.tables.%s.columns.%s', s.name, t.name, c.name)),
                                syncopt.json_field_problem(c.col -> 'enabled', 'boolean', true,
                                    format('data.schemas.%s.tables.%s.columns.%s.enabled', s.name, t.name, c.name)))
                       FROM jsonb_each(CASE jsonb_typeof(t.tab -> 'columns') WHEN 'object' THEN t.tab -> 'columns'
                                       ELSE '{}' END) AS c(name, col)
                      WHERE jsonb_typeof(c.col) IS DISTINCT FROM 'object'
                         OR jsonb_typeof(c.col -> 'enabled') NOT IN ('boolean', 'null')
                      LIMIT 1))) AS q(p)
          WHERE jsonb_typeof(s.schema) = 'object' AND jsonb_typeof(s.schema -> 'tables') = 'object'
            AND q.p IS NOT NULL LIMIT 1))
$$;

-- A new schema_snapshot when the enabled tables and columns (by their
-- destination names) differ from the connector's latest one.  Fivetran
-- returns only columns whose settings were changed, so the snapshot holds
-- those; column types are not in the schema config and are stored as null.
CREATE FUNCTION syncopt.ingest_fivetran_schema(account_id bigint, connector_external_id text, config jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem  text;
    conn_id  bigint;
    tabs     jsonb;
    hash     text;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    SELECT c.connector_id INTO conn_id FROM syncopt.connector c
     WHERE c.account_id = ingest_fivetran_schema.account_id AND c.external_id = connector_external_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % has no connector with external id "%"', account_id, connector_external_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'Ingest the connection (ingest_fivetran_connections) before its schema.';
    END IF;
    problem := syncopt.fivetran_schema_problem(config);
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran schema config', problem);
    END IF;

    SELECT coalesce(jsonb_object_agg(
               coalesce(s.schema ->> 'name_in_destination', s.name) || '.'
                   || coalesce(t.tab ->> 'name_in_destination', t.name),
               (SELECT coalesce(jsonb_object_agg(coalesce(c.col ->> 'name_in_destination', c.name), NULL), '{}')
                  FROM jsonb_each(coalesce(t.tab -> 'columns', '{}')) AS c(name, col)
                 WHERE coalesce((c.col ->> 'enabled')::boolean, true))), '{}')
      INTO tabs
      FROM jsonb_each(config #> '{data,schemas}') AS s(name, schema),
           jsonb_each(s.schema -> 'tables') AS t(name, tab)
     WHERE (s.schema ->> 'enabled')::boolean AND (t.tab ->> 'enabled')::boolean;
    hash := md5(tabs::text);

    INSERT INTO syncopt.connector_stats AS st (connector_id, last_schema_hash) VALUES (conn_id, hash)
    ON CONFLICT (connector_id) DO UPDATE SET last_schema_hash = excluded.last_schema_hash
     WHERE st.last_schema_hash IS DISTINCT FROM excluded.last_schema_hash;

    IF hash IS NOT DISTINCT FROM (SELECT s.schema_hash FROM syncopt.schema_snapshot s
                                   WHERE s.connector_id = conn_id
                                   ORDER BY s.captured_at DESC, s.snapshot_id DESC LIMIT 1) THEN
        RETURN 0;
    END IF;
    INSERT INTO syncopt.schema_snapshot (connector_id, schema_hash, tables, raw)
    VALUES (conn_id, hash, tabs, config -> 'data');
    RETURN 1;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_schema(bigint, text, jsonb) IS
    'Ingests the body of GET /v1/connections/{id}/schemas; stores a schema_snapshot when the enabled tables or columns changed. Returns 1 or 0.';
