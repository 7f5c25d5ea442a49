-- The control table, its state machine and its audit trail.
--
-- Every decision syncopt (or an admin) makes is one row of
-- syncopt.fivetran_sync_ai_logs (the name is historical: rows cover both
-- vendors).  Humans move rows only through legal transitions, by UPDATE of
-- status and review_note; everything else is written by syncopt itself,
-- i.e. by a role with the privileges of the table's owner (the workers and
-- syncopt's SECURITY DEFINER functions).

CREATE TABLE syncopt.decision_transition (
    from_status syncopt.decision_status NOT NULL,
    to_status   syncopt.decision_status NOT NULL,
    actor       text NOT NULL CONSTRAINT decision_transition_actor_known CHECK (actor IN ('approver', 'system')),
    meaning     text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
COMMENT ON TABLE syncopt.decision_transition IS
    'The legal moves of a decision. actor = approver: a human with UPDATE on status may make it (and syncopt itself); system: only syncopt.';

INSERT INTO syncopt.decision_transition (from_status, to_status, actor, meaning) VALUES
    ('proposed',  'approved',   'approver', 'a human approves the proposal'),
    ('proposed',  'rejected',   'approver', 'a human rejects the proposal'),
    ('proposed',  'expired',    'system',   'expires_at passed before anyone approved it'),
    ('proposed',  'superseded', 'system',   'a newer proposal for the same connector and action replaced it'),
    ('approved',  'cancelled',  'approver', 'a human withdraws the approval before the executor claims it'),
    ('approved',  'executing',  'system',   'the executor claimed it and is calling the vendor'),
    ('executing', 'succeeded',  'system',   'the vendor accepted the call'),
    ('executing', 'failed',     'system',   'the call failed for good (non-retryable, or retries exhausted)'),
    ('executing', 'approved',   'system',   'a retryable failure: queued again for next_attempt_at'),
    ('executing', 'unknown',    'system',   'the executor stopped mid-call; whether the vendor acted is not known'),
    ('unknown',   'approved',   'approver', 'a human decides to send the call again'),
    ('unknown',   'succeeded',  'approver', 'reconciled: the vendor did act'),
    ('unknown',   'failed',     'approver', 'reconciled: the vendor did not act');

CREATE TABLE syncopt.fivetran_sync_ai_logs (
    decision_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT now(),
    planner_run_id   bigint,                    -- NULL for manual proposals
    account_id       bigint NOT NULL REFERENCES syncopt.account ON DELETE RESTRICT,
    connector_id     bigint NOT NULL REFERENCES syncopt.connector ON DELETE RESTRICT,
    vendor           text NOT NULL
                     CONSTRAINT decision_vendor_known CHECK (vendor IN ('fivetran', 'airbyte')),
    action           syncopt.decision_action NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}'
                     CONSTRAINT decision_params_object CHECK (jsonb_typeof(params) = 'object'),
    previous         jsonb,                     -- connector state before, for rollback
    priority_score   double precision,
    score_components jsonb,
    reason           text NOT NULL CONSTRAINT decision_reason_not_blank CHECK (btrim(reason) <> ''),
    mode             text NOT NULL
                     CONSTRAINT decision_mode_known CHECK (mode IN ('shadow', 'copilot', 'auto', 'manual')),
    status           syncopt.decision_status NOT NULL,
    proposed_by      name NOT NULL DEFAULT session_user,
    expires_at       timestamptz,               -- NULL: never expires
    not_before       timestamptz,               -- the executor waits until then
    act_by           timestamptz,               -- done later, it loses what it was proposed for; NULL: nothing at stake
    approved_by      name,
    approved_at      timestamptz,
    review_note      text CONSTRAINT decision_review_note_length
                     CHECK (syncopt.require_length(review_note, 2000, 'review_note')),
    attempts         integer NOT NULL DEFAULT 0 CONSTRAINT decision_attempts_nonnegative CHECK (attempts >= 0),
    next_attempt_at  timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    http_status      integer CONSTRAINT decision_http_status_range CHECK (http_status BETWEEN 100 AND 599),
    response         jsonb,
    error            text,
    -- Deferred: a proposal is superseded just before its successor is inserted.
    superseded_by    bigint REFERENCES syncopt.fivetran_sync_ai_logs ON DELETE SET NULL
                     DEFERRABLE INITIALLY DEFERRED,
    guardrail        text,                      -- why auto mode did not approve it, if it did not
    rollback_of      bigint REFERENCES syncopt.fivetran_sync_ai_logs ON DELETE SET NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       name NOT NULL DEFAULT current_user,   -- role of the last change
    CONSTRAINT decision_shadow_mode CHECK ((mode = 'shadow') = (status = 'shadow')),
    CONSTRAINT decision_approval_stamped CHECK ((approved_by IS NULL) = (approved_at IS NULL)),
    CONSTRAINT decision_approved_has_approver
        CHECK (status NOT IN ('approved', 'executing', 'succeeded', 'failed', 'unknown') OR approved_by IS NOT NULL),
    CONSTRAINT decision_expiry_after_creation CHECK (expires_at > created_at)
);
COMMENT ON TABLE syncopt.fivetran_sync_ai_logs IS
    'The control table: one row per decision (both vendors). Approve with UPDATE ... SET status = ''approved''; see syncopt.decision_transition.';
