-- A planning run shares its work (issue 34): it plans the fleet once for
-- its plan and its SLA forecast, and what it decides from them is what
-- plan(), sla_risk() and planner_candidates() say on their own.  Past
-- syncopt.planner_time_limit it still writes its most urgent proposals,
-- with the plan and forecast whole, and records what it did not reach.
-- Planned at 2054-11-23 04:10 UTC (a Monday, ahead of the clock, so
-- proposals' expiry never depends on today's date).
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
SET syncopt.max_concurrent_syncs = 10;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.policy (mode) VALUES ('copilot');
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/add_runs.sql

------------------------------------------------------------------------
-- C1..C4 sync daily at 05:00 (vendor schedule), each feeding a dashboard
-- due 06:00 with weight 1..4; two runs of 40 and 60 min give a P90 of
-- 1.5 x 50 = 75 min, so each must start by 04:45 and the vendor's 05:00
-- is 15 min too late: four trigger_sync candidates, all planned to start
-- now (10 slots).  The score grows with the weight and nothing else
-- differs, so C4 is the most urgent, then C3, C2, C1.  Weekly feeds a
-- dashboard due on Thursdays (dow 4) at 06:00: its next deadline
-- (2054-11-26) is in sla_risk()'s eight days but not in the 24-hour plan,
-- so the run's plan has 4 syncs and its forecast 5 deadlines.
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes, schedule_type, daily_sync_time)
SELECT i, 1, 'c' || i, 'C' || i, 1440, 'auto', '05:00' FROM generate_series(1, 4) i;
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes, schedule_type, daily_sync_time)
VALUES (5, 1, 'weekly', 'Weekly', 1440, 'auto', '05:00');
SELECT count(pg_temp.add_runs(i, '{2400,3600}')) AS with_runs FROM generate_series(1, 5) i;
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, weight)
SELECT i, 'dash' || i, 'dashboard', '06:00', i FROM generate_series(1, 4) i;
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, days) VALUES (5, 'thursday_dash', 'dashboard', '06:00', '4');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) SELECT i, i FROM generate_series(1, 5) i;

-- The run: four proposals, most urgent first.
SELECT connector_id, action, status FROM syncopt.run_planner('2054-11-23 04:10+00') ORDER BY priority_score DESC;
SELECT planner_run_id, candidates, written, not_reached FROM syncopt.planner_run;

-- Its plan and forecast are exactly plan(at, '24 hours') and sla_risk(at),
-- row for row (each difference counted both ways).
SELECT (SELECT count(*) FROM syncopt.planned_sync WHERE planner_run_id = 1) AS planned,
       (SELECT count(*) FROM (SELECT connector_id, planned_start, predicted_end, deadline, slack, will_miss, action, priority, reason
                                FROM syncopt.planned_sync
                              EXCEPT ALL
                              SELECT * FROM syncopt.plan('2054-11-23 04:10+00', '24 hours')) x) AS only_in_run,
       (SELECT count(*) FROM (SELECT * FROM syncopt.plan('2054-11-23 04:10+00', '24 hours')
                              EXCEPT ALL
                              SELECT connector_id, planned_start, predicted_end, deadline, slack, will_miss, action, priority, reason
                                FROM syncopt.planned_sync) x) AS only_in_plan;
SELECT (SELECT count(*) FROM syncopt.sla_forecast WHERE planner_run_id = 1) AS forecast,
       (SELECT count(*) FROM (SELECT asset_id, deadline, predicted_ready, at_risk, risk, blocking_connectors, reason
                                FROM syncopt.sla_forecast
                              EXCEPT ALL
                              SELECT * FROM syncopt.sla_risk('2054-11-23 04:10+00')) x) AS only_in_run,
       (SELECT count(*) FROM (SELECT * FROM syncopt.sla_risk('2054-11-23 04:10+00')
                              EXCEPT ALL
                              SELECT asset_id, deadline, predicted_ready, at_risk, risk, blocking_connectors, reason
                                FROM syncopt.sla_forecast) x) AS only_in_sla_risk;
