-- syncopt install script, assembled from src/sql/*.sql by the Makefile.

\echo Use "CREATE EXTENSION syncopt" to load this file. \quit

-- The workers run in one database; creating the extension anywhere else
-- would leave tables that nothing polls or executes.  pg_regress's own
-- database is accepted so that the regression suites can run.
DO $preamble$
DECLARE
    wanted text := pg_catalog.current_setting('syncopt.database_name', true);
BEGIN
    IF wanted IS NULL THEN
        RAISE EXCEPTION 'syncopt must be loaded through shared_preload_libraries'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add syncopt to shared_preload_libraries in postgresql.conf and restart the server.';
    END IF;
    IF pg_catalog.current_database() OPERATOR(pg_catalog.<>) wanted
       AND pg_catalog.current_database() OPERATOR(pg_catalog.<>) 'contrib_regression' THEN
        RAISE EXCEPTION 'syncopt can only be created in database "%"', wanted
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('syncopt''s background workers connect to the database named by syncopt.database_name; this is "%s".',
                                             pg_catalog.current_database()),
                  HINT = pg_catalog.format('Set syncopt.database_name = ''%s'' in postgresql.conf and restart the server, or create the extension in "%s".',
                                           pg_catalog.current_database(), wanted);
    END IF;
END
$preamble$;

-- Roles are cluster-wide and outlive the extension; create them only once.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'syncopt_reader') THEN
        CREATE ROLE syncopt_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'syncopt_approver') THEN
        CREATE ROLE syncopt_approver NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'syncopt_admin') THEN
        CREATE ROLE syncopt_admin NOLOGIN;
    END IF;
    -- What the background workers run as (syncopt.worker_role).
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'syncopt_worker') THEN
        CREATE ROLE syncopt_worker NOLOGIN;
    END IF;
END
$roles$;
-- Approvers and admins read everything readers read.  Admins are not
-- approvers: a deployment that wants four eyes keeps the two apart.
DO $membership$
BEGIN
    IF NOT pg_catalog.pg_has_role('syncopt_approver', 'syncopt_reader', 'MEMBER') THEN
        GRANT syncopt_reader TO syncopt_approver;
    END IF;
    IF NOT pg_catalog.pg_has_role('syncopt_admin', 'syncopt_reader', 'MEMBER') THEN
        GRANT syncopt_reader TO syncopt_admin;
    END IF;
END
$membership$;

COMMENT ON SCHEMA syncopt IS 'syncopt: SLA-aware control plane for Fivetran and Airbyte syncs';
