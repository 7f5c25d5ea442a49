-- Where the collector is with each account (when the next poll is due, how
-- the last one ended, paging cursors, the vendor's rate-limit budget) and
-- how far the Platform Connector log has been read.

CREATE TABLE syncopt.collector_state (
    account_id           bigint PRIMARY KEY REFERENCES syncopt.account ON DELETE CASCADE,
    next_due_at          timestamptz,            -- NULL: due now
    poll_requested_at    timestamptz,            -- request_poll(); honoured even mid-poll
    last_started_at      timestamptz,
    last_finished_at     timestamptz,
    last_outcome         text CONSTRAINT collector_state_outcome_known
                         CHECK (last_outcome IN ('ok', 'partial', 'error', 'rate_limited', 'budget_wait')),
    last_error           text,
    last_requests        integer NOT NULL DEFAULT 0,
    last_pages           integer NOT NULL DEFAULT 0,
    last_rows            integer NOT NULL DEFAULT 0,
    polls                bigint NOT NULL DEFAULT 0,
    failed_polls         bigint NOT NULL DEFAULT 0,
    consecutive_failures integer NOT NULL DEFAULT 0,
    -- X-Rate-Limit-Remaining of the last response that carried it.
    rate_limit_remaining integer,
    rate_limit_seen_at   timestamptz,
    -- Airbyte: jobs updated at or after this are fetched by the next poll.
    jobs_cursor          timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- Why the next poll is due then: poll_interval, a back-off, the vendor's
    -- Retry-After, a low rate-limit budget, or a request.
    next_due_reason      text
);
COMMENT ON TABLE syncopt.collector_state IS
    'Per account: when the collector polls next, how the last poll ended, and paging cursors. Written by the collector.';

CREATE TABLE syncopt.log_ingest_state (
    account_id    bigint NOT NULL REFERENCES syncopt.account ON DELETE CASCADE,
    log_schema    name NOT NULL,
    -- The last _fivetran_synced (or time_stamp) read, and the log ids read at
    -- exactly that value, so that the next call starts after them.
    watermark     timestamptz,
    boundary_ids  text[] NOT NULL DEFAULT '{}',
    rows_read     bigint NOT NULL DEFAULT 0,
    rows_skipped  bigint NOT NULL DEFAULT 0,
    runs_touched  bigint NOT NULL DEFAULT 0,
    last_read_at  timestamptz,
    PRIMARY KEY (account_id, log_schema)
);
COMMENT ON TABLE syncopt.log_ingest_state IS
    'How far syncopt.ingest_fivetran_log() has read each Platform Connector schema, and how many rows it skipped.';

-- Items of a vendor page that could not be read (a field missing or of an
-- unknown shape) and were left out while the rest of the page was stored;
-- one row per item, replaced each time the item is seen, removed once it
-- reads again.  collector_status shows how many and the newest reason.
CREATE TABLE syncopt.ingest_quarantine (
    account_id    bigint NOT NULL REFERENCES syncopt.account ON DELETE CASCADE,
    kind          text NOT NULL
                  CONSTRAINT ingest_quarantine_kind_known CHECK (kind IN ('fivetran connection', 'airbyte connection')),
    external_id   text NOT NULL,
    problem       text NOT NULL,
    item          jsonb NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, kind, external_id)
);
COMMENT ON TABLE syncopt.ingest_quarantine IS
    'Page items the ingestion functions could not read and left out (the rest of the page was stored), with the reason.';