-- The Thursday deadline is forecast (its sync planned on Wednesday, when
-- its data opens), but not in the 24-hour plan.
SELECT asset_id, deadline, predicted_ready FROM syncopt.sla_forecast WHERE asset_id = 5;
SELECT count(*) AS weekly_planned FROM syncopt.planned_sync WHERE connector_id = 5;
-- The candidates read from the run's rows are those computed afresh.
SELECT (SELECT count(*) FROM syncopt.planner_candidates('2054-11-23 04:10+00', 1)) AS from_run,
       (SELECT count(*) FROM (SELECT * FROM syncopt.planner_candidates('2054-11-23 04:10+00', 1)
                              EXCEPT ALL
                              SELECT * FROM syncopt.planner_candidates('2054-11-23 04:10+00')) x) AS only_from_run,
       (SELECT count(*) FROM (SELECT * FROM syncopt.planner_candidates('2054-11-23 04:10+00')
                              EXCEPT ALL
                              SELECT * FROM syncopt.planner_candidates('2054-11-23 04:10+00', 1)) x) AS only_afresh;
-- A run that is not the latest has no rows left: nothing to read.
SELECT count(*) AS from_missing_run FROM syncopt.planner_candidates('2054-11-23 04:10+00', 99);
-- The run loaded the fleet once and shared it with the analytics it
-- called (priority_scores, predict_duration, batch_recommendations): what
-- it wrote from them is what they return on their own.  Each decision's
-- score and components (less what the run adds: benefit, policy) are a
-- candidate's computed afresh, and the durations the scorecard recorded
-- are predict_duration()'s.
SELECT (SELECT count(*) FROM syncopt.fivetran_sync_ai_logs WHERE planner_run_id = 1) AS decisions,
       (SELECT count(*) FROM (SELECT l.connector_id, l.action, l.params, l.priority_score,
                                     l.score_components - 'benefit' - 'policy'
                                FROM syncopt.fivetran_sync_ai_logs l WHERE l.planner_run_id = 1
                              EXCEPT ALL
                              SELECT pc.connector_id, pc.action, pc.params, pc.priority_score,
                                     coalesce(pc.score_components, '{}')
                                FROM syncopt.planner_candidates('2054-11-23 04:10+00') pc) x) AS not_afresh;
SELECT (SELECT count(*) FROM syncopt.duration_forecast WHERE planner_run_id = 1) AS durations,
       (SELECT count(*) FROM (SELECT f.connector_id, f.p50, f.p90 FROM syncopt.duration_forecast f
                               WHERE f.planner_run_id = 1
                              EXCEPT ALL
                              SELECT d.connector_id, d.p50, d.p90
                                FROM syncopt.predict_duration('2054-11-23 04:10+00') d) x) AS not_afresh;

