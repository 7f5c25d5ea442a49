-- Sync runs reconstructed from the Fivetran Platform Connector tables
-- (log, connection or legacy connector) when they land in this database.
-- The recipe is the one of Fivetran's own dbt package: per connection,
-- sync_start opens a run and sync_end closes it (grouped by sync_id, or in
-- time order where sync_id is absent); sync_stats gives volumes and times,
-- records_modified the rows, SEVERE events and the sync_end reason the error,
-- the sync_end status and taskType its vendor code (fivetran_end_code).
--
-- Who runs what.  The caller names the schema, so its relations, their
-- column types and casts, views and rules are the caller's.  They are read
-- only with the caller's rights: ingest_fivetran_log() is SECURITY INVOKER
-- and casts every column to a built-in type as it reads.  What crosses into
-- the three SECURITY DEFINER steps that write syncopt's tables (_begin,
-- _batch, _end) is values: arrays of the composite types below.  Those steps
-- never resolve a caller's name, read a caller's relation or use a
-- temporary table.

-- One log row as the caller read it.
CREATE TYPE syncopt.platform_log_event AS (
    id            text,
    ts            timestamptz,
    conn          text,
    sync_id       text,
    event         text,
    message_event text,
    message_data  text
);
-- One row of the connection (or legacy connector) table as the caller read it.
CREATE TYPE syncopt.platform_log_connection AS (
    id             text,
    name           text,
    service        text,
    destination_id text,
    paused         boolean,
    deleted        boolean
);
-- A sync event kept by a batch, its message_data decoded.
CREATE TYPE syncopt.platform_log_item AS (
    id            text,
    ts            timestamptz,
    conn          text,
    sync_id       text,
    severe        boolean,
    message_event text,
    data          jsonb
);
-- What one batch says about one run.
CREATE TYPE syncopt.platform_log_run AS (
    connector_id  bigint,
    ext           text,
    started_at    timestamptz,
    finished_at   timestamptz,
    status        text,
    total_s       float8,
    mb            float8,
    rows          bigint,
    error_message text,
    error_code    text
);

-- Rows skipped, by reason, per schema read (the reasons are in
-- docs/collection.md); their sum is log_ingest_state.rows_skipped.
CREATE TABLE syncopt.log_ingest_skipped (
    account_id bigint NOT NULL,
    log_schema name NOT NULL,
    reason     text NOT NULL CONSTRAINT log_ingest_skipped_reason_known CHECK (reason IN (
                   'no_message_event', 'repeated_id', 'no_id', 'no_connection', 'no_time_stamp',
                   'malformed_data', 'unknown_status', 'bad_count', 'outside_sync')),
    rows       bigint NOT NULL CONSTRAINT log_ingest_skipped_rows_positive CHECK (rows > 0),
    PRIMARY KEY (account_id, log_schema, reason),
    FOREIGN KEY (account_id, log_schema) REFERENCES syncopt.log_ingest_state ON DELETE CASCADE
);
COMMENT ON TABLE syncopt.log_ingest_skipped IS
    'Platform Connector log rows syncopt.ingest_fivetran_log() skipped, by schema and reason.';

-- The type of a column of schema.table, or NULL when there is no such column.
CREATE FUNCTION syncopt.column_type(rel regclass, col name) RETURNS regtype
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attname OPERATOR(pg_catalog.=) col
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
$$;

