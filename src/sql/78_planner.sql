-- Planning runs' tables (each run, its plan, SLA forecast and anomaly
-- snapshot, plan_and_forecast() that fills the two) and what a run proposes
-- before any policy: the candidates the analytics suggest
-- (planner_candidates(), with its helpers vendor_next_start() and
-- retry_opening()), and the failures not yet alerted on
-- (classify_unalerted_runs()).  The run that turns them into decisions and
-- alerts: 78_planner_run.sql.

CREATE TABLE syncopt.planner_run (
    planner_run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,            -- the instant planned for
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at    timestamptz,
    run_by         name NOT NULL DEFAULT session_user,
    candidates     integer NOT NULL DEFAULT 0,      -- actions the analytics suggested
    written        integer NOT NULL DEFAULT 0,      -- decisions written (all modes)
    auto_approved  integer NOT NULL DEFAULT 0,
    refused        integer NOT NULL DEFAULT 0,      -- auto mode held back by a guardrail
    unchanged      integer NOT NULL DEFAULT 0,      -- same as an open or recent decision
    not_allowed    integer NOT NULL DEFAULT 0,      -- outside the policy (allowed_actions, protect, bounds)
    superseded     integer NOT NULL DEFAULT 0,
    alerts         integer NOT NULL DEFAULT 0,
    not_reached    integer NOT NULL DEFAULT 0,      -- candidates left when syncopt.planner_time_limit passed
    -- Why the run planned twice: its first attempt's error, when a
    -- connector or asset it read was deleted before it wrote (NULL: once).
    -- Last, as 0.2.0 added it.
    retry_reason   text
);
COMMENT ON TABLE syncopt.planner_run IS
    'One row per completed planning run with what it did (not_reached: candidates left when the time limit passed; retry_reason: why it planned twice, a connector or asset deleted while its first attempt ran); a run that fails rolls back and leaves no row (pg_cron''s cron.job_run_details keeps its error).';
CREATE INDEX planner_run_started_idx ON syncopt.planner_run (started_at);

-- The latest planning run's plan and SLA forecast, kept so that dashboards
-- (plan_timeline, sla_status) read rows instead of re-planning the fleet.
-- These two tables and anomaly_snapshot hold one planning run's rows,
-- written only by a planning run (run_planner_pass()) after it inserted that run: no
-- foreign key to planner_run, whose check was one lookup per row (13,700
-- rows per run at 10,000 connectors, 2-3% of a later run; 66,500 at
-- 50,000).  Deleting a planning run still deletes its rows
-- (planner_run_forget(), below).
CREATE TABLE syncopt.planned_sync (
    planner_run_id bigint NOT NULL,
    connector_id   bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    planned_start  timestamptz,
    predicted_end  timestamptz,
    deadline       timestamptz,
    slack          interval,
    will_miss      boolean NOT NULL,
    action         text NOT NULL,
    priority       integer,
    reason         text NOT NULL,
    PRIMARY KEY (planner_run_id, connector_id)
);
COMMENT ON TABLE syncopt.planned_sync IS
    'plan() as the latest planning run computed it; replaced by each run.';
CREATE TABLE syncopt.sla_forecast (
    planner_run_id      bigint NOT NULL,
    asset_id            bigint NOT NULL REFERENCES syncopt.asset ON DELETE CASCADE,
    deadline            timestamptz,
    predicted_ready     timestamptz,
    at_risk             boolean NOT NULL,
    risk                text NOT NULL,
    blocking_connectors bigint[] NOT NULL,
    reason              text NOT NULL,
    -- What the deadline's SLA alert lists: at most 20 of the blocking
    -- connectors (the first of blocking_connectors, which the notify
    -- proposal names, then the others that land latest, latest first), and
    -- how many block it in all.  An alert goes to webhooks whole, and
    -- blocking_connectors can hold every connector of the fleet; only the
    -- plan knows when each lands (plan_and_forecast() fills both).
    alert_blocking      bigint[] NOT NULL,
    blocking_count      integer NOT NULL,
    PRIMARY KEY (planner_run_id, asset_id)
);
COMMENT ON TABLE syncopt.sla_forecast IS
    'sla_risk() as the latest planning run computed it, with what its SLA alert lists of the blocking connectors (alert_blocking, at most 20, latest landing first after the first) and their number (blocking_count); replaced by each run.';
