-- An audit event's foreign key to its decision is checked at commit
-- (issue 34).  Written one statement at a time into a control table whose
-- statistics say it is empty, as a new install's first planning run writes
-- its decisions, each event checked at once would look its decision up
-- with a plan made while the table was empty, a sequential scan, kept for
-- the rest of the session: the k-th event reads k decisions, 400 events
-- 1 + 2 + ... + 400 = 80,200 rows.  Checked at commit (here at SET
-- CONSTRAINTS, which runs them as commit does), the plan is made with the
-- 400 decisions (about 30 pages) in the table: one primary-key lookup
-- each, no sequential read.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id)
SELECT c, 1, 'c' || c FROM generate_series(1, 400) c;
ANALYZE syncopt.fivetran_sync_ai_logs;
SELECT relpages, reltuples FROM pg_class WHERE oid = 'syncopt.fivetran_sync_ai_logs'::regclass;
BEGIN;
DO $$
BEGIN
    FOR c IN 1..400 LOOP
        INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status)
        VALUES (c, 'trigger_sync', repeat('x', 500), 'shadow', 'shadow');
    END LOOP;
END
$$;
SELECT count(*) AS events FROM syncopt.decision_event;
SET CONSTRAINTS ALL IMMEDIATE;
SELECT seq_tup_read AS decisions_read_sequentially, idx_scan >= 400 AS each_event_looked_up
  FROM pg_stat_xact_user_tables WHERE relid = 'syncopt.fivetran_sync_ai_logs'::regclass;
COMMIT;
-- Still enforced: an event of a decision that does not exist is refused
-- at commit, and the transaction writes nothing.
BEGIN;
INSERT INTO syncopt.decision_event (decision_id, new_status, actor, via_role)
VALUES (1000000, 'shadow', 'regress', 'regress');
COMMIT;
SELECT count(*) AS events FROM syncopt.decision_event;

DROP EXTENSION syncopt CASCADE;
