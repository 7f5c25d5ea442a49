-- What every ingestion function shares: checks that name the offending
-- field, the account check, and the incremental connector_stats update.

-- NULL when the value has the JSON type wanted, else what is wrong with it,
-- naming the field.  Inlined by the planner (a single SQL expression), so
-- page validation stays set-based.
CREATE FUNCTION syncopt.json_field_problem(value jsonb, wanted text, nullable boolean, field text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN value IS NULL OR jsonb_typeof(value) = 'null' THEN
            CASE WHEN nullable THEN NULL ELSE format('field "%s" is missing or null', field) END
        WHEN wanted = 'integer' THEN
            CASE WHEN jsonb_typeof(value) = 'number' AND value::text ~ '^-?[0-9]{1,18}$' THEN NULL
                 ELSE format('field "%s" must be an integer, not %s', field, left(value::text, 40)) END
        WHEN wanted = 'timestamp' THEN
            CASE WHEN jsonb_typeof(value) = 'string'
                      AND (value #>> '{}') ~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)$'
                 THEN NULL
                 ELSE format('field "%s" must be an ISO-8601 timestamp with a time zone, not %s',
                             field, left(value::text, 40)) END
        WHEN jsonb_typeof(value) = wanted THEN NULL
        ELSE format('field "%s" must be a JSON %s, not %s', field, wanted, jsonb_typeof(value))
    END
$$;

-- NULL when the value (a string or null) is one of the allowed values.
CREATE FUNCTION syncopt.json_enum_problem(value jsonb, allowed text[], nullable boolean, field text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(syncopt.json_field_problem(value, 'string', nullable, field),
                    CASE WHEN value IS NULL OR jsonb_typeof(value) = 'null' OR (value #>> '{}') = ANY (allowed)
                         THEN NULL
                         ELSE format('field "%s" has unknown value %s (expected one of: %s)',
                                     field, value::text, array_to_string(allowed, ', ')) END)
$$;

-- Raise the error every ingestion function uses for bad input.
CREATE FUNCTION syncopt.ingest_reject(what text, problem text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'invalid %: %', what, problem
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = 'Nothing from this body was stored.',
              HINT = 'Pass the response body exactly as the vendor API returned it.';
END
$$;

-- Record the unreadable items of a page (bad: {external id: problem}) in
-- ingest_quarantine and clear the ones that read again; warns when any
-- item was left out.
CREATE FUNCTION syncopt.quarantine_items(account_id bigint, kind text, items jsonb, id_key text, bad jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM syncopt.ingest_quarantine x
     WHERE x.account_id = quarantine_items.account_id AND x.kind = quarantine_items.kind
       AND x.external_id IN (SELECT e.item ->> id_key FROM jsonb_array_elements(items) e(item))
       AND NOT bad ? x.external_id;
    IF bad = '{}' THEN
        RETURN;
    END IF;
    INSERT INTO syncopt.ingest_quarantine AS x (account_id, kind, external_id, problem, item)
    SELECT DISTINCT ON (e.item ->> id_key) quarantine_items.account_id, quarantine_items.kind,
           e.item ->> id_key, bad ->> (e.item ->> id_key), e.item
      FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i)
     WHERE bad ? (e.item ->> id_key)
     ORDER BY e.item ->> id_key, e.i DESC
    ON CONFLICT ON CONSTRAINT ingest_quarantine_pkey DO UPDATE
        SET problem = excluded.problem, item = excluded.item, last_seen_at = now();
    RAISE WARNING '% % item(s) of the page left out: %', (SELECT count(*) FROM jsonb_object_keys(bad)), kind,
                  (SELECT string_agg(v, '; ' ORDER BY k) FROM jsonb_each_text(bad) AS b(k, v))
        USING DETAIL = 'The other items were stored; syncopt.ingest_quarantine keeps each left-out item and its reason.',
              HINT = 'See syncopt.collector_status.last_warning; the item is read again on the next poll.';
END
$$;

-- The account, checked to exist and to be of the vendor the body is from.
CREATE FUNCTION syncopt.ingest_account(account_id bigint, vendor text) RETURNS syncopt.account
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acct syncopt.account;
BEGIN
    SELECT * INTO acct FROM syncopt.account a WHERE a.account_id = ingest_account.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', coalesce(account_id::text, 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    IF acct.vendor <> vendor THEN
        RAISE EXCEPTION 'account % belongs to %, not %', account_id, initcap(acct.vendor), initcap(vendor)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Use the syncopt.ingest_%s_* functions for it.', acct.vendor);
    END IF;
    RETURN acct;
END
$$;

-- Serialise, until the transaction ends, the ingestion paths that write
-- these connectors' runs: the REST API's run ends, the Platform Connector
-- log and webhooks.  Each reads the connector's stored runs to decide
-- whether to merge into one, adopt one under another key or insert a new
-- one.  Deciding at once, two paths would both insert: the second row is
-- skipped by sync_run's key trigger and its fields are lost, or both rows
-- are stored under different keys and one sync counts twice.  Called
-- before the caller's first read of the runs, so that each later statement
-- (READ COMMITTED) sees what the other path committed.  The lock is the
-- connectors' rows (in connector order, so that two callers do not
-- deadlock on one call's set), not an advisory lock: any role that can
-- connect may take any advisory lock and would stall ingestion, whereas a
-- connector row can be locked only by a role that may update it.
CREATE FUNCTION syncopt.lock_connector_runs(connector_ids bigint[]) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM FROM syncopt.connector c
      WHERE c.connector_id = ANY (connector_ids)
      ORDER BY c.connector_id
        FOR NO KEY UPDATE;
END
$$;
COMMENT ON FUNCTION syncopt.lock_connector_runs(bigint[]) IS
    'Locks the rows of the connectors given (in one order) until the transaction ends, so that concurrent ingestion paths merge a run instead of racing to insert it.';

-- Fold newly finished runs into connector_stats: counts, failure streak,
-- EWMA levels, log-linear fit sums and the recent window (src/absorb.c
-- gives the formulas).  count_outcomes = false feeds only the durations of
-- runs that were counted before while their start was still unknown.  Its
-- statements are kept across calls (src/spi_run.c).
CREATE FUNCTION syncopt.absorb_runs(run_ids bigint[], count_outcomes boolean DEFAULT true)
RETURNS void
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_absorb_runs';
COMMENT ON FUNCTION syncopt.absorb_runs(bigint[], boolean) IS
    'Folds finished runs into connector_stats (counts, streaks, EWMA, fit sums, recent window); called by the ingestion functions.';

-- Runs finished by ingestion that asked to fold them later (a collector
-- poll folds once at its end, so a backfill of many pages rewrites each
-- connector's stats row once rather than once per page): one row per page,
-- the runs as they were when they finished, as absorb_runs would read them.
-- An element without a status is no run: the fold keeps its connector's
-- last runs (connector_last_runs) and folds nothing of it; the update to
-- 0.2.0 queues one per Airbyte connector.
CREATE TABLE syncopt.stats_backlog (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         bigint[] NOT NULL,
    connector_id   bigint[] NOT NULL,
    status         text[] NOT NULL,
    started_at     timestamptz[] NOT NULL,
    finished_at    timestamptz[] NOT NULL,
    rows           bigint[] NOT NULL,       -- NULL elements: rows not reported
    full_sync      boolean[] NOT NULL,
    duration_known boolean[] NOT NULL,
    CONSTRAINT stats_backlog_parallel CHECK (
        cardinality(connector_id) = cardinality(run_id) AND cardinality(status) = cardinality(run_id)
        AND cardinality(started_at) = cardinality(run_id) AND cardinality(finished_at) = cardinality(run_id)
        AND cardinality(rows) = cardinality(run_id) AND cardinality(full_sync) = cardinality(run_id)
        AND cardinality(duration_known) = cardinality(run_id))
);
-- A page's arrays are written once and read once: storing them out of line
-- as they are costs less than compressing them.
ALTER TABLE syncopt.stats_backlog
    ALTER COLUMN run_id SET STORAGE EXTERNAL, ALTER COLUMN connector_id SET STORAGE EXTERNAL,
    ALTER COLUMN status SET STORAGE EXTERNAL, ALTER COLUMN started_at SET STORAGE EXTERNAL,
    ALTER COLUMN finished_at SET STORAGE EXTERNAL, ALTER COLUMN rows SET STORAGE EXTERNAL,
    ALTER COLUMN full_sync SET STORAGE EXTERNAL, ALTER COLUMN duration_known SET STORAGE EXTERNAL;
COMMENT ON TABLE syncopt.stats_backlog IS
    'Finished runs not yet folded into connector_stats, one row per ingested page; emptied by fold_stats_backlog() at the end of each collector poll.';

-- Fold the backlog into connector_stats in batches, oldest first; returns
-- the runs folded.  Concurrent callers take disjoint batches.
CREATE FUNCTION syncopt.fold_stats_backlog() RETURNS bigint
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_fold_stats_backlog';
COMMENT ON FUNCTION syncopt.fold_stats_backlog() IS
    'Folds the runs waiting in stats_backlog into connector_stats; returns how many were folded. The collector calls it after each Airbyte jobs crawl.';

-- Map a Fivetran sync_end status (log, webhook) to a sync_run status.
CREATE FUNCTION syncopt.fivetran_end_status(status text) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE upper(status)
        WHEN 'SUCCESSFUL' THEN 'succeeded'
        WHEN 'FAILURE' THEN 'failed'
        WHEN 'FAILURE_WITH_TASK' THEN 'failed'
        WHEN 'RESCHEDULED' THEN 'rescheduled'
        WHEN 'CANCELED' THEN 'cancelled'
        WHEN 'CANCELLED' THEN 'cancelled'
    END
$$;
COMMENT ON FUNCTION syncopt.fivetran_end_status(text) IS
    'Fivetran sync_end status (SUCCESSFUL, FAILURE, FAILURE_WITH_TASK, RESCHEDULED, CANCELED) as a sync_run status; NULL when unknown.';

-- The vendor code of a Fivetran sync_end (its data.status and taskType;
-- issue 30, structured vendor signals): the task a person must do,
-- 'task:<taskType>', else the status where it says more than "failed"
-- (failure_with_task, rescheduled); NULL for SUCCESSFUL, FAILURE and
-- CANCELED, whose reason text is all there is.  classify.c reads it.
CREATE FUNCTION syncopt.fivetran_end_code(status text, task_type text) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN nullif(btrim(task_type), '') IS NOT NULL THEN 'task:' || left(btrim(task_type), 195)
                WHEN upper(status) IN ('FAILURE_WITH_TASK', 'RESCHEDULED') THEN lower(status) END
$$;
COMMENT ON FUNCTION syncopt.fivetran_end_code(text, text) IS
    'Vendor code of a Fivetran sync_end: task:<taskType>, failure_with_task or rescheduled; NULL when the status says no more than its run status.';
