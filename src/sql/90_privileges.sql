-- Privileges (docs/security.md explains the model), pg_dump registration,
-- and the first wake of the workers.

-- Nothing for PUBLIC: functions are executable by PUBLIC when created.
REVOKE ALL ON SCHEMA syncopt FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA syncopt FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA syncopt FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA syncopt FROM PUBLIC;
REVOKE ALL ON DOMAIN syncopt.decision_action, syncopt.decision_status FROM PUBLIC;
REVOKE ALL ON TYPE syncopt.platform_log_event, syncopt.platform_log_connection, syncopt.platform_log_item,
    syncopt.platform_log_run FROM PUBLIC;

GRANT USAGE ON SCHEMA syncopt TO syncopt_reader;
GRANT USAGE ON DOMAIN syncopt.decision_action, syncopt.decision_status TO syncopt_reader;

-- Readers: everything but the secrets.
GRANT SELECT ON
    syncopt.account, syncopt.connector, syncopt.asset, syncopt.lineage, syncopt.sync_order,
    syncopt.calendar_event, syncopt.load_window, syncopt.budget, syncopt.policy,
    syncopt.sync_run, syncopt.sync_run_daily, syncopt.sync_run_change, syncopt.connector_stats, syncopt.connector_last_runs, syncopt.schema_snapshot,
    syncopt.source_columns,
    syncopt.data_contract, syncopt.ingest_quarantine, syncopt.connector_task,
    syncopt.failure_pattern, syncopt.alert, syncopt.decision_transition,
    syncopt.fivetran_sync_ai_logs, syncopt.decision_event,
    syncopt.collector_state, syncopt.log_ingest_state, syncopt.log_ingest_skipped, syncopt.collector_status,
    syncopt.planner_run, syncopt.circuit_breaker, syncopt.notification_delivery,
    syncopt.notification_channel_status, syncopt.planned_sync, syncopt.sla_forecast, syncopt.anomaly_snapshot,
    syncopt.anomaly_basis,
    syncopt.connector_health, syncopt.sla_status, syncopt.pending_approvals, syncopt.decision_audit,
    syncopt.cost_by_connector, syncopt.anomaly_feed, syncopt.plan_timeline,
    syncopt.dbt_import, syncopt.dbt_import_change,
    syncopt.failure_example, syncopt.failure_triage, syncopt.failure_label_queue,
    syncopt.sla_outcome, syncopt.sla_forecast_log, syncopt.duration_forecast,
    syncopt.forecast_outcomes, syncopt.forecast_scorecard, syncopt.stats_backlog
TO syncopt_reader;
GRANT EXECUTE ON FUNCTION
    syncopt.worker_status(), syncopt.effective_policy(bigint),
    syncopt.validate_action_params(text, text, jsonb), syncopt.is_table_map(jsonb),
    syncopt.is_valid_timezone(text), syncopt.is_valid_dow_field(text), syncopt.is_valid_regex(text),
    syncopt.require_timezone(text, text), syncopt.require_length(text, integer, text),
    syncopt.require_tags(text[], text), syncopt.find_cycle(bigint[], bigint[]), syncopt.cycle_path(text[]),
    syncopt.is_system_actor(), syncopt.decision_actions(), syncopt.failure_wording(text)
TO syncopt_reader;
-- Analytics: they read only what readers may read (no SECURITY DEFINER).
GRANT EXECUTE ON FUNCTION
    syncopt.predict_duration(timestamptz), syncopt.priority_scores(timestamptz),
    syncopt.plan(timestamptz, interval), syncopt.sla_risk(timestamptz),
    syncopt.batch_recommendations(timestamptz), syncopt.airbyte_batch_recommendations(timestamptz),
    syncopt.anomalies(timestamptz), syncopt.anomalies_of(timestamptz, bigint[]),
    syncopt.classify_failure(text, text, text), syncopt.classify_runs(timestamptz),
    syncopt.schema_drift(), syncopt.dow_matches(text, integer),
    syncopt.next_local_time(time, text, text, timestamptz),
    syncopt.window_occurrences(time, time, text, text, timestamptz, timestamptz),
    syncopt.render_request(bigint), syncopt.planner_candidates(timestamptz, bigint),
    syncopt.vendor_next_start(syncopt.connector, timestamptz, timestamptz),
    syncopt.digest(timestamptz),
    syncopt.simulate(text, interval, integer, timestamptz, interval, double precision),
    syncopt.simulate_world(interval, integer, timestamptz, double precision),
    syncopt.asset_inputs(bigint), syncopt.asset_inputs_of(bigint[]), syncopt.forecast_score(timestamptz, timestamptz),
    syncopt.simulate_trace(interval, integer, timestamptz, double precision),
    syncopt.backtest(timestamptz, timestamptz)
TO syncopt_reader;
-- When the planner retries a connector after failures in a row (issue 30, h-backoff).
GRANT EXECUTE ON FUNCTION syncopt.retry_opening(integer, timestamptz) TO syncopt_reader;

