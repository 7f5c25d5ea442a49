-- The forecast scorecard: planning runs' SLA forecasts and predicted
-- durations, resolved against what happened, on a small history whose
-- right answers are worked out by hand in the comments.  Every time is
-- fixed (November 2025, UTC); nothing depends on when the test runs.
-- The planning runs' snapshots (sla_forecast, planned_sync) are written
-- by hand so that each forecast is known; the last part runs the real
-- planner and checks what it logs.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';
\set VERBOSITY terse
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (1, 1, 'a', 'A'), (2, 1, 'b', 'B'), (3, 1, 'c', 'C'), (4, 1, 'dur', 'dur');
-- exec (06:00, fresh within 6 h, builds in 20 min) reads stg (10 min),
-- fed by A and B, and C and A directly; fin (08:00, no freshness SLA: 24
-- h) reads C; orphan has a deadline and no input.
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, freshness_sla, duration) VALUES
    (1, 'exec', 'dashboard', '06:00', '6 hours', '20 minutes'),
    (2, 'stg', 'dbt_model', NULL, NULL, '10 minutes'),
    (3, 'fin', 'report', '08:00', NULL, '0'),
    (4, 'orphan', 'report', '09:00', NULL, '0');
INSERT INTO syncopt.lineage (upstream_connector_id, upstream_asset_id, asset_id) VALUES
    (1, NULL, 2), (2, NULL, 2), (NULL, 2, 1), (3, NULL, 1), (1, NULL, 1), (3, NULL, 3);

-- What feeds each asset, with the longest build after it: A reaches exec
-- through stg (10 + 20 min) and directly (20 min): 30 min; B 30 min; C
-- 20 min.  fin: C, 0.  orphan: nothing.
SELECT * FROM syncopt.asset_inputs(1);
SELECT * FROM syncopt.asset_inputs(3);
SELECT count(*) AS orphan_inputs FROM syncopt.asset_inputs(4);
-- Several assets in one call, in a select list as record_forecasts()
-- calls it (one row per call, straight to its consumer): the asset with
-- no input (orphan), a NULL and an unknown id give no row and the call
-- goes on past them; rows come in the order asked.  fin (3): C, 0; exec
-- (1): A 30 min, B 30 min, C 20 min (as above).
SELECT (x).asset_id, (x).connector_ids, (x).build_times
  FROM (SELECT syncopt.asset_inputs_of(ARRAY[3, 4, NULL, 999, 1]::bigint[]) AS x) s;

-- The runs.  exec's deadline of 10 Nov opens at 00:00: B's run of 23:00
-- the day before does not count, its 03:00 run failed, so B lands at
-- 05:45 (its 04:00 run); A lands at 02:00, C at 00:40.  Ready: max(02:00
-- + 30 min, 05:45 + 30 min, 00:40 + 20 min) = 06:15, missed by 15 min.
-- fin's deadline of 10 Nov 08:00 opens 24 h before: C's run of 9 Nov
-- 09:00-09:30 makes it ready at 09:30 on 9 Nov, met.  dur: two 10-minute
-- runs (predict_duration: last_two_mean, P50 10 min, P90 max(1.5 x 10,
-- 10) = 15 min).
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source) VALUES
    (1, 'a1', '2025-11-10 01:00+00', '2025-11-10 02:00+00', 'succeeded', 'api'),
    (2, 'b0', '2025-11-09 23:00+00', '2025-11-09 23:50+00', 'succeeded', 'api'),
    (2, 'b1', '2025-11-10 03:00+00', '2025-11-10 03:10+00', 'failed', 'api'),
    (2, 'b2', '2025-11-10 04:00+00', '2025-11-10 05:45+00', 'succeeded', 'api'),
    (3, 'c0', '2025-11-09 09:00+00', '2025-11-09 09:30+00', 'succeeded', 'api'),
    (3, 'c1', '2025-11-10 00:10+00', '2025-11-10 00:40+00', 'succeeded', 'api'),
    (3, 'c2', '2025-11-10 21:00+00', '2025-11-10 21:30+00', 'succeeded', 'api'),
    (4, 'h1', '2025-11-08 10:00+00', '2025-11-08 10:10+00', 'succeeded', 'api'),
    (4, 'h2', '2025-11-09 10:00+00', '2025-11-09 10:10+00', 'succeeded', 'api');
SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY started_at)) IS NOT NULL AS absorbed FROM syncopt.sync_run;
SELECT p50, p90, method FROM syncopt.predict_duration('2025-11-10 09:00+00') WHERE connector_id = 4;

-- A planning run as run_planner() leaves it: its row, its sla_risk()
-- snapshot (asset, deadline, risk, predicted ready) and its plan (the
-- connectors it planned, and how), then the call it ends with.
CREATE FUNCTION pg_temp.planning_run(at timestamptz, forecasts text[] DEFAULT '{}', planned text[] DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
BEGIN
    INSERT INTO syncopt.planner_run (at) VALUES (at) RETURNING planner_run_id INTO id;
    DELETE FROM syncopt.sla_forecast;
    INSERT INTO syncopt.sla_forecast (planner_run_id, asset_id, deadline, predicted_ready, at_risk, risk,
                                      blocking_connectors, reason, alert_blocking, blocking_count)
    SELECT id, f[1]::bigint, f[2]::timestamptz, f[4]::timestamptz, f[3] <> 'low', f[3], '{}', 'by hand', '{}', 0
      FROM unnest(forecasts) AS s, LATERAL string_to_array(s, '|') AS f;
    DELETE FROM syncopt.planned_sync;
    INSERT INTO syncopt.planned_sync (planner_run_id, connector_id, planned_start, predicted_end, will_miss, action, reason)
    SELECT id, split_part(p, ':', 1)::bigint, at + interval '1 hour', at + interval '2 hours', false,
           split_part(p, ':', 2), 'by hand'
      FROM unnest(planned) AS p;
    PERFORM syncopt.record_forecasts(id, at);
    RETURN id;
END
$$;

-- R1, 9 Nov 17:00: exec on track (lead 13 h), fin medium risk (15 h),
-- orphan high (not scored: nothing feeds it).
SELECT pg_temp.planning_run('2025-11-09 17:00+00', ARRAY[
    '1|2025-11-10 06:00+00|low|2025-11-10 05:00+00', '3|2025-11-10 08:00+00|medium|2025-11-10 07:50+00',
    '4|2025-11-10 09:00+00|high|2025-11-10 10:00+00']) AS r1;
-- fin was ready before the forecast: met, settled at once; exec unknown.
SELECT asset_id, deadline, opens_at, connector_ids, build_times, ready_at, met, settled
  FROM syncopt.sla_outcome ORDER BY deadline;
-- R2 00:30 exec medium (5 h 30 min); R3 04:00 exec high (2 h), fin low
-- (4 h); R4 05:30 exec high (30 min), fin low (2 h 30 min).
SELECT pg_temp.planning_run('2025-11-10 00:30+00', ARRAY['1|2025-11-10 06:00+00|medium|2025-11-10 05:55+00']) AS r2;
SELECT pg_temp.planning_run('2025-11-10 04:00+00', ARRAY[
    '1|2025-11-10 06:00+00|high|2025-11-10 06:10+00', '3|2025-11-10 08:00+00|low|2025-11-10 04:30+00']) AS r3;
SELECT pg_temp.planning_run('2025-11-10 05:30+00', ARRAY[
    '1|2025-11-10 06:00+00|high|2025-11-10 06:20+00', '3|2025-11-10 08:00+00|low|2025-11-10 05:40+00']) AS r4;
-- At 05:30 B has not landed: exec's four forecasts are pending, fin's
-- three are resolved.
SELECT asset, verdict, count(*) FROM syncopt.forecast_outcomes GROUP BY 1, 2 ORDER BY 1, 2;
-- R5 07:00: exec's next deadline (11 Nov 06:00) on track, lead 23 h.
-- B landed at 05:45: exec of 10 Nov was ready at 06:15, missed.
SELECT pg_temp.planning_run('2025-11-10 07:00+00', ARRAY['1|2025-11-11 06:00+00|low|2025-11-11 03:00+00']) AS r5;
SELECT asset_id, deadline, ready_at, met, settled FROM syncopt.sla_outcome ORDER BY deadline;
-- Inputs in another order than record_forecasts() writes them (ascending,
-- which outcome_ready_times() searches the runs for one after another):
-- exec's inputs C, B, A give the same ready time, max(00:40 + 20 min,
-- 05:45 + 30 min, 02:00 + 30 min) = 06:15.
BEGIN;
INSERT INTO syncopt.sla_outcome (asset_id, deadline, opens_at, first_forecast_at, connector_ids, build_times)
VALUES (1, '2025-11-10 06:00:01+00', '2025-11-10 00:00+00', '2025-11-09 17:00+00', '{3,2,1}',
        '{00:20:00,00:30:00,00:30:00}');