-- Executor: the approved queue in attempt order.
CREATE INDEX decision_approved_queue_idx ON syncopt.fivetran_sync_ai_logs (next_attempt_at NULLS FIRST, decision_id)
    WHERE status = 'approved';
-- Expiry pass and pending_approvals.
CREATE INDEX decision_proposed_expiry_idx ON syncopt.fivetran_sync_ai_logs (expires_at)
    WHERE status = 'proposed';
-- At most one open proposal per connector and action; older ones are superseded.
CREATE UNIQUE INDEX decision_one_open_proposal_idx ON syncopt.fivetran_sync_ai_logs (connector_id, action)
    WHERE status = 'proposed';
-- Per-connector history, guardrail counts (actions in the last hour).
CREATE INDEX decision_connector_created_idx ON syncopt.fivetran_sync_ai_logs (connector_id, created_at DESC);
-- Retention purge.
CREATE INDEX decision_created_idx ON syncopt.fivetran_sync_ai_logs (created_at);
CREATE INDEX decision_superseded_by_idx ON syncopt.fivetran_sync_ai_logs (superseded_by)
    WHERE superseded_by IS NOT NULL;

CREATE TABLE syncopt.decision_event (
    event_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Checked at commit, not as each event is written: PostgreSQL looks the
    -- decision up with a plan a backend makes once and keeps, and made
    -- while the control table is empty (or its statistics say so) it is a
    -- sequential scan.  A new install's first planning run writes one
    -- event per decision, each checked at once with that plan: at 10,000
    -- connectors 1,342 decisions read 900,000 rows.  At commit the plan is
    -- made with the run's decisions in the table: a primary-key lookup.
    decision_id bigint NOT NULL REFERENCES syncopt.fivetran_sync_ai_logs ON DELETE CASCADE
                DEFERRABLE INITIALLY DEFERRED,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_status  syncopt.decision_status,       -- NULL for the insert
    new_status  syncopt.decision_status NOT NULL,
    actor       name NOT NULL,                  -- session_user: the person or worker login
    via_role    name NOT NULL,                  -- current_user: the role the change ran as
    note        text,
    changes     jsonb                           -- {"column": {"old": ..., "new": ...}}
);
COMMENT ON TABLE syncopt.decision_event IS
    'Append-only audit of every insert and change of a decision. Rows leave only with their decision (retention purge).';
CREATE INDEX decision_event_decision_idx ON syncopt.decision_event (decision_id, event_id);
CREATE INDEX decision_event_at_idx ON syncopt.decision_event (at);