------------------------------------------------------------------------
-- The time limit.  The proposals above expire, so the same four are due
-- again.  With a limit of 1 ms the analytics pass it before the first
-- candidate: the run still takes the most urgent one (C4's trigger) and
-- counts the other three as not reached, with a warning; its plan and
-- forecast are whole.
------------------------------------------------------------------------
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'expired' WHERE status = 'proposed';
SET syncopt.planner_time_limit = '1ms';
SET client_min_messages = warning;
SELECT connector_id, action, status FROM syncopt.run_planner('2054-11-23 04:10+00');
SELECT planner_run_id, candidates, written, not_reached, finished_at IS NOT NULL AS finished
  FROM syncopt.planner_run ORDER BY planner_run_id;
-- The one written is the first in the run's order, from the candidates
-- computed independently.
SELECT connector_id, action FROM syncopt.planner_candidates('2054-11-23 04:10+00') pc
 ORDER BY pc.priority_score DESC NULLS LAST, pc.connector_id LIMIT 1;
SELECT (SELECT count(*) FROM syncopt.planned_sync WHERE planner_run_id = 2) AS planned,
       (SELECT count(*) FROM syncopt.sla_forecast WHERE planner_run_id = 2) AS forecast;
-- The next run (with time) takes up the rest: C4's proposal is open, the
-- other three are written.
RESET syncopt.planner_time_limit;
SELECT connector_id, action, status FROM syncopt.run_planner('2054-11-23 04:10+00') ORDER BY connector_id;
SELECT planner_run_id, candidates, written, unchanged, not_reached FROM syncopt.planner_run WHERE planner_run_id = 3;
-- The limit is a duration from 1 ms to 1 hour (the message's wording of
-- the range differs between major versions: only its SQLSTATE is shown).
DO $$
BEGIN
    PERFORM pg_catalog.set_config('syncopt.planner_time_limit', '0', false);
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE WARNING 'refused: %', SQLSTATE;
END
$$;
SHOW syncopt.planner_time_limit;

------------------------------------------------------------------------
-- The scale bench's fleet planned nothing (issue 34): every connector
-- feeds a dashboard in Berlin due early in the UTC morning and others due
-- later, none with a freshness SLA (so a sync serves a deadline when it
-- started in the 24 hours before it).  Here Nightly (id 11) syncs daily
-- at 00:00 UTC (last start 2054-11-22 00:00, two runs of 600 s: P90 900 s)
-- and feeds berlin_kpi (06:00 Europe/Berlin = 05:00 UTC, opening
-- 2054-11-21 05:00: served by that sync) and tokyo_kpi (10:00 Asia/Tokyo
-- = 2054-11-23 01:00 UTC, opening 2054-11-22 01:00: not served).  At
-- 2054-11-22 03:00 its need is tokyo_kpi: one sync, started now and done
-- by 03:15, due 01:00 the next day.  (Taking the served Berlin deadline as
-- its due, the planner skipped it as served and planned nothing: on the
-- bench's fleet every connector reached such a deadline.)
------------------------------------------------------------------------
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
VALUES (11, 1, 'nightly', 'Nightly');
SELECT pg_temp.add_runs(11, '{600,600}');
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, timezone) VALUES
    (11, 'berlin_kpi', 'dashboard', '06:00', 'Europe/Berlin'),
    (12, 'tokyo_kpi', 'dashboard', '10:00', 'Asia/Tokyo');
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (11, 11), (11, 12);
SELECT connector_id, planned_start, predicted_end, deadline, will_miss, action
  FROM syncopt.plan('2054-11-22 03:00+00', '24 hours') WHERE connector_id = 11;
SELECT connector_id, deadline, deadline_asset_id
  FROM syncopt.priority_scores('2054-11-22 03:00+00') WHERE connector_id = 11;

-- The shared load lasts only for the statement that made it: in the same
-- transaction, a later call sees the tables as they are (dash4's weight
-- raised from 4 to 40 after a run: C4's downstream weight follows).
BEGIN;
SELECT count(*) AS decisions FROM syncopt.run_planner('2054-11-23 04:10+00');
UPDATE syncopt.asset SET weight = 40 WHERE asset_id = 4;
SELECT connector_id, downstream_weight FROM syncopt.priority_scores('2054-11-23 04:10+00') WHERE connector_id = 4;
ROLLBACK;

------------------------------------------------------------------------
-- The graph walk (due times pushed back through the graph, downstream
-- weights, staleness) is made once per planning run: the first analytics
-- scoring the run's fleet walks it, and those scoring it later in the
-- same statement take that walk (fleet_share.c), each applying the
-- tag-scoped calendar events of its own horizon.  Called after
-- plan_and_forecast() in one statement, priority_scores() and
-- batch_recommendations() answer as they do alone, on a fleet with what
-- the walk computes: C2 waits for C1 (sync_order), so C1 must be done
-- when C2 must start (06:00 less C2's P90 of 75 min: 04:45, for dash2)
-- and carries dash2's weight too (1 + 2); Nightly synced at 2054-11-22
-- 06:00, which serves berlin_kpi (due 05:00 UTC, opening 24 hours
-- before), so it is due for tokyo_kpi (2054-11-24 01:00 UTC); C3 carries
-- tag finance, weighed x3 by an event over its deadline (3 x 3); dash2
-- wants data at most 12 hours old, and C1's and C2's is 27 h 10 min old
-- (their last runs ended 2054-11-22 01:00): staleness 27.17 / 12 = 2.26;
-- and C4 has a sync running, which the plan reads and the scores do not.
------------------------------------------------------------------------
BEGIN;
INSERT INTO syncopt.sync_order (before_connector_id, after_connector_id) VALUES (1, 2);
UPDATE syncopt.connector SET tags = '{finance}' WHERE connector_id = 3;
INSERT INTO syncopt.calendar_event (name, during, weight_multiplier, tag)
VALUES ('month close', tstzrange('2054-11-23 00:00+00', '2054-11-24 00:00+00'), 3, 'finance');
UPDATE syncopt.asset SET freshness_sla = '12 hours' WHERE asset_id = 2;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, status, source)
VALUES (4, 'running', '2054-11-23 04:00+00', 'running', 'api');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (11, 'morning', '2054-11-22 06:00+00', '2054-11-22 06:10+00', 'succeeded', 'api');
SELECT count(*) AS absorbed
  FROM (SELECT syncopt.absorb_runs(ARRAY(SELECT run_id FROM syncopt.sync_run WHERE external_run_id = 'morning'), true)) x;
-- plan_and_forecast() first (the lateral call waits for its count), then
-- the analytics in the same statement.
CREATE TEMP TABLE shared_scores AS
WITH pass AS MATERIALIZED (SELECT count(*) AS n FROM syncopt.plan_and_forecast(0, '2054-11-23 04:10+00'))
SELECT s.* FROM pass
 CROSS JOIN LATERAL syncopt.priority_scores('2054-11-23 04:10+00'::timestamptz + pass.n * interval '0') s;
CREATE TEMP TABLE shared_batch AS
WITH pass AS MATERIALIZED (SELECT count(*) AS n FROM syncopt.plan_and_forecast(0, '2054-11-23 04:10+00'))
SELECT b.* FROM pass
 CROSS JOIN LATERAL syncopt.batch_recommendations('2054-11-23 04:10+00'::timestamptz + pass.n * interval '0') b;
SELECT connector_id, deadline, deadline_asset_id, downstream_weight, calendar_multiplier,
       round(staleness::numeric, 2) AS staleness
  FROM shared_scores WHERE connector_id IN (1, 2, 3, 11) ORDER BY connector_id;
SELECT (SELECT count(*) FROM shared_scores) AS scores,
       (SELECT count(*) FROM (SELECT * FROM shared_scores
                              EXCEPT ALL
                              SELECT * FROM syncopt.priority_scores('2054-11-23 04:10+00')) x) AS only_shared,
       (SELECT count(*) FROM (SELECT * FROM syncopt.priority_scores('2054-11-23 04:10+00')
                              EXCEPT ALL
                              SELECT * FROM shared_scores) x) AS only_alone;
SELECT (SELECT count(*) FROM shared_batch) AS batch,
       (SELECT count(*) FROM (SELECT * FROM shared_batch
                              EXCEPT ALL
                              SELECT * FROM syncopt.batch_recommendations('2054-11-23 04:10+00')) x) AS only_shared,
       (SELECT count(*) FROM (SELECT * FROM syncopt.batch_recommendations('2054-11-23 04:10+00')
                              EXCEPT ALL
                              SELECT * FROM shared_batch) x) AS only_alone;
-- The running sync is the plan's: C4 is not planned to start now.
SELECT connector_id, action FROM syncopt.plan('2054-11-23 04:10+00', '24 hours') WHERE connector_id = 4;
ROLLBACK;

DROP EXTENSION syncopt CASCADE;
