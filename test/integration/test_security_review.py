"""Attacks on what session 21 added (sync_run's weekly partitions and their
maintenance, connector_task and its ingest), and on this session's ingest
lock.  Each finding's test failed on the code before its fix:

  * maintain_run_partitions() serialised on an advisory lock, and any role
    that can connect (no syncopt privilege at all) may take any advisory
    lock: held, it stalled every retention purge, and with it the
    collector.  It now locks sync_run itself, which only syncopt's owner
    and workers may lock in that mode.
  * The ingest lock of this session (lock_connector_runs) was first an
    advisory lock too: the same outsider could stall a connector's
    webhooks and polls.  It is now the connector's row.
  * A poll of an account (the collector's, or collect()) took the two-key
    advisory lock (0x73796e63, account id): the same outsider holding it
    stalled the account's pollers and made collect() refuse.  It is now a
    user lock, which no SQL function takes.
  * A vendor's task code of 196 to 200 characters (accepted: codes are
    checked to 200) made 'task:<code>' too long for sync_run.error_code,
    and the whole connections page was refused on every poll.

  * run_planner() skipped its run while any role held its advisory key;
    it now serialises on a lock of planner_run only the owner and the
    workers may take.
The rest are guards of the rules in
docs/security.md for the new objects
(they passed before): a lesser role cannot create or attach a partition
of sync_run, cannot run the partition maintenance, cannot take the lock
it serialises on, and cannot read secrets.
"""

import json
import unittest

import integration
from integration.test_ingest_race import Session, blocked_or_done, connections_page, q, webhook, sync_end, SECRET

