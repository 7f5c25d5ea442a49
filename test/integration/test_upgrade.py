"""ALTER EXTENSION syncopt UPDATE from the last release, the way pgvector
tests it: install the released version, fill it with data (decisions in
every state, runs, stats, policies), update, and check that

  * the schema is exactly that of a fresh install of the new version
    (every relation, column in order, constraint, index, trigger, view,
    function body and setting, type, grant, comment and pg_dump
    registration: describe_extension.sql);
  * the rows that were there are still there, unchanged;
  * the workers run on the updated schema (an approval is executed).

It runs in the workers' database, and leaves a fresh install of the new
version behind for the tests after it.
"""

import collections
import os
import re
import unittest

import integration

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
RELEASED = "0.1.0"

with open(os.path.join(HERE, "describe_extension.sql")) as f:
    DESCRIBE = f.read()

# Rows the install script writes (not user data, so pg_dump skips them):
# the upgraded and the fresh install must hold the same.
SCRIPT_ROWS = [
    "SELECT from_status || ' ' || to_status || ' ' || actor || ' ' || meaning "
    "FROM syncopt.decision_transition ORDER BY 1",
    "SELECT concat_ws(' | ', pattern, vendor, category, retryable, remediation) "
    "FROM syncopt.failure_pattern WHERE builtin ORDER BY 1",
    # The labelled corpus the triage starts from (session 24: its rows were not compared before).
    "SELECT concat_ws(' | ', example_id, message, category, origin) FROM syncopt.failure_example WHERE builtin ORDER BY 1",
]

FILL = """
INSERT INTO syncopt.account (vendor, name, base_url) VALUES
    ('fivetran', 'upgrade ft', 'https://api.fivetran.com'),
    ('airbyte', 'upgrade ab', 'https://api.airbyte.com/v1');
SELECT syncopt.set_credentials(account_id, 'key', 'secret') FROM syncopt.account WHERE name = 'upgrade ab';
INSERT INTO syncopt.connector (account_id, external_id, name, service, schedule_minutes, tags)
SELECT a.account_id, 'up_' || g, 'upgrade ' || g, 'postgres', 60, ARRAY['tier' || (g % 2)]
  FROM syncopt.account a, generate_series(1, 8) g WHERE a.name = 'upgrade ft';
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows, source)
SELECT c.connector_id, 'run_' || g,
       timestamptz '2026-11-01 00:00+00' + g * interval '1 hour',
       timestamptz '2026-11-01 00:00+00' + g * interval '1 hour' + (10 + g % 7) * interval '1 minute',
       CASE WHEN g % 5 = 0 THEN 'failed' ELSE 'succeeded' END, 1000 * g, 'api'
  FROM syncopt.connector c, generate_series(1, 12) g WHERE c.external_id LIKE 'up\\_%';
SELECT syncopt.absorb_runs(array_agg(run_id), true) FROM syncopt.sync_run;
-- An Airbyte connector with the runs of regress batch_last_runs' connector 1
-- (14 finished an hour apart from 2026-11-20 00:00, run 3 rate-limited, run
-- 13 rescheduled, a 15th running), folded as 0.1.0 folds them.
INSERT INTO syncopt.connector (account_id, external_id, name)
SELECT account_id, 'ab_1', 'upgrade airbyte' FROM syncopt.account WHERE name = 'upgrade ab';
WITH ins AS (
    INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, rows,
                                  batch_size, parallelism, error_message, source)
    SELECT c.connector_id, 'ab_' || n, '2026-11-20 00:00+00'::timestamptz + (n - 1) * interval '1 hour',
           CASE WHEN n < 15 THEN '2026-11-20 00:10+00'::timestamptz + (n - 1) * interval '1 hour' END,
           CASE n WHEN 13 THEN 'rescheduled' WHEN 3 THEN 'failed' WHEN 15 THEN 'running' ELSE 'succeeded' END,
           60000, 1000, 2, CASE WHEN n = 3 THEN 'HTTP 429: rate limit exceeded' END, 'api'
      FROM syncopt.connector c, generate_series(1, 15) n WHERE c.external_id = 'ab_1'
    RETURNING run_id)
SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id)) FROM ins;
INSERT INTO syncopt.asset (name, kind, deadline, timezone, weight) VALUES ('upgrade_report', 'report', '06:00', 'UTC', 3);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id)
SELECT c.connector_id, a.asset_id FROM syncopt.connector c, syncopt.asset a
 WHERE c.external_id = 'up_1' AND a.name = 'upgrade_report';
INSERT INTO syncopt.policy (tag, mode, max_actions_per_hour) VALUES ('tier1', 'copilot', 5);
INSERT INTO syncopt.fivetran_sync_ai_logs (account_id, connector_id, vendor, action, reason, mode, status, not_before)
SELECT c.account_id, c.connector_id, 'fivetran', 'trigger_sync', 'upgrade: ' || s.state, 'copilot', 'proposed',
       '2100-01-01'
  FROM unnest(ARRAY['proposed', 'approved', 'rejected', 'cancelled', 'succeeded', 'failed', 'unknown', 'expired'])
       WITH ORDINALITY s(state, i)
  JOIN syncopt.connector c ON c.external_id = 'up_' || s.i;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved'
 WHERE reason IN ('upgrade: approved', 'upgrade: cancelled', 'upgrade: succeeded', 'upgrade: failed', 'upgrade: unknown');
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected' WHERE reason = 'upgrade: rejected';
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'expired' WHERE reason = 'upgrade: expired';
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'cancelled' WHERE reason = 'upgrade: cancelled';
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'executing'
 WHERE reason IN ('upgrade: succeeded', 'upgrade: failed', 'upgrade: unknown');
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'succeeded' WHERE reason = 'upgrade: succeeded';
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'failed', error = 'HTTP 400' WHERE reason = 'upgrade: failed';
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'unknown' WHERE reason = 'upgrade: unknown';
"""


