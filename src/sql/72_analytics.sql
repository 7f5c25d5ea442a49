-- Analytics: the C set-returning functions that predict, score, plan and
-- explain, and the small SQL helpers that turn local wall-clock rules
-- (deadlines, load windows) into instants.  Time-zone arithmetic is left to
-- PostgreSQL's own AT TIME ZONE so that DST gaps and overlaps behave exactly
-- as they do everywhere else in the database.

-- Does a cron day-of-week field ('*', '1-5', '0,6', 7 = Sunday) include dow?
CREATE FUNCTION syncopt.dow_matches(field text, dow integer) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT field = '*' OR EXISTS (
        SELECT 1
          FROM unnest(string_to_array(field, ',')) AS item
         WHERE CASE WHEN strpos(item, '-') > 0
                    THEN dow BETWEEN split_part(item, '-', 1)::integer AND split_part(item, '-', 2)::integer
                         OR (dow = 0 AND 7 BETWEEN split_part(item, '-', 1)::integer AND split_part(item, '-', 2)::integer)
                    ELSE item::integer % 7 = dow END)
$$;
COMMENT ON FUNCTION syncopt.dow_matches(text, integer) IS
    'True when the cron day-of-week field includes dow (0 = Sunday; 7 also means Sunday).';

-- The first instant after `after` at which the local clock in tz shows
-- local_time on a day the field allows; NULL when there is none within
-- eight days (or when local_time is NULL).
CREATE FUNCTION syncopt.next_local_time(local_time time, days text, tz text, after timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT min((d + local_time) AT TIME ZONE tz)
      FROM generate_series(-1, 8) AS k,
           LATERAL (SELECT (after AT TIME ZONE tz)::date + k AS d) AS day
     WHERE local_time IS NOT NULL
       AND syncopt.dow_matches(coalesce(days, '*'), extract(dow FROM d)::integer)
       AND (d + local_time) AT TIME ZONE tz > after
$$;
COMMENT ON FUNCTION syncopt.next_local_time(time, text, text, timestamptz) IS
    'Next instant after `after` when the clock in tz shows local_time on an allowed day (cron dow field).';

-- Each occurrence of a recurring local window (start_time to end_time on
-- the allowed days; an end at or before the start wraps past midnight)
-- that overlaps [from_ts, to_ts).
CREATE FUNCTION syncopt.window_occurrences(start_time time, end_time time, days text, tz text,
                                           from_ts timestamptz, to_ts timestamptz)
RETURNS TABLE (starts timestamptz, ends timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.s, o.e
      FROM generate_series(0, (to_ts AT TIME ZONE tz)::date - (from_ts AT TIME ZONE tz)::date + 1) AS k,
           LATERAL (SELECT (from_ts AT TIME ZONE tz)::date - 1 + k AS d) AS day,
           LATERAL (SELECT (d + start_time) AT TIME ZONE tz AS s,
                           (d + end_time + CASE WHEN end_time <= start_time THEN interval '1 day'
                                                ELSE interval '0' END) AT TIME ZONE tz AS e) o
     WHERE syncopt.dow_matches(days, extract(dow FROM d)::integer)
       AND o.e > from_ts AND o.s < to_ts
     ORDER BY o.s
$$;
COMMENT ON FUNCTION syncopt.window_occurrences(time, time, text, text, timestamptz, timestamptz) IS
    'The instants of a recurring local time window that overlap [from_ts, to_ts).';

CREATE FUNCTION syncopt.predict_duration(at timestamptz DEFAULT now())
RETURNS TABLE (connector_id bigint, p50 interval, p90 interval, predicted_rows bigint,
               samples integer, method text, reason text)
LANGUAGE c STABLE STRICT
ROWS 100000   -- one row per connector: see planner_candidates() (78_planner.sql)
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_predict_duration';
COMMENT ON FUNCTION syncopt.predict_duration(timestamptz) IS
    'Predicted P50/P90 duration of each connector''s next sync started at `at`, from connector_stats, with the model that answered.';

CREATE FUNCTION syncopt.priority_scores(at timestamptz DEFAULT now())
RETURNS TABLE (connector_id bigint, score double precision, urgency double precision,
               downstream_weight double precision, downstream_assets integer,
               calendar_multiplier double precision, staleness double precision,
               load_penalty double precision, cost_penalty double precision,
               failure_risk double precision, p90 interval, deadline timestamptz,
               deadline_asset_id bigint, latest_start timestamptz, slack interval, reason text)
LANGUAGE c STABLE STRICT
ROWS 100000   -- one row per connector: see planner_candidates() (78_planner.sql)
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_priority_scores';
COMMENT ON FUNCTION syncopt.priority_scores(timestamptz) IS
    'How urgent each connector''s next sync is at `at` (higher = more urgent), with every component of the score and a reason.';

CREATE FUNCTION syncopt.plan(at timestamptz DEFAULT now(), horizon interval DEFAULT '24 hours')
RETURNS TABLE (connector_id bigint, planned_start timestamptz, predicted_end timestamptz,
               deadline timestamptz, slack interval, will_miss boolean, action text,
               priority integer, reason text)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_plan';
COMMENT ON FUNCTION syncopt.plan(timestamptz, interval) IS
    'List schedule of the syncs that feed deadlines within the horizon over the concurrency slots, with predicted misses and triage.';

CREATE FUNCTION syncopt.sla_risk(at timestamptz DEFAULT now())
RETURNS TABLE (asset_id bigint, deadline timestamptz, predicted_ready timestamptz, at_risk boolean,
               risk text, blocking_connectors bigint[], reason text)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_sla_risk';
COMMENT ON FUNCTION syncopt.sla_risk(timestamptz) IS
    'For each asset with a deadline: when its inputs are predicted to be ready under the plan, and what blocks it.';

CREATE FUNCTION syncopt.batch_recommendations(at timestamptz DEFAULT now())
RETURNS TABLE (connector_id bigint, current_batch_size integer, recommended_batch_size integer,
               current_parallelism integer, recommended_parallelism integer,
               expected_rows_per_s double precision, expected_duration interval,
               recommended_schedule text, confidence double precision, reason text)
LANGUAGE c STABLE STRICT
ROWS 100000   -- one row per connector: see planner_candidates() (78_planner.sql)
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_batch_recommendations';
COMMENT ON FUNCTION syncopt.batch_recommendations(timestamptz) IS
    'Batch size and parallelism for Airbyte connectors (AIMD plus a fitted throughput curve), a start time for Fivetran ones.';

-- batch_recommendations(at) of the Airbyte connectors only: what a planning
-- run's batch-size proposals read (planner_candidates()).  Without the
-- Fivetran connectors' start times it needs only the duration predictions,
-- not the fleet's priority scores, which the run computes once already.
CREATE FUNCTION syncopt.airbyte_batch_recommendations(at timestamptz DEFAULT now())
RETURNS TABLE (connector_id bigint, current_batch_size integer, recommended_batch_size integer,
               current_parallelism integer, recommended_parallelism integer,
               expected_rows_per_s double precision, expected_duration interval,
               recommended_schedule text, confidence double precision, reason text)
LANGUAGE c STABLE STRICT
ROWS 100000   -- one row per Airbyte connector: see planner_candidates() (78_planner.sql)
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_airbyte_batch_recommendations';
COMMENT ON FUNCTION syncopt.airbyte_batch_recommendations(timestamptz) IS
    'batch_recommendations() of the Airbyte connectors only (batch size and parallelism), without the Fivetran connectors'' start times and so without scoring the fleet.';

CREATE FUNCTION syncopt.anomalies(since timestamptz DEFAULT now() - interval '1 day')
RETURNS TABLE (run_id bigint, connector_id bigint, metric text, observed double precision,
               expected double precision, score double precision, direction text, reason text)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_anomalies';
COMMENT ON FUNCTION syncopt.anomalies(timestamptz) IS
    'Runs since `since` whose duration, rows, credits or freshness lag is far (robust z-score) from the connector''s trailing history.';
-- The same, for the connectors named only (a planning run's snapshot
-- judges again only those whose runs changed: take_anomaly_snapshot()).
CREATE FUNCTION syncopt.anomalies_of(since timestamptz, connector_ids bigint[])
RETURNS TABLE (run_id bigint, connector_id bigint, metric text, observed double precision,
               expected double precision, score double precision, direction text, reason text)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_anomalies';
COMMENT ON FUNCTION syncopt.anomalies_of(timestamptz, bigint[]) IS
    'anomalies(since) of the connectors in connector_ids only.';

CREATE FUNCTION syncopt.classify_failure(message text, code text DEFAULT NULL, vendor text DEFAULT NULL)
RETURNS TABLE (category text, retryable boolean, remediation text, explanation text,
               source text, source_id bigint, confidence double precision)
LANGUAGE c STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_classify_failure';
COMMENT ON FUNCTION syncopt.classify_failure(text, text, text) IS
    'Category, retry safety and remediation of a failure, and what decided: a vendor-native code, your failure_pattern rules, the nearest labelled failure_example, the built-in rules.';

CREATE FUNCTION syncopt.classify_runs(since timestamptz DEFAULT now() - interval '1 day')
RETURNS TABLE (run_id bigint, connector_id bigint, finished_at timestamptz, category text,
               retryable boolean, remediation text, explanation text,
               source text, source_id bigint, confidence double precision)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_classify_runs';
COMMENT ON FUNCTION syncopt.classify_runs(timestamptz) IS
    'classify_failure() applied to every failed run that finished since `since`.';

CREATE FUNCTION syncopt.schema_drift()
RETURNS TABLE (connector_id bigint, schema_name text, table_name text, column_name text,
               change text, expected_type text, observed_type text, breaking boolean,
               affected_assets text[], suggested_fix text, reason text)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_schema_drift';
COMMENT ON FUNCTION syncopt.schema_drift() IS
    'Each connector''s latest schema snapshot against its data contract: added, removed and retyped columns and tables.';

CREATE FUNCTION syncopt.simulate(policy text, horizon interval DEFAULT '7 days', seed integer DEFAULT 1,
                                 start_at timestamptz DEFAULT now(),
                                 auto_suspend interval DEFAULT '5 minutes',
                                 noise double precision DEFAULT 1)
RETURNS TABLE (policy text, seed integer, deadlines integer, sla_misses integer,
               weighted_misses double precision, weighted_tardiness_h double precision,
               p95_lateness interval, syncs integer, failed_syncs integer, wasted_syncs integer,
               load_window_syncs integer, credits double precision,
               lb_sla_misses integer, lb_weighted_misses double precision,
               lb_weighted_tardiness_h double precision, lb_syncs integer,
               slot_bound_sla_misses integer, slot_bound_weighted_misses double precision, reason text)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_simulate';
COMMENT ON FUNCTION syncopt.simulate(text, interval, integer, timestamptz, interval, double precision) IS
    'What-if replay of the fleet over a horizon under a policy (static, fifo, edf, syncopt) with the same random numbers for every policy, and a lower bound.';

CREATE FUNCTION syncopt.simulate_world(horizon interval DEFAULT '7 days', seed integer DEFAULT 1,
                                       start_at timestamptz DEFAULT now(),
                                       noise double precision DEFAULT 1)
RETURNS jsonb
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_simulate_world';
COMMENT ON FUNCTION syncopt.simulate_world(interval, integer, timestamptz, double precision) IS
    'The world simulate() replays with the same arguments (deadlines and what each needs, each day''s sync durations, failure odds, outages, forbidding windows, vendor schedules), for checking schedules outside the server.';

CREATE FUNCTION syncopt.simulate_trace(horizon interval DEFAULT '7 days', seed integer DEFAULT 1,
                                       start_at timestamptz DEFAULT now(),
                                       noise double precision DEFAULT 1)
RETURNS TABLE (kind text, at timestamptz, connector_id bigint, action text, flag boolean,
               starts_at timestamptz, ends_at timestamptz)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_simulate_trace';
COMMENT ON FUNCTION syncopt.simulate_trace(interval, integer, timestamptz, double precision) IS
    'The syncopt replay of simulate() step by step: each planning run''s planned syncs (kind decision: action, flag = triggered, planned start and end) and each sync that ran (kind sync: action succeeded or failed, flag = it met a deadline).';

CREATE FUNCTION syncopt.backtest(from_at timestamptz, to_at timestamptz)
RETURNS TABLE (asset_id bigint, deadline timestamptz, weight double precision,
               actual_met boolean, actual_late interval, replay_met boolean, replay_late interval,
               actual_credits double precision, replay_credits double precision,
               proposed jsonb, reason text)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_backtest';
COMMENT ON FUNCTION syncopt.backtest(timestamptz, timestamptz) IS
    'The recorded syncs of a period against today''s assets, deadlines and windows: per deadline what happened and what the planner would have done with the same durations and failures (its triggers in proposed), and a total row (asset_id NULL) with credits.';
