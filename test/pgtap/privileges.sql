-- Privileges of syncopt's roles: what each can read, change and call, and
-- that nothing is granted to PUBLIC.  Runs in one transaction, rolled back.
BEGIN;
SELECT plan(119);

-- Fixtures, as the owner.
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id) VALUES (1, 1, 'decent_dropsy');
SELECT syncopt.set_credentials(1, 'key-123', 's3cr3t-value');
INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
VALUES (1, 'trigger_sync', 'due at 06:00', 'copilot', 'proposed'),
       (1, 'pause', 'credentials expired', 'copilot', 'proposed');
CREATE ROLE tap_reader IN ROLE syncopt_reader;
CREATE ROLE tap_approver IN ROLE syncopt_approver;
CREATE ROLE tap_admin IN ROLE syncopt_admin;
CREATE ROLE tap_nobody;

-- The roles, and that none can log in by itself.
SELECT has_role('syncopt_reader');
SELECT has_role('syncopt_approver');
SELECT has_role('syncopt_admin');
SELECT is_empty($$ SELECT rolname FROM pg_roles WHERE rolname LIKE 'syncopt\_%' AND (rolcanlogin OR rolsuper) $$,
                'syncopt roles can neither log in nor act as superuser');
SELECT is_empty($$ SELECT 1 FROM pg_class WHERE relowner = 'syncopt_worker'::regrole
                    UNION ALL SELECT 1 FROM pg_proc WHERE proowner = 'syncopt_worker'::regrole
                    UNION ALL SELECT 1 FROM pg_namespace WHERE nspowner = 'syncopt_worker'::regrole $$,
                'the workers'' role owns nothing: it can change no definition');
SELECT ok(NOT has_schema_privilege('syncopt_worker', 'syncopt', 'CREATE')
          AND NOT has_schema_privilege('syncopt_worker', 'public', 'CREATE'),
          'the workers'' role cannot create objects in syncopt or public');
SELECT is_member_of('syncopt_reader', ARRAY['syncopt_approver', 'syncopt_admin'],
                    'approvers and admins are readers');
SELECT ok(NOT pg_has_role('syncopt_admin', 'syncopt_approver', 'MEMBER'),
          'admins are not approvers: four eyes stay possible');

-- Nothing for PUBLIC.
SELECT is_empty($$ SELECT c.relname FROM pg_class c, aclexplode(c.relacl) a
                    WHERE c.relnamespace = 'syncopt'::regnamespace AND a.grantee = 0 $$,
                'no table, view or sequence grants to PUBLIC');
SELECT is_empty($$ SELECT p.oid::regprocedure::text FROM pg_proc p
                    WHERE p.pronamespace = 'syncopt'::regnamespace
                      AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0)) $$,
                'no function is executable by PUBLIC');
SELECT is_empty($$ SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a
                    WHERE n.nspname = 'syncopt' AND a.grantee = 0 $$,
                'no schema privilege for PUBLIC');
SELECT ok(NOT has_schema_privilege('tap_nobody', 'syncopt', 'USAGE'), 'an unrelated role cannot even see the schema');

-- Pinned search paths: every function resolves names only in pg_catalog
-- (and syncopt), temporary relations last, whoever calls it and with
-- whatever search_path.  The exceptions are the small SQL helpers of the
-- ingestion checks, which are inlined into their callers (a SET clause
-- would forbid that) and so resolve with their callers' pinned path; they
-- must stay plain SQL, not SECURITY DEFINER, and executable by no role but
-- the workers' (whose statements the C runner pins).
SELECT is_empty($$ SELECT p.oid::regprocedure::text FROM pg_proc p
                    WHERE p.pronamespace = 'syncopt'::regnamespace
                      AND p.proname NOT IN ('json_field_problem', 'json_enum_problem', 'fivetran_end_status',
                                            'fivetran_connection_problem', 'fivetran_envelope_problem',
                                            'fivetran_schema_problem', 'airbyte_page_problem',
                                            'airbyte_basic_minutes', 'airbyte_connection_problem',
                                            'fivetran_item_shape_problem', 'airbyte_item_shape_problem',
                                            'fivetran_end_code', 'connector_settings')
                      AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c
                                       WHERE c ~ '^search_path=pg_catalog(, syncopt)?, pg_temp$') $$,
                'every function pins search_path to pg_catalog[, syncopt], pg_temp');