SELECT ready_at FROM syncopt.outcome_ready_times('2025-11-10 07:00+00', '1 day') WHERE deadline = '2025-11-10 06:00:01+00';
ROLLBACK;

-- Durations.  D1 09:00 plans dur: P50 10 min, P90 15 min.  D2 09:15
-- predicts the same: the prediction stands longer (one row).
SELECT pg_temp.planning_run('2025-11-10 09:00+00', planned => ARRAY['4:start_later']) AS d1;
SELECT pg_temp.planning_run('2025-11-10 09:15+00', planned => ARRAY['4:start_later']) AS d2;
SELECT first_at, last_at, p50, p90, run_id FROM syncopt.duration_forecast;
-- A 12-minute run starts at 09:40, within two planning intervals (30 min)
-- of 09:15: it is the run predicted, and within its P90.  Its stats make
-- the next prediction P50 11 min (mean of 10 and 12), P90 16.5 min.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (4, 'r3', '2025-11-10 09:40+00', '2025-11-10 09:52+00', 'succeeded', 'api');
SELECT syncopt.absorb_runs(ARRAY[currval('syncopt.sync_run_run_id_seq')]) IS NOT NULL AS absorbed;
SELECT pg_temp.planning_run('2025-11-10 10:00+00', planned => ARRAY['4:start_later']) AS d3;
-- A 20-minute run at 11:00 starts after the 10:00 prediction stopped
-- standing (10:30): no prediction is its.  Next: P50 16, P90 24 min.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (4, 'r4', '2025-11-10 11:00+00', '2025-11-10 11:20+00', 'succeeded', 'api');
SELECT syncopt.absorb_runs(ARRAY[currval('syncopt.sync_run_run_id_seq')]) IS NOT NULL AS absorbed;
-- D4 11:30 also finds A running: a running sync was predicted before it
-- started, so it gets no new prediction.
SELECT pg_temp.planning_run('2025-11-10 11:30+00', planned => ARRAY['4:start_now', '1:running']) AS d4;
-- A 30-minute run at 11:40: over the P90 of 24 min.  Next: P50 25 min,
-- P90 37.5 min.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (4, 'r5', '2025-11-10 11:40+00', '2025-11-10 12:10+00', 'succeeded', 'api');
SELECT syncopt.absorb_runs(ARRAY[currval('syncopt.sync_run_run_id_seq')]) IS NOT NULL AS absorbed;
SELECT pg_temp.planning_run('2025-11-10 12:30+00', planned => ARRAY['4:start_now']) AS d5;
-- The next run fails: it has no duration to compare.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (4, 'r6', '2025-11-10 12:50+00', '2025-11-10 12:55+00', 'failed', 'api');
SELECT pg_temp.planning_run('2025-11-10 13:10+00') AS d6;
SELECT d.first_at, d.last_at, d.p50, d.p90, r.external_run_id AS run, d.outcome, d.actual, d.within_p90
  FROM syncopt.duration_forecast d LEFT JOIN syncopt.sync_run r USING (run_id) ORDER BY d.connector_id, d.first_at;

-- R6 20:00: fin of 11 Nov 08:00 at high risk (lead 12 h).  A co-pilot
-- trigger of C, approved, runs at 21:00: syncopt acted on the forecast,
-- so fin of 11 Nov is left out of the scorecard.  C feeds exec too, but
-- a sync started before exec's deadline of 11 Nov opens (00:00) does not
-- count for it: exec stays in.
SELECT pg_temp.planning_run('2025-11-10 20:00+00', ARRAY['3|2025-11-11 08:00+00|high|2025-11-11 09:00+00']) AS r6;
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status, planner_run_id, created_at)
VALUES (3, 'trigger_sync', 'fin at risk', 'copilot', 'proposed', currval('syncopt.planner_run_planner_run_id_seq'),
        '2025-11-10 20:00+00');
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved';
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'executing', started_at = '2025-11-10 20:59+00';
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'succeeded', finished_at = '2025-11-10 21:00+00';
-- R7, 11 Nov 07:00: nothing of exec's inputs has been seen since 00:00,
-- so exec of 11 Nov is missed so far (not settled: runs arrive late).
SELECT pg_temp.planning_run('2025-11-11 07:00+00') AS r7;
SELECT asset_id, deadline, ready_at, met, intervened, settled FROM syncopt.sla_outcome
 WHERE deadline >= '2025-11-11' ORDER BY deadline;
