"""The generated fleet, simulate() on it, and the Grafana dashboard's panels.

A generated fleet is loaded into its own database (no worker acts there);
simulate() is checked against its lower bound on several seeds of every
scenario, and every panel query of docs/grafana/syncopt-dashboard.json is
run as a syncopt_reader login after a planning run.
"""

import json
import os
import sys
import unittest

import integration

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "test"))
from fleet.failure_heldout import REAL_HELD_OUT, RETRY_SAFE  # noqa: E402
from fleet.failure_heldout2 import REAL_HELD_OUT_2  # noqa: E402
from fleet.failure_heldout3 import REAL_HELD_OUT_3  # noqa: E402
from fleet.failure_heldout4 import REAL_HELD_OUT_4, REAL_HELD_OUT_4_LATE  # noqa: E402
from fleet.failure_heldout5 import REAL_HELD_OUT_5  # noqa: E402
from fleet.failure_messages import CATEGORIES, MESSAGES, MORE  # noqa: E402
from fleet.generator import SCENARIOS, GeneratedFleet  # noqa: E402
from fleet.optimum import best_schedule, check_schedule  # noqa: E402

DB = "contrib_regression"
# Fifth-set wordings (by source) that the classifier retried at the set's first measurement: an SSL end of file
# cured by TCP keepalives, a socket receive timeout from a mis-set SQL Server port, a connection reset at the
# client's keepalive time. All configuration.
KNOWN_RETRIED_5 = {"https://github.com/FredHutch/motuz/issues/321",
                   "https://github.com/microsoft/mssql-jdbc/issues/1462",
                   "https://github.com/osalvador/ReplicaDB/issues/140"}
AT = "2026-11-20 00:00+00"
ACCOUNTS = """
CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com'), (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
"""


def load(fleet):
    c = integration.CLUSTER
    c.psql(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};")
    c.psql(ACCOUNTS + fleet.sql(), DB)


class GeneratorTests(unittest.TestCase):

    def test_same_seed_same_fleet_other_seed_other_fleet(self):
        a = GeneratedFleet(seed=3, connectors=30, scenario="tight")
        self.assertEqual(a.sql(), GeneratedFleet(seed=3, connectors=30, scenario="tight").sql())
        self.assertEqual(a.mock_fleet(), GeneratedFleet(seed=3, connectors=30, scenario="tight").mock_fleet())
        self.assertNotEqual(a.sql(), GeneratedFleet(seed=4, connectors=30, scenario="tight").sql())

    def test_fleet_shape(self):
        f = GeneratedFleet(seed=5, connectors=60, scenario="failure_heavy")
        vendors = {c["vendor"] for c in f.connectors}
        self.assertEqual(vendors, {"fivetran", "airbyte"})
        # Every connector feeds 1-3 staging models; deadlines in several zones.
        fed = {}
        for kind, upstream, _, _ in f.lineage:
            if kind == "connector":
                fed[upstream] = fed.get(upstream, 0) + 1
        self.assertEqual(len(fed), 60)
        self.assertTrue(all(1 <= n <= 3 for n in fed.values()))
        self.assertGreaterEqual(len({a["timezone"] for a in f.assets if a.get("deadline")}), 3)
        # Injected faults of every kind are remembered for scoring detection.
        self.assertEqual(set(f.truth.values()),
                         {"transient", "rate_limit", "credentials", "schema_change", "duration_spike", "row_drop"})
        with self.assertRaises(ValueError):
            GeneratedFleet(scenario="chaotic")


