"""Structured vendor signals through the real collector (issue 30).

The mock serves Fivetran connections with status.tasks and warnings as
FT-OAS defines them ({code, message, details}); a poll (syncopt.collect(),
the collector's own code) must record them on the connector, give the
failed run the REST API shows the task as its code, classify it by that
code, and drop the task once the vendor no longer lists it.
"""

import unittest

import integration
from harness.steps import create_polled_accounts
from integration.mock_client import Mock

FLEET = {"fivetran_groups": 1, "fivetran_connections": 3, "airbyte_connections": 0, "jobs_per_connection": 0}


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class VendorSignalTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()
        cls.mock.call("/_mock/fleet", dict(FLEET, page_cap=2))
        cls.ft, = create_polled_accounts(c(), db(), [
            ("fivetran", "signals fivetran", f"{cls.mock.base}/fivetran", "ft_key", "ft_secret_s3cr3t")])

    @classmethod
    def tearDownClass(cls):
        c().psql(f"UPDATE syncopt.account SET enabled = false WHERE account_id = {cls.ft}", db())
        cls.mock.stop()

    def collect(self):
        rows = c().rows(f"SELECT endpoint, error FROM syncopt.collect({self.ft})", db())
        self.assertTrue(all(error == "" for _, error in rows), rows)

    def tasks(self):
        return c().rows("SELECT c.external_id, t.kind, t.code, t.message, t.details FROM syncopt.connector_task t "
                        f"JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = {self.ft} "
                        "ORDER BY 1, 2, 3", db())

    def test_task_recorded_classified_and_cleared(self):
        self.assertEqual(self.tasks(), [])
        self.mock.call("/_mock/connection", {
            "id": "conn_00001", "failed_at": "2026-11-02T04:16:00.000Z",
            "status": {"setup_state": "broken",
                       "tasks": [{"code": "reconnect", "message": "Reconnect", "details": "OAuth token revoked"}],
                       "warnings": [{"code": "resync_table_warning", "message": "Resync Table Warning",
                                     "details": "public.orders"}]}})
        self.collect()
        self.assertEqual(self.tasks(), [
            ("conn_00001", "task", "reconnect", "Reconnect", "OAuth token revoked"),
            ("conn_00001", "warning", "resync_table_warning", "Resync Table Warning", "public.orders")])
        # The failed run has no message (the REST API gives none) and the task as its code.
        self.assertEqual(c().rows(
            "SELECT r.error_code, coalesce(r.error_message, '(none)'), f.category, f.retryable, f.source "
            "FROM syncopt.sync_run r JOIN syncopt.connector c USING (connector_id) "
            "CROSS JOIN LATERAL syncopt.classify_failure(r.error_message, r.error_code, 'fivetran') f "
            f"WHERE c.account_id = {self.ft} AND r.status = 'failed'", db()),
            [("task:reconnect", "(none)", "credentials", "f", "vendor_code")])
        self.assertEqual(c().rows(
            "SELECT r.source, r.retryable FROM syncopt.classify_runs('2026-11-01') r "
            f"JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = {self.ft}", db()),
            [("vendor_code", "f")])
        # Fixed in Fivetran: the lists are empty again, and so is connector_task.
        self.mock.call("/_mock/connection", {"id": "conn_00001",
                                             "status": {"setup_state": "connected", "tasks": [], "warnings": []}})
        self.collect()
        self.assertEqual(self.tasks(), [])


if __name__ == "__main__":
    unittest.main()
