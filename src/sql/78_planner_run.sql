-- The planning run itself: auto-mode guardrails, decisions written under
-- each connector's policy, the run's lock and retry (run_planner()), pg_cron
-- scheduling, rollback.  Its tables and candidates: 78_planner.sql.

-- Why auto mode may not approve this action on this connector now, or
-- NULL when every guardrail passes: open circuit breaker, hourly caps
-- (per connector from the policy, global from the setting), budget stop.
CREATE FUNCTION syncopt.auto_guardrail(conn syncopt.connector, action text, max_per_hour integer, policy_source text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    breaker syncopt.circuit_breaker;
    n       bigint;
    global  integer := current_setting('syncopt.max_auto_actions_per_hour')::integer;
    b       record;
BEGIN
    SELECT * INTO breaker FROM syncopt.circuit_breaker cb
     WHERE cb.connector_id = conn.connector_id AND cb.closed_at IS NULL;
    IF FOUND THEN
        RETURN format('circuit breaker open since %s after %s failed executions; co-pilot until an admin runs syncopt.reset_breaker(%s)',
                      to_char(breaker.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), breaker.failures, conn.connector_id);
    END IF;

    SELECT count(*) INTO n FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.connector_id = conn.connector_id AND l.approved_by = 'syncopt:auto'
       AND l.approved_at > now() - interval '1 hour';
    IF n >= max_per_hour THEN
        RETURN format('hourly cap reached: %s automatic actions on this connector in the last hour (max_actions_per_hour %s, %s)',
                      n, max_per_hour, policy_source);
    END IF;

    SELECT count(*) INTO n FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.approved_by = 'syncopt:auto' AND l.approved_at > now() - interval '1 hour';
    IF n >= global THEN
        RETURN format('global hourly cap reached: %s automatic actions in the last hour (syncopt.max_auto_actions_per_hour %s)', n, global);
    END IF;

    IF action IN ('trigger_sync', 'resync_tables', 'resync_connector') THEN
        FOR b IN
            SELECT bu.period, bu.credits_limit,
                   (SELECT coalesce(sum(r.credits), 0) FROM syncopt.sync_run r
                      JOIN syncopt.connector c2 USING (connector_id)
                     WHERE r.started_at >= date_trunc(bu.period, now())
                       AND (bu.account_id IS NULL OR c2.account_id = bu.account_id)) AS spent
              FROM syncopt.budget bu
             WHERE bu.account_id IS NULL OR bu.account_id = conn.account_id
        LOOP
            IF b.spent >= b.credits_limit THEN
                RETURN format('budget stop: %s of %s credits used this %s', b.spent, b.credits_limit, b.period);
            END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

-- The anomaly snapshot of planning run for_run: anomalies(since), judged
-- again only for the connectors whose answer may have moved since the
-- previous snapshot (anomaly_basis), the rows of the others carried over.
-- A connector's anomalies depend only on its runs from since minus the
-- training window on, the settings and the code: a connector keeps its
-- rows when the previous snapshot saw the latest transaction that wrote
-- its runs (sync_run_change), other than its own, or the runs written
-- since start before both training windows, and no run of it starts
-- between the two snapshots' `since`s, nor between their training
-- windows' starts (where runs enter and leave the window and the judged
-- period).  At 10,000 connectors with 100 runs each, judging every
-- connector read 600,000 runs and was a third of a planning run.  Every
-- connector is judged when there is no basis (a first run, a deleted
-- planning run, a dropped week of history the basis read, a basis whose
-- snapshot is ahead of this run's), when the settings or the extension's
-- version changed, when the `since`s are a window apart, or when more
-- than half the connectors would be: the whole window in one read then
-- costs less than a list of nearly every connector (a fleet whose syncs
-- start at the same instants crosses the edges together).  The database
-- snapshot kept is taken before the runs are read, so that a write
-- committed in between makes its connector judged again by the next run.
CREATE FUNCTION syncopt.take_anomaly_snapshot(for_run bigint, since timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seen     pg_snapshot := pg_current_snapshot();
    -- In seconds, as anomalies() takes it: shown as '14d', the setting
    -- would be calendar days, an hour off across a daylight-saving change
    -- in the session's time zone.
    span     interval := make_interval(secs => extract(epoch FROM current_setting('syncopt.anomaly_training_window')::interval));
    settings text := concat_ws(' ', current_setting('syncopt.anomaly_training_window'),
                               current_setting('syncopt.anomaly_min_training'),
                               current_setting('syncopt.anomaly_threshold'),
                               current_setting('syncopt.anomaly_min_change'),
                               (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'syncopt'));
    basis    syncopt.anomaly_basis;
    lo       timestamptz;
    hi       timestamptz;
    dirty    bigint[];
BEGIN
    -- A week of history dropped while this runs would leave a basis that
    -- read it standing: maintain_run_partitions() decides on the basis it
    -- reads, and its drop waits for this lock (a planning run holds it
    -- already, from its plan; this function may be called alone).
    LOCK TABLE ONLY syncopt.sync_run IN ACCESS SHARE MODE;
    SELECT * INTO basis FROM syncopt.anomaly_basis;
    lo := least(basis.since, since);
    hi := greatest(basis.since, since);
    -- A basis from another cluster's transactions (its snapshot ahead of
    -- this one's) says nothing of this one's writes (sync_run_note_change()
    -- does not trust it either).
    IF basis.planner_run_id IS NOT NULL AND basis.settings = settings AND hi - lo < span
       AND pg_snapshot_xmax(basis.seen) <= pg_snapshot_xmax(seen) THEN
        dirty := ARRAY(SELECT c.connector_id FROM syncopt.sync_run_change c
                        WHERE (NOT pg_visible_in_snapshot(c.xid, basis.seen) OR c.xid = basis.taken_by)
                          AND c.newest_run >= lo - span
                       UNION
                       SELECT r.connector_id FROM syncopt.sync_run r
                        WHERE (r.started_at >= lo AND r.started_at < hi)
                           OR (r.started_at >= lo - span AND r.started_at < hi - span));
    END IF;
    IF dirty IS NULL OR cardinality(dirty) * 2 > (SELECT count(*) FROM syncopt.connector) THEN
        -- anomalies() reads the runs alone: a run whose connector is gone,
        -- written with the foreign key off (as logical replication applies
        -- rows), has no row here (anomalies_of() finds the connectors).
        INSERT INTO syncopt.anomaly_snapshot
        SELECT for_run, x.run_id, x.connector_id, x.metric, x.observed, x.expected, x.score, x.direction, x.reason
          FROM syncopt.anomalies(since) x
         WHERE EXISTS (SELECT FROM syncopt.connector c WHERE c.connector_id = x.connector_id);
    ELSE
        INSERT INTO syncopt.anomaly_snapshot
        SELECT for_run, x.run_id, x.connector_id, x.metric, x.observed, x.expected, x.score, x.direction, x.reason
          FROM syncopt.anomalies_of(since, dirty) x;
        UPDATE syncopt.anomaly_snapshot a SET planner_run_id = for_run
         WHERE a.planner_run_id = basis.planner_run_id AND a.connector_id <> ALL (dirty);
    END IF;
    DELETE FROM syncopt.anomaly_snapshot a WHERE a.planner_run_id <> for_run;
    DELETE FROM syncopt.anomaly_basis;
    INSERT INTO syncopt.anomaly_basis VALUES (for_run, since, since - span, settings, seen, pg_current_xact_id());
END
$$;
COMMENT ON FUNCTION syncopt.take_anomaly_snapshot(bigint, timestamptz) IS
    'Writes planning run for_run''s anomaly snapshot, anomalies(since): every connector judged again when the previous snapshot''s basis does not serve, else only those whose runs changed or crossed the window''s edges, the others'' rows carried over.';

-- One attempt of a planning run (run_planner(), below, makes it under the
-- run's lock, and once more when a connector or asset it read was deleted
-- before it wrote): candidates -> policy -> no churn -> mode and
-- guardrails -> decisions, plus alerts for new proposals, SLAs at risk and
-- classified failures.  Returns the decisions it wrote.  started: when the
-- run began (its time limit counts from there); retry_reason: why this is
-- the second attempt, kept in planner_run (NULL for the first).
-- Without JIT: the candidates' query is estimated far above jit_above_cost
-- (its analytics are functions), and compiling it took 10 of the 23 s it
-- ran at 10,000 connectors; nothing in a run runs long enough per row to
-- pay that back.
CREATE FUNCTION syncopt.run_planner_pass(at timestamptz, started timestamptz, retry_reason text)
RETURNS SETOF syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    time_limit  interval := current_setting('syncopt.planner_time_limit')::interval;
    stop_at     timestamptz;
    run         syncopt.planner_run;
    cand        record;
    conn        syncopt.connector;
    pol         record;
    status      text;
    guard       text;
    decision    syncopt.fivetran_sync_ai_logs;
    batch       syncopt.fivetran_sync_ai_logs[] := '{}';
    written     syncopt.fivetran_sync_ai_logs;
    new_ids     bigint[] := '{}';
    approving   boolean := false;   -- whether the batch holds an auto approval
    n           integer;
BEGIN
    PERFORM syncopt.expire_decisions();
    -- started_at is the run's start, before a first attempt that was
    -- rolled back, as its time limit counts.
    INSERT INTO syncopt.planner_run (at, started_at, retry_reason) VALUES (at, started, retry_reason) RETURNING * INTO run;
    -- The plan and the SLA forecast, from one load of the fleet; the
    -- candidates and the alerts below read these rows.  Called in a select
    -- list, plan_and_forecast() hands its rows one at a time to the CTE,
    -- their one copy before the tables (in FROM, a tuplestore of the
    -- function's own held them first: at 50,000 connectors the forecasts'
    -- arrays went to a temporary file and back once more).
    -- The previous run's rows go after the new ones are written, here and
    -- for the anomaly snapshot: deleted first, they were locked by this
    -- run while it planned, and a connector's delete committed meanwhile
    -- waited on them in its cascade while this run's foreign-key check
    -- waited on the delete (a deadlock).
    WITH pass AS MATERIALIZED (
        SELECT (r.x).planned, (r.x).forecast
          FROM (SELECT syncopt.plan_and_forecast(run.planner_run_id, at) AS x) r),
    planned AS (
        INSERT INTO syncopt.planned_sync
        SELECT (pass.planned).* FROM pass WHERE (pass.planned).connector_id IS NOT NULL)
    INSERT INTO syncopt.sla_forecast
    SELECT (pass.forecast).* FROM pass WHERE (pass.forecast).asset_id IS NOT NULL;
    DELETE FROM syncopt.planned_sync p WHERE p.planner_run_id <> run.planner_run_id;
    DELETE FROM syncopt.sla_forecast f WHERE f.planner_run_id <> run.planner_run_id;
    PERFORM syncopt.take_anomaly_snapshot(run.planner_run_id, at - interval '24 hours');

    -- Each candidate with its connector's policy and the no-churn check,
    -- in this one query: the same action with the same params is open, was
    -- logged in shadow mode within the proposal TTL, or was recently done,
    -- failed or rejected (a human said no).  Triggers have their own guard
    -- in planner_candidates() (one P90 after the last).  The loop's own
    -- writes cannot change a later candidate's answer: each candidate is
    -- the only one of its connector and action, and a decision supersedes
    -- only its own connector's and action's.  Checked per candidate in the
    -- loop, it was a statement per candidate whose plan, made while the
    -- control table was still small in a day's first run, stayed a
    -- sequential scan of the table as the run filled it (quadratic: 1.8
    -- million rows read for 1,342 decisions at 10,000 connectors).
    FOR cand IN
        SELECT pc.*, ep AS pol,
               EXISTS (SELECT FROM syncopt.fivetran_sync_ai_logs l
                        WHERE l.connector_id = pc.connector_id AND l.action = pc.action AND l.params = pc.params
                          AND (l.status IN ('proposed', 'approved', 'executing', 'unknown')
                               OR (l.status = 'shadow' AND ep.mode = 'shadow'
                                   AND l.created_at > now() - ep.proposal_ttl)
                               OR (l.status = 'rejected' AND l.updated_at > now() - ep.proposal_ttl)
                               OR (l.status IN ('succeeded', 'failed') AND pc.action <> 'trigger_sync'
                                   AND l.updated_at > now() - ep.proposal_ttl))) AS unchanged
          FROM syncopt.planner_candidates(at, run.planner_run_id) pc
          CROSS JOIN LATERAL syncopt.effective_policy(pc.connector_id) ep
         -- Most urgent first; under a cap, actions that save an SLA go before notices.
         ORDER BY pc.priority_score DESC NULLS LAST, pc.connector_id,
                  CASE pc.action WHEN 'trigger_sync' THEN 0 WHEN 'notify' THEN 2 ELSE 1 END, pc.action
    LOOP
        pol := cand.pol;
        -- Decisions are written together (write_decisions()), in this
        -- order, and before the clock is read below: the first (the most
        -- urgent) alone, then every 100, so that the time limit counts
        -- what writing them costs; and before auto mode's guardrails when
        -- the batch holds an approval: their hourly caps count the run's
        -- earlier approvals (and nothing else the run writes).
        IF cardinality(batch) > 0
           AND (run.written = 1 OR cardinality(batch) >= 100 OR (pol.mode = 'auto' AND approving)) THEN
            FOR written IN SELECT * FROM syncopt.write_decisions(batch) LOOP
                new_ids := new_ids || written.decision_id;
                RETURN NEXT written;
            END LOOP;
            batch := '{}';
            approving := false;
        END IF;
        run.candidates := run.candidates + 1;
        -- The time limit: the analytics always finish (the most urgent
        -- candidate is known only once the whole fleet is planned); the
        -- candidates are then taken until the limit, and at least the first
        -- of them and a tenth of the limit after the analytics, so that a
        -- run whose analytics alone pass the limit still writes its most
        -- urgent proposals.  The rest are counted, not reached.
        IF run.candidates = 1 THEN
            stop_at := greatest(started + time_limit, clock_timestamp() + time_limit / 10);
        ELSIF run.not_reached > 0 OR clock_timestamp() > stop_at THEN
            run.not_reached := run.not_reached + 1;
            CONTINUE;
        END IF;

        IF cand.action <> ALL (pol.allowed_actions)
           OR (cand.action = 'pause' AND pol.protect)
           OR (cand.action = 'set_schedule' AND cand.params ? 'sync_frequency'
               AND NOT (cand.params->>'sync_frequency')::integer
                       BETWEEN coalesce(pol.min_schedule_minutes, 1) AND coalesce(pol.max_schedule_minutes, 1440)) THEN
            run.not_allowed := run.not_allowed + 1;
            CONTINUE;
        END IF;

        -- No churn (checked in the candidates' query above).
        IF cand.unchanged THEN
            run.unchanged := run.unchanged + 1;
            CONTINUE;
        END IF;

        status := CASE pol.mode WHEN 'shadow' THEN 'shadow' WHEN 'copilot' THEN 'proposed' ELSE 'approved' END;
        guard := NULL;
        IF pol.mode = 'auto' THEN
            SELECT * INTO conn FROM syncopt.connector c WHERE c.connector_id = cand.connector_id;
            guard := syncopt.auto_guardrail(conn, cand.action, pol.max_actions_per_hour, pol.source);
            IF guard IS NOT NULL THEN
                status := 'proposed';
                run.refused := run.refused + 1;
            ELSE
                run.auto_approved := run.auto_approved + 1;
            END IF;
        END IF;

        decision := NULL;
        decision.planner_run_id := run.planner_run_id;
        decision.connector_id := cand.connector_id;
        decision.action := cand.action;
        decision.params := cand.params;
        decision.priority_score := cand.priority_score;
        decision.score_components := coalesce(cand.score_components, '{}')
                                     || jsonb_build_object('benefit', cand.benefit, 'policy', pol.source);
        decision.reason := cand.reason;
        decision.mode := pol.mode;
        decision.status := status;
        decision.expires_at := greatest(now(), at) + pol.proposal_ttl;
        decision.act_by := cand.act_by;
        decision.guardrail := guard;
        batch := batch || decision;
        approving := approving OR status = 'approved';
        run.written := run.written + 1;
    END LOOP;
    FOR written IN SELECT * FROM syncopt.write_decisions(batch) LOOP
        new_ids := new_ids || written.decision_id;
        RETURN NEXT written;
    END LOOP;

    SELECT count(*) INTO n FROM syncopt.fivetran_sync_ai_logs l WHERE l.superseded_by = ANY (new_ids);
    run.superseded := n;

    -- Alerts: new proposals for approvers, SLAs at risk, failures of the
    -- last two days (each once).
    SELECT count(*) INTO n FROM syncopt.pending_approvals p WHERE p.decision_id = ANY (new_ids);
    IF n > 0 THEN
        INSERT INTO syncopt.alert (kind, severity, message, details)
        SELECT 'approval_needed', 'warning',
               format('%s new proposal(s) await approval: %s', n,
                      string_agg(format('#%s %s on %s', p.decision_id, p.action, p.connector), ', '
                                 ORDER BY p.act_by NULLS LAST, p.priority_score DESC NULLS LAST, p.decision_id)),
               jsonb_build_object('planner_run_id', run.planner_run_id, 'decision_ids', jsonb_agg(p.decision_id))
          FROM syncopt.pending_approvals p
         WHERE p.decision_id = ANY (new_ids);
        run.alerts := run.alerts + 1;
    END IF;

    -- An SLA alert lists what the forecast keeps for it: at most 20 of the
    -- blocking connectors, with how many there are (sla_forecast); it goes
    -- to webhooks whole, and alerting endpoints cap what they take.
    INSERT INTO syncopt.alert (kind, asset_id, severity, message, details)
    SELECT 'sla_risk', r.asset_id, CASE r.risk WHEN 'high' THEN 'critical' ELSE 'warning' END,
           format('%s (due %s) is at %s risk: %s', a.name,
                  to_char(r.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), r.risk, r.reason),
           jsonb_build_object('deadline', r.deadline, 'predicted_ready', r.predicted_ready,
                              'blocking_connectors', to_jsonb(r.alert_blocking),
                              'blocking_count', r.blocking_count)
      FROM syncopt.sla_forecast r JOIN syncopt.asset a USING (asset_id)
     WHERE r.planner_run_id = run.planner_run_id AND r.at_risk
       AND NOT EXISTS (SELECT FROM syncopt.alert x
                        WHERE x.kind = 'sla_risk' AND x.asset_id = r.asset_id
                          AND (x.details->>'deadline')::timestamptz = r.deadline);
    GET DIAGNOSTICS n = ROW_COUNT;
    run.alerts := run.alerts + n;

    -- Each failure once: classify_unalerted_runs() leaves out the runs an
    -- alert already names.  A retryable failure whose connector's retries
    -- the back-off holds back at `at` (retry_opening(), as planner_candidates() applies it,
    -- with the streak counted as there) says until when and why, so that
    -- nobody on call waits for a retry syncopt is not going to make yet.
    INSERT INTO syncopt.alert (kind, connector_id, severity, message, details)
    SELECT 'sync_failure', f.connector_id, CASE WHEN f.retryable THEN 'info' ELSE 'warning' END,
           format('%s failed (%s, %s): %s Remediation: %s', coalesce(c.name, c.external_id), f.category,
                  CASE WHEN f.retryable THEN 'a retry is safe' ELSE 'needs a human' END, f.explanation, f.remediation)
           || CASE WHEN h.held_until IS NOT NULL
                   THEN format(' syncopt holds its retries back until %s: %s failures in a row (retry back-off, syncopt.retry_backoff doubled for each failure after the second, at most syncopt.retry_backoff_max); the vendor''s own schedule still runs.',
                               to_char(h.held_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), h.failures_in_row)
                   ELSE '' END,
           jsonb_build_object('run_id', f.run_id, 'category', f.category, 'retryable', f.retryable)
           || CASE WHEN h.held_until IS NOT NULL
                   THEN jsonb_build_object('retry_held_until', h.held_until, 'failures_in_row', h.failures_in_row)
                   ELSE '{}'::jsonb END
      FROM syncopt.classify_unalerted_runs(at - interval '2 days') f
      JOIN syncopt.connector c USING (connector_id)
      LEFT JOIN LATERAL (
          SELECT s.failures_in_row, syncopt.retry_opening(s.failures_in_row, s.last_failure_at) AS held_until
            FROM (SELECT CASE WHEN st.last_failure_at < greatest(st.last_success_at, c.last_success_at) THEN 0
                              ELSE coalesce(st.consecutive_failures, 0) END AS failures_in_row,
                         st.last_failure_at
                    FROM syncopt.connector_stats st WHERE st.connector_id = f.connector_id) s
           WHERE f.retryable) h ON h.held_until > at;
    GET DIAGNOSTICS n = ROW_COUNT;
    run.alerts := run.alerts + n;

    UPDATE syncopt.planner_run r
       SET finished_at = clock_timestamp(), candidates = run.candidates, written = run.written,
           auto_approved = run.auto_approved, refused = run.refused, unchanged = run.unchanged,
           not_allowed = run.not_allowed, superseded = run.superseded, alerts = run.alerts,
           not_reached = run.not_reached
     WHERE r.planner_run_id = run.planner_run_id;

    PERFORM syncopt.record_forecasts(run.planner_run_id, at);   -- the forecast scorecard
    -- Raised last: an attempt that fails before its end is rolled back, and
    -- its warning would name a run that never was.
    IF run.not_reached > 0 THEN
        RAISE WARNING 'planning run % reached syncopt.planner_time_limit (%): % of % candidates not reached',
                      run.planner_run_id, current_setting('syncopt.planner_time_limit'), run.not_reached, run.candidates
            USING DETAIL = format('It took the %s most urgent and wrote %s decision(s); its plan, SLA forecast and alerts are whole. The next planning run takes up the rest (planner_run.not_reached).',
                                  run.candidates - run.not_reached, run.written),
                  HINT = 'Raise syncopt.planner_time_limit, or see docs/operations.md for what makes a planning run slow.';
    END IF;
END
$$;
COMMENT ON FUNCTION syncopt.run_planner_pass(timestamptz, timestamptz, text) IS
    'One attempt of a planning run, made by run_planner() under the run''s lock: the analytics'' suggestions through policies, no-churn checks and auto guardrails into the control table; returns the decisions written.';

-- One planning run, one at a time.  A connector (or asset) deleted and
-- committed after the run read the fleet and before it wrote that
-- connector's rows fails the run's foreign-key check; the run then plans
-- once more, in a subtransaction's second attempt that reads the fleet
-- without it, instead of failing whole.  Skipping the deleted rows at each
-- write would still race the check; locking every connector read would
-- write each of their rows (50,000 per run) or block the collector.  A
-- run that met no delete pays one subtransaction.
CREATE FUNCTION syncopt.run_planner(at timestamptz DEFAULT now())
RETURNS SETOF syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    started     timestamptz := clock_timestamp();
    first_error text;
    detail      text;
    reason      text;
BEGIN
    IF at IS NULL OR NOT isfinite(at) THEN
        RAISE EXCEPTION 'at must be a finite time'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', coalesce(at::text, 'NULL'));
    END IF;
    -- One run at a time, on a lock of planner_run in a mode only its owner
    -- and the workers may take: an advisory lock is open to any role that
    -- connects, and one held would stop every run (docs/security.md, rule 6).
    -- Taken here, outside the attempts, so that it is held between them.
    BEGIN
        LOCK TABLE syncopt.planner_run IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        RAISE NOTICE 'another planning run is in progress; this one writes nothing'
            USING HINT = 'Runs are serialised by a lock on syncopt.planner_run; the next scheduled run plans again.';
        RETURN;
    END;

    -- An attempt returns its rows only once it has finished: one that
    -- fails has returned none.
    BEGIN
        RETURN QUERY SELECT * FROM syncopt.run_planner_pass(at, started, NULL);
        RETURN;
    EXCEPTION WHEN foreign_key_violation THEN
        GET STACKED DIAGNOSTICS first_error = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    END;
    reason := concat_ws('. ', first_error, nullif(detail, ''));
    RAISE WARNING 'planning run met a connector or asset deleted while it ran; planning again'
        USING DETAIL = format('The first attempt read the fleet before the delete and wrote nothing: %s', reason),
              HINT = 'Nothing to do: the second attempt plans the fleet without the deleted rows (planner_run.retry_reason). A run fails only when a second delete races it again.';
    RETURN QUERY SELECT * FROM syncopt.run_planner_pass(at, started, reason);
END
$$;
COMMENT ON FUNCTION syncopt.run_planner(timestamptz) IS
    'One planning run: the analytics'' suggestions through policies, no-churn checks and auto guardrails into the control table; returns the decisions written.';

-- Register the planning run with pg_cron (pg_cron 1.4 reads schedules in UTC).
CREATE FUNCTION syncopt.schedule_planner(schedule text DEFAULT '*/15 * * * *')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'syncopt.schedule_planner() registers syncopt.run_planner() as a pg_cron job.',
                  HINT = format('Add pg_cron to shared_preload_libraries, set cron.database_name = ''%s'', restart, and run CREATE EXTENSION pg_cron; or call syncopt.run_planner() from any scheduler.', current_database());
    END IF;
    IF schedule IS NULL OR btrim(schedule) = '' THEN
        RAISE EXCEPTION 'a schedule is needed'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'A cron expression in UTC, e.g. ''*/15 * * * *''.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
        USING 'syncopt-planner', schedule, 'SELECT count(*) FROM syncopt.run_planner()';
    RETURN job;
END
$$;
COMMENT ON FUNCTION syncopt.schedule_planner(text) IS
    'Registers (or re-schedules) the pg_cron job "syncopt-planner" that runs syncopt.run_planner(); the schedule is in UTC.';

-- Propose the inverse of an executed pause, resume, schedule or batch
-- change, from the settings the decision recorded as `previous`.
CREATE FUNCTION syncopt.rollback(decision_id bigint)
RETURNS syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d       syncopt.fivetran_sync_ai_logs;
    prev    jsonb;
    action  text;
    params  jsonb := '{}';
BEGIN
    SELECT * INTO d FROM syncopt.fivetran_sync_ai_logs l WHERE l.decision_id = rollback.decision_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'decision % does not exist', coalesce(rollback.decision_id::text, 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    IF d.status <> 'succeeded' THEN
        RAISE EXCEPTION 'only a decision that succeeded can be rolled back'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Decision %s is %s.', d.decision_id, d.status),
                  HINT = CASE WHEN d.status = 'approved' THEN 'Cancel it instead: UPDATE ... SET status = ''cancelled''.'
                              WHEN d.status = 'proposed' THEN 'Reject it instead: UPDATE ... SET status = ''rejected''.'
                              ELSE 'Nothing was changed at the vendor, so there is nothing to undo.' END;
    END IF;
    prev := coalesce(d.previous, '{}');
    CASE d.action
        WHEN 'pause' THEN action := 'resume';
        WHEN 'resume' THEN action := 'pause';
        WHEN 'set_schedule' THEN
            action := 'set_schedule';
            IF d.vendor = 'fivetran' THEN
                params := jsonb_strip_nulls(jsonb_build_object(
                    'sync_frequency', prev->'schedule_minutes',
                    'schedule_type', CASE WHEN prev->>'schedule_type' IN ('auto', 'manual') THEN prev->>'schedule_type' END,
                    'daily_sync_time', CASE WHEN prev->>'schedule_minutes' = '1440' AND prev->>'daily_sync_time' IS NOT NULL
                                            THEN left(prev->>'daily_sync_time', 2) || ':00' END));
            ELSIF prev->>'schedule_type' IN ('manual', 'cron')
                  AND coalesce((syncopt.airbyte_cron_parts(prev->>'cron_expression')).zone, 'UTC') <> 'UTC' THEN
                -- Airbyte's PATCH sets cron schedules in UTC only: sending the
                -- zone would be read as the Quartz year field
                RAISE EXCEPTION 'decision % cannot be rolled back through Airbyte''s API', d.decision_id
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = format('The schedule before it was "%s", in time zone %s; the public API sets cron schedules in UTC only.',
                                          (syncopt.airbyte_cron_parts(prev->>'cron_expression')).quartz,
                                          (syncopt.airbyte_cron_parts(prev->>'cron_expression')).zone),
                          HINT = 'Restore the schedule in the Airbyte UI, or propose a UTC cron schedule with syncopt.propose().';
            ELSIF prev->>'schedule_type' IN ('manual', 'cron') THEN
                params := jsonb_strip_nulls(jsonb_build_object(
                    'schedule_type', prev->>'schedule_type',
                    'cron_expression', (syncopt.airbyte_cron_parts(prev->>'cron_expression')).quartz));
            ELSE
                RAISE EXCEPTION 'decision % cannot be rolled back through Airbyte''s API', d.decision_id
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = format('The schedule before it was %s; the public API sets only manual and cron schedules.',
                                          coalesce(prev->>'schedule_type', 'unknown')),
                          HINT = 'Restore the schedule in the Airbyte UI, or propose a cron schedule with syncopt.propose().';
            END IF;
        WHEN 'set_batch_size' THEN
            action := 'set_batch_size';
            IF prev->'batch_size' IS NULL OR jsonb_typeof(prev->'batch_size') <> 'number' THEN
                RAISE EXCEPTION 'decision % cannot be rolled back: the batch size before it is not known', d.decision_id
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Propose the batch size you want with syncopt.propose().';
            END IF;
            params := jsonb_build_object('batch_size', prev->'batch_size');
        ELSE
            RAISE EXCEPTION 'a % cannot be undone', d.action
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = format('Decision %s started work at the vendor that has no inverse.', d.decision_id),
                      HINT = 'Only pause, resume, set_schedule and set_batch_size can be rolled back.';
    END CASE;
    RETURN syncopt.manual_proposal(d.connector_id, action, params,
        format('Rollback of decision %s (%s with %s, executed %s): restores the settings recorded before it.',
               d.decision_id, d.action, d.params, to_char(d.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
        d.decision_id);
END
$$;
COMMENT ON FUNCTION syncopt.rollback(bigint) IS
    'Proposes the inverse of an executed pause, resume, set_schedule or set_batch_size, from the decision''s `previous`; an approver approves it like any proposal.';
