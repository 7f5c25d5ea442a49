-- Nothing a caller controls runs with syncopt's rights.  A syncopt_admin
-- (no superuser, no CREATEROLE) hands ingest_fivetran_log() relations,
-- types, casts, operators, defaults and triggers of its own, in pg_temp and
-- in a schema it owns.  Its code records who ran it and tries to become
-- superuser and to run a program: whatever of it runs must run as the
-- admin.  Runs in one transaction, rolled back.
BEGIN;
SELECT plan(25);

-- As the owner: the attacker, its schemas, and one account per attack (each
-- attack reads a fresh log, so no watermark hides its rows).
CREATE ROLE tap_evil IN ROLE syncopt_admin;
CREATE SCHEMA evil AUTHORIZATION tap_evil;
CREATE SCHEMA evil_view AUTHORIZATION tap_evil;
CREATE SCHEMA evil_cast AUTHORIZATION tap_evil;
CREATE SCHEMA evil_conn AUTHORIZATION tap_evil;
CREATE SCHEMA evil_plain AUTHORIZATION tap_evil;
CREATE SCHEMA evil_op AUTHORIZATION tap_evil;
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
SELECT i, 'fivetran', 'attack ' || i, 'https://api.fivetran.com' FROM generate_series(1, 7) i;

-- What the attacker's code did, as whom: 'role:what' for one attack.
CREATE TABLE evil.seen (attack text, who text, did text);
ALTER TABLE evil.seen OWNER TO tap_evil;
CREATE FUNCTION pg_temp.ran_as(attack text) RETURNS text[]
LANGUAGE sql AS $$
    SELECT coalesce(array_agg(DISTINCT s.who || ':' || s.did ORDER BY s.who || ':' || s.did), '{}')
      FROM evil.seen s WHERE s.attack = $1
$$;
-- Undo a successful escalation so that each attack is judged on its own.
CREATE FUNCTION pg_temp.demote() RETURNS void
LANGUAGE sql AS $$ ALTER ROLE tap_evil NOSUPERUSER $$;

