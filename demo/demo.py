#!/usr/bin/env python3
"""make demo / make demo-stop: syncopt closing the loop on a generated fleet.

`start` replaces any earlier demo, then starts a throwaway cluster with
syncopt and pg_cron preloaded and the mock vendor API serving a generated
fleet of Fivetran and Airbyte connectors (test/fleet/generator.py); lets the
collector fill the tables from the mock and reads the Fivetran history from
a Platform Connector log table; imports what depends on the syncs from a
dbt manifest (demo/manifest.json) and adds one report by hand; runs
the planner in co-pilot mode; shows priorities, the plan, SLA risks,
anomalies, classified failures and pending approvals; approves one
proposal with the UPDATE a person types and shows the mock receiving the
vendor call and the row reaching `succeeded`; writes the plan as an SVG
timeline.  Everything stays running; `stop` removes it.

SYNCOPT_DEMO_ROOT chooses the directory (default /var/tmp/syncopt-demo).

The tour runs at the current time unless SYNCOPT_DEMO_AT gives an instant
('YYYY-MM-DD HH:MM:SS', UTC): the fleet's history ends at the hour the demo
starts, its run times follow the weekday and hour, and its deadlines fall
on weekdays, so what the tour shows differs with the day and hour.  With
SYNCOPT_DEMO_AT the whole demo (cluster, workers, mock vendor API) runs on
a clock that starts at that instant (Debian's faketime), and the tour is
the same on any day: the README's excerpt is one such run.  The server
then also preloads demo/faketime_select.c (built with cc), without which
PostgreSQL 15's background workers would read the real clock.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "test"))
sys.path.insert(0, os.path.join(TOP, "demo"))

from fleet.generator import GeneratedFleet  # noqa: E402
from harness.cluster import PG_BIN, Cluster  # noqa: E402
from plan_svg import render  # noqa: E402

ROOT = os.environ.get("SYNCOPT_DEMO_ROOT", "/var/tmp/syncopt-demo")
DB = "syncopt_demo"
SEED, CONNECTORS, SCENARIO = 7, 40, "tight"
SETTINGS = {
    "shared_preload_libraries": "'syncopt,pg_cron'",
    "syncopt.database_name": f"'{DB}'",
    "syncopt.http_allowed_hosts": "'127.0.0.1'",
    "cron.database_name": f"'{DB}'",
    "cron.use_background_workers": "on",
    "max_worker_processes": "32",
}
MOCK = os.path.join(TOP, "test", "mock_vendor", "server.py")
# The triggers waiting for approval of the syncs that SLAs at risk wait for,
# the heaviest SLA first: what alice approves is the head of this list.
AT_RISK_TRIGGERS = """SELECT p.decision_id, p.connector, p.action, s.asset, a.weight, s.status
  FROM syncopt.pending_approvals p
  JOIN syncopt.sla_status s ON p.connector = ANY (s.blocking_connectors)
  JOIN syncopt.asset a USING (asset_id)
 WHERE p.action = 'trigger_sync' AND s.status <> 'on_track'
 ORDER BY a.weight DESC, s.deadline, p.act_by, p.decision_id"""
# The team's dbt project: a v12 manifest of its sources (one or two tables
# per connector), staging models, marts and the exposures with deadlines.
MANIFEST = os.path.join(TOP, "demo", "manifest.json")


def banner(text):
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def preload_select():
    """Under faketime (SYNCOPT_DEMO_AT): build demo/faketime_select.c into
    ROOT and preload it before libfaketime, so that the server's workers
    read the faked clock too (the file says why they would not)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("SYNCOPT_DEMO_AT needs a C compiler (cc) to build demo/faketime_select.c")
    lib = os.path.join(ROOT, "faketime_select.so")
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", lib, os.path.join(TOP, "demo", "faketime_select.c")],
                   check=True)
    os.chmod(lib, 0o755)
    os.environ["LD_PRELOAD"] = lib + ":" + os.environ.get("LD_PRELOAD", "")