class FailureWordingTests(unittest.TestCase):

    def test_each_wording_is_classified_as_its_cause(self):
        # The labels in failure_messages.MESSAGES and MORE are by hand and the
        # rules were tuned on them; HELD_OUT is measured by the benchmark, not
        # required here.
        c = integration.CLUSTER
        c.psql(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};")
        c.psql("CREATE EXTENSION syncopt;", DB)
        for cause, wordings in list(MESSAGES.items()) + list(MORE.items()):
            for message, _ in wordings:
                category = c.rows("SELECT category FROM syncopt.classify_failure(%s)" % GeneratedFleet.q(message),
                                  DB)[0][0]
                self.assertIn(category, CATEGORIES[cause], f"{message!r} is {cause}")
        # Every injected failure of a generated fleet carries one of its cause's wordings.
        f = GeneratedFleet(seed=5, connectors=60, scenario="failure_heavy")
        for r in f.runs:
            cause = f.truth.get((r["connector"]["external_id"], r["external_run_id"]))
            if r["error"]:
                self.assertIn(r["error"], [m for m, _ in MESSAGES[cause]])


    def test_no_permanent_held_out_wording_is_retried(self):
        # Issue 30: a failure a retry cannot fix is never read as retryable.
        # Every wording of the five held-out sets whose cause is not
        # retry-safe (hand labels in test/fleet/failure_heldout*.py); the
        # sets stay held out for accuracy, which this does not assert.  The
        # Snowflake statement timeout of REAL_HELD_OUT_2 was retried before
        # the third round.  The fourth set (written by someone who did not
        # choose the training families) holds 21 such wordings and its late
        # replacements 4; the fifth (written blind too) 22, 8 of them read
        # like a passing failure: 29 + 26 + 31 + 21 + 4 + 22 = 133 in all,
        # less the fifth set's three known defects (KNOWN_RETRIED_5, checked
        # by the next test), so more than 129 means every set was read.
        c = integration.CLUSTER
        c.psql(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};")
        c.psql("CREATE EXTENSION syncopt;", DB)
        checked = 0
        for held_out in (REAL_HELD_OUT, REAL_HELD_OUT_2, REAL_HELD_OUT_3, REAL_HELD_OUT_4,
                         REAL_HELD_OUT_4_LATE, REAL_HELD_OUT_5):
            for cause, wordings in held_out.items():
                if cause in RETRY_SAFE:
                    continue
                for message, source in wordings:
                    if held_out is REAL_HELD_OUT_5 and source in KNOWN_RETRIED_5:
                        continue
                    retryable = c.value("SELECT retryable FROM syncopt.classify_failure(%s)"
                                        % GeneratedFleet.q(message), DB)
                    self.assertEqual(retryable, "f", f"{message!r} ({source}) is {cause}: never retried")
                    checked += 1
        self.assertGreater(checked, 129)

    # A known defect, found by the first measurement of the fifth held-out set
    # (docs/benchmarks.md, "Fifth held-out set"; the classifier was left as it
    # was): three configuration failures worded as a passing network failure
    # are retried on a built-in rule. When they no longer are, this reports an
    # unexpected success: remove the mark and KNOWN_RETRIED_5, and the test
    # above covers them again.
    @unittest.expectedFailure
    def test_fifth_set_known_retried_configuration_wordings(self):
        c = integration.CLUSTER
        c.psql(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};")
        c.psql("CREATE EXTENSION syncopt;", DB)
        known = [(m, s) for m, s in REAL_HELD_OUT_5["configuration"] if s in KNOWN_RETRIED_5]
        self.assertEqual(len(known), len(KNOWN_RETRIED_5))
        for message, source in known:
            retryable = c.value("SELECT retryable FROM syncopt.classify_failure(%s)"
                                % GeneratedFleet.q(message), DB)
            self.assertEqual(retryable, "f", f"{message!r} ({source}) is configuration: never retried")


class SimulateOnGeneratedFleetTests(unittest.TestCase):

    def test_lower_bound_never_above_any_policy(self):
        c = integration.CLUSTER
        for scenario in SCENARIOS:
            load(GeneratedFleet(seed=11, connectors=40, scenario=scenario))
            rows = c.rows(f"""
SET syncopt.max_concurrent_syncs = 4;
SELECT s.policy, s.seed, s.sla_misses, s.lb_sla_misses, s.weighted_misses, s.lb_weighted_misses,
       s.weighted_tardiness_h, s.lb_weighted_tardiness_h, s.syncs, s.lb_syncs, s.deadlines,
       s.slot_bound_sla_misses, s.slot_bound_weighted_misses, s.load_window_syncs
  FROM unnest(ARRAY['static', 'fifo', 'edf', 'syncopt']) p, generate_series(1, 5) seed,
       syncopt.simulate(p, '3 days', seed, '{AT}') s""", DB)
            self.assertEqual(len(rows), 20)
            in_windows = {(r[0], r[1]): int(r[13]) for r in rows}
            for (policy, seed, misses, lb_misses, wm, lb_wm, wt, lb_wt, syncs, lb_syncs, deadlines,
                 slot_misses, slot_wm, _) in rows:
                with self.subTest(scenario=scenario, policy=policy, seed=seed):
                    self.assertGreater(int(deadlines), 0)
                    # The bounds hold for schedules that keep out of the windows
                    # forbidding a source; static's vendor schedules do not.
                    if policy == "static":
                        self.assertGreater(in_windows[(policy, seed)], in_windows[("syncopt", seed)])
                        continue
                    self.assertLessEqual(int(lb_misses), int(misses))
                    self.assertLessEqual(float(lb_wm), float(wm) + 1e-9)
                    self.assertLessEqual(float(lb_wt), float(wt) + 1e-9)
                    # The bound on these slots: tighter than unlimited slots, never above a policy.
                    self.assertLessEqual(int(lb_misses), int(slot_misses))
                    self.assertLessEqual(int(slot_misses), int(misses))
                    self.assertLessEqual(float(slot_wm), float(wm) + 1e-9)
                    if int(misses) == 0:
                        self.assertLessEqual(int(lb_syncs), int(syncs))



