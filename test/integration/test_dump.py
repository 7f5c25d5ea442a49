"""pg_dump keeps syncopt's data, and the dump restores with nothing lost,
also after a vendor sent bytes that are not valid UTF-8."""

import json
import subprocess
import unittest

import integration
from harness.cluster import PG_BIN, QueryError
from integration.mock_client import Mock

REPLACEMENT = "\N{REPLACEMENT CHARACTER}"


def drop_extension(c, db):
    """DROP EXTENSION syncopt CASCADE while the workers run: a poll or
    planning run of another test's account may hold a lock the drop needs
    while waiting for one the drop took, and PostgreSQL ends the deadlock
    by cancelling the drop, which then changed nothing: try again (three
    times at most)."""
    for attempt in range(3):
        try:
            c.psql("DROP EXTENSION syncopt CASCADE; DROP SCHEMA syncopt;", db)
            return
        except QueryError as e:
            if "deadlock detected" not in e.stderr or attempt == 2:
                raise


def round_trip(test, snapshot):
    """Dump the worker's database, drop syncopt, restore the dump; the snapshot
    query answers the same before and after.  Returns the dump's text."""
    c = integration.CLUSTER
    db = integration.WORKER_DB
    before = c.value(snapshot, db)
    dump = subprocess.run([f"{PG_BIN}/pg_dump", "--no-owner"] + c.conninfo(db),
                          capture_output=True, check=True).stdout
    text = dump.decode("utf-8")     # strict: fails on any byte that is not UTF-8
    drop_extension(c, db)
    restore = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + c.conninfo(db),
                             input=dump, capture_output=True,
                             env={"PGOPTIONS": "-c session_replication_role=replica"})
    test.assertEqual(restore.returncode, 0, restore.stderr.decode("utf-8", "replace"))
    test.assertEqual(c.value(snapshot, db), before)
    return text