-- The collector then brings runs that ended before the deadline: ready
-- at max(01:30 + 30 min, 02:40 + 30 min, 03:20 + 20 min) = 03:40, met.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source) VALUES
    (1, 'a2', '2025-11-11 01:00+00', '2025-11-11 01:30+00', 'succeeded', 'api'),
    (2, 'b3', '2025-11-11 02:00+00', '2025-11-11 02:40+00', 'succeeded', 'api'),
    (3, 'c3', '2025-11-11 03:00+00', '2025-11-11 03:20+00', 'succeeded', 'api');
-- R8 07:30 revises it, and forecasts exec of 12 Nov on track (22 h 30 min).
SELECT pg_temp.planning_run('2025-11-11 07:30+00', ARRAY['1|2025-11-12 06:00+00|low|2025-11-12 04:00+00']) AS r8;
-- R9, 13 Nov 07:00: no input of exec came after 12 Nov 00:00, and a day
-- has passed since the deadline: missed, settled without a ready time.
-- The 10:00 prediction no run followed is dropped a day after it stood.
SELECT pg_temp.planning_run('2025-11-13 07:00+00') AS r9;
SELECT asset_id, deadline, ready_at, met, intervened, settled FROM syncopt.sla_outcome ORDER BY deadline, asset_id;
SELECT count(*) AS duration_rows, count(*) FILTER (WHERE run_id IS NULL) AS without_run FROM syncopt.duration_forecast;

-- Every forecast and its verdict.  exec of 10 Nov (missed): on track at
-- 13 h is a false negative, the three at-risk ones true positives (ready
-- predicted 06:20 at 05:30: 5 min late of the actual 06:15).  fin of 10
-- Nov (met): medium at 15 h a false positive, the two on-track true
-- negatives.  exec of 11 Nov (met after the revision): true negative.
-- fin of 11 Nov: excluded.  exec of 12 Nov (missed): false negative.
SELECT asset, deadline, planned_at, lead_time, lead_bucket, risk, predicted_ready, ready_at, ready_error, verdict
  FROM syncopt.forecast_outcomes ORDER BY deadline, planned_at;

-- The scorecard over all of them.  <1h: TP 1.  1-3h: TP 1 (exec at 2 h),
-- TN 1 (fin at 2 h 30 min).  3-6h: TP 1 (exec at 5 h 30 min), TN 1 (fin
-- at 4 h).  6-12h: nothing.  >12h: FN 2 (exec at 13 h and 22 h 30 min),
-- FP 1 (fin at 15 h), TN 1 (exec at 23 h), and fin at 12 h left out.
-- All: TP 3, FP 1, FN 2, TN 3: precision 3/4 = 75%, recall 3/5 = 60%.
-- Durations: the 12-minute run within its P90 of 15, the 30-minute one
-- over 24, the failed one left out: 1 of 2, 50%.
SELECT * FROM syncopt.forecast_score('2025-11-10', '2025-11-13');
-- Deadlines from 11 Nov on: exec 11 Nov TN, fin 11 Nov left out, exec 12
-- Nov FN; no run of dur started then.
SELECT measure, lead_time, resolved, tp, fp, fn, tn, precision_pct, recall_pct, within_p90, pending, excluded
  FROM syncopt.forecast_score('2025-11-11', '2025-11-13') WHERE measure = 'duration_p90' OR lead_time IN ('>12h', 'all');
-- The view is the last 30 days before now: these 2025 deadlines are not in it.
SELECT measure, lead_time, resolved FROM syncopt.forecast_scorecard;

-- The digest says the same for the deadlines since the day it is asked about.
SELECT line FROM regexp_split_to_table(syncopt.digest('2025-11-10'), E'\n') WITH ORDINALITY AS d(line, k)
 WHERE k > (SELECT k FROM regexp_split_to_table(syncopt.digest('2025-11-10'), E'\n') WITH ORDINALITY AS e(line, k)
             WHERE line LIKE 'Forecast scorecard%')
 ORDER BY k;