# What batch_recommendations() reads after the update, before the fold has
# run (h-tidy): the update queues each Airbyte connector in stats_backlog
# (an element without a status) and keeps no runs itself; the connector's
# answer at 14:30 then comes from sync_run.
BACKLOG = """
SELECT 'queued', string_agg(n.external_id, ',' ORDER BY n.external_id) FROM syncopt.stats_backlog b
  JOIN syncopt.connector n ON n.connector_id = ANY (b.connector_id)
 WHERE array_position(b.status, NULL) IS NOT NULL
UNION ALL
SELECT 'kept', count(*)::text FROM syncopt.connector_last_runs
UNION ALL
SELECT 'batch', concat_ws(' ', r.recommended_batch_size, r.recommended_parallelism, round(r.confidence::numeric, 3))
  FROM syncopt.batch_recommendations('2026-11-20 14:30+00') r JOIN syncopt.connector n USING (connector_id)
 WHERE n.external_id = 'ab_1';
"""


# Where the runs are after the update (sync_run's weeks are named
# sync_run_YYYYMMDD by their Monday, UTC).
PLACEMENT = """
SELECT 'run_now', tableoid::regclass::text FROM syncopt.sync_run WHERE external_run_id = 'run_now'
UNION ALL
SELECT 'left in default', count(*)::text FROM syncopt.sync_run_default d
 WHERE to_regclass(format('syncopt.sync_run_%s',
                          to_char(date_trunc('week', d.started_at AT TIME ZONE 'UTC'), 'YYYYMMDD'))) IS NOT NULL
UNION ALL
SELECT 'weeks of the extension', count(*)::text FROM pg_inherits i JOIN pg_depend d
    ON d.classid = 'pg_class'::regclass AND d.objid = i.inhrelid AND d.deptype = 'e'
 WHERE i.inhparent = 'syncopt.sync_run'::regclass AND i.inhrelid <> 'syncopt.sync_run_default'::regclass;
"""


def cluster():
    return integration.CLUSTER


def db():
    return integration.WORKER_DB


def lines(sql):
    return [r[0] for r in cluster().rows(sql, db())]


# Rows of a table the digest leaves out: of failure_pattern, the built-in
# rules (an update may ship new ones, issue 30, third round, which
# SCRIPT_ROWS compares with a fresh install's); of stats_backlog, the
# elements without a status the update queues (BACKLOG checks those).
DIGEST_WHERE = {"failure_pattern": " WHERE NOT builtin",
                "stats_backlog": " WHERE array_position(status, NULL) IS NULL"}


def digest_sql(columns):
    """One query giving "table count:md5" of every table, each read through
    the columns given for it, but the rows DIGEST_WHERE leaves out."""
    parts = [f"SELECT '{t}', count(*) || ':' || coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '-') "
             f"FROM (SELECT ({', '.join(cols)})::text AS r FROM syncopt.{t}{DIGEST_WHERE.get(t, '')}) x"
             for t, cols in sorted(columns.items())]
    return " UNION ALL ".join(parts) + ";"


def table_columns():
    """{table: [column, ...]} of the installed version."""
    columns = {}
    for t, col in cluster().rows("SELECT c.relname, quote_ident(a.attname) FROM pg_class c "
                                 "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
                                 "WHERE c.relnamespace = 'syncopt'::regnamespace AND c.relkind = 'r' "
                                 "ORDER BY c.relname, a.attnum", db()):
        columns.setdefault(t, []).append(col)
    return columns


