-- The forecast scorecard (shadow and co-pilot): every SLA forecast and
-- predicted sync duration the planning runs made, what actually happened,
-- and how often they were right (docs/analytics.md, "Forecast scorecard").
-- run_planner() ends with record_forecasts(); the retention purge removes
-- these rows with the rest of the history.

-- One row per deadline instance of an asset that a planning run forecast:
-- what feeds it, and, once known, when it was ready: every connector
-- upstream through the lineage has landed a successful sync that started
-- at or after opens_at (which syncs count, as simulate() scores), and the
-- assets in between have built (their durations along the longest path,
-- as sla_risk() carries readiness down the lineage).
CREATE TABLE syncopt.sla_outcome (
    asset_id          bigint NOT NULL REFERENCES syncopt.asset ON DELETE CASCADE,
    deadline          timestamptz NOT NULL,
    -- Runs started earlier do not count: the deadline minus the asset's
    -- freshness SLA, 24 hours without one.
    opens_at          timestamptz NOT NULL,
    first_forecast_at timestamptz NOT NULL,
    -- At the first forecast: the connectors upstream through the lineage,
    -- and for each the build time of the assets on the longest path from
    -- it to this one (this one's duration included).
    connector_ids     bigint[] NOT NULL,
    build_times       interval[] NOT NULL,
    ready_at          timestamptz,      -- NULL: not (yet) known
    met               boolean,          -- ready by the deadline; NULL: not known yet
    -- A planner decision on one of its connectors was executed between the
    -- first forecast and the deadline (a sync it started: after opens_at;
    -- a notice does not count): the forecast may have changed what
    -- happened, so the scorecard leaves it out.
    intervened        boolean NOT NULL DEFAULT false,
    settled           boolean NOT NULL DEFAULT false,   -- final: no longer re-read
    PRIMARY KEY (asset_id, deadline),
    CONSTRAINT sla_outcome_one_build_time_each CHECK (cardinality(connector_ids) = cardinality(build_times))
);
COMMENT ON TABLE syncopt.sla_outcome IS
    'Each deadline instance a planning run forecast: its upstream connectors, and when it was actually ready (met or missed).';
-- The input arrays are compressed with lz4 where the server has it: on a
-- fleet where every dashboard reads nearly every connector they are 500
-- rows of 10,000 elements per day's first planning run, and pglz spent
-- about 15 s compressing them at 10,000 connectors (lz4: under 1 s;
-- docs/benchmarks.md, "Planning run at scale").  A server built without
-- lz4 keeps PostgreSQL's default, pglz.  The same for the forecast's
-- blocking connectors, written by every planning run, and for the alerts'
-- details (an SLA alert lists the blocking connectors too).
DO $$
BEGIN
    ALTER TABLE syncopt.sla_outcome ALTER COLUMN connector_ids SET COMPRESSION lz4,
                                    ALTER COLUMN build_times SET COMPRESSION lz4;
    ALTER TABLE syncopt.sla_forecast ALTER COLUMN blocking_connectors SET COMPRESSION lz4;
    ALTER TABLE syncopt.alert ALTER COLUMN details SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
-- Serves the retention purge and the scorecard's window.
CREATE INDEX sla_outcome_deadline_idx ON syncopt.sla_outcome (deadline);
-- The resolver's work list.
CREATE INDEX sla_outcome_unsettled_idx ON syncopt.sla_outcome (deadline) WHERE NOT settled;

-- Every SLA forecast of every planning run (lead time = deadline - planned_at).
CREATE TABLE syncopt.sla_forecast_log (
    asset_id        bigint NOT NULL,
    deadline        timestamptz NOT NULL,
    planner_run_id  bigint NOT NULL,
    planned_at      timestamptz NOT NULL,
    at_risk         boolean NOT NULL,
    risk            text NOT NULL CONSTRAINT sla_forecast_log_risk_known CHECK (risk IN ('low', 'medium', 'high')),
    predicted_ready timestamptz,        -- NULL: never (a paused input)
    PRIMARY KEY (asset_id, deadline, planner_run_id),
    FOREIGN KEY (asset_id, deadline) REFERENCES syncopt.sla_outcome ON DELETE CASCADE
);
COMMENT ON TABLE syncopt.sla_forecast_log IS
    'Each planning run''s sla_risk() forecast of each deadline instance, kept for the forecast scorecard.';
-- Serves the retention purge and the scorecard's window.
CREATE INDEX sla_forecast_log_deadline_idx ON syncopt.sla_forecast_log (deadline);

-- The P50 and P90 the planner used for each connector it planned, one row
-- per value as long as it stands (consecutive runs predicting the same
-- extend last_at), and the run it predicted: the first run that started
-- while it stood.  Predictions no run followed are dropped after a day.
CREATE TABLE syncopt.duration_forecast (
    connector_id   bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    first_at       timestamptz NOT NULL,    -- `at` of the first planning run that predicted it
    last_at        timestamptz NOT NULL,    -- `at` of the latest that still did
    planner_run_id bigint NOT NULL,         -- the first of those runs
    p50            interval NOT NULL,
    p90            interval NOT NULL,
    -- No foreign key: sync_run is kept by time, this row by its own purge.
    run_id         bigint,
    run_started_at timestamptz,
    outcome        text CONSTRAINT duration_forecast_outcome_known
                   CHECK (outcome IN ('succeeded', 'failed', 'cancelled', 'rescheduled')),
    actual         interval,                -- when it succeeded and its start is known
    within_p90     boolean,
    PRIMARY KEY (connector_id, first_at),
    CONSTRAINT duration_forecast_run_started CHECK ((run_id IS NULL) = (run_started_at IS NULL))
);
COMMENT ON TABLE syncopt.duration_forecast IS
    'P50/P90 durations the planning runs predicted, each with the run it predicted and whether that run finished within the P90.';
-- Serves the retention purge and the scorecard's window.
CREATE INDEX duration_forecast_run_started_idx ON syncopt.duration_forecast (run_started_at);
-- The resolver's work list: predictions without a run, runs not finished.
CREATE INDEX duration_forecast_open_idx ON syncopt.duration_forecast (connector_id) WHERE outcome IS NULL;

-- The connectors whose data reaches an asset through the lineage, each
-- with the longest build time between it and the asset: the sum of the
-- durations of the assets on the path, the asset's own included (how
-- sla_risk() carries readiness down the lineage).
CREATE FUNCTION syncopt.asset_inputs_of(asset_ids bigint[])
RETURNS TABLE (asset_id bigint, connector_ids bigint[], build_times interval[])
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_asset_inputs_of';
COMMENT ON FUNCTION syncopt.asset_inputs_of(bigint[]) IS
    'For each asset given that has upstream connectors: their ids (ascending) and the longest build time (asset durations) from each to the asset, one pass over the lineage per asset.';