class Demo:
    def __init__(self):
        self.cluster = Cluster(SETTINGS, databases=[DB], root=ROOT)
        if "FAKETIME" in os.environ:
            preload_select()
        self.cluster.start()
        self.mock = subprocess.Popen([sys.executable, MOCK, "--port", "0", "--seed", str(SEED),
                                      "--generated", str(CONNECTORS), "--scenario", SCENARIO, "--page-cap", "10"],
                                     stdout=subprocess.PIPE, stderr=open(os.path.join(ROOT, "mock.log"), "w"),
                                     text=True, start_new_session=True)
        self.port = int(self.mock.stdout.readline().split()[1])
        with open(os.path.join(ROOT, "mock.pid"), "w") as f:
            f.write(str(self.mock.pid))
        self.base = f"http://127.0.0.1:{self.port}"

    def show(self, sql):
        """Run SQL through psql, echoing each statement before its result."""
        proc = subprocess.run([f"{PG_BIN}/psql", "-X", "-e", "-v", "ON_ERROR_STOP=1", "-P", "footer=off"]
                              + self.cluster.conninfo(DB), input=sql, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"the tour stopped at an error; server log: {self.cluster.log}")

    def quiet(self, sql):
        self.cluster.psql(sql, DB)

    def value(self, sql):
        return self.cluster.value(sql, DB)

    def wait(self, sql, what, timeout=60):
        if not self.cluster.wait_for(sql, DB, timeout=timeout):
            raise SystemExit(f"timed out waiting for {what}; server log: {self.cluster.log}")

    def mock_requests(self):
        with urllib.request.urlopen(self.base + "/_mock/requests", timeout=10) as resp:
            return json.loads(resp.read())


