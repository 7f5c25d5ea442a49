-- The dependency graph from a dbt project's manifest.json (docs/dbt.md).
--
-- dbt already knows what syncopt needs: its sources are the tables the
-- connectors land, its models depend on them, and its exposures are the
-- dashboards, notebooks and ML jobs that read the models.  One call turns a
-- manifest into assets and lineage; a later call brings them up to date.
-- Imported rows carry origin = 'dbt' and their dbt unique_id; rows made by
-- hand (origin = 'manual') are never touched by an import.

ALTER TABLE syncopt.asset
    ADD COLUMN origin text NOT NULL DEFAULT 'manual'
        CONSTRAINT asset_origin_known CHECK (origin IN ('manual', 'dbt')),
    ADD COLUMN dbt_unique_id text
        CONSTRAINT asset_dbt_unique_id_unique UNIQUE,
    ADD CONSTRAINT asset_dbt_origin_has_id CHECK ((origin = 'dbt') = (dbt_unique_id IS NOT NULL));
COMMENT ON COLUMN syncopt.asset.origin IS
    'manual: made by hand; dbt: made by import_dbt_manifest(), which owns it (re-imports update and retire it).';
COMMENT ON COLUMN syncopt.asset.dbt_unique_id IS 'The dbt node it was imported from (model.pkg.name, source.pkg.src.table, exposure.pkg.name).';

ALTER TABLE syncopt.lineage
    ADD COLUMN origin text NOT NULL DEFAULT 'manual'
        CONSTRAINT lineage_origin_known CHECK (origin IN ('manual', 'dbt'));
COMMENT ON COLUMN syncopt.lineage.origin IS
    'manual: drawn by hand; dbt: from a manifest''s depends_on or a source mapped to its connector.';

CREATE TABLE syncopt.dbt_import (
    import_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    imported_at    timestamptz NOT NULL DEFAULT now(),
    imported_by    name NOT NULL DEFAULT session_user,
    project_name   text,
    dbt_version    text,
    schema_version integer NOT NULL,
    generated_at   text,
    invocation_id  text,
    summary        jsonb NOT NULL
);
COMMENT ON TABLE syncopt.dbt_import IS
    'Each import_dbt_manifest() call that was committed: which manifest, by whom, and how many assets and edges it added, changed and retired.';

CREATE TABLE syncopt.dbt_import_change (
    change_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_id     bigint NOT NULL REFERENCES syncopt.dbt_import ON DELETE CASCADE,
    change        text NOT NULL,
    resource_type text,
    unique_id     text,
    asset         text,
    detail        text,
    before        jsonb             -- a retired asset's last row
);
COMMENT ON TABLE syncopt.dbt_import_change IS
    'What each import did, one row per asset or mapping: added, changed, retired (with the row as it was), kept, unmapped, ambiguous, conflict.';
CREATE INDEX dbt_import_change_import_idx ON syncopt.dbt_import_change (import_id);

-- A dbt freshness threshold ({"count": 12, "period": "hour"}) as an
-- interval; NULL when it is absent or not set.
CREATE FUNCTION syncopt.dbt_threshold(t jsonb) RETURNS interval
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN jsonb_typeof(t -> 'count') = 'number' AND (t ->> 'count')::numeric > 0
                     AND t ->> 'period' IN ('minute', 'hour', 'day')
                THEN make_interval(mins => ((t ->> 'count')::numeric
                                            * CASE t ->> 'period' WHEN 'minute' THEN 1 WHEN 'hour' THEN 60
                                                                   ELSE 1440 END)::integer)
           END
$$;

-- A meta interval ('2 hours'), or NULL when it is not a positive interval.
CREATE FUNCTION syncopt.dbt_interval(value text) RETURNS interval
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN CASE WHEN value::interval > interval '0' THEN value::interval END;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
    RETURN NULL;
END
$$;

