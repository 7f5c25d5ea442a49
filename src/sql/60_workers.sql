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

-- sync_run's weekly partitions (40_history.sql).  Creates the weeks from
-- the one the retention reaches back to (this week when it is 0; at most 5
-- years back) through four weeks ahead, each taking over the runs the
-- default partition holds for it before it is attached (and analyzed when
-- it took any).  Then drops whole weeks that ended before now() -
-- retention, oldest first, until at least batch_size runs went (so that
-- one call stays bounded and the collector commits between calls): their
-- keys and anomaly snapshot rows are deleted with one join each, their
-- days in sync_run_daily by range, then the table is dropped (and the
-- anomaly snapshot's basis forgotten if it read any of the week).
-- Returns the runs dropped.  SECURITY DEFINER: creating and dropping
-- partitions needs sync_run's owner, and the workers own nothing.  The
-- weeks' bounds go to ATTACH and come back from pg_get_expr() as text, so
-- the time zone and date style are pinned: in the caller's, a zone
-- abbreviation can read back as another zone (IST is India's to print,
-- Israel's to read), hours off.
CREATE FUNCTION syncopt.maintain_run_partitions(retention interval DEFAULT NULL, batch_size integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET timezone = 'UTC'
SET datestyle = 'ISO, YMD'
AS $$
DECLARE
    keep    interval := coalesce(retention, current_setting('syncopt.history_retention')::interval);
    -- Week starts as UTC wall-clock times, so weeks are 7 days in every time zone.
    week    timestamp;
    ahead   timestamp := date_trunc('week', now() AT TIME ZONE 'UTC') + interval '5 weeks';
    part    text;
    lower   timestamptz;
    upper   timestamptz;
    n       bigint;
    moved   bigint := 0;
    dropped bigint := 0;
BEGIN
    IF keep IS NULL OR keep < interval '0' THEN
        RAISE EXCEPTION 'retention must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('retention is %s.', coalesce(keep::text, 'null')),
                  HINT = 'Use 0 to keep all history.';
    END IF;
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('batch_size is %s.', coalesce(batch_size::text, 'null')),
                  HINT = 'It bounds the runs one call drops; the default is 10000.';
    END IF;
    -- One maintenance at a time: two would both create the same week.  A
    -- lock on sync_run itself (ONLY: not its weeks), which ingestion and
    -- readers do not conflict with and which only syncopt's owner and
    -- workers may take; an advisory lock can be taken by any role that
    -- connects, and held, it would stall every purge.
    LOCK TABLE ONLY syncopt.sync_run IN SHARE UPDATE EXCLUSIVE MODE;

    week := date_trunc('week', (now() - least(keep, interval '5 years')) AT TIME ZONE 'UTC');
    WHILE week < ahead LOOP
        part := 'sync_run_' || to_char(week, 'YYYYMMDD');
        IF to_regclass(format('syncopt.%I', part)) IS NULL THEN
            -- Filled before it is attached (no trigger fires: the runs keep
            -- their keys), so the default partition never holds a row of
            -- an attached week.  Without the identity: from PostgreSQL 18
            -- partitions share sync_run's, and one brought in may not have
            -- its own.
            EXECUTE format('CREATE TABLE syncopt.%I (LIKE syncopt.sync_run_default INCLUDING ALL EXCLUDING IDENTITY)', part);
            EXECUTE format('WITH moved AS (DELETE FROM syncopt.sync_run_default d'
                           ' WHERE d.started_at >= $1 AND d.started_at < $2 RETURNING d.*)'
                           ' INSERT INTO syncopt.%I SELECT * FROM moved', part)
                USING week AT TIME ZONE 'UTC', (week + interval '7 days') AT TIME ZONE 'UTC';
            -- A week that took runs over gets its statistics now, not when
            -- autovacuum comes to it: without them a lower bound on its
            -- starts (the training window's) is estimated to keep a third
            -- of its rows, and a planning run after the upgrade's move
            -- sorted the whole training window instead of merging the
            -- weeks' indexes (anomalies() at 10,000 connectors: 1.10-1.31
            -- s instead of 0.65-0.68 s).
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                EXECUTE format('ANALYZE syncopt.%I', part);
            END IF;
            moved := moved + n;
            EXECUTE format('ALTER TABLE syncopt.sync_run ATTACH PARTITION syncopt.%I FOR VALUES FROM (%L) TO (%L)',
                           part, week AT TIME ZONE 'UTC', (week + interval '7 days') AT TIME ZONE 'UTC');
        END IF;
        week := week + interval '7 days';
    END LOOP;
    IF moved > 0 THEN
        ANALYZE syncopt.sync_run_default;   -- it still counted them
    END IF;

    IF keep = interval '0' THEN
        RETURN 0;               -- retention 0: keep everything
    END IF;
    FOR part, lower, upper IN
        SELECT w.relname, w.lower, w.upper FROM (
            SELECT c.relname,
                   substring(pg_get_expr(c.relpartbound, c.oid), $re$FROM \('([^']+)'\)$re$)::timestamptz AS lower,
                   substring(pg_get_expr(c.relpartbound, c.oid), $re$TO \('([^']+)'\)$re$)::timestamptz AS upper
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'syncopt.sync_run'::regclass) w
         WHERE w.upper <= now() - keep
         ORDER BY w.upper
    LOOP
        EXIT WHEN dropped >= batch_size;
        EXECUTE format('DELETE FROM syncopt.sync_run_key k USING syncopt.%I r WHERE k.run_id = r.run_id', part);
        GET DIAGNOSTICS n = ROW_COUNT;
        EXECUTE format('DELETE FROM syncopt.anomaly_snapshot a USING syncopt.%I r WHERE a.run_id = r.run_id', part);
        -- The week's days in cost_by_connector's rollup: a week starts and
        -- ends at 00:00 UTC, so its runs are exactly these days' runs.
        DELETE FROM syncopt.sync_run_daily d
         WHERE d.day >= (lower AT TIME ZONE 'UTC')::date AND d.day < (upper AT TIME ZONE 'UTC')::date;
        EXECUTE format('DROP TABLE syncopt.%I', part);
        -- Runs dropped with their week are no statement on sync_run: when
        -- the anomaly snapshot's basis read any of them, the next planning
        -- run judges every connector again.  One that read from the week's
        -- end on stands (with the default 90 days' retention and 14 days'
        -- window, every week dropped while planning runs are current): a
        -- later snapshot reads from later still, and one from an earlier
        -- `since` finds the connectors whose remaining runs enter its
        -- window by the runs themselves (take_anomaly_snapshot()).  The
        -- drop holds sync_run's ACCESS EXCLUSIVE lock until commit, and a
        -- snapshot is taken under its ACCESS SHARE lock, so a basis
        -- committed while the drop waited is read here in READ COMMITTED.
        -- Under a snapshot of the transaction's start it may not be: the
        -- basis goes whatever it read, and a basis replaced meanwhile
        -- fails the delete with a serialization error, as before.
        IF current_setting('transaction_isolation') = 'read committed' THEN
            DELETE FROM syncopt.anomaly_basis b WHERE b.reads_from < upper;
        ELSE
            DELETE FROM syncopt.anomaly_basis;
        END IF;
        dropped := dropped + n;
    END LOOP;
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION syncopt.maintain_run_partitions(interval, integer) IS
    'Creates sync_run''s weekly partitions through four weeks ahead (moving runs out of the default partition) and drops whole weeks older than the retention, about batch_size runs per call; returns the runs dropped.';

-- Delete history older than the retention, at most batch_size rows per
-- table per call (sync runs: whole weeks first, maintain_run_partitions),
-- so that the collector can commit between batches.  Only
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
    -- Whole weeks of sync_run go with their partition (and the weeks
    -- ahead are made, retention 0 too); the old runs left (in the cutoff's
    -- week and the default partition) go in a batch.
    total := syncopt.maintain_run_partitions(greatest(keep, interval '0'), purge_history.batch_size);
    IF keep <= interval '0' THEN
        RETURN 0;               -- retention 0: keep everything
    END IF;
    cutoff := now() - keep;

    DELETE FROM syncopt.sync_run r
     WHERE r.started_at < cutoff
       AND (r.run_id, r.started_at) IN (
            SELECT o.run_id, o.started_at FROM syncopt.sync_run o
             WHERE o.started_at < cutoff ORDER BY o.started_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    -- A connector whose latest success went with its week or a batch (now or
    -- by an earlier maintain_run_partitions()) takes it again from the runs
    -- left: the fleet loader trusts connector_stats' copy (issue 34).
    UPDATE syncopt.connector_stats s
       SET (latest_success_started_at, latest_success_finished_at) =
           (SELECT r.started_at, r.finished_at FROM syncopt.sync_run r
             WHERE r.connector_id = s.connector_id AND r.status = 'succeeded'
             ORDER BY r.started_at DESC, r.finished_at LIMIT 1)
     WHERE s.latest_success_started_at < cutoff
       AND NOT EXISTS (SELECT FROM syncopt.sync_run r
                        WHERE r.connector_id = s.connector_id AND r.status = 'succeeded'
                          AND r.started_at = s.latest_success_started_at
                          AND r.finished_at = s.latest_success_finished_at);
    -- A connector whose kept last runs reach back before the cutoff stops
    -- keeping them: batch_recommendations() reads its runs from sync_run,
    -- as they are left, until its next fold keeps them again.
    DELETE FROM syncopt.connector_last_runs l WHERE l.started_at[1] < cutoff;

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

    -- Planning runs (issue 34: one row per run, every 15 minutes) started
    -- before the cutoff, except the latest: its plan, SLA forecast and
    -- anomaly snapshot are the dashboards' rows, and go with it.  Older
    -- runs have none left (each run replaces them), so nothing cascades;
    -- decisions and the scorecard keep their planner_run_id as a number.
    DELETE FROM syncopt.planner_run WHERE planner_run_id IN (
        SELECT r.planner_run_id FROM syncopt.planner_run r
         WHERE r.started_at < cutoff
           AND r.planner_run_id < (SELECT max(l.planner_run_id) FROM syncopt.planner_run l)
         ORDER BY r.started_at LIMIT purge_history.batch_size);
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
    'Deletes sync runs (whole weekly partitions, then a batch), finished decisions (with their audit), alerts, superseded schema snapshots, planning runs but the latest, and the forecast scorecard''s rows older than the retention; one batch per table per call.';