-- Approvers: move decisions, nothing else.
GRANT UPDATE (status, review_note) ON syncopt.fivetran_sync_ai_logs TO syncopt_approver;
-- A rollback is only a proposal; it is approved like any other.
GRANT EXECUTE ON FUNCTION syncopt.rollback(bigint) TO syncopt_approver;
-- Failure labels teach the triage; the row records who labelled.
GRANT EXECUTE ON FUNCTION syncopt.label_failure(bigint, text, text) TO syncopt_approver, syncopt_admin;

-- Admins: configuration, credentials (write-only), manual proposals.
GRANT INSERT, UPDATE, DELETE ON
    syncopt.account, syncopt.asset, syncopt.lineage, syncopt.sync_order, syncopt.calendar_event,
    syncopt.load_window, syncopt.budget, syncopt.policy, syncopt.data_contract, syncopt.failure_pattern
TO syncopt_admin;
GRANT UPDATE (tags, source_key) ON syncopt.connector TO syncopt_admin;
-- Channels: admins write them but never read a URL back (Slack URLs are secrets).
GRANT INSERT, UPDATE, DELETE ON syncopt.notification_channel TO syncopt_admin;
GRANT SELECT (channel_id, name, kind, alert_kinds, min_severity, enabled, created_at)
    ON syncopt.notification_channel TO syncopt_admin;
GRANT SELECT ON syncopt.credential_status TO syncopt_admin;
GRANT EXECUTE ON FUNCTION
    syncopt.set_credentials(bigint, text, text), syncopt.set_webhook_secret(bigint, text),
    syncopt.propose(bigint, text, jsonb, text), syncopt.wake(text),
    syncopt.collect(bigint), syncopt.request_poll(bigint),
    syncopt.ingest_fivetran_log(bigint, name), syncopt.ingest_fivetran_webhook(bigint, text, text),
    syncopt.run_planner(timestamptz), syncopt.schedule_planner(text), syncopt.reset_breaker(bigint),
    syncopt.import_dbt_manifest(jsonb, boolean)
TO syncopt_admin;
-- ingest_fivetran_log() reads the log with the caller's rights and hands
-- the values to its SECURITY DEFINER steps.
GRANT USAGE ON TYPE syncopt.platform_log_event, syncopt.platform_log_connection TO syncopt_admin;
GRANT EXECUTE ON FUNCTION
    syncopt.column_type(regclass, name), syncopt.text_expr(regclass, name), syncopt.utc_timestamp_expr(regclass, name),
    syncopt.ingest_fivetran_log_begin(bigint, name),
    syncopt.ingest_fivetran_log_batch(bigint, name, syncopt.platform_log_event[]),
    syncopt.ingest_fivetran_log_end(bigint, name, syncopt.platform_log_connection[], timestamptz, text[], bigint, jsonb)
TO syncopt_admin;

-- The workers (syncopt.worker_role is syncopt_worker or a member): they
-- read and write syncopt's tables through its functions, credentials
-- included, and nothing outside the schema.  They own nothing, so they
-- can change no definition, and they are no superuser.
GRANT USAGE ON SCHEMA syncopt TO syncopt_worker;
GRANT USAGE ON DOMAIN syncopt.decision_action, syncopt.decision_status TO syncopt_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA syncopt TO syncopt_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA syncopt TO syncopt_worker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA syncopt TO syncopt_worker;

-- pg_dump keeps user data of extension tables only when registered.  The
-- state machine, built-in failure patterns and examples come from this script.
-- sync_run_key is dumped with the runs (one snapshot, so they agree): the
-- documented restore runs with triggers off, so sync_run's key trigger
-- cannot make the keys again, and a run without its key would be stored a
-- second time when the collector sees it again (h-keys).  What the anomaly
-- snapshot was judged on (sync_run_change, anomaly_basis) is not dumped:
-- a restored database's next planning run judges every connector again.
DO $dump$
DECLARE
    t regclass;
    seq text;
BEGIN
    FOR t IN
        SELECT c.oid::regclass FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) 'syncopt'::regnamespace
           AND c.relkind OPERATOR(pg_catalog.=) 'r'
           AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['decision_transition', 'triage_version', 'sync_run_change',
                                                              'anomaly_basis']::name[])
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(t,
            CASE WHEN t OPERATOR(pg_catalog.=) ANY (ARRAY['syncopt.failure_pattern'::regclass, 'syncopt.failure_example'::regclass])
                 THEN 'WHERE NOT builtin' ELSE '' END);
        FOR seq IN
            SELECT pg_catalog.pg_get_serial_sequence(t::text, a.attname)
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid OPERATOR(pg_catalog.=) t AND a.attidentity OPERATOR(pg_catalog.<>) ''
        LOOP
            PERFORM pg_catalog.pg_extension_config_dump(seq::regclass, '');
        END LOOP;
    END LOOP;
END
$dump$;
-- sync_run is partitioned (not a plain table of the loop above: its runs are
-- dumped with its partitions), but its run_id sequence is dumped too.
SELECT pg_catalog.pg_extension_config_dump('syncopt.sync_run_run_id_seq', '');

-- Let the workers, which may be waiting for this extension, start at once.
SELECT syncopt.wake();

-- Issue 30, the triage's cache (src/sql/47_triage_version.sql): readers
-- classify, so they read the version of the rules and labels; its row is
-- not dumped (the extension script makes it, and a restored database's
-- backends start with no cache).
GRANT SELECT ON syncopt.triage_version TO syncopt_reader;
