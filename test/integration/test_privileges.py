"""Hostile roles and hostile vendors against the real workers.

A role that may CREATE in schema public plants an operator for the
decision_status domain whose function, run by anyone else, records who ran
it and makes its owner superuser.  The workers must never resolve a name to
it: they run every statement with the search path pinned to pg_catalog,
syncopt, pg_temp.

A vendor that quotes the request (Authorization header and body) in its
answer must not get the account's key, secret, Basic value or bearer token
into anything a syncopt_reader can read, nor into the server log.

The test's own queries compare decision_status only through ::text or with
OPERATOR(pg_catalog.=), so the harness never runs the planted operator.
"""

import base64
import glob
import os
import re
import unittest

import integration
from harness.steps import DecisionSteps, create_polled_accounts, reset_settings, set_settings
from integration.mock_client import Mock

HOSTILE = "syncopt_hostile"
FT_KEY, FT_SECRET = "ftkey-7c1d9e2a5b", "ftsecret-4f8a2c6e9d1b"
AB_ID, AB_SECRET = "abclient-3e9f1a7c", "absecret-8b2d6f0a4c7e"
BASIC = base64.b64encode(f"{FT_KEY}:{FT_SECRET}".encode()).decode()
BEARER = re.compile(r"Bearer [A-Za-z0-9_\-]{20,}")
SETTINGS = [("syncopt.http_timeout", "'10s'"), ("syncopt.http_max_retries", "0"),
            ("syncopt.executor_max_attempts", "1"), ("syncopt.executor_poll_interval", "'2s'")]


def c():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


