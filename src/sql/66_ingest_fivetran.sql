-- Fivetran REST API bodies to rows: connection lists and details
-- (connector state, and a run for each succeeded_at / failed_at seen) and
-- schema configs (schema_snapshot).  Field names and vocabularies follow
-- the OpenAPI definitions (list_all_connections_in_group, connection_details,
-- connection_schema_config).

-- What makes one connection object unusable as an item at all (NULL when
-- nothing): not an object, or no id to know it by.  Such a page is not the
-- shape syncopt reads and is refused whole.
CREATE FUNCTION syncopt.fivetran_item_shape_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN jsonb_typeof(item) IS DISTINCT FROM 'object' THEN format('"%s" must be a JSON object', at)
    ELSE coalesce(syncopt.json_field_problem(item -> 'id', 'string', false, at || '.id'),
                  CASE WHEN btrim(item ->> 'id') = '' THEN format('field "%s.id" is empty', at) END)
    END
$$;

-- What is wrong with the fields of one connection object (NULL when
-- nothing), naming the field by its path in the body, e.g.
-- data.items[3].status.sync_state.
CREATE FUNCTION syncopt.fivetran_connection_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        syncopt.fivetran_item_shape_problem(item, at),
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
                                   at || '.status.is_historical_sync'),
        syncopt.json_field_problem(item #> '{status,tasks}', 'array', true, at || '.status.tasks'),
        syncopt.json_field_problem(item #> '{status,warnings}', 'array', true, at || '.status.warnings'),
        (SELECT format('field "%s.status.%s[%s].code" must be a non-empty string of at most 200 characters',
                       at, k.field, t.i - 1)
           FROM unnest(ARRAY['tasks', 'warnings']) AS k(field),
                jsonb_array_elements(CASE jsonb_typeof(item #> ARRAY['status', k.field]) WHEN 'array'
                                     THEN item #> ARRAY['status', k.field] ELSE '[]' END) WITH ORDINALITY AS t(e, i)
          WHERE jsonb_typeof(t.e -> 'code') IS DISTINCT FROM 'string' OR btrim(t.e ->> 'code') = ''
             OR length(t.e ->> 'code') > 200
          LIMIT 1))
$$;

-- The shared body of the two connection ingesters: validate every item,
-- upsert the connectors, and record a run for each new succeeded_at and
-- failed_at.  One item with a field syncopt cannot read (an older or
-- re-typed shape: no paused, no schedule_type) is quarantined with its
-- reason (syncopt.quarantine_items) and the rest of the page is stored; a
-- page with an item that is not an object or has no id, or none of whose
-- items can be read, is not the shape syncopt reads and is refused whole.
-- The REST API has no sync history, so such a run is only its end
-- (duration_known = false); it is not recorded when the Platform
-- Connector log or a webhook already gave the same run (same status, end
-- within two minutes).  A new failed run carries the vendor's code for
-- what blocks the connection, when it says: its first task
-- ('task:<code>'), else a broken or incomplete setup.  The connection's
-- tasks and warnings replace its rows of syncopt.connector_task.  Returns
-- the connectors and runs it changed.
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
    bad       jsonb;
BEGIN
    SELECT p INTO problem
      FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i),
           LATERAL syncopt.fivetran_item_shape_problem(e.item, format(item_path, e.i - 1)) AS p
     WHERE p IS NOT NULL
     LIMIT 1;
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran connection', problem);
    END IF;
    -- {id: problem} of the items that cannot be read, the first problem of each
    SELECT coalesce(jsonb_object_agg(q.id, q.p), '{}') INTO bad
      FROM (SELECT DISTINCT ON (e.item ->> 'id') e.item ->> 'id' AS id, p
              FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i),
                   LATERAL syncopt.fivetran_connection_problem(e.item, format(item_path, e.i - 1)) AS p
             WHERE p IS NOT NULL
             ORDER BY e.item ->> 'id', e.i) q;
    IF bad <> '{}' AND NOT EXISTS (SELECT FROM jsonb_array_elements(items) e(item) WHERE NOT bad ? (e.item ->> 'id')) THEN
        SELECT p INTO problem
          FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i),
               LATERAL syncopt.fivetran_connection_problem(e.item, format(item_path, e.i - 1)) AS p
         WHERE p IS NOT NULL
         ORDER BY e.i LIMIT 1;
        PERFORM syncopt.ingest_reject('Fivetran connection', problem);
    END IF;
    PERFORM syncopt.quarantine_items(account_id, 'fivetran connection', items, 'id', bad);
    items := (SELECT coalesce(jsonb_agg(e.item ORDER BY e.i), '[]')
                FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i)
               WHERE NOT bad ? (e.item ->> 'id'));

    -- The run ends below are matched against the stored runs: no webhook or
    -- log ingest may decide about these connectors' runs meanwhile.  Taken
    -- before the connectors' rows are updated, so that the rows are locked
    -- in one order; a connector this page inserts is not seen by the other
    -- paths before this transaction ends anyway.
    PERFORM syncopt.lock_connector_runs(ARRAY(
        SELECT c.connector_id FROM syncopt.connector c
         WHERE c.account_id = ingest_fivetran_items.account_id
           AND c.external_id IN (SELECT e.item ->> 'id' FROM jsonb_array_elements(items) AS e(item))));
    WITH src AS (
        SELECT DISTINCT ON (e.item ->> 'id') e.item
          FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i)
         ORDER BY e.item ->> 'id', e.i DESC
    ), up AS (
        INSERT INTO syncopt.connector AS c (
            account_id, external_id, name, group_id, destination_id, service, schedule_minutes,
            schedule_type, daily_sync_time, paused, sync_state, setup_state, last_success_at,
            last_failure_at, raw, deleted_at, updated_at, details_at)
        SELECT ingest_fivetran_items.account_id, s.item ->> 'id', s.item ->> 'schema', s.item ->> 'group_id',
               s.item ->> 'group_id', s.item ->> 'service', (s.item ->> 'sync_frequency')::integer,
               s.item ->> 'schedule_type', (s.item ->> 'daily_sync_time')::time, (s.item ->> 'paused')::boolean,
               s.item #>> '{status,sync_state}', s.item #>> '{status,setup_state}',
               (s.item ->> 'succeeded_at')::timestamptz, (s.item ->> 'failed_at')::timestamptz,
               s.item, NULL, now(), now()
          FROM src s
        ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
            name = excluded.name, group_id = excluded.group_id, destination_id = excluded.destination_id,
            service = excluded.service, schedule_minutes = excluded.schedule_minutes,
            schedule_type = excluded.schedule_type, daily_sync_time = excluded.daily_sync_time,
            paused = excluded.paused, sync_state = excluded.sync_state, setup_state = excluded.setup_state,
            last_success_at = excluded.last_success_at, last_failure_at = excluded.last_failure_at,
            raw = excluded.raw, deleted_at = NULL, updated_at = now(), details_at = now()
        WHERE (c.raw, c.deleted_at) IS DISTINCT FROM (excluded.raw, NULL::timestamptz)
        RETURNING 1)
    SELECT count(*) INTO touched FROM up;

    -- Tasks and warnings: each list the body gives replaces the stored one.
    WITH src AS (
        SELECT DISTINCT ON (e.item ->> 'id') c.connector_id, e.item
          FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i)
          JOIN syncopt.connector c
            ON c.account_id = ingest_fivetran_items.account_id AND c.external_id = e.item ->> 'id'
         ORDER BY e.item ->> 'id', e.i DESC
    ), lists AS (
        SELECT s.connector_id, k.kind, s.item #> ARRAY['status', k.field] AS list
          FROM src s
         CROSS JOIN (VALUES ('task', 'tasks'), ('warning', 'warnings')) AS k(kind, field)
         WHERE jsonb_typeof(s.item #> ARRAY['status', k.field]) = 'array'
    ), listed AS (
        SELECT DISTINCT ON (l.connector_id, l.kind, t.e ->> 'code')
               l.connector_id, l.kind, t.e ->> 'code' AS code,
               left(t.e ->> 'message', 2000) AS message, left(t.e ->> 'details', 2000) AS details
          FROM lists l, jsonb_array_elements(l.list) WITH ORDINALITY AS t(e, i)
         ORDER BY l.connector_id, l.kind, t.e ->> 'code', t.i
    ), gone AS (
        DELETE FROM syncopt.connector_task x
         USING lists l
         WHERE x.connector_id = l.connector_id AND x.kind = l.kind
           AND NOT EXISTS (SELECT FROM listed n
                            WHERE n.connector_id = x.connector_id AND n.kind = x.kind AND n.code = x.code)
    )
    INSERT INTO syncopt.connector_task AS x (connector_id, kind, code, message, details)
    SELECT n.connector_id, n.kind, n.code, n.message, n.details FROM listed n
    ON CONFLICT (connector_id, kind, code) DO UPDATE SET message = excluded.message, details = excluded.details
    WHERE (x.message, x.details) IS DISTINCT FROM (excluded.message, excluded.details);

    WITH ends AS (
        SELECT DISTINCT c.connector_id, x.status, x.at,
               CASE WHEN x.status = 'failed' THEN coalesce(
                   (SELECT 'task:' || left(t.e ->> 'code', 195)   -- error_code holds 200
                      FROM jsonb_array_elements(CASE jsonb_typeof(e.item #> '{status,tasks}') WHEN 'array'
                                                THEN e.item #> '{status,tasks}' ELSE '[]' END)
                           WITH ORDINALITY AS t(e, i)
                     ORDER BY t.i LIMIT 1),
                   CASE WHEN e.item #>> '{status,setup_state}' IN ('broken', 'incomplete')
                        THEN e.item #>> '{status,setup_state}' END) END AS code
          FROM jsonb_array_elements(items) AS e(item)
          JOIN syncopt.connector c
            ON c.account_id = ingest_fivetran_items.account_id AND c.external_id = e.item ->> 'id'
         CROSS JOIN LATERAL (VALUES ('succeeded', (e.item ->> 'succeeded_at')::timestamptz),
                                    ('failed', (e.item ->> 'failed_at')::timestamptz)) AS x(status, at)
         WHERE x.at IS NOT NULL
    ), ins AS (
        -- a run already stored is skipped by sync_run's key trigger
        INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status,
                                      source, duration_known, error_code)
        SELECT DISTINCT ON (e.connector_id, e.status, e.at) e.connector_id,
               'api:' || e.status || ':' || to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               e.at, e.at, e.status, 'api', false, e.code
          FROM ends e
         WHERE NOT EXISTS (
                SELECT FROM syncopt.sync_run r
                 WHERE r.connector_id = e.connector_id AND r.status = e.status
                   AND r.finished_at BETWEEN e.at - interval '2 minutes' AND e.at + interval '2 minutes')
         ORDER BY e.connector_id, e.status, e.at, e.code NULLS LAST
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
-- destination names) differ from the connector's latest one.  The snapshot
-- nests schema, table and column names ({"schema": {"table": {"column":
-- null}}}): names may contain dots (Google Sheets schemas do), so they are
-- never joined or split.  Fivetran lists only the columns whose settings
-- were changed, so the snapshot holds those, and a column it does not list
-- is unknown (syncopt.source_columns gives the full list where it was
-- read); column types are not in the schema config and are stored as null.
-- "schemas": {} is what a connection that has never synced returns: no
-- schema is known yet, so nothing is stored.
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
    IF config #> '{data,schemas}' = '{}' THEN
        RETURN 0;
    END IF;

    SELECT coalesce(jsonb_object_agg(d.schema_name, d.tables), '{}')
      INTO tabs
      FROM (SELECT coalesce(s.schema ->> 'name_in_destination', s.name) AS schema_name,
                   jsonb_object_agg(
                       coalesce(t.tab ->> 'name_in_destination', t.name),
                       (SELECT coalesce(jsonb_object_agg(coalesce(c.col ->> 'name_in_destination', c.name), NULL), '{}')
                          FROM jsonb_each(coalesce(t.tab -> 'columns', '{}')) AS c(name, col)
                         WHERE coalesce((c.col ->> 'enabled')::boolean, true))) AS tables
              FROM jsonb_each(config #> '{data,schemas}') AS s(name, schema),
                   jsonb_each(s.schema -> 'tables') AS t(name, tab)
             WHERE (s.schema ->> 'enabled')::boolean AND (t.tab ->> 'enabled')::boolean
             GROUP BY 1) d;
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
    'Ingests the body of GET /v1/connections/{id}/schemas; stores a schema_snapshot when the enabled tables or columns changed ("schemas": {}, never synced, stores nothing). Returns 1 or 0.';

-- Every column of one source table, as Fivetran's columns endpoint reads
-- it from the source (the schema config lists only changed columns): what
-- tells schema_drift() that a contracted column the config does not list
-- is really gone.  Keyed by destination names, like the contract.
CREATE TABLE syncopt.source_columns (
    connector_id bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    -- {"column": true (delivered) or false (disabled), ...}
    columns      jsonb NOT NULL
                 CONSTRAINT source_columns_object CHECK (jsonb_typeof(columns) = 'object'),
    read_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector_id, schema_name, table_name)
);
COMMENT ON TABLE syncopt.source_columns IS
    'The full column list of a source table (GET .../schemas/{schema}/tables/{table}/columns), by destination names; read for contracted tables.';

-- Store the body of GET /v1/connections/{id}/schemas/{schema}/tables/{table}/columns
-- (schema and table as in that path: source names); the destination names
-- come from the latest snapshot's schema config.  Returns 1 when the list
-- changed, else 0.
CREATE FUNCTION syncopt.ingest_fivetran_columns(account_id bigint, connector_external_id text,
                                                schema_name text, table_name text, body jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem  text;
    conn_id  bigint;
    config   jsonb;
    cols     jsonb;
    dest     text[];
    before   jsonb;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    SELECT c.connector_id INTO conn_id FROM syncopt.connector c
     WHERE c.account_id = ingest_fivetran_columns.account_id AND c.external_id = connector_external_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % has no connector with external id "%"', account_id, connector_external_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'Ingest the connection (ingest_fivetran_connections) before its columns.';
    END IF;
    problem := coalesce(
        CASE WHEN coalesce(btrim(schema_name), '') = '' THEN 'schema_name must be the source schema name' END,
        CASE WHEN coalesce(btrim(table_name), '') = '' THEN 'table_name must be the source table name' END,
        syncopt.fivetran_envelope_problem(body),
        syncopt.json_field_problem(body #> '{data,columns}', 'object', false, 'data.columns'),
        (SELECT coalesce(
                    syncopt.json_field_problem(c.col, 'object', false, format('data.columns.%s', c.name)),
                    syncopt.json_field_problem(c.col -> 'enabled', 'boolean', true, format('data.columns.%s.enabled', c.name)),
                    syncopt.json_field_problem(c.col -> 'name_in_destination', 'string', true,
                                               format('data.columns.%s.name_in_destination', c.name)))
           FROM jsonb_each(CASE WHEN jsonb_typeof(body #> '{data,columns}') = 'object'
                                THEN body #> '{data,columns}' ELSE '{}' END) AS c(name, col)
          WHERE jsonb_typeof(c.col) IS DISTINCT FROM 'object'
             OR jsonb_typeof(c.col -> 'enabled') NOT IN ('boolean', 'null')
             OR jsonb_typeof(c.col -> 'name_in_destination') NOT IN ('string', 'null')
          LIMIT 1));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran table columns', problem);
    END IF;

    SELECT s.raw INTO config FROM syncopt.schema_snapshot s
     WHERE s.connector_id = conn_id ORDER BY s.captured_at DESC, s.snapshot_id DESC LIMIT 1;
    SELECT coalesce(jsonb_object_agg(coalesce(c.col ->> 'name_in_destination', c.name),
                                     coalesce((c.col ->> 'enabled')::boolean, true)), '{}')
      INTO cols FROM jsonb_each(body #> '{data,columns}') AS c(name, col);
    dest := ARRAY[coalesce(config #>> ARRAY['schemas', schema_name, 'name_in_destination'], schema_name),
                  coalesce(config #>> ARRAY['schemas', schema_name, 'tables', table_name, 'name_in_destination'],
                           table_name)];
    SELECT sc.columns INTO before FROM syncopt.source_columns sc
     WHERE sc.connector_id = conn_id AND sc.schema_name = dest[1] AND sc.table_name = dest[2];
    -- read_at moves on even when nothing changed: the list was verified now
    INSERT INTO syncopt.source_columns AS sc (connector_id, schema_name, table_name, columns)
    VALUES (conn_id, dest[1], dest[2], cols)
    ON CONFLICT ON CONSTRAINT source_columns_pkey DO UPDATE
        SET columns = excluded.columns, read_at = now();
    RETURN CASE WHEN before IS DISTINCT FROM cols THEN 1 ELSE 0 END;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_columns(bigint, text, text, text, jsonb) IS
    'Ingests the body of GET /v1/connections/{id}/schemas/{schema}/tables/{table}/columns (source names) into source_columns. Returns 1 when the list is new or changed, else 0.';

-- The tables whose full column list the collector should read (at most
-- max_tables, oldest read first): tables of a data contract, enabled in the
-- connector's latest snapshot, with a contracted column the schema config
-- does not list, of a connected connection whose config says the table
-- supports column configs, not read since the schema config was last read.
-- Names are the source names the endpoint's path takes.
CREATE FUNCTION syncopt.collect_fivetran_column_targets(account_id bigint, max_tables integer)
RETURNS TABLE (external_id text, schema_name text, table_name text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT ON (sc_read, c.external_id, src.schema_key, src.table_key)
           c.external_id, src.schema_key, src.table_key
      FROM syncopt.connector c
      JOIN LATERAL (SELECT s.tables, s.raw FROM syncopt.schema_snapshot s WHERE s.connector_id = c.connector_id
                     ORDER BY s.captured_at DESC, s.snapshot_id DESC LIMIT 1) l ON true
      JOIN syncopt.data_contract k ON k.connector_id = c.connector_id
      CROSS JOIN LATERAL (
            SELECT sk.key AS schema_key, tk.key AS table_key, tk.value AS tab
              FROM jsonb_each(l.raw -> 'schemas') sk, jsonb_each(sk.value -> 'tables') tk
             WHERE coalesce(sk.value ->> 'name_in_destination', sk.key) = k.schema_name
               AND coalesce(tk.value ->> 'name_in_destination', tk.key) = k.table_name) src
      LEFT JOIN syncopt.source_columns sc
        ON sc.connector_id = c.connector_id AND sc.schema_name = k.schema_name AND sc.table_name = k.table_name
      CROSS JOIN LATERAL (SELECT coalesce(sc.read_at, '-infinity') AS sc_read) r
     WHERE c.account_id = collect_fivetran_column_targets.account_id AND c.deleted_at IS NULL
       AND c.setup_state = 'connected'
       AND coalesce((src.tab ->> 'supports_columns_config')::boolean, true)
       AND NOT (l.tables #> ARRAY[k.schema_name, k.table_name]) ? k.column_name
       AND l.tables #> ARRAY[k.schema_name, k.table_name] IS NOT NULL
       AND (sc.read_at IS NULL OR sc.read_at < c.schema_at)
     ORDER BY sc_read, c.external_id, src.schema_key, src.table_key
     LIMIT max_tables
$$;
