-- Manual proposals, and the parameter checks every proposal passes, so that
-- a request the vendor would refuse is refused when proposed, not when
-- executed.

-- Raise a clear error naming the field when params do not fit the action
-- and vendor (vendor facts: docs/sql-reference.md, "Action parameters").
CREATE FUNCTION syncopt.validate_action_params(vendor text, action text, params jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    allowed text[];
    extra   text;
    bad     text;
BEGIN
    IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', coalesce(jsonb_typeof(params), 'NULL'));
    END IF;

    allowed := CASE action
        WHEN 'trigger_sync' THEN ARRAY['force']
        WHEN 'pause' THEN ARRAY[]::text[]
        WHEN 'resume' THEN ARRAY[]::text[]
        WHEN 'set_schedule' THEN
            CASE vendor WHEN 'fivetran' THEN ARRAY['sync_frequency', 'schedule_type', 'daily_sync_time']
                        ELSE ARRAY['schedule_type', 'cron_expression'] END
        WHEN 'resync_tables' THEN ARRAY['tables']
        WHEN 'resync_connector' THEN ARRAY['scope']
        WHEN 'set_batch_size' THEN ARRAY['batch_size', 'parallelism']
        WHEN 'notify' THEN ARRAY['message', 'severity']
    END;
    IF allowed IS NULL THEN
        RAISE EXCEPTION 'unknown action "%"', action
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Actions: ' || array_to_string(syncopt.decision_actions(), ', ') || '.';
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO extra
      FROM jsonb_object_keys(params) k WHERE k <> ALL (allowed);
    IF extra IS NOT NULL THEN
        RAISE EXCEPTION 'unexpected params for % on %: %', action, vendor, extra
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = CASE WHEN cardinality(allowed) = 0 THEN format('%s takes no params.', action)
                              ELSE format('%s on %s takes: %s.', action, vendor, array_to_string(allowed, ', ')) END;
    END IF;

    IF action = 'trigger_sync' AND params ? 'force' AND jsonb_typeof(params->'force') <> 'boolean' THEN
        bad := 'force must be true or false';
    ELSIF action = 'set_schedule' AND params = '{}' THEN
        bad := 'set_schedule needs at least one schedule field';
    ELSIF action = 'set_schedule' AND vendor = 'fivetran' THEN
        IF params ? 'sync_frequency' AND NOT (jsonb_typeof(params->'sync_frequency') = 'number'
               AND (params->>'sync_frequency') IN ('1', '5', '15', '30', '60', '120', '180', '360', '480', '720', '1440')) THEN
            bad := 'sync_frequency must be one of Fivetran''s minutes: 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440';
        ELSIF params ? 'schedule_type' AND (params->>'schedule_type') IS DISTINCT FROM 'auto'
              AND (params->>'schedule_type') IS DISTINCT FROM 'manual' THEN
            bad := 'schedule_type must be "auto" or "manual"';
        ELSIF params ? 'daily_sync_time' AND NOT coalesce((params->>'daily_sync_time') ~ '^([01][0-9]|2[0-3]):00$', false) THEN
            bad := 'daily_sync_time must be a whole hour "HH:00" (UTC)';
        ELSIF params ? 'daily_sync_time' AND (params->>'sync_frequency') IS DISTINCT FROM '1440' THEN
            bad := 'daily_sync_time applies only with sync_frequency 1440';
        END IF;
    ELSIF action = 'set_schedule' THEN
        IF (params->>'schedule_type') IS NULL OR (params->>'schedule_type') NOT IN ('manual', 'cron') THEN
            bad := 'schedule_type must be "manual" or "cron" (Airbyte cannot set basic schedules through its API)';
        ELSIF (params->>'schedule_type') = 'cron'
              AND array_length(regexp_split_to_array(btrim(coalesce(params->>'cron_expression', '')), '\s+'), 1) NOT IN (6, 7) THEN
            bad := 'cron_expression must be a Quartz expression of 6 or 7 fields, e.g. "0 0 */6 * * ?"';
        ELSIF (params->>'schedule_type') = 'cron' AND (syncopt.airbyte_cron_parts(params->>'cron_expression')).zone IS NOT NULL THEN
            bad := 'cron_expression must not name a time zone: Airbyte''s API sets cron schedules in UTC (a zone would be read as the year field)';
        ELSIF (params->>'schedule_type') = 'manual' AND params ? 'cron_expression' THEN
            bad := 'cron_expression applies only with schedule_type "cron"';
        END IF;
    ELSIF action IN ('resync_tables', 'resync_connector') AND vendor = 'airbyte' THEN
        bad := format('%s is not available through Airbyte''s public API', action);
    ELSIF action = 'resync_tables' AND NOT params ? 'tables' THEN
        bad := 'resync_tables needs "tables": {"schema": ["table", ...]}';
    ELSIF action IN ('resync_tables', 'resync_connector')
          AND coalesce(params->'tables', params->'scope') IS NOT NULL
          AND NOT syncopt.is_table_map(coalesce(params->'tables', params->'scope')) THEN
        bad := format('%s must map each schema to a non-empty array of table names, e.g. {"public": ["orders"]}',
                      CASE action WHEN 'resync_tables' THEN 'tables' ELSE 'scope' END);
    ELSIF action = 'set_batch_size' AND vendor = 'fivetran' THEN
        bad := 'Fivetran connections expose no batch size; propose set_schedule instead';
    ELSIF action = 'set_batch_size' AND NOT coalesce((params->>'batch_size') ~ '^[1-9][0-9]{0,8}$', false) THEN
        bad := 'batch_size must be a positive whole number';
    ELSIF action = 'set_batch_size' AND params ? 'parallelism'
          AND NOT coalesce((params->>'parallelism') ~ '^[1-9][0-9]{0,3}$', false) THEN
        bad := 'parallelism must be a positive whole number';
    ELSIF action = 'notify' AND params ? 'message' AND jsonb_typeof(params->'message') <> 'string' THEN
        bad := 'message must be a string';
    ELSIF action = 'notify' AND params ? 'severity' AND (params->>'severity') NOT IN ('info', 'warning', 'critical') THEN
        bad := 'severity must be info, warning or critical';
    END IF;

    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'invalid params for % on %', action, vendor
            USING ERRCODE = 'invalid_parameter_value', DETAIL = bad || '.';
    END IF;
END
$$;
COMMENT ON FUNCTION syncopt.validate_action_params(text, text, jsonb) IS
    'Raises a clear error when params do not fit the action and vendor; returns nothing when they do.';

-- {"schema": ["table", ...], ...} with at least one schema and no empty list.
CREATE FUNCTION syncopt.is_table_map(value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_typeof(value) = 'object'
       AND value <> '{}'
       AND NOT EXISTS (
           SELECT FROM jsonb_each(value) s
            WHERE jsonb_typeof(s.value) <> 'array'
               OR jsonb_array_length(s.value) = 0
               OR EXISTS (SELECT FROM jsonb_array_elements(s.value) t
                           WHERE jsonb_typeof(t) <> 'string' OR t #>> '{}' = ''))
$$;

-- The connector settings a decision may change, as they are before it: the
-- `previous` of every decision, from which rollback() builds the inverse.
-- Inlined into write_decisions()' INSERT (one expression, no pinned path,
-- names qualified): called, its body was parsed and planned again for
-- every decision written, a seventh of a planning run's decision loop.
-- STABLE as jsonb_build_object() is: an IMMUTABLE one is not inlined.
CREATE FUNCTION syncopt.connector_settings(conn syncopt.connector) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'paused', conn.paused, 'schedule_minutes', conn.schedule_minutes,
        'schedule_type', conn.schedule_type, 'daily_sync_time', conn.daily_sync_time,
        'cron_expression', conn.cron_expression, 'batch_size', conn.batch_size,
        'parallelism', conn.parallelism, 'sync_state', conn.sync_state)
$$;

-- Write decisions in the batch's order (their ids follow it), each with
-- its connector's settings as `previous`, superseding an older open
-- proposal of the same action (the partial unique index allows one, so a
-- batch holds at most one decision of a connector and action).  The batch's
-- rows give what is decided (planner_run_id, connector_id, action, params,
-- priority_score, score_components, reason, mode, status, expires_at,
-- act_by, guardrail, rollback_of); the rest is filled here and by the
-- table's defaults and triggers.  Auto-approved decisions are approved by
-- 'syncopt:auto'.  A planning run writes its decisions a chunk a call
-- (run_planner_pass()): one call and two statements for each decision
-- were a tenth of a first run at 10,000 connectors (docs/benchmarks.md,
-- session 29).
CREATE FUNCTION syncopt.write_decisions(batch syncopt.fivetran_sync_ai_logs[])
RETURNS SETOF syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seq regclass := pg_get_serial_sequence('syncopt.fivetran_sync_ai_logs', 'decision_id');
    ids bigint[] := ARRAY(SELECT nextval(seq) FROM generate_series(1, cardinality(batch)));
BEGIN
    UPDATE syncopt.fivetran_sync_ai_logs d
       SET status = 'superseded', superseded_by = ids[b.ordinality]
      FROM unnest(batch) WITH ORDINALITY b
     WHERE b.status <> 'shadow' AND d.connector_id = b.connector_id AND d.action = b.action
       AND d.status = 'proposed';
    -- A connector deleted since it was read joins no row here; the insert
    -- trigger then refuses its decision (foreign_key_violation).
    RETURN QUERY
    INSERT INTO syncopt.fivetran_sync_ai_logs
        (decision_id, planner_run_id, connector_id, action, params, previous, priority_score,
         score_components, reason, mode, status, expires_at, act_by, approved_by, guardrail, rollback_of)
    OVERRIDING SYSTEM VALUE
    SELECT ids[b.ordinality], b.planner_run_id, b.connector_id, b.action, b.params, syncopt.connector_settings(c),
           b.priority_score, b.score_components, b.reason, b.mode, b.status, b.expires_at, b.act_by,
           CASE WHEN b.status = 'approved' THEN 'syncopt:auto' END, b.guardrail, b.rollback_of
      FROM unnest(batch) WITH ORDINALITY b
      LEFT JOIN syncopt.connector c ON c.connector_id = b.connector_id
     ORDER BY b.ordinality
    RETURNING *;
END
$$;
COMMENT ON FUNCTION syncopt.write_decisions(syncopt.fivetran_sync_ai_logs[]) IS
    'Writes decisions in the batch''s order with each connector''s current settings as `previous`, superseding older open proposals of the same action; returns the rows written.';

-- Propose an action by hand.  The proposal waits for an approver whatever
-- the connector's mode, replaces an older open proposal of the same action
-- for the connector, and expires after the policy's proposal_ttl.
CREATE FUNCTION syncopt.manual_proposal(connector_id bigint, action text, params jsonb, reason text, rollback_of bigint)
RETURNS syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    conn       syncopt.connector;
    vendor     text;
    pol        record;
    decision   syncopt.fivetran_sync_ai_logs;
    result     syncopt.fivetran_sync_ai_logs;
BEGIN
    SELECT * INTO conn FROM syncopt.connector c WHERE c.connector_id = manual_proposal.connector_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'connector % does not exist', coalesce(manual_proposal.connector_id::text, 'NULL')
            USING ERRCODE = 'undefined_object',
                  HINT = 'List connectors with SELECT connector_id, name FROM syncopt.connector.';
    ELSIF conn.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'connector % was deleted at the vendor', conn.connector_id
            USING ERRCODE = 'undefined_object',
                  DETAIL = format('The collector last saw it before %s.', conn.deleted_at);
    END IF;
    IF btrim(coalesce(reason, '')) = '' THEN
        RAISE EXCEPTION 'a proposal needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Say why, in words an approver will read: syncopt.propose(..., reason => ''...'').';
    END IF;
    SELECT a.vendor INTO vendor FROM syncopt.account a WHERE a.account_id = conn.account_id;
    PERFORM syncopt.validate_action_params(vendor, action, coalesce(params, '{}'));

    pol := syncopt.effective_policy(conn.connector_id);
    IF action <> ALL (pol.allowed_actions) THEN
        RAISE EXCEPTION '% is not allowed for connector %', action, conn.connector_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Allowed by the %s: %s.', pol.source, array_to_string(pol.allowed_actions, ', ')),
                  HINT = 'Change allowed_actions in syncopt.policy if this action should be possible.';
    END IF;
    IF action = 'pause' AND pol.protect THEN
        RAISE EXCEPTION 'connector % is protected and cannot be paused', conn.connector_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('protect is set by the %s.', pol.source),
                  HINT = 'Protected connectors are never paused; propose set_schedule instead.';
    END IF;

    -- What a person types is limited here (docs/sql-reference.md, "Input
    -- limits"); the planner's own reasons and messages grow with the fleet.
    PERFORM syncopt.require_length(reason, 2000, 'reason'),
            syncopt.require_length(params->>'message', 2000, 'params.message');
    decision.connector_id := conn.connector_id;
    decision.action := action;
    decision.params := coalesce(params, '{}');
    decision.reason := reason;
    decision.mode := 'manual';
    decision.status := 'proposed';
    decision.expires_at := now() + pol.proposal_ttl;
    decision.rollback_of := rollback_of;
    SELECT * INTO result FROM syncopt.write_decisions(ARRAY[decision]);
    RETURN result;
END
$$;
COMMENT ON FUNCTION syncopt.manual_proposal(bigint, text, jsonb, text, bigint) IS
    'The checks and write of a manual proposal (propose() and rollback()).';

CREATE FUNCTION syncopt.propose(connector_id bigint, action text, params jsonb DEFAULT '{}', reason text DEFAULT NULL)
RETURNS syncopt.fivetran_sync_ai_logs
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM syncopt.manual_proposal(connector_id, action, params, reason, NULL)
$$;
COMMENT ON FUNCTION syncopt.propose(bigint, text, jsonb, text) IS
    'Proposes an action on a connector for an approver; checks params, policy and protect; supersedes an older open proposal of the same action.';
