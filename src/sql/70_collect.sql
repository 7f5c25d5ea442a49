-- One poll of an account: the C driver (src/collect.c) makes the requests
-- and calls these small steps, each in its own (sub)transaction, to turn a
-- response into rows and to learn where paging goes next.

-- A Fivetran groups page: the group ids and the next cursor.
CREATE FUNCTION syncopt.collect_fivetran_groups_page(body text, OUT group_ids text[], OUT next_cursor text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    page    jsonb := body::jsonb;
    problem text;
BEGIN
    problem := coalesce(syncopt.fivetran_envelope_problem(page),
                        syncopt.json_field_problem(page #> '{data,items}', 'array', false, 'data.items'),
                        syncopt.json_field_problem(page #> '{data,next_cursor}', 'string', true, 'data.next_cursor'),
                        (SELECT syncopt.json_field_problem(g -> 'id', 'string', false, 'data.items[].id')
                           FROM jsonb_array_elements(page #> '{data,items}') g
                          WHERE jsonb_typeof(g -> 'id') IS DISTINCT FROM 'string' LIMIT 1));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran groups page', problem);
    END IF;
    SELECT coalesce(array_agg(g ->> 'id'), '{}') INTO group_ids FROM jsonb_array_elements(page #> '{data,items}') g;
    next_cursor := nullif(page #>> '{data,next_cursor}', '');
END
$$;

-- A Fivetran connections page: ingested, plus the ids on it and the next cursor.
CREATE FUNCTION syncopt.collect_fivetran_connections_page(
    account_id bigint, body text, OUT touched integer, OUT ids text[], OUT next_cursor text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    page jsonb := body::jsonb;
BEGIN
    touched := syncopt.ingest_fivetran_connections(account_id, page);
    SELECT coalesce(array_agg(i ->> 'id'), '{}') INTO ids FROM jsonb_array_elements(page #> '{data,items}') i;
    next_cursor := nullif(page #>> '{data,next_cursor}', '');
END
$$;

-- Connections whose schema config is worth fetching: never read, or a
-- sync succeeded since (schema changes land with syncs); never-read first,
-- then the longest unread, at most max_targets (NULL: all).  Their details
-- are never fetched: the connections listing gives the whole object.
CREATE FUNCTION syncopt.collect_fivetran_schema_targets(account_id bigint, max_targets integer)
RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.external_id FROM syncopt.connector c
     WHERE c.account_id = collect_fivetran_schema_targets.account_id AND c.deleted_at IS NULL
       AND (c.schema_at IS NULL OR c.last_success_at > c.schema_at)
     ORDER BY c.schema_at NULLS FIRST, c.external_id
     LIMIT max_targets
$$;

-- Ingest a schema config body and note when it was read; a NULL body (the
-- vendor answered 404) only notes the read, so it is not asked again until
-- the connection succeeds again.
CREATE FUNCTION syncopt.collect_fivetran_schema_read(account_id bigint, external_id text, body text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := 0;
BEGIN
    IF body IS NOT NULL THEN
        n := syncopt.ingest_fivetran_schema(account_id, external_id, body::jsonb);
    END IF;
    UPDATE syncopt.connector c SET schema_at = now()
     WHERE c.account_id = collect_fivetran_schema_read.account_id
       AND c.external_id = collect_fivetran_schema_read.external_id;
    RETURN n;
END
$$;

-- An Airbyte page (connections or jobs): ingested, with its item ids and
-- how many items it had (0 ends offset paging).  Jobs pages leave the runs
-- they finish in stats_backlog; the crawl folds them once at its end.
CREATE FUNCTION syncopt.collect_airbyte_page(
    account_id bigint, kind text, body text, OUT touched integer, OUT items integer, OUT ids text[])
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    page jsonb := body::jsonb;
BEGIN
    touched := CASE kind WHEN 'connections' THEN syncopt.ingest_airbyte_connections(account_id, page)
                         ELSE syncopt.ingest_airbyte_jobs(account_id, page, fold_stats => false) END;
    items := jsonb_array_length(page -> 'data');
    IF kind = 'connections' THEN
        SELECT coalesce(array_agg(i ->> 'connectionId'), '{}') INTO ids FROM jsonb_array_elements(page -> 'data') i;
    END IF;
END
$$;

-- After a complete listing: connectors the vendor no longer lists are
-- marked deleted (their history stays).
CREATE FUNCTION syncopt.collect_mark_missing(account_id bigint, seen text[]) RETURNS integer
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        UPDATE syncopt.connector c SET deleted_at = now(), updated_at = now()
         WHERE c.account_id = collect_mark_missing.account_id AND c.deleted_at IS NULL
           AND NOT (c.external_id = ANY (seen))
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;

-- What the driver needs to know about an account before polling it.
CREATE FUNCTION syncopt.collect_account_info(
    account_id bigint, OUT vendor text, OUT base_url text, OUT api_key text, OUT api_secret text,
    OUT jobs_cursor timestamptz, OUT enabled boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.vendor, rtrim(a.base_url, '/'), s.api_key, s.api_secret, c.jobs_cursor, a.enabled
      FROM syncopt.account a
      LEFT JOIN syncopt.account_secret s USING (account_id)
      LEFT JOIN syncopt.collector_state c USING (account_id)
     WHERE a.account_id = collect_account_info.account_id
$$;

-- One full poll of the account now, in this backend.  SECURITY DEFINER:
-- admins may poll with credentials they can never read.
CREATE FUNCTION syncopt.collect(account_id bigint)
RETURNS TABLE (endpoint text, pages integer, rows integer, requests integer, error text)
LANGUAGE C VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_collect';
COMMENT ON FUNCTION syncopt.collect(bigint) IS
    'Polls one account now (the collector worker does this on each account''s poll_interval); one row per endpoint with pages, rows changed, requests and the error, if any.';