-- When each unsettled SLA outcome's asset was ready from the runs known at
-- `at`: every input (connector_ids) landed with its first successful sync
-- started at or after opens_at, plus the build time after it; NULL while
-- one has not.  Whether it was intervened: a planning run's decision on
-- one of its inputs was executed (succeeded or unknown; a notice does not
-- count) between the first forecast and the deadline, a sync it started
-- only after opens_at.  And the verdict: met when ready by the deadline,
-- missed when ready later or not ready once the deadline has passed (NULL
-- before); settled (no longer re-read) once ready or `grace` after the
-- deadline, until when a late-collected run may still revise it.
CREATE FUNCTION syncopt.outcome_ready_times(at timestamptz, grace interval)
RETURNS TABLE (asset_id bigint, deadline timestamptz, ready_at timestamptz, met boolean, intervened boolean,
               settled boolean)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_outcome_ready_times';
COMMENT ON FUNCTION syncopt.outcome_ready_times(timestamptz, interval) IS
    'For each unsettled SLA outcome: when its asset was ready from the runs known at `at` (each input''s first successful sync started at or after opens_at, plus its build time), NULL while an input has not landed; whether an executed planner decision on an input counts as an intervention; met, and settled (ready, or `grace` past the deadline).';

-- The deadline instances a planning run forecast for the first time at
-- `at` (the i-th asset id, deadline and opens_at of the arrays), each as
-- its sla_outcome row: the inputs (as asset_inputs_of() gives them) and
-- what outcome_ready_times(at, grace) would make of it once written,
-- resolved while the inputs are in memory instead of read back.
CREATE FUNCTION syncopt.new_outcomes(at timestamptz, grace interval, asset_ids bigint[], deadlines timestamptz[],
                                     opens_at timestamptz[])
