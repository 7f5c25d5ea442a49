#!/usr/bin/env python3
"""make bench, dashboards part: each dashboard view on the 10,000-connector
fleet of bench_analytics.py (1,000,000 runs, every 6 hours back from now),
after one planning run, beside the analytics call the view spares.

Writes the "Dashboard views" section of docs/benchmarks.md.
"""

import os
import statistics
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_analytics as fleet  # noqa: E402
from harness.cluster import Cluster  # noqa: E402
from report import replace_section  # noqa: E402

VIEWS = ["connector_health", "sla_status", "pending_approvals", "decision_audit", "cost_by_connector",
         "anomaly_feed", "plan_timeline"]
ROUNDS = 5


def main():
    # History ends at the current hour, so the 7-day and 24-hour views have rows.
    fleet.AT = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:00+00")
    cluster = Cluster(fleet.SETTINGS, databases=[fleet.DB])
    try:
        cluster.start()
        cluster.psql(fleet.FLEET, fleet.DB)
        cluster.psql(fleet.runs_sql(1, 100) + fleet.STATS, fleet.DB)
        cluster.psql("INSERT INTO syncopt.policy (mode) VALUES ('copilot'); SELECT count(*) FROM syncopt.run_planner();",
                     fleet.DB)
        times, counts = {}, {}
        for v in VIEWS:
            times[v] = statistics.median(fleet.timed(cluster, f"SELECT * FROM syncopt.{v}") for _ in range(ROUNDS))
            counts[v] = int(cluster.value(f"SELECT count(*) FROM syncopt.{v}", fleet.DB))
        plan = statistics.median(fleet.timed(cluster, "SELECT * FROM syncopt.plan()") for _ in range(3))
        risk = statistics.median(fleet.timed(cluster, "SELECT * FROM syncopt.sla_risk()") for _ in range(3))
    finally:
        cluster.destroy()
    rows = "\n".join(f"| `syncopt.{v}` | {counts[v]:,} | {times[v] * 1000:,.0f} ms |" for v in VIEWS)
    text = f"""## Dashboard views

Written by `make bench` ({os.path.relpath(__file__, fleet.TOP)}): the
{fleet.CONNECTORS:,}-connector fleet of the analytics benchmark with 1,000,000
runs (every 6 hours back from the current hour), one planning run in co-pilot
mode, then `SELECT *` of each view, median of {ROUNDS} in the server.
Target: each under 200 ms.

| view | rows | time |
| --- | --- | --- |
{rows}

`plan_timeline` and `sla_status` read the latest planning run's snapshot;
computing them afresh costs `plan()` {plan * 1000:,.0f} ms and `sla_risk()`
{risk * 1000:,.0f} ms on the same fleet ({plan / max(times['plan_timeline'], 1e-6):.0f}x and
{risk / max(times['sla_status'], 1e-6):.0f}x the views).
"""
    replace_section("Dashboard views", text)
    print(text)


if __name__ == "__main__":
    main()
