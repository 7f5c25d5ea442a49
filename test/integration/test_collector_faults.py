"""The collector under a misbehaving vendor (issue 28, items 6 to 8).

Each test reproduces one finding against the real collector and the mock
vendor (test/mock_vendor/server.py), whose /t/<tag>/ path prefix gives each
account its own copy of the API so that a fault hits one account only:

- a hung account must not delay another account's poll;
- a huge Retry-After, in seconds or as an HTTP-date in 2200, must not stop
  an account's polls for decades: it is capped and the wait is shown;
- invalid UTF-8 and NUL bytes in what a vendor sends must not be stored
  as they came, so that a dump of the database restores: that test needs a
  dump and restore of the worker's database, so it is in test_dump.py.
"""

import time
import unittest

import integration
from harness.steps import reset_settings, set_settings
from integration.mock_client import Mock

FT_KEY, FT_SECRET = "ft_key", "ft_secret_s3cr3t"
AB_ID, AB_SECRET = "ab_client", "ab_secret_s3cr3t"
FLEET = {"fivetran_groups": 2, "fivetran_connections": 4, "airbyte_connections": 3, "jobs_per_connection": 2}
# The cap on Retry-After (docs/collection.md): one hour.
RETRY_AFTER_MAX_S = 3600


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class CollectorFaultTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()
        cls.mock.call("/_mock/fleet", dict(FLEET, page_cap=2))
        # A hung request ends after 5 s, retried once: a hung poll lasts ~10 s.
        set_settings(c(), db(), [("syncopt.http_timeout", "'5s'"), ("syncopt.http_max_retries", "1")])
        cls.accounts = []

    @classmethod
    def tearDownClass(cls):
        if cls.accounts:
            c().psql(f"UPDATE syncopt.account SET enabled = false WHERE account_id IN "
                     f"({', '.join(cls.accounts)})", db())
        reset_settings(c(), db(), ["syncopt.http_timeout", "syncopt.http_max_retries"])
        cls.mock.stop()

    def setUp(self):
        self.mock.call("/_mock/reset", {})

    # -- helpers ---------------------------------------------------------
    def account(self, tag, vendor="fivetran", enabled=True):
        """An account served under /t/<tag>/ of the mock, with the mock's credentials."""
        path = "fivetran" if vendor == "fivetran" else "airbyte/v1"
        key, secret = (FT_KEY, FT_SECRET) if vendor == "fivetran" else (AB_ID, AB_SECRET)
        account = c().value(
            f"INSERT INTO syncopt.account (vendor, name, base_url, poll_interval, enabled) VALUES "
            f"('{vendor}', 'faults {tag}', '{self.mock.base}/t/{tag}/{path}', '1 day', {enabled}) "
            f"RETURNING account_id", db())
        c().psql(f"SELECT syncopt.set_credentials({account}, '{key}', '{secret}')", db())
        self.accounts.append(account)
        return account

    def status(self, account, columns):
        return dict(zip(columns, c().rows(
            f"SELECT {', '.join(columns)} FROM syncopt.collector_status WHERE account_id = {account}", db())[0]))

    def poll(self, account):
        """Ask the worker to poll the account now; wait until that poll is recorded."""
        asked = c().value("SELECT clock_timestamp()", db())
        c().psql(f"SELECT syncopt.request_poll({account})", db())
        self.assertTrue(c().wait_for(
            f"SELECT coalesce((SELECT last_started_at >= '{asked}' AND last_finished_at >= last_started_at "
            f"FROM syncopt.collector_state WHERE account_id = {account}), false)", db(), timeout=90),
            "the collector did not finish a poll: " + c().log_tail(20))

    # -- item 6: one account's hung vendor ---------------------------------
    def test_01_a_hung_account_does_not_delay_another(self):
        # The fault first: the collector may poll a new account at any time.
        self.mock.call("/_mock/faults", {"match": "^/t/hung/", "kind": "hang", "delay": 60, "times": 100})
        hung = self.account("hung")
        healthy = self.account("healthy")
        c().psql(f"SELECT syncopt.request_poll({hung})", db())
        # The hung account's poll is under way: its first request reached the vendor.
        self.assertTrue(c().wait_for(
            f"SELECT state = 'polling' FROM syncopt.collector_status WHERE account_id = {hung}", db(), timeout=60))
        for _ in range(100):
            if any(r["path"].startswith("/t/hung/") for r in self.mock.requests()):
                break
            time.sleep(0.1)
        self.assertTrue(any(r["path"].startswith("/t/hung/") for r in self.mock.requests()))
        # The poller polling it is shown, and no second poll of it can start.
        self.assertNotEqual(self.status(hung, ["poller_pid"])["poller_pid"], "")
        err = c().error_of(f"SELECT * FROM syncopt.collect({hung})", db())
        self.assertIn(f"account {hung} is being polled now", err)

        self.poll(healthy)
        healthy_done = self.status(healthy, ["last_outcome", "last_finished_at"])
        self.assertEqual(healthy_done["last_outcome"], "ok")
        # The hung poll ends by its timeouts only after the healthy one finished.
        self.assertTrue(c().wait_for(
            f"SELECT coalesce(last_finished_at >= last_started_at, false) FROM syncopt.collector_state "
            f"WHERE account_id = {hung}", db(), timeout=90))
        hung_done = self.status(hung, ["last_outcome", "last_error", "last_finished_at"])
        self.assertEqual(hung_done["last_outcome"], "error", hung_done)
        self.assertIn("Timeout", hung_done["last_error"])
        self.assertEqual(c().value(f"SELECT '{healthy_done['last_finished_at']}'::timestamptz < "
                                   f"'{hung_done['last_finished_at']}'::timestamptz", db()), "t",
                         (healthy_done, hung_done))

    # -- item 7: Retry-After without bounds --------------------------------
    def assert_capped_wait(self, retry_after):
        tag = f"ra{len(self.accounts)}"
        # Every poll of the account is refused, also one the collector starts
        # by itself before the poll asked for here.
        self.mock.call("/_mock/faults", {"match": f"^/t/{tag}/fivetran/v1/groups$", "kind": "status",
                                         "status": 429, "retry_after": retry_after, "times": 100})
        account = self.account(tag)
        self.poll(account)
        st = self.status(account, ["last_outcome", "last_error", "next_due_reason"])
        wait = c().value(f"SELECT extract(epoch FROM next_due_at - last_finished_at) FROM syncopt.collector_state "
                         f"WHERE account_id = {account}", db())
        self.assertEqual(st["last_outcome"], "rate_limited", st)
        # The wait starts when the 429 arrives, a moment before the poll is recorded.
        self.assertTrue(RETRY_AFTER_MAX_S - 60 <= float(wait) <= RETRY_AFTER_MAX_S, wait)
        self.assertIn(f"rate limited for {RETRY_AFTER_MAX_S} s (Retry-After, capped at the maximum)", st["last_error"])
        self.assertIn("Retry-After", st["next_due_reason"])

    def test_02_a_huge_retry_after_is_capped_and_shown(self):
        self.assert_capped_wait("99999999999")

    def test_03_a_retry_after_date_in_2200_is_capped_and_shown(self):
        self.assert_capped_wait("Sat, 01 Jan 2200 00:00:00 GMT")


if __name__ == "__main__":
    unittest.main()
