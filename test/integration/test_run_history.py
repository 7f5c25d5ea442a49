"""sync_run partitioned by week (issue 34): ingest stays idempotent and safe
between sessions.

The unpartitioned table's unique constraint made ingest idempotent with
ON CONFLICT; on the partitioned table the run's key is claimed in
sync_run_key by a BEFORE INSERT trigger.  Two sessions ingesting the same
Airbyte job at once must end with one run and no error: the second waits on
the first's key, then skips the run (a NOT EXISTS check before the insert
would not see the first session's uncommitted run and would fail on the
key).  Re-ingesting the same page changes nothing.
"""

import json
import subprocess
import unittest

import integration

ACCOUNT = "run history airbyte"
# One job; the connector is made by a first page so that the concurrent
# ingests below only race on the run.
JOB = {"jobId": 9001, "status": "succeeded", "jobType": "sync", "startTime": "2026-11-20T01:00:00Z",
       "connectionId": "history-conc", "lastUpdatedAt": "2026-11-20T01:10:00Z", "duration": "PT10M",
       "rowsSynced": 10}
FIRST = {"jobId": 9000, "status": "succeeded", "jobType": "sync", "startTime": "2026-11-19T01:00:00Z",
         "connectionId": "history-conc", "lastUpdatedAt": "2026-11-19T01:10:00Z", "duration": "PT10M",
         "rowsSynced": 5}


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


def page(*jobs):
    return json.dumps({"data": list(jobs)}).replace("'", "''")


class RunHistoryTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Disabled: the collector never polls it (no network); ingest is called directly.
        cls.account = c().value(
            "INSERT INTO syncopt.account (vendor, name, base_url, enabled) "
            f"VALUES ('airbyte', '{ACCOUNT}', 'https://api.airbyte.com/v1', false) RETURNING account_id", db())
        c().psql(f"SELECT syncopt.ingest_airbyte_jobs({cls.account}, '{page(FIRST)}')", db())

    @classmethod
    def tearDownClass(cls):
        c().psql(f"DELETE FROM syncopt.account WHERE account_id = {cls.account}", db())

    def runs(self, job_id):
        return c().value("SELECT count(*) FROM syncopt.sync_run r JOIN syncopt.connector n USING (connector_id) "
                         f"WHERE n.account_id = {self.account} AND r.external_run_id = '{job_id}'", db())

    def test_two_sessions_ingest_the_same_run(self):
        self.assertEqual(self.runs(JOB["jobId"]), "0")
        # The first session ingests the job and keeps its transaction open
        # until the second is seen waiting (bounded: 30 s).
        first = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"] + c().conninfo(db()),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first.stdin.write(
            "BEGIN;\n"
            f"SELECT syncopt.ingest_airbyte_jobs({self.account}, '{page(JOB)}');\n"
            "SELECT 'first ingested';\n"
            "DO $$ BEGIN FOR i IN 1..300 LOOP\n"
            "  EXIT WHEN EXISTS (SELECT FROM pg_stat_activity\n"
            "                     WHERE application_name = 'history second' AND wait_event_type = 'Lock');\n"
            "  PERFORM pg_sleep(0.1); END LOOP; END $$;\n"
            "COMMIT;\n")
        first.stdin.close()
        try:
            # The second session starts once the first holds the run (it is
            # in its waiting loop).
            self.assertTrue(c().wait_for(
                "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'DO $$ BEGIN FOR i IN 1..300%' "
                "AND pid <> pg_backend_pid())", db(), timeout=30))
            second = subprocess.run(
                ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"] + c().conninfo(db()),
                input=f"SET application_name = 'history second';\n"
                      f"SELECT syncopt.ingest_airbyte_jobs({self.account}, '{page(JOB)}');\n",
                capture_output=True, text=True, timeout=60)
        finally:
            first.wait(timeout=60)
            out, err = first.stdout.read(), first.stderr.read()
        self.assertEqual(first.returncode, 0, err)
        self.assertIn("first ingested", out)
        # The second waited on the first's key, then skipped the run: no error.
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(second.stdout.strip(), "0")
        self.assertEqual(self.runs(JOB["jobId"]), "1")
        self.assertEqual(c().value(
            "SELECT count(*) FROM syncopt.sync_run_key k JOIN syncopt.connector n USING (connector_id) "
            f"WHERE n.account_id = {self.account} AND k.external_run_id = '{JOB['jobId']}'", db()), "1")

    def test_reingesting_a_page_changes_nothing(self):
        again = dict(JOB, jobId=9002)
        fingerprint = ("SELECT md5(string_agg(r::text, ',' ORDER BY r.run_id)) FROM syncopt.sync_run r "
                       f"JOIN syncopt.connector n USING (connector_id) WHERE n.account_id = {self.account}")
        self.assertEqual(c().value(f"SELECT syncopt.ingest_airbyte_jobs({self.account}, '{page(again)}')", db()),
                         "1")
        before = c().value(fingerprint, db())
        self.assertEqual(c().value(f"SELECT syncopt.ingest_airbyte_jobs({self.account}, '{page(again)}')", db()),
                         "0")
        self.assertEqual(c().value(fingerprint, db()), before)
        self.assertEqual(self.runs(again["jobId"]), "1")


if __name__ == "__main__":
    unittest.main()