class DumpRestoreTests(unittest.TestCase):

    def test_dump_and_restore_round_trip(self):
        c = integration.CLUSTER
        db = integration.WORKER_DB
        c.psql("""
            INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'dumped', 'https://api.fivetran.com');
            SELECT syncopt.set_credentials(currval(pg_get_serial_sequence('syncopt.account', 'account_id')), 'k', 's');
            INSERT INTO syncopt.connector (account_id, external_id)
            SELECT account_id, 'dumped_connector' FROM syncopt.account WHERE name = 'dumped';
            INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation)
            VALUES ('ORA-12541', 'source_outage', true, 'start the Oracle listener');
            SELECT syncopt.propose(connector_id, 'pause', '{}', 'dump me') FROM syncopt.connector
             WHERE external_id = 'dumped_connector';
            UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected', review_note = 'no'
             WHERE reason = 'dump me';""", db)
        snapshot = """
            SELECT (SELECT count(*) FROM syncopt.account) || ' ' ||
                   (SELECT count(*) FROM syncopt.account_secret) || ' ' ||
                   (SELECT count(*) FROM syncopt.connector) || ' ' ||
                   (SELECT count(*) FROM syncopt.failure_pattern) || ' ' ||
                   (SELECT string_agg(decision_id || ':' || status || ':' || coalesce(approved_by, '-'), ',' ORDER BY decision_id)
                      FROM syncopt.fivetran_sync_ai_logs) || ' ' ||
                   (SELECT string_agg(event_id || ':' || new_status || ':' || actor, ',' ORDER BY event_id)
                      FROM syncopt.decision_event)"""
        dump = round_trip(self, snapshot)
        self.assertIn("COPY syncopt.fivetran_sync_ai_logs", dump)
        self.assertIn("start the Oracle listener", dump)
        self.assertNotIn("Re-authorise the connector", dump, "built-in patterns come from the install script")
        # New rows continue after the restored ones.
        c.psql("SELECT syncopt.propose(connector_id, 'resume', '{}', 'after restore') FROM syncopt.connector "
               "WHERE external_id = 'dumped_connector'", db)
        self.assertTrue(c.wait_for("SELECT bool_and(state = 'idle') FROM syncopt.worker_status()", db))

    def test_cost_rollup_restores_as_it_was(self):
        """cost_by_connector's daily rollup (h-rollup, issue 34) is dumped and
        restored with the runs, neither lost nor counted twice: the view's
        rows and the rollup's are the same after, and each day is still its
        runs summed afresh."""
        c = integration.CLUSTER
        db = integration.WORKER_DB
        c.psql("""
            INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'rollup dump', 'https://api.fivetran.com');
            INSERT INTO syncopt.connector (account_id, external_id)
            SELECT account_id, 'rollup_' || g FROM syncopt.account, generate_series(1, 3) g WHERE name = 'rollup dump';
            SELECT syncopt.maintain_run_partitions('0');
            INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, credits,
                                          rows, source)
            SELECT c.connector_id, 'r' || k, now() - make_interval(hours => 7 * k),
                   now() - make_interval(hours => 7 * k) + make_interval(mins => k),
                   CASE WHEN k % 4 = 0 THEN 'failed' ELSE 'succeeded' END,
                   CASE WHEN k % 3 = 0 THEN 0.125 * k END, 10 * k, 'api'
              FROM syncopt.connector c, generate_series(1, 40) k
             WHERE c.external_id IN ('rollup_1', 'rollup_2', 'rollup_3');""", db)
        fresh = ("SELECT (r.started_at AT TIME ZONE 'UTC')::date, r.connector_id, count(*), "
                 "count(*) FILTER (WHERE r.status = 'failed'), sum(extract(epoch FROM r.finished_at - r.started_at)), "
                 "sum(r.credits), sum(r.rows) FROM syncopt.sync_run r "
                 "WHERE r.finished_at IS NOT NULL AND r.duration_known GROUP BY 1, 2")
        snapshot = f"""
            SELECT (SELECT string_agg(v::text, ';' ORDER BY v.connector) FROM syncopt.cost_by_connector v
                     WHERE v.connector IN ('rollup_1', 'rollup_2', 'rollup_3')) || ' | ' ||
                   (SELECT count(*) FROM syncopt.sync_run_daily) || ' | ' ||
                   (SELECT NOT EXISTS (SELECT d::text FROM syncopt.sync_run_daily d EXCEPT ALL SELECT f::text FROM ({fresh}) f)
                       AND NOT EXISTS (SELECT f::text FROM ({fresh}) f EXCEPT ALL SELECT d::text FROM syncopt.sync_run_daily d))"""
        before = c.value(snapshot, db)
        # The 3 connectors in the view, and every day exact.
        self.assertEqual(c.value("SELECT string_agg(connector, ',' ORDER BY connector) FROM syncopt.cost_by_connector "
                                 "WHERE connector IN ('rollup_1', 'rollup_2', 'rollup_3')", db),
                         "rollup_1,rollup_2,rollup_3")
        self.assertTrue(before.endswith("| true"), before)
        dump = round_trip(self, snapshot)
        self.assertIn("COPY syncopt.sync_run_daily", dump)

    def test_restored_runs_keep_their_keys_and_are_not_ingested_twice(self):
        """Every run comes back with its key in sync_run_key (h-keys): the
        documented restore runs with triggers off, so sync_run's key trigger
        cannot make the keys again and they are dumped with the runs.  The
        collector then re-ingesting a restored run stores nothing new, as
        before the dump.  One run in the default partition (2001, outside
        every week), one in a weekly partition (two hours ago)."""
        c = integration.CLUSTER
        db = integration.WORKER_DB
        account = c.value("INSERT INTO syncopt.account (vendor, name, base_url, enabled) "
                          "VALUES ('airbyte', 'keys dump', 'https://api.airbyte.com/v1', false) "
                          "RETURNING account_id", db)
        c.psql("SELECT syncopt.maintain_run_partitions('0')", db)
        iso = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
        start, end = c.value(f"SELECT to_char(s, {iso}) || ' ' || to_char(s + interval '10 minutes', {iso}) "
                             "FROM (SELECT date_trunc('second', now() AT TIME ZONE 'UTC') - interval '2 hours' s) t",
                             db).split()
        jobs = [{"jobId": 7001, "status": "succeeded", "jobType": "sync", "startTime": "2001-02-03T04:00:00Z",
                 "connectionId": "keys-dump", "lastUpdatedAt": "2001-02-03T04:10:00Z", "duration": "PT10M",
                 "rowsSynced": 3},
                {"jobId": 7002, "status": "succeeded", "jobType": "sync", "startTime": start,
                 "connectionId": "keys-dump", "lastUpdatedAt": end, "duration": "PT10M", "rowsSynced": 4}]
        page = json.dumps({"data": jobs}).replace("'", "''")
        ingest = f"SELECT syncopt.ingest_airbyte_jobs({account}, '{page}')"
        self.assertEqual(c.value(ingest, db), "2")
        self.assertEqual(c.value(ingest, db), "0", "re-ingesting the page before the dump changes nothing")
        runs = ("SELECT string_agg(r.external_run_id || ':' || r.status || ':' || r.tableoid::regclass::text, ',' "
                "ORDER BY r.external_run_id) FROM syncopt.sync_run r JOIN syncopt.connector n USING (connector_id) "
                f"WHERE n.account_id = {account}")
        # The two runs, in two partitions (the recent one in its week).
        listed = c.value(runs, db)
        self.assertRegex(listed, r"^7001:succeeded:syncopt\.sync_run_default,7002:succeeded:syncopt\.sync_run_\d{8}$")
        unkeyed = ("SELECT count(*) FROM syncopt.sync_run r WHERE NOT EXISTS (SELECT FROM syncopt.sync_run_key k "
                   "WHERE k.run_id = r.run_id AND k.connector_id = r.connector_id "
                   "AND k.external_run_id = r.external_run_id)")
        self.assertEqual(c.value(f"{unkeyed} AND r.connector_id IN (SELECT connector_id FROM syncopt.connector "
                                 f"WHERE account_id = {account})", db), "0")
        dump = round_trip(self, runs)
        # Every run of the database (this test's and the other tests') has
        # its key, and no key is left without its run.
        self.assertEqual(c.value(unkeyed, db), "0")
        self.assertEqual(c.value("SELECT (SELECT count(*) FROM syncopt.sync_run_key) = "
                                 "(SELECT count(*) FROM syncopt.sync_run)", db), "t")
        # The collector's next poll sees the same jobs: nothing is stored twice.
        self.assertEqual(c.value(ingest, db), "0")
        self.assertEqual(c.value(runs, db), listed)
        self.assertIn("COPY syncopt.sync_run_key", dump)

    def test_hostile_vendor_bytes_are_stored_valid_and_the_dump_restores(self):
        """Invalid UTF-8 and NUL bytes from a vendor (issue 28, item 8)."""
        c = integration.CLUSTER
        db = integration.WORKER_DB
        mock = Mock()
        try:
            mock.call("/_mock/fleet", {"fivetran_groups": 2, "fivetran_connections": 4,
                                       "airbyte_connections": 3, "jobs_per_connection": 2, "page_cap": 2})
            ids = {}
            # Disabled accounts, polled from SQL: the transport and crawl of
            # the worker's polls, in this backend, one poll each.
            for tag, vendor, path, key, secret in [
                    ("names", "fivetran", "fivetran", "ft_key", "ft_secret_s3cr3t"),
                    ("message", "fivetran", "fivetran", "ft_key", "ft_secret_s3cr3t"),
                    ("jobs", "airbyte", "airbyte/v1", "ab_client", "ab_secret_s3cr3t")] + [
                    (f"long{k}", "fivetran", "fivetran", "ft_key", "ft_secret_s3cr3t") for k in range(3)]:
                ids[tag] = c.value(
                    f"INSERT INTO syncopt.account (vendor, name, base_url, enabled) VALUES "
                    f"('{vendor}', 'hostile {tag}', '{mock.base}/t/{tag}/{path}', false) RETURNING account_id", db)
                c.psql(f"SELECT syncopt.set_credentials({ids[tag]}, '{key}', '{secret}')", db)
            mock.call("/_mock/faults", [
                # A Fivetran connection name (listing and details) with a
                # lone continuation byte, a truncated sequence and a NUL.
                {"match": "^/t/names/fivetran/v1/(groups/group_0/connections|connections/conn_00000)$",
                 "kind": "mangle", "times": 10,
                 "find": '"schema": "source_0"', "replace_hex": b'"schema": "src\x80_\xe2\x82_\x00_0"'.hex()},
                # A Fivetran error envelope whose code and message are not
                # UTF-8 (Latin-1, then a UTF-16 surrogate encoded in UTF-8).
                {"match": "^/t/message/fivetran/v1/groups$", "kind": "raw",
                 "body_hex": b'{"code": "Failed\xff", "message": "caf\xe9 \xed\xa0\x80 down"}'.hex()},
                # An Airbyte connection name in Latin-1, and a job status
                # (quoted by the error it causes) in an overlong encoding.
                {"match": "^/t/jobs/airbyte/v1/connections$", "kind": "mangle", "times": 10,
                 "find": '"Source 1 to Warehouse"', "replace_hex": b'"Source 1 \xe0 Warehouse"'.hex()},
                {"match": "^/t/jobs/airbyte/v1/jobs$", "kind": "mangle",
                 "find": '"status": "succeeded"', "replace_hex": b'"status": "succ\xc0\xafeded"'.hex()}] + [
                # Valid, but long: the error quoting it is cut to 511 bytes,
                # inside a three-byte character for one of the three offsets.
                {"match": f"^/t/long{k}/fivetran/v1/groups$", "kind": "raw",
                 "body_hex": ('{"code": "Failed", "message": "' + "a" * k + "\u20ac" * 300 + '"}').encode().hex()}
                for k in range(3)])
            for account in ids.values():
                c.psql(f"SELECT count(*) FROM syncopt.collect({account})", db)
        finally:
            mock.stop()

        # Each invalid byte, and the NUL, became one U+FFFD; the rest is kept.
        r = REPLACEMENT
        checks = {
            f"SELECT count(*) FROM syncopt.connector WHERE account_id = {ids['names']} "
            f"AND name = 'src{r}_{r}{r}_{r}_0'": "1",
            f"SELECT count(*) FROM syncopt.connector WHERE account_id = {ids['jobs']} "
            f"AND name = 'Source 1 {r} Warehouse'": "1",
            f"SELECT position('\"Failed{r}\", not \"Success\" (message: caf{r} {r}{r}{r} down)' IN last_error) > 0 "
            f"FROM syncopt.collector_state WHERE account_id = {ids['message']}": "t",
            f"SELECT count(*) FROM syncopt.alert WHERE (details->>'account_id')::bigint = {ids['message']} "
            f"AND position('caf{r} {r}{r}{r} down' IN message) > 0": "1",
            f"SELECT position('succ{r}{r}eded' IN last_error) > 0 FROM syncopt.collector_state "
            f"WHERE account_id = {ids['jobs']}": "t",
        }
        for query, expected in checks.items():
            self.assertEqual(c.value(query, db), expected, query)

        # The cut errors end with whole characters.
        self.assertEqual(c.value(f"SELECT count(*) FROM syncopt.collector_state WHERE account_id IN "
                                 f"({ids['long0']}, {ids['long1']}, {ids['long2']}) "
                                 f"AND octet_length(last_error) < 600 AND last_error LIKE '%\u20ac'", db), "3")
        accounts = ", ".join(ids.values())
        snapshot = (f"SELECT md5(string_agg(t, '|' ORDER BY t)) || ' ' || count(*) FROM ("
                    f"  SELECT name || raw::text AS t FROM syncopt.connector WHERE account_id IN ({accounts})"
                    f"  UNION ALL SELECT last_error FROM syncopt.collector_state WHERE account_id IN ({accounts})"
                    f"  UNION ALL SELECT message FROM syncopt.alert"
                    f"   WHERE (details->>'account_id')::bigint IN ({accounts})) s")
        round_trip(self, snapshot)
        # 4 + 3 connectors, 6 collector_state rows, 5 alerts (message, jobs, long0-2).
        self.assertTrue(c.value(snapshot, db).endswith(" 18"), c.value(snapshot, db))