-- What a dashboard or an operator needs to know about collection.
CREATE VIEW syncopt.collector_status AS
SELECT a.account_id,
       a.name,
       a.vendor,
       a.enabled,
       a.poll_interval,
       s.account_id IS NOT NULL AS has_credentials,
       CASE
           WHEN NOT a.enabled THEN 'disabled'
           WHEN s.account_id IS NULL THEN 'no credentials'
           WHEN c.last_started_at IS NOT NULL
                AND (c.last_finished_at IS NULL OR c.last_finished_at < c.last_started_at) THEN 'polling'
           ELSE coalesce(c.last_outcome, 'never polled')
       END AS state,
       c.next_due_at,
       c.next_due_reason,
       -- The poller worker polling the account now, if any.
       (SELECT p.pid FROM pg_catalog.pg_stat_activity p
         WHERE p.backend_type OPERATOR(pg_catalog.=) 'syncopt poller'
           AND p.application_name OPERATOR(pg_catalog.=) ('syncopt poller ' OPERATOR(pg_catalog.||) a.account_id)
         LIMIT 1) AS poller_pid,
       c.last_started_at,
       c.last_finished_at,
       c.last_outcome,
       c.last_error,
       c.last_requests,
       c.last_pages,
       c.last_rows,
       c.polls,
       c.failed_polls,
       c.consecutive_failures,
       c.rate_limit_remaining,
       c.rate_limit_seen_at,
       q.quarantined_items,
       q.last_warning
  FROM syncopt.account a
  LEFT JOIN syncopt.account_secret s USING (account_id)
  LEFT JOIN syncopt.collector_state c USING (account_id)
  LEFT JOIN LATERAL (
        SELECT count(*) AS quarantined_items,
               (array_agg(format('%s %s left out: %s', x.kind, x.external_id, x.problem)
                          ORDER BY x.last_seen_at DESC, x.external_id))[1] AS last_warning
          FROM syncopt.ingest_quarantine x WHERE x.account_id = a.account_id) q ON true;
COMMENT ON VIEW syncopt.collector_status IS
    'One row per account: whether the collector can poll it, how the last poll ended, and when the next is due.';

