-- What the background workers run, and how to see and wake them.

CREATE FUNCTION syncopt.worker_status(
    OUT worker text, OUT pid integer, OUT database text, OUT state text,
    OUT started_at timestamptz, OUT last_loop_at timestamptz, OUT next_wake_at timestamptz,
    OUT starts bigint, OUT loops bigint, OUT wake_requests bigint, OUT wakes_handled bigint,
    OUT last_wake_at timestamptz, OUT last_error text, OUT last_error_at timestamptz,
    OUT retry_after_until timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_worker_status';
COMMENT ON FUNCTION syncopt.worker_status() IS
    'One row per background worker: pid, database, state, loop and wake counters, last error (cleared by a clean pass), end of the last Retry-After wait.';

CREATE FUNCTION syncopt.wake(worker text DEFAULT NULL) RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_wake';
COMMENT ON FUNCTION syncopt.wake(text) IS
    'Wakes the collector, the executor, or (NULL) both when the calling transaction commits.';

-- Mark proposals whose approval window closed; run by the executor on
-- every pass.  Returns how many expired.
CREATE FUNCTION syncopt.expire_decisions() RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH expired AS (
        UPDATE syncopt.fivetran_sync_ai_logs
           SET status = 'expired'
         WHERE status OPERATOR(pg_catalog.=) 'proposed'
           AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()
        RETURNING 1)
    SELECT pg_catalog.count(*) FROM expired
$$;
COMMENT ON FUNCTION syncopt.expire_decisions() IS
    'Marks proposals past expires_at as expired; returns how many.';

-- Delete history older than the retention, at most batch_size rows per
-- table per call, so that the collector can commit between batches.  Only
-- finished decisions go (with their audit events); the newest schema
-- snapshot of each connector always stays, drift is measured against it.
CREATE FUNCTION syncopt.purge_history(retention interval DEFAULT NULL, batch_size integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep    interval := coalesce(retention, current_setting('syncopt.history_retention')::interval);
    cutoff  timestamptz;
    n       bigint;
    total   bigint := 0;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF keep <= interval '0' THEN
        RETURN 0;               -- retention 0: keep everything
    END IF;
    cutoff := now() - keep;

    DELETE FROM syncopt.sync_run WHERE run_id IN (
        SELECT run_id FROM syncopt.sync_run WHERE started_at < cutoff ORDER BY started_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    DELETE FROM syncopt.fivetran_sync_ai_logs WHERE decision_id IN (
        SELECT decision_id FROM syncopt.fivetran_sync_ai_logs
         WHERE created_at < cutoff AND updated_at < cutoff
           AND status NOT IN (SELECT t.from_status FROM syncopt.decision_transition t)
         ORDER BY created_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    DELETE FROM syncopt.alert WHERE alert_id IN (
        SELECT alert_id FROM syncopt.alert WHERE created_at < cutoff ORDER BY created_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    DELETE FROM syncopt.schema_snapshot WHERE snapshot_id IN (
        SELECT s.snapshot_id FROM syncopt.schema_snapshot s
         WHERE s.captured_at < cutoff
           AND EXISTS (SELECT FROM syncopt.schema_snapshot newer
                        WHERE newer.connector_id = s.connector_id AND newer.captured_at > s.captured_at)
         ORDER BY s.captured_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- The forecast scorecard: forecasts of deadlines before the cutoff,
    -- then their outcomes (once no forecast is left, so that the cascade
    -- stays within the batch), and predicted durations of runs started
    -- before it.
    DELETE FROM syncopt.sla_forecast_log WHERE (asset_id, deadline, planner_run_id) IN (
        SELECT f.asset_id, f.deadline, f.planner_run_id FROM syncopt.sla_forecast_log f
         WHERE f.deadline < cutoff ORDER BY f.deadline LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    DELETE FROM syncopt.sla_outcome WHERE (asset_id, deadline) IN (
        SELECT o.asset_id, o.deadline FROM syncopt.sla_outcome o
         WHERE o.deadline < cutoff
           AND NOT EXISTS (SELECT FROM syncopt.sla_forecast_log f
                            WHERE f.asset_id = o.asset_id AND f.deadline = o.deadline)
         ORDER BY o.deadline LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    DELETE FROM syncopt.duration_forecast WHERE (connector_id, first_at) IN (
        SELECT d.connector_id, d.first_at FROM syncopt.duration_forecast d
         WHERE d.run_started_at < cutoff ORDER BY d.run_started_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END
$$;
COMMENT ON FUNCTION syncopt.purge_history(interval, integer) IS
    'Deletes sync runs, finished decisions (with their audit), alerts, superseded schema snapshots and the forecast scorecard''s rows older than the retention; one batch per table per call.';
