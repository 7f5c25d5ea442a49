-- purge_history(): old history goes in batches; open decisions, their
-- audit and each connector's newest schema snapshot stay.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (account_id, external_id) VALUES (1, 'a'), (1, 'b');

-- 5 runs 200 days old and 2 from yesterday.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
SELECT 1, 'old' || i, now() - interval '200 days' + i * interval '1 minute',
       now() - interval '200 days' + i * interval '1 minute' + interval '5 minutes', 'succeeded', 'api'
  FROM generate_series(1, 5) i;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
SELECT 1, 'new' || i, now() - interval '1 day', now() - interval '1 day' + interval '5 minutes', 'succeeded', 'api'
  FROM generate_series(1, 2) i;

-- Old decisions: one finished (rejected), one still proposed.
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status, created_at)
VALUES (1, 'pause', 'old, finished', 'copilot', 'proposed', now() - interval '200 days'),
       (2, 'pause', 'old, still open', 'copilot', 'proposed', now() - interval '200 days');
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected' WHERE decision_id = 1;
-- The trigger stamps updated_at; age the finished row behind its back.
ALTER TABLE syncopt.fivetran_sync_ai_logs DISABLE TRIGGER decision_before_update;
UPDATE syncopt.fivetran_sync_ai_logs SET updated_at = now() - interval '200 days' WHERE decision_id = 1;
ALTER TABLE syncopt.fivetran_sync_ai_logs ENABLE TRIGGER decision_before_update;

-- Schema snapshots: connector a has two old ones, b has one old one.
INSERT INTO syncopt.schema_snapshot (connector_id, captured_at, schema_hash, tables) VALUES
    (1, now() - interval '300 days', 'h1', '{}'), (1, now() - interval '200 days', 'h2', '{}'),
    (2, now() - interval '200 days', 'h3', '{}');
INSERT INTO syncopt.alert (kind, message, created_at) VALUES
    ('sync_failure', 'old', now() - interval '200 days'), ('sync_failure', 'new', now());

-- Batches of 2 per table: the first call takes 2 runs, the finished
-- decision, the old alert and connector a's older snapshot.
SELECT syncopt.purge_history('90 days', 2) AS purged;
SELECT count(*) FILTER (WHERE external_run_id LIKE 'old%') AS old_runs, count(*) AS all_runs FROM syncopt.sync_run;
SELECT syncopt.purge_history('90 days', 2) AS purged;
SELECT syncopt.purge_history('90 days', 2) AS purged;
SELECT syncopt.purge_history('90 days', 2) AS purged;
SELECT external_run_id FROM syncopt.sync_run ORDER BY 1;
SELECT decision_id, status FROM syncopt.fivetran_sync_ai_logs ORDER BY 1;
SELECT decision_id, count(*) AS events FROM syncopt.decision_event GROUP BY 1 ORDER BY 1;
SELECT connector_id, schema_hash FROM syncopt.schema_snapshot ORDER BY 1, 2;
SELECT message FROM syncopt.alert;

-- Retention 0 keeps everything; the default comes from the GUC (90 days).
SELECT syncopt.purge_history('0', 2) AS purged_with_zero;
SHOW syncopt.history_retention;
SELECT syncopt.purge_history() AS purged_with_default;
SELECT syncopt.purge_history('90 days', 0);

-- Planning runs older than the retention go too, one batch per call, but
-- never the latest: its plan is what the dashboards read.  Runs 1-3 are
-- 200, 150 and 100 days old, run 3 the latest with a planned sync; two
-- calls of batch 1 delete runs 1 and 2 (1 row each), a third deletes
-- nothing.  Once a run of today exists, run 3 goes with its planned sync.
INSERT INTO syncopt.planner_run (at, started_at, finished_at)
SELECT now() - d, now() - d, now() - d FROM unnest(ARRAY[interval '200 days', '150 days', '100 days']) d;
INSERT INTO syncopt.planned_sync (planner_run_id, connector_id, will_miss, action, reason)
VALUES (3, 1, false, 'start_now', 'run 3''s plan');
SELECT syncopt.purge_history('90 days', 1) AS purged;
SELECT syncopt.purge_history('90 days', 1) AS purged;
SELECT syncopt.purge_history('90 days', 1) AS purged;
SELECT planner_run_id, (SELECT count(*) FROM syncopt.planned_sync p WHERE p.planner_run_id = r.planner_run_id) AS planned
  FROM syncopt.planner_run r ORDER BY 1;
INSERT INTO syncopt.planner_run (at) VALUES (now());
SELECT syncopt.purge_history('90 days', 1) AS purged;
SELECT planner_run_id FROM syncopt.planner_run ORDER BY 1;
SELECT count(*) AS planned_left FROM syncopt.planned_sync;

DROP EXTENSION syncopt;
