-- backtest() on a history small enough to work out by hand.  Times are UTC.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
SET syncopt.max_concurrent_syncs = 1;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com');
-- c1 feeds A (weight 2, due 06:00 daily, wants data synced since 04:00);
-- c2 feeds B (weight 1, due 12:00 daily, 24-hour freshness) and has no
-- recorded sync at all.
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, schedule_minutes) VALUES
    (1, 1, 'c1', 'c1', 360), (2, 1, 'c2', 'c2', 360);
INSERT INTO syncopt.asset (asset_id, name, kind, deadline, freshness_sla, weight) VALUES
    (1, 'A', 'dashboard', '06:00', '2 hours', 2), (2, 'B', 'report', '12:00', NULL, 1);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (1, 1), (2, 2);
-- What happened: c1 synced 05:20-05:50 on the 19th and 20th (A met) and
-- 05:40-06:10 on the 21st (A 10 minutes late).
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source) VALUES
    (1, 'a', '2026-11-19 05:20', '2026-11-19 05:50', 'succeeded', 'api'),
    (1, 'b', '2026-11-20 05:20', '2026-11-20 05:50', 'succeeded', 'api'),
    (1, 'c', '2026-11-21 05:40', '2026-11-21 06:10', 'succeeded', 'api');
SELECT syncopt.absorb_runs(array_agg(run_id)) IS NOT NULL AS absorbed FROM syncopt.sync_run;
SELECT connector_id, p50, p90 FROM syncopt.predict_duration('2026-11-20') ORDER BY 1;
-- By hand, 20th to 22nd: A's deadlines on the 20th and 21st, B's too.
-- Recorded: A met on the 20th (05:20 is after its 04:00 opening, 05:50
--   before 06:00), missed on the 21st by 10 minutes.  B's c2 never synced:
--   B missed both days, until the end of the period (36 h and 12 h).
--   Credits: two 30-minute syncs plus 5 minutes of auto-suspend each:
--   70 min = 1.1667.
-- The planner's replay (one slot): A's sync may not start before 04:00
--   (its opening) and the run at 04:00 triggers it; it takes as long as
--   c1's recorded sync nearest in time (05:20 that day, 30 min), so
--   04:00-04:30, A met both days.  c2 has no history: its sync takes its
--   P50 (30 min, the default), from 00:00 on the 20th (B's 24-hour window
--   opened before the period, so at its start) and, once B's 12:00
--   deadline has passed, at 12:00 for the next: 00:00-00:30 and
--   12:00-12:30, B met both days.  On the 21st at 12:00 it syncs c2 again
--   for B's deadline on the 22nd, after the period.  Credits: five
--   35-minute intervals, 175 min = 2.9167.
SELECT asset_id, deadline, weight, actual_met, actual_late, replay_met, replay_late, reason
  FROM syncopt.backtest('2026-11-20 00:00', '2026-11-22 00:00') ORDER BY deadline NULLS LAST, asset_id;
SELECT asset_id, deadline, jsonb_pretty(proposed) AS proposed
  FROM syncopt.backtest('2026-11-20 00:00', '2026-11-22 00:00') WHERE asset_id IS NOT NULL
 ORDER BY deadline, asset_id;
SELECT weight, actual_met, replay_met, round(actual_credits::numeric, 4) AS actual_credits,
       round(replay_credits::numeric, 4) AS replay_credits, reason
  FROM syncopt.backtest('2026-11-20 00:00', '2026-11-22 00:00') WHERE asset_id IS NULL;
-- Before history starts: on the 19th A's window opened at 04:00, before
-- the first recorded sync (05:20): what happened is unknown (NULL).
SELECT asset_id, deadline, actual_met, actual_late, replay_met, reason
  FROM syncopt.backtest('2026-11-19 00:00', '2026-11-19 08:00') WHERE asset_id IS NOT NULL;
-- Readers may run it; PUBLIC may not.
SELECT has_function_privilege('syncopt_reader', 'syncopt.backtest(timestamptz, timestamptz)', 'EXECUTE') AS reader,
       has_function_privilege('public', 'syncopt.backtest(timestamptz, timestamptz)', 'EXECUTE') AS public;
-- Bad input: a clear error.
SELECT * FROM syncopt.backtest('2026-11-22', '2026-11-20');
SELECT * FROM syncopt.backtest('2026-10-01', '2026-11-20');
DROP EXTENSION syncopt CASCADE;
