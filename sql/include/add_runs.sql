-- Shared by regress files: add_runs(connector, seconds[]) inserts one
-- succeeded run a day of each duration, the last starting 2054-11-22
-- 00:00, and folds them into connector_stats.
CREATE FUNCTION pg_temp.add_runs(cid bigint, secs float8[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE ids bigint[];
BEGIN
    WITH ins AS (
        INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
        SELECT cid, 'r' || cid || '-' || k, s, s + make_interval(secs => d), 'succeeded', 'api'
          FROM unnest(secs) WITH ORDINALITY AS u(d, k),
               LATERAL (SELECT timestamptz '2054-11-22 00:00+00' - make_interval(days => cardinality(secs) - k::int) AS s) t
        RETURNING run_id)
    SELECT array_agg(run_id) INTO ids FROM ins;
    PERFORM syncopt.absorb_runs(ids, true);
END $$;
