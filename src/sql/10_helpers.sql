-- Small validators used by CHECK constraints, so that a bad value is
-- refused where it is typed rather than where it is first used.

CREATE FUNCTION syncopt.is_valid_timezone(tz text) RETURNS boolean
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.now() AT TIME ZONE tz;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION syncopt.is_valid_timezone(text) IS
    'True when PostgreSQL accepts the name as a time zone (e.g. Europe/Berlin, UTC).';

-- A cron day-of-week field: '*' or numbers 0-7 (0 and 7 are Sunday),
-- ranges and lists, e.g. '1-5' or '1,3,5' or '0,6'.
CREATE FUNCTION syncopt.is_valid_dow_field(field text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT field OPERATOR(pg_catalog.~) '^(\*|[0-7](-[0-7])?(,[0-7](-[0-7])?)*)$'
$$;
COMMENT ON FUNCTION syncopt.is_valid_dow_field(text) IS
    'True for a cron day-of-week field: *, or 0-7 (0 and 7 are Sunday) in ranges and lists.';

-- The actions a decision can ask for: the one list the control table, the
-- policies that allow them and the error messages that name them share.
CREATE FUNCTION syncopt.decision_actions() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['trigger_sync', 'pause', 'resume', 'set_schedule', 'resync_tables',
                 'resync_connector', 'set_batch_size', 'notify']
$$;
COMMENT ON FUNCTION syncopt.decision_actions() IS 'Every action syncopt can propose and execute.';

CREATE DOMAIN syncopt.decision_action AS text
    CONSTRAINT decision_action_known CHECK (VALUE OPERATOR(pg_catalog.=) ANY (syncopt.decision_actions()));
COMMENT ON DOMAIN syncopt.decision_action IS 'An action syncopt can propose and execute.';

-- The states of a decision (see syncopt.decision_transition for the moves).
CREATE DOMAIN syncopt.decision_status AS text
    CONSTRAINT decision_status_known CHECK (VALUE IN (
        'shadow', 'proposed', 'approved', 'executing', 'succeeded', 'failed',
        'unknown', 'rejected', 'cancelled', 'expired', 'superseded'));
COMMENT ON DOMAIN syncopt.decision_status IS 'A state of a decision in syncopt.fivetran_sync_ai_logs.';

CREATE FUNCTION syncopt.is_valid_regex(pattern text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM '' OPERATOR(pg_catalog.~*) pattern;
    RETURN true;
EXCEPTION WHEN invalid_regular_expression THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION syncopt.is_valid_regex(text) IS
    'True when the text compiles as a PostgreSQL regular expression.';
