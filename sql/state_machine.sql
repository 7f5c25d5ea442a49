-- Every legal and illegal transition of a decision, as syncopt itself (the
-- extension owner) and as an approver; then the error texts people see.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;
CREATE ROLE regress_approver IN ROLE syncopt_approver;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');

-- A decision in the given state, reached through legal moves only, on a
-- connector of its own (so open proposals never collide).
CREATE FUNCTION regress_decision_in(state text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    c bigint;
    d bigint;
    path text[] := CASE state
        WHEN 'shadow' THEN '{}' WHEN 'proposed' THEN '{}'
        WHEN 'approved' THEN '{approved}' WHEN 'executing' THEN '{approved,executing}'
        WHEN 'succeeded' THEN '{approved,executing,succeeded}'
        WHEN 'failed' THEN '{approved,executing,failed}'
        WHEN 'unknown' THEN '{approved,executing,unknown}'
        WHEN 'rejected' THEN '{rejected}' WHEN 'cancelled' THEN '{approved,cancelled}'
        WHEN 'expired' THEN '{expired}' WHEN 'superseded' THEN '{superseded}' END;
    step text;
BEGIN
    INSERT INTO syncopt.connector (account_id, external_id) VALUES (1, 'c_' || state || '_' || random())
    RETURNING connector_id INTO c;
    INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
    VALUES (c, 'trigger_sync', 'test', CASE state WHEN 'shadow' THEN 'shadow' ELSE 'copilot' END,
            CASE state WHEN 'shadow' THEN 'shadow' ELSE 'proposed' END)
    RETURNING decision_id INTO d;
    FOREACH step IN ARRAY path LOOP
        UPDATE syncopt.fivetran_sync_ai_logs SET status = step WHERE decision_id = d;
    END LOOP;
    RETURN d;
END
$$;

-- Try one move and undo it: 'ok', or the SQLSTATE it failed with.
CREATE FUNCTION regress_try(d bigint, target text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        UPDATE syncopt.fivetran_sync_ai_logs SET status = target WHERE decision_id = d;
        RAISE EXCEPTION USING ERRCODE = 'RGRSS';   -- undo the move
    EXCEPTION
        WHEN SQLSTATE 'RGRSS' THEN RETURN 'ok';
        WHEN OTHERS THEN RETURN SQLSTATE;
    END;
END
$$;
GRANT EXECUTE ON FUNCTION regress_try(bigint, text) TO regress_approver;

CREATE TABLE regress_from AS
SELECT s AS from_status, regress_decision_in(s) AS decision_id
  FROM unnest(ARRAY['shadow', 'proposed', 'approved', 'executing', 'succeeded', 'failed',
                    'unknown', 'rejected', 'cancelled', 'expired', 'superseded']) s;
GRANT SELECT ON regress_from TO regress_approver;

-- The helper reached each state.
SELECT f.from_status, d.status = f.from_status AS reached
  FROM regress_from f JOIN syncopt.fivetran_sync_ai_logs d USING (decision_id) ORDER BY d.decision_id;

-- As syncopt itself: which targets each state accepts.
SELECT f.from_status,
       string_agg(t, ', ' ORDER BY t) FILTER (WHERE regress_try(f.decision_id, t) = 'ok') AS may_move_to
  FROM regress_from f,
       unnest(ARRAY['shadow', 'proposed', 'approved', 'executing', 'succeeded', 'failed',
                    'unknown', 'rejected', 'cancelled', 'expired', 'superseded']) t
 WHERE t <> f.from_status
 GROUP BY f.from_status, f.decision_id ORDER BY f.decision_id;

-- As an approver: the human moves only, and the SQLSTATE of every refusal.
SET ROLE regress_approver;
SELECT f.from_status,
       string_agg(t, ', ' ORDER BY t) FILTER (WHERE r = 'ok') AS may_move_to,
       string_agg(DISTINCT r, ', ') FILTER (WHERE r <> 'ok') AS refusals
  FROM regress_from f,
       unnest(ARRAY['shadow', 'proposed', 'approved', 'executing', 'succeeded', 'failed',
                    'unknown', 'rejected', 'cancelled', 'expired', 'superseded']) t,
       LATERAL regress_try(f.decision_id, t) r
 WHERE t <> f.from_status
 GROUP BY f.from_status, f.decision_id ORDER BY f.decision_id;

-- What an approver reads when a move is refused.
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved'
 WHERE decision_id = (SELECT decision_id FROM regress_from WHERE from_status = 'rejected');
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'executing'
 WHERE decision_id = (SELECT decision_id FROM regress_from WHERE from_status = 'approved');
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'succeeded'
 WHERE decision_id = (SELECT decision_id FROM regress_from WHERE from_status = 'proposed');
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved'
 WHERE decision_id = (SELECT decision_id FROM regress_from WHERE from_status = 'shadow');
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'done'
 WHERE decision_id = (SELECT decision_id FROM regress_from WHERE from_status = 'proposed');
RESET ROLE;

-- Same-state updates are no-ops, not transitions: nothing is stamped.
UPDATE syncopt.fivetran_sync_ai_logs SET status = status
 WHERE decision_id = (SELECT decision_id FROM regress_from WHERE from_status = 'succeeded');
SELECT count(*) AS events_for_succeeded FROM syncopt.decision_event
 WHERE decision_id = (SELECT decision_id FROM regress_from WHERE from_status = 'succeeded');

-- The state machine the trigger enforces is published for readers.
SELECT from_status, to_status, actor FROM syncopt.decision_transition ORDER BY 1, 2;

DROP TABLE regress_from;
DROP FUNCTION regress_try(bigint, text);
DROP FUNCTION regress_decision_in(text);
DROP EXTENSION syncopt;
DROP ROLE regress_approver;