-- An SQL expression reading a column as text, or NULL when the table has
-- no such column.
CREATE FUNCTION syncopt.text_expr(rel regclass, col name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN syncopt.column_type(rel, col) IS NOT NULL THEN pg_catalog.format('%I::text', col) END
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

-- Add skipped rows to a schema's counters ({"reason": rows}).
CREATE FUNCTION syncopt.log_ingest_count_skipped(account_id bigint, log_schema name, skipped jsonb)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO syncopt.log_ingest_skipped AS k (account_id, log_schema, reason, rows)
    SELECT account_id, log_schema, s.key, s.value::bigint
      FROM pg_catalog.jsonb_each_text(skipped) s
     WHERE s.value::bigint OPERATOR(pg_catalog.>) 0
    ON CONFLICT ON CONSTRAINT log_ingest_skipped_pkey DO UPDATE SET rows = k.rows OPERATOR(pg_catalog.+) excluded.rows;
    UPDATE syncopt.log_ingest_state s
       SET rows_skipped = s.rows_skipped OPERATOR(pg_catalog.+)
                          (SELECT coalesce(pg_catalog.sum(v.value::bigint), 0) FROM pg_catalog.jsonb_each_text(skipped) v
                            WHERE v.value::bigint OPERATOR(pg_catalog.>) 0)
     WHERE s.account_id OPERATOR(pg_catalog.=) log_ingest_count_skipped.account_id
       AND s.log_schema OPERATOR(pg_catalog.=) log_ingest_count_skipped.log_schema;
$$;

-- Step 1 (syncopt's rights): check the account, and lock and return how far
-- the schema has been read, so that concurrent calls read one after another.
CREATE FUNCTION syncopt.ingest_fivetran_log_begin(account_id bigint, log_schema name)
RETURNS syncopt.log_ingest_state
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st syncopt.log_ingest_state;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    IF log_schema IS NULL THEN
        RAISE EXCEPTION 'log_schema must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the schema the Platform Connector writes to (fivetran_metadata for new connections, fivetran_log for older ones).';
    END IF;
    INSERT INTO syncopt.log_ingest_state AS s (account_id, log_schema) VALUES (account_id, log_schema)
    ON CONFLICT DO NOTHING;
    SELECT * INTO st FROM syncopt.log_ingest_state s
     WHERE s.account_id = ingest_fivetran_log_begin.account_id AND s.log_schema = ingest_fivetran_log_begin.log_schema
       FOR UPDATE;
    RETURN st;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_log_begin(bigint, name) IS
    'Step of syncopt.ingest_fivetran_log(): checks the account and locks the schema''s log_ingest_state row.';

-- Step 2 (syncopt's rights): turn one batch of log rows into runs; returns
-- runs changed.  Rows that cannot be read are counted by reason.
CREATE FUNCTION syncopt.ingest_fivetran_log_batch(account_id bigint, log_schema name,
                                                  events syncopt.platform_log_event[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    items     syncopt.platform_log_item[];
    runs      syncopt.platform_log_run[];
    skipped   jsonb;
    n_orphans bigint;
    touched   bigint;
    finished  bigint[];
    merged    bigint[];
BEGIN
    PERFORM FROM syncopt.log_ingest_state s
      WHERE s.account_id = ingest_fivetran_log_batch.account_id AND s.log_schema = ingest_fivetran_log_batch.log_schema
        FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema % of account % is not being read', log_schema, account_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call syncopt.ingest_fivetran_log(account_id, log_schema); this is one of its steps.';
    END IF;

    -- Decode message_data (a JSON string holding JSON is decoded once more)
    -- and keep the sync events that can be read; count the others by reason.
    WITH e AS (
        SELECT e.id, e.ts, e.conn, nullif(btrim(e.sync_id), '') AS sync_id,
               coalesce(upper(e.event) = 'SEVERE', false) AS severe, e.message_event,
               nullif(btrim(e.message_data), '') IS NULL AS no_data,
               -- a SEVERE message that is not JSON is kept as the text it is
               coalesce(CASE WHEN jsonb_typeof(j2.j) IN ('object', 'array') THEN j2.j ELSE j1.j END,
                        CASE WHEN upper(e.event) = 'SEVERE'
                                  AND coalesce(e.message_event NOT IN ('sync_start', 'sync_end', 'sync_stats',
                                                                       'records_modified'), true)
                             THEN to_jsonb(nullif(btrim(e.message_data), '')) END) AS data
          FROM unnest(events) e
          CROSS JOIN LATERAL (SELECT syncopt.try_jsonb(e.message_data) AS j) j1
          CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(j1.j) = 'string' THEN syncopt.try_jsonb(j1.j #>> '{}') END AS j) j2
         WHERE e.message_event IN ('sync_start', 'sync_end', 'sync_stats', 'records_modified')
            OR (upper(e.event) = 'SEVERE' AND (e.message_event IS NOT NULL OR nullif(btrim(e.message_data), '') IS NOT NULL))
    ), c AS (
        SELECT e.*, CASE
            WHEN e.id IS NULL OR btrim(e.id) = '' THEN 'no_id'
            WHEN e.conn IS NULL OR btrim(e.conn) = '' THEN 'no_connection'
            WHEN e.ts IS NULL OR NOT isfinite(e.ts) THEN 'no_time_stamp'
            WHEN e.message_event IN ('sync_stats', 'records_modified')
                 AND jsonb_typeof(e.data) IS DISTINCT FROM 'object' THEN 'malformed_data'
            WHEN e.message_event = 'sync_end' AND NOT e.no_data
                 AND jsonb_typeof(e.data) IS DISTINCT FROM 'object' THEN 'malformed_data'
            WHEN e.message_event = 'sync_end' AND e.data ->> 'status' IS NOT NULL
                 AND syncopt.fivetran_end_status(e.data ->> 'status') IS NULL THEN 'unknown_status'
            WHEN e.message_event = 'records_modified'
                 AND coalesce(e.data ->> 'count', '') !~ '^[0-9]{1,18}$' THEN 'bad_count'
        END AS problem
          FROM e
    )
    SELECT (SELECT array_agg(ROW(c.id, c.ts, c.conn, c.sync_id, c.severe, c.message_event, c.data)::syncopt.platform_log_item)
              FROM c WHERE c.problem IS NULL),
           (SELECT coalesce(jsonb_object_agg(p.problem, p.n), '{}')
              FROM (SELECT c.problem, count(*) AS n FROM c WHERE c.problem IS NOT NULL GROUP BY c.problem) p)
      INTO items, skipped;

    INSERT INTO syncopt.connector (account_id, external_id)
    SELECT DISTINCT ingest_fivetran_log_batch.account_id, i.conn FROM unnest(items) i
     WHERE i.message_event IS NOT NULL
    ON CONFLICT ON CONSTRAINT connector_external_id_unique DO NOTHING;
    -- A SEVERE row without message_event is an error of the run it falls
    -- in, as Fivetran's dbt package counts it (docs/collection.md), but
    -- only of a connector syncopt knows: it never creates one (conformance
    -- D8), so one of any other connection is skipped.
    SELECT array_agg(ROW(x.id, x.ts, x.conn, x.sync_id, x.severe, x.message_event, x.data)::syncopt.platform_log_item
                     ORDER BY x.n) FILTER (WHERE x.known),
           skipped || jsonb_build_object('no_message_event', count(*) FILTER (WHERE NOT x.known))
      INTO items, skipped
      FROM (SELECT i.*, i.message_event IS NOT NULL
                        OR EXISTS (SELECT FROM syncopt.connector c
                                    WHERE c.account_id = ingest_fivetran_log_batch.account_id
                                      AND c.external_id = i.conn) AS known
              FROM unnest(items) WITH ORDINALITY i(id, ts, conn, sync_id, severe, message_event, data, n)) x;
    -- The batch's connectors' runs are read below and merged into: from
    -- here on no webhook or REST ingest decides about them, and what they
    -- committed is seen.
    PERFORM syncopt.lock_connector_runs(ARRAY(
        SELECT c.connector_id FROM syncopt.connector c
         WHERE c.account_id = ingest_fivetran_log_batch.account_id
           AND c.external_id IN (SELECT i.conn FROM unnest(items) i)));

    -- Each event's run.  With a sync_id: that id's run, where a sync_start
    -- after the id's sync_end opens another run (keyed sync_id@start); the
    -- events before the batch's first such start join the stored run of the
    -- id they fall in.  Without: the latest sync_start of the connector at or
    -- before it, else the run the connector still has open.
    -- The keys are worked out on narrow rows (the event's number n, no
    -- data), joined back to the events to aggregate.
    WITH i AS (
        SELECT i.n, i.id, i.ts, i.sync_id, i.message_event, c.connector_id,
               row_number() OVER (PARTITION BY c.connector_id, i.sync_id ORDER BY i.ts, i.id) AS pos
          FROM unnest(items) WITH ORDINALITY i(id, ts, conn, sync_id, severe, message_event, data, n)
          JOIN syncopt.connector c ON c.account_id = ingest_fivetran_log_batch.account_id AND c.external_id = i.conn
    ), stored AS MATERIALIZED (
        -- The stored runs of the batch's sync_ids: the id's own run and the
        -- later ones keyed id@start.
        SELECT g.connector_id, g.sync_id, r.external_run_id, r.started_at, r.finished_at
          FROM (SELECT DISTINCT i.connector_id, i.sync_id FROM i WHERE i.sync_id IS NOT NULL) g
          JOIN syncopt.sync_run x ON x.connector_id = g.connector_id AND x.external_run_id = g.sync_id
          JOIN syncopt.sync_run r ON r.connector_id = g.connector_id AND r.started_at >= x.started_at
           AND (r.run_id = x.run_id OR left(r.external_run_id, length(g.sync_id) + 1) = g.sync_id || '@')
    ), b AS (
        SELECT i.*,
               max(i.pos) FILTER (WHERE i.message_event = 'sync_end') OVER w AS last_end,
               max(i.pos) FILTER (WHERE i.message_event = 'sync_start') OVER w AS last_start
          FROM i
        WINDOW w AS (PARTITION BY i.connector_id, i.sync_id ORDER BY i.pos ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ), fall AS (
        -- The stored run each event falls in: the latest started at or
        -- before it, else the first.
        SELECT DISTINCT ON (b.connector_id, b.sync_id, b.pos) b.connector_id, b.sync_id, b.pos,
               s.external_run_id, s.finished_at
          FROM b JOIN stored s ON s.connector_id = b.connector_id AND s.sync_id = b.sync_id
         ORDER BY b.connector_id, b.sync_id, b.pos, s.started_at <= b.ts DESC,
                  CASE WHEN s.started_at <= b.ts THEN s.started_at END DESC NULLS LAST, s.started_at
    ), o AS (
        SELECT b.*, f.external_run_id AS stored_run,
               b.sync_id IS NOT NULL AND b.message_event = 'sync_start'
               AND CASE WHEN b.last_end IS NULL AND b.last_start IS NULL THEN coalesce(f.finished_at < b.ts, false)
                        ELSE coalesce(b.last_end > b.last_start, b.last_end IS NOT NULL) END AS opens
          FROM b LEFT JOIN fall f USING (connector_id, sync_id, pos)
    ), k AS (
        SELECT o.*,
               count(*) FILTER (WHERE o.opens) OVER w AS segment,
               max(o.ts) FILTER (WHERE o.opens) OVER w AS opened_at,
               max(o.ts) FILTER (WHERE o.message_event = 'sync_start' AND o.sync_id IS NULL)
                   OVER (PARTITION BY o.connector_id ORDER BY o.ts, o.id ROWS UNBOUNDED PRECEDING) AS started_nosync
          FROM o
        WINDOW w AS (PARTITION BY o.connector_id, o.sync_id ORDER BY o.pos ROWS UNBOUNDED PRECEDING)
    ), keyed AS (
        SELECT k.n, k.connector_id,
               CASE WHEN k.sync_id IS NULL THEN
                        coalesce('log:' || to_char(k.started_nosync AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                 (SELECT r.external_run_id FROM syncopt.sync_run r
                                   WHERE r.connector_id = k.connector_id AND r.status = 'running'
                                     AND r.source = 'platform_log' AND r.started_at <= k.ts
                                   ORDER BY r.started_at DESC LIMIT 1))
                    WHEN k.segment = 0 THEN coalesce(k.stored_run, k.sync_id)
                    ELSE k.sync_id || '@' || to_char(k.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
               END AS ext
          FROM k
    ), agg AS (
        SELECT x.connector_id, x.ext,
               min(k.ts) FILTER (WHERE k.message_event = 'sync_start') AS started_at,
               max(k.ts) FILTER (WHERE k.message_event = 'sync_end') AS finished_at,
               syncopt.fivetran_end_status((array_agg(k.data ->> 'status' ORDER BY k.ts DESC)
                                            FILTER (WHERE k.message_event = 'sync_end'))[1]) AS end_status,
               (array_agg(nullif(concat_ws(' ', k.data ->> 'reason', '(task: ' || (k.data ->> 'taskType') || ')'), '')
                          ORDER BY k.ts DESC) FILTER (WHERE k.message_event = 'sync_end'))[1] AS reason,
               (array_agg(syncopt.fivetran_end_code(k.data ->> 'status', k.data ->> 'taskType')
                          ORDER BY k.ts DESC) FILTER (WHERE k.message_event = 'sync_end'))[1] AS code,
               max((k.data ->> 'total_time_s')::float8) FILTER (WHERE k.message_event = 'sync_stats'
                                                             AND (k.data ->> 'total_time_s') ~ '^[0-9]+(\.[0-9]+)?$') AS total_s,
               max(coalesce(k.data ->> 'load_volume_mb', k.data ->> 'process_volume_mb', k.data ->> 'extract_volume_mb')::float8)
                   FILTER (WHERE k.message_event = 'sync_stats'
                             AND coalesce(k.data ->> 'load_volume_mb', k.data ->> 'process_volume_mb',
                                          k.data ->> 'extract_volume_mb') ~ '^[0-9]+(\.[0-9]+)?$') AS mb,
               sum((k.data ->> 'count')::bigint) FILTER (WHERE k.message_event = 'records_modified') AS rows,
               left(string_agg(coalesce(k.data ->> 'message', k.data ->> 'reason', k.data #>> '{}', '(no message)'), '; '
                               ORDER BY k.ts) FILTER (WHERE k.severe), 2000) AS severe
          FROM keyed x
          JOIN unnest(items) WITH ORDINALITY k(id, ts, conn, sync_id, severe, message_event, data, n) ON k.n = x.n
         WHERE x.ext IS NOT NULL
         GROUP BY x.connector_id, x.ext
    )
    -- A sync_end without a status (Fivetran's own seeds have them) is failed
    -- when the run left a SEVERE error, else succeeded; the end's reason is
    -- the error of a run that did not succeed and has no SEVERE message.
    SELECT (SELECT count(*) FROM keyed WHERE keyed.ext IS NULL),
           (SELECT array_agg(ROW(s.connector_id, s.ext, s.started_at, s.finished_at, s.status, s.total_s, s.mb, s.rows,
                                 coalesce(s.severe, CASE WHEN s.status NOT IN ('succeeded', 'running') THEN s.reason END),
                                 CASE WHEN s.status NOT IN ('succeeded', 'running') THEN s.code END
                                )::syncopt.platform_log_run)
              FROM (SELECT a.*,
                           CASE WHEN a.finished_at IS NULL THEN 'running'
                                WHEN a.end_status IS NOT NULL THEN a.end_status
                                WHEN a.severe IS NOT NULL OR r.error_message IS NOT NULL THEN 'failed'
                                ELSE 'succeeded' END AS status
                      FROM agg a
                      LEFT JOIN syncopt.sync_run r ON r.connector_id = a.connector_id AND r.external_run_id = a.ext) s)
      INTO n_orphans, runs;
    skipped := skipped || jsonb_build_object('outside_sync', n_orphans);

    -- A run the REST API saw only by its end becomes this richer run.
    WITH pairs AS (
        SELECT DISTINCT ON (a.run_id) a.run_id, l.ext
          FROM unnest(runs) l
          JOIN syncopt.sync_run a
            ON a.connector_id = l.connector_id AND a.source = 'api' AND a.status = l.status
           AND a.finished_at BETWEEN l.finished_at - interval '2 minutes' AND l.finished_at + interval '2 minutes'
         WHERE l.finished_at IS NOT NULL
           AND NOT EXISTS (SELECT FROM syncopt.sync_run e
                            WHERE e.connector_id = l.connector_id AND e.external_run_id = l.ext)
         ORDER BY a.run_id, abs(extract(epoch FROM a.finished_at - l.finished_at))
    ), one AS (
        SELECT DISTINCT ON (p.ext) p.* FROM pairs p ORDER BY p.ext, p.run_id
    )
    UPDATE syncopt.sync_run r SET external_run_id = one.ext, source = 'platform_log'
      FROM one WHERE r.run_id = one.run_id;

    WITH old AS (
        SELECT r.run_id, r.status, r.duration_known FROM syncopt.sync_run r
          JOIN unnest(runs) l ON r.connector_id = l.connector_id AND r.external_run_id = l.ext
    ), x AS (
        SELECT l.connector_id, l.ext,
               coalesce(l.started_at, l.finished_at - make_interval(secs => l.total_s), l.finished_at) AS started_at,
               l.finished_at, l.status, l.rows, (l.mb * 1048576)::bigint AS bytes,
               l.error_message, l.error_code, l.started_at IS NOT NULL OR l.total_s IS NOT NULL AS duration_known
          FROM unnest(runs) l
    -- Stored runs are updated, new ones inserted (sync_run is partitioned,
    -- so no ON CONFLICT: its key trigger skips a run stored meanwhile).
    ), upd AS (
        UPDATE syncopt.sync_run r SET
            started_at = CASE WHEN NOT r.duration_known AND x.duration_known THEN coalesce(x.started_at, r.started_at)
                              ELSE least(r.started_at, x.started_at) END,
            finished_at = coalesce(x.finished_at, r.finished_at),
            status = CASE WHEN x.finished_at IS NOT NULL THEN x.status ELSE r.status END,
            rows = CASE WHEN r.rows IS NULL THEN x.rows WHEN x.rows IS NULL THEN r.rows
                        ELSE r.rows + x.rows END,
            bytes = coalesce(x.bytes, r.bytes),
            error_message = coalesce(x.error_message, r.error_message),
            error_code = coalesce(x.error_code, r.error_code),
            duration_known = r.duration_known OR x.duration_known,
            ingested_at = now()
          FROM x WHERE r.connector_id = x.connector_id AND r.external_run_id = x.ext
        RETURNING r.run_id, r.status, r.duration_known
    ), ins AS (
        INSERT INTO syncopt.sync_run AS r (connector_id, external_run_id, started_at, finished_at, status,
                                           rows, bytes, error_message, error_code, duration_known, source)
        SELECT x.connector_id, x.ext, x.started_at, x.finished_at, x.status, x.rows, x.bytes,
               x.error_message, x.error_code, x.duration_known, 'platform_log'
          FROM x
         WHERE x.started_at IS NOT NULL
           AND NOT EXISTS (SELECT FROM syncopt.sync_run e WHERE e.connector_id = x.connector_id AND e.external_run_id = x.ext)
        RETURNING r.run_id, r.status, r.duration_known
    ), up AS (
        SELECT * FROM upd UNION ALL SELECT * FROM ins)
    SELECT count(*),
           array_agg(up.run_id) FILTER (WHERE up.status <> 'running' AND (old.status IS NULL OR old.status = 'running')),
           array_agg(up.run_id) FILTER (WHERE up.status <> 'running' AND old.status <> 'running'
                                          AND up.duration_known AND NOT old.duration_known)
      INTO touched, finished, merged
      FROM up LEFT JOIN old USING (run_id);

    PERFORM syncopt.absorb_runs(finished, true);
    PERFORM syncopt.absorb_runs(merged, false);
    PERFORM syncopt.log_ingest_count_skipped(account_id, log_schema, skipped);
    UPDATE syncopt.log_ingest_state s SET runs_touched = s.runs_touched + touched
     WHERE s.account_id = ingest_fivetran_log_batch.account_id AND s.log_schema = ingest_fivetran_log_batch.log_schema;
    RETURN touched;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_log_batch(bigint, name, syncopt.platform_log_event[]) IS
    'Step of syncopt.ingest_fivetran_log(): turns one batch of log rows (values read by the caller) into runs; returns runs changed.';

-- Step 3 (syncopt's rights): the connectors of the connection table, and
-- how far the schema has now been read.  Returns the schema's state.
CREATE FUNCTION syncopt.ingest_fivetran_log_end(account_id bigint, log_schema name,
                                                connections syncopt.platform_log_connection[],
                                                watermark timestamptz, boundary_ids text[], rows_read bigint,
                                                skipped jsonb)
RETURNS syncopt.log_ingest_state
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st syncopt.log_ingest_state;
BEGIN
    SELECT * INTO st FROM syncopt.log_ingest_state s
     WHERE s.account_id = ingest_fivetran_log_end.account_id AND s.log_schema = ingest_fivetran_log_end.log_schema
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema % of account % is not being read', log_schema, account_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call syncopt.ingest_fivetran_log(account_id, log_schema); this is one of its steps.';
    END IF;

    -- The first row of an id wins (the caller lists the newest first);
    -- _fivetran_deleted marks a connector deleted.
    INSERT INTO syncopt.connector AS c (account_id, external_id, name, service, destination_id, group_id,
                                        paused, deleted_at, updated_at)
    SELECT DISTINCT ON (src.id) ingest_fivetran_log_end.account_id, src.id, src.name, src.service,
           src.destination_id, src.destination_id, coalesce(src.paused, false),
           CASE WHEN src.deleted THEN now() END, now()
      FROM unnest(connections) WITH ORDINALITY src
     WHERE src.id IS NOT NULL AND btrim(src.id) <> ''
     ORDER BY src.id, src.ordinality
    ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
        name = coalesce(excluded.name, c.name), service = coalesce(excluded.service, c.service),
        destination_id = coalesce(excluded.destination_id, c.destination_id),
        group_id = coalesce(excluded.group_id, c.group_id), paused = excluded.paused,
        deleted_at = CASE WHEN excluded.deleted_at IS NULL THEN NULL ELSE coalesce(c.deleted_at, now()) END,
        updated_at = now()
    WHERE (c.name, c.service, c.destination_id, c.paused, c.deleted_at IS NULL)
          IS DISTINCT FROM (coalesce(excluded.name, c.name), coalesce(excluded.service, c.service),
                            coalesce(excluded.destination_id, c.destination_id), excluded.paused,
                            excluded.deleted_at IS NULL);

    PERFORM syncopt.log_ingest_count_skipped(account_id, log_schema, coalesce(skipped, '{}'));
    UPDATE syncopt.log_ingest_state s SET
        watermark = CASE WHEN ingest_fivetran_log_end.watermark > s.watermark OR s.watermark IS NULL
                         THEN coalesce(ingest_fivetran_log_end.watermark, s.watermark) ELSE s.watermark END,
        boundary_ids = ARRAY(
            SELECT DISTINCT u FROM unnest(CASE
                WHEN ingest_fivetran_log_end.watermark > s.watermark OR s.watermark IS NULL
                    THEN ingest_fivetran_log_end.boundary_ids
                WHEN ingest_fivetran_log_end.watermark = s.watermark
                    THEN s.boundary_ids || ingest_fivetran_log_end.boundary_ids
                ELSE s.boundary_ids END) u
             WHERE u IS NOT NULL ORDER BY u),
        rows_read = s.rows_read + greatest(coalesce(ingest_fivetran_log_end.rows_read, 0), 0),
        last_read_at = now()
     WHERE s.account_id = ingest_fivetran_log_end.account_id AND s.log_schema = ingest_fivetran_log_end.log_schema
    RETURNING * INTO st;
    RETURN st;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_log_end(bigint, name, syncopt.platform_log_connection[], timestamptz, text[], bigint, jsonb) IS
    'Step of syncopt.ingest_fivetran_log(): upserts the connectors of the connection table and advances the schema''s watermark.';

-- The entry point, with the caller's rights: read the caller's tables
-- (casting every column to a built-in type here), and hand the values to
-- the steps above in batches of at most 10000 sync events, so that memory
-- stays bounded however long the log is.  Time stamps stored as text
-- without a zone are UTC, as Fivetran writes them, whatever the session's
-- TimeZone.
CREATE FUNCTION syncopt.ingest_fivetran_log(account_id bigint, log_schema name DEFAULT 'fivetran_log')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
AS $$
DECLARE
    batch_size CONSTANT integer := 10000;
    sync_events CONSTANT text := $e$('sync_start', 'sync_end', 'sync_stats', 'records_modified')$e$;
    st         syncopt.log_ingest_state;
    rel        regclass;
    conn_rel   regclass;
    conncol    name;
    idcol      name;
    ts_expr    text;
    wm_expr    text;
    is_new     text;
    n_read     bigint;
    n_no_event bigint;
    n_repeated bigint := 0;
    max_wm     timestamptz;
    new_ids    text[] := '{}';
    conns      syncopt.platform_log_connection[];
    batch      syncopt.platform_log_event[] := '{}';
    r          record;
    touched    bigint := 0;
    before     jsonb;
    n_skipped  bigint;
    why        text;
BEGIN
    st := syncopt.ingest_fivetran_log_begin(account_id, log_schema);
    SELECT coalesce(jsonb_object_agg(k.reason, k.rows), '{}') INTO before FROM syncopt.log_ingest_skipped k
     WHERE k.account_id = ingest_fivetran_log.account_id AND k.log_schema = ingest_fivetran_log.log_schema;
    rel := to_regclass(format('%I.log', log_schema));
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table %.log does not exist', quote_ident(log_schema)
            USING ERRCODE = 'undefined_table',
                  HINT = 'Pass the schema the Platform Connector writes to (fivetran_metadata for new connections, fivetran_log for older ones).';
    END IF;
    conncol := CASE WHEN syncopt.column_type(rel, 'connection_id') IS NOT NULL THEN 'connection_id'
                    WHEN syncopt.column_type(rel, 'connector_id') IS NOT NULL THEN 'connector_id' END;
    IF conncol IS NULL OR syncopt.column_type(rel, 'id') IS NULL OR syncopt.column_type(rel, 'time_stamp') IS NULL
       OR syncopt.column_type(rel, 'message_event') IS NULL OR syncopt.column_type(rel, 'message_data') IS NULL THEN
        RAISE EXCEPTION 'table % is not a Platform Connector log table', rel
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'It needs id, time_stamp, connection_id (or connector_id), message_event and message_data.';
    END IF;

    -- The connection table (or the legacy connector table), newest row of an id first.
    conn_rel := coalesce(to_regclass(format('%I.connection', log_schema)), to_regclass(format('%I.connector', log_schema)));
    IF conn_rel IS NOT NULL THEN
        idcol := CASE WHEN syncopt.column_type(conn_rel, 'connection_id') IS NOT NULL THEN 'connection_id' ELSE 'connector_id' END;
        IF syncopt.column_type(conn_rel, idcol) IS NULL THEN
            RAISE EXCEPTION 'table % has no column %', conn_rel, idcol
                USING ERRCODE = 'undefined_column',
                      HINT = 'syncopt reads the Platform Connector schema as Fivetran writes it.';
        END IF;
        EXECUTE format($q$
            SELECT array_agg(ROW(c.id, c.name, c.service, c.dest, c.paused, c.deleted)::syncopt.platform_log_connection
                             ORDER BY c.id, c.synced DESC NULLS LAST)
              FROM (SELECT %s AS id, %s AS name, %s AS service, %s AS dest, (%s)::boolean AS paused,
                           (%s)::boolean AS deleted, %s AS synced
                      FROM %s) c$q$,
            syncopt.text_expr(conn_rel, idcol),
            coalesce(syncopt.text_expr(conn_rel, CASE idcol WHEN 'connection_id' THEN 'connection_name'
                                                             ELSE 'connector_name' END), 'NULL'),
            coalesce(syncopt.text_expr(conn_rel, 'connector_type'), syncopt.text_expr(conn_rel, 'connector_type_id'), 'NULL'),
            coalesce(syncopt.text_expr(conn_rel, 'destination_id'), 'NULL'),
            coalesce(syncopt.text_expr(conn_rel, 'paused'), 'NULL'),
            coalesce(syncopt.text_expr(conn_rel, '_fivetran_deleted'), 'NULL'),
            coalesce(syncopt.utc_timestamp_expr(conn_rel, '_fivetran_synced'), 'NULL::timestamptz'),
            conn_rel)
        INTO conns;
    END IF;

    -- New rows: after the watermark (_fivetran_synced, when rows land; else
    -- time_stamp), or at it with an id not read yet.
    ts_expr := syncopt.utc_timestamp_expr(rel, 'time_stamp');
    wm_expr := coalesce(syncopt.utc_timestamp_expr(rel, '_fivetran_synced'), ts_expr);
    is_new := format('(%1$s > $1 OR $1 IS NULL OR (%1$s = $1 AND id::text <> ALL ($2)))', wm_expr);
    -- A row without message_event is skipped here unless it is a SEVERE
    -- message: the batch step records that as an error of its run, or
    -- skips it (a connection syncopt does not know).
    EXECUTE format($q$SELECT count(*), count(*) FILTER (WHERE message_event IS NULL AND NOT coalesce(
                              upper(%s) = 'SEVERE' AND nullif(btrim(message_data::text), '') IS NOT NULL, false)),
                             max(%s) FROM %s WHERE %s$q$,
                   coalesce(syncopt.text_expr(rel, 'event'), 'NULL'), wm_expr, rel, is_new)
        INTO n_read, n_no_event, max_wm
        USING st.watermark, st.boundary_ids;

    -- Only sync events and SEVERE rows leave this step (and the ids of the
    -- rows at the new watermark); a repeated id is read once.
    FOR r IN EXECUTE format($q$
        SELECT x.id, x.ts, x.wm, x.conn, x.sync_id, x.event, x.message_event,
               CASE WHEN x.wanted THEN x.message_data END AS message_data, x.wanted,
               row_number() OVER (PARTITION BY x.id, x.wanted ORDER BY x.wm, x.ts) AS nth
          FROM (SELECT l.*, coalesce(l.message_event IN %s
                                     OR (upper(l.event) = 'SEVERE'
                                         AND (l.message_event IS NOT NULL OR nullif(btrim(l.message_data), '') IS NOT NULL)),
                                     false) AS wanted
                  FROM (SELECT id::text AS id, %s AS ts, %s AS wm, %I::text AS conn, %s AS sync_id, %s AS event,
                               message_event::text AS message_event, message_data::text AS message_data
                          FROM %s WHERE %s) l) x
         WHERE x.wanted OR x.wm = $3
         ORDER BY x.wm, x.ts, x.id$q$,
        sync_events, ts_expr, wm_expr, conncol,
        coalesce(syncopt.text_expr(rel, 'sync_id'), 'NULL'), coalesce(syncopt.text_expr(rel, 'event'), 'NULL'),
        rel, is_new)
        USING st.watermark, st.boundary_ids, max_wm
    LOOP
        IF r.wm = max_wm AND r.id IS NOT NULL THEN
            new_ids := new_ids || r.id;
        END IF;
        CONTINUE WHEN NOT r.wanted;
        IF r.nth > 1 AND r.id IS NOT NULL THEN
            n_repeated := n_repeated + 1;
            CONTINUE;
        END IF;
        batch := batch || ROW(r.id, r.ts, r.conn, r.sync_id, r.event, r.message_event, r.message_data)::syncopt.platform_log_event;
        IF cardinality(batch) >= batch_size THEN
            touched := touched + syncopt.ingest_fivetran_log_batch(account_id, log_schema, batch);
            batch := '{}';
        END IF;
    END LOOP;
    IF cardinality(batch) > 0 THEN
        touched := touched + syncopt.ingest_fivetran_log_batch(account_id, log_schema, batch);
    END IF;

    PERFORM syncopt.ingest_fivetran_log_end(account_id, log_schema, conns, max_wm, new_ids, n_read,
                                            jsonb_build_object('no_message_event', n_no_event, 'repeated_id', n_repeated));
    SELECT sum(d.n), string_agg(format('%s %s', d.n, d.reason), ', ' ORDER BY d.reason)
      INTO n_skipped, why
      FROM (SELECT k.reason, k.rows - coalesce((before ->> k.reason)::bigint, 0) AS n
              FROM syncopt.log_ingest_skipped k
             WHERE k.account_id = ingest_fivetran_log.account_id AND k.log_schema = ingest_fivetran_log.log_schema) d
     WHERE d.n > 0;
    IF n_skipped > 0 THEN
        RAISE NOTICE 'skipped % of % new log rows (%)', n_skipped, n_read, why
            USING HINT = 'Totals by reason are kept in syncopt.log_ingest_skipped.';
    END IF;
    RETURN touched;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_log(bigint, name) IS
    'Reads new rows of a Fivetran Platform Connector log table in this database into sync runs, with the caller''s rights; returns runs changed. Incremental.';