class OneEngineTests(unittest.TestCase):
    """simulate()'s syncopt policy is the planner: at a planning instant T of a
    replay, the database loaded with the replay's state at T (its syncs so far
    as history) makes plan() and run_planner() decide what the replay did."""

    # The state at T: the replay's syncs started before T as sync_run (ended
    # ones as they ended, the others running), no history that the replay
    # does not count, each connector's last success as the replay left it,
    # and the connectors a deadline waits for on a manual schedule (the
    # replay gives them none: syncopt's triggers replace it).  The runs are
    # written directly, not ingested, so connector_stats' latest success is
    # set from them as every fold sets it (the loader reads it, issue 34).
    STATE_AT = """
BEGIN;
SET syncopt.max_concurrent_syncs = 4;
CREATE TEMP TABLE trace AS SELECT * FROM syncopt.simulate_trace('2 days', {seed}, '{at}', 0);
DELETE FROM syncopt.sync_run WHERE started_at > '{at}'::timestamptz - interval '9 days';
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
SELECT t.connector_id, 'replay-' || row_number() OVER (), t.starts_at,
       CASE WHEN t.ends_at <= '{t}' THEN t.ends_at END,
       CASE WHEN t.ends_at > '{t}' THEN 'running' ELSE t.action END, 'api'
  FROM trace t WHERE t.kind = 'sync' AND t.starts_at < '{t}';
UPDATE syncopt.connector_stats s
   SET (latest_success_started_at, latest_success_finished_at) =
       (SELECT r.started_at, r.finished_at FROM syncopt.sync_run r
         WHERE r.connector_id = s.connector_id AND r.status = 'succeeded'
         ORDER BY r.started_at DESC, r.finished_at LIMIT 1);
UPDATE syncopt.connector c SET last_success_at = greatest(c.last_success_at, s.last_end)
  FROM (SELECT connector_id, max(ends_at) AS last_end FROM trace
         WHERE kind = 'sync' AND action = 'succeeded' AND ends_at <= '{t}' GROUP BY 1) s
 WHERE s.connector_id = c.connector_id;
UPDATE syncopt.connector SET schedule_type = 'manual';
"""

    def test_run_planner_at_t_decides_what_the_replay_did(self):
        c = integration.CLUSTER
        seed = 5
        load(GeneratedFleet(seed=seed, connectors=30, scenario="tight"))
        checked = triggers_seen = 0
        for offset in ("2 hours", "12 hours 45 minutes", "13 hours", "28 hours 30 minutes", "37 hours"):
            t = f"'{AT}'::timestamptz + interval '{offset}'"
            t_value = c.value(f"SELECT {t}", DB)
            state = self.STATE_AT.format(seed=seed, at=AT, t=t_value)
            with self.subTest(offset=offset):
                # The whole plan: every planned sync, its action and start.
                diff = c.rows(state + f"""
SELECT coalesce(p.connector_id, d.connector_id), p.action, d.action, p.planned_start, d.starts_at
  FROM (SELECT connector_id, action, planned_start FROM syncopt.plan({t}, '24 hours')) p
  FULL JOIN (SELECT connector_id, action, starts_at FROM trace
              WHERE kind = 'decision' AND at = {t}) d USING (connector_id)
 WHERE p.action IS DISTINCT FROM d.action OR p.planned_start IS DISTINCT FROM d.starts_at;
ROLLBACK;""", DB)
                self.assertEqual(diff, [])
                planned = int(c.value(state + f"""
SELECT count(*) FROM trace WHERE kind = 'decision' AND at = {t};
ROLLBACK;""", DB))
                self.assertGreater(planned, 0)
                # What run_planner() triggers is what the replay triggered.
                rows = c.rows(state + f"""
CREATE TEMP TABLE written AS SELECT * FROM syncopt.run_planner({t});
SELECT (SELECT coalesce(array_agg(connector_id ORDER BY connector_id), '{{}}') FROM written
         WHERE action = 'trigger_sync'),
       (SELECT coalesce(array_agg(connector_id ORDER BY connector_id), '{{}}') FROM trace
         WHERE kind = 'decision' AND at = {t} AND flag);
ROLLBACK;""", DB)
                self.assertEqual(rows[0][0], rows[0][1])
                triggers_seen += rows[0][1] != "{}"
                checked += 1
        self.assertEqual(checked, 5)
        # Some of the instants trigger syncs, so the comparison is not vacuous.
        self.assertGreater(triggers_seen, 0)


    def test_replay_spaces_retries_as_run_planner_does(self):
        # The retry back-off (issue 30, h-backoff) in the replay: a planned
        # sync that is due now (starts before the next run) is triggered
        # exactly when run_planner()'s rule lets it, at >= retry_opening(
        # failures in a row, end of the last failure), the SQL function
        # due_now calls.  The streak and the last failure at each planning
        # instant are counted here from the trace (its syncs that ended
        # before the instant, after the fleet's loaded state, which the
        # loader's rule gives: the stats' streak unless a success is known
        # after the last failure); instants at which one of the connector's
        # syncs ends are left out (the order of the two events there is the
        # replay's).
        c = integration.CLUSTER
        # Seed 1, failure-heavy: before the back-off the replay triggered
        # planned syncs that the rule holds back (the test fails there).
        load(GeneratedFleet(seed=1, connectors=40, scenario="failure_heavy"))
        rows = c.rows(f"""
SET syncopt.max_concurrent_syncs = 8;
CREATE TEMP TABLE trace AS SELECT * FROM syncopt.simulate_trace('3 days', 1, '{AT}', 1);
WITH loaded AS (
    SELECT c.connector_id, st.last_failure_at,
           CASE WHEN st.last_failure_at < greatest(st.last_success_at, c.last_success_at) THEN 0
                ELSE coalesce(st.consecutive_failures, 0) END AS in_row
      FROM syncopt.connector c LEFT JOIN syncopt.connector_stats st USING (connector_id)
), due AS (
    SELECT d.* FROM trace d
     WHERE d.kind = 'decision' AND d.action IN ('start_now', 'start_later')
       AND d.starts_at < d.at + interval '15 minutes'
       AND NOT EXISTS (SELECT FROM trace s WHERE s.kind = 'sync' AND s.connector_id = d.connector_id
                                              AND s.ends_at = d.at)
), judged AS (
    SELECT d.flag,
           d.at >= syncopt.retry_opening((CASE WHEN ok.last_ok IS NULL THEN l.in_row ELSE 0 END + f.n)::integer,
                                         coalesce(f.last_failed, l.last_failure_at)) AS rule,
           CASE WHEN ok.last_ok IS NULL THEN l.in_row ELSE 0 END + f.n >= 2 AS repeated
      FROM due d
      JOIN loaded l USING (connector_id)
     CROSS JOIN LATERAL (SELECT max(s.ends_at) FILTER (WHERE s.action = 'succeeded') AS last_ok
                           FROM trace s WHERE s.kind = 'sync' AND s.connector_id = d.connector_id
                                          AND s.ends_at < d.at) ok
     CROSS JOIN LATERAL (SELECT count(*) AS n, max(s.ends_at) AS last_failed FROM trace s
                          WHERE s.kind = 'sync' AND s.connector_id = d.connector_id AND s.action = 'failed'
                            AND s.ends_at < d.at AND s.ends_at > coalesce(ok.last_ok, '-infinity')) f
)
SELECT count(*) FILTER (WHERE flag IS DISTINCT FROM rule),
       count(*) FILTER (WHERE NOT rule),
       count(*) FILTER (WHERE rule AND repeated),
       count(*)
  FROM judged""", DB)
        disagree, held, retried_after_wait, due = (int(v) for v in rows[0])
        self.assertEqual(disagree, 0)
        # The rule was exercised both ways: syncs it held back, and syncs of
        # connectors with repeated failures retried once their wait ran out.
        self.assertGreater(held, 0)
        self.assertGreater(retried_after_wait, 0)
        self.assertGreater(due, held)

    def test_backtest_of_a_replay_recorded_as_history_replays_it(self):
        # Two days the planner ran (simulate()'s syncopt replay, noise 0),
        # recorded as the team's history: backtest() over those days must
        # find what happened equal to what its replay does, deadline by
        # deadline, and both equal to simulate()'s own count.
        c = integration.CLUSTER
        seed = 7
        load(GeneratedFleet(seed=seed, connectors=30, scenario="tight"))
        rows = c.rows(f"""
BEGIN;
SET syncopt.max_concurrent_syncs = 4;
CREATE TEMP TABLE trace AS SELECT * FROM syncopt.simulate_trace('2 days', {seed}, '{AT}', 0);
DELETE FROM syncopt.sync_run WHERE started_at > '{AT}'::timestamptz - interval '9 days';
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
SELECT t.connector_id, 'replay-' || row_number() OVER (), t.starts_at, t.ends_at, t.action, 'api'
  FROM trace t WHERE t.kind = 'sync';
CREATE TEMP TABLE bt AS SELECT * FROM syncopt.backtest('{AT}', '{AT}'::timestamptz + interval '2 days');
SELECT (SELECT count(*) FROM bt WHERE asset_id IS NOT NULL),
       (SELECT count(*) FROM bt WHERE asset_id IS NOT NULL
         AND (actual_met IS DISTINCT FROM replay_met OR actual_late IS DISTINCT FROM replay_late)),
       (SELECT count(*) FROM bt WHERE asset_id IS NOT NULL AND NOT replay_met),
       (SELECT s.sla_misses FROM syncopt.simulate('syncopt', '2 days', {seed}, '{AT}', noise => 0) s),
       (SELECT round(actual_credits::numeric, 6) = round(replay_credits::numeric, 6) FROM bt WHERE asset_id IS NULL),
       (SELECT count(*) FROM trace WHERE kind = 'sync');
ROLLBACK;""", DB)
        deadlines, differ, replay_missed, simulate_missed, same_credits, syncs = rows[0]
        self.assertGreater(int(deadlines), 0)
        self.assertGreater(int(syncs), 0)
        self.assertEqual(int(differ), 0)
        self.assertEqual(int(replay_missed), int(simulate_missed))
        self.assertEqual(same_credits, "t")


