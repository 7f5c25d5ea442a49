"""The collector and executor against a real preloaded cluster.

Every wait is bounded (Cluster.wait_for); nothing here asserts on how long
anything took.
"""

import unittest

import integration

COLUMNS = ["worker", "pid", "database", "state", "started_at", "last_loop_at", "next_wake_at",
           "starts", "loops", "wake_requests", "wakes_handled", "last_wake_at", "last_error",
           "last_error_at"]


def cluster():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


def status(worker):
    """worker_status() of one worker, as a dict of strings."""
    rows = cluster().rows(f"SELECT * FROM syncopt.worker_status() WHERE worker = '{worker}'", db())
    assert len(rows) == 1, rows
    return dict(zip(COLUMNS, rows[0]))


def running(worker):
    return (f"SELECT state = 'idle' AND pid IS NOT NULL FROM syncopt.worker_status() "
            f"WHERE worker = '{worker}'")


def make_fixture():
    """A fresh account, connector and proposal; returns the decision id."""
    c = cluster()
    account = c.value("INSERT INTO syncopt.account (vendor, name, base_url) "
                      "VALUES ('fivetran', 'ft_' || md5(random()::text), 'https://api.fivetran.com') "
                      "RETURNING account_id", db())
    connector = c.value(f"INSERT INTO syncopt.connector (account_id, external_id) "
                        f"VALUES ({account}, 'c_' || md5(random()::text)) RETURNING connector_id", db())
    return c.value(f"INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status) "
                   f"VALUES ({connector}, 'trigger_sync', 'due at 06:00', 'copilot', 'proposed') "
                   f"RETURNING decision_id", db())


