"""Decide and act end to end: the real executor worker, real pg_cron, and the
mock vendor API recording every request it receives.

Each test builds its own decisions on connectors the collector read from the
mock, approves them the way a person would (UPDATE ... SET status =
'approved'), waits (bounded) for the row to settle, and compares the row with
what the mock received.
"""

import json
import os
import signal
import subprocess
import time
import unittest

import integration
from harness.steps import DecisionSteps, create_polled_accounts, reset_settings, set_settings, wait_until
from integration.mock_client import Mock

FT_KEY, FT_SECRET = "ft_key", "ft_secret_s3cr3t"
AB_ID, AB_SECRET = "ab_client", "ab_secret_s3cr3t"
SETTINGS = [("syncopt.http_timeout", "'10s'"), ("syncopt.http_max_retry_wait", "'5s'"),
            ("syncopt.http_max_retries", "1"), ("syncopt.executor_max_attempts", "3"),
            ("syncopt.executor_poll_interval", "'2s'")]


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class ExecuteTests(DecisionSteps, unittest.TestCase):
    proposal_reason = "integration test"

    @classmethod
    def setUpClass(cls):
        cls.pg, cls.dbname = c(), db()
        cls.mock = Mock("--page-cap", "100")
        cls.mock.call("/_mock/fleet", {"fivetran_groups": 1, "fivetran_connections": 24,
                                       "airbyte_connections": 6, "jobs_per_connection": 1})
        set_settings(c(), db(), SETTINGS)
        if integration.PG_CRON:
            c().psql("CREATE EXTENSION IF NOT EXISTS pg_cron", db())
        cls.ft, cls.ab = create_polled_accounts(c(), db(), [
            ("fivetran", "exec fivetran", f"{cls.mock.base}/fivetran", FT_KEY, FT_SECRET),
            ("airbyte", "exec airbyte", f"{cls.mock.base}/airbyte/v1", AB_ID, AB_SECRET)])
        # The accounts stay enabled (a disabled account's actions are not sent);
        # their poll_interval of a day keeps the collector away after this poll.
        cls.free = [r[0] for r in c().rows(
            f"SELECT external_id FROM syncopt.connector WHERE account_id = {cls.ft} ORDER BY external_id", db())]
        cls.free_ab = [r[0] for r in c().rows(
            f"SELECT external_id FROM syncopt.connector WHERE account_id = {cls.ab} ORDER BY external_id", db())]
        assert len(cls.free) == 24 and len(cls.free_ab) == 6, (cls.free, cls.free_ab)

    @classmethod
    def tearDownClass(cls):
        c().psql("UPDATE syncopt.fivetran_sync_ai_logs SET status = 'cancelled' WHERE status = 'approved'; "
                 "DELETE FROM syncopt.policy; DELETE FROM syncopt.asset; DELETE FROM syncopt.notification_channel", db())
        if integration.PG_CRON:
            c().psql("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'syncopt-planner'", db())
        reset_settings(c(), db(), [name for name, _ in SETTINGS] + ["syncopt.max_auto_actions_per_hour"])
        cls.mock.stop()

    def setUp(self):
        self.mock.call("/_mock/reset", {})

    # -- helpers ---------------------------------------------------------
    def connector(self, vendor="fivetran"):
        """A connector no other test uses: (connector_id, external_id)."""
        ext = (self.free if vendor == "fivetran" else self.free_ab).pop(0)
        account = self.ft if vendor == "fivetran" else self.ab
        return int(c().value(f"SELECT connector_id FROM syncopt.connector WHERE external_id = '{ext}' "
                             f"AND account_id = {account}", db())), ext

    def writes(self, path_part=""):
        return [r for r in self.mock.requests()
                if r["method"] in ("POST", "PATCH") and path_part in r["path"] and "/applications/token" not in r["path"]]

    def deadline_soon(self, cid, name):
        """An asset due 35 minutes from now fed by the connector, whose vendor
        schedule is manual: with no history (P90 = 30 min) its latest start is
        in 5 minutes and the vendor would never start it, so the planner
        proposes trigger_sync now."""
        c().psql(f"UPDATE syncopt.connector SET schedule_type = 'manual' WHERE connector_id = {cid}; "
                 "INSERT INTO syncopt.asset (name, kind, deadline) VALUES "
                 f"('{name}', 'dashboard', ((now() + interval '35 minutes') AT TIME ZONE 'UTC')::time(0)); "
                 f"INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) "
                 f"SELECT {cid}, asset_id FROM syncopt.asset WHERE name = '{name}'", db())

    # -- tests -----------------------------------------------------------
    def test_approval_sends_the_openapi_request_once(self):
        ft, ft_ext = self.connector()
        ab, ab_ext = self.connector("airbyte")
        pause = self.propose(ft, "pause")
        sched = self.propose(ft, "set_schedule", '{"sync_frequency": 1440, "daily_sync_time": "07:00"}')
        job = self.propose(ab, "trigger_sync")
        self.approve(pause, sched, job)
        self.settle([pause, sched, job])
        for d in (pause, sched, job):
            self.assertEqual(self.row(d)["status"], "succeeded", self.row(d))
        patches = self.writes(f"/fivetran/v1/connections/{ft_ext}")
        self.assertEqual(sorted(json.dumps(json.loads(r["body"]), sort_keys=True) for r in patches),
                         ['{"daily_sync_time": "07:00", "sync_frequency": 1440}', '{"paused": true}'])
        for r in patches:
            self.assertEqual((r["method"], r["accept"], r["auth_scheme"], r["content_type"]),
                             ("PATCH", "application/json;version=2", "Basic", "application/json"))
        jobs = self.writes("/airbyte/v1/jobs")
        self.assertEqual(len(jobs), 1)
        self.assertEqual(json.loads(jobs[0]["body"]), {"connectionId": ab_ext, "jobType": "sync"})
        self.assertEqual(jobs[0]["auth_scheme"], "Bearer")
        # The connector reflects the change at once, before the next poll.
        self.assertEqual(c().value(f"SELECT paused FROM syncopt.connector WHERE connector_id = {ft}", db()), "t")
        # Every step is audited: proposed -> approved -> executing -> succeeded.
        self.assertEqual(c().value("SELECT string_agg(coalesce(old_status, '-') || '>' || new_status, ' ' ORDER BY event_id) "
                                   f"FROM syncopt.decision_event WHERE decision_id = {pause}", db()),
                         "->proposed proposed>approved approved>executing executing>succeeded")

    def test_rolled_back_approval_and_shadow_rows_send_nothing(self):
        ft, ft_ext = self.connector()
        d = self.propose(ft, "pause")
        c().psql(f"BEGIN; UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = {d}; ROLLBACK",
                 db())
        shadow = c().value("INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, params, reason, mode, status) "
                           f"VALUES ({ft}, 'trigger_sync', '{{}}', 'shadow test', 'shadow', 'shadow') "
                           "RETURNING decision_id", db())
        self.executor_pass_done()
        self.assertEqual(self.row(d)["status"], "proposed")
        self.assertEqual(self.row(shadow)["status"], "shadow")
        self.assertEqual(self.writes(ft_ext), [])

    def test_429_retry_after_is_waited_out(self):
        ft, ft_ext = self.connector()
        path = f"/fivetran/v1/connections/{ft_ext}/sync"
        self.mock.call("/_mock/faults", {"match": path, "kind": "status", "status": 429, "retry_after": 2})
        d = self.propose(ft, "trigger_sync")
        self.approve(d)
        self.settle([d])
        row = self.row(d)
        self.assertEqual((row["status"], row["attempts"], row["http_status"]), ("succeeded", "2", "200"))
        calls = self.writes(path)
        self.assertEqual(len(calls), 2)
        # The second call came no sooner than Retry-After asked (a lower bound).
        self.assertGreaterEqual(calls[1]["at"] - calls[0]["at"], 2.0)

    def test_5xx_storm_fails_after_the_bound_with_the_error_kept(self):
        ft, ft_ext = self.connector()
        path = f"/fivetran/v1/connections/{ft_ext}"
        self.mock.call("/_mock/faults", {"match": path + "$", "kind": "status", "status": 503, "times": 50})
        d = self.propose(ft, "resume")
        self.approve(d)
        self.settle([d], timeout=90)
        row = self.row(d)
        self.assertEqual(row["status"], "failed", row)
        self.assertIn("HTTP 503", row["error"])
        self.assertIn("gave up after", row["error"])
        # Every call the mock saw is counted on the row, and no more than the bound
        # (executor_max_attempts 3, plus the transport retry of the last claim).
        self.assertEqual(len(self.writes(path)), int(row["attempts"]))
        self.assertLessEqual(int(row["attempts"]), 4)

    def test_auto_mode_stops_at_the_hourly_cap_and_an_open_breaker(self):
        a, _ = self.connector()
        b, _ = self.connector()
        self.deadline_soon(a, "cap_a")
        self.deadline_soon(b, "cap_b")
        c().psql(f"INSERT INTO syncopt.policy (connector_id, mode) VALUES ({a}, 'auto'), ({b}, 'auto')", db())
        c().psql("ALTER SYSTEM SET syncopt.max_auto_actions_per_hour = 1", db())
        c().reload()
        time.sleep(0.5)
        rows = c().rows("SELECT connector_id, status, approved_by, coalesce(guardrail, '') "
                        f"FROM syncopt.run_planner() WHERE connector_id IN ({a}, {b}) AND action = 'trigger_sync' "
                        "ORDER BY decision_id", db())
        self.assertEqual(len(rows), 2, rows)
        approved = [r for r in rows if r[1] == "approved"]
        refused = [r for r in rows if r[1] == "proposed"]
        self.assertEqual(len(approved), 1, rows)
        self.assertEqual(approved[0][2], "syncopt:auto")
        self.assertEqual(len(refused), 1, rows)
        self.assertIn("global hourly cap reached", refused[0][3])
        # The run counts every refusal, and each refused row says why.
        self.assertEqual(c().value("SELECT r.refused = (SELECT count(*) FROM syncopt.fivetran_sync_ai_logs l "
                                   "WHERE l.planner_run_id = r.planner_run_id AND l.guardrail IS NOT NULL) "
                                   "AND r.refused >= 1 FROM syncopt.planner_run r "
                                   "ORDER BY r.planner_run_id DESC LIMIT 1", db()), "t")
        # (expired, not rejected: a rejection would keep the same proposal away for its TTL)
        c().psql("ALTER SYSTEM RESET syncopt.max_auto_actions_per_hour; UPDATE syncopt.fivetran_sync_ai_logs "
                 f"SET status = 'expired' WHERE connector_id IN ({a}, {b}) AND status = 'proposed'", db())
        c().reload()

        # Three failed executions open b's breaker; auto mode then only proposes.
        ext_b = c().value(f"SELECT external_id FROM syncopt.connector WHERE connector_id = {b}", db())
        self.mock.call("/_mock/faults", {"match": f"/v1/connections/{ext_b}$", "kind": "status", "status": 400,
                                         "times": 3})
        # One at a time: a newer proposal of the same action supersedes an open one.
        for frequency in (60, 120, 180):
            d = self.propose(b, "set_schedule", f'{{"sync_frequency": {frequency}}}')
            self.approve(d)
            self.settle([d])
            self.assertEqual(self.row(d)["status"], "failed")
        self.assertEqual(c().value(f"SELECT count(*) FROM syncopt.circuit_breaker WHERE connector_id = {b} "
                                   "AND closed_at IS NULL", db()), "1")
        c().psql("DELETE FROM syncopt.asset WHERE name = 'cap_a'", db())
        rows = c().rows("SELECT status, guardrail FROM syncopt.run_planner() "
                        f"WHERE connector_id = {b} AND action = 'trigger_sync'", db())
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0][0], "proposed")
        self.assertIn("circuit breaker open", rows[0][1])

    def test_crash_and_immediate_restart_lose_nothing_and_send_nothing_twice_unrecorded(self):
        self.crash_phase("kill")
        self.crash_phase("immediate")

    def crash_phase(self, phase):
        self.mock.call("/_mock/reset", {})
        decisions = []
        for action in ("pause", "pause", "trigger_sync", "resync_connector"):
            cid, ext = self.connector()
            decisions.append((self.propose(cid, action), ext))
        cid, ab_ext = self.connector("airbyte")
        decisions.append((self.propose(cid, "trigger_sync"), ab_ext))
        # Every vendor answer takes 4 s, so calls are in flight when we strike.
        self.mock.call("/_mock/settings", {"latency": 4})
        try:
            self.approve(*[d for d, _ in decisions])
            self.assertTrue(wait_until(lambda: len(self.writes()) >= len(decisions), 30),
                            f"the calls did not reach the mock: {self.writes()}")
            if phase == "kill":
                pid = int(c().value("SELECT pid FROM syncopt.worker_status() WHERE worker = 'executor'", db()))
                os.kill(pid, signal.SIGKILL)
                time.sleep(1)
            else:
                c().stop(mode="immediate")
                c().start()
        finally:
            self.mock.call("/_mock/settings", {"latency": 0})
        self.assertTrue(wait_until(self._server_up, 60), "the server did not come back")
        ids = [d for d, _ in decisions]
        self.settle(ids, timeout=90)
        writes = self.writes()
        for d, ext in decisions:
            row = self.row(d)
            sent = [w for w in writes if ext in w["path"] or ext in (w["body"] or "")]
            self.assertIn(row["status"], ("succeeded", "unknown"), (phase, d, row))
            # Never a call the row does not count; at least one for a success.
            self.assertLessEqual(len(sent), int(row["attempts"]), (phase, d, row, sent))
            if row["status"] == "succeeded":
                self.assertGreaterEqual(len(sent), 1, (phase, d, row))
        statuses = {self.row(d)["status"] for d, _ in decisions[3:4]}
        self.assertEqual(statuses, {"unknown"}, "a re-sync in flight is left for a human")

    def _server_up(self):
        return c().psql("SELECT 1", db(), check=False)[0] == 0

    def test_concurrent_planning_runs_do_not_duplicate(self):
        cid, _ = self.connector()
        self.deadline_soon(cid, "concurrent")
        c().psql(f"INSERT INTO syncopt.policy (connector_id, mode) VALUES ({cid}, 'copilot')", db())
        holder = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t"] + c().conninfo(db()),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        holder.stdin.write("BEGIN;\nSELECT count(*) FROM syncopt.run_planner();\nSELECT pg_sleep(4);\nCOMMIT;\n")
        holder.stdin.close()
        self.assertTrue(c().wait_for("SELECT EXISTS (SELECT FROM pg_locks WHERE relation = 'syncopt.planner_run'::regclass "
                                     "AND mode = 'ShareUpdateExclusiveLock' AND granted)", db(), timeout=20))
        code, out, err = c().psql("SELECT count(*) FROM syncopt.run_planner()", db())
        self.assertEqual(out.strip(), "0")
        self.assertIn("another planning run is in progress", err)
        holder.wait(timeout=30)
        self.assertEqual(c().value("SELECT count(*) FROM syncopt.fivetran_sync_ai_logs "
                                   f"WHERE connector_id = {cid} AND action = 'trigger_sync' AND status = 'proposed'",
                                   db()), "1")
        # And run again after it: the identical proposal is not repeated.
        c().psql("SELECT count(*) FROM syncopt.run_planner()", db())
        self.assertEqual(c().value("SELECT count(*) FROM syncopt.fivetran_sync_ai_logs "
                                   f"WHERE connector_id = {cid} AND action = 'trigger_sync'", db()), "1")

    def test_pg_cron_runs_the_planner_and_proposals_appear(self):
        if not integration.PG_CRON:
            self.skipTest("pg_cron is not installed for this server")
        cid, _ = self.connector()
        self.deadline_soon(cid, "cron")
        c().psql(f"INSERT INTO syncopt.policy (connector_id, mode) VALUES ({cid}, 'copilot')", db())
        c().psql("SELECT syncopt.schedule_planner('* * * * *')", db())
        ok = c().wait_for("SELECT EXISTS (SELECT FROM syncopt.fivetran_sync_ai_logs l JOIN syncopt.planner_run r "
                          f"USING (planner_run_id) WHERE l.connector_id = {cid} AND l.status = 'proposed')",
                          db(), timeout=130, interval=1)
        detail = c().rows("SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3", db())
        c().psql("SELECT cron.unschedule('syncopt-planner')", db())
        self.assertTrue(ok, f"pg_cron did not run the planner: {detail}")
        self.assertEqual(detail[0][0], "succeeded", detail)

    def test_slack_notification_reaches_a_loopback_receiver(self):
        c().psql("INSERT INTO syncopt.notification_channel (name, kind, url, min_severity) VALUES "
                 f"('team slack', 'slack', '{self.mock.base}/hooks/slack/T000/B000/XXXX', 'info')", db())
        cid, _ = self.connector()
        d = self.propose(cid, "notify", '{"message": "ERP is late", "severity": "critical"}')
        self.approve(d)
        self.settle([d])
        ok = wait_until(lambda: any(r["path"].startswith("/hooks/slack") for r in self.mock.requests()), 30)
        self.assertTrue(ok, "no Slack POST arrived")
        hook = [r for r in self.mock.requests() if r["path"].startswith("/hooks/slack") and "ERP is late" in r["body"]]
        self.assertEqual(len(hook), 1)
        self.assertEqual(json.loads(hook[0]["body"]), {"text": ":rotating_light: syncopt notice: ERP is late"})
        self.assertTrue(c().wait_for("SELECT delivered_at IS NOT NULL FROM syncopt.alert "
                                     f"WHERE details->>'decision_id' = '{d}'", db(), timeout=20))
        # The URL (a Slack secret) is in neither the status view nor the logs.
        self.assertNotIn("XXXX", c().value("SELECT destination FROM syncopt.notification_channel_status "
                                           "WHERE name = 'team slack'", db()))
        self.assertNotIn("T000/B000", c().log_tail(400))


if __name__ == "__main__":
    unittest.main()
