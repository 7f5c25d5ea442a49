"""Kept statements (spi_run_kept) run generic plans (issue 34, h-big).

absorb_runs() reads its runs with `run_id = ANY ($1)`, prepared once per
backend.  A custom plan of it (the plan cache's choice for at least the
first five calls of a backend) estimates every element of the array on
every weekly partition of sync_run: folding 34,000 runs spent 1.9 s
planning and 0.6 s running on 45 days of weeks, and a 100,000-connector
fleet's history took half an hour to fold.  With the generic plan the
array stays a parameter.  auto_explain shows which plan ran: a generic plan
prints `$1`, a custom plan the array's literal.
"""

import unittest

import integration


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


ACCOUNT = "kept plans fivetran"


class KeptPlanTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Disabled: the collector never polls it; the runs are inserted here.
        cls.account = c().value(
            "INSERT INTO syncopt.account (vendor, name, base_url, enabled) "
            f"VALUES ('fivetran', '{ACCOUNT}', 'https://api.fivetran.com', false) RETURNING account_id", db())
        cls.connector = c().value(
            "INSERT INTO syncopt.connector (account_id, external_id) "
            f"VALUES ({cls.account}, 'kept-plans') RETURNING connector_id", db())

    @classmethod
    def tearDownClass(cls):
        c().psql(f"DELETE FROM syncopt.account WHERE account_id = {cls.account}", db())

    def test_absorb_runs_reads_its_runs_with_a_generic_plan(self):
        if not integration.AUTO_EXPLAIN:
            self.skipTest("auto_explain, which shows the plan that ran, is not installed for this server")
        ids = c().value(
            "WITH ins AS (INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at,"
            " status, rows, source)"
            f" SELECT {self.connector}, 'k' || i, timestamptz '2026-11-20 01:00+00' + make_interval(hours => i),"
            " timestamptz '2026-11-20 01:10+00' + make_interval(hours => i), 'succeeded', 100 * i, 'api'"
            " FROM generate_series(1, 3) i RETURNING run_id)"
            " SELECT string_agg(run_id::text, ',' ORDER BY run_id) FROM ins", db())
        # The first call of a new backend: the plan cache would make a custom plan.
        _, _, err = c().psql(
            "LOAD 'auto_explain';\n"
            "SET auto_explain.log_min_duration = 0;\n"
            "SET auto_explain.log_nested_statements = on;\n"
            "SET auto_explain.log_level = notice;\n"
            "SET client_min_messages = notice;\n"
            f"SELECT syncopt.absorb_runs(ARRAY[{ids}]::bigint[]);\n", db())
        plans = err.split("Query Text:")
        runs_plan = [p for p in plans if "WHERE r.run_id = ANY ($1)" in p]
        self.assertEqual(len(runs_plan), 1, err)
        # The plan's condition on run_id keeps the parameter (a custom plan
        # would print ANY ('{...}'::bigint[])).
        conditions = [line for line in runs_plan[0].splitlines() if "run_id = ANY" in line and "Cond" in line]
        self.assertTrue(conditions, runs_plan[0])
        self.assertTrue(all("ANY ($1)" in line for line in conditions), conditions)
        # And the fold happened: the three runs counted, the last one's rows kept.
        self.assertEqual(
            c().value("SELECT runs || '/' || successes || '/' || recent_rows::text FROM syncopt.connector_stats"
                      f" WHERE connector_id = {self.connector}", db()),
            "3/3/{100,200,300}")


if __name__ == "__main__":
    unittest.main()
