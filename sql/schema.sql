-- The objects the extension creates, and the constraints that keep bad
-- configuration out.
\set SHOW_CONTEXT never
-- Constraint errors name the constraint; the failing row (with now()
-- timestamps) is left out so the output is stable.
\set VERBOSITY terse
CREATE EXTENSION syncopt;

-- Every table, with its primary key (sync_run is partitioned: its run
-- identity is sync_run_key's).
SELECT c.relname AS table_name,
       (SELECT string_agg(a.attname, ', ' ORDER BY k.ord)
          FROM pg_constraint pk
         CROSS JOIN LATERAL unnest(pk.conkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = pk.conrelid AND a.attnum = k.attnum
         WHERE pk.conrelid = c.oid AND pk.contype = 'p') AS primary_key
  FROM pg_class c
 WHERE c.relnamespace = 'syncopt'::regnamespace AND c.relkind IN ('r', 'p')
 ORDER BY 1;

-- Every view and every function.
SELECT c.relname AS view_name FROM pg_class c
 WHERE c.relnamespace = 'syncopt'::regnamespace AND c.relkind = 'v' ORDER BY 1;
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer
  FROM pg_proc p WHERE p.pronamespace = 'syncopt'::regnamespace ORDER BY p.oid::regprocedure::text;

-- The control table has every column the design names.
SELECT count(*) = 0 AS all_columns_present
  FROM unnest(ARRAY['decision_id', 'created_at', 'planner_run_id', 'account_id', 'connector_id',
                    'vendor', 'action', 'params', 'previous', 'priority_score', 'score_components',
                    'reason', 'mode', 'status', 'expires_at', 'not_before', 'approved_by',
                    'approved_at', 'review_note', 'attempts', 'next_attempt_at', 'started_at',
                    'finished_at', 'http_status', 'response', 'error']) col
 WHERE NOT EXISTS (SELECT FROM pg_attribute a
                    WHERE a.attrelid = 'syncopt.fivetran_sync_ai_logs'::regclass
                      AND a.attname = col AND NOT a.attisdropped);

-- Accounts: vendor and URL shape are checked, names are unique.
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('stitch', 'st', 'https://api.stitchdata.com');
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'creds', 'https://key:secret@api.fivetran.com');
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'query', 'https://api.fivetran.com/?next=evil');
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ftp', 'ftp://api.fivetran.com');
INSERT INTO syncopt.account (vendor, name, base_url, poll_interval) VALUES ('fivetran', 'fast', 'https://api.fivetran.com', '1 second');

-- Connectors: one per external id per account; enumerations checked.
INSERT INTO syncopt.connector (account_id, external_id, name) VALUES (1, 'decent_dropsy', 'salesforce');
INSERT INTO syncopt.connector (account_id, external_id, name) VALUES (1, 'decent_dropsy', 'again');
INSERT INTO syncopt.connector (account_id, external_id, name) VALUES (2, 'decent_dropsy', 'same id, other account');
INSERT INTO syncopt.connector (account_id, external_id, sync_state) VALUES (1, 'x', 'running');
INSERT INTO syncopt.connector (account_id, external_id, setup_state) VALUES (1, 'x', 'ok');
INSERT INTO syncopt.connector (account_id, external_id, schedule_minutes) VALUES (1, 'x', 0);
INSERT INTO syncopt.connector (account_id, external_id) VALUES (99, 'x');

-- Assets: time zones and cron day-of-week fields are validated.
INSERT INTO syncopt.asset (name, kind, deadline, timezone, days, weight)
VALUES ('exec_dashboard', 'dashboard', '06:00', 'America/New_York', '1-5', 5);
INSERT INTO syncopt.asset (name, timezone) VALUES ('bad_tz', 'Mars/Olympus_Mons');
INSERT INTO syncopt.asset (name, days) VALUES ('bad_days', 'mon-fri');
INSERT INTO syncopt.asset (name, days) VALUES ('bad_days2', '8');
INSERT INTO syncopt.asset (name, weight) VALUES ('bad_weight', 0);
INSERT INTO syncopt.asset (name, kind) VALUES ('bad_kind', 'spreadsheet');
INSERT INTO syncopt.asset (name, freshness_sla) VALUES ('bad_sla', '-1 hour');