def hand_world(deadlines, connectors):
    """A one-day world as simulate_world() writes it; durations in seconds, the same each day."""
    return {"horizon_s": 86400.0, "connectors": [
        {"connector_id": i, "p50_s": p, "p90_s": p * 1.5, "first_day_s": 0.0, "sync_s": [p, p],
         "outage": None, "forbidden_windows": windows, "vendor_starts_s": []}
        for i, p, windows in connectors],
        "deadlines": [{"weight": w, "requirements": [{"connector_id": i, "opens_s": o, "due_s": d} for i, o, d in reqs]}
                      for w, reqs in deadlines]}


class BestScheduleTests(unittest.TestCase):
    """fleet/optimum.py, the benchmark's search for the best schedule, on worlds solved by hand."""

    def test_one_slot_two_deadlines(self):
        # X and Y take 60 min.  D (weight 1) wants X from 05:00 by 06:00, E
        # (weight 10) wants Y from 05:00 by 06:30.  One slot: whichever runs
        # first at 05:00 ends at 06:00, the other then ends at 07:00, after
        # both due times.  Best: Y at 05:00, E met, D missed (weight 1).
        world = hand_world([(1, [(7, 18000, 21600)]), (10, [(8, 18000, 23400)])], [(7, 3600, []), (8, 3600, [])])
        best = best_schedule(world, slots=1)
        self.assertEqual(best["missed"], 1)
        self.assertEqual(best["starts"], [(8, 18000)])
        self.assertEqual(check_schedule(world, 1, best["starts"]), 1)
        # Two slots meet both, each at 05:00.
        best = best_schedule(world, slots=2)
        self.assertEqual((best["missed"], best["starts"]), (0, [(7, 18000), (8, 18000)]))
        # The independent replay: X first misses E (10); both at once on one
        # slot, or two syncs of X overlapping, break the rules.
        self.assertEqual(check_schedule(world, 1, [(7, 18000), (8, 21600)]), 10)
        with self.assertRaises(ValueError):
            check_schedule(world, 1, [(7, 18000), (8, 18000)])
        with self.assertRaises(ValueError):
            check_schedule(world, 2, [(7, 18000), (7, 19800)])

    def test_windows_and_sharing(self):
        # One slot.  X (30 min) feeds D (weight 3, data from 04:00 by 06:00)
        # and F (weight 2, from 04:30 by 06:30); a window forbids X's source
        # 05:00-05:30, so at P90 (45 min) X may start by 04:15 or from
        # 05:30.  F needs a start in 05:30-06:00, D one in 04:00-04:15 or at
        # 05:30: both are met, and one sync at 05:30 meets both.
        world = hand_world([(3, [(7, 14400, 21600)]), (2, [(7, 16200, 23400)])], [(7, 1800, [[18000, 19800]])])
        best = best_schedule(world, slots=1)
        self.assertEqual(best["missed"], 0)
        self.assertEqual(check_schedule(world, 1, best["starts"]), 0)
        self.assertTrue(any(19800 <= t <= 21600 for _, t in best["starts"]))
        self.assertEqual(check_schedule(world, 1, [(7, 19800)]), 0)
        # A start at 04:15 meets D only; one at 04:20 would run into the window at P90.
        self.assertEqual(check_schedule(world, 1, [(7, 15300)]), 2)
        with self.assertRaises(ValueError):
            check_schedule(world, 1, [(7, 15600)])
        # A 20-minute window ending at 06:10 also keeps out every start F could use: F missed.
        world["connectors"][0]["forbidden_windows"].append([21600, 22200])
        self.assertEqual(best_schedule(world, slots=1)["missed"], 2)

    def test_generated_world_schedule_holds_and_respects_the_bounds(self):
        # On a generated fleet the schedule found replays to the weight the
        # solver claims, and no schedule misses less than the lower bounds
        # simulate() reports for the same world.
        c = integration.CLUSTER
        load(GeneratedFleet(seed=4, connectors=20, scenario="tight"))
        world = json.loads(c.value(f"SELECT syncopt.simulate_world('2 days', 4, '{AT}', 0)", DB))
        lb, slot_lb = (float(v) for v in c.rows(f"""
SET syncopt.max_concurrent_syncs = 2;
SELECT lb_weighted_misses, slot_bound_weighted_misses FROM syncopt.simulate('syncopt', '2 days', 4, '{AT}', noise => 0)""",
                                                DB)[0])
        self.assertGreater(len(world["deadlines"]), 0)
        best = best_schedule(world, slots=2, time_limit_s=60)
        self.assertAlmostEqual(check_schedule(world, 2, best["starts"]), best["missed"], places=4)
        self.assertGreaterEqual(best["missed"] + 1e-6, slot_lb)
        self.assertGreaterEqual(slot_lb, lb)


