"""Steps the integration tests share: settings, vendor accounts, decisions.

Each takes the cluster and the workers' database explicitly (or, for the
DecisionSteps mixin, reads them from the test class's `pg` and `dbname`),
so nothing here depends on how a test module finds its cluster.
"""

import time

# The states a decision ends in (src/sql: decision_status).
TERMINAL = ("succeeded", "failed", "unknown", "cancelled", "rejected", "expired", "superseded")


def wait_until(predicate, timeout):
    """Poll a predicate until it holds (an exception counts as not yet);
    False if it never did within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


def set_settings(cluster, db, settings):
    """ALTER SYSTEM SET each (name, value) pair, then reload the server."""
    for name, value in settings:
        cluster.psql(f"ALTER SYSTEM SET {name} = {value}", db)
    cluster.reload()


def reset_settings(cluster, db, names):
    """ALTER SYSTEM RESET each setting, then reload the server."""
    for name in names:
        cluster.psql(f"ALTER SYSTEM RESET {name}", db)
    cluster.reload()


def create_polled_accounts(cluster, db, accounts):
    """Create accounts, store their credentials and poll them once, in one
    transaction: the collector worker sees an account only once this backend
    has polled it (else its poll and collect() collide, 55P03), and then not
    again for the account's day-long poll_interval.

    accounts: (vendor, name, base_url, key, secret) tuples.  Returns their
    account_ids, in that order, as strings.
    """
    values = ", ".join(f"('{vendor}', '{name}', '{base_url}', '1 day')"
                       for vendor, name, base_url, _, _ in accounts)
    credentials = "".join(f"SELECT syncopt.set_credentials(account_id, '{key}', '{secret}') "
                          f"FROM syncopt.account WHERE name = '{name}'; "
                          for _, name, _, key, secret in accounts)
    names = ", ".join(f"'{name}'" for _, name, _, _, _ in accounts)
    cluster.psql("BEGIN; INSERT INTO syncopt.account (vendor, name, base_url, poll_interval) "
                 f"VALUES {values}; {credentials}"
                 "SELECT count(*) FROM syncopt.account a, syncopt.collect(a.account_id) "
                 f"WHERE a.name IN ({names}); COMMIT;", db)
    return [cluster.value(f"SELECT account_id FROM syncopt.account WHERE name = '{name}'", db)
            for _, name, _, _, _ in accounts]


class DecisionSteps:
    """Propose, approve, read and wait for decisions and executor passes.

    A mixin for unittest.TestCase classes that set `pg` (the cluster),
    `dbname` (the workers' database) and `proposal_reason`.
    """

    def propose(self, cid, action, params="{}"):
        return int(self.pg.value(f"SELECT (syncopt.propose({cid}, '{action}', '{params}', "
                                 f"'{self.proposal_reason}')).decision_id", self.dbname))

    def approve(self, *ids):
        self.pg.psql("UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' "
                     f"WHERE decision_id IN ({', '.join(map(str, ids))})", self.dbname)

    def row(self, decision_id):
        cols = ["status", "attempts", "http_status", "error", "response"]
        return dict(zip(cols, self.pg.rows(f"SELECT {', '.join(cols)} FROM syncopt.fivetran_sync_ai_logs "
                                           f"WHERE decision_id = {decision_id}", self.dbname)[0]))

    def settle(self, ids, timeout=60, states=TERMINAL):
        """Wait (bounded) until every decision is in one of the states."""
        id_list = ", ".join(map(str, ids))
        # status::text: test_privileges plants an operator for the domain.
        ok = self.pg.wait_for("SELECT bool_and(status::text IN ('" + "', '".join(states) + "')) "
                              f"FROM syncopt.fivetran_sync_ai_logs WHERE decision_id IN ({id_list})",
                              self.dbname, timeout=timeout)
        self.assertTrue(ok, f"decisions {ids} did not settle: "
                        + repr(self.pg.rows("SELECT decision_id, status::text, error FROM syncopt.fivetran_sync_ai_logs "
                                            f"WHERE decision_id IN ({id_list})", self.dbname))
                        + "\n" + self.pg.log_tail(20))

    def executor_pass_done(self):
        """Wake the executor and wait (bounded) until it handled that wake: a full pass."""
        self.assertTrue(self.pg.wait_for("SELECT pid IS NOT NULL FROM syncopt.worker_status() "
                                         "WHERE worker = 'executor'", self.dbname, timeout=30))
        asked = int(self.pg.value("SELECT wake_requests FROM syncopt.worker_status() WHERE worker = 'executor'",
                                  self.dbname))
        self.pg.psql("SELECT syncopt.wake('executor')", self.dbname)
        self.assertTrue(self.pg.wait_for(f"SELECT wakes_handled > {asked} AND state = 'idle' "
                                         "FROM syncopt.worker_status() WHERE worker = 'executor'",
                                         self.dbname, timeout=60))
