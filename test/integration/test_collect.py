"""Collection end to end: the real collector worker against the mock vendor API.

The mock (test/mock_vendor/server.py) serves a fleet of both vendors with
small pages, so every listing crosses several pages, and injects faults on
request.  Each test asks the worker for a poll (syncopt.request_poll), waits
(bounded) until the poll is recorded, and checks what was stored.
"""

import unittest

import integration
from harness.steps import reset_settings, set_settings
from integration.mock_client import Mock


FT_KEY, FT_SECRET = "ft_key", "ft_secret_s3cr3t"
AB_ID, AB_SECRET = "ab_client", "ab_secret_s3cr3t"
FLEET = {"fivetran_groups": 3, "fivetran_connections": 12, "airbyte_connections": 10,
         "jobs_per_connection": 6}
# Short limits so that faults resolve quickly; the worker reloads them.
SETTINGS = [("syncopt.http_timeout", "'2s'"), ("syncopt.http_max_retry_wait", "'5s'"),
            ("syncopt.http_max_response_size", "'256kB'"), ("syncopt.http_max_retries", "2")]


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class CollectTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.mock = Mock()
        cls.mock.call("/_mock/fleet", dict(FLEET, page_cap=2))
        set_settings(c(), db(), SETTINGS)
        cls.ft = c().value(
            f"INSERT INTO syncopt.account (vendor, name, base_url, poll_interval) VALUES "
            f"('fivetran', 'mock fivetran', '{cls.mock.base}/fivetran', '1 day') RETURNING account_id", db())
        cls.ab = c().value(
            f"INSERT INTO syncopt.account (vendor, name, base_url, poll_interval) VALUES "
            f"('airbyte', 'mock airbyte', '{cls.mock.base}/airbyte/v1', '1 day') RETURNING account_id", db())
        c().psql(f"SELECT syncopt.set_credentials({cls.ft}, '{FT_KEY}', '{FT_SECRET}'); "
                 f"SELECT syncopt.set_credentials({cls.ab}, '{AB_ID}', '{AB_SECRET}')", db())

    @classmethod
    def tearDownClass(cls):
        c().psql("UPDATE syncopt.account SET enabled = false", db())
        reset_settings(c(), db(), [name for name, _ in SETTINGS])
        cls.mock.stop()

    def setUp(self):
        self.mock.call("/_mock/reset", {})
        self.mock.call("/_mock/settings", {"rate_limit_remaining": 20000})

    # -- helpers ---------------------------------------------------------
    def poll(self, account):
        """Ask the worker to poll the account now; wait until it recorded the poll.

        The mock's request log is cleared first (faults stay), after any poll
        already running for the account has ended, so that the log holds the
        requested poll's requests only.
        """
        self.assertTrue(c().wait_for(
            f"SELECT coalesce((SELECT last_started_at IS NULL OR last_finished_at >= last_started_at "
            f"FROM syncopt.collector_state WHERE account_id = {account}), true)", db(), timeout=90))
        self.mock.call("/_mock/clear_requests", {})
        asked = c().value("SELECT clock_timestamp()", db())
        c().psql(f"SELECT syncopt.request_poll({account})", db())
        ok = c().wait_for(f"SELECT coalesce((SELECT last_started_at >= '{asked}' AND last_finished_at >= last_started_at "
                          f"FROM syncopt.collector_state WHERE account_id = {account}), false)", db(), timeout=90)
        self.assertTrue(ok, "the collector did not finish a poll: " + c().log_tail(20))
        return dict(zip(["outcome", "error", "requests"], c().rows(
            f"SELECT last_outcome, last_error, last_requests FROM syncopt.collector_state "
            f"WHERE account_id = {account}", db())[0]))

    def count(self, sql):
        return int(c().value(sql, db()))

    def runs(self, account):
        return self.count(f"SELECT count(*) FROM syncopt.sync_run JOIN syncopt.connector USING (connector_id) "
                          f"WHERE account_id = {account}")

    def collector_pid(self):
        return c().value("SELECT pid FROM syncopt.worker_status() WHERE worker = 'collector'", db())

    # -- tests -----------------------------------------------------------
    def test_01_fleet_of_both_vendors_is_collected_across_pages(self):
        ft = self.poll(self.ft)
        self.assertEqual(ft["outcome"], "ok", ft)
        reqs = self.mock.requests()
        paths = [r["path"] for r in reqs]
        # 3 groups on pages of 2, 4 connections per group on pages of 2.
        self.assertEqual(sum(p.startswith("/fivetran/v1/groups?") for p in paths), 2)
        self.assertTrue(any("/connections?limit=1000&cursor=" in p for p in paths))
        # (the worker may poll the Airbyte account in the same pass)
        self.assertTrue(all(r["accept"] == "application/json;version=2" and r["auth_scheme"] == "Basic"
                            for r in reqs if r["path"].startswith("/fivetran/")))
        ab = self.poll(self.ab)
        self.assertEqual(ab["outcome"], "ok", ab)
        reqs = self.mock.requests()
        paths = [r["path"] for r in reqs]
        # Airbyte: 10 connections in pages of 2, then the empty page at offset 10.
        self.assertIn("/airbyte/v1/connections?limit=100&offset=10", paths)
        self.assertEqual(sum(p.startswith("/airbyte/v1/connections?") for p in paths), 6)
        self.assertTrue(all(r["auth_scheme"] == "Bearer" for r in reqs
                            if r["path"].startswith("/airbyte/") and "token" not in r["path"]))

        self.assertEqual(self.count(f"SELECT count(*) FROM syncopt.connector WHERE account_id = {self.ft}"), 12)
        self.assertEqual(self.count(f"SELECT count(*) FROM syncopt.connector WHERE account_id = {self.ab}"), 10)
        # Every Airbyte job is a run; each Fivetran connection has one succeeded_at.
        self.assertEqual(self.runs(self.ab), 10 * 6)
        self.assertEqual(self.runs(self.ft), 12)
        self.assertEqual(self.count(f"SELECT count(*) FROM syncopt.schema_snapshot JOIN syncopt.connector "
                                    f"USING (connector_id) WHERE account_id = {self.ft}"), 12)
        stats = c().rows(f"SELECT s.runs, s.successes + s.failures FROM syncopt.connector_stats s "
                         f"JOIN syncopt.connector USING (connector_id) WHERE account_id = {self.ab}", db())
        self.assertEqual(len(stats), 10)
        self.assertTrue(all(r == ("6", "6") for r in stats), stats)
        self.assertEqual(self.count("SELECT count(*) FROM syncopt.stats_backlog"), 0)

    def test_02_second_poll_adds_only_new_runs(self):
        self.poll(self.ft)
        self.poll(self.ab)
        before_ft, before_ab = self.runs(self.ft), self.runs(self.ab)
        again = self.poll(self.ab)
        self.assertEqual(again["outcome"], "ok")
        self.assertEqual(self.runs(self.ab), before_ab, "re-polling without news changed nothing")
        self.mock.call("/_mock/advance", {})
        self.poll(self.ab)
        self.assertEqual(self.runs(self.ab), before_ab + 10)
        # The jobs listing asked only for jobs updated since the last poll.
        self.assertTrue(any("updatedAtStart=" in r["path"] for r in self.mock.requests()
                            if r["path"].startswith("/airbyte/v1/jobs")))
        self.poll(self.ft)
        self.assertEqual(self.runs(self.ft), before_ft + 12)
        # No connection's details are fetched (each listing item is the whole
        # connection object); the schemas of the 12 that succeeded since are.
        paths = [r["path"] for r in self.mock.requests()]
        self.assertEqual([p for p in paths if p.count("/") == 4 and p.startswith("/fivetran/v1/connections/")], [])
        self.assertEqual(sum(p.startswith("/fivetran/v1/connections/") and p.endswith("/schemas") for p in paths), 12)

    def test_03_429_with_retry_after_is_waited_out(self):
        self.mock.call("/_mock/faults", {"match": "^/airbyte/v1/jobs", "kind": "status", "status": 429,
                                         "retry_after": 1, "times": 1})
        result = self.poll(self.ab)
        self.assertEqual(result["outcome"], "ok", result)
        jobs = [r for r in self.mock.requests() if r["path"].startswith("/airbyte/v1/jobs")]
        self.assertEqual(jobs[0]["path"], jobs[1]["path"], "the refused page was asked again")
        self.assertGreaterEqual(jobs[1]["at"] - jobs[0]["at"], 0.9, "Retry-After was not honoured")

    def test_04_long_retry_after_ends_the_poll_until_then(self):
        before = self.runs(self.ab)
        self.mock.call("/_mock/faults", {"match": "^/airbyte/v1/connections", "kind": "status", "status": 429,
                                         "retry_after": 3600, "times": 1})
        result = self.poll(self.ab)
        self.assertEqual(result["outcome"], "rate_limited", result)
        self.assertIn("rate limited for 3600 s", result["error"])
        self.assertEqual(c().value(f"SELECT next_due_at > now() + interval '50 minutes' FROM "
                                   f"syncopt.collector_state WHERE account_id = {self.ab}", db()), "t")
        self.assertEqual(self.runs(self.ab), before)

    def test_05_5xx_and_429_without_retry_after_back_off_and_recover(self):
        self.mock.call("/_mock/faults", [
            {"match": "^/fivetran/v1/groups$", "kind": "status", "status": 503, "times": 2},
            {"match": "^/airbyte/v1/connections", "kind": "status", "status": 429, "times": 1}])
        self.assertEqual(self.poll(self.ft)["outcome"], "ok")
        groups = [r for r in self.mock.requests() if r["path"].startswith("/fivetran/v1/groups?limit=1000")
                  and "cursor" not in r["path"]]
        self.assertEqual(len(groups), 3, "two 503s, then the answer")
        self.assertEqual(self.poll(self.ab)["outcome"], "ok")
        first_pages = [r for r in self.mock.requests() if r["path"] == "/airbyte/v1/connections?limit=100&offset=0"]
        self.assertEqual(len(first_pages), 2, "one 429, then the answer")

    def test_06_persistent_5xx_is_recorded_and_nothing_partial_is_kept(self):
        before = self.runs(self.ab)
        pid = self.collector_pid()
        self.mock.call("/_mock/faults", {"match": "^/airbyte/v1/jobs", "kind": "status", "status": 500,
                                         "times": 3})
        result = self.poll(self.ab)
        self.assertEqual(result["outcome"], "partial", result)
        self.assertIn("HTTP 500", result["error"])
        self.assertEqual(self.runs(self.ab), before)
        self.assertEqual(self.collector_pid(), pid, "the worker did not crash")
        # The account keeps its error; the collector's own row is cleared by
        # its next clean pass, so it is not looked at here.
        self.assertIn("HTTP 500", c().value(f"SELECT last_error FROM syncopt.collector_status "
                                            f"WHERE account_id = {self.ab}", db()))
        self.assertEqual(self.count(f"SELECT count(*) FROM syncopt.alert WHERE kind = 'collector_error' "
                                    f"AND (details->>'account_id')::bigint = {self.ab}"), 1)

    def test_06b_a_crawl_failing_midway_still_folds_what_it_committed(self):
        # Jobs pages leave their finished runs in stats_backlog; the poll
        # folds them at its end even when the crawl broke off.
        self.mock.call("/_mock/reset", {})
        self.poll(self.ab)
        before = self.runs(self.ab)
        # The listing re-reads the jobs updated since the cursor (the overlap),
        # oldest first, then the 10 new ones, in pages of 2: let the old pages
        # and one new page through, then fail for good.
        overlap = self.count(f"SELECT count(*) FROM syncopt.sync_run JOIN syncopt.connector USING (connector_id) "
                             f"WHERE account_id = {self.ab} AND finished_at >= (SELECT date_trunc('second', "
                             f"jobs_cursor) FROM syncopt.collector_state WHERE account_id = {self.ab})")
        self.mock.call("/_mock/advance", {})
        self.mock.call("/_mock/faults", {"match": "^/airbyte/v1/jobs$", "kind": "status", "status": 500,
                                         "after": (overlap + 1) // 2 + 1, "times": 3})
        result = self.poll(self.ab)
        self.assertEqual(result["outcome"], "partial", result)
        self.assertTrue(before < self.runs(self.ab) < before + 10, (before, self.runs(self.ab)))
        self.assert_stats_folded()
        self.mock.call("/_mock/reset", {})
        self.assertEqual(self.poll(self.ab)["outcome"], "ok")
        self.assertEqual(self.runs(self.ab), before + 10)
        self.assert_stats_folded()

    def test_06c_a_backlog_left_behind_is_folded_by_the_next_poll(self):
        # As if a poll had stopped between committing a jobs page and folding it.
        conn = c().value(f"SELECT min(external_id) FROM syncopt.connector WHERE account_id = {self.ab}", db())
        page = ('{"data": [{"jobId": 990001, "status": "succeeded", "jobType": "sync", '
                '"startTime": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:10:00Z", '
                f'"connectionId": "{conn}", "rowsSynced": 5}}]}}')
        c().psql(f"SELECT syncopt.ingest_airbyte_jobs({self.ab}, '{page}', fold_stats => false)", db())
        self.assertEqual(self.count("SELECT count(*) FROM syncopt.stats_backlog"), 1)
        self.mock.call("/_mock/reset", {})
        self.assertEqual(self.poll(self.ab)["outcome"], "ok")
        self.assert_stats_folded()

    def assert_stats_folded(self):
        """Nothing waits in stats_backlog; connector_stats counts each finished run once."""
        self.assertEqual(self.count("SELECT count(*) FROM syncopt.stats_backlog"), 0)
        self.assertEqual(
            self.count(f"SELECT coalesce(sum(s.runs), 0) FROM syncopt.connector_stats s "
                       f"JOIN syncopt.connector USING (connector_id) WHERE account_id = {self.ab}"),
            self.count(f"SELECT count(*) FROM syncopt.sync_run JOIN syncopt.connector USING (connector_id) "
                       f"WHERE account_id = {self.ab} AND status <> 'running'"))

    def test_07_timeouts_truncated_malformed_and_oversized_bodies(self):
        before_ft, before_ab = self.runs(self.ft), self.runs(self.ab)
        cases = [
            ({"match": "^/airbyte/v1/jobs", "kind": "slow", "delay": 4, "times": 3}, self.ab, "Timeout"),
            ({"match": "^/airbyte/v1/jobs", "kind": "truncated"}, self.ab, "invalid input syntax for type json"),
            ({"match": "^/fivetran/v1/groups/", "kind": "malformed"}, self.ft, "invalid input syntax for type json"),
            ({"match": "^/fivetran/v1/groups$", "kind": "oversized", "size": 1024 * 1024}, self.ft,
             "larger than syncopt.http_max_response_size"),
        ]
        for fault, account, expected in cases:
            with self.subTest(fault=fault["kind"]):
                self.mock.call("/_mock/reset", {})
                self.mock.call("/_mock/faults", fault)
                result = self.poll(account)
                self.assertIn(result["outcome"], ("partial", "error"), result)
                self.assertIn(expected, result["error"])
        self.assertEqual((self.runs(self.ft), self.runs(self.ab)), (before_ft, before_ab))
        # And the next clean poll is fine again.
        self.mock.call("/_mock/reset", {})
        self.assertEqual(self.poll(self.ft)["outcome"], "ok")

    def test_08_wrong_credentials_fail_one_account_not_the_others(self):
        bad = c().value(f"INSERT INTO syncopt.account (vendor, name, base_url, poll_interval) VALUES "
                        f"('fivetran', 'wrong key', '{self.mock.base}/fivetran', '1 day') RETURNING account_id", db())
        c().psql(f"SELECT syncopt.set_credentials({bad}, 'ft_key', 'not-the-secret')", db())
        try:
            c().psql(f"SELECT syncopt.request_poll({self.ft}); SELECT syncopt.request_poll({self.ab})", db())
            result = self.poll(bad)
            self.assertEqual(result["outcome"], "error", result)
            self.assertIn("HTTP 401", result["error"])
            self.assertIn("set_credentials", result["error"])
            self.assertTrue(c().wait_for(
                f"SELECT bool_and(last_outcome = 'ok' AND next_due_at > now()) FROM syncopt.collector_state "
                f"WHERE account_id IN ({self.ft}, {self.ab})", db(), timeout=90))
        finally:
            c().psql(f"DELETE FROM syncopt.account WHERE account_id = {bad}", db())

    def test_09_expired_airbyte_token_is_renewed(self):
        # Each poll runs in a poller process of its own and starts with a new
        # token; one the vendor stops accepting mid-poll is renewed once.
        self.mock.call("/_mock/faults", {"match": "^/airbyte/v1/connections$", "kind": "unauthorized", "times": 1})
        result = self.poll(self.ab)
        self.assertEqual(result["outcome"], "ok", result)
        paths = [r["path"] for r in self.mock.requests()]
        self.assertEqual(paths.count("/airbyte/v1/applications/token"), 2)
        self.assertEqual(paths[0], "/airbyte/v1/applications/token")
        self.assertEqual(paths[2], "/airbyte/v1/applications/token")
        self.assertEqual(paths[1], paths[3], "the refused request was sent again with the new token")

    def test_10_low_rate_limit_budget_waits(self):
        self.mock.call("/_mock/settings", {"rate_limit_remaining": 50})
        result = self.poll(self.ft)
        self.assertEqual(result["outcome"], "budget_wait", result)
        self.assertEqual(result["requests"], "1", "the poll stopped after the first answer")
        self.assertEqual(c().value(f"SELECT rate_limit_remaining < 100 AND next_due_at > now() + interval '10 minutes' "
                                   f"FROM syncopt.collector_state WHERE account_id = {self.ft}", db()), "t")

    def test_10b_schema_reads_take_at_most_half_the_budget_left(self):
        # Every connection succeeds anew, so each of the 12 schemas is due.
        self.mock.call("/_mock/advance", {})
        # 120 requests left: the listing takes 8 (2 pages of groups, 2 of
        # connections for each of 3 groups), leaving 112; half of what
        # exceeds the reserve (100) is 6 schema reads, then 106 are left.
        self.mock.call("/_mock/settings", {"rate_limit_remaining": 120})
        result = self.poll(self.ft)
        self.assertEqual(result["outcome"], "ok", result)
        paths = [r["path"] for r in self.mock.requests() if r["path"].startswith("/fivetran/")]
        self.assertEqual(len(paths), 8 + 6, paths)
        first = {p for p in paths if p.endswith("/schemas")}
        self.assertEqual(len(first), 6)
        self.assertEqual(self.mock.call("/_mock/rate")["refused"], 0)
        # The next poll reads the other 6 (the longest unread first).
        self.mock.call("/_mock/settings", {"rate_limit_remaining": 20000})
        self.poll(self.ft)
        second = {r["path"] for r in self.mock.requests() if r["path"].endswith("/schemas")}
        self.assertEqual(len(second), 6)
        self.assertEqual(first & second, set())

    def test_11_collect_from_sql_reports_each_endpoint(self):
        rows = c().rows(f"SELECT endpoint, error IS NULL FROM syncopt.collect({self.ab})", db())
        self.assertEqual(rows, [("token", "t"), ("connections", "t"), ("jobs", "t")])
        err = c().error_of("SELECT * FROM syncopt.collect(999999)", db())
        self.assertIn("account 999999 does not exist", err)

    def test_12_secrets_never_leak(self):
        # A failing poll, so that errors are written everywhere they can be.
        self.mock.call("/_mock/faults", {"match": "^/fivetran/", "kind": "unauthorized", "times": 1})
        self.poll(self.ft)
        places = {
            "server log": open(c().log, errors="replace").read(),
            "pg_stat_activity": "\n".join("|".join(r) for r in c().rows(
                "SELECT coalesce(query, '') FROM pg_stat_activity", db())),
            "collector_state": "\n".join("|".join(r) for r in c().rows(
                "SELECT coalesce(last_error, '') FROM syncopt.collector_state", db())),
            "alerts": "\n".join("|".join(r) for r in c().rows("SELECT message FROM syncopt.alert", db())),
            "worker_status": "\n".join("|".join(r) for r in c().rows(
                "SELECT coalesce(last_error, '') FROM syncopt.worker_status()", db())),
        }
        for where, text in places.items():
            for secret in (FT_SECRET, AB_SECRET):
                self.assertNotIn(secret, text, f"{secret} appears in {where}")


if __name__ == "__main__":
    unittest.main()