def tour(d):
    # The mock builds the same fleet with history up to this hour.
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    fleet = GeneratedFleet(SEED, CONNECTORS, SCENARIO, now=hour)

    banner("1. Install syncopt and point it at the vendors (a mock on loopback here).")
    d.show(f"""
CREATE EXTENSION syncopt;
CREATE EXTENSION pg_cron;
CREATE ROLE alice LOGIN IN ROLE syncopt_approver;
INSERT INTO syncopt.account (vendor, name, base_url, poll_interval) VALUES
    ('fivetran', 'fivetran-prod', '{d.base}/fivetran', '1 hour'),
    ('airbyte', 'airbyte-cloud', '{d.base}/airbyte/v1', '1 hour');
-- Secrets are write-only: nobody reads them back, not even admins.
SELECT syncopt.set_credentials(1, 'ft_key', 'ft_secret_s3cr3t');
SELECT syncopt.set_credentials(2, 'ab_client', 'ab_secret_s3cr3t');
""")
    banner("2. The collector pulls connections and sync history (wait for both accounts).")
    d.wait("SELECT count(*) = 2 FROM syncopt.collector_status WHERE last_finished_at IS NOT NULL",
           "the first collection", timeout=120)
    d.show("""
SELECT account_id, vendor, state, last_requests, last_pages, last_rows, last_error FROM syncopt.collector_status;
SELECT a.vendor, count(DISTINCT c.connector_id) AS connectors, count(r.run_id) AS runs
  FROM syncopt.connector c JOIN syncopt.account a USING (account_id)
  LEFT JOIN syncopt.sync_run r USING (connector_id) GROUP BY a.vendor ORDER BY 1;
""")
    banner("3. Fivetran's run history comes from the Platform Connector log (landed in this database).")
    d.quiet(fleet.sql_platform_log())
    d.show("SELECT syncopt.ingest_fivetran_log(1, 'fivetran_log') AS runs_ingested;")
    banner("4. What depends on the syncs comes from the team's dbt project (demo/manifest.json).")
    # The file as psql's \set manifest `cat target/manifest.json` would read it.
    with open(MANIFEST) as f:
        d.quiet(fleet.sql_admin() + fleet.sql_calendar()
                + f"CREATE TABLE public.dbt_manifest AS SELECT $manifest${f.read()}$manifest$::jsonb AS manifest;\n")
    d.show("""
-- Models, sources and exposures (with their meta.syncopt deadlines) become
-- assets and lineage; each source table is traced to the connector that
-- loads it.  A dry run first: the same report, nothing kept.
-- (ignored nodes and edges come as one row each, their number in detail)
SELECT change, resource_type,
       sum(CASE WHEN change IN ('ignored', 'edges added', 'edges removed') THEN detail::bigint ELSE 1 END) AS n
  FROM syncopt.import_dbt_manifest((SELECT manifest FROM public.dbt_manifest), dry_run => true)
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT change, unique_id, detail
  FROM syncopt.import_dbt_manifest((SELECT manifest FROM public.dbt_manifest))
 WHERE change IN ('unmapped', 'ambiguous', 'conflict') ORDER BY 1, 2;
SELECT a.name AS exposure, a.kind, a.deadline, a.timezone, a.days, a.weight, a.freshness_sla, a.owner
  FROM syncopt.asset a WHERE a.dbt_unique_id LIKE 'exposure.%' ORDER BY a.deadline, a.name;
-- Everything not in dbt is added by hand beside the import, which never touches it.
-- Finance wants a flash report on data synced from now on, due sooner than
-- its sync lands at its P90 but later than at its P50: at risk, and still
-- to be saved if that sync starts now, whatever the hour.  It outweighs
-- every other asset, so its sync is the one to decide first.  The sync is
-- the slowest that is idle, whose last run succeeded (so a trigger is not
-- a retry), that no business-hours window holds back, and that the
-- vendor's own schedule would not start within its P90 (so only a trigger
-- can save the report); one that no other deadline already needs sooner
-- first (else that deadline would be the one it misses).
WITH slowest AS (SELECT p.connector_id, p.p50, p.p90, date_trunc('minute', now() + (p.p50 + p.p90) / 2) AS due
                   FROM syncopt.predict_duration() p JOIN syncopt.connector c USING (connector_id)
                   LEFT JOIN syncopt.connector_stats st USING (connector_id)
                   LEFT JOIN syncopt.priority_scores() s USING (connector_id)
                  WHERE NOT EXISTS (SELECT FROM syncopt.load_window w WHERE w.source_key = c.source_key AND w.load_factor = 1)
                    AND (SELECT r.status FROM syncopt.sync_run r WHERE r.connector_id = c.connector_id
                          ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1) = 'succeeded'
                    AND syncopt.vendor_next_start(c, st.last_run_at, now()) > now() + p.p90
                  ORDER BY s.deadline IS NULL OR s.deadline > now() + p.p90 DESC, p.p90 DESC, p.connector_id LIMIT 1),
     report AS (INSERT INTO syncopt.asset (name, kind, deadline, timezone, weight, owner, freshness_sla)
                SELECT 'finance_flash', 'report', (due AT TIME ZONE 'UTC')::time,
                       'UTC', 10 * (SELECT max(weight) FROM syncopt.asset), 'finance',
                       due - now() + interval '1 minute' FROM slowest
                RETURNING asset_id)
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) SELECT connector_id, asset_id FROM slowest, report;
SELECT kind, count(*), count(deadline) AS with_deadline FROM syncopt.asset GROUP BY kind ORDER BY kind;
INSERT INTO syncopt.policy (mode, max_actions_per_hour) VALUES ('copilot', 10);
""")
    banner("5. Top priorities, each with its reason.")
    d.show("""
SELECT c.name, round(p.score::numeric, 1) AS score, p.deadline, p.slack, p.reason
  FROM syncopt.priority_scores() p JOIN syncopt.connector c USING (connector_id)
 ORDER BY p.score DESC LIMIT 5;
""")
    banner("6. Plan: run the planner (pg_cron will run it every 15 minutes from now on).")
    d.show("""
SELECT syncopt.schedule_planner();
SELECT count(*) AS proposals FROM syncopt.run_planner();
SELECT connector, planned_start, predicted_end, deadline, will_miss, action
  FROM syncopt.plan_timeline ORDER BY planned_start, connector LIMIT 12;
-- The heaviest risks first, then why finance_flash will be late: the syncs
-- it waits for that the plan places too late (at some hours other misses
-- come first in the plan, so they are picked by what finance_flash waits for).
SELECT s.asset, s.deadline, s.predicted_ready, s.status, s.blocking_connectors
  FROM syncopt.sla_status s JOIN syncopt.asset a USING (asset_id)
 WHERE s.status <> 'on_track' ORDER BY a.weight DESC, s.deadline, s.asset LIMIT 8;
SELECT connector, deadline, predicted_end, reason FROM syncopt.plan_timeline
 WHERE will_miss AND connector IN (SELECT unnest(blocking_connectors) FROM syncopt.sla_status WHERE asset = 'finance_flash')
 ORDER BY priority, connector LIMIT 5;
""")
    banner("7. Anomalies and classified failures of the last days.")
    d.show("""
SELECT connector, metric, direction, round(observed) AS observed, round(expected) AS expected, score
  FROM syncopt.anomaly_feed ORDER BY score DESC LIMIT 6;
SELECT category, retryable, count(*) AS failures, min(remediation) AS remediation
  FROM syncopt.classify_runs(now() - interval '7 days') GROUP BY 1, 2 ORDER BY 3 DESC;
""")
    banner("8. What waits for a human (what must be decided soonest first), and what serves the SLAs at risk.")
    d.show("""
SELECT decision_id, connector, action, params, to_char(act_by AT TIME ZONE 'UTC', 'HH24:MI') AS act_by_utc,
       left(reason, 100) AS reason
  FROM syncopt.pending_approvals ORDER BY act_by NULLS LAST, priority_score DESC NULLS LAST LIMIT 8;
-- Several syncs may be late already (each must start now); alice decides
-- first the trigger of a sync the heaviest SLA at risk waits for.
""" + AT_RISK_TRIGGERS + " LIMIT 5;\n")
    # That list's head, else the first trigger to decide, else one by hand.
    pick = d.value(f"""
SELECT coalesce((SELECT decision_id FROM ({AT_RISK_TRIGGERS} LIMIT 1) heaviest),
                (SELECT decision_id FROM syncopt.pending_approvals WHERE action = 'trigger_sync'
                  ORDER BY act_by, priority_score DESC NULLS LAST LIMIT 1),
                (SELECT decision_id FROM syncopt.propose(
                    (SELECT connector_id FROM syncopt.priority_scores() ORDER BY score DESC LIMIT 1),
                    'trigger_sync', '{{}}', 'the top priority, proposed by hand for the tour')))""")
    what = d.value(f"SELECT action || ' of ' || connector FROM syncopt.pending_approvals WHERE decision_id = {pick}")
    banner(f"9. alice approves decision {pick} ({what}); the executor calls the vendor at commit.")
    d.show(f"""
SET SESSION AUTHORIZATION alice;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'approved', review_note = 'go ahead'
 WHERE decision_id = {pick};
RESET SESSION AUTHORIZATION;
""")
    d.wait(f"SELECT status IN ('succeeded', 'failed', 'unknown') FROM syncopt.fivetran_sync_ai_logs "
           f"WHERE decision_id = {pick}", "the executor")
    calls = [r for r in d.mock_requests()
             if r["method"] == "POST" and ("/sync" in r["path"] or r["path"].endswith("/jobs"))]
    for r in calls:
        print(f"the mock vendor API received: {r['method']} {r['path']}")
    d.show(f"""
SELECT decision_id, status, approved_by, http_status, finished_at - approved_at AS approval_to_done
  FROM syncopt.fivetran_sync_ai_logs WHERE decision_id = {pick};
SELECT at, old_status, new_status, actor FROM syncopt.decision_audit WHERE decision_id = {pick} ORDER BY event_id;
""")
    banner("10. The plan as a picture.")
    rows = d.cluster.rows("SELECT connector, planned_start, predicted_end, deadline, will_miss FROM "
                          "syncopt.plan_timeline ORDER BY planned_start, connector", DB)
    planned_at = d.value("SELECT max(planned_at) FROM syncopt.plan_timeline")
    svg = os.path.join(ROOT, "plan.svg")
    with open(svg, "w") as f:
        f.write(render(rows, planned_at))
    print(f"wrote {svg} ({len(rows)} planned syncs); open it in a browser.")


