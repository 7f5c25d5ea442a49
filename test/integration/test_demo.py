"""`make demo` runs to its end non-interactively and leaves the state it
describes: collected connectors of both vendors, a planning run, an approved
decision that reached `succeeded` after the mock received the vendor call,
and an SVG plan.  On the real clock only that loop is checked, so that no
run depends on the hour it starts at; the story itself (the report due
between its sync's P50 and P90 forecast late, its sync's trigger heading
the triggers for SLAs at risk and approved) is checked at fixed faked
instants (SYNCOPT_DEMO_AT) spread over the week.  The demo uses its own
cluster and mock (in a directory of its own), as a user's `make demo`
would; `demo.py stop` removes them."""

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree

import integration
from harness.cluster import Cluster

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(TOP, "demo", "demo.py")

# The instants the story is checked at, far from the real clock so that no
# step can fall on its day by chance.  The fleet follows the weekday and
# hour, so they spread over a week: a Sunday evening (STORY_AT, where the
# test also checks that every process read the faked day), and three
# where the demo before told no story: a Monday morning in business hours
# and a Saturday evening (another sync, already late for a nearer
# deadline, headed the approvals and was approved) and the Sunday evening
# instant where triage gave the earlier report up (README, "The story").
# test/demo_week.py tries every hour of a week.
STORY_AT = "2031-12-07 20:01:00"
STORY_INSTANTS = ("2031-12-01 09:25:00", "2031-12-06 19:25:00", "2031-12-07 19:13:00")

def check_story(test, out):
    """Assert, with the assertions of test (a unittest.TestCase), that the
    demo's output tells its story; returns the at-risk connector."""
    for step in range(1, 11):
        test.assertIn(f"== {step}. ", out)
    # Both vendors were collected, and the Platform Connector log read.
    test.assertRegex(out, r"airbyte\s+\|\s+\d+ \|\s+\d+")
    test.assertRegex(out, r"fivetran\s+\|\s+\d+ \|\s+\d+")
    test.assertRegex(out, r"runs_ingested \n-+\n\s+[1-9]\d*")
    # The report due sooner than its slowest input can land is forecast late, and the plan says why.
    at_risk = re.search(r"\n finance_flash +\| [^|]+\| [^|]+\| at_risk_\w+ +\| \{(\w+)\}", out)
    test.assertIsNotNone(at_risk, "finance_flash is not forecast at risk")
    # Its sync is planned to miss (named by the earliest deadline it feeds,
    # which another report may hold at some hours).
    test.assertRegex(out, r"\n " + at_risk.group(1) + r" +\|[^\n]*misses \w+ by ")
    # The approval alice makes is the trigger of the sync that report waits
    # for, and it heads the triggers for the SLAs at risk, heaviest SLA
    # first (other syncs, late for nearer deadlines, may head the list by
    # act_by above it).
    test.assertIn(f"(trigger_sync of {at_risk.group(1)})", out)
    approvals = out[out.index("== 8. "):out.index("== 9. ")]
    heaviest = approvals[approvals.index("WHERE p.action = 'trigger_sync' AND s.status <> 'on_track'"):]
    first = re.search(r"\n-+\+[-+]+\n\s+\d+ \| (\S+)\s+\| (\w+)\s+\| (\S+)", heaviest)
    test.assertIsNotNone(first, approvals)
    test.assertEqual(first.groups(), (at_risk.group(1), "trigger_sync", "finance_flash"), approvals)
    # The approved decision reached the vendor and succeeded.
    test.assertRegex(out, r"the mock vendor API received: POST /(fivetran/v1/connections/\S+/sync|airbyte/v1/jobs)")
    test.assertRegex(out, r"\|\s+succeeded\s+\|\s+alice\s+\|\s+200")
    test.assertIn("make demo-stop", out)
    return at_risk.group(1)


def check_loop(test, out, root):
    """Assert what the tour leaves at any hour: every step ran, both vendors
    were collected, the planner planned, alice's approved decision reached
    the vendor and succeeded with the mock's 200, and the plan was drawn."""
    for step in range(1, 11):
        test.assertIn(f"== {step}. ", out)
    cluster = Cluster.existing(root)
    test.assertEqual(cluster.rows(
        "SELECT a.vendor, count(DISTINCT c.connector_id) > 0, count(r.run_id) > 0"
        "  FROM syncopt.account a LEFT JOIN syncopt.connector c USING (account_id)"
        "  LEFT JOIN syncopt.sync_run r USING (connector_id) GROUP BY a.vendor ORDER BY 1", "syncopt_demo"),
        [("airbyte", "t", "t"), ("fivetran", "t", "t")])
    planned = int(cluster.value("SELECT count(*) FROM syncopt.plan_timeline", "syncopt_demo"))
    test.assertGreater(planned, 0)
    test.assertEqual(cluster.rows(
        "SELECT action, status, http_status FROM syncopt.fivetran_sync_ai_logs WHERE approved_by = 'alice'",
        "syncopt_demo"), [("trigger_sync", "succeeded", "200")])
    test.assertRegex(out, r"the mock vendor API received: POST /(fivetran/v1/connections/\S+/sync|airbyte/v1/jobs)")
    svg = ElementTree.parse(os.path.join(root, "plan.svg")).getroot()
    test.assertTrue(svg.tag.endswith("svg"))
    test.assertGreater(len([e for e in svg if e.tag.endswith("rect")]), 0)


