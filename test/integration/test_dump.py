"""pg_dump keeps syncopt's data, and the dump restores with nothing lost."""

import subprocess
import unittest

import integration
from harness.cluster import PG_BIN


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
        before = c.value(snapshot, db)

        dump = subprocess.run([f"{PG_BIN}/pg_dump", "--no-owner"] + c.conninfo(db),
                              capture_output=True, text=True, check=True).stdout
        self.assertIn("COPY syncopt.fivetran_sync_ai_logs", dump)
        self.assertIn("start the Oracle listener", dump)
        self.assertNotIn("Re-authorise the connector", dump, "built-in patterns come from the install script")

        c.psql("DROP EXTENSION syncopt CASCADE; DROP SCHEMA syncopt;", db)
        restore = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"] + c.conninfo(db),
                                 input=dump, capture_output=True, text=True,
                                 env={"PGOPTIONS": "-c session_replication_role=replica"})
        self.assertEqual(restore.returncode, 0, restore.stderr)
        self.assertEqual(c.value(snapshot, db), before)
        # New rows continue after the restored ones.
        c.psql("SELECT syncopt.propose(connector_id, 'resume', '{}', 'after restore') FROM syncopt.connector "
               "WHERE external_id = 'dumped_connector'", db)
        self.assertTrue(c.wait_for("SELECT bool_and(state = 'idle') FROM syncopt.worker_status()", db))
