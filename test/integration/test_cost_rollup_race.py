"""cost_by_connector's daily rollup (sync_run_daily, h-rollup, issue 34)
when two sessions write runs of one connector's day at once: nothing lost,
nothing counted twice.

A run added to a day is added to its row; a day that lost a run (update or
delete) is summed again from sync_run after its row is locked, in the next
statement's snapshot.  Each test interleaves two real sessions with
test_ingest_race's race(): the first writes in an open transaction, the
second is started and runs until it waits on a lock (or ends), then the
first commits.  Summed from its own snapshot without the lock, the second
would miss the first's run.  Runs are on a fixed day (2026-01-05, UTC), so
nothing depends on the clock.
"""

import unittest

import integration
from integration.test_ingest_race import race

ACCOUNT = "rollup race"
DAY = "2026-01-05"
MINE = "connector_id = (SELECT connector_id FROM syncopt.connector WHERE external_id = 'rollup_race')"
DELETE_R0 = f"DELETE FROM syncopt.sync_run WHERE external_run_id = 'r0' AND {MINE};"
UPDATE_R0 = f"UPDATE syncopt.sync_run SET credits = 0.125 WHERE external_run_id = 'r0' AND {MINE};"


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


def run(ext, start, end, credits):
    """An INSERT of one finished run of the race's connector on DAY."""
    return ("INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, "
            f"credits, source) SELECT connector_id, '{ext}', '{DAY} {start}+00', '{DAY} {end}+00', 'succeeded', "
            f"{credits}, 'api' FROM syncopt.connector WHERE external_id = 'rollup_race';")


class CostRollupRaceTests(unittest.TestCase):

    def setUp(self):
        c().psql(f"""
            DELETE FROM syncopt.account WHERE name = '{ACCOUNT}';
            INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', '{ACCOUNT}', 'https://api.fivetran.com');
            INSERT INTO syncopt.connector (account_id, external_id)
            SELECT account_id, 'rollup_race' FROM syncopt.account WHERE name = '{ACCOUNT}';
            {run('r0', '01:00', '01:10', 1.5)}""", db())

    def tearDown(self):
        c().psql(f"DELETE FROM syncopt.account WHERE name = '{ACCOUNT}'", db())

    def day(self):
        """(the day's row, whether it is the day's runs summed afresh)."""
        row = c().value(
            "SELECT coalesce((SELECT d.syncs || ' ' || d.seconds || ' ' || coalesce(d.credits::text, '-') "
            "FROM syncopt.sync_run_daily d JOIN syncopt.connector n USING (connector_id) "
            f"WHERE n.external_id = 'rollup_race' AND d.day = '{DAY}'), 'none')", db())
        fresh = c().value(
            "SELECT coalesce((SELECT count(*) || ' ' || sum(extract(epoch FROM r.finished_at - r.started_at)) "
            "|| ' ' || coalesce(sum(r.credits)::text, '-') "
            "FROM syncopt.sync_run r JOIN syncopt.connector n USING (connector_id) "
            f"WHERE n.external_id = 'rollup_race' AND (r.started_at AT TIME ZONE 'UTC')::date = '{DAY}' "
            "HAVING count(*) > 0), 'none')", db())
        return row, fresh

    def test_a_delete_waits_for_an_insert_into_its_day(self):
        # The insert holds the day's row; the delete sums the day after it
        # commits: r1 (20 minutes, 0.25) is left.
        race(run("r1", "03:00", "03:20", 0.25), DELETE_R0)
        self.assertEqual(self.day(), ("1 1200.000000 0.25", "1 1200.000000 0.25"))

    def test_an_insert_waits_for_a_delete_from_its_day(self):
        # The delete empties the day and holds it; the insert adds r1 after.
        race(DELETE_R0, run("r1", "03:00", "03:20", 0.25))
        self.assertEqual(self.day(), ("1 1200.000000 0.25", "1 1200.000000 0.25"))

    def test_an_insert_waits_for_an_update_of_its_day(self):
        # r0's credits become 0.125 (the day summed again), r1 is added:
        # 10 + 20 minutes, 0.375 credits.
        race(UPDATE_R0,
             run("r1", "03:00", "03:20", 0.25))
        self.assertEqual(self.day(), ("2 1800.000000 0.375", "2 1800.000000 0.375"))

    def test_an_update_waits_for_an_insert_into_its_day(self):
        race(run("r1", "03:00", "03:20", 0.25),
             UPDATE_R0)
        self.assertEqual(self.day(), ("2 1800.000000 0.375", "2 1800.000000 0.375"))


if __name__ == "__main__":
    unittest.main()