-- The accounts the collector should poll now, oldest due first, leaving
-- out those a poller is already polling (busy).
CREATE FUNCTION syncopt.collector_due_accounts(busy bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.account_id
      FROM syncopt.account a
      JOIN syncopt.account_secret s USING (account_id)
      LEFT JOIN syncopt.collector_state c USING (account_id)
     WHERE a.enabled
       AND (c.next_due_at IS NULL OR c.next_due_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp())
       AND NOT (a.account_id OPERATOR(pg_catalog.=) ANY (busy))
     ORDER BY c.next_due_at NULLS FIRST, a.account_id
$$;

-- Milliseconds until the next account not being polled (busy) is due;
-- NULL when none can be polled.
CREATE FUNCTION syncopt.collector_next_due_ms(busy bigint[]) RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- greatest() ignores a NULL: without the CASE, no pollable account
    -- would read as "due now" and the collector would spin.
    SELECT CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN
               greatest(0, pg_catalog.ceil(1000 * extract(epoch FROM
                   pg_catalog.min(coalesce(c.next_due_at, '-infinity')) - pg_catalog.clock_timestamp())))
           END::bigint
      FROM syncopt.account a
      JOIN syncopt.account_secret s USING (account_id)
      LEFT JOIN syncopt.collector_state c USING (account_id)
     WHERE a.enabled
       AND NOT (a.account_id OPERATOR(pg_catalog.=) ANY (busy))
$$;

-- Note that a poll of the account began (visible as state 'polling').
CREATE FUNCTION syncopt.collector_record_start(account_id bigint) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO syncopt.collector_state AS c (account_id, last_started_at)
    VALUES (collector_record_start.account_id, pg_catalog.clock_timestamp())
    ON CONFLICT (account_id) DO UPDATE
        SET last_started_at = excluded.last_started_at, updated_at = pg_catalog.now()
$$;

-- Record how a poll ended and when the next one is due.  A failing account
-- backs off (1, 2, 4 ... minutes, never past its poll_interval); a rate
-- limit or an exhausted budget waits until retry_at.  The first failure
-- after a success raises a collector_error alert.
CREATE FUNCTION syncopt.collector_record_outcome(
    account_id bigint, outcome text, error text, requests integer, pages integer, rows integer,
    rate_limit_remaining integer, jobs_cursor timestamptz, retry_at timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acct      syncopt.account;
    st        syncopt.collector_state;
    failed    boolean := outcome IN ('error', 'partial');
    streak    integer;
    due       timestamptz;
    reason    text;
BEGIN
    SELECT * INTO acct FROM syncopt.account a WHERE a.account_id = collector_record_outcome.account_id;
    IF NOT FOUND THEN
        RETURN;                 -- deleted while it was polled
    END IF;
    SELECT * INTO st FROM syncopt.collector_state c WHERE c.account_id = acct.account_id FOR UPDATE;
    streak := CASE WHEN failed THEN coalesce(st.consecutive_failures, 0) + 1 ELSE 0 END;
    due := CASE
        WHEN retry_at IS NOT NULL THEN retry_at
        -- asked for while this poll ran: poll again at once
        WHEN st.poll_requested_at >= st.last_started_at THEN NULL
        WHEN failed THEN clock_timestamp() + least(acct.poll_interval,
                                                   interval '1 minute' * power(2, least(streak - 1, 10)))
        ELSE coalesce(st.last_started_at, clock_timestamp()) + acct.poll_interval
    END;
    reason := CASE
        WHEN retry_at IS NOT NULL AND outcome = 'budget_wait' THEN
            'rate-limit budget low: X-Rate-Limit-Remaining at or below syncopt.rate_limit_reserve'
        WHEN retry_at IS NOT NULL THEN
            'rate limited: waiting out the vendor''s Retry-After, capped (see last_error)'
        WHEN st.poll_requested_at >= st.last_started_at THEN 'requested while the last poll ran'
        WHEN failed THEN format('back-off after %s failed polls in a row', streak)
        ELSE 'poll_interval'
    END;
    INSERT INTO syncopt.collector_state AS c (
        account_id, next_due_at, next_due_reason, last_started_at, last_finished_at, last_outcome, last_error,
        last_requests, last_pages, last_rows, polls, failed_polls, consecutive_failures,
        rate_limit_remaining, rate_limit_seen_at, jobs_cursor)
    VALUES (acct.account_id, due, reason, coalesce(st.last_started_at, clock_timestamp()), clock_timestamp(),
            outcome, error, requests, pages, rows, 1, CASE WHEN failed THEN 1 ELSE 0 END, streak,
            collector_record_outcome.rate_limit_remaining,
            CASE WHEN collector_record_outcome.rate_limit_remaining IS NOT NULL THEN clock_timestamp() END,
            collector_record_outcome.jobs_cursor)
    ON CONFLICT ON CONSTRAINT collector_state_pkey DO UPDATE SET
        next_due_at = excluded.next_due_at,
        next_due_reason = excluded.next_due_reason,
        last_finished_at = excluded.last_finished_at,
        last_outcome = excluded.last_outcome,
        last_error = excluded.last_error,
        last_requests = excluded.last_requests,
        last_pages = excluded.last_pages,
        last_rows = excluded.last_rows,
        polls = c.polls + 1,
        failed_polls = c.failed_polls + excluded.failed_polls,
        consecutive_failures = excluded.consecutive_failures,
        rate_limit_remaining = coalesce(excluded.rate_limit_remaining, c.rate_limit_remaining),
        rate_limit_seen_at = coalesce(excluded.rate_limit_seen_at, c.rate_limit_seen_at),
        jobs_cursor = coalesce(excluded.jobs_cursor, c.jobs_cursor),
        updated_at = now();
    IF failed AND streak = 1 THEN
        INSERT INTO syncopt.alert (kind, severity, message, details)
        VALUES ('collector_error', 'warning',
                format('collecting from account %s (%s) failed: %s', acct.name, acct.vendor, error),
                jsonb_build_object('account_id', acct.account_id, 'outcome', outcome));
    END IF;
END
$$;

-- Ask the collector to poll an account (or every enabled account) now.
CREATE FUNCTION syncopt.request_poll(account_id bigint DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF account_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM syncopt.account a WHERE a.account_id OPERATOR(pg_catalog.=) request_poll.account_id) THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO syncopt.collector_state AS c (account_id, next_due_at, next_due_reason, poll_requested_at)
    SELECT a.account_id, NULL, 'requested', pg_catalog.clock_timestamp() FROM syncopt.account a
     WHERE a.enabled AND (request_poll.account_id IS NULL OR a.account_id OPERATOR(pg_catalog.=) request_poll.account_id)
    ON CONFLICT ON CONSTRAINT collector_state_pkey DO UPDATE
        SET next_due_at = NULL, next_due_reason = 'requested', poll_requested_at = excluded.poll_requested_at,
            updated_at = pg_catalog.now();
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM syncopt.wake('collector');
    RETURN n;
END
$$;
COMMENT ON FUNCTION syncopt.request_poll(bigint) IS
    'Makes the account (NULL: every enabled account) due now and wakes the collector at commit; returns how many.';