def stop():
    pid_file = os.path.join(ROOT, "mock.pid")
    if os.path.exists(pid_file):
        try:
            os.killpg(int(open(pid_file).read()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
    if os.path.isdir(ROOT):
        Cluster.existing(ROOT).destroy()
        print(f"removed the demo in {ROOT}")
    return 0


def start():
    at = os.environ.get("SYNCOPT_DEMO_AT")
    if at and "FAKETIME" not in os.environ:
        # Run again on a clock starting at `at` (read in TZ's zone, so UTC);
        # faketime passes it to every process the demo starts.
        try:
            datetime.strptime(at, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            sys.exit(f"SYNCOPT_DEMO_AT must be an instant in UTC as 'YYYY-MM-DD HH:MM:SS', not {at!r}")
        if shutil.which("faketime") is None:
            sys.exit("SYNCOPT_DEMO_AT needs Debian's faketime package (apt-get install faketime)")
        os.execvpe("faketime", ["faketime", "-f", "@" + at, sys.executable, os.path.abspath(__file__), "start"],
                   dict(os.environ, TZ="UTC"))
    stop()
    d = Demo()
    tour(d)
    print(f"""
The demo keeps running (cluster, workers, pg_cron, mock vendor API on port {d.port}). Connect with:

    psql -h {ROOT} -p {d.cluster.port} -U postgres {DB}

Try: SELECT * FROM syncopt.pending_approvals;  SELECT * FROM syncopt.sla_status;
Server log: {d.cluster.log}
The plan picture: {ROOT}/plan.svg
Remove everything with: make demo-stop""")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["start"]:
        sys.exit(start())
    if sys.argv[1:] == ["stop"]:
        sys.exit(stop())
    sys.exit("usage: demo.py start|stop")
