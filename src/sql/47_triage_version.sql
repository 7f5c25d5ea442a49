-- The version of what the triage reads (failure_pattern and failure_example),
-- so that a backend keeps its compiled rules and indexed corpus (triage.c)
-- from one classification to the next and rebuilds them only when either
-- table changed.  Every statement that writes either table sets a fresh
-- value of the sequence; a sequence never hands out a value twice, even
-- when the writing transaction rolls back, so a version read under a
-- snapshot names exactly the rules and labels that snapshot sees: a label
-- counts from the next statement of its own transaction, and from the next
-- statement of any other session after it commits.  Writers of either table
-- queue on the one row until the first commits.

CREATE SEQUENCE syncopt.triage_version_seq;

CREATE TABLE syncopt.triage_version (
    one_row boolean PRIMARY KEY DEFAULT true CONSTRAINT triage_version_one_row CHECK (one_row),
    version bigint NOT NULL
);
COMMENT ON TABLE syncopt.triage_version IS
    'One row: a new value whenever failure_pattern or failure_example changes; classify_failure() rebuilds its cached rules and corpus when it differs.';
INSERT INTO syncopt.triage_version (version) VALUES (pg_catalog.nextval('syncopt.triage_version_seq'));

-- SECURITY DEFINER: whoever may write a rule or a label moves the version,
-- without the right to write the version row itself.
CREATE FUNCTION syncopt.triage_version_bump() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE syncopt.triage_version SET version = nextval('syncopt.triage_version_seq');
    RETURN NULL;
END
$$;

CREATE TRIGGER failure_pattern_triage_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON syncopt.failure_pattern
    FOR EACH STATEMENT EXECUTE FUNCTION syncopt.triage_version_bump();
CREATE TRIGGER failure_example_triage_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON syncopt.failure_example
    FOR EACH STATEMENT EXECUTE FUNCTION syncopt.triage_version_bump();
-- Also under session_replication_role = replica (a logical replica, a
-- restore): a cached corpus must never outlive a change.
ALTER TABLE syncopt.failure_pattern ENABLE ALWAYS TRIGGER failure_pattern_triage_version;
ALTER TABLE syncopt.failure_example ENABLE ALWAYS TRIGGER failure_example_triage_version;
