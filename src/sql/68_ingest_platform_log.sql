-- Sync runs reconstructed from the Fivetran Platform Connector tables
-- (log, connection or legacy connector) when they land in this database.
-- The recipe is the one of Fivetran's own dbt package: per connection,
-- sync_start opens a run and sync_end closes it (grouped by sync_id, or in
-- time order where sync_id is absent); sync_stats gives volumes and times,
-- records_modified the rows, SEVERE events the error.

-- The type of a column of schema.table, or NULL when there is no such column.
CREATE FUNCTION syncopt.column_type(rel regclass, col name) RETURNS regtype
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attname OPERATOR(pg_catalog.=) col
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
$$;

-- An SQL expression reading a timestamp column as timestamptz (a column
-- without time zone holds UTC, as Fivetran writes it).
CREATE FUNCTION syncopt.utc_timestamp_expr(rel regclass, col name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN t IS NULL THEN NULL
        WHEN t OPERATOR(pg_catalog.=) 'timestamp without time zone'::regtype
            THEN pg_catalog.format('(%I AT TIME ZONE ''UTC'')', col)
        WHEN t OPERATOR(pg_catalog.=) 'timestamp with time zone'::regtype THEN pg_catalog.quote_ident(col)
        ELSE pg_catalog.format('(%I)::text::timestamptz', col)
    END
      FROM (SELECT syncopt.column_type(rel, col) AS t) c
$$;

-- Upsert the connectors listed in the connection (or legacy connector)
-- table; _fivetran_deleted marks them deleted.  Returns rows changed.
CREATE FUNCTION syncopt.ingest_fivetran_log_connectors(account_id bigint, log_schema name) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel     regclass;
    idcol   name;
    namecol name;
    n       integer;
    q       text;
BEGIN
    rel := to_regclass(format('%I.connection', log_schema));
    IF rel IS NOT NULL THEN
        idcol := 'connection_id';
        namecol := 'connection_name';
    ELSE
        rel := to_regclass(format('%I.connector', log_schema));
        idcol := 'connector_id';
        namecol := 'connector_name';
    END IF;
    IF rel IS NULL THEN
        RETURN 0;               -- runs still come in; connectors get bare rows
    END IF;
    IF syncopt.column_type(rel, idcol) IS NULL THEN
        RAISE EXCEPTION 'table % has no column %', rel, idcol
            USING ERRCODE = 'undefined_column',
                  HINT = 'syncopt reads the Platform Connector schema as Fivetran writes it.';
    END IF;
    q := format($q$
        INSERT INTO syncopt.connector AS c (account_id, external_id, name, service, destination_id, group_id,
                                            paused, deleted_at, updated_at)
        SELECT DISTINCT ON (src.id) $1, src.id, src.name, src.service, src.dest, src.dest,
               coalesce(src.paused, false), CASE WHEN src.deleted THEN now() END, now()
          FROM (SELECT %I::text AS id, %s::text AS name, %s::text AS service, %s::text AS dest,
                       %s::boolean AS paused, coalesce(%s::boolean, false) AS deleted, %s AS synced
                  FROM %s) src
         WHERE src.id IS NOT NULL AND btrim(src.id) <> ''
         ORDER BY src.id, src.synced DESC NULLS LAST
        ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
            name = coalesce(excluded.name, c.name), service = coalesce(excluded.service, c.service),
            destination_id = coalesce(excluded.destination_id, c.destination_id),
            group_id = coalesce(excluded.group_id, c.group_id), paused = excluded.paused,
            deleted_at = CASE WHEN excluded.deleted_at IS NULL THEN NULL ELSE coalesce(c.deleted_at, now()) END,
            updated_at = now()
        WHERE (c.name, c.service, c.destination_id, c.paused, c.deleted_at IS NULL)
              IS DISTINCT FROM (coalesce(excluded.name, c.name), coalesce(excluded.service, c.service),
                                coalesce(excluded.destination_id, c.destination_id), excluded.paused,
                                excluded.deleted_at IS NULL)$q$,
        idcol,
        CASE WHEN syncopt.column_type(rel, namecol) IS NULL THEN 'NULL' ELSE quote_ident(namecol) END,
        CASE WHEN syncopt.column_type(rel, 'connector_type') IS NULL THEN 'NULL' ELSE 'connector_type' END,
        CASE WHEN syncopt.column_type(rel, 'destination_id') IS NULL THEN 'NULL' ELSE 'destination_id' END,
        CASE WHEN syncopt.column_type(rel, 'paused') IS NULL THEN 'NULL' ELSE 'paused' END,
        CASE WHEN syncopt.column_type(rel, '_fivetran_deleted') IS NULL THEN 'NULL' ELSE '_fivetran_deleted' END,
        coalesce(syncopt.utc_timestamp_expr(rel, '_fivetran_synced'), 'NULL::timestamptz'),
        rel);
    EXECUTE q USING account_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE FUNCTION syncopt.ingest_fivetran_log(account_id bigint, log_schema name DEFAULT 'fivetran_log')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel        regclass;
    conncol    name;
    wm_expr    text;
    data_expr  text;
    st         syncopt.log_ingest_state;
    n_read     bigint;
    n_dupes    bigint;
    n_quirky   bigint;
    n_orphans  bigint;
    touched    bigint;
    finished   bigint[];
    merged     bigint[];
    n_merged   bigint;
    new_wm     timestamptz;
    new_ids    text[];
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    rel := to_regclass(format('%I.log', log_schema));
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table %.log does not exist', quote_ident(log_schema)
            USING ERRCODE = 'undefined_table',
                  HINT = 'Pass the schema the Platform Connector writes to (fivetran_metadata for new connections, fivetran_log for older ones).';
    END IF;
    -- Definer's rights write syncopt's tables; reading the log stays the caller's right.
    IF NOT has_table_privilege(session_user, rel, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', rel USING ERRCODE = 'insufficient_privilege';
    END IF;
    conncol := CASE WHEN syncopt.column_type(rel, 'connection_id') IS NOT NULL THEN 'connection_id'
                    WHEN syncopt.column_type(rel, 'connector_id') IS NOT NULL THEN 'connector_id' END;
    IF conncol IS NULL OR syncopt.column_type(rel, 'id') IS NULL OR syncopt.column_type(rel, 'time_stamp') IS NULL
       OR syncopt.column_type(rel, 'message_event') IS NULL OR syncopt.column_type(rel, 'message_data') IS NULL THEN
        RAISE EXCEPTION 'table % is not a Platform Connector log table', rel
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'It needs id, time_stamp, connection_id (or connector_id), message_event and message_data.';
    END IF;
    -- Read incrementally by _fivetran_synced (when rows land), else by time_stamp.
    wm_expr := coalesce(syncopt.utc_timestamp_expr(rel, '_fivetran_synced'), syncopt.utc_timestamp_expr(rel, 'time_stamp'));
    data_expr := CASE WHEN syncopt.column_type(rel, 'message_data') IN ('json'::regtype, 'jsonb'::regtype)
                      THEN 'message_data::jsonb' ELSE 'syncopt.try_jsonb(message_data::text)' END;

    PERFORM syncopt.ingest_fivetran_log_connectors(account_id, log_schema);

    INSERT INTO syncopt.log_ingest_state AS s (account_id, log_schema) VALUES (account_id, log_schema)
    ON CONFLICT DO NOTHING;
    SELECT * INTO st FROM syncopt.log_ingest_state s
     WHERE s.account_id = ingest_fivetran_log.account_id AND s.log_schema = ingest_fivetran_log.log_schema
       FOR UPDATE;

    -- Work tables for this call (two calls in one transaction reuse them).
    IF to_regclass('pg_temp.syncopt_log_batch') IS NULL THEN
        CREATE TEMP TABLE syncopt_log_batch (
            id text, ts timestamptz, wm timestamptz, conn text, sync_id text, event text,
            message_event text, raw_data text, data jsonb, connector_id bigint, run_key text) ON COMMIT DROP;
        CREATE TEMP TABLE syncopt_log_runs (
            connector_id bigint, ext text, started_at timestamptz, finished_at timestamptz, status text,
            total_s float8, mb float8, rows bigint, error_message text) ON COMMIT DROP;
    END IF;
    DELETE FROM pg_temp.syncopt_log_batch;
    DELETE FROM pg_temp.syncopt_log_runs;
    EXECUTE format($q$
        INSERT INTO pg_temp.syncopt_log_batch
        SELECT id::text, %s, %s, %I::text, %s, %s, message_event::text, message_data::text, %s, NULL, NULL
          FROM %s
         WHERE (%s > $1 OR $1 IS NULL OR (%s = $1 AND id::text <> ALL ($2))) %s$q$,
        syncopt.utc_timestamp_expr(rel, 'time_stamp'), wm_expr, conncol,
        CASE WHEN syncopt.column_type(rel, 'sync_id') IS NULL THEN 'NULL' ELSE 'sync_id::text' END,
        CASE WHEN syncopt.column_type(rel, 'event') IS NULL THEN 'NULL' ELSE 'event::text' END,
        data_expr, rel, wm_expr, wm_expr,
        CASE WHEN syncopt.column_type(rel, 'transformation_id') IS NULL THEN ''
             ELSE 'AND transformation_id IS NULL' END)
    USING st.watermark, st.boundary_ids;
    GET DIAGNOSTICS n_read = ROW_COUNT;

    SELECT max(b.wm) INTO new_wm FROM pg_temp.syncopt_log_batch b;
    SELECT coalesce(array_agg(DISTINCT b.id), '{}') INTO new_ids
      FROM pg_temp.syncopt_log_batch b WHERE b.wm = new_wm AND b.id IS NOT NULL;
    IF new_wm = st.watermark THEN
        new_ids := new_ids || st.boundary_ids;
    END IF;

    -- Quirky rows are skipped and counted: repeated ids (the first kept),
    -- rows without an id or connection, and sync events whose message_data
    -- is not the JSON Fivetran writes.
    WITH d AS (
        DELETE FROM pg_temp.syncopt_log_batch b
         WHERE b.ctid NOT IN (SELECT DISTINCT ON (x.id) x.ctid FROM pg_temp.syncopt_log_batch x
                               WHERE x.id IS NOT NULL ORDER BY x.id, x.wm, x.ts)
        RETURNING 1)
    SELECT count(*) INTO n_dupes FROM d;
    WITH q AS (
        DELETE FROM pg_temp.syncopt_log_batch b
         WHERE b.conn IS NULL OR btrim(b.conn) = '' OR b.ts IS NULL
            OR (b.message_event IN ('sync_end', 'sync_stats', 'records_modified')
                AND (b.data IS NULL OR jsonb_typeof(b.data) <> 'object'))
            OR (b.message_event = 'sync_end' AND syncopt.fivetran_end_status(b.data ->> 'status') IS NULL)
            OR (b.message_event = 'records_modified' AND (b.data ->> 'count') !~ '^[0-9]{1,18}$')
        RETURNING 1)
    SELECT count(*) INTO n_quirky FROM q;
    DELETE FROM pg_temp.syncopt_log_batch b
     WHERE NOT (b.message_event IN ('sync_start', 'sync_end', 'sync_stats', 'records_modified')
                OR upper(b.event) = 'SEVERE');

    INSERT INTO syncopt.connector (account_id, external_id)
    SELECT DISTINCT ingest_fivetran_log.account_id, b.conn FROM pg_temp.syncopt_log_batch b
    ON CONFLICT ON CONSTRAINT connector_external_id_unique DO NOTHING;

    -- Each event's run: its sync_id; else the latest sync_start at or before
    -- it in this batch; else the run this connector still has open.
    UPDATE pg_temp.syncopt_log_batch b SET connector_id = c.connector_id
      FROM syncopt.connector c
     WHERE c.account_id = ingest_fivetran_log.account_id AND c.external_id = b.conn;
    WITH k AS (
        SELECT b.ctid AS row_ctid,
               coalesce(b.sync_id,
                        'log:' || to_char((max(b.ts) FILTER (WHERE b.message_event = 'sync_start' AND b.sync_id IS NULL)
                                           OVER (PARTITION BY b.conn ORDER BY b.ts, b.id ROWS UNBOUNDED PRECEDING))
                                          AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) AS run_key
          FROM pg_temp.syncopt_log_batch b)
    UPDATE pg_temp.syncopt_log_batch b SET run_key = k.run_key FROM k WHERE b.ctid = k.row_ctid;
    UPDATE pg_temp.syncopt_log_batch b SET run_key = (
        SELECT r.external_run_id FROM syncopt.sync_run r
         WHERE r.connector_id = b.connector_id AND r.source = 'platform_log' AND r.status = 'running'
           AND r.started_at <= b.ts
         ORDER BY r.started_at DESC LIMIT 1)
     WHERE b.run_key IS NULL;
    SELECT count(*) INTO n_orphans FROM pg_temp.syncopt_log_batch b WHERE b.run_key IS NULL;

    INSERT INTO pg_temp.syncopt_log_runs
    SELECT k.connector_id, k.run_key,
           min(k.ts) FILTER (WHERE k.message_event = 'sync_start'),
           max(k.ts) FILTER (WHERE k.message_event = 'sync_end'),
           syncopt.fivetran_end_status((array_agg(k.data ->> 'status' ORDER BY k.ts DESC)
                                        FILTER (WHERE k.message_event = 'sync_end'))[1]),
           max((k.data ->> 'total_time_s')::float8) FILTER (WHERE k.message_event = 'sync_stats'
                                                             AND (k.data ->> 'total_time_s') ~ '^[0-9]+(\.[0-9]+)?$'),
           max(coalesce(k.data ->> 'load_volume_mb', k.data ->> 'process_volume_mb', k.data ->> 'extract_volume_mb')::float8)
               FILTER (WHERE k.message_event = 'sync_stats'
                         AND coalesce(k.data ->> 'load_volume_mb', k.data ->> 'process_volume_mb',
                                      k.data ->> 'extract_volume_mb') ~ '^[0-9]+(\.[0-9]+)?$'),
           sum((k.data ->> 'count')::bigint) FILTER (WHERE k.message_event = 'records_modified'),
           left(string_agg(coalesce(k.data ->> 'message', k.data ->> 'reason', k.raw_data), '; ' ORDER BY k.ts)
                    FILTER (WHERE upper(k.event) = 'SEVERE'), 2000)
      FROM pg_temp.syncopt_log_batch k
     WHERE k.run_key IS NOT NULL
     GROUP BY k.connector_id, k.run_key;

    -- A run the REST API saw only by its end becomes this richer run.
    WITH pairs AS (
        SELECT DISTINCT ON (a.run_id) a.run_id, l.ext
          FROM pg_temp.syncopt_log_runs l
          JOIN syncopt.sync_run a
            ON a.connector_id = l.connector_id AND a.source = 'api' AND a.status = l.status
           AND a.finished_at BETWEEN l.finished_at - interval '2 minutes' AND l.finished_at + interval '2 minutes'
         WHERE l.finished_at IS NOT NULL
           AND NOT EXISTS (SELECT FROM syncopt.sync_run e
                            WHERE e.connector_id = l.connector_id AND e.external_run_id = l.ext)
         ORDER BY a.run_id, abs(extract(epoch FROM a.finished_at - l.finished_at))
    ), one AS (
        SELECT DISTINCT ON (p.ext) p.* FROM pairs p ORDER BY p.ext, p.run_id
    ), m AS (
        UPDATE syncopt.sync_run r SET external_run_id = one.ext, source = 'platform_log'
          FROM one WHERE r.run_id = one.run_id
        RETURNING r.run_id)
    SELECT count(*) INTO n_merged FROM m;

    WITH old AS (
        SELECT r.run_id, r.status, r.duration_known FROM syncopt.sync_run r
          JOIN pg_temp.syncopt_log_runs l ON r.connector_id = l.connector_id AND r.external_run_id = l.ext
    ), up AS (
        INSERT INTO syncopt.sync_run AS r (connector_id, external_run_id, started_at, finished_at, status,
                                           rows, bytes, error_message, duration_known, source)
        SELECT l.connector_id, l.ext,
               coalesce(l.started_at, l.finished_at - make_interval(secs => l.total_s), l.finished_at,
                        (SELECT e.started_at FROM syncopt.sync_run e
                          WHERE e.connector_id = l.connector_id AND e.external_run_id = l.ext)),
               l.finished_at, coalesce(l.status, 'running'), l.rows, (l.mb * 1048576)::bigint,
               l.error_message, l.started_at IS NOT NULL OR l.total_s IS NOT NULL, 'platform_log'
          FROM pg_temp.syncopt_log_runs l
         WHERE l.started_at IS NOT NULL OR l.finished_at IS NOT NULL
            OR EXISTS (SELECT FROM syncopt.sync_run e WHERE e.connector_id = l.connector_id AND e.external_run_id = l.ext)
        ON CONFLICT ON CONSTRAINT sync_run_external_id_unique DO UPDATE SET
            started_at = CASE WHEN NOT r.duration_known AND excluded.duration_known THEN excluded.started_at
                              ELSE least(r.started_at, excluded.started_at) END,
            finished_at = coalesce(excluded.finished_at, r.finished_at),
            status = CASE WHEN excluded.finished_at IS NOT NULL THEN excluded.status ELSE r.status END,
            rows = CASE WHEN r.rows IS NULL THEN excluded.rows WHEN excluded.rows IS NULL THEN r.rows
                        ELSE r.rows + excluded.rows END,
            bytes = coalesce(excluded.bytes, r.bytes),
            error_message = coalesce(excluded.error_message, r.error_message),
            duration_known = r.duration_known OR excluded.duration_known,
            ingested_at = now()
        RETURNING r.run_id, r.status, r.duration_known)
    SELECT count(*),
           array_agg(up.run_id) FILTER (WHERE up.status <> 'running' AND (old.status IS NULL OR old.status = 'running')),
           array_agg(up.run_id) FILTER (WHERE up.status <> 'running' AND old.status <> 'running'
                                          AND up.duration_known AND NOT old.duration_known)
      INTO touched, finished, merged
      FROM up LEFT JOIN old USING (run_id);

    PERFORM syncopt.absorb_runs(finished, true);
    PERFORM syncopt.absorb_runs(merged, false);

    UPDATE syncopt.log_ingest_state s SET
        watermark = coalesce(new_wm, s.watermark),
        boundary_ids = CASE WHEN new_wm IS NULL THEN s.boundary_ids ELSE new_ids END,
        rows_read = s.rows_read + n_read,
        rows_skipped = s.rows_skipped + n_dupes + n_quirky + n_orphans,
        runs_touched = s.runs_touched + touched,
        last_read_at = now()
     WHERE s.account_id = ingest_fivetran_log.account_id AND s.log_schema = ingest_fivetran_log.log_schema;
    IF n_dupes + n_quirky + n_orphans > 0 THEN
        RAISE NOTICE 'skipped % of % new log rows: % repeated ids, % malformed, % outside any sync',
            n_dupes + n_quirky + n_orphans, n_read, n_dupes, n_quirky, n_orphans
            USING HINT = 'Totals are kept in syncopt.log_ingest_state.rows_skipped.';
    END IF;
    RETURN touched;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_log(bigint, name) IS
    'Reads new rows of a Fivetran Platform Connector log table in this database into sync runs; returns runs changed. Incremental.';
