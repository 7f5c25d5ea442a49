"""Fivetran's per-table columns endpoint, end to end: the real collector
worker against the mock vendor API.

The schema config lists only columns whose settings changed (the mock's
tables list "id"; every mock table also has "name" and "updated_at").  A
contracted column the config does not list is unknown until the collector
reads the table's full list, after which a column the list lacks is
reported removed and one it has is not.
"""

import unittest

import integration
from integration.mock_client import Mock


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class ColumnsTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()
        cls.mock.call("/_mock/fleet", {"fivetran_groups": 1, "fivetran_connections": 2, "airbyte_connections": 0,
                                       "page_cap": 10})
        cls.ft = c().value(
            f"INSERT INTO syncopt.account (vendor, name, base_url, poll_interval) VALUES "
            f"('fivetran', 'columns fivetran', '{cls.mock.base}/fivetran', '1 day') RETURNING account_id", db())
        c().psql(f"SELECT syncopt.set_credentials({cls.ft}, 'ft_key', 'ft_secret_s3cr3t')", db())

    @classmethod
    def tearDownClass(cls):
        c().psql(f"DELETE FROM syncopt.account WHERE account_id = {cls.ft}", db())
        cls.mock.stop()

    def poll(self):
        """Ask the worker to poll the account now; wait (bounded) until the poll is recorded."""
        self.assertTrue(c().wait_for(
            f"SELECT coalesce((SELECT last_started_at IS NULL OR last_finished_at >= last_started_at "
            f"FROM syncopt.collector_state WHERE account_id = {self.ft}), true)", db(), timeout=90))
        self.mock.call("/_mock/clear_requests", {})
        asked = c().value("SELECT clock_timestamp()", db())
        c().psql(f"SELECT syncopt.request_poll({self.ft})", db())
        self.assertTrue(c().wait_for(
            f"SELECT coalesce((SELECT last_started_at >= '{asked}' AND last_finished_at >= last_started_at "
            f"FROM syncopt.collector_state WHERE account_id = {self.ft}), false)", db(), timeout=90),
            "the collector did not finish a poll: " + c().log_tail(20))
        return c().rows(f"SELECT last_outcome, coalesce(last_error, '') FROM syncopt.collector_state "
                        f"WHERE account_id = {self.ft}", db())[0]

    def drift(self):
        return sorted(c().rows(
            f"SELECT d.table_name, d.column_name, d.change, d.breaking FROM syncopt.schema_drift() d "
            f"JOIN syncopt.connector c USING (connector_id) WHERE c.account_id = {self.ft}", db()))

    def columns_requests(self):
        return [r["path"] for r in self.mock.requests() if r["path"].endswith("/columns")]

    def test_unlisted_column_is_unknown_until_the_full_list_is_read(self):
        self.assertEqual(self.poll(), ("ok", ""))
        # Nothing contracted yet: no column list is asked for.
        self.assertEqual(self.columns_requests(), [])
        conn, schema = c().rows(f"SELECT external_id, name FROM syncopt.connector WHERE account_id = {self.ft} "
                                f"ORDER BY external_id LIMIT 1", db())[0]
        c().psql(f"INSERT INTO syncopt.data_contract (connector_id, schema_name, table_name, column_name) "
                 f"SELECT connector_id, '{schema}', 'table_0', col FROM syncopt.connector, "
                 f"unnest(ARRAY['id', 'name', 'ghost']) col WHERE account_id = {self.ft} AND external_id = '{conn}'",
                 db())
        # name and ghost are not in the schema config: unknown, not removed.
        self.assertEqual(self.drift(), [])

        self.assertEqual(self.poll(), ("ok", ""))
        self.assertEqual(self.columns_requests(),
                         [f"/fivetran/v1/connections/{conn}/schemas/public/tables/table_0/columns"])
        self.assertEqual(c().value(
            f"SELECT sc.columns FROM syncopt.source_columns sc JOIN syncopt.connector c USING (connector_id) "
            f"WHERE c.external_id = '{conn}' AND sc.schema_name = '{schema}' AND sc.table_name = 'table_0'", db()),
            '{"id": true, "name": true, "updated_at": true}')
        # ghost is gone (required: breaking); updated_at is delivered but not contracted.
        self.assertEqual(self.drift(), [("table_0", "ghost", "column_removed", "t"),
                                        ("table_0", "updated_at", "column_added", "f")])

        # Read once per schema read: the next poll does not ask again.
        self.assertEqual(self.poll(), ("ok", ""))
        self.assertEqual(self.columns_requests(), [])