CREATE TABLE syncopt.anomaly_snapshot (
    planner_run_id bigint NOT NULL,
    run_id         bigint NOT NULL,     -- a sync_run; its delete removes the row (sync_run_release_keys)
    connector_id   bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    metric         text NOT NULL,
    observed       double precision,
    expected       double precision,
    score          double precision,
    direction      text,
    reason         text NOT NULL,
    PRIMARY KEY (planner_run_id, run_id, metric)
);
COMMENT ON TABLE syncopt.anomaly_snapshot IS
    'anomalies() of the 24 hours before the latest planning run; replaced by each run.';

-- What the latest anomaly snapshot was judged on, so that the next
-- planning run judges again only the connectors whose answer may have
-- moved (take_anomaly_snapshot(), 78_planner_run.sql): the snapshot's run,
-- its `since`, the earliest start it read, the settings anomalies() read,
-- a database snapshot taken before it read the runs and the transaction
-- that took it (at most one row; none when the next run must judge every
-- connector).  A snapshot counts its own transaction's writes as seen,
-- also those made after it was taken: a connector that transaction wrote
-- is judged again.  Not dumped: a restored database judges every
-- connector again.
CREATE TABLE syncopt.anomaly_basis (
    planner_run_id bigint PRIMARY KEY,
    since          timestamptz NOT NULL,
    -- The earliest start it read: `since` minus the training window.  A
    -- week of history dropped before it leaves the basis standing.
    reads_from     timestamptz NOT NULL,
    settings       text NOT NULL,
    seen           pg_snapshot NOT NULL,
    taken_by       xid8 NOT NULL
);
COMMENT ON TABLE syncopt.anomaly_basis IS
    'The latest anomaly snapshot''s planning run, `since`, the earliest run start it read, anomaly settings, the database snapshot its runs were read after and the transaction that took it (at most one row), which the next run''s snapshot starts from.';

-- What the foreign keys' ON DELETE CASCADE did: a deleted (or truncated)
-- planning run takes its plan, forecast and anomaly snapshot with it, one
-- statement per table for all the runs a statement deleted, and the
-- snapshot's basis (the next run judges every connector).
CREATE FUNCTION syncopt.planner_run_forget() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM syncopt.planned_sync;
        DELETE FROM syncopt.sla_forecast;
        DELETE FROM syncopt.anomaly_snapshot;
        DELETE FROM syncopt.anomaly_basis;
    ELSE
        DELETE FROM syncopt.planned_sync p USING gone g WHERE p.planner_run_id = g.planner_run_id;
        DELETE FROM syncopt.sla_forecast f USING gone g WHERE f.planner_run_id = g.planner_run_id;
        DELETE FROM syncopt.anomaly_snapshot a USING gone g WHERE a.planner_run_id = g.planner_run_id;
        DELETE FROM syncopt.anomaly_basis b USING gone g WHERE b.planner_run_id = g.planner_run_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION syncopt.planner_run_forget() IS
    'Trigger: deletes the plan, SLA forecast, anomaly snapshot and snapshot basis rows of the planning runs deleted or truncated.';
CREATE TRIGGER planner_run_forget AFTER DELETE ON syncopt.planner_run
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION syncopt.planner_run_forget();
CREATE TRIGGER planner_run_forget_all AFTER TRUNCATE ON syncopt.planner_run
    FOR EACH STATEMENT EXECUTE FUNCTION syncopt.planner_run_forget();

-- The planned_sync and sla_forecast rows of planning run planner_run_id:
-- plan(at, '24 hours') and sla_risk(at) from one load of the fleet (each
-- row fills one of the two columns).  run_planner() writes them, and the
-- rest of the run reads those rows instead of planning again.
CREATE FUNCTION syncopt.plan_and_forecast(planner_run_id bigint, at timestamptz)
RETURNS TABLE (planned syncopt.planned_sync, forecast syncopt.sla_forecast)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_plan_and_forecast';
COMMENT ON FUNCTION syncopt.plan_and_forecast(bigint, timestamptz) IS
    'A planning run''s planned_sync rows (plan(at, ''24 hours'')) and sla_forecast rows (sla_risk(at)), computed from one load of the fleet.';