-- Bad input changes nothing.
SELECT * FROM syncopt.forecast_score('2025-11-13', '2025-11-10');
SELECT * FROM syncopt.forecast_score(NULL);
SELECT syncopt.record_forecasts(NULL, '2025-11-13');
SELECT syncopt.record_forecasts(1, 'infinity');

-- Readers read the scorecard; nobody else does.
CREATE ROLE score_reader LOGIN IN ROLE syncopt_reader;
CREATE ROLE score_nobody LOGIN;
SET SESSION AUTHORIZATION score_reader;
SELECT lead_time, precision_pct, recall_pct FROM syncopt.forecast_score('2025-11-10', '2025-11-13')
 WHERE measure = 'sla_at_risk' AND lead_time = 'all';
SELECT count(*) AS outcomes FROM syncopt.forecast_outcomes;
SELECT syncopt.record_forecasts(1, '2025-11-13');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION score_nobody;
SELECT count(*) FROM syncopt.forecast_outcomes;
RESET SESSION AUTHORIZATION;

-- Retention: with the cutoff at 11 Nov 00:00 and batches of 5, the first
-- purge takes exec of 10 Nov's four forecasts and one of fin's, then
-- exec's outcome (no forecast left) but not fin's, and the three
-- predicted durations (their runs started on 10 Nov); the second the rest
-- of fin of 10 Nov.
SELECT syncopt.purge_history(now() - timestamptz '2025-11-11 00:00+00', 5) > 0 AS purged;
SELECT (SELECT count(*) FROM syncopt.sla_forecast_log) AS forecasts,
       (SELECT string_agg(asset_id || ' ' || to_char(deadline, 'MM-DD'), ', ' ORDER BY deadline, asset_id)
          FROM syncopt.sla_outcome) AS outcomes,
       (SELECT count(*) FROM syncopt.duration_forecast) AS durations;
SELECT syncopt.purge_history(now() - timestamptz '2025-11-11 00:00+00', 5) > 0 AS purged;
SELECT (SELECT count(*) FROM syncopt.sla_forecast_log) AS forecasts,
       (SELECT string_agg(asset_id || ' ' || to_char(deadline, 'MM-DD'), ', ' ORDER BY deadline, asset_id)
          FROM syncopt.sla_outcome) AS outcomes;
-- The purge finds them through indexes, not by reading the tables.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT 1 FROM syncopt.sla_forecast_log WHERE deadline < '2025-11-11' ORDER BY deadline LIMIT 5;
EXPLAIN (COSTS OFF) SELECT 1 FROM syncopt.duration_forecast WHERE run_started_at < '2025-11-11' ORDER BY run_started_at LIMIT 5;
RESET enable_seqscan;

-- The real planner, in shadow mode, logs what it forecast: each sla_risk()
-- row of an asset something feeds, and for each sync it planned that is
-- not running yet the P90 its plan used (planned end - planned start).
INSERT INTO syncopt.policy (mode) VALUES ('shadow');
SELECT count(*) AS shadow_rows, count(*) FILTER (WHERE status <> 'shadow') AS not_shadow FROM syncopt.run_planner('2025-11-13 08:00+00');
SELECT (SELECT count(*) FROM syncopt.sla_forecast_log l JOIN syncopt.sla_forecast f USING (planner_run_id, asset_id, deadline)
         WHERE l.planned_at = '2025-11-13 08:00+00' AND l.at_risk = f.at_risk AND l.risk = f.risk
           AND l.predicted_ready IS NOT DISTINCT FROM f.predicted_ready) AS logged,
       (SELECT count(*) FROM syncopt.sla_forecast f WHERE f.asset_id <> 4) AS forecast_with_inputs;
SELECT p.connector_id, p.action, d.p90 = p.predicted_end - p.planned_start AS p90_as_planned
  FROM syncopt.planned_sync p
  LEFT JOIN syncopt.duration_forecast d ON d.connector_id = p.connector_id AND d.first_at = '2025-11-13 08:00+00'
 ORDER BY p.connector_id;