SELECT is_empty($$ SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                    WHERE p.pronamespace = 'syncopt'::regnamespace AND p.proconfig IS NULL
                      AND (l.lanname <> 'sql' OR p.prosecdef
                           OR EXISTS (SELECT FROM aclexplode(p.proacl) a
                                       WHERE a.grantee NOT IN (p.proowner, 'syncopt_worker'::regrole))) $$,
                'the helpers without a pinned path are plain SQL, not SECURITY DEFINER, granted to no user role');

-- Table privileges, role by role.
SELECT table_privs_are('syncopt', 'fivetran_sync_ai_logs', 'syncopt_reader', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'fivetran_sync_ai_logs', 'syncopt_approver', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'fivetran_sync_ai_logs', 'syncopt_admin', ARRAY['SELECT']);
SELECT column_privs_are('syncopt', 'fivetran_sync_ai_logs', 'status', 'syncopt_approver', ARRAY['SELECT', 'UPDATE']);
SELECT column_privs_are('syncopt', 'fivetran_sync_ai_logs', 'review_note', 'syncopt_approver', ARRAY['SELECT', 'UPDATE']);
SELECT column_privs_are('syncopt', 'fivetran_sync_ai_logs', 'params', 'syncopt_approver', ARRAY['SELECT']);
SELECT column_privs_are('syncopt', 'fivetran_sync_ai_logs', 'approved_by', 'syncopt_approver', ARRAY['SELECT']);
SELECT column_privs_are('syncopt', 'fivetran_sync_ai_logs', 'status', 'syncopt_admin', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'decision_event', 'syncopt_approver', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'decision_event', 'syncopt_admin', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'account', 'syncopt_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE']);
SELECT table_privs_are('syncopt', 'account', 'syncopt_approver', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'policy', 'syncopt_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'UPDATE']);
SELECT table_privs_are('syncopt', 'sync_run', 'syncopt_admin', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'connector', 'syncopt_admin', ARRAY['SELECT']);
SELECT column_privs_are('syncopt', 'connector', 'tags', 'syncopt_admin', ARRAY['SELECT', 'UPDATE']);

-- Secrets: only the owner and the workers' role read account_secret.
SELECT table_privs_are('syncopt', 'account_secret', 'syncopt_reader', ARRAY[]::text[]);
SELECT table_privs_are('syncopt', 'account_secret', 'syncopt_approver', ARRAY[]::text[]);
SELECT table_privs_are('syncopt', 'account_secret', 'syncopt_admin', ARRAY[]::text[]);
SELECT is_empty($$ SELECT r.rolname FROM pg_roles r
                    WHERE NOT r.rolsuper
                      -- PostgreSQL's predefined read-everything roles (docs/security.md)
                      AND r.rolname NOT IN ('pg_read_all_data', 'pg_write_all_data')
                      AND r.oid <> (SELECT relowner FROM pg_class WHERE oid = 'syncopt.account_secret'::regclass)
                      AND NOT pg_has_role(r.oid, 'syncopt_worker', 'USAGE')
                      AND (has_table_privilege(r.oid, 'syncopt.account_secret', 'SELECT')
                           OR has_any_column_privilege(r.oid, 'syncopt.account_secret', 'SELECT')) $$,
                'no role but the owner, the workers (and superusers, pg_read_all_data) can read account_secret');
SELECT columns_are('syncopt', 'credential_status',
                   ARRAY['account_id', 'name', 'vendor', 'has_credentials', 'has_webhook_secret', 'updated_at', 'updated_by'],
                   'credential_status shows whether secrets are set, never the secrets');

-- SECURITY DEFINER functions: exactly these, each with a pinned search_path.
SELECT set_eq($$ SELECT p.oid::regprocedure::text FROM pg_proc p
                  WHERE p.pronamespace = 'syncopt'::regnamespace AND p.prosecdef $$,
              ARRAY['syncopt.account_forget_secret()', 'syncopt.decision_audit()', 'syncopt.propose(bigint,text,jsonb,text)',
                    'syncopt.set_credentials(bigint,text,text)', 'syncopt.set_webhook_secret(bigint,text)',
                    'syncopt.collect(bigint)', 'syncopt.request_poll(bigint)',
                    'syncopt.ingest_fivetran_log_begin(bigint,name)',
                    'syncopt.ingest_fivetran_log_batch(bigint,name,syncopt.platform_log_event[])',
                    'syncopt.ingest_fivetran_log_end(bigint,name,syncopt.platform_log_connection[],timestamp with time zone,text[],bigint,jsonb)',
                    'syncopt.ingest_fivetran_webhook(bigint,text,text)',
                    'syncopt.run_planner(timestamp with time zone)', 'syncopt.schedule_planner(text)',
                    'syncopt.rollback(bigint)', 'syncopt.reset_breaker(bigint)',
                    'syncopt.import_dbt_manifest(jsonb,boolean)',
                    'syncopt.label_failure(bigint,text,text)',
                    'syncopt.maintain_run_partitions(interval,integer)',
                    'syncopt.triage_version_bump()'],
              'the SECURITY DEFINER functions');
SELECT is_empty($$ SELECT p.oid::regprocedure::text FROM pg_proc p
                    WHERE p.pronamespace = 'syncopt'::regnamespace AND p.prosecdef
                      AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false) $$,
                'every SECURITY DEFINER function pins search_path = pg_catalog, pg_temp');
