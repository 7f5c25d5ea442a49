"""A label made in another session reaches a backend's cached triage (issue 30).

A backend keeps the failure rules and the labelled corpus (src/triage.c)
from one classify_failure() call to the next, and reads them again when
syncopt.triage_version has moved.  label_failure() promises that a label
joins the corpus at once: here one session classifies a wording (so its
backend holds the corpus), another labels a run of that wording in an open
transaction, and the first classifies again, before and after the commit.
Regress triage (section 7) covers labels of the session's own transactions.

The sessions are interleaved deterministically: each step of the first
ends by renaming the session (application_name), and the test waits for the
name in pg_stat_activity (a bounded poll) before the next step.  No timing
is asserted.
"""

import os
import subprocess
import unittest

import integration

# The one database besides the workers' own where the extension may be created.
DB = "contrib_regression"
WORDING = "Wombat burrowed under datacenter %d and unplugged the chiller"


def q(text):
    """text as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class Session:
    """A psql session of DB fed statement by statement; its output is read when it ends."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"] + integration.CLUSTER.conninfo(DB),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def step(self, sql, name):
        """Run sql, then wait until the session has taken the name (it ran sql)."""
        self.proc.stdin.write(f"{sql}\nSET application_name = {q(name)};\n")
        self.proc.stdin.flush()
        if not integration.CLUSTER.wait_for(
                "SELECT EXISTS (SELECT FROM pg_stat_activity "
                f"WHERE application_name = {q(name)} AND state LIKE 'idle%')", DB, timeout=60):
            self.proc.kill()
            raise AssertionError(f"the session did not reach {name}")

    def finish(self):
        """Close the input; (exit status, stdout, stderr) once psql ends (bounded: 60 s)."""
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class TriageCacheTests(unittest.TestCase):

    def setUp(self):
        c = integration.CLUSTER
        c.psql(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};")
        c.psql(f"""
CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (1, 1, 'erp', 'ERP');
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (1, 1, 'w1', '2026-11-23 00:00+00', '2026-11-23 00:05+00', 'failed', {q(WORDING % 4)}, 'api');""", DB)

    def tearDown(self):
        integration.CLUSTER.psql(f"DROP DATABASE IF EXISTS {DB};")

    def test_another_sessions_label_counts_once_committed(self):
        classify = (f"SELECT 'verdict|' || category || '|' || source "
                    f"FROM syncopt.classify_failure({q(WORDING % 11)});")
        reader, labeller = Session(), Session()
        try:
            reader.step(classify, "reader_before")
            labeller.step("BEGIN; SELECT syncopt.label_failure(1, 'destination_outage', 'wombats');",
                          "labeller_open")
            reader.step(classify, "reader_uncommitted")
            labeller.step("COMMIT;", "labeller_committed")
            reader.step(classify, "reader_after")
            rc, out, err = reader.finish()
            self.assertEqual(rc, 0, err)
            self.assertEqual(labeller.finish()[0], 0)
        finally:
            reader.kill()
            labeller.kill()
        verdicts = [line.split("|")[1:] for line in out.splitlines() if line.startswith("verdict|")]
        # Nothing knows the wording; another transaction's label is not seen
        # until it commits; then it decides, in the backend that had the
        # corpus cached all along.
        self.assertEqual(verdicts, [["unknown", "none"], ["unknown", "none"], ["destination_outage", "example"]])


if __name__ == "__main__":
    unittest.main()