SET ROLE tap_evil;
-- The payload: note who runs it, then try to take over the cluster.
CREATE FUNCTION evil.payload(attack text, ret text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.seen VALUES (attack, current_user, 'ran');
    BEGIN
        ALTER ROLE tap_evil SUPERUSER;
        INSERT INTO evil.seen VALUES (attack, current_user, 'became superuser');
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    BEGIN
        COPY (SELECT 1) TO PROGRAM 'cat >/dev/null';
        INSERT INTO evil.seen VALUES (attack, current_user, 'ran a program');
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN ret;
END
$$;
CREATE FUNCTION evil.payload_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM evil.payload(TG_ARGV[0], NULL);
    RETURN NULL;
END
$$;

-- 1. Work tables planted where syncopt might keep its own (before syncopt
-- could have made its own in this transaction): one with a column default,
-- one with a trigger.  syncopt must not write to them.
CREATE TABLE evil_plain.log (id text, time_stamp timestamp, connection_id text, message_event text, message_data text);
INSERT INTO evil_plain.log VALUES ('1', '2024-01-01 00:00', 'c_plain', 'sync_start', NULL);
CREATE TEMP TABLE syncopt_log_batch (
    id text, ts timestamptz, wm timestamptz, conn text, sync_id text, event text, message_event text,
    raw_data text, data jsonb, connector_id bigint, run_key text, planted text DEFAULT evil.payload('default', 'x'));
CREATE TEMP TABLE syncopt_log_runs (
    connector_id bigint, ext text, started_at timestamptz, finished_at timestamptz, status text,
    total_s float8, mb float8, rows bigint, error_message text);
CREATE TRIGGER planted BEFORE INSERT OR DELETE ON syncopt_log_runs
    FOR EACH STATEMENT EXECUTE FUNCTION evil.payload_trigger('trigger');
SELECT lives_ok($$ SELECT syncopt.ingest_fivetran_log(1, 'evil_plain') $$, 'a log is read beside planted work tables');
RESET ROLE;
SELECT is(pg_temp.ran_as('default'), '{}'::text[], 'a planted column default never runs');
SELECT is(pg_temp.ran_as('trigger'), '{}'::text[], 'a planted trigger never fires');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_evil'), 'planted work tables do not make the admin superuser');
SELECT pg_temp.demote();
SET ROLE tap_evil;
DROP TABLE pg_temp.syncopt_log_batch, pg_temp.syncopt_log_runs;

-- 2. A temporary view named log whose column calls the payload.
CREATE TEMP VIEW log AS
SELECT 'v1'::text AS id, timestamp '2024-01-01 00:00' AS time_stamp, 'c_temp_view'::text AS connection_id,
       evil.payload('temp view', 'sync_start') AS message_event, NULL::text AS message_data;
SELECT lives_ok($$ SELECT syncopt.ingest_fivetran_log(2, 'pg_temp') $$, 'a temp view is read');
RESET ROLE;
SELECT is(pg_temp.ran_as('temp view'), ARRAY['tap_evil:ran'], 'a temp view''s function runs as the caller, and only as the caller');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_evil'), 'a temp view does not make the admin superuser');
SELECT pg_temp.demote();
SET ROLE tap_evil;
DROP VIEW pg_temp.log;

-- 3. The same view in a schema the admin owns.
CREATE VIEW evil_view.log AS
SELECT 'v1'::text AS id, timestamp '2024-01-01 00:00' AS time_stamp, 'c_view'::text AS connection_id,
       evil.payload('view', 'sync_start') AS message_event, NULL::text AS message_data;
SELECT lives_ok($$ SELECT syncopt.ingest_fivetran_log(3, 'evil_view') $$, 'a view in the admin''s schema is read');
RESET ROLE;
SELECT is(pg_temp.ran_as('view'), ARRAY['tap_evil:ran'], 'a view''s function runs as the caller, and only as the caller');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_evil'), 'a view does not make the admin superuser');
SELECT pg_temp.demote();
SET ROLE tap_evil;

-- 4. A connection table that is a view calling the payload.
CREATE TABLE evil_conn.log (id text, time_stamp timestamp, connection_id text, message_event text, message_data text);
INSERT INTO evil_conn.log VALUES ('1', '2024-01-01 00:00', 'c_conn', 'sync_start', NULL);
CREATE VIEW evil_conn.connection AS
SELECT 'c_conn'::text AS connection_id, evil.payload('connection view', 'name') AS connection_name;
SELECT lives_ok($$ SELECT syncopt.ingest_fivetran_log(4, 'evil_conn') $$, 'a connection view is read');
RESET ROLE;
SELECT is(pg_temp.ran_as('connection view'), ARRAY['tap_evil:ran'],
          'a connection view''s function runs as the caller, and only as the caller');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_evil'), 'a connection view does not make the admin superuser');
SELECT pg_temp.demote();
SET ROLE tap_evil;

-- 5. A column of the admin's own type, with the admin's cast to text.
CREATE TYPE evil.stamp AS (v text);
CREATE FUNCTION evil.stamp_text(evil.stamp) RETURNS text
LANGUAGE sql AS $$ SELECT evil.payload('cast', ($1).v) $$;
CREATE CAST (evil.stamp AS text) WITH FUNCTION evil.stamp_text(evil.stamp);
CREATE TABLE evil_cast.log (id text, time_stamp evil.stamp, connection_id text, message_event text, message_data text);
INSERT INTO evil_cast.log VALUES ('1', ROW('2024-01-01 00:00:00+00'), 'c_cast', 'sync_start', NULL);
SELECT lives_ok($$ SELECT syncopt.ingest_fivetran_log(5, 'evil_cast') $$, 'a column of the admin''s type is read');
RESET ROLE;
SELECT is(pg_temp.ran_as('cast'), ARRAY['tap_evil:ran'], 'the admin''s cast runs as the caller, and only as the caller');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_evil'), 'a cast does not make the admin superuser');
SELECT pg_temp.demote();
SET ROLE tap_evil;

-- 6. The same with a temporary type, cast and log table.
CREATE TYPE pg_temp.stamp AS (v text);
CREATE FUNCTION pg_temp.stamp_text(pg_temp.stamp) RETURNS text
LANGUAGE sql AS $$ SELECT evil.payload('temp cast', ($1).v) $$;
CREATE CAST (pg_temp.stamp AS text) WITH FUNCTION pg_temp.stamp_text(pg_temp.stamp);
CREATE TEMP TABLE log (id text, time_stamp pg_temp.stamp, connection_id text, message_event text, message_data text);
INSERT INTO pg_temp.log VALUES ('1', ROW('2024-01-01 00:00:00+00'), 'c_temp_cast', 'sync_start', NULL);
SELECT lives_ok($$ SELECT syncopt.ingest_fivetran_log(6, 'pg_temp') $$, 'a temp table of a temp type is read');
RESET ROLE;
SELECT is(pg_temp.ran_as('temp cast'), ARRAY['tap_evil:ran'], 'a temp cast runs as the caller, and only as the caller');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_evil'), 'a temp cast does not make the admin superuser');
SELECT pg_temp.demote();
SET ROLE tap_evil;
DROP TABLE pg_temp.log;

-- 7. Operators on text in pg_temp and in the admin's schema, and the
-- admin's schema first in its search_path: syncopt's statements never
-- resolve to them.
CREATE FUNCTION evil.text_eq(a text, b text) RETURNS boolean
LANGUAGE sql AS $$ SELECT evil.payload('operator', 'x') IS NOT NULL AND a OPERATOR(pg_catalog.=) b $$;
CREATE OPERATOR evil_op.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE OPERATOR evil_op.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE OPERATOR pg_temp.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE TABLE evil_op.log (id text, time_stamp timestamp, connection_id text, message_event text, message_data text);
INSERT INTO evil_op.log VALUES ('1', '2024-01-01 00:00', 'c_op', 'sync_start', NULL),
                               ('2', '2024-01-01 00:10', 'c_op', 'sync_end', '{"status":"SUCCESSFUL"}');
SET search_path = evil_op, pg_temp, public;
SELECT lives_ok($$ SELECT syncopt.ingest_fivetran_log(7, 'evil_op') $$, 'a log is read with the admin''s operators in its path');
RESET search_path;
RESET ROLE;
SELECT is(pg_temp.ran_as('operator'), '{}'::text[], 'the admin''s operators are never used');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'tap_evil'), 'operators do not make the admin superuser');