-- The node's syncopt meta block: meta.syncopt, with config.meta.syncopt
-- (where dbt 1.10 moved meta) taking precedence key by key.
CREATE FUNCTION syncopt.dbt_meta(node jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN jsonb_typeof(node #> '{meta,syncopt}') = 'object' THEN node #> '{meta,syncopt}' ELSE '{}' END
        || CASE WHEN jsonb_typeof(node #> '{config,meta,syncopt}') = 'object'
                THEN node #> '{config,meta,syncopt}' ELSE '{}' END
$$;

-- What is wrong with a manifest's shape, or NULL: the path of the first
-- problem, so that a truncated or foreign document is refused by name.
CREATE FUNCTION syncopt.dbt_manifest_problem(manifest jsonb) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN jsonb_typeof(manifest) IS DISTINCT FROM 'object' THEN 'the manifest is not a JSON object'
        WHEN jsonb_typeof(manifest -> 'metadata') IS DISTINCT FROM 'object' THEN '"metadata" is missing'
        WHEN NOT coalesce(manifest #>> '{metadata,dbt_schema_version}', '')
                 ~ '^https://schemas\.getdbt\.com/dbt/manifest/v[0-9]+\.json$'
            THEN '"metadata.dbt_schema_version" is not a dbt manifest schema URL'
        WHEN jsonb_typeof(manifest -> 'nodes') IS DISTINCT FROM 'object' THEN '"nodes" is missing or not an object'
        WHEN jsonb_typeof(manifest -> 'sources') IS DISTINCT FROM 'object' THEN '"sources" is missing or not an object'
        WHEN jsonb_typeof(manifest -> 'exposures') IS DISTINCT FROM 'object'
            THEN '"exposures" is missing or not an object'
        ELSE (SELECT format('%s.%s: %s', k.section, k.key, k.problem)
                FROM (SELECT s.section, e.key,
                             CASE WHEN jsonb_typeof(e.value) <> 'object' THEN 'not an object'
                                  WHEN e.value ->> 'unique_id' IS DISTINCT FROM e.key THEN 'unique_id differs from its key'
                                  WHEN jsonb_typeof(e.value -> 'resource_type') <> 'string' THEN 'no resource_type'
                                  -- A seed's depends_on has macros only.
                                  WHEN s.section <> 'sources'
                                       AND jsonb_typeof(e.value #> '{depends_on,nodes}') <> 'array'
                                      THEN 'depends_on.nodes is not an array'
                                  WHEN s.section = 'sources' AND jsonb_typeof(e.value -> 'schema') IS DISTINCT FROM 'string'
                                      THEN 'no schema'
                                  WHEN s.section = 'exposures' AND jsonb_typeof(e.value -> 'type') IS DISTINCT FROM 'string'
                                      THEN 'no type'
                             END AS problem
                        FROM unnest(ARRAY['nodes', 'sources', 'exposures']) s(section),
                             jsonb_each(manifest -> s.section) e) k
               WHERE k.problem IS NOT NULL
               ORDER BY k.section, k.key
               LIMIT 1)
    END
$$;

-- The asset a dbt node becomes, or NULL for nodes syncopt does not plan
-- with (tests, seeds, analyses, metrics ...), which the import counts.
CREATE FUNCTION syncopt.dbt_asset_kind(resource_type text, exposure_type text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE resource_type
        WHEN 'model' THEN 'dbt_model'
        WHEN 'snapshot' THEN 'dbt_model'
        WHEN 'source' THEN 'table'
        WHEN 'exposure' THEN CASE exposure_type
                                 WHEN 'dashboard' THEN 'dashboard'
                                 WHEN 'notebook' THEN 'report'
                                 WHEN 'analysis' THEN 'report'
                                 WHEN 'ml' THEN 'ml_job'
                                 ELSE 'other'
                             END
    END
$$;

-- The connectors that load each dbt source table (sources: unique_id ->
-- source node), by the rules of docs/dbt.md, in order: the source's meta
-- hint; else the destination tables and schemas the connectors write to
-- (rank 1: a table the connector's schema config names; 2: the connection's
-- destination schema; 3: Fivetran's <schema>_<source schema> naming, or an
-- Airbyte stream prefix), the best rank only; the loader breaks ties.  All
-- candidates of the deciding rule are returned, so none is guessed among
-- several.  Every rule is an equality join, so the cost grows with sources
-- plus connectors, not with their product.
CREATE FUNCTION syncopt.dbt_source_connectors(sources jsonb)
RETURNS TABLE (unique_id text, connector_id bigint, rule text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH src AS (
        SELECT e.key AS unique_id, lower(e.value ->> 'schema') AS sch,
               lower(coalesce(e.value ->> 'identifier', e.value ->> 'name')) AS tab,
               lower(coalesce(e.value ->> 'loader', '')) AS loader,
               coalesce(syncopt.dbt_meta(e.value) ->> 'connector',
                        CASE WHEN jsonb_typeof(e.value #> '{source_meta,syncopt}') = 'object'
                             THEN e.value #>> '{source_meta,syncopt,connector}' END) AS hint
          FROM jsonb_each(sources) e
    ), live AS (
        SELECT c.connector_id, c.external_id, lower(c.name) AS name, c.raw, a.vendor
          FROM syncopt.connector c JOIN syncopt.account a ON a.account_id = c.account_id
         WHERE c.deleted_at IS NULL
    ), dest AS (
        -- The destination schema and table of every enabled table in each
        -- connector's latest schema config.
        SELECT DISTINCT l.connector_id, lower(coalesce(sc.body ->> 'name_in_destination', sc.name)) AS sch,
               lower(coalesce(t.body ->> 'name_in_destination', t.name)) AS tab
          FROM live l
          JOIN LATERAL (SELECT s.raw FROM syncopt.schema_snapshot s WHERE s.connector_id = l.connector_id
                         ORDER BY s.captured_at DESC, s.snapshot_id DESC LIMIT 1) snap ON true
          CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(snap.raw -> 'schemas') = 'object'
                                             THEN snap.raw -> 'schemas' ELSE '{}' END) AS sc(name, body)
          CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(sc.body -> 'tables') = 'object'
                                             THEN sc.body -> 'tables' ELSE '{}' END) AS t(name, body)
    ), keyed AS (
        -- Every name a connector's tables can be found under, with its rank.
        SELECT d.connector_id, 1 AS rank, d.sch, d.tab FROM dest d
        UNION ALL
        SELECT l.connector_id, 2, l.name, NULL FROM live l WHERE l.vendor = 'fivetran'
        UNION ALL
        SELECT l.connector_id, 2, split_part(l.name, '.', 1), substr(l.name, strpos(l.name, '.') + 1)
          FROM live l WHERE l.vendor = 'fivetran' AND strpos(l.name, '.') > 0
        UNION ALL
        SELECT l.connector_id, 2, lower(l.raw ->> 'namespaceFormat'), NULL FROM live l
         WHERE l.vendor = 'airbyte' AND l.raw ->> 'namespaceDefinition' = 'custom_format'
    ), prefixes AS (
        -- Fivetran names a database connector's schemas <name>_<source schema>.
        SELECT s.unique_id, left(s.sch, p.pos - 1) AS prefix
          FROM src s, LATERAL (SELECT i AS pos FROM generate_series(2, length(s.sch) - 1) i
                                WHERE substr(s.sch, i, 1) = '_') p
    ), matched AS (
        SELECT s.unique_id, k.connector_id, k.rank
          FROM src s JOIN keyed k ON k.sch = s.sch AND (k.tab IS NULL OR k.tab = s.tab)
         WHERE s.hint IS NULL
           AND (k.rank <> 2 OR NOT EXISTS (SELECT FROM live l WHERE l.connector_id = k.connector_id
                                            AND l.vendor = 'airbyte'
                                            AND NOT starts_with(s.tab, lower(coalesce(l.raw ->> 'prefix', '')))))
        UNION ALL
        SELECT p.unique_id, l.connector_id, 3
          FROM prefixes p JOIN live l ON l.vendor = 'fivetran' AND l.name = p.prefix
        UNION ALL
        SELECT s.unique_id, l.connector_id, 3
          FROM src s
          JOIN live l ON l.vendor = 'airbyte' AND coalesce(l.raw ->> 'prefix', '') <> ''
                     AND coalesce(l.raw ->> 'namespaceDefinition', 'destination') <> 'custom_format'
                     AND starts_with(s.tab, lower(l.raw ->> 'prefix'))
         WHERE s.hint IS NULL
    ), best AS (
        SELECT DISTINCT m.unique_id, m.connector_id, l.vendor
          FROM matched m JOIN live l ON l.connector_id = m.connector_id
         WHERE m.rank = (SELECT min(m2.rank) FROM matched m2 WHERE m2.unique_id = m.unique_id)
    ), by_loader AS (
        -- A loader naming a vendor keeps that vendor's candidates, if any.
        SELECT b.unique_id, b.connector_id,
               count(*) OVER (PARTITION BY b.unique_id) < (SELECT count(*) FROM best b2 WHERE b2.unique_id = b.unique_id)
                   AS loader_decided
          FROM best b JOIN src s ON s.unique_id = b.unique_id
         WHERE strpos(s.loader, b.vendor) > 0
            OR NOT EXISTS (SELECT FROM best x WHERE x.unique_id = b.unique_id AND strpos(s.loader, x.vendor) > 0)
    )
    SELECT s.unique_id, l.connector_id, 'meta'
      FROM src s JOIN live l ON l.connector_id::text = s.hint OR l.external_id = s.hint OR l.name = lower(s.hint)
     WHERE s.hint IS NOT NULL
    UNION ALL
    SELECT b.unique_id, b.connector_id, CASE WHEN b.loader_decided THEN 'schema, loader' ELSE 'schema' END
      FROM by_loader b
$$;

-- The work of import_dbt_manifest() on a checked manifest; returns the
-- changes as a JSON array.
CREATE FUNCTION syncopt.dbt_apply(manifest jsonb, version integer) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem     text;
    imp         bigint;
    change_list jsonb;
    totals      jsonb;
BEGIN
    -- One import at a time; planning runs read a consistent graph.
    LOCK TABLE syncopt.asset, syncopt.lineage IN SHARE ROW EXCLUSIVE MODE;
    INSERT INTO syncopt.dbt_import (project_name, dbt_version, schema_version, generated_at, invocation_id, summary)
    VALUES (manifest #>> '{metadata,project_name}', manifest #>> '{metadata,dbt_version}', version,
            manifest #>> '{metadata,generated_at}', manifest #>> '{metadata,invocation_id}', '{}')
    RETURNING import_id INTO imp;

    CREATE TEMP TABLE syncopt_dbt_node (
        unique_id text PRIMARY KEY, resource_type text, kind text, body jsonb) ON COMMIT DROP;
    CREATE TEMP TABLE syncopt_dbt_edge (up text, down text) ON COMMIT DROP;

    -- Every node of the planned kinds that is enabled; the rest is counted.
    INSERT INTO pg_temp.syncopt_dbt_node
    SELECT e.key, e.value ->> 'resource_type',
           syncopt.dbt_asset_kind(e.value ->> 'resource_type', e.value ->> 'type'), e.value
      FROM unnest(ARRAY['nodes', 'sources', 'exposures', 'metrics', 'semantic_models', 'saved_queries',
                        'unit_tests']) s(section),
           jsonb_each(CASE WHEN jsonb_typeof(manifest -> s.section) = 'object' THEN manifest -> s.section ELSE '{}' END) e
     WHERE coalesce((e.value #>> '{config,enabled}')::boolean, true);
    INSERT INTO pg_temp.syncopt_dbt_edge
    SELECT DISTINCT d.up, n.unique_id
      FROM pg_temp.syncopt_dbt_node n,
           jsonb_array_elements_text(CASE WHEN jsonb_typeof(n.body #> '{depends_on,nodes}') = 'array'
                                          THEN n.body #> '{depends_on,nodes}' ELSE '[]' END) d(up);
    -- Temporary tables have no statistics until analysed, and the joins
    -- below are planned from them.
    ANALYZE pg_temp.syncopt_dbt_node, pg_temp.syncopt_dbt_edge;

    CREATE TEMP TABLE syncopt_dbt_change (
        change text, resource_type text, unique_id text, asset text, detail text, before jsonb) ON COMMIT DROP;

    -- Counted, not planned with: disabled nodes and the kinds syncopt ignores.
    INSERT INTO pg_temp.syncopt_dbt_change (change, resource_type, detail)
    SELECT 'ignored', x.rt, x.n::text
      FROM (SELECT n.resource_type AS rt, count(*) AS n FROM pg_temp.syncopt_dbt_node n
             WHERE n.kind IS NULL GROUP BY n.resource_type
            UNION ALL
            SELECT 'disabled', (SELECT count(*)
                                  FROM jsonb_each(CASE WHEN jsonb_typeof(manifest -> 'disabled') = 'object'
                                                       THEN manifest -> 'disabled' ELSE '{}' END))
                               + (SELECT count(*)
                                    FROM unnest(ARRAY['nodes', 'sources', 'exposures']) s(section),
                                         jsonb_each(manifest -> s.section) e
                                   WHERE NOT coalesce((e.value #>> '{config,enabled}')::boolean, true))) x
     WHERE x.n > 0;

    -- The assets the manifest describes, with their planning fields.
    CREATE TEMP TABLE syncopt_dbt_asset ON COMMIT DROP AS
    SELECT n.unique_id, n.resource_type, n.kind, m.meta,
           CASE WHEN n.resource_type = 'exposure'
                THEN nullif(concat_ws(' ', n.body #>> '{owner,name}',
                                      -- owner.email is one address, or a list of them in later schemas
                                      '<' || nullif(CASE jsonb_typeof(n.body #> '{owner,email}')
                                                        WHEN 'array' THEN array_to_string(ARRAY(
                                                            SELECT jsonb_array_elements_text(n.body #> '{owner,email}')), ', ')
                                                        ELSE n.body #>> '{owner,email}' END, '') || '>'), '') END AS owner
      FROM pg_temp.syncopt_dbt_node n, LATERAL (SELECT syncopt.dbt_meta(n.body) AS meta) m
     WHERE n.kind IS NOT NULL;
    ALTER TABLE pg_temp.syncopt_dbt_asset ADD COLUMN problem text, ADD COLUMN deadline time,
        ADD COLUMN timezone text, ADD COLUMN days text, ADD COLUMN weight float8,
        ADD COLUMN freshness interval, ADD COLUMN duration interval;

    -- Meta values are checked one by one, so that one bad value names its node.
    UPDATE pg_temp.syncopt_dbt_asset a SET problem = p.problem
      FROM (SELECT a2.unique_id,
                   CASE WHEN a2.meta ? 'deadline' AND (a2.meta ->> 'deadline') !~ '^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$'
                            THEN format('meta.syncopt.deadline %s is not a time of day (HH:MM)', a2.meta -> 'deadline')
                        WHEN a2.meta ? 'timezone' AND NOT coalesce(syncopt.is_valid_timezone(a2.meta ->> 'timezone'), false)
                            THEN format('meta.syncopt.timezone %s is not a time zone', a2.meta -> 'timezone')
                        WHEN a2.meta ? 'days' AND NOT coalesce(syncopt.is_valid_dow_field(a2.meta ->> 'days'), false)
                            THEN format('meta.syncopt.days %s is not a cron day-of-week field', a2.meta -> 'days')
                        WHEN a2.meta ? 'weight' AND (jsonb_typeof(a2.meta -> 'weight') <> 'number'
                                                      OR (a2.meta ->> 'weight')::float8 <= 0)
                            THEN format('meta.syncopt.weight %s is not a positive number', a2.meta -> 'weight')
                        WHEN a2.meta ? 'freshness' AND syncopt.dbt_interval(a2.meta ->> 'freshness') IS NULL
                            THEN format('meta.syncopt.freshness %s is not a positive interval', a2.meta -> 'freshness')
                        WHEN a2.meta ? 'duration' AND syncopt.dbt_interval(a2.meta ->> 'duration') IS NULL
                            THEN format('meta.syncopt.duration %s is not a positive interval', a2.meta -> 'duration')
                   END AS problem
              FROM pg_temp.syncopt_dbt_asset a2) p
     WHERE p.unique_id = a.unique_id AND p.problem IS NOT NULL;
    SELECT format('%s: %s', a.unique_id, a.problem) INTO problem
      FROM pg_temp.syncopt_dbt_asset a WHERE a.problem IS NOT NULL ORDER BY a.unique_id LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid dbt manifest: %', problem
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Nothing was imported.',
                  HINT = 'The meta.syncopt block takes deadline (HH:MM), timezone, days (cron day-of-week), weight, freshness and duration (intervals); see docs/dbt.md.';
    END IF;
    UPDATE pg_temp.syncopt_dbt_asset a SET
        deadline = (a.meta ->> 'deadline')::time,
        timezone = coalesce(a.meta ->> 'timezone', 'UTC'),
        days = coalesce(a.meta ->> 'days', '*'),
        weight = coalesce((a.meta ->> 'weight')::float8, 1),
        duration = coalesce(syncopt.dbt_interval(a.meta ->> 'duration'), '0'),
        freshness = coalesce(syncopt.dbt_interval(a.meta ->> 'freshness'),
                             CASE WHEN a.resource_type = 'source' THEN
                                 (SELECT coalesce(syncopt.dbt_threshold(f -> 'error_after'),
                                                  syncopt.dbt_threshold(f -> 'warn_after'))
                                    FROM pg_temp.syncopt_dbt_node n,
                                         LATERAL (SELECT coalesce(n.body #> '{config,freshness}', n.body -> 'freshness') AS f) x
                                   WHERE n.unique_id = a.unique_id) END);

    -- Names held by hand-made assets are left alone, and reported.
    INSERT INTO pg_temp.syncopt_dbt_change (change, resource_type, unique_id, asset, detail)
    SELECT 'conflict', a.resource_type, a.unique_id, a.unique_id,
           'a hand-made asset has this name; it is left as it is and the node is not imported'
      FROM pg_temp.syncopt_dbt_asset a
      JOIN syncopt.asset x ON x.name = a.unique_id AND x.origin = 'manual';
    DELETE FROM pg_temp.syncopt_dbt_asset a
     WHERE EXISTS (SELECT FROM syncopt.asset x WHERE x.name = a.unique_id AND x.origin = 'manual');

    -- Edges between assets, through the nodes that are not assets (a metric
    -- or semantic model between a model and an exposure).
    CREATE TEMP TABLE syncopt_dbt_asset_edge ON COMMIT DROP AS
    WITH RECURSIVE reach(asset, via) AS (
        SELECT e.down, e.up FROM pg_temp.syncopt_dbt_edge e
         WHERE e.down IN (SELECT a.unique_id FROM pg_temp.syncopt_dbt_asset a)
        UNION
        SELECT r.asset, e.up FROM reach r
          JOIN pg_temp.syncopt_dbt_edge e ON e.down = r.via
         WHERE r.via NOT IN (SELECT a.unique_id FROM pg_temp.syncopt_dbt_asset a)
    )
    SELECT DISTINCT r.via AS up, r.asset AS down FROM reach r
     WHERE r.via IN (SELECT a.unique_id FROM pg_temp.syncopt_dbt_asset a) AND r.via <> r.asset;
    ANALYZE pg_temp.syncopt_dbt_asset, pg_temp.syncopt_dbt_asset_edge;

    -- Added and changed assets, found once here (an asset changed when the
    -- list of its differences is not empty), then written from this list.
    INSERT INTO pg_temp.syncopt_dbt_change (change, resource_type, unique_id, asset, detail)
    SELECT d.change, d.resource_type, d.unique_id, d.unique_id, d.detail
      FROM (SELECT CASE WHEN x.asset_id IS NULL THEN 'added' ELSE 'changed' END AS change,
                   a.resource_type, a.unique_id,
                   CASE WHEN x.asset_id IS NULL
                        THEN concat_ws(', ', a.kind, 'due ' || to_char(a.deadline, 'HH24:MI') || ' ' || a.timezone,
                                       'weight ' || a.weight, 'freshness ' || a.freshness)
                        ELSE concat_ws(', ',
                            CASE WHEN x.kind IS DISTINCT FROM a.kind THEN 'kind ' || x.kind || ' -> ' || a.kind END,
                            CASE WHEN (x.deadline, x.timezone, x.days) IS DISTINCT FROM (a.deadline, a.timezone, a.days)
                                 THEN format('deadline %s -> %s',
                                             coalesce(to_char(x.deadline, 'HH24:MI') || ' ' || x.timezone
                                                      || ' days ' || x.days, 'none'),
                                             coalesce(to_char(a.deadline, 'HH24:MI') || ' ' || a.timezone
                                                      || ' days ' || a.days, 'none')) END,
                            CASE WHEN x.weight IS DISTINCT FROM a.weight
                                 THEN format('weight %s -> %s', x.weight, a.weight) END,
                            CASE WHEN x.freshness_sla IS DISTINCT FROM a.freshness
                                 THEN format('freshness %s -> %s', coalesce(x.freshness_sla::text, 'none'),
                                             coalesce(a.freshness::text, 'none')) END,
                            CASE WHEN x.duration IS DISTINCT FROM a.duration
                                 THEN format('duration %s -> %s', x.duration, a.duration) END,
                            CASE WHEN x.owner IS DISTINCT FROM a.owner
                                 THEN format('owner %s -> %s', coalesce(x.owner, 'none'), coalesce(a.owner, 'none')) END)
                   END AS detail
              FROM pg_temp.syncopt_dbt_asset a
              LEFT JOIN syncopt.asset x ON x.dbt_unique_id = a.unique_id) d
     WHERE d.change = 'added' OR d.detail <> '';
    INSERT INTO syncopt.asset AS x (name, kind, deadline, timezone, days, freshness_sla, weight, duration, owner,
                                    origin, dbt_unique_id, updated_at)
    SELECT a.unique_id, a.kind, a.deadline, a.timezone, a.days, a.freshness, a.weight, a.duration, a.owner,
           'dbt', a.unique_id, now()
      FROM pg_temp.syncopt_dbt_asset a
     WHERE a.unique_id IN (SELECT c.unique_id FROM pg_temp.syncopt_dbt_change c WHERE c.change IN ('added', 'changed'))
    ON CONFLICT (dbt_unique_id) DO UPDATE SET
        kind = excluded.kind, deadline = excluded.deadline, timezone = excluded.timezone, days = excluded.days,
        freshness_sla = excluded.freshness_sla, weight = excluded.weight, duration = excluded.duration,
        owner = excluded.owner, updated_at = now();

    -- Each source table's connector: exactly one candidate, or reported.
    CREATE TEMP TABLE syncopt_dbt_feed ON COMMIT DROP AS
    SELECT a.unique_id, c.connector_id, c.rule, count(c.connector_id) OVER (PARTITION BY a.unique_id) AS n
      FROM pg_temp.syncopt_dbt_asset a
      LEFT JOIN syncopt.dbt_source_connectors(
                    (SELECT jsonb_object_agg(n.unique_id, n.body) FROM pg_temp.syncopt_dbt_node n
                      WHERE n.resource_type = 'source')) c USING (unique_id)
     WHERE a.resource_type = 'source';
    INSERT INTO pg_temp.syncopt_dbt_change (change, resource_type, unique_id, asset, detail)
    SELECT CASE WHEN k.n = 0 THEN 'unmapped' ELSE 'ambiguous' END, 'source', k.unique_id, k.unique_id,
           CASE WHEN k.n > 0
                    THEN format('%s connectors match by %s: %s; name one in meta.syncopt.connector',
                                k.n, k.rule, k.candidates)
                WHEN syncopt.dbt_meta(n.body) ? 'connector' OR n.body #> '{source_meta,syncopt}' ? 'connector'
                    THEN 'meta.syncopt.connector names no connector'
                ELSE format('no connector writes to %s.%s', n.body ->> 'schema',
                            coalesce(n.body ->> 'identifier', n.body ->> 'name'))
           END
      FROM (SELECT f.unique_id, max(f.n) AS n, min(f.rule) AS rule,
                   string_agg(format('%s (%s)', c.name, c.external_id), ', ' ORDER BY c.connector_id) AS candidates
              FROM pg_temp.syncopt_dbt_feed f
              LEFT JOIN syncopt.connector c ON c.connector_id = f.connector_id
             WHERE f.n <> 1
             GROUP BY f.unique_id) k
      JOIN pg_temp.syncopt_dbt_node n USING (unique_id);

    -- The imported edges as they must now be: added ones are inserted (the
    -- cycle check sees them all), those gone are deleted.
    CREATE TEMP TABLE syncopt_dbt_want ON COMMIT DROP AS
    SELECT NULL::bigint AS upstream_connector_id, u.asset_id AS upstream_asset_id, d.asset_id
      FROM pg_temp.syncopt_dbt_asset_edge e
      JOIN syncopt.asset u ON u.dbt_unique_id = e.up
      JOIN syncopt.asset d ON d.dbt_unique_id = e.down
    UNION
    SELECT f.connector_id, NULL, d.asset_id
      FROM pg_temp.syncopt_dbt_feed f JOIN syncopt.asset d ON d.dbt_unique_id = f.unique_id
     WHERE f.n = 1;
    ANALYZE pg_temp.syncopt_dbt_want;
    WITH gone AS (
        DELETE FROM syncopt.lineage l
         WHERE l.origin = 'dbt'
           AND (coalesce(l.upstream_connector_id, -1), coalesce(l.upstream_asset_id, -1), l.asset_id) NOT IN
               (SELECT coalesce(w.upstream_connector_id, -1), coalesce(w.upstream_asset_id, -1), w.asset_id
                  FROM pg_temp.syncopt_dbt_want w)
        RETURNING l.*)
    INSERT INTO pg_temp.syncopt_dbt_change (change, resource_type, detail)
    SELECT 'edges removed', 'lineage', count(*)::text FROM gone HAVING count(*) > 0;
    WITH added AS (
        -- Only edges not there yet (the cycle check runs before a conflict
        -- would be found); one drawn by hand stays the hand's.
        INSERT INTO syncopt.lineage (upstream_connector_id, upstream_asset_id, asset_id, origin)
        SELECT w.upstream_connector_id, w.upstream_asset_id, w.asset_id, 'dbt'
          FROM (SELECT * FROM pg_temp.syncopt_dbt_want
                EXCEPT
                SELECT l.upstream_connector_id, l.upstream_asset_id, l.asset_id FROM syncopt.lineage l) w
        RETURNING 1)
    INSERT INTO pg_temp.syncopt_dbt_change (change, resource_type, detail)
    SELECT 'edges added', 'lineage', count(*)::text FROM added HAVING count(*) > 0;

    -- Assets that left the manifest: recorded with their row, then deleted;
    -- kept (and reported) where a hand-made edge still uses them.
    WITH old AS (
        SELECT x.* FROM syncopt.asset x
         WHERE x.origin = 'dbt'
           AND NOT EXISTS (SELECT FROM pg_temp.syncopt_dbt_asset a WHERE a.unique_id = x.dbt_unique_id)
    ), held AS (
        SELECT o.asset_id FROM old o
         WHERE EXISTS (SELECT FROM syncopt.lineage l
                        WHERE l.origin = 'manual' AND (l.asset_id = o.asset_id OR l.upstream_asset_id = o.asset_id))
    ), noted AS (
        INSERT INTO pg_temp.syncopt_dbt_change (change, resource_type, unique_id, asset, detail, before)
        SELECT CASE WHEN h.asset_id IS NULL THEN 'retired' ELSE 'kept' END,
               split_part(o.dbt_unique_id, '.', 1), o.dbt_unique_id, o.name,
               CASE WHEN h.asset_id IS NULL THEN 'no longer in the manifest'
                    ELSE 'no longer in the manifest, but hand-made lineage uses it: drop those edges to retire it' END,
               to_jsonb(o)
          FROM old o LEFT JOIN held h USING (asset_id)
        RETURNING 1)
    DELETE FROM syncopt.asset x
     WHERE x.asset_id IN (SELECT o.asset_id FROM old o)
       AND x.asset_id NOT IN (SELECT h.asset_id FROM held h);

    SELECT coalesce(jsonb_agg(to_jsonb(c) - 'before' ORDER BY c.change, c.unique_id, c.detail), '[]'),
           coalesce((SELECT jsonb_object_agg(k.change, k.n)
                       FROM (SELECT c2.change, count(*) AS n FROM pg_temp.syncopt_dbt_change c2
                              WHERE c2.change NOT IN ('ignored', 'edges added', 'edges removed')
                              GROUP BY c2.change) k), '{}')
           || coalesce((SELECT jsonb_object_agg(c3.change, c3.detail::bigint) FROM pg_temp.syncopt_dbt_change c3
                         WHERE c3.change IN ('edges added', 'edges removed')), '{}')
      INTO change_list, totals
      FROM pg_temp.syncopt_dbt_change c;
    UPDATE syncopt.dbt_import i SET summary = totals WHERE i.import_id = imp;
    INSERT INTO syncopt.dbt_import_change (import_id, change, resource_type, unique_id, asset, detail, before)
    SELECT imp, c.change, c.resource_type, c.unique_id, c.asset, c.detail, c.before FROM pg_temp.syncopt_dbt_change c;
    DROP TABLE pg_temp.syncopt_dbt_node, pg_temp.syncopt_dbt_edge, pg_temp.syncopt_dbt_asset,
               pg_temp.syncopt_dbt_asset_edge, pg_temp.syncopt_dbt_change, pg_temp.syncopt_dbt_feed,
               pg_temp.syncopt_dbt_want;

    RETURN change_list;
END
$$;

-- Import a dbt manifest (docs/dbt.md): models, snapshots, source tables and
-- exposures become assets, depends_on becomes lineage, and each source table
-- is fed by the connector that loads it.  Idempotent; a re-import updates
-- what changed and retires (records, then deletes) what left the manifest.
-- Returns one row per change; with dry_run nothing is kept.
CREATE FUNCTION syncopt.import_dbt_manifest(manifest jsonb, dry_run boolean DEFAULT false)
RETURNS TABLE (change text, resource_type text, unique_id text, asset text, detail text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem   text;
    version   integer;
    changes   jsonb;
BEGIN
    problem := syncopt.dbt_manifest_problem(manifest);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid dbt manifest: %', problem
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Nothing was imported.',
                  HINT = 'Pass target/manifest.json as dbt wrote it (dbt parse, compile, run or build).';
    END IF;
    version := substring(manifest #>> '{metadata,dbt_schema_version}' FROM '/v([0-9]+)\.json$')::integer;
    IF version NOT BETWEEN 10 AND 12 THEN
        RAISE EXCEPTION 'dbt manifest schema v% is not supported', version
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'syncopt reads manifest schemas v10 to v12 (dbt 1.6 and later).',
                  HINT = 'Regenerate the manifest with a current dbt (dbt parse).';
    END IF;
    -- A dry run computes the changes in a subtransaction and rolls it back.
    BEGIN
        changes := syncopt.dbt_apply(manifest, version);
        IF dry_run THEN
            RAISE EXCEPTION USING ERRCODE = 'SOD01', MESSAGE = 'syncopt dbt dry run';
        END IF;
    EXCEPTION WHEN SQLSTATE 'SOD01' THEN
        NULL;
    END;
    -- An import can turn an empty graph into thousands of rows; the
    -- planner's next run would otherwise plan with the old statistics
    -- until autovacuum catches up (benchmarks.md, "dbt manifest import").
    IF NOT dry_run THEN
        ANALYZE syncopt.asset, syncopt.lineage;
    END IF;
    RETURN QUERY SELECT c ->> 'change', c ->> 'resource_type', c ->> 'unique_id', c ->> 'asset', c ->> 'detail'
                   FROM jsonb_array_elements(changes) c;
END
$$;
COMMENT ON FUNCTION syncopt.import_dbt_manifest(jsonb, boolean) IS
    'Imports a dbt manifest.json (schema v10-v12): assets, lineage and each source''s connector; idempotent; returns what changed (see docs/dbt.md).';