-- Which outcomes an executed decision counts for (outcome_ready_times'
-- intervened, read from all decisions at once).  Four deadlines of
-- December, all unsettled, first forecast 30 Nov 20:00 (Y at 23:00):
--   X exec 1 Dec 06:00, opens 00:00, inputs A, B, C;
--   Y fin 1 Dec 08:00, opens 30 Nov 08:00, input C, first forecast 23:00;
--   Z exec 2 Dec 06:00, opens 00:00, input B;
--   W fin 3 Dec 08:00, opens 2 Dec 08:00, input B.
-- Decisions of a planning run: C paused at 22:00 (not a sync: counts from
-- the first forecast on); B triggered at 21:00-21:30 (a sync before X's
-- and Z's windows open: counts for neither), B notified 1 Dec 01:00 (a
-- notice never counts), B triggered 2 Dec 01:00 and failed (not
-- executed), B triggered 2 Dec 09:00 with no known end (unknown: its
-- start counts; after Z's deadline, inside W's window).  So X yes (C's
-- pause), Y no (the pause came before its first forecast), Z no, W yes.
INSERT INTO syncopt.sla_outcome (asset_id, deadline, opens_at, first_forecast_at, connector_ids, build_times) VALUES
    (1, '2025-12-01 06:00+00', '2025-12-01 00:00+00', '2025-11-30 20:00+00', '{1,2,3}', '{0,0,0}'),
    (3, '2025-12-01 08:00+00', '2025-11-30 08:00+00', '2025-11-30 23:00+00', '{3}', '{0}'),
    (1, '2025-12-02 06:00+00', '2025-12-02 00:00+00', '2025-11-30 20:00+00', '{2}', '{0}'),
    (3, '2025-12-03 08:00+00', '2025-12-02 08:00+00', '2025-11-30 20:00+00', '{2}', '{0}');
-- Each decision goes proposed -> approved -> executing -> its end, one
-- after another (a connector has one open proposal of an action at a time).
DO $$
DECLARE
    d record;
    id bigint;
BEGIN
    FOR d IN SELECT * FROM (VALUES
            (3, 'pause', '{}', '2025-11-30 21:59+00', '2025-11-30 22:00+00', 'succeeded'),
            (2, 'trigger_sync', '{}', '2025-11-30 21:00+00', '2025-11-30 21:30+00', 'succeeded'),
            (2, 'notify', '{"severity": "warning", "message": "late"}', '2025-12-01 01:00+00', '2025-12-01 01:00+00', 'succeeded'),
            (2, 'trigger_sync', '{}', '2025-12-02 01:00+00', '2025-12-02 01:30+00', 'failed'),
            (2, 'trigger_sync', '{}', '2025-12-02 09:00+00', NULL, 'unknown'))
            v(c, a, p, started, finished, ended)
    LOOP
        INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, params, reason, mode, status, planner_run_id)
        VALUES (d.c, d.a, d.p::jsonb, 'scorecard case', 'copilot', 'proposed',
                (SELECT max(planner_run_id) FROM syncopt.planner_run))
        RETURNING decision_id INTO id;
        UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = id;
        UPDATE syncopt.fivetran_sync_ai_logs SET status = 'executing', started_at = d.started::timestamptz
         WHERE decision_id = id;
        UPDATE syncopt.fivetran_sync_ai_logs SET status = d.ended, finished_at = d.finished::timestamptz
         WHERE decision_id = id;
    END LOOP;
END
$$;
SELECT asset_id, deadline, intervened FROM syncopt.outcome_ready_times('2025-12-04 00:00+00', '1 day')
 WHERE deadline >= '2025-12-01' ORDER BY deadline;
-- The same as the rule written as one query per outcome (how
-- record_forecasts() said it before), for every unsettled outcome.
SELECT count(*) AS disagree
  FROM syncopt.outcome_ready_times('2025-12-04 00:00+00', '1 day') t
  JOIN syncopt.sla_outcome u ON u.asset_id = t.asset_id AND u.deadline = t.deadline
 WHERE t.intervened IS DISTINCT FROM EXISTS (
           SELECT FROM syncopt.fivetran_sync_ai_logs d
            WHERE d.connector_id = ANY (u.connector_ids) AND d.planner_run_id IS NOT NULL
              AND d.status IN ('succeeded', 'unknown') AND d.action <> 'notify'
              AND coalesce(d.finished_at, d.started_at)
                  BETWEEN CASE WHEN d.action IN ('trigger_sync', 'resync_connector', 'resync_tables')
                               THEN greatest(u.first_forecast_at, u.opens_at)
                               ELSE u.first_forecast_at END
                      AND u.deadline);