class WorkerTests(unittest.TestCase):

    def test_01_both_workers_run_with_stable_backend_types(self):
        for worker in ("collector", "executor"):
            self.assertTrue(cluster().wait_for(running(worker), db()), f"{worker} never became idle")
            st = status(worker)
            self.assertEqual(st["database"], db())
            backend = cluster().value(
                f"SELECT backend_type || '|' || datname FROM pg_stat_activity WHERE pid = {st['pid']}", db())
            self.assertEqual(backend, f"syncopt {worker}|{db()}")

    def test_02_terminated_worker_comes_back(self):
        for worker in ("executor", "collector"):
            before = status(worker)
            self.assertEqual(cluster().value(f"SELECT pg_terminate_backend({before['pid']})", db()), "t")
            self.assertTrue(cluster().wait_for(
                f"SELECT pid <> {before['pid']} AND state = 'idle' AND starts = {int(before['starts']) + 1} "
                f"FROM syncopt.worker_status() WHERE worker = '{worker}'", db()),
                f"{worker} did not come back after pg_terminate_backend")

    def test_03_approval_wakes_executor_only_at_commit(self):
        c = cluster()
        first = make_fixture()
        second = make_fixture()
        third = make_fixture()
        self.assertTrue(c.wait_for(running("executor"), db()))
        before = status("executor")
        requests = int(before["wake_requests"])

        # A rolled-back approval asks for nothing.
        c.psql(f"BEGIN; UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' "
               f"WHERE decision_id = {first}; ROLLBACK;", db())
        self.assertEqual(int(status("executor")["wake_requests"]), requests)
        # Nor does one rolled back to a savepoint inside a committed transaction.
        c.psql(f"BEGIN; SAVEPOINT s; UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' "
               f"WHERE decision_id = {first}; ROLLBACK TO SAVEPOINT s; COMMIT;", db())
        self.assertEqual(int(status("executor")["wake_requests"]), requests)
        self.assertEqual(c.value(f"SELECT status FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {first}",
                                 db()), "proposed")

        # A committed approval wakes the executor once, at commit.
        c.psql(f"UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = {first}", db())
        self.assertEqual(int(status("executor")["wake_requests"]), requests + 1)
        self.assertTrue(c.wait_for(
            f"SELECT wakes_handled >= {requests + 1} AND loops > {before['loops']} "
            f"AND last_wake_at IS NOT NULL FROM syncopt.worker_status() WHERE worker = 'executor'", db()),
            "the executor did not act on the wake")

        # Two approvals in one transaction: one wake for the burst.
        c.psql(f"BEGIN; UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' "
               f"WHERE decision_id IN ({second}, {third}); COMMIT;", db())
        self.assertEqual(int(status("executor")["wake_requests"]), requests + 2)
        # A released savepoint keeps its approval: the wake is delivered.
        fourth = make_fixture()
        c.psql(f"BEGIN; SAVEPOINT s; UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' "
               f"WHERE decision_id = {fourth}; RELEASE SAVEPOINT s; COMMIT;", db())
        self.assertEqual(int(status("executor")["wake_requests"]), requests + 3)

    def test_04_executor_pass_expires_stale_proposals(self):
        c = cluster()
        decision = make_fixture()
        stale = c.value(
            "INSERT INTO syncopt.fivetran_sync_ai_logs (connector_id, action, reason, mode, status, created_at, expires_at) "
            f"SELECT connector_id, 'pause', 'stale', 'copilot', 'proposed', now() - interval '2 days', now() - interval '1 day' "
            f"FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {decision} RETURNING decision_id", db())
        c.psql("SELECT syncopt.wake('executor')", db())
        self.assertTrue(c.wait_for(
            f"SELECT status = 'expired' FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {stale}", db()),
            "the executor did not expire the stale proposal")
        self.assertEqual(c.value(
            f"SELECT actor || ' ' || new_status FROM syncopt.decision_event "
            f"WHERE decision_id = {stale} ORDER BY event_id DESC LIMIT 1", db()), "postgres expired")
        self.assertEqual(c.value(f"SELECT status FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {decision}",
                                 db()), "proposed")

    def test_05_sighup_rereads_the_poll_interval(self):
        c = cluster()
        c.psql("ALTER SYSTEM SET syncopt.executor_poll_interval = '1h'; SELECT pg_reload_conf();", db())
        try:
            self.assertTrue(c.wait_for(
                "SELECT next_wake_at - last_loop_at > interval '50 minutes' "
                "FROM syncopt.worker_status() WHERE worker = 'executor'", db()),
                "the executor did not pick up the new interval")
        finally:
            c.psql("ALTER SYSTEM RESET syncopt.executor_poll_interval; SELECT pg_reload_conf();", db())
        self.assertTrue(c.wait_for(
            "SELECT next_wake_at - last_loop_at < interval '2 minutes' "
            "FROM syncopt.worker_status() WHERE worker = 'executor'", db()))

    def test_06_failing_pass_is_recorded_and_the_loop_goes_on(self):
        c = cluster()
        c.psql("ALTER FUNCTION syncopt.expire_decisions() RENAME TO expire_decisions_gone", db())
        try:
            c.psql("SELECT syncopt.wake('executor')", db())
            self.assertTrue(c.wait_for(
                "SELECT last_error LIKE '%expire_decisions%' AND state = 'idle' AND pid IS NOT NULL "
                "FROM syncopt.worker_status() WHERE worker = 'executor'", db()),
                "the error was not recorded")
        finally:
            c.psql("ALTER FUNCTION syncopt.expire_decisions_gone() RENAME TO expire_decisions", db())
        failed = status("executor")
        c.psql("SELECT syncopt.wake('executor')", db())
        # The clean pass after it clears the error (issue 28: no stale last_error).
        self.assertTrue(c.wait_for(
            f"SELECT loops > {failed['loops']} AND pid = {failed['pid']} AND last_error IS NULL "
            "AND last_error_at IS NULL FROM syncopt.worker_status() WHERE worker = 'executor'", db()),
            "the executor did not carry on in the same process after the error")

    def test_07_collector_purges_old_history(self):
        c = cluster()
        decision = make_fixture()
        connector = c.value(f"SELECT connector_id FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {decision}", db())
        c.psql(f"""INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
                   VALUES ({connector}, 'ancient', now() - interval '4000 days', now() - interval '4000 days', 'succeeded', 'api'),
                          ({connector}, 'recent', now() - interval '1 hour', now() - interval '50 minutes', 'succeeded', 'api')""",
               db())
        # The collector purges on its first pass after a start (retention:
        # ten years in the integration run, see run_tests.py).
        pid = status("collector")["pid"]
        c.psql(f"SELECT pg_terminate_backend({pid})", db())
        self.assertTrue(c.wait_for(
            f"SELECT NOT EXISTS (SELECT FROM syncopt.sync_run WHERE external_run_id = 'ancient' "
            f"AND connector_id = {connector})", db()), "the collector did not purge")
        self.assertEqual(c.value(f"SELECT count(*) FROM syncopt.sync_run WHERE connector_id = {connector}", db()), "1")

    def test_08_create_extension_elsewhere_is_refused(self):
        c = cluster()
        c.psql("DROP DATABASE IF EXISTS syncopt_elsewhere; CREATE DATABASE syncopt_elsewhere;")
        try:
            err = c.error_of("CREATE EXTENSION syncopt", "syncopt_elsewhere")
            self.assertIn('syncopt can only be created in database "syncopt_test"', err)
            self.assertIn("HINT:  Set syncopt.database_name = 'syncopt_elsewhere'", err)
            self.assertEqual(c.value("SELECT count(*) FROM pg_extension WHERE extname = 'syncopt'",
                                     "syncopt_elsewhere"), "0")
        finally:
            c.psql("DROP DATABASE syncopt_elsewhere")

    def test_09_server_restart_loses_nothing(self):
        c = cluster()
        decision = make_fixture()
        c.psql(f"UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = {decision}", db())
        pids = {w: status(w)["pid"] for w in ("collector", "executor")}
        c.restart()
        for worker in ("collector", "executor"):
            self.assertTrue(c.wait_for(running(worker), db()), f"{worker} not back after restart")
            st = status(worker)
            self.assertNotEqual(st["pid"], pids[worker])
            self.assertEqual(st["starts"], "1")
        # The approval survived the restart and the executor took it up: the
        # fixture's account has no credentials, so it fails with that reason,
        # every step audited (proposed, approved, executing, failed).
        self.assertTrue(c.wait_for(f"SELECT status = 'failed' FROM syncopt.fivetran_sync_ai_logs "
                                   f"WHERE decision_id = {decision}", db()))
        self.assertEqual(c.value(
            f"SELECT approved_by || ' ' || (error LIKE '%no credentials%') FROM syncopt.fivetran_sync_ai_logs "
            f"WHERE decision_id = {decision}", db()), "postgres true")
        self.assertEqual(c.value(f"SELECT count(*) FROM syncopt.decision_event WHERE decision_id = {decision}", db()),
                         "4")

    def test_99_workers_wait_for_a_dropped_extension(self):
        c = cluster()
        # Errors of earlier tests may be recent; only those after the drop count.
        dropped_at = c.value("SELECT clock_timestamp()", db())
        c.psql("DROP EXTENSION syncopt CASCADE", db())
        # With the extension gone, reach the C functions directly.
        c.psql("""CREATE FUNCTION public.ws(OUT worker text, OUT pid int, OUT database text, OUT state text,
                      OUT started_at timestamptz, OUT last_loop_at timestamptz, OUT next_wake_at timestamptz,
                      OUT starts bigint, OUT loops bigint, OUT wake_requests bigint, OUT wakes_handled bigint,
                      OUT last_wake_at timestamptz, OUT last_error text, OUT last_error_at timestamptz)
                  RETURNS SETOF record LANGUAGE C AS 'syncopt', 'syncopt_worker_status';
                  CREATE FUNCTION public.wk(text) RETURNS void LANGUAGE C AS 'syncopt', 'syncopt_wake';""", db())
        try:
            c.psql("SELECT public.wk(NULL)", db())
            self.assertTrue(c.wait_for(
                "SELECT bool_and(state = 'waiting for extension') FROM public.ws()", db()),
                "workers did not notice the extension was dropped")
            errors = c.value(f"SELECT count(*) FROM public.ws() WHERE last_error_at >= '{dropped_at}'", db())
            self.assertEqual(errors, "0", "a missing extension must not be an error: " + c.value(
                "SELECT coalesce(string_agg(format('%s at %s: %s', worker, last_error_at, last_error), '; '), 'none') FROM public.ws()", db()))
            c.psql("CREATE EXTENSION syncopt", db())
            self.assertTrue(c.wait_for("SELECT bool_and(state = 'idle') FROM public.ws()", db()),
                            "CREATE EXTENSION did not wake the waiting workers")
        finally:
            c.psql("DROP FUNCTION IF EXISTS public.ws(); DROP FUNCTION IF EXISTS public.wk(text);", db())