ACCOUNT = "security review"
ROLES = {"sec_outsider": None, "sec_reader": "syncopt_reader", "sec_approver": "syncopt_approver",
         "sec_admin": "syncopt_admin"}


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class SecurityReviewTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for role, member_of in ROLES.items():
            c().psql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role} NOLOGIN"
                     + (f" IN ROLE {member_of}" if member_of else ""), db())
        # The admin owns a schema the others may create in too, and a table
        # in it it would like to make a week of sync_run.
        c().psql("DROP SCHEMA IF EXISTS sec_own CASCADE; CREATE SCHEMA sec_own AUTHORIZATION sec_admin; "
                 "GRANT USAGE, CREATE ON SCHEMA sec_own TO sec_reader, sec_approver; "
                 "SET ROLE sec_admin; CREATE TABLE sec_own.week (LIKE syncopt.sync_run)", db())
        cls.account = c().value(
            "INSERT INTO syncopt.account (vendor, name, base_url, enabled) "
            f"VALUES ('fivetran', {q(ACCOUNT)}, 'https://api.fivetran.com', false) RETURNING account_id", db())
        c().psql(f"SELECT syncopt.set_credentials({cls.account}, 'sec_key', 'sec_api_secret'); "
                 f"SELECT syncopt.set_webhook_secret({cls.account}, {q(SECRET)})", db())

    @classmethod
    def tearDownClass(cls):
        c().psql(f"DELETE FROM syncopt.account WHERE account_id = {cls.account}; DROP SCHEMA sec_own CASCADE", db())
        for role in ROLES:
            c().psql(f"DROP ROLE {role}", db())

    def error_as(self, role, sql):
        return c().error_of(f"SET ROLE {role}; {sql}", db())

    def hold_advisory_lock(self, key_sql):
        """A session of the outsider holding the advisory lock (key1, key2)
        that key_sql computes, until the test ends."""
        outsider = Session("sec outsider", role="sec_outsider")
        self.addCleanup(outsider.kill)
        outsider.send(f"SELECT pg_advisory_lock({key_sql});")
        self.assertTrue(c().wait_for(
            "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE a.application_name = 'sec outsider' AND l.locktype = 'advisory' AND l.granted)", db(),
            timeout=30))
        return outsider

    def run_unblocked(self, sql):
        """Run sql in a session; (exit status, stdout, stderr) once it ends,
        or a failure if it waits on a lock instead."""
        session = Session("sec victim")
        self.addCleanup(session.kill)
        session.send(sql)
        session.proc.stdin.close()
        self.assertTrue(blocked_or_done(session))
        self.assertIsNotNone(session.proc.poll(), f"{sql} waits on a lock the outsider holds")
        return session.finish()

    # Findings.

    def test_an_outsider_cannot_stall_partition_maintenance(self):
        # The outsider has no privilege in syncopt at all.
        self.assertEqual(c().value("SELECT has_schema_privilege('sec_outsider', 'syncopt', 'USAGE')", db()), "f")
        self.hold_advisory_lock("hashtext('syncopt.maintain_run_partitions'), 0")
        code, _, err = self.run_unblocked("SELECT syncopt.maintain_run_partitions(interval '3650 days');")
        self.assertEqual(code, 0, err)

    def test_an_outsider_cannot_stall_a_connectors_ingest(self):
        c().psql(f"SELECT syncopt.ingest_fivetran_connections({self.account}, {q(connections_page('sec_c', None))})",
                 db())
        conn = c().value(f"SELECT connector_id FROM syncopt.connector WHERE account_id = {self.account} "
                         "AND external_id = 'sec_c'", db())
        self.hold_advisory_lock(f"hashtext('syncopt.sync_run'), hashint8({conn})")
        code, out, err = self.run_unblocked(
            webhook(self.account, sync_end("sec_c", "sec_1", "2026-11-20T10:00:00.000Z", "SUCCESSFUL")))
        self.assertEqual((code, out.strip()), (0, "1"), err)

    def test_an_outsider_cannot_stall_an_accounts_polls(self):
        # An account whose vendor refuses connections (loopback, port 9):
        # the poll fails at once, saying why, unless the lock stops it.
        account = c().value(
            "INSERT INTO syncopt.account (vendor, name, base_url, enabled) "
            "VALUES ('fivetran', 'security review polls', 'http://127.0.0.1:9', false) RETURNING account_id", db())
        self.addCleanup(c().psql, f"DELETE FROM syncopt.account WHERE account_id = {account}", db())
        c().psql(f"SELECT syncopt.set_credentials({account}, 'sec_key', 'sec_api_secret')", db())
        # The poll lock was the two-key advisory lock (0x73796e63, account).
        self.hold_advisory_lock(f"1937337955, {account}")
        code, out, err = self.run_unblocked(f"SELECT count(*) > 0 FROM syncopt.collect({account});")
        self.assertNotIn("is being polled now", err)
        self.assertEqual((code, out.strip()), (0, "t"), err)

    def test_a_long_vendor_task_code_does_not_refuse_the_page(self):
        code = "x" * 200            # the longest code syncopt accepts
        page = json.loads(connections_page("sec_task", None))
        item = page["data"]["items"][0]
        item["failed_at"] = "2026-11-20T10:00:00.000Z"
        item["status"]["tasks"] = [{"code": code, "message": "Reconnect"}]
        self.assertEqual(c().value(
            f"SELECT syncopt.ingest_fivetran_connections({self.account}, {q(json.dumps(page))})", db()), "2")
        # The task is stored whole; the run's code is cut to error_code's 200.
        self.assertEqual(c().rows(
            "SELECT t.kind, length(t.code), r.status, r.error_code = 'task:' || repeat('x', 195) "
            "FROM syncopt.connector n JOIN syncopt.connector_task t USING (connector_id) "
            "JOIN syncopt.sync_run r USING (connector_id) "
            f"WHERE n.account_id = {self.account} AND n.external_id = 'sec_task'", db()),
            [("task", "200", "failed", "t")])

    def test_an_outsider_cannot_stop_the_planner(self):
        """run_planner() skipped its run while anyone held the advisory key
        (hashtext('syncopt.run_planner'), 0), which any role that connects
        may hold (docs/security.md, rule 6)."""
        self.hold_advisory_lock("hashtext('syncopt.run_planner'), 0")
        before = int(c().value("SELECT count(*) FROM syncopt.planner_run", db()))
        code, _, err = self.run_unblocked("SELECT syncopt.run_planner();")
        self.assertEqual(code, 0, err)
        self.assertEqual(int(c().value("SELECT count(*) FROM syncopt.planner_run", db())), before + 1,
                         "the planning run wrote nothing")

    # Guards.

    def test_no_lesser_role_creates_or_attaches_a_partition(self):
        # (No subTest: the runner counts only whole tests.)
        for role in ("sec_reader", "sec_approver", "sec_admin"):
            self.assertIn("must be owner of table sync_run", self.error_as(
                role, "CREATE TABLE sec_own.p PARTITION OF syncopt.sync_run "
                      "FOR VALUES FROM ('2030-01-07') TO ('2030-01-14')"), role)
            self.assertIn("permission denied for schema syncopt", self.error_as(
                role, "CREATE TABLE syncopt.sync_run_20300107 (LIKE syncopt.sync_run)"), role)
        self.assertIn("must be owner of table sync_run", self.error_as(
            "sec_admin", "ALTER TABLE syncopt.sync_run ATTACH PARTITION sec_own.week "
                         "FOR VALUES FROM ('2030-01-07') TO ('2030-01-14')"))

    def test_no_lesser_role_runs_the_maintenance_or_takes_its_lock(self):
        for role in ("sec_outsider", "sec_reader", "sec_approver", "sec_admin"):
            self.assertIn("permission denied", self.error_as(
                role, "SELECT syncopt.maintain_run_partitions(interval '1 day')"), role)
            self.assertIn("permission denied", self.error_as(
                role, "BEGIN; LOCK TABLE ONLY syncopt.sync_run IN SHARE UPDATE EXCLUSIVE MODE; COMMIT"), role)
            self.assertIn("permission denied", self.error_as(
                role, "SELECT syncopt.lock_connector_runs(ARRAY[1::bigint])"), role)

    def test_no_lesser_role_takes_the_planners_lock(self):
        # The lock run_planner() skips its run on: a lesser role holding it
        # would stop the planner as the advisory key did.
        for role in ("sec_outsider", "sec_reader", "sec_approver", "sec_admin"):
            self.assertIn("permission denied", self.error_as(
                role, "BEGIN; LOCK TABLE syncopt.planner_run IN SHARE UPDATE EXCLUSIVE MODE; COMMIT"), role)

    def test_no_lesser_role_reads_secrets(self):
        for role in ("sec_outsider", "sec_reader", "sec_approver", "sec_admin"):
            self.assertIn("permission denied", self.error_as(
                role, "SELECT webhook_secret FROM syncopt.account_secret"), role)


if __name__ == "__main__":
    unittest.main()