class GrafanaPanelTests(unittest.TestCase):

    def test_every_panel_query_runs_as_a_reader(self):
        c = integration.CLUSTER
        load(GeneratedFleet(seed=2, connectors=30, scenario="tight"))
        c.psql(f"""
SELECT count(*) FROM syncopt.run_planner('{AT}');
SELECT syncopt.propose(1, 'trigger_sync', '{{}}', 'panel test');
-- A wording family no label covers, failing twice: the label queue's row.
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, error_message, source)
SELECT (SELECT min(connector_id) FROM syncopt.connector), 'panel' || n,
       '{AT}'::timestamptz - n * interval '1 hour', '{AT}'::timestamptz - n * interval '1 hour' + interval '5 minutes',
       'failed', 'Flux capacitor misaligned on node ' || n, 'api'
  FROM generate_series(1, 2) n;
DROP ROLE IF EXISTS grafana_test; CREATE ROLE grafana_test LOGIN IN ROLE syncopt_reader;""", DB)
        with open(os.path.join(TOP, "docs", "grafana", "syncopt-dashboard.json")) as f:
            dashboard = json.load(f)
        try:
            nonempty = 0
            queue = None
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    with self.subTest(panel=panel["title"]):
                        rows = c.rows("SET SESSION AUTHORIZATION grafana_test;\n" + target["rawSql"], DB)
                        nonempty += bool(rows)
                        if "failure_label_queue" in target["rawSql"]:
                            queue = rows
            # The label queue panel shows the unlabelled family once, with its two runs
            # and the verdict a label would replace.
            self.assertEqual([(r[0], r[1], r[5]) for r in queue], [("flux capacitor misaligned on node 0", "2", "unknown")])
            # Health, SLA, plan, approvals and audit all have rows here.
            self.assertGreaterEqual(nonempty, 6)
            self.assertGreaterEqual(len(dashboard["panels"]), 7)
        finally:
            c.psql("DROP DATABASE IF EXISTS contrib_regression; DROP ROLE IF EXISTS grafana_test;")