class UpgradeTests(unittest.TestCase):

    def test_each_function_stated_once(self):
        """The update script's template names each function it replaces
        once, and states none itself: the build takes the statement from
        src/sql/ (src/upgrade/expand.pl), so the two cannot drift apart.
        A function stated twice runs only its last body, and sessions once
        found run_planner stated three times."""
        path = os.path.join(TOP, "src", "upgrade", f"syncopt--{RELEASED}--0.2.0.sql.in")
        with open(path) as f:
            template = f.read()
        named = collections.Counter(re.findall(r"(?m)^-- @function (syncopt\.\w+)$", template))
        self.assertGreater(len(named), 50, "the pattern found too few functions to mean anything")
        self.assertEqual(sorted(f for f, n in named.items() if n > 1), [])
        self.assertEqual(re.findall(r"(?m)^CREATE (?:OR REPLACE )?FUNCTION syncopt\.\w+", template), [])

    def test_update_from_the_last_release(self):
        c = cluster()
        new = c.value("SELECT default_version FROM pg_available_extensions WHERE name = 'syncopt'", db())
        self.assertNotEqual(new, RELEASED, "the control file's version was not bumped")

        c.psql("DROP EXTENSION IF EXISTS syncopt CASCADE", db())
        c.psql(f"CREATE EXTENSION syncopt VERSION '{RELEASED}'", db())
        # Whatever happens here, the tests after this one get a fresh install.
        self.addCleanup(c.psql, "DROP EXTENSION IF EXISTS syncopt CASCADE; CREATE EXTENSION syncopt", db())
        c.psql(FILL, db())
        # A run of this week: its week is made by the update whatever the
        # retention and the date the test runs on.
        c.psql("INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source) "
               "SELECT connector_id, 'run_now', now(), now(), 'succeeded', 'api' FROM syncopt.connector "
               "WHERE external_id = 'up_1'", db())
        columns = table_columns()
        self.assertIn("fivetran_sync_ai_logs", columns)

        # The workers keep writing (alerts, collector state): the rows are
        # compared before and after the update inside one snapshot.
        digests = digest_sql(columns)
        # Where the runs are is read in the update's own transaction, before
        # the collector's purge could make any week.
        out = c.rows(f"BEGIN ISOLATION LEVEL REPEATABLE READ; {digests} "
                     f"ALTER EXTENSION syncopt UPDATE TO '{new}'; {digests} {PLACEMENT} {BACKLOG} COMMIT;", db())
        self.assertEqual(len(out), 2 * len(columns) + 6)
        before, after = out[:len(columns)], out[len(columns):2 * len(columns)]
        placement = dict(out[2 * len(columns):])
        # The update made the weeks and moved the runs into them: this
        # week's run is in its week, and no run is left in the default
        # partition for a week that exists.
        self.assertEqual(placement["run_now"], "syncopt.sync_run_" + c.value(
            "SELECT to_char(date_trunc('week', now() AT TIME ZONE 'UTC'), 'YYYYMMDD')", db()))
        self.assertEqual(placement["left in default"], "0")
        # The weeks are not the extension's (pg_dump would leave them out).
        self.assertEqual(placement["weeks of the extension"], "0")
        # The update kept no runs and queued the one Airbyte connector for
        # the fold; meanwhile its recommendation is read from sync_run, as
        # regress batch_last_runs works it out by hand for these runs: batch
        # 1000 + 100 = 1100, 2 streams, confidence 10 / 15.
        self.assertEqual((placement["queued"], placement["kept"], placement["batch"]),
                         ("ab_1", "0", "1100 2 0.667"))
        # The fold (the collector's, or this one if it has not run) keeps
        # runs 3 to 14, started 02:00 to 13:00, and nothing else changes.
        c.psql("SELECT syncopt.fold_stats_backlog()", db())
        self.assertEqual(c.value(
            "SELECT concat_ws(' ', array_length(k.started_at, 1), k.started_at[1], k.started_at[12], s.runs) "
            "FROM syncopt.connector_last_runs k JOIN syncopt.connector_stats s USING (connector_id) "
            "JOIN syncopt.connector n USING (connector_id) WHERE n.external_id = 'ab_1'", db()),
            "12 2026-11-20 02:00:00+00 2026-11-20 13:00:00+00 14")
        self.assertEqual(c.value("SELECT count(*) FROM syncopt.stats_backlog", db()), "0")
        self.assertEqual(c.value(
            "SELECT concat_ws(' ', r.recommended_batch_size, r.recommended_parallelism, round(r.confidence::numeric, 3)) "
            "FROM syncopt.batch_recommendations('2026-11-20 14:30+00') r JOIN syncopt.connector n USING (connector_id) "
            "WHERE n.external_id = 'ab_1'", db()), "1100 2 0.667")
        self.assertIn(("fivetran_sync_ai_logs", "8:"), [(t, d[:2]) for t, d in before])
        for (table, old_digest), (_, new_digest) in zip(before, after):
            self.assertEqual(new_digest, old_digest, f"rows of syncopt.{table} changed in the update")
        self.assertEqual(c.value("SELECT extversion FROM pg_extension WHERE extname = 'syncopt'", db()), new)
        # sync_run is now partitioned by week (issue 34), and every run of
        # before the update is there, with its key: 8 connectors x 12 runs.
        self.assertEqual(c.value("SELECT relkind FROM pg_class WHERE oid = 'syncopt.sync_run'::regclass", db()), "p")
        self.assertEqual(c.value(
            "SELECT count(*) FROM syncopt.sync_run r JOIN syncopt.sync_run_key k USING (run_id, connector_id, "
            "external_run_id) JOIN syncopt.connector n USING (connector_id) "
            "WHERE n.external_id LIKE 'up\\_%' AND r.external_run_id ~ '^run_([1-9]|1[0-2])$'", db()), "96")
        self.assertEqual(c.value("SELECT (SELECT count(*) FROM syncopt.sync_run) "
                                 "= (SELECT count(*) FROM syncopt.sync_run_key)", db()), "t")
        # connector_stats' latest success is filled from the runs stored
        # (issue 34, h-loader): up_1's is this week's run_now, not folded;
        # the others' their run 12 (runs 5 and 10 failed), started
        # 2026-11-01 12:00 and ended 10 + 12 % 7 = 15 minutes later.
        self.assertEqual(c.value(
            "SELECT s.latest_success_started_at = r.started_at AND s.latest_success_finished_at = r.finished_at "
            "FROM syncopt.connector_stats s JOIN syncopt.connector n USING (connector_id) "
            "JOIN syncopt.sync_run r USING (connector_id) "
            "WHERE n.external_id = 'up_1' AND r.external_run_id = 'run_now'", db()), "t")
        self.assertEqual(c.value(
            "SELECT count(*) FILTER (WHERE s.latest_success_started_at = '2026-11-01 12:00+00' "
            "AND s.latest_success_finished_at = '2026-11-01 12:15+00') || '/' || count(*) "
            "FROM syncopt.connector_stats s JOIN syncopt.connector n USING (connector_id) "
            "WHERE n.external_id LIKE 'up\\_%' AND n.external_id <> 'up_1'", db()), "7/7")
        # cost_by_connector's daily rollup is filled from the runs stored
        # (issue 34, h-rollup): each connector's twelve runs of 2026-11-01,
        # runs 5 and 10 failed, 10 + g % 7 minutes each (156 minutes, 9,360
        # s), 1000 g rows (78,000), no credits; up_1 has today's run_now too.
        self.assertEqual(c.value(
            "SELECT count(*) FILTER (WHERE d.day = '2026-11-01' AND d.syncs = 12 AND d.failed_syncs = 2 "
            "AND d.seconds = 9360 AND d.credits IS NULL AND d.rows = 78000) || '/' || count(*) "
            "FROM syncopt.sync_run_daily d JOIN syncopt.connector n USING (connector_id) "
            "WHERE n.external_id LIKE 'up\\_%'", db()), "8/9")
        upgraded = lines(DESCRIBE)
        upgraded_rows = [lines(q) for q in SCRIPT_ROWS]

        # The workers run on the updated schema: an approval is executed
        # (the account has no credentials, so the executor fails it, saying so).
        decision = c.value("SELECT (syncopt.propose(connector_id, 'pause', '{}', 'after the update')).decision_id "
                           "FROM syncopt.connector WHERE external_id = 'up_3'", db())
        c.psql(f"UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved' WHERE decision_id = {decision}", db())
        c.psql("SELECT syncopt.wake('executor')", db())
        acted = c.wait_for(f"SELECT status = 'failed' AND error LIKE '%no credentials%' "
                           f"FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {decision}", db())

        c.psql("DROP EXTENSION syncopt CASCADE", db())
        c.psql("CREATE EXTENSION syncopt", db())
        fresh = lines(DESCRIBE)
        fresh_rows = [lines(q) for q in SCRIPT_ROWS]
        only_upgraded = sorted(set(upgraded) - set(fresh))
        only_fresh = sorted(set(fresh) - set(upgraded))
        self.assertEqual((only_upgraded, only_fresh), ([], []),
                         "the updated schema differs from a fresh install:\n"
                         + "\n".join("- updated: " + line for line in only_upgraded)
                         + "\n" + "\n".join("+ fresh:   " + line for line in only_fresh))
        self.assertEqual(upgraded, fresh)
        self.assertEqual(upgraded_rows, fresh_rows, "the install script's own rows differ")
        self.assertGreater(len(fresh), 300, "describe_extension.sql saw too little to compare")
        # Checked last: a schema difference above explains a failure here.
        self.assertTrue(acted, "the executor did not act on the updated schema")
