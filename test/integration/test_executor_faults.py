"""The executor under a misbehaving vendor (issue 28, items 4-7 and 9-11).

The real executor worker against the mock vendor API's fault injection:
NUL bytes in 2xx bodies, statuses outside 100-599, hung answers, answers
over the size cap, connections closed after the request was read, Retry-After
values far in the future, a cancel and a killed postmaster during a call.
Each test compares the decision rows with what the mock received.  A second
mock plays "another vendor account" where one account must not hold up
another.  No assertion is on elapsed time: where order matters, the test
checks what state one row was in when another finished.
"""

import json
import os
import signal
import subprocess
import unittest

import integration
from harness.steps import DecisionSteps, create_polled_accounts, reset_settings, set_settings, wait_until
from integration.mock_client import Mock

FT_KEY, FT_SECRET = "ft_key", "ft_secret_s3cr3t"
SETTINGS = [("syncopt.http_timeout", "'30s'"), ("syncopt.http_max_retry_wait", "'5s'"),
            ("syncopt.http_max_retries", "1"), ("syncopt.executor_max_attempts", "3"),
            ("syncopt.executor_poll_interval", "'2s'")]
# The cap of a Retry-After wait (HTTP_RETRY_AFTER_MAX_S in src/http.h, docs/operations.md).
RETRY_AFTER_CAP_S = 3600


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class ExecutorFaultTests(DecisionSteps, unittest.TestCase):
    proposal_reason = "fault test"

    @classmethod
    def setUpClass(cls):
        cls.pg, cls.dbname = c(), db()
        cls.mock = Mock("--page-cap", "100")
        cls.other = Mock("--page-cap", "100")
        for m in (cls.mock, cls.other):
            m.call("/_mock/fleet", {"fivetran_groups": 1, "fivetran_connections": 30,
                                    "airbyte_connections": 0, "jobs_per_connection": 0})
        set_settings(c(), db(), SETTINGS)
        cls.ft, cls.ft2 = create_polled_accounts(c(), db(), [
            ("fivetran", "faults main", f"{cls.mock.base}/fivetran", FT_KEY, FT_SECRET),
            ("fivetran", "faults other", f"{cls.other.base}/fivetran", FT_KEY, FT_SECRET)])
        cls.free = {cls.ft: cls.externals(cls.ft), cls.ft2: cls.externals(cls.ft2)}

    @classmethod
    def externals(cls, account):
        ids = [r[0] for r in c().rows(f"SELECT external_id FROM syncopt.connector WHERE account_id = {account} "
                                      "ORDER BY external_id", db())]
        assert len(ids) == 30, ids
        return ids

    @classmethod
    def tearDownClass(cls):
        c().psql("UPDATE syncopt.fivetran_sync_ai_logs SET status = 'cancelled' WHERE status = 'approved'; "
                 "DELETE FROM syncopt.policy", db())
        reset_settings(c(), db(), [name for name, _ in SETTINGS]
                       + ["syncopt.http_max_concurrency", "syncopt.http_max_response_size"])
        cls.mock.stop()
        cls.other.stop()

    def setUp(self):
        self.mock.call("/_mock/reset", {})
        self.other.call("/_mock/reset", {})

    # -- helpers ---------------------------------------------------------
    def connector(self, account=None):
        """A connector no other test uses: (connector_id, external_id)."""
        account = account or self.ft
        ext = self.free[account].pop(0)
        return int(c().value(f"SELECT connector_id FROM syncopt.connector WHERE external_id = '{ext}' "
                             f"AND account_id = {account}", db())), ext

    def writes(self, ext, mock=None):
        return [r for r in (mock or self.mock).requests()
                if r["method"] in ("POST", "PATCH") and f"/connections/{ext}" in r["path"]]

    def fault(self, mock=None, **fault):
        (mock or self.mock).call("/_mock/faults", fault)

    def set(self, setting, value):
        set_settings(c(), db(), [(setting, value)])
        self.executor_pass_done()

    def executor_pid(self):
        return int(c().value("SELECT pid FROM syncopt.worker_status() WHERE worker = 'executor'", db()))

    # -- item 4: nothing left executing ----------------------------------
    def test_nul_in_a_2xx_body_is_recorded(self):
        escaped_cid, escaped = self.connector()
        raw_cid, raw = self.connector()
        self.fault(match=f"/connections/{escaped}$", kind="nul")
        self.fault(match=f"/connections/{raw}$", kind="nul", raw=True)
        d1 = self.propose(escaped_cid, "pause")
        d2 = self.propose(raw_cid, "pause")
        self.approve(d1, d2)
        self.settle([d1, d2], timeout=30)
        for d in (d1, d2):
            row = self.row(d)
            self.assertEqual((row["status"], row["attempts"], row["http_status"]), ("succeeded", "1", "200"), row)
        # jsonb cannot hold \u0000: the body is kept as text, the escape visible.
        self.assertIn("\\\\u0000 with an escaped NUL", self.row(d1)["response"])
        # A NUL byte cannot be stored in text: the transport made it U+FFFD, the rest is kept.
        self.assertEqual(json.loads(self.row(d2)["response"])["message"], "accepted\ufffd with a NUL byte")

    def test_status_outside_100_599_is_no_answer(self):
        patch_cid, patch_ext = self.connector()
        post_cid, post_ext = self.connector()
        # A PATCH is safe to repeat: the transport tries again and the vendor answers.
        self.fault(match=f"/connections/{patch_ext}$", kind="status", status=999)
        # A POST is not: it may have acted, so it is not sent again.
        self.fault(match=f"/connections/{post_ext}/sync", kind="status", status=600)
        d1 = self.propose(patch_cid, "resume")
        d2 = self.propose(post_cid, "trigger_sync")
        self.approve(d1, d2)
        self.settle([d1, d2], timeout=30)
        row = self.row(d1)
        self.assertEqual((row["status"], row["http_status"]), ("succeeded", "200"), row)
        self.assertEqual(int(row["attempts"]), len(self.writes(patch_ext)))
        self.assertEqual(int(row["attempts"]), 2)
        row = self.row(d2)
        self.assertEqual((row["status"], row["http_status"], row["attempts"]), ("unknown", "", "1"), row)
        self.assertIn("invalid HTTP status 600", row["error"])
        self.assertEqual(len(self.writes(post_ext)), 1)

    def cancel_during_hung_calls(self, actions):
        """Calls that hang at the vendor; the executor is cancelled while they
        are out.  Returns [(decision_id, external_id)]."""
        made = []
        for action in actions:
            cid, ext = self.connector()
            made.append((self.propose(cid, action), ext))
        exts = "|".join(ext for _, ext in made)
        self.fault(match=f"/connections/({exts})", kind="slow", delay=25, times=len(made))
        self.approve(*[d for d, _ in made])
        self.assertTrue(wait_until(lambda: sum(len(self.writes(ext)) for _, ext in made) == len(made), 30))
        c().psql(f"SELECT pg_cancel_backend({self.executor_pid()})", db())
        return made

    def test_cancel_during_a_call_settles_the_claimed_rows(self):
        (pause, pause_ext), (trig, trig_ext) = self.cancel_during_hung_calls(["pause", "trigger_sync"])
        # Well before the 25 s hang or the 30 s timeout would end the calls.
        self.settle([trig], timeout=15)
        row = self.row(trig)
        self.assertEqual((row["status"], row["attempts"]), ("unknown", "1"), row)
        self.assertIn("canceling statement due to user request", row["error"])
        # The pause is safe to repeat: sent again, and the row says so.
        self.settle([pause], timeout=20, states=("succeeded",))
        row = self.row(pause)
        self.assertEqual(row["attempts"], "2")
        self.assertEqual(len(self.writes(pause_ext)), 2)
        self.assertIn("the executor stopped (canceling statement due to user request)", row["error"])
        self.assertEqual(len(self.writes(trig_ext)), 1)

    def test_last_error_is_cleared_by_a_later_clean_pass(self):
        # A pass that fails as a whole: the function it starts with is gone.
        c().psql("ALTER FUNCTION syncopt.expire_decisions() RENAME TO expire_decisions_away", db())
        try:
            c().psql("SELECT syncopt.wake('executor')", db())
            self.assertTrue(c().wait_for("SELECT last_error LIKE '%expire_decisions%' AND last_error_at IS NOT NULL "
                                         "FROM syncopt.worker_status() WHERE worker = 'executor'", db(), timeout=30))
        finally:
            c().psql("ALTER FUNCTION syncopt.expire_decisions_away() RENAME TO expire_decisions", db())
        self.executor_pass_done()
        self.assertEqual(c().rows("SELECT last_error, last_error_at FROM syncopt.worker_status() "
                                  "WHERE worker = 'executor'", db()), [("", "")])

    # -- items 5 and 11: big answers --------------------------------------
    def test_2xx_over_the_size_cap_succeeds_with_its_head(self):
        self.set("syncopt.http_max_response_size", "'1MB'")
        try:
            cid, ext = self.connector()
            self.fault(match=f"/connections/{ext}$", kind="huge", size=3 * 1024 * 1024)
            d = self.propose(cid, "set_schedule", '{"sync_frequency": 360}')
            self.approve(d)
            self.settle([d], timeout=30)
        finally:
            self.set("syncopt.http_max_response_size", "'64MB'")
        row = self.row(d)
        self.assertEqual((row["status"], row["attempts"], row["http_status"]), ("succeeded", "1", "200"), row)
        response = json.loads(row["response"])
        self.assertEqual((response["truncated"], response["bytes_received"]), (True, 1024 * 1024))
        self.assertTrue(response["head"].startswith('{"code": "Success", "pad": "xxx'))
        self.assertEqual(len(response["head"]), 2000)
        self.assertEqual(c().value(f"SELECT schedule_minutes FROM syncopt.connector WHERE connector_id = {cid}",
                                   db()), "360")
        self.assertEqual(c().value(f"SELECT count(*) FROM syncopt.circuit_breaker WHERE connector_id = {cid}",
                                   db()), "0")

    def test_memory_stays_bounded_under_a_batch_of_big_answers(self):
        size = 8 * 1024 * 1024
        calls = 24
        self.set("syncopt.http_max_concurrency", "2")
        try:
            ids, exts = [], []
            for _ in range(calls):
                cid, ext = self.connector(self.ft2)
                ids.append(self.propose(cid, "pause"))
                exts.append(ext)
            self.fault(mock=self.other, match="/connections/(" + "|".join(exts) + ")$", kind="huge",
                       size=size, times=calls)
            pid = self.executor_pid()
            before = self.high_water_kb(pid)
            self.approve(*ids)
            self.settle(ids, timeout=120)
            grown = self.high_water_kb(pid) - before
        finally:
            self.set("syncopt.http_max_concurrency", "8")
        # Holding every answer (the old batch) needs >= 24 x 8 MB = 192 MB;
        # two in flight, each copied once, a few times 2 x 8 MB.
        self.assertLess(grown, 6 * 2 * size // 1024, f"executor peak RSS grew by {grown} kB")
        for d in ids:
            row = self.row(d)
            self.assertEqual(row["status"], "succeeded", row)
            self.assertTrue(json.loads(row["response"])["truncated"])
            self.assertLess(len(row["response"]), 3000)

    @staticmethod
    def high_water_kb(pid):
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

    # -- item 6: one vendor must not stall another -----------------------
    def test_a_hung_vendor_does_not_hold_up_another_account(self):
        hung_cid, hung_ext = self.connector()
        cid, ext = self.connector(self.ft2)
        self.fault(match=f"/connections/{hung_ext}$", kind="slow", delay=25)
        hung = self.propose(hung_cid, "pause")
        self.approve(hung)
        self.assertTrue(wait_until(lambda: len(self.writes(hung_ext)) == 1, 30))
        d = self.propose(cid, "pause")
        self.approve(d)
        self.settle([d], timeout=60)
        # The other account's call went through while the hung one was still out.
        self.assertEqual(self.row(d)["status"], "succeeded")
        self.assertEqual(self.row(hung)["status"], "executing")
        self.settle([hung], timeout=60)

    # -- item 7: Retry-After ---------------------------------------------
    def test_retry_after_far_ahead_is_capped(self):
        waits = {}
        for value in ("99999999999999999999", "Wed, 01 Jan 2200 00:00:00 GMT"):
            cid, ext = self.connector()
            self.fault(match=f"/connections/{ext}/sync", kind="status", status=429, retry_after=value)
            d = self.propose(cid, "trigger_sync")
            self.approve(d)
            self.assertTrue(c().wait_for(f"SELECT attempts = 1 AND next_attempt_at IS NOT NULL "
                                         f"FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {d}", db(),
                                         timeout=30), self.row(d))
            waits[value] = float(c().value("SELECT extract(epoch FROM next_attempt_at - updated_at) "
                                           f"FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {d}", db()))
            self.assertIn("Retry-After", self.row(d)["error"])
        for value, seconds in waits.items():
            self.assertAlmostEqual(seconds, RETRY_AFTER_CAP_S, delta=5, msg=value)
        until = float(c().value("SELECT extract(epoch FROM retry_after_until - now()) FROM syncopt.worker_status() "
                                "WHERE worker = 'executor'", db()))
        self.assertAlmostEqual(until, RETRY_AFTER_CAP_S, delta=30)

    # -- item 9: nothing repeated blindly ----------------------------------
    def test_a_post_the_vendor_read_is_not_sent_again(self):
        cid, ext = self.connector()
        self.fault(match=f"/connections/{ext}/resync", kind="close_after_read", times=20)
        d = self.propose(cid, "resync_connector")
        self.approve(d)
        self.settle([d], timeout=60)
        row = self.row(d)
        self.assertEqual((row["status"], row["attempts"]), ("unknown", "1"), row)
        self.assertIn("not sent twice blindly", row["error"])
        self.assertEqual(len(self.writes(ext)), 1)

    def test_no_silent_resend_on_a_dead_keep_alive_connection(self):
        # One connection at a time: the trigger would ride the pause's connection.
        self.set("syncopt.http_max_concurrency", "1")
        try:
            pause_cid, pause_ext = self.connector()
            trig_cid, trig_ext = self.connector()
            self.fault(match=f"/connections/{trig_ext}/sync", kind="close_after_read")
            pause = self.propose(pause_cid, "pause")
            trig = self.propose(trig_cid, "trigger_sync")
            self.approve(pause, trig)
            self.settle([pause, trig], timeout=60)
        finally:
            self.set("syncopt.http_max_concurrency", "8")
        self.assertEqual(self.row(pause)["status"], "succeeded")
        row = self.row(trig)
        # attempts counts exactly the POSTs the vendor saw.
        self.assertEqual(int(row["attempts"]), len(self.writes(trig_ext)), row)
        self.assertEqual((row["status"], row["attempts"]), ("unknown", "1"), row)

    # -- item 11 -----------------------------------------------------------
    def test_resend_note_stays_after_the_resend_succeeds(self):
        cid, ext = self.connector()
        self.fault(match=f"/connections/{ext}$", kind="slow", delay=6)
        d = self.propose(cid, "pause")
        self.approve(d)
        self.assertTrue(wait_until(lambda: len(self.writes(ext)) == 1, 30))
        os.kill(self.executor_pid(), signal.SIGKILL)
        self.assertTrue(wait_until(lambda: c().psql("SELECT 1", db(), check=False)[0] == 0, 60))
        self.settle([d], timeout=90)
        row = self.row(d)
        self.assertEqual(row["status"], "succeeded", row)
        self.assertIn("safe to repeat, so it is sent again", row["error"])

    def test_an_approval_committed_after_expiry_does_not_execute(self):
        cid, ext = self.connector()
        c().psql(f"INSERT INTO syncopt.policy (connector_id, mode, proposal_ttl) VALUES ({cid}, 'copilot', '3 seconds')",
                 db())
        d = self.propose(cid, "pause")
        code, _, err = c().psql("BEGIN; UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' "
                                f"WHERE decision_id = {d}; SELECT pg_sleep(4); COMMIT;", db(), check=False)
        self.assertNotEqual(code, 0)
        self.assertIn(f"decision {d} expired at", err)
        self.assertIn("before its approval committed", err)
        self.executor_pass_done()
        self.assertEqual(self.row(d)["status"], "expired")
        self.assertEqual(self.writes(ext), [])

    def test_actions_of_a_disabled_account_are_not_sent(self):
        cid, ext = self.connector(self.ft2)
        d = self.propose(cid, "pause")
        c().psql(f"UPDATE syncopt.account SET enabled = false WHERE account_id = {self.ft2}", db())
        try:
            self.approve(d)
            self.settle([d], timeout=30)
        finally:
            c().psql(f"UPDATE syncopt.account SET enabled = true WHERE account_id = {self.ft2}", db())
        row = self.row(d)
        self.assertEqual((row["status"], row["attempts"]), ("failed", "0"), row)
        self.assertIn(f"account {self.ft2} is disabled", row["error"])
        self.assertEqual(self.writes(ext, self.other), [])

    def test_actions_of_a_connector_deleted_at_the_vendor_are_not_sent(self):
        # Approved after the connector was marked deleted at the vendor
        # (deleted_at, as the collector's poll sets it): the row fails with
        # nothing sent, where a call would only come back not found.
        cid, ext = self.connector()
        d = self.propose(cid, "pause")
        c().psql(f"UPDATE syncopt.connector SET deleted_at = '2026-12-01 08:00+00' WHERE connector_id = {cid}", db())
        self.approve(d)
        self.settle([d], timeout=30)
        row = self.row(d)
        self.assertEqual((row["status"], row["attempts"]), ("failed", "0"), row)
        self.assertIn(f"connector {cid} is marked deleted at the vendor (since 2026-12-01 08:00:00 UTC)",
                      row["error"])
        self.assertEqual(self.writes(ext), [])

    # -- item 10: an orphaned executor ------------------------------------
    @staticmethod
    def started():
        try:
            c().start()
        except subprocess.CalledProcessError:
            return False
        return c().psql("SELECT 1", db(), check=False)[0] == 0

    def test_executor_exits_when_the_postmaster_dies_mid_call(self):
        self.set("syncopt.http_timeout", "'300s'")
        cid, ext = self.connector()
        self.fault(match=f"/connections/{ext}$", kind="slow", delay=290)
        d = self.propose(cid, "pause")
        self.approve(d)
        self.assertTrue(wait_until(lambda: len(self.writes(ext)) == 1, 30))
        pid = self.executor_pid()
        with open(os.path.join(c().data, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        os.kill(postmaster, signal.SIGKILL)
        gone = wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
                    open(f"/proc/{pid}/stat").read().split()[2] == "Z", 30)
        if not gone:
            os.kill(pid, signal.SIGKILL)
        # Bring the cluster back for the other tests, once every orphan let go
        # of the shared memory.
        self.assertTrue(wait_until(self.started, 60), c().log_tail(30))
        self.set("syncopt.http_timeout", "'30s'")
        self.assertTrue(gone, "the executor outlived its postmaster for 30 s while waiting on the vendor")
        self.settle([d], timeout=60)
        self.assertIn(self.row(d)["status"], ("succeeded",))


if __name__ == "__main__":
    unittest.main()