-- Each attack's log was really read: its one sync_start is one run.
SELECT results_eq($$ SELECT c.external_id, count(r.run_id)::int FROM syncopt.connector c
                       LEFT JOIN syncopt.sync_run r USING (connector_id) GROUP BY 1 ORDER BY 1 $$,
                  $$ VALUES ('c_cast', 1), ('c_conn', 1), ('c_op', 1), ('c_plain', 1), ('c_temp_cast', 1),
                            ('c_temp_view', 1), ('c_view', 1) $$,
                  'every hostile log was ingested with the caller''s rights');

-- The shape that keeps it so: the reading entry point has the caller's
-- rights, and no SECURITY DEFINER function takes a relation to read.
SELECT is((SELECT prosecdef FROM pg_proc WHERE oid = 'syncopt.ingest_fivetran_log(bigint,name)'::regprocedure), false,
          'ingest_fivetran_log reads with the caller''s rights');
SELECT is_empty($$ SELECT p.oid::regprocedure::text FROM pg_proc p
                    WHERE p.pronamespace = 'syncopt'::regnamespace AND p.prosecdef
                      AND 'regclass'::regtype = ANY (p.proargtypes) $$,
                'no SECURITY DEFINER function takes a relation');

SELECT * FROM finish();
ROLLBACK;
