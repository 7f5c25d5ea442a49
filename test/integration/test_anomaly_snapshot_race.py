"""The planning run's anomaly snapshot (take_anomaly_snapshot(), issue 34)
when a sync run is written while a planning run reads.

A planning run judges again only the connectors whose runs a transaction
its previous snapshot did not see wrote (sync_run_change), and carries the
others' rows over.  Here a run is inserted in an open transaction, a
planning run starts and ends while it is open (the run is not in its
snapshot), then the insert commits: the next planning run, at the same
instant (so no run crosses the window's edges), must judge that connector
again and flag the run.  Kept by a number read after the commit, or by the
time the transaction started, the write would be taken as seen and the
run never judged.  And a planning run's own transaction: its snapshot
counts that transaction's writes as seen, also those made after it.  And
a delete of a run older than the snapshot's training window (the
retention purge's kind, which makes no connector judged again) while a
replay at an earlier instant, whose window holds that run, reads: the
next run must judge the connector again.  Fixed instants (2026-02-20
12:00 UTC), so nothing depends on the clock.
"""

import unittest

import integration
from integration.test_ingest_race import Session, idle_in_transaction, race

ACCOUNT = "anomaly snapshot race"
AT = "2026-02-20 12:00+00"
SINCE = "2026-02-19 12:00+00"
MINE = "(SELECT connector_id FROM syncopt.connector WHERE external_id = 'anomaly_race')"
PLAN = f"SET syncopt.planner_time_limit = '1h'; SELECT count(*) FROM syncopt.run_planner('{AT}');"
# A run 5 times as long as the connector's history, two hours after `since`.
SPIKE = ("INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source) "
         f"SELECT {MINE}, 'spike', timestamptz '{SINCE}' + interval '2 hours', "
         f"timestamptz '{SINCE}' + interval '2 hours 3050 s', 'succeeded', 1010, 'api';")


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class AnomalySnapshotRaceTests(unittest.TestCase):

    def setUp(self):
        # Sixteen days of 600-620 s runs, a day apart, before `since`.
        c().psql(f"""
            DELETE FROM syncopt.account WHERE name = '{ACCOUNT}';
            INSERT INTO syncopt.account (vendor, name, base_url)
            VALUES ('fivetran', '{ACCOUNT}', 'https://api.fivetran.com');
            INSERT INTO syncopt.connector (account_id, external_id)
            SELECT account_id, 'anomaly_race' FROM syncopt.account WHERE name = '{ACCOUNT}';
            INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
            SELECT {MINE}, 'h' || k, s, s + make_interval(secs => 600 + 10 * (k % 3)), 'succeeded',
                   1000 + 10 * (k % 3), 'api'
              FROM generate_series(1, 16) k,
                   LATERAL (SELECT timestamptz '{SINCE}' - make_interval(days => k, hours => -1) AS s) x;""", db())

    def tearDown(self):
        c().psql(f"DELETE FROM syncopt.account WHERE name = '{ACCOUNT}'", db())

    def snapshot(self, since=SINCE):
        """(the connector's rows in the latest snapshot, the snapshot's rows
        that anomalies(since) computed afresh does not give, and the reverse)."""
        mine = c().value(f"SELECT count(*) FROM syncopt.anomaly_snapshot WHERE connector_id = {MINE}", db())
        cols = "run_id, connector_id, metric, observed, expected, score, direction, reason"
        stale = c().value(f"SELECT count(*) FROM (SELECT {cols} FROM syncopt.anomaly_snapshot "
                          f"EXCEPT ALL SELECT * FROM syncopt.anomalies('{since}')) d", db())
        missing = c().value(f"SELECT count(*) FROM (SELECT * FROM syncopt.anomalies('{since}') "
                            f"EXCEPT ALL SELECT {cols} FROM syncopt.anomaly_snapshot) d", db())
        return mine, stale, missing

    def test_a_run_committed_while_a_planning_run_read_is_judged_by_the_next(self):
        c().psql(PLAN, db())
        self.assertEqual(self.snapshot(), ("0", "0", "0"))
        race(SPIKE, PLAN, second_may_finish=True)
        # The planning run in the race read before the insert committed.
        self.assertEqual(self.snapshot(), ("0", "0", "1"))
        c().psql(PLAN, db())
        self.assertEqual(self.snapshot(), ("1", "0", "0"))
        self.assertEqual(c().value(f"SELECT metric || ' ' || direction FROM syncopt.anomaly_snapshot "
                                   f"WHERE connector_id = {MINE}", db()), "duration spike")

    def test_runs_written_after_a_planning_run_in_its_transaction_are_judged_by_the_next(self):
        c().psql(PLAN, db())
        own = Session("anomaly own writes")
        try:
            own.send("BEGIN;")
            own.send("SELECT pg_current_xact_id() IS NOT NULL;")
            if not idle_in_transaction("anomaly own writes"):
                raise AssertionError("the session did not begin: %s" % (own.finish(),))
            # A transaction that began later commits first: the planning
            # run's snapshot then has the own transaction below its xmax
            # and, being its own, not among those in progress.
            c().psql("SELECT pg_current_xact_id();", db())
            own.send(PLAN)
            own.send(SPIKE)
            own.send(PLAN)
            own.send("COMMIT;")
            rc, out, err = own.finish()
        finally:
            own.kill()
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.snapshot(), ("1", "0", "0"))

    def test_an_old_run_deleted_while_a_replay_read_it_is_judged_by_the_next(self):
        # Eighteen more days of history (34 in all), and a run 5 times as
        # long 20 days before `since`: outside the window of a run at AT
        # (from `since` minus 14 days), judged by a replay a day after it.
        old_spike = f"timestamptz '{SINCE}' - interval '20 days' + interval '2 hours'"
        replay_since = c().value(f"SELECT (timestamptz '{SINCE}' - interval '20 days')::text", db())
        replay = ("SET syncopt.planner_time_limit = '1h'; SELECT count(*) FROM syncopt.run_planner("
                  f"timestamptz '{SINCE}' - interval '19 days');")
        c().psql(f"""
            INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
            SELECT {MINE}, 'h' || k, s, s + make_interval(secs => 600 + 10 * (k % 3)), 'succeeded',
                   1000 + 10 * (k % 3), 'api'
              FROM generate_series(17, 34) k,
                   LATERAL (SELECT timestamptz '{SINCE}' - make_interval(days => k, hours => -1) AS s) x;
            INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
            SELECT {MINE}, 'old spike', {old_spike}, {old_spike} + interval '3050 s', 'succeeded', 1010, 'api';""",
                 db())
        c().psql(PLAN, db())
        self.assertEqual(self.snapshot(), ("0", "0", "0"))
        # The delete stamps the connector with a run 20 days back, before
        # the window of the snapshot it finds; the replay reads before it
        # commits, and flags the run.
        race(f"DELETE FROM syncopt.sync_run WHERE connector_id = {MINE} AND external_run_id = 'old spike';",
             replay, second_may_finish=True)
        self.assertEqual(self.snapshot(replay_since), ("1", "1", "0"))
        c().psql(replay, db())
        self.assertEqual(self.snapshot(replay_since), ("0", "0", "0"))


if __name__ == "__main__":
    unittest.main()
