"""A planning run racing a connector's delete.

run_planner() reads the fleet, then writes rows that reference the
connectors it read (planned_sync, anomaly_snapshot, decisions, alerts).
An admin who deletes a connector and commits between the read and those
writes made the run fail with a foreign-key violation (or, for a connector
the previous run had planned, a deadlock: the delete's cascade waited on
the previous plan's rows the run had just deleted while the run's
foreign-key check waited on the delete), and the run wrote nothing.  Now
the run plans once more without that connector, says so (a WARNING and
planner_run.retry_reason), and writes nothing for it; the delete does not
wait on the run.

The race is made deterministic with a test-only row trigger on
planned_sync, the run's first write after it read the fleet: it waits on
an advisory lock another session holds.  While the run waits there, the
connector is deleted and committed; then the lock is released.  Nothing
is timed: the waits are bounded polls of pg_stat_activity.
"""

import unittest

import integration
from integration.test_ingest_race import Session, blocked_or_done, connections_page, q

ACCOUNT = "planner race"
AT = "2026-11-20 03:00+00"
LOCK_KEY = 7240101


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


def waits_on_advisory_lock(name):
    return c().wait_for(
        "SELECT EXISTS (SELECT FROM pg_stat_activity "
        f"WHERE application_name = {q(name)} AND wait_event_type = 'Lock' AND wait_event = 'advisory')",
        db(), timeout=60)


class PlannerRaceTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Disabled: the collector never polls it; the connectors are inserted here.
        cls.account = c().value(
            "INSERT INTO syncopt.account (vendor, name, base_url, enabled) "
            f"VALUES ('fivetran', {q(ACCOUNT)}, 'https://api.fivetran.com', false) RETURNING account_id", db())

    @classmethod
    def tearDownClass(cls):
        c().psql(f"DELETE FROM syncopt.account WHERE account_id = {cls.account}; "
                 "DELETE FROM syncopt.asset WHERE name LIKE 'planner race %'", db())

    def tearDown(self):
        c().psql("DROP FUNCTION IF EXISTS public.race_hold() CASCADE", db())   # and its trigger

    def connector(self, external_id):
        """A connector that feeds a dashboard due at 23:00: with no run yet,
        the plan starts it now (19 hours to spare), and no candidate comes
        of it (its vendor schedule starts it now too), so no decision keeps
        it from being deleted."""
        connector_id = c().value(
            "INSERT INTO syncopt.connector (account_id, external_id, schedule_minutes) "
            f"VALUES ({self.account}, {q(external_id)}, 360) RETURNING connector_id", db())
        c().psql("WITH a AS (INSERT INTO syncopt.asset (name, kind, deadline) "
                 f"VALUES ({q('planner race ' + external_id)}, 'dashboard', '23:00') RETURNING asset_id) "
                 f"INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) SELECT {connector_id}, asset_id FROM a",
                 db())
        return connector_id

    def planned(self, connector_id):
        """Whether the latest planning run's plan has a row for the connector."""
        return c().value(
            "SELECT EXISTS (SELECT FROM syncopt.planned_sync p "
            f"WHERE p.connector_id = {connector_id} "
            "AND p.planner_run_id = (SELECT max(planner_run_id) FROM syncopt.planner_run))", db())

    def race(self, gone, hold_at="BEFORE INSERT ON syncopt.planned_sync", meanwhile=None):
        """A planning run held at the trigger event hold_at while connector
        gone is deleted (and committed, unless the delete waits) and then,
        when given, the SQL meanwhile runs in a session of its own until it
        ends or waits; returns (run's outcome, delete's outcome, whether the
        delete ended before the run went on, meanwhile's outcome or None,
        whether it ended before the run went on)."""
        c().psql(
            "CREATE FUNCTION public.race_hold() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$BEGIN PERFORM pg_advisory_xact_lock({LOCK_KEY}); RETURN NEW; END$$; "
            f"CREATE TRIGGER race_hold {hold_at} FOR EACH ROW EXECUTE FUNCTION public.race_hold()", db())
        holder = Session("planner race holder")
        run = delete = other = None
        try:
            holder.send(f"SELECT pg_advisory_lock({LOCK_KEY});")
            run = Session("planner race run")
            run.send(f"SELECT count(*) FROM syncopt.run_planner({q(AT)});")
            run.proc.stdin.close()
            if not waits_on_advisory_lock("planner race run"):
                raise AssertionError("the run never reached the held event: %s" % (run.finish(),))
            # While the run is held: a retried run's started_at comes before it.
            self.delete_sent_at = c().value("SELECT clock_timestamp()", db())
            delete = Session("planner race delete")
            delete.send(f"DELETE FROM syncopt.connector WHERE connector_id = {gone};")
            delete.proc.stdin.close()
            if not blocked_or_done(delete):
                raise AssertionError("the delete neither waited nor ended")
            delete_first = delete.proc.poll() is not None
            other_first = None
            if meanwhile is not None:
                other = Session("planner race meanwhile")
                other.send(meanwhile)
                other.proc.stdin.close()
                if not blocked_or_done(other):
                    raise AssertionError("the other session neither waited nor ended")
                other_first = other.proc.poll() is not None
            holder.send(f"SELECT pg_advisory_unlock({LOCK_KEY});")
            holder.finish()
            return (run.finish(), delete.finish(), delete_first,
                    other.finish() if other is not None else None, other_first)
        finally:
            for session in (holder, run, delete, other):
                if session is not None:
                    session.kill()

    def assert_replanned_without(self, gone, kept, outcome):
        (run_code, run_out, run_err), (delete_code, _, delete_err), delete_first, _, _ = outcome
        self.assertEqual(delete_code, 0, delete_err)
        self.assertTrue(delete_first, "the delete waited on the planning run")
        self.assertEqual(run_code, 0, run_err)
        self.assertEqual(run_out.strip(), "0")   # no candidate in this fleet: nothing to decide
        self.assertIn("WARNING:  planning run met a connector or asset deleted while it ran; planning again", run_err)
        self.assertIn(f"Key (connector_id)=({gone}) is not present in table \"connector\"", run_err)
        self.assertEqual(c().value(f"SELECT count(*) FROM syncopt.connector WHERE connector_id = {gone}", db()), "0")
        # Planned again, without the deleted connector; the retry is recorded.
        self.assertEqual(self.planned(kept), "t")
        self.assertEqual(c().value(f"SELECT count(*) FROM syncopt.planned_sync WHERE connector_id = {gone}", db()),
                         "0")
        reason = c().value("SELECT retry_reason FROM syncopt.planner_run "
                           "WHERE planner_run_id = (SELECT max(planner_run_id) FROM syncopt.planner_run)", db())
        self.assertIn("violates foreign key constraint", reason)
        self.assertIn(f"Key (connector_id)=({gone})", reason)
        # The run's row says when the run began, not when its second attempt did.
        self.assertEqual(c().value("SELECT started_at < " + q(self.delete_sent_at) + "::timestamptz "
                                   "FROM syncopt.planner_run "
                                   "WHERE planner_run_id = (SELECT max(planner_run_id) FROM syncopt.planner_run)",
                                   db()), "t")

    def test_a_connector_the_previous_run_planned(self):
        kept = self.connector("race_kept_a")
        gone = self.connector("race_gone_a")
        c().psql(f"SELECT count(*) FROM syncopt.run_planner({q(AT)})", db())
        self.assertEqual((self.planned(kept), self.planned(gone)), ("t", "t"))
        runs = c().value("SELECT count(*) FROM syncopt.planner_run", db())
        outcome = self.race(gone)
        self.assert_replanned_without(gone, kept, outcome)
        # One run more: the attempt that met the delete left no row.
        self.assertEqual(c().value("SELECT count(*) FROM syncopt.planner_run", db()), str(int(runs) + 1))

    def test_a_connector_added_since_the_previous_run(self):
        kept = self.connector("race_kept_b")
        c().psql(f"SELECT count(*) FROM syncopt.run_planner({q(AT)})", db())
        gone = self.connector("race_gone_b")
        self.assert_replanned_without(gone, kept, self.race(gone))

    def test_a_delete_after_the_run_wrote_the_connector_waits_and_the_collector_does_not(self):
        # Held at its last update of its planner_run row, the run has
        # written gone's plan: the delete waits for the run to commit.  The
        # collector's ingest of that very connector meanwhile (a listing
        # that changes its row and adds a run: FOR NO KEY UPDATE of the
        # row, a foreign-key check) does not wait, neither on the run nor
        # behind the delete queued for the row.
        kept = self.connector("race_kept_d")
        gone = self.connector("race_gone_d")
        page = connections_page("race_gone_d", "2026-11-20T02:00:00.000Z")
        (run_code, run_out, run_err), (delete_code, _, delete_err), delete_first, other, other_first = self.race(
            gone, hold_at="BEFORE UPDATE ON syncopt.planner_run",
            meanwhile=f"SELECT syncopt.ingest_fivetran_connections({self.account}, {q(page)});")
        self.assertFalse(delete_first, "the delete did not wait for the run")
        self.assertTrue(other_first, "the collector's ingest waited")
        self.assertEqual((other[0], other[1].strip()), (0, "2"), other[2])   # the connector and its run
        self.assertEqual(run_code, 0, run_err)
        self.assertEqual(run_out.strip(), "0")
        self.assertNotIn("planning again", run_err)
        self.assertEqual(delete_code, 0, delete_err)
        # The delete, after the run, took the run's rows for it along.
        self.assertEqual(c().value(f"SELECT count(*) FROM syncopt.connector WHERE connector_id = {gone}", db()), "0")
        self.assertEqual(c().value(f"SELECT count(*) FROM syncopt.planned_sync WHERE connector_id = {gone}", db()),
                         "0")
        self.assertEqual(self.planned(kept), "t")

    def test_a_run_with_no_delete_plans_once(self):
        kept = self.connector("race_kept_c")
        c().psql(f"SELECT count(*) FROM syncopt.run_planner({q(AT)})", db())
        self.assertEqual(self.planned(kept), "t")
        self.assertEqual(
            c().value("SELECT retry_reason IS NULL FROM syncopt.planner_run "
                      "WHERE planner_run_id = (SELECT max(planner_run_id) FROM syncopt.planner_run)", db()), "t")


if __name__ == "__main__":
    unittest.main()