-- Sync runs: statuses, sources and times are consistent.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (1, 'r1', '2026-01-01 00:00Z', '2026-01-01 00:10Z', 'succeeded', 'api');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (1, 'r1', '2026-01-01 00:00Z', '2026-01-01 00:10Z', 'succeeded', 'api');
-- (the same run again is not inserted: one row)
SELECT count(*) AS r1_runs FROM syncopt.sync_run WHERE connector_id = 1 AND external_run_id = 'r1';
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (1, 'r2', '2026-01-01 00:00Z', '2025-12-31 23:00Z', 'succeeded', 'api');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, status, source)
VALUES (1, 'r3', '2026-01-01 00:00Z', 'succeeded', 'api');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (1, 'r4', '2026-01-01 00:00Z', '2026-01-01 00:10Z', 'queued', 'api');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, status, source)
VALUES (1, 'r5', '2026-01-01 00:00Z', 'running', 'csv');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, status, source, rows)
VALUES (1, 'r6', '2026-01-01 00:00Z', 'running', 'api', -1);

-- Load windows: the target decides which key is required.
INSERT INTO syncopt.load_window (target, start_time, end_time, price_multiplier)
VALUES ('warehouse', '08:00', '18:00', 2.5);
INSERT INTO syncopt.load_window (target, start_time, end_time, load_factor)
VALUES ('source', '08:00', '18:00', 0.8);
INSERT INTO syncopt.load_window (target, source_key, start_time, end_time)
VALUES ('source', 'erp', '08:00', '18:00');
INSERT INTO syncopt.load_window (target, source_key, start_time, end_time, load_factor)
VALUES ('source', 'erp', '08:00', '08:00', 0.5);
INSERT INTO syncopt.load_window (target, source_key, start_time, end_time, load_factor)
VALUES ('source', 'erp', '22:00', '02:00', 1.5);

-- Policies: one per scope; bounds are ordered; actions are known.
INSERT INTO syncopt.policy (mode) VALUES ('copilot');
INSERT INTO syncopt.policy (mode) VALUES ('auto');
INSERT INTO syncopt.policy (tag, mode) VALUES ('finance', 'yolo');
INSERT INTO syncopt.policy (tag, allowed_actions) VALUES ('finance', '{trigger_sync,drop_table}');
INSERT INTO syncopt.policy (tag, min_schedule_minutes, max_schedule_minutes) VALUES ('finance', 60, 30);
INSERT INTO syncopt.policy (connector_id, tag) VALUES (1, 'finance');

-- Failure patterns: the regular expression must compile; built-ins are fixed.
SELECT count(*) > 0 AS has_builtin_patterns FROM syncopt.failure_pattern WHERE builtin;
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation)
VALUES ('(unclosed', 'transient', true, 'retry');
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation)
VALUES ('ORA-\d+', 'source_outage', true, 'check the Oracle source');
UPDATE syncopt.failure_pattern SET retryable = NOT retryable WHERE builtin;
DELETE FROM syncopt.failure_pattern WHERE builtin;
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation, builtin)
VALUES ('x', 'transient', true, 'retry', true);

-- Calendar events need a bounded, non-empty period.
INSERT INTO syncopt.calendar_event (name, during, weight_multiplier)
VALUES ('month-end close', '[2026-11-28, 2026-12-03)', 3);
INSERT INTO syncopt.calendar_event (name, during) VALUES ('forever', '[2026-11-28,)');
INSERT INTO syncopt.calendar_event (name, during, asset_id, tag) VALUES ('both', '[2026-11-28, 2026-12-03)', 1, 'x');

DROP EXTENSION syncopt;
