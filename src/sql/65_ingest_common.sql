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

-- Fold newly finished runs into connector_stats, set-based, in finish
-- order per connector.  count_outcomes = false feeds only the durations of
-- runs that were counted before while their start was still unknown.
--
-- EWMA (alpha 0.3) over k new values x1..xk in order, from old level m:
--   m' = (1-a)^k m + sum a (1-a)^(k-i) xi;  with no old level, x1 gets
--   weight (1-a)^(k-1) instead, i.e. the series starts at x1.
CREATE FUNCTION syncopt.absorb_runs(run_ids bigint[], count_outcomes boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- Plans per call: a generic plan cached while the tables were small turns
-- the run lookups into scans as history grows (cost grew with every page).
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    alpha  CONSTANT float8 := 0.3;
    keep   CONSTANT integer := 64;          -- length of the recent-window buffers
BEGIN
    IF run_ids IS NULL OR cardinality(run_ids) = 0 THEN
        RETURN;
    END IF;

    INSERT INTO syncopt.connector_stats (connector_id)
    SELECT DISTINCT r.connector_id FROM syncopt.sync_run r WHERE r.run_id = ANY (run_ids)
    ON CONFLICT DO NOTHING;

    WITH runs AS (
        SELECT r.connector_id, r.status, r.started_at, r.finished_at, r.rows, r.full_sync,
               extract(epoch FROM r.finished_at - r.started_at)::float8 AS dur,
               r.status = 'succeeded' AND r.duration_known AS timed,
               row_number() OVER (PARTITION BY r.connector_id ORDER BY r.finished_at, r.run_id) AS seq
          FROM syncopt.sync_run r
         WHERE r.run_id = ANY (run_ids) AND r.status <> 'running'
    ),
    timed AS (
        SELECT t.*, row_number() OVER (PARTITION BY t.connector_id ORDER BY t.seq) AS tseq,
               count(*) OVER (PARTITION BY t.connector_id) AS k
          FROM runs t WHERE t.timed
    ),
    per AS (
        SELECT c.connector_id,
               count(*) FILTER (WHERE count_outcomes) AS n,
               count(*) FILTER (WHERE count_outcomes AND c.status = 'succeeded') AS ok,
               count(*) FILTER (WHERE count_outcomes AND c.status = 'failed') AS bad,
               max(c.seq) FILTER (WHERE c.status = 'succeeded') AS last_ok_seq,
               count(*) FILTER (WHERE c.status = 'failed') AS bad_all,
               max(c.finished_at) AS last_run,
               max(c.finished_at) FILTER (WHERE c.status = 'succeeded') AS last_ok,
               max(c.finished_at) FILTER (WHERE c.status = 'failed') AS last_bad
          FROM runs c GROUP BY c.connector_id
    ),
    streak AS (
        SELECT p.connector_id,
               CASE WHEN p.last_ok_seq IS NULL THEN NULL
                    ELSE (SELECT count(*) FROM runs c
                           WHERE c.connector_id = p.connector_id AND c.status = 'failed'
                             AND c.seq > p.last_ok_seq) END AS after_last_ok
          FROM per p
    ),
    fit AS (
        SELECT t.connector_id, max(t.k) AS k,
               count(*) FILTER (WHERE t.rows IS NOT NULL) AS n,
               sum(ln(1 + t.rows)) AS sx,
               sum(ln(greatest(t.dur, 1))) FILTER (WHERE t.rows IS NOT NULL) AS sy,
               sum(ln(1 + t.rows) ^ 2) AS sxx,
               sum(ln(1 + t.rows) * ln(greatest(t.dur, 1))) AS sxy,
               sum(ln(greatest(t.dur, 1)) ^ 2) FILTER (WHERE t.rows IS NOT NULL) AS syy,
               -- EWMA parts: weights for an existing level and for a fresh series
               sum(alpha * (1 - alpha) ^ (t.k - t.tseq) * t.dur) AS dur_w,
               sum(CASE WHEN t.tseq = 1 THEN (1 - alpha) ^ (t.k - 1) ELSE alpha * (1 - alpha) ^ (t.k - t.tseq) END
                   * t.dur) AS dur_fresh,
               sum(alpha * (1 - alpha) ^ (t.k - t.tseq) * t.rows) AS rows_w,
               sum(CASE WHEN t.tseq = 1 THEN (1 - alpha) ^ (t.k - 1) ELSE alpha * (1 - alpha) ^ (t.k - t.tseq) END
                   * t.rows) AS rows_fresh
          FROM timed t GROUP BY t.connector_id
    )
    UPDATE syncopt.connector_stats s SET
        runs = s.runs + p.n,
        successes = s.successes + p.ok,
        failures = s.failures + p.bad,
        consecutive_failures = CASE
            WHEN NOT count_outcomes THEN s.consecutive_failures
            WHEN st.after_last_ok IS NOT NULL THEN st.after_last_ok
            ELSE s.consecutive_failures + p.bad_all END,
        last_run_at = greatest(s.last_run_at, p.last_run),
        last_success_at = greatest(s.last_success_at, p.last_ok),
        last_failure_at = greatest(s.last_failure_at, p.last_bad),
        ewma_duration_s = CASE WHEN f.k IS NULL THEN s.ewma_duration_s
                               WHEN s.ewma_duration_s IS NULL THEN f.dur_fresh
                               ELSE (1 - alpha) ^ f.k * s.ewma_duration_s + f.dur_w END,
        ewma_rows = CASE WHEN f.k IS NULL OR f.n < f.k THEN s.ewma_rows
                         WHEN s.ewma_rows IS NULL THEN f.rows_fresh
                         ELSE (1 - alpha) ^ f.k * s.ewma_rows + f.rows_w END,
        fit_n = s.fit_n + coalesce(f.n, 0),
        fit_sum_x = s.fit_sum_x + coalesce(f.sx, 0),
        fit_sum_y = s.fit_sum_y + coalesce(f.sy, 0),
        fit_sum_xx = s.fit_sum_xx + coalesce(f.sxx, 0),
        fit_sum_xy = s.fit_sum_xy + coalesce(f.sxy, 0),
        fit_sum_yy = s.fit_sum_yy + coalesce(f.syy, 0),
        recent_duration_s = coalesce(w.d, s.recent_duration_s),
        recent_rows = coalesce(w.r, s.recent_rows),
        recent_started_at = coalesce(w.t, s.recent_started_at),
        recent_full = coalesce(w.f, s.recent_full),
        updated_at = now()
      FROM per p
      JOIN streak st USING (connector_id)
      LEFT JOIN fit f USING (connector_id)
      LEFT JOIN LATERAL (
        -- The newest `keep` timed successes, old buffer and new runs merged,
        -- oldest first.
        SELECT array_agg(b.d ORDER BY b.t, b.ord) AS d, array_agg(b.r ORDER BY b.t, b.ord) AS r,
               array_agg(b.t ORDER BY b.t, b.ord) AS t, array_agg(b.f ORDER BY b.t, b.ord) AS f
          FROM (SELECT * FROM (
                    SELECT o.d, o.r, o.t, coalesce(o.f, false) AS f, o.ord FROM syncopt.connector_stats s2,
                           unnest(s2.recent_duration_s, s2.recent_rows, s2.recent_started_at, s2.recent_full)
                               WITH ORDINALITY AS o(d, r, t, f, ord)
                     WHERE s2.connector_id = f.connector_id
                    UNION ALL
                    SELECT t.dur, t.rows, t.started_at, t.full_sync, keep + t.tseq FROM timed t
                     WHERE t.connector_id = f.connector_id) m
                 ORDER BY m.t DESC, m.ord DESC LIMIT keep) b
         WHERE f.connector_id IS NOT NULL
      ) w ON true
     WHERE s.connector_id = p.connector_id;
END
$$;
COMMENT ON FUNCTION syncopt.absorb_runs(bigint[], boolean) IS
    'Folds finished runs into connector_stats (counts, streaks, EWMA, fit sums, recent window); called by the ingestion functions.';

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