class PrivilegeTests(DecisionSteps, unittest.TestCase):
    proposal_reason = "privilege test"

    @classmethod
    def setUpClass(cls):
        cls.pg, cls.dbname = c(), db()
        cls.mock = Mock("--page-cap", "100", "--fivetran-key", FT_KEY, "--fivetran-secret", FT_SECRET,
                        "--airbyte-client-id", AB_ID, "--airbyte-client-secret", AB_SECRET)
        cls.mock.call("/_mock/fleet", {"fivetran_groups": 1, "fivetran_connections": 4,
                                       "airbyte_connections": 2, "jobs_per_connection": 1})
        set_settings(c(), db(), SETTINGS)
        cls.ft, cls.ab = create_polled_accounts(c(), db(), [
            ("fivetran", "priv fivetran", f"{cls.mock.base}/fivetran", FT_KEY, FT_SECRET),
            ("airbyte", "priv airbyte", f"{cls.mock.base}/airbyte/v1", AB_ID, AB_SECRET)])
        cls.free = {v: [r[0] for r in c().rows(
            f"SELECT connector_id FROM syncopt.connector WHERE account_id = {a} ORDER BY external_id", db())]
            for v, a in (("fivetran", cls.ft), ("airbyte", cls.ab))}
        assert len(cls.free["fivetran"]) == 4 and len(cls.free["airbyte"]) == 2, cls.free

    @classmethod
    def tearDownClass(cls):
        cls.drop_hostile()
        c().psql("UPDATE syncopt.fivetran_sync_ai_logs SET status = 'cancelled' "
                 "WHERE status::text = 'approved'", db())
        reset_settings(c(), db(), [name for name, _ in SETTINGS])
        cls.mock.stop()

    def setUp(self):
        self.mock.call("/_mock/reset", {})

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def drop_hostile():
        c().psql(f"DROP OWNED BY {HOSTILE} CASCADE; DROP ROLE IF EXISTS {HOSTILE}", db(), check=False)
        c().psql(f"DROP ROLE IF EXISTS {HOSTILE}", db(), check=False)

    def plant_hostile_operator(self):
        """A reader that may CREATE in public defines public.= for decision_status."""
        self.drop_hostile()
        c().psql(f"CREATE ROLE {HOSTILE} NOLOGIN; GRANT syncopt_reader TO {HOSTILE}; "
                 f"GRANT CREATE ON SCHEMA public TO {HOSTILE}; "
                 f"SET ROLE {HOSTILE}; "
                 "CREATE TABLE public.hostile_marker (who text, was_superuser boolean); "
                 "GRANT INSERT ON public.hostile_marker TO PUBLIC; "
                 "CREATE FUNCTION public.hostile_eq(syncopt.decision_status, syncopt.decision_status) "
                 "RETURNS boolean LANGUAGE plpgsql AS $$ "
                 "DECLARE su boolean := (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user); "
                 "BEGIN "
                 "  INSERT INTO public.hostile_marker VALUES (current_user, su); "
                 f"  IF su THEN EXECUTE 'ALTER ROLE {HOSTILE} SUPERUSER'; END IF; "
                 "  RETURN $1::text OPERATOR(pg_catalog.=) $2::text; "
                 "END $$; "
                 "CREATE OPERATOR public.= (LEFTARG = syncopt.decision_status, "
                 "RIGHTARG = syncopt.decision_status, FUNCTION = public.hostile_eq); "
                 "RESET ROLE", db())

    def assert_hostile_never_ran_elevated(self):
        ran_as = c().rows("SELECT DISTINCT who, was_superuser FROM public.hostile_marker "
                          f"WHERE who <> '{HOSTILE}'", db())
        self.assertEqual(ran_as, [], "the planted operator ran as another role")
        self.assertEqual(c().value(f"SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = '{HOSTILE}'", db()),
                         "f", "the hostile role became superuser")

    def propose_on(self, vendor):
        """A trigger_sync on a connector of the vendor that no other test uses."""
        return self.propose(self.free[vendor].pop(0), "trigger_sync")

    def approve_and_settle(self, *ids):
        self.approve(*ids)
        self.settle(ids)

    def reader_visible_text(self):
        """Every row of every relation in syncopt that syncopt_reader may read, as text."""
        rels = [r[0] for r in c().rows(
            "SELECT format('%I.%I', n.nspname, k.relname) FROM pg_catalog.pg_class k "
            "JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace "
            "WHERE n.nspname = 'syncopt' AND k.relkind IN ('r', 'v', 'm', 'p') "
            "AND pg_catalog.has_table_privilege('syncopt_reader', k.oid, 'SELECT')", db())]
        self.assertIn("syncopt.fivetran_sync_ai_logs", rels)
        self.assertIn("syncopt.alert", rels)
        return {rel: c().psql(f"SELECT t::text FROM {rel} t", db())[1] for rel in rels}

    def assert_no_secret(self, text, where):
        for secret in (FT_KEY, FT_SECRET, BASIC, AB_ID, AB_SECRET):
            self.assertNotIn(secret, text, f"{where} holds a credential")
        self.assertIsNone(BEARER.search(text), f"{where} holds a bearer token")

    # -- tests -----------------------------------------------------------
    def test_only_the_statement_runner_runs_sql(self):
        """No C file but src/spi_run.c calls SPI_execute*, SPI_prepare* or SPI_cursor_open*."""
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")
        files = sorted(glob.glob(os.path.join(src, "*.c")))
        self.assertIn(os.path.join(src, "spi_run.c"), files)
        offenders = []
        for path in files:
            if os.path.basename(path) == "spi_run.c":
                continue
            with open(path) as f:
                for n, line in enumerate(f, 1):
                    if re.search(r"\bSPI_(execute|exec|prepare|cursor_open)\w*\s*\(", line):
                        offenders.append(f"{os.path.basename(path)}:{n}: {line.strip()}")
        self.assertEqual(offenders, [])

    def test_planted_operator_never_runs_in_the_workers(self):
        self.plant_hostile_operator()
        decision = self.propose_on("fivetran")
        self.approve_and_settle(decision)
        # A full executor pass after the outcome: its own queries ran again.
        asked = int(c().value("SELECT wake_requests FROM syncopt.worker_status() WHERE worker = 'executor'", db()))
        c().psql("SELECT syncopt.wake('executor')", db())
        self.assertTrue(c().wait_for(f"SELECT wakes_handled > {asked} AND state = 'idle' "
                                     "FROM syncopt.worker_status() WHERE worker = 'executor'", db(), timeout=30))
        # The collector worker polls the account with the operator in place.
        polls = int(c().value(f"SELECT coalesce(polls, 0) FROM syncopt.collector_state WHERE account_id = {self.ft}",
                              db()) or 0)
        c().psql(f"SELECT syncopt.request_poll({self.ft})", db())
        self.assertTrue(c().wait_for(f"SELECT polls > {polls} FROM syncopt.collector_state "
                                     f"WHERE account_id = {self.ft}", db(), timeout=60))
        # The decision did run (the test is not vacuous): the vendor got its call.
        self.assertEqual(c().value(f"SELECT status::text FROM syncopt.fivetran_sync_ai_logs "
                                   f"WHERE decision_id = {decision}", db()), "succeeded")
        self.assert_hostile_never_ran_elevated()
        # The operator is live: the hostile role's own comparison runs it.
        c().psql(f"SET ROLE {HOSTILE}; SELECT 'approved'::syncopt.decision_status = 'approved'::syncopt.decision_status; RESET ROLE",
                 db())
        self.assertEqual(c().value(f"SELECT count(*) FROM public.hostile_marker WHERE who = '{HOSTILE}'", db()), "1")
        self.drop_hostile()

    def test_echoed_credentials_never_reach_readers_or_the_log(self):
        with open(c().log, errors="replace") as f:
            log_start = len(f.read())
        self.mock.call("/_mock/faults", [
            {"kind": "echo_request", "match": r"^/fivetran/v1/connections/[^/]+/sync$", "times": 1},
            {"kind": "echo_request", "match": r"^/airbyte/v1/jobs$", "method": "POST", "times": 1},
            {"kind": "echo_request", "status": 200, "match": r"^/fivetran/v1/groups$", "times": 1}])
        ft = self.propose_on("fivetran")
        ab = self.propose_on("airbyte")
        self.approve_and_settle(ft, ab)
        for d in (ft, ab):
            status, response = c().rows(f"SELECT status::text, response::text FROM syncopt.fivetran_sync_ai_logs "
                                        f"WHERE decision_id = {d}", db())[0]
            self.assertEqual(status, "failed", response)
            # The echo arrived and was stored, with the credentials cut out.
            self.assertIn("rejected request with Authorization", response)
            self.assertIn("[redacted]", response)
        # The collector: a 2xx whose body quotes the request.
        out = c().rows(f"SELECT endpoint, coalesce(error, '') FROM syncopt.collect({self.ft})", db())
        self.assertTrue(any("groups" in e for e, err in out if err), out)
        self.assert_no_secret(repr(out), "syncopt.collect()'s result")
        echoed = [r["path"] for r in self.mock.requests()
                  if re.search(r"/sync$|/jobs$|/v1/groups\?", r["path"])]
        self.assertEqual(len(echoed), 3, echoed)
        for rel, text in self.reader_visible_text().items():
            self.assert_no_secret(text, rel)
        with open(c().log, errors="replace") as f:
            self.assert_no_secret(f.read()[log_start:], "the server log")

    def test_workers_run_as_syncopt_worker_and_wait_for_a_usable_role(self):
        decision = self.propose_on("fivetran")
        self.approve_and_settle(decision)
        # The executor's own transitions ran as the worker role, not as a superuser.
        self.assertEqual(c().rows("SELECT new_status::text, via_role FROM syncopt.decision_event "
                                  f"WHERE decision_id = {decision} AND new_status::text IN ('executing', 'succeeded') "
                                  "ORDER BY event_id", db()),
                         [("executing", "syncopt_worker"), ("succeeded", "syncopt_worker")])
        for role, why in (("syncopt_no_such_role", "does not exist"), ("postgres", "is a superuser"),
                          ("syncopt_reader", "is not a member of syncopt_worker")):
            c().psql(f"ALTER SYSTEM SET syncopt.worker_role = '{role}'", db())
            c().reload()
            try:
                for worker in ("collector", "executor"):
                    c().psql(f"SELECT syncopt.wake('{worker}')", db())
                    self.assertTrue(c().wait_for(f"SELECT state = 'waiting for role' FROM syncopt.worker_status() "
                                                 f"WHERE worker = '{worker}'", db(), timeout=30), (role, worker))
                with open(c().log, errors="replace") as f:
                    self.assertIn(f'role "{role}" (syncopt.worker_role) {why}; waiting', f.read())
            finally:
                c().psql("ALTER SYSTEM RESET syncopt.worker_role", db())
                c().reload()
            for worker in ("collector", "executor"):
                c().psql(f"SELECT syncopt.wake('{worker}')", db())
                self.assertTrue(c().wait_for(f"SELECT state = 'idle' FROM syncopt.worker_status() "
                                             f"WHERE worker = '{worker}'", db(), timeout=30), (role, worker))
