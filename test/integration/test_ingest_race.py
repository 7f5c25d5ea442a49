"""Two ingestion paths writing the same run at once (issue 34's partitioned
sync_run, hardened): nothing lost, nothing counted twice.

A Fivetran run can reach syncopt three ways: the Platform Connector log
(start, volumes, rows), a webhook (start and end, the failure reason) and
the REST API (only its end).  Each path reads the connector's stored runs
and then merges into one, adopts one under its own key, or inserts.  Two
sessions deciding at once both inserted: the log's UPDATE-then-INSERT found
nothing, its INSERT waited on the webhook's key and was skipped (the log's
fields were lost); a webhook's end waiting on a log run's key was skipped
(the run stayed "running"); a REST end and a webhook end of one sync were
both stored under different keys (one sync counted twice).

Each test interleaves two real sessions deterministically: the first
ingests in an open transaction; the second is started and the test waits
until it is blocked on a lock or has finished; then the first commits.
Whichever path commits first, the run must end with every path's fields
and be counted once in connector_stats.  No timing is asserted: the waits
are bounded polls of pg_stat_activity.
"""

import hashlib
import hmac
import json
import os
import subprocess
import time
import unittest

import integration

ACCOUNT = "ingest race"
SECRET = "race_secret"


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


def q(text):
    """text as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class Session:
    """A psql session fed statement by statement, named for pg_stat_activity."""

    def __init__(self, name, role=None):
        self.name = name
        env = dict(os.environ, PGAPPNAME=name)
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"] + c().conninfo(db()),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if role is not None:
            self.send(f"SET ROLE {role};")

    def send(self, sql):
        self.proc.stdin.write(sql + "\n")
        self.proc.stdin.flush()

    def finish(self):
        """Close the input; (exit status, stdout, stderr) once psql ends (bounded: 60 s)."""
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        # Its output is a few lines: it fits the pipes while psql runs.
        self.proc.wait(timeout=60)
        return self.proc.returncode, self.proc.stdout.read(), self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def idle_in_transaction(name):
    return c().wait_for(
        "SELECT EXISTS (SELECT FROM pg_stat_activity "
        f"WHERE application_name = {q(name)} AND state = 'idle in transaction')", db(), timeout=30)


def blocked_or_done(session, deadline_s=30.0):
    """True once the session waits on a lock or its psql has ended (polled, bounded)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if session.proc.poll() is not None:
            return True
        if c().value("SELECT EXISTS (SELECT FROM pg_stat_activity "
                     f"WHERE application_name = {q(session.name)} AND wait_event_type = 'Lock')", db()) == "t":
            return True
        time.sleep(0.1)
    return False


def race(first_sql, second_sql, second_may_finish=False):
    """Run first_sql in an open transaction, then second_sql in another
    session until it blocks (or, when second_may_finish, ends), then commit
    the first.  Returns both sessions' outputs."""
    first = Session("race first")
    second = None
    try:
        first.send("BEGIN;")
        first.send(first_sql)
        if not idle_in_transaction("race first"):
            raise AssertionError("the first session did not ingest: %s" % (first.finish(),))
        second = Session("race second")
        second.send(second_sql)
        second.proc.stdin.close()
        if not blocked_or_done(second):
            raise AssertionError("the second session neither waited nor ended")
        if not second_may_finish and second.proc.poll() is not None:
            raise AssertionError("the second session ended before the first committed: %s" % (second.finish(),))
        first.send("COMMIT;")
        one = first.finish()
        two = second.finish()
    finally:
        first.kill()
        if second is not None:
            second.kill()
    return one, two


def webhook(account, event):
    body = json.dumps(event)
    sig = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"SELECT syncopt.ingest_fivetran_webhook({account}, {q(body)}, {q(sig)});"


def sync_end(conn, sync_id, at, status, reason=None):
    data = {"status": status}
    if reason is not None:
        data["reason"] = reason
    return {"event": "sync_end", "created": at, "connector_type": "salesforce", "connector_id": conn,
            "sync_id": sync_id, "destination_group_id": "dest_race", "data": data}