-- True when the current role acts as syncopt itself: it has the privileges
-- of the control table's owner (syncopt's SECURITY DEFINER functions, the
-- installing superuser) or of syncopt_worker (the workers' passes).
CREATE FUNCTION syncopt.is_system_actor() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
           OR pg_catalog.pg_has_role(current_user, 'syncopt_worker', 'USAGE')
      FROM pg_catalog.pg_class c
     WHERE c.oid OPERATOR(pg_catalog.=) 'syncopt.fivetran_sync_ai_logs'::pg_catalog.regclass
$$;
COMMENT ON FUNCTION syncopt.is_system_actor() IS
    'True when the current role has the privileges of the control table''s owner or of syncopt_worker, i.e. acts as syncopt itself.';

-- A new decision starts as shadow, proposed, or (auto mode inside its
-- guardrails) approved; its vendor and account follow from the connector.
CREATE FUNCTION syncopt.decision_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c_account bigint;
    c_vendor  text;
BEGIN
    SELECT c.account_id, a.vendor INTO c_account, c_vendor
      FROM syncopt.connector c JOIN syncopt.account a USING (account_id)
     WHERE c.connector_id = NEW.connector_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'connector % does not exist', NEW.connector_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NEW.account_id IS DISTINCT FROM c_account AND NEW.account_id IS NOT NULL
       OR NEW.vendor IS DISTINCT FROM c_vendor AND NEW.vendor IS NOT NULL THEN
        RAISE EXCEPTION 'decision does not match its connector'
            USING ERRCODE = 'integrity_constraint_violation',
                  DETAIL = format('Connector %s belongs to %s account %s.', NEW.connector_id, c_vendor, c_account),
                  HINT = 'Leave account_id and vendor out; they are filled from the connector.';
    END IF;
    NEW.account_id := c_account;
    NEW.vendor := c_vendor;

    IF NEW.status NOT IN ('shadow', 'proposed', 'approved') THEN
        RAISE EXCEPTION 'a new decision cannot start as %', NEW.status
            USING ERRCODE = 'check_violation',
                  HINT = 'New decisions start as shadow, proposed, or (auto mode only) approved. Restoring a dump? Restore with session_replication_role = replica (docs/operations.md).';
    END IF;
    IF NEW.status = 'approved' AND (NEW.mode <> 'auto' OR NEW.approved_by IS NULL) THEN
        RAISE EXCEPTION 'only auto-mode decisions can start approved, and they must name their approver'
            USING ERRCODE = 'check_violation',
                  HINT = 'Insert it as proposed and let a human approve it, or set mode = ''auto'' and approved_by = ''syncopt:auto''.';
    END IF;
    IF NEW.status = 'approved' THEN
        NEW.approved_at := coalesce(NEW.approved_at, now());
    ELSE
        NEW.approved_by := NULL;
        NEW.approved_at := NULL;
    END IF;
    NEW.updated_at := now();
    NEW.updated_by := current_user;
    RETURN NEW;
END
$$;

-- The state machine: legal transitions only, by the right actor, before
-- expiry; humans change nothing but status and review_note; approvals are
-- stamped with who and when.
CREATE FUNCTION syncopt.decision_before_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    system_actor boolean := syncopt.is_system_actor();
    rule         syncopt.decision_transition;
    changed      text[];
    frozen       text[] := ARRAY['decision_id', 'created_at', 'planner_run_id', 'account_id',
                                 'connector_id', 'vendor', 'action', 'params', 'previous',
                                 'priority_score', 'score_components', 'reason', 'mode',
                                 'proposed_by', 'expires_at', 'act_by', 'approved_by', 'approved_at',
                                 'updated_by', 'guardrail', 'rollback_of'];
    next_states  text;
BEGIN
    SELECT array_agg(n.key ORDER BY n.key) INTO changed
      FROM jsonb_each(to_jsonb(NEW)) n
      JOIN jsonb_each(to_jsonb(OLD)) o USING (key)
     WHERE n.value IS DISTINCT FROM o.value
       AND n.key NOT IN ('status', 'review_note', 'updated_at');

    IF NOT system_actor AND changed IS NOT NULL THEN
        RAISE EXCEPTION 'only status and review_note of a decision can be changed'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Decision %s: the update also changes %s.', OLD.decision_id, array_to_string(changed, ', ')),
                  HINT = 'Approve or reject with UPDATE syncopt.fivetran_sync_ai_logs SET status = ''approved'' (or ''rejected''), review_note = ''...'' WHERE decision_id = ...';
    END IF;
    IF changed && frozen THEN
        RAISE EXCEPTION 'decision fields % cannot be changed', array_to_string(ARRAY(SELECT unnest(changed) INTERSECT SELECT unnest(frozen) ORDER BY 1), ', ')
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Decision %s is a record of what was decided; its content is fixed once written.', OLD.decision_id),
                  HINT = 'Propose a new decision instead.';
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status THEN
        SELECT * INTO rule FROM syncopt.decision_transition t
         WHERE t.from_status = OLD.status AND t.to_status = NEW.status;
        IF NOT FOUND THEN
            SELECT string_agg(t.to_status, ', ' ORDER BY t.to_status) INTO next_states
              FROM syncopt.decision_transition t WHERE t.from_status = OLD.status;
            RAISE EXCEPTION 'illegal decision transition from % to %', OLD.status, NEW.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Decision %s is %s.', OLD.decision_id, OLD.status),
                      HINT = CASE WHEN next_states IS NULL
                                  THEN format('%s is final; no further change is possible.', initcap(OLD.status))
                                  ELSE format('From %s a decision can move to: %s.', OLD.status, next_states) END;
        END IF;
        IF rule.actor = 'system' AND NOT system_actor THEN
            RAISE EXCEPTION 'only syncopt can move a decision from % to %', OLD.status, NEW.status
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Decision %s is %s; %s means: %s.', OLD.decision_id, OLD.status, NEW.status, rule.meaning),
                      HINT = 'Approvers can approve, reject, cancel an approval, or settle an unknown outcome.';
        END IF;
        IF OLD.status = 'proposed' AND NEW.status = 'approved' AND OLD.expires_at <= statement_timestamp() THEN
            RAISE EXCEPTION 'decision % expired at %', OLD.decision_id, OLD.expires_at
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Proposals can be approved only before expires_at.',
                      HINT = 'Wait for the next planning run or propose it again with syncopt.propose().';
        END IF;
        IF NEW.status = 'approved' AND NOT (OLD.status = 'executing' AND system_actor) THEN
            NEW.approved_by := session_user;
            NEW.approved_at := now();
        END IF;
    END IF;

    NEW.updated_at := now();
    NEW.updated_by := current_user;
    RETURN NEW;
END
$$;

-- At commit of an approval: the approval window must still be open.  The
-- BEFORE trigger checks expires_at when the UPDATE runs; a transaction that
-- approved in time but commits after expires_at would otherwise hand the
-- executor an expired proposal.  Deferred, so it runs as the transaction
-- commits; the refused approval leaves the row proposed, and the executor
-- marks it expired.
CREATE FUNCTION syncopt.decision_approval_in_time() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.expires_at <= clock_timestamp()
       AND EXISTS (SELECT FROM syncopt.fivetran_sync_ai_logs l
                    WHERE l.decision_id = NEW.decision_id AND l.status = 'approved') THEN
        RAISE EXCEPTION 'decision % expired at % before its approval committed', NEW.decision_id, NEW.expires_at
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Proposals can be approved only before expires_at; the approving transaction committed later.',
                  HINT = 'Approve in a short transaction, or wait for the next planning run or propose it again with syncopt.propose().';
    END IF;
    RETURN NULL;
END
$$;

-- Decisions that can still move (open, in flight, or of unknown outcome)
-- can never be deleted; finished ones only leave through the retention purge.
CREATE FUNCTION syncopt.decision_before_delete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.status IN (SELECT t.from_status FROM syncopt.decision_transition t) THEN
        RAISE EXCEPTION 'decision % is % and cannot be deleted', OLD.decision_id, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Reject or cancel it instead; finished decisions are purged after syncopt.history_retention.';
    END IF;
    RETURN OLD;
END
$$;

-- Append one audit event per inserted or changed decision.  SECURITY
-- DEFINER because approvers may not write the audit table themselves.
-- Inserts are audited once per statement, from its transition table in
-- the order they were inserted: a call for each row was a fifth of the
-- write of a planning run's decisions (docs/benchmarks.md, session 29).
-- Changes are audited row by row, with what changed.
CREATE FUNCTION syncopt.decision_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    diff jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO syncopt.decision_event (decision_id, old_status, new_status, actor, via_role, note, changes)
        SELECT n.decision_id, NULL, n.status, session_user, n.updated_by, n.review_note, NULL
          FROM new_decisions n;
        RETURN NULL;
    END IF;
    SELECT jsonb_object_agg(n.key, jsonb_build_object('old', o.value, 'new', n.value))
      INTO diff
      FROM jsonb_each(to_jsonb(NEW)) n
      JOIN jsonb_each(to_jsonb(OLD)) o USING (key)
     WHERE n.value IS DISTINCT FROM o.value
       AND n.key NOT IN ('updated_at', 'updated_by');
    IF diff IS NULL THEN
        RETURN NULL;        -- nothing changed: nothing to audit
    END IF;
    INSERT INTO syncopt.decision_event (decision_id, old_status, new_status, actor, via_role, note, changes)
    VALUES (NEW.decision_id, OLD.status, NEW.status, session_user, NEW.updated_by,
            CASE WHEN NEW.review_note IS DISTINCT FROM OLD.review_note THEN NEW.review_note END,
            diff);
    RETURN NULL;
END
$$;

-- Audit rows never change; they leave only with their decision.
CREATE FUNCTION syncopt.decision_event_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- pg_trigger_depth() > 1: deleted by the cascade from its decision.
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'syncopt.decision_event is append-only'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events leave only with their decision, through the retention purge.';
END
$$;

CREATE FUNCTION syncopt.wake_executor_trigger() RETURNS trigger
LANGUAGE C SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_wake_executor_trigger';
COMMENT ON FUNCTION syncopt.wake_executor_trigger() IS
    'Wakes the executor when the transaction that approved a decision commits (never on rollback).';

CREATE TRIGGER decision_before_insert BEFORE INSERT ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_before_insert();
CREATE TRIGGER decision_before_update BEFORE UPDATE ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_before_update();
CREATE TRIGGER decision_before_delete BEFORE DELETE ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_before_delete();
CREATE TRIGGER decision_audit AFTER UPDATE ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_audit();
CREATE TRIGGER decision_audit_insert AFTER INSERT ON syncopt.fivetran_sync_ai_logs
    REFERENCING NEW TABLE AS new_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION syncopt.decision_audit();
CREATE TRIGGER decision_wake_executor_on_insert AFTER INSERT ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW WHEN (NEW.status = 'approved')
    EXECUTE FUNCTION syncopt.wake_executor_trigger();
CREATE TRIGGER decision_wake_executor_on_approval AFTER UPDATE OF status ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW WHEN (NEW.status = 'approved' AND OLD.status <> 'approved')
    EXECUTE FUNCTION syncopt.wake_executor_trigger();
CREATE CONSTRAINT TRIGGER decision_approval_in_time AFTER UPDATE OF status ON syncopt.fivetran_sync_ai_logs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.status = 'approved' AND OLD.status = 'proposed')
    EXECUTE FUNCTION syncopt.decision_approval_in_time();
CREATE TRIGGER decision_event_append_only BEFORE UPDATE OR DELETE ON syncopt.decision_event
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_event_append_only();
CREATE TRIGGER decision_event_no_truncate BEFORE TRUNCATE ON syncopt.decision_event
    FOR EACH STATEMENT EXECUTE FUNCTION syncopt.decision_event_append_only();
