-- Fivetran webhooks: a receiver of the user's choice passes each POST's raw
-- body and its X-Fivetran-Signature-256 header here.  sync_start opens a
-- run, sync_end closes it; the test event (event "test_event") and other
-- event types are accepted and store nothing.  Older payloads carry no
-- sync_id: their runs are known by connector and time instead.  A
-- sync_end's data.reason is the run's error_message and its status and
-- taskType its error_code (syncopt.fivetran_end_code).

-- True when signature is the hex HMAC-SHA256 of body under secret
-- (case-insensitive, compared in constant time).
CREATE FUNCTION syncopt.verify_signature(secret text, body text, signature text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_verify_signature';

-- The text as jsonb, or NULL when it is not valid JSON (no error raised).
CREATE FUNCTION syncopt.try_jsonb(value text) RETURNS jsonb
LANGUAGE C IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_try_jsonb';

CREATE FUNCTION syncopt.ingest_fivetran_webhook(account_id bigint, body text, signature text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    secret   text;
    ev       jsonb;
    problem  text;
    conn_id  bigint;
    run      syncopt.sync_run;
    event_at timestamptz;
    end_status text;
    new_run_id bigint;
    run_key  text;          -- sync_id, or (older payloads) event and time
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    SELECT s.webhook_secret INTO secret FROM syncopt.account_secret s
     WHERE s.account_id = ingest_fivetran_webhook.account_id;
    IF secret IS NULL THEN
        RAISE EXCEPTION 'account % has no webhook secret', account_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Set the secret the webhook was created with: syncopt.set_webhook_secret(account_id, secret).';
    END IF;
    IF body IS NULL OR signature IS NULL OR NOT syncopt.verify_signature(secret, body, btrim(signature)) THEN
        RAISE EXCEPTION 'webhook signature does not match'
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'X-Fivetran-Signature-256 must be the hex HMAC-SHA256 of the raw body under the webhook secret. Nothing was stored.',
                  HINT = 'Pass the body exactly as received (no re-encoding) and the header value unchanged.';
    END IF;

    ev := syncopt.try_jsonb(body);
    problem := CASE WHEN jsonb_typeof(ev) IS DISTINCT FROM 'object' THEN 'the body must be a JSON object'
                    ELSE syncopt.json_field_problem(ev -> 'event', 'string', false, 'event') END;
    IF problem IS NULL AND ev ->> 'event' IN ('sync_start', 'sync_end') THEN
        problem := coalesce(
            syncopt.json_field_problem(ev -> 'sync_id', 'string', true, 'sync_id'),
            CASE WHEN btrim(ev ->> 'sync_id') = '' THEN 'field "sync_id" is empty' END,
            syncopt.json_field_problem(coalesce(ev -> 'connector_id', ev -> 'connection_id'), 'string', false,
                                       'connector_id'),
            syncopt.json_field_problem(ev -> 'created', 'timestamp', false, 'created'),
            CASE WHEN ev ->> 'event' = 'sync_end' THEN coalesce(
                syncopt.json_field_problem(ev -> 'data', 'object', false, 'data'),
                syncopt.json_field_problem(ev #> '{data,status}', 'string', false, 'data.status'),
                CASE WHEN syncopt.fivetran_end_status(ev #>> '{data,status}') IS NULL
                     THEN format('field "data.status" has unknown value %s', ev #> '{data,status}') END) END);
    END IF;
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran webhook', problem);
    END IF;
    -- The test event, and event types syncopt does not use.
    IF ev ->> 'event' NOT IN ('sync_start', 'sync_end') THEN
        RETURN 0;
    END IF;

    INSERT INTO syncopt.connector AS c (account_id, external_id, name, service, group_id, destination_id)
    VALUES (account_id, coalesce(ev ->> 'connector_id', ev ->> 'connection_id'),
            coalesce(ev ->> 'connector_name', ev ->> 'connection_name'), ev ->> 'connector_type',
            coalesce(ev ->> 'destination_group_id', ev ->> 'group_id'),
            coalesce(ev ->> 'destination_group_id', ev ->> 'group_id'))
    ON CONFLICT ON CONSTRAINT connector_external_id_unique DO NOTHING;
    SELECT c.connector_id INTO conn_id FROM syncopt.connector c
     WHERE c.account_id = ingest_fivetran_webhook.account_id
       AND c.external_id = coalesce(ev ->> 'connector_id', ev ->> 'connection_id');
    -- From here on each statement sees the runs the other ingestion paths
    -- committed for this connector (a start and its end delivered at once
    -- included): none is deciding about them meanwhile.
    PERFORM syncopt.lock_connector_runs(ARRAY[conn_id]);
    event_at := (ev ->> 'created')::timestamptz;
    run_key := coalesce(ev ->> 'sync_id',
                        format('webhook:%s:%s', ev ->> 'event',
                               to_char(event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')));
    IF ev ? 'sync_id' AND jsonb_typeof(ev -> 'sync_id') = 'string' THEN
        SELECT * INTO run FROM syncopt.sync_run r
         WHERE r.connector_id = conn_id AND r.external_run_id = run_key FOR UPDATE;
    ELSIF ev ->> 'event' = 'sync_start' THEN
        -- without sync_id, the same start delivered again
        SELECT * INTO run FROM syncopt.sync_run r
         WHERE r.connector_id = conn_id AND r.started_at = event_at FOR UPDATE;
    ELSE
        -- without sync_id, the run this end closes: the same end delivered
        -- again, else the newest run still running that began before it
        SELECT * INTO run FROM syncopt.sync_run r
         WHERE r.connector_id = conn_id
           AND ((r.status <> 'running' AND r.finished_at = event_at)
                OR (r.status = 'running' AND r.started_at <= event_at))
         ORDER BY r.status <> 'running' DESC, r.started_at DESC LIMIT 1 FOR UPDATE;
    END IF;

    IF ev ->> 'event' = 'sync_start' THEN
        IF run.run_id IS NULL THEN
            INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, status, source)
            VALUES (conn_id, run_key, event_at, 'running', 'webhook');
            RETURN 1;
        ELSIF NOT run.duration_known AND event_at <= run.finished_at THEN
            -- the end arrived first; now its duration is known
            UPDATE syncopt.sync_run r SET started_at = event_at, duration_known = true, ingested_at = now()
             WHERE r.run_id = run.run_id;
            PERFORM syncopt.absorb_runs(ARRAY[run.run_id], false);
            RETURN 1;
        END IF;
        RETURN 0;               -- a repeated delivery
    END IF;

    end_status := syncopt.fivetran_end_status(ev #>> '{data,status}');
    IF run.run_id IS NULL THEN
        -- The REST API may have seen this run's end already.
        UPDATE syncopt.sync_run r
           SET external_run_id = run_key, source = 'webhook',
               error_message = coalesce(CASE WHEN end_status <> 'succeeded' THEN ev #>> '{data,reason}' END,
                                        r.error_message),
               error_code = coalesce(syncopt.fivetran_end_code(ev #>> '{data,status}', ev #>> '{data,taskType}'),
                                     r.error_code)
         WHERE r.run_id = (SELECT a.run_id FROM syncopt.sync_run a
                            WHERE a.connector_id = conn_id AND a.source = 'api' AND a.status = end_status
                              AND a.finished_at BETWEEN event_at - interval '2 minutes' AND event_at + interval '2 minutes'
                            ORDER BY abs(extract(epoch FROM a.finished_at - event_at)) LIMIT 1)
        RETURNING r.run_id INTO new_run_id;
        IF new_run_id IS NOT NULL THEN
            RETURN 1;
        END IF;
        INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status,
                                      error_message, error_code, duration_known, source)
        VALUES (conn_id, run_key, event_at, event_at, end_status,
                CASE WHEN end_status <> 'succeeded' THEN ev #>> '{data,reason}' END,
                syncopt.fivetran_end_code(ev #>> '{data,status}', ev #>> '{data,taskType}'), false, 'webhook')
        RETURNING sync_run.run_id INTO new_run_id;
        PERFORM syncopt.absorb_runs(ARRAY[new_run_id], true);
        RETURN 1;
    ELSIF run.status = 'running' THEN
        UPDATE syncopt.sync_run r
           SET finished_at = greatest(event_at, r.started_at), status = end_status,
               error_message = CASE WHEN end_status <> 'succeeded' THEN ev #>> '{data,reason}' END,
               error_code = syncopt.fivetran_end_code(ev #>> '{data,status}', ev #>> '{data,taskType}'),
               ingested_at = now()
         WHERE r.run_id = run.run_id;
        PERFORM syncopt.absorb_runs(ARRAY[run.run_id], true);
        RETURN 1;
    END IF;
    RETURN 0;                   -- a repeated delivery
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_webhook(bigint, text, text) IS
    'Verifies and ingests one Fivetran webhook POST (raw body, X-Fivetran-Signature-256); returns runs changed. Raises on a bad signature.';