-- The planner raises one alert per failed run and per SLA deadline.
CREATE INDEX alert_failure_run_idx ON syncopt.alert (((details->>'run_id')::bigint)) WHERE kind = 'sync_failure';
CREATE INDEX alert_sla_asset_idx ON syncopt.alert (asset_id) WHERE kind = 'sla_risk';

-- When the vendor's own schedule will next start the connector, from its
-- last start; infinity when it never will on its own (paused, manual, or a
-- cron schedule syncopt does not model: only daily Quartz "0 M H * * ?",
-- in the zone Airbyte appends to it, or UTC when none).
CREATE FUNCTION syncopt.vendor_next_start(conn syncopt.connector, last_start timestamptz, at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN conn.paused OR conn.schedule_type = 'manual' THEN 'infinity'::timestamptz
        -- a zone PostgreSQL does not know (schedule_timezone NULL) is not
        -- modelled; the expression is parsed only for a cron schedule (a
        -- planning run asks for thousands of connectors, most without one)
        WHEN conn.schedule_type = 'cron' THEN coalesce(
            (SELECT syncopt.next_local_time(make_time((m[2])::integer, (m[1])::integer, 0), '*',
                                            CASE WHEN cron.zone IS NULL OR cron.zone = 'UTC' THEN 'UTC'
                                                 WHEN cron.zone = conn.schedule_timezone THEN cron.zone END, at)
               FROM syncopt.airbyte_cron_parts(coalesce(conn.cron_expression, '')) AS cron,
                    LATERAL (SELECT regexp_match(cron.quartz, '^0 ([0-5]?[0-9]) ([01]?[0-9]|2[0-3]) \* \* \?$') AS m) q),
            'infinity'::timestamptz)
        WHEN conn.schedule_minutes = 1440 AND conn.daily_sync_time IS NOT NULL
            THEN syncopt.next_local_time(conn.daily_sync_time, '*', 'UTC', at)
        WHEN conn.schedule_minutes IS NULL THEN 'infinity'::timestamptz
        ELSE greatest(at, coalesce(last_start, at) + make_interval(mins => conn.schedule_minutes))
    END
$$;
COMMENT ON FUNCTION syncopt.vendor_next_start(syncopt.connector, timestamptz, timestamptz) IS
    'Next start the vendor''s schedule will make on its own (infinity: never, or a schedule syncopt does not model).';

-- The earliest time the planner retries a connector with failures_in_row
-- failures in a row, the last ending at last_failure_at (issue 30): a
-- configuration fault can be worded exactly as a passing network fault,
-- so retries are spaced: one failure is retried at once, two or more in a
-- row not before syncopt.retry_backoff after the last, doubled for each
-- further one, at most syncopt.retry_backoff_max.  The
-- same C function decides the triggers of simulate()'s replay
-- (plan_triggers()).  '-infinity' when nothing holds a retry back.
CREATE FUNCTION syncopt.retry_opening(failures_in_row integer, last_failure_at timestamptz)
RETURNS timestamptz
LANGUAGE c STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_retry_opening';
COMMENT ON FUNCTION syncopt.retry_opening(integer, timestamptz) IS
    'The earliest time the planner retries a connector after failures_in_row failures in a row, the last ending at last_failure_at: at once after one; from two on, syncopt.retry_backoff after the last, doubled for each further one, at most syncopt.retry_backoff_max (-infinity: no wait).';

-- classify_runs() of the failed runs no sync_failure alert names yet: a
-- planning run alerts each failure of the last two days once, and
-- classifying again those it already alerted, only to drop them, was most
-- of what its failure alerts cost on a fleet whose messages differ.
CREATE FUNCTION syncopt.classify_unalerted_runs(since timestamptz)
RETURNS TABLE (run_id bigint, connector_id bigint, finished_at timestamptz, category text,
               retryable boolean, remediation text, explanation text,
               source text, source_id bigint, confidence double precision)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_classify_unalerted_runs';
COMMENT ON FUNCTION syncopt.classify_unalerted_runs(timestamptz) IS
    'classify_runs(since) without the runs a sync_failure alert already names (run_planner()''s failure alerts).';

-- What the analytics suggest doing at `at`, before policy: one row per
-- connector and action with params, score, components, the predicted
-- benefit where it is a time, and the reason.  run_planner() filters these
-- through policies and guardrails; readers can run it to see why.  With
-- from_run, the plan and the SLA forecast are that planning run's rows
-- (planned_sync, sla_forecast, which hold the latest run's) instead of
-- plan(at, '24 hours') and sla_risk(at) computed again: run_planner() passes
-- its own run, so that one run plans the fleet once.
-- The analytics it joins (priority_scores, predict_duration,
-- airbyte_batch_recommendations) return one row per connector and are declared
-- ROWS 100000 (72_analytics.sql): with PostgreSQL's default estimate of
-- 1,000 rows for a function the planner joined them to the connectors
-- and scores by nested loops, rescanning a fleet-sized CTE per row (the
-- batch and schedule-move branches): quadratic; a later planning run at
-- 50,000 connectors took 46 s of CPU with the default estimate and 18 s
-- with this one.  A large estimate makes those joins hashes or merges at
-- every fleet size.
CREATE FUNCTION syncopt.planner_candidates(at timestamptz DEFAULT now(), from_run bigint DEFAULT NULL)
RETURNS TABLE (connector_id bigint, action text, params jsonb, priority_score double precision,
               score_components jsonb, benefit interval, act_by timestamptz, reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off   -- as run_planner_pass() (78_planner_run.sql)
AS $$
-- Only one branch of each runs: the other's condition is false before it starts.
WITH planned AS (
    SELECT ps.connector_id, ps.planned_start, ps.predicted_end, ps.action, ps.reason
      FROM syncopt.planned_sync ps WHERE ps.planner_run_id = planner_candidates.from_run
    UNION ALL
    SELECT p.connector_id, p.planned_start, p.predicted_end, p.action, p.reason
      FROM syncopt.plan(at, interval '24 hours') p WHERE planner_candidates.from_run IS NULL
), forecast AS (
    SELECT f.asset_id, f.deadline, f.at_risk, f.risk, f.blocking_connectors, f.reason
      FROM syncopt.sla_forecast f WHERE f.planner_run_id = planner_candidates.from_run
    UNION ALL
    SELECT r.asset_id, r.deadline, r.at_risk, r.risk, r.blocking_connectors, r.reason
      FROM syncopt.sla_risk(at) r WHERE planner_candidates.from_run IS NULL
), knobs AS (
    SELECT current_setting('syncopt.planner_interval')::interval AS tick,
           current_setting('syncopt.planner_min_benefit')::interval AS min_gain,
           current_setting('syncopt.pause_after_failures')::integer AS pause_after
), s AS (
    SELECT s.*, jsonb_build_object(
               'urgency', s.urgency, 'downstream_weight', s.downstream_weight,
               'downstream_assets', s.downstream_assets, 'calendar_multiplier', s.calendar_multiplier,
               'staleness', s.staleness, 'load_penalty', s.load_penalty, 'cost_penalty', s.cost_penalty,
               'failure_risk', s.failure_risk, 'p90', s.p90, 'deadline', s.deadline,
               'latest_start', s.latest_start, 'slack', s.slack) AS components
      FROM syncopt.priority_scores(at) s
), c AS (
    -- failures_in_row: the streak as the fleet loader counts it (fleet.c),
    -- over once a success is known after its last failure.
    SELECT c, c.connector_id, a.vendor, st.last_run_at, st.consecutive_failures, st.last_failure_at,
           CASE WHEN st.last_failure_at < greatest(st.last_success_at, c.last_success_at) THEN 0
                ELSE coalesce(st.consecutive_failures, 0) END AS failures_in_row
      FROM syncopt.connector c
      JOIN syncopt.account a USING (account_id)
      LEFT JOIN syncopt.connector_stats st USING (connector_id)
     WHERE c.deleted_at IS NULL
),
-- Start now what must start before the next run to meet its deadline and
-- that the vendor's schedule would start too late.  The plan's and the
-- scores' tests first, materialized, so that the history probes below are
-- made only for the connectors that pass them (not for every connector the
-- plan starts: at 10,000 connectors, all late, about 1,400 instead of
-- 10,000).  Retries are spaced after failures in a row (retry_opening(),
-- as plan_triggers() in simulate()'s replay): a configuration fault worded
-- as a passing one is retried a few times a day, not at every run; the
-- vendor's schedule still runs and a success ends the streak.
due_now AS MATERIALIZED (
    SELECT s.connector_id, s.score, s.components, s.latest_start, s.deadline, s.p90, s.reason AS score_reason,
           p.planned_start, p.predicted_end, p.reason AS plan_reason, c.vendor, v.next_start
      FROM planned p
      JOIN s USING (connector_id)
      JOIN c USING (connector_id)
      CROSS JOIN knobs k
      CROSS JOIN LATERAL (SELECT syncopt.vendor_next_start(c.c, c.last_run_at, at) AS next_start) v
     WHERE p.action IN ('start_now', 'start_later')
       AND p.planned_start < at + k.tick
       AND s.latest_start IS NOT NULL AND s.deadline IS NOT NULL
       AND v.next_start > s.latest_start + k.min_gain
       AND at >= syncopt.retry_opening(c.failures_in_row, c.last_failure_at)
),
trigger_now AS (
    SELECT d.connector_id, 'trigger_sync'::text AS action, '{"force": false}'::jsonb AS params, d.score,
           d.components || jsonb_build_object('planned_start', d.planned_start, 'predicted_end', d.predicted_end,
                                              'vendor_next_start', d.next_start),
           least(d.next_start, at + interval '2 days') - d.latest_start AS benefit,
           d.latest_start AS act_by,
           format('Start now: %s, and the vendor schedule would %s. Plan: %s. Score: %s',
                  format(CASE WHEN d.latest_start < at
                              THEN 'it is already late for %2$s (it had to start by %1$s), so every minute counts'
                              ELSE 'it must start by %1$s to be done for %2$s' END,
                         to_char(d.latest_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
                         to_char(d.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
                  CASE WHEN d.next_start = 'infinity' THEN 'not start it at all (manual, paused or unmodelled schedule)'
                       ELSE 'start it only at ' || to_char(d.next_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') END,
                  d.plan_reason, d.score_reason)
      FROM due_now d
     -- Starting a connector whose latest run failed is a retry: only
     -- when classify_failure() says a retry is safe (never for unknown,
     -- credentials, permission, configuration or data errors, nor below
     -- its confidence threshold), and once its back-off has run out
     -- (due_now); the vendor's schedule still runs.  The latest run is
     -- found in the history's (connector_id, started_at) index alone (it
     -- carries run_id, finished_at and status), and only a failed one is
     -- read from the heap for its message: reading every run of the
     -- connector from the heap grew with the history (about 1.6 ms a
     -- connector with 340 runs each, 2.3 s of a planning run at 10,000).
     -- A run that ended by `at` started by then; stated, that bound lets
     -- the weeks after `at` be pruned (1,400 such probes took 42 ms
     -- instead of 57-64 ms with seven such weeks).
     WHERE NOT EXISTS (SELECT FROM (SELECT x.run_id, x.started_at, x.status FROM syncopt.sync_run x
                                     WHERE x.connector_id = d.connector_id AND x.finished_at <= at
                                       AND x.started_at <= at
                                     ORDER BY x.finished_at DESC, x.run_id DESC LIMIT 1) latest
                        JOIN syncopt.sync_run r ON r.connector_id = d.connector_id
                                               AND r.started_at = latest.started_at AND r.run_id = latest.run_id
                        CROSS JOIN LATERAL syncopt.classify_failure(r.error_message, r.error_code, d.vendor) f
                        WHERE latest.status = 'failed' AND NOT f.retryable)
       -- A trigger that went out within one P90 is probably still running,
       -- unless a sync has ended since it went out (the one it started
       -- failed, or one already running finished) and none started since
       -- is running: then the next planning run triggers it again.
       AND NOT EXISTS (SELECT FROM syncopt.fivetran_sync_ai_logs l
                        WHERE l.connector_id = d.connector_id AND l.action = 'trigger_sync'
                          AND l.status IN ('approved', 'executing', 'succeeded', 'unknown')
                          AND coalesce(l.finished_at, at) > at - d.p90
                          AND (NOT EXISTS (SELECT FROM syncopt.sync_run r
                                            WHERE r.connector_id = l.connector_id
                                              AND r.finished_at > l.started_at
                                              AND r.finished_at <= at)
                               OR EXISTS (SELECT FROM syncopt.sync_run r
                                           WHERE r.connector_id = l.connector_id AND r.status = 'running'
                                             AND r.started_at > l.started_at AND r.started_at <= at)))
),
-- Move a daily sync out of a priced warehouse window when the deadline it
-- feeds still holds at the new time (SLA over cost).
move_daily AS (
    SELECT c.connector_id, 'set_schedule'::text,
           CASE c.vendor
               WHEN 'fivetran' THEN jsonb_build_object('sync_frequency', 1440, 'daily_sync_time', to_char(nt.t AT TIME ZONE 'UTC', 'HH24:00'))
               ELSE jsonb_build_object('schedule_type', 'cron',
                                       'cron_expression', format('0 0 %s * * ?', extract(hour FROM nt.t AT TIME ZONE 'UTC')))
           END,
           s.score,
           s.components || jsonb_build_object('current_start', v.next_start, 'window', w.name,
                                              'price_multiplier', w.price_multiplier, 'new_start', nt.t),
           sv.saving,
           v.next_start,
           format('Move the daily sync from %s to %s: it now runs inside %s (warehouse price x%s until %s); at the new time %s. Predicted saving: %s min of priced warehouse time.',
                  to_char(v.next_start AT TIME ZONE 'UTC', 'HH24:MI "UTC"'), to_char(nt.t AT TIME ZONE 'UTC', 'HH24:MI "UTC"'),
                  coalesce(w.name, 'a price window'), w.price_multiplier, to_char(w.ends AT TIME ZONE 'UTC', 'HH24:MI "UTC"'),
                  CASE WHEN s.deadline IS NULL THEN 'it feeds no deadline'
                       ELSE format('it is still done by %s for the deadline %s',
                                   to_char((nt.t + s.p90) AT TIME ZONE 'UTC', 'HH24:MI "UTC"'),
                                   to_char(s.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')) END,
                  round(extract(epoch FROM sv.saving) / 60))
      FROM c
      JOIN s USING (connector_id)
      JOIN syncopt.predict_duration(at) pd USING (connector_id)
      CROSS JOIN knobs k
      CROSS JOIN LATERAL (SELECT syncopt.vendor_next_start(c.c, c.last_run_at, at) AS next_start) v
      CROSS JOIN LATERAL (
          SELECT lw.name, lw.price_multiplier, o.ends
            FROM syncopt.load_window lw,
                 LATERAL syncopt.window_occurrences(lw.start_time, lw.end_time, lw.dow, lw.timezone,
                                                    v.next_start, v.next_start + interval '1 second') o
           WHERE lw.target = 'warehouse' AND lw.price_multiplier > 1
           ORDER BY lw.price_multiplier DESC, o.ends DESC LIMIT 1) w
      CROSS JOIN LATERAL (SELECT date_trunc('hour', w.ends + interval '59 minutes 59 seconds') AS t) nt
      -- Priced time saved: the run's minutes inside the window, times the surcharge.
      CROSS JOIN LATERAL (SELECT (least(v.next_start + pd.p50, w.ends) - v.next_start) * (w.price_multiplier - 1) AS saving) sv
     WHERE v.next_start < 'infinity'
       AND ((c.c).schedule_minutes = 1440 OR (c.c).schedule_type = 'cron')
       AND (s.deadline IS NULL OR nt.t + s.p90 <= s.deadline)
       AND sv.saving >= k.min_gain
       AND NOT EXISTS (SELECT FROM syncopt.load_window lw2,
                            LATERAL syncopt.window_occurrences(lw2.start_time, lw2.end_time, lw2.dow, lw2.timezone,
                                                               nt.t, nt.t + interval '1 second') o2
                        WHERE lw2.target = 'warehouse' AND lw2.price_multiplier > 1)
       -- Implied by the tests above; not correlated, so it is checked once
       -- before the branch runs: without a daily sync or a priced warehouse
       -- window, the fleet's durations are not predicted for nothing.
       AND EXISTS (SELECT FROM c c2 WHERE (c2.c).schedule_minutes = 1440 OR (c2.c).schedule_type = 'cron')
       AND EXISTS (SELECT FROM syncopt.load_window lw3 WHERE lw3.target = 'warehouse' AND lw3.price_multiplier > 1)
),
-- Pause a connector whose failures need a human: syncing again only fails.
pause_broken AS (
    SELECT c.connector_id, 'pause'::text, '{}'::jsonb, s.score,
           coalesce(s.components, '{}') || jsonb_build_object('consecutive_failures', c.consecutive_failures,
                                                              'category', f.category, 'retryable', f.retryable),
           NULL::interval, NULL::timestamptz,
           format('Pause: the last %s syncs failed, the latest with %s (%s), which a retry cannot fix. %s Resume it once fixed (syncopt proposes that when the vendor reports the setup connected).',
                  c.consecutive_failures, f.category, f.explanation, f.remediation)
      FROM c
      CROSS JOIN knobs k
      LEFT JOIN s USING (connector_id)
      CROSS JOIN LATERAL (SELECT r.error_message, r.error_code FROM syncopt.sync_run r
                           WHERE r.connector_id = c.connector_id AND r.status = 'failed'
                           ORDER BY r.started_at DESC LIMIT 1) last_failure
      CROSS JOIN LATERAL syncopt.classify_failure(last_failure.error_message, last_failure.error_code, c.vendor) f
     WHERE NOT (c.c).paused AND c.consecutive_failures >= k.pause_after AND NOT f.retryable
),
-- Resume a connector syncopt paused once the vendor reports it fixed.
resume_fixed AS (
    SELECT c.connector_id, 'resume'::text, '{}'::jsonb, s.score, s.components, NULL::interval, NULL::timestamptz,
           format('Resume: syncopt paused it with decision %s at %s; %s now reports its setup as connected (details read %s), so the cause looks fixed.',
                  lp.decision_id, to_char(lp.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
                  initcap(c.vendor), to_char((c.c).details_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
      FROM c
      LEFT JOIN s USING (connector_id)
      CROSS JOIN LATERAL (SELECT l.decision_id, l.action, l.planner_run_id, l.finished_at
                            FROM syncopt.fivetran_sync_ai_logs l
                           WHERE l.connector_id = c.connector_id AND l.action IN ('pause', 'resume')
                             AND l.status = 'succeeded'
                           ORDER BY l.finished_at DESC LIMIT 1) lp
     WHERE (c.c).paused AND lp.action = 'pause' AND lp.planner_run_id IS NOT NULL
       AND (c.c).setup_state = 'connected' AND (c.c).details_at > lp.finished_at
),
-- Re-sync the tables whose columns changed type (Fivetran).
resync_retyped AS (
    SELECT t.connector_id, 'resync_tables'::text,
           jsonb_build_object('tables', jsonb_object_agg(t.schema_name, t.tables)),
           s.score, s.components, NULL::interval, NULL::timestamptz,
           format('Re-sync %s: columns changed type against the data contract (%s), and a table re-sync reloads them with the new types%s.',
                  string_agg(t.names, ', '), string_agg(t.columns, '; '),
                  CASE WHEN bool_or(t.assets IS NOT NULL) THEN ' before ' || string_agg(t.assets, ', ') || ' read them' ELSE '' END)
      FROM (SELECT d.connector_id, d.schema_name,
                   jsonb_agg(DISTINCT d.table_name) AS tables,
                   string_agg(DISTINCT d.schema_name || '.' || d.table_name, ', ') AS names,
                   string_agg(format('%s.%s %s -> %s', d.table_name, d.column_name, d.expected_type, d.observed_type), ', ') AS columns,
                   nullif(array_to_string(array(SELECT DISTINCT unnest(array_agg(x)) FROM unnest(array_agg(d.affected_assets)) x), ', '), '') AS assets
              FROM syncopt.schema_drift() d
             WHERE d.change = 'column_retyped' AND d.table_name IS NOT NULL
             GROUP BY d.connector_id, d.schema_name) t
      JOIN c USING (connector_id)
      LEFT JOIN s USING (connector_id)
     WHERE c.vendor = 'fivetran'
     GROUP BY t.connector_id, s.score, s.components
),
-- Airbyte batch size, when the recommendation is confident and differs.
batch AS (
    SELECT b.connector_id, 'set_batch_size'::text, jsonb_build_object('batch_size', b.recommended_batch_size),
           s.score,
           coalesce(s.components, '{}') || jsonb_build_object('current_batch_size', b.current_batch_size,
                                                              'confidence', b.confidence,
                                                              'expected_rows_per_s', b.expected_rows_per_s),
           NULL::interval, NULL::timestamptz,
           format('Set the batch size to %s (now %s): %s', b.recommended_batch_size,
                  coalesce(b.current_batch_size::text, 'unknown'), b.reason)
      -- Airbyte's rows only: the Fivetran connectors' start times would
      -- score the fleet again for nothing (12% of a later planning run at
      -- 10,000 connectors went to batch_recommendations(), half of it that).
      FROM syncopt.airbyte_batch_recommendations(at) b
      JOIN c USING (connector_id)
      LEFT JOIN s USING (connector_id)
     WHERE c.vendor = 'airbyte' AND b.recommended_batch_size IS NOT NULL AND b.confidence >= 0.5
       AND (c.c).raw ? 'sourceId'
       AND (b.current_batch_size IS NULL
            OR abs(b.recommended_batch_size - b.current_batch_size) >= 0.1 * b.current_batch_size)
       -- Implied by the tests above and checked once before the branch
       -- runs: with no Airbyte connector that can take the proposal (one
       -- the collector has read the connection of), no recommendation is
       -- computed (6.5% of a later planning run at 10,000 connectors).
       AND EXISTS (SELECT FROM c c2 WHERE c2.vendor = 'airbyte' AND (c2.c).raw ? 'sourceId')
),
-- Tell the owners when an SLA is at high risk, once per blocking connector.
notify_risk AS (
    SELECT r.connector_id, 'notify'::text,
           jsonb_build_object('severity', 'critical',
                              'message', format('SLA at high risk: %s; connector %s blocks it.',
                                                string_agg(format('%s due %s', a.name,
                                                                  to_char(r.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
                                                           ', ' ORDER BY r.deadline, a.name),
                                                min(coalesce((c.c).name, (c.c).external_id)))),
           max(s.score), NULL::jsonb, NULL::interval, NULL::timestamptz,
           string_agg(r.reason, ' ' ORDER BY r.deadline, a.name)
      -- The first blocking connector, each forecast's array read once:
      -- it holds thousands of ids on a large fleet, and reading it whole
      -- for its length and again for its first element was about a
      -- quarter of the candidates' query at 50,000 connectors.  The ids
      -- are never NULL, so an empty array is the one without a first.
      FROM (SELECT sr.asset_id, sr.deadline, sr.reason, b.connector_id
              FROM forecast sr
             CROSS JOIN LATERAL (SELECT sr.blocking_connectors[1] AS connector_id
                                  OFFSET 0) b   -- not flattened: computed once
             WHERE sr.at_risk AND sr.risk = 'high' AND b.connector_id IS NOT NULL) r
      JOIN syncopt.asset a USING (asset_id)
      JOIN c USING (connector_id)
      LEFT JOIN s USING (connector_id)
     GROUP BY r.connector_id
)
SELECT * FROM trigger_now
UNION ALL SELECT * FROM move_daily
UNION ALL SELECT * FROM pause_broken
UNION ALL SELECT * FROM resume_fixed
UNION ALL SELECT * FROM resync_retyped
UNION ALL SELECT * FROM batch
UNION ALL SELECT * FROM notify_risk
$$;
COMMENT ON FUNCTION syncopt.planner_candidates(timestamptz, bigint) IS
    'The actions the analytics suggest at `at`, before policies and guardrails, each with its score, components, benefit, the time after which it loses that benefit (act_by) and reason; from_run reads that planning run''s plan and SLA forecast instead of computing them.';
