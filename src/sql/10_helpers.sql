-- Small validators used by CHECK constraints, so that a bad value is
-- refused where it is typed rather than where it is first used.

-- A time zone PostgreSQL knows by name (pg_timezone_names) or abbreviation
-- (pg_timezone_abbrevs).  AT TIME ZONE also takes POSIX rules such as
-- 'UTC+25' or '+99:00', which name no real place, reach past the +-14 h
-- that real zones span and count west as positive ('UTC+5' is five hours
-- behind UTC): a deadline in one moves by hours or days.  Such a rule
-- always holds a digit, so a name without one is valid when PostgreSQL
-- accepts it (it found a zone file or an abbreviation); a name with one
-- must be listed (Etc/GMT+5, EST5EDT), which costs a read of the zone
-- directory, but only for those rare names.
CREATE FUNCTION syncopt.is_valid_timezone(tz text) RETURNS boolean
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tz ~ '[0-9]' THEN
        RETURN EXISTS (SELECT FROM pg_catalog.pg_timezone_names z WHERE lower(z.name) = lower(tz))
            OR EXISTS (SELECT FROM pg_catalog.pg_timezone_abbrevs z WHERE lower(z.abbrev) = lower(tz));
    END IF;
    PERFORM pg_catalog.now() AT TIME ZONE tz;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION syncopt.is_valid_timezone(text) IS
    'True for a time zone in pg_timezone_names or pg_timezone_abbrevs (e.g. Europe/Berlin, UTC, CET); false for POSIX rules such as UTC+25 or +99:00.';

-- CHECK constraints on time-zone columns call this: true, or an error
-- that names the column and says what to use instead.
CREATE FUNCTION syncopt.require_timezone(tz text, field text) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tz IS NOT NULL AND NOT syncopt.is_valid_timezone(tz) THEN
        RAISE EXCEPTION '% "%" is not a known time zone', field, left(tz, 64)
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN tz ~ '[0-9]'
                                THEN 'PostgreSQL would read it as a POSIX offset rule, which names no real place and counts west as positive: "UTC+5" is five hours behind UTC.'
                                ELSE 'It is neither in pg_timezone_names nor in pg_timezone_abbrevs.' END,
                  HINT = 'Use a name from pg_timezone_names, such as Europe/Berlin, America/New_York or UTC.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION syncopt.require_timezone(text, text) IS
    'True when tz is NULL or a known time zone (syncopt.is_valid_timezone); otherwise raises 22023 naming field.';

-- CHECK constraints on free text call this, so that a value past its
-- limit is refused with a message naming the column and the limit
-- (SQLSTATE 22001), and before a unique index refuses it as an index row
-- that is too large (54000).  The limits: docs/sql-reference.md, "Input
-- limits".
CREATE FUNCTION syncopt.require_length(value text, max_chars integer, field text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF length(value) > max_chars THEN
        RAISE EXCEPTION '% is longer than % characters', field, max_chars
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = format('It has %s characters.', length(value)),
                  HINT = 'Shorten it; docs/sql-reference.md lists the limits under "Input limits".';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION syncopt.require_length(text, integer, text) IS
    'True when value is NULL or at most max_chars characters long; otherwise raises 22001 naming field and the limit.';

-- The same for a list of tags: at most 100 tags of at most 100 characters.
CREATE FUNCTION syncopt.require_tags(tags text[], field text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tag_index  bigint;
    tag_length integer;
BEGIN
    IF coalesce(cardinality(tags), 0) = 0 THEN
        RETURN true;
    ELSIF cardinality(tags) > 100 THEN
        RAISE EXCEPTION '% has more than 100 tags', field
            USING ERRCODE = 'check_violation',
                  DETAIL = format('It has %s tags.', cardinality(tags)),
                  HINT = 'docs/sql-reference.md lists the limits under "Input limits".';
    END IF;
    SELECT u.ord, length(u.tag) INTO tag_index, tag_length
      FROM unnest(tags) WITH ORDINALITY u(tag, ord) WHERE length(u.tag) > 100 ORDER BY u.ord LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%[%] is longer than 100 characters', field, tag_index
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = format('It has %s characters.', tag_length),
                  HINT = 'Shorten it; docs/sql-reference.md lists the limits under "Input limits".';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION syncopt.require_tags(text[], text) IS
    'True when tags is NULL or holds at most 100 tags of at most 100 characters; otherwise raises naming field.';

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