-- A new outcome resolved as its inputs are written (new_outcomes(), what
-- record_forecasts() inserts) is the outcome that outcome_ready_times()
-- makes of the same row read back, and its verdict is the rule as
-- record_forecasts() wrote it in SQL before.  The runs left after the
-- purge: A 11 Nov 01:00-01:30, B 02:00-02:40, C 10 Nov 21:00-21:30 and 11
-- Nov 03:00-03:20.  Judged at 13 Nov 00:00, first forecast then, by hand:
--   exec 11 Nov 06:00, opens 00:00: ready max(01:30 + 30 min, 02:40 + 30
--     min, 03:20 + 20 min) = 03:40, met, settled;
--   fin 10 Nov 08:00, opens 9 Nov 08:00: ready 10 Nov 21:30, missed, settled;
--   exec 11 Nov 23:00, opens 17:00: no run of A after, never ready; a day
--     past the deadline: missed and settled;
--   exec 12 Nov 06:00, opens 00:00: not ready, missed (the deadline has
--     passed), not settled (a late-collected run may still arrive);
--   exec 1 Dec 06:00, opens 00:00: pending, and intervened (C's executed
--     pause of 30 Nov 22:00 is after the first forecast);
--   orphan: nothing feeds it, no row.
BEGIN;
CREATE TEMP TABLE fresh AS
SELECT (o).* FROM (SELECT syncopt.new_outcomes('2025-11-13 00:00+00', '1 day', ARRAY[1, 3, 1, 1, 1, 4],
        ARRAY['2025-11-11 06:00+00', '2025-11-10 08:00+00', '2025-11-11 23:00+00', '2025-11-12 06:00+00',
              '2025-12-01 06:00+00', '2025-11-10 09:00+00']::timestamptz[],
        ARRAY['2025-11-11 00:00+00', '2025-11-09 08:00+00', '2025-11-11 17:00+00', '2025-11-12 00:00+00',
              '2025-12-01 00:00+00', '2025-11-09 09:00+00']::timestamptz[]) AS o) s;
SELECT asset_id, deadline, ready_at, met, intervened, settled FROM fresh ORDER BY deadline, asset_id;
-- Its inputs are asset_inputs_of()'s.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE (f.connector_ids, f.build_times) IS DISTINCT FROM (i.connector_ids, i.build_times))
           AS other_inputs
  FROM fresh f JOIN syncopt.asset_inputs_of(ARRAY[1, 3]) i USING (asset_id);
-- The same rows written (alone, unsettled) and read back.
DELETE FROM syncopt.sla_outcome;
INSERT INTO syncopt.sla_outcome (asset_id, deadline, opens_at, first_forecast_at, connector_ids, build_times)
SELECT asset_id, deadline, opens_at, '2025-11-13 00:00+00', connector_ids, build_times FROM fresh;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE (f.ready_at, f.met, f.intervened, f.settled)
                              IS DISTINCT FROM (t.ready_at, t.met, t.intervened, t.settled)) AS disagree
  FROM fresh f JOIN syncopt.outcome_ready_times('2025-11-13 00:00+00', '1 day') t USING (asset_id, deadline);
SELECT count(*) AS disagree_with_sql_rule
  FROM fresh f
 WHERE f.met IS DISTINCT FROM CASE WHEN f.ready_at <= f.deadline THEN true
                                   WHEN f.ready_at > f.deadline OR '2025-11-13 00:00+00' > f.deadline THEN false END
    OR f.settled IS DISTINCT FROM (f.ready_at IS NOT NULL OR '2025-11-13 00:00+00' >= f.deadline + interval '1 day');
ROLLBACK;
-- One deadline and one opening time per asset id.
SELECT syncopt.new_outcomes('2025-11-12 00:00+00', '1 day', ARRAY[1, 3], ARRAY['2025-11-10 06:00+00']::timestamptz[],
                            ARRAY['2025-11-10 00:00+00']::timestamptz[]);

DROP ROLE score_reader;
DROP ROLE score_nobody;
DROP EXTENSION syncopt CASCADE;