def connections_page(conn, succeeded_at):
    item = {"id": conn, "group_id": "dest_race", "service": "postgres", "schema": conn,
            "succeeded_at": succeeded_at, "failed_at": None, "paused": False, "sync_frequency": 360,
            "schedule_type": "auto",
            "status": {"setup_state": "connected", "sync_state": "scheduled", "tasks": [], "warnings": []}}
    return json.dumps({"code": "Success", "data": {"items": [item]}})


class IngestRaceTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Disabled: the collector never polls it; every path is called directly.
        cls.account = c().value(
            "INSERT INTO syncopt.account (vendor, name, base_url, enabled) "
            f"VALUES ('fivetran', {q(ACCOUNT)}, 'https://api.fivetran.com', false) RETURNING account_id", db())
        c().psql(f"SELECT syncopt.set_credentials({cls.account}, 'race_key', 'race_api_secret'); "
                 f"SELECT syncopt.set_webhook_secret({cls.account}, {q(SECRET)})", db())

    @classmethod
    def tearDownClass(cls):
        c().psql(f"DELETE FROM syncopt.account WHERE account_id = {cls.account}; "
                 "DROP SCHEMA IF EXISTS race_log_a, race_log_b CASCADE", db())

    def log_schema(self, schema, rows):
        """A Platform Connector schema holding the given log rows
        (id, time_stamp, connection_id, message_event, message_data, sync_id)."""
        values = ", ".join("(%s, %s, %s, 'INFO', %s, %s, %s, '2026-11-21')" % tuple(
            "NULL" if v is None else q(v) for v in r) for r in rows)
        c().psql(f"CREATE SCHEMA {schema}; "
                 f"CREATE TABLE {schema}.log (id text, time_stamp timestamp, connection_id text, event text, "
                 "message_event text, message_data text, sync_id text, _fivetran_synced timestamp); "
                 f"INSERT INTO {schema}.log VALUES {values}", db())

    def make_connector(self, conn):
        """The connector, stored before the race (with no run), so that the
        two sessions race on the run only, not on the connector's row."""
        c().psql(f"SELECT syncopt.ingest_fivetran_connections({self.account}, {q(connections_page(conn, None))})",
                 db())

    def run_of(self, conn):
        rows = c().rows(
            "SELECT r.external_run_id, r.status, r.started_at AT TIME ZONE 'UTC', r.finished_at AT TIME ZONE 'UTC', "
            "r.rows, r.bytes, r.error_message, r.duration_known "
            "FROM syncopt.sync_run r JOIN syncopt.connector n USING (connector_id) "
            f"WHERE n.account_id = {self.account} AND n.external_id = {q(conn)} ORDER BY r.run_id", db())
        return rows

    def stats_of(self, conn):
        return c().rows(
            "SELECT s.runs, s.successes, s.failures FROM syncopt.connector_stats s "
            "JOIN syncopt.connector n USING (connector_id) "
            f"WHERE n.account_id = {self.account} AND n.external_id = {q(conn)}", db())

    def assert_ok(self, *outcomes):
        for code, _out, err in outcomes:
            self.assertEqual(code, 0, err)

    def test_log_merges_into_a_run_a_webhook_commits_meanwhile(self):
        # The webhook saw only the end (failed at 10:20); the log has the
        # start (10:00), 7 rows and 2 MB.
        self.log_schema("race_log_a", [
            ("a1", "2026-11-20 10:00:00", "race_a", "sync_start", None, "sa"),
            ("a2", "2026-11-20 10:05:00", "race_a", "records_modified",
             '{"schema":"s","table":"t","operationType":"UPDATED","count":7}', "sa"),
            ("a3", "2026-11-20 10:19:00", "race_a", "sync_stats", '{"total_time_s":1140,"load_volume_mb":2}', "sa"),
        ])
        self.make_connector("race_a")
        one, two = race(webhook(self.account, sync_end("race_a", "sa", "2026-11-20T10:20:00.000Z", "FAILURE",
                                                       "Disk quota exceeded")),
                        f"SELECT syncopt.ingest_fivetran_log({self.account}, 'race_log_a');")
        self.assert_ok(one, two)
        # One run with the log's start, rows and bytes and the webhook's end
        # and reason: 2 MB = 2097152 bytes.
        self.assertEqual(self.run_of("race_a"), [
            ("sa", "failed", "2026-11-20 10:00:00", "2026-11-20 10:20:00", "7", "2097152", "Disk quota exceeded",
             "t")])
        # Counted once.
        self.assertEqual(self.stats_of("race_a"), [("1", "0", "1")])

    def test_webhook_end_closes_a_run_the_log_commits_meanwhile(self):
        # The log opened the run (10:00, 5 rows); the webhook ends it.
        self.log_schema("race_log_b", [
            ("b1", "2026-11-20 10:00:00", "race_b", "sync_start", None, "sb"),
            ("b2", "2026-11-20 10:05:00", "race_b", "records_modified",
             '{"schema":"s","table":"t","operationType":"UPDATED","count":5}', "sb"),
        ])
        self.make_connector("race_b")
        one, two = race(f"SELECT syncopt.ingest_fivetran_log({self.account}, 'race_log_b');",
                        webhook(self.account, sync_end("race_b", "sb", "2026-11-20T10:30:00.000Z", "SUCCESSFUL")))
        self.assert_ok(one, two)
        self.assertEqual(self.run_of("race_b"), [
            ("sb", "succeeded", "2026-11-20 10:00:00", "2026-11-20 10:30:00", "5", "", "", "t")])
        self.assertEqual(self.stats_of("race_b"), [("1", "1", "0")])

    def test_webhook_end_adopts_a_rest_end_committed_meanwhile(self):
        # The REST API saw the run end at 11:00:05, the webhook at 11:00:00:
        # one sync (ends within two minutes, same status).  The connector
        # is stored as this very page shows it and its run deleted, so that
        # the REST ingest changes no connector row: a change would make the
        # webhook wait on that row and hide the race on the run.
        page = connections_page("race_c", "2026-11-20T11:00:05.000Z")
        c().psql(f"SELECT syncopt.ingest_fivetran_connections({self.account}, {q(page)}); "
                 "DELETE FROM syncopt.sync_run r USING syncopt.connector n "
                 f"WHERE n.connector_id = r.connector_id AND n.account_id = {self.account} "
                 "AND n.external_id = 'race_c'", db())
        before = self.stats_of("race_c")
        self.assertEqual(before, [("1", "1", "0")])
        one, two = race(f"SELECT syncopt.ingest_fivetran_connections({self.account}, {q(page)});",
                        webhook(self.account, sync_end("race_c", "sc", "2026-11-20T11:00:00.000Z", "SUCCESSFUL")),
                        second_may_finish=True)
        self.assert_ok(one, two)
        runs = self.run_of("race_c")
        self.assertEqual(len(runs), 1, runs)
        self.assertEqual(runs[0][:2], ("sc", "succeeded"))
        # One more run counted (the deleted one stays counted).
        self.assertEqual(self.stats_of("race_c"), [("2", "2", "0")])

    def test_rest_end_is_not_stored_again_beside_a_webhook_committed_meanwhile(self):
        self.make_connector("race_d")
        one, two = race(webhook(self.account, sync_end("race_d", "sd", "2026-11-20T12:00:00.000Z", "SUCCESSFUL")),
                        f"SELECT syncopt.ingest_fivetran_connections({self.account}, "
                        f"{q(connections_page('race_d', '2026-11-20T12:00:05.000Z'))});",
                        second_may_finish=True)
        self.assert_ok(one, two)
        runs = self.run_of("race_d")
        self.assertEqual(len(runs), 1, runs)
        self.assertEqual(runs[0][:2], ("sd", "succeeded"))
        self.assertEqual(self.stats_of("race_d"), [("1", "1", "0")])


if __name__ == "__main__":
    unittest.main()
