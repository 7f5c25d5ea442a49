-- Executing approved decisions: the vendor request of each action, the
-- executor's claim / record / recovery steps, and the circuit breaker.
--
-- The executor worker (src/executor.c) owns the HTTP; everything about
-- what a request looks like and what its answer means lives here, so that
-- it can be read, tested from SQL and changed without touching C.

CREATE TABLE syncopt.circuit_breaker (
    breaker_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector_id bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    failures     integer NOT NULL,
    last_error   text,
    closed_at    timestamptz,
    closed_by    name,
    CONSTRAINT circuit_breaker_closed_stamped CHECK ((closed_at IS NULL) = (closed_by IS NULL))
);
COMMENT ON TABLE syncopt.circuit_breaker IS
    'Opened after syncopt.breaker_threshold consecutive failed executions on a connector; while open, auto mode drops to co-pilot. Close with syncopt.reset_breaker().';
CREATE UNIQUE INDEX circuit_breaker_open_idx ON syncopt.circuit_breaker (connector_id) WHERE closed_at IS NULL;

-- The vendor request of a decision: method, path under the account's
-- base_url, and JSON body, exactly as the vendors' OpenAPI files define
-- them.  notify has no vendor request (method NULL): its body is the
-- message the executor hands to the notification channels.
CREATE FUNCTION syncopt.render_request(decision_id bigint, OUT method text, OUT path text, OUT body jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d      record;
    id     text;
    source text;
BEGIN
    SELECT l.vendor, l.action, l.params, c.external_id, c.raw->>'sourceId' AS source_id
      INTO d
      FROM syncopt.fivetran_sync_ai_logs l JOIN syncopt.connector c USING (connector_id)
     WHERE l.decision_id = render_request.decision_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'decision % does not exist', coalesce(render_request.decision_id::text, 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    -- Ids go into URL paths: anything but the vendors' id alphabet is refused
    -- rather than escaped, so that no id can reach another endpoint.
    id := d.external_id;
    IF id !~ '^[A-Za-z0-9._~-]+$' OR id ~ '^\.+$' THEN
        RAISE EXCEPTION 'connector id "%" cannot be used in a request path', id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Vendor ids contain only letters, digits, ".", "_", "~" and "-", and are not dots alone.';
    END IF;
    PERFORM syncopt.validate_action_params(d.vendor, d.action, d.params);

    IF d.action = 'notify' THEN
        body := jsonb_build_object('message', coalesce(d.params->>'message', 'no message'),
                                   'severity', coalesce(d.params->>'severity', 'warning'));
        RETURN;
    END IF;

    IF d.vendor = 'fivetran' THEN
        CASE d.action
            WHEN 'trigger_sync' THEN
                method := 'POST'; path := format('/v1/connections/%s/sync', id);
                body := jsonb_build_object('force', coalesce((d.params->>'force')::boolean, false));
            WHEN 'pause', 'resume' THEN
                method := 'PATCH'; path := format('/v1/connections/%s', id);
                body := jsonb_build_object('paused', d.action = 'pause');
            WHEN 'set_schedule' THEN
                method := 'PATCH'; path := format('/v1/connections/%s', id);
                body := d.params;
            WHEN 'resync_tables' THEN
                method := 'POST'; path := format('/v1/connections/%s/schemas/tables/resync', id);
                body := d.params->'tables';
            WHEN 'resync_connector' THEN
                method := 'POST'; path := format('/v1/connections/%s/resync', id);
                body := CASE WHEN d.params ? 'scope' THEN jsonb_build_object('scope', d.params->'scope')
                             ELSE '{}' END;
        END CASE;
    ELSE
        CASE d.action
            WHEN 'trigger_sync' THEN
                method := 'POST'; path := '/jobs';
                body := jsonb_build_object('connectionId', id, 'jobType', 'sync');
            WHEN 'pause', 'resume' THEN
                method := 'PATCH'; path := format('/connections/%s', id);
                body := jsonb_build_object('status', CASE d.action WHEN 'pause' THEN 'inactive' ELSE 'active' END);
            WHEN 'set_schedule' THEN
                method := 'PATCH'; path := format('/connections/%s', id);
                body := jsonb_build_object('schedule', jsonb_strip_nulls(jsonb_build_object(
                            'scheduleType', d.params->>'schedule_type',
                            'cronExpression', d.params->>'cron_expression')));
            WHEN 'set_batch_size' THEN
                source := d.source_id;
                IF source IS NULL OR source !~ '^[A-Za-z0-9-]+$' THEN
                    RAISE EXCEPTION 'Airbyte connection % has no usable sourceId', id
                        USING ERRCODE = 'object_not_in_prerequisite_state',
                              HINT = 'The collector records sourceId from GET /connections; poll the account first.';
                END IF;
                method := 'PATCH'; path := format('/sources/%s', source);
                body := jsonb_build_object('configuration', jsonb_build_object('batch_size', (d.params->>'batch_size')::integer));
        END CASE;
    END IF;
END
$$;
COMMENT ON FUNCTION syncopt.render_request(bigint) IS
    'The vendor call of a decision: method, path under the account''s base_url, JSON body (notify: no call, the message).';

-- What a decision that succeeded changed, applied to the connector at once
-- so that the next planning run does not propose it again before the
-- collector's next poll confirms it.
CREATE FUNCTION syncopt.apply_decision(d syncopt.fivetran_sync_ai_logs) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE syncopt.connector c SET
        paused = CASE d.action WHEN 'pause' THEN true WHEN 'resume' THEN false ELSE c.paused END,
        schedule_minutes = CASE WHEN d.action = 'set_schedule' AND d.params ? 'sync_frequency'
                                THEN (d.params->>'sync_frequency')::integer ELSE c.schedule_minutes END,
        schedule_type = CASE WHEN d.action = 'set_schedule' AND d.params ? 'schedule_type'
                             THEN d.params->>'schedule_type' ELSE c.schedule_type END,
        daily_sync_time = CASE WHEN d.action = 'set_schedule' AND d.params ? 'daily_sync_time'
                               THEN (d.params->>'daily_sync_time')::time ELSE c.daily_sync_time END,
        cron_expression = CASE WHEN d.action = 'set_schedule' AND d.vendor = 'airbyte'
                               THEN d.params->>'cron_expression' ELSE c.cron_expression END,
        -- Airbyte sets the cron schedules of its API in UTC
        schedule_timezone = CASE WHEN d.action = 'set_schedule' AND d.vendor = 'airbyte'
                                 THEN NULL ELSE c.schedule_timezone END,
        batch_size = CASE WHEN d.action = 'set_batch_size'
                          THEN (d.params->>'batch_size')::integer ELSE c.batch_size END
     WHERE c.connector_id = d.connector_id
       AND d.action IN ('pause', 'resume', 'set_schedule', 'set_batch_size')
$$;

-- Claim up to batch_size approved decisions that are due, in attempt
-- order, skipping rows another executor holds.  in_flight lists the
-- account of every call the executor has in flight (one entry per call);
-- no account gets more than per_account calls in flight, so that a hung
-- or throttling vendor cannot take every slot.  Each claimed row is moved
-- to executing (one more attempt counted before the call is made, so that
-- a crash leaves a row saying a call may have gone out) and its request is
-- returned.  A row whose request cannot be built, whose account is
-- disabled or whose connector is marked deleted at the vendor fails here,
-- alone, with nothing sent; a notify row is handed to the notification
-- queue and succeeds.
CREATE FUNCTION syncopt.executor_claim(batch_size integer DEFAULT 100, in_flight bigint[] DEFAULT '{}',
    per_account integer DEFAULT NULL)
RETURNS TABLE (decision_id bigint, account_id bigint, method text, path text, body text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d       syncopt.fivetran_sync_ai_logs;
    req     record;
    taken   bigint[] := coalesce(in_flight, '{}');
    -- Accounts already at their share are not even looked at.
    saturated bigint[] := ARRAY(SELECT a FROM unnest(taken) a GROUP BY a HAVING count(*) >= per_account);
    claimed integer := 0;
    enabled boolean;
    deleted timestamptz;
    unsent  text;
BEGIN
    FOR d IN
        SELECT * FROM syncopt.fivetran_sync_ai_logs l
         WHERE l.status = 'approved'
           AND coalesce(l.next_attempt_at, '-infinity') <= now()
           AND coalesce(l.not_before, '-infinity') <= now()
           AND l.account_id <> ALL (saturated)
         ORDER BY l.next_attempt_at NULLS FIRST, l.decision_id
           FOR UPDATE SKIP LOCKED
    LOOP
        EXIT WHEN claimed >= batch_size;
        CONTINUE WHEN per_account IS NOT NULL
                  AND (SELECT count(*) FROM unnest(taken) a WHERE a = d.account_id) >= per_account;

        -- Why the row fails here with nothing sent, if it does.
        unsent := NULL;
        SELECT a.enabled INTO enabled FROM syncopt.account a WHERE a.account_id = d.account_id;
        SELECT c.deleted_at INTO deleted FROM syncopt.connector c WHERE c.connector_id = d.connector_id;
        IF NOT enabled THEN
            unsent := format('not sent: account %s is disabled (syncopt.account.enabled = false); approve a new proposal once it is enabled again', d.account_id);
        ELSIF deleted IS NOT NULL THEN
            -- Gone from the vendor's list, deprecated (Airbyte) or deleted
            -- in the Platform Connector log: a call would only come back
            -- not found, and a notice would name a connector no longer
            -- planned.
            unsent := format('not sent: connector %s is marked deleted at the vendor (since %s)',
                             d.connector_id, to_char(deleted AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'));
        ELSE
            BEGIN
                req := syncopt.render_request(d.decision_id);
            EXCEPTION WHEN OTHERS THEN
                unsent := 'cannot build the vendor request: ' || SQLERRM;
            END;
        END IF;
        IF unsent IS NOT NULL THEN
            -- Through executing, the state machine's only way to failed.
            UPDATE syncopt.fivetran_sync_ai_logs l SET status = 'executing', started_at = now()
             WHERE l.decision_id = d.decision_id;
            UPDATE syncopt.fivetran_sync_ai_logs l SET status = 'failed', finished_at = now(), error = unsent
             WHERE l.decision_id = d.decision_id;
            CONTINUE;
        END IF;

        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'executing', started_at = now(), attempts = l.attempts + 1, next_attempt_at = NULL
         WHERE l.decision_id = d.decision_id;
        IF req.method IS NULL THEN
            INSERT INTO syncopt.alert (kind, connector_id, severity, message, details)
            VALUES ('notice', d.connector_id, req.body->>'severity', req.body->>'message',
                    jsonb_build_object('decision_id', d.decision_id));
            UPDATE syncopt.fivetran_sync_ai_logs l
               SET status = 'succeeded', finished_at = now(), response = jsonb_build_object('queued_notification', true)
             WHERE l.decision_id = d.decision_id;
            CONTINUE;
        END IF;
        taken := taken || d.account_id;
        claimed := claimed + 1;
        decision_id := d.decision_id;
        account_id := d.account_id;
        method := req.method;
        path := req.path;
        body := req.body::text;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION syncopt.executor_claim(integer, bigint[], integer) IS
    'Executor: moves due approved decisions to executing (at most per_account in flight per account) and returns their vendor requests (notify rows are queued as alerts; rows of disabled accounts and of connectors marked deleted at the vendor fail unsent).';

-- A response body as jsonb: the JSON itself, or the first 2,000 characters
-- of anything else (text that is not JSON, or JSON that jsonb cannot hold,
-- such as \u0000) under "body".  A body the executor cut (response_bytes
-- given: it kept only the head of that many bytes) is never parsed: its
-- head is kept under "head", with "truncated": true.
CREATE FUNCTION syncopt.response_jsonb(body text, response_bytes bigint DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF body IS NULL OR (body = '' AND response_bytes IS NULL) THEN
        RETURN NULL;
    END IF;
    IF response_bytes IS NOT NULL THEN
        RETURN jsonb_build_object('truncated', true, 'bytes_received', response_bytes, 'head', left(body, 2000));
    END IF;
    RETURN body::jsonb;
EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
    RETURN jsonb_build_object('body', left(body, 2000));
END
$$;

-- Open the connector's breaker when its last breaker_threshold executions
-- all failed, with an alert; returns whether it opened now.
CREATE FUNCTION syncopt.check_breaker(connector_id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    threshold integer := current_setting('syncopt.breaker_threshold')::integer;
    recent    text[];
    last_err  text;
BEGIN
    SELECT array_agg(l.status ORDER BY l.finished_at DESC), (array_agg(l.error ORDER BY l.finished_at DESC))[1]
      INTO recent, last_err
      FROM (SELECT l.status, l.error, l.finished_at FROM syncopt.fivetran_sync_ai_logs l
             WHERE l.connector_id = check_breaker.connector_id
               AND l.status IN ('succeeded', 'failed') AND l.action <> 'notify'
               AND l.finished_at > coalesce((SELECT max(b.closed_at) FROM syncopt.circuit_breaker b
                                             WHERE b.connector_id = check_breaker.connector_id), '-infinity')
             ORDER BY l.finished_at DESC LIMIT threshold) l;
    IF coalesce(cardinality(recent), 0) < threshold OR 'succeeded' = ANY (recent)
       OR EXISTS (SELECT FROM syncopt.circuit_breaker b
                   WHERE b.connector_id = check_breaker.connector_id AND b.closed_at IS NULL) THEN
        RETURN false;
    END IF;
    INSERT INTO syncopt.circuit_breaker (connector_id, failures, last_error)
    VALUES (check_breaker.connector_id, threshold, last_err);
    INSERT INTO syncopt.alert (kind, connector_id, severity, message, details)
    VALUES ('circuit_open', check_breaker.connector_id, 'critical',
            format('Circuit breaker opened for connector %s after %s failed executions in a row; auto mode is suspended (co-pilot) until an admin runs syncopt.reset_breaker(%s). Last error: %s',
                   check_breaker.connector_id, threshold, check_breaker.connector_id, coalesce(last_err, 'none')),
            jsonb_build_object('failures', threshold));
    RETURN true;
END
$$;

-- Record the outcome of a call: 2xx succeeds (and the connector is
-- updated; a body cut at the size cap does not change that); a call that
-- may have reached the vendor with no valid answer and is not safe to
-- repeat (in_doubt) is unknown; a retryable failure (transport, 429, 5xx)
-- goes back to approved for next_attempt_at while attempts remain;
-- anything else fails with the vendor's message kept.  calls is the number
-- of requests sent (0 when none could be).  A note that the call was sent
-- again after the executor stopped stays in error.  Returns the new status.
CREATE FUNCTION syncopt.executor_record(decision_id bigint, http_status integer, response text,
    error text, calls integer, retryable boolean, retry_after_s integer,
    in_doubt boolean DEFAULT false, response_bytes bigint DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d        syncopt.fivetran_sync_ai_logs;
    reply    jsonb := syncopt.response_jsonb(response, response_bytes);
    tries    integer;
    max_tries integer := current_setting('syncopt.executor_max_attempts')::integer;
    why      text := error;
    wait     interval;
BEGIN
    SELECT * INTO d FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.decision_id = executor_record.decision_id FOR UPDATE;
    IF NOT FOUND OR d.status <> 'executing' THEN
        RETURN d.status;
    END IF;
    -- The claim counted one call; the transport made `calls`.
    tries := d.attempts - 1 + coalesce(calls, 1);

    IF why IS NULL AND http_status BETWEEN 200 AND 299 THEN
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'succeeded', finished_at = now(), attempts = tries,
               http_status = executor_record.http_status, response = reply,
               error = CASE WHEN d.error LIKE 'the executor stopped%' THEN d.error END
         WHERE l.decision_id = d.decision_id
        RETURNING * INTO d;
        PERFORM syncopt.apply_decision(d);
        RETURN 'succeeded';
    END IF;

    IF in_doubt THEN
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'unknown', attempts = tries, http_status = NULL, response = NULL,
               error = format('%s; the request may have reached %s but no valid answer came, and a %s is not sent twice blindly: whether %s acted is not known. Check the connector at the vendor, then set status to succeeded, failed, or approved to send it again (docs/approvals.md, "Unknown outcomes").',
                              why, initcap(d.vendor), d.action, initcap(d.vendor))
         WHERE l.decision_id = d.decision_id;
        RETURN 'unknown';
    END IF;

    IF why IS NULL THEN
        why := format('HTTP %s from %s: %s', http_status, d.vendor,
                      coalesce(reply->>'message', reply->>'detail', reply->>'title', reply->>'body', 'no message'));
    END IF;
    IF retryable AND tries < max_tries THEN
        wait := make_interval(secs => coalesce(nullif(retry_after_s, -1),
                                               least(600, 5 * power(2, least(tries, 10) - 1))));
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'approved', attempts = tries, next_attempt_at = now() + wait,
               http_status = executor_record.http_status, response = reply,
               error = format('%s; attempt %s of %s, next at %s', why, tries, max_tries, now() + wait)
         WHERE l.decision_id = d.decision_id;
        RETURN 'approved';
    END IF;

    UPDATE syncopt.fivetran_sync_ai_logs l
       SET status = 'failed', finished_at = now(), attempts = tries,
           http_status = executor_record.http_status, response = reply,
           error = CASE WHEN retryable THEN format('%s; gave up after %s attempts', why, tries) ELSE why END
     WHERE l.decision_id = d.decision_id;
    PERFORM syncopt.check_breaker(d.connector_id);
    RETURN 'failed';
END
$$;
COMMENT ON FUNCTION syncopt.executor_record(bigint, integer, text, text, integer, boolean, integer, boolean, bigint) IS
    'Executor: records a vendor call''s outcome (succeeded, unknown when a non-repeatable call is in doubt, approved again for a retry, or failed) and returns the new status.';

-- The executor was interrupted (cancel, shutdown) or could not record an
-- answer while a row was executing.  calls requests were sent; on_wire
-- says one may have reached the vendor with its answer unrecorded.  No
-- request out: approved again, nothing lost.  A change that is safe to
-- repeat: approved again, the row saying so, until executor_max_attempts.
-- Anything else: unknown, with the reason, for a human.
CREATE FUNCTION syncopt.executor_abandon(decision_id bigint, calls integer, on_wire boolean, reason text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d         syncopt.fivetran_sync_ai_logs;
    tries     integer;
    max_tries integer := current_setting('syncopt.executor_max_attempts')::integer;
BEGIN
    SELECT * INTO d FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.decision_id = executor_abandon.decision_id FOR UPDATE;
    IF NOT FOUND OR d.status <> 'executing' THEN
        RETURN d.status;
    END IF;
    tries := greatest(d.attempts - 1 + coalesce(executor_abandon.calls, 1), 0);
    IF NOT executor_abandon.on_wire OR (d.action IN ('pause', 'resume', 'set_schedule', 'set_batch_size') AND tries < max_tries) THEN
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'approved', attempts = tries, next_attempt_at = NULL,
               error = format('the executor stopped (%s) after %s requests of this %s; %s, so it is sent again',
                              executor_abandon.reason, tries, d.action,
                              CASE WHEN executor_abandon.on_wire THEN 'this change is safe to repeat' ELSE 'no request is awaiting an answer' END)
         WHERE l.decision_id = d.decision_id;
        RETURN 'approved';
    END IF;
    UPDATE syncopt.fivetran_sync_ai_logs l
       SET status = 'unknown', attempts = tries,
           error = format('the executor stopped (%s) during attempt %s of this %s; whether %s acted is not known. Check the connector at the vendor, then set status to succeeded, failed, or approved to send it again (docs/approvals.md, "Unknown outcomes").',
                          executor_abandon.reason, tries, d.action, initcap(d.vendor))
     WHERE l.decision_id = d.decision_id;
    RETURN 'unknown';
END
$$;
COMMENT ON FUNCTION syncopt.executor_abandon(bigint, integer, boolean, text) IS
    'Executor: settles a row it could not finish (cancel, shutdown, unrecordable answer): approved again when safe, else unknown with the reason.';

-- After the executor stopped (crash, kill, immediate shutdown), settle the
-- rows it left executing.  Changes that are safe to repeat (PATCH of
-- pause, resume, schedule, batch size) go back to approved and are sent
-- again, the row saying so.  A re-sync is never repeated blindly: unknown,
-- for a human.  A trigger_sync is returned with the request that checks
-- the connector's state at the vendor (executor_reconciled() judges it).
CREATE FUNCTION syncopt.executor_recover()
RETURNS TABLE (decision_id bigint, account_id bigint, method text, path text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d syncopt.fivetran_sync_ai_logs;
    c syncopt.connector;
BEGIN
    FOR d IN SELECT * FROM syncopt.fivetran_sync_ai_logs l WHERE l.status = 'executing'
              ORDER BY l.decision_id FOR UPDATE
    LOOP
        SELECT * INTO c FROM syncopt.connector WHERE connector_id = d.connector_id;
        IF d.action IN ('pause', 'resume', 'set_schedule', 'set_batch_size') THEN
            UPDATE syncopt.fivetran_sync_ai_logs l
               SET status = 'approved', next_attempt_at = NULL,
                   error = format('the executor stopped during attempt %s; this change is safe to repeat, so it is sent again', d.attempts)
             WHERE l.decision_id = d.decision_id;
        ELSIF d.action = 'trigger_sync' AND c.external_id ~ '^[A-Za-z0-9._~-]+$' AND c.external_id !~ '^\.+$' THEN
            decision_id := d.decision_id;
            account_id := d.account_id;
            method := 'GET';
            path := CASE d.vendor
                        WHEN 'fivetran' THEN format('/v1/connections/%s', c.external_id)
                        ELSE format('/jobs?connectionId=%s&jobType=sync&limit=1&createdAtStart=%s', c.external_id,
                                    to_char((d.started_at - interval '5 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                    END;
            RETURN NEXT;
        ELSE
            UPDATE syncopt.fivetran_sync_ai_logs l
               SET status = 'unknown',
                   error = format('the executor stopped during attempt %s of this %s; whether %s acted is not known. Check the connector at the vendor, then set status to succeeded, failed, or approved to send it again (docs/approvals.md, "Unknown outcomes").',
                                  d.attempts, d.action, initcap(d.vendor))
             WHERE l.decision_id = d.decision_id;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION syncopt.executor_recover() IS
    'Executor, at start: re-queues safe-to-repeat calls left executing, marks re-syncs unknown, returns the state checks of trigger_sync rows.';

-- Judge a trigger_sync left executing from the connector's state at the
-- vendor: a sync started since the claim means the call arrived
-- (succeeded); none means it did not, and sending it again is safe (a
-- Fivetran sync with force false, an Airbyte job, never doubles a running
-- one); a failed check leaves the row unknown.
CREATE FUNCTION syncopt.executor_reconciled(decision_id bigint, http_status integer, response text, error text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d        syncopt.fivetran_sync_ai_logs;
    reply    jsonb := syncopt.response_jsonb(response);
    evidence text;
BEGIN
    SELECT * INTO d FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.decision_id = executor_reconciled.decision_id FOR UPDATE;
    IF NOT FOUND OR d.status <> 'executing' THEN
        RETURN d.status;
    END IF;
    IF error IS NOT NULL OR http_status NOT BETWEEN 200 AND 299 OR jsonb_typeof(reply) <> 'object' THEN
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'unknown',
               error = format('the executor stopped during this trigger_sync and checking the connector failed (%s); whether the sync was triggered is not known',
                              coalesce(error, 'HTTP ' || http_status))
         WHERE l.decision_id = d.decision_id;
        RETURN 'unknown';
    END IF;

    IF d.vendor = 'fivetran' THEN
        SELECT CASE
                 WHEN reply #>> '{data,status,sync_state}' = 'syncing' THEN 'the connection is syncing'
                 WHEN (reply #>> '{data,succeeded_at}')::timestamptz >= d.started_at THEN 'a sync succeeded at ' || (reply #>> '{data,succeeded_at}')
                 WHEN (reply #>> '{data,failed_at}')::timestamptz >= d.started_at THEN 'a sync failed at ' || (reply #>> '{data,failed_at}')
               END INTO evidence;
    ELSIF jsonb_typeof(reply->'data') = 'array' AND jsonb_array_length(reply->'data') > 0 THEN
        evidence := format('job %s was created at %s', reply #>> '{data,0,jobId}', reply #>> '{data,0,startTime}');
    END IF;

    IF evidence IS NOT NULL THEN
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'succeeded', finished_at = now(),
               response = jsonb_build_object('reconciled', true, 'evidence', evidence),
               error = 'the executor stopped during the call; reconciled: ' || evidence
         WHERE l.decision_id = d.decision_id;
        RETURN 'succeeded';
    END IF;
    UPDATE syncopt.fivetran_sync_ai_logs l
       SET status = 'approved', next_attempt_at = NULL,
           error = format('the executor stopped during attempt %s; %s shows no sync since %s, so the trigger is sent again',
                          d.attempts, initcap(d.vendor), d.started_at)
     WHERE l.decision_id = d.decision_id;
    RETURN 'approved';
END
$$;
COMMENT ON FUNCTION syncopt.executor_reconciled(bigint, integer, text, text) IS
    'Executor: settles a trigger_sync left executing from the vendor''s view of the connector (succeeded, approved again, or unknown).';

-- Close a connector's open circuit breaker (admin): auto mode resumes.
CREATE FUNCTION syncopt.reset_breaker(connector_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH closed AS (
        UPDATE syncopt.circuit_breaker b
           SET closed_at = pg_catalog.now(), closed_by = session_user
         WHERE b.connector_id OPERATOR(pg_catalog.=) reset_breaker.connector_id AND b.closed_at IS NULL
        RETURNING 1)
    SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM closed
$$;
COMMENT ON FUNCTION syncopt.reset_breaker(bigint) IS
    'Closes the connector''s open circuit breaker (auto mode resumes); returns whether one was open.';
