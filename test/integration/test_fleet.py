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
from fleet.failure_messages import CATEGORIES, MESSAGES, MORE  # noqa: E402
from fleet.generator import SCENARIOS, GeneratedFleet  # noqa: E402

DB = "contrib_regression"
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


class GrafanaPanelTests(unittest.TestCase):

    def test_every_panel_query_runs_as_a_reader(self):
        c = integration.CLUSTER
        load(GeneratedFleet(seed=2, connectors=30, scenario="tight"))
        c.psql(f"""
SELECT count(*) FROM syncopt.run_planner('{AT}');
SELECT syncopt.propose(1, 'trigger_sync', '{{}}', 'panel test');
DROP ROLE IF EXISTS grafana_test; CREATE ROLE grafana_test LOGIN IN ROLE syncopt_reader;""", DB)
        with open(os.path.join(TOP, "docs", "grafana", "syncopt-dashboard.json")) as f:
            dashboard = json.load(f)
        try:
            nonempty = 0
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    with self.subTest(panel=panel["title"]):
                        rows = c.rows("SET SESSION AUTHORIZATION grafana_test;\n" + target["rawSql"], DB)
                        nonempty += bool(rows)
            # Health, SLA, plan, approvals and audit all have rows here.
            self.assertGreaterEqual(nonempty, 6)
            self.assertGreaterEqual(len(dashboard["panels"]), 7)
        finally:
            c.psql("DROP DATABASE IF EXISTS contrib_regression; DROP ROLE IF EXISTS grafana_test;")