RETURNS TABLE (asset_id bigint, deadline timestamptz, opens_at timestamptz, connector_ids bigint[],
               build_times interval[], ready_at timestamptz, met boolean, intervened boolean, settled boolean)
LANGUAGE c STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_new_outcomes';
COMMENT ON FUNCTION syncopt.new_outcomes(timestamptz, interval, bigint[], timestamptz[], timestamptz[]) IS
    'For each deadline instance first forecast at `at` whose asset has upstream connectors: its sla_outcome row (inputs, build times, ready_at, met, intervened, settled), resolved as outcome_ready_times() would once written.';

CREATE FUNCTION syncopt.asset_inputs(asset_id bigint)
RETURNS TABLE (connector_id bigint, build_time interval)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.connector_id, u.build_time
      FROM syncopt.asset_inputs_of(ARRAY[asset_inputs.asset_id]) x,
           unnest(x.connector_ids, x.build_times) AS u(connector_id, build_time)
     ORDER BY u.connector_id
$$;
COMMENT ON FUNCTION syncopt.asset_inputs(bigint) IS
    'The connectors upstream of an asset through the lineage, each with the longest build time (asset durations) from it to the asset.';

-- The end of a planning run (run_planner() calls it): record what the run
-- forecast, and resolve what earlier forecasts said against the runs
-- known at `at`.
CREATE FUNCTION syncopt.record_forecasts(planner_run_id bigint, at timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- A prediction stands for a run that starts within two planning
    -- intervals of the last run that made it.
    stands interval := 2 * current_setting('syncopt.planner_interval')::interval;
    -- Runs are collected late: one that started or ended while a forecast
    -- stood can arrive up to a day after.
    grace  interval := interval '1 day';
BEGIN
    IF planner_run_id IS NULL OR at IS NULL OR NOT isfinite(at) THEN
        RAISE EXCEPTION 'record_forecasts needs a planning run and a finite time'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Got planner_run_id %s, at %s.', coalesce(planner_run_id::text, 'NULL'),
                                  coalesce(at::text, 'NULL')),
                  HINT = 'run_planner() calls it at the end of each planning run.';
    END IF;

    -- Durations, 1: each standing prediction gets the first run that
    -- started while it stood (before the next prediction, and within two
    -- planning intervals of the last run that made it).
    UPDATE syncopt.duration_forecast f
       SET run_id = r.run_id, run_started_at = r.started_at
      FROM syncopt.duration_forecast w
     CROSS JOIN LATERAL (SELECT min(g.first_at) AS next_at FROM syncopt.duration_forecast g
                          WHERE g.connector_id = w.connector_id AND g.first_at > w.first_at) nx
     CROSS JOIN LATERAL (SELECT r.run_id, r.started_at FROM syncopt.sync_run r
                          WHERE r.connector_id = w.connector_id AND r.started_at >= w.first_at
                            AND r.started_at < least(w.last_at + stands, nx.next_at) AND r.started_at <= at
                          ORDER BY r.started_at LIMIT 1) r
     WHERE w.outcome IS NULL AND w.run_id IS NULL
       AND f.connector_id = w.connector_id AND f.first_at = w.first_at;

    -- 2: a predicted run that has ended says whether the P90 held.  Only a
    -- success with a known start has a duration to compare.
    UPDATE syncopt.duration_forecast f
       SET outcome = r.status,
           actual = CASE WHEN r.status = 'succeeded' AND r.duration_known THEN r.finished_at - r.started_at END,
           within_p90 = CASE WHEN r.status = 'succeeded' AND r.duration_known
                             THEN r.finished_at - r.started_at <= f.p90 END
      FROM syncopt.sync_run r
     WHERE f.outcome IS NULL AND f.run_id IS NOT NULL
       AND r.connector_id = f.connector_id AND r.started_at = f.run_started_at AND r.run_id = f.run_id
       AND r.status <> 'running' AND r.finished_at <= at;

    -- 3: a prediction no run followed within a day is not kept.
    DELETE FROM syncopt.duration_forecast f
     WHERE f.outcome IS NULL AND f.run_id IS NULL AND f.last_at < at - grace;

    -- 4: this run's predictions for the syncs it planned (a sync already
    -- running was predicted before it started).  The same values as the
    -- connector's standing prediction extend it.
    WITH planned AS (
        SELECT p.connector_id, d.p50, d.p90
          FROM syncopt.planned_sync p
          JOIN syncopt.predict_duration(at) d ON d.connector_id = p.connector_id
         WHERE p.planner_run_id = record_forecasts.planner_run_id
           AND p.action <> 'running' AND p.planned_start IS NOT NULL
           AND d.p50 IS NOT NULL AND d.p90 IS NOT NULL
    ), extended AS (
        -- Each connector's latest forecast (first_at is unique per
        -- connector) joined by connector, the same values a filter after
        -- the join: with a standing forecast looked up per planned sync
        -- and then joined to the table, the planner expected a handful of
        -- equal predictions (equality of two float8s) where nearly all
        -- are, and joined every planned sync to every forecast by a
        -- nested loop: 5-6 minutes of a later run at 100,000 connectors.
        UPDATE syncopt.duration_forecast f
           SET last_at = greatest(f.last_at, at)
          FROM planned pl
         WHERE f.connector_id = pl.connector_id
           AND f.first_at = (SELECT max(g.first_at) FROM syncopt.duration_forecast g
                              WHERE g.connector_id = pl.connector_id)
           AND f.run_id IS NULL AND f.p50 = pl.p50 AND f.p90 = pl.p90
        RETURNING f.connector_id
    )
    INSERT INTO syncopt.duration_forecast AS f (connector_id, first_at, last_at, planner_run_id, p50, p90)
    SELECT pl.connector_id, at, at, record_forecasts.planner_run_id, pl.p50, pl.p90
      FROM planned pl
     WHERE pl.connector_id NOT IN (SELECT e.connector_id FROM extended e)
    ON CONFLICT (connector_id, first_at) DO UPDATE
       SET p50 = excluded.p50, p90 = excluded.p90, planner_run_id = excluded.planner_run_id
     WHERE f.run_id IS NULL;

    -- SLAs, 1: what happened to the deadline instances earlier runs
    -- recorded, from the runs known at `at` (before this run's new ones are
    -- written: those are resolved from their inputs in memory, 2).  Each
    -- input landed with its first successful sync started at or after
    -- opens_at; the asset was ready when the last landed plus the builds
    -- after it.  Not ready at the deadline is a miss, revised if a
    -- late-collected run shows otherwise until the outcome settles: once
    -- met, once ready, or a day after the deadline.  An outcome nothing
    -- changed is not written again (nor its arrays decompressed again for
    -- the table's check).
    UPDATE syncopt.sla_outcome o
       SET ready_at = x.ready_at, met = x.met, intervened = x.intervened, settled = x.settled
      -- Each input's landing and the decisions executed on the inputs: one
      -- read of the runs and one of the decisions for all outcomes (not an
      -- index probe per input of each outcome).
      FROM syncopt.outcome_ready_times(at, grace) x
     WHERE o.asset_id = x.asset_id AND o.deadline = x.deadline
       AND (o.ready_at, o.met, o.intervened, o.settled) IS DISTINCT FROM (x.ready_at, x.met, x.intervened, x.settled);

    -- 2: each deadline instance forecast for the first time, with what
    -- feeds it now and what happened so far; an asset nothing feeds is not
    -- scored.
    WITH new_deadlines AS MATERIALIZED (
        SELECT s.asset_id, s.deadline, s.deadline - coalesce(a.freshness_sla, interval '24 hours') AS opens_at
          FROM syncopt.sla_forecast s
          JOIN syncopt.asset a ON a.asset_id = s.asset_id
         WHERE s.planner_run_id = record_forecasts.planner_run_id AND s.deadline IS NOT NULL
           AND NOT EXISTS (SELECT FROM syncopt.sla_outcome o
                            WHERE o.asset_id = s.asset_id AND o.deadline = s.deadline)
    )
    INSERT INTO syncopt.sla_outcome (asset_id, deadline, opens_at, first_forecast_at, connector_ids, build_times,
                                     ready_at, met, intervened, settled)
    SELECT (n.o).asset_id, (n.o).deadline, (n.o).opens_at, at, (n.o).connector_ids, (n.o).build_times,
           (n.o).ready_at, (n.o).met, (n.o).intervened, (n.o).settled
      -- One pass over the lineage for all of them (not one query per
      -- asset), called in a select list so that each row (two arrays of
      -- every upstream connector) goes straight to the insert instead of a
      -- tuplestore that spills past work_mem; an asset's deadlines in a row
      -- share its inputs.
      FROM (SELECT syncopt.new_outcomes(at, grace, array_agg(d.asset_id ORDER BY d.asset_id, d.deadline),
                                        array_agg(d.deadline ORDER BY d.asset_id, d.deadline),
                                        array_agg(d.opens_at ORDER BY d.asset_id, d.deadline)) AS o
              FROM new_deadlines d) n
    ON CONFLICT DO NOTHING;

    -- 3: this run's forecasts.
    INSERT INTO syncopt.sla_forecast_log (asset_id, deadline, planner_run_id, planned_at, at_risk, risk, predicted_ready)
    SELECT s.asset_id, s.deadline, s.planner_run_id, at, s.at_risk, s.risk, s.predicted_ready
      FROM syncopt.sla_forecast s
      JOIN syncopt.sla_outcome o ON o.asset_id = s.asset_id AND o.deadline = s.deadline
     WHERE s.planner_run_id = record_forecasts.planner_run_id
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION syncopt.record_forecasts(bigint, timestamptz) IS
    'End of a planning run: logs its SLA forecasts and predicted durations, and resolves earlier ones against the runs known at `at`.';

-- Every logged SLA forecast with what happened and the verdict.
CREATE VIEW syncopt.forecast_outcomes WITH (security_invoker = true) AS
SELECT f.asset_id, a.name AS asset, f.deadline, f.planned_at, f.deadline - f.planned_at AS lead_time,
       CASE WHEN f.deadline - f.planned_at < interval '1 hour' THEN '<1h'
            WHEN f.deadline - f.planned_at < interval '3 hours' THEN '1-3h'
            WHEN f.deadline - f.planned_at < interval '6 hours' THEN '3-6h'
            WHEN f.deadline - f.planned_at < interval '12 hours' THEN '6-12h'
            ELSE '>12h' END AS lead_bucket,
       f.at_risk, f.risk, f.predicted_ready, o.ready_at, f.predicted_ready - o.ready_at AS ready_error,
       o.met, o.intervened,
       CASE WHEN o.met IS NULL THEN 'pending'
            WHEN o.intervened THEN 'excluded'
            WHEN f.at_risk AND NOT o.met THEN 'true_positive'
            WHEN f.at_risk THEN 'false_positive'
            WHEN NOT o.met THEN 'false_negative'
            ELSE 'true_negative' END AS verdict,
       f.planner_run_id
  FROM syncopt.sla_forecast_log f
  JOIN syncopt.sla_outcome o ON o.asset_id = f.asset_id AND o.deadline = f.deadline
  JOIN syncopt.asset a ON a.asset_id = f.asset_id;
COMMENT ON VIEW syncopt.forecast_outcomes IS
    'Each SLA forecast a planning run made (at risk or on track, predicted ready), what happened, and whether it was right.';

-- Precision and recall of "at risk" per lead time, and the P90 coverage
-- of predicted durations, over deadlines (and run starts) in a window.
CREATE FUNCTION syncopt.forecast_score(window_start timestamptz, window_end timestamptz DEFAULT now())
RETURNS TABLE (measure text, lead_time text, lead_from interval, lead_to interval, resolved bigint,
               tp bigint, fp bigint, fn bigint, tn bigint, precision_pct numeric, recall_pct numeric,
               within_p90 bigint, p90_coverage_pct numeric, pending bigint, excluded bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF window_start IS NULL OR window_end IS NULL OR window_start > window_end THEN
        RAISE EXCEPTION 'the scorecard window needs a start no later than its end'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Got window_start %s and window_end %s.', coalesce(window_start::text, 'NULL'),
                                  coalesce(window_end::text, 'NULL')),
                  HINT = 'Deadlines in [window_start, window_end) are scored, e.g. syncopt.forecast_score(now() - interval ''30 days'').';
    END IF;
    RETURN QUERY
    WITH buckets (label, lo, hi) AS (
        -- The labels of forecast_outcomes.lead_bucket, with their bounds.
        VALUES ('<1h', interval '0', interval '1 hour'), ('1-3h', interval '1 hour', interval '3 hours'),
               ('3-6h', interval '3 hours', interval '6 hours'), ('6-12h', interval '6 hours', interval '12 hours'),
               ('>12h', interval '12 hours', NULL), ('all', NULL, NULL)
    ), v AS MATERIALIZED (
        -- One pass over the window's forecasts.
        SELECT o.lead_bucket, o.verdict FROM syncopt.forecast_outcomes o
         WHERE o.deadline >= window_start AND o.deadline < window_end
    ), sla AS (
        SELECT b.label, b.lo, b.hi,
               count(v.verdict) FILTER (WHERE v.verdict = 'true_positive') AS tp,
               count(v.verdict) FILTER (WHERE v.verdict = 'false_positive') AS fp,
               count(v.verdict) FILTER (WHERE v.verdict = 'false_negative') AS fn,
               count(v.verdict) FILTER (WHERE v.verdict = 'true_negative') AS tn,
               count(v.verdict) FILTER (WHERE v.verdict = 'pending') AS pending,
               count(v.verdict) FILTER (WHERE v.verdict = 'excluded') AS excluded
          FROM buckets b
          LEFT JOIN v ON b.label IN (v.lead_bucket, 'all')
         GROUP BY b.label, b.lo, b.hi
    ), dur AS (
        SELECT count(*) FILTER (WHERE d.within_p90 IS NOT NULL) AS resolved,
               count(*) FILTER (WHERE d.within_p90) AS within_p90,
               count(*) FILTER (WHERE d.outcome IS NULL) AS pending,
               count(*) FILTER (WHERE d.outcome IS NOT NULL AND d.within_p90 IS NULL) AS excluded
          FROM syncopt.duration_forecast d
         WHERE d.run_started_at >= window_start AND d.run_started_at < window_end
    )
    SELECT 'sla_at_risk'::text, s.label, s.lo, s.hi, s.tp + s.fp + s.fn + s.tn, s.tp, s.fp, s.fn, s.tn,
           round(100.0 * s.tp / nullif(s.tp + s.fp, 0), 1), round(100.0 * s.tp / nullif(s.tp + s.fn, 0), 1),
           NULL::bigint, NULL::numeric, s.pending, s.excluded
      FROM sla s
    UNION ALL
    SELECT 'duration_p90', 'all', NULL, NULL, d.resolved, NULL, NULL, NULL, NULL, NULL, NULL,
           d.within_p90, round(100.0 * d.within_p90 / nullif(d.resolved, 0), 1), d.pending, d.excluded
      FROM dur d
    -- The lead times in order, all of them last, then the durations.
    ORDER BY 1 DESC, 3 NULLS LAST;
END
$$;
COMMENT ON FUNCTION syncopt.forecast_score(timestamptz, timestamptz) IS
    'Precision and recall of "at risk" per lead time (deadlines in the window), and P90 coverage of predicted durations (runs started in it).';

-- The scorecard of the last 30 days.
CREATE VIEW syncopt.forecast_scorecard WITH (security_invoker = true) AS
SELECT s.* FROM syncopt.forecast_score(now() - interval '30 days', now()) s;
COMMENT ON VIEW syncopt.forecast_scorecard IS
    'forecast_score() over the last 30 days: how good the planner''s SLA forecasts and P90 durations were on this fleet.';
