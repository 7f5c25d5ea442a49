"""The forecast scorecard filled by the real planner in shadow mode.

A generated fleet is loaded into its own database (no worker acts there)
with its history up to two days before the generator's `now`; then the
runs arrive as they end, the way the collector brings them, and the real
run_planner() plans every two hours over those two days, in shadow mode.
What the scorecard says is checked against an independent computation in
Python from the generator's own runs and graph: each deadline's ready time
(the first success of every upstream connector started at or after the
deadline minus the freshness SLA, plus the longest build path), met or
missed, the verdict of each logged forecast, the counts per lead time, and
each predicted run's duration against its P90.  Every time is fixed by the
generator; nothing depends on when the test runs.
"""

import os
import sys
import unittest
from datetime import timedelta

import integration

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "test"))
from fleet.generator import GeneratedFleet  # noqa: E402

DB = "contrib_regression"
STEP = timedelta(hours=2)
REPLAY = timedelta(days=2)
BUCKETS = [("<1h", 0, 1), ("1-3h", 1, 3), ("3-6h", 3, 6), ("6-12h", 6, 12), (">12h", 12, None)]


def epoch(t):
    return t.timestamp()


def runs_sql(fleet, runs):
    """Insert finished runs and absorb them, as ingestion does."""
    q = fleet.q
    rows = []
    for r in runs:
        c = r["connector"]
        rows.append(f"({2 if c['vendor'] == 'airbyte' else 1}, {q(c['external_id'])}, {q(r['external_run_id'])}, "
                    f"{q(r['started_at'])}, {q(r['started_at'] + timedelta(seconds=r['seconds']))}, "
                    f"{q(r['status'])}, {r['rows']})")
    return ("WITH v (account_id, external_id, run, started, finished, status, nrows) AS (VALUES\n"
            + ",\n".join(rows) + "),\n"
            " ins AS (INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status,"
            " rows, source) SELECT c.connector_id, v.run, v.started::timestamptz, v.finished::timestamptz, v.status,"
            " v.nrows, 'api' FROM v JOIN syncopt.connector c USING (account_id, external_id) RETURNING run_id)\n"
            "SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id)) IS NOT NULL FROM ins;\n")


class ShadowScorecardTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        c = integration.CLUSTER
        cls.fleet = f = GeneratedFleet(seed=4, connectors=20, scenario="loose")
        start = f.now - REPLAY
        c.psql(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB};"
               # The planning cadence, as docs/analytics.md asks.
               f" ALTER DATABASE {DB} SET syncopt.planner_interval = '{STEP.seconds // 60}min';")
        history = [r for r in f.runs if r["started_at"] + timedelta(seconds=r["seconds"]) <= start]
        c.psql("""CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com'), (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.policy (mode) VALUES ('shadow');
""" + f.sql_connectors() + runs_sql(f, history) + f.sql_graph() + "ANALYZE;", DB)
        loaded = {id(r) for r in history}
        # The generated dashboards read many connectors on vendor schedules
        # and are all missed in shadow mode; two boards fed by the fleet's
        # most frequent Fivetran connectors give met deadlines too.
        frequent = sorted((x for x in f.connectors if x["vendor"] == "fivetran"),
                          key=lambda x: (x["schedule_minutes"], x["n"]))[:2]
        cls.extra_assets = [
            {"name": "ops_board", "minutes": 5, "deadline": "07:00", "freshness_h": 12},
            {"name": "ops_pair", "minutes": 0, "deadline": "13:30", "freshness_h": 16}]
        cls.extra_lineage = [("connector", frequent[0]["external_id"], "fivetran", "ops_board"),
                             ("connector", frequent[0]["external_id"], "fivetran", "ops_pair"),
                             ("connector", frequent[1]["external_id"], "fivetran", "ops_pair")]
        c.psql("INSERT INTO syncopt.asset (name, kind, deadline, freshness_sla, duration) VALUES"
               " ('ops_board', 'dashboard', '07:00', '12 hours', '5 minutes'),"
               " ('ops_pair', 'report', '13:30', '16 hours', '0');\n"
               + "".join(f"INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) SELECT"
                         f" {f.connector_ref(ext, vendor)}, (SELECT asset_id FROM syncopt.asset WHERE name = '{a}');\n"
                         for _, ext, vendor, a in cls.extra_lineage), DB)
        cls.logged_vs_forecast = []
        t = start
        while t <= f.now:
            arriving = [r for r in f.runs if id(r) not in loaded
                        and r["started_at"] + timedelta(seconds=r["seconds"]) <= t]
            if arriving:
                c.psql(runs_sql(f, arriving), DB)
                loaded.update(id(r) for r in arriving)
            out = c.rows(f"""
SELECT count(*) FROM syncopt.run_planner('{t.isoformat()}');
SELECT (SELECT count(*) FROM syncopt.sla_forecast s
         WHERE EXISTS (SELECT FROM syncopt.asset_inputs(s.asset_id))),
       (SELECT count(*) FROM syncopt.sla_forecast_log l
         WHERE l.planner_run_id = (SELECT max(planner_run_id) FROM syncopt.planner_run));""", DB)
            cls.logged_vs_forecast.append(out[-1])
            t += STEP
        cls.last_at = t - STEP

    @classmethod
    def tearDownClass(cls):
        integration.CLUSTER.psql(f"DROP DATABASE IF EXISTS {DB};")

    def ready_times(self):
        """Ready time of each (asset name, deadline epoch) the planner forecast, computed here."""
        f, c = self.fleet, integration.CLUSTER
        assets = {a["name"]: a for a in f.assets + self.extra_assets}
        upstream_assets, upstream_conns = {}, {}
        for kind, up, _, asset in f.lineage + self.extra_lineage:
            (upstream_conns if kind == "connector" else upstream_assets).setdefault(asset, []).append(up)

        memo = {}

        def build_times(name):
            # Longest build from each connector to `name`, `name`'s own minutes included.
            if name not in memo:
                own = assets[name]["minutes"] * 60
                best = {ext: own for ext in upstream_conns.get(name, [])}
                for up in upstream_assets.get(name, []):
                    for ext, b in build_times(up).items():
                        best[ext] = max(best.get(ext, 0), b + own)
                memo[name] = best
            return memo[name]

        last = epoch(self.last_at)
        successes = {}
        for r in f.runs:
            end = epoch(r["started_at"]) + r["seconds"]
            if r["status"] == "succeeded" and end <= last:
                successes.setdefault(r["connector"]["external_id"], []).append((epoch(r["started_at"]), end))
        out = {}
        for name, deadline in c.rows("""SELECT a.name, extract(epoch FROM o.deadline) FROM syncopt.sla_outcome o
                                        JOIN syncopt.asset a USING (asset_id)""", DB):
            deadline = float(deadline)
            opens = deadline - assets[name].get("freshness_h", 24) * 3600
            ready = 0
            for ext, build in build_times(name).items():
                landed = [end for start, end in successes.get(ext, []) if start >= opens]
                if not landed:
                    ready = None
                    break
                ready = max(ready, min(landed) + build)
            out[(name, deadline)] = ready
        return out

    def test_every_forecast_of_an_asset_with_inputs_is_logged(self):
        self.assertGreaterEqual(len(self.logged_vs_forecast), 24)
        for forecast, logged in self.logged_vs_forecast:
            self.assertEqual(logged, forecast)
        self.assertGreater(sum(int(n) for _, n in self.logged_vs_forecast), 0)

    def test_outcomes_match_the_runs(self):
        c = integration.CLUSTER
        expected = self.ready_times()
        rows = c.rows("""SELECT a.name, extract(epoch FROM o.deadline), coalesce(extract(epoch FROM o.ready_at)::text, ''),
                                coalesce(o.met::text, ''), o.intervened, o.settled
                           FROM syncopt.sla_outcome o JOIN syncopt.asset a USING (asset_id)""", DB)
        last = epoch(self.last_at)
        decided = 0
        for name, deadline, ready_at, met, intervened, settled in rows:
            deadline = float(deadline)
            ready = expected[(name, deadline)]
            with self.subTest(asset=name, deadline=deadline):
                # Shadow mode executes nothing: no forecast is left out.
                self.assertEqual(intervened, "f")
                if ready_at:
                    self.assertAlmostEqual(float(ready_at), ready, places=3)
                elif settled == "t":
                    # Settled a day after the deadline without a ready time.
                    self.assertTrue(ready is None or ready > deadline)
                else:
                    self.assertIsNone(ready)
                if ready is not None and ready <= deadline:
                    self.assertEqual(met, "true")
                elif ready is not None or last > deadline:
                    self.assertEqual(met, "false")
                else:
                    self.assertEqual(met, "")
                decided += met != ""
        self.assertGreater(decided, 5)

    def test_scorecard_counts_match_an_independent_tally(self):
        c = integration.CLUSTER
        expected = self.ready_times()
        last = epoch(self.last_at)
        tally = {label: {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "pending": 0} for label, _, _ in BUCKETS}
        for name, deadline, planned_at, at_risk in c.rows(
                """SELECT a.name, extract(epoch FROM l.deadline), extract(epoch FROM l.planned_at), l.at_risk
                     FROM syncopt.sla_forecast_log l JOIN syncopt.asset a USING (asset_id)""", DB):
            deadline, lead_h = float(deadline), (float(deadline) - float(planned_at)) / 3600
            label = next(b for b, lo, hi in BUCKETS if lead_h >= lo and (hi is None or lead_h < hi))
            ready = expected[(name, deadline)]
            if ready is None and last <= deadline:
                tally[label]["pending"] += 1
                continue
            missed = ready is None or ready > deadline
            key = ("tp" if missed else "fp") if at_risk == "t" else ("fn" if missed else "tn")
            tally[label][key] += 1
        got = {r[0]: r[1:] for r in c.rows(
            """SELECT lead_time, tp, fp, fn, tn, pending, coalesce(precision_pct::text, ''), coalesce(recall_pct::text, '')
                 FROM syncopt.forecast_score('2000-01-01', '2100-01-01') WHERE measure = 'sla_at_risk'""", DB)}
        for label, t in tally.items():
            with self.subTest(lead=label):
                self.assertEqual(tuple(int(x) for x in got[label][:5]),
                                 (t["tp"], t["fp"], t["fn"], t["tn"], t["pending"]))
                precision = f"{100 * t['tp'] / (t['tp'] + t['fp']):.1f}" if t["tp"] + t["fp"] else ""
                recall = f"{100 * t['tp'] / (t['tp'] + t['fn']):.1f}" if t["tp"] + t["fn"] else ""
                self.assertEqual(got[label][5:], (precision, recall))
        total = sum(sum(t[k] for k in ("tp", "fp", "fn", "tn")) for t in tally.values())
        self.assertEqual(int(got["all"][0]) + int(got["all"][1]) + int(got["all"][2]) + int(got["all"][3]), total)
        self.assertGreater(total, 20)

    def test_predicted_durations_against_the_runs_they_predicted(self):
        c = integration.CLUSTER
        seconds = {r["external_run_id"]: r for r in self.fleet.runs}
        rows = c.rows("""SELECT r.external_run_id, extract(epoch FROM d.p90), d.outcome, coalesce(d.within_p90::text, ''),
                                extract(epoch FROM d.run_started_at - d.first_at),
                                extract(epoch FROM d.run_started_at - d.last_at)
                           FROM syncopt.duration_forecast d JOIN syncopt.sync_run r USING (run_id)""", DB)
        within = resolved = 0
        for run, p90, outcome, within_p90, after_first, after_last in rows:
            r = seconds[run]
            with self.subTest(run=run):
                # The run started while the prediction stood.
                self.assertGreaterEqual(float(after_first), 0)
                self.assertLess(float(after_last), 2 * STEP.total_seconds())
                self.assertEqual(outcome, r["status"])
                if r["status"] == "succeeded":
                    self.assertEqual(within_p90, "true" if r["seconds"] <= float(p90) + 1e-6 else "false")
                    resolved += 1
                    within += within_p90 == "true"
                else:
                    self.assertEqual(within_p90, "")
        self.assertGreater(resolved, 10)
        got = c.rows("""SELECT resolved, within_p90, p90_coverage_pct FROM syncopt.forecast_score('2000-01-01', '2100-01-01')
                         WHERE measure = 'duration_p90'""", DB)[0]
        self.assertEqual((int(got[0]), int(got[1])), (resolved, within))
        self.assertEqual(got[2], f"{100 * within / resolved:.1f}")

    def test_the_digest_reports_it(self):
        lines = integration.CLUSTER.psql("SELECT syncopt.digest('2000-01-01')", DB)[1].rstrip("\n").split("\n")
        k = lines.index("Forecast scorecard (syncopt.forecast_outcomes has each forecast):")
        self.assertRegex(lines[k + 1], r"^  at risk, lead ")
        self.assertRegex(lines[-1], r"^  durations: \d+ of \d+ predicted runs within their P90 \(\d+\.\d%\)$")


if __name__ == "__main__":
    unittest.main()