def needs_faked_clock(test):
    """Assert that SYNCOPT_DEMO_AT can run: Debian's faketime and a C
    compiler for demo/faketime_select.c.  Not a skip: the story is checked
    under a faked clock, and make test installs both (test/install-deps.sh)."""
    test.assertIsNotNone(shutil.which("faketime"), "SYNCOPT_DEMO_AT needs Debian's faketime")
    test.assertIsNotNone(shutil.which("cc") or shutil.which("gcc"), "SYNCOPT_DEMO_AT needs a C compiler")


@contextlib.contextmanager
def demo(test, at=None):
    """Run `demo.py start` (on a clock starting at `at`, when given) in a
    directory of its own; yield its output and that directory, and stop it
    afterwards."""
    parent = tempfile.mkdtemp(prefix="syncopt-demo-test-")
    os.chmod(parent, 0o755)     # the postgres OS user runs the demo's cluster inside
    root = os.path.join(parent, "demo")
    env = dict(os.environ, SYNCOPT_DEMO_ROOT=root)
    if at:
        env["SYNCOPT_DEMO_AT"] = at
    try:
        proc = subprocess.run([sys.executable, DEMO, "start"], env=env, capture_output=True,
                              text=True, timeout=600, stdin=subprocess.DEVNULL)
        test.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
        yield proc.stdout, root
    finally:
        stop = subprocess.run([sys.executable, DEMO, "stop"], env=env, capture_output=True, text=True, timeout=120)
        test.assertEqual(stop.returncode, 0, stop.stderr)
        test.assertFalse(os.path.exists(root))
        os.rmdir(parent)


class DemoTests(unittest.TestCase):

    def setUp(self):
        if not integration.PG_CRON:
            self.skipTest("the demo preloads pg_cron, which this server lacks")

    def test_demo_runs_to_its_end(self):
        """On the real clock, whatever the hour: the loop closes."""
        with demo(self) as (out, root):
            check_loop(self, out, root)

    def test_demo_on_a_faked_clock(self):
        """SYNCOPT_DEMO_AT runs the whole demo on the faked clock, the
        workers too: the executor's steps of the approved decision, the
        collector's polls and the workers' own start all fall on the faked
        day.  PostgreSQL 15 forks its background workers from signal
        handlers, inside libfaketime's select(), and such a child read the
        real clock until the demo preloaded demo/faketime_select.c.  At
        that fixed instant the tour tells its story."""
        needs_faked_clock(self)
        with demo(self, STORY_AT) as (out, root):
            check_loop(self, out, root)
            check_story(self, out)
            days = Cluster.existing(root).rows(
                "SELECT 'approval', to_char(approved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') "
                "  FROM syncopt.fivetran_sync_ai_logs WHERE approved_by = 'alice' "
                "UNION ALL SELECT 'executor started', to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') "
                "  FROM syncopt.fivetran_sync_ai_logs WHERE approved_by = 'alice' "
                "UNION ALL SELECT 'executor finished', to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') "
                "  FROM syncopt.fivetran_sync_ai_logs WHERE approved_by = 'alice' "
                "UNION ALL SELECT 'poll ' || vendor, to_char(max(last_started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD') "
                "  FROM syncopt.collector_state JOIN syncopt.account USING (account_id) GROUP BY vendor "
                "UNION ALL SELECT backend_type, to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD') "
                "  FROM pg_stat_activity WHERE backend_type IN ('syncopt collector', 'syncopt executor') "
                "ORDER BY 1", "syncopt_demo")
            self.assertEqual(days, [("approval", "2031-12-07"), ("executor finished", "2031-12-07"),
                                    ("executor started", "2031-12-07"), ("poll airbyte", "2031-12-07"),
                                    ("poll fivetran", "2031-12-07"), ("syncopt collector", "2031-12-07"),
                                    ("syncopt executor", "2031-12-07")])

    def test_story_across_the_week(self):
        """At each of STORY_INSTANTS the tour tells its story, whatever the
        fleet has due and running at that weekday and hour."""
        needs_faked_clock(self)
        for at in STORY_INSTANTS:
            with self.subTest(at=at), demo(self, at) as (out, root):
                check_loop(self, out, root)
                check_story(self, out)