SELECT function_privs_are('syncopt', 'set_credentials', ARRAY['bigint', 'text', 'text'], 'syncopt_admin', ARRAY['EXECUTE']);
-- Partition maintenance creates and drops sync_run's weeks with the owner's
-- rights: the workers' retention purge calls it, no user role.
SELECT function_privs_are('syncopt', 'maintain_run_partitions', ARRAY['interval', 'integer'], 'syncopt_admin', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'maintain_run_partitions', ARRAY['interval', 'integer'], 'syncopt_worker', ARRAY['EXECUTE']);
-- The run keys are read through sync_run, not by readers directly.
SELECT table_privs_are('syncopt', 'sync_run_key', 'syncopt_reader', ARRAY[]::text[]);
-- The analytics read which connectors have runs waiting to be folded (issue 34).
SELECT table_privs_are('syncopt', 'stats_backlog', 'syncopt_reader', ARRAY['SELECT']);
-- batch_recommendations() reads the runs the fold keeps (issue 34); readers do not write them.
SELECT table_privs_are('syncopt', 'connector_last_runs', 'syncopt_reader', ARRAY['SELECT']);
-- cost_by_connector (security_invoker) reads the daily rollup with the reader's
-- rights; sync_run's triggers write it with the writer's: readers and
-- approvers only read it, the workers write it (h-rollup, issue 34).
SELECT table_privs_are('syncopt', 'sync_run_daily', 'syncopt_reader', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'sync_run_daily', 'syncopt_worker', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
SELECT table_privs_are('syncopt', 'sync_run_daily', 'public', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'set_credentials', ARRAY['bigint', 'text', 'text'], 'syncopt_approver', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'set_credentials', ARRAY['bigint', 'text', 'text'], 'syncopt_reader', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'set_webhook_secret', ARRAY['bigint', 'text'], 'syncopt_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'set_webhook_secret', ARRAY['bigint', 'text'], 'syncopt_reader', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'propose', ARRAY['bigint', 'text', 'jsonb', 'text'], 'syncopt_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'propose', ARRAY['bigint', 'text', 'jsonb', 'text'], 'syncopt_approver', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'decision_audit', ARRAY[]::text[], 'syncopt_admin', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'account_forget_secret', ARRAY[]::text[], 'syncopt_admin', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'worker_status', ARRAY[]::text[], 'syncopt_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'run_planner', ARRAY['timestamp with time zone'], 'syncopt_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'run_planner', ARRAY['timestamp with time zone'], 'syncopt_approver', ARRAY[]::text[]);
-- An attempt of a run, made only by run_planner() under the run's lock.
SELECT function_privs_are('syncopt', 'run_planner_pass', ARRAY['timestamp with time zone', 'timestamp with time zone', 'text'], 'syncopt_admin', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'rollback', ARRAY['bigint'], 'syncopt_approver', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'rollback', ARRAY['bigint'], 'syncopt_reader', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'reset_breaker', ARRAY['bigint'], 'syncopt_approver', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'render_request', ARRAY['bigint'], 'syncopt_reader', ARRAY['EXECUTE']);
-- Issue 31: the replay's trace and the backtest are analytics readers run.
SELECT function_privs_are('syncopt', 'simulate_trace', ARRAY['interval', 'integer', 'timestamp with time zone', 'double precision'], 'syncopt_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'backtest', ARRAY['timestamp with time zone', 'timestamp with time zone'], 'syncopt_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'executor_claim', ARRAY['integer', 'bigint[]', 'integer'], 'syncopt_admin', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'executor_abandon', ARRAY['bigint', 'integer', 'boolean', 'text'], 'syncopt_admin', ARRAY[]::text[]);
-- A Slack webhook URL is a secret: no role but the owner and the workers
-- (which deliver to it) reads notification_channel.url.
SELECT is_empty($$ SELECT r.rolname FROM pg_roles r
                    WHERE r.rolname LIKE 'syncopt%' AND r.rolname <> 'syncopt_worker'
                      AND has_column_privilege(r.oid, 'syncopt.notification_channel', 'url', 'SELECT') $$,
                'no syncopt role can read a notification channel URL');
SELECT ok(has_column_privilege('syncopt_admin', 'syncopt.notification_channel', 'url', 'INSERT'),
          'admins can set a notification channel URL');

-- Behaviour as each role.
SET ROLE tap_reader;
SELECT results_eq($$ SELECT count(*)::int FROM syncopt.fivetran_sync_ai_logs $$, ARRAY[2], 'a reader reads decisions');
SELECT throws_ok($$ UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = 1 $$,
                 '42501', NULL, 'a reader cannot approve');
SELECT throws_ok($$ SELECT syncopt.propose(1, 'pause', '{}', 'x') $$, '42501', NULL, 'a reader cannot propose');
SELECT throws_ok($$ SELECT * FROM syncopt.account_secret $$, '42501', NULL, 'a reader cannot read secrets');
SELECT lives_ok($$ SELECT * FROM syncopt.priority_scores(), syncopt.plan(), syncopt.sla_risk() $$,
                'a reader runs the analytics');
SELECT lives_ok($$ SELECT * FROM syncopt.anomalies(), syncopt.schema_drift(), syncopt.classify_failure('x') $$,
                'a reader runs anomalies, drift and classification');
RESET ROLE;
SET ROLE tap_nobody;
SELECT throws_ok($$ SELECT * FROM syncopt.priority_scores() $$, '42501', NULL, 'an unrelated role cannot run analytics');
RESET ROLE;

SET ROLE tap_approver;
SELECT lives_ok($$ UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved', review_note = 'ok' WHERE decision_id = 1 $$,
                'an approver approves');
SELECT throws_ok($$ UPDATE syncopt.fivetran_sync_ai_logs SET params = '{"force": true}' WHERE decision_id = 2 $$,
                 '42501', NULL, 'an approver cannot edit params');
SELECT throws_ok($$ SELECT api_secret FROM syncopt.account_secret $$, '42501', NULL, 'an approver cannot read secrets');
SELECT throws_ok($$ INSERT INTO syncopt.decision_event (decision_id, new_status, actor, via_role) VALUES (2, 'approved', 'x', 'x') $$,
                 '42501', NULL, 'an approver cannot forge audit events');
SELECT throws_ok($$ SELECT syncopt.set_credentials(1, 'k', 's') $$, '42501', NULL, 'an approver cannot set credentials');
RESET ROLE;

SET ROLE tap_admin;
SELECT lives_ok($$ SELECT syncopt.set_credentials(1, 'key-456', 'n3w-s3cr3t') $$, 'an admin sets credentials');
SELECT throws_ok($$ SELECT api_key, api_secret FROM syncopt.account_secret $$, '42501', NULL,
                 'an admin cannot read them back');
SELECT results_eq($$ SELECT has_credentials, updated_by::text FROM syncopt.credential_status $$,
                  $$ VALUES (true, session_user::text) $$, 'an admin sees that they are set');
SELECT is_empty($$ SELECT 1 FROM syncopt.credential_status c
                    WHERE row_to_json(c)::text ~ '(key-456|n3w-s3cr3t)' $$,
                'and never sees the key or secret themselves');
SELECT throws_ok($$ UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected' WHERE decision_id = 2 $$,
                 '42501', NULL, 'an admin is not an approver');
SELECT throws_ok($$ INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
                    VALUES (1, 'resume', 'x', 'copilot', 'proposed') $$,
                 '42501', NULL, 'an admin proposes only through propose()');
SELECT lives_ok($$ SELECT syncopt.propose(1, 'resume', '{}', 'credentials fixed') $$, 'an admin proposes through propose()');
-- Re-pointing an account must not send its secret elsewhere.
SELECT lives_ok($$ UPDATE syncopt.account SET name = 'renamed' WHERE account_id = 1 $$, 'an admin renames an account');
SELECT results_eq($$ SELECT has_credentials FROM syncopt.credential_status $$, ARRAY[true],
                  'renaming keeps the credentials');
SELECT lives_ok($$ UPDATE syncopt.account SET base_url = 'https://collector.attacker.example' WHERE account_id = 1 $$,
                'an admin changes the base_url');
RESET ROLE;
SELECT is_empty($$ SELECT 1 FROM syncopt.account_secret $$,
                'changing the base_url removed the credentials');
SELECT syncopt.set_credentials(1, 'key-456', 'n3w-s3cr3t');

SELECT results_eq($$ SELECT api_key, api_secret FROM syncopt.account_secret $$,
                  $$ VALUES ('key-456'::text, 'n3w-s3cr3t'::text) $$, 'the owner reads the stored secret');

-- Failure labels (issue 30): approvers and admins label through
-- label_failure(), which records who; nobody writes the corpus directly.
SELECT function_privs_are('syncopt', 'label_failure', ARRAY['bigint', 'text', 'text'], 'syncopt_approver', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'label_failure', ARRAY['bigint', 'text', 'text'], 'syncopt_admin', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'label_failure', ARRAY['bigint', 'text', 'text'], 'syncopt_reader', ARRAY[]::text[]);
SELECT table_privs_are('syncopt', 'failure_example', 'syncopt_admin', ARRAY['SELECT']);
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (9001, 1, 'tap-f1', '2026-11-22 00:00+00', '2026-11-22 00:05+00', 'failed', 'Widget quota misfiled', 'api');
SET ROLE tap_approver;
SELECT lives_ok($$ SELECT syncopt.label_failure(9001, 'configuration', 'misfiled by hand') $$, 'an approver labels a failed run');
SELECT throws_ok($$ INSERT INTO syncopt.failure_example (message, category) VALUES ('x', 'transient') $$,
                 '42501', NULL, 'an approver cannot write the corpus directly');
RESET ROLE;
SET ROLE tap_reader;
SELECT throws_ok($$ SELECT syncopt.label_failure(9001, 'transient', NULL) $$, '42501', NULL, 'a reader cannot label');
RESET ROLE;

-- The forecast scorecard (issue 31): readers read it, only the planning
-- run (owner, workers) records into it.
SELECT table_privs_are('syncopt', 'sla_forecast_log', 'syncopt_reader', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'sla_outcome', 'syncopt_admin', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'duration_forecast', 'syncopt_approver', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'forecast_scorecard', 'syncopt_reader', ARRAY['SELECT']);
SELECT function_privs_are('syncopt', 'forecast_score', ARRAY['timestamp with time zone', 'timestamp with time zone'],
                          'syncopt_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'record_forecasts', ARRAY['bigint', 'timestamp with time zone'],
                          'syncopt_admin', ARRAY[]::text[]);
SET ROLE tap_admin;
SELECT throws_ok($$ INSERT INTO syncopt.sla_outcome (asset_id, deadline, opens_at, first_forecast_at, connector_ids, build_times)
                    VALUES (1, now(), now(), now(), '{}', '{}') $$,
                 '42501', NULL, 'an admin cannot write forecast outcomes');
RESET ROLE;

-- The planning run's shared plan (issue 34): readers read candidates from
-- a run's rows as they compute them; only the planning run (its owner) and
-- the workers compute a run's plan and forecast or resolve outcomes.
SELECT function_privs_are('syncopt', 'planner_candidates', ARRAY['timestamp with time zone', 'bigint'],
                          'syncopt_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'plan_and_forecast', ARRAY['bigint', 'timestamp with time zone'],
                          'syncopt_admin', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'outcome_ready_times', ARRAY['timestamp with time zone', 'interval'],
                          'syncopt_reader', ARRAY[]::text[]);
SELECT function_privs_are('syncopt', 'asset_inputs_of', ARRAY['bigint[]'], 'syncopt_reader', ARRAY['EXECUTE']);
SELECT function_privs_are('syncopt', 'new_outcomes',
                          ARRAY['timestamp with time zone', 'interval', 'bigint[]', 'timestamp with time zone[]',
                                'timestamp with time zone[]'], 'syncopt_reader', ARRAY[]::text[]);

-- Which failures the planning run has not alerted yet is the run's own
-- question: readers classify with classify_runs().
SELECT function_privs_are('syncopt', 'classify_unalerted_runs', ARRAY['timestamp with time zone'],
                          'syncopt_reader', ARRAY[]::text[]);

-- The triage's cache version (issue 30, h-triage): readers read it to
-- classify; nobody but its triggers writes it, yet a label by an approver
-- moves it (the trigger is SECURITY DEFINER) and a reader classifies with
-- the label at once.
SELECT table_privs_are('syncopt', 'triage_version', 'syncopt_reader', ARRAY['SELECT']);
SELECT table_privs_are('syncopt', 'triage_version', 'syncopt_admin', ARRAY['SELECT']);
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (9002, 1, 'tap-f2', '2026-11-22 01:00+00', '2026-11-22 01:05+00', 'failed', 'Sprocket lattice unbalanced twice', 'api');
SET ROLE tap_admin;
SELECT throws_ok($$ UPDATE syncopt.triage_version SET version = version + 1 $$,
                 '42501', NULL, 'an admin cannot move the triage version by hand');
RESET ROLE;
SET ROLE tap_reader;
SELECT is((SELECT category FROM syncopt.classify_failure('Sprocket lattice unbalanced thrice')), 'unknown',
          'a reader classifies: nothing knows the wording yet');
RESET ROLE;
SET ROLE tap_approver;
SELECT lives_ok($$ SELECT syncopt.label_failure(9002, 'configuration', 'balance it') $$,
                'an approver labels, which moves the version without the right to write it');
RESET ROLE;
SET ROLE tap_reader;
SELECT is((SELECT category FROM syncopt.classify_failure('Sprocket lattice unbalanced thrice')), 'configuration',
          'the reader''s next classification has the label');
RESET ROLE;

-- The retry back-off (issue 30, h-backoff): readers see when the planner
-- retries a connector (PUBLIC has nothing: the catalog-wide check above).
SELECT function_privs_are('syncopt', 'retry_opening', ARRAY['integer', 'timestamp with time zone'],
                          'syncopt_reader', ARRAY['EXECUTE']);

SELECT * FROM finish();
ROLLBACK;
